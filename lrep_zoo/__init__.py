"""lrep_zoo: a Keras 3 multi-backend model zoo for learning better latent representations.

The backend is chosen the Keras way (`KERAS_BACKEND`, or `~/.keras/keras.json`) before
`keras` is first imported. `import lrep_zoo` registers every lrep_zoo class with Keras
(so `keras.saving.load_model` finds them) and the `extended_yale_b` builder with TFDS
(so `tfds.load("extended_yale_b", ...)` finds it).

Example:

```python
import lrep_zoo
model = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
```
"""

__version__ = "0.1.0"

from lrep_zoo import _cli_entry

_cli_entry.begin()  # the `lrep-zoo` command only: silences TensorFlow's start-up logs

from lrep_zoo import applications
from lrep_zoo import data
from lrep_zoo import layers
from lrep_zoo import losses
from lrep_zoo import metrics
from lrep_zoo import models
from lrep_zoo import training
from lrep_zoo.data import yaleb as _yaleb

_yaleb.builder_class()  # registers `extended_yale_b` with TFDS

_LAZY = ("callbacks", "demo", "export", "graph_rewrite", "reporting", "viz")

__all__ = ["applications", "data", "layers", "losses", "metrics", "models", "training", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"lrep_zoo.{name}")
    raise AttributeError(f"module 'lrep_zoo' has no attribute {name!r}")
