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
online, full MNIST comes through TFDS. Writes `results.json` to `--output-dir`.

    lrep-zoo train shade_mnist_limited --data-dir ../shared/data --seeds 0 1 2
    python recipes/shade_mnist_limited.py --labels 1000 --regularizers none shade --steps 300
    python recipes/shade_mnist_limited.py --arch mlp --labels 1000   # MLP 2x256
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

NAME = "shade_mnist_limited"
DESCRIPTION = "SHADE vs no regul./weight decay on MNIST with 100/500/1000/all labels (LeNet, MLP)"

REGULARIZER_NAMES = ("none", "weight_decay", "entropy", "dropout", "shade", "shade_dropout")
DEFAULT_REGULARIZERS = ("none", "weight_decay", "shade")
DEFAULT_LABELS = ("100", "500", "1000", "all")
ARCHS = ("lenet", "mlp")
DEFAULT_HIDDEN = {"lenet": (128,), "mlp": (256, 256)}  # Dense widths
DEFAULT_GRID = {
    "weight_decay": (1e-4, 5e-4, 2e-3),
    "entropy": (1e-5, 1e-4, 1e-3),
    "shade": (1e-4, 1e-3, 1e-2),
    "shade_dropout": (1e-4, 1e-3, 1e-2),
}


def _labelled_indices(y_pool, labels, seed):
    from lrep_zoo import data

    if labels == "all":
        return np.arange(len(y_pool))
    return data.split_labelled(y_pool, int(labels), seed=seed)


def run(
    output_dir="lrep_zoo_outputs/shade_mnist_limited",
    data_dir=None,
    arch="lenet",
    labels=DEFAULT_LABELS,
    regularizers=DEFAULT_REGULARIZERS,
    seeds=(0, 1, 2),
    steps=1000,
    batch_size=100,
    learning_rate=0.01,
    lr_decay=0.95,
    steps_per_decay=100,
    hidden=None,
    dropout_rate=0.5,
    momentum=0.8,
    val_images=2000,
    select_seed=0,
    grid=None,
    weights=None,
    binarize_labels="1000",
    train_images=None,
    test_images=None,
    jit_compile=None,
    verbose=1,
) -> dict:
    """Selects the weights on validation per number of labels, trains every seed.

    `weights` ({regularizer: weight}) skips the selection for those regularisers
    (the same weight for every number of labels). `hidden` (Dense widths)
    defaults to `DEFAULT_HIDDEN[arch]`.
    """
    import keras

    from lrep_zoo import data, reporting
    from lrep_zoo.recipes.shade_cifar10 import binarized_check
    from lrep_zoo.recipes.shade_cifar10 import summarise
    from lrep_zoo.recipes.shade_cifar10 import train_classifier

    if arch not in ARCHS:
        raise ValueError(f"Unknown arch {arch!r}; expected one of {ARCHS}.")
    hidden = tuple(hidden or DEFAULT_HIDDEN[arch])
    out = reporting.output_dir(output_dir)
    x, y = data.load_arrays("mnist", "train", data_dir=data_dir)
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=data_dir)
    if train_images:
        x, y = x[:train_images], y[:train_images]
    x_test, y_test = x_test[:test_images], y_test[:test_images]

    def prep(images):
        return images.astype("float32").reshape(len(images), 28, 28, 1) / 255.0

    y, y_test = y.astype("int64"), y_test.astype("int64")
    x_pool, y_pool = prep(x[:-val_images]), y[:-val_images]
    evals = {"val": (prep(x[-val_images:]), y[-val_images:]), "test": (prep(x_test), y_test)}
    labels = [str(n) for n in labels]
    grid = {**DEFAULT_GRID, **(grid or {})}
    fixed = dict(weights or {})
    common = dict(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                  lr_decay=lr_decay, steps_per_decay=steps_per_decay, hidden=hidden,
                  dropout_rate=dropout_rate, momentum=momentum, jit_compile=jit_compile,
                  num_classes=int(y.max()) + 1)
    results = {
        "recipe": NAME, "arch": arch, "labels": labels, "regularizers": list(regularizers),
        "steps": steps,
        "batch_size": batch_size, "learning_rate": learning_rate, "lr_decay": lr_decay,
        "steps_per_decay": steps_per_decay, "hidden": list(hidden),
        "dropout_rate": dropout_rate, "shade_momentum": momentum,
        "val_images": val_images, "pool_images": int(len(y_pool)),
        "test_images": int(len(y_test)), "select_seed": select_seed,
        "grid": {k: list(v) for k, v in grid.items()}, "selection": {}, "weights": {},
        "runs": [], "machine": reporting.machine(),
    }
    path = out / "results.json"
    start = time.perf_counter()
    for n in labels:
        def train(reg, w, seed):
            idx = _labelled_indices(y_pool, n, seed)
            return train_classifier(arch, x_pool[idx], y_pool[idx], evals, regularizer=reg,
                                    weight=w, seed=seed, **common)

        selection = {}
        for reg in regularizers:
            if reg not in grid or reg in fixed:
                continue
            scores = {}
            for w in grid[reg]:
                scores[repr(float(w))] = train(reg, float(w), select_seed)[1]["val"]
                if verbose:
                    print(json.dumps({"labels": n, "select": reg, "weight": w,
                                      "val_accuracy": scores[repr(float(w))]}), flush=True)
                keras.backend.clear_session()
            best = max(scores, key=lambda k: (scores[k], -float(k)))
            selection[reg] = {"chosen": float(best), "val_accuracy": scores}
        results["selection"][n] = selection
        weights = {**fixed, **{r: s["chosen"] for r, s in selection.items()}}
        results["weights"][n] = {r: weights.get(r) for r in regularizers}
        reporting.write_json(path, results)
        for seed in seeds:
            for reg in regularizers:
                model, scores, seconds = train(reg, weights.get(reg), seed)
                run_out = {"labels": n, "regularizer": reg, "weight": weights.get(reg),
                           "seed": seed, **scores, "train_seconds": round(seconds, 1)}
                if n == str(binarize_labels) and reg in ("none", "shade"):
                    idx = _labelled_indices(y_pool, n, seed)
                    run_out["binarized"] = binarized_check(model, *evals["test"],
                                                           x_fit=x_pool[idx])
                results["runs"].append(run_out)
                if verbose:
                    print(json.dumps(run_out), flush=True)
                results["rows"] = summarise(results["runs"], keys=("labels", "regularizer"))
                reporting.write_json(path, results)
                keras.backend.clear_session()
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["table"] = table(results)
    results["binarized_table"] = binarized_table(results)
    reporting.write_json(path, results)
    return results


def table(results) -> str:
    from lrep_zoo.recipes.shade_cifar10 import LABELS, cell, markdown_table

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


def binarized_table(results) -> str:
    from lrep_zoo.recipes.shade_cifar10 import LABELS, markdown_table

    runs = [r for r in results["runs"] if "binarized" in r]
    if not runs:
        return ""
    layers = ["full"] + sorted(k for k in runs[0]["binarized"] if k != "full")
    body = []
    for reg in ("none", "shade"):
        rs = [r for r in runs if r["regularizer"] == reg]
        if rs:
            body.append([f"{LABELS[reg]} ({rs[0]['labels']} labels)"] + [
                f"{np.mean([100 * r['binarized'][l] for r in rs]):.2f} +- "
                f"{np.std([100 * r['binarized'][l] for r in rs]):.2f}" for l in layers])
    header = ["trained with"] + ["no binarisation" if l == "full" else f"{l} binarised"
                                 for l in layers]
    return markdown_table(header, body)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    parser.add_argument("--output-dir", default="lrep_zoo_outputs/shade_mnist_limited")
    parser.add_argument("--data-dir", default=None,
                        help="npz folder (like shared/data) or TFDS data_dir; "
                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    parser.add_argument("--arch", default="lenet", choices=ARCHS,
                        help="lenet: small ConvNet (default); mlp: MLP --hidden")
    parser.add_argument("--labels", nargs="+", default=list(DEFAULT_LABELS),
                        help="numbers of labelled samples (multiples of 10) or 'all'")
    parser.add_argument("--regularizers", nargs="+", default=list(DEFAULT_REGULARIZERS),
                        choices=REGULARIZER_NAMES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=None,
                        help="alternative to --steps: passes over the largest labelled set")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--lr-decay", type=float, default=0.95)
    parser.add_argument("--steps-per-decay", type=int, default=100)
    parser.add_argument("--hidden", type=int, nargs="+", default=None,
                        help="Dense widths (default: 128 for lenet, 256 256 for mlp)")
    parser.add_argument("--dropout-rate", type=float, default=0.5)
    parser.add_argument("--shade-momentum", type=float, default=0.8)
    parser.add_argument("--val-images", type=int, default=2000)
    parser.add_argument("--select-seed", type=int, default=0)
    parser.add_argument("--grid", type=float, nargs="+", default=None,
                        help="candidate weights for every weighted regulariser")
    parser.add_argument("--weight", action="append", default=[], metavar="REG=W",
                        help="fix a regulariser's weight, skipping its selection")
    parser.add_argument("--binarize-labels", default="1000")
    parser.add_argument("--train-images", type=int, default=None,
                        help="use only the first N training images (smoke runs)")
    parser.add_argument("--test-images", type=int, default=None,
                        help="score only the first N test images (smoke runs)")
    parser.add_argument("--no-jit", action="store_true", help="jit_compile=False")
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    steps = args.steps
    if args.epochs is not None:
        numeric = [int(n) for n in args.labels if n != "all"]
        largest = max(numeric) if len(numeric) == len(args.labels) else 60000
        steps = max(1, args.epochs * largest // args.batch_size)
    grid = ({r: tuple(args.grid) for r in DEFAULT_GRID} if args.grid else None)
    weights = {k: float(v) for k, v in (w.split("=") for w in args.weight)}
    results = run(
        output_dir=args.output_dir, data_dir=args.data_dir, arch=args.arch, labels=args.labels,
        regularizers=args.regularizers, seeds=args.seeds, steps=steps,
        batch_size=args.batch_size, learning_rate=args.learning_rate, lr_decay=args.lr_decay,
        steps_per_decay=args.steps_per_decay, hidden=args.hidden,
        dropout_rate=args.dropout_rate, momentum=args.shade_momentum,
        val_images=args.val_images, select_seed=args.select_seed, grid=grid, weights=weights,
        binarize_labels=args.binarize_labels, train_images=args.train_images,
        test_images=args.test_images, jit_compile=False if args.no_jit else None,
        verbose=args.verbose,
    )
    print(f"\nMNIST test accuracy (%, {args.arch}) vs labelled samples, mean +- std over seeds "
          f"{list(args.seeds)}:")
    print(results["table"])
    if results["binarized_table"]:
        print("\nBinarised-activation check (test accuracy %):")
        print(results["binarized_table"])
    print(f"\nWrote {args.output_dir}/results.json")
    return results


if __name__ == "__main__":
    main()
