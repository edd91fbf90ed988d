"""Image grids written as PNG files (reconstructions, edits, swaps, samples).

`save_grid` / `save_rows` take optional `row_labels` / `col_labels`: text in a white
margin left of each row and above each column (PIL's default font), so that a
grid says what its rows and columns are.
"""

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


def _fit(draw, text: str, font, width: int) -> str:
    """`text`, shortened with a trailing '.' until it is at most `width` pixels wide."""
    text = str(text)
    while len(text) > 1 and draw.textlength(text, font=font) > width:
        text = text[:-2] + "." if len(text) > 2 else text[:1]
    return text


def label_grid(image, cell: tuple[int, int], padding: int, row_labels=None, col_labels=None,
               font_size: int = 11):
    """`image` (a grid of `cell` = (height, width) pixel cells, `padding` apart, as
    `make_grid` lays them out) with `row_labels` in a left margin and `col_labels`
    in a top margin. `None` entries or an empty label leave that row / column blank."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=font_size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(image)
    h, w = cell
    rows = [str(t) if t is not None else "" for t in (row_labels or ())]
    cols = [str(t) if t is not None else "" for t in (col_labels or ())]
    text_h = max((draw.textbbox((0, 0), t or "Ag", font=font)[3] for t in rows + cols),
                 default=0)
    left = min(8 + max(int(draw.textlength(t, font=font)) for t in rows), 160) if rows else 0
    top = text_h + 6 if cols else 0
    background = 255 if image.mode == "L" else (255,) * len(image.getbands())
    ink = 0 if image.mode == "L" else (0,) * len(image.getbands())
    out = Image.new(image.mode, (image.width + left, image.height + top), background)
    out.paste(image, (left, top))
    draw = ImageDraw.Draw(out)
    for j, text in enumerate(cols):
        text = _fit(draw, text, font, w + padding)
        x = left + padding + j * (w + padding) + (w - draw.textlength(text, font=font)) / 2
        draw.text((x, 2), text, fill=ink, font=font)
    for i, text in enumerate(rows):
        text = _fit(draw, text, font, left - 6)
        y = top + padding + i * (h + padding) + (h - text_h) / 2
        draw.text((left - 4 - draw.textlength(text, font=font), y), text, fill=ink, font=font)
    return out


def save_grid(
    images, path: str | os.PathLike, nrow: int, value_range=(0.0, 1.0), scale: int = 1,
    row_labels: Sequence[str] | None = None, col_labels: Sequence[str] | None = None,
) -> Path:
    """Writes a PNG grid of `images` (NHWC or NHW) and returns its path.

    Args:
        images: The tiles, row by row.
        path: The PNG file to write (its folder is created).
        nrow: Images per grid row.
        value_range: `(low, high)` of the images' values.
        scale: Integer upscaling (nearest neighbour) of the tiles.
        row_labels: Text left of each grid row (optional).
        col_labels: Text above each grid column (optional).

    Example:

    ```python
    import keras
    import numpy as np
    import lrep_zoo
    from lrep_zoo.viz.grids import save_grid

    dae = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")  # takes 0..255
    x, _ = lrep_zoo.data.load_arrays("mnist", "test")
    clean = x[:8].astype("float32") / 255.0                            # (8, 28, 28, 1)
    noisy = np.clip(keras.ops.convert_to_numpy(dae.corrupt(x[:8])) / 255.0, 0, 1)
    denoised = dae.predict(noisy * 255.0, verbose=0)                   # in [0, 1]
    save_grid(np.concatenate([noisy, clean, denoised]), "grid.png", nrow=len(clean),
              row_labels=["noisy", "clean", "denoised"])
    ```
    """
    from PIL import Image

    grid = make_grid(images, nrow, value_range=value_range)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    image = Image.fromarray(grid)
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    if row_labels or col_labels:
        h, w = np.asarray(images).shape[1:3]
        image = label_grid(image, (h * scale, w * scale), 2 * scale, row_labels, col_labels)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def save_rows(rows: Sequence, path: str | os.PathLike, value_range=(0.0, 1.0), scale=1,
              row_labels: Sequence[str] | None = None,
              col_labels: Sequence[str] | None = None) -> Path:
    """One grid row per image batch in `rows` (all batches of the same size), with
    optional `row_labels` (one per batch) and `col_labels` (one per image)."""
    rows = [np.asarray(r) for r in rows]
    return save_grid(np.concatenate(rows), path, nrow=len(rows[0]), value_range=value_range,
                     scale=scale, row_labels=row_labels, col_labels=col_labels)
