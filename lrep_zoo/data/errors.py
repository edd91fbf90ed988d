"""Errors raised by `lrep_zoo.data`."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither prepared locally nor downloadable from here.

    The message says where it looked and how to provide the data: a prepared
    TFDS `data_dir`, the original files in the TFDS manual folder, or an npz
    folder given by `data_dir=` / the `LREP_ZOO_DATA_DIR` environment variable.
    """


class DatasetCorruptError(ValueError):
    """A data file exists but cannot be read: truncated or damaged npz/zip
    archive, missing arrays, wrong shapes. The message names the file and
    what failed; the fix is to copy or download that file again."""
