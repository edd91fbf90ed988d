"""Recipe: mixing auto-encoders on Extended Yale-B (Hu et al. 2018) and the review's ablation.

Trains `MixingAutoEncoder` variants (`mix`, `mix_c`, `mix_g`, `mix_c_g`; `ae` as a
baseline) with the loss weights of `shared/docs/methods.md` (10 rec + 10 rec_cycle +
1 cls + 1 gan) and Adam (beta_1 0.5), without labels, on the training split of the
Yale-B loader (`lrep_zoo.data.yaleb`, 48x42 faces; `--resolution 48x40` crops two
pixel columns so the DCGAN networks' strides divide the size, `24x20` is the crop's
2x2 box average). Each run is scored by the chunk evaluation of the review for every
known factor (identity 0..37; azimuth and elevation of the light, classes of their
distinct values; the 14 lighting classes): for each of the `--num-chunks` chunks
alone and for the whole code, a logistic-regression probe trained on the training
split's codes and scored on the test split's, and the nearest-neighbour mAP among the
test codes; also the test reconstruction MSE. Each run writes its preset folder
(`MixingAutoEncoder.from_preset(DIR)`), `scores.json` and an attribute-transfer grid
(test pairs that differ in every factor; swap one chunk at a time) into
`--output-dir/<variant>_seed<k>/`; `metrics.json` and `table.md` (mean +- std over
seeds) go to `--output-dir`.

    lrep-zoo train mixing_yaleb --data-dir ../shared/data --output-dir runs/mixing_yaleb
    python recipes/mixing_yaleb.py --data-dir ../shared/data --variants mix_c_g --epochs 1
"""

from __future__ import annotations

import dataclasses
import time

from lrep_zoo.recipe_config import command, jit_compile, option, parse, record
from lrep_zoo.training.jit_policy import StepTimer

NAME = "mixing_yaleb"
DESCRIPTION = ("Mixing auto-encoders on Extended Yale-B: identity / light chunk scores of "
               "MIX, MIX+C, MIX+G, MIX+C+G")


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train mixing_yaleb` (one flag per field)."""

    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    data_dir: str | None = option(None, help="folder with yaleb_cropped/ (like shared/data); "
                                             "default: $LREP_ZOO_DATA_DIR")
    variants: list[str] = option(["mix", "mix_c", "mix_g", "mix_c_g"],
                                 help="ablation rows: ae, mix, mix_c, mix_g, mix_c_g")
    seeds: list[int] = option([0])
    resolution: str = option("24x20", choices=("48x40", "24x20"),
                             help="48x40: the 48x42 faces without the outer columns; "
                                  "24x20: its 2x2 box average")
    epochs: int = option(30, help="passes over the training split (31 steps of 32 each)")
    batch_size: int = 32
    train_images: int | None = option(None, help="first N training-split images (default all; "
                                                 "also the probes' training codes)")
    eval_images: int | None = option(None, help="first N test-split images scored "
                                                "(default all)")
    factors: list[str] = option(["identity", "azimuth", "elevation", "lighting"],
                                choices=("identity", "azimuth", "elevation", "lighting"),
                                help="known factors scored per chunk")
    num_chunks: int = 8
    chunk_dim: int = option(8, help="values per chunk (the paper: 64)")
    filters: list[int] = option([16, 32], help="encoder / D / C conv widths (decoder reversed)")
    learning_rate: float = option(1e-3, help="Adam, every phase (methods.md: 2e-4)")
    beta_1: float = 0.5
    grid_pairs: int = 8
    summarize_only: bool = option(False, help="train nothing: rebuild table.md and "
                                              "metrics.json from the runs in --output-dir")
    jit: bool = option(True, help="--no-jit: jit_compile=False")
    verbose: int = 2


def build_model(c: Config, variant: str, seed: int, image_shape):
    """The variant's `MixingAutoEncoder` with the recipe's sizes."""
    from lrep_zoo.models import MixingAutoEncoder

    filters = tuple(c.filters)
    return MixingAutoEncoder.variant(
        variant, image_shape=tuple(image_shape), num_chunks=c.num_chunks, chunk_dim=c.chunk_dim,
        encoder_filters=filters, decoder_filters=filters[::-1], discriminator_filters=filters,
        classifier_filters=filters, seed=seed,
    )


def run(config: Config | None = None) -> dict:
    """Trains every variant and seed, scores the chunks, writes presets, grids and tables.

    Example:

    ```python
    from lrep_zoo.recipes.mixing_yaleb import Config, run

    # Yale-B from $LREP_ZOO_DATA_DIR (or data_dir=...). A smoke run: one variant, one
    # epoch on 96 faces at 24x20, 64 test faces, the identity factor only.
    metrics = run(Config(variants=["mix_c_g"], epochs=1, train_images=96, eval_images=64,
                         factors=["identity"], filters=[8, 16], grid_pairs=2, verbose=0,
                         output_dir="runs/mixing_yaleb"))
    print(metrics["runs"][0]["scores"]["test_mse"])
    ```

    The ablation table:

    ```bash
    lrep-zoo train mixing_yaleb --epochs 30 --output-dir runs/mixing_yaleb
    ```
    """
    import keras

    from lrep_zoo import reporting
    from lrep_zoo.models.mixing import experiment as ex
    from lrep_zoo.models.mixing.grids import save_transfer_grid

    c = config or Config()
    unknown = sorted(set(c.variants) - set(ex.ORDER))
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {list(ex.ORDER)}.")
    out = reporting.output_dir(c.output_dir)
    data = ex.yaleb_mixing_data(c.data_dir, c.resolution)
    n_train, n_eval = c.train_images, c.eval_images
    x_train = data["train"]["image"][:n_train]
    y_train = {k: data["train"]["factors"][k][:n_train] for k in c.factors}
    x_eval = data["test"]["image"][:n_eval]
    y_eval = {k: data["test"]["factors"][k][:n_eval] for k in c.factors}
    targets, sources = ex.transfer_pairs(
        {k: v[:n_eval] for k, v in data["test"]["factors"].items()}, c.grid_pairs, seed=0)
    if c.summarize_only:
        c.variants, c.seeds = [], []
    for variant in c.variants:
        for seed in c.seeds:
            keras.utils.set_random_seed(seed)
            model = build_model(c, variant, seed, x_train.shape[1:])
            model.compile(optimizer=keras.optimizers.Adam(c.learning_rate, beta_1=c.beta_1),
                          jit_compile=jit_compile(c.jit))
            start = time.perf_counter()
            history = model.fit(x_train, batch_size=c.batch_size, epochs=c.epochs,
                                verbose=c.verbose, callbacks=[StepTimer()])
            seconds = time.perf_counter() - start
            folder = out / f"{variant}_seed{seed}"
            run_config = dataclasses.replace(c, variants=[variant], seeds=[seed])
            model.save_to_preset(folder, command=command(NAME, run_config), overwrite=True,
                                 extra_metadata={"recipe": NAME, "variant": variant})
            scores = ex.factor_scores(model, x_train, y_train, x_eval, y_eval, seed=seed)
            grid = save_transfer_grid(model, x_eval[targets], x_eval[sources],
                                      folder / "transfer_grid.png")
            steps = int(model.phase_optimizers["generator"].iterations)
            last = {k: float(v[-1]) for k, v in history.history.items()}
            result = {"variant": variant, "seed": seed, "scores": scores, "steps": steps,
                      "final_logs": last, "train_seconds": round(seconds, 1),
                      "command": command(NAME, run_config), "grid": str(grid),
                      "preset": str(folder), "backend": keras.backend.backend(),
                      "jit_compile": jit_compile(c.jit)}
            reporting.write_json(folder / "scores.json", result)
            print(f"{variant} seed {seed}: " + ", ".join(
                f"{k} best chunk {s['best_chunk']} probe {s['best_probe_accuracy']:.3f} "
                f"mAP {s['best_nn_map']:.3f} (whole code {s['full_nn_map']:.3f})"
                for k, s in scores["factors"].items())
                + f"; mse {scores['test_mse']:.4f}, {steps} steps, {seconds:.0f} s", flush=True)
    # Every run in the folder (several processes may share it, e.g. one per variant).
    runs = ex.collect_runs(out)
    if not runs:
        raise ValueError(f"no runs (<variant>_seed<k>/scores.json) in {out} to summarise.")
    table = ex.factor_tables(runs, c.factors, c.num_chunks)
    (out / "table.md").write_text(table + "\n")
    metrics = {"recipe": NAME, **record(c), "command": command(NAME, c), "runs": runs,
               "images": {"train": int(len(x_train)), "test": int(len(x_eval))},
               "image_shape": list(x_train.shape[1:]), "machine": reporting.machine()}
    reporting.write_json(out / "metrics.json", metrics)
    metrics["table"] = table
    return metrics


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train mixing_yaleb [flags]`."""
    config = parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    metrics = run(config)
    print(metrics["table"])
    print(f"Wrote presets, grids, metrics.json and table.md to {config.output_dir}")
    return metrics


if __name__ == "__main__":
    main()
