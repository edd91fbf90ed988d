"""Fused kernels of the backends for ops that Keras builds from several `keras.ops`.

Batch normalization, Adam's update and moving averages of variables (below the
batch-normalization part).

Keras' `BatchNormalization` computes its batch statistics with `ops.moments` and
normalises with `ops.batch_normalization`: on torch and TensorFlow that is about ten
elementwise and reduction kernels forward, and as many backward, where each backend has
one fused batch-normalization kernel each way (`torch.native_batch_norm`,
`tf.compat.v1.nn.fused_batch_norm`). The functions below run that kernel where the
backend has one for the layout, and Keras' own `keras.ops` formulation elsewhere (JAX,
where XLA fuses the ops itself; masked or synchronized statistics are the caller's).
Results equal the `keras.ops` formulation within float tolerance, gradients included;
the statistics returned are Keras' (the biased batch variance).

`lrep_zoo.layers.BatchNormalization` is the layer that uses them.

Example:

```python
import numpy as np
from lrep_zoo.training import fused_ops

x = np.random.default_rng(0).normal(size=(4, 8, 8, 16)).astype("float32")
y, mean, variance = fused_ops.batch_normalization_training(x, None, None, axis=-1)
y = fused_ops.batch_normalization(x, mean, variance, None, None, axis=-1)
```
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["adam_update", "assign_moving_averages", "batch_normalization",
           "batch_normalization_training", "fused_kernel_used"]

_BACKEND = keras.backend.backend()


def _axis(x, axis: int) -> int:
    rank = len(x.shape)
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of bounds for inputs of rank {rank} "
                         f"(shape {tuple(x.shape)}).")
    return axis % rank


def _reduction_axes(x, axis: int) -> list[int]:
    return [i for i in range(len(x.shape)) if i != axis]


def fused_kernel_used(shape, axis: int, training: bool) -> bool:
    """Whether the current backend runs batch normalization of this `shape` fused.

    torch: any rank >= 2 (channels moved to axis 1 as a strided view), with more than
    one value per channel when `training` (torch refuses batch statistics of one
    value; Keras gives variance 0). TensorFlow: channels-last inputs of rank 2 to 4
    (reshaped to NHWC, the layout of TF's CPU kernel). JAX: never (XLA fuses the ops).

    Example:

    ```python
    from lrep_zoo.training.fused_ops import fused_kernel_used

    fused_kernel_used((8, 32, 32, 64), axis=-1, training=True)  # True on torch and TF
    fused_kernel_used((8, 64, 32, 32), axis=1, training=True)   # True on torch only
    ```
    """
    rank = len(shape)
    if rank < 2:
        return False
    axis = axis % rank
    if _BACKEND == "torch":
        if not training:
            return True
        per_channel = [d for i, d in enumerate(shape) if i != axis]
        return all(d is not None for d in per_channel) and math.prod(per_channel) > 1
    if _BACKEND == "tensorflow":
        return rank <= 4 and axis == rank - 1 and shape[-1] is not None
    return False


# ---------------------------------------------------------------- keras.ops
def _ops_training(x, gamma, beta, axis, epsilon):
    mean, variance = ops.moments(x, axes=_reduction_axes(x, axis))
    return _ops_inference(x, mean, variance, gamma, beta, axis, epsilon), mean, variance


def _ops_inference(x, mean, variance, gamma, beta, axis, epsilon):
    return ops.batch_normalization(x, mean, variance, axis=axis, offset=beta, scale=gamma,
                                   epsilon=epsilon)


# ---------------------------------------------------------------- PyTorch
def _torch_channels_second(x, axis):
    import torch

    return x if axis == 1 else torch.movedim(x, axis, 1)


def _torch_training(x, gamma, beta, axis, epsilon):
    import torch

    x = ops.convert_to_tensor(x)
    y, mean, invstd = torch.native_batch_norm(
        _torch_channels_second(x, axis), _maybe_tensor(gamma), _maybe_tensor(beta),
        None, None, True, 0.0, epsilon,
    )
    # The kernel keeps 1 / sqrt(var + eps) (not differentiable, as Keras' statistics
    # are only read by the moving averages); var is recovered from it.
    variance = torch.clamp(invstd.detach().pow(-2) - epsilon, min=0.0)
    y = y if axis == 1 else torch.movedim(y, 1, axis)
    return y, mean.detach(), variance


def _torch_inference(x, mean, variance, gamma, beta, axis, epsilon):
    import torch

    x = ops.convert_to_tensor(x)
    y = torch.nn.functional.batch_norm(
        _torch_channels_second(x, axis), ops.convert_to_tensor(mean),
        ops.convert_to_tensor(variance), _maybe_tensor(gamma), _maybe_tensor(beta),
        training=False, eps=epsilon,
    )
    return y if axis == 1 else torch.movedim(y, 1, axis)


def _maybe_tensor(value):
    return None if value is None else ops.convert_to_tensor(value)


# ---------------------------------------------------------------- TensorFlow
def _tf_nhwc(x):
    """`x` (channels last, rank 2-4) as an NHWC tensor, and the shape to restore."""
    import tensorflow as tf

    shape = tf.shape(x)
    if len(x.shape) == 4:
        return x, None
    if len(x.shape) == 3:
        return tf.expand_dims(x, 2), shape
    return tf.reshape(x, tf.concat([[1, 1], shape], 0)), shape


def _tf_scale_offset(x, gamma, beta):
    import tensorflow as tf

    channels = x.shape[-1]
    scale = tf.ones([channels], x.dtype) if gamma is None else tf.convert_to_tensor(gamma)
    offset = tf.zeros([channels], x.dtype) if beta is None else tf.convert_to_tensor(beta)
    return scale, offset


def _tf_training(x, gamma, beta, axis, epsilon):
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    nhwc, shape = _tf_nhwc(x)
    scale, offset = _tf_scale_offset(x, gamma, beta)
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
        nhwc, scale, offset, epsilon=epsilon, data_format="NHWC", is_training=True)
    # TF's kernel returns the unbiased (n / (n - 1)) batch variance; Keras' is biased.
    n = tf.cast(tf.size(x) // tf.shape(x)[-1], variance.dtype)
    variance = tf.stop_gradient(variance) * tf.maximum(n - 1.0, 0.0) / tf.maximum(n, 1.0)
    y = y if shape is None else tf.reshape(y, shape)
    return y, tf.stop_gradient(mean), variance


def _tf_inference(x, mean, variance, gamma, beta, axis, epsilon):
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    nhwc, shape = _tf_nhwc(x)
    scale, offset = _tf_scale_offset(x, gamma, beta)
    y, _, _ = tf.compat.v1.nn.fused_batch_norm(
        nhwc, scale, offset, mean=tf.convert_to_tensor(mean),
        variance=tf.convert_to_tensor(variance), epsilon=epsilon, data_format="NHWC",
        is_training=False)
    return y if shape is None else tf.reshape(y, shape)


_FUSED = {
    "torch": (_torch_training, _torch_inference),
    "tensorflow": (_tf_training, _tf_inference),
}


# ---------------------------------------------------------------- public
def batch_normalization_training(x, gamma, beta, axis: int = -1, epsilon: float = 1e-3):
    """Normalises `x` with its batch statistics; returns `(outputs, mean, variance)`.

    `outputs = gamma * (x - mean) / sqrt(variance + epsilon) + beta`, the statistics
    over every axis but `axis` (the biased variance, as `keras.ops.moments`); `gamma`
    or `beta` may be `None`. Outputs are differentiable w.r.t. `x`, `gamma` and `beta`
    (through the batch statistics, as Keras' `BatchNormalization` in training); the
    returned `mean` and `variance` are for moving averages and carry no gradient on
    the fused paths.

    Example:

    ```python
    import keras
    from lrep_zoo.training.fused_ops import batch_normalization_training

    x = keras.random.normal((4, 16, 8, 8))                # channels first
    gamma, beta = keras.ops.ones((16,)), keras.ops.zeros((16,))
    y, mean, variance = batch_normalization_training(x, gamma, beta, axis=1)  # mean: (16,)
    ```
    """
    axis = _axis(x, axis)
    fused = _FUSED.get(_BACKEND)
    if fused is not None and fused_kernel_used(tuple(x.shape), axis, training=True):
        return fused[0](x, gamma, beta, axis, float(epsilon))
    return _ops_training(x, gamma, beta, axis, float(epsilon))


def batch_normalization(x, mean, variance, gamma, beta, axis: int = -1,
                        epsilon: float = 1e-3):
    """Normalises `x` with given statistics (inference), as `keras.ops.batch_normalization`.

    Example:

    ```python
    import keras
    from lrep_zoo.training.fused_ops import batch_normalization

    x = keras.random.normal((4, 8, 8, 16))
    moving_mean, moving_variance = keras.ops.zeros((16,)), keras.ops.ones((16,))
    gamma, beta = keras.ops.ones((16,)), keras.ops.zeros((16,))
    y = batch_normalization(x, moving_mean, moving_variance, gamma, beta, axis=-1)
    ```
    """
    axis = _axis(x, axis)
    fused = _FUSED.get(_BACKEND)
    if fused is not None and fused_kernel_used(tuple(x.shape), axis, training=False):
        return fused[1](x, mean, variance, gamma, beta, axis, float(epsilon))
    return _ops_inference(x, mean, variance, gamma, beta, axis, float(epsilon))


# ------------------------------------------------ optimizer and moving averages
def _torch_eager() -> bool:
    """torch, outside `torch.compile` (the fused in-place updates below are eager)."""
    if _BACKEND != "torch":
        return False
    import torch

    return not torch.compiler.is_compiling()


def adam_update(variables, gradients, ms, vs, v_hats, learning_rate, beta_1: float,
                beta_2: float, epsilon: float, iterations) -> bool:
    """Keras' Adam update of a list of variables as one fused kernel; `False` if not run here.

    Computes what `keras.optimizers.Adam.update_step` does for each variable, in place:
    `m <- beta_1 m + (1 - beta_1) g`, `v <- beta_2 v + (1 - beta_2) g^2`
    (`v_hat <- max(v_hat, v)`, used instead of `v`, when `v_hats` is given: amsgrad),
    `variable <- variable - alpha m / (sqrt(v) + epsilon)` with
    `alpha = lr sqrt(1 - beta_2^step) / (1 - beta_1^step)`. On torch (eager) that is
    one `torch._fused_adam_` call per dtype over all the variables (torch's
    `Adam(fused=True)` kernel), instead of Keras' ten foreach ops that on a CPU run
    one kernel per variable each (torch's kernel puts epsilon after the bias
    correction, so it gets `epsilon / sqrt(1 - beta_2^step)`). Elsewhere (TensorFlow,
    JAX, `torch.compile`) and for float64 or integer variables it does nothing and
    returns `False`: the caller runs Keras' own update. `variables`, `ms`, `vs`,
    `v_hats` are lists of Keras variables (`v_hats` `None` without amsgrad);
    `iterations` is the number of updates before this one (an int, or the optimizer's
    `iterations` variable): `step = iterations + 1`.

    Example:

    ```python
    import keras
    from lrep_zoo.training import fused_ops

    var = keras.Variable([1.0, 2.0])
    m, v = keras.Variable([0.0, 0.0]), keras.Variable([0.0, 0.0])
    if not fused_ops.adam_update([var], [keras.ops.ones(2)], [m], [v], None,
                                 1e-3, 0.9, 0.999, 1e-7, iterations=0):
        pass  # not torch: run Keras' update_step instead
    ```
    """
    if not _torch_eager() or not variables:
        return False
    import torch

    values = [variable.value for variable in variables]
    if any(not torch.is_floating_point(x) or x.dtype == torch.float64 for x in values):
        return False
    step = int(ops.convert_to_numpy(iterations)) + 1
    if step < 1:
        raise ValueError(f"adam_update: iterations must be >= 0, got {step - 1}.")
    correction = math.sqrt(1.0 - float(beta_2) ** step)
    kwargs = dict(lr=float(learning_rate), beta1=float(beta_1), beta2=float(beta_2),
                  weight_decay=0.0, eps=float(epsilon) / correction if correction else 0.0,
                  amsgrad=v_hats is not None, maximize=False)
    groups = {}  # torch's kernel takes one dtype and device per call
    for i, x in enumerate(values):
        groups.setdefault((x.dtype, x.device), []).append(i)
    with torch.no_grad():
        for (dtype, device), index in groups.items():
            grads = [ops.convert_to_tensor(gradients[i]).to(dtype) for i in index]
            state_step = torch.tensor(float(step), device=device)
            torch._fused_adam_(
                [values[i] for i in index], grads, [ms[i].value for i in index],
                [vs[i].value for i in index],
                [] if v_hats is None else [v_hats[i].value for i in index],
                [state_step] * len(index), **kwargs)
    return True


def assign_moving_averages(targets, values, decay) -> bool:
    """`target <- decay * target + (1 - decay) * value` for each pair, fused; or `False`.

    On torch (eager) one `torch._foreach_lerp_` over all pairs (in place, no
    gradient), for float32 `targets` (Keras variables) and `values` (tensors of the
    same shapes); elsewhere it does nothing and returns `False` (the caller assigns
    with `keras.ops`). `decay` is a float or a scalar tensor.

    Example:

    ```python
    import keras
    from lrep_zoo.training.fused_ops import assign_moving_averages

    teacher_variables = [keras.Variable([0.0, 0.0])]
    student_values = [keras.ops.ones(2)]
    decay = 0.99
    if not assign_moving_averages(teacher_variables, student_values, decay=decay):
        # not torch: assign with keras.ops
        for target, value in zip(teacher_variables, student_values):
            target.assign(decay * target + (1 - decay) * value)
    keras.ops.convert_to_numpy(teacher_variables[0])  # [0.01, 0.01] on every backend
    ```
    """
    if not _torch_eager() or not targets:
        return False
    import torch

    storage = [t.value for t in targets]
    values = [ops.convert_to_tensor(v) for v in values]
    if any(t.dtype != torch.float32 for t in storage) or any(
            v.dtype != torch.float32 for v in values):
        return False
    with torch.no_grad():
        weight = 1.0 - ops.convert_to_tensor(decay, "float32")
        torch._foreach_lerp_(storage, [v.detach() for v in values], [weight] * len(storage))
    return True
