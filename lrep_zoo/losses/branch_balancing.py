"""HybridNet loss terms (Robert, Thome, Cord, ECCV 2018), written with `keras.ops` only.

- `branch_balancing_loss`: reconstruction of `x_hat = x_hat_c + x_hat_u` where,
  per sample, only the branch that reconstructs worse receives gradient.
- `intermediate_reconstruction_loss`: decoder activations reconstruct the
  matching (detached) encoder activations.
- `stability_loss`: squared distance between student and teacher class
  probabilities (Mean Teacher / Pi-model consistency).
- `masked_sparse_categorical_crossentropy`: cross-entropy on labelled samples
  only (label < 0 marks an unlabelled sample).

All per-sample errors are means over the non-batch axes (MSE), then averaged
over the batch: the comparison `||x - x_hat_u|| < ||x - x_hat_c||` is the same
with sums or means, and means keep the weights independent of the image size.
"""

from __future__ import annotations

from typing import Sequence

from keras import ops


def per_sample_squared_error(x, x_hat):
    """Mean squared error of each sample, shape `(batch,)`.

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.losses import per_sample_squared_error

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (N, 28, 28, 1)
    images = x[:8].astype("float32") / 255
    reconstructions = keras.ops.clip(images + 0.1, 0.0, 1.0)
    errors = per_sample_squared_error(images, reconstructions)  # (batch,)
    assert tuple(errors.shape) == (8,)
    ```
    """
    diff = ops.square(ops.cast(x, "float32") - ops.cast(x_hat, "float32"))
    rank = len(diff.shape)
    if rank == 1:
        return diff
    return ops.mean(diff, axis=tuple(range(1, rank)))


def branch_balancing_mask(x, x_hat_c, x_hat_u):
    """Per sample, `True` where the discriminative branch is trained.

    That is where `||x - x_hat_u|| < ||x - x_hat_c||`: the c-branch
    reconstructs worse. Computed on detached values (a constant for autodiff).
    """
    x = ops.stop_gradient(x)
    error_c = per_sample_squared_error(x, ops.stop_gradient(x_hat_c))
    error_u = per_sample_squared_error(x, ops.stop_gradient(x_hat_u))
    return ops.less(error_u, error_c)


def branch_balancing_loss(x, x_hat_c, x_hat_u, return_per_sample: bool = False):
    """Branch balancing with selective back-propagation (HybridNet, eq. of `l_br`).

    Per sample `i`:

        l_br^(i) = ||x - sg(x_hat_u) - x_hat_c||^2   if ||x - x_hat_u|| < ||x - x_hat_c||
                   ||x - x_hat_u - sg(x_hat_c)||^2   otherwise

    then the mean over the batch. Its value is the reconstruction error of
    `x_hat_c + x_hat_u`; only its gradient differs: for each sample it reaches
    the branch that reconstructs worse, never the other one (so the
    unsupervised branch cannot take over the whole reconstruction).

    Args:
        x: Targets, `(batch, ...)`.
        x_hat_c: Reconstruction of the discriminative branch, same shape.
        x_hat_u: Reconstruction of the unsupervised branch, same shape.
        return_per_sample: Also return the per-sample losses and the mask of
            samples whose c-branch is trained.

    Returns:
        The scalar loss, or `(loss, per_sample, train_c)`.

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.losses import branch_balancing_loss

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (N, 28, 28, 1)
    images = keras.ops.convert_to_tensor(x[:8].astype("float32") / 255)
    x_hat_c = 0.5 * images                               # the two branches' reconstructions
    x_hat_u = 0.4 * images + 0.1 * keras.random.uniform(images.shape, seed=0)
    loss = branch_balancing_loss(images, x_hat_c, x_hat_u)
    loss, per_sample, train_c = branch_balancing_loss(images, x_hat_c, x_hat_u,
                                                      return_per_sample=True)
    ```
    """
    x, x_hat_c, x_hat_u = (ops.convert_to_tensor(t) for t in (x, x_hat_c, x_hat_u))
    train_c = branch_balancing_mask(x, x_hat_c, x_hat_u)
    x = ops.stop_gradient(ops.cast(x, "float32"))
    x_hat_c = ops.cast(x_hat_c, "float32")
    x_hat_u = ops.cast(x_hat_u, "float32")
    error_train_c = per_sample_squared_error(x - ops.stop_gradient(x_hat_u), x_hat_c)
    error_train_u = per_sample_squared_error(x - ops.stop_gradient(x_hat_c), x_hat_u)
    per_sample = ops.where(train_c, error_train_c, error_train_u)
    loss = ops.mean(per_sample)
    if return_per_sample:
        return loss, per_sample, train_c
    return loss


def intermediate_reconstruction_loss(targets: Sequence, reconstructions: Sequence):
    """Mean over layers of `mse(reconstruction_l, sg(target_l))`.

    Each decoder layer reconstructs the matching encoder activation; targets
    are detached (the encoder is not pulled towards its decoder).

    Example:

    ```python
    import keras
    from lrep_zoo.losses import intermediate_reconstruction_loss

    a1, a2 = keras.random.normal((4, 16, 16, 8)), keras.random.normal((4, 8, 8, 16))
    r1, r2 = keras.ops.zeros_like(a1), keras.ops.zeros_like(a2)   # decoder activations
    loss = intermediate_reconstruction_loss([a1, a2], [r1, r2])
    ```
    """
    targets, reconstructions = list(targets), list(reconstructions)
    if len(targets) != len(reconstructions):
        raise ValueError(
            f"intermediate_reconstruction_loss: {len(targets)} encoder activations "
            f"but {len(reconstructions)} decoder reconstructions."
        )
    if not targets:
        return ops.convert_to_tensor(0.0)
    total = 0.0
    for target, rec in zip(targets, reconstructions):
        total = total + ops.mean(
            per_sample_squared_error(ops.stop_gradient(ops.convert_to_tensor(target)), rec)
        )
    return total / len(targets)


def stability_loss(student_probabilities, teacher_probabilities, per_sample: bool = False):
    """`||y_hat - z||^2` between class probabilities (mean over classes, then batch).

    The teacher probabilities are detached: they are the virtual targets `z`.

    Example:

    ```python
    import keras
    from keras import ops
    from lrep_zoo.losses import stability_loss

    logits = keras.random.normal((4, 10), seed=0)
    teacher_logits = keras.random.normal((4, 10), seed=1)
    loss = stability_loss(ops.softmax(logits), ops.softmax(teacher_logits))
    ```
    """
    diff = ops.cast(student_probabilities, "float32") - ops.stop_gradient(
        ops.cast(ops.convert_to_tensor(teacher_probabilities), "float32")
    )
    values = ops.mean(ops.square(diff), axis=-1)
    return values if per_sample else ops.mean(values)


def labelled_mask(labels):
    """`1.0` for labelled samples (label >= 0), `0.0` for unlabelled ones (label < 0)."""
    labels = ops.reshape(labels, (-1,))
    return ops.cast(ops.greater_equal(labels, 0), "float32")


def masked_sparse_categorical_crossentropy(labels, logits):
    """Cross-entropy averaged over the labelled samples of the batch.

    Unlabelled samples (label < 0) contribute nothing, and the result is 0 for
    a batch without labels.

    Example:

    ```python
    from keras import ops
    from lrep_zoo.losses import masked_sparse_categorical_crossentropy

    logits = ops.zeros((3, 10))
    loss = masked_sparse_categorical_crossentropy(ops.array([3, -1, 0]), logits)  # log(10)
    ```
    """
    labels = ops.reshape(labels, (-1,))
    mask = labelled_mask(labels)
    safe = ops.cast(ops.maximum(labels, 0), "int32")
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    picked = ops.sum(log_probs * ops.one_hot(safe, ops.shape(logits)[-1]), axis=-1)
    return -ops.sum(picked * mask) / ops.maximum(ops.sum(mask), 1.0)
