"""Ramp schedules (Laine & Aila 2017; Mean Teacher), written with `keras.ops`.

- `sigmoid_rampup(step, length)`: `exp(-5 (1 - t)^2)`, `t = clip(step / length, 0, 1)`.
- `linear_rampdown(step, total, length)`: 1, then linearly to 0 over the last `length` steps.
- `RampedLinearDecay`: a learning-rate schedule (constant, then linear decay to 0).
"""

from __future__ import annotations

import keras
from keras import ops


def sigmoid_rampup(step, length):
    """`exp(-5 (1 - t)^2)` with `t = clip(step / length, 0, 1)`; 1 when `length <= 0`.

    Example:

    ```python
    from lrep_zoo.training import sigmoid_rampup

    step = 2500
    weight = 100.0 * sigmoid_rampup(step, 5000)   # 100 * exp(-1.25) ~ 28.7
    ```
    """
    step = ops.cast(step, "float32")
    if not isinstance(length, (int, float)) or length > 0:
        t = ops.clip(step / ops.cast(length, "float32"), 0.0, 1.0)
        return ops.exp(-5.0 * ops.square(1.0 - t))
    return ops.ones_like(step)


def linear_rampdown(step, total, length):
    """1 until `total - length`, then linearly down to 0 at `total`.

    Example:

    ```python
    from lrep_zoo.training import linear_rampdown

    step = 25000
    scale = linear_rampdown(step, total=30000, length=10000)   # 0.5
    ```
    """
    step = ops.cast(step, "float32")
    if isinstance(length, (int, float)) and length <= 0:
        return ops.ones_like(step)
    return ops.clip((float(total) - step) / float(length), 0.0, 1.0)


@keras.saving.register_keras_serializable(package="lrep_zoo")
class RampedLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate: optional sigmoid ramp-up, constant, linear decay to 0 at the end.

    As in the HybridNet ConvLarge protocol (Adam 0.003, linear decay to 0 over the
    last third of training).

    Example:

    ```python
    import keras
    from lrep_zoo.training import RampedLinearDecay

    lr = RampedLinearDecay(3e-3, total_steps=30000, decay_steps=10000)
    optimizer = keras.optimizers.Adam(lr)
    lr(25000)   # 1.5e-3: halfway through the decay
    ```
    """

    def __init__(self, learning_rate: float, total_steps: int, decay_steps: int,
                 rampup_steps: int = 0):
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.decay_steps = int(decay_steps)
        self.rampup_steps = int(rampup_steps)

    def __call__(self, step):
        scale = linear_rampdown(step, self.total_steps, self.decay_steps)
        if self.rampup_steps > 0:
            scale = scale * sigmoid_rampup(step, self.rampup_steps)
        return self.learning_rate * scale

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "decay_steps": self.decay_steps,
            "rampup_steps": self.rampup_steps,
        }
