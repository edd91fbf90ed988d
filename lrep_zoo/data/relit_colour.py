"""Colour relit surfaces: a procedural identity-vs-attributes dataset with binary factors.

The RGB sibling of `lrep_zoo.data.relit`: each identity is a random smooth 3-D surface
(`relit`'s dome plus bumps) with a smooth albedo pattern and its own colour tint; each
image shows it under a light whose three binary attributes are known factors:

| attribute     | 0                          | 1                          |
|---------------|----------------------------|----------------------------|
| `light_right` | azimuth -45 deg (from left) | azimuth +45 deg (from right) |
| `light_top`   | elevation -30 deg (below)  | elevation +30 deg (above)  |
| `warm_light`  | cool light (0.55, 0.75, 1) | warm light (1, 0.75, 0.5)  |

Directions are jittered by a few degrees and the light colour by a few percent;
shading is Lambertian, `albedo * tint * light_colour * max(0, n . l) + ambient`, with a
little pixel noise. Every (identity, attribute combination) pair gets the same
number of images, so the attributes are balanced and independent of the identity.
Deterministic by seed.

Example:

```python
from lrep_zoo.data import relit_colour
data = relit_colour.relit_colour_surfaces(num_identities=4, images_per_combination=2, size=32)
data["train"]["image"].shape       # (N, 32, 32, 3) uint8
data["train"]["attributes"].shape  # (N, 3): light_right, light_top, warm_light
```
"""

from __future__ import annotations

import itertools

import numpy as np

from lrep_zoo.data import relit

ATTRIBUTES = ("light_right", "light_top", "warm_light")
AZIMUTHS = (-45.0, 45.0)
ELEVATIONS = (-30.0, 30.0)
LIGHT_COLOURS = ((0.55, 0.75, 1.0), (1.0, 0.75, 0.5))


def combinations() -> list[tuple[int, int, int]]:
    """The 8 attribute combinations `(light_right, light_top, warm_light)`, in order."""
    return list(itertools.product((0, 1), repeat=len(ATTRIBUTES)))


def combination_index(attributes) -> np.ndarray:
    """Rows of binary attributes `(N, 3)` -> their combination index 0..7
    (`light_right * 4 + light_top * 2 + warm_light`)."""
    attributes = np.asarray(attributes).astype(int)
    return attributes @ (2 ** np.arange(len(ATTRIBUTES) - 1, -1, -1))


def attribute_names(combination: int) -> str:
    """A short label of a combination index, e.g. `R top warm` or `L low cool`."""
    right, top, warm = combinations()[int(combination)]
    return f"{'R' if right else 'L'} {'top' if top else 'low'} {'warm' if warm else 'cool'}"


def render_colour(normals, albedo, tint, azimuth, elevation, light_colour, ambient=0.06):
    """RGB image in [0, 1] `(size, size, 3)` of a surface (normals `(size, size, 3)`,
    albedo `(size, size)`, tint `(3,)`) under a coloured directional light."""
    shading = np.maximum(normals @ relit.light_direction(azimuth, elevation), 0.0)
    colour = albedo[..., None] * np.asarray(tint) * np.asarray(light_colour)
    return np.clip(colour * shading[..., None] + ambient, 0.0, 1.0)


def relit_colour_surfaces(
    num_identities: int = 10,
    images_per_combination: int = 6,
    size: int = 32,
    jitter: float = 8.0,
    colour_jitter: float = 0.05,
    noise: float = 0.02,
    seed: int = 0,
) -> dict:
    """Renders the dataset and splits it like Yale-B (per identity: half test, 20 % of
    the rest validation).

    Args:
        num_identities: Surfaces (the y classes).
        images_per_combination: Images per (identity, attribute combination) pair;
            the dataset has `num_identities * 8 * images_per_combination` images.
        size: Image side.
        jitter: Uniform jitter of azimuth and elevation, degrees.
        colour_jitter: Uniform relative jitter of each light colour channel.
        noise: Standard deviation of the Gaussian pixel noise.
        seed: The one seed of the surfaces, the lights, the noise and the split.

    Returns:
        `{"train", "validation", "test"}` dicts with `image` uint8 (N, size, size, 3),
        `identity` (0..num_identities-1), `attributes` int (N, 3) in `ATTRIBUTES`
        order, `azimuth`, `elevation` (degrees) and `light_colour` (N, 3).
    """
    if int(num_identities) < 1 or int(images_per_combination) < 2 or int(size) < 8:
        raise ValueError(
            "relit_colour_surfaces needs num_identities >= 1, images_per_combination >= 2 "
            f"and size >= 8, got {num_identities}, {images_per_combination}, {size}."
        )
    rng = np.random.default_rng(seed)
    rows = {k: [] for k in ("image", "identity", "attributes", "azimuth", "elevation",
                            "light_colour")}
    for identity in range(num_identities):
        height, albedo = relit._surface(rng, size)
        normals = relit.surface_normals(height)
        tint = rng.uniform(0.6, 1.0, 3)
        tint = tint / tint.max()
        for combo in combinations():
            right, top, warm = combo
            for _ in range(images_per_combination):
                a = AZIMUTHS[right] + rng.uniform(-jitter, jitter)
                e = ELEVATIONS[top] + rng.uniform(-jitter, jitter)
                light = np.asarray(LIGHT_COLOURS[warm]) * rng.uniform(
                    1.0 - colour_jitter, 1.0 + colour_jitter, 3)
                image = render_colour(normals, albedo, tint, a, e, light)
                image = image + rng.normal(0, noise, image.shape)
                rows["image"].append(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8))
                rows["identity"].append(identity)
                rows["attributes"].append(combo)
                rows["azimuth"].append(a)
                rows["elevation"].append(e)
                rows["light_colour"].append(light)
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    split = np.empty(len(arrays["identity"]), dtype=object)
    for identity in range(num_identities):
        idx = rng.permutation(np.flatnonzero(arrays["identity"] == identity))
        n_test = len(idx) // 2
        n_val = int(round(0.2 * (len(idx) - n_test)))
        split[idx[:n_test]] = "test"
        split[idx[n_test:n_test + n_val]] = "validation"
        split[idx[n_test + n_val:]] = "train"
    return {s: {k: v[split == s] for k, v in arrays.items()} for s in ("train", "validation", "test")}
