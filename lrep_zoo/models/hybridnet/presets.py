"""Registered HybridNet presets (files and card: `applications/<name>/`).

Example:

```python
from lrep_zoo.models import HybridNet
model = HybridNet.from_preset("hybridnet_mnist_100")  # = applications.HybridNet(weights="mnist_100")
```
"""

from lrep_zoo.applications.registry import Preset, register_preset

register_preset(
    Preset(
        name="hybridnet_mnist_100",
        model="HybridNet",
        weights="mnist_100",
        sha256="5f74b4901fedd46b0eb9194d5a982f16321e7010bc8475164a0312d5905d91d5",
        description="HybridNet + SHADE (MNIST nets, filters 8-16), 100 MNIST labels, 28x28x1",
        recipe="hybridnet_mnist",
    )
)
