"""Reparameterisation layer of variational auto-encoders."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="lrep_zoo")
class Sampling(keras.layers.Layer):
    """Draws `z = mean + exp(log_var / 2) * eps`, `eps ~ N(0, I)` (Kingma & Welling 2014).

    The noise comes from the layer's `keras.random.SeedGenerator`, so a seeded layer
    gives reproducible draws on every backend and works under `jit_compile`.

    Args:
        seed: Seed of the layer's `SeedGenerator`.

    Example:

    ```python
    import keras
    from lrep_zoo.layers import Sampling

    mean = keras.ops.zeros((4, 2))
    log_var = keras.ops.zeros((4, 2))
    z = Sampling(seed=0)([mean, log_var])   # (4, 2) draws from N(0, I)
    ```
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mean, log_var = inputs
        # Drawn in float32 whatever the compute dtype: the same seed gives the same draws
        # under a mixed policy (JAX draws other numbers in bfloat16), up to rounding.
        eps = keras.random.normal(ops.shape(mean), dtype="float32", seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * ops.cast(eps, mean.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
