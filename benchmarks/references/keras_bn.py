"""lrep_zoo's HybridNet on Keras' own BatchNormalization (the "before" of the fused layer).

`keras_batch_normalization()` is a context manager under which lrep_zoo's ConvLarge /
MNIST networks are built with `keras.layers.BatchNormalization` and the Mean Teacher
with `TeacherBatchNormalization` below (the teacher layer lrep_zoo had before
`lrep_zoo.layers.BatchNormalization`: batch statistics from `keras.ops.moments`, then
`keras.ops.batch_normalization`). `benchmarks/peers.py --models hybridnet_bn` times the
two versions of the same model in one process.

    with keras_batch_normalization():
        before = experiment.build_convlarge("hybridnet", seed=0)
"""

from __future__ import annotations

import contextlib

import keras
from keras import ops


class TeacherBatchNormalization(keras.layers.BatchNormalization):
    """The Mean Teacher's BatchNormalization on separate `keras.ops` (no fused kernel)."""

    def call(self, inputs, training=None, mask=None):
        if not training or self.renorm or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, "float32")
        axes = [i for i in range(len(x.shape)) if i != self.axis % len(x.shape)]
        mean, variance = ops.moments(x, axes=axes)
        m = self.momentum
        self.moving_mean.assign(m * self.moving_mean + (1.0 - m) * mean)
        self.moving_variance.assign(m * self.moving_variance + (1.0 - m) * variance)
        outputs = ops.batch_normalization(
            x, mean, variance, axis=self.axis, epsilon=self.epsilon,
            offset=ops.cast(self.beta, "float32") if self.center else None,
            scale=ops.cast(self.gamma, "float32") if self.scale else None,
        )
        return ops.cast(outputs, self.compute_dtype)


@contextlib.contextmanager
def keras_batch_normalization():
    """Builds lrep_zoo's HybridNet networks and teacher with Keras' BatchNormalization."""
    from lrep_zoo.models.hybridnet import convlarge, hybridnet

    saved = convlarge.BatchNormalization, hybridnet.TeacherBatchNormalization
    convlarge.BatchNormalization = keras.layers.BatchNormalization
    hybridnet.TeacherBatchNormalization = TeacherBatchNormalization
    try:
        yield
    finally:
        convlarge.BatchNormalization, hybridnet.TeacherBatchNormalization = saved
