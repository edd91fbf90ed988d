"""Recipe: HybridNet with ConvLarge on SVHN (500 / 1000 / 2000 / 4000 labels).

The protocol of `hybridnet_cifar10` (same networks, losses, optimiser and
schedule: `lrep_zoo.models.hybridnet.experiment.run_convlarge`) without
horizontal flips (digits). Published SVHN errors: 1.85 % (500 labels), 1.80 %
(1000 labels). Meant for a GPU machine.

    lrep-zoo train hybridnet_svhn --labels 1000 --steps 60000 --output-dir runs/hn_svhn
"""

from __future__ import annotations

import dataclasses
import json

from lrep_zoo.models.hybridnet.experiment import ConvLargeConfig, run_convlarge
from lrep_zoo.recipe_config import option, parse

NAME = "hybridnet_svhn"
DESCRIPTION = "HybridNet (ConvLarge) on SVHN with 500-4000 labels"


@dataclasses.dataclass
class Config(ConvLargeConfig):
    """The options of `lrep-zoo train hybridnet_svhn` (one flag per field)."""

    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    labels: int = option(4000, choices=(500, 1000, 2000, 4000))


def run(config: Config | None = None) -> dict:
    """Trains the rows on `svhn_cropped`, without flips; returns the results dict.

    Example:

    ```python
    run(Config(labels=1000, steps=200))
    ```
    """
    return run_convlarge(config or Config(), dataset="svhn_cropped", name=NAME, flip=False)


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train hybridnet_svhn [flags]`."""
    results = run(parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION))
    print(json.dumps(results["runs"], indent=2))
    return results


if __name__ == "__main__":
    main()
