"""Small MNIST-sized HybridNet networks (fast on a CPU).

Encoders return `[h, a_1, a_2]` (the code, then intermediate activations from
the input side); decoders return `[x_hat, r_1, r_2]` with `r_l` shaped like
`a_l`, the convention of `lrep_zoo.models.HybridNet` for intermediate
reconstructions.

    encoder:    28x28x1 -> conv16 (a_1, 28x28x16) -> pool -> conv32 (a_2, 14x14x32) -> pool -> h 7x7x32
    decoder:    h -> deconv32 /2 (r_2) -> deconv16 /2 (r_1) -> conv 1 (linear) -> x_hat
    classifier: h -> conv64 3x3 valid -> global average pool -> dense (logits)

Every conv is Conv -> BatchNorm -> LeakyReLU(0.1); `shade_weight` puts a
`SHADE` layer on every encoder pre-activation.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from lrep_zoo.models.hybridnet.convlarge import conv_bn_lrelu


def encoder(input_shape: Sequence[int] = (28, 28, 1), filters: Sequence[int] = (16, 32),
            shade_weight: float | None = None, name: str = "encoder") -> keras.Model:
    """Two conv blocks with max-pooling; outputs `[h, a_1, a_2]`.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.hybridnet import mnist_networks

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")  # uint8 (N, 28, 28, 1)
    images = x[:4].astype("float32") / 255.0
    e_c = mnist_networks.encoder(shade_weight=1e-3, name="encoder_c")
    h, a1, a2 = e_c(images)  # h: (4, 7, 7, 32)
    ```
    """
    inputs = keras.Input(tuple(input_shape), name="images")
    x, activations = inputs, []
    for i, f in enumerate(filters):
        x = conv_bn_lrelu(x, f, 3, f"{name}_block{i + 1}", shade_weight=shade_weight)
        activations.append(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool{i + 1}")(x)
    return keras.Model(inputs, [x, *activations], name=name)


def decoder(code_shape: Sequence[int] = (7, 7, 32), output_channels: int = 1,
            filters: Sequence[int] = (16, 32), upsampling: str = "transposed",
            name: str = "decoder") -> keras.Model:
    """Mirror of `encoder`; outputs `[x_hat, r_1, r_2]` (linear `x_hat`).

    `upsampling="transposed"` uses stride-2 transposed convolutions,
    `"unpool"` nearest-neighbour upsampling followed by a convolution.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.hybridnet import mnist_networks

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")  # uint8 (N, 28, 28, 1)
    images = x[:4].astype("float32") / 255.0
    h = mnist_networks.encoder(name="encoder_c")(images)[0]  # (4, 7, 7, 32)
    d_c = mnist_networks.decoder((7, 7, 32), name="decoder_c")
    x_hat, r1, r2 = d_c(h)  # x_hat: (4, 28, 28, 1)
    ```
    """
    if upsampling not in ("transposed", "unpool"):
        raise ValueError(f"upsampling must be 'transposed' or 'unpool', got {upsampling!r}.")
    inputs = keras.Input(tuple(code_shape), name="codes")
    x, recs = inputs, []
    for i, f in reversed(list(enumerate(filters))):
        block = f"{name}_block{i + 1}"
        if upsampling == "transposed":
            x = conv_bn_lrelu(x, f, 3, block, strides=2, transposed=True)
        else:
            x = layers.UpSampling2D(2, name=f"{block}_unpool")(x)
            x = conv_bn_lrelu(x, f, 3, block)
        recs.insert(0, x)
    x_hat = layers.Conv2D(output_channels, 3, padding="same", name=f"{name}_out")(x)
    return keras.Model(inputs, [x_hat, *recs], name=name)


def classifier(code_shape: Sequence[int] = (7, 7, 32), num_classes: int = 10,
               filters: int = 64, name: str = "classifier") -> keras.Model:
    """`h -> conv 3x3 valid -> global average pool -> dense` (logits).

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.hybridnet import mnist_networks

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")  # uint8 (N, 28, 28, 1)
    images = x[:4].astype("float32") / 255.0
    h = mnist_networks.encoder()(images)[0]  # (4, 7, 7, 32)
    logits = mnist_networks.classifier()(h)  # (4, 10)
    ```
    """
    inputs = keras.Input(tuple(code_shape), name="codes")
    x = conv_bn_lrelu(inputs, filters, 3, f"{name}_block", padding="valid")
    x = layers.GlobalAveragePooling2D(name=f"{name}_gap")(x)
    logits = layers.Dense(num_classes, name=f"{name}_logits")(x)
    return keras.Model(inputs, logits, name=name)


def networks(input_shape: Sequence[int] = (28, 28, 1), num_classes: int = 10,
             filters: Sequence[int] = (16, 32), shade_weight: float | None = None,
             unsupervised_branch: bool = True, decoders: bool = True) -> dict:
    """All HybridNet networks as keyword arguments of `HybridNet`.

    Example:

    ```python
    from lrep_zoo.models import HybridNet
    from lrep_zoo.models.hybridnet.mnist_networks import networks

    model = HybridNet(**networks(shade_weight=1e-3))
    ```
    """
    h, w, c = input_shape
    scale = 2 ** len(filters)
    code_shape = (h // scale, w // scale, filters[-1])
    nets = {
        "encoder_c": encoder(input_shape, filters, shade_weight, name="encoder_c"),
        "classifier": classifier(code_shape, num_classes),
    }
    if decoders:
        nets["decoder_c"] = decoder(code_shape, c, filters, "transposed", name="decoder_c")
    if unsupervised_branch:
        nets["encoder_u"] = encoder(input_shape, filters, shade_weight, name="encoder_u")
        if decoders:
            nets["decoder_u"] = decoder(code_shape, c, filters, "unpool", name="decoder_u")
    return nets
