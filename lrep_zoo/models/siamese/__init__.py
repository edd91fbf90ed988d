"""Siamese networks (Bromley et al. 1993; Koch et al. 2015): the model, its losses,
networks, the Koch head, the one-shot / verification protocols and the presets."""

from lrep_zoo.models.siamese import experiment, losses, networks
from lrep_zoo.models.siamese.layers import WeightedL1Similarity
from lrep_zoo.models.siamese.siamese import Siamese
from lrep_zoo.models.siamese import presets  # registers siamese_yaleb

__all__ = ["Siamese", "WeightedL1Similarity", "experiment", "losses", "networks"]
