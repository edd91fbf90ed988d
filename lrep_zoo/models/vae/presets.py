"""Registered VAE presets (files and card: `applications/<name>/`).

Example:

```python
from lrep_zoo.models import VAE
vae = VAE.from_preset("vae_mnist")
```
"""

from lrep_zoo.applications.registry import Preset, register_preset

register_preset(
    Preset(
        name="vae_mnist",
        model="VAE",
        weights="mnist",
        sha256="a9f9cb795515effc519a23243591b2c70748de8d1bb14e6b20ea9389997aae00",
        description="Convolutional VAE (Bernoulli decoder, 16-d latent), MNIST 28x28x1",
        recipe="generative_mnist",
    )
)
