"""Recipe: DualDis with binary attributes on colour relit surfaces (minutes on a CPU).

Data: `lrep_zoo.data.relit_colour.relit_colour_surfaces` (identity = a random surface,
three binary attributes of the light: from the right, from above, warm colour;
RGB 32x32, generated in code, deterministic by `--data-seed`). Model:
`DualDis(attributes="binary", num_attributes=3)` at `--size`, its networks derived
from the size (`networks.dualdis_networks`). Each variant (`dualdis`, the
`multitask` baseline without adversarial terms) is trained for `--epochs` from
each of `--seeds`; the last epoch is scored (no selection on the test split) under
both protocols: the paper's (the model's own heads) and the strict one (fresh
probes on frozen codes), per attribute and their mean (the paper's CelebA aggregate).
`--labelled-fraction F` keeps the attribute labels of a fraction F of the training
rows (the others are -1: left out of the z terms, the semi-supervised variant).

Writes to `--output-dir`: `metrics.json` (options, per-seed scores, mean +- std,
time, machine), `summary.md` (the table) and, for the first seed of each variant,
`edits_<variant>.png` (each attribute on / off along W_z's direction) and
`swaps_<variant>.png` (identity of the rows, attributes of the columns).

    python recipes/dualdis_colour_surfaces.py --seeds 0 1 2 --output-dir runs/dualdis_colour_surfaces
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time

import numpy as np

from lrep_zoo.recipe_config import command, option, parse, record
from lrep_zoo.training.jit_policy import StepTimer

NAME = "dualdis_colour_surfaces"
DESCRIPTION = "DualDis with 3 binary light attributes on colour relit surfaces (CPU minutes)"
SCORE_COLUMNS = ("aggregate", "y_acc", "z_acc", "y_adv_err", "z_adv_err")


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train dualdis_colour_surfaces` (one flag per field)."""

    variants: list[str] = option(["dualdis", "multitask"], help="DualDis.variant names")
    seeds: list[int] = option([0, 1, 2], help="initialisation seeds (one model each)")
    data_seed: int = 0
    num_identities: int = 10
    images_per_combination: int = 8
    size: int = 32
    epochs: int = 40
    batch_size: int = 32
    latent_dim: int = 32
    network_width: float = 1.0
    adversarial_weight: float = option(0.1, help="l_adv of both adversarial terms")
    learning_rate: float = 1e-3
    labelled_fraction: float = option(1.0, help="fraction of training rows with attribute "
                                                "labels (others: -1)")
    strict: bool = option(True, help="--no-strict: skip the strict-protocol probes")
    output_dir: str = f"runs/{NAME}"
    verbose: int = 0


def load_data(c: Config) -> dict:
    """The colour relit surfaces of the config, with `labelled_fraction` applied to
    the training attributes (seeded by `data_seed`)."""
    from lrep_zoo.data import relit_colour

    data = relit_colour.relit_colour_surfaces(
        num_identities=c.num_identities, images_per_combination=c.images_per_combination,
        size=c.size, seed=c.data_seed)
    if not 0.0 < c.labelled_fraction <= 1.0:
        raise ValueError(f"labelled_fraction must be in (0, 1], got {c.labelled_fraction}.")
    if c.labelled_fraction < 1.0:
        train = data["train"]
        rng = np.random.default_rng(c.data_seed + 1)
        keep = rng.permutation(len(train["identity"]))[:int(round(c.labelled_fraction * len(train["identity"])))]
        attributes = np.full_like(train["attributes"], -1)
        attributes[keep] = train["attributes"][keep]
        train["attributes"] = attributes
    return data


def train_one(data: dict, c: Config, variant: str, seed: int):
    """One DualDis variant trained from `seed`; returns `(model, seconds)`."""
    import keras

    from lrep_zoo.models.dualdis import DualDis
    from lrep_zoo.models.dualdis.dualdis import VARIANTS

    keras.utils.set_random_seed(seed)
    # The variant zeroes its own adversarial weights (multitask: both, adv_y: z).
    weights = {"adversarial_weight_y": c.adversarial_weight,
               "adversarial_weight_z": c.adversarial_weight}
    weights = {k: v for k, v in weights.items() if k not in VARIANTS.get(variant, {})}
    model = DualDis.variant(
        variant, image_shape=data["train"]["image"].shape[1:], num_classes_y=c.num_identities,
        attributes="binary", num_attributes=data["train"]["attributes"].shape[1],
        input_size=c.size, latent_dim=c.latent_dim, network_width=c.network_width,
        adversary_hidden=(c.latent_dim,), **weights)
    model.compile(optimizer={"main": keras.optimizers.Adam(c.learning_rate),
                             "disc": keras.optimizers.Adam(c.learning_rate)}, jit_compile="auto")
    train = data["train"]
    start = time.time()
    model.fit(train["image"], (train["identity"], train["attributes"]), batch_size=c.batch_size,
              epochs=c.epochs, shuffle=True, verbose=c.verbose, callbacks=[StepTimer()])
    return model, time.time() - start


def score(model, data: dict, strict: bool, seed: int) -> dict:
    """Test scores in % under the paper protocol and (optionally) the strict one."""
    from lrep_zoo.models.dualdis import metrics, probes

    test = data["test"]
    out = {"paper": metrics.paper_scores(model, test["image"], test["identity"], test["attributes"])}
    if strict:
        out["strict"] = probes.strict_scores(model, data, hidden=(model.latent_dim,), seed=seed,
                                             z_key="attributes")
    return out


def write_grids(model, data: dict, output_dir: str, tag: str) -> list:
    """Edit grid (each attribute on / off) and swap grid (identities x the 8 light
    combinations) on test images."""
    from lrep_zoo.data import relit_colour
    from lrep_zoo.models.dualdis import grids

    test = data["test"]
    combos = relit_colour.combination_index(test["attributes"])
    faces, lights, ids, classes = grids.lighting_examples(
        test["image"], test["identity"], combos, num_identities=5, return_labels=True)
    return [
        grids.edit_grid(model, faces, os.path.join(output_dir, f"edits_{tag}.png"), scale=3,
                        row_labels=[f"id {k}" for k in ids],
                        attribute_names=list(relit_colour.ATTRIBUTES)),
        grids.swap_grid(model, faces, lights, os.path.join(output_dir, f"swaps_{tag}.png"), scale=3,
                        identity_labels=[f"id {k}" for k in ids],
                        attribute_labels=[relit_colour.attribute_names(k) for k in classes]),
    ]


def summarize(per_seed: list[dict]) -> dict:
    """Mean and std (over seeds) of every score column and per-attribute list."""
    out = {}
    for protocol in per_seed[0]:
        rows = [s[protocol] for s in per_seed]
        summary = {}
        for key in rows[0]:
            if key == "ceiling":
                continue
            values = np.asarray([r[key] for r in rows], dtype="float64")
            summary[key] = {"mean": np.nanmean(values, 0).tolist(), "std": np.nanstd(values, 0).tolist()}
        out[protocol] = summary
    return out


def table(summaries: dict, references: dict) -> str:
    """Markdown table: one row per variant and protocol, mean +- std over seeds."""
    lines = ["| model | protocol | aggr. | h_y->y acc. | h_z->z acc. (mean of 3) | "
             "h_z->y_adv err. | h_y->z_adv err. (mean of 3) | per attribute h_z->z / h_y->z_adv |",
             "|---|---|---|---|---|---|---|---|"]
    for variant, by_protocol in summaries.items():
        for protocol, s in by_protocol.items():
            cells = [f"{s[k]['mean']:.1f} +- {s[k]['std']:.1f}" for k in SCORE_COLUMNS]
            per = " / ".join(
                f"{a:.1f}, {b:.1f}" for a, b in zip(s["z_acc_per_attribute"]["mean"],
                                                   s["z_adv_err_per_attribute"]["mean"]))
            lines.append(f"| {variant} | {protocol} | " + " | ".join(cells) + f" | {per} |")
    for name, ref in references.items():
        cells = ["-" if ref.get(k) is None else f"*{ref[k]:.1f}*" for k in SCORE_COLUMNS]
        lines.append(f"| *{name}* | | " + " | ".join(cells) + " | |")
    return "\n".join(lines)


def run(config: Config | None = None) -> dict:
    """Trains and scores every variant x seed; writes `metrics.json`, `summary.md`, grids.

    Example:

    ```python
    from lrep_zoo.recipes.dualdis_colour_surfaces import Config, run

    # The colour surfaces are rendered (no files needed). A smoke-sized run: one
    # variant, one seed, one epoch on 3 identities x 2 images per combination, 16 px.
    out = run(Config(variants=["dualdis"], seeds=[0], epochs=1, num_identities=3,
                     images_per_combination=2, size=16, latent_dim=8, strict=False,
                     output_dir="runs/dd_colour"))
    print(out["summary"]["dualdis"].keys())
    ```
    """
    import keras

    from lrep_zoo import reporting
    from lrep_zoo.models.dualdis import metrics

    c = config or Config()
    os.makedirs(c.output_dir, exist_ok=True)
    data = load_data(c)
    train, test = data["train"], data["test"]
    references = {
        "random classifier (paper's best value)": metrics.random_reference(c.num_identities, 2),
        "majority class (strict ceiling)": metrics.majority_reference(
            train["identity"], train["attributes"], test["identity"], test["attributes"]),
    }
    results, summaries, start = {}, {}, time.time()
    for variant in c.variants:
        per_seed = []
        for i, seed in enumerate(c.seeds):
            model, seconds = train_one(data, c, variant, seed)
            scores = score(model, data, c.strict, seed)
            scores["train_time_s"] = seconds
            per_seed.append(scores)
            print(f"{variant} seed {seed}: paper aggr. {scores['paper']['aggregate']:.1f}"
                  + (f", strict aggr. {scores['strict']['aggregate']:.1f}" if c.strict else "")
                  + f" ({seconds:.0f} s training)", flush=True)
            if i == 0:
                write_grids(model, data, c.output_dir, variant)
        results[variant] = per_seed
        summaries[variant] = summarize([{k: v for k, v in s.items() if k != "train_time_s"}
                                        for s in per_seed])
        payload = {
            **record(c), "command": command(NAME, c), "results": results, "summary": summaries,
            "references": references, "time_s": time.time() - start,
            "backend": keras.backend.backend(), "machine": reporting.machine(),
            "platform": platform.platform(),
            "sizes": {s: int(len(data[s]["identity"])) for s in data},
        }
        reporting.write_json(os.path.join(c.output_dir, "metrics.json"), payload)
    text = table(summaries, references)
    with open(os.path.join(c.output_dir, "summary.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    return {"results": results, "summary": summaries, "references": references}


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train dualdis_colour_surfaces [flags]`."""
    return run(parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION))


if __name__ == "__main__":
    main()
