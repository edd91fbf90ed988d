"""Registered denoising auto-encoder presets (files and card: `applications/<name>/`).

Example:

```python
from lrep_zoo.models import DenoisingAutoEncoder
dae = DenoisingAutoEncoder.from_preset("dae_mnist")
```
"""

from lrep_zoo.applications.registry import Preset, register_preset

register_preset(
    Preset(
        name="dae_mnist",
        model="DenoisingAutoEncoder",
        weights="mnist",
        sha256="49092a78b0fbab86eb11245584203e6037a475ed4930924453986cb9866c7167",
        description="Convolutional denoising auto-encoder (Gaussian noise 0.3), MNIST 28x28x1",
        recipe="dae_mnist",
    )
)
