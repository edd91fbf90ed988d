"""`ImageRescaling`: images as a dataset gives them -> float32 images in [0, 1]."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers, ops

from lrep_zoo.inputs import check_input_range


@keras.saving.register_keras_serializable(package="lrep_zoo")
class ImageRescaling(layers.Layer):
    """The in-graph half of lrep_zoo's input contract (the eager half: `lrep_zoo.inputs`).

    Casts to float32, adds the channel axis of grayscale images given without it
    (`(N, H, W)` for an `image_shape` of `(H, W, 1)`) and, for
    `input_range="0..255"`, divides by 255 (exactly as `x.astype("float32") / 255`).
    `input_range="0..1"` leaves the values as they are. No weights; jit-compilable.

    Args:
        image_shape: `(H, W, C)` of one image.
        input_range: `"0..255"` (uint8 or float images as the dataset gives them) or
            `"0..1"` (images already scaled).

    Example:

    ```python
    import numpy as np
    from lrep_zoo.layers import ImageRescaling

    layer = ImageRescaling((28, 28, 1))
    layer(np.full((2, 28, 28), 255, "uint8"))  # (2, 28, 28, 1) float32 ones
    ```
    """

    def __init__(self, image_shape: Sequence[int], input_range: str = "0..255", **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.input_range = check_input_range(input_range)
        # No weights: built from the start, so that a model whose `call` does not use
        # it (the GAN's takes latents) is not symbolically rebuilt on real images by
        # JAX's fit or a tf.distribute fit.
        self.built = True

    def call(self, images):
        x = ops.cast(images, "float32")
        if len(x.shape) == len(self.image_shape) and self.image_shape[-1] == 1:
            x = ops.expand_dims(x, -1)
        if self.input_range == "0..255":
            x = ops.divide(x, 255.0)
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.image_shape)

    def compute_output_spec(self, images):
        return keras.KerasTensor((images.shape[0], *self.image_shape), dtype="float32")

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": list(self.image_shape),
            "input_range": self.input_range,
        }
