"""Protocols of the mixing auto-encoder's recipes: Yale-B images at the networks' sizes,
chunk scores of several known factors, run collection and the ablation tables.

`recipes/mixing_yaleb.py` uses all of it; the chunk scores themselves are
`evaluation.chunk_scores` (one factor, NumPy / scikit-learn).

Example:

```python
from lrep_zoo.models import MixingAutoEncoder
from lrep_zoo.models.mixing.experiment import factor_scores, yaleb_mixing_data

data = yaleb_mixing_data(resolution="24x20")    # the 48x42 npz in $LREP_ZOO_DATA_DIR
x = data["train"]["image"]                      # uint8 (N, 24, 20, 1)
model = MixingAutoEncoder((24, 20, 1), num_chunks=4, chunk_dim=4)  # untrained, for the API
scores = factor_scores(model, x[:200], {k: v[:200] for k, v in data["train"]["factors"].items()},
                       data["test"]["image"][:100],
                       {k: v[:100] for k, v in data["test"]["factors"].items()})
scores["factors"]["identity"]["best_nn_map"], scores["test_mse"]
```
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lrep_zoo.models.mixing.evaluation import chunk_scores
from lrep_zoo.models.mixing.mixing_autoencoder import VARIANTS

# Ablation rows in table order: the plain auto-encoder, then the review's four rows.
ORDER = tuple(VARIANTS)
YALEB_FACTORS = ("identity", "azimuth", "elevation", "lighting")
YALEB_RESOLUTIONS = ("48x40", "24x20")


def yaleb_images(images, resolution: str = "48x40") -> np.ndarray:
    """48x42 Yale-B faces at a size the DCGAN networks take (height and width
    divisible by 4): `"48x40"` drops the first and last pixel columns, `"24x20"`
    is that crop's exact 2x2 box average (rounded).

    Args:
        images: uint8 `(N, 48, 42)` or `(N, 48, 42, 1)` (the shared 48x42 npz).
        resolution: `"48x40"` or `"24x20"`.

    Returns:
        uint8 `(N, H, W, 1)`.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.mixing.experiment import yaleb_images
    small = yaleb_images(np.zeros((2, 48, 42, 1), "uint8"), "24x20")  # (2, 24, 20, 1)
    ```
    """
    if resolution not in YALEB_RESOLUTIONS:
        raise ValueError(f"resolution must be one of {YALEB_RESOLUTIONS}, got {resolution!r}.")
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[1:] != (48, 42, 1):
        raise ValueError(f"yaleb_images expects 48x42 grayscale faces (N, 48, 42[, 1]), "
                         f"got shape {x.shape}.")
    x = x[:, :, 1:41]
    if resolution == "24x20":
        x = x.reshape(len(x), 24, 2, 20, 2, 1).astype(np.float64).mean(axis=(2, 4))
        x = np.rint(x)
    return x.astype(np.uint8)


def yaleb_mixing_data(data_dir=None, resolution: str = "48x40") -> dict:
    """The Yale-B splits of `lrep_zoo.data.yaleb.load_yaleb_npz` (48x42 file) with
    images from `yaleb_images` and the known factors as integer labels.

    Returns:
        `{split: {"image": uint8 (N, H, W, 1), "factors": {name: (N,) int}}}` for
        "train", "validation", "test"; factors `YALEB_FACTORS`: identity (0..37),
        azimuth and elevation (the light position in degrees; classes of their
        distinct values), lighting (the 14 classes of methods.md).

    Example:

    ```python
    from lrep_zoo.models.mixing.experiment import yaleb_mixing_data
    data = yaleb_mixing_data(None, "24x20")  # None: $LREP_ZOO_DATA_DIR
    data["test"]["image"].shape[1:]          # (24, 20, 1)
    ```
    """
    from lrep_zoo.data import yaleb

    raw = yaleb.load_yaleb_npz(data_dir, "48x42")
    return {
        split: {"image": yaleb_images(part["image"], resolution),
                "factors": {k: np.asarray(part[k], np.int64) for k in YALEB_FACTORS}}
        for split, part in raw.items()
    }


def encode_numpy(model, images, batch_size: int = 256) -> np.ndarray:
    """`model.encode` in batches, as a NumPy array `(N, code_dim)`."""
    import keras

    return np.concatenate([keras.ops.convert_to_numpy(model.encode(images[i:i + batch_size]))
                           for i in range(0, len(images), batch_size)])


def reconstruction_mse(model, images, batch_size: int = 256) -> float:
    """Mean squared error of `model.reconstruct` against the images scaled to [0, 1]
    (images in 0..255, the model's input contract)."""
    import keras

    rec = np.concatenate([keras.ops.convert_to_numpy(model.reconstruct(images[i:i + batch_size]))
                          for i in range(0, len(images), batch_size)])
    target = np.asarray(images, "float32").reshape(rec.shape) / 255.0
    return float(np.mean((rec - target) ** 2))


def factor_scores(model, probe_images, probe_factors: dict, eval_images, eval_factors: dict,
                  seed: int = 0) -> dict:
    """Chunk scores (`evaluation.chunk_scores`) of every known factor, and the
    reconstruction MSE of the evaluation images.

    Args:
        model: A trained `MixingAutoEncoder`.
        probe_images, eval_images: Images in 0..255; the probes train on the codes
            of the first, are scored on the second, whose codes also give the mAP.
        probe_factors, eval_factors: `{factor name: integer labels}`, the same names.
        seed: Seed of the probes.

    Returns:
        `{"factors": {name: chunk_scores(...)}, "test_mse": float}`.
    """
    if set(probe_factors) != set(eval_factors):
        raise ValueError(f"probe and evaluation factors differ: {sorted(probe_factors)} vs "
                         f"{sorted(eval_factors)}.")
    train_codes, test_codes = encode_numpy(model, probe_images), encode_numpy(model, eval_images)
    return {
        "factors": {name: chunk_scores(train_codes, probe_factors[name], test_codes,
                                       eval_factors[name], num_chunks=model.num_chunks, seed=seed)
                    for name in probe_factors},
        "test_mse": reconstruction_mse(model, eval_images),
    }


def transfer_pairs(factors: dict, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` (target, source) index pairs whose images differ in every given factor
    (deterministic by `seed`), for attribute-transfer grids.

    Example:

    ```python
    from lrep_zoo.models import MixingAutoEncoder
    from lrep_zoo.models.mixing.experiment import transfer_pairs, yaleb_mixing_data
    from lrep_zoo.models.mixing.grids import save_transfer_grid
    data = yaleb_mixing_data(None, "24x20")
    x_test = data["test"]["image"]
    model = MixingAutoEncoder((24, 20, 1), num_chunks=4, chunk_dim=4)  # untrained, for the API
    t, s = transfer_pairs(data["test"]["factors"], 8)
    save_transfer_grid(model, x_test[t], x_test[s], "transfer.png")
    ```
    """
    labels = np.stack([np.asarray(v) for v in factors.values()], axis=1)
    rng = np.random.default_rng(seed)
    targets = rng.choice(len(labels), size=n, replace=len(labels) < n)
    sources = []
    for t in targets:
        ok = np.flatnonzero(np.all(labels != labels[t], axis=1))
        if not len(ok):
            raise ValueError(f"no image differs from image {int(t)} in every factor "
                             f"({sorted(factors)}).")
        sources.append(int(rng.choice(ok)))
    return targets, np.asarray(sources)


def collect_runs(out, order=ORDER) -> list[dict]:
    """The `scores.json` of every run under `out` (`<variant>_seed<k>/`), in variant
    then seed order."""
    runs = [json.loads(p.read_text()) for p in sorted(Path(out).glob("*_seed*/scores.json"))]
    rank = {v: i for i, v in enumerate(order)}
    return sorted(runs, key=lambda r: (rank.get(r["variant"], len(rank)), r["seed"]))


def _mean_std(values, scale: float = 100.0, digits: int = 1) -> str:
    v = scale * np.asarray(values, float)
    return f"{v.mean():.{digits}f} +- {v.std():.{digits}f}"


def factor_tables(runs: list[dict], factors, num_chunks: int) -> str:
    """Markdown: one summary table (best chunk and whole code of every factor, test
    MSE, train seconds; mean +- std over seeds) and one per-chunk table per factor.

    Runs are `scores.json` records with `scores = factor_scores(...)`.
    """
    from lrep_zoo.experiments import markdown_table

    variants = list(dict.fromkeys(r["variant"] for r in runs))
    by_variant = {v: [r for r in runs if r["variant"] == v] for v in variants}
    rows = []
    for v, rs in by_variant.items():
        row = [v, len(rs)]
        for f in factors:
            s = [r["scores"]["factors"][f] for r in rs]
            row += [f"{_mean_std([x['best_nn_map'] for x in s])} (chunk "
                    f"{'/'.join(str(int(np.argmax(x['nn_map']))) for x in s)})",
                    _mean_std([x["full_nn_map"] for x in s])]
        row += [_mean_std([r["scores"]["test_mse"] for r in rs], 1.0, 4),
                _mean_std([r["train_seconds"] for r in rs], 1.0, 0)]
        rows.append(row)
    head = ["variant", "seeds"]
    for f in factors:
        head += [f"{f}: best chunk mAP %", f"{f}: whole code mAP %"]
    text = markdown_table(head + ["test MSE", "train s"], rows)
    chance = {f: runs[0]["scores"]["factors"][f]["chance_nn_map"] for f in factors}
    text += "\n\nChance mAP: " + ", ".join(f"{f} {100 * c:.1f} %" for f, c in chance.items())
    text += ". Best chunk: the chunk with the best mAP (per seed).\n"
    for f in factors:
        chunk_rows = []
        for v, rs in by_variant.items():
            s = [r["scores"]["factors"][f] for r in rs]
            probe = np.mean([x["probe_accuracy"] for x in s], axis=0)
            nn = np.mean([x["nn_map"] for x in s], axis=0)
            full_p = np.mean([x["full_probe_accuracy"] for x in s])
            chunk_rows.append([v] + [f"{100 * p:.1f} / {100 * m:.1f}" for p, m in zip(probe, nn)]
                              + [f"{100 * full_p:.1f} / "
                                 f"{100 * np.mean([x['full_nn_map'] for x in s]):.1f}"])
        text += (f"\n{f}: per chunk, linear probe accuracy % / NN mAP % (mean over seeds):\n\n")
        text += markdown_table(["variant"] + [f"chunk {i}" for i in range(num_chunks)]
                               + ["whole code"], chunk_rows) + "\n"
    return text
