"""Errors raised by `lrep_zoo.data`."""


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither prepared locally nor downloadable from here.

    The message says how to provide it: a prepared TFDS `data_dir`, the
    original files in the TFDS manual folder, or an npz folder given by
    `data_dir=` / the `LREP_ZOO_DATA_DIR` environment variable.
    """
