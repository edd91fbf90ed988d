"""Recipe: SHADE with limited training sets on MNIST (accuracy vs labelled samples).

The SHADE paper reports that the gain of SHADE grows as the labelled set
shrinks. This recipe trains a classifier of `lrep_zoo.models.shade.classifiers` on
`--labels` labelled MNIST images (default 100, 500, 1000 and all available),
with each regulariser of `--regularizers`, and prints test accuracy, mean +- std
over `--seeds`. `--arch lenet` (default) is the small LeNet-style ConvNet (conv 8
and conv 16, 5x5, max-pool, fc 128), `--arch mlp` the MLP (2x256); both ReLU,
SHADE on every hidden pre-activation (conv and Dense).

Protocol:
- the last `--val-images` training images are a validation split, never
  trained on; the labelled subsets come from the other images;
- for each seed, the labelled subset is `lrep_zoo.data.split_labelled(y, n,
  seed)` (balanced per class), the same for every regulariser; "all" uses
  every non-validation training image;
- the weight of each weighted regulariser (SHADE `beta`, L2 coefficient) is
  chosen on the validation split from its grid, separately for each number
  of labels (one run per weight, on the subset of `--select-seed`), and
  reported; the test split is only used for the reported numbers;
- every run is `--steps` steps of momentum SGD (lr 0.01, x0.95 every 100
  steps), batch 100, whatever the number of labels; no augmentation, no
  normalisation layer: only the regulariser differs between the rows;
- binarised-activation check (Table A.1) of the trained SHADE and
  no-regularisation models at `--binarize-labels`.

Offline, `--data-dir ../shared/data` holds the first 17,435 MNIST training
images (so "all" = 15,435 after the validation split) and the full test set;
online, full MNIST comes through TFDS. Writes `results.json` (the options, every
run, the selection grids, the tables) to `--output-dir`; with `--save-presets`, each
trained model as a preset folder `<output-dir>/<arch>_<labels>_<regularizer>_seed<seed>/`
(trained on images / 255, published with the input contract: the same weights behind an
`ImageRescaling` layer, taking uint8 / float 0..255 images;
`lrep_zoo.applications.preset_mixin.save_to_preset`: the functional model serialised
in config.json, model.weights.h5, metadata.json with the rerun command and the scores;
it loads with `preset_mixin.from_preset(folder)`). The training loop is
`lrep_zoo.models.shade.experiment`.

    lrep-zoo train shade_mnist_limited --data-dir ../shared/data --seeds 0 1 2
    python recipes/shade_mnist_limited.py --labels 1000 --regularizers none shade --steps 300
    python recipes/shade_mnist_limited.py --arch mlp --labels 1000   # MLP 2x256
    lrep-zoo train shade_mnist_limited --data-dir ../shared/data --labels 1000 \
        --regularizers shade --weight shade=0.001 --seeds 0 --save-presets  # shade_lenet_mnist_1000
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Literal

import numpy as np

from lrep_zoo.experiments import cell, markdown_table, summarise
from lrep_zoo.models.shade import experiment as shade_experiment
from lrep_zoo.models.shade.experiment import LABELS, REGULARIZER_NAMES
from lrep_zoo.recipe_config import command, jit_compile, option, parse, record

NAME = "shade_mnist_limited"
DESCRIPTION = "SHADE vs no regul./weight decay on MNIST with 100/500/1000/all labels (LeNet, MLP)"

DEFAULT_REGULARIZERS = ("none", "weight_decay", "shade")
DEFAULT_LABELS = ("100", "500", "1000", "all")
ARCHS = ("lenet", "mlp")
DEFAULT_HIDDEN = {"lenet": (128,), "mlp": (256, 256)}  # Dense widths
DEFAULT_GRID = {
    "weight_decay": (1e-4, 5e-4, 2e-3),
    "entropy": (1e-5, 1e-4, 1e-3),
    "shade": (1e-4, 1e-3, 1e-2),
    "shade_dropout": (1e-4, 1e-3, 1e-2),
    "information_dropout": (0.5, 1.0, 3.0),  # beta (KL / training-set size); paper 3.0
}


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train shade_mnist_limited` (one flag per field)."""

    output_dir: str = "lrep_zoo_outputs/shade_mnist_limited"
    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir; "
                                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    arch: str = option("lenet", choices=ARCHS,
                       help="lenet: small ConvNet (default); mlp: MLP --hidden")
    labels: list[str] = option(list(DEFAULT_LABELS),
                               help="numbers of labelled samples (multiples of 10) or 'all'")
    regularizers: list[str] = option(list(DEFAULT_REGULARIZERS), choices=REGULARIZER_NAMES)
    seeds: list[int] = option([0, 1, 2])
    steps: int = 1000
    epochs: int | None = option(None, help="alternative to --steps: passes over the largest "
                                           "labelled set")
    batch_size: int = 100
    learning_rate: float = 0.01
    lr_decay: float = 0.95
    steps_per_decay: int = 100
    hidden: list[int] | None = option(None, help="Dense widths (default: 128 for lenet, "
                                                 "256 256 for mlp)")
    dropout_rate: float = 0.5
    shade_momentum: float = 0.8
    val_images: int = 2000
    select_seed: int = 0
    grid: list[float] | None = option(None, help="candidate weights for every weighted "
                                                 "regulariser")
    grid_for: list[str] | None = option(None, choices=tuple(DEFAULT_GRID),
                                        help="with --grid: only these regularisers' "
                                             "candidates (default: all)")
    weight: list[str] = option([], append=True, metavar="REG=W",
                               help="fix a regulariser's weight, skipping its selection")
    binarize_labels: str = "1000"
    train_images: int | None = option(None, help="use only the first N training images "
                                                 "(smoke runs)")
    test_images: int | None = option(None, help="score only the first N test images "
                                                "(smoke runs)")
    jit: bool = option(True, help="jit_compile=False (default: 'auto')")
    save_presets: bool = option(False, help="write every trained model as a preset folder "
                                            "<output-dir>/<arch>_<labels>_<reg>_seed<seed>/")
    verbose: int = 1

    def resolved_steps(self) -> int:
        """`steps`, or with `epochs` the steps of that many passes over the largest labelled set."""
        if self.epochs is None:
            return self.steps
        numeric = [int(n) for n in self.labels if n != "all"]
        largest = max(numeric) if len(numeric) == len(self.labels) else 60000
        return max(1, self.epochs * largest // self.batch_size)


def evaluate(model, data_dir=None, limit: int | None = None) -> dict:
    """MNIST test accuracy (a fraction) of a trained classifier (logits), e.g. a preset.

    `limit` (the CLI's `--limit`): score only the first `limit` test images.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.recipes.shade_mnist_limited import evaluate

    net = lrep_zoo.applications.ShadeLeNet(weights="mnist_1000")
    # MNIST test images from $LREP_ZOO_DATA_DIR (or data_dir=...); the first 500 here.
    print(evaluate(net, limit=500))
    ```
    """
    from lrep_zoo import data
    from lrep_zoo.inputs import to_model_range

    x_test, y_test = data.load_arrays("mnist", "test", data_dir=data_dir)
    x_test, y_test = x_test[:limit], y_test[:limit].astype("int64")
    # As the model takes them: the uint8 images (a preset), or / 255 (a model the recipe
    # trained, on prepared floats).
    x_test = to_model_range(x_test.reshape(len(x_test), 28, 28, 1), model)
    return {"accuracy": shade_experiment.accuracy(model, x_test, y_test),
            "test_images": int(len(y_test))}


def _labelled_indices(y_pool, labels, seed):
    from lrep_zoo import data

    if labels == "all":
        return np.arange(len(y_pool))
    return data.split_labelled(y_pool, int(labels), seed=seed)


def run(config: Config | None = None) -> dict:
    """Selects the weights on validation per number of labels, trains every seed.

    `--weight REG=W` fixes a regulariser's weight (the same for every number of
    labels, no selection). `hidden` (Dense widths) defaults to `DEFAULT_HIDDEN[arch]`.

    Example:

    ```python
    from lrep_zoo.recipes.shade_mnist_limited import Config, run

    # MNIST from $LREP_ZOO_DATA_DIR (or data_dir=...). A smoke run: 100 labels, no
    # regulariser vs SHADE (weight fixed, no selection), one seed, 30 steps of a
    # 32-unit LeNet, 200 validation / test images, without XLA.
    results = run(Config(labels=["100"], regularizers=["none", "shade"], weight=["shade=1e-4"],
                         seeds=[0], steps=30, hidden=[32], binarize_labels="none",
                         train_images=1200, val_images=200, test_images=200, jit=False,
                         verbose=0, output_dir="runs/shade_mnist"))
    print(results["table"])
    ```

    The table:

    ```bash
    lrep-zoo train shade_mnist_limited --output-dir runs/shade_mnist_limited
    ```
    """
    import keras

    from lrep_zoo import data, reporting
    from lrep_zoo.applications.preset_mixin import save_to_preset

    config = config or Config()
    arch = config.arch
    if arch not in ARCHS:
        raise ValueError(f"Unknown arch {arch!r}; expected one of {ARCHS}.")
    hidden = tuple(config.hidden or DEFAULT_HIDDEN[arch])
    steps = config.resolved_steps()
    val_images = config.val_images
    out = reporting.output_dir(config.output_dir)
    x, y = data.load_arrays("mnist", "train", data_dir=config.data_dir)
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=config.data_dir)
    if config.train_images:
        x, y = x[:config.train_images], y[:config.train_images]
    x_test, y_test = x_test[:config.test_images], y_test[:config.test_images]

    def prep(images):
        return images.astype("float32").reshape(len(images), 28, 28, 1) / 255.0

    y, y_test = y.astype("int64"), y_test.astype("int64")
    x_pool, y_pool = prep(x[:-val_images]), y[:-val_images]
    evals = {"val": (prep(x[-val_images:]), y[-val_images:]), "test": (prep(x_test), y_test)}
    labels = [str(n) for n in config.labels]
    grid, fixed = shade_experiment.resolve_weights(config.grid, config.weight, DEFAULT_GRID,
                                                   config.grid_for)
    common = dict(steps=steps, batch_size=config.batch_size,
                  learning_rate=config.learning_rate, lr_decay=config.lr_decay,
                  steps_per_decay=config.steps_per_decay, hidden=hidden,
                  dropout_rate=config.dropout_rate, momentum=config.shade_momentum,
                  jit_compile=jit_compile(config.jit), num_classes=int(y.max()) + 1)
    results = {
        "recipe": NAME, **record(config), "labels": labels, "steps": steps,
        # Resolved and measured values (the `*_images` options are limits), the grids used.
        "hidden": list(hidden), "pool_images": int(len(y_pool)),
        "test_images": int(len(y_test)), "grid": {k: list(v) for k, v in grid.items()},
        "selection": {}, "weights": {}, "runs": [], "machine": reporting.machine(),
    }
    path = out / "results.json"

    def published(model, reg, w, train_size):
        # Trained on prepared floats (x / 255); published with lrep_zoo's input contract:
        # the same weights behind an ImageRescaling layer (uint8 / float 0..255 images).
        preset = shade_experiment.build_classifier(
            arch, x_pool.shape[1:], common["num_classes"], reg, w, hidden,
            config.dropout_rate, config.shade_momentum, input_range="0..255",
            train_size=train_size)
        preset.set_weights(model.get_weights())
        return preset

    start = time.perf_counter()
    for n in labels:
        def train(reg, w, seed):
            idx = _labelled_indices(y_pool, n, seed)
            return shade_experiment.train_classifier(
                arch, x_pool[idx], y_pool[idx], evals, regularizer=reg, weight=w, seed=seed,
                **common)

        def val_accuracy(reg, w):
            score = train(reg, w, config.select_seed)[1]["val"]
            keras.backend.clear_session()
            return score

        to_select = [r for r in config.regularizers if r in grid and r not in fixed]
        selection = shade_experiment.select_weights(val_accuracy, to_select, grid,
                                                    context={"labels": n},
                                                    verbose=config.verbose)
        results["selection"][n] = selection
        weights = {**fixed, **{r: s["chosen"] for r, s in selection.items()}}
        results["weights"][n] = {r: weights.get(r) for r in config.regularizers}
        reporting.write_json(path, results)
        for seed in config.seeds:
            for reg in config.regularizers:
                model, scores, seconds = train(reg, weights.get(reg), seed)
                run_out = {"labels": n, "regularizer": reg, "weight": weights.get(reg),
                           "seed": seed, **scores, "train_seconds": round(seconds, 1)}
                if config.save_presets:
                    run_out["preset"] = str(save_to_preset(
                        published(model, reg, weights.get(reg),
                                  len(_labelled_indices(y_pool, n, seed))),
                        out / f"{arch}_{n}_{reg}_seed{seed}",
                        command=command(NAME, config), overwrite=True,
                        extra_metadata={"recipe": NAME, **run_out, "steps": steps,
                                        "test_images": int(len(y_test)),
                                        "pool_images": int(len(y_pool))}))
                if n == str(config.binarize_labels) and reg in ("none", "shade"):
                    idx = _labelled_indices(y_pool, n, seed)
                    run_out["binarized"] = shade_experiment.binarized_check(
                        model, *evals["test"], x_fit=x_pool[idx])
                results["runs"].append(run_out)
                if config.verbose:
                    print(json.dumps(run_out), flush=True)
                results["rows"] = summarise(results["runs"], keys=("labels", "regularizer"))
                reporting.write_json(path, results)
                keras.backend.clear_session()
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["table"] = table(results)
    results["binarized_table"] = shade_experiment.binarized_table(
        results["runs"], lambda reg, runs: f"{LABELS[reg]} ({runs[0]['labels']} labels)")
    reporting.write_json(path, results)
    return results


def table(results: dict) -> str:
    """Test accuracy (%) per number of labels and regulariser, with the chosen weights."""
    rows = results["rows"]
    regs = [r for r in REGULARIZER_NAMES if r in results["regularizers"]]
    header = ["labelled samples"] + [LABELS[r] for r in regs]
    if "none" in regs and "shade" in regs:
        header.append("SHADE - no regul.")
    header.append("chosen weights")
    body = []
    for n in sorted(results["labels"], key=lambda n: float("inf") if n == "all" else int(n)):
        cells = [cell(rows.get(f"{n}/{r}")) for r in regs]
        if "none" in regs and "shade" in regs and f"{n}/shade" in rows:
            cells.append(f"{rows[f'{n}/shade']['mean'] - rows[f'{n}/none']['mean']:+.2f}")
        chosen = results["weights"].get(n, {})
        chosen = ", ".join(f"{LABELS[r]} {chosen[r]:g}" for r in regs
                           if chosen.get(r) is not None)
        label = f"all ({results['pool_images']})" if n == "all" else n
        body.append([label] + cells + [chosen or "-"])
    return markdown_table(header, body)


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train shade_mnist_limited [flags]`: runs the recipe, prints the tables."""
    config = parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    results = run(config)
    print(f"\nMNIST test accuracy (%, {config.arch}) vs labelled samples, mean +- std over "
          f"seeds {list(config.seeds)}:")
    print(results["table"])
    if results["binarized_table"]:
        print("\nBinarised-activation check (test accuracy %):")
        print(results["binarized_table"])
    print(f"\nWrote {config.output_dir}/results.json")
    return results


if __name__ == "__main__":
    main()
