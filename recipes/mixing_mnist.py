"""Recipe: mixing auto-encoders on MNIST (Hu et al. 2018) and the review's ablation.

Trains `MixingAutoEncoder` variants (`mix`, `mix_c`, `mix_g`, `mix_c_g`; `ae` as a
baseline) with the loss weights of `shared/docs/methods.md` (10 rec + 10 rec_cycle +
1 cls + 1 gan) and Adam (beta_1 0.5) on the first `--train-images` MNIST training
images, for every seed. The defaults are the small setting measured on 2 shared CPU
cores (300 steps of 32, chunks of 8, Adam 1e-3); the paper's scale is
`--chunk-dim 64 --filters 64 128 --learning-rate 2e-4 --epochs 20 --train-images 60000`. Each run is scored by the chunk evaluation of
the review: for each of the `--num-chunks` chunks alone, the linear-probe accuracy of
the digit class (probe trained on `--probe-images` training codes, scored on
`--eval-images` test codes) and the nearest-neighbour mAP of the class among the test
codes; the same for the whole code; and the test reconstruction MSE. Each run writes
its preset folder (`MixingAutoEncoder.from_preset(DIR)`) and an attribute-transfer grid
(swap one chunk at a time) into `--output-dir/<variant>_seed<k>/`; `metrics.json` and
`table.md` (mean +- std over seeds) go to `--output-dir`.

    lrep-zoo train mixing_mnist --data-dir ../shared/data --output-dir runs/mixing_mnist
    python recipes/mixing_mnist.py --variants mix_c_g --seeds 0 --epochs 1 --train-images 2000
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from lrep_zoo.recipe_config import command, jit_compile, option, parse, record
from lrep_zoo.training.jit_policy import StepTimer

NAME = "mixing_mnist"
ORDER = ("ae", "mix", "mix_c", "mix_g", "mix_c_g")
DESCRIPTION = "Mixing auto-encoders on MNIST: chunk evaluation of MIX, MIX+C, MIX+G, MIX+C+G"


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train mixing_mnist` (one flag per field)."""

    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir; "
                                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    variants: list[str] = option(["mix", "mix_c", "mix_g", "mix_c_g"],
                                 help="ablation rows: ae, mix, mix_c, mix_g, mix_c_g")
    seeds: list[int] = option([0, 1, 2])
    epochs: int = 1
    batch_size: int = 32
    train_images: int = option(9600, help="first N MNIST training images")
    num_chunks: int = 8
    chunk_dim: int = option(8, help="values per chunk (the paper: 64)")
    filters: list[int] = option([16, 32], help="encoder / D / C conv widths (decoder reversed)")
    learning_rate: float = option(1e-3, help="Adam, every phase (methods.md: 2e-4)")
    beta_1: float = 0.5
    probe_images: int = option(2000, help="training images whose codes train the probes")
    eval_images: int = option(1000, help="test images scored (probe accuracy, mAP, MSE)")
    grid_pairs: int = 8
    summarize_only: bool = option(False, help="train nothing: rebuild table.md and "
                                              "metrics.json from the runs in --output-dir")
    jit: bool = option(True, help="--no-jit: jit_compile=False")
    verbose: int = 2


def build_model(c: Config, variant: str, seed: int):
    """The variant's `MixingAutoEncoder` for MNIST with the recipe's sizes."""
    from lrep_zoo.models import MixingAutoEncoder

    filters = tuple(c.filters)
    return MixingAutoEncoder.variant(
        variant, image_shape=(28, 28, 1), num_chunks=c.num_chunks, chunk_dim=c.chunk_dim,
        encoder_filters=filters, decoder_filters=filters[::-1], discriminator_filters=filters,
        classifier_filters=filters, seed=seed,
    )


def evaluate(model, data_dir=None, seed: int = 0, limit: int | None = None,
             probe_images: int = 2000, eval_images: int = 1000) -> dict:
    """`lrep-zoo evaluate`: the chunk scores of a trained model on MNIST, as the recipe
    measures them (probes on the first `probe_images` training codes, scores on the
    first `eval_images` test images; `limit` caps both, for smoke runs)."""
    from lrep_zoo import data

    x, y = data.load_arrays("mnist", "train", data_dir=data_dir)
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=data_dir)
    n_probe, n_eval = probe_images, eval_images
    if limit:
        n_probe, n_eval = min(n_probe, limit), min(n_eval, limit)
    return score_model(model, x[:n_probe], y[:n_probe], x_test[:n_eval], y_test[:n_eval], seed)


def score_model(model, x_probe, y_probe, x_test, y_test, seed: int = 0) -> dict:
    """Chunk scores of the digit class and the test reconstruction MSE of a trained model.

    Images are raw MNIST (uint8, 0..255).
    """
    import keras

    from lrep_zoo.models.mixing.evaluation import chunk_scores

    encode = lambda x: np.concatenate([  # noqa: E731
        keras.ops.convert_to_numpy(model.encode(x[i:i + 500])) for i in range(0, len(x), 500)])
    scores = chunk_scores(encode(x_probe), y_probe, encode(x_test), y_test,
                          num_chunks=model.num_chunks, seed=seed)
    rec = np.concatenate([keras.ops.convert_to_numpy(model.reconstruct(x_test[i:i + 500]))
                          for i in range(0, len(x_test), 500)])
    scores["test_mse"] = float(np.mean((rec - x_test.astype("float32") / 255.0) ** 2))
    return scores


def collect_runs(out, order=ORDER) -> list[dict]:
    """The `scores.json` of every run under `out`, in variant then seed order."""
    runs = [json.loads(p.read_text()) for p in sorted(out.glob("*_seed*/scores.json"))]
    rank = {v: i for i, v in enumerate(order)}
    return sorted(runs, key=lambda r: (rank.get(r["variant"], len(rank)), r["seed"]))


def summary_table(runs: list[dict], num_chunks: int) -> str:
    """Markdown tables: one row per variant (mean +- std over seeds)."""
    from lrep_zoo.experiments import markdown_table

    def ms(values, scale=100.0, digits=1):
        v = scale * np.asarray(values, float)
        return f"{v.mean():.{digits}f} +- {v.std():.{digits}f}"

    variants = list(dict.fromkeys(r["variant"] for r in runs))
    rows, chunk_rows = [], []
    for v in variants:
        rs = [r for r in runs if r["variant"] == v]
        s = [r["scores"] for r in rs]
        rows.append([v, len(rs), ms([x["best_probe_accuracy"] for x in s]),
                     ms([x["best_nn_map"] for x in s]), ms([x["full_probe_accuracy"] for x in s]),
                     ms([x["full_nn_map"] for x in s]),
                     ms([x["test_mse"] for x in s], 1.0, 4),
                     ms([r["train_seconds"] for r in rs], 1.0, 0)])
        probe = np.mean([x["probe_accuracy"] for x in s], axis=0)
        nn = np.mean([x["nn_map"] for x in s], axis=0)
        chunk_rows.append([v] + [f"{100 * p:.1f} / {100 * m:.1f}" for p, m in zip(probe, nn)])
    chance = 100 * runs[0]["scores"]["chance_nn_map"]
    head = ["variant", "seeds", "best chunk probe %", "best chunk mAP %", "full code probe %",
            "full code mAP %", "test MSE", "train s"]
    text = markdown_table(head, rows)
    text += f"\n\nChance mAP: {chance:.1f} %. Per chunk, probe % / mAP % (mean over seeds):\n\n"
    text += markdown_table(["variant"] + [f"chunk {i}" for i in range(num_chunks)], chunk_rows)
    return text


def run(config: Config | None = None) -> dict:
    """Trains every variant and seed, scores the chunks, writes presets, grids and tables.

    Example:

    ```python
    from lrep_zoo.recipes.mixing_mnist import Config, run

    # MNIST from $LREP_ZOO_DATA_DIR (or data_dir=...). A smoke run: one variant, one seed,
    # one epoch on 256 training images, probes on 256 codes, 128 test images scored.
    metrics = run(Config(variants=["mix_c_g"], seeds=[0], epochs=1, train_images=256,
                         probe_images=256, eval_images=128, filters=[8, 16], grid_pairs=2,
                         verbose=0, output_dir="runs/mixing"))
    print(sorted(metrics))
    ```

    The ablation table (four variants, three seeds):

    ```bash
    lrep-zoo train mixing_mnist --output-dir runs/mixing_mnist
    ```
    """
    import keras

    from lrep_zoo import data, reporting
    from lrep_zoo.models.mixing.grids import save_transfer_grid

    c = config or Config()
    out = reporting.output_dir(c.output_dir)
    x_all, y_all = data.load_arrays("mnist", "train", data_dir=c.data_dir)
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=c.data_dir)
    x_train = x_all[:c.train_images]
    x_probe, y_probe = x_all[:c.probe_images], y_all[:c.probe_images]
    x_eval, y_eval = x_test[:c.eval_images], y_test[:c.eval_images]
    if c.summarize_only:
        c.variants, c.seeds = [], []
    for variant in c.variants:
        for seed in c.seeds:
            keras.utils.set_random_seed(seed)
            model = build_model(c, variant, seed)
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
            scores = score_model(model, x_probe, y_probe, x_eval, y_eval, seed=seed)
            grid = save_transfer_grid(model, x_eval[:c.grid_pairs],
                                      x_eval[c.grid_pairs:2 * c.grid_pairs],
                                      folder / "transfer_grid.png")
            last = {k: float(v[-1]) for k, v in history.history.items()}
            result = {"variant": variant, "seed": seed, "scores": scores,
                      "final_logs": last, "train_seconds": round(seconds, 1),
                      "command": command(NAME, run_config), "grid": str(grid),
                      "preset": str(folder), "backend": keras.backend.backend()}
            reporting.write_json(folder / "scores.json", result)
            print(f"{variant} seed {seed}: best chunk {scores['best_chunk']} probe "
                  f"{scores['best_probe_accuracy']:.3f} mAP {scores['best_nn_map']:.3f}, full "
                  f"probe {scores['full_probe_accuracy']:.3f}, mse {scores['test_mse']:.4f}, "
                  f"{seconds:.0f} s", flush=True)
    # Every run in the folder (several processes may share it, e.g. one per variant).
    runs = collect_runs(out)
    table = summary_table(runs, c.num_chunks)
    (out / "table.md").write_text(table + "\n")
    metrics = {"recipe": NAME, **record(c), "command": command(NAME, c), "runs": runs,
               "machine": reporting.machine()}
    reporting.write_json(out / "metrics.json", metrics)
    metrics["table"] = table
    return metrics


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train mixing_mnist [flags]`."""
    config = parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    metrics = run(config)
    print(metrics["table"])
    print(f"Wrote presets, grids, metrics.json and table.md to {config.output_dir}")
    return metrics


if __name__ == "__main__":
    main()
