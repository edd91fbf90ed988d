"""Helpers shared by several recipes: result tables and the MNIST feature classifier.

Method-specific experiment code lives beside the method
(`lrep_zoo.models.shade.experiment`, `lrep_zoo.models.hybridnet.experiment`; the
Yale-B splits: `lrep_zoo.data.yaleb.load_yaleb`); recipes import these modules, never
each other.
"""

from __future__ import annotations

import os
import time
from typing import Iterable, Sequence

import numpy as np

from lrep_zoo.training.jit_policy import StepTimer

FEATURES_FILE = "mnist_features.keras"


# ---------------------------------------------------------------------------
# Tables.


def summarise(runs: Iterable[dict], keys: Sequence[str] = ("regularizer",),
              metric: str = "test") -> dict:
    """Mean and std (in %, population std over seeds) of `metric` per group of runs.

    Args:
        runs: Dicts with the `keys`, `metric` (a fraction) and `seed`.
        keys: The fields that make a group; its row name joins them with `/`.
        metric: The score averaged.

    Returns:
        `{row name: {**keys, "mean", "std", "n", "seeds"}}`.

    Example:

    ```python
    from lrep_zoo.experiments import summarise
    runs = [{"regularizer": "shade", "seed": s, "test": t} for s, t in ((0, 0.9), (1, 0.8))]
    summarise(runs)["shade"]["mean"]  # 85.0
    ```
    """
    groups: dict[tuple, list[dict]] = {}
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


def cell(row: dict | None) -> str:
    """`"mean +- std"` of a `summarise` row (2 decimals), `"-"` for no row.

    Example:

    ```python
    from lrep_zoo.experiments import cell
    cell({"mean": 95.544, "std": 0.48})  # '95.54 +- 0.48'
    ```
    """
    return f"{row['mean']:.2f} +- {row['std']:.2f}" if row else "-"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A Markdown table.

    Example:

    ```python
    from lrep_zoo.experiments import markdown_table
    markdown_table(["model", "acc"], [["mlp", "95.1"]])
    # '| model | acc |\\n|---|---|\\n| mlp | 95.1 |'
    ```
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The MNIST classifier whose features score generated digits (FID / KID).


def mnist_feature_classifier(input_shape: tuple = (28, 28, 1), features: int = 128):
    """Two conv/pool blocks, a `features` dense layer (named `features`), 10 logits.

    Example:

    ```python
    from lrep_zoo.experiments import mnist_feature_classifier
    mnist_feature_classifier().output_shape  # (None, 10)
    ```
    """
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(features, activation="relu", name="features")(x)
    outputs = layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name="mnist_features")


def train_mnist_features(output_dir: str | os.PathLike, data_dir=None, epochs: int = 3,
                         batch_size: int = 128, seed: int = 0, verbose: int = 1) -> dict:
    """Trains `mnist_feature_classifier` on the MNIST training images (Adam 1e-3).

    Writes `<output_dir>/mnist_features.keras` (no optimizer state; read by
    `lrep_zoo.metrics.sample_quality.load_feature_extractor`) and returns the
    test accuracy, the training settings, the training time and the image count.

    Example:

    ```python
    import os
    import numpy as np
    import lrep_zoo
    from lrep_zoo.experiments import train_mnist_features

    # data_dir=None reads all of $LREP_ZOO_DATA_DIR/mnist; here a 256-image slice of it,
    # as an npz folder, keeps the run short.
    x, y = lrep_zoo.data.load_arrays("mnist", "train")
    x_test, y_test = lrep_zoo.data.load_arrays("mnist", "test")
    os.makedirs("mnist_slice/mnist", exist_ok=True)
    np.savez("mnist_slice/mnist/mnist.npz", x_train=x[:256], y_train=y[:256],
             x_test=x_test[:128], y_test=y_test[:128])
    result = train_mnist_features("runs/mnist_features", data_dir="mnist_slice", epochs=1,
                                  verbose=0)
    result["train_images"]  # 256; the model is runs/mnist_features/mnist_features.keras
    ```
    """
    import keras

    from lrep_zoo import data, reporting

    out = reporting.output_dir(output_dir)
    keras.utils.set_random_seed(seed)
    x, y = data.load_arrays("mnist", "train", data_dir=data_dir)
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=data_dir)
    x = (x.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    x_test = (x_test.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    model = mnist_feature_classifier()
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=[StepTimer()])
    seconds = time.perf_counter() - start
    accuracy = float(model.evaluate(x_test, y_test, verbose=0)[1])
    model.compile()  # drop the optimizer state from the saved file
    model.save(out / FEATURES_FILE)
    return {"test_accuracy": accuracy, "epochs": epochs, "batch_size": batch_size, "seed": seed,
            "train_images": int(len(x)), "train_seconds": round(seconds, 1)}
