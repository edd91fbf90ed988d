"""Tempered GAN grid: what the lens shows the discriminator."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from lrep_zoo.viz.grids import save_rows


def save_lens(tempered_gan, images, path: str | os.PathLike, scale: int = 2) -> Path:
    """Three rows: real images, the lens' output `L(x)` (what D sees), and `|L(x) - x|`."""
    images = np.asarray(images, "float32")
    lensed = keras.ops.convert_to_numpy(tempered_gan.apply_lens(images))
    return save_rows([images, np.clip(lensed, 0, 1), np.clip(np.abs(lensed - images) * 4, 0, 1)],
                     path, scale=scale)
