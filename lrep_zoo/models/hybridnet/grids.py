"""HybridNet's figure: x, x_hat_c, x_hat_u, x_hat rows for fixed images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from lrep_zoo.viz.grids import save_rows

GRID_ROWS = ("x_hat_c", "x_hat_u", "x_hat")


def save_reconstruction_grid(model, images, path: str | os.PathLike,
                             rows: Sequence[str] = GRID_ROWS, scale: int = 2,
                             clip: bool = True, shown_images=None) -> Path:
    """Writes one grid row per output: the images, then `rows` of `model(images)`.

    `model(images, training=False)` must return a dict holding the `rows` keys
    (HybridNet does); missing keys are skipped. Values are clipped to [0, 1].
    `shown_images` replaces `images` in the first row (e.g. un-normalised).

    Example:

    ```python
    save_reconstruction_grid(hybridnet, x_test[:12], "reconstructions.png")
    ```
    """
    images = np.asarray(images, dtype="float32")
    outputs = model(images, training=False)
    grid = [images if shown_images is None else np.clip(np.asarray(shown_images), 0.0, 1.0)]
    for key in rows:
        if key in outputs:
            value = keras.ops.convert_to_numpy(outputs[key])
            grid.append(np.clip(value, 0.0, 1.0) if clip else value)
    return save_rows(grid, path, scale=scale)


