"""Recipe: SHADE vs the other regularisers on CIFAR-10 (the SHADE paper's table).

Trains the MLP (3x512, Zhang et al. 2017) or the small AlexNet-style ConvNet of
`lrep_zoo.models.shade.classifiers` with each regulariser of
`lrep_zoo.models.shade.regularizers.REGULARIZERS` (none, weight decay, entropy min H(H),
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
  `E(H | Z)`, see `lrep_zoo.models.shade.regularizers.binarize_layer`).

Offline, `--data-dir ../shared/data` holds a partial CIFAR-10 (5,085 training
and 1,017 test images); online, full CIFAR-10 comes through TFDS. Writes
`results.json` (every run, the selection grid, the table) to `--output-dir`.

    lrep-zoo train shade_cifar10 --data-dir ../shared/data --arch mlp --seeds 0 1 2
    python recipes/shade_cifar10.py --arch alexnet --regularizers none shade --epochs 5

The helpers (`train_classifier`, `select_weights`, `summarise`, `format_table`,
`binarized_check`) are shared with the `shade_mnist_limited` recipe.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

NAME = "shade_cifar10"
DESCRIPTION = "SHADE vs no regul./weight decay/entropy/dropout on CIFAR-10 (MLP, AlexNet)"

REGULARIZER_NAMES = ("none", "weight_decay", "entropy", "dropout", "shade", "shade_dropout")
LABELS = {
    "none": "no regul.",
    "weight_decay": "weight decay",
    "entropy": "entropy min H(H)",
    "dropout": "dropout",
    "shade": "SHADE",
    "shade_dropout": "SHADE + dropout",
}
# Candidate weights, chosen among on the validation split. The SHADE and entropy
# penalties are sums over units of per-unit (batch-mean) terms of order 1, i.e.
# O(1000) for a 3x512 MLP: their weights are O(1e-4).
DEFAULT_GRID = {
    "weight_decay": (1e-4, 5e-4, 2e-3),
    "entropy": (1e-5, 1e-4, 1e-3),
    "shade": (1e-5, 1e-4, 1e-3),
    "shade_dropout": (1e-5, 1e-4, 1e-3),
}


# ---------------------------------------------------------------------------
# Shared helpers (also used by shade_mnist_limited).


def default_jit() -> bool:
    import keras

    return keras.backend.backend() != "torch"  # torch.compile: minutes on CPU


def standardiser(x_train: np.ndarray):
    """Per-channel standardisation fitted on the training images (uint8 NHWC)."""
    x = x_train.astype("float32") / 255.0
    mean = x.mean(axis=(0, 1, 2))
    std = x.std(axis=(0, 1, 2)) + 1e-6

    def apply(images):
        return ((images.astype("float32") / 255.0) - mean) / std

    return apply


def augment(x: np.ndarray, rng: np.random.Generator, flip: bool, crop: int | None) -> np.ndarray:
    """Random horizontal flips and random `crop x crop` crops of NHWC arrays."""
    if flip:
        mask = rng.random(len(x)) < 0.5
        x = x.copy()
        x[mask] = x[mask, :, ::-1]
    if crop:
        h, w = x.shape[1:3]
        oy = rng.integers(0, h - crop + 1, len(x))
        ox = rng.integers(0, w - crop + 1, len(x))
        rows = oy[:, None] + np.arange(crop)[None]
        cols = ox[:, None] + np.arange(crop)[None]
        x = x[np.arange(len(x))[:, None, None], rows[:, :, None], cols[:, None, :]]
    return x


def centre_crop(x: np.ndarray, crop: int | None) -> np.ndarray:
    if not crop:
        return x
    h, w = x.shape[1:3]
    oy, ox = (h - crop) // 2, (w - crop) // 2
    return x[:, oy : oy + crop, ox : ox + crop]


def build_classifier(arch, input_shape, num_classes, regularizer, weight, hidden=(512, 512, 512),
                     dropout_rate=0.5, momentum=0.8):
    """`arch` "mlp" (hidden widths `hidden`), "lenet" (Dense widths `hidden`) or "alexnet"."""
    from lrep_zoo.models.shade.classifiers import alexnet, lenet, mlp

    weight = None if regularizer in ("none", "dropout") else weight
    if arch == "mlp":
        return mlp(input_shape, num_classes, hidden=tuple(hidden), regularizer=regularizer,
                   weight=weight, dropout_rate=dropout_rate, momentum=momentum)
    if arch == "lenet":
        return lenet(input_shape, num_classes, dense=tuple(hidden), regularizer=regularizer,
                     weight=weight, dropout_rate=dropout_rate, momentum=momentum)
    if arch == "alexnet":
        return alexnet(input_shape, num_classes, regularizer=regularizer, weight=weight,
                       dropout_rate=dropout_rate, momentum=momentum)
    raise ValueError(f"Unknown arch {arch!r}; expected 'mlp', 'lenet' or 'alexnet'.")


def accuracy(model, x, y, batch_size=500) -> float:
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return float((np.asarray(logits).argmax(-1) == np.asarray(y)).mean())


def train_classifier(
    arch, x_train, y_train, evals, *, regularizer="none", weight=None, seed=0, steps=1000,
    batch_size=128, learning_rate=0.01, lr_decay=0.95, steps_per_decay=None, flip=False,
    crop=None, hidden=(512, 512, 512), dropout_rate=0.5, momentum=0.8, jit_compile=None,
    steps_per_execution=1, num_classes=10,
):
    """Trains one classifier for `steps` SGD steps; returns (model, scores, seconds).

    `x_train` are prepared float arrays (NHWC); `evals` maps a name to `(x, y)`
    (already centre-cropped) and gives `scores[name]` = accuracy. The learning
    rate is multiplied by `lr_decay` every `steps_per_decay` steps (default: one
    pass over `x_train`). Flips / crops are re-drawn every pass.
    """
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    jit = default_jit() if jit_compile is None else jit_compile
    input_shape = (crop, crop, x_train.shape[-1]) if crop else x_train.shape[1:]
    model = build_classifier(arch, input_shape, num_classes, regularizer, weight, hidden,
                             dropout_rate, momentum)
    per_pass = max(1, len(x_train) // batch_size)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        learning_rate, steps_per_decay or per_pass, lr_decay, staircase=True)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit, steps_per_execution=steps_per_execution,
    )
    start = time.perf_counter()
    # Each `fit` call gets at least `min_chunk` batches (several passes over a
    # small labelled set), re-shuffled and re-augmented every pass.
    min_chunk = 50
    reps = max(1, -(-min_chunk * batch_size // len(x_train)))
    done = 0
    while done < steps:
        order = np.concatenate([rng.permutation(len(x_train)) for _ in range(reps)])
        n = min(len(order) // batch_size, steps - done) * batch_size
        idx = order[:n]
        xb = augment(x_train[idx], rng, flip, crop) if (flip or crop) else x_train[idx]
        model.fit(xb, y_train[idx], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        done += n // batch_size
    seconds = time.perf_counter() - start
    scores = {name: accuracy(model, x, y) for name, (x, y) in evals.items()}
    return model, scores, seconds


def select_weights(train_fn, regularizers, grid) -> dict:
    """Validation accuracy of each candidate weight; the best one is `chosen`.

    `train_fn(regularizer, weight)` returns a scores dict with `"val"`.
    """
    selection = {}
    for reg in regularizers:
        if reg not in grid:
            continue
        scores = {}
        for w in grid[reg]:
            scores[repr(float(w))] = train_fn(reg, float(w))["val"]
            print(json.dumps({"select": reg, "weight": w, "val_accuracy": scores[repr(float(w))]}),
                  flush=True)
        best = max(scores, key=lambda k: (scores[k], -float(k)))
        selection[reg] = {"chosen": float(best), "val_accuracy": scores}
    return selection


def summarise(runs, keys=("regularizer",), metric="test") -> dict:
    """Mean and std (in %, population std over seeds) of `metric` per group."""
    groups = {}
    for r in runs:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    rows = {}
    for key, rs in groups.items():
        values = [100 * r[metric] for r in rs]
        rows["/".join(str(k) for k in key)] = {
            **{k: v for k, v in zip(keys, key)},
            "mean": float(np.mean(values)), "std": float(np.std(values)),
            "n": len(values), "seeds": [r["seed"] for r in rs],
        }
    return rows


def cell(row) -> str:
    return f"{row['mean']:.2f} +- {row['std']:.2f}" if row else "-"


def markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def binarized_check(model, x_eval, y_eval, x_fit=None) -> dict:
    """Accuracy with each hidden layer's pre-activations binarised (Table A.1).

    Uses the SHADE averages `mu^z` where the layer has SHADE, else `E(H | Z)`
    estimated on `x_fit`.
    """
    from lrep_zoo.models.shade.regularizers import binarize_layer

    out = {"full": accuracy(model, x_eval, y_eval)}
    names = [l.name for l in model.layers
             if l.name.startswith(("fc", "conv")) and not l.name.endswith(
                 ("_shade", "_entropy", "_activation", "_dropout"))]
    for name in names:
        has_shade = any(l.name == f"{name}_shade" for l in model.layers)
        binary = binarize_layer(model, name, values="shade" if has_shade else "data", x=x_fit)
        out[name] = accuracy(binary, x_eval, y_eval)
    return out


# ---------------------------------------------------------------------------
# The recipe.


def run(
    output_dir="lrep_zoo_outputs/shade_cifar10",
    data_dir=None,
    arch="mlp",
    regularizers=REGULARIZER_NAMES,
    seeds=(0, 1, 2),
    epochs=30,
    batch_size=128,
    learning_rate=0.01,
    lr_decay=0.95,
    hidden=(512, 512, 512),
    dropout_rate=0.5,
    momentum=0.8,
    val_per_class=100,
    split_seed=0,
    select_seed=0,
    grid=None,
    weights=None,
    train_images=None,
    test_images=None,
    jit_compile=None,
    steps_per_execution=1,
    verbose=1,
) -> dict:
    """Selects the weights on validation, trains every seed, returns the results dict.

    `weights` ({regularizer: weight}) skips the selection for those regularisers.
    """
    import keras

    from lrep_zoo import data, reporting

    out = reporting.output_dir(output_dir)
    x, y = data.load_arrays("cifar10", "train", data_dir=data_dir)
    x_test, y_test = data.load_arrays("cifar10", "test", data_dir=data_dir)
    if train_images:
        x, y = x[:train_images], y[:train_images]
    x_test, y_test = x_test[:test_images], y_test[:test_images]
    y, y_test = y.astype("int64"), y_test.astype("int64")
    classes = int(y.max()) + 1
    # Fixed train / validation split: the same for every regulariser and seed.
    n_val = val_per_class * classes
    counts = np.bincount(y, minlength=classes)
    per_class_train = int(counts.min()) - val_per_class
    if per_class_train <= 0:
        raise ValueError(f"val_per_class={val_per_class} leaves no training images")
    train_idx = data.split_labelled(y, per_class_train * classes, seed=split_seed)
    rest = np.setdiff1d(np.arange(len(y)), train_idx)
    val_idx = rest[np.random.default_rng(split_seed).permutation(len(rest))[:n_val]]
    prep = standardiser(x[train_idx])
    crop = 28 if arch == "alexnet" else None
    x_train, y_train = prep(x[train_idx]), y[train_idx]
    evals = {"val": (centre_crop(prep(x[val_idx]), crop), y[val_idx]),
             "test": (centre_crop(prep(x_test), crop), y_test)}
    steps = epochs * max(1, len(x_train) // batch_size)
    common = dict(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                  lr_decay=lr_decay, flip=True, crop=crop, hidden=hidden,
                  dropout_rate=dropout_rate, momentum=momentum, jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution, num_classes=classes)

    grid = {**DEFAULT_GRID, **(grid or {})}
    weights = dict(weights or {})
    results = {
        "recipe": NAME, "arch": arch, "epochs": epochs, "steps": steps,
        "batch_size": batch_size, "learning_rate": learning_rate, "lr_decay": lr_decay,
        "hidden": list(hidden) if arch == "mlp" else None, "dropout_rate": dropout_rate,
        "shade_momentum": momentum, "split_seed": split_seed, "select_seed": select_seed,
        "train_images": int(len(train_idx)), "val_images": int(len(val_idx)),
        "test_images": int(len(y_test)), "grid": {k: list(v) for k, v in grid.items()},
        "runs": [], "machine": reporting.machine(),
    }
    path = out / "results.json"

    def train_fn(reg, w, seed=select_seed):
        _, scores, _ = train_classifier(arch, x_train, y_train, evals, regularizer=reg,
                                        weight=w, seed=seed, **common)
        return scores

    to_select = [r for r in regularizers if r in grid and r not in weights]
    start = time.perf_counter()
    results["selection"] = select_weights(train_fn, to_select, grid)
    weights.update({r: s["chosen"] for r, s in results["selection"].items()})
    results["weights"] = {r: weights.get(r) for r in regularizers}
    results["selection_seconds"] = round(time.perf_counter() - start, 1)
    reporting.write_json(path, results)

    for seed in seeds:
        for reg in regularizers:
            model, scores, seconds = train_classifier(
                arch, x_train, y_train, evals, regularizer=reg, weight=weights.get(reg),
                seed=seed, **common)
            run_out = {"regularizer": reg, "weight": weights.get(reg), "seed": seed,
                       **scores, "train_seconds": round(seconds, 1)}
            if reg in ("none", "shade"):
                run_out["binarized"] = binarized_check(
                    model, *evals["test"], x_fit=x_train[:2000] if crop is None
                    else centre_crop(x_train[:2000], crop))
            results["runs"].append(run_out)
            if verbose:
                print(json.dumps(run_out), flush=True)
            results["rows"] = summarise(results["runs"])
            reporting.write_json(path, results)
            keras.backend.clear_session()
    results["table"] = table(results)
    results["binarized_table"] = binarized_table(results)
    reporting.write_json(path, results)
    return results


def table(results) -> str:
    rows = results["rows"]
    regs = [r for r in REGULARIZER_NAMES if r in rows]
    header = ["model"] + [LABELS[r] for r in regs]
    body = [[results["arch"]] + [cell(rows[r]) for r in regs]]
    weights = ["chosen weight"] + [
        "-" if results["weights"].get(r) is None else f"{results['weights'][r]:g}" for r in regs]
    return markdown_table(header, body + [weights])


def binarized_table(results) -> str:
    """Test accuracy (%) with one hidden layer binarised, mean +- std over seeds."""
    runs = [r for r in results["runs"] if "binarized" in r]
    if not runs:
        return ""
    layers = ["full"] + sorted(k for k in runs[0]["binarized"] if k != "full")
    body = []
    for reg in ("none", "shade"):
        rs = [r for r in runs if r["regularizer"] == reg]
        if not rs:
            continue
        cells = []
        for layer in layers:
            v = [100 * r["binarized"][layer] for r in rs]
            cells.append(f"{np.mean(v):.2f} +- {np.std(v):.2f}")
        body.append([LABELS[reg]] + cells)
    header = ["trained with"] + ["no binarisation" if l == "full" else f"{l} binarised"
                                 for l in layers]
    return markdown_table(header, body)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    parser.add_argument("--output-dir", default="lrep_zoo_outputs/shade_cifar10")
    parser.add_argument("--data-dir", default=None,
                        help="npz folder (like shared/data) or TFDS data_dir; "
                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    parser.add_argument("--arch", default="mlp", choices=["mlp", "alexnet"])
    parser.add_argument("--regularizers", nargs="+", default=list(REGULARIZER_NAMES),
                        choices=REGULARIZER_NAMES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--lr-decay", type=float, default=0.95, help="per epoch")
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 512, 512],
                        help="MLP widths")
    parser.add_argument("--dropout-rate", type=float, default=0.5)
    parser.add_argument("--shade-momentum", type=float, default=0.8)
    parser.add_argument("--val-per-class", type=int, default=100)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--select-seed", type=int, default=0)
    parser.add_argument("--grid", type=float, nargs="+", default=None,
                        help="candidate weights for every weighted regulariser "
                             "(default: per-regulariser grids, see DEFAULT_GRID)")
    parser.add_argument("--weight", action="append", default=[], metavar="REG=W",
                        help="fix a regulariser's weight, skipping its selection")
    parser.add_argument("--train-images", type=int, default=None,
                        help="use only the first N training images (smoke runs)")
    parser.add_argument("--test-images", type=int, default=None,
                        help="score only the first N test images (smoke runs)")
    parser.add_argument("--no-jit", action="store_true", help="jit_compile=False")
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    grid = ({r: tuple(args.grid) for r in DEFAULT_GRID} if args.grid else None)
    weights = {k: float(v) for k, v in (w.split("=") for w in args.weight)}
    results = run(
        output_dir=args.output_dir, data_dir=args.data_dir, arch=args.arch,
        regularizers=args.regularizers, seeds=args.seeds, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, lr_decay=args.lr_decay,
        hidden=args.hidden, dropout_rate=args.dropout_rate, momentum=args.shade_momentum,
        val_per_class=args.val_per_class, split_seed=args.split_seed,
        select_seed=args.select_seed, grid=grid, weights=weights,
        train_images=args.train_images, test_images=args.test_images,
        jit_compile=False if args.no_jit else None,
        steps_per_execution=args.steps_per_execution, verbose=args.verbose,
    )
    print(f"\nCIFAR-10 test accuracy (%), mean +- std over seeds {list(args.seeds)}:")
    print(results["table"])
    if results["binarized_table"]:
        print("\nBinarised-activation check (test accuracy %):")
        print(results["binarized_table"])
    print(f"\nWrote {args.output_dir}/results.json")
    return results


if __name__ == "__main__":
    main()
