"""Concrete values of eager tensors, for the checks eager entry points make.

The one backend-aware piece of `lrep_zoo.inputs`: inside a traced function
(`tf.function`, `jax.jit`, `torch.compile` / `torch.export`) or for a `KerasTensor`
there is no value to check, and `concrete_numpy` says so by returning `None`.

Example:

```python
import numpy as np
from lrep_zoo.training.tensor_values import concrete_numpy
concrete_numpy(np.zeros((2, 3)))  # the array itself
```
"""

from __future__ import annotations

import keras
import numpy as np


def _torch_compiling() -> bool:
    import torch

    return bool(torch.compiler.is_compiling())


def concrete_numpy(x) -> np.ndarray | None:
    """`x` as a NumPy array when it has concrete values, else `None`.

    NumPy arrays, Python lists and numbers, and eager tensors of the current backend
    have values; `KerasTensor`s, TensorFlow graph tensors, JAX tracers and tensors
    being traced by `torch.compile` / `torch.export` do not.
    """
    if isinstance(x, np.ndarray):
        return x
    if keras.backend.is_keras_tensor(x):
        return None
    if keras.ops.is_tensor(x):
        if keras.backend.backend() == "torch" and _torch_compiling():
            return None
        try:
            return keras.ops.convert_to_numpy(x)
        except Exception:  # a symbolic / traced / fake tensor: no value
            return None
    if isinstance(x, (list, tuple, int, float)):
        try:
            return np.asarray(x)
        except Exception:
            return None
    return None
