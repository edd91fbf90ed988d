"""The embedding network f of the siamese models (functional `keras.Model`).

| input        | layers                                                              |
|--------------|---------------------------------------------------------------------|
| H x W x C    | per filter count f: Conv 3x3 f (BN, ReLU), Conv 3x3 f (BN, ReLU),   |
|              | MaxPool 2; then flatten (default: aligned images such as faces keep |
|              | their layout) or global average pooling, and Dense(`embedding_dim`)|

Example:

```python
import numpy as np
from lrep_zoo.models.siamese.networks import conv_embedding
f = conv_embedding((48, 42, 1), embedding_dim=64)
codes = f(np.zeros((2, 48, 42, 1), "float32"))  # (2, 64)
```
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

POOLINGS = ("flatten", "avg")


def conv_embedding(
    input_shape: Sequence[int],
    embedding_dim: int = 64,
    filters: Sequence[int] = (32, 64, 128),
    pooling: str = "flatten",
    name: str = "embedding",
) -> keras.Model:
    """Conv blocks (two 3x3 BN-ReLU convolutions and a 2x2 max-pool each), `pooling`
    (`"flatten"` or `"avg"`: global average pooling), a linear embedding of size
    `embedding_dim`.

    Example:

    ```python
    from lrep_zoo.models.siamese.networks import conv_embedding
    f = conv_embedding((28, 28, 1), embedding_dim=32, filters=(16, 32))
    ```
    """
    if embedding_dim < 1 or not filters:
        raise ValueError(f"conv_embedding needs embedding_dim >= 1 and at least one filter "
                         f"count, got embedding_dim={embedding_dim}, filters={tuple(filters)}.")
    if pooling not in POOLINGS:
        raise ValueError(f"Unknown pooling {pooling!r}; expected one of {POOLINGS}.")
    inputs = keras.Input(tuple(input_shape), name=f"{name}_image")
    x = inputs
    for i, f in enumerate(filters):
        for j in range(2):
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"{name}_conv{i}_{j}")(x)
            x = layers.BatchNormalization(name=f"{name}_bn{i}_{j}")(x)
            x = layers.ReLU(name=f"{name}_relu{i}_{j}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"{name}_pool{i}")(x)
    if pooling == "flatten":
        x = layers.Flatten(name=f"{name}_flatten")(x)
    else:
        x = layers.GlobalAveragePooling2D(name=f"{name}_gap")(x)
    outputs = layers.Dense(embedding_dim, name=f"{name}_code")(x)
    return keras.Model(inputs, outputs, name=name)
