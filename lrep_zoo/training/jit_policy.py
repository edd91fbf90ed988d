"""The library's one `jit_compile` policy, per backend and device.

`jit_compile="auto"` (the default of every lrep_zoo model's `compile` and of the
recipes) resolves here:

| backend    | device          | `jit_compile` | why (measured by `benchmarks/jit_policy.py`) |
|------------|-----------------|---------------|-----------------------------------------------|
| tensorflow | CPU only        | `False`       | XLA:CPU is slower than TF's graph mode for these conv nets (issue 18: 1.5x VAE and DCGAN, 12.8x WGAN-GP) |
| tensorflow | GPU / TPU       | `True`        | XLA fuses the many small ops of the multi-phase steps |
| jax        | any             | `True`        | without `jax.jit` every op is dispatched on its own (many times slower) |
| torch      | any             | `False`       | `torch.compile` takes minutes per model on CPU and has no double backward (gradient penalties) |

This is the resolution Keras itself gives `"auto"` on these backends; the policy
states it once, for models, recipes and docs, and lets them print what runs.

Example:

```python
import keras
from lrep_zoo.training import jit_policy

jit_policy.resolve_jit_compile("auto")   # True on JAX, False on a CPU-only TF or on torch
jit_policy.resolve_jit_compile(False)    # False
print(jit_policy.describe())             # e.g. "backend jax on cpu:0, jit_compile=True"
```
"""

from __future__ import annotations

import functools
import sys
import time

import keras

__all__ = ["default_jit_compile", "resolve_jit_compile", "describe", "devices", "StepTimer"]


def devices() -> list[str]:
    """The current backend's devices, as `keras.distribution.list_devices()` names them.

    (Keras' `list_devices` has no torch implementation: there, `"cuda:i"` or `"cpu:0"`.)

    Example:

    ```python
    from lrep_zoo.training.jit_policy import devices

    devices()  # ['cpu:0'] on a CPU-only machine
    ```
    """
    if keras.backend.backend() != "torch":
        return [str(d) for d in keras.distribution.list_devices()]
    import torch

    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu:0"]


def _accelerated(devices) -> bool:
    return any(not str(d).lower().startswith("cpu") for d in devices)


def default_jit_compile(backend: str | None = None, devices=None) -> bool:
    """The policy's `jit_compile` for a backend and its devices (see the table above).

    Args:
        backend: A Keras backend name (default: the current one).
        devices: Device strings as `keras.distribution.list_devices()` gives them
            (default: the current ones).

    Example:

    ```python
    from lrep_zoo.training.jit_policy import default_jit_compile

    default_jit_compile("tensorflow", ["cpu:0"])            # False
    default_jit_compile("tensorflow", ["cpu:0", "gpu:0"])   # True
    ```
    """
    backend = backend or keras.backend.backend()
    if backend == "jax":
        return True
    if backend == "tensorflow":
        return _accelerated(globals()["devices"]() if devices is None else devices)
    if backend == "torch":
        return False
    raise ValueError(f"jit policy: unknown backend {backend!r} (tensorflow, jax or torch).")


def resolve_jit_compile(jit_compile: bool | str = "auto") -> bool:
    """`jit_compile` as a bool: `"auto"` through `default_jit_compile`, bools unchanged.

    (Keras still turns `True` into `False`, with a warning, for a model with a
    layer that does not support jit.)

    Example:

    ```python
    import keras
    from lrep_zoo.training.jit_policy import resolve_jit_compile

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", jit_compile=resolve_jit_compile("auto"))
    ```
    """
    if isinstance(jit_compile, str) and jit_compile == "auto":
        return default_jit_compile()
    if isinstance(jit_compile, bool):
        return jit_compile
    raise ValueError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}.")


def describe(model: keras.Model | None = None) -> str:
    """One line naming the backend, its devices and the (resolved) `jit_compile`.

    Example:

    ```python
    import keras
    from lrep_zoo.training.jit_policy import describe

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", jit_compile=False)
    print(describe(model))  # "backend tensorflow on cpu:0, jit_compile=False"
    ```
    """
    jit = model.jit_compile if model is not None and model.compiled else resolve_jit_compile()
    return f"backend {keras.backend.backend()} on {', '.join(devices())}, jit_compile={jit}"


class StepTimer(keras.callbacks.Callback):
    """Prints the backend, `jit_compile` and the median train-step time once.

    A step's time is the wall time between consecutive batch ends (so it includes
    everything the step waits for); the first step, which compiles, is left out.
    After `steps` timed steps (or at the end of training) it prints one line
    (`print_fn`, default: to stderr) and stores the median in `step_seconds`.

    Example:

    ```python
    import keras
    import numpy as np
    from lrep_zoo.training.jit_policy import StepTimer, resolve_jit_compile

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", jit_compile=resolve_jit_compile("auto"))
    timer = StepTimer(steps=4)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[timer])
    # stderr: "[lrep_zoo] backend jax on cpu:0, ..."
    timer.step_seconds                          # median seconds per step
    ```
    """

    def __init__(self, steps: int = 20, print_fn=None):
        super().__init__()
        print_fn = print_fn or functools.partial(print, file=sys.stderr)
        if steps < 1:
            raise ValueError(f"StepTimer: steps must be >= 1, got {steps}.")
        self.steps, self.print_fn = steps, print_fn
        self.step_seconds: float | None = None
        self._times: list[float] = []
        self._last = None

    def on_epoch_begin(self, epoch, logs=None):
        self._last = None  # (callbacks and evaluation between epochs are not a step)

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._last is not None and self.step_seconds is None:
            self._times.append(now - self._last)
            if len(self._times) >= self.steps:
                self._report()
        self._last = now

    def on_train_end(self, logs=None):
        if self.step_seconds is None and self._times:
            self._report()

    def _report(self):
        times = sorted(self._times)
        self.step_seconds = times[len(times) // 2]
        self.print_fn(f"[lrep_zoo] {describe(self.model)}: "
                      f"{1e3 * self.step_seconds:.1f} ms per train step "
                      f"(median of {len(times)} steps after the first)")
