"""Recipe: siamese networks for pair verification on MNIST ("same digit?").

Trains both losses (`cosine`, `koch`) over `--seeds` on balanced pairs of the first
`--train-images` MNIST training images, picks the decision threshold on 2,000 pairs
of the next 2,000 training images (validation) and scores 4,000 balanced pairs of
the test set (fixed by seed 4321). Baselines, with thresholds chosen the same way:
minus the Euclidean distance of the pixels and of the codes of the `dae_mnist`
preset (a denoising auto-encoder trained on MNIST without labels).

Writes `metrics.json` and `results.md` to `--output-dir`.

    python recipes/siamese_mnist.py --data-dir ../shared/data --output-dir runs/siamese_mnist
    lrep-zoo train siamese_mnist --data-dir ../shared/data --seeds 0 --epochs 1   # smoke run
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from lrep_zoo.recipe_config import command, option, parse, record

NAME = "siamese_mnist"
DESCRIPTION = "Siamese networks: MNIST pair verification (same digit or not)"


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train siamese_mnist` (one flag per field)."""

    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir")
    output_dir: str = f"runs/{NAME}"
    seeds: list[int] = option([0, 1, 2])
    losses: list[str] = option(["cosine", "koch"], choices=("cosine", "koch"))
    train_images: int = 10000
    epochs: int = 5
    steps_per_epoch: int = 40
    batch_size: int = option(32, help="pairs per step (half similar)")
    learning_rate: float = option(1e-3, help="Adam")
    embedding_dim: int = 32
    filters: list[int] = option([16, 32], help="conv blocks of the embedding network")
    margin: float = option(0.0, help="cosine contrastive loss margin")
    pooling: str = option("flatten", choices=("flatten", "avg"),
                          help="before the embedding layer")
    dae: bool = option(True, help="--no-dae: skip the dae_mnist baseline")
    verbose: int = 0


def _scores(features, i, j):
    d = features[i].reshape(len(i), -1) - features[j].reshape(len(j), -1)
    return -np.sqrt((d.astype("float64") ** 2).sum(1))


def run(config: Config | None = None) -> dict:
    """Trains every (loss, seed) and the baselines; returns and writes the metrics.

    Example:

    ```python
    from lrep_zoo.recipes.siamese_mnist import Config, run

    # MNIST from $LREP_ZOO_DATA_DIR (or data_dir=...). A smoke run: the cosine loss, one
    # seed, one epoch of 5 steps on 1,000 training images; the pixel and dae_mnist
    # baselines are scored too.
    metrics = run(Config(seeds=[0], losses=["cosine"], epochs=1, steps_per_epoch=5,
                         train_images=1000, output_dir="runs/sm"))
    print(sorted(metrics))
    ```

    The table (both losses, three seeds):

    ```bash
    lrep-zoo train siamese_mnist --output-dir runs/siamese_mnist
    ```
    """
    import keras

    from lrep_zoo import data, experiments, reporting
    from lrep_zoo.data.pairs import sample_pairs
    from lrep_zoo.models.siamese import experiment as ex

    c = config or Config()
    out = reporting.output_dir(c.output_dir)
    x, y = data.load_arrays("mnist", "train", data_dir=c.data_dir)
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=c.data_dir)
    if len(x) < c.train_images + 2000:
        raise ValueError(f"--train-images {c.train_images} leaves fewer than 2,000 of the "
                         f"{len(x)} training images for validation.")
    x_train, y_train = x[:c.train_images], y[:c.train_images]
    x_val, y_val = x[c.train_images:c.train_images + 2000], y[c.train_images:c.train_images + 2000]
    val = sample_pairs(y_val, 2000, np.random.default_rng(1234))
    test = sample_pairs(y_test, 4000, np.random.default_rng(4321))
    runs = []

    def verify(method, seed, val_scores, test_scores, **extra):
        v = ex.verification_accuracy(val_scores, val[2], test_scores, test[2])
        row = {"method": method, "seed": seed, "val": v["val_accuracy"],
               "test": v["test_accuracy"], **extra}
        runs.append(row)
        print(json.dumps(row), flush=True)

    pixels_val, pixels_test = x_val.astype("float32") / 255.0, x_test.astype("float32") / 255.0
    verify("pixels", None, _scores(pixels_val, *val[:2]), _scores(pixels_test, *test[:2]))
    if c.dae:
        from lrep_zoo.models import DenoisingAutoEncoder

        dae = DenoisingAutoEncoder.from_preset("dae_mnist")
        scale = 1.0 if getattr(dae, "input_range", "0..1") == "0..255" else 1 / 255.0
        codes = lambda images: keras.ops.convert_to_numpy(dae.encode(images * scale))
        verify("dae_mnist codes", None, _scores(codes(x_val.astype("float32")), *val[:2]),
               _scores(codes(x_test.astype("float32")), *test[:2]))
    for seed in c.seeds:
        for loss in c.losses:
            model, seconds = ex.train_siamese(
                x_train, y_train, loss=loss, seed=seed, epochs=c.epochs,
                steps_per_epoch=c.steps_per_epoch, batch_size=c.batch_size,
                learning_rate=c.learning_rate, embedding_dim=c.embedding_dim,
                filters=tuple(c.filters), margin=c.margin, pooling=c.pooling, verbose=c.verbose)
            e_val, e_test = ex.embed_numpy(model, x_val), ex.embed_numpy(model, x_test)
            score = lambda e, i, j: keras.ops.convert_to_numpy(model.score_embeddings(e[i], e[j]))
            verify(f"siamese, {loss}", seed, score(e_val, *val[:2]), score(e_test, *test[:2]),
                   train_seconds=round(seconds, 1))
    summary = experiments.summarise(runs, keys=("method",), metric="test")
    table = experiments.markdown_table(
        ["method", "test verification accuracy %", "seeds"],
        [[m, experiments.cell(s), s["n"]] for m, s in summary.items()])
    metrics = {"recipe": NAME, **record(c), "command": command(NAME, c), "runs": runs,
               "summary": summary, "machine": reporting.machine(),
               "pairs": {"validation": 2000, "test": 4000}}
    reporting.write_json(out / "metrics.json", metrics)
    (out / "results.md").write_text(table + "\n")
    metrics["table"] = table
    return metrics


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train siamese_mnist [flags]`."""
    config = parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    metrics = run(config)
    print(metrics["table"])
    print(f"Wrote metrics.json and results.md to {config.output_dir}")
    return metrics


if __name__ == "__main__":
    main()
