"""Image grids of disentangling models (DualDis): edits, swaps, reconstructions.

Every function takes a model with `preprocess`, `reconstruct`, `edit` and `swap`
(raw images in, images in [0, 1] out) and writes one PNG whose rows and columns
are labelled (what each column shows; `row_labels` / `attribute_names` name the
images and the attribute classes, e.g. `id 3`, `light az-50 el+35`).

Example:

```python
import lrep_zoo
from lrep_zoo.data import yaleb
from lrep_zoo.models.dualdis import grids

model = lrep_zoo.applications.DualDis(weights="yaleb")  # pretrained, 192x168x1 in
test = yaleb.load_yaleb_npz()["test"]  # reads $LREP_ZOO_DATA_DIR
grids.edit_grid(model, test["image"][:6], "edits.png")
x, y, z = test["image"], test["identity"], test["lighting"]
faces, lights, face_ids, light_ids = grids.lighting_examples(x, y, z, return_labels=True)
grids.swap_grid(model, faces, lights, "swaps.png",
                identity_labels=[f"id {k}" for k in face_ids],
                attribute_labels=[f"light {c}" for c in light_ids])
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


def reconstruction_grid(model, images, path, scale: int = 2,
                        col_labels: Sequence[str] | None = None) -> Path:
    """Two rows, labelled: inputs (as the network sees them), reconstructions D(E(x));
    `col_labels` optionally names the images."""
    inputs = _np(model.preprocess(images))
    return save_grid(np.concatenate([inputs, _np(model.reconstruct(images))]), path,
                     nrow=len(images), scale=scale, row_labels=["input", "D(E(x))"],
                     col_labels=col_labels)


def edit_grid(model, images, path, attributes: Sequence[int] | None = None, eps: float | None = None,
              logit_shift: float = 15.0, scale: int = 2, row_labels: Sequence[str] | None = None,
              attribute_names: Sequence[str] | None = None) -> Path:
    """One row per image: input, reconstruction, then D(h_y, h_z + eps w_{z,a}) for
    each attribute class `a` (default: all of W_z's classes or attributes). By default
    eps is `logit_shift / |w_{z,a}|^2`, i.e. the edit raises W_z's logit of `a` by
    `logit_shift`. Binary attributes get two columns each, `+eps` (`NAME on`) and
    `-eps` (`NAME off`).

    Columns are labelled `input`, `D(E(x))`, then `-> NAME` (or `NAME on` / `NAME off`)
    with `attribute_names[a]` (default `z=a`); `row_labels` names the rows (default
    `x1`, `x2`, ...)."""
    binary = getattr(model, "attributes", "categorical") == "binary"
    if attributes is None:
        attributes = range(model.num_attributes if binary else model.num_classes_z)
    attributes = list(attributes)
    n = len(images)
    columns = [_np(model.preprocess(images)), _np(model.reconstruct(images))]
    norms = np.sum(_np(model.attribute_directions()) ** 2, axis=1)
    names = [attribute_names[a] if attribute_names is not None else f"z={a}" for a in attributes]
    signs = (1.0, -1.0) if binary else (1.0,)
    labels = []
    for a, name in zip(attributes, names):
        step = eps if eps is not None else logit_shift / norms[a]
        for sign in signs:
            columns.append(_np(model.edit(images, a, sign * step)))
            labels.append(f"{name} {'on' if sign > 0 else 'off'}" if binary else f"-> {name}")
    tiles = np.stack(columns, axis=1).reshape(n * len(columns), *columns[0].shape[1:])
    return save_grid(tiles, path, nrow=len(columns), scale=scale,
                     row_labels=list(row_labels) if row_labels is not None else
                     [f"x{i + 1}" for i in range(n)],
                     col_labels=["input", "D(E(x))", *labels])


def swap_grid(model, identity_images, attribute_images, path, scale: int = 2,
              identity_labels: Sequence[str] | None = None,
              attribute_labels: Sequence[str] | None = None) -> Path:
    """The thesis' disentangling figure: top-left blank, first row the attribute
    sources, first column the identity sources, cell (i, j) = D(h_y(x_i), h_z(x_j)).

    Rows are labelled with `identity_labels` (default `identity of x1`, ...), columns
    with `attribute_labels` (default `attribute of x'1`, ...)."""
    idn = _np(model.preprocess(identity_images))
    att = _np(model.preprocess(attribute_images))
    blank = np.ones_like(att[:1])
    rows = [np.concatenate([blank, att])]
    for i in range(len(identity_images)):
        repeated = np.repeat(np.asarray(identity_images)[i:i + 1], len(attribute_images), axis=0)
        rows.append(np.concatenate([idn[i:i + 1], _np(model.swap(repeated, attribute_images))]))
    if identity_labels is None:
        identity_labels = [f"x{i + 1}" for i in range(len(identity_images))]
    if attribute_labels is None:
        attribute_labels = [f"x'{j + 1}" for j in range(len(attribute_images))]
    return save_grid(np.concatenate(rows), path, nrow=len(attribute_images) + 1, scale=scale,
                     row_labels=["attribute source", *identity_labels],
                     col_labels=["identity source", *attribute_labels])


def lighting_examples(images, identity, lighting, num_identities: int = 6, seed: int = 0,
                      return_labels: bool = False):
    """Picks `num_identities` images of distinct identities and one image per
    lighting class present (for swap grids; for binary attributes pass one class per
    combination, e.g. `lrep_zoo.data.relit_colour.combination_index(z)`). Returns `(identity_images, lighting_images)`,
    and with `return_labels` also their identities and lighting classes."""
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.unique(identity), size=min(num_identities, len(np.unique(identity))), replace=False)
    frontal = [rng.choice(np.flatnonzero(identity == i)) for i in ids]
    classes = np.unique(lighting)
    light = [rng.choice(np.flatnonzero(lighting == c)) for c in classes]
    out = np.asarray(images)[frontal], np.asarray(images)[light]
    if return_labels:
        return (*out, np.asarray(ids), np.asarray(classes))
    return out
