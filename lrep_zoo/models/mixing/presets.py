"""Registered mixing auto-encoder presets (files and card: `applications/<name>/`).

Example:

```python
from lrep_zoo.models import MixingAutoEncoder
model = MixingAutoEncoder.from_preset("mixing_mnist")
```
"""

from lrep_zoo.applications.registry import Preset, register_preset

register_preset(
    Preset(
        name="mixing_mnist",
        model="MixingAutoEncoder",
        weights="mnist",
        sha256="5f2f19bb80a00b1fad0c6a10c8445c8f21cf6cd56617ed0bcc82a40146182c58",
        description="Mixing auto-encoder (MIX + C + G, 8 chunks), MNIST 28x28x1 in 0..255",
        recipe="mixing_mnist",
    )
)
