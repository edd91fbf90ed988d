"""lrep_zoo's input contract: one place for what every model takes as images.

Every lrep_zoo model with image inputs takes them **as the dataset gives them**:
uint8 or float in 0..255, shape `(N, H, W, C)`, or `(N, H, W)` for grayscale, and
rescales inside (`lrep_zoo.layers.ImageRescaling`; DualDis also resizes). Images a
model **returns** (reconstructions, decodes, samples, edits) are float32 in [0, 1].
`fit` takes the same images as `predict`.

A model's `input_range` config says which range it takes: `"0..255"` (every preset,
and DualDis always) or `"0..1"` (the default of `DenoisingAutoEncoder`, `VAE`, `GAN`,
`TemperedGAN` and `HybridNet` built by hand, so that saved files and code written
for images in [0, 1] keep working).

Eager entry points (`predict`, `fit`, `evaluate`, `encode`, `classify`, `edit`,
`swap`, `reconstruct`, ...) check concrete inputs with `check_images`: a wrong rank,
channel count or size, a non-numeric dtype, or values that look like [0, 1] floats
where 0..255 is expected (a float batch whose largest value is in (0, 1]) raise a
`ValueError` naming what was expected and what came. Symbolic inputs (inside
`fit`'s compiled step, an export trace) get the static shape checks only.

Example:

```python
import numpy as np
from lrep_zoo.inputs import check_images
images = check_images(np.zeros((2, 28, 28), "uint8"), (28, 28, 1), owner="MyModel.predict")
images.shape  # (2, 28, 28, 1)
```
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

INPUT_RANGES = ("0..255", "0..1")
# A float batch in a "0..1" model whose largest value exceeds this looks like 0..255
# (noisy [0, 1] images, e.g. a DAE's corrupted inputs, stay well below it).
_UNIT_RANGE_LIMIT = 10.0


def check_input_range(input_range: str) -> str:
    """`input_range` if it is one of `INPUT_RANGES`, else a `ValueError`."""
    if input_range not in INPUT_RANGES:
        raise ValueError(
            f"input_range must be one of {INPUT_RANGES} ('0..255': images as the dataset "
            f"gives them, uint8 or float; '0..1': already scaled), got {input_range!r}."
        )
    return input_range


def expected_shapes(image_shape: Sequence[int]) -> str:
    """The accepted batch shapes of `image_shape`, for messages: `(N, 28, 28, 1) or (N, 28, 28)`."""
    shape = tuple(int(d) for d in image_shape)
    text = "(N, " + ", ".join(str(d) for d in shape) + ")"
    if len(shape) == 3 and shape[-1] == 1:
        text += " or (N, " + ", ".join(str(d) for d in shape[:2]) + ")"
    return text


def check_shape(shape, image_shape: Sequence[int], owner: str = "The model") -> None:
    """Checks a batch shape against `image_shape` (rank, size, channels); `None` dims pass."""
    image_shape = tuple(int(d) for d in image_shape)
    given = tuple(_static_dim(d) for d in shape)
    expected = expected_shapes(image_shape)
    grayscale = len(image_shape) == 3 and image_shape[-1] == 1
    single = given == image_shape or (grayscale and given == image_shape[:2])
    full = (*given, 1) if grayscale and len(given) == len(image_shape) else given
    if single or len(full) != len(image_shape) + 1:
        hint = " (one image? pass a batch: images[None])" if single else ""
        raise ValueError(
            f"{owner} expects a batch of images of shape {expected}, got shape {given} "
            f"(rank {len(given)}){hint}."
        )
    got = full[1:]
    if len(image_shape) == 3:
        size, got_size = image_shape[:2], got[:2]
        if any(g is not None and g != e for g, e in zip(got_size, size)):
            raise ValueError(
                f"{owner} expects {size[0]}x{size[1]} images (shape {expected}), got "
                f"{got_size[0]}x{got_size[1]} images (shape {given})."
            )
        if got[2] is not None and got[2] != image_shape[2]:
            raise ValueError(
                f"{owner} expects images with {image_shape[2]} channel(s) (shape {expected}), "
                f"got {got[2]} channels (shape {given})."
            )
    elif any(g is not None and g != e for g, e in zip(got, image_shape)):
        raise ValueError(f"{owner} expects images of shape {expected}, got shape {given}.")


def _static_dim(d):
    # None, or a symbolic dimension (JAX export's batch), passes every check.
    try:
        return None if d is None else int(d)
    except Exception:
        return None


def check_values(values: np.ndarray, input_range: str = "0..255", owner: str = "The model") -> None:
    """Checks the dtype and range of concrete images (see the module docstring)."""
    values = np.asarray(values)
    if values.dtype.name == "bfloat16":  # Keras casts the inputs of a mixed_bfloat16 model
        values = values.astype("float32")
    kind = values.dtype.kind
    if kind not in "uif":
        raise ValueError(
            f"{owner} expects numeric images (uint8 or float), got dtype {values.dtype}."
        )
    if values.size == 0:
        return
    if input_range == "0..255":
        if kind == "f":
            low, high = float(np.nanmin(values)), float(np.nanmax(values))
            if 0.0 < high <= 1.0:
                raise ValueError(unit_floats_message(owner, values.dtype, f"{low:.3g}",
                                                     f"{high:.3g}"))
        return
    if kind in "ui" and values.dtype.itemsize == 1 or (
        kind in "uif" and float(np.nanmax(values)) > _UNIT_RANGE_LIMIT
    ):
        raise ValueError(looks_0_255_message(owner, values.dtype,
                                             f"{float(np.nanmax(values)):.4g}"))


def unit_floats_message(owner: str, dtype, low: str, high: str, hint: str = "") -> str:
    """The error for [0, 1]-looking floats given to a `"0..255"` model (`low`, `high`:
    the formatted extremes, or placeholders for a message completed in a pipeline)."""
    return (
        f"{owner} takes images as the dataset gives them, uint8 or float in 0..255, but got "
        f"{np.dtype(dtype).name} values in [{low}, {high}], which look already scaled to "
        f"[0, 1]: pass the unscaled images (x * 255, or the dataset's uint8 arrays{hint}); the "
        f"model rescales inside."
    )


def looks_0_255_message(owner: str, dtype, high: str, hint: str = "") -> str:
    """The error for 0..255-looking images given to a `"0..1"` model (see above)."""
    return (
        f"{owner} was built with input_range='0..1' and expects float images in [0, 1], but "
        f"got {np.dtype(dtype).name} values up to {high}, which look like 0..255: divide by "
        f"255{hint}, or use a model built with input_range='0..255' (every preset is)."
    )


# What `lrep_zoo.data.load` users change: its images are float32 in [0, 1] by default.
DATASET_HINT = {
    "0..255": ": lrep_zoo.data.load(..., value_range=None) keeps them uint8",
    "0..1": " (lrep_zoo.data.load's default value_range=(0, 1) gives [0, 1] floats)",
}


def check_images(images, image_shape: Sequence[int], input_range: str = "0..255",
                 owner: str = "The model"):
    """Checks a batch of images against a model's contract; returns it ready to feed.

    Concrete inputs (NumPy, lists, eager tensors) get every check; NumPy arrays and
    lists come back as float32 arrays with the channel axis (values unchanged: one
    dtype and shape per batch size, so eager calls do not retrace), tensors unchanged
    (the model's `ImageRescaling` adds the axis; no value is ever baked into a trace).
    Symbolic inputs get the shape checks and come back unchanged.

    Args:
        images: The batch.
        image_shape: `(H, W, C)` the model takes (a grayscale `(H, W, 1)` also
            accepts `(N, H, W)`).
        input_range: `"0..255"` or `"0..1"` (the model's `input_range`).
        owner: `"Class.method"`, named in the messages.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.inputs import check_images
    check_images(np.zeros((2, 28, 28), "uint8"), (28, 28, 1)).shape  # (2, 28, 28, 1), float32
    ```
    """
    from lrep_zoo.training.tensor_values import concrete_numpy

    image_shape = tuple(int(d) for d in image_shape)
    values = concrete_numpy(images)
    if values is None:
        shape = getattr(images, "shape", None)
        if shape is not None:  # the batch dimension is never read: a trace keeps it dynamic
            check_shape((None, *tuple(shape)[1:]), image_shape, owner)
        return images
    check_shape(values.shape, image_shape, owner)
    check_values(values, input_range, owner)
    if not isinstance(images, (np.ndarray, list, tuple)):
        return images  # a backend tensor: checked, left as it is
    if values.ndim == len(image_shape):
        values = values[..., None]
    return values.astype("float32", copy=False)


def is_array_input(x) -> bool:
    """Whether `fit` / `predict` data `x` is an array (checked here), not a dataset,
    generator or `PyDataset` (see `checked_image_data`)."""
    if isinstance(x, np.ndarray):
        return True
    return hasattr(x, "shape") and hasattr(x, "dtype") and not hasattr(x, "element_spec")


def checked_image_data(data, image_shape: Sequence[int], input_range: str = "0..255",
                       owner: str = "The model"):
    """`fit` / `evaluate` / `predict` data with its images checked against the contract.

    - Arrays and tensors: `check_images` (every check, now).
    - A `tf.data.Dataset`: the images' dtype and shape from its `element_spec`, now; the
      values of the first batch of each pass, inside the pipeline (nothing is drawn from
      the dataset: seeded shuffles are unchanged). A bad first batch stops `fit` with the
      `ValueError` of the array check, which also says how `lrep_zoo.data.load` gives
      images in the model's range (`value_range=None` for `"0..255"`).
    - `keras.utils.PyDataset`s, generators and other iterables: unchecked (reading a
      batch ahead of `fit` would advance a `PyDataset`'s own random draws, e.g.
      `RelightingBatches`' augmentations, and change the training run).

    Example:

    ```python
    import numpy as np
    from lrep_zoo.inputs import checked_image_data
    checked_image_data(np.zeros((2, 28, 28), "uint8"), (28, 28, 1)).shape  # (2, 28, 28, 1)
    ```
    """
    if is_array_input(data):
        return check_images(data, image_shape, input_range, owner)
    if hasattr(data, "element_spec"):
        from lrep_zoo.training.data_checks import guard_image_dataset

        return guard_image_dataset(data, image_shape, input_range, owner)
    return data


class ImageInputsMixin:
    """Input checks of `fit`, `evaluate` and `predict` for a `keras.Model` subclass.

    The model sets `image_shape` and `input_range`; `image_data_methods` lists the
    Keras methods whose `x` is images (a GAN's `predict` takes latent codes).
    `self.checked_images(x, "encode")` is the check for the model's own entry points.

    Example:

    ```python
    import keras
    import numpy as np
    from lrep_zoo.inputs import ImageInputsMixin

    class MyModel(ImageInputsMixin, keras.Model):
        image_shape, input_range = (28, 28, 1), "0..255"

        def __init__(self):
            super().__init__()
            self.encoder = keras.Sequential([keras.layers.Rescaling(1 / 255),
                                             keras.layers.Flatten(), keras.layers.Dense(8)])

        def call(self, images):
            return self.encoder(images)

        def encode(self, images):
            return self.encoder(self.checked_images(images, "encode"))

    model = MyModel()
    codes = model.encode(np.zeros((2, 28, 28), "uint8"))  # (2, 8)
    try:
        model.predict(np.full((2, 28, 28, 1), 0.5, "float32"), verbose=0)
    except ValueError as e:  # [0, 1] floats where 0..255 is expected
        print(e)
    ```
    """

    image_data_methods = ("fit", "evaluate", "predict")

    def checked_images(self, images, method: str):
        """`check_images` against this model's `image_shape` and `input_range`."""
        return check_images(
            images, self.image_shape, getattr(self, "input_range", "0..255"),
            owner=f"{type(self).__name__}.{method}",
        )

    def _checked_data(self, method, args, kwargs):
        if method not in self.image_data_methods:
            return args, kwargs
        check = lambda data, what: checked_image_data(  # noqa: E731
            data, self.image_shape, getattr(self, "input_range", "0..255"),
            owner=f"{type(self).__name__}.{what}")
        if args:
            args = (check(args[0], method), *args[1:])
        elif kwargs.get("x") is not None:
            kwargs = {**kwargs, "x": check(kwargs["x"], method)}
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)) and validation:
            validation = (check(validation[0], method + " (validation_data)"), *validation[1:])
        elif validation is not None:
            validation = check(validation, method + " (validation_data)")
        if validation is not None:
            kwargs = {**kwargs, "validation_data": validation}
        return args, kwargs

    def _run_checked(self, method, args, kwargs):
        from lrep_zoo.training.data_checks import raise_data_errors

        run = getattr(super(), method)
        args, kwargs = self._checked_data(method, args, kwargs)
        datasets = [args[0] if args else kwargs.get("x"), kwargs.get("validation_data")]
        if not any(hasattr(d, "element_spec") for d in datasets):
            return run(*args, **kwargs)
        return raise_data_errors(self, run, args, kwargs)

    def fit(self, *args, **kwargs):
        return self._run_checked("fit", args, kwargs)

    def evaluate(self, *args, **kwargs):
        return self._run_checked("evaluate", args, kwargs)

    def predict(self, *args, **kwargs):
        return self._run_checked("predict", args, kwargs)


def input_scale(model) -> float:
    """255.0 for a model that takes 0..255 images (`input_range="0..255"`), else 1.0:
    `images / input_scale(model)` are the model's inputs in [0, 1]."""
    return 255.0 if getattr(model, "input_range", "0..1") == "0..255" else 1.0


def to_model_range(images, model, source: str = "0..255") -> np.ndarray:
    """NumPy `images` in the `source` range ("0..255" or "0..1") as `model` takes them.

    For code that serves models of both ranges (recipes scoring a preset and a model
    built by hand): a no-op when the ranges agree, else `/ 255` or `* 255` in float32.

    Example:

    ```python
    import numpy as np
    import lrep_zoo
    from lrep_zoo.inputs import to_model_range
    dae = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")  # takes 0..255
    to_model_range(np.ones((1, 28, 28, 1), "float32"), dae, source="0..1").max()  # 255.0
    ```
    """
    check_input_range(source)
    target = "0..255" if input_scale(model) == 255.0 else "0..1"
    if source == target:
        return images
    images = np.asarray(images, "float32")
    return images / 255.0 if target == "0..1" else images * 255.0
