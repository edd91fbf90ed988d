"""Grids for generative models: samples, reconstructions, interpolations, traversals."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from lrep_zoo.viz.grids import save_grid, save_rows


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def save_samples(model, path: str | os.PathLike, n: int = 64, seed: int = 0, nrow: int = 8,
                 scale: int = 2) -> Path:
    """Grid of `model.sample(n, seed)` (VAE, GAN, TemperedGAN).

    Example:

    ```python
    save_samples(gan, "samples.png", n=64, seed=0)
    ```
    """
    return save_grid(np.clip(_np(model.sample(n, seed=seed)), 0, 1), path, nrow=nrow,
                     scale=scale)


def save_reconstructions(vae, images, path: str | os.PathLike, scale: int = 2) -> Path:
    """Two rows: `images` and `vae.reconstruct(images)`."""
    return save_rows([np.asarray(images), _np(vae.reconstruct(images))], path, scale=scale)


def interpolate(start, end, steps: int = 10) -> np.ndarray:
    """Linear interpolation between two latent codes: `(steps, latent_dim)`."""
    t = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
    return (1.0 - t) * np.asarray(start, "float32")[None] + t * np.asarray(end, "float32")[None]


def save_interpolations(model, latent_pairs, path: str | os.PathLike, steps: int = 10,
                        scale: int = 2) -> Path:
    """One row per `(z_start, z_end)` pair, decoded along the segment between them.

    Example:

    ```python
    z = gan.latents(8, seed=0)
    save_interpolations(gan, zip(z[0::2], z[1::2]), "interp.png")
    # VAE: between the codes of two images
    codes = vae.encode(images[:8])
    save_interpolations(vae, zip(codes[0::2], codes[1::2]), "interp.png")
    ```
    """
    rows = [_np(model.decode(interpolate(_np(a), _np(b), steps))) for a, b in latent_pairs]
    return save_rows([np.clip(r, 0, 1) for r in rows], path, scale=scale)


def traversals(code, dims, values=np.linspace(-3, 3, 9)) -> np.ndarray:
    """Codes that vary one latent dimension at a time around `code`:
    `(len(dims) * len(values), latent_dim)`, one block of `len(values)` per dimension."""
    code = np.asarray(code, "float32")
    out = []
    for d in dims:
        for v in values:
            z = code.copy()
            z[d] = v
            out.append(z)
    return np.stack(out)


def save_traversals(vae, code, path: str | os.PathLike, dims=None,
                    values=np.linspace(-3, 3, 9), scale: int = 2) -> Path:
    """beta-VAE latent traversals: one row per latent dimension (default: the 10 with
    the largest KL would need data; here all dims, or those given), `values` across.

    Example:

    ```python
    save_traversals(bvae, bvae.encode(x_test[:1])[0], "traversals.png")
    ```
    """
    code = _np(code)
    dims = list(range(len(code))) if dims is None else list(dims)
    images = _np(vae.decode(traversals(code, dims, values)))
    return save_grid(np.clip(images, 0, 1), path, nrow=len(values), scale=scale)


def save_lens(tempered_gan, images, path: str | os.PathLike, scale: int = 2) -> Path:
    """Three rows: real images, the lens' output `L(x)` (what D sees), and `|L(x) - x|`."""
    images = np.asarray(images, "float32")
    lensed = _np(tempered_gan.apply_lens(images))
    return save_rows([images, np.clip(lensed, 0, 1), np.clip(np.abs(lensed - images) * 4, 0, 1)],
                     path, scale=scale)
