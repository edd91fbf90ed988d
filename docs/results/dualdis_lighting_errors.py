"""Lighting errors of the dualdis_yaleb preset per light position (model card, "What differs").

Prints, for the validation and test splits, the accuracy of W_z and the most frequent
(azimuth, elevation, true class, predicted class) errors with the number of images
at that position and class.

    python docs/results/dualdis_lighting_errors.py [PRESET_DIR]
"""
import collections
import os
import sys

import keras
import numpy as np

from lrep_zoo.recipes import dualdis_yaleb as recipe

here = os.path.dirname(os.path.abspath(__file__))
folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "applications", "dualdis_yaleb")
data = recipe.load_data(os.environ.get("LREP_ZOO_DATA_DIR", "../shared/data"))
model = recipe.load_preset(folder)
for split in ("validation", "test"):
    d = data[split]
    probs = np.concatenate([keras.ops.convert_to_numpy(model.classify(d["image"][i:i + 200])["z"])
                            for i in range(0, len(d["image"]), 200)])
    pred, true = probs.argmax(-1), d["lighting"]
    print(f"{split}: lighting accuracy {100 * (pred == true).mean():.1f} % ({len(true)} images)")
    total = collections.Counter(zip(d["azimuth"], d["elevation"], true))
    errors = collections.Counter((a, e, t, p) for a, e, t, p in zip(d["azimuth"], d["elevation"], true, pred)
                                 if t != p)
    for (a, e, t, p), n in errors.most_common(12):
        print(f"  azimuth {a:+4d} elevation {e:+3d}: class {t} -> {p}: {n} / {total[(a, e, t)]}")
