"""Recipe: lighting errors of a DualDis preset per light position (model card, "What differs").

Prints, for the validation and test splits, the accuracy of W_z and the most
frequent (azimuth, elevation, true class, predicted class) errors with the number
of images at that position and class. With `--output-dir`, also writes
`lighting_errors.json`. Nothing is trained.

    lrep-zoo train dualdis_lighting_errors --data-dir ../shared/data [--preset DIR]
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


def lighting_errors(model, split: dict, top: int = 12, batch_size: int = 200) -> dict:
    """W_z's accuracy (%) on `split` and its `top` most frequent errors per light position.

    Returns `{"accuracy", "images", "errors": [{azimuth, elevation, true, predicted,
    count, of}]}` where `of` counts the images at that position and true class.

    Example:

    ```python
    lighting_errors(DualDis.from_preset("dualdis_yaleb"), load_data()["test"])["accuracy"]
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


def run(config: Config | None = None) -> dict:
    """Scores the preset's lighting head on each split and prints the errors.

    Example:

    ```python
    run(Config(data_dir="../shared/data", splits=["test"]))
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
