"""Recipe: the `dualdis_yaleb` preset, DualDis on Extended Yale-B (identity vs lighting).

Paper setup (methods.md section 3): 64x64 input (resized inside the model from the
192x168 crops), Adam 1e-3 (0.9, 0.999) for both optimizers, batch 64, l_rec 1,
l_adv 0.08, l_o 1e-6. Data: the shared npz (`--data-dir`, or `LREP_ZOO_DATA_DIR`)
or the TFDS `extended_yale_b` builder, with the same deterministic split.
Beyond the paper (opt-in): `--mirror`, `--gain G`, `--light-mix` relight the
training images (`lrep_zoo.data.yaleb.RelightingBatches`: mirror the face and the
lighting label, scale the brightness, superpose two images of the same face); the
shipped preset uses the first two (see its model card). Every
`--eval-every` epochs the paper-protocol aggregate is computed on the VALIDATION
split; the best weights are kept (the test split is only used at the end).

Writes to `--output-dir`: the preset (`model.save_to_preset`: `config.json`,
`model.weights.h5` of an uncompiled copy, `metadata.json`; `DualDis.from_preset(DIR)`
loads it), `metrics.json` (val/test scores, both protocols, training time,
history) and image grids. `--init` also takes a registered preset name.

    python recipes/dualdis_yaleb.py --data-dir ../shared/data --epochs 400 --output-dir runs/dualdis_yaleb
    python recipes/dualdis_yaleb.py --variant multitask --epochs 400 --output-dir runs/multitask_yaleb
    # the shipped preset: two stages (see its model card)
    python recipes/dualdis_yaleb.py --data-dir ../shared/data --mirror --gain 4 \
        --max-minutes 28 --eval-every 2 --output-dir runs/dualdis_yaleb
    python recipes/dualdis_yaleb.py --data-dir ../shared/data --mirror --gain 4 --epochs 30 \
        --eval-every 2 --learning-rate 1e-4 --adversarial-weight-z 0.3 \
        --init runs/dualdis_yaleb --output-dir runs/dualdis_yaleb_ft
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from typing import Literal

from lrep_zoo.data.yaleb import load_yaleb as load_data
from lrep_zoo.recipe_config import build_parser, command, from_args, option, record
from lrep_zoo.training.jit_policy import StepTimer

NAME = "dualdis_yaleb"
DESCRIPTION = "DualDis on Extended Yale-B: identity / lighting disentangling (the dualdis_yaleb preset)"


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train dualdis_yaleb` (one flag per field)."""

    data_dir: str | None = option(None, help="folder with the Yale-B npz (default: "
                                             "$LREP_ZOO_DATA_DIR), else a TFDS data_dir")
    variant: Literal["dualdis", "multitask", "adv_y"] | None = option(
        None, help="default: dualdis (with --init: the preset's own)")
    epochs: int = 400
    batch_size: int = 64
    eval_every: int = 5
    seed: int = 0
    max_minutes: float | None = option(
        None, help="stop training after this wall time (selection stays on validation)")
    adversarial_loss_z: Literal["neg_ce", "complement", "uniform"] | None = None
    input_normalization: Literal["standardize", "none"] | None = None
    mirror: bool = option(False, help="not in the paper: random left-right flips (lighting "
                                      "label mirrored)")
    light_mix: bool = option(False, help="not in the paper: superpose two training images of "
                                         "the same face")
    gain: float = option(1.0, help="not in the paper: random brightness factor in [1/G, G] on "
                                   "training images")
    gain_clip: bool = option(True, help="--no-gain-clip: cap each image's brightness factor at "
                                        "255 / max(x) instead of clipping saturated pixels")
    images_per_identity: int = option(
        1, help="not in the paper: batches of groups of this many images of one face "
                "(RelightingBatches; 1: plain shuffling)")
    learning_rate: float = option(1e-3, help="Adam, both optimizers")
    adversarial_weight_z: float | None = option(None, help="l_adv for h_y -> z (paper: 0.08)")
    init: str | None = option(None, metavar="DIR", help="fine-tune: start from the preset "
                                                        "(config + weights) in DIR")
    output_dir: str = f"runs/{NAME}"
    strict: bool = option(False, help="also train the strict-protocol probes")
    # Training options against a single fooled adversary (DualDis config switches;
    # docs/results/dualdis_yaleb_ablation.md). Unset: the model's (or --init preset's) own.
    adversaries: int | None = option(None, help="adversaries per code (DualDis.adversaries)")
    adversary_steps: int | None = option(None, help="L_disc updates per L_main update")
    adversary_reset_every: int | None = option(
        None, help="re-initialise the adversaries every N train steps (0: never)")
    code_noise_z: float | None = option(None, help="std of Gaussian noise on h_z in training")
    code_width_z: int | None = option(None, help="units of h_z that carry a code (bottleneck)")
    z_regression_weight: float | None = option(
        None, help="weight of the auxiliary regression of the light's (azimuth, elevation) "
                   "from h_z (DualDis.z_regression_weight)")
    code_invariance_weight_y: float | None = option(
        None, help="weight of the within-identity scatter share of h_y (class invariance)")
    code_invariance_weight_z: float | None = option(
        None, help="weight of the within-lighting-class scatter share of h_z")
    adversarial_loss_y: Literal["neg_ce", "complement", "uniform"] | None = None
    adversarial_weight_y: float | None = option(None, help="l_adv for h_z -> y (paper: 0.08)")
    classification_weight_z: float | None = option(
        None, help="l_z (0: no lighting labels in training: the y-labels-only baselines)")
    reconstruction_weight: float | None = option(None, help="l_r (0: no decoder loss)")
    z_label_fraction: float = option(
        1.0, help="keep the lighting label of this fraction of the training images (a seeded "
                  "random draw of rows; the others get z = -1: semi-supervised)")
    strict_validation: bool = option(
        False, help="also score the strict protocol on the VALIDATION split (probes trained "
                    "on 80 %% of train, early-stopped on the other 20 %%)")
    strict_validation_crossfit: bool = option(
        False, help="also score the cross-fitted strict protocol on the VALIDATION split "
                    "(probes trained on train, early-stopped on one half of the validation "
                    "faces and scored on the other, both ways): the one to select on")
    verbose: int = 2
    evaluate: str | None = option(None, metavar="DIR", recorded=False,
                                  help="only evaluate the preset in DIR (both protocols, test "
                                       "split) and draw grids")
    baseline: str | None = option(None, metavar="DIR", recorded=False,
                                  help="with --evaluate: baseline preset")

    def model_overrides(self) -> dict:
        """The DualDis config entries set by the options (those left unset are omitted)."""
        overrides = {"adversarial_loss_z": self.adversarial_loss_z,
                     "input_normalization": self.input_normalization,
                     "adversarial_weight_z": self.adversarial_weight_z,
                     "adversaries": self.adversaries,
                     "adversary_steps": self.adversary_steps,
                     "adversary_reset_every": self.adversary_reset_every,
                     "code_noise_z": self.code_noise_z,
                     "code_width_z": self.code_width_z,
                     "z_regression_weight": self.z_regression_weight,
                     "code_invariance_weight_y": self.code_invariance_weight_y,
                     "code_invariance_weight_z": self.code_invariance_weight_z,
                     "adversarial_loss_y": self.adversarial_loss_y,
                     "adversarial_weight_y": self.adversarial_weight_y,
                     "classification_weight_z": self.classification_weight_z,
                     "reconstruction_weight": self.reconstruction_weight}
        return {k: v for k, v in overrides.items() if v is not None}


def build_model(variant: str = "dualdis", image_shape=(192, 168, 1), **kwargs):
    """A fresh `DualDis.variant(variant, ...)`."""
    from lrep_zoo.models.dualdis import DualDis

    return DualDis.variant(variant, image_shape=image_shape, **kwargs)


def compile_model(model, learning_rate: float = 1e-3):
    """Adam (0.9, 0.999) for both optimizers, `jit_compile="auto"`."""
    import keras

    def adam():
        return keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.999)

    # "auto" keeps XLA off on a CPU-only TensorFlow, where it was slower than the oneDNN
    # graph for these convolutions (the reason this recipe used jit on JAX only).
    model.compile(optimizer={"disc": adam(), "main": adam()}, jit_compile="auto")
    return model


def save_preset(model, output_dir: str, config: Config | None = None) -> None:
    """`model.save_to_preset(output_dir)` (replacing an earlier preset there), with the
    recipe's command line in `metadata.json`."""
    model.save_to_preset(output_dir, command=command(NAME, config) if config else None,
                         overwrite=True, extra_metadata={"recipe": NAME})


def train(data: dict, config: Config, output_dir: str | None = None):
    """Trains one model; keeps the weights with the best validation aggregate.

    `mirror`, `gain`, `light_mix` (not in the paper) train on relit images
    (`lrep_zoo.data.yaleb.RelightingBatches`); validation and test images are untouched.
    `init` (a preset folder) starts from that preset's config and weights
    (fine-tuning; `Config.model_overrides()` override its config). `output_dir`
    receives the best preset so far and `history.json` during training (`None`:
    nothing is written).

    Returns `(model, info)` where `info` has the options, the validation history,
    the selected epoch and the training time.

    Example:

    ```python
    from lrep_zoo.data.yaleb import load_yaleb
    from lrep_zoo.recipes.dualdis_yaleb import Config, train

    data = load_yaleb()  # the 192x168 npz of $LREP_ZOO_DATA_DIR (or load_yaleb(DIR))
    # A smoke-sized run: 64 training and 32 validation images, one epoch, mirrored.
    small = {"train": {key: values[:64] for key, values in data["train"].items()},
             "validation": {key: values[:32] for key, values in data["validation"].items()}}
    model, info = train(small, Config(epochs=1, batch_size=32, mirror=True, verbose=0))
    print(info["selected_epoch"], info["validation_aggregate"])
    ```

    The full run:

    ```bash
    lrep-zoo train dualdis_yaleb --epochs 400 --mirror --output-dir runs/dualdis_yaleb
    ```
    """
    import keras

    from lrep_zoo.models.dualdis import metrics as disentangling

    c = config
    variant, epochs, eval_every, max_minutes = (c.variant or "dualdis", c.epochs, c.eval_every,
                                                c.max_minutes)
    model_kwargs = c.model_overrides()
    keras.utils.set_random_seed(c.seed)
    train_split, val = data["train"], data["validation"]
    if c.z_label_fraction < 1.0:
        train_split = {**train_split,
                       "lighting": drop_lighting_labels(train_split["lighting"], c.z_label_fraction, c.seed)}
    image_shape = train_split["image"].shape[1:]
    if c.init:
        model = from_preset_with_options(c.init, **model_kwargs)
    else:
        model = build_model(variant, image_shape=image_shape, **model_kwargs)
    model = compile_model(model, c.learning_rate)
    best = {"aggregate": -1.0, "epoch": 0, "weights": None}
    history = []

    class SelectOnValidation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            out_of_time = max_minutes is not None and time.time() - start > 60 * max_minutes
            if out_of_time:
                self.model.stop_training = True
                print(f"[time] stopping after epoch {epoch + 1}: {max_minutes} min budget", flush=True)
            if (epoch + 1) % eval_every and epoch + 1 != epochs and not out_of_time:
                return
            scores = disentangling.paper_scores(model, val["image"], val["identity"], val["lighting"])
            # Training-batch logs under "train_*": they share names with the scores.
            row = {"epoch": epoch + 1, "time_s": time.time() - start,
                   **{f"train_{k}": float(v) for k, v in (logs or {}).items()}, **scores}
            history.append(row)
            if scores["aggregate"] > best["aggregate"]:
                best.update(aggregate=scores["aggregate"], epoch=epoch + 1, weights=model.get_weights())
                if output_dir:
                    save_preset(model, output_dir, c)
            print(
                f"[val] epoch {epoch + 1}: aggr {scores['aggregate']:.1f} y {scores['y_acc']:.1f} "
                f"z {scores['z_acc']:.1f} y_adv_err {scores['y_adv_err']:.1f} "
                f"z_adv_err {scores['z_adv_err']:.1f} (best {best['aggregate']:.1f} @ {best['epoch']})",
                flush=True,
            )
            if output_dir:
                with open(os.path.join(output_dir, "history.json"), "w") as f:
                    json.dump({"variant": variant, "seed": c.seed, "history": history,
                               "best_epoch": best["epoch"]}, f, indent=1)

    angles = None  # the z_regression option's targets; NaN where the lighting is unlabelled
    if getattr(model, "head_z_regression", None) is not None:
        import numpy as np

        from lrep_zoo.data.yaleb import light_angle_targets

        angles = light_angle_targets(train_split["azimuth"], train_split["elevation"])
        angles[np.asarray(train_split["lighting"]).reshape(-1) < 0] = np.nan
    if c.mirror or c.light_mix or c.gain != 1.0 or c.images_per_identity > 1:
        from lrep_zoo.data.yaleb import RelightingBatches

        inputs = {"x": RelightingBatches(
            train_split["image"], train_split["identity"], train_split["lighting"], c.batch_size,
            mirror=c.mirror, gain=c.gain, light_mix=c.light_mix, seed=c.seed, angles=angles,
            gain_clip=c.gain_clip, images_per_identity=c.images_per_identity)}
    else:
        labels = (train_split["identity"], train_split["lighting"])
        inputs = {"x": train_split["image"], "y": labels if angles is None else (*labels, angles),
                  "batch_size": c.batch_size, "shuffle": True}
    start = time.time()
    model.fit(**inputs, epochs=epochs, verbose=c.verbose, callbacks=[SelectOnValidation(), StepTimer()])
    train_time = time.time() - start
    if best["weights"] is not None:
        model.set_weights(best["weights"])
    info = {
        **record(c),
        "variant": variant,
        "epochs_run": history[-1]["epoch"] if history else 0,
        "model_overrides": model_kwargs,
        "selected_epoch": best["epoch"],
        "validation_aggregate": best["aggregate"],
        "train_time_s": train_time,
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), {platform.platform()}",
        "history": history,
    }
    return model, info


def from_preset_with_options(folder: str, **overrides):
    """`DualDis.from_preset(folder, **overrides)`; when the overrides add parts the
    preset lacks (`adversaries > 1`: extra adversaries; `z_regression_weight > 0`: the
    regression head), the preset's parts are copied by name into the new model and the
    new parts keep their fresh initialisation."""
    from lrep_zoo.models.dualdis import DualDis

    adds_parts = int(overrides.get("adversaries", 1)) > 1 or overrides.get("z_regression_weight")
    if not adds_parts:
        return DualDis.from_preset(folder, **overrides)
    base = DualDis.from_preset(folder)
    model = DualDis.from_config({**base.get_config(), **overrides})
    for layer in base.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
    return model


def drop_lighting_labels(lighting, fraction: float, seed: int = 0):
    """A copy of `lighting` with all but `fraction` of the labels set to -1 (unlabelled).

    The kept rows are a seeded random draw of `round(fraction * N)` rows. Example:
    `drop_lighting_labels(train["lighting"], 0.1)` keeps 10 % of the lighting labels.
    """
    import numpy as np

    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"z_label_fraction must be in (0, 1], got {fraction}.")
    lighting = np.asarray(lighting).reshape(-1).copy()
    keep = np.random.default_rng(seed).permutation(len(lighting))[: int(round(fraction * len(lighting)))]
    mask = np.zeros(len(lighting), bool)
    mask[keep] = True
    lighting[~mask] = -1
    return lighting


def strict_validation_scores(model, data: dict, seed: int = 0) -> dict:
    """The strict protocol scored on the VALIDATION split (for model selection): the
    probes are trained on a seeded 80 % of the train split and early-stopped on the
    other 20 %, so the validation images are only used for the score."""
    import numpy as np

    from lrep_zoo.models.dualdis import probes

    train_split = data["train"]
    order = np.random.default_rng(seed).permutation(len(train_split["image"]))
    cut = int(0.8 * len(order))
    splits = {"train": {k: v[order[:cut]] for k, v in train_split.items()},
              "validation": {k: v[order[cut:]] for k, v in train_split.items()},
              "test": data["validation"]}
    return probes.strict_scores(model, splits, seed=seed)


def crossfit_validation_scores(model, data: dict, seed: int = 0) -> dict:
    """The test split's strict protocol played on the VALIDATION split, for model selection.

    The probes are trained on the whole train split, as for the test score, but they are
    early-stopped on one half of the validation faces (a seeded half of each identity's
    images) and scored on the other half; then the halves swap, and each column is the
    mean of the two. Early stopping thus sees faces the encoder was not trained on, as in
    the test protocol. (`strict_validation_scores` early-stops on held-out TRAIN faces,
    whose codes the training has made invariant: its probes stop before they find what
    leaks into the codes of unseen faces, and its disentangling columns saturate.)

    Example: `crossfit_validation_scores(model, load_data("../shared/data"))["aggregate"]`.
    """
    import numpy as np

    from lrep_zoo.models.dualdis import metrics as disentangling
    from lrep_zoo.models.dualdis import probes

    val = data["validation"]
    identity = np.asarray(val["identity"]).reshape(-1)
    rng = np.random.default_rng(seed)
    first = np.zeros(len(identity), bool)
    for c in np.unique(identity):
        rows = rng.permutation(np.flatnonzero(identity == c))
        first[rows[: len(rows) // 2]] = True
    halves = [{k: v[m] for k, v in val.items()} for m in (first, ~first)]
    codes = probes.encode_splits(model, {"train": data["train"], "validation": val})
    half_codes = [tuple(h[m] for h in codes["validation"]) for m in (first, ~first)]
    runs = [probes.strict_scores(
                model, {"train": data["train"], "validation": halves[a], "test": halves[b]},
                seed=seed, codes={"train": codes["train"], "validation": half_codes[a],
                                  "test": half_codes[b]})
            for a, b in ((0, 1), (1, 0))]
    out = {k: float(np.mean([r[k] for r in runs])) for k in disentangling.SCORE_KEYS[1:]}
    out["aggregate"] = disentangling.aggregate(out)
    out["ceiling"] = {k: float(np.mean([r["ceiling"][k] for r in runs])) for k in runs[0]["ceiling"]}
    out["halves"] = runs
    return out


def write_grids(model, data: dict, output_dir: str, seed: int = 0) -> list:
    """Edit (each lighting class), swap and reconstruction grids on test images."""
    from lrep_zoo.models.dualdis import grids

    test = data["test"]
    faces, lights = grids.lighting_examples(test["image"], test["identity"], test["lighting"], seed=seed)
    return [
        grids.edit_grid(model, faces[:6], os.path.join(output_dir, "edits.png")),
        grids.swap_grid(model, faces, lights, os.path.join(output_dir, "swaps.png")),
        grids.reconstruction_grid(model, test["image"][::100][:12], os.path.join(output_dir, "reconstructions.png")),
    ]


def evaluate_presets(folder: str, data_dir=None, baseline_folder: str | None = None, seed: int = 0) -> dict:
    """Both protocols on the test split for a trained preset (and a baseline), with grids."""
    from lrep_zoo.models.dualdis import DualDis, evaluation

    data = load_data(data_dir)
    model = DualDis.from_preset(folder)
    baseline = DualDis.from_preset(baseline_folder) if baseline_folder else None
    start = time.time()
    result = evaluation.evaluate_dualdis(model, baseline=baseline, seed=seed, data=data)
    result["eval_time_s"] = time.time() - start
    write_grids(model, data, folder, seed=seed)
    with open(os.path.join(folder, "evaluation.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(result["table"])
    return result


def evaluate(model, data_dir=None, limit: int | None = None) -> dict:
    """`lrep-zoo evaluate dualdis_yaleb`: the paper's rows, ours under both protocols.

    The multi-task baseline preset `dualdis_yaleb_multitask` is scored too, unless `model`
    is that baseline (no adversarial terms): then it is scored alone, as "multi-task". With
    `limit` (smoke runs) only the paper-protocol scores of the first `limit` test images.
    """
    from lrep_zoo.models.dualdis import DualDis, evaluation, metrics as disentangling

    data = load_data(data_dir)
    if limit:
        test = data["test"]
        return disentangling.paper_scores(
            model, test["image"][:limit], test["identity"][:limit], test["lighting"][:limit]
        )
    if model.adversarial_weight_y == 0 and model.adversarial_weight_z == 0:
        # The baseline itself (`lrep-zoo evaluate dualdis_yaleb_multitask`): not against itself.
        result = evaluation.evaluate_dualdis(model, data=data, name="multi-task")
    else:
        baseline = DualDis.from_preset("dualdis_yaleb_multitask")
        result = evaluation.evaluate_dualdis(model, baseline=baseline, data=data)
    print(result["table"])
    return result["rows"]


def main(argv: list[str] | None = None):
    """`lrep-zoo train dualdis_yaleb [flags]` (or `--evaluate DIR`)."""
    parser = build_parser(Config, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    config = from_args(Config, parser.parse_args(argv))
    if config.evaluate:
        return evaluate_presets(config.evaluate, config.data_dir, config.baseline, config.seed)

    if config.init and config.variant:
        parser.error("--variant does not apply with --init (the preset's config is used)")
    config = dataclasses.replace(config, variant=config.variant or "dualdis")
    if os.path.abspath(config.output_dir) == os.path.abspath(config.init or ""):
        parser.error("--output-dir must differ from --init (the preset would be overwritten)")

    from lrep_zoo.models.dualdis import metrics as disentangling

    data = load_data(config.data_dir)
    model, info = train(data, config, output_dir=config.output_dir)
    save_preset(model, config.output_dir, config)
    test = data["test"]
    info["test_paper"] = disentangling.paper_scores(model, test["image"], test["identity"], test["lighting"])
    info["validation_paper"] = disentangling.paper_scores(
        model, data["validation"]["image"], data["validation"]["identity"], data["validation"]["lighting"]
    )
    if config.strict_validation:
        info["validation_strict"] = strict_validation_scores(model, data, seed=config.seed)
    if config.strict_validation_crossfit:
        info["validation_strict_crossfit"] = crossfit_validation_scores(model, data, seed=config.seed)
    if config.strict:
        from lrep_zoo.models.dualdis import probes

        info["test_strict"] = probes.strict_scores(model, data, seed=config.seed)
    with open(os.path.join(config.output_dir, "metrics.json"), "w") as f:
        json.dump(info, f, indent=1)
    write_grids(model, data, config.output_dir, seed=config.seed)
    print(disentangling.format_table({f"{config.variant} (test, paper protocol)": info["test_paper"]}))
    return info


if __name__ == "__main__":
    main()
