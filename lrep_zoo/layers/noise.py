"""Input corruption layers for denoising auto-encoders."""

from __future__ import annotations

import keras
from keras import ops

from lrep_zoo.training.distribute import replica_random


@keras.saving.register_keras_serializable(package="lrep_zoo")
class MaskingNoise(keras.layers.Layer):
    """Sets a random fraction `rate` of the input values to zero (Vincent et al. 2008).

    Unlike `Dropout`, the kept values are not rescaled: this is corruption, not
    regularisation. Active only when `training=True`.

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.layers import MaskingNoise

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")      # uint8 (N, 28, 28, 1)
    images = x[:8].astype("float32") / 255
    noisy = MaskingNoise(0.3)(images, training=True)
    same = MaskingNoise(0.3)(images)                         # inference: unchanged
    ```
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"MaskingNoise rate must be in [0, 1), got {rate}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        # replica_random: under a tf.distribute strategy each replica gets its slice
        # of the global batch's mask (not the same mask on every replica).
        uniform = replica_random(
            lambda s: keras.random.uniform(s, seed=self.seed_generator), ops.shape(inputs)
        )
        keep = uniform >= self.rate
        return ops.where(keep, inputs, ops.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
