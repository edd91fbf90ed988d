"""The lens of Tempered Adversarial Networks (Sajjadi et al., ICML 2018)."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="lrep_zoo")
class Lens(keras.layers.Layer):
    """Small residual convolutional net `L(x) = x + f(x)`, the identity at initialisation.

    `f` is `depth` 3x3 ReLU convolutions with `filters` channels followed by a 3x3
    convolution back to the input channels whose kernel and bias start at zero, so a
    fresh lens returns its input exactly and learns a distortion from there.

    Mixed precision: the convolutions compute in the policy's compute dtype, the
    skip connection in the dtype of the input (the lens does not cast its input:
    `autocast=False`), so a fresh lens is the identity on float32 images under
    `mixed_bfloat16` / `mixed_float16` too, and its output has the input's dtype.

    Args:
        filters: Channels of the hidden convolutions.
        depth: Number of hidden convolutions.

    Example:

    ```python
    import keras
    import numpy as np
    import lrep_zoo
    from lrep_zoo.layers import Lens

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")      # uint8 (N, 28, 28, 1)
    images = x[:8].astype("float32") / 255
    lens = Lens(filters=16)
    distorted = lens(images)  # == images before training
    assert np.array_equal(keras.ops.convert_to_numpy(distorted), images)
    ```
    """

    def __init__(self, filters: int = 16, depth: int = 2, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.depth = int(depth)
        self.hidden = [
            layers.Conv2D(self.filters, 3, padding="same", activation="relu", name=f"conv_{i}")
            for i in range(self.depth)
        ]
        self.out_conv = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.hidden:
            conv.build(shape)
            shape = (*shape[:-1], self.filters)
        self.out_conv = layers.Conv2D(
            int(input_shape[-1]), 3, padding="same", kernel_initializer="zeros",
            bias_initializer="zeros", name="residual",
        )
        self.out_conv.build(shape)
        self.built = True

    def call(self, inputs):
        x = inputs
        for conv in self.hidden:
            x = conv(x)
        return inputs + ops.cast(self.out_conv(x), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth": self.depth}
