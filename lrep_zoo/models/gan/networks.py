"""DCGAN-style networks for 28x28 (MNIST-sized) and 32x32 images.

Functional `keras.Model` factories: `generator` (latent -> image in [0, 1]),
`discriminator` (image -> one logit, no batch normalisation so gradient penalties
stay per-sample).
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from lrep_zoo.layers import conv

from lrep_zoo.models._networks import base_size


def generator(
    latent_dim: int = 64,
    image_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (64, 32),
    output_activation: str | None = "sigmoid",
    name: str = "generator",
) -> keras.Model:
    """Dense -> reshape -> strided transposed convolutions -> image.

    Example:

    ```python
    import keras
    from lrep_zoo.models.gan.networks import generator
    g = generator(64, (28, 28, 1))
    images = g(keras.random.normal((16, 64)))  # (16, 28, 28, 1) in [0, 1]
    ```
    """
    h, w = base_size(image_shape, len(filters))
    inputs = keras.Input((latent_dim,), name="latent")
    x = layers.Dense(h * w * filters[0] * 2)(inputs)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((h, w, filters[0] * 2))(x)
    for f in filters:
        x = conv.Conv2DTranspose(f, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    outputs = conv.Conv2D(
        image_shape[-1], 3, padding="same", activation=output_activation, name="image"
    )(x)
    return keras.Model(inputs, outputs, name=name)


def discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (32, 64),
    outputs: int = 1,
    name: str = "discriminator",
) -> keras.Model:
    """Strided 4x4 convolutions with LeakyReLU, then a dense layer of `outputs` logits.

    Example:

    ```python
    import keras
    from lrep_zoo.models.gan.networks import discriminator
    d = discriminator((28, 28, 1))
    images = keras.random.uniform((8, 28, 28, 1))
    logits = d(images)  # (batch, 1)
    ```
    """
    inputs = keras.Input(tuple(image_shape), name="images")
    x = inputs
    for f in filters:
        x = conv.Conv2D(f, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    logits = layers.Dense(outputs, name="logits")(x)
    return keras.Model(inputs, logits, name=name)
