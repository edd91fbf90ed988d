"""Classifiers of the SHADE comparison (MLP, small LeNet, small AlexNet).

Every hidden Dense/Conv layer is built as `linear -> [regulariser] ->
activation [-> Dropout]`, so that SHADE and the entropy penalty see the
pre-activations, as in the paper ("applied pre-activation, unit-wise, on all
layers"). The regulariser is one of `lrep_zoo.layers.shade_regularizers.REGULARIZERS`:

| name            | what is added                                        |
|-----------------|------------------------------------------------------|
| `none`          | nothing                                              |
| `weight_decay`  | `keras.regularizers.L2(weight)` on every kernel      |
| `entropy`       | `EntropyVariance(weight)` on hidden pre-activations  |
| `dropout`       | `Dropout(dropout_rate)` after hidden Dense layers    |
| `shade`         | `SHADE(weight, momentum)` on hidden pre-activations  |
| `shade_dropout` | both `shade` and `dropout`                           |
| `information_dropout` | `InformationDropout(beta=weight, train_size)` after every hidden activation, its noise scale predicted from the layer's input (Achille & Soatto) |

Dropout follows the fully connected hidden layers only (as in AlexNet), not
the convolutions. The output layer is a plain Dense producing logits
(`from_logits=True` in the loss) unless `output_activation` says otherwise.

Inputs: by default (`input_range=None`) a plain functional `keras.Model` on prepared
float images (what the SHADE recipes feed: MNIST / 255, standardised CIFAR-10). With
`input_range="0..255"` (the `shade_lenet_mnist_1000` preset) or `"0..1"`, the model
is an `ImageClassifier`: an `ImageRescaling` layer at the front and lrep_zoo's input
contract (`lrep_zoo.inputs`: uint8 or float images as the dataset gives them, with or
without the grayscale channel axis; `predict`, `fit` and `evaluate` check them).
"""

from typing import Optional, Sequence, Tuple

import keras

from lrep_zoo.inputs import ImageInputsMixin, check_input_range
from lrep_zoo.layers.image_rescaling import ImageRescaling
from lrep_zoo.layers.information_dropout import InformationDropout
from lrep_zoo.layers.shade import EntropyVariance
from lrep_zoo.layers.shade_regularizers import check_regularizer, shade_layer


@keras.saving.register_keras_serializable(package="lrep_zoo")
class ImageClassifier(ImageInputsMixin, keras.Model):
    """A functional classifier that follows lrep_zoo's input contract (`lrep_zoo.inputs`).

    Built like any functional model, `ImageClassifier(inputs, outputs)`, on a graph whose
    first layer is `lrep_zoo.layers.ImageRescaling`: that layer's `image_shape` and
    `input_range` are the model's, and `predict` / `fit` / `evaluate` check their images
    against them (wrong rank, size or channels, [0, 1]-looking floats where 0..255 is
    expected: a `ValueError` naming what was expected and what came). It saves and loads
    as a functional model (`.keras`, `get_config` / `from_config`).

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.shade.classifiers import lenet

    net = lenet((28, 28, 1), 10, input_range="0..255")  # an ImageClassifier
    logits = net.predict(np.zeros((2, 28, 28), "uint8"), verbose=0)  # (2, 10)
    ```
    """

    @property
    def image_shape(self) -> Tuple[int, ...]:
        """`(H, W, C)` of one image (the `ImageRescaling` layer's)."""
        return self._rescaling().image_shape

    @property
    def input_range(self) -> str:
        """`"0..255"` or `"0..1"` (the `ImageRescaling` layer's)."""
        return self._rescaling().input_range

    def _rescaling(self) -> ImageRescaling:
        for layer in self.layers:
            if isinstance(layer, ImageRescaling):
                return layer
        raise ValueError(
            f"{type(self).__name__} {self.name!r} has no ImageRescaling layer: build it on a "
            f"graph that starts with lrep_zoo.layers.ImageRescaling (e.g. lenet(..., "
            f"input_range='0..255'))."
        )


def _image_input(input_shape, input_range):
    """The `Input` and, for an `input_range`, the `ImageRescaling` after it."""
    inputs = keras.Input(input_shape, name="image")
    if input_range is None:
        return inputs, inputs
    rescaling = ImageRescaling(input_shape, check_input_range(input_range), name="rescale")
    return inputs, rescaling(inputs)


def _model(inputs, outputs, name, input_range) -> keras.Model:
    """A plain functional model, or an `ImageClassifier` for an `input_range`."""
    cls = keras.Model if input_range is None else ImageClassifier
    return cls(inputs, outputs, name=name)


class _Regularization:
    """What a regulariser name adds to a layer (internal)."""

    def __init__(self, regularizer, weight, dropout_rate, momentum, train_size=None):
        check_regularizer(regularizer, weight, train_size)
        self.regularizer = regularizer
        self.train_size = train_size
        self.weight = weight
        self.dropout_rate = dropout_rate
        self.momentum = momentum

    def kernel_regularizer(self):
        if self.regularizer == "weight_decay":
            return keras.regularizers.L2(self.weight)
        return None

    def on_preactivation(self, h, name):
        if self.regularizer in ("shade", "shade_dropout"):
            return shade_layer(self.weight, f"{name}_shade", momentum=self.momentum)(h)
        if self.regularizer == "entropy":
            return EntropyVariance(self.weight, name=f"{name}_entropy")(h)
        return h

    def after_dense_activation(self, h, name):
        dropout = self.regularizer in ("dropout", "shade_dropout")
        if dropout and self.dropout_rate:
            return keras.layers.Dropout(
                self.dropout_rate, name=f"{name}_dropout"
            )(h)
        return h

    def after_activation(self, h, layer_input, layer):
        """Information Dropout on `h = act(layer(layer_input))`, alpha from `layer_input`."""
        if self.regularizer != "information_dropout":
            return h
        geometry = {}
        if isinstance(layer, keras.layers.Conv2D):
            geometry = dict(kernel_size=layer.kernel_size, strides=layer.strides,
                            padding=layer.padding, data_format=layer.data_format)
        return InformationDropout(self.weight, self.train_size, **geometry,
                                  name=f"{layer.name}_information_dropout")([h, layer_input])


def _hidden(h, layer, activation, reg, dense):
    layer_input = h
    h = layer(h)
    h = reg.on_preactivation(h, layer.name)
    h = keras.layers.Activation(activation, name=f"{layer.name}_activation")(h)
    h = reg.after_activation(h, layer_input, layer)
    if dense:
        h = reg.after_dense_activation(h, layer.name)
    return h


def mlp(
    input_shape: Tuple[int, ...],
    num_classes: int,
    hidden: Sequence[int] = (512, 512, 512),
    regularizer: str = "none",
    weight: Optional[float] = None,
    dropout_rate: float = 0.5,
    momentum: float = 0.8,
    activation: str = "relu",
    output_activation: Optional[str] = None,
    name: str = "mlp",
    train_size: Optional[int] = None,
    input_range: Optional[str] = None,
) -> keras.Model:
    """Multi-layer perceptron with one of the SHADE-table regularisers.

    Inputs of rank > 1 are flattened. The default `hidden=(512, 512, 512)` is
    the "MLP 3x512" of Zhang et al. 2017, whose CIFAR-10 protocol the SHADE
    paper follows.

    Args:
        input_shape: Shape of one sample, e.g. `(28, 28, 3)`.
        num_classes: Number of output units.
        hidden: Widths of the hidden layers (named `fc1`, `fc2`, ...).
        regularizer: One of `lrep_zoo.layers.shade_regularizers.REGULARIZERS`.
        weight: Coefficient of the regulariser (SHADE `beta`, entropy weight,
            L2 coefficient, or Information Dropout `beta`); required for all but
            `none` and `dropout`.
        dropout_rate: Dropout rate for `dropout` and `shade_dropout`.
        momentum: SHADE moving-average coefficient.
        activation: Hidden activation.
        output_activation: Activation of the output layer (`None`: logits).
        name: Model name.
        train_size: Number of training samples, for `information_dropout` (its KL
            term is divided by it).
        input_range: `None` (a plain functional model on prepared float images), or
            `"0..255"` / `"0..1"` (an `ImageClassifier`, see the module docstring).

    Example:

    ```python
    import keras
    from lrep_zoo.models.shade.classifiers import mlp

    model = mlp((28, 28, 3), 10, regularizer="shade", weight=1e-3)
    model.compile(
        "sgd",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    ```
    """
    reg = _Regularization(regularizer, weight, dropout_rate, momentum, train_size)
    inputs, h = _image_input(input_shape, input_range)
    if len(input_shape) > 1:
        h = keras.layers.Flatten(name="flatten")(h)
    outputs = _dense_top(h, hidden, activation, reg, num_classes, output_activation)
    return _model(inputs, outputs, name, input_range)


def alexnet(
    input_shape: Tuple[int, ...] = (28, 28, 3),
    num_classes: int = 10,
    filters: Sequence[int] = (64, 64),
    dense: Sequence[int] = (384, 192),
    regularizer: str = "none",
    weight: Optional[float] = None,
    dropout_rate: float = 0.5,
    momentum: float = 0.8,
    output_activation: Optional[str] = None,
    name: str = "alexnet",
    train_size: Optional[int] = None,
    input_range: Optional[str] = None,
) -> keras.Model:
    """Small AlexNet-style ConvNet (Zhang et al. 2017) with a regulariser.

    `len(filters)` blocks of `conv 5x5 ("same") -> [regulariser] -> ReLU ->
    max-pool 3x3 stride 2`, then `Flatten`, the Dense hidden layers `dense`
    (`fc1`, `fc2`: 384 and 192 units, ReLU) and the output layer. The local
    response normalisation of the original is left out (Keras has no such
    layer; it is commonly dropped). Channels-last inputs.

    Args:
        input_shape: Shape of one image (28x28 crops of CIFAR-10 by default).
        num_classes: Number of output units.
        filters: Filters of the conv blocks (named `conv1`, `conv2`, ...).
        dense: Widths of the fully connected hidden layers.
        regularizer: One of `lrep_zoo.layers.shade_regularizers.REGULARIZERS`.
        weight: Coefficient of the regulariser (see `mlp`).
        dropout_rate: Dropout rate after the hidden Dense layers.
        momentum: SHADE moving-average coefficient.
        output_activation: Activation of the output layer (`None`: logits).
        name: Model name.
        train_size: Number of training samples, for `information_dropout` (its KL
            term is divided by it).
        input_range: `None` (a plain functional model on prepared float images), or
            `"0..255"` / `"0..1"` (an `ImageClassifier`, see the module docstring).

    Example:

    ```python
    from lrep_zoo.models.shade.classifiers import alexnet

    model = alexnet((28, 28, 3), 10, regularizer="shade_dropout", weight=1e-4)
    ```
    """
    reg = _Regularization(regularizer, weight, dropout_rate, momentum, train_size)
    pool = lambda i: keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{i}")  # noqa: E731
    return _convnet(input_shape, num_classes, filters, dense, reg, "same", pool,
                    output_activation, name, input_range)


def lenet(
    input_shape: Tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    filters: Sequence[int] = (8, 16),
    dense: Sequence[int] = (128,),
    regularizer: str = "none",
    weight: Optional[float] = None,
    dropout_rate: float = 0.5,
    momentum: float = 0.8,
    output_activation: Optional[str] = None,
    name: str = "lenet",
    train_size: Optional[int] = None,
    input_range: Optional[str] = None,
) -> keras.Model:
    """Small LeNet-style ConvNet (for MNIST-sized inputs) with a regulariser.

    `len(filters)` blocks of `conv 5x5 ("valid") -> [regulariser] -> ReLU ->
    max-pool 2x2`, then `Flatten`, the Dense hidden layers `dense` (`fc1`,
    ...; ReLU) and the output layer. With the defaults on 28x28 inputs:
    conv 8 (24x24) -> pool (12x12) -> conv 16 (8x8) -> pool (4x4) -> fc 128;
    37,610 parameters, cheap enough for CPU runs. Channels-last inputs.

    Args:
        input_shape: Shape of one image.
        num_classes: Number of output units.
        filters: Filters of the conv blocks (named `conv1`, `conv2`, ...).
        dense: Widths of the fully connected hidden layers.
        regularizer: One of `lrep_zoo.layers.shade_regularizers.REGULARIZERS`.
        weight: Coefficient of the regulariser (see `mlp`).
        dropout_rate: Dropout rate after the hidden Dense layers.
        momentum: SHADE moving-average coefficient.
        output_activation: Activation of the output layer (`None`: logits).
        name: Model name.
        train_size: Number of training samples, for `information_dropout` (its KL
            term is divided by it).
        input_range: `None` (a plain functional model on prepared float images), or
            `"0..255"` / `"0..1"` (an `ImageClassifier`, see the module docstring).

    Example:

    ```python
    from lrep_zoo.models.shade.classifiers import lenet

    model = lenet((28, 28, 1), 10, regularizer="shade", weight=1e-3)
    ```
    """
    reg = _Regularization(regularizer, weight, dropout_rate, momentum, train_size)
    pool = lambda i: keras.layers.MaxPooling2D(2, name=f"pool{i}")  # noqa: E731
    return _convnet(input_shape, num_classes, filters, dense, reg, "valid", pool,
                    output_activation, name, input_range)


def _convnet(input_shape, num_classes, filters, dense, reg, padding, pool, output_activation,
             name, input_range) -> keras.Model:
    """`conv 5x5 -> [regulariser] -> ReLU -> pool` blocks, then `_dense_top`."""
    inputs, h = _image_input(input_shape, input_range)
    for i, f in enumerate(filters, start=1):
        layer = keras.layers.Conv2D(
            f, 5, padding=padding, kernel_regularizer=reg.kernel_regularizer(), name=f"conv{i}"
        )
        h = pool(i)(_hidden(h, layer, "relu", reg, dense=False))
    h = keras.layers.Flatten(name="flatten")(h)
    outputs = _dense_top(h, dense, "relu", reg, num_classes, output_activation)
    return _model(inputs, outputs, name, input_range)


def _dense_top(h, widths, activation, reg, num_classes, output_activation):
    """Hidden Dense layers `fc1, fc2, ...` (with the regulariser), then `predictions`."""
    for i, units in enumerate(widths, start=1):
        layer = keras.layers.Dense(
            units, kernel_regularizer=reg.kernel_regularizer(), name=f"fc{i}"
        )
        h = _hidden(h, layer, activation, reg, dense=True)
    return keras.layers.Dense(
        num_classes,
        activation=output_activation,
        kernel_regularizer=reg.kernel_regularizer(),
        name="predictions",
    )(h)


__all__ = ["ImageClassifier", "alexnet", "lenet", "mlp"]
