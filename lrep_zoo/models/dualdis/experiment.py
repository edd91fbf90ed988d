"""Yale-B data for the DualDis recipes (`dualdis_yaleb`, `dualdis_augmentation`,
`dualdis_lighting_errors`).

Example:

```python
from lrep_zoo.models.dualdis.experiment import load_data
data = load_data("../shared/data")
data["test"]["image"].shape  # (n, 192, 168, 1)
```
"""

from __future__ import annotations

FIELDS = ("image", "identity", "lighting", "azimuth", "elevation")


def load_data(data_dir=None, resolution: str = "192x168") -> dict:
    """Yale-B splits as numpy dicts (npz fast path, else the TFDS builder).

    Args:
        data_dir: Folder holding the Yale-B npz (`yaleb_cropped/`), else
            `$LREP_ZOO_DATA_DIR`; without an npz, the TFDS data_dir of the
            `extended_yale_b` builder (192x168 only).
        resolution: The npz resolution.

    Returns:
        `{split: {"image", "identity", "lighting", "azimuth", "elevation"}}` for
        the splits of `lrep_zoo.data.yaleb.SPLITS`.

    Example:

    ```python
    data = load_data("../shared/data")
    sorted(data)  # ['test', 'train', 'validation']
    ```
    """
    from lrep_zoo.data import yaleb

    try:
        return yaleb.load_yaleb_npz(data_dir, resolution)
    except FileNotFoundError:
        if resolution != "192x168":
            raise
        return _load_tfds(data_dir)


def _load_tfds(data_dir=None) -> dict:
    import tensorflow_datasets as tfds

    from lrep_zoo.data import yaleb

    builder = yaleb.builder_class()(data_dir=data_dir)
    builder.download_and_prepare()
    out = {}
    for split in yaleb.SPLITS:
        arrays = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        out[split] = {k: arrays[k] for k in FIELDS}
    return out
