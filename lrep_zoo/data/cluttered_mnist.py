"""Cluttered MNIST, generated in code from MNIST images (Mnih et al. 2014 style).

Each image is one MNIST digit pasted at a random position of a larger black canvas,
plus `num_pieces` random `piece_size x piece_size` crops of OTHER digits pasted at
random positions as clutter (pixel-wise maximum, so clutter never hides the digit's
ink). Everything is drawn from one `np.random.default_rng(seed)`: the same images,
labels and seed give the same dataset, bit for bit.

Along with the images comes a region map per image, which says what each pixel
shows: `BACKGROUND` (0), `CLUTTER` (1: clutter ink, no digit ink) or `DIGIT` (2:
the digit's ink), ink being a pixel value >= `ink_threshold`. It is what the
Information Dropout experiment measures its noise maps against.

Example:

```python
import numpy as np
from lrep_zoo.data.cluttered_mnist import cluttered_mnist, DIGIT

digits = np.zeros((20, 28, 28), "uint8"); digits[:, 10:18, 10:18] = 255
x, y, regions = cluttered_mnist(digits, np.arange(20) % 10, seed=0)
x.shape, regions.shape, bool((regions == DIGIT).any())   # (20, 48, 48), (20, 48, 48), True
```
"""

from __future__ import annotations

import numpy as np

BACKGROUND, CLUTTER, DIGIT = 0, 1, 2
"""Region codes of the region maps."""


def _ink_crop_origin(image: np.ndarray, size: int, rng: np.random.Generator, ink: int,
                     tries: int = 10) -> tuple[int, int]:
    """A random crop origin of `image`, preferring crops that hold some ink."""
    h, w = image.shape
    for _ in range(tries):
        oy, ox = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
        if (image[oy:oy + size, ox:ox + size] >= ink).sum() >= size:
            break
    return int(oy), int(ox)


def cluttered_mnist(
    images: np.ndarray,
    labels: np.ndarray,
    num_images: int | None = None,
    canvas_size: int = 48,
    num_pieces: int = 6,
    piece_size: int = 8,
    ink_threshold: int = 64,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluttered-MNIST images, labels and region maps from MNIST digits.

    Image `i` shows digit `order[i]` (a seeded permutation of `images`, cycled if
    `num_images` exceeds it) at a uniformly random position, and `num_pieces`
    crops of other, randomly chosen digits (crops with ink preferred) at random
    positions.

    Args:
        images: uint8 digits, `(N, 28, 28)` or `(N, 28, 28, 1)`, values 0..255.
        labels: `(N,)` integer labels.
        num_images: How many images to make (default: `N`).
        canvas_size: Side of the square canvas (> the digit's side).
        num_pieces: Clutter crops per image (>= 0).
        piece_size: Side of the clutter crops (<= the digit's side).
        ink_threshold: Pixel value from which a pixel counts as ink (region maps).
        seed: Seed of everything random.

    Returns:
        `(x, y, regions)`: uint8 `(num_images, canvas, canvas)` images, int64
        labels, uint8 region maps (`BACKGROUND`, `CLUTTER`, `DIGIT`).

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.data.cluttered_mnist import cluttered_mnist

    x_train, y_train = lrep_zoo.data.load_arrays("mnist", "train[:1000]")  # (1000, 28, 28, 1)
    x, y, regions = cluttered_mnist(x_train, y_train, 2000, seed=0)
    x.shape, y.shape, regions.shape  # (2000, 48, 48), (2000,), (2000, 48, 48)
    ```
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(
            "cluttered_mnist: `images` must be (N, H, W) or (N, H, W, 1) digits. "
            f"Received shape {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(
            "cluttered_mnist: `images` must be uint8 (0..255), as MNIST comes. "
            f"Received dtype {images.dtype}")
    labels = np.asarray(labels).astype("int64").reshape(-1)
    n, h, w = images.shape
    if len(labels) != n:
        raise ValueError(f"cluttered_mnist: {n} images but {len(labels)} labels.")
    if n < 2:
        raise ValueError("cluttered_mnist: needs at least 2 digits (clutter comes from others).")
    if canvas_size <= max(h, w):
        raise ValueError(
            f"cluttered_mnist: canvas_size must exceed the digit size {h}x{w}. "
            f"Received canvas_size={canvas_size}")
    if not 1 <= piece_size <= min(h, w) or num_pieces < 0:
        raise ValueError(
            f"cluttered_mnist: piece_size must be in [1, {min(h, w)}] and num_pieces >= 0. "
            f"Received piece_size={piece_size}, num_pieces={num_pieces}")
    num_images = n if num_images is None else int(num_images)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(n) for _ in range(-(-num_images // n))])
    order = order[:num_images]
    x = np.zeros((num_images, canvas_size, canvas_size), "uint8")
    regions = np.zeros_like(x)
    for i, index in enumerate(order):
        canvas, clutter = x[i], np.zeros_like(x[i])
        for _ in range(num_pieces):
            other = int(rng.integers(0, n - 1))
            other += other >= index  # never the digit itself
            oy, ox = _ink_crop_origin(images[other], piece_size, rng, ink_threshold)
            py, px = rng.integers(0, canvas_size - piece_size + 1, 2)
            window = clutter[py:py + piece_size, px:px + piece_size]
            np.maximum(window, images[other, oy:oy + piece_size, ox:ox + piece_size], out=window)
        dy, dx = rng.integers(0, canvas_size - h + 1), rng.integers(0, canvas_size - w + 1)
        digit = np.zeros_like(canvas)
        digit[dy:dy + h, dx:dx + w] = images[index]
        np.maximum(clutter, digit, out=canvas)
        regions[i][clutter >= ink_threshold] = CLUTTER
        regions[i][digit >= ink_threshold] = DIGIT
    return x, labels[order], regions


def load_cluttered_mnist(
    split: str = "train",
    num_images: int | None = None,
    data_dir=None,
    first: int | None = None,
    seed: int = 0,
    **kwargs,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluttered MNIST from the MNIST `split` (offline npz folder or TFDS).

    `first`: use only the first `first` digits of the split (clutter included).
    Other keyword arguments go to `cluttered_mnist`.

    Example:

    ```python
    from lrep_zoo.data.cluttered_mnist import load_cluttered_mnist

    # data_dir=None: the npz folder of $LREP_ZOO_DATA_DIR (else TFDS).
    x, y, regions = load_cluttered_mnist("test", 2000, data_dir=None, first=1000, seed=1)
    x.shape  # (2000, 48, 48)
    ```
    """
    from lrep_zoo.data.datasets import load_arrays

    images, labels = load_arrays("mnist", split, data_dir=data_dir)
    return cluttered_mnist(images[:first], labels[:first], num_images, seed=seed, **kwargs)


__all__ = ["BACKGROUND", "CLUTTER", "DIGIT", "cluttered_mnist", "load_cluttered_mnist"]
