"""Registered presets of the SHADE classifiers (files and card: `applications/<name>/`).

The SHADE classifiers are plain functional Keras models
(`lrep_zoo.models.shade.classifiers`), so their presets are `"Functional"` ones:
config.json holds `keras.saving.serialize_keras_object(model)`.

Example:

```python
import lrep_zoo
net = lrep_zoo.applications.ShadeLeNet(weights="mnist_1000")  # a functional keras.Model
same = lrep_zoo.applications.from_preset("shade_lenet_mnist_1000")
infodrop = lrep_zoo.applications.InformationDropoutLeNet(weights="mnist_1000")  # same LeNet,
# Information Dropout instead of SHADE (preset infodrop_lenet_mnist_1000)
```
"""

from lrep_zoo.applications.registry import FUNCTIONAL, Preset, register_preset

# `lrep_zoo.applications.ShadeLeNet(weights=...)`: short name -> preset name.
LENET_PRESETS = {}

LENET_PRESETS["mnist_1000"] = register_preset(
    Preset(
        name="shade_lenet_mnist_1000",
        model=FUNCTIONAL,
        weights="mnist_1000",
        sha256="08cc4dc446b7746b245b19bea84ad8fd825690b7006b6f32523c4bc40c916902",
        description="LeNet (conv 8-16, fc 128) with SHADE 1e-3, 1,000 MNIST labels, logits",
        recipe="shade_mnist_limited",
    )
).name

# `lrep_zoo.applications.InformationDropoutLeNet(weights=...)`: short name -> preset name.
INFODROP_LENET_PRESETS = {}

INFODROP_LENET_PRESETS["mnist_1000"] = register_preset(
    Preset(
        name="infodrop_lenet_mnist_1000",
        model=FUNCTIONAL,
        weights="mnist_1000",
        sha256="5ff507bb0943548840658b661d05f2aa751e491237dd77a106e76acbed33c2be",
        description="LeNet (conv 8-16, fc 128) with Information Dropout beta 1, 1,000 MNIST "
                    "labels, logits",
        recipe="shade_mnist_limited",
    )
).name
