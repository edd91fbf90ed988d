"""Encoder / decoder builders for image auto-encoders (functional `keras.Model`s)."""

from __future__ import annotations

import math
from typing import Sequence

import keras
from keras import layers

from lrep_zoo.layers import conv


def conv_encoder(
    input_shape: Sequence[int], latent_dim: int, filters: Sequence[int] = (32, 64), name="encoder"
) -> keras.Model:
    """Strided 3x3 convolutions (each halves the resolution), then a dense code.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.autoencoder.networks import conv_encoder
    encoder = conv_encoder((28, 28, 1), latent_dim=32)
    codes = encoder(np.zeros((2, 28, 28, 1), "float32"))  # (2, 32)
    ```
    """
    inputs = keras.Input(tuple(input_shape))
    x = inputs
    for f in filters:
        x = conv.Conv2D(f, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(latent_dim, name="code")(x)
    return keras.Model(inputs, outputs, name=name)


def conv_decoder(
    latent_dim: int,
    output_shape: Sequence[int],
    filters: Sequence[int] = (64, 32),
    output_activation: str = "sigmoid",
    name="decoder",
) -> keras.Model:
    """Mirror of `conv_encoder`: dense, reshape, transposed convolutions.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.autoencoder.networks import conv_decoder
    decoder = conv_decoder(32, (28, 28, 1))
    images = decoder(np.zeros((2, 32), "float32"))  # (2, 28, 28, 1) in [0, 1]
    ```
    """
    h, w, c = output_shape
    scale = 2 ** len(filters)
    if h % scale or w % scale:
        raise ValueError(
            f"conv_decoder: output height and width must be divisible by {scale} "
            f"({len(filters)} upsamplings), got {tuple(output_shape)}."
        )
    inputs = keras.Input((latent_dim,))
    x = layers.Dense((h // scale) * (w // scale) * filters[0], activation="relu")(inputs)
    x = layers.Reshape((h // scale, w // scale, filters[0]))(x)
    for f in filters:
        x = conv.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu")(x)
    outputs = conv.Conv2D(c, 3, padding="same", activation=output_activation, name="image")(x)
    return keras.Model(inputs, outputs, name=name)


def mlp_encoder(
    input_shape: Sequence[int], latent_dim: int, units: Sequence[int] = (512, 256), name="encoder"
) -> keras.Model:
    """Flatten, dense ReLU layers, a linear code."""
    inputs = keras.Input(tuple(input_shape))
    x = layers.Flatten()(inputs)
    for u in units:
        x = layers.Dense(u, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(latent_dim, name="code")(x), name=name)


def mlp_decoder(
    latent_dim: int,
    output_shape: Sequence[int],
    units: Sequence[int] = (256, 512),
    output_activation: str = "sigmoid",
    name="decoder",
) -> keras.Model:
    """Dense ReLU layers back to an image."""
    inputs = keras.Input((latent_dim,))
    x = inputs
    for u in units:
        x = layers.Dense(u, activation="relu")(x)
    x = layers.Dense(math.prod(output_shape), activation=output_activation)(x)
    return keras.Model(inputs, layers.Reshape(tuple(output_shape))(x), name=name)
