"""Regularisers of the SHADE comparison; graph rewrites at pre-activations.

- `REGULARIZERS`: the columns of the SHADE paper's table, as accepted by the
  builders of `lrep_zoo.nets.classifiers` (`mlp`, `alexnet`).
- `add_shade(model, weight)`: a copy of a functional or Sequential model with
  `SHADE` between the linear part and the activation of its Dense/Conv layers.
- `binarize_layer(model, layer_name)`: a copy of a trained model whose chosen
  layer passes its binary code `Z = [h > 0]` on instead of `h` (Table A.1).

The rewrites clone the model's top-level layers, copy their weights, and
return a new, uncompiled model; the given model is not modified.
"""

from typing import Callable, Iterable, Optional, Sequence, Union

import keras
import numpy as np
from keras import ops

from lrep_zoo.layers.binarize import Binarize
from lrep_zoo.layers.shade import SHADE

REGULARIZERS = (
    "none",
    "weight_decay",
    "entropy",
    "dropout",
    "shade",
    "shade_dropout",
)
"""Regulariser names of the SHADE comparison table (paper column order)."""

_WEIGHTED = ("weight_decay", "entropy", "shade", "shade_dropout")

_PREACTIVATION_LAYERS = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)


def check_regularizer(regularizer: str, weight: Optional[float] = None) -> None:
    """Raises a clear `ValueError` for an unknown name or a missing weight."""
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


# ---------------------------------------------------------------------------
# Graph rewriting.


def _has_activation(layer) -> bool:
    activation = getattr(layer, "activation", None)
    if activation is None:
        return False
    return keras.activations.serialize(activation) != "linear"


_ACTIVATION_LAYERS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
)


def _consumers(model, layer) -> list:
    members = {id(lyr) for lyr in model.layers}
    return [
        node.operation
        for node in layer._outbound_nodes
        if id(node.operation) in members
    ]


def _feeds_activation(model, layer) -> bool:
    consumers = _consumers(model, layer)
    return len(consumers) == 1 and isinstance(consumers[0], _ACTIVATION_LAYERS)


def _output_layer_names(model) -> set:
    return {t._keras_history.operation.name for t in model.outputs}


def _check_model(model, what: str) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"{what} expects a keras.Model. Received: {model!r}")
    functional = hasattr(model, "_run_through_graph")
    if not (isinstance(model, keras.Sequential) or functional):
        raise TypeError(
            f"{what} rewrites the layer graph of a functional or Sequential "
            f"model; {model.__class__.__name__} is a subclassed model. Put the "
            "layers (e.g. `lrep_zoo.layers.SHADE`) in its `call()` instead."
        )
    if not model.built or not model.inputs:
        raise ValueError(
            f"{what} needs a built model with known inputs: give the "
            "Sequential model an `keras.Input(shape)` first."
        )


def _check_names(model, names: Iterable[str], what: str) -> list:
    names = list(names)
    known = [layer.name for layer in model.layers]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"{what}: no top-level layer named {unknown} in model "
            f"{model.name!r} (layers of nested models cannot be chosen). "
            f"Layers: {known}"
        )
    return names


def _unique_name(base: str, taken: set) -> str:
    name, i = base, 1
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    taken.add(name)
    return name


def _rewrite(model, pipelines: dict, linearize: set):
    """Clones `model`, replacing each call of a named layer by a pipeline.

    `pipelines[name](clone)` returns the list of layers to apply in sequence
    in place of the layer (it usually starts with `clone`).
    Layers named in `linearize` are cloned with `activation="linear"`.
    Weights are copied into every clone that is used. Returns the new model.
    """
    pairs = []

    def clone_function(layer):
        config = layer.get_config()
        if layer.name in linearize:
            config["activation"] = "linear"
        clone = layer.__class__.from_config(config)
        pairs.append((layer, clone))
        return clone

    def pipeline_for(clone):
        if clone.name in pipelines:
            return pipelines[clone.name](clone)
        return [clone]

    def new_input(ref):  # keep the input names (serving signatures use them)
        return keras.Input(
            batch_shape=ref.shape,
            dtype=ref.dtype,
            name=ref._keras_history.operation.name,
        )

    if isinstance(model, keras.Sequential):
        new_layers = [new_input(model.inputs[0])]
        for layer in model.layers:
            new_layers.extend(pipeline_for(clone_function(layer)))
        new_model = keras.Sequential(new_layers, name=model.name)
    else:

        def call_function(clone, *args, **kwargs):
            layers = pipeline_for(clone)
            outputs = layers[0](*args, **kwargs)
            if len(layers) > 1 and isinstance(outputs, (list, tuple, dict)):
                raise ValueError(
                    f"Layer {clone.name!r} has several outputs; only layers "
                    "with one output can be rewritten."
                )
            for layer in layers[1:]:
                outputs = layer(outputs)
            return outputs

        new_model = keras.models.clone_model(
            model,
            input_tensors=keras.tree.map_structure(new_input, model.input),
            clone_function=clone_function,
            call_function=call_function,
        )
    for layer, clone in pairs:
        if clone.built and layer.weights:
            clone.set_weights(layer.get_weights())
    return new_model


def _activation_layer(layer, taken):
    return keras.layers.Activation(
        layer.activation,
        name=_unique_name(f"{layer.name}_activation", taken),
        dtype=layer.dtype_policy,
    )


# ---------------------------------------------------------------------------
# SHADE insertion.


def add_preactivation_layers(
    model: keras.Model,
    factory: Callable[[keras.layers.Layer, str], keras.layers.Layer],
    layers: Optional[Sequence[str]] = None,
    suffix: str = "reg",
) -> keras.Model:
    """Inserts `factory(layer, name)` on the pre-activations of chosen layers.

    The generic form of `add_shade`: each chosen layer with a non-linear
    activation becomes `clone(activation="linear") -> factory(...) ->
    Activation(original activation)`; a chosen layer without activation (or a
    linear one, e.g. a Dense followed by BatchNorm) gets the new layer after
    its output. `layers=None` chooses every Dense/Conv layer, except the
    model's output layers, that has a non-linear activation or whose only
    consumer is an activation layer (`Activation`, `ReLU`, `LeakyReLU`,
    `ELU`, `PReLU`, `Softmax`); pre-activations behind a normalisation
    (Dense -> BatchNorm -> ReLU) are not found: name those layers.

    Example:

    ```python
    model = add_preactivation_layers(
        model, lambda layer, name: EntropyVariance(1e-3, name=name)
    )
    ```
    """
    return _add_preactivation_layers(
        model, factory, layers, suffix, "add_preactivation_layers"
    )


def _add_preactivation_layers(model, factory, layers, suffix, what):
    _check_model(model, what)
    if layers is None:
        outputs = _output_layer_names(model)
        layers = [
            layer.name
            for layer in model.layers
            if isinstance(layer, _PREACTIVATION_LAYERS)
            and (_has_activation(layer) or _feeds_activation(model, layer))
            and layer.name not in outputs
        ]
    else:
        if isinstance(layers, str):
            layers = [layers]
        layers = _check_names(model, layers, what)
    taken = {layer.name for layer in model.layers}
    linearize, pipelines = set(), {}
    for name in layers:
        layer = model.get_layer(name)
        new = factory(layer, _unique_name(f"{name}_{suffix}", taken))
        if _has_activation(layer):
            linearize.add(name)
            activation = _activation_layer(layer, taken)
            pipelines[name] = lambda c, n=new, a=activation: [c, n, a]
        else:
            pipelines[name] = lambda c, n=new: [c, n]
    return _rewrite(model, pipelines, linearize)


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
        return SHADE(
            weight=weight,
            momentum=momentum,
            axis=1 if channels_first else -1,
            reduction=reduction,
            name=name,
            dtype=layer.dtype_policy,
        )

    return _add_preactivation_layers(
        model, factory, layers, "shade", "add_shade"
    )


# ---------------------------------------------------------------------------
# Binarised-activation check (Table A.1).


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
    binary = binarize_layer(model, "fc2", values="data", x=x_train[:5000])
    binary.compile(metrics=["accuracy"], loss="sparse_categorical_crossentropy")
    binary.evaluate(x_test, y_test)
    ```
    """
    what = "binarize_layer"
    if values not in ("auto", "shade", "data", "unit"):
        raise ValueError(
            "`values` must be one of 'auto', 'shade', 'data', 'unit'. "
            f"Received: values={values!r}"
        )
    _check_model(model, what)
    (layer_name,) = _check_names(model, [layer_name], what)
    layer = model.get_layer(layer_name)

    # Resolve which SHADE layer (if any) holds the state of these units.
    shade = layer if isinstance(layer, SHADE) else None
    if shade is None and not _has_activation(layer):
        consumers = _consumers(model, layer)
        if len(consumers) == 1 and isinstance(consumers[0], SHADE):
            shade = consumers[0]
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
        name=_unique_name(f"{target.name}_binarize", taken),
        dtype=target.dtype_policy,
    )
    linearize, pipelines = set(), {}
    if shade is not None:
        pipelines[shade.name] = lambda c: [binarize]
    elif _has_activation(layer):
        linearize.add(layer.name)
        activation = _activation_layer(layer, taken)
        pipelines[layer.name] = lambda c: [c, binarize, activation]
    else:
        pipelines[layer.name] = lambda c: [c, binarize]
    new_model = _rewrite(model, pipelines, linearize)

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
    "add_preactivation_layers",
    "add_shade",
    "binarize_layer",
    "check_regularizer",
]
