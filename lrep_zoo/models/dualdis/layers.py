"""DualDis' own layer: `AreaResize`, the anti-aliased resize in front of its encoder."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops


def area_matrix(in_size: int, out_size: int):
    """`(out_size, in_size)` matrix of area (box) resampling weights, rows sum to 1."""
    scale = in_size / out_size
    m = np.zeros((out_size, in_size), dtype="float32")
    for i in range(out_size):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), in_size)):
            m[i, j] = min(hi, j + 1) - max(lo, j)
    return m / m.sum(axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="lrep_zoo")
class AreaResize(layers.Layer):
    """Area (box-filter) resize as two matrix products: anti-aliased, exact for
    integer factors, jit-compilable on every backend (unlike antialiased
    `Resizing`, which XLA cannot compile on TensorFlow).

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.dualdis.layers import AreaResize

    images_192x168 = np.random.default_rng(0).random((2, 192, 168, 1), "float32")
    AreaResize(64, 64)(images_192x168)  # (N, 64, 64, C)
    ```
    """

    def __init__(self, height: int, width: int, **kwargs):
        super().__init__(**kwargs)
        self.height = int(height)
        self.width = int(width)

    def build(self, input_shape):
        self.row_matrix = area_matrix(int(input_shape[1]), self.height)
        self.col_matrix = area_matrix(int(input_shape[2]), self.width)

    def call(self, x):
        rows = ops.convert_to_tensor(self.row_matrix, dtype=x.dtype)
        cols = ops.convert_to_tensor(self.col_matrix, dtype=x.dtype)
        return ops.einsum("ih,nhwc,jw->nijc", rows, x, cols)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
