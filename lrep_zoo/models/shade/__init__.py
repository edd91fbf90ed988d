"""SHADE in networks: the classifiers of the paper's table, `add_shade`, `binarize_layer`.

The `SHADE` layer itself is shared (`lrep_zoo.layers.SHADE`: HybridNet uses it too)."""

from lrep_zoo.models.shade.classifiers import alexnet, lenet, mlp
from lrep_zoo.models.shade.regularizers import (
    REGULARIZERS,
    add_shade,
    binarize_layer,
    check_regularizer,
    shade_layer,
)

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
