"""`lrep-zoo demo`: DualDis end to end on an embedded dataset (no download).

By default trains DualDis on procedurally rendered "relit surfaces"
(`lrep_zoo.data.relit`: identity = a random smooth 3-D surface, attribute = one of
9 light directions, Lambertian shading) for a few minutes on CPU, prints the four
disentangling scores (paper protocol, test split) next to their chance and best
values, and writes edit, swap and reconstruction grids with labelled rows and
columns. With `yaleb_model` (e.g. `applications.DualDis(weights="yaleb")`) and
Yale-B data, it scores and draws the pretrained model on real faces instead.

Example:

```python
from lrep_zoo.models.dualdis.demo import demo
scores = demo("dualdis_demo", epochs=2, verbose=0)  # the demo trains 8 epochs by default
```
"""

from __future__ import annotations

import json
import os
import time

import numpy as np


def references(num_classes_y: int, num_classes_z: int) -> dict:
    """Reference rows of the score table: a uniformly random guess (chance) and the
    best value of each column under the paper protocol (accuracies 100; adversary
    errors at the random classifier's, the paper's "best value": an adversary
    fooled beyond chance can score above it)."""
    from lrep_zoo.models.dualdis import metrics as disentangling

    errors = disentangling.random_reference(num_classes_y, num_classes_z)
    chance = {"y_acc": 100.0 / num_classes_y, "z_acc": 100.0 / num_classes_z, **errors}
    best = {"y_acc": 100.0, "z_acc": 100.0, **errors}
    for row in (chance, best):
        row["aggregate"] = disentangling.aggregate(row)
    return {"chance (uniform random guess)": chance,
            "best (paper: adversary errors at chance)": best}


def _light_names(dataset: str, classes) -> list[str]:
    if dataset == "relit_surfaces":
        from lrep_zoo.data import relit

        return [f"az{relit.LIGHTS[c][0]:+d} el{relit.LIGHTS[c][1]:+d}" for c in classes]
    return [f"light {c}" for c in classes]  # Yale-B's 14 lighting classes (yaleb.lighting_class)


def demo(output_dir: str = "lrep_zoo_outputs/demo/dualdis", epochs: int = 8,
         num_identities: int = 10, images_per_pair: int = 8, seed: int = 0, yaleb_model=None,
         data_dir=None, verbose: int = 1) -> dict:
    """Trains (or loads) a DualDis, prints its scores and writes PNG grids.

    Args:
        output_dir: Where `metrics.json`, `edits.png`, `swaps.png` and
            `reconstructions.png` go.
        epochs: Training epochs on the relit surfaces.
        num_identities: Identities of the relit-surfaces dataset.
        images_per_pair: Images per (identity, light direction) pair.
        seed: Data and initialisation seed.
        yaleb_model: A trained Yale-B DualDis: skip training, use real faces
            (needs the Yale-B npz under `data_dir` or `$LREP_ZOO_DATA_DIR`).
        data_dir: Folder of the Yale-B npz files.

    Returns:
        The scores dict (also written to `metrics.json`).
    """
    import keras

    from lrep_zoo.models.dualdis import metrics as disentangling
    from lrep_zoo.models.dualdis import grids

    os.makedirs(output_dir, exist_ok=True)
    start = time.perf_counter()
    if yaleb_model is not None:
        from lrep_zoo.data import yaleb

        data = yaleb.load_yaleb_npz(data_dir)
        model, dataset = yaleb_model, "extended_yale_b"
    else:
        from lrep_zoo.data import relit
        from lrep_zoo.models.dualdis import DualDis

        keras.utils.set_random_seed(seed)
        data = relit.relit_surfaces(num_identities=num_identities, images_per_pair=images_per_pair,
                                     seed=seed)
        model = DualDis(image_shape=data["train"]["image"].shape[1:], num_classes_y=num_identities,
                        num_classes_z=len(relit.LIGHTS))
        model.compile(optimizer={"disc": keras.optimizers.Adam(1e-3), "main": keras.optimizers.Adam(1e-3)},
                      jit_compile=keras.backend.backend() == "jax")
        tr = data["train"]
        model.fit(tr["image"], (tr["identity"], tr["lighting"]), batch_size=32, epochs=epochs,
                  shuffle=True, verbose=2 if verbose else 0)
        dataset = "relit_surfaces"
    test = data["test"]
    scores = disentangling.paper_scores(model, test["image"], test["identity"], test["lighting"])
    scores["random_reference"] = disentangling.random_reference(model.num_classes_y, model.num_classes_z)
    scores.update(dataset=dataset, seconds=time.perf_counter() - start)
    faces, lights, face_ids, light_ids = grids.lighting_examples(
        test["image"], test["identity"], test["lighting"], seed=seed, return_labels=True)
    face_names = [f"id {k}" for k in face_ids]
    all_lights = _light_names(dataset, range(model.num_classes_z))
    grids.edit_grid(model, faces[:4], os.path.join(output_dir, "edits.png"),
                    row_labels=face_names[:4], attribute_names=all_lights)
    grids.swap_grid(model, faces, lights, os.path.join(output_dir, "swaps.png"),
                    identity_labels=face_names, attribute_labels=_light_names(dataset, light_ids))
    shown = [f"id {k} {name}" for k, name in zip(
        np.asarray(test["identity"][:12]), _light_names(dataset, np.asarray(test["lighting"][:12])))]
    grids.reconstruction_grid(model, test["image"][:12],
                              os.path.join(output_dir, "reconstructions.png"), col_labels=shown)
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(scores, f, indent=1)
    if verbose:
        print(disentangling.format_table(
            {f"DualDis on {dataset} (test, paper protocol)": scores},
            references=references(model.num_classes_y, model.num_classes_z)))
        print(f"grids: {output_dir}/edits.png, swaps.png, reconstructions.png")
    return scores
