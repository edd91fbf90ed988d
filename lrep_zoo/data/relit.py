"""Relit surfaces: a procedural identity-vs-lighting dataset (no download).

Each identity is a random smooth 3-D surface (an ellipsoidal dome plus Gaussian bumps) with a
smooth albedo pattern; each image shows it under one of `len(LIGHTS)` light
directions (the attribute class, a 3x3 grid of azimuth x elevation), jittered by a
few degrees, with Lambertian shading `albedo * max(0, n . l) + ambient` and a
little pixel noise. It mimics Yale-B's structure (identity x lighting) at a size
that trains in minutes on a CPU.

Example:

```python
from lrep_zoo.data import relit
data = relit.relit_surfaces(num_identities=10, seed=0)
data["train"]["image"].shape  # (N, 64, 64, 1) uint8
```

`identity_surfaces` gives the height maps and albedos behind a `relit_surfaces` call,
so `lrep_zoo.data.factors.RelitFactors` can render the same identities under any light
direction (factors identity, azimuth, elevation, for the disentanglement metrics).
"""

from __future__ import annotations

import numpy as np

# (azimuth, elevation) in degrees: left/centre/right x up/middle/down.
LIGHTS = [(a, e) for e in (35, 0, -35) for a in (-50, 0, 50)]


def _surface(rng, size, bumps=6):
    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    # A face-like dome (ellipsoid) carries the large-scale shading; bumps make the identity.
    rx, ry = rng.uniform(0.6, 0.85), rng.uniform(0.75, 0.95)
    height = 0.9 * np.sqrt(np.maximum(0.0, 1.0 - (xx / rx) ** 2 - (yy / ry) ** 2))
    for _ in range(bumps):
        cx, cy = rng.uniform(-0.7, 0.7, 2)
        s = rng.uniform(0.08, 0.25)
        height += rng.uniform(-0.25, 0.3) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    albedo = np.full((size, size), 0.75)
    for _ in range(3):
        cx, cy = rng.uniform(-0.8, 0.8, 2)
        s = rng.uniform(0.1, 0.35)
        albedo += rng.uniform(-0.35, 0.25) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s * s))
    return height, np.clip(albedo, 0.2, 1.0)


def light_direction(azimuth, elevation) -> np.ndarray:
    """Unit light vectors `(..., 3)` for (azimuth, elevation) in degrees (scalars or arrays)."""
    a, e = np.deg2rad(azimuth), np.deg2rad(elevation)
    return np.stack([np.sin(a) * np.cos(e), -np.sin(e), np.cos(a) * np.cos(e)], -1)


def surface_normals(height) -> np.ndarray:
    """Unit normals `(size, size, 3)` of a square height map on [-1, 1]^2."""
    size = height.shape[0]
    gy, gx = np.gradient(height * size / 2.0)
    normals = np.stack([-gx, -gy, np.ones_like(gx)], -1)
    return normals / np.linalg.norm(normals, axis=-1, keepdims=True)


def render(height, albedo, azimuth, elevation, ambient=0.08):
    """Lambertian image in [0, 1] of a height map lit from (azimuth, elevation) degrees."""
    light = light_direction(azimuth, elevation)
    return np.clip(albedo * np.maximum(surface_normals(height) @ light, 0.0) + ambient, 0.0, 1.0)


def _draw(num_identities, images_per_pair, size, jitter, noise, seed, render_images):
    """The random stream of `relit_surfaces`: surfaces, then images and the split.

    With `render_images=False` the same numbers are drawn but no image is rendered.
    """
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("image", "identity", "lighting", "azimuth", "elevation")}
    surfaces = []
    for identity in range(num_identities):
        height, albedo = _surface(rng, size)
        surfaces.append((height, albedo))
        for lighting, (a0, e0) in enumerate(LIGHTS):
            for _ in range(images_per_pair):
                a = a0 + rng.uniform(-jitter, jitter)
                e = e0 + rng.uniform(-jitter, jitter)
                pixel_noise = rng.normal(0, noise, (size, size))
                if render_images:
                    image = render(height, albedo, a, e) + pixel_noise
                    rows["image"].append(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8))
                rows["identity"].append(identity)
                rows["lighting"].append(lighting)
                rows["azimuth"].append(a)
                rows["elevation"].append(e)
    return rng, rows, surfaces


def relit_surfaces(
    num_identities: int = 10,
    images_per_pair: int = 8,
    size: int = 64,
    jitter: float = 6.0,
    noise: float = 0.02,
    seed: int = 0,
) -> dict:
    """Renders the dataset and splits it like Yale-B (per identity: half test, 20 %
    of the rest validation).

    Returns:
        `{"train", "validation", "test"}` dicts with `image` uint8 (N, size, size, 1),
        `identity` (0..num_identities-1), `lighting` (0..8), `azimuth`, `elevation`.
    """
    rng, rows, _ = _draw(num_identities, images_per_pair, size, jitter, noise, seed, True)
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    arrays["image"] = arrays["image"][..., None]
    split = np.empty(len(arrays["identity"]), dtype=object)
    for identity in range(num_identities):
        idx = rng.permutation(np.flatnonzero(arrays["identity"] == identity))
        n_test = len(idx) // 2
        n_val = int(round(0.2 * (len(idx) - n_test)))
        split[idx[:n_test]] = "test"
        split[idx[n_test:n_test + n_val]] = "validation"
        split[idx[n_test + n_val:]] = "train"
    return {s: {k: v[split == s] for k, v in arrays.items()} for s in ("train", "validation", "test")}


def identity_surfaces(
    num_identities: int = 10,
    images_per_pair: int = 8,
    size: int = 64,
    jitter: float = 6.0,
    noise: float = 0.02,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The surfaces of the identities of `relit_surfaces` called with the same arguments.

    Replays the random stream without rendering (about 0.1 s for the defaults).

    Returns:
        `(heights, albedos)`, float arrays of shape (num_identities, size, size).

    Example:

    ```python
    from lrep_zoo.data.relit import identity_surfaces, render

    heights, albedos = identity_surfaces(num_identities=3, size=32)
    image = render(heights[0], albedos[0], azimuth=-50, elevation=35)  # (32, 32) in [0, 1]
    ```
    """
    _, _, surfaces = _draw(num_identities, images_per_pair, size, jitter, noise, seed, False)
    heights, albedos = zip(*surfaces)
    return np.stack(heights), np.stack(albedos)
