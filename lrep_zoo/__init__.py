"""lrep_zoo: a Keras 3 multi-backend model zoo for learning better latent representations.

The backend is chosen the Keras way (`KERAS_BACKEND`, or `~/.keras/keras.json`) before
`keras` is first imported. Submodules are imported on first access so that
`import lrep_zoo` stays cheap.

Example:

```python
import lrep_zoo
model = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
```
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "applications",
    "data",
    "export",
    "layers",
    "losses",
    "metrics",
    "models",
    "nets",
    "regularizers",
    "training",
    "viz",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"lrep_zoo.{name}")
    raise AttributeError(f"module 'lrep_zoo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
