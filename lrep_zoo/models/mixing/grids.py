"""Attribute-transfer grids of the mixing auto-encoder: swap one chunk at a time.

Example:

```python
import lrep_zoo
from lrep_zoo.models.mixing.grids import save_transfer_grid
x_test, _ = lrep_zoo.data.load_arrays("mnist", "test")       # uint8, as the preset takes
model = lrep_zoo.applications.MixingAutoEncoder(weights="mnist")
targets, sources = x_test[:4], x_test[4:8]
path = save_transfer_grid(model, targets, sources, "transfer.png")
```
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from lrep_zoo.viz.grids import save_grid


def transfer_rows(model, targets, sources) -> np.ndarray:
    """`(n_pairs, 3 + num_chunks, H, W, C)` images in [0, 1]: target, source,
    Dec(Enc(target)), then the target with chunk i from its source, for every i."""
    to01 = lambda x: np.asarray(keras.ops.convert_to_numpy(x), "float32")  # noqa: E731
    targets, sources = np.asarray(targets), np.asarray(sources)
    x_t = to01(model.preprocess(targets))
    x_s = to01(model.preprocess(sources))
    columns = [x_t, x_s, to01(model.reconstruct(targets))]
    columns += [to01(model.transfer(targets, sources, i)) for i in range(model.num_chunks)]
    return np.stack(columns, axis=1)


def save_transfer_grid(model, targets, sources, path: str | os.PathLike,
                       scale: int = 2) -> Path:
    """Writes the `transfer_rows` grid as a labelled PNG (one row per pair).

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.mixing.grids import save_transfer_grid
    x_test, _ = lrep_zoo.data.load_arrays("mnist", "test")
    model = lrep_zoo.applications.MixingAutoEncoder(weights="mnist")
    save_transfer_grid(model, x_test[:8], x_test[8:16], "runs/mixing/transfer.png")
    ```
    """
    rows = transfer_rows(model, targets, sources)
    n, k = rows.shape[:2]
    labels = ["target", "source", "D(E(x))"] + [f"chunk {i}" for i in range(model.num_chunks)]
    return save_grid(rows.reshape(n * k, *rows.shape[2:]), path, nrow=k, scale=scale,
                     col_labels=labels)
