"""Semi-supervised streams: a few labelled examples per class, the rest unlabelled (label -1)."""

import numpy as np
import tensorflow as tf

from lrep_zoo.data import pipeline

UNLABELLED = -1


def split_labelled(y: np.ndarray, num_labelled: int, seed: int = 0) -> np.ndarray:
    """Indices of `num_labelled` examples, the same number from each class.

    Classes are the distinct non-negative values of `y` (entries < 0 are
    treated as unlabelled already, e.g. STL-10's `unlabelled` split).

    Example:

    ```python
    import lrep_zoo

    x, y = lrep_zoo.data.load_arrays("cifar10", "train")
    idx = lrep_zoo.data.split_labelled(y, 4000, seed=0)  # 400 per class
    ```

    Args:
        y: int labels, shape `(N,)`.
        num_labelled: total number of labelled examples; a multiple of the
            number of classes.
        seed: the same seed gives the same indices.

    Returns:
        Sorted int64 indices into `y`.

    Raises:
        ValueError: `num_labelled` is not a positive multiple of the number
            of classes, or a class has fewer examples than its share.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D class labels, got shape {y.shape}.")
    classes = np.unique(y[y >= 0])
    if len(classes) == 0:
        raise ValueError("y holds no labelled (>= 0) examples.")
    per_class, rest = divmod(int(num_labelled), len(classes))
    if num_labelled <= 0 or rest:
        raise ValueError(
            f"num_labelled={num_labelled} must be a positive multiple of the "
            f"{len(classes)} classes, for a balanced split."
        )
    rng = np.random.default_rng(seed)
    chosen = []
    for c in classes:
        members = np.flatnonzero(y == c)
        if len(members) < per_class:
            raise ValueError(
                f"class {c} has {len(members)} examples, fewer than the {per_class} "
                f"per class that num_labelled={num_labelled} needs."
            )
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def semi_supervised(
    x: np.ndarray,
    y: np.ndarray,
    num_labelled: int,
    *,
    seed: int = 0,
    batch_size: int = 128,
    labelled_per_batch: int | None = None,
    labelled_indices: np.ndarray | None = None,
    include_labelled_in_unlabelled: bool = True,
    value_range: tuple[float, float] | None = (0.0, 1.0),
) -> tf.data.Dataset:
    """An infinite stream of batches that mix labelled and unlabelled examples.

    Each batch holds `labelled_per_batch` labelled examples first, then
    `batch_size - labelled_per_batch` unlabelled ones whose label is -1, so
    that a model masks its supervised loss with `labels >= 0`. Both parts
    are reshuffled on every pass over their pool, deterministically by `seed`.

    By default the unlabelled pool is the whole set, the labelled examples
    included (as in Mean Teacher: every image feeds the consistency cost);
    `include_labelled_in_unlabelled=False` keeps the two pools disjoint.

    Example:

    ```python
    import keras
    import lrep_zoo

    x, y = lrep_zoo.data.load_arrays("cifar10", "train")
    ds = lrep_zoo.data.semi_supervised(x, y, 1000, batch_size=100, labelled_per_batch=25)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])

    def masked_loss(labels, logits):  # supervised loss on the labels >= 0 only
        mask = keras.ops.cast(labels >= 0, "float32")
        per_example = keras.losses.sparse_categorical_crossentropy(
            keras.ops.maximum(labels, 0), logits, from_logits=True)
        return keras.ops.sum(per_example * mask) / keras.ops.maximum(keras.ops.sum(mask), 1.0)

    model.compile("adam", masked_loss)
    model.fit(ds, steps_per_epoch=10, epochs=2, verbose=0)
    ```

    Args:
        x: uint8 images `(N, H, W, C)` (or `(N, H, W)`: a channel axis is added).
        y: int labels `(N,)`.
        num_labelled: labelled examples in total, balanced by class (see
            `split_labelled`). Ignored when `labelled_indices` is given.
        seed: seed of the labelled split and of the shuffles.
        batch_size: examples per batch.
        labelled_per_batch: labelled examples per batch, in
            `[1, batch_size - 1]`. Defaults to `batch_size // 4`.
        labelled_indices: the labelled indices, to reuse a fixed split.
        include_labelled_in_unlabelled: whether the unlabelled stream also
            draws the labelled images (with label -1).
        value_range: as in `load`; `None` keeps uint8.

    Returns:
        A repeated `tf.data.Dataset` of `(images, labels)` batches.
    """
    x = np.asarray(x)
    y = np.asarray(y).astype(np.int64)
    if x.ndim == 3:
        x = x[..., None]
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}.")
    if labelled_per_batch is None:
        labelled_per_batch = max(1, batch_size // 4)
    if not 1 <= labelled_per_batch < batch_size:
        raise ValueError(
            f"labelled_per_batch must be in [1, batch_size - 1] = [1, {batch_size - 1}], "
            f"got {labelled_per_batch}."
        )
    if labelled_indices is None:
        labelled = split_labelled(y, num_labelled, seed)
    else:
        labelled = np.unique(np.asarray(labelled_indices, np.int64))
        if len(labelled) == 0 or np.any(y[labelled] < 0):
            raise ValueError("labelled_indices must be non-empty and point at labels >= 0.")
    if include_labelled_in_unlabelled:
        unlabelled = np.arange(len(x), dtype=np.int64)
    else:
        unlabelled = np.setdiff1d(np.arange(len(x), dtype=np.int64), labelled)
    if len(unlabelled) == 0:
        raise ValueError("the unlabelled pool is empty.")

    images = tf.constant(x)
    labels = tf.constant(y)

    def stream(indices, size, stream_seed):
        ds = tf.data.Dataset.from_tensor_slices(indices)
        ds = ds.shuffle(len(indices), seed=stream_seed, reshuffle_each_iteration=True)
        return ds.repeat().batch(size, drop_remainder=True)

    def mix(lab_idx, unl_idx):
        batch_x = tf.concat([tf.gather(images, lab_idx), tf.gather(images, unl_idx)], 0)
        missing = tf.fill(tf.shape(unl_idx), tf.constant(UNLABELLED, tf.int64))
        batch_y = tf.concat([tf.gather(labels, lab_idx), missing], 0)
        return pipeline.normalize(batch_x, value_range), batch_y

    ds = tf.data.Dataset.zip(
        (
            stream(labelled, labelled_per_batch, seed),
            stream(unlabelled, batch_size - labelled_per_batch, seed + 1),
        )
    )
    return ds.map(mix, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
