"""The VAE's convolutional encoder and decoder for 28x28 (MNIST-sized) and 32x32 images."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from lrep_zoo.layers import conv

from lrep_zoo.models._networks import base_size


def vae_encoder(
    image_shape: Sequence[int] = (28, 28, 1),
    latent_dim: int = 16,
    filters: Sequence[int] = (32, 64),
    hidden: int = 256,
    name: str = "encoder",
    second_head: str = "log_var",
) -> keras.Model:
    """Image -> `(mean, log_var)`, each `(batch, latent_dim)`.

    `second_head` names the second head's layer (`"alpha_logits"` for the
    Information Dropout VAE, whose encoder predicts the noise scale's logits).

    Example:

    ```python
    import keras
    from lrep_zoo.models.vae.networks import vae_encoder
    images = keras.random.uniform((4, 28, 28, 1))
    mean, log_var = vae_encoder((28, 28, 1), 16)(images)  # each (4, 16)
    ```
    """
    inputs = keras.Input(tuple(image_shape), name="images")
    x = inputs
    for f in filters:
        x = conv.Conv2D(f, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(hidden, activation="relu")(x)
    mean = layers.Dense(latent_dim, name="mean")(x)
    log_var = layers.Dense(latent_dim, name=second_head)(x)
    return keras.Model(inputs, [mean, log_var], name=name)


def vae_decoder(
    latent_dim: int = 16,
    image_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (64, 32),
    hidden: int = 256,
    name: str = "decoder",
) -> keras.Model:
    """Latent -> image *logits* (Bernoulli) or means (Gaussian); no output activation.

    Example:

    ```python
    import keras
    from lrep_zoo.models.vae.networks import vae_decoder
    z = keras.random.normal((4, 16))
    logits = vae_decoder(16, (28, 28, 1))(z)  # (4, 28, 28, 1)
    ```
    """
    h, w = base_size(image_shape, len(filters))
    inputs = keras.Input((latent_dim,), name="latent")
    x = layers.Dense(hidden, activation="relu")(inputs)
    x = layers.Dense(h * w * filters[0], activation="relu")(x)
    x = layers.Reshape((h, w, filters[0]))(x)
    for f in filters:
        x = conv.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu")(x)
    outputs = conv.Conv2D(image_shape[-1], 3, padding="same", name="image")(x)
    return keras.Model(inputs, outputs, name=name)
