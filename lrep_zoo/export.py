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
   `def export_endpoints(self) -> dict[str, tuple[Callable, dict[str, Any]] | None]`.

   It maps endpoint names to `(fn, inputs)`, where `inputs` is an ordered
   dict `{input_name: spec}` (`keras.InputSpec`, `keras.KerasTensor` or a
   shape tuple, float32, batch dimension included) and `fn` is called with the
   input tensors *positionally*, in that order, and returns a dict of named
   output tensors (a bare tensor is named `outputs`). Mapping a name to `None`
   drops a default endpoint. For example (a small disentangling model):

```python
import keras
import numpy as np
from lrep_zoo.export import ExportMixin, resolve_endpoints


class TinyDisentangler(ExportMixin, keras.Model):
    # Identity and lighting heads on 8x8 images, and an editor of the lighting.

    image_shape, latent_dim = (8, 8, 1), 2

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flatten = keras.layers.Flatten()
        self.identity = keras.layers.Dense(3, activation="softmax")
        self.lighting = keras.layers.Dense(self.latent_dim)
        self.editor = keras.layers.Dense(64, activation="sigmoid")

    def call(self, images):
        return self.classify(images)

    def classify(self, images):
        h = self.flatten(images)
        return self.identity(h), self.lighting(h)

    def edit(self, images, lighting_codes):
        h = keras.ops.concatenate([self.flatten(images), lighting_codes], axis=-1)
        return keras.ops.reshape(self.editor(h), (-1, *self.image_shape))

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


model = TinyDisentangler()
faces = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
identity, lighting = model(faces)  # builds the model: (2, 3) and (2, 2)
model.edit(faces, lighting)  # and the editor
endpoints = resolve_endpoints(model)
sorted(endpoints)  # ['edit', 'serving_default']
fn, inputs = endpoints["edit"]
list(inputs)  # ['images', 'lighting_codes']
fn(faces, np.ones((2, 2), "float32"))["images"].shape  # (2, 8, 8, 1)
if keras.backend.backend() in ("tensorflow", "jax"):  # SavedModel export: TF and JAX
    model.export("exported/tiny", verbose=False)  # serving_default and edit signatures
```

The SavedModel goes to `path`, or to `path/<version>` when `version` is given:
TensorFlow Serving expects numeric version folders under its
`--model_base_path`, so use `export_saved_model(model, "models/dae", version=1)`
and `tensorflow_model_server --model_name=dae --model_base_path=$PWD/models/dae`.

Every lrep_zoo model also exports the plain Keras way (`ExportMixin`, a base of each
model class next to `PresetMixin`):

- `model.export(path)` (`format="tf_saved_model"`) writes the same named signatures
  into `path` itself (no version folder, like Keras); TensorFlow and JAX backends.
- `model.export(path, format="onnx")` (`export_onnx`) writes one ONNX graph, that of
  `serving_default` (or of the endpoint named by `endpoint=`), with the same input
  and output names; TensorFlow (tf2onnx), JAX (jax2onnx) and torch (`torch.onnx`,
  dynamo) backends. An ONNX file holds a single function, so the other endpoints
  are not in it: export each one to its own file with `endpoint="encode"`, ...
"""

from __future__ import annotations

import importlib.util
import inspect
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

import keras

SERVING_DEFAULT = "serving_default"
SUPPORTED_BACKENDS = ("tensorflow", "jax")
ONNX_BACKENDS = ("tensorflow", "jax", "torch")
# What ONNX export needs on each backend (import name, pip name).
_ONNX_PACKAGES = {
    "tensorflow": (("tf2onnx", "tf2onnx"), ("onnx", "onnx")),
    "jax": (("jax2onnx", "jax2onnx"), ("onnx", "onnx")),
    "torch": (("onnx", "onnx"), ("onnxscript", "onnxscript")),
}
_ONNX_CONVERTERS = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "torch.onnx (dynamo)"}

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
            `encode`): a `keras.InputSpec` (or a list of them, as
            `keras.Model.export` takes it), a shape tuple (batch dimension
            included), or a dict `{input_name: spec}`. Defaults to the model's
            input shape with a `None` batch dimension, named `images`. With an
            `export_endpoints` hook, it replaces the specs of the hook's
            `serving_default` (same number of inputs; the hook's names unless a
            dict names them).
        version: If given, write to `path/<version>` (the layout TF Serving
            expects for `--model_base_path=path`).
        overwrite: Replace an existing non-empty target folder.
        verbose: Print the exported endpoints.

    Returns:
        The folder holding `saved_model.pb`.

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.export import export_saved_model

    dae = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
    if keras.backend.backend() in ("tensorflow", "jax"):  # SavedModel export: TF and JAX
        export_saved_model(dae, "models/dae", version=1)  # models/dae/1/saved_model.pb
        # Elsewhere, with TensorFlow only:
        import tensorflow as tf
        x, _ = lrep_zoo.data.load_arrays("mnist", "test")
        images = tf.constant(x[:2], "float32")  # 0..255, as the preset takes them
        served = tf.saved_model.load("models/dae/1")
        codes = served.signatures["encode"](images=images)["codes"]  # (2, latent_dim)
    ```
    """
    _check_model(model, "export_saved_model")
    target = _target_dir(path, version, overwrite)
    resolved = resolve_endpoints(model, endpoints, input_signature)
    _check_saved_model_backend(model)
    if overwrite and target.exists():
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    _write_saved_model(model, target, resolved, verbose)
    return target


class ExportMixin:
    """Keras' `Model.export` for lrep_zoo models: the named signatures of `lrep_zoo.export`.

    A base of every lrep_zoo model class, next to `PresetMixin`:
    `class DualDis(PresetMixin, ExportMixin, MultiPhaseModel)`. Formats other than
    `"tf_saved_model"` and `"onnx"` go to `keras.Model.export` unchanged.

    Example:

    ```python
    import keras
    from lrep_zoo.models import DenoisingAutoEncoder
    dae = DenoisingAutoEncoder.from_preset("dae_mnist")
    if keras.backend.backend() in ("tensorflow", "jax"):  # SavedModel: TF and JAX backends
        dae.export("exported/dae", verbose=False)       # serving_default, encode, decode
    dae.export("exported/dae.onnx", format="onnx")      # serving_default only
    dae.export("exported/dae_encode.onnx", format="onnx", endpoint="encode")
    ```
    """

    def export(self, filepath, format="tf_saved_model", verbose=True, input_signature=None,
               **kwargs):
        """Export the model for inference, with lrep_zoo's named signatures.

        Args:
            filepath: For `"tf_saved_model"`, the SavedModel folder (written in place,
                as Keras does; `lrep_zoo.export.export_saved_model` adds TF Serving's
                version folder and refuses a non-empty one). For `"onnx"`, the file.
            format: `"tf_saved_model"` (TensorFlow and JAX backends: `serving_default`
                plus the model's endpoints, see `lrep_zoo.export`), `"onnx"`
                (TensorFlow, JAX and torch backends: one endpoint, `serving_default`
                unless `endpoint=` names another), or any other format of
                `keras.Model.export`, which handles it.
            verbose: Print what was written.
            input_signature: Input spec of `serving_default`: a `keras.InputSpec` (or a
                list of them, as Keras takes it), a shape tuple, or a dict
                `{input_name: spec}`. Defaults to the model's own (batch `None`).
            **kwargs: `"tf_saved_model"`: `endpoints` (see `export_saved_model`) and
                Keras' JAX options `is_static`, `jax2tf_kwargs`. `"onnx"`: `endpoint`
                (default `"serving_default"`) and `opset_version`.
        """
        if format == "tf_saved_model":
            _check_model(self, "export")
            resolved = resolve_endpoints(self, kwargs.pop("endpoints", None), input_signature)
            _check_saved_model_backend(self)
            _write_saved_model(self, Path(filepath), resolved, verbose, **kwargs)
            return None
        if format == "onnx":
            endpoint = kwargs.pop("endpoint", SERVING_DEFAULT)
            opset_version = kwargs.pop("opset_version", None)
            if kwargs:
                raise TypeError(
                    f"{type(self).__name__}.export(format='onnx') got unexpected keyword "
                    f"arguments {sorted(kwargs)}; it takes `endpoint` and `opset_version`."
                )
            export_onnx(self, filepath, endpoint=endpoint, input_signature=input_signature,
                        opset_version=opset_version, verbose=verbose)
            return None
        return super().export(filepath, format=format, verbose=verbose,
                              input_signature=input_signature, **kwargs)


def export_onnx(
    model: keras.Model,
    path: str | Path,
    endpoint: str = SERVING_DEFAULT,
    input_signature: Any = None,
    opset_version: int | None = None,
    verbose: bool = False,
) -> Path:
    """Export one endpoint of `model` (default `serving_default`) as an ONNX file.

    The graph has the endpoint's input and output names (`images` ->
    `reconstruction` for an auto-encoder, `latents` -> `images` for a GAN, ...) and
    a dynamic batch dimension `batch`. An ONNX file holds one function, so a model
    with several endpoints needs one file per endpoint (`endpoint="encode"`, ...).
    Converters: tf2onnx (TensorFlow backend), jax2onnx (JAX), `torch.onnx` with the
    dynamo exporter (torch; needs onnxscript). Outputs are in sorted name order.

    Args:
        model: A built `keras.Model`.
        path: The `.onnx` file to write (its folder is created).
        endpoint: Name of the endpoint to export (see `resolve_endpoints`).
        input_signature: As for `export_saved_model`.
        opset_version: ONNX opset (default: the converter's).
        verbose: Print what was written and which endpoints were left out.

    Returns:
        The path of the ONNX file.

    Example:

    ```python
    import onnxruntime
    import lrep_zoo
    from lrep_zoo.export import export_onnx

    dae = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
    export_onnx(dae, "dae.onnx")
    x, _ = lrep_zoo.data.load_arrays("mnist", "test")
    session = onnxruntime.InferenceSession("dae.onnx")
    (reconstruction,) = session.run(["reconstruction"], {"images": x[:2].astype("float32")})
    reconstruction.shape  # (2, 28, 28, 1), in [0, 1]
    ```
    """
    _check_model(model, "export_onnx")
    resolved = resolve_endpoints(model, input_signature=input_signature)
    if endpoint not in resolved:
        raise ValueError(
            f"Unknown endpoint {endpoint!r} for {type(model).__name__}; available: "
            f"{sorted(resolved)}."
        )
    fn, inputs = resolved[endpoint]
    backend = keras.backend.backend()
    what = f"{type(model).__name__} cannot be exported to ONNX on the {backend} backend"
    if backend not in ONNX_BACKENDS:
        raise NotImplementedError(
            f"{what}: ONNX export supports the {', '.join(ONNX_BACKENDS)} backends."
        )
    missing = [pip for module, pip in _ONNX_PACKAGES[backend]
               if importlib.util.find_spec(module) is None]
    if missing:
        raise ImportError(
            f"{what}: {_ONNX_CONVERTERS[backend]} needs {', '.join(missing)} "
            f"(pip install {' '.join(missing)}, or the `test` extra of lrep-zoo)."
        )
    names = list(inputs)
    endpoint_fn = _named_function(fn, names)
    output_names = _output_names(endpoint_fn, inputs)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    converter = {"tensorflow": _onnx_tensorflow, "jax": _onnx_jax, "torch": _onnx_torch}[backend]
    try:
        converter(model, endpoint_fn, inputs, output_names, target, opset_version)
    except Exception as err:  # the converter's message, with which model and backend
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise RuntimeError(
            f"{what}: {_ONNX_CONVERTERS[backend]} failed on its {endpoint!r} endpoint "
            f"({type(err).__name__}: {reason[:500]}). SavedModel export "
            "(`model.export(path)`) from the TensorFlow or JAX backend is the other way."
        ) from err
    problem = _onnx_problem(target, inputs)
    if problem:
        target.unlink(missing_ok=True)
        raise RuntimeError(
            f"{what}: the {_ONNX_CONVERTERS[backend]} graph of its {endpoint!r} endpoint "
            f"{problem}, so no file was written. Export it from another backend "
            "(`model.save('model.keras')`, then `keras.saving.load_model('model.keras')"
            ".export(path, format='onnx')` with another KERAS_BACKEND; "
            f"{', '.join(b for b in ONNX_BACKENDS if b != backend)})."
        )
    if verbose:
        others = [name for name in resolved if name != endpoint]
        print(f"Saved ONNX artifact at '{target}': endpoint {endpoint!r} "
              f"({', '.join(names)} -> {', '.join(output_names)}).")
        if others:
            print(f"An ONNX file holds one endpoint; not exported: {', '.join(others)} "
                  "(export each with `endpoint=NAME`).")
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
    import lrep_zoo
    from lrep_zoo.export import resolve_endpoints
    dae = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
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
    if SERVING_DEFAULT in declared and declared[SERVING_DEFAULT] is not None \
            and input_signature is not None:
        resolved[SERVING_DEFAULT] = _with_signature(
            model, resolved[SERVING_DEFAULT], input_signature
        )
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


def _check_model(model, caller):
    if not isinstance(model, keras.Model):
        raise TypeError(f"{caller} expects a keras.Model, got {type(model).__name__}.")
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} has never been built, so it has no weights to "
            "export. Call it on a batch or `model.build(input_shape)` first."
        )


def _check_saved_model_backend(model):
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise NotImplementedError(
            f"SavedModel export of {type(model).__name__} needs the TensorFlow or JAX "
            f"backend (KERAS_BACKEND), not {backend!r}: Keras exports torch models to "
            "SavedModel only through torch_xla and only their `call`, without the named "
            "endpoints. Save the weights and export from the TensorFlow or JAX backend: "
            "`model.save('model.keras')`, then, with KERAS_BACKEND=tensorflow (or jax), "
            "`import lrep_zoo, keras; keras.saving.load_model('model.keras').export(path)` "
            "(or `lrep-zoo --backend tensorflow export ...`). On torch, "
            "`model.export(path, format='onnx')` works."
        )


def _write_saved_model(model, target, resolved, verbose, **kwargs):
    """The SavedModel of `resolved` endpoints (`resolve_endpoints`) into `target`."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, inputs) in resolved.items():
        archive.add_endpoint(
            name, _named_function(fn, list(inputs)), input_signature=list(inputs.values()),
            **kwargs,
        )
    archive.write_out(str(target), verbose=bool(verbose))


def _output_names(endpoint_fn, inputs):
    """The sorted output names of `endpoint_fn`, from a symbolic call."""
    symbolic = [keras.KerasTensor(spec.shape, dtype=spec.dtype) for spec in inputs.values()]
    return sorted(endpoint_fn(*symbolic))


def _onnx_dims(inputs):
    """Shapes with named dynamic dimensions: the batch is `batch`, others `dim_<i>_<j>`."""
    return [
        tuple(d if d is not None else ("batch" if j == 0 else f"dim_{i}_{j}")
              for j, d in enumerate(spec.shape))
        for i, spec in enumerate(inputs.values())
    ]


def _onnx_problem(target, inputs):
    """Why the ONNX file at `target` would not serve `inputs`, or `None`."""
    import onnx

    graph = onnx.load(str(target), load_external_data=False).graph
    for value, (name, spec) in zip(graph.input, inputs.items()):
        dims = value.type.tensor_type.shape.dim
        for j, size in enumerate(spec.shape):
            if size is None and j < len(dims) and dims[j].HasField("dim_value"):
                return (f"fixes dimension {j} of input {name!r} (None in the spec) to "
                        f"{dims[j].dim_value}: it would serve only that size")
    for node in graph.node:
        if node.op_type in ("MaxPool", "AveragePool", "LpPool"):
            kernel = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), [])
            if len(kernel) > 3:
                return (f"has a {len(kernel)}-D {node.op_type} (kernel {kernel}; a Keras "
                        "pooling layer lowered over every axis), and onnxruntime pools over "
                        "1 to 3 spatial dimensions only")
    return None


def _onnx_tensorflow(model, endpoint_fn, inputs, output_names, target, opset_version):
    import onnx
    import tensorflow as tf
    import tf2onnx

    archive = keras.export.ExportArchive()
    archive.track(model)
    function = archive.add_endpoint("endpoint", endpoint_fn,
                                    input_signature=list(inputs.values()))
    signature = [tf.TensorSpec(spec.shape, spec.dtype, name=name)
                 for name, spec in inputs.items()]
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature,
                                             opset=opset_version)
    # tf2onnx names dynamic sizes `unk__<n>`: name them as the other converters do.
    for i, value in enumerate(proto.graph.input):
        for j, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_param:
                dim.dim_param = "batch" if j == 0 else f"dim_{i}_{j}"
    for value in proto.graph.output:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_param = "batch"
    onnx.save(proto, str(target))


def _onnx_jax(model, endpoint_fn, inputs, output_names, target, opset_version):
    import jax
    import jax2onnx
    import numpy as np

    def flat(*args):
        outputs = endpoint_fn(*args)
        return tuple(outputs[name] for name in output_names)

    specs = [jax.ShapeDtypeStruct(shape, np.dtype(spec.dtype))
             for shape, spec in zip(_onnx_dims(inputs), inputs.values())]
    options = {} if opset_version is None else {"opset": opset_version}
    jax2onnx.to_onnx(flat, inputs=specs, input_names=list(inputs), output_names=output_names,
                     return_mode="file", output_path=str(target), **options)


def _onnx_torch(model, endpoint_fn, inputs, output_names, target, opset_version):
    import torch

    class Endpoint(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model  # a torch Module on this backend: registers its weights

        def forward(self, *args):
            outputs = endpoint_fn(*args)
            return tuple(outputs[name] for name in output_names)

    batch = torch.export.Dim("batch")
    dynamic, examples = [], []
    for i, spec in enumerate(inputs.values()):
        # 2, not 1, for dynamic sizes: torch.export specialises sizes 0 and 1. On
        # Keras' device (the model's).
        examples.append(keras.ops.zeros([2 if d is None else d for d in spec.shape],
                                        dtype=spec.dtype))
        dynamic.append({j: batch if j == 0 else torch.export.Dim(f"dim_{i}_{j}")
                        for j, d in enumerate(spec.shape) if d is None})
    opt_einsum = torch.backends.opt_einsum
    was_enabled, was_training = opt_einsum.enabled, model.training
    # opt_einsum picks a contraction order from the sizes, which fixes the batch size
    # (DualDis' AreaResize einsum): contract in the written order instead.
    opt_einsum.enabled = False
    try:
        torch.onnx.export(Endpoint().eval(), tuple(examples), str(target),
                          input_names=list(inputs), output_names=output_names,
                          opset_version=opset_version, dynamo=True,
                          dynamic_shapes=(tuple(dynamic),), verbose=False)
    finally:
        opt_einsum.enabled = was_enabled
        model.train(was_training)


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


def _is_spec_sequence(value):
    """A list/tuple of specs (Keras' `input_signature=[spec]`), not a shape tuple."""
    return isinstance(value, (tuple, list)) and bool(value) and all(
        not (d is None or isinstance(d, int)) for d in value
    )


def _serving_inputs(model, input_signature):
    if input_signature is not None:
        if isinstance(input_signature, Mapping):
            return {name: _input_spec(spec, name) for name, spec in input_signature.items()}
        if _is_spec_sequence(input_signature):
            specs = list(input_signature)
            if len(specs) == 1 and _is_spec_sequence(specs[0]):  # Keras' [[a, b]]
                specs = list(specs[0])
            if len(specs) == 1:
                return {"images": _input_spec(specs[0], "images")}
            names = [getattr(spec, "name", None) or f"input_{i}" for i, spec in enumerate(specs)]
            return {name: _input_spec(spec, name) for name, spec in zip(names, specs)}
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


def _with_signature(model, endpoint, input_signature):
    """A hook's `serving_default` with the input specs of `input_signature`."""
    fn, inputs = endpoint
    given = _serving_inputs(model, input_signature)
    if len(given) != len(inputs):
        raise ValueError(
            f"`input_signature` has {len(given)} input(s) ({', '.join(given)}), but "
            f"{type(model).__name__}'s serving_default takes {len(inputs)}: "
            f"{', '.join(inputs)}."
        )
    names = given if isinstance(input_signature, Mapping) else inputs
    return fn, {name: _input_spec(spec, name) for name, spec in zip(names, given.values())}


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
