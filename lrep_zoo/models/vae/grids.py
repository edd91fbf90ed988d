"""VAE grids: reconstructions and latent traversals (samples and interpolations:
`lrep_zoo.viz.generative`, shared with the GANs)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lrep_zoo.viz.generative import to_numpy
from lrep_zoo.viz.grids import save_grid, save_rows


def save_reconstructions(vae, images, path: str | os.PathLike, scale: int = 2) -> Path:
    """Two rows: `images` and `vae.reconstruct(images)`."""
    return save_rows([np.asarray(images), to_numpy(vae.reconstruct(images))], path, scale=scale)


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
    import lrep_zoo
    from lrep_zoo.models.vae.grids import save_traversals
    x_test, _ = lrep_zoo.data.load_arrays("mnist", "test")
    bvae = lrep_zoo.applications.VAE(weights="mnist")  # takes uint8 0..255 images
    save_traversals(bvae, bvae.encode(x_test[:1])[0], "traversals.png")
    ```
    """
    code = to_numpy(code)
    dims = list(range(len(code))) if dims is None else list(dims)
    images = to_numpy(vae.decode(traversals(code, dims, values)))
    return save_grid(np.clip(images, 0, 1), path, nrow=len(values), scale=scale)
