"""`load` and `load_arrays`: every dataset behind one small, TFDS-like API."""

import os

import numpy as np
import tensorflow as tf

from lrep_zoo.data import catalog
from lrep_zoo.data import local
from lrep_zoo.data import pipeline
from lrep_zoo.data import procedural
from lrep_zoo.data import splits as splits_lib
from lrep_zoo.data import tfds_source

SOURCES = ("auto", "npz", "tfds")
_SHAPES_SEEDS = {"train": 0, "test": 1}
_EVAL_SPLITS = ("test", "validation")


def _shapes_arrays(split):
    base, _, _ = splits_lib.parse_split(split)
    if base not in _SHAPES_SEEDS:
        raise ValueError(f"'shapes' has splits {sorted(_SHAPES_SEEDS)}, got {split!r}.")
    num = catalog.DATASETS["shapes"].splits[base]
    x, y = procedural.shapes(num, size=28, seed=_SHAPES_SEEDS[base])
    index = splits_lib.split_slice(split, num)
    return x[index], y[index]


def _resolve_source(name, split, source, data_dir):
    """`("procedural" | "npz" | "tfds", note)`; `note` says what `auto` checked."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    splits_lib.parse_split(split)  # validate early
    if catalog.dataset_info(name).tfds_name is None:
        if source != "auto":
            raise ValueError(f"{name!r} is procedural: use source='auto', got {source!r}.")
        return "procedural", ""
    if source == "auto":
        if local.find_npz(name, split, data_dir) is not None:
            return "npz", ""
        root = local.resolve_data_dir(data_dir)
        checked = (
            f"The npz folder {root} has no {name!r} split {split!r} either."
            if root is not None
            else f"No npz folder is configured (data_dir=None, ${catalog.ENV_DATA_DIR} unset)."
        )
        return "tfds", checked
    return source, ""


def load_arrays(
    name: str,
    split: str = "train",
    *,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Loads a whole split into memory as numpy arrays.

    Example:

    ```python
    import lrep_zoo

    x, y = lrep_zoo.data.load_arrays("mnist", "test")
    x.shape, x.dtype, y.dtype  # ((10000, 28, 28, 1), dtype('uint8'), dtype('int64'))
    ```

    Args: as in `load`.

    Returns:
        `(x, y)`: `x` uint8 `(N, H, W, C)`, `y` int64 `(N,)` class labels
        (`(N, 40)` binary attributes for `celeb_a`; -1 where unlabelled).
    """
    info = catalog.dataset_info(name)
    kind, note = _resolve_source(name, split, source, data_dir)
    if kind == "procedural":
        return _shapes_arrays(split)
    if kind == "npz":
        return local.load_npz(name, split, data_dir)
    return tfds_source.load_arrays(info.name, split, data_dir=data_dir, npz_note=note)


def load(
    name: str,
    split: str = "train",
    *,
    batch_size: int | None = 128,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    shuffle: bool | None = None,
    seed: int = 0,
    repeat: bool = False,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    drop_remainder: bool = False,
    with_labels: bool = True,
) -> tf.data.Dataset:
    """Loads an image dataset as a batched, normalised `tf.data.Dataset`.

    Datasets: `mnist`, `cifar10`, `svhn_cropped`, `stl10`, `smallnorb`,
    `celeb_a` (through TFDS or an npz folder) and `shapes` (procedural, no
    download). Images are float32 HWC in `value_range`; MNIST gets a
    channel axis, `(28, 28, 1)`. Labels are int64 class ids (`smallnorb`:
    `label_category`; `celeb_a`: the 40 binary attributes as an int64 vector,
    in `dataset_info("celeb_a").label_names` order).

    Where the data come from (`source`):

    - `"npz"`: a folder laid out as `DIR/<name>/*.npz` with `x_<split>`,
      `y_<split>` arrays; `DIR` is `data_dir`, else `$LREP_ZOO_DATA_DIR`.
    - `"tfds"`: `tfds` with `data_dir` as TFDS data_dir (`None`: TFDS'
      default, `$TFDS_DATA_DIR` or `~/tensorflow_datasets`); downloads and
      prepares the dataset when needed.
    - `"auto"`: the npz folder when it holds the split, else TFDS.

    Without network and without prepared data, a `DatasetNotFoundError`
    comes within seconds and says how to provide the files.

    Example:

    ```python
    import lrep_zoo

    ds = lrep_zoo.data.load("cifar10", "train", batch_size=64, value_range=(-1, 1))
    for images, labels in ds.take(1):
        print(images.shape, labels.shape)  # (64, 32, 32, 3) (64,)
    ```

    Args:
        name: one of `lrep_zoo.data.list_datasets()`.
        split: a split name, optionally sliced TFDS-style: `"train"`,
            `"test[:1000]"`, `"train[10%:]"`.
        batch_size: examples per batch; `None` for unbatched examples.
        source: `"auto"`, `"npz"` or `"tfds"` (see above).
        data_dir: npz folder and/or TFDS data_dir (see above).
        shuffle: shuffle examples (and TFDS files). Defaults to `True`
            except for the `test` and `validation` splits.
        seed: seed of the shuffle; the same seed gives the same order.
        repeat: repeat forever (for `fit(..., steps_per_epoch=...)`).
        value_range: `(low, high)` for the float32 images, e.g. `(-1, 1)`
            for GANs; `None` keeps uint8.
        drop_remainder: drop the last, smaller batch.
        with_labels: yield `(images, labels)`; `False` yields images only.

    Returns:
        A `tf.data.Dataset`, prefetched.

    Raises:
        ValueError: unknown dataset name, source or split syntax.
        DatasetNotFoundError: the data are neither local nor downloadable.
    """
    info = catalog.dataset_info(name)
    base, _, _ = splits_lib.parse_split(split)
    if shuffle is None:
        shuffle = base not in _EVAL_SPLITS
    kind, note = _resolve_source(name, split, source, data_dir)
    if kind == "tfds":
        ds = tfds_source.as_dataset(
            info.name, split, data_dir=data_dir, shuffle_files=shuffle, seed=seed, npz_note=note
        )
        buffer = tfds_source.shuffle_buffer_size(info.name)
    else:
        if kind == "procedural":
            x, y = _shapes_arrays(split)
        else:
            x, y = local.load_npz(name, split, data_dir)
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        buffer = max(1, len(x))
    return pipeline.finalize(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        shuffle_buffer=buffer,
        seed=seed,
        repeat=repeat,
        value_range=value_range,
        drop_remainder=drop_remainder,
        with_labels=with_labels,
    )
