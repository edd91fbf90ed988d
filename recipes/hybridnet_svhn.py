"""Recipe: HybridNet with ConvLarge on SVHN (500 / 1000 / 2000 / 4000 labels).

The protocol of `hybridnet_cifar10` (same networks, losses, optimiser and
schedule) without horizontal flips (digits). Published SVHN errors: 1.85 %
(500 labels), 1.80 % (1000 labels). Meant for a GPU machine.

    lrep-zoo train hybridnet_svhn --labels 1000 --steps 60000 --output-dir runs/hn_svhn
"""

from __future__ import annotations

try:  # installed package (lrep-zoo train) or run as a script from recipes/
    from lrep_zoo.recipes import hybridnet_cifar10 as _protocol
except ImportError:  # pragma: no cover
    import hybridnet_cifar10 as _protocol

NAME = "hybridnet_svhn"
DESCRIPTION = "HybridNet (ConvLarge) on SVHN with 500-4000 labels"
evaluate = _protocol.evaluate


def run(**kwargs) -> dict:
    """`hybridnet_cifar10.run` on `svhn_cropped`, without flips."""
    kwargs.setdefault("flip", False)
    return _protocol.run(dataset="svhn_cropped", name=NAME, **kwargs)


def main(argv=None) -> dict:
    return _protocol.main(argv, dataset="svhn_cropped", name=NAME, description=DESCRIPTION,
                          flip=False, label_choices=(500, 1000, 2000, 4000))


if __name__ == "__main__":
    main()
