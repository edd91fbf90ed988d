"""Exponential moving averages of weights (Mean Teacher, Polyak averaging)."""

from __future__ import annotations

from typing import Sequence

from keras import ops


def ema_update(targets: Sequence, sources: Sequence, decay: float) -> None:
    """`target <- decay * target + (1 - decay) * source`, variable by variable.

    Works inside a jitted train step on every backend (on JAX the assignments are
    recorded by the step's `StatelessScope`). Gradients do not flow through it.

    Example:

    ```python
    ema_update(teacher.weights, student.weights, decay=0.99)
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
        new = decay * target.value + (1.0 - decay) * ops.stop_gradient(source.value)
        target.assign(ops.cast(new, target.dtype))
