"""Keras layers of lrep_zoo."""

from lrep_zoo.layers.noise import MaskingNoise

__all__ = ["MaskingNoise"]
