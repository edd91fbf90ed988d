"""Recipe: the validation runs behind docs/results/hybridnet_mnist.md ("Selection").

One `hybridnet_mnist` row trained exactly as that recipe trains it (the same
`MnistProtocol` options and defaults, `lrep_zoo.models.hybridnet.experiment.train_mnist`),
scored at the end of each tenth of the run on the validation images: the last
`--val-images` training images minus the labelled ones (they stay in the
unlabelled stream; their labels are used only here, never the test set).
Prints one line per evaluation and writes `validation.json` to `--output-dir`.

    KERAS_BACKEND=jax lrep-zoo train hybridnet_mnist_validation --data-dir ../shared/data \
        --variant hybridnet_shade --steps 4000
    # measured: hybridnet_shade 95.1 % (teacher 95.1 %), baseline 86.8 % at step 4000;
    # hybridnet_shade 1000 steps: 82.5 %
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lrep_zoo.models.hybridnet.experiment import (
    MNIST_EPOCHS,
    MNIST_VARIANTS,
    MnistProtocol,
    classification_scores,
    train_mnist,
)
from lrep_zoo.recipe_config import option, parse, record

NAME = "hybridnet_mnist_validation"
DESCRIPTION = "HybridNet MNIST: one hybridnet_mnist row scored on validation every tenth of the run"


@dataclasses.dataclass
class Config(MnistProtocol):
    """The options: the `hybridnet_mnist` training protocol, then the validation run's."""

    variant: str = option("hybridnet_shade", choices=MNIST_VARIANTS)
    seed: int = 0
    val_images: int = option(2000, help="the validation images are the last N training "
                                        "images minus the labelled ones")
    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir; "
                                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    verbose: int = 0


def run(config: Config | None = None) -> dict:
    """Trains the row; returns the options and the validation scores after each tenth.

    Example:

    ```python
    from lrep_zoo.recipes.hybridnet_mnist_validation import Config, run

    # MNIST from $LREP_ZOO_DATA_DIR (or data_dir=...). A smoke run: the baseline row,
    # 20 steps (scored after every 2), 500 validation images, without XLA.
    results = run(Config(variant="baseline", steps=20, val_images=500, jit=False,
                         output_dir="runs/hn_validation"))
    print(results["evaluations"][-1])
    ```

    The runs behind docs/results/hybridnet_mnist.md:

    ```bash
    lrep-zoo train hybridnet_mnist_validation --variant hybridnet_shade --steps 4000
    ```
    """
    import keras

    from lrep_zoo import data, reporting

    config = config or Config()
    x, y = data.load_arrays("mnist", "train", data_dir=config.data_dir)
    x = x.reshape(len(x), 28, 28, 1)
    labelled = data.split_labelled(y, config.labels, seed=config.split_seed)
    val = np.setdiff1d(np.arange(len(x) - config.val_images, len(x)), labelled)
    x_val, y_val = x[val].astype("float32") / 255.0, y[val]
    evaluations = []

    class Validation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            scores = classification_scores(self.model, x_val, y_val, batch_size=1000)
            step = (epoch + 1) * config.steps // MNIST_EPOCHS
            evaluations.append({"step": step, **{f"val_{k}": v for k, v in scores.items()}})
            print(f"step {step}: " + " ".join(f"val_{k} {v:.3f}" for k, v in scores.items()),
                  flush=True)

    _, _, seconds = train_mnist(config, config.variant, config.seed, x, y, labelled,
                                verbose=config.verbose, callbacks=[Validation()])
    results = {"recipe": NAME, **record(config), "val_count": int(len(val)),
               "train_seconds": round(seconds, 1), "evaluations": evaluations,
               "machine": reporting.machine()}
    reporting.write_json(reporting.output_dir(config.output_dir) / "validation.json", results)
    return results


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train hybridnet_mnist_validation [flags]`."""
    return run(parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION))


if __name__ == "__main__":
    main()
