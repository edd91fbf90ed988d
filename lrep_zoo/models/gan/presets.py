"""Registered GAN presets (files and card: `applications/<name>/`).

Example:

```python
from lrep_zoo.models import GAN
gan = GAN.from_preset("gan_mnist")
```
"""

from lrep_zoo.applications.registry import Preset, register_preset

register_preset(
    Preset(
        name="gan_mnist",
        model="GAN",
        weights="mnist",
        sha256="36fc2e2f8cf89dd3a6a3ad3729d579c96abc747de2abb5c914b2b6a4ef091a03",
        description="Non-saturating DCGAN-style GAN (32-d latent), MNIST 28x28x1",
        recipe="generative_mnist",
    )
)
