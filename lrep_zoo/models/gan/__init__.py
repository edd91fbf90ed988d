"""GANs (non-saturating, hinge, WGAN, WGAN-GP, R1): the model and its DCGAN networks."""

from lrep_zoo.models.gan import networks
from lrep_zoo.models.gan.gan import GAN, ClipConstraint
from lrep_zoo.models.gan import presets  # registers gan_mnist

__all__ = ["GAN", "ClipConstraint", "networks"]
