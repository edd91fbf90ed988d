"""HybridNet: the two-branch model, its ConvLarge / MNIST networks, teacher layer and grids."""

from lrep_zoo.models.hybridnet import convlarge, mnist_networks
from lrep_zoo.models.hybridnet.hybridnet import HybridNet
from lrep_zoo.models.hybridnet.layers import TeacherBatchNormalization
from lrep_zoo.models.hybridnet import presets  # registers hybridnet_mnist_100

__all__ = ["HybridNet", "TeacherBatchNormalization", "convlarge", "mnist_networks"]
