"""Tempered Adversarial Networks: a GAN with a learned lens in front of the discriminator."""

from lrep_zoo.models.tempered_gan.tempered_gan import TemperedGAN, lens_weight
from lrep_zoo.models.tempered_gan import presets  # registers tempered_gan_mnist

__all__ = ["TemperedGAN", "lens_weight"]
