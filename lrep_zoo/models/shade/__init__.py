"""SHADE, the method: the classifiers of the paper's table, its experiment protocol and presets.

The `SHADE` layer and its insertion tools (`add_shade`, `binarize_layer`, `shade_layer`,
`REGULARIZERS`) are shared core (`lrep_zoo.layers`: HybridNet uses them too) and are
re-exported here."""

from lrep_zoo.layers.shade_regularizers import (
    REGULARIZERS,
    add_shade,
    binarize_layer,
    check_regularizer,
    shade_layer,
)
from lrep_zoo.models.shade.classifiers import alexnet, lenet, mlp
from lrep_zoo.models.shade import presets  # registers shade_lenet_mnist_1000

__all__ = [
    "REGULARIZERS",
    "add_shade",
    "alexnet",
    "binarize_layer",
    "check_regularizer",
    "lenet",
    "mlp",
    "shade_layer",
]
