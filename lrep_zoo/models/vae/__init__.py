"""VAE / beta-VAE / capacity annealing: the model, its networks and grids."""

from lrep_zoo.models.vae import networks
from lrep_zoo.models.vae.vae import VAE
from lrep_zoo.models.vae import presets  # registers vae_mnist

__all__ = ["VAE", "networks"]
