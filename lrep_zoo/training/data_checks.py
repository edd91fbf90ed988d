"""Checks of the training data that a jit-compiled step cannot make, run by `fit`.

Inside a compiled step (XLA on TensorFlow, `jax.jit`) labels are abstract values: an
out-of-range class trains silently on JAX (the cross-entropy gathers outside the
logits). `checked_fit` checks the data `fit` is given, on every backend:

- concrete labels (NumPy, tensors, lists): dtype, shape and range, before training;
- a `tf.data.Dataset`: dtype and shape from its `element_spec`, before training, and
  the range of every batch's labels inside the pipeline (an assertion mapped over
  the dataset, which draws nothing from it: seeded shuffles and augmentations are
  unchanged); a bad batch stops `fit` with the same `ValueError`.
- Python generators, `keras.utils.PyDataset` and other iterables are not checked.

The images of a `tf.data.Dataset` are checked the same way against a model's input
contract (`guard_image_dataset`, used by `lrep_zoo.inputs.ImageInputsMixin`): dtype and
shape from the `element_spec`, the values of the first batch of each pass inside the
pipeline; `raise_data_errors` turns the pipeline's error back into a `ValueError`.

It also warns when a model with `BatchNormalization` would train on a batch of one
sample (degenerate batch statistics).

A model opts in by overriding `fit`:

```python
import keras
import lrep_zoo
from lrep_zoo.training.data_checks import LabelSpec, checked_fit

class Classifier(keras.Sequential):
    def labels_to_check(self, y):
        return [(LabelSpec("y", 10, "10 logits"), y)]

    def fit(self, *args, **kwargs):
        return checked_fit(self, super().fit, args, kwargs, self.labels_to_check)

x, y = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (N, 28, 28, 1), int labels
x, y = x[:64].astype("float32") / 255, y[:64]
model = Classifier([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, y, batch_size=32, epochs=1, verbose=0)
try:
    model.fit(x, y + 10, epochs=1, verbose=0)        # labels 10..19: stopped before training
except ValueError as e:
    print(e)
```
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import warnings
from typing import Callable

import keras
import numpy as np

# Marks the assertion messages of the dataset check, so that `checked_fit` can turn
# the backend's error back into the ValueError of the concrete check.
_MARKER = "lrep_zoo label check: "
_MARKED = re.compile(re.escape(_MARKER) + r"([^\]]*)")
# The image checks' messages hold brackets ("[0, 1]"): they end with their own mark.
_IMAGE_MARKER, _IMAGE_END = "lrep_zoo image check: ", " (end of lrep_zoo image check)"
_IMAGE_MARKED = re.compile(re.escape(_IMAGE_MARKER) + r"(.*?)" + re.escape(_IMAGE_END), re.S)


@dataclasses.dataclass(frozen=True)
class LabelSpec:
    """What one label array must hold.

    Args:
        name: The labels' name in messages (`"y"`, `"z"`).
        num_classes: Labels are class indices in `0..num_classes - 1`.
        source: Where `num_classes` comes from, for messages (`"num_classes_y=38"`).
        unlabelled: Negative values mark unlabelled samples and are allowed.
    """

    name: str
    num_classes: int
    source: str = ""
    unlabelled: bool = False

    def allowed(self) -> str:
        text = f"{self.name} must be in 0..{self.num_classes - 1}"
        if self.source:
            text += f" ({self.source})"
        if self.unlabelled:
            text += ", or negative for an unlabelled sample"
        return text


def _spec_errors(owner: str, spec: LabelSpec, dtype, shape) -> str | None:
    """The dtype/shape problem of labels with this `dtype` and `shape` (or None), if any."""
    if shape is not None:
        expected = (
            f"{owner}: {spec.name} labels must be class indices of shape (batch,) or "
            "(batch, 1)"
        )
        if len(shape) == 2 and shape[1] is not None and shape[1] > 1:
            return (
                f"{expected}, got shape {shape}; one-hot labels? Pass "
                f"argmax(labels, axis=-1) as integers."
            )
        if len(shape) not in (1, 2):
            return f"{expected}, got shape {shape}."
    if not np.issubdtype(np.dtype(dtype), np.integer):
        return (
            f"{owner}: {spec.name} labels must be integer class indices, got dtype "
            f"{np.dtype(dtype).name}; cast them, e.g. labels.astype('int32')."
        )
    return None


def _range_templates(owner: str, spec: LabelSpec) -> tuple[str, str]:
    """Messages for a too-large and a negative label, with `{}` for the value."""
    high = f"{owner}: {spec.name} label {{}} is out of range: {spec.allowed()}."
    low = f"{owner}: {spec.name} label {{}} is negative: {spec.allowed()}."
    return high, low


def check_labels(owner: str, spec: LabelSpec, labels) -> None:
    """Raises a `ValueError` naming the problem if concrete `labels` break `spec`."""
    try:
        array = np.asarray(labels)
    except (TypeError, RuntimeError):  # e.g. a tensor on an accelerator
        array = np.asarray(keras.ops.convert_to_numpy(labels))
    error = _spec_errors(owner, spec, array.dtype, tuple(array.shape))
    if error:
        raise ValueError(error)
    if array.size == 0:
        return
    high, low = _range_templates(owner, spec)
    if int(array.max()) >= spec.num_classes:
        raise ValueError(high.format(int(array.max())))
    if not spec.unlabelled and int(array.min()) < 0:
        raise ValueError(low.format(int(array.min())))


def _owner(model) -> str:
    return type(model).__name__


def _is_dataset(data) -> bool:
    import tensorflow as tf

    return isinstance(data, tf.data.Dataset)


def _guard_dataset(model, dataset, labels_to_check):
    """`dataset` with its label specs checked now and its label ranges per batch."""
    import tensorflow as tf

    owner = _owner(model)
    element_spec = dataset.element_spec
    _, y_spec, _ = keras.utils.unpack_x_y_sample_weight(_as_tuple(element_spec))
    checks = [] if y_spec is None else labels_to_check(y_spec)
    if not checks:
        return dataset
    for spec, label_spec in checks:
        shape = None if label_spec.shape.rank is None else tuple(label_spec.shape)
        error = _spec_errors(owner, spec, label_spec.dtype.as_numpy_dtype, shape)
        if error:
            raise ValueError(error)
    is_tuple = isinstance(element_spec, tuple)

    def guard(*element):
        data = element if is_tuple else element[0]
        _, y, _ = keras.utils.unpack_x_y_sample_weight(_as_tuple(data))
        asserts = []
        for spec, labels in labels_to_check(y):
            labels = tf.cast(tf.reshape(labels, (-1,)), tf.int64)
            high, low = _range_templates(owner, spec)
            top = tf.reduce_max(labels)  # the lowest int64 for an empty batch
            asserts.append(tf.debugging.Assert(
                top < spec.num_classes, [tf.strings.format(_MARKER + high, [top])]
            ))
            if not spec.unlabelled:
                bottom = tf.reduce_min(labels)
                asserts.append(tf.debugging.Assert(
                    bottom >= 0, [tf.strings.format(_MARKER + low, [bottom])]
                ))
        with tf.control_dependencies(asserts):
            return tf.nest.map_structure(tf.identity, data)

    return dataset.map(guard)


def _as_tuple(data):
    return tuple(data) if isinstance(data, list) else data


def _check_validation(model, data, labels_to_check):
    if _is_dataset(data):
        return _guard_dataset(model, data, labels_to_check)
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        for spec, labels in labels_to_check(data[1]):
            check_labels(_owner(model), spec, labels)
    return data


def guard_image_dataset(dataset, image_shape, input_range: str = "0..255",
                        owner: str = "The model"):
    """`dataset` with its images checked against a model's input contract.

    The dtype and shape of the images (the `x` of each element) are checked now, from
    the `element_spec`; for float images, the values of the first batch of each pass
    (each new iterator) inside the pipeline, by an assertion mapped over the dataset
    (nothing is drawn from it). The error of a bad batch becomes the `ValueError` of the
    array check under `raise_data_errors`. Elements whose `x` is not one tensor pass
    unchecked.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from lrep_zoo.training.data_checks import guard_image_dataset

    ds = tf.data.Dataset.from_tensor_slices(np.zeros((4, 28, 28, 1), "uint8")).batch(2)
    ds = guard_image_dataset(ds, (28, 28, 1), "0..255", owner="MyModel.fit")
    ```
    """
    import tensorflow as tf

    from lrep_zoo import inputs

    element_spec = dataset.element_spec
    spec = keras.utils.unpack_x_y_sample_weight(_as_tuple(element_spec))[0]
    if not isinstance(spec, tf.TensorSpec):
        return dataset
    if spec.shape.rank is not None:
        inputs.check_shape((None, *tuple(spec.shape)[1:]), image_shape, owner)
    dtype = np.dtype(spec.dtype.as_numpy_dtype)
    hint = inputs.DATASET_HINT[input_range]
    if dtype.kind not in "uif":
        raise ValueError(f"{owner} expects numeric images (uint8 or float), got dtype "
                         f"{dtype.name} (the dataset's element_spec).")
    if input_range == "0..1" and dtype.itemsize == 1:
        raise ValueError(inputs.looks_0_255_message(owner, dtype, "255 (a uint8 dataset)", hint))
    if dtype.kind != "f":
        return dataset
    if input_range == "0..255":
        message = inputs.unit_floats_message(owner + " (first batch)", dtype, "{}", "{}", hint)
    else:
        message = inputs.looks_0_255_message(owner + " (first batch)", dtype, "{}", hint)

    def guard(index, element):
        images = keras.utils.unpack_x_y_sample_weight(_as_tuple(element))[0]
        values = tf.cast(images, tf.float32)
        low, high = tf.reduce_min(values), tf.reduce_max(values)
        if input_range == "0..255":
            bad, shown = (high > 0.0) & (high <= 1.0), [low, high]
        else:
            bad, shown = high > inputs._UNIT_RANGE_LIMIT, [high]
        assertion = tf.debugging.Assert(
            (index > 0) | tf.logical_not(bad),
            [tf.strings.format(_IMAGE_MARKER + message + _IMAGE_END, shown)])
        with tf.control_dependencies([assertion]):
            return tf.nest.map_structure(tf.identity, element)

    return dataset.enumerate().map(guard)


class _StateSnapshot(keras.callbacks.Callback):
    """Records the fit state when `fit` / `evaluate` / `predict` begin: on JAX the
    optimizer and metrics are built then and their values still attached."""

    def __init__(self):
        super().__init__()
        self.before = None

    def _snapshot(self, logs=None):
        self.before = _jax_state(self.model)

    on_train_begin = on_test_begin = on_predict_begin = _snapshot


def raise_data_errors(model, run: Callable, args=(), kwargs=None):
    """`run(*args, **kwargs)` (`fit`, `evaluate` or `predict`), with the error of a
    `guard_image_dataset` check raised as its `ValueError`; on JAX, the model's state is
    made usable again first (as after a label error: `_restore_jax_state`)."""
    kwargs = dict(kwargs or {})
    snapshot = None
    if keras.backend.backend() == "jax" and len(args) <= 5:  # `callbacks` not positional
        snapshot = _StateSnapshot()
        callbacks = kwargs.get("callbacks")
        if callbacks is None or isinstance(callbacks, (list, tuple)):
            kwargs["callbacks"] = [*(callbacks or []), snapshot]
        else:
            snapshot = None
    before = _jax_state(model) if snapshot is not None else None
    try:
        return run(*args, **kwargs)
    except Exception as e:  # the dataset's assertion, raised by the backend's iterator
        match = _IMAGE_MARKED.search(str(e))
        if match is None or isinstance(e, ValueError):
            raise
        if snapshot is not None:
            _restore_jax_state(model, snapshot.before or before)
        # The backend prints the assertion's string with escaped quotes.
        raise ValueError(match.group(1).replace("\\'", "'").strip()) from None


def has_batch_normalization(model) -> bool:
    """Whether `model` or a model nested in it has a `BatchNormalization` layer."""
    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in _layers(model))


def _layers(layer):
    yield layer
    if isinstance(layer, keras.Model):
        for sub in layer.layers:
            yield from _layers(sub)


def _warn_batch_of_one(model, arguments):
    x = arguments.get("x")
    message = None
    if _is_dataset(x):
        import tensorflow as tf

        first = tf.nest.flatten(x.element_spec)[0]
        if first.shape.rank and first.shape[0] == 1:
            message = "batches of 1 sample (the dataset's batch size is 1)"
    elif x is not None and _is_arrays(x):
        first = keras.tree.flatten(x)[0]
        n = first.shape[0] if hasattr(first, "shape") else len(first)
        n = int(math.floor(n * (1.0 - float(arguments.get("validation_split") or 0.0))))
        batch_size = arguments.get("batch_size") or 32
        if min(batch_size, n) == 1:
            message = f"batch size 1 (batch_size={batch_size}, {n} training samples)"
        elif n % batch_size == 1:
            message = (
                f"a last batch of 1 sample in every epoch ({n} training samples, "
                f"batch_size={batch_size})"
            )
    if message:
        warnings.warn(
            f"{_owner(model)} has BatchNormalization layers and would train on {message}: "
            "the statistics of a one-sample batch are degenerate (zero variance). Use a "
            "batch size of at least 2 (and drop or avoid a one-sample last batch).",
            stacklevel=4,
        )


def _is_arrays(x) -> bool:
    """Concrete arrays or tensors (or structures of them), not data `fit` iterates."""
    return isinstance(x, (list, tuple, dict)) or hasattr(x, "shape")


def checked_fit(model, fit: Callable, args, kwargs, labels_to_check: Callable | None = None):
    """Checks the data of `fit(*args, **kwargs)` (see the module docstring), then runs it.

    Args:
        model: The model being trained (for messages and the BatchNorm check).
        fit: The `fit` to run (`super().fit` of the model).
        args, kwargs: The arguments of `fit`.
        labels_to_check: `labels_to_check(y) -> [(LabelSpec, labels), ...]`: the label
            arrays of `y` (as `fit` receives it, or a dataset element's labels) and
            what each must hold; `None` or an empty list: no label check.
    """
    # Bound against keras.Model.fit: `fit` may be a mixin's `fit(*args, **kwargs)`.
    bound = inspect.signature(keras.Model.fit).bind(model, *args, **kwargs)
    arguments = bound.arguments
    x, y = arguments.get("x"), arguments.get("y")
    validation = arguments.get("validation_data")
    guarded = labels_to_check is not None and (_is_dataset(x) or _is_dataset(validation))
    if labels_to_check is not None:
        if _is_dataset(x):
            arguments["x"] = _guard_dataset(model, x, labels_to_check)
        elif y is not None and _is_arrays(x):
            for spec, labels in labels_to_check(y):
                check_labels(_owner(model), spec, labels)
        if validation is not None:
            arguments["validation_data"] = _check_validation(model, validation, labels_to_check)
    if has_batch_normalization(model):
        _warn_batch_of_one(model, arguments)
    before = _jax_state(model) if guarded and keras.backend.backend() == "jax" else None
    try:
        return fit(*bound.args[1:], **bound.kwargs)
    except Exception as e:  # the dataset's assertion, raised by the backend's iterator
        match = _MARKED.search(str(e))
        if match is None or isinstance(e, ValueError):
            raise
        if before is not None:
            _restore_jax_state(model, before)
        raise ValueError(match.group(1).strip()) from None


def _jax_state(model):
    """`(variable, value)` for the whole fit state (JAX arrays: references, no copy)."""
    variables, seen = [], set()
    optimizer = getattr(model, "optimizer", None)
    optimizer = optimizer.variables if optimizer is not None else []
    for v in [*model.variables, *model.metrics_variables, *optimizer]:
        if id(v) not in seen:
            seen.add(id(v))
            try:
                variables.append((v, v.value))
            except Exception:  # detached (inside a JAX fit): nothing to keep
                pass
    return variables


def _restore_jax_state(model, before):
    """Makes the model usable after a data error inside JAX's `fit`.

    JAX's `fit` detaches the variables' values while it runs and reattaches them at
    the end of each epoch; an error from the data leaves them detached. After a
    completed step, `jax_state_sync` reattaches that step's state; at the first
    batch (no step ran, so nothing was donated) the values from before `fit` are.
    Best effort: the `ValueError` is raised whatever this manages.
    """
    try:
        model.jax_state_sync()
    except Exception:
        pass
    for variable, value in before:
        try:
            variable.value  # noqa: B018 (raises while detached)
        except Exception:
            try:
                variable.assign(value)
            except Exception:  # a buffer donated to a completed step
                pass
