"""Networks of DualDis (Robert, Thome, Cord 2019, thesis appendix), for any input size.

All builders return functional `keras.Model`s; each shape lives here only. The
stacks are derived from the side `S` of the square image the network sees (a power
of two, 16 or more) and its channel count `C`; `S = 64` is the paper's Yale-B network
exactly (the `dualdis_yaleb` presets):

| part              | layers (k kernel, s stride, p0 = "valid")                          |
|-------------------|---------------------------------------------------------------------|
| shared encoder    | SxSxC -> log2(S) - 3 convs k4s2 with 32, 40, 48, 56, ... filters     |
|                   | (BN + ReLU) -> 8x8; 64x64: 32k4s2, 40k4s2, 48k4s2                   |
| branch E_y / E_z  | 64k4s2, 72k3p0 (BN + ReLU), 80k2p0 (BN, linear)          -> 80      |
| decoder D         | [h_y, h_z] 160 -> 160k2 (1x1 -> 2x2), log2(S) - 1 transposed convs  |
|                   | k4s2 with 80, 64, 48, 32, 32, 32, ... filters (BN + LeakyReLU 0.2)  |
|                   | -> SxS, 32k3, Ck3 sigmoid                                           |
| W_y, W_z          | Dense(38), Dense(14) on h_y, h_z (logits)                           |
| C_y, C_z          | MLP 80-80-38 on h_z, 80-80-14 on h_y (ReLU hidden, logits)          |

`width` scales every filter count but the code's (`latent_dim`) and the image's (`C`);
`width=1` is the paper's network.

The last branch convolution has BN but no ReLU, so that h_y and h_z are signed
codes: the linear heads and the edit direction `h_z + eps * w_z` act on the
whole space (a ReLU code would clip half of every edit).

Example:

```python
from lrep_zoo.models.dualdis.networks import branch_encoder, dualdis_networks, shared_encoder

encoder = shared_encoder()
branch = branch_encoder(encoder.output_shape[1:], name="encoder_y")
parts = dualdis_networks((128, 128, 3), latent_dim=32, width=0.5)
parts["decoder"].output_shape  # (None, 128, 128, 3)
```
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
from keras import layers

from lrep_zoo.layers import conv

# Yale-B has ~1000 training images (16 steps per epoch): Keras' default 0.99 leaves the
# moving statistics far behind the weights for dozens of epochs, so eval-mode codes
# (validation, test) lag the training ones. 0.9 tracks them within an epoch.
BN_MOMENTUM = 0.9

# The side of the shared encoder's output and of the decoder's first map.
ENCODER_OUTPUT_SIDE = 8
DECODER_INPUT_SIDE = 2
MIN_INPUT_SIZE = 16


def check_input_size(input_size: int) -> int:
    """`input_size` as an int, or a `ValueError` unless it is a power of two >= 16."""
    size = int(input_size)
    if size < MIN_INPUT_SIZE or size & (size - 1):
        raise ValueError(
            f"DualDis input_size must be a power of two, at least {MIN_INPUT_SIZE} "
            f"(e.g. 32, 64, 128), got {input_size}."
        )
    return size


def _scaled(filters: Sequence[int], width: float) -> list[int]:
    return [max(1, int(round(f * width))) for f in filters]


def encoder_filters(input_size: int, width: float = 1.0) -> list[int]:
    """Filters of the shared encoder's stride-2 convolutions down to 8x8.

    Example: `encoder_filters(64) == [32, 40, 48]` (the paper), `encoder_filters(128)
    == [32, 40, 48, 56]`.
    """
    n = int(math.log2(check_input_size(input_size) // ENCODER_OUTPUT_SIDE))
    return _scaled([32 + 8 * i for i in range(n)], width)


def decoder_filters(output_size: int, width: float = 1.0) -> list[int]:
    """Filters of the decoder's stride-2 transposed convolutions from 2x2 up.

    Example: `decoder_filters(64) == [80, 64, 48, 32, 32]` (the paper).
    """
    n = int(math.log2(check_input_size(output_size) // DECODER_INPUT_SIDE))
    paper = [80, 64, 48, 32, 32]
    return _scaled(paper[:n] + [32] * (n - len(paper)), width)


def _bn(name, synchronized):
    return layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=synchronized, name=name)


def shared_encoder(
    input_shape: Sequence[int] = (64, 64, 1),
    filters: Sequence[int] | None = None,
    name: str = "shared_encoder",
    synchronized: bool = False,
    width: float = 1.0,
) -> keras.Model:
    """Shared trunk E: stride-2 4x4 convolutions with BN + ReLU, down to 8x8.

    `filters` default: `encoder_filters(input_shape[0], width)`.
    `synchronized=True`: the BatchNorm statistics are all-reduced across
    `tf.distribute` replicas (Keras' `BatchNormalization(synchronized=True)`; on
    JAX data-parallel steps they are global anyway). The same for every builder.
    """
    if filters is None:
        filters = encoder_filters(input_shape[0], width)
    inputs = keras.Input(tuple(input_shape), name=f"{name}_image")
    h = inputs
    for i, f in enumerate(filters):
        h = conv.Conv2D(f, 4, strides=2, padding="same", use_bias=False, name=f"{name}_conv{i}")(h)
        h = _bn(f"{name}_bn{i}", synchronized)(h)
        h = layers.ReLU(name=f"{name}_relu{i}")(h)
    return keras.Model(inputs, h, name=name)


def branch_encoder(
    input_shape: Sequence[int] = (8, 8, 48),
    latent_dim: int = 80,
    name: str = "encoder_branch",
    synchronized: bool = False,
    width: float = 1.0,
) -> keras.Model:
    """Branch encoder (E_y or E_z): 64k4s2, 72k3p0, `latent_dim`k2p0 -> flat code
    (from the shared encoder's 8x8 map)."""
    f0, f1 = _scaled((64, 72), width)
    inputs = keras.Input(tuple(input_shape), name=f"{name}_features")
    h = conv.Conv2D(f0, 4, strides=2, padding="same", use_bias=False, name=f"{name}_conv0")(inputs)
    h = _bn(f"{name}_bn0", synchronized)(h)
    h = layers.ReLU(name=f"{name}_relu0")(h)
    h = conv.Conv2D(f1, 3, padding="valid", use_bias=False, name=f"{name}_conv1")(h)
    h = _bn(f"{name}_bn1", synchronized)(h)
    h = layers.ReLU(name=f"{name}_relu1")(h)
    h = conv.Conv2D(latent_dim, 2, padding="valid", use_bias=False, name=f"{name}_conv2")(h)
    h = _bn(f"{name}_bn2", synchronized)(h)
    h = layers.Flatten(name=f"{name}_code")(h)
    return keras.Model(inputs, h, name=name)


def decoder(
    latent_dim_y: int = 80,
    latent_dim_z: int = 80,
    output_channels: int = 1,
    filters: Sequence[int] | None = None,
    name: str = "decoder",
    synchronized: bool = False,
    output_size: int = 64,
    width: float = 1.0,
) -> keras.Model:
    """Decoder D(h_y, h_z) -> image in [0, 1] of side `output_size`.

    `filters` default: `decoder_filters(output_size, width)` (one stride-2 upsampling
    each, from 2x2).
    """
    if filters is None:
        filters = decoder_filters(output_size, width)
    h_y = keras.Input((latent_dim_y,), name=f"{name}_h_y")
    h_z = keras.Input((latent_dim_z,), name=f"{name}_h_z")
    h = layers.Concatenate(name=f"{name}_concat")([h_y, h_z])
    h = layers.Reshape((1, 1, latent_dim_y + latent_dim_z), name=f"{name}_to_map")(h)
    h = conv.Conv2DTranspose(
        latent_dim_y + latent_dim_z, 2, padding="valid", use_bias=False, name=f"{name}_deconv_in"
    )(h)
    h = _bn(f"{name}_bn_in", synchronized)(h)
    h = layers.LeakyReLU(0.2, name=f"{name}_lrelu_in")(h)
    for i, f in enumerate(filters):
        h = conv.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False, name=f"{name}_deconv{i}")(h)
        h = _bn(f"{name}_bn{i}", synchronized)(h)
        h = layers.LeakyReLU(0.2, name=f"{name}_lrelu{i}")(h)
    (f_out,) = _scaled((32,), width)
    h = conv.Conv2D(f_out, 3, padding="same", use_bias=False, name=f"{name}_conv_out0")(h)
    h = _bn(f"{name}_bn_out0", synchronized)(h)
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


def dualdis_networks(
    input_shape: Sequence[int],
    latent_dim: int = 80,
    num_classes_y: int = 38,
    num_outputs_z: int = 14,
    adversary_hidden: Sequence[int] = (80,),
    width: float = 1.0,
    synchronized: bool = False,
) -> dict:
    """Every sub-network of a DualDis for square `input_shape` `(S, S, C)`.

    Returns `{"encoder", "encoder_y", "encoder_z", "decoder", "head_y", "head_z",
    "adversary_y", "adversary_z"}`; `num_outputs_z` is the number of z classes
    (categorical) or of binary attributes. `(64, 64, 1)` with `width=1` is the
    paper's Yale-B network.

    Example:

    ```python
    from lrep_zoo.models.dualdis.networks import dualdis_networks

    parts = dualdis_networks((32, 32, 3), latent_dim=16, num_classes_y=5, num_outputs_z=3)
    parts["encoder"].output_shape  # (None, 8, 8, 40)
    ```
    """
    size, side, channels = (int(s) for s in input_shape)
    if size != side:
        raise ValueError(f"dualdis_networks needs a square input shape, got {tuple(input_shape)}.")
    check_input_size(size)
    encoder = shared_encoder((size, size, channels), synchronized=synchronized, width=width)
    features = encoder.output_shape[1:]
    return {
        "encoder": encoder,
        "encoder_y": branch_encoder(features, latent_dim, name="encoder_y",
                                    synchronized=synchronized, width=width),
        "encoder_z": branch_encoder(features, latent_dim, name="encoder_z",
                                    synchronized=synchronized, width=width),
        "decoder": decoder(latent_dim, latent_dim, channels, synchronized=synchronized,
                           output_size=size, width=width),
        "head_y": linear_head(latent_dim, num_classes_y, name="head_y"),
        "head_z": linear_head(latent_dim, num_outputs_z, name="head_z"),
        "adversary_y": mlp_head(latent_dim, num_classes_y, adversary_hidden, name="adversary_y"),
        "adversary_z": mlp_head(latent_dim, num_outputs_z, adversary_hidden, name="adversary_z"),
    }
