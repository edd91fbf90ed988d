"""Keras layers shared by several methods, and SHADE's insertion tools.

`shade_regularizers` sits beside `SHADE`: the paper's regulariser names, `shade_layer`
(the one constructor of a pre-activation SHADE layer), `add_shade` and `binarize_layer`.
"""

from lrep_zoo.layers.batch_normalization import BatchNormalization
from lrep_zoo.layers.binarize import Binarize
from lrep_zoo.layers.conv import Conv2D, Conv2DTranspose
from lrep_zoo.layers.image_rescaling import ImageRescaling
from lrep_zoo.layers.information_dropout import InformationDropout
from lrep_zoo.layers.lens import Lens
from lrep_zoo.layers.noise import MaskingNoise
from lrep_zoo.layers.sampling import Sampling
from lrep_zoo.layers.shade import SHADE, EntropyVariance
from lrep_zoo.layers.shade_regularizers import (
    REGULARIZERS,
    add_shade,
    binarize_layer,
    shade_layer,
)

__all__ = [
    "REGULARIZERS",
    "SHADE",
    "BatchNormalization",
    "Binarize",
    "Conv2D",
    "Conv2DTranspose",
    "EntropyVariance",
    "ImageRescaling",
    "InformationDropout",
    "Lens",
    "MaskingNoise",
    "Sampling",
    "add_shade",
    "binarize_layer",
    "shade_layer",
]
