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

Example:

```python
scores = paper_scores(model, test["image"], test["identity"], test["lighting"])
scores["aggregate"]
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


def scores_from_probabilities(probs: dict, y, z) -> dict:
    """Paper-protocol scores (percent) from `classify` outputs and labels."""
    y = np.asarray(y).reshape(-1)
    z = np.asarray(z).reshape(-1)
    scores = {
        "y_acc": 100.0 * float(np.mean(probs["y"].argmax(-1) == y)),
        "z_acc": 100.0 * float(np.mean(probs["z"].argmax(-1) == z)),
        "y_adv_err": 100.0 * float(np.mean(probs["y_adv"].argmax(-1) != y)),
        "z_adv_err": 100.0 * float(np.mean(probs["z_adv"].argmax(-1) != z)),
    }
    scores["aggregate"] = aggregate(scores)
    return {k: scores[k] for k in SCORE_KEYS}


def paper_scores(model, images, y, z, batch_size: int = 256) -> dict:
    """Protocol (a): the model's own W_y, W_z (accuracies) and C_y, C_z (errors), in %."""
    probs = predict_in_batches(model.classify, images, batch_size)
    return scores_from_probabilities(probs, y, z)


def random_reference(num_classes_y: int, num_classes_z: int) -> dict:
    """The paper's 'best value' of the error columns: a uniformly random classifier."""
    return {
        "y_adv_err": 100.0 * (1.0 - 1.0 / num_classes_y),
        "z_adv_err": 100.0 * (1.0 - 1.0 / num_classes_z),
    }


def majority_reference(y_train, z_train, y_test, z_test) -> dict:
    """Ceiling of the strict protocol's error columns: the train-majority predictor's
    test error, in %."""
    y_major = np.bincount(np.asarray(y_train).reshape(-1)).argmax()
    z_major = np.bincount(np.asarray(z_train).reshape(-1)).argmax()
    return {
        "y_adv_err": 100.0 * float(np.mean(np.asarray(y_test) != y_major)),
        "z_adv_err": 100.0 * float(np.mean(np.asarray(z_test) != z_major)),
    }


def format_table(rows: dict, title: str = "", references: dict | None = None) -> str:
    """Markdown table of score rows `{name: scores}`.

    `references` (`{name: scores}`, e.g. chance level and the best value of each
    column) are rows in italics below the scores, so that each column shows its
    reference beside the scores; a missing key is `-`.

    Example:

    ```python
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
