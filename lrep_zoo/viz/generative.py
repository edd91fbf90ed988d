"""Grids shared by the generative models (VAE, GAN, TemperedGAN): samples and interpolations."""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from lrep_zoo.viz.grids import save_grid, save_rows


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def save_samples(model, path: str | os.PathLike, n: int = 64, seed: int = 0, nrow: int = 8,
                 scale: int = 2) -> Path:
    """Grid of `model.sample(n, seed)` (VAE, GAN, TemperedGAN).

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.viz.generative import save_samples
    gan = lrep_zoo.applications.GAN(weights="mnist")
    save_samples(gan, "samples.png", n=64, seed=0)
    ```
    """
    return save_grid(np.clip(to_numpy(model.sample(n, seed=seed)), 0, 1), path, nrow=nrow,
                     scale=scale)


def interpolate(start, end, steps: int = 10) -> np.ndarray:
    """Linear interpolation between two latent codes: `(steps, latent_dim)`."""
    t = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
    return (1.0 - t) * np.asarray(start, "float32")[None] + t * np.asarray(end, "float32")[None]


def save_interpolations(model, latent_pairs, path: str | os.PathLike, steps: int = 10,
                        scale: int = 2) -> Path:
    """One row per `(z_start, z_end)` pair, decoded along the segment between them.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.viz.generative import save_interpolations
    gan = lrep_zoo.applications.GAN(weights="mnist")
    z = gan.latents(8, seed=0)
    save_interpolations(gan, zip(z[0::2], z[1::2]), "interp.png")
    # VAE: between the codes of two images
    vae = lrep_zoo.applications.VAE(weights="mnist")
    x, _ = lrep_zoo.data.load_arrays("mnist", "test")
    codes = vae.encode(x[:8])                   # takes uint8 0..255 images: (8, latent_dim)
    save_interpolations(vae, zip(codes[0::2], codes[1::2]), "interp.png")
    ```
    """
    rows = [to_numpy(model.decode(interpolate(to_numpy(a), to_numpy(b), steps))) for a, b in latent_pairs]
    return save_rows([np.clip(r, 0, 1) for r in rows], path, scale=scale)
