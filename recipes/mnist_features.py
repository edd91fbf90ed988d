"""Recipe: the small MNIST classifier whose features score generated digits (FID / KID).

Its penultimate layer (`features`, 128-d) feeds `lrep_zoo.metrics.sample_quality`:
the resulting FID / KID are domain-classifier scores, not Inception FID. The
network and its training are `lrep_zoo.experiments.train_mnist_features` (the
`generative_mnist` recipe trains it too when it is missing).

    python recipes/mnist_features.py --data-dir ../shared/data --output-dir runs/mnist_features
"""

from __future__ import annotations

import dataclasses
import json

from lrep_zoo.experiments import FEATURES_FILE as FILE_NAME
from lrep_zoo.experiments import train_mnist_features
from lrep_zoo.recipe_config import option, parse, record

NAME = "mnist_features"
DESCRIPTION = "MNIST classifier for FID/KID features of generated digits"


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train mnist_features` (one flag per field)."""

    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir; "
                                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    epochs: int = 3
    batch_size: int = 128
    seed: int = 0
    verbose: int = 2


def run(config: Config | None = None) -> dict:
    """Trains the classifier into `<output_dir>/mnist_features.keras`; writes `metrics.json`.

    Example:

    ```python
    import os

    import numpy as np

    import lrep_zoo

    # An npz folder holding a slice of the MNIST of $LREP_ZOO_DATA_DIR keeps the run short
    # (data_dir=None reads all of it).
    x, y = lrep_zoo.data.load_arrays("mnist", "train")[:2]
    x_test, y_test = lrep_zoo.data.load_arrays("mnist", "test")[:2]
    os.makedirs("mnist_slice/mnist", exist_ok=True)
    np.savez("mnist_slice/mnist/mnist.npz", x_train=x[:512], y_train=y[:512],
             x_test=x_test[:256], y_test=y_test[:256])

    from lrep_zoo.recipes.mnist_features import Config, run

    metrics = run(Config(data_dir="mnist_slice", epochs=1, verbose=0,
                         output_dir="runs/mnist_features"))
    print(metrics["test_accuracy"])  # runs/mnist_features/mnist_features.keras
    ```

    On all of MNIST:

    ```bash
    lrep-zoo train mnist_features --output-dir runs/mnist_features
    ```
    """
    from lrep_zoo import reporting

    c = config or Config()
    scores = train_mnist_features(c.output_dir, data_dir=c.data_dir, epochs=c.epochs,
                                  batch_size=c.batch_size, seed=c.seed, verbose=c.verbose)
    metrics = {"recipe": NAME, **record(c), **scores, "machine": reporting.machine()}
    reporting.write_json(reporting.output_dir(c.output_dir) / "metrics.json", metrics)
    return metrics


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train mnist_features [flags]`."""
    metrics = run(parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION))
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    main()
