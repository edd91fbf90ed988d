"""Frozen-feature probes: the strict disentangling protocol (b).

The encoder is frozen; fresh classifiers are trained on the codes of the train
split (early-stopped on the validation split) and scored on the test split:

- accuracy columns: linear probes h_y -> y and h_z -> z;
- disentangling columns: MLP probes as large as the adversaries (80-80-K)
  h_z -> y and h_y -> z; their test error, with the majority-class error as ceiling.

A fresh probe cannot be fooled by the training game, so these errors show how
much of the undesired information really remains in each code.

Binary attributes (z `(N, k)`, negative or NaN = unlabelled): one 2-class probe per
attribute (linear on h_z, MLP 80-80-2 on h_y), trained and scored on the rows that
label that attribute; `z_acc` / `z_adv_err` are the means over attributes (the
paper's CelebA aggregate), with `z_acc_per_attribute` / `z_adv_err_per_attribute`.
Categorical z < 0 rows are left out of the z probes.

Example:

```python
import lrep_zoo
from lrep_zoo.data import yaleb
from lrep_zoo.models.dualdis import probes

model = lrep_zoo.applications.DualDis(weights="yaleb")  # pretrained, 192x168x1 in
data = yaleb.load_yaleb_npz()  # data: {"train": {...}, "validation": ..., "test": ...}
data = {split: {k: v[::8] for k, v in d.items()} for split, d in data.items()}  # quick slices
scores = probes.strict_scores(model, data)  # {"aggregate", "y_acc", ..., "ceiling"}
```
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lrep_zoo.models.dualdis import metrics as disentangling


def train_probe(
    x_train, y_train, x_val=None, y_val=None, hidden: Sequence[int] = (), num_classes: int | None = None,
    epochs: int = 1000, learning_rate: float = 1e-2, patience: int = 100, seed: int = 0,
):
    """A softmax classifier (linear, or MLP with `hidden` ReLU layers) on standardised
    features, trained full-batch with Adam in numpy (fast, deterministic, backend-free);
    early-stopped on the validation cross-entropy when `(x_val, y_val)` is given.
    `epochs` counts full-batch steps. Returns `predict(x) -> labels`."""
    rng = np.random.default_rng(seed)
    x_train = np.asarray(x_train, "float64")
    y_train = np.asarray(y_train).astype(int)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    num_classes = int(num_classes or int(y_train.max()) + 1)
    sizes = [x_train.shape[1], *hidden, num_classes]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(0, np.sqrt(2.0 / fan_in), (fan_in, fan_out)), np.zeros(fan_out)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]

    def forward(x):
        acts = [(x - mean) / std]
        for k in range(0, len(params) - 2, 2):
            acts.append(np.maximum(acts[-1] @ params[k] + params[k + 1], 0.0))
        logits = acts[-1] @ params[-2] + params[-1]
        return acts, logits

    def xent(logits, y):
        z = logits - logits.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean(), np.exp(logp)

    onehot = np.eye(num_classes)[y_train]
    best, best_loss, since = [p.copy() for p in params], np.inf, 0
    for step in range(1, epochs + 1):
        acts, logits = forward(x_train)
        _, probs = xent(logits, y_train)
        grad = (probs - onehot) / len(y_train)
        grads = []
        for k in range(len(params) - 2, -1, -2):
            grads = [acts[k // 2].T @ grad, grad.sum(0)] + grads
            if k:
                grad = (grad @ params[k].T) * (acts[k // 2] > 0)
        for i, (p, g) in enumerate(zip(params, grads)):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            p -= learning_rate * (m[i] / (1 - 0.9 ** step)) / (np.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8)
        if x_val is not None and step % 10 == 0:
            loss = xent(forward(np.asarray(x_val, "float64"))[1], np.asarray(y_val).astype(int))[0]
            if loss < best_loss:
                best, best_loss, since = [p.copy() for p in params], loss, 0
            else:
                since += 10
                if since >= patience:
                    break
    if x_val is not None:
        params[:] = best

    def predict(x):
        return forward(np.asarray(x, "float64"))[1].argmax(-1)

    return predict


def encode_splits(model, data: dict, batch_size: int = 256) -> dict:
    """`{split: (h_y, h_z)}` of the model's frozen encoder."""
    return {
        split: disentangling.predict_in_batches(model.encode, data[split]["image"], batch_size)
        for split in data
    }


def strict_scores(model, data: dict, hidden: Sequence[int] = (80,), seed: int = 0,
                  y_key: str = "identity", z_key: str = "lighting",
                  codes: dict | None = None) -> dict:
    """Protocol (b) scores in %, plus `ceiling` (majority-class errors) and the aggregate.

    Args:
        model: Has `encode(images) -> (h_y, h_z)`.
        data: `{"train", "validation", "test"}` dicts with `image`, `y_key`, `z_key`.
        hidden: Hidden layers of the MLP probes (as large as the adversaries C).
        codes: `encode_splits(model, data)`, when already computed (`image` is then unused).
    """
    codes = encode_splits(model, data) if codes is None else codes
    tr, va, te = (data[s] for s in ("train", "validation", "test"))
    (hy_tr, hz_tr), (hy_va, hz_va), (hy_te, hz_te) = (codes[s] for s in ("train", "validation", "test"))
    ny = int(max(tr[y_key].max(), te[y_key].max())) + 1
    nz = 2 if disentangling.is_binary(tr[z_key]) else int(max(tr[z_key].max(), te[z_key].max())) + 1
    probes = {
        "y_acc": (hy_tr, tr[y_key], hy_va, va[y_key], hy_te, te[y_key], (), ny),
        "z_acc": (hz_tr, tr[z_key], hz_va, va[z_key], hz_te, te[z_key], (), nz),
        "y_adv_err": (hz_tr, tr[y_key], hz_va, va[y_key], hz_te, te[y_key], hidden, ny),
        "z_adv_err": (hy_tr, tr[z_key], hy_va, va[z_key], hy_te, te[z_key], hidden, nz),
    }
    scores = {}
    for name, (xt, yt, xv, yv, xe, ye, hid, k) in probes.items():
        if name.startswith("z") and disentangling.is_binary(yt):
            accs = [_binary_probe_accuracy(xt, yt[:, j], xv, yv[:, j], xe, ye[:, j], hid, seed)
                    for j in range(yt.shape[1])]
            per = [a if name.endswith("acc") else 100.0 - a for a in accs]
            scores[name], scores[f"{name}_per_attribute"] = float(np.nanmean(per)), per
            continue
        if name.startswith("z"):
            xt, yt, xv, yv, xe, ye = _labelled_rows(xt, yt, xv, yv, xe, ye)
        if len(yv) == 0:  # no labelled validation rows: no early stopping
            xv = yv = None
        pred = train_probe(xt, yt, xv, yv, hidden=hid, num_classes=k, seed=seed)(xe)
        acc = 100.0 * float(np.mean(pred == ye))
        scores[name] = acc if name.endswith("acc") else 100.0 - acc
    scores["aggregate"] = disentangling.aggregate(scores)
    out = {k: scores[k] for k in disentangling.SCORE_KEYS}
    out.update({k: v for k, v in scores.items() if k.endswith("_per_attribute")})
    out["ceiling"] = disentangling.majority_reference(tr[y_key], tr[z_key], te[y_key], te[z_key])
    return out


def _labelled_rows(x_train, z_train, x_val, z_val, x_test, z_test):
    """The rows of each split whose label is not negative nor NaN (1-D labels)."""
    out = []
    for x, z in ((x_train, z_train), (x_val, z_val), (x_test, z_test)):
        keep = disentangling.labelled(z)
        out += [x[keep], np.asarray(z)[keep].astype(int)]
    return out


def _binary_probe_accuracy(x_train, z_train, x_val, z_val, x_test, z_test, hidden, seed) -> float:
    """Test accuracy in % of a 2-class probe of one binary attribute, on labelled rows."""
    xt, zt, xv, zv, xe, ze = _labelled_rows(x_train, z_train, x_val, z_val, x_test, z_test)
    if len(zt) == 0 or len(ze) == 0:
        return float("nan")
    predict = train_probe(xt, zt, xv if len(zv) else None, zv if len(zv) else None,
                          hidden=hidden, num_classes=2, seed=seed)
    return 100.0 * float(np.mean(predict(xe) == ze))
