"""Mixing auto-encoders (Hu et al. 2018): the model, its DCGAN networks, the per-chunk
evaluation and the attribute-transfer grids."""

from lrep_zoo.models.mixing import networks
from lrep_zoo.models.mixing.mixing_autoencoder import VARIANTS, MixingAutoEncoder, mix_chunks
from lrep_zoo.models.mixing import presets  # registers mixing_mnist

__all__ = ["MixingAutoEncoder", "VARIANTS", "mix_chunks", "networks"]
