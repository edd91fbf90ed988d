"""Recipe: SHADE vs the other regularisers on CIFAR-10 (the SHADE paper's table).

Trains the MLP (3x512, Zhang et al. 2017) or the small AlexNet-style ConvNet of
`lrep_zoo.models.shade.classifiers` with each regulariser of
`lrep_zoo.layers.shade_regularizers.REGULARIZERS` (none, weight decay, entropy min H(H),
dropout, SHADE, SHADE + dropout) and prints the paper's table: test accuracy,
mean +- std over `--seeds`.

Protocol (methods.md, section 1):
- the training images are split once (`--split-seed`) into a training part and
  a validation part (`--val-per-class` images per class); the test split is
  only used for the reported numbers;
- the weight of each weighted regulariser (L2 coefficient, entropy weight,
  SHADE `beta`) is not published: it is chosen on the validation split from
  `--grid`, with one training run per weight (`--select-seed`), and reported;
- every seed then trains each regulariser on the same training part, with
  momentum SGD (lr 0.01, x0.95 per epoch, as Zhang et al. 2017); per-channel
  standardisation; random horizontal flips; for the ConvNet random 28x28 crops
  (centre crop at test);
- the binarised-activation check (Table A.1): the trained SHADE (and
  no-regularisation) models are re-evaluated with each hidden layer's
  pre-activations replaced by their binary code `Z = [h > 0]` (mapped to
  `E(H | Z)`, see `lrep_zoo.layers.shade_regularizers.binarize_layer`).

Offline, `--data-dir ../shared/data` holds a partial CIFAR-10 (5,085 training
and 1,017 test images); online, full CIFAR-10 comes through TFDS. Writes
`results.json` (the options, every run, the selection grid, the table) to
`--output-dir`. The training loop is `lrep_zoo.models.shade.experiment`.

    lrep-zoo train shade_cifar10 --data-dir ../shared/data --arch mlp --seeds 0 1 2
    python recipes/shade_cifar10.py --arch alexnet --regularizers none shade --epochs 5
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
from lrep_zoo.recipe_config import jit_compile, option, parse, record

NAME = "shade_cifar10"
DESCRIPTION = "SHADE vs no regul./weight decay/entropy/dropout on CIFAR-10 (MLP, AlexNet)"

# Candidate weights, chosen among on the validation split. The SHADE and entropy
# penalties are sums over units of per-unit (batch-mean) terms of order 1, i.e.
# O(1000) for a 3x512 MLP: their weights are O(1e-4).
DEFAULT_GRID = {
    "weight_decay": (1e-4, 5e-4, 2e-3),
    "entropy": (1e-5, 1e-4, 1e-3),
    "shade": (1e-5, 1e-4, 1e-3),
    "shade_dropout": (1e-5, 1e-4, 1e-3),
}


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train shade_cifar10` (one flag per field)."""

    output_dir: str = "lrep_zoo_outputs/shade_cifar10"
    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir; "
                                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    arch: Literal["mlp", "alexnet"] = "mlp"
    regularizers: list[str] = option(list(REGULARIZER_NAMES), choices=REGULARIZER_NAMES)
    seeds: list[int] = option([0, 1, 2])
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 0.01
    lr_decay: float = option(0.95, help="per epoch")
    hidden: list[int] = option([512, 512, 512], help="MLP widths")
    dropout_rate: float = 0.5
    shade_momentum: float = 0.8
    val_per_class: int = 100
    split_seed: int = 0
    select_seed: int = 0
    grid: list[float] | None = option(None, help="candidate weights for every weighted "
                                                 "regulariser (default: per-regulariser "
                                                 "grids, see DEFAULT_GRID)")
    grid_for: list[str] | None = option(None, choices=tuple(DEFAULT_GRID),
                                        help="with --grid: only these regularisers' "
                                             "candidates (default: all)")
    weight: list[str] = option([], append=True, metavar="REG=W",
                               help="fix a regulariser's weight, skipping its selection")
    train_images: int | None = option(None, help="use only the first N training images "
                                                 "(smoke runs)")
    test_images: int | None = option(None, help="score only the first N test images "
                                                "(smoke runs)")
    jit: bool = option(True, help="jit_compile=False (default: 'auto')")
    steps_per_execution: int = 1
    verbose: int = 1


def run(config: Config | None = None) -> dict:
    """Selects the weights on validation, trains every seed, returns the results dict.

    `--weight REG=W` fixes a regulariser's weight (no selection for it).

    Example:

    ```python
    from lrep_zoo.recipes.shade_cifar10 import Config, run

    # CIFAR-10 from $LREP_ZOO_DATA_DIR (or data_dir=...). A smoke run: no regulariser vs
    # SHADE (weight fixed, no selection), one seed, one epoch of a 32-unit MLP on 800
    # training images, 100 test images, without XLA.
    results = run(Config(regularizers=["none", "shade"], weight=["shade=1e-4"], seeds=[0],
                         epochs=1, batch_size=64, hidden=[32], train_images=800,
                         val_per_class=20, test_images=100, jit=False, verbose=0,
                         output_dir="runs/shade_cifar10"))
    print(results["table"])
    ```

    The table:

    ```bash
    lrep-zoo train shade_cifar10 --output-dir runs/shade_cifar10
    ```
    """
    import keras

    from lrep_zoo import data, reporting

    config = config or Config()
    out = reporting.output_dir(config.output_dir)
    x, y = data.load_arrays("cifar10", "train", data_dir=config.data_dir)
    x_test, y_test = data.load_arrays("cifar10", "test", data_dir=config.data_dir)
    if config.train_images:
        x, y = x[:config.train_images], y[:config.train_images]
    x_test, y_test = x_test[:config.test_images], y_test[:config.test_images]
    y, y_test = y.astype("int64"), y_test.astype("int64")
    classes = int(y.max()) + 1
    # Fixed train / validation split: the same for every regulariser and seed.
    val_per_class = config.val_per_class
    n_val = val_per_class * classes
    counts = np.bincount(y, minlength=classes)
    per_class_train = int(counts.min()) - val_per_class
    if per_class_train <= 0:
        raise ValueError(f"val_per_class={val_per_class} leaves no training images")
    train_idx = data.split_labelled(y, per_class_train * classes, seed=config.split_seed)
    rest = np.setdiff1d(np.arange(len(y)), train_idx)
    val_idx = rest[np.random.default_rng(config.split_seed).permutation(len(rest))[:n_val]]
    prep = shade_experiment.standardiser(x[train_idx])
    crop = 28 if config.arch == "alexnet" else None
    x_train, y_train = prep(x[train_idx]), y[train_idx]
    centre_crop = shade_experiment.centre_crop
    evals = {"val": (centre_crop(prep(x[val_idx]), crop), y[val_idx]),
             "test": (centre_crop(prep(x_test), crop), y_test)}
    steps = config.epochs * max(1, len(x_train) // config.batch_size)
    common = dict(steps=steps, batch_size=config.batch_size,
                  learning_rate=config.learning_rate, lr_decay=config.lr_decay, flip=True,
                  crop=crop, hidden=config.hidden, dropout_rate=config.dropout_rate,
                  momentum=config.shade_momentum, jit_compile=jit_compile(config.jit),
                  steps_per_execution=config.steps_per_execution, num_classes=classes)

    grid, weights = shade_experiment.resolve_weights(config.grid, config.weight, DEFAULT_GRID,
                                                   config.grid_for)
    results = {
        "recipe": NAME, **record(config), "steps": steps,
        # Measured sizes (the `*_images` options are limits), the grids used.
        "hidden": list(config.hidden) if config.arch == "mlp" else None,
        "train_images": int(len(train_idx)), "val_images": int(len(val_idx)),
        "test_images": int(len(y_test)), "grid": {k: list(v) for k, v in grid.items()},
        "runs": [], "machine": reporting.machine(),
    }
    path = out / "results.json"

    def val_accuracy(reg, w):
        _, scores, _ = shade_experiment.train_classifier(
            config.arch, x_train, y_train, evals, regularizer=reg, weight=w,
            seed=config.select_seed, **common)
        return scores["val"]

    to_select = [r for r in config.regularizers if r in grid and r not in weights]
    start = time.perf_counter()
    results["selection"] = shade_experiment.select_weights(val_accuracy, to_select, grid,
                                                           verbose=config.verbose)
    weights.update({r: s["chosen"] for r, s in results["selection"].items()})
    results["weights"] = {r: weights.get(r) for r in config.regularizers}
    results["selection_seconds"] = round(time.perf_counter() - start, 1)
    reporting.write_json(path, results)

    for seed in config.seeds:
        for reg in config.regularizers:
            model, scores, seconds = shade_experiment.train_classifier(
                config.arch, x_train, y_train, evals, regularizer=reg, weight=weights.get(reg),
                seed=seed, **common)
            run_out = {"regularizer": reg, "weight": weights.get(reg), "seed": seed,
                       **scores, "train_seconds": round(seconds, 1)}
            if reg in ("none", "shade"):
                run_out["binarized"] = shade_experiment.binarized_check(
                    model, *evals["test"], x_fit=centre_crop(x_train[:2000], crop))
            results["runs"].append(run_out)
            if config.verbose:
                print(json.dumps(run_out), flush=True)
            results["rows"] = summarise(results["runs"])
            reporting.write_json(path, results)
            keras.backend.clear_session()
    results["table"] = table(results)
    results["binarized_table"] = shade_experiment.binarized_table(
        results["runs"], lambda reg, runs: LABELS[reg])
    reporting.write_json(path, results)
    return results


def table(results: dict) -> str:
    """The paper's table (test accuracy %, mean +- std) with the chosen weights."""
    rows = results["rows"]
    regs = [r for r in REGULARIZER_NAMES if r in rows]
    header = ["model"] + [LABELS[r] for r in regs]
    body = [[results["arch"]] + [cell(rows[r]) for r in regs]]
    weights = ["chosen weight"] + [
        "-" if results["weights"].get(r) is None else f"{results['weights'][r]:g}" for r in regs]
    return markdown_table(header, body + [weights])


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train shade_cifar10 [flags]`: runs the recipe, prints the tables."""
    config = parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    results = run(config)
    print(f"\nCIFAR-10 test accuracy (%), mean +- std over seeds {list(config.seeds)}:")
    print(results["table"])
    if results["binarized_table"]:
        print("\nBinarised-activation check (test accuracy %):")
        print(results["binarized_table"])
    print(f"\nWrote {config.output_dir}/results.json")
    return results


if __name__ == "__main__":
    main()
