"""Exponential moving averages of weights (Mean Teacher, Polyak averaging)."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from lrep_zoo.training import fused_ops


class _Float32Reads(keras.layers.Layer):
    """Runs `fn()` in a float32 layer call, so that variables read inside it give their
    stored float32 values: under a mixed policy Keras casts a float variable read in
    a layer's `call` to that layer's compute dtype (bfloat16 would keep 8 bits of a
    teacher weight, and an EMA step of 1 % of the difference would be lost)."""

    def __init__(self):
        super().__init__(dtype="float32", trainable=False, name="float32_reads")
        self.built = True

    def call(self, fn):
        return fn()


def ema_update(targets: Sequence, sources: Sequence, decay: float) -> None:
    """`target <- decay * target + (1 - decay) * source`, variable by variable.

    Works inside a jitted train step on every backend (on JAX the assignments are
    recorded by the step's `StatelessScope`). Gradients do not flow through it. On
    torch (eager) all pairs are updated by one fused in-place op
    (`fused_ops.assign_moving_averages`) instead of four ops per variable.
    Computed in float32 from the variables' stored values, also inside a layer's
    `call` under a `mixed_bfloat16` / `mixed_float16` policy.

    Example:

    ```python
    import keras
    from lrep_zoo.training import ema_update

    def net():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])

    student, teacher = net(), net()
    teacher.set_weights(student.get_weights())
    ema_update(teacher.weights, student.weights, decay=0.99)  # teacher stays == student
    ```
    """
    if len(targets) != len(sources):
        raise ValueError(
            f"ema_update needs matching variable lists, got {len(targets)} targets "
            f"and {len(sources)} sources."
        )
    for target, source in zip(targets, sources):
        if tuple(target.shape) != tuple(source.shape):
            raise ValueError(
                f"EMA shape mismatch: {target.path} {target.shape} vs "
                f"{source.path} {source.shape}."
            )
    _Float32Reads()(fn=lambda: _assign_averages(targets, sources, decay))


def _assign_averages(targets, sources, decay):
    if fused_ops.assign_moving_averages(targets, [s.value for s in sources], decay):
        return
    decay = ops.cast(decay, "float32")
    for target, source in zip(targets, sources):
        new = decay * ops.cast(target.value, "float32") + (1.0 - decay) * ops.cast(
            ops.stop_gradient(source.value), "float32"
        )
        target.assign(ops.cast(new, target.dtype))
