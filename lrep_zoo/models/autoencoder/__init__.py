"""Denoising auto-encoders: the model, its conv/MLP networks and the DAE demo."""

from lrep_zoo.models.autoencoder import networks
from lrep_zoo.models.autoencoder.denoising_autoencoder import DenoisingAutoEncoder
from lrep_zoo.models.autoencoder import presets  # registers dae_mnist

__all__ = ["DenoisingAutoEncoder", "networks"]
