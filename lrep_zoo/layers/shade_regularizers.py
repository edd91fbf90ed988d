"""SHADE in a network: the regularisers of the paper's table and the graph rewrites.

- `REGULARIZERS`: the columns of the SHADE paper's table, as accepted by the
  builders of `lrep_zoo.models.shade.classifiers` (`mlp`, `lenet`, `alexnet`).
- `shade_layer(...)`: the one constructor of a pre-activation `SHADE` layer, used
  by those builders, HybridNet's networks and `add_shade`.
- `add_shade(model, weight)`: a copy of a functional or Sequential model with
  `SHADE` between the linear part and the activation of its Dense/Conv layers.
- `binarize_layer(model, layer_name)`: a copy of a trained model whose chosen
  layer passes its binary code `Z = [h > 0]` on instead of `h` (Table A.1).

The rewrites return a new, uncompiled model; the given model is not modified.
"""

from typing import Optional, Sequence

import keras
import numpy as np
from keras import ops

from lrep_zoo import graph_rewrite
from lrep_zoo.layers.binarize import Binarize
from lrep_zoo.layers.shade import SHADE

REGULARIZERS = (
    "none",
    "weight_decay",
    "entropy",
    "dropout",
    "shade",
    "shade_dropout",
    "information_dropout",
)
"""Regulariser names of the SHADE comparison table (paper column order), then
`information_dropout` (`lrep_zoo.layers.InformationDropout`, Achille & Soatto)."""

_WEIGHTED = ("weight_decay", "entropy", "shade", "shade_dropout", "information_dropout")

def check_regularizer(regularizer: str, weight: Optional[float] = None,
                      train_size: Optional[int] = None) -> None:
    """Raises a clear `ValueError` for an unknown name or a missing weight.

    `information_dropout` also needs `train_size` (its KL term is divided by it).
    """
    if regularizer not in REGULARIZERS:
        raise ValueError(
            f"Unknown regularizer {regularizer!r}; expected one of "
            f"{REGULARIZERS}."
        )
    if regularizer in _WEIGHTED and weight is None:
        raise ValueError(
            f"regularizer={regularizer!r} needs `weight` (the SHADE paper "
            "cross-validated it and did not publish it: choose it on a "
            "validation split and report it)."
        )
    if regularizer == "information_dropout" and train_size is None:
        raise ValueError(
            "regularizer='information_dropout' needs `train_size`, the number of "
            "training samples its KL term is divided by."
        )


def shade_layer(
    weight: float,
    name: str,
    momentum: float = 0.8,
    channels_first: bool = False,
    reduction: str = "mean",
    dtype=None,
) -> SHADE:
    """The `SHADE` layer for one pre-activation: the one way lrep_zoo puts SHADE in a net.

    The classifiers' `regularizer="shade"`, HybridNet's `shade_weight` and
    `add_shade` all build their SHADE layers here, so they share one
    configuration (paper momentum 0.8, channel axis of the layer it follows).

    Example:

    ```python
    import keras
    from lrep_zoo.layers import shade_layer

    x = keras.Input((784,))
    h = keras.layers.Dense(256, name="fc1")(x)
    h = shade_layer(1e-3, "fc1_shade")(h)
    h = keras.layers.Activation("relu")(h)
    model = keras.Model(x, keras.layers.Dense(10)(h))
    ```
    """
    return SHADE(weight=weight, momentum=momentum, axis=1 if channels_first else -1,
                 reduction=reduction, name=name, dtype=dtype)


def add_shade(
    model: keras.Model,
    weight: float,
    layers: Optional[Sequence[str]] = None,
    momentum: float = 0.8,
    reduction: str = "mean",
) -> keras.Model:
    """Returns a copy of `model` with SHADE on the pre-activations of layers.

    Each chosen Dense/Conv layer with an activation becomes
    `layer(activation="linear") -> SHADE -> Activation(activation)` (layer
    names kept; the new ones are `{name}_shade` and `{name}_activation`); a
    chosen layer without activation gets `SHADE` after its output. Weights are
    copied, so the copy computes the same function (SHADE is an identity);
    it is returned uncompiled. Conv layers are assumed channels-last when
    `data_format` is not `"channels_first"`.

    Args:
        model: A built functional or Sequential model (not modified).
        weight: The SHADE coefficient `beta` (see `lrep_zoo.layers.SHADE`).
        layers: Names of top-level layers, or `None` for every Dense/Conv
            layer, except the output layers, that has a non-linear
            activation or feeds only an activation layer (see
            `add_preactivation_layers`).
        momentum: Moving-average coefficient of SHADE (0.8 in the paper).
        reduction: `"mean"` or `"sum"` over samples (see `SHADE`).

    Example:

    ```python
    import keras
    from lrep_zoo.layers import add_shade

    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(256, activation="relu", name="fc1"),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ])
    shaded = add_shade(model, weight=1e-3)  # fc1 -> fc1_shade -> fc1_activation
    shaded.compile("sgd", "sparse_categorical_crossentropy")
    ```
    """

    def factory(layer, name):
        channels_first = getattr(layer, "data_format", None) == "channels_first"
        return shade_layer(weight, name, momentum=momentum, channels_first=channels_first,
                           reduction=reduction, dtype=layer.dtype_policy)

    return graph_rewrite.add_preactivation_layers(model, factory, layers, "shade", what="add_shade")


def _soft_conditional_means(h: np.ndarray, axis: int):
    """E(H | Z=z) per unit with p(Z=1|h) = sigmoid(h), over all samples.

    This is the fixed point of the SHADE moving averages on the data.
    """
    h = np.moveaxis(np.asarray(h, dtype="float64"), axis, -1)
    h = h.reshape(-1, h.shape[-1])
    p1 = 1.0 / (1.0 + np.exp(-h))
    p0 = 1.0 - p1
    mu0 = (p0 * h).sum(0) / np.maximum(p0.sum(0), 1e-30)
    mu1 = (p1 * h).sum(0) / np.maximum(p1.sum(0), 1e-30)
    return mu0.astype("float32"), mu1.astype("float32")


def binarize_layer(
    model: keras.Model,
    layer_name: str,
    values: str = "auto",
    x=None,
    batch_size: int = 256,
) -> keras.Model:
    """Returns a copy of `model` whose layer `layer_name` emits binary codes.

    The pre-activations `h` of the layer are replaced by their most likely
    binary code `Z = [sigmoid(h) > 0.5] = [h > 0]`, mapped per unit to the
    value `v^Z`, before the layer's activation (a `Binarize` layer). The paper
    (Table A.1) does not state the values; by default they are the conditional
    means `v^z = E(H | Z=z)`, the quantities SHADE estimates, so the next layer
    receives `activation(mu^Z)`: a two-valued unit at the scale it was trained
    with.

    Which pre-activations:
    - a `SHADE` layer: its input (the SHADE layer is replaced by `Binarize`);
    - a layer with a non-linear activation (Dense/Conv): split as in
      `add_shade`, `Binarize` before the activation;
    - a linear layer whose only consumer is a `SHADE` layer (as made by
      `add_shade`): that SHADE layer;
    - any other layer: its output.

    Args:
        model: A trained functional or Sequential model (not modified).
        layer_name: Name of the top-level layer to binarise.
        values: `"shade"`: `v^z = mu^z`, the SHADE moving averages of that
            layer; `"data"`: `v^z = sum_k p(z|h_k) h_k / sum_k p(z|h_k)` over
            the samples of `x` (the fixed point of the SHADE averages, for
            models trained without SHADE); `"unit"`: `v^0 = 0`, `v^1 = 1`
            (the bare code); `"auto"`: `"shade"` if the layer has SHADE state,
            else `"data"` (needs `x`).
        x: Inputs used to estimate the values for `values="data"`.
        batch_size: Batch size for that estimate.

    Returns:
        A new, uncompiled model with copied weights.

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.layers import binarize_layer

    x, y = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (N, 28, 28, 1), int labels
    x = x.reshape(len(x), 784).astype("float32") / 255
    x_train, y_train, x_test, y_test = x[:256], y[:256], x[256:512], y[256:512]

    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(64, activation="relu", name="fc1"),
        keras.layers.Dense(64, activation="relu", name="fc2"),
        keras.layers.Dense(10, activation="softmax", name="out"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)

    binary = binarize_layer(model, "fc2", values="data", x=x_train[:5000])
    binary.compile(metrics=["accuracy"], loss="sparse_categorical_crossentropy")
    binary.evaluate(x_test, y_test, verbose=0)
    ```
    """
    what = "binarize_layer"
    if values not in ("auto", "shade", "data", "unit"):
        raise ValueError(
            "`values` must be one of 'auto', 'shade', 'data', 'unit'. "
            f"Received: values={values!r}"
        )
    graph_rewrite.check_model(model, what)
    (layer_name,) = graph_rewrite.check_names(model, [layer_name], what)
    layer = model.get_layer(layer_name)

    # Resolve which SHADE layer (if any) holds the state of these units.
    shade = layer if isinstance(layer, SHADE) else None
    if shade is None and not graph_rewrite.has_activation(layer):
        users = graph_rewrite.consumers(model, layer)
        if len(users) == 1 and isinstance(users[0], SHADE):
            shade = users[0]
    if values == "auto":
        values = "shade" if shade is not None else "data"
    if values == "shade" and shade is None:
        raise ValueError(
            f"{what}: layer {layer_name!r} has no SHADE state; use "
            "values='data' (with x) or values='unit'."
        )
    if values == "data" and x is None:
        raise ValueError(
            f"{what}: values='data' needs `x` to estimate E(H | Z=z) for layer "
            f"{layer_name!r}."
        )

    taken = {lyr.name for lyr in model.layers}
    target = shade if shade is not None else layer
    if shade is not None:
        axis = shade.axis
    else:
        channels_first = getattr(layer, "data_format", None) == "channels_first"
        axis = 1 if channels_first else -1
    binarize = Binarize(
        axis=axis,
        name=graph_rewrite.unique_name(f"{target.name}_binarize", taken),
        dtype=target.dtype_policy,
    )
    linearize, pipelines = set(), {}
    if shade is not None:
        pipelines[shade.name] = lambda c: [binarize]
    elif graph_rewrite.has_activation(layer):
        linearize.add(layer.name)
        activation = graph_rewrite.activation_layer(layer, taken)
        pipelines[layer.name] = lambda c: [c, binarize, activation]
    else:
        pipelines[layer.name] = lambda c: [c, binarize]
    new_model = graph_rewrite.rewrite(model, pipelines, linearize)

    if values == "shade":
        value0 = ops.convert_to_numpy(shade.moving_mu0)
        value1 = ops.convert_to_numpy(shade.moving_mu1)
    elif values == "data":
        probe = keras.Model(new_model.inputs, binarize.input)
        h = probe.predict(x, batch_size=batch_size, verbose=0)
        value0, value1 = _soft_conditional_means(h, axis)
    else:
        value0 = np.zeros(binarize.value0.shape, "float32")
        value1 = np.ones(binarize.value1.shape, "float32")
    binarize.value0.assign(value0)
    binarize.value1.assign(value1)
    return new_model


__all__ = [
    "REGULARIZERS",
    "add_shade",
    "binarize_layer",
    "check_regularizer",
    "shade_layer",
]
