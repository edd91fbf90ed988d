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

`data_format` is the layout *inside* the networks: images go in, and `x_hat`
comes out, channels-last `(B, H, W, C)` either way. `"channels_first"` permutes the
images once at the encoder's input and `x_hat` once at the decoder's output, and
the codes and the intermediate activations `a_l`, `r_l` are `(B, C, H, W)`; the
default (`None`) is `"channels_first"` on the torch backend, where Keras runs every
channels-last convolution as a channels-first one between two layout copies
(`benchmarks/peers.py` measures the difference), `"channels_last"` elsewhere. Both
layouts hold the same weights (Keras kernels do not depend on `data_format`).
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from lrep_zoo.layers import conv as strided_conv
from lrep_zoo.layers.batch_normalization import BatchNormalization
from lrep_zoo.layers.shade_regularizers import shade_layer

DATA_FORMATS = ("channels_last", "channels_first")


def resolve_data_format(data_format: str | None) -> str:
    """`data_format`, or the fastest layout of the backend for `None` (see above)."""
    if data_format is None:
        return "channels_first" if keras.backend.backend() == "torch" else "channels_last"
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS} or None, "
                         f"got {data_format!r}.")
    return data_format


def conv_bn_lrelu(x, filters, kernel_size, name, padding="same", strides=1,
                  transposed=False, shade_weight=None, alpha=0.1,
                  data_format="channels_last"):
    """Conv (no bias) -> BatchNorm -> [SHADE on the pre-activation] -> LeakyReLU(alpha).

    The BatchNorm is `lrep_zoo.layers.BatchNormalization` (Keras' layer on a fused kernel).
    """
    conv = strided_conv.Conv2DTranspose if transposed else strided_conv.Conv2D
    x = conv(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
             data_format=data_format, name=f"{name}_conv")(x)
    axis = 1 if data_format == "channels_first" else -1
    x = BatchNormalization(axis=axis, name=f"{name}_bn")(x)
    if shade_weight:
        x = shade_layer(shade_weight, f"{name}_shade", channels_first=axis == 1)(x)
    return layers.LeakyReLU(negative_slope=alpha, name=f"{name}_lrelu")(x)


def encoder(input_shape: Sequence[int] = (32, 32, 3), dropout: float = 0.5,
            shade_weight: float | None = None, name: str = "encoder",
            data_format: str | None = None) -> keras.Model:
    """The ConvLarge feature extractor; outputs `[h, a_1, a_2, a_3]`.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.hybridnet import convlarge

    x, _ = lrep_zoo.data.load_arrays("cifar10", "test")  # uint8 (N, 32, 32, 3)
    images = x[:2].astype("float32") / 255.0
    h, a1, a2, a3 = convlarge.encoder(data_format="channels_last")(images)  # h: (batch, 6, 6, 128)
    ```
    """
    data_format = resolve_data_format(data_format)
    inputs = keras.Input(tuple(input_shape), name="images")
    kw = {"shade_weight": shade_weight, "data_format": data_format}
    x = inputs
    if data_format == "channels_first":
        x = layers.Permute((3, 1, 2), name=f"{name}_to_channels_first")(x)
    for i in range(3):
        x = conv_bn_lrelu(x, 128, 3, f"{name}_1{chr(97 + i)}", **kw)
    a1 = x
    x = layers.MaxPooling2D(2, data_format=data_format, name=f"{name}_pool1")(x)
    x = layers.Dropout(dropout, name=f"{name}_drop1")(x)
    for i in range(3):
        x = conv_bn_lrelu(x, 256, 3, f"{name}_2{chr(97 + i)}", **kw)
    a2 = x
    x = layers.MaxPooling2D(2, data_format=data_format, name=f"{name}_pool2")(x)
    x = layers.Dropout(dropout, name=f"{name}_drop2")(x)
    x = conv_bn_lrelu(x, 512, 3, f"{name}_3a", padding="valid", **kw)
    a3 = x
    x = conv_bn_lrelu(x, 256, 1, f"{name}_3b", **kw)
    h = conv_bn_lrelu(x, 128, 1, f"{name}_3c", **kw)
    return keras.Model(inputs, [h, a1, a2, a3], name=name)


def classifier(code_shape: Sequence[int] = (6, 6, 128), num_classes: int = 10,
               name: str = "classifier", data_format: str | None = None) -> keras.Model:
    """Global average pooling then a dense layer (logits); `code_shape` is channels-last.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.hybridnet import convlarge

    x, _ = lrep_zoo.data.load_arrays("cifar10", "test")  # uint8 (N, 32, 32, 3)
    images = x[:2].astype("float32") / 255.0
    h = convlarge.encoder(data_format="channels_last")(images)[0]  # (batch, 6, 6, 128)
    logits = convlarge.classifier(data_format="channels_last")(h)  # (batch, 10)
    ```
    """
    data_format = resolve_data_format(data_format)
    inputs = keras.Input(_layout(code_shape, data_format), name="codes")
    x = layers.GlobalAveragePooling2D(data_format=data_format, name=f"{name}_gap")(inputs)
    return keras.Model(inputs, layers.Dense(num_classes, name=f"{name}_logits")(x), name=name)


def decoder(code_shape: Sequence[int] = (6, 6, 128), output_channels: int = 3,
            upsampling: str = "transposed", name: str = "decoder",
            data_format: str | None = None) -> keras.Model:
    """Mirror of `encoder`; outputs `[x_hat, r_1, r_2, r_3]` (linear, channels-last `x_hat`).

    `code_shape` is channels-last; the codes themselves are in `data_format`.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.hybridnet import convlarge

    h = np.zeros((2, 6, 6, 128), "float32")  # codes of convlarge.encoder
    x_hat, r1, r2, r3 = convlarge.decoder(upsampling="unpool", data_format="channels_last")(h)
    # x_hat: (2, 32, 32, 3)
    ```
    """
    if upsampling not in ("transposed", "unpool"):
        raise ValueError(f"upsampling must be 'transposed' or 'unpool', got {upsampling!r}.")
    data_format = resolve_data_format(data_format)
    kw = {"data_format": data_format}

    def up(x, filters, block):
        if upsampling == "transposed":
            return conv_bn_lrelu(x, filters, 3, block, strides=2, transposed=True, **kw)
        x = layers.UpSampling2D(2, data_format=data_format, name=f"{block}_unpool")(x)
        return conv_bn_lrelu(x, filters, 3, block, **kw)

    inputs = keras.Input(_layout(code_shape, data_format), name="codes")
    x = conv_bn_lrelu(inputs, 256, 1, f"{name}_3c", transposed=True, **kw)
    r3 = conv_bn_lrelu(x, 512, 1, f"{name}_3b", transposed=True, **kw)
    x = conv_bn_lrelu(r3, 256, 3, f"{name}_3a", padding="valid", transposed=True, **kw)
    x = up(x, 256, f"{name}_2c")
    for i in range(2):
        x = conv_bn_lrelu(x, 256, 3, f"{name}_2{chr(98 - i)}", transposed=True, **kw)
    r2 = x
    x = up(x, 128, f"{name}_1c")
    for i in range(2):
        x = conv_bn_lrelu(x, 128, 3, f"{name}_1{chr(98 - i)}", transposed=True, **kw)
    r1 = x
    x_hat = layers.Conv2D(output_channels, 3, padding="same", data_format=data_format,
                          name=f"{name}_out")(x)
    if data_format == "channels_first":
        x_hat = layers.Permute((2, 3, 1), name=f"{name}_to_channels_last")(x_hat)
    return keras.Model(inputs, [x_hat, r1, r2, r3], name=name)


def _layout(shape: Sequence[int], data_format: str) -> tuple:
    """A channels-last `(H, W, C)` shape in `data_format`."""
    h, w, c = (int(d) for d in shape)
    return (c, h, w) if data_format == "channels_first" else (h, w, c)


def networks(input_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10,
             dropout: float = 0.5, shade_weight: float | None = None,
             unsupervised_branch: bool = True, decoders: bool = True,
             data_format: str | None = None) -> dict:
    """All HybridNet networks as keyword arguments of `HybridNet`.

    Example:

    ```python
    from lrep_zoo.models import HybridNet
    from lrep_zoo.models.hybridnet.convlarge import networks

    model = HybridNet(**networks(), stability="mean_teacher", flip=True)
    ```
    """
    df = {"data_format": resolve_data_format(data_format)}
    nets = {
        "encoder_c": encoder(input_shape, dropout, shade_weight, name="encoder_c", **df),
        "classifier": classifier((6, 6, 128), num_classes, **df),
    }
    c = input_shape[-1]
    if decoders:
        nets["decoder_c"] = decoder((6, 6, 128), c, "transposed", name="decoder_c", **df)
    if unsupervised_branch:
        nets["encoder_u"] = encoder(input_shape, dropout, shade_weight, name="encoder_u", **df)
        if decoders:
            nets["decoder_u"] = decoder((6, 6, 128), c, "unpool", name="decoder_u", **df)
    return nets
