"""The siamese protocols: N-way one-shot identification and pair verification.

`one_shot_accuracy(similarity, query_labels, support_labels, n_way)` scores any
similarity matrix (siamese `score_embeddings`, or minus a distance for the
nearest-neighbour baselines): for each query, `n_way - 1` distractor classes are drawn
from the support classes other than its own (`trials` draws per query, seeded; all of
them, once, when `n_way` is the number of support classes), and the query is right
when its own class' support image scores strictly higher than every distractor's.

`yaleb_one_shot(data)` builds the Yale-B task of issue 13 from `load_yaleb_npz`'s
splits: training identities 0..27, and on identities 28..37 (never seen in training)
one support image per identity (frontal light, azimuth = elevation = 0) and every
other image as a query.

Example:

```python
from lrep_zoo.data import yaleb
from lrep_zoo.models.siamese import experiment
task = experiment.yaleb_one_shot(yaleb.load_yaleb_npz(resolution="48x42"))  # $LREP_ZOO_DATA_DIR
sim = experiment.pixel_similarity(task["query"]["image"], task["support"]["image"])
acc = experiment.one_shot_accuracy(sim, task["query"]["identity"],
                                   task["support"]["identity"], n_way=10)
```
"""

from __future__ import annotations

import numpy as np

from lrep_zoo.training.jit_policy import StepTimer

TRAIN_IDENTITIES = range(0, 28)
TEST_IDENTITIES = range(28, 38)


def one_shot_accuracy(similarity, query_labels, support_labels, n_way: int,
                      trials: int = 20, seed: int = 0) -> float:
    """Fraction of N-way one-shot trials won by the query's own support image.

    Args:
        similarity: `(Q, S)` scores, higher = more alike.
        query_labels: `(Q,)` class of each query.
        support_labels: `(S,)` class of each support image, one image per class.
        n_way: Candidates per trial (the true class and `n_way - 1` distractors).
        trials: Distractor draws per query (ignored when `n_way == S`).
        seed: Seed of the draws.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.siamese.experiment import one_shot_accuracy
    one_shot_accuracy(np.eye(3), [0, 1, 2], [0, 1, 2], n_way=3)  # 1.0
    ```
    """
    sim = np.asarray(similarity, dtype="float64")
    query_labels = np.asarray(query_labels)
    support_labels = np.asarray(support_labels)
    if sim.ndim != 2 or sim.shape != (len(query_labels), len(support_labels)):
        raise ValueError(f"similarity must be (queries, supports) = ({len(query_labels)}, "
                         f"{len(support_labels)}), got {sim.shape}.")
    if len(np.unique(support_labels)) != len(support_labels):
        raise ValueError("support_labels must hold one image per class (no repeats).")
    s = len(support_labels)
    if not 2 <= n_way <= s:
        raise ValueError(f"n_way must be in 2..{s} (the number of support classes), got {n_way}.")
    where = {c: k for k, c in enumerate(support_labels)}
    missing = set(np.unique(query_labels)) - set(where)
    if missing:
        raise ValueError(f"queries of classes without a support image: {sorted(missing)}.")
    own = np.array([where[c] for c in query_labels])
    own_score = sim[np.arange(len(own)), own]
    if n_way == s:
        others = sim.copy()
        others[np.arange(len(own)), own] = -np.inf
        return float(np.mean(own_score > others.max(axis=1)))
    rng = np.random.default_rng(seed)
    wins = []
    for q in range(len(own)):
        pool = np.delete(np.arange(s), own[q])
        for _ in range(trials):
            distractors = rng.choice(pool, n_way - 1, replace=False)
            wins.append(own_score[q] > sim[q, distractors].max())
    return float(np.mean(wins))


def _flat(images, standardize: bool) -> np.ndarray:
    x = np.asarray(images, dtype="float64").reshape(len(images), -1) / 255.0
    if standardize:
        x = (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-3)
    return x


def euclidean_similarity(queries, supports) -> np.ndarray:
    """Minus the Euclidean distance between feature rows, `(Q, S)` (nearest neighbour)."""
    q = np.asarray(queries, dtype="float64").reshape(len(queries), -1)
    s = np.asarray(supports, dtype="float64").reshape(len(supports), -1)
    d2 = (q**2).sum(1)[:, None] + (s**2).sum(1)[None] - 2 * q @ s.T
    return -np.sqrt(np.maximum(d2, 0.0))


def pixel_similarity(queries, supports, standardize: bool = False) -> np.ndarray:
    """Nearest neighbour on pixels: minus the Euclidean distance of the [0, 1] images
    (`standardize`: of the per-image standardised images), `(Q, S)`."""
    return euclidean_similarity(_flat(queries, standardize), _flat(supports, standardize))


def siamese_similarity(model, queries, supports, batch_size: int = 256) -> np.ndarray:
    """`(Q, S)` matrix of `model.score_embeddings` between query and support images."""
    from keras import ops

    q = embed_numpy(model, queries, batch_size)
    s = embed_numpy(model, supports, batch_size)
    return ops.convert_to_numpy(model.score_embeddings(q[:, None], s[None]))


def embed_numpy(model, images, batch_size: int = 256) -> np.ndarray:
    """`model.embed` in batches, as a NumPy array."""
    from keras import ops

    return np.concatenate([ops.convert_to_numpy(model.embed(images[k:k + batch_size]))
                           for k in range(0, len(images), batch_size)])


def verification_accuracy(val_scores, val_same, test_scores, test_same) -> dict:
    """Pair verification: the threshold that maximises validation accuracy, on test.

    Example:

    ```python
    from lrep_zoo.models.siamese.experiment import verification_accuracy
    verification_accuracy([0.9, 0.1], [1, 0], [0.8, 0.3], [1, 0])["test_accuracy"]  # 1.0
    ```
    """
    v, vs = np.asarray(val_scores, "float64"), np.asarray(val_same) > 0.5
    t, ts = np.asarray(test_scores, "float64"), np.asarray(test_same) > 0.5
    candidates = np.unique(v)
    accs = [np.mean((v >= c) == vs) for c in candidates]
    threshold = float(candidates[int(np.argmax(accs))])
    return {"threshold": threshold, "val_accuracy": float(max(accs)),
            "test_accuracy": float(np.mean((t >= threshold) == ts))}


def yaleb_one_shot(data: dict) -> dict:
    """The issue-13 one-shot task from `load_yaleb_npz`/`load_yaleb` splits.

    Returns `{"train": ..., "validation": ..., "support": ..., "query": ...}`, each a
    dict of arrays (`image`, `identity`, `azimuth`, `elevation`, `index`: row in the
    three splits concatenated train, validation, test). `train` is the loader's
    train + test splits of identities 0..27, `validation` their validation split;
    `support`/`query` are all images of identities 28..37 (frontal light / the rest).
    """
    keys = ("image", "identity", "azimuth", "elevation")
    parts = {k: np.concatenate([data[s][k] for s in ("train", "validation", "test")])
             for k in keys}
    split = np.concatenate([np.full(len(data[s]["identity"]), s)
                            for s in ("train", "validation", "test")])
    parts["index"] = np.arange(len(split))
    ident = parts["identity"]
    seen = np.isin(ident, list(TRAIN_IDENTITIES))
    frontal = (parts["azimuth"] == 0) & (parts["elevation"] == 0)
    masks = {
        "train": seen & (split != "validation"),
        "validation": seen & (split == "validation"),
        "support": ~seen & frontal,
        "query": ~seen & ~frontal,
    }
    out = {name: {k: v[m] for k, v in parts.items()} for name, m in masks.items()}
    order = np.argsort(out["support"]["identity"])
    out["support"] = {k: v[order] for k, v in out["support"].items()}
    if list(out["support"]["identity"]) != list(TEST_IDENTITIES):
        raise ValueError("Yale-B data lack a frontal-light image (azimuth 0, elevation 0) for "
                         f"some of identities {list(TEST_IDENTITIES)}.")
    return out


def train_siamese(images, labels, loss: str = "cosine", seed: int = 0, epochs: int = 10,
                  steps_per_epoch: int = 40, batch_size: int = 32, learning_rate: float = 1e-3,
                  embedding_dim: int = 64, filters=(32, 64, 128), margin: float = 0.0,
                  pooling: str = "flatten",
                  jit_compile="auto", verbose: int = 0):
    """A `Siamese` trained on balanced pairs of `images` (0..255) by class `labels`.

    Returns `(model, seconds)`. Weights and pairs are seeded by `seed`.

    Example:

    ```python
    from lrep_zoo.data import yaleb
    from lrep_zoo.models.siamese.experiment import train_siamese, yaleb_one_shot
    train = yaleb_one_shot(yaleb.load_yaleb_npz(resolution="48x42"))["train"]
    x, y = train["image"][:256], train["identity"][:256]  # uint8 (256, 48, 42), identities
    model, seconds = train_siamese(x, y, loss="koch", epochs=1, steps_per_epoch=2,
                                   batch_size=16, filters=(8, 16), embedding_dim=16)
    ```
    """
    import time

    import keras

    from lrep_zoo.data.pairs import PairBatches
    from lrep_zoo.models.siamese.siamese import Siamese

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    keras.utils.set_random_seed(seed)
    model = Siamese(images.shape[1:], embedding_dim=embedding_dim, loss=loss, margin=margin,
                    filters=filters, pooling=pooling, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
    batches = PairBatches(images, labels, batch_size=batch_size, steps_per_epoch=steps_per_epoch,
                          seed=seed)
    start = time.perf_counter()
    model.fit(batches, epochs=epochs, verbose=verbose, callbacks=[StepTimer()])
    return model, time.perf_counter() - start
