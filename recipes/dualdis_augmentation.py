"""Recipe: semantic data augmentation with DualDis on Yale-B (methods.md section 3 table).

A trained DualDis (the `dualdis_yaleb` preset, or `--weights`) edits the lighting of
training images: for a training image x of identity y and a lighting class c
(classes 0, 4, 8, 9, 13 are excluded: badly lit), x' = D(h_y, h_z + eps w_{z,c})
with eps chosen so that W_z's logit for c rises by `--logit-shift`. A fresh
identity classifier W_y . E_y . E (same architecture as DualDis' y path) is trained
with Adam on |D_train| real images (240 / 360 / 480, drawn per identity from the
train split) plus 0 / 10 / 20 / 30 / 60 generated images per class (identity), and
scored on the test split. Selection: the last epoch (no test-set peeking).

    python recipes/dualdis_augmentation.py --data-dir ../shared/data \
        --sizes 240 360 480 --generated 0 10 20 30 60 --seeds 0 1 2 --epochs 400 --output-dir runs/dualdis_augmentation
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import numpy as np

from lrep_zoo.recipe_config import option, parse, record

NAME = "dualdis_augmentation"
DESCRIPTION = "Semantic data augmentation with DualDis lighting edits on Yale-B"
EXCLUDED_LIGHTING = (0, 4, 8, 9, 13)


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train dualdis_augmentation` (one flag per field)."""

    data_dir: str | None = option(None, help="folder with the Yale-B npz (default: "
                                             "$LREP_ZOO_DATA_DIR)")
    weights: str | None = option(None, help="DualDis weights (default: the dualdis_yaleb "
                                            "preset)")
    config: str | None = option(None, help="config.json of the weights (default: next to them)")
    sizes: list[int] = option([240, 360, 480])
    generated: list[int] = option([0, 10, 20, 30, 60])
    seeds: list[int] = option([0, 1, 2])
    epochs: int = 400
    logit_shift: float = 8.0
    output_dir: str = f"runs/{NAME}"


def subset_per_identity(identity, size: int, seed: int) -> np.ndarray:
    """Indices of `size` images spread evenly over identities (seeded)."""
    rng = np.random.default_rng(seed)
    ids = np.unique(identity)
    per = [rng.permutation(np.flatnonzero(identity == i)) for i in ids]
    out, k = [], 0
    while len(out) < size:
        for p in per:
            if k < len(p) and len(out) < size:
                out.append(p[k])
        k += 1
    return np.sort(np.asarray(out))


def generate(model, images, identity, per_class: int, seed: int, logit_shift: float = 8.0, batch=128):
    """`per_class` lighting edits per identity from `images` (preprocessed, [0, 1],
    64x64 outputs) and their identity labels."""
    from keras import ops

    if per_class == 0:
        return np.zeros((0, model.input_size, model.input_size, 1), "float32"), np.zeros((0,), int)
    rng = np.random.default_rng(seed)
    allowed = [c for c in range(model.num_classes_z) if c not in EXCLUDED_LIGHTING]
    directions = ops.convert_to_numpy(model.attribute_directions())
    src, attr = [], []
    for i in np.unique(identity):
        idx = np.flatnonzero(identity == i)
        src += list(rng.choice(idx, per_class))
        attr += list(rng.choice(allowed, per_class))
    src, attr = np.asarray(src), np.asarray(attr)
    eps = (logit_shift / np.sum(directions[attr] ** 2, axis=1)).astype("float32")
    out = []
    for s in range(0, len(src), batch):
        out.append(ops.convert_to_numpy(model.edit(images[src[s:s + batch]], attr[s:s + batch], eps[s:s + batch])))
    return np.concatenate(out), identity[src]


def identity_classifier(num_classes: int, input_size: int = 64, seed: int = 0):
    """W_y . E_y . E with the DualDis Yale-B shapes, on [0, 1] images."""
    import keras

    from lrep_zoo.models.dualdis import networks as nets

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((input_size, input_size, 1))
    trunk = nets.shared_encoder((input_size, input_size, 1))
    branch = nets.branch_encoder(trunk.output_shape[1:], name="encoder_y")
    head = nets.linear_head(branch.output_shape[-1], num_classes, name="head_y")
    return keras.Model(inputs, head(branch(trunk(inputs))), name="identity_classifier")


def run_one(model, data, size, per_class, seed, epochs, batch_size=64, logit_shift=8.0) -> float:
    import keras

    from lrep_zoo.models.dualdis.metrics import predict_in_batches

    tr, te = data["train"], data["test"]
    idx = subset_per_identity(tr["identity"], size, seed)
    real = predict_in_batches(model.preprocess, tr["image"][idx])
    gen_x, gen_y = generate(model, tr["image"][idx], tr["identity"][idx], per_class, seed, logit_shift)
    x = np.concatenate([real, gen_x])
    y = np.concatenate([tr["identity"][idx], gen_y])
    clf = identity_classifier(model.num_classes_y, model.input_size, seed)
    clf.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"], jit_compile="auto")
    clf.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0)
    x_test = predict_in_batches(model.preprocess, te["image"])
    return 100.0 * float(clf.evaluate(x_test, te["identity"], verbose=0, batch_size=256)[1])


def load_model(config: Config):
    """The DualDis whose edits augment the data: `--weights` (+ `--config`), else the
    registered `dualdis_yaleb` preset (`DualDis.from_preset`, sha256-checked)."""
    from lrep_zoo.models.dualdis import DualDis

    if config.weights is None:
        return DualDis.from_preset("dualdis_yaleb")
    config_path = config.config or os.path.join(os.path.dirname(config.weights), "config.json")
    with open(config_path) as f:
        model = DualDis.from_config(json.load(f)["config"])
    model.load_weights(config.weights)
    return model


def run(config: Config | None = None) -> dict:
    """Trains the identity classifiers of every size x generated x seed; returns the accuracies.

    Writes `metrics.json` (the options, `results`, time) to `output_dir` after each cell.

    Example:

    ```python
    from lrep_zoo.recipes.dualdis_augmentation import Config, run

    # Yale-B from $LREP_ZOO_DATA_DIR (or data_dir=...), the dualdis_yaleb preset's edits.
    # A smoke-sized table: one cell, 38 real images (one per identity) plus one
    # generated image per identity, one seed, one epoch.
    results = run(Config(sizes=[38], generated=[1], seeds=[0], epochs=1,
                         output_dir="runs/augmentation"))
    print(results["38/1"]["mean"])  # test accuracy (%)
    ```

    The table of methods.md:

    ```bash
    lrep-zoo train dualdis_augmentation --sizes 240 360 480 --generated 0 10 20 30 60 \
        --seeds 0 1 2 --epochs 400 --output-dir runs/dualdis_augmentation
    ```
    """
    from lrep_zoo.data import yaleb

    c = config or Config()
    model = load_model(c)
    data = yaleb.load_yaleb_npz(c.data_dir)
    os.makedirs(c.output_dir, exist_ok=True)
    results, start = {}, time.time()
    for size in c.sizes:
        for per_class in c.generated:
            accs = [run_one(model, data, size, per_class, s, c.epochs, logit_shift=c.logit_shift)
                    for s in c.seeds]
            results[f"{size}/{per_class}"] = {"mean": float(np.mean(accs)), "std": float(np.std(accs)),
                                              "seeds": accs}
            print(f"|D_train| {size} +{per_class}/class: {np.mean(accs):.1f} +- {np.std(accs):.1f} "
                  f"({len(accs)} seeds)", flush=True)
            with open(os.path.join(c.output_dir, "metrics.json"), "w") as f:
                json.dump({**record(c), "results": results, "time_s": time.time() - start}, f,
                          indent=1)
    header = "| |D_train| | " + " | ".join(f"+{g}" if g else "baseline" for g in c.generated) + " |"
    print(header)
    for size in c.sizes:
        print(f"| {size} | " + " | ".join(f"{results[f'{size}/{g}']['mean']:.1f}" for g in c.generated) + " |")
    return results


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train dualdis_augmentation [flags]`."""
    return run(parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION))


if __name__ == "__main__":
    main()
