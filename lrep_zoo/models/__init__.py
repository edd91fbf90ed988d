"""Models: one package per method (`lrep_zoo/models/<method>/`).

Each package holds the method's model class, its network builders, its own layers,
metrics, grids and demo. Shared pieces live outside: `lrep_zoo.training` (the only
backend-aware code), `lrep_zoo.layers`, `lrep_zoo.losses`, `lrep_zoo.data`.
"""

from lrep_zoo.models.autoencoder import DenoisingAutoEncoder
from lrep_zoo.models.dualdis import DualDis
from lrep_zoo.models.gan import GAN
from lrep_zoo.models.hybridnet import HybridNet
from lrep_zoo.models.tempered_gan import TemperedGAN
from lrep_zoo.models.vae import VAE
from lrep_zoo.models.mixing import MixingAutoEncoder
from lrep_zoo.models.siamese import Siamese
from lrep_zoo.models import shade  # plain Keras classifiers; registers the SHADE presets

__all__ = ["GAN", "DualDis", "HybridNet", "VAE", "DenoisingAutoEncoder", "TemperedGAN", "Siamese",
           "MixingAutoEncoder"]
