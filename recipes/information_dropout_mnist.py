"""Recipe: Information Dropout on cluttered MNIST (Achille & Soatto): where does the noise go?

The paper's claim: trained with the information-bottleneck penalty, the learned noise
scale `alpha(x)` is large on the clutter and small on the digit (the network keeps the
task's information and drops the nuisance). This recipe generates cluttered MNIST in
code (`lrep_zoo.data.cluttered_mnist`: a digit on a `--canvas-size` canvas with
`--num-pieces` crops of other digits; train images from the first `--pool-images`
MNIST training digits, test images from the MNIST test digits, each with its own seed),
trains a small ConvNet with `InformationDropout` after each of its three strided convs
(alpha predicted from the conv's input with the conv's geometry, ReLU, log-uniform
prior, KL divided by the training-set size) for every `--betas` value and seed, and
measures, on the test images, per layer:

- test accuracy;
- the mean alpha on the digit's ink, on the clutter's ink and on the empty background
  (alpha maps averaged over channels, each map position spread over the input pixels
  it covers: stride 2, 4, 8);
- the clutter's share of the noise mass on ink, `sum alpha(clutter) / (sum
  alpha(clutter) + sum alpha(digit))`, next to the clutter's share of the ink pixels
  (what a uniform noise map would give).

`beta = 0` is the no-regulariser baseline: the same network and noise, alpha learned
from the task loss alone. Writes `results.json`, `table.md` and `alpha_maps.png` (rows:
test images, then the alpha maps of each layer for each beta, seed 0) to
`--output-dir`. The limited-label MNIST comparison (none / dropout / Information
Dropout / SHADE) is `lrep-zoo train shade_mnist_limited --regularizers ...
information_dropout` (the SHADE protocol).

    lrep-zoo train information_dropout_mnist --data-dir ../shared/data
    python recipes/information_dropout_mnist.py --betas 0 0.5 --seeds 0 --epochs 1 --train-images 2000
    lrep-zoo train information_dropout_mnist --merge runs/a runs/b --output-dir runs/all   # one table
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from lrep_zoo.recipe_config import command, jit_compile, option, parse, record
from lrep_zoo.training.jit_policy import StepTimer

NAME = "information_dropout_mnist"
DESCRIPTION = "Information Dropout on cluttered MNIST: alpha maps, noise on clutter vs digit"
REGIONS = ("digit", "clutter", "background")


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train information_dropout_mnist` (one flag per field)."""

    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir; "
                                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    betas: list[float] = option([0.0, 0.5], help="Information Dropout beta per row (0: the "
                                                 "no-regulariser baseline; paper <= 0.5 here)")
    seeds: list[int] = option([0, 1, 2])
    train_images: int = 8000
    test_images: int = 2000
    pool_images: int = option(15435, help="the first N MNIST training digits make the "
                                          "training images (the rest is never used)")
    canvas_size: int = 48
    num_pieces: int = 6
    piece_size: int = 8
    filters: list[int] = option([16, 32, 32], help="widths of the three strided convs")
    max_alpha: float = 0.7
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    grid_images: int = 8
    merge: list[str] | None = option(None, help="train nothing: merge the runs of these "
                                                "output folders into --output-dir's table")
    jit: bool = option(True, help="--no-jit: jit_compile=False")
    verbose: int = 1


def build_model(c: Config, beta: float, train_size: int, seed: int):
    """`[conv 5x5/5x5/3x3 stride 2 -> ReLU -> InformationDropout] x 3 -> max-pool -> Dense`.

    Example:

    ```python
    from lrep_zoo.recipes.information_dropout_mnist import Config, build_model

    model = build_model(Config(), beta=0.5, train_size=8000, seed=0)
    print(model.output_shape)  # (None, 10)
    ```
    """
    import keras

    from lrep_zoo.layers import InformationDropout

    inputs = keras.Input((c.canvas_size, c.canvas_size, 1), name="image")
    h = inputs
    for i, (filters, kernel) in enumerate(zip(c.filters, (5, 5, 3)), start=1):
        f = keras.layers.Conv2D(filters, kernel, strides=2, padding="same", activation="relu",
                                name=f"conv{i}")(h)
        h = InformationDropout(beta, train_size, max_alpha=c.max_alpha, kernel_size=kernel,
                               strides=2, padding="same", seed=seed + 100 * i,
                               name=f"conv{i}_information_dropout")([f, h])
    h = keras.layers.GlobalMaxPooling2D(name="pool")(h)
    outputs = keras.layers.Dense(10, name="predictions")(h)
    return keras.Model(inputs, outputs, name="cluttered_convnet")


def alpha_maps(model, x: np.ndarray, batch_size: int = 250) -> list[np.ndarray]:
    """The alpha map of every `InformationDropout` layer, averaged over channels and
    spread over the input pixels (nearest), `(N, H, W)` each.

    Example:

    ```python
    from lrep_zoo.recipes.information_dropout_mnist import Config, alpha_maps, build_model, load_data

    # Cluttered MNIST canvases built from the MNIST of $LREP_ZOO_DATA_DIR (data_dir=...).
    c = Config(train_images=64, test_images=8)
    _, (x_test, y_test, regions) = load_data(c)
    model = build_model(c, beta=0.5, train_size=c.train_images, seed=0)  # untrained here
    maps = alpha_maps(model, x_test)
    print([m.shape for m in maps])  # 3 arrays (8, 48, 48)
    ```
    """
    import keras
    from keras import ops

    from lrep_zoo.layers import InformationDropout

    layers = [l for l in model.layers if isinstance(l, InformationDropout)]
    probe = keras.Model(model.inputs, [l.input[1] for l in layers])
    maps = [[] for _ in layers]
    for start in range(0, len(x), batch_size):
        xs = probe.predict(x[start:start + batch_size], verbose=0)
        for i, (layer, xi) in enumerate(zip(layers, xs)):
            alpha = ops.convert_to_numpy(layer.compute_alpha(xi)).mean(-1)
            scale = x.shape[1] // alpha.shape[1]
            maps[i].append(np.repeat(np.repeat(alpha, scale, 1), scale, 2))
    return [np.concatenate(m) for m in maps]


def region_scores(alpha: np.ndarray, regions: np.ndarray) -> dict:
    """Mean alpha per region and the clutter's share of the noise mass on ink.

    Example:

    ```python
    from lrep_zoo.recipes.information_dropout_mnist import (
        Config, alpha_maps, build_model, load_data, region_scores)

    # Cluttered MNIST canvases built from the MNIST of $LREP_ZOO_DATA_DIR (data_dir=...).
    c = Config(train_images=64, test_images=8)
    _, (x_test, y_test, regions) = load_data(c)
    model = build_model(c, beta=0.5, train_size=c.train_images, seed=0)  # untrained here
    maps = alpha_maps(model, x_test)
    print(region_scores(maps[0], regions))  # {'digit': ..., 'clutter': ..., ...}
    ```
    """
    from lrep_zoo.data.cluttered_mnist import BACKGROUND, CLUTTER, DIGIT

    out = {}
    for name, code in zip(REGIONS, (DIGIT, CLUTTER, BACKGROUND)):
        out[name] = float(alpha[regions == code].mean())
    mass_clutter = float(alpha[regions == CLUTTER].sum())
    mass_digit = float(alpha[regions == DIGIT].sum())
    out["clutter_share"] = mass_clutter / (mass_clutter + mass_digit)
    n_clutter, n_digit = int((regions == CLUTTER).sum()), int((regions == DIGIT).sum())
    out["clutter_area_share"] = n_clutter / (n_clutter + n_digit)
    out["clutter_over_digit"] = out["clutter"] / out["digit"]
    return out


def load_data(c: Config):
    """Cluttered train and test images (float32 NHWC in [0, 1]), labels and region maps."""
    from lrep_zoo.data.cluttered_mnist import load_cluttered_mnist

    kwargs = dict(canvas_size=c.canvas_size, num_pieces=c.num_pieces, piece_size=c.piece_size)
    train = load_cluttered_mnist("train", c.train_images, c.data_dir, first=c.pool_images,
                                 seed=0, **kwargs)
    test = load_cluttered_mnist("test", c.test_images, c.data_dir, seed=1, **kwargs)

    def prep(x):
        return (x.astype("float32") / 255.0)[..., None]

    return (prep(train[0]), train[1]), (prep(test[0]), test[1], test[2])


def run(c: Config | None = None) -> dict:
    """Trains every beta and seed, scores the alpha maps; writes the results and the grid.

    Example:

    ```python
    from lrep_zoo.recipes.information_dropout_mnist import Config, run

    # MNIST from $LREP_ZOO_DATA_DIR (or data_dir=...). A smoke run: both betas, one seed,
    # one epoch on 256 cluttered training canvases, 64 test canvases.
    results = run(Config(betas=[0.0, 0.5], seeds=[0], epochs=1, train_images=256,
                         test_images=64, verbose=0, output_dir="runs/infodrop"))
    print(sorted(results))
    ```

    The paper-sized run:

    ```bash
    lrep-zoo train information_dropout_mnist --output-dir runs/information_dropout_mnist
    ```
    """
    import keras

    from lrep_zoo import reporting
    from lrep_zoo.viz.grids import save_rows

    c = c or Config()
    out = reporting.output_dir(c.output_dir)
    if c.merge:
        return _merge(c, out)
    (x_train, y_train), (x_test, y_test, regions) = load_data(c)
    results = {"recipe": NAME, **record(c), "command": command(NAME, c),
               "jit_compile": jit_compile(c.jit), "backend": keras.backend.backend(),
               "runs": [], "machine": reporting.machine()}
    grid_rows, grid_labels = [x_test[:c.grid_images, ..., 0]], ["test image"]
    start = time.perf_counter()
    for seed in c.seeds:  # seed-major: an interrupted run holds every beta of its seeds
        for beta in c.betas:
            keras.utils.set_random_seed(seed)
            model = build_model(c, beta, len(x_train), seed)
            model.compile(keras.optimizers.Adam(c.learning_rate),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          jit_compile=jit_compile(c.jit))
            t0 = time.perf_counter()
            model.fit(x_train, y_train, batch_size=c.batch_size, epochs=c.epochs, verbose=0,
                      shuffle=True, callbacks=[StepTimer()])
            seconds = time.perf_counter() - t0
            logits = model.predict(x_test, batch_size=250, verbose=0)
            maps = alpha_maps(model, x_test)
            run_out = {"beta": beta, "seed": seed,
                       "test_accuracy": float((logits.argmax(-1) == y_test).mean()),
                       "train_seconds": round(seconds, 1), "jit_compile": jit_compile(c.jit),
                       "layers": {f"conv{i}": region_scores(m, regions)
                                  for i, m in enumerate(maps, start=1)}}
            results["runs"].append(run_out)
            if c.verbose:
                print(json.dumps(run_out), flush=True)
            if seed == c.seeds[0]:
                for i, m in enumerate(maps, start=1):
                    grid_rows.append(m[:c.grid_images] / (c.max_alpha + 0.001))
                    grid_labels.append(f"beta {beta:g} conv{i}")
                save_rows(grid_rows, out / "alpha_maps.png", scale=2, row_labels=grid_labels)
            _summarise(results, out)
            keras.backend.clear_session()
    results["seconds"] = round(time.perf_counter() - start, 1)
    _summarise(results, out)
    return results


def _merge(c: Config, out) -> dict:
    """`--merge DIR ...`: one table from the runs of several output folders."""
    from lrep_zoo import reporting

    sources = [json.loads((Path(d) / "results.json").read_text()) for d in c.merge]
    results = {"recipe": NAME, **record(c), "merged": [
        {"folder": d, "command": r["command"], "seconds": r.get("seconds"),
         "backend": r["backend"]} for d, r in zip(c.merge, sources)],
        "runs": [run for r in sources for run in r["runs"]], "machine": reporting.machine()}
    _summarise(results, out)
    return results


def _summarise(results: dict, out) -> None:
    """Rows, table, `results.json` and `table.md` from the runs so far."""
    from lrep_zoo import reporting

    flat = [{"beta": r["beta"], "seed": r["seed"], "test_accuracy": r["test_accuracy"],
             **{f"{layer}_{k}": v for layer, s in r["layers"].items() for k, v in s.items()}}
            for r in results["runs"]]
    results["rows"] = _rows(flat)
    results["table"] = table(results)
    reporting.write_json(out / "results.json", results)
    (out / "table.md").write_text(results["table"] + "\n")


def _rows(flat: list[dict]) -> dict:
    """Mean and std over seeds of every score, per beta."""
    rows = {}
    for beta in sorted({r["beta"] for r in flat}):
        rs = [r for r in flat if r["beta"] == beta]
        keys = [k for k in rs[0] if k not in ("beta", "seed")]
        rows[f"{beta:g}"] = {k: {"mean": float(np.mean([r[k] for r in rs])),
                                 "std": float(np.std([r[k] for r in rs])), "n": len(rs)}
                             for k in keys}
    return rows


def table(results: dict) -> str:
    """Per beta and layer: accuracy, mean alpha per region, clutter share of noise mass."""
    from lrep_zoo.experiments import markdown_table

    def cell(s, scale=1.0, digits=3):
        return f"{scale * s['mean']:.{digits}f} +- {scale * s['std']:.{digits}f}"

    header = ["beta", "test acc. %", "layer", "alpha digit", "alpha clutter",
              "alpha background", "clutter / digit", "clutter share of noise mass",
              "clutter share of ink"]
    body = []
    for beta, row in results["rows"].items():
        layers = sorted({k.split("_")[0] for k in row if k.startswith("conv")})
        for layer in layers:
            body.append([beta, cell(row["test_accuracy"], 100, 2), layer,
                         cell(row[f"{layer}_digit"]), cell(row[f"{layer}_clutter"]),
                         cell(row[f"{layer}_background"]),
                         cell(row[f"{layer}_clutter_over_digit"], digits=2),
                         cell(row[f"{layer}_clutter_share"]),
                         f"{row[f'{layer}_clutter_area_share']['mean']:.3f}"])
    return markdown_table(header, body)


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train information_dropout_mnist [flags]`: runs the recipe, prints the table."""
    config = parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    results = run(config)
    print(f"\nCluttered MNIST, Information Dropout, mean +- std over seeds {list(config.seeds)}:")
    print(results["table"])
    grid = "" if config.merge else ", alpha_maps.png"
    print(f"\nWrote {config.output_dir}/results.json, table.md{grid}")
    return results


if __name__ == "__main__":
    main()
