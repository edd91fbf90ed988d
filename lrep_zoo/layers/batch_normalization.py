"""`BatchNormalization`: Keras' layer on the backends' fused batch-normalization kernels."""

from __future__ import annotations

import keras
from keras import ops

from lrep_zoo.training import fused_ops

__all__ = ["BatchNormalization", "masked_moments"]


@keras.saving.register_keras_serializable(package="lrep_zoo")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` computed by one fused kernel where there is one.

    A drop-in for Keras' layer: the same arguments, config, weights (`gamma`, `beta`,
    `moving_mean`, `moving_variance`, same names and order) and the same automatic
    name, so weight files and presets saved with Keras' layer load into it; outputs,
    gradients and moving statistics equal Keras' within float tolerance. On torch
    (any layout) and on TensorFlow (channels last) training and inference each run
    one fused kernel forward and one backward (`lrep_zoo.training.fused_ops`) instead
    of Keras' separate mean, variance and elementwise ops (on torch the moving
    statistics are updated by one fused op too); on JAX, and with a `mask`,
    `synchronized=True` or `renorm=True`, it computes exactly what Keras' layer does.

    Subclasses choose when batch statistics are used by overriding
    `uses_batch_statistics(training)` (Keras: `training and self.trainable`).

    Example:

    ```python
    import keras
    from lrep_zoo.layers import BatchNormalization

    x = keras.random.normal((4, 8, 8, 16))
    bn = BatchNormalization(axis=-1)
    y = bn(x, training=True)          # batch statistics; moving statistics updated
    same = keras.layers.BatchNormalization.from_config(bn.get_config())
    ```
    """

    def uses_batch_statistics(self, training) -> bool:
        """Whether a call with this `training` normalises with batch statistics."""
        return bool(training) and self.trainable

    def call(self, inputs, training=None, mask=None):
        if self.renorm:
            return super().call(inputs, training=training, mask=mask)
        if mask is not None and len(mask.shape) != len(inputs.shape) - 1:
            raise ValueError(
                "The mask provided should be one dimension less than the inputs. "
                f"Received: mask.shape={mask.shape}, inputs.shape={inputs.shape}"
            )
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        gamma = ops.cast(self.gamma, x.dtype) if self.scale else None
        beta = ops.cast(self.beta, x.dtype) if self.center else None
        if not self.uses_batch_statistics(training):
            outputs = fused_ops.batch_normalization(
                x, ops.cast(self.moving_mean, x.dtype), ops.cast(self.moving_variance, x.dtype),
                gamma, beta, axis=self.axis, epsilon=self.epsilon,
            )
            return ops.cast(outputs, self.compute_dtype)
        if mask is None and not self.synchronized:
            outputs, mean, variance = fused_ops.batch_normalization_training(
                x, gamma, beta, axis=self.axis, epsilon=self.epsilon
            )
        else:
            mean, variance = masked_moments(x, mask, self.axis, self.synchronized)
            outputs = ops.batch_normalization(x, mean, variance, axis=self.axis, offset=beta,
                                              scale=gamma, epsilon=self.epsilon)
        m = self.momentum
        moving = [self.moving_mean, self.moving_variance]
        if not fused_ops.assign_moving_averages(moving, [mean, variance], m):
            self.moving_mean.assign(ops.cast(self.moving_mean, x.dtype) * m + mean * (1.0 - m))
            self.moving_variance.assign(
                ops.cast(self.moving_variance, x.dtype) * m + variance * (1.0 - m)
            )
        return ops.cast(outputs, self.compute_dtype)


def masked_moments(x, mask, axis: int, synchronized: bool = False):
    """Batch mean and variance of `x` over every axis but `axis`, as Keras' layer's.

    With a `mask` (one dimension less than `x`), masked-out positions are left out of
    both statistics, as Keras' `BatchNormalization` does.

    Example:

    ```python
    import keras
    from lrep_zoo.layers.batch_normalization import masked_moments

    x = keras.random.normal((4, 8, 8, 16))
    mean, variance = masked_moments(x, mask=None, axis=-1)   # each (16,)
    mask = keras.ops.ones((4, 8, 8), dtype="bool")            # one dimension less than x
    mean, variance = masked_moments(x, mask=mask, axis=-1)   # the same, all kept
    ```
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
