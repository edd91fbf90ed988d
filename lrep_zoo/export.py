"""SavedModel export with named signatures, servable by TensorFlow Serving.

`export_saved_model(model, path)` writes a TensorFlow SavedModel whose signatures
have named inputs and outputs: `serving_default` (the model's forward pass) plus
one signature per extra *endpoint* of the model (`encode`, `decode`, `edit`,
`sample`, ...). The artifact needs TensorFlow only (neither `keras` nor
`lrep_zoo`) to run: `tf.saved_model.load`, `saved_model_cli run` and
`tensorflow_model_server` all read it. Export works from the TensorFlow and the
JAX backend (JAX functions are converted with `jax2tf`); the torch backend is
not supported (Keras 3 exports torch models through `torch_xla`, and only their
`call`).

Which endpoints a model exports:

1. `serving_default`: `images -> outputs`, i.e. `model(images, training=False)`.
   A dict output keeps its keys as output names, a list/tuple is named
   `output_0`, `output_1`, ..., a single tensor `outputs` (`reconstruction` for
   auto-encoders, see 2.). The input spec comes from `input_signature`, else from
   a functional model's `inputs`, else from `model.image_shape` (batch `None`).
2. Auto-encoders (models with both `encode` and `decode` methods, `encode`
   returning a single tensor) also get `encode: images -> codes` and
   `decode: codes -> images`, and their `serving_default` output is named
   `reconstruction`.
3. The model hook, which takes precedence over 1. and 2.:

    ```python
    def export_endpoints(self) -> dict[str, tuple[Callable, dict[str, Any]] | None]:
    ```

    It maps endpoint names to `(fn, inputs)`, where `inputs` is an ordered
    dict `{input_name: spec}` (`keras.InputSpec`, `keras.KerasTensor` or a
    shape tuple, float32, batch dimension included) and `fn` is called with the
    input tensors *positionally*, in that order, and returns a dict of named
    output tensors (a bare tensor is named `outputs`). Mapping a name to `None`
    drops a default endpoint. For example (a hypothetical disentangling model):

    ```python
    def export_endpoints(self):
        images = keras.InputSpec(shape=(None, *self.image_shape))
        codes = keras.InputSpec(shape=(None, self.latent_dim))
        return {
            "serving_default": (
                lambda x: dict(zip(("identity", "lighting"), self.classify(x))),
                {"images": images},
            ),
            "edit": (
                lambda x, z: {"images": self.edit(x, z)},
                {"images": images, "lighting_codes": codes},
            ),
        }
    ```

The SavedModel goes to `path`, or to `path/<version>` when `version` is given:
TensorFlow Serving expects numeric version folders under its
`--model_base_path`, so use `export_saved_model(model, "models/dae", version=1)`
and `tensorflow_model_server --model_name=dae --model_base_path=$PWD/models/dae`.
"""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

import keras

SERVING_DEFAULT = "serving_default"
SUPPORTED_BACKENDS = ("tensorflow", "jax")

Endpoint = tuple[Callable, Mapping[str, Any]]
EndpointsArg = Union[Sequence[str], Mapping[str, Union[Endpoint, None]], None]


def export_saved_model(
    model: keras.Model,
    path: str | Path,
    endpoints: EndpointsArg = None,
    input_signature: Any = None,
    version: int | None = None,
    overwrite: bool = False,
    verbose: bool = False,
) -> Path:
    """Export `model` as a TensorFlow SavedModel with named signatures.

    Args:
        model: A built `keras.Model`.
        path: Target folder. It must not exist or be empty unless `overwrite`.
        endpoints: `None` (all endpoints of the model, see the module
            docstring), a list of endpoint names to keep (`serving_default` is
            always kept), or a dict `{name: (fn, inputs)}` of extra endpoints
            (or `None` to drop one) applied over the model's own.
        input_signature: Input spec of `serving_default` (and of the default
            `encode`): a `keras.InputSpec`, a shape tuple (batch dimension
            included), or a dict `{input_name: spec}`. Defaults to the model's
            input shape with a `None` batch dimension, named `images`.
        version: If given, write to `path/<version>` (the layout TF Serving
            expects for `--model_base_path=path`).
        overwrite: Replace an existing non-empty target folder.
        verbose: Print the exported endpoints.

    Returns:
        The folder holding `saved_model.pb`.

    Example:

    ```python
    dae = DenoisingAutoEncoder((28, 28, 1), latent_dim=32)
    export_saved_model(dae, "models/dae", version=1)
    # Elsewhere, with TensorFlow only:
    served = tf.saved_model.load("models/dae/1")
    served.signatures["encode"](images=images)["codes"]
    ```
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"export_saved_model expects a keras.Model, got {type(model).__name__}."
        )
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} has never been built, so it has no weights to "
            "export. Call it on a batch or `model.build(input_shape)` first."
        )
    target = _target_dir(path, version, overwrite)
    resolved = resolve_endpoints(model, endpoints, input_signature)

    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise NotImplementedError(
            f"SavedModel export with named endpoints needs the TensorFlow or JAX "
            f"backend (KERAS_BACKEND), not {backend!r}: Keras exports torch models "
            "through torch_xla and only their `call`. Save the model (`model.save`) "
            "and export it from a TensorFlow- or JAX-backend process."
        )

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, inputs) in resolved.items():
        archive.add_endpoint(
            name, _named_function(fn, list(inputs)), input_signature=list(inputs.values())
        )
    if overwrite and target.exists():
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    archive.write_out(str(target), verbose=verbose)
    return target


def resolve_endpoints(
    model: keras.Model, endpoints: EndpointsArg = None, input_signature: Any = None
) -> dict[str, tuple[Callable, dict[str, keras.InputSpec]]]:
    """The endpoints `export_saved_model` would export, as `{name: (fn, inputs)}`.

    `inputs` is a dict `{input_name: keras.InputSpec}`; `fn` takes the inputs
    positionally and returns a dict of named outputs. See the module docstring
    for the defaults and the `export_endpoints` hook.

    Example:

    ```python
    sorted(resolve_endpoints(dae))  # ['decode', 'encode', 'serving_default']
    ```
    """
    hook = getattr(model, "export_endpoints", None)
    declared = dict(hook()) if callable(hook) else {}
    extra = None
    if isinstance(endpoints, Mapping):
        extra, endpoints = dict(endpoints), None
    elif isinstance(endpoints, str):
        endpoints = [endpoints]

    is_autoencoder = callable(getattr(model, "encode", None)) and callable(
        getattr(model, "decode", None)
    )
    resolved = {}
    if SERVING_DEFAULT not in declared:
        serving_inputs = _serving_inputs(model, input_signature)
        output_name = "reconstruction" if is_autoencoder else "outputs"

        def serve(*inputs):
            outputs = model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
            return _name_outputs(outputs, output_name)

        resolved[SERVING_DEFAULT] = (serve, serving_inputs)
    if is_autoencoder and not ("encode" in declared and "decode" in declared):
        resolved.update(_autoencoder_endpoints(model, input_signature))
    for source in (declared, extra or {}):
        for name, endpoint in source.items():
            if endpoint is None:
                resolved.pop(name, None)
                continue
            resolved[name] = _check_endpoint(name, endpoint)
    if SERVING_DEFAULT not in resolved:
        raise ValueError("`serving_default` cannot be dropped: TF Serving needs it.")

    if endpoints is not None:
        unknown = [name for name in endpoints if name not in resolved]
        if unknown:
            raise ValueError(
                f"Unknown endpoint(s) {unknown} for {type(model).__name__}; "
                f"available: {sorted(resolved)}."
            )
        keep = {SERVING_DEFAULT, *endpoints}
        resolved = {k: v for k, v in resolved.items() if k in keep}
    # serving_default first: keras aliases the first endpoint as the default.
    return {SERVING_DEFAULT: resolved.pop(SERVING_DEFAULT), **resolved}


def _target_dir(path, version, overwrite):
    target = Path(path)
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ValueError(
                f"`version` must be a non-negative int (TF Serving's numeric version "
                f"folder), got {version!r}."
            )
        target = target / str(version)
    if target.exists() and not overwrite:
        if not target.is_dir() or any(target.iterdir()):
            raise FileExistsError(
                f"Export target {str(target)!r} already exists and is not an empty "
                "folder; pass `overwrite=True` to replace it."
            )
    return target


def _serving_inputs(model, input_signature):
    if input_signature is not None:
        if isinstance(input_signature, Mapping):
            return {name: _input_spec(spec, name) for name, spec in input_signature.items()}
        return {"images": _input_spec(input_signature, "images")}
    try:
        model_inputs = model.inputs  # functional and Sequential models
    except (AttributeError, ValueError):
        model_inputs = None
    if model_inputs:
        if len(model_inputs) == 1:
            return {"images": _input_spec(model_inputs[0], "images")}
        return {t.name: _input_spec(t, t.name) for t in model_inputs}
    image_shape = getattr(model, "image_shape", None)
    if image_shape is not None:
        return {"images": _input_spec((None, *image_shape), "images")}
    raise ValueError(
        f"Cannot infer the input shape of {type(model).__name__}: pass "
        "`input_signature`, e.g. `keras.InputSpec(shape=(None, 28, 28, 1))`, or "
        "implement `export_endpoints()`."
    )


def _autoencoder_endpoints(model, input_signature):
    images = _serving_inputs(model, input_signature)
    if len(images) != 1:
        raise ValueError(
            f"{type(model).__name__} has several inputs: declare `encode`/`decode` "
            "in `export_endpoints()`."
        )
    symbolic = [keras.KerasTensor(s.shape, dtype=s.dtype) for s in images.values()]
    codes = model.encode(*symbolic)
    if not isinstance(codes, keras.KerasTensor):
        raise ValueError(
            f"{type(model).__name__}.encode returns {type(codes).__name__}, not one "
            "tensor: declare `encode`/`decode` in `export_endpoints()`."
        )
    return {
        "encode": (lambda x: {"codes": model.encode(x)}, images),
        "decode": (
            lambda z: {"images": model.decode(z)},
            {"codes": _input_spec(codes, "codes")},
        ),
    }


def _check_endpoint(name, endpoint):
    if not (isinstance(endpoint, (tuple, list)) and len(endpoint) == 2):
        raise ValueError(f"Endpoint {name!r} must be `(fn, inputs)`, got {endpoint!r}.")
    fn, inputs = endpoint
    if not callable(fn) or not isinstance(inputs, Mapping) or not inputs:
        raise ValueError(
            f"Endpoint {name!r} must be `(fn, {{input_name: spec, ...}})`, got {endpoint!r}."
        )
    return fn, {key: _input_spec(spec, key) for key, spec in inputs.items()}


def _input_spec(spec, name):
    """A `keras.InputSpec` with a full shape (batch `None` allowed) named `name`."""
    if isinstance(spec, (tuple, list)):
        shape, dtype = tuple(spec), "float32"
    elif hasattr(spec, "shape") and hasattr(spec, "dtype"):
        shape, dtype = spec.shape, spec.dtype
        if spec.shape is None:
            raise ValueError(f"Input {name!r}: the spec needs a shape, got {spec!r}.")
        shape = tuple(None if d is None else int(d) for d in shape)
        dtype = keras.backend.standardize_dtype(getattr(dtype, "name", dtype))
    else:
        raise TypeError(
            f"Input {name!r}: expected a keras.InputSpec, KerasTensor or shape tuple, "
            f"got {spec!r}."
        )
    return keras.InputSpec(shape=shape, dtype=dtype, name=name)


def _name_outputs(outputs, name):
    if isinstance(outputs, Mapping):
        return dict(outputs)
    if isinstance(outputs, (tuple, list)):
        return {f"output_{i}": out for i, out in enumerate(outputs)}
    return {name: outputs}


def _named_function(fn, names):
    """`fn` taking positional inputs, with a signature naming them (SavedModel input keys)."""
    signature = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
    )

    def endpoint(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        return _name_outputs(fn(*bound.args), "outputs")

    endpoint.__signature__ = signature
    return endpoint
