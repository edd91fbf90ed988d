"""HybridNet's own layer: the Mean Teacher's BatchNormalization."""

from __future__ import annotations

import keras
from keras import ops


class TeacherBatchNormalization(keras.layers.BatchNormalization):
    """`BatchNormalization` of the frozen Mean Teacher: batch statistics when training.

    A non-trainable Keras `BatchNormalization` normalises with its moving
    statistics even with `training=True`. The Mean Teacher (Tarvainen &
    Valpola 2017) runs in training mode like the student: it normalises with
    the statistics of the batch and updates its own moving statistics (used at
    inference), while its weights only follow the EMA. With moving statistics
    the teacher's targets are wrong for the first hundreds of steps (the
    moving variance starts at 1) and the stability term drags the student
    down with them. `renorm` is not supported.
    """

    def call(self, inputs, training=None, mask=None):
        if not training or self.renorm:
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, "float32")
        mean, variance = _moments(x, mask, self.axis, self.synchronized)
        m = self.momentum
        self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
        self.moving_variance.assign(m * self.moving_variance + (1.0 - m) * variance)
        outputs = ops.batch_normalization(
            x, mean, variance, axis=self.axis, epsilon=self.epsilon,
            offset=ops.cast(self.beta, "float32") if self.center else None,
            scale=ops.cast(self.gamma, "float32") if self.scale else None,
        )
        return ops.cast(outputs, self.compute_dtype)


def _moments(x, mask, axis, synchronized):
    """Batch mean and variance of `x` over every axis but `axis`, as `BatchNormalization`'s.

    With a `mask` (one dimension less than `x`), masked-out positions are left out
    of both statistics, as Keras' `BatchNormalization` does.
    """
    axes = list(range(len(x.shape)))
    del axes[axis]
    if mask is None:
        return ops.moments(x, axes=axes, synchronized=synchronized)
    if len(mask.shape) != len(x.shape) - 1:
        raise ValueError(
            "The mask provided should be one dimension less than the inputs. "
            f"Received: mask.shape={mask.shape}, inputs.shape={x.shape}"
        )
    keep = ops.cast(ops.broadcast_to(ops.expand_dims(mask, axis=-1), ops.shape(x)), "bool")
    count = ops.sum(ops.cast(keep, x.dtype), axes, keepdims=True)
    eps = keras.config.epsilon()
    mean = ops.sum(ops.where(keep, x, 0), axes, keepdims=True) / (count + eps)
    squares = ops.square(ops.where(keep, x - mean, 0))
    variance = ops.sum(squares, axes, keepdims=True) / (count + eps)
    return ops.squeeze(mean), ops.squeeze(variance)
