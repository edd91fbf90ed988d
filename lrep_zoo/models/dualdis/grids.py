"""Image grids of disentangling models (DualDis): edits, swaps, reconstructions.

Every function takes a model with `preprocess`, `reconstruct`, `edit` and `swap`
(raw images in, images in [0, 1] out) and writes one PNG.

Example:

```python
from lrep_zoo.models.dualdis import grids
grids.edit_grid(model, test["image"][:6], "edits.png")
grids.swap_grid(model, faces, lights, "swaps.png")
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from keras import ops

from lrep_zoo.viz.grids import save_grid


def _np(x):
    return np.asarray(ops.convert_to_numpy(x), dtype="float32")


def reconstruction_grid(model, images, path, scale: int = 2) -> Path:
    """Two rows: inputs (as the network sees them), reconstructions D(E(x))."""
    inputs = _np(model.preprocess(images))
    return save_grid(np.concatenate([inputs, _np(model.reconstruct(images))]), path,
                     nrow=len(images), scale=scale)


def edit_grid(model, images, path, attributes: Sequence[int] | None = None, eps: float | None = None,
              logit_shift: float = 15.0, scale: int = 2) -> Path:
    """One row per image: input, reconstruction, then D(h_y, h_z + eps w_{z,a}) for
    each attribute class `a` (default: all of W_z's classes). By default eps is
    `logit_shift / |w_{z,a}|^2`, i.e. the edit raises W_z's logit of `a` by `logit_shift`."""
    if attributes is None:
        attributes = range(model.num_classes_z)
    attributes = list(attributes)
    n = len(images)
    columns = [_np(model.preprocess(images)), _np(model.reconstruct(images))]
    norms = np.sum(_np(model.attribute_directions()) ** 2, axis=1)
    columns += [_np(model.edit(images, a, eps if eps is not None else logit_shift / norms[a]))
                for a in attributes]
    tiles = np.stack(columns, axis=1).reshape(n * len(columns), *columns[0].shape[1:])
    return save_grid(tiles, path, nrow=len(columns), scale=scale)


def swap_grid(model, identity_images, attribute_images, path, scale: int = 2) -> Path:
    """The thesis' disentangling figure: top-left blank, first row the attribute
    sources, first column the identity sources, cell (i, j) = D(h_y(x_i), h_z(x_j))."""
    idn = _np(model.preprocess(identity_images))
    att = _np(model.preprocess(attribute_images))
    blank = np.ones_like(att[:1])
    rows = [np.concatenate([blank, att])]
    for i in range(len(identity_images)):
        repeated = np.repeat(np.asarray(identity_images)[i:i + 1], len(attribute_images), axis=0)
        rows.append(np.concatenate([idn[i:i + 1], _np(model.swap(repeated, attribute_images))]))
    return save_grid(np.concatenate(rows), path, nrow=len(attribute_images) + 1, scale=scale)


def lighting_examples(images, identity, lighting, num_identities: int = 6, seed: int = 0):
    """Picks `num_identities` images of distinct identities and one image per
    lighting class present (for swap grids). Returns `(identity_images, lighting_images)`."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.unique(identity), size=min(num_identities, len(np.unique(identity))), replace=False)
    frontal = [rng.choice(np.flatnonzero(identity == i)) for i in ids]
    classes = np.unique(lighting)
    light = [rng.choice(np.flatnonzero(lighting == c)) for c in classes]
    return np.asarray(images)[frontal], np.asarray(images)[light]
