"""Recipe: lighting errors of a DualDis preset per light position (model card, "What differs").

Prints, for the validation and test splits, the accuracy of W_z and the most
frequent (azimuth, elevation, true class, predicted class) errors with the number
of images at that position and class. With `--output-dir`, also writes
`lighting_errors.json`. Nothing is trained (but the probes of `--diagnose`).

`--diagnose` (issue 16.3; VALIDATION split only, the test split is never read for it)
adds what the errors are made of:

- `edges`: the light positions' geometry under the 14-class binning: for each
  position, the nearest position of another class (degrees), and the share of
  W_z's validation errors at positions within 15 degrees of another class;
- `probes`: fresh probes, trained on a seeded 80 % of the train split (early-stopped
  on the other 20 %) and scored on validation: linear 14-class and linear
  64-position (then binned) probes and 5-NN on the frozen h_z, ridge regression of
  (azimuth, elevation) from h_z (then binned); a ridge classifier on the 48x42 pixels
  (per-image standardised);
- `mirror`: W_z on the left-right flipped validation images, scored against the
  mirrored labels (`MIRRORED_LIGHTING_CLASS`) and against the unmirrored ones;
- `gain`: W_z on validation images times g (clipped at 255, as `--gain` does in
  training) and the share of clipped pixels.

    lrep-zoo train dualdis_lighting_errors --data-dir ../shared/data [--preset DIR] [--diagnose]
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from lrep_zoo.data.yaleb import load_yaleb as load_data
from lrep_zoo.recipe_config import option, parse, record

NAME = "dualdis_lighting_errors"
DESCRIPTION = "DualDis on Yale-B: W_z's lighting errors per light position (no training)"


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train dualdis_lighting_errors` (one flag per field)."""

    preset: str = option("dualdis_yaleb", help="a registered DualDis preset or a preset folder")
    data_dir: str | None = option(None, help="folder with the Yale-B npz (default: "
                                             "$LREP_ZOO_DATA_DIR), else a TFDS data_dir")
    splits: list[str] = option(["validation", "test"], choices=("train", "validation", "test"))
    top: int = option(12, help="errors listed per split")
    output_dir: str | None = option(None, help="also write lighting_errors.json here")
    diagnose: bool = option(False, help="also the validation diagnosis: bin-edge geometry, "
                                        "probes, mirrored labels, brightness gain")
    gains: list[float] = option([0.25, 0.5, 1.0, 2.0, 4.0], help="--diagnose: brightness factors")
    seed: int = option(0, help="--diagnose: probe split and initialisation")


def lighting_errors(model, split: dict, top: int = 12, batch_size: int = 200) -> dict:
    """W_z's accuracy (%) on `split` and its `top` most frequent errors per light position.

    Returns `{"accuracy", "images", "errors": [{azimuth, elevation, true, predicted,
    count, of}]}` where `of` counts the images at that position and true class.

    Example:

    ```python
    from lrep_zoo.data.yaleb import load_yaleb
    from lrep_zoo.models.dualdis import DualDis
    from lrep_zoo.recipes.dualdis_lighting_errors import lighting_errors

    model = DualDis.from_preset("dualdis_yaleb")
    test = load_yaleb()["test"]  # the 192x168 npz of $LREP_ZOO_DATA_DIR
    test = {key: values[:200] for key, values in test.items()}  # its first 200 images
    scores = lighting_errors(model, test, top=3)
    print(scores["accuracy"], scores["errors"][0])
    ```
    """
    import keras

    images = split["image"]
    probs = np.concatenate([keras.ops.convert_to_numpy(model.classify(images[i:i + batch_size])["z"])
                            for i in range(0, len(images), batch_size)])
    pred, true = probs.argmax(-1), split["lighting"]
    azimuth, elevation = split["azimuth"], split["elevation"]
    total = collections.Counter(zip(azimuth, elevation, true))
    errors = collections.Counter((a, e, t, p) for a, e, t, p in zip(azimuth, elevation, true, pred)
                                 if t != p)
    return {
        "accuracy": float(100 * (pred == true).mean()), "images": int(len(true)),
        "errors": [{"azimuth": int(a), "elevation": int(e), "true": int(t), "predicted": int(p),
                    "count": n, "of": total[(a, e, t)]}
                   for (a, e, t, p), n in errors.most_common(top)],
    }


def _classes_of(model, images, batch_size: int = 200) -> np.ndarray:
    import keras

    return np.concatenate([keras.ops.convert_to_numpy(model.classify(images[i:i + batch_size])["z"])
                           for i in range(0, len(images), batch_size)]).argmax(-1)


def edge_geometry(data: dict, errors: dict | None = None, near: float = 15.0) -> dict:
    """Per light position of the data: its class and the nearest position of another
    class (angular distance in degrees, on the (azimuth, elevation) plane). With
    `errors` (`lighting_errors` of the validation split), the share of those errors
    at positions within `near` degrees of another class.

    Example:

    ```python
    from lrep_zoo.data.yaleb import load_yaleb
    from lrep_zoo.recipes.dualdis_lighting_errors import edge_geometry

    # Only the light positions count: the small 48x42 npz has the same splits.
    geometry = edge_geometry(load_yaleb(resolution="48x42"))
    print(geometry["positions"][0], geometry["positions_near_another_class"])
    ```
    """
    from lrep_zoo.data.yaleb import lighting_class

    positions = sorted({(int(a), int(e)) for split in data.values()
                        for a, e in zip(split["azimuth"], split["elevation"])})
    angles = np.array(positions, "float64")
    classes = lighting_class(angles[:, 0], angles[:, 1])
    distance = np.hypot(*(angles[:, None, :] - angles[None, :, :]).transpose(2, 0, 1))
    rows = []
    for i, (a, e) in enumerate(positions):
        other = np.where(classes != classes[i], distance[i], np.inf)
        j = int(other.argmin())
        rows.append({"azimuth": a, "elevation": e, "class": int(classes[i]),
                     "nearest_other": list(positions[j]), "nearest_other_class": int(classes[j]),
                     "distance": float(other[j])})
    out = {"positions": rows, "near_degrees": near,
           "positions_near_another_class": sum(r["distance"] <= near for r in rows)}
    if errors is not None:
        close = {(r["azimuth"], r["elevation"]) for r in rows if r["distance"] <= near}
        total = sum(e["count"] for e in errors["errors"])
        at_edges = sum(e["count"] for e in errors["errors"]
                       if (e["azimuth"], e["elevation"]) in close)
        # How far the true light is from the nearest position of the predicted class.
        to_predicted = [float(np.min(distance[positions.index((e["azimuth"], e["elevation"]))]
                                     [classes == e["predicted"]])) for e in errors["errors"]
                        for _ in range(e["count"])]
        out.update(errors_listed=total, errors_near_another_class=at_edges,
                   error_distance_to_predicted_class=sorted(to_predicted))
    return out


def _standardised_pixels(images) -> np.ndarray:
    x = np.asarray(images, "float64").reshape(len(images), -1)
    x = x - x.mean(1, keepdims=True)
    return x / (x.std(1, keepdims=True) + 1e-6)


def _ridge(x_train, targets, x_test, alpha: float) -> np.ndarray:
    """Ridge regression (standardised features, intercept) predictions on `x_test`."""
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mean) / std, (x_test - mean) / std
    offset = targets.mean(0)
    w = np.linalg.solve(a.T @ a + alpha * np.eye(a.shape[1]), a.T @ (targets - offset))
    return b @ w + offset


def _knn(x_train, labels, x_test, k: int = 5) -> np.ndarray:
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    a, b = (x_train - mean) / std, (x_test - mean) / std
    d = (b ** 2).sum(1)[:, None] - 2 * b @ a.T + (a ** 2).sum(1)[None, :]
    nearest = labels[np.argsort(d, axis=1)[:, :k]]
    return np.array([np.bincount(row).argmax() for row in nearest])


def probe_diagnosis(model, data: dict, pixels: dict | None = None, seed: int = 0) -> dict:
    """Validation accuracy (%) of fresh lighting probes (see the module docstring):
    on the frozen h_z (linear 14-class, linear 64-position then binned, 5-NN, ridge
    (azimuth, elevation) then binned, with its mean absolute errors in degrees) and,
    with `pixels` (the same splits at 48x42), a ridge classifier on the pixels.

    Example:

    ```python
    from lrep_zoo.data.yaleb import load_yaleb
    from lrep_zoo.models.dualdis import DualDis
    from lrep_zoo.recipes.dualdis_lighting_errors import probe_diagnosis

    model = DualDis.from_preset("dualdis_yaleb")
    data = load_yaleb()
    # Smaller: every other training image, and the validation images at light
    # positions that those training images cover.
    train = {key: values[::2] for key, values in data["train"].items()}
    seen = set(zip(train["azimuth"].tolist(), train["elevation"].tolist()))
    val = data["validation"]
    keep = [(a, e) in seen for a, e in zip(val["azimuth"].tolist(), val["elevation"].tolist())]
    val = {key: values[keep][:100] for key, values in val.items()}
    probes = probe_diagnosis(model, {"train": train, "validation": val})
    print(probes["h_z_linear_14"], probes["h_z_knn5_14"])
    ```
    """
    from lrep_zoo.data.yaleb import lighting_class
    from lrep_zoo.models.dualdis import metrics as disentangling, probes

    train, val = data["train"], data["validation"]
    order = np.random.default_rng(seed).permutation(len(train["image"]))
    fit, stop = order[:int(0.8 * len(order))], order[int(0.8 * len(order)):]
    positions = sorted({(int(a), int(e)) for a, e in zip(train["azimuth"], train["elevation"])})
    index = {p: i for i, p in enumerate(positions)}
    position_class = np.array([lighting_class(a, e) for a, e in positions])
    pos_train = np.array([index[(int(a), int(e))] for a, e in zip(train["azimuth"], train["elevation"])])
    z_train, z_val = train["lighting"], val["lighting"]
    h_train = disentangling.predict_in_batches(lambda x: model.encode(x)[1], train["image"])
    h_val = disentangling.predict_in_batches(lambda x: model.encode(x)[1], val["image"])

    def accuracy(pred):
        return float(100 * np.mean(pred == z_val))

    out = {}
    out["h_z_linear_14"] = accuracy(probes.train_probe(
        h_train[fit], z_train[fit], h_train[stop], z_train[stop], num_classes=14, seed=seed)(h_val))
    linear_64 = probes.train_probe(h_train[fit], pos_train[fit], h_train[stop], pos_train[stop],
                                   num_classes=len(positions), seed=seed)(h_val)
    out["h_z_linear_64_binned"] = accuracy(position_class[linear_64])
    out["h_z_linear_64_position_accuracy"] = float(100 * np.mean(
        linear_64 == np.array([index[(int(a), int(e))] for a, e in zip(val["azimuth"], val["elevation"])])))
    out["h_z_knn5_14"] = accuracy(_knn(h_train, z_train, h_val, 5))
    angles = np.stack([train["azimuth"], train["elevation"]], 1).astype("float64")
    regressed = _ridge(h_train, angles, h_val, alpha=1.0)
    out["h_z_ridge_angles_binned"] = accuracy(lighting_class(regressed[:, 0], regressed[:, 1]))
    out["h_z_ridge_angles_mae_degrees"] = np.abs(
        regressed - np.stack([val["azimuth"], val["elevation"]], 1)).mean(0).tolist()
    if pixels is not None:
        x_train = _standardised_pixels(pixels["train"]["image"])
        x_val = _standardised_pixels(pixels["validation"]["image"])
        scores = _ridge(x_train, np.eye(14)[pixels["train"]["lighting"]], x_val, alpha=100.0)
        out["pixels_ridge_14"] = float(100 * np.mean(scores.argmax(1) == pixels["validation"]["lighting"]))
    return out


def mirror_and_gain(model, split: dict, gains=(0.25, 0.5, 1.0, 2.0, 4.0)) -> dict:
    """W_z's accuracy (%) on left-right flipped images (mirrored and unmirrored
    labels) and on images times each gain (clipped at 255), with the share of
    clipped pixels.

    Example:

    ```python
    from lrep_zoo.data.yaleb import load_yaleb
    from lrep_zoo.models.dualdis import DualDis
    from lrep_zoo.recipes.dualdis_lighting_errors import mirror_and_gain

    model = DualDis.from_preset("dualdis_yaleb")
    validation = load_yaleb()["validation"]
    validation = {key: values[:100] for key, values in validation.items()}
    print(mirror_and_gain(model, validation, gains=(0.5, 2.0)))
    ```
    """
    from lrep_zoo.data.yaleb import MIRRORED_LIGHTING_CLASS

    images, z = split["image"], split["lighting"]
    flipped = _classes_of(model, np.ascontiguousarray(images[:, :, ::-1]))
    out = {"mirrored_images_mirrored_labels": float(100 * np.mean(flipped == MIRRORED_LIGHTING_CLASS[z])),
           "mirrored_images_unmirrored_labels": float(100 * np.mean(flipped == z)), "gain": []}
    for g in gains:
        scaled = images.astype("float32") * np.float32(g)
        out["gain"].append({"gain": float(g), "accuracy": float(100 * np.mean(
            _classes_of(model, np.minimum(scaled, 255.0)) == z)),
            "clipped_pixels": float(100 * np.mean(scaled > 255.0))})
    return out


def run(config: Config | None = None) -> dict:
    """Scores the preset's lighting head on each split and prints the errors.

    Example:

    ```python
    from lrep_zoo.recipes.dualdis_lighting_errors import Config, run

    # Yale-B from $LREP_ZOO_DATA_DIR (or data_dir=...); the validation split only.
    results = run(Config(splits=["validation"], top=3, output_dir="runs/lighting_errors"))
    print(results["splits"]["validation"]["accuracy"])
    ```
    """
    from lrep_zoo import reporting
    from lrep_zoo.models.dualdis import DualDis

    c = config or Config()
    data = load_data(c.data_dir)
    model = DualDis.from_preset(c.preset)
    results = {"recipe": NAME, **record(c), "splits": {}}
    for name in c.splits:
        scores = results["splits"][name] = lighting_errors(model, data[name], top=c.top)
        print(f"{name}: lighting accuracy {scores['accuracy']:.1f} % ({scores['images']} images)")
        for e in scores["errors"]:
            print(f"  azimuth {e['azimuth']:+4d} elevation {e['elevation']:+3d}: class {e['true']} "
                  f"-> {e['predicted']}: {e['count']} / {e['of']}")
    if c.diagnose:
        from lrep_zoo.data.yaleb import load_yaleb_npz

        errors = lighting_errors(model, data["validation"], top=1000)
        pixels = load_yaleb_npz(c.data_dir, resolution="48x42")
        results["diagnosis"] = diagnosis = {
            "split": "validation",
            "edges": edge_geometry(data, errors),
            "probes": probe_diagnosis(model, data, pixels, seed=c.seed),
            **mirror_and_gain(model, data["validation"], c.gains),
        }
        edges = diagnosis["edges"]
        print(f"validation: {edges['errors_near_another_class']} of W_z's {edges['errors_listed']} "
              f"errors at the {edges['positions_near_another_class']} light positions within "
              f"{edges['near_degrees']:g} degrees of another class; degrees from the true light "
              f"to the predicted class: {edges['error_distance_to_predicted_class']}")
        for name, value in diagnosis["probes"].items():
            print(f"  probe {name}: {value}")
        print(f"  mirrored images: {diagnosis['mirrored_images_mirrored_labels']:.1f} % with "
              f"mirrored labels, {diagnosis['mirrored_images_unmirrored_labels']:.1f} % unmirrored")
        for row in diagnosis["gain"]:
            print(f"  gain {row['gain']:g}: {row['accuracy']:.1f} % ({row['clipped_pixels']:.1f} % "
                  "pixels clipped)")
    if c.output_dir:
        path = reporting.write_json(reporting.output_dir(c.output_dir) / "lighting_errors.json",
                                    results)
        print(f"Wrote {path}")
    return results


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train dualdis_lighting_errors [flags]`."""
    return run(parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION))


if __name__ == "__main__":
    main()
