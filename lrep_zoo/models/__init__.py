"""Models: `keras.Model` subclasses, one module per method."""

from lrep_zoo.models.autoencoder import DenoisingAutoEncoder
from lrep_zoo.models.dualdis import DualDis
from lrep_zoo.models.gan import GAN
from lrep_zoo.models.hybridnet import HybridNet
from lrep_zoo.models.tempered_gan import TemperedGAN
from lrep_zoo.models.vae import VAE

__all__ = ["GAN", "DualDis", "HybridNet", "VAE", "DenoisingAutoEncoder", "TemperedGAN"]
