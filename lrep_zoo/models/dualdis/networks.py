"""Networks of DualDis on Yale-B (Robert, Thome, Cord 2019, thesis appendix).

All builders return functional `keras.Model`s; each shape lives here only.

| part              | layers (k kernel, s stride, p0 = "valid")                          |
|-------------------|---------------------------------------------------------------------|
| shared encoder    | 64x64x1 -> 32k4s2, 40k4s2, 48k4s2 (BN + ReLU)            -> 8x8x48  |
| branch E_y / E_z  | 64k4s2, 72k3p0 (BN + ReLU), 80k2p0 (BN, linear)          -> 80      |
| decoder D         | [h_y, h_z] 160 -> 160k2 (1x1 -> 2x2), transposed convs 80, 64, 48, |
|                   | 32, 32 (k4s2, BN + LeakyReLU 0.2) -> 64x64, 32k3, 1k3 sigmoid       |
| W_y, W_z          | Dense(38), Dense(14) on h_y, h_z (logits)                           |
| C_y, C_z          | MLP 80-80-38 on h_z, 80-80-14 on h_y (ReLU hidden, logits)          |

The last branch convolution has BN but no ReLU, so that h_y and h_z are signed
codes: the linear heads and the edit direction `h_z + eps * w_z` act on the
whole space (a ReLU code would clip half of every edit).

Example:

```python
encoder = shared_encoder()
branch = branch_encoder(encoder.output_shape[1:], name="encoder_y")
```
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from lrep_zoo.layers import conv

# Yale-B has ~1000 training images (16 steps per epoch): Keras' default 0.99 leaves the
# moving statistics far behind the weights for dozens of epochs, so eval-mode codes
# (validation, test) lag the training ones. 0.9 tracks them within an epoch.
BN_MOMENTUM = 0.9


def shared_encoder(
    input_shape: Sequence[int] = (64, 64, 1),
    filters: Sequence[int] = (32, 40, 48),
    name: str = "shared_encoder",
    synchronized: bool = False,
) -> keras.Model:
    """Shared trunk E: stride-2 4x4 convolutions with BN + ReLU.

    `synchronized=True`: the BatchNorm statistics are all-reduced across
    `tf.distribute` replicas (Keras' `BatchNormalization(synchronized=True)`; on
    JAX data-parallel steps they are global anyway). The same for every builder.
    """
    inputs = keras.Input(tuple(input_shape), name=f"{name}_image")
    h = inputs
    for i, f in enumerate(filters):
        h = conv.Conv2D(f, 4, strides=2, padding="same", use_bias=False, name=f"{name}_conv{i}")(h)
        h = layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=synchronized, name=f"{name}_bn{i}")(h)
        h = layers.ReLU(name=f"{name}_relu{i}")(h)
    return keras.Model(inputs, h, name=name)


def branch_encoder(
    input_shape: Sequence[int] = (8, 8, 48),
    latent_dim: int = 80,
    name: str = "encoder_branch",
    synchronized: bool = False,
) -> keras.Model:
    """Branch encoder (E_y or E_z): 64k4s2, 72k3p0, `latent_dim`k2p0 -> flat code."""
    inputs = keras.Input(tuple(input_shape), name=f"{name}_features")
    h = conv.Conv2D(64, 4, strides=2, padding="same", use_bias=False, name=f"{name}_conv0")(inputs)
    h = layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=synchronized, name=f"{name}_bn0")(h)
    h = layers.ReLU(name=f"{name}_relu0")(h)
    h = conv.Conv2D(72, 3, padding="valid", use_bias=False, name=f"{name}_conv1")(h)
    h = layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=synchronized, name=f"{name}_bn1")(h)
    h = layers.ReLU(name=f"{name}_relu1")(h)
    h = conv.Conv2D(latent_dim, 2, padding="valid", use_bias=False, name=f"{name}_conv2")(h)
    h = layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=synchronized, name=f"{name}_bn2")(h)
    h = layers.Flatten(name=f"{name}_code")(h)
    return keras.Model(inputs, h, name=name)


def decoder(
    latent_dim_y: int = 80,
    latent_dim_z: int = 80,
    output_channels: int = 1,
    filters: Sequence[int] = (80, 64, 48, 32, 32),
    name: str = "decoder",
    synchronized: bool = False,
) -> keras.Model:
    """Decoder D(h_y, h_z) -> image in [0, 1] (64x64 with the default 5 upsamplings)."""
    h_y = keras.Input((latent_dim_y,), name=f"{name}_h_y")
    h_z = keras.Input((latent_dim_z,), name=f"{name}_h_z")
    h = layers.Concatenate(name=f"{name}_concat")([h_y, h_z])
    h = layers.Reshape((1, 1, latent_dim_y + latent_dim_z), name=f"{name}_to_map")(h)
    h = conv.Conv2DTranspose(
        latent_dim_y + latent_dim_z, 2, padding="valid", use_bias=False, name=f"{name}_deconv_in"
    )(h)
    h = layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=synchronized, name=f"{name}_bn_in")(h)
    h = layers.LeakyReLU(0.2, name=f"{name}_lrelu_in")(h)
    for i, f in enumerate(filters):
        h = conv.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False, name=f"{name}_deconv{i}")(h)
        h = layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=synchronized, name=f"{name}_bn{i}")(h)
        h = layers.LeakyReLU(0.2, name=f"{name}_lrelu{i}")(h)
    h = conv.Conv2D(32, 3, padding="same", use_bias=False, name=f"{name}_conv_out0")(h)
    h = layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=synchronized, name=f"{name}_bn_out0")(h)
    h = layers.LeakyReLU(0.2, name=f"{name}_lrelu_out0")(h)
    out = conv.Conv2D(output_channels, 3, padding="same", activation="sigmoid", name=f"{name}_image")(h)
    return keras.Model([h_y, h_z], out, name=name)


def linear_head(input_dim: int, num_classes: int, name: str) -> keras.Model:
    """Linear classifier (logits); its kernel columns are the class directions."""
    inputs = keras.Input((input_dim,), name=f"{name}_code")
    return keras.Model(inputs, layers.Dense(num_classes, name=f"{name}_logits")(inputs), name=name)


def mlp_head(
    input_dim: int, num_classes: int, hidden: Sequence[int] = (80,), name: str = "mlp_head"
) -> keras.Model:
    """MLP classifier `input_dim - hidden... - num_classes` (ReLU, logits)."""
    inputs = keras.Input((input_dim,), name=f"{name}_code")
    h = inputs
    for i, units in enumerate(hidden):
        h = layers.Dense(units, activation="relu", name=f"{name}_hidden{i}")(h)
    return keras.Model(inputs, layers.Dense(num_classes, name=f"{name}_logits")(h), name=name)
