"""Keras layers of lrep_zoo."""

from lrep_zoo.layers.binarize import Binarize
from lrep_zoo.layers.lens import Lens
from lrep_zoo.layers.noise import MaskingNoise
from lrep_zoo.layers.sampling import Sampling
from lrep_zoo.layers.shade import SHADE, EntropyVariance

__all__ = ["SHADE", "Binarize", "EntropyVariance", "Lens", "MaskingNoise", "Sampling"]
