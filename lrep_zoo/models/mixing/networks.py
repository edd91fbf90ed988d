"""DCGAN-style networks of the mixing auto-encoder (Hu et al. 2018), for 28x28 or 32x32 images.

Functional `keras.Model` factories: `encoder` (image -> flat code of
`num_chunks * chunk_dim`), `decoder` (code -> image in [0, 1]), `discriminator`
(image -> one real/fake logit) and `chunk_classifier` (three images -> one logit per
chunk: "this chunk of the mixed image came from the first image").
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from lrep_zoo.models._networks import base_size


def _conv_stack(x, filters, prefix):
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 4, strides=2, padding="same", name=f"{prefix}_conv{i}")(x)
        x = layers.LeakyReLU(0.2)(x)
    return layers.Flatten()(x)


def encoder(
    image_shape: Sequence[int] = (28, 28, 1),
    code_dim: int = 512,
    filters: Sequence[int] = (32, 64),
    name: str = "encoder",
) -> keras.Model:
    """Strided 4x4 convolutions with LeakyReLU, then a linear layer: the code.

    Example:

    ```python
    import keras
    from lrep_zoo.models.mixing.networks import encoder
    enc = encoder((28, 28, 1), code_dim=64)
    codes = enc(keras.random.uniform((4, 28, 28, 1)))  # (4, 64)
    ```
    """
    inputs = keras.Input(tuple(image_shape), name="images")
    x = _conv_stack(inputs, filters, "encoder")
    codes = layers.Dense(code_dim, name="code")(x)
    return keras.Model(inputs, codes, name=name)


def decoder(
    code_dim: int = 512,
    image_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (64, 32),
    name: str = "decoder",
) -> keras.Model:
    """Linear layer -> reshape -> strided transposed convolutions -> sigmoid image.

    Example:

    ```python
    import keras
    from lrep_zoo.models.mixing.networks import decoder
    dec = decoder(64, (28, 28, 1))
    images = dec(keras.random.normal((4, 64)))  # (4, 28, 28, 1) in [0, 1]
    ```
    """
    h, w = base_size(image_shape, len(filters))
    inputs = keras.Input((code_dim,), name="codes")
    x = layers.Dense(h * w * filters[0])(inputs)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((h, w, filters[0]))(x)
    for f in filters:
        x = layers.Conv2DTranspose(f, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    outputs = layers.Conv2D(image_shape[-1], 3, padding="same", activation="sigmoid",
                            name="image")(x)
    return keras.Model(inputs, outputs, name=name)


def discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (32, 64),
    name: str = "discriminator",
) -> keras.Model:
    """DCGAN discriminator: strided convolutions, LeakyReLU, one logit (real vs mixed).

    Example:

    ```python
    import keras
    from lrep_zoo.models.mixing.networks import discriminator
    d = discriminator((28, 28, 1))
    logits = d(keras.random.uniform((4, 28, 28, 1)))  # (4, 1)
    ```
    """
    inputs = keras.Input(tuple(image_shape), name="images")
    logits = layers.Dense(1, name="logits")(_conv_stack(inputs, filters, "discriminator"))
    return keras.Model(inputs, logits, name=name)


def chunk_classifier(
    image_shape: Sequence[int] = (28, 28, 1),
    num_chunks: int = 8,
    filters: Sequence[int] = (32, 64),
    hidden: int = 128,
    name: str = "chunk_classifier",
) -> keras.Model:
    """C(x1, x2, x3): one logit per chunk that x3's chunk came from x1 (not x2).

    The three images are stacked on the channel axis and read by one convolution
    stack (the paper uses an AlexNet; a small conv net suffices at 28x28).

    Example:

    ```python
    import keras
    from lrep_zoo.models.mixing.networks import chunk_classifier
    c = chunk_classifier((28, 28, 1), num_chunks=8)
    x = keras.random.uniform((4, 28, 28, 1))
    logits = c([x, x, x])  # (4, 8)
    ```
    """
    shape = tuple(image_shape)
    inputs = [keras.Input(shape, name=n) for n in ("first", "second", "mixed")]
    x = layers.Concatenate(axis=-1)(inputs)
    x = _conv_stack(x, filters, "classifier")
    x = layers.Dense(hidden)(x)
    x = layers.LeakyReLU(0.2)(x)
    logits = layers.Dense(num_chunks, name="chunk_logits")(x)
    return keras.Model(inputs, logits, name=name)
