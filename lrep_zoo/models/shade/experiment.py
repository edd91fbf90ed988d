"""The SHADE comparison protocol shared by the `shade_cifar10` and `shade_mnist_limited` recipes.

One classifier of `lrep_zoo.models.shade.classifiers` per run, trained with
momentum SGD and exponential learning-rate decay (`train_classifier`); the
weight of each weighted regulariser chosen on a validation split
(`select_weights`); the binarised-activation check of Table A.1
(`binarized_check`).
"""

from __future__ import annotations

import json
import time
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

REGULARIZER_NAMES = ("none", "weight_decay", "entropy", "dropout", "shade", "shade_dropout",
                     "information_dropout")
LABELS = {
    "none": "no regul.",
    "weight_decay": "weight decay",
    "entropy": "entropy min H(H)",
    "dropout": "dropout",
    "shade": "SHADE",
    "shade_dropout": "SHADE + dropout",
    "information_dropout": "Information Dropout",
}


def standardiser(x_train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Per-channel standardisation fitted on the training images (uint8 NHWC).

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.shade.experiment import standardiser

    x_train, _ = lrep_zoo.data.load_arrays("cifar10", "train")  # uint8 (N, 32, 32, 3)
    x_test, _ = lrep_zoo.data.load_arrays("cifar10", "test")
    prep = standardiser(x_train)
    x_train, x_test = prep(x_train), prep(x_test)
    ```
    """
    x = x_train.astype("float32") / 255.0
    mean = x.mean(axis=(0, 1, 2))
    std = x.std(axis=(0, 1, 2)) + 1e-6

    def apply(images):
        return ((images.astype("float32") / 255.0) - mean) / std

    return apply


def augment(x: np.ndarray, rng: np.random.Generator, flip: bool, crop: int | None) -> np.ndarray:
    """Random horizontal flips and random `crop x crop` crops of NHWC arrays.

    Example:

    ```python
    import numpy as np
    import lrep_zoo
    from lrep_zoo.models.shade.experiment import augment

    x = lrep_zoo.data.load_arrays("cifar10", "test")[0][:8]  # (n, 32, 32, c)
    augment(x, np.random.default_rng(0), flip=True, crop=28).shape  # (n, 28, 28, c)
    ```
    """
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
    """The central `crop x crop` window of NHWC arrays (`x` itself for no crop).

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.shade.experiment import centre_crop

    centre_crop(np.zeros((2, 32, 32, 3)), 28).shape  # (2, 28, 28, 3)
    ```
    """
    if not crop:
        return x
    h, w = x.shape[1:3]
    oy, ox = (h - crop) // 2, (w - crop) // 2
    return x[:, oy : oy + crop, ox : ox + crop]


def build_classifier(arch: str, input_shape: tuple, num_classes: int, regularizer: str,
                     weight: float | None, hidden: Sequence[int] = (512, 512, 512),
                     dropout_rate: float = 0.5, momentum: float = 0.8,
                     input_range: str | None = None, train_size: int | None = None):
    """`arch` "mlp" (hidden widths `hidden`), "lenet" (Dense widths `hidden`) or "alexnet".

    The weight is ignored for "none" and "dropout". `input_range` (`None`, `"0..255"`,
    `"0..1"`): see `lrep_zoo.models.shade.classifiers` (the recipes train with `None`, on
    prepared floats, and publish their presets with `"0..255"`, the same weights).
    `train_size` is the training-set size Information Dropout's KL term is divided by.

    Example:

    ```python
    from lrep_zoo.models.shade.experiment import build_classifier

    build_classifier("mlp", (28, 28, 1), 10, "shade", 1e-4, hidden=(256, 256))
    ```
    """
    from lrep_zoo.models.shade.classifiers import alexnet, lenet, mlp

    weight = None if regularizer in ("none", "dropout") else weight
    common = dict(regularizer=regularizer, weight=weight, dropout_rate=dropout_rate,
                  momentum=momentum, input_range=input_range, train_size=train_size)
    if arch == "mlp":
        return mlp(input_shape, num_classes, hidden=tuple(hidden), **common)
    if arch == "lenet":
        return lenet(input_shape, num_classes, dense=tuple(hidden), **common)
    if arch == "alexnet":
        return alexnet(input_shape, num_classes, **common)
    raise ValueError(f"Unknown arch {arch!r}; expected 'mlp', 'lenet' or 'alexnet'.")


def accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Top-1 accuracy (a fraction) of a logits model.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.shade.experiment import accuracy

    model = lrep_zoo.applications.ShadeLeNet(weights="mnist_1000")  # logits, uint8 in
    x_test, y_test = lrep_zoo.data.load_arrays("mnist", "test")
    accuracy(model, x_test[:1000], y_test[:1000])  # 0.95...
    ```
    """
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return float((np.asarray(logits).argmax(-1) == np.asarray(y)).mean())


def train_classifier(
    arch: str, x_train: np.ndarray, y_train: np.ndarray,
    evals: Mapping[str, tuple[np.ndarray, np.ndarray]], *, regularizer: str = "none",
    weight: float | None = None, seed: int = 0, steps: int = 1000, batch_size: int = 128,
    learning_rate: float = 0.01, lr_decay: float = 0.95, steps_per_decay: int | None = None,
    flip: bool = False, crop: int | None = None, hidden: Sequence[int] = (512, 512, 512),
    dropout_rate: float = 0.5, momentum: float = 0.8, jit_compile: str | bool = "auto",
    steps_per_execution: int = 1, num_classes: int = 10,
):
    """Trains one classifier for `steps` SGD steps; returns `(model, scores, seconds)`.

    `x_train` are prepared float arrays (NHWC); `evals` maps a name to `(x, y)`
    (already centre-cropped) and gives `scores[name]` = accuracy. The learning
    rate is multiplied by `lr_decay` every `steps_per_decay` steps (default: one
    pass over `x_train`). Flips / crops are re-drawn every pass.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.shade.experiment import train_classifier

    x, y = lrep_zoo.data.load_arrays("mnist", "train")
    x = x.astype("float32") / 255.0  # prepared floats, as the recipes feed
    x_train, y_train, x_val, y_val = x[:1000], y[:1000], x[1000:1500], y[1000:1500]
    model, scores, seconds = train_classifier(  # the recipe: steps=1000
        "lenet", x_train, y_train, {"val": (x_val, y_val)}, regularizer="shade",
        weight=1e-3, steps=20, batch_size=100, steps_per_decay=100, hidden=(128,))
    scores["val"]  # validation accuracy, a fraction
    ```
    """
    import keras

    from lrep_zoo.training.jit_policy import StepTimer

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    input_shape = (crop, crop, x_train.shape[-1]) if crop else x_train.shape[1:]
    model = build_classifier(arch, input_shape, num_classes, regularizer, weight, hidden,
                             dropout_rate, momentum, train_size=len(x_train))
    per_pass = max(1, len(x_train) // batch_size)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        learning_rate, steps_per_decay or per_pass, lr_decay, staircase=True)
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile, steps_per_execution=steps_per_execution,
    )
    start = time.perf_counter()
    # Each `fit` call gets at least `min_chunk` batches (several passes over a
    # small labelled set), re-shuffled and re-augmented every pass.
    min_chunk = 50
    reps = max(1, -(-min_chunk * batch_size // len(x_train)))
    done, timer = 0, StepTimer()  # one stderr line: backend, jit, median step time
    while done < steps:
        order = np.concatenate([rng.permutation(len(x_train)) for _ in range(reps)])
        n = min(len(order) // batch_size, steps - done) * batch_size
        idx = order[:n]
        xb = augment(x_train[idx], rng, flip, crop) if (flip or crop) else x_train[idx]
        model.fit(xb, y_train[idx], batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
                  callbacks=[timer])
        done += n // batch_size
    seconds = time.perf_counter() - start
    scores = {name: accuracy(model, x, y) for name, (x, y) in evals.items()}
    return model, scores, seconds


def select_weights(val_accuracy: Callable[[str, float], float], regularizers: Iterable[str],
                   grid: Mapping[str, Sequence[float]], *, context: Mapping | None = None,
                   verbose: int = 1) -> dict:
    """Validation accuracy of each candidate weight; the best one is `chosen`.

    Args:
        val_accuracy: `val_accuracy(regularizer, weight)` trains one model and
            returns its validation accuracy.
        regularizers: Those without a grid are skipped.
        grid: Candidate weights per regulariser.
        context: Printed first in each progress line (e.g. `{"labels": "100"}`).
        verbose: 0: silent; else one JSON line per candidate.

    Returns:
        `{regularizer: {"chosen": weight, "val_accuracy": {repr(weight): accuracy}}}`;
        ties go to the smaller weight.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.shade.experiment import select_weights, train_classifier

    x, y = lrep_zoo.data.load_arrays("mnist", "train")
    x = x.astype("float32") / 255.0
    evals = {"val": (x[1000:1500], y[1000:1500])}

    def train(reg, w):  # one short run per candidate weight: its scores
        return train_classifier("mlp", x[:1000], y[:1000], evals, regularizer=reg, weight=w,
                                steps=10, batch_size=100, hidden=(64,))[1]

    select_weights(lambda reg, w: train(reg, w)["val"], ["shade"], {"shade": (1e-4, 1e-3)})
    # {'shade': {'chosen': ..., 'val_accuracy': {'0.0001': ..., '0.001': ...}}}
    ```
    """
    selection = {}
    for reg in regularizers:
        if reg not in grid:
            continue
        scores = {}
        for w in grid[reg]:
            scores[repr(float(w))] = val_accuracy(reg, float(w))
            if verbose:
                print(json.dumps({**(context or {}), "select": reg, "weight": w,
                                  "val_accuracy": scores[repr(float(w))]}), flush=True)
        best = max(scores, key=lambda k: (scores[k], -float(k)))
        selection[reg] = {"chosen": float(best), "val_accuracy": scores}
    return selection


def resolve_weights(grid_flag: Sequence[float] | None, weight_flags: Sequence[str],
                    default_grid: Mapping[str, Sequence[float]],
                    grid_for: Sequence[str] | None = None) -> tuple[dict, dict]:
    """The grids and the fixed weights of the recipes' `--grid`, `--grid-for` and
    `--weight REG=W` flags.

    `--grid` replaces the candidates of the regularisers of `grid_for` (default:
    every regulariser of `default_grid`).

    Example:

    ```python
    from lrep_zoo.models.shade.experiment import resolve_weights

    resolve_weights([1e-5], ["shade=1e-4"], {"shade": (1e-4, 1e-3), "entropy": (1e-4,)},
                    grid_for=["entropy"])
    # ({'shade': (0.0001, 0.001), 'entropy': (1e-05,)}, {'shade': 0.0001})
    ```
    """
    grid = dict(default_grid)
    if grid_flag:
        grid.update({r: tuple(grid_flag) for r in (grid_for or default_grid)})
    fixed = {}
    for spec in weight_flags:
        reg, value = spec.split("=")
        fixed[reg] = float(value)
    return grid, fixed


def binarized_check(model, x_eval: np.ndarray, y_eval: np.ndarray,
                    x_fit: np.ndarray | None = None) -> dict:
    """Accuracy with each hidden layer's pre-activations binarised (Table A.1).

    Uses the SHADE averages `mu^z` where the layer has SHADE, else `E(H | Z)`
    estimated on `x_fit`. Returns `{"full": accuracy, layer name: accuracy}`.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.shade.experiment import binarized_check

    model = lrep_zoo.applications.ShadeLeNet(weights="mnist_1000")  # logits, uint8 in
    x_train, _ = lrep_zoo.data.load_arrays("mnist", "train")
    x_test, y_test = lrep_zoo.data.load_arrays("mnist", "test")
    x_test, y_test = x_test[:500], y_test[:500]
    binarized_check(model, x_test, y_test, x_fit=x_train[:2000])  # {'full': ..., 'fc1': ...}
    ```
    """
    from lrep_zoo.layers.shade_regularizers import binarize_layer

    out = {"full": accuracy(model, x_eval, y_eval)}
    names = [l.name for l in model.layers
             if l.name.startswith(("fc", "conv")) and not l.name.endswith(
                 ("_shade", "_entropy", "_activation", "_dropout"))]
    for name in names:
        has_shade = any(l.name == f"{name}_shade" for l in model.layers)
        binary = binarize_layer(model, name, values="shade" if has_shade else "data", x=x_fit)
        out[name] = accuracy(binary, x_eval, y_eval)
    return out


def binarized_table(runs: Sequence[dict], label: Callable[[str, list[dict]], str]) -> str:
    """Test accuracy (%) with one hidden layer binarised, mean +- std over seeds.

    `runs` with a `"binarized"` entry (from `binarized_check`); one row for
    "none" and one for "shade", named by `label(regularizer, its runs)`.

    Example:

    ```python
    from lrep_zoo.models.shade.experiment import LABELS, binarized_table

    results = {"runs": [  # a recipe's results.json: binarized_check of each run
        {"regularizer": "none", "seed": 0, "binarized": {"full": 0.951, "fc1": 0.902}},
        {"regularizer": "none", "seed": 1, "binarized": {"full": 0.948, "fc1": 0.897}},
        {"regularizer": "shade", "seed": 0, "binarized": {"full": 0.957, "fc1": 0.941}},
    ]}
    print(binarized_table(results["runs"], lambda reg, runs: LABELS[reg]))
    ```
    """
    from lrep_zoo.experiments import markdown_table

    runs = [r for r in runs if "binarized" in r]
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
        body.append([label(reg, rs)] + cells)
    header = ["trained with"] + ["no binarisation" if l == "full" else f"{l} binarised"
                                 for l in layers]
    return markdown_table(header, body)
