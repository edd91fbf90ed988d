"""Registered Tempered GAN presets (files and card: `applications/<name>/`).

Example:

```python
from lrep_zoo.models import TemperedGAN
gan = TemperedGAN.from_preset("tempered_gan_mnist")  # = applications.TemperedGAN(weights="mnist")
```
"""

from lrep_zoo.applications.registry import Preset, register_preset

register_preset(
    Preset(
        name="tempered_gan_mnist",
        model="TemperedGAN",
        weights="mnist",
        sha256="6b0a71b16bfb09be14b2472d369cf7228b4c1b5307972a96887d1c0a2c88a27a",
        description="Tempered (learned lens) non-saturating DCGAN-style GAN, 32-d latent, MNIST",
        recipe="generative_mnist",
    )
)
