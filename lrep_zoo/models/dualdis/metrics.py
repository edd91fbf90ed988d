"""Disentangling scores of DualDis-like models (Robert, Thome, Cord 2019), two protocols.

Four scores, in percent, and their aggregate (the mean of the four):

| column       | meaning                                   | paper protocol (a)          |
|--------------|-------------------------------------------|-----------------------------|
| `y_acc`      | h_y -> y accuracy                         | model's own W_y, test split |
| `z_acc`      | h_z -> z accuracy                         | model's own W_z             |
| `y_adv_err`  | h_z -> y error (high = disentangled)      | model's own C_y             |
| `z_adv_err`  | h_y -> z error (high = disentangled)      | model's own C_z             |

(a) `paper_scores`: the model's own heads, as in the thesis; reference for the
error columns is a random classifier, `100 (1 - 1/K)`; a fooled adversary can
score above it.
(b) `strict_scores` (in `lrep_zoo.models.dualdis.probes`): fresh probes on frozen codes,
trained on the train split; the error columns' ceiling is the majority-class error.

Binary attributes (z of shape `(N, k)`, 0 / 1, negative or NaN = unlabelled): each
attribute is scored on its labelled rows, `z_acc_per_attribute` and
`z_adv_err_per_attribute` list the k scores, and `z_acc` / `z_adv_err` are their means,
the aggregate the paper reports for CelebA's 40 attributes (mean attribute accuracy
of W_z, mean attribute error of C_z); a probability above 1/2 predicts 1.

Example:

```python
import lrep_zoo
from lrep_zoo.data import yaleb
from lrep_zoo.models.dualdis.metrics import paper_scores

model = lrep_zoo.applications.DualDis(weights="yaleb")  # pretrained, 192x168x1 in
test = yaleb.load_yaleb_npz()["test"]  # reads $LREP_ZOO_DATA_DIR
test = {k: v[::8] for k, v in test.items()}  # every 8th test image, to be quick
scores = paper_scores(model, test["image"], test["identity"], test["lighting"])
scores["aggregate"]  # ~95 on this slice (the mean of the four scores, in %)
```
"""

from __future__ import annotations

import numpy as np
from keras import ops

PAPER_YALEB = {
    "dualdis": {"aggregate": 92.0, "y_acc": 98.6, "z_acc": 97.3, "y_adv_err": 98.8, "z_adv_err": 73.4},
    "multitask": {"aggregate": 81.5, "y_acc": 98.5, "z_acc": 97.2, "y_adv_err": 85.3, "z_adv_err": 45.1},
    "adv_y": {"aggregate": 79.8, "y_acc": 98.3, "z_acc": 84.1, "y_adv_err": 92.5, "z_adv_err": 44.4},
}
SCORE_KEYS = ("aggregate", "y_acc", "z_acc", "y_adv_err", "z_adv_err")


def predict_in_batches(fn, x, batch_size: int = 256):
    """Applies `fn` (returning a tensor or a dict of tensors) batch by batch; numpy out."""
    outs = []
    for start in range(0, len(x), batch_size):
        out = fn(x[start:start + batch_size])
        if isinstance(out, dict):
            out = {k: ops.convert_to_numpy(v) for k, v in out.items()}
        elif isinstance(out, (tuple, list)):
            out = tuple(ops.convert_to_numpy(v) for v in out)
        else:
            out = ops.convert_to_numpy(out)
        outs.append(out)
    first = outs[0]
    if isinstance(first, dict):
        return {k: np.concatenate([o[k] for o in outs]) for k in first}
    if isinstance(first, tuple):
        return tuple(np.concatenate([o[i] for o in outs]) for i in range(len(first)))
    return np.concatenate(outs)


def aggregate(scores: dict) -> float:
    """Mean of the four scores."""
    return float(np.mean([scores[k] for k in SCORE_KEYS[1:]]))


def is_binary(z) -> bool:
    """Whether attribute labels `z` are binary attributes `(N, k)`: two dimensions with
    k > 1 or float values (an integer `(N, 1)` column is read as class indices)."""
    z = np.asarray(z)
    return z.ndim == 2 and (z.shape[1] > 1 or not np.issubdtype(z.dtype, np.integer))


def labelled(z) -> np.ndarray:
    """Mask of the labelled entries of `z`: not negative, not NaN."""
    z = np.asarray(z, dtype="float64")
    return np.isfinite(z) & (z >= 0)


def per_attribute_accuracy(predicted, z) -> np.ndarray:
    """Accuracy in % of each column of `predicted` (0 / 1) against binary labels `z`,
    on the labelled rows of that column (NaN for a column without labels)."""
    predicted, mask = np.asarray(predicted), labelled(z)
    z = np.where(mask, np.asarray(z, dtype="float64"), 0.0)
    hits = (predicted == z) & mask
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * hits.sum(0) / mask.sum(0)


def scores_from_probabilities(probs: dict, y, z) -> dict:
    """Paper-protocol scores (percent) from `classify` outputs and labels.

    Binary `z` `(N, k)`: also `z_acc_per_attribute` and `z_adv_err_per_attribute`
    (lists of k), whose means are `z_acc` and `z_adv_err`. Categorical z < 0
    (unlabelled) rows are left out of the z columns.
    """
    y = np.asarray(y).reshape(-1)
    scores = {
        "y_acc": 100.0 * float(np.mean(probs["y"].argmax(-1) == y)),
        "y_adv_err": 100.0 * float(np.mean(probs["y_adv"].argmax(-1) != y)),
    }
    extra = {}
    if np.ndim(z) == 2 and np.shape(probs["z"]) == np.shape(z):  # binary attributes
        acc = per_attribute_accuracy(probs["z"] > 0.5, z)
        adv_err = 100.0 - per_attribute_accuracy(probs["z_adv"] > 0.5, z)
        scores["z_acc"], scores["z_adv_err"] = float(np.nanmean(acc)), float(np.nanmean(adv_err))
        extra = {"z_acc_per_attribute": acc.tolist(), "z_adv_err_per_attribute": adv_err.tolist()}
    else:
        z = np.asarray(z).reshape(-1)
        keep = z >= 0
        scores["z_acc"] = 100.0 * float(np.mean(probs["z"].argmax(-1)[keep] == z[keep]))
        scores["z_adv_err"] = 100.0 * float(np.mean(probs["z_adv"].argmax(-1)[keep] != z[keep]))
    scores["aggregate"] = aggregate(scores)
    return {**{k: scores[k] for k in SCORE_KEYS}, **extra}


def paper_scores(model, images, y, z, batch_size: int = 256) -> dict:
    """Protocol (a): the model's own W_y, W_z (accuracies) and C_y, C_z (errors), in %."""
    probs = predict_in_batches(model.classify, images, batch_size)
    return scores_from_probabilities(probs, y, z)


def random_reference(num_classes_y: int, num_classes_z: int) -> dict:
    """The paper's 'best value' of the error columns: a uniformly random classifier
    (binary attributes: `num_classes_z=2`, 50 %)."""
    return {
        "y_adv_err": 100.0 * (1.0 - 1.0 / num_classes_y),
        "z_adv_err": 100.0 * (1.0 - 1.0 / num_classes_z),
    }


def majority_reference(y_train, z_train, y_test, z_test) -> dict:
    """Ceiling of the strict protocol's error columns: the train-majority predictor's
    test error, in % (binary z: per attribute on its labelled rows, then the mean, with
    `z_adv_err_per_attribute`)."""
    y_major = np.bincount(np.asarray(y_train).reshape(-1)).argmax()
    out = {"y_adv_err": 100.0 * float(np.mean(np.asarray(y_test) != y_major))}
    if is_binary(z_train):
        z_train = np.asarray(z_train, dtype="float64")
        mask = labelled(z_train)
        majority = (np.where(mask, z_train, 0.0).sum(0) * 2 > mask.sum(0)).astype(float)
        errors = 100.0 - per_attribute_accuracy(
            np.broadcast_to(majority, np.shape(z_test)), z_test)
        out["z_adv_err"] = float(np.nanmean(errors))
        out["z_adv_err_per_attribute"] = errors.tolist()
        return out
    z_train = np.asarray(z_train).reshape(-1)
    z_major = np.bincount(z_train[z_train >= 0]).argmax()
    z_test = np.asarray(z_test).reshape(-1)
    out["z_adv_err"] = 100.0 * float(np.mean(z_test[z_test >= 0] != z_major))
    return out


def format_table(rows: dict, title: str = "", references: dict | None = None) -> str:
    """Markdown table of score rows `{name: scores}`.

    `references` (`{name: scores}`, e.g. chance level and the best value of each
    column) are rows in italics below the scores, so that each column shows its
    reference beside the scores; a missing key is `-`.

    Example:

    ```python
    from lrep_zoo.models.dualdis.metrics import PAPER_YALEB, format_table

    scores = PAPER_YALEB["dualdis"]  # or paper_scores(model, images, y, z)
    chance = {"y_acc": 2.6, "z_acc": 7.1, "y_adv_err": 97.4, "z_adv_err": 92.9}
    print(format_table({"DualDis": scores}, references={"chance": chance}))
    ```
    """
    lines = [title] if title else []
    lines.append("| model | aggr. | h_y->y acc. | h_z->z acc. | h_z->y_adv err. | h_y->z_adv err. |")
    lines.append("|---|---|---|---|---|---|")
    for name, s in rows.items():
        cells = ["-" if s.get(k) is None else f"{s[k]:.1f}" for k in SCORE_KEYS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, s in (references or {}).items():
        cells = ["-" if s.get(k) is None else f"*{s[k]:.1f}*" for k in SCORE_KEYS]
        lines.append(f"| *{name}* | " + " | ".join(cells) + " |")
    return "\n".join(lines)
