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
    from lrep_zoo.recipes.hybridnet_svhn import Config, run

    # SVHN (svhn_cropped) from $LREP_ZOO_DATA_DIR or TFDS: raises DatasetNotFoundError,
    # saying where to put the files, when it is in neither. One step of one seed, only
    # the ablation table's first row (the ConvLarge classifier alone; the default row is
    # "hybridnet").
    results = run(Config(labels=1000, rows=["classification"], steps=1, batch_size=20,
                         labelled_per_batch=4, verbose=0, output_dir="runs/hn_svhn"))
    print(results["runs"])
    ```

    The paper's run (meant for a GPU machine):

    ```bash
    lrep-zoo train hybridnet_svhn --labels 1000 --steps 60000 --output-dir runs/hn_svhn
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
