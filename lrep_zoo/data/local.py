"""Datasets read from a folder of npz files, for machines without internet.

Layout (the one of the project's shared data folder):

    DATA_DIR/
      mnist/        any *.npz holding `x_train`/`y_train` and/or `x_test`/`y_test`
      cifar10/      ...
      <name>.npz    also accepted (e.g. Keras' own `~/.keras/datasets/mnist.npz`)

`x_<split>` is uint8, `(N, H, W, C)` or `(N, H, W)`; `y_<split>` holds integer
labels. When several files hold the same split, the one with the most rows wins.
The folder comes from `data_dir=` or from the `LREP_ZOO_DATA_DIR` environment variable.
"""

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from lrep_zoo.data import catalog
from lrep_zoo.data import splits as splits_lib
from lrep_zoo.data.errors import DatasetNotFoundError


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """`data_dir` if given, else `$LREP_ZOO_DATA_DIR`, else `None`."""
    if data_dir is None:
        data_dir = os.environ.get(catalog.ENV_DATA_DIR) or None
    return None if data_dir is None else Path(data_dir).expanduser()


def _candidates(name, root):
    if root is None or not root.is_dir():
        return []
    files = sorted((root / name).glob("*.npz")) if (root / name).is_dir() else []
    single = root / f"{name}.npz"
    return files + ([single] if single.is_file() else [])


def _num_rows(path, key):
    """Rows of array `key` in the npz at `path`, or -1; reads only the header."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape = np.lib.format.read_array_header_1_0(f)[0]
            else:
                shape = np.lib.format.read_array_header_2_0(f)[0]
    except (KeyError, OSError, ValueError, zipfile.BadZipFile):
        return -1
    return shape[0] if shape else -1


def find_npz(name: str, split: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The npz file that holds `x_<split>` for dataset `name`, or `None`."""
    base, _, _ = splits_lib.parse_split(split)
    best, best_rows = None, -1
    for path in _candidates(name, resolve_data_dir(data_dir)):
        rows = _num_rows(path, f"x_{base}")
        if rows > best_rows:
            best, best_rows = path, rows
    return best


def available_splits(name: str, data_dir: str | os.PathLike | None = None) -> list[str]:
    """Split names that the npz folder holds for `name`."""
    found = set()
    for path in _candidates(name, resolve_data_dir(data_dir)):
        try:
            with zipfile.ZipFile(path) as zf:
                keys = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
        except (OSError, zipfile.BadZipFile):
            continue
        found.update(k[2:] for k in keys if k.startswith("x_"))
    return sorted(found)


def load_npz(
    name: str, split: str, data_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Reads `(x uint8 NHWC, y int64)` of `name`/`split` from the npz folder.

    Images without a channel axis get one. A missing `y_<split>` gives labels -1.
    Warns when the file holds fewer rows than the official split.
    """
    path = find_npz(name, split, data_dir)
    base, _, _ = splits_lib.parse_split(split)
    if path is None:
        root = resolve_data_dir(data_dir)
        where = (
            f"data_dir=None and ${catalog.ENV_DATA_DIR} is unset"
            if root is None
            else f"looked in {root / name}/*.npz and {root / name}.npz"
        )
        raise DatasetNotFoundError(
            f"No npz file holding `x_{base}` for {name!r} ({where}). {npz_layout_help(name)}"
        )
    with np.load(path, allow_pickle=False) as npz:
        x = npz[f"x_{base}"]
        y = npz[f"y_{base}"] if f"y_{base}" in npz.files else np.full(len(x), -1)
    if x.dtype != np.uint8:
        raise ValueError(f"{path}: `x_{base}` must be uint8, got {x.dtype}.")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"{path}: `x_{base}` must be (N, H, W[, C]), got shape {x.shape}.")
    y = np.asarray(y).astype(np.int64)
    if y.ndim == 2 and y.shape[1] == 1:  # Keras' cifar10 stores (N, 1)
        y = y[:, 0]
    if len(y) != len(x):
        raise ValueError(f"{path}: {len(x)} images but {len(y)} labels for split {base!r}.")
    info = catalog.DATASETS.get(name)
    official = info.splits.get(base) if info else None
    if official and len(x) < official:
        warnings.warn(
            f"{path.name} holds {len(x)} of the {official} official {name}/{base} images "
            "(partial copy): numbers are not comparable with published results.",
            stacklevel=3,  # the caller of load / load_arrays
        )
    index = splits_lib.split_slice(split, len(x))
    return x[index], y[index]


def npz_layout_help(name: str) -> str:
    """One-paragraph description of the npz layout, for error messages."""
    return (
        f"For offline use, set ${catalog.ENV_DATA_DIR}=DIR (or pass data_dir=DIR) where "
        f"DIR/{name}/*.npz holds uint8 images `x_train`, `x_test` ((N,H,W,C) or (N,H,W)) and "
        f"integer labels `y_train`, `y_test` (DIR/{name}.npz also works)."
    )
