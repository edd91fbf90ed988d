"""The learned distance of Koch et al. (2015): `WeightedL1Similarity`."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="lrep_zoo")
class WeightedL1Similarity(layers.Layer):
    """Logit of `p(same)`: `sum_k alpha_k |a_k - b_k| + bias`, with learned `alpha`, `bias`.

    Called on two embeddings of the same last dimension (leading axes broadcast, so
    `layer(q[:, None], s[None])` scores every query against every support); apply a
    sigmoid to get Koch et al.'s `p(same)`. The initialisation follows the paper:
    `alpha ~ N(0, 0.2)`, `bias ~ N(0.5, 0.01)`.

    Args:
        seed: Seed of the initialisers.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.siamese.layers import WeightedL1Similarity
    head = WeightedL1Similarity()
    logits = head(np.zeros((4, 16)), np.ones((4, 16)))  # (4,)
    ```
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def build(self, a_shape, b_shape=None):
        dim = int(a_shape[-1])
        self.alpha = self.add_weight(
            shape=(dim,), name="alpha",
            initializer=keras.initializers.RandomNormal(0.0, 0.2, seed=self.seed))
        self.bias = self.add_weight(
            shape=(), name="bias",
            initializer=keras.initializers.RandomNormal(0.5, 0.01, seed=self.seed))

    def call(self, a, b):
        return ops.sum(self.alpha * ops.abs(a - b), axis=-1) + self.bias

    def compute_output_shape(self, a_shape, b_shape=None):
        return tuple(a_shape[:-1])

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
