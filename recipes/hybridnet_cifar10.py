"""Recipe: HybridNet with ConvLarge on CIFAR-10 (1000 / 2000 / 4000 labels), the paper's protocol.

Protocol (methods.md, thesis appendix): ConvLarge encoders, transposed-conv
decoder (c-branch) and unpooling decoder (u-branch); 2 px mirror-padded
translations, horizontal flips and Gaussian noise (sigma 0.15) inside the model
(a different draw for the Mean Teacher); Adam lr 0.003 with linear decay to 0
over the last third; batches of 20 labelled + 80 unlabelled; lambda_c = 1,
lambda_s = 100 (ramp-up exp(-5 (1 - t)^2)), lambda_r = 1, intermediate 0.5,
branch balancing 1; EMA decay 0.99. Images are standardised per channel.
Deviations: Keras' Adam has a fixed beta_1 (the paper anneals it 0.9 -> 0.5
over the last fifth); the u-branch unpooling is nearest-neighbour upsampling.
`--ablation` runs the rows of the ablation table (classification,
+ stability, auto-encoder, ...). Meant for a GPU machine. The run is
`lrep_zoo.models.hybridnet.experiment.run_convlarge` (shared with `hybridnet_svhn`).

    lrep-zoo train hybridnet_cifar10 --labels 4000 --steps 60000 --output-dir runs/hn_c10
    python recipes/hybridnet_cifar10.py --labels 1000 --steps 200   # smoke run
"""

from __future__ import annotations

import dataclasses
import json

from lrep_zoo.models.hybridnet.experiment import ConvLargeConfig, run_convlarge
from lrep_zoo.recipe_config import option, parse

NAME = "hybridnet_cifar10"
DESCRIPTION = "HybridNet (ConvLarge) on CIFAR-10 with 1000/2000/4000 labels"


@dataclasses.dataclass
class Config(ConvLargeConfig):
    """The options of `lrep-zoo train hybridnet_cifar10` (one flag per field)."""

    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    labels: int = option(4000, choices=(1000, 2000, 4000))


def run(config: Config | None = None) -> dict:
    """Trains the rows on CIFAR-10 (with horizontal flips); returns the results dict.

    Example:

    ```python
    import os

    import numpy as np

    import lrep_zoo
    from lrep_zoo.recipes.hybridnet_cifar10 import Config, run

    # A small npz folder (the layout of lrep_zoo.data.local) cut from the real CIFAR-10 of
    # $LREP_ZOO_DATA_DIR keeps the smoke run short; data_dir=None reads all of it.
    x_train, y_train = lrep_zoo.data.load_arrays("cifar10", "train")[:2]
    x_test, y_test = lrep_zoo.data.load_arrays("cifar10", "test")[:2]
    os.makedirs("small/cifar10", exist_ok=True)
    np.savez("small/cifar10/small.npz", x_train=x_train[:2000], y_train=y_train[:2000],
             x_test=x_test[:20], y_test=y_test[:20])
    # One step of one seed, batches of 4 labelled + 16 unlabelled images, and only the
    # ablation table's first row (ConvLarge classifier alone: the quickest to build;
    # the default row is "hybridnet", both branches and the Mean Teacher).
    results = run(Config(data_dir="small", labels=1000, rows=["classification"], steps=1,
                         batch_size=20, labelled_per_batch=4, verbose=0,
                         output_dir="runs/hn_c10"))
    print(results["runs"])
    ```

    The paper's run (meant for a GPU machine):

    ```bash
    lrep-zoo train hybridnet_cifar10 --labels 4000 --steps 60000 --output-dir runs/hn_c10
    ```
    """
    return run_convlarge(config or Config(), dataset="cifar10", name=NAME, flip=True)


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train hybridnet_cifar10 [flags]`."""
    results = run(parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION))
    print(json.dumps(results["runs"], indent=2))
    return results


if __name__ == "__main__":
    main()
