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
        mean, variance = self._moments(x, mask)
        m = self.momentum
        self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
        self.moving_variance.assign(m * self.moving_variance + (1.0 - m) * variance)
        outputs = ops.batch_normalization(
            x, mean, variance, axis=self.axis, epsilon=self.epsilon,
            offset=ops.cast(self.beta, "float32") if self.center else None,
            scale=ops.cast(self.gamma, "float32") if self.scale else None,
        )
        return ops.cast(outputs, self.compute_dtype)
