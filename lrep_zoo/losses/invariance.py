"""Class-invariance of a code: the within-class share of its scatter, `keras.ops` only."""

from __future__ import annotations

from keras import ops


def within_class_scatter_ratio(codes, labels, num_classes: int, epsilon: float = 1e-6):
    """Within-class scatter of `codes` over their total scatter, on the batch.

    `sum_i ||h_i - m_{c(i)}||^2 / sum_i ||h_i - m||^2` over the labelled rows
    (`labels >= 0`), where `m_c` is the batch mean of class c and `m` the batch mean.
    0 when every class's codes coincide (the code is a function of the label, so a
    probe reads nothing else from it), 1 when the class means coincide (the label
    explains none of the code). Classes seen once in the batch add nothing. It is
    scale-free: shrinking the code does not lower it. DualDis uses it on h_y with y
    and on h_z with z, so that a fresh probe finds in each code little but its own
    factor (`DualDis(code_invariance_weight_y=, code_invariance_weight_z=)`).

    Args:
        codes: `(batch, dim)` float codes.
        labels: `(batch,)` integer classes in `0..num_classes - 1`; negative = no label.
        num_classes: Number of classes.
        epsilon: Added to the total scatter.

    Returns:
        A float32 scalar in [0, 1].

    Example:

    ```python
    import numpy as np
    from lrep_zoo.losses.invariance import within_class_scatter_ratio

    codes = np.array([[0.0, 1.0], [0.0, 1.2], [2.0, 0.0], [2.0, 0.1]], "float32")
    ratio = within_class_scatter_ratio(codes, np.array([0, 0, 1, 1]), num_classes=2)  # ~0.005
    ```
    """
    codes = ops.cast(codes, "float32")
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    mask = ops.cast(labels >= 0, "float32")
    onehot = ops.one_hot(ops.maximum(labels, 0), num_classes) * mask[:, None]
    counts = ops.sum(onehot, axis=0)
    class_means = ops.matmul(ops.transpose(onehot), codes) / ops.maximum(counts, 1.0)[:, None]
    within = ops.sum(mask * ops.sum(ops.square(codes - ops.matmul(onehot, class_means)), axis=-1))
    mean = ops.sum(mask[:, None] * codes, axis=0) / ops.maximum(ops.sum(mask), 1.0)
    total = ops.sum(mask * ops.sum(ops.square(codes - mean), axis=-1))
    return within / (total + epsilon)
