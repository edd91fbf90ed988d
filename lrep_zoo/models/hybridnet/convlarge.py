"""ConvLarge (Laine & Aila 2017; Mean Teacher) and its HybridNet decoders, 32x32 images.

    encoder: 3x[conv128 3x3] (a_1) -> maxpool -> dropout 0.5 -> 3x[conv256 3x3] (a_2)
             -> maxpool -> dropout 0.5 -> conv512 3x3 valid (a_3) -> conv256 1x1
             -> conv128 1x1 -> h (6x6x128)
    classifier: global average pool -> dense (logits)
    decoder: the mirror (1x1 convs, 3x3 transposed valid, upsampling by 2 with
             stride-2 transposed convs (c-branch) or unpooling (u-branch)),
             outputs `[x_hat, r_1, r_2, r_3]` with `r_l` shaped like `a_l`.

Every conv is Conv -> BatchNorm -> LeakyReLU(0.1) (`shade_weight`: SHADE on the
encoder pre-activations). Keras has no max-unpooling with switches; the
u-branch's unpooling is nearest-neighbour upsampling.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from lrep_zoo.layers.shade_regularizers import shade_layer


def conv_bn_lrelu(x, filters, kernel_size, name, padding="same", strides=1,
                  transposed=False, shade_weight=None, alpha=0.1):
    """Conv (no bias) -> BatchNorm -> [SHADE on the pre-activation] -> LeakyReLU(alpha)."""
    conv = layers.Conv2DTranspose if transposed else layers.Conv2D
    x = conv(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
             name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if shade_weight:
        x = shade_layer(shade_weight, f"{name}_shade")(x)
    return layers.LeakyReLU(negative_slope=alpha, name=f"{name}_lrelu")(x)


def encoder(input_shape: Sequence[int] = (32, 32, 3), dropout: float = 0.5,
            shade_weight: float | None = None, name: str = "encoder") -> keras.Model:
    """The ConvLarge feature extractor; outputs `[h, a_1, a_2, a_3]`.

    Example:

    ```python
    h, a1, a2, a3 = encoder()(images)  # h: (batch, 6, 6, 128)
    ```
    """
    inputs = keras.Input(tuple(input_shape), name="images")
    kw = {"shade_weight": shade_weight}
    x = inputs
    for i in range(3):
        x = conv_bn_lrelu(x, 128, 3, f"{name}_1{chr(97 + i)}", **kw)
    a1 = x
    x = layers.MaxPooling2D(2, name=f"{name}_pool1")(x)
    x = layers.Dropout(dropout, name=f"{name}_drop1")(x)
    for i in range(3):
        x = conv_bn_lrelu(x, 256, 3, f"{name}_2{chr(97 + i)}", **kw)
    a2 = x
    x = layers.MaxPooling2D(2, name=f"{name}_pool2")(x)
    x = layers.Dropout(dropout, name=f"{name}_drop2")(x)
    x = conv_bn_lrelu(x, 512, 3, f"{name}_3a", padding="valid", **kw)
    a3 = x
    x = conv_bn_lrelu(x, 256, 1, f"{name}_3b", **kw)
    h = conv_bn_lrelu(x, 128, 1, f"{name}_3c", **kw)
    return keras.Model(inputs, [h, a1, a2, a3], name=name)


def classifier(code_shape: Sequence[int] = (6, 6, 128), num_classes: int = 10,
               name: str = "classifier") -> keras.Model:
    """Global average pooling then a dense layer (logits)."""
    inputs = keras.Input(tuple(code_shape), name="codes")
    x = layers.GlobalAveragePooling2D(name=f"{name}_gap")(inputs)
    return keras.Model(inputs, layers.Dense(num_classes, name=f"{name}_logits")(x), name=name)


def decoder(code_shape: Sequence[int] = (6, 6, 128), output_channels: int = 3,
            upsampling: str = "transposed", name: str = "decoder") -> keras.Model:
    """Mirror of `encoder`; outputs `[x_hat, r_1, r_2, r_3]` (linear `x_hat`).

    Example:

    ```python
    x_hat, r1, r2, r3 = decoder(upsampling="unpool")(h)
    ```
    """
    if upsampling not in ("transposed", "unpool"):
        raise ValueError(f"upsampling must be 'transposed' or 'unpool', got {upsampling!r}.")

    def up(x, filters, block):
        if upsampling == "transposed":
            return conv_bn_lrelu(x, filters, 3, block, strides=2, transposed=True)
        x = layers.UpSampling2D(2, name=f"{block}_unpool")(x)
        return conv_bn_lrelu(x, filters, 3, block)

    inputs = keras.Input(tuple(code_shape), name="codes")
    x = conv_bn_lrelu(inputs, 256, 1, f"{name}_3c", transposed=True)
    r3 = conv_bn_lrelu(x, 512, 1, f"{name}_3b", transposed=True)
    x = conv_bn_lrelu(r3, 256, 3, f"{name}_3a", padding="valid", transposed=True)
    x = up(x, 256, f"{name}_2c")
    for i in range(2):
        x = conv_bn_lrelu(x, 256, 3, f"{name}_2{chr(98 - i)}", transposed=True)
    r2 = x
    x = up(x, 128, f"{name}_1c")
    for i in range(2):
        x = conv_bn_lrelu(x, 128, 3, f"{name}_1{chr(98 - i)}", transposed=True)
    r1 = x
    x_hat = layers.Conv2D(output_channels, 3, padding="same", name=f"{name}_out")(x)
    return keras.Model(inputs, [x_hat, r1, r2, r3], name=name)


def networks(input_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10,
             dropout: float = 0.5, shade_weight: float | None = None,
             unsupervised_branch: bool = True, decoders: bool = True) -> dict:
    """All HybridNet networks as keyword arguments of `HybridNet`.

    Example:

    ```python
    model = HybridNet(**networks(), stability="mean_teacher", flip=True)
    ```
    """
    nets = {
        "encoder_c": encoder(input_shape, dropout, shade_weight, name="encoder_c"),
        "classifier": classifier((6, 6, 128), num_classes),
    }
    c = input_shape[-1]
    if decoders:
        nets["decoder_c"] = decoder((6, 6, 128), c, "transposed", name="decoder_c")
    if unsupervised_branch:
        nets["encoder_u"] = encoder(input_shape, dropout, shade_weight, name="encoder_u")
        if decoders:
            nets["decoder_u"] = decoder((6, 6, 128), c, "unpool", name="decoder_u")
    return nets
