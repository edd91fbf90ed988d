"""Recipe: the `dae_mnist` preset, a convolutional denoising auto-encoder on MNIST.

Trains on the MNIST training images (TFDS, or the npz folder named by
`--data-dir` / `LREP_ZOO_DATA_DIR`), keeps the last 2,000 training images for
validation, scores the test set (reconstruction, denoising, linear probe of the
codes) and writes the preset (`config.json`, `model.weights.h5`, `metadata.json`:
`DenoisingAutoEncoder.from_preset(DIR)` loads it), `metrics.json` and a PNG grid
(noisy / clean / denoised) to `--output-dir`.

    lrep-zoo train dae_mnist --data-dir ../shared/data --epochs 20 --output-dir runs/dae_mnist
    python recipes/dae_mnist.py --epochs 1          # same thing
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Literal

import numpy as np

from lrep_zoo.recipe_config import command, option, parse, record
from lrep_zoo.training.jit_policy import StepTimer

NAME = "dae_mnist"
DESCRIPTION = "Denoising auto-encoder on MNIST (the dae_mnist preset)"


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train dae_mnist` (one flag per field)."""

    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir; "
                                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    epochs: int = 20
    batch_size: int = 128
    latent_dim: int = 32
    noise: Literal["gaussian", "masking", "none"] = "gaussian"
    noise_level: float = 0.3
    learning_rate: float = option(1e-3, help="Adam")
    seed: int = 0
    train_images: int | None = option(None, help="use only the first N training images "
                                                 "(smoke runs)")
    test_images: int | None = option(None, help="score only the first N test images "
                                                "(smoke runs)")
    verbose: int = 1


def linear_probe_accuracy(train_codes, y_train, test_codes, y_test, epochs=30, seed=0) -> float:
    """Test accuracy of a softmax regression trained on frozen codes."""
    import keras

    keras.utils.set_random_seed(seed)
    mean, std = train_codes.mean(0), train_codes.std(0) + 1e-6
    probe = keras.Sequential(
        [keras.Input(train_codes.shape[1:]), keras.layers.Dense(int(y_train.max()) + 1)]
    )
    probe.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    probe.fit((train_codes - mean) / std, y_train, batch_size=256, epochs=epochs, verbose=0)
    return float(probe.evaluate((test_codes - mean) / std, y_test, verbose=0)[1])


def evaluate(model, data_dir=None, seed: int = 0, limit: int | None = None) -> dict:
    """Test-set scores of a trained DAE: reconstruction, denoising, linear probe.

    The probe is trained on the codes of the first 10,000 training images. `limit`
    keeps only the first `limit` training and test images (smoke runs).
    """
    import keras

    from lrep_zoo import data
    from lrep_zoo.inputs import to_model_range
    from lrep_zoo.metrics.reconstruction import denoising_scores

    x, y = data.load_arrays("mnist", "train", data_dir=data_dir)
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=data_dir)
    n = min(10000, limit or 10000)
    # As the model takes them: the uint8 images (the preset), or / 255 (input_range 0..1).
    x, y = to_model_range(x[:n], model), y[:n]
    x_test, y_test = to_model_range(x_test[:limit], model), y_test[:limit]
    scores = denoising_scores(model, x_test, seed=seed)
    scores["linear_probe_accuracy"] = linear_probe_accuracy(
        keras.ops.convert_to_numpy(model.encode(x)), y,
        keras.ops.convert_to_numpy(model.encode(x_test)), y_test, seed=seed,
    )
    return scores


def run(config: Config | None = None) -> dict:
    """Trains, keeps the best validation weights, scores the test set, writes the preset files.

    Example:

    ```python
    from lrep_zoo.recipes.dae_mnist import Config, run

    # MNIST from $LREP_ZOO_DATA_DIR (or pass data_dir=...); a smoke-sized run: the first
    # 2,500 training images (the last 2,000 of them validate), 500 test images scored.
    metrics = run(Config(epochs=1, train_images=2500, test_images=500, verbose=0,
                         output_dir="runs/dae"))
    print(metrics["test"])
    ```

    The paper-scale run:

    ```bash
    lrep-zoo train dae_mnist --epochs 20 --output-dir runs/dae_mnist
    ```
    """
    import keras

    from lrep_zoo import data, reporting, viz
    from lrep_zoo.inputs import input_scale, to_model_range
    from lrep_zoo.models import DenoisingAutoEncoder

    c = config or Config()
    out = reporting.output_dir(c.output_dir)
    keras.utils.set_random_seed(c.seed)
    x = data.load_arrays("mnist", "train", data_dir=c.data_dir)[0][:c.train_images]
    x_test = data.load_arrays("mnist", "test", data_dir=c.data_dir)[0].astype("float32") / 255.0
    x = x.astype("float32") / 255.0
    x_train, x_val = x[:-2000], x[-2000:]

    model = DenoisingAutoEncoder(
        input_shape=x.shape[1:], latent_dim=c.latent_dim, noise=c.noise,
        noise_level=c.noise_level, seed=c.seed,
    )
    model.compile(optimizer=keras.optimizers.Adam(c.learning_rate))
    best = out / "best.weights.h5"
    start = time.perf_counter()
    history = model.fit(
        x_train, validation_data=(x_val,), epochs=c.epochs, batch_size=c.batch_size,
        verbose=c.verbose,
        callbacks=[keras.callbacks.ModelCheckpoint(
            best, monitor="val_loss", save_best_only=True, save_weights_only=True), StepTimer()],
    )
    train_seconds = time.perf_counter() - start
    model.load_weights(best)
    best.unlink()
    # Trained on images / 255; published with the input contract (the dataset's uint8 /
    # float 0..255 images, as the dae_mnist preset): the same weights, input_range
    # "0..255" (ImageRescaling inside). config.json, model.weights.h5 (uncompiled copy)
    # and metadata.json; scored as reloaded.
    published = DenoisingAutoEncoder.from_config({**model.get_config(), "input_range": "0..255"})
    published.set_weights(model.get_weights())
    published.save_to_preset(out, command=command(NAME, c), overwrite=True,
                             extra_metadata={"recipe": NAME})
    final = DenoisingAutoEncoder.from_preset(out)

    scores = evaluate(final, data_dir=c.data_dir, seed=c.seed, limit=c.test_images)
    keras.utils.set_random_seed(c.seed)
    sample = x_test[:12]
    noisy = keras.ops.convert_to_numpy(final.corrupt(to_model_range(sample, final, "0..1")))
    grid = viz.save_rows(
        [np.clip(noisy / input_scale(final), 0, 1), sample, final.predict(noisy, verbose=0)],
        out / "denoising_grid.png", scale=2,
    )
    metrics = {
        "recipe": NAME,
        **record(c),
        "test": scores,
        "best_val_loss": float(min(history.history["val_loss"])),
        # Measured sizes (the `*_images` options are limits).
        "train_images": int(len(x_train)),
        "test_images": int(len(x_test)),
        "train_seconds": round(train_seconds, 1),
        "machine": reporting.machine(),
    }
    reporting.write_json(out / "metrics.json", metrics)
    metrics["grid"] = str(grid)
    return metrics


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train dae_mnist [flags]`."""
    config = parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    metrics = run(config)
    print(json.dumps(metrics["test"], indent=2))
    print(f"Wrote weights, metrics.json and {metrics['grid']} to {config.output_dir}")
    return metrics


if __name__ == "__main__":
    main()
