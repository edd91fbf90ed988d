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
import zlib
from pathlib import Path

import numpy as np

from lrep_zoo.data import catalog
from lrep_zoo.data import splits as splits_lib
from lrep_zoo.data.errors import DatasetCorruptError
from lrep_zoo.data.errors import DatasetNotFoundError

# What a damaged npz raises: a truncated or overwritten zip, a bad CRC, a broken
# deflate stream, a short read, or `np.load` taking non-zip bytes for a pickle.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)


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


def _corrupt(path, what: str, error: BaseException | None = None) -> DatasetCorruptError:
    detail = f" ({type(error).__name__}: {error})" if error is not None else ""
    return DatasetCorruptError(
        f"{path} is corrupt: {what}{detail}. Copy or download this file again."
    )


def _npz_keys(path) -> list[str]:
    """Array names in the npz at `path`; `DatasetCorruptError` if it is no zip archive."""
    try:
        with zipfile.ZipFile(path) as zf:
            return [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise _corrupt(path, "not a readable npz (zip) archive", e) from e


def _num_rows(path, key):
    """Rows of array `key` in the npz at `path` (-1 if absent); reads only the header.

    Raises:
        DatasetCorruptError: the file is no zip archive, or `key`'s header is damaged.
    """
    if key not in _npz_keys(path):
        return -1
    try:
        with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape = np.lib.format.read_array_header_1_0(f)[0]
            else:
                shape = np.lib.format.read_array_header_2_0(f)[0]
    except _READ_ERRORS as e:
        raise _corrupt(path, f"the header of array `{key}` cannot be read", e) from e
    return shape[0] if shape else -1


def find_npz(name: str, split: str, data_dir: str | os.PathLike | None = None) -> Path | None:
    """The npz file that holds `x_<split>` for dataset `name`, or `None`.

    A damaged candidate file is skipped with a warning when another one holds the
    split, and raised as `DatasetCorruptError` (naming the file) when none does.
    """
    base, _, _ = splits_lib.parse_split(split)
    best, best_rows, corrupt = None, -1, []
    for path in _candidates(name, resolve_data_dir(data_dir)):
        try:
            rows = _num_rows(path, f"x_{base}")
        except DatasetCorruptError as e:
            corrupt.append(e)
            continue
        if rows > best_rows:
            best, best_rows = path, rows
    if best is None and corrupt:
        raise corrupt[0]
    for e in corrupt:
        warnings.warn(f"skipped: {e}", stacklevel=2)
    return best


def available_splits(name: str, data_dir: str | os.PathLike | None = None) -> list[str]:
    """Split names that the npz folder holds for `name` (damaged files are left out)."""
    found = set()
    for path in _candidates(name, resolve_data_dir(data_dir)):
        try:
            keys = _npz_keys(path)
        except DatasetCorruptError:
            continue
        found.update(k[2:] for k in keys if k.startswith("x_"))
    return sorted(found)


def read_npz(path, keys, optional=()) -> dict:
    """Arrays `keys` (and those of `optional` that exist) of the npz at `path`.

    Raises:
        DatasetCorruptError: the file cannot be read, an array in it is damaged,
            or one of `keys` is missing; the message names the file and the array.
    """
    try:
        npz = np.load(path, allow_pickle=False)
    except _READ_ERRORS as e:
        raise _corrupt(path, "not a readable npz (zip) archive", e) from e
    with npz:
        missing = [k for k in keys if k not in npz.files]
        if missing:
            raise _corrupt(path, f"arrays {missing} are missing (it holds {sorted(npz.files)})")
        out = {}
        for key in [*keys, *(k for k in optional if k in npz.files)]:
            try:
                out[key] = npz[key]
            except _READ_ERRORS as e:
                raise _corrupt(path, f"array `{key}` cannot be read", e) from e
    return out


def check_split(name: str, split: str, available=()) -> None:
    """`ValueError` listing the split names of `name` when `split`'s name is none of
    them (the official ones of the catalog, and `available`)."""
    base, _, _ = splits_lib.parse_split(split)
    info = catalog.dataset_info(name)
    known = sorted(set(info.splits) | set(available))
    if base not in known:
        raise ValueError(f"Unknown split {base!r} of {name!r}; available splits: {known}.")


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
        available = available_splits(name, data_dir)
        check_split(name, split, available)
        root = resolve_data_dir(data_dir)
        where = (
            f"data_dir=None and ${catalog.ENV_DATA_DIR} is unset"
            if root is None
            else f"looked in {root / name}/*.npz and {root / name}.npz"
        )
        holds = f"; the folder holds the splits {available}" if available else ""
        raise DatasetNotFoundError(
            f"No npz file holding `x_{base}` for {name!r} ({where}{holds}). "
            f"{npz_layout_help(name)}"
        )
    arrays = read_npz(path, [f"x_{base}"], optional=[f"y_{base}"])
    x = arrays[f"x_{base}"]
    y = arrays.get(f"y_{base}", np.full(len(x), -1))
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
