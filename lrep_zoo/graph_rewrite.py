"""Graph rewrites of functional and Sequential models at pre-activations.

`add_preactivation_layers(model, factory)` returns a copy of a model with a new
layer between the linear part and the activation of chosen Dense/Conv layers
(weights copied; the given model is not modified). SHADE's `add_shade` and
`binarize_layer` (`lrep_zoo.models.shade`) are built on it.
"""

from typing import Callable, Iterable, Optional, Sequence

import keras

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


def has_activation(layer) -> bool:
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


def _functional_config(model) -> dict:
    """The public config of a functional model: its layers with their "inbound_nodes"."""
    config = model.get_config()
    if "layers" not in config:
        # A functional subclass with its own constructor serialises no graph: read it
        # from a plain functional model over the same tensors.
        config = keras.Model(model.inputs, model.outputs).get_config()
    return config


def _history_names(serialized) -> list:
    """Names of the layers whose outputs a serialized call uses, once per tensor."""
    if isinstance(serialized, dict):
        if serialized.get("class_name") == "__keras_tensor__":
            return [serialized["config"]["keras_history"][0]]
        return [name for value in serialized.values() for name in _history_names(value)]
    if isinstance(serialized, (list, tuple)):
        return [name for value in serialized for name in _history_names(value)]
    return []


def consumers(model, layer) -> list:
    """The top-level layers of `model` that call `layer`'s outputs, once per input tensor."""
    if isinstance(model, keras.Sequential):
        members = model.layers
        position = [id(lyr) for lyr in members].index(id(layer))
        return members[position + 1:position + 2]
    names = {lyr.name for lyr in model.layers}
    return [
        model.get_layer(entry["name"])
        for entry in _functional_config(model)["layers"]
        if entry["name"] in names
        for node in entry["inbound_nodes"]
        for source in _history_names(node)
        if source == layer.name
    ]


def feeds_activation(model, layer) -> bool:
    users = consumers(model, layer)
    return len(users) == 1 and isinstance(users[0], _ACTIVATION_LAYERS)


def output_layer_names(model) -> set:
    if isinstance(model, keras.Sequential):
        return {model.layers[-1].name}

    def names(entry):  # [layer name, node index, tensor index], or a structure of them
        if isinstance(entry, dict):
            return {n for value in entry.values() for n in names(value)}
        if isinstance(entry[0], str):
            return {entry[0]}
        return {n for value in entry for n in names(value)}

    return names(_functional_config(model)["output_layers"])


def input_names(model) -> dict:
    """Maps `id(input tensor)` to the name of its `InputLayer`."""
    if isinstance(model, keras.Sequential):
        (first, *_) = model.get_config()["layers"]
        return {id(model.inputs[0]): first["config"]["name"]}
    return {
        id(lyr.output): lyr.name for lyr in model.layers if isinstance(lyr, keras.layers.InputLayer)
    }


def check_model(model, what: str) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"{what} expects a keras.Model. Received: {model!r}")
    functional = isinstance(model, keras.Function)  # a graph of layers: functional models
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


def check_names(model, names: Iterable[str], what: str) -> list:
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


def unique_name(base: str, taken: set) -> str:
    name, i = base, 1
    while name in taken:
        name = f"{base}_{i}"
        i += 1
    taken.add(name)
    return name


def rewrite(model, pipelines: dict, linearize: set):
    """Clones `model`, replacing each call of a named layer by a pipeline.

    `pipelines[name](clone)` returns the list of layers to apply in sequence
    in place of the layer (it usually starts with `clone`).
    Layers named in `linearize` are cloned with `activation="linear"`.
    Weights are copied into every clone that is used. Returns the new model.
    """
    pairs = []
    names = input_names(model)

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
            name=names[id(ref)],
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


def activation_layer(layer, taken):
    return keras.layers.Activation(
        layer.activation,
        name=unique_name(f"{layer.name}_activation", taken),
        dtype=layer.dtype_policy,
    )


def add_preactivation_layers(
    model: keras.Model,
    factory: Callable[[keras.layers.Layer, str], keras.layers.Layer],
    layers: Optional[Sequence[str]] = None,
    suffix: str = "reg",
    what: str = "add_preactivation_layers",
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
    import keras
    import numpy as np
    from lrep_zoo.graph_rewrite import add_preactivation_layers
    from lrep_zoo.layers import EntropyVariance

    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10)])
    model = add_preactivation_layers(
        model, lambda layer, name: EntropyVariance(1e-3, name=name)
    )
    [layer.name for layer in model.layers]  # [..., 'dense_reg', 'dense_activation', ...]
    logits = model(np.zeros((2, 784), "float32"))  # (2, 10)
    ```
    """
    check_model(model, what)
    if layers is None:
        outputs = output_layer_names(model)
        layers = [
            layer.name
            for layer in model.layers
            if isinstance(layer, _PREACTIVATION_LAYERS)
            and (has_activation(layer) or feeds_activation(model, layer))
            and layer.name not in outputs
        ]
    else:
        if isinstance(layers, str):
            layers = [layers]
        layers = check_names(model, layers, what)
    taken = {layer.name for layer in model.layers}
    linearize, pipelines = set(), {}
    for name in layers:
        layer = model.get_layer(name)
        new = factory(layer, unique_name(f"{name}_{suffix}", taken))
        if has_activation(layer):
            linearize.add(name)
            activation = activation_layer(layer, taken)
            pipelines[name] = lambda c, n=new, a=activation: [c, n, a]
        else:
            pipelines[name] = lambda c, n=new: [c, n]
    return rewrite(model, pipelines, linearize)



__all__ = ["add_preactivation_layers", "rewrite"]
