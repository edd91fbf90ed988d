"""Recipe: the small MNIST classifier whose features score generated digits (FID / KID).

Its penultimate layer (`features`, 128-d) feeds `lrep_zoo.metrics.sample_quality`:
the resulting FID / KID are domain-classifier scores, not Inception FID.

    python recipes/mnist_features.py --data-dir ../shared/data --output-dir runs/mnist_features
"""

from __future__ import annotations

import argparse
import json
import time

NAME = "mnist_features"
DESCRIPTION = "MNIST classifier for FID/KID features of generated digits"
FILE_NAME = "mnist_features.keras"


def build_classifier(input_shape=(28, 28, 1), features: int = 128):
    """Two conv/pool blocks, a `features` dense layer, 10 logits."""
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


def run(output_dir="lrep_zoo_outputs/mnist_features", data_dir=None, epochs=3,
        batch_size=128, seed=0, verbose=1) -> dict:
    import keras

    from lrep_zoo import data, reporting

    out = reporting.output_dir(output_dir)
    keras.utils.set_random_seed(seed)
    x, y = data.load_arrays("mnist", "train", data_dir=data_dir)
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=data_dir)
    x = (x.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    x_test = (x_test.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    model = build_classifier()
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose)
    seconds = time.perf_counter() - start
    accuracy = float(model.evaluate(x_test, y_test, verbose=0)[1])
    model.compile()  # drop the optimizer state from the saved file
    model.save(out / FILE_NAME)
    metrics = {"recipe": NAME, "test_accuracy": accuracy, "epochs": epochs,
               "train_images": int(len(x)), "train_seconds": round(seconds, 1),
               "seed": seed, "machine": reporting.machine()}
    reporting.write_json(out / "metrics.json", metrics)
    return metrics


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    parser.add_argument("--output-dir", default="lrep_zoo_outputs/mnist_features")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    metrics = run(args.output_dir, args.data_dir, args.epochs, seed=args.seed, verbose=2)
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    main()
