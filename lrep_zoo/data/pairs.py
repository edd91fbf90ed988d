"""Balanced pairs and triplets from labelled images, deterministic by seed.

`sample_pairs(labels, n, rng)` draws index pairs: a `positive_fraction` of them from
one class (the class uniform over the classes with at least two images, then two
different images of it), the others from two different classes (both uniform, one
image each). Classes count alike whatever their sizes: the stream is balanced over
classes as well as over similar / dissimilar pairs. `sample_triplets` draws
(anchor, positive, negative) the same way.

`PairBatches` is the training stream, a `keras.utils.PyDataset` of
`((a, b), same)` batches (float32 images as given, `same` 1.0 / 0.0): batch `i` of
epoch `e` depends only on `(seed, e, i)`, so a run is reproducible whatever the
workers' order, and every epoch draws new pairs.

Example:

```python
import numpy as np
from lrep_zoo.data.pairs import PairBatches, sample_pairs
labels = np.repeat(np.arange(10), 20)
images = np.random.default_rng(0).uniform(0, 255, (200, 28, 28, 1)).astype("float32")
batches = PairBatches(images, labels, batch_size=32, seed=0)
(a, b), same = batches[0]
i, j, same = sample_pairs(labels, 100, np.random.default_rng(0))
```
"""

from __future__ import annotations

import keras
import numpy as np


def _groups(labels) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(classes, offsets, counts, members): members sorted by class."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not len(labels):
        raise ValueError(f"labels must be a non-empty 1-D array of class labels, got shape "
                         f"{labels.shape}.")
    if not (np.issubdtype(labels.dtype, np.integer) or np.issubdtype(labels.dtype, np.str_)):
        raise ValueError(f"labels must be integer class labels, got dtype {labels.dtype}.")
    members = np.argsort(labels, kind="stable")
    classes, offsets, counts = np.unique(labels[members], return_index=True, return_counts=True)
    return classes, offsets, counts, members


def _check_classes(counts, need_pairs: bool, need_negatives: bool):
    if need_negatives and len(counts) < 2:
        raise ValueError("Dissimilar pairs need at least two classes; the labels have one.")
    if need_pairs and not (counts >= 2).any():
        raise ValueError("Similar pairs need a class with at least two images; every class "
                         "has one.")


def _draw(rng, offsets, counts, members, cls, exclude=None):
    """One member of each class `cls[k]` (different from position `exclude[k]`)."""
    if exclude is None:
        pos = (rng.random(len(cls)) * counts[cls]).astype(np.int64)
    else:
        pos = (exclude + 1 + (rng.random(len(cls)) * (counts[cls] - 1)).astype(np.int64)) % counts[cls]
    return pos, members[offsets[cls] + pos]


def sample_pairs(labels, n: int, rng: np.random.Generator, positive_fraction: float = 0.5):
    """`n` index pairs `(i, j, same)`: `round(n * positive_fraction)` similar, then dissimilar.

    Args:
        labels: Class label of each image (1-D, integers).
        n: Number of pairs.
        rng: A `np.random.Generator` (the only source of randomness).
        positive_fraction: Fraction of similar pairs, in [0, 1].

    Returns:
        Three arrays of length `n`: indices `i`, `j` into `labels` and `same`
        (float32, 1 for `labels[i] == labels[j]`), in a random order.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.data.pairs import sample_pairs

    i, j, same = sample_pairs(np.repeat(np.arange(5), 4), 8, np.random.default_rng(0))
    i.shape, same.sum()  # (8,), 4.0
    ```
    """
    if not 0.0 <= positive_fraction <= 1.0:
        raise ValueError(f"positive_fraction must be in [0, 1], got {positive_fraction}.")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    _, offsets, counts, members = _groups(labels)
    n_pos = int(round(n * positive_fraction))
    _check_classes(counts, n_pos > 0, n_pos < n)
    eligible = np.flatnonzero(counts >= 2)
    cls = eligible[rng.integers(len(eligible), size=n_pos)] if n_pos else np.zeros(0, np.int64)
    p, i_pos = _draw(rng, offsets, counts, members, cls)
    _, j_pos = _draw(rng, offsets, counts, members, cls, exclude=p)
    k = len(counts)
    c1 = rng.integers(k, size=n - n_pos)
    c2 = (c1 + 1 + rng.integers(max(k - 1, 1), size=n - n_pos)) % k
    _, i_neg = _draw(rng, offsets, counts, members, c1)
    _, j_neg = _draw(rng, offsets, counts, members, c2)
    i = np.concatenate([i_pos, i_neg])
    j = np.concatenate([j_pos, j_neg])
    same = np.concatenate([np.ones(n_pos, "float32"), np.zeros(n - n_pos, "float32")])
    order = rng.permutation(n)
    return i[order], j[order], same[order]


def sample_triplets(labels, n: int, rng: np.random.Generator):
    """`n` index triplets `(anchor, positive, negative)`, balanced over classes.

    The anchor's class is uniform over the classes with two images or more; the
    positive is another image of it, the negative an image of another class (uniform).

    Example:

    ```python
    import numpy as np
    from lrep_zoo.data.pairs import sample_triplets

    labels = np.repeat(np.arange(5), 4)
    a, p, q = sample_triplets(labels, 8, np.random.default_rng(0))
    bool((labels[a] == labels[p]).all() and (labels[a] != labels[q]).all())  # True
    ```
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    _, offsets, counts, members = _groups(labels)
    _check_classes(counts, True, True)
    eligible = np.flatnonzero(counts >= 2)
    cls = eligible[rng.integers(len(eligible), size=n)]
    p, anchor = _draw(rng, offsets, counts, members, cls)
    _, positive = _draw(rng, offsets, counts, members, cls, exclude=p)
    other = (cls + 1 + rng.integers(len(counts) - 1, size=n)) % len(counts)
    _, negative = _draw(rng, offsets, counts, members, other)
    return anchor, positive, negative


class PairBatches(keras.utils.PyDataset):
    """Training batches `((a, b), same)` of balanced pairs, deterministic by seed.

    Args:
        images: Array `(N, ...)` (returned as float32, values unchanged).
        labels: Class label of each image (1-D integers).
        batch_size: Pairs per batch.
        steps_per_epoch: Batches per epoch (default `N // batch_size`, at least 1).
        positive_fraction: Fraction of similar pairs in each batch.
        seed: Batch `i` of epoch `e` is drawn from `np.random.default_rng([seed, e, i])`.
        **kwargs: `keras.utils.PyDataset` arguments (`workers`, ...).

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.data.pairs import PairBatches

    images, labels = lrep_zoo.data.load_arrays("mnist", "test[:512]")
    images = images / 255.0                                   # (512, 28, 28, 1)
    embed = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(16)])
    a, b = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    distance = keras.ops.sum(keras.ops.square(embed(a) - embed(b)), axis=-1, keepdims=True)
    same = keras.layers.Dense(1, activation="sigmoid")(distance)
    model = keras.Model([a, b], same)
    model.compile("adam", "binary_crossentropy")
    model.fit(PairBatches(images, labels, batch_size=64, seed=0), epochs=2, verbose=0)
    ```
    """

    def __init__(self, images, labels, batch_size: int = 64, steps_per_epoch: int | None = None,
                 positive_fraction: float = 0.5, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.images = np.asarray(images)
        self.labels = np.asarray(labels)
        if len(self.images) != len(self.labels):
            raise ValueError(f"images and labels differ in length: {len(self.images)} images, "
                             f"{len(self.labels)} labels.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        _groups(self.labels)
        self.batch_size = int(batch_size)
        self.steps = int(steps_per_epoch or max(1, len(self.images) // self.batch_size))
        self.positive_fraction = float(positive_fraction)
        self.seed = int(seed)
        self.epoch = 0
        sample_pairs(self.labels, self.batch_size, np.random.default_rng(0),
                     self.positive_fraction)  # checks the classes once, here

    def __len__(self):
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        i, j, same = sample_pairs(self.labels, self.batch_size, rng, self.positive_fraction)
        return (self.images[i].astype("float32"), self.images[j].astype("float32")), same
