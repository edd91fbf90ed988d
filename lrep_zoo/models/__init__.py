"""Models: `keras.Model` subclasses, one module per method."""

from lrep_zoo.models.autoencoder import DenoisingAutoEncoder

__all__ = ["DenoisingAutoEncoder"]
