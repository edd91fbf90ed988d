"""Image grids written as PNG files (reconstructions, edits, swaps, samples)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np


def to_uint8(images, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Images in `value_range` (any backend tensor or array) as uint8 NHWC."""
    images = np.asarray(images, dtype="float32")
    if images.ndim == 3:
        images = images[..., None]
    lo, hi = value_range
    return np.clip(np.rint((images - lo) / (hi - lo) * 255.0), 0, 255).astype("uint8")


def make_grid(images, nrow: int, padding: int = 2, value_range=(0.0, 1.0)) -> np.ndarray:
    """Tiles N images (NHWC) into one image with `nrow` images per row."""
    images = to_uint8(images, value_range)
    n, h, w, c = images.shape
    ncol = nrow
    nrows = -(-n // ncol)
    grid = np.full(
        (nrows * (h + padding) + padding, ncol * (w + padding) + padding, c), 255, "uint8"
    )
    for i, image in enumerate(images):
        r, col = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y : y + h, x : x + w] = image
    return grid


def save_grid(
    images, path: str | os.PathLike, nrow: int, value_range=(0.0, 1.0), scale: int = 1
) -> Path:
    """Writes a PNG grid of `images` (NHWC or NHW) and returns its path.

    Example:

    ```python
    save_grid(np.concatenate([noisy, clean, denoised]), "grid.png", nrow=len(clean))
    ```
    """
    from PIL import Image

    grid = make_grid(images, nrow, value_range=value_range)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    image = Image.fromarray(grid)
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def save_rows(rows: Sequence, path: str | os.PathLike, value_range=(0.0, 1.0), scale=1) -> Path:
    """One grid row per image batch in `rows` (all batches of the same size)."""
    rows = [np.asarray(r) for r in rows]
    return save_grid(np.concatenate(rows), path, nrow=len(rows[0]), value_range=value_range,
                     scale=scale)
