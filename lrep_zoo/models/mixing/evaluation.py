"""Chunk evaluation of the review (Hu et al. 2018, Sprites table): how well each chunk
alone predicts a known factor, by nearest-neighbour retrieval (mAP) and by a linear
probe. NumPy and scikit-learn on codes; no model code.

Example:

```python
import numpy as np
from lrep_zoo.models.mixing.evaluation import chunk_scores
rng = np.random.default_rng(0)
y = rng.integers(0, 3, 300)
codes = rng.normal(size=(300, 4 * 2))
codes[:, :2] += 3.0 * y[:, None]          # chunk 0 carries the factor
scores = chunk_scores(codes[:200], y[:200], codes[200:], y[200:], num_chunks=4)
scores["probe_accuracy"][0] > scores["probe_accuracy"][1]  # True
```
"""

from __future__ import annotations

import numpy as np


def nearest_neighbour_map(features, labels) -> float:
    """Mean average precision of retrieval by Euclidean distance: each sample queries
    all the others; relevant = same label.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.mixing.evaluation import nearest_neighbour_map
    nearest_neighbour_map(np.array([[0.0], [0.1], [5.0], [5.1]]), np.array([0, 0, 1, 1]))  # 1.0
    ```
    """
    x = np.asarray(features, np.float64).reshape(len(features), -1)
    labels = np.asarray(labels)
    if len(x) != len(labels):
        raise ValueError(f"features and labels differ in length: {len(x)} vs {len(labels)}.")
    if len(x) < 2:
        raise ValueError("nearest_neighbour_map needs at least two samples.")
    sq = np.sum(x * x, axis=1)
    d = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")[:, :-1]  # the query itself last: dropped
    relevant = labels[order] == labels[:, None]
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    n_rel = relevant.sum(axis=1)
    ap = np.where(n_rel > 0, (relevant * hits / ranks).sum(axis=1) / np.maximum(n_rel, 1), 0.0)
    return float(ap[n_rel > 0].mean()) if np.any(n_rel > 0) else 0.0


def linear_probe_accuracy(train_x, train_y, test_x, test_y, seed: int = 0) -> float:
    """Test accuracy of a multinomial logistic regression on standardised features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed))
    probe.fit(np.asarray(train_x).reshape(len(train_x), -1), np.asarray(train_y))
    return float(probe.score(np.asarray(test_x).reshape(len(test_x), -1), np.asarray(test_y)))


def chunk_scores(train_codes, train_y, test_codes, test_y, num_chunks: int,
                 seed: int = 0) -> dict:
    """Per-chunk and whole-code scores of one known factor.

    Args:
        train_codes, test_codes: Flat codes `(N, num_chunks * chunk_dim)`.
        train_y, test_y: The factor's integer labels.
        num_chunks: Number of chunks.
        seed: Seed of the probes.

    Returns:
        `probe_accuracy`, `nn_map`: one value per chunk (probe trained on the
        training codes, scored on the test codes; mAP among the test codes);
        `best_chunk` (by probe accuracy), `best_probe_accuracy`, `best_nn_map`
        (the mAP of the chunk with the best mAP), `full_probe_accuracy`,
        `full_nn_map` (the whole code) and `chance_nn_map`.
    """
    train_codes, test_codes = np.asarray(train_codes), np.asarray(test_codes)
    if train_codes.shape[1] % num_chunks or test_codes.shape[1] != train_codes.shape[1]:
        raise ValueError(
            f"codes of width {train_codes.shape[1]} / {test_codes.shape[1]} do not split into "
            f"{num_chunks} equal chunks."
        )
    d = train_codes.shape[1] // num_chunks
    probe, nn = [], []
    for i in range(num_chunks):
        sl = slice(i * d, (i + 1) * d)
        probe.append(linear_probe_accuracy(train_codes[:, sl], train_y, test_codes[:, sl], test_y,
                                           seed))
        nn.append(nearest_neighbour_map(test_codes[:, sl], test_y))
    _, counts = np.unique(test_y, return_counts=True)
    n = len(test_y)
    return {
        "probe_accuracy": probe,
        "nn_map": nn,
        "best_chunk": int(np.argmax(probe)),
        "best_probe_accuracy": float(max(probe)),
        "best_nn_map": float(max(nn)),
        "full_probe_accuracy": linear_probe_accuracy(train_codes, train_y, test_codes, test_y,
                                                     seed),
        "full_nn_map": nearest_neighbour_map(test_codes, test_y),
        # Expected precision of a random ranking: the share of relevant others.
        "chance_nn_map": float(np.sum(counts * (counts - 1)) / (n * (n - 1))),
    }
