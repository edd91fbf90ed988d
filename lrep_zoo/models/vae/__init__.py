"""VAE / beta-VAE / capacity annealing: the model, its networks and grids."""

from lrep_zoo.models.vae import networks
from lrep_zoo.models.vae.vae import VAE

__all__ = ["VAE", "networks"]
