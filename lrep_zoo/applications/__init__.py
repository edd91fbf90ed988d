"""Pretrained models, in the style of `keras.applications`.

Example:

```python
import numpy as np
import lrep_zoo
dae = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
denoised = dae.predict(np.zeros((2, 28, 28, 1), "float32"))
```

Each constructor is a thin wrapper of the model class' `from_preset`
(`PresetMixin`): `DualDis(weights="yaleb")` is
`lrep_zoo.models.DualDis.from_preset("dualdis_yaleb")`. `ShadeLeNet` is a functional
Keras model (an `ImageClassifier`): `from_preset("shade_lenet_mnist_1000")` (the module function,
which loads any preset and `save_to_preset` folder); so is `InformationDropoutLeNet`
(`infodrop_lenet_mnist_1000`).
"""

from __future__ import annotations

import os

from lrep_zoo.applications.registry import (
    PRESETS,
    Preset,
    PresetError,
    find_preset,
    get_preset,
    list_presets,
    load_preset,
    load_weights_into,
    preset_config,
    resolve_weights,
)
from lrep_zoo.applications.preset_mixin import PresetMixin, from_preset, save_to_preset


def _application(model: str, weights, default: str, **overrides):
    """Model `model` with the architecture of a preset and the requested weights.

    `weights` is a preset short name (e.g. "mnist"), None (random initialisation of
    the `default` preset's architecture), the path of a `.weights.h5` file or a preset
    folder (`save_to_preset`).
    """
    from lrep_zoo import models

    cls = getattr(models, model)
    if weights is None:
        return cls.from_preset(find_preset(model, default).name, load_weights=False, **overrides)
    if str(weights) not in {p.weights for p in PRESETS.values() if p.model == model}:
        if os.path.isdir(weights):
            return cls.from_preset(weights, **overrides)
        if os.path.sep in str(weights) or str(weights).endswith(".h5"):
            name = find_preset(model, default).name
            fresh = cls.from_preset(name, load_weights=False, **overrides)
            return load_weights_into(fresh, weights, preset=name)
    # A short name; an unknown one is a PresetError listing the known ones.
    return cls.from_preset(find_preset(model, str(weights)).name, **overrides)


def DenoisingAutoEncoder(weights: str | os.PathLike | None = "mnist", **overrides):
    """Denoising auto-encoder; `weights="mnist"` loads the pretrained MNIST preset.

    Args:
        weights: `"mnist"`, `None` (random initialisation), a `.weights.h5` path or a
            preset folder (`save_to_preset`).
        **overrides: Config entries to change (e.g. `noise_level`).

    Example:

    ```python
    import lrep_zoo
    dae = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
    x, _ = lrep_zoo.data.load_arrays("mnist", "test")
    images = x[:2]  # (N, 28, 28, 1) uint8 0..255, as the dataset gives them (the preset's range)
    codes = dae.encode(images)
    ```
    """
    return _application("DenoisingAutoEncoder", weights, "mnist", **overrides)


def DualDis(weights: str | os.PathLike | None = "yaleb", **overrides):
    """DualDis; `weights="yaleb"` loads the Extended Yale-B preset (identity vs lighting).

    `weights="yaleb_multitask"` loads its multi-task baseline (same network, no
    adversarial terms). Takes Yale-B images as they come (uint8 or float 0..255,
    192x168x1).

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.data import yaleb
    model = lrep_zoo.applications.DualDis(weights="yaleb")
    faces = yaleb.load_yaleb_npz(None)["test"]["image"][:2]  # (2, 192, 168, 1) uint8
    probs = model.classify(faces)          # {"y", "z", "y_adv", "z_adv"}
    relit = model.edit(faces, attribute=4, eps=2.0)
    baseline = lrep_zoo.applications.DualDis(weights="yaleb_multitask")
    ```
    """
    return _application("DualDis", weights, "yaleb", **overrides)


def VAE(weights: str | os.PathLike | None = "mnist", **overrides):
    """Variational auto-encoder; `weights="mnist"` loads the pretrained MNIST preset.

    Example:

    ```python
    import lrep_zoo
    vae = lrep_zoo.applications.VAE(weights="mnist")
    images = vae.sample(16, seed=0)
    ```
    """
    return _application("VAE", weights, "mnist", **overrides)


def GAN(weights: str | os.PathLike | None = "mnist", **overrides):
    """Non-saturating GAN; `weights="mnist"` loads the pretrained MNIST preset.

    Example:

    ```python
    import lrep_zoo
    gan = lrep_zoo.applications.GAN(weights="mnist")
    images = gan.sample(16, seed=0)
    ```
    """
    return _application("GAN", weights, "mnist", **overrides)


def HybridNet(weights: str | os.PathLike | None = "mnist_100", **overrides):
    """HybridNet + SHADE, MNIST nets; `weights="mnist_100"`: trained with 100 MNIST labels.

    Takes images as they come (uint8 or float 0..255, shape (N, 28, 28, 1)); `classify`
    gives class probabilities.

    Example:

    ```python
    import lrep_zoo
    model = lrep_zoo.applications.HybridNet(weights="mnist_100")
    x, _ = lrep_zoo.data.load_arrays("mnist", "test")
    images = x[:2]                                     # (2, 28, 28, 1) uint8 0..255
    probs = model.classify(images)  # (2, 10)
    outputs = model(images)  # x_hat_c, x_hat_u, x_hat, ...
    ```
    """
    return _application("HybridNet", weights, "mnist_100", **overrides)


def TemperedGAN(weights: str | os.PathLike | None = "mnist", **overrides):
    """Tempered (lens) non-saturating GAN; `weights="mnist"` loads the MNIST preset.

    Example:

    ```python
    import lrep_zoo
    gan = lrep_zoo.applications.TemperedGAN(weights="mnist")
    images = gan.sample(16, seed=0)  # (16, 28, 28, 1) in [0, 1]
    ```
    """
    return _application("TemperedGAN", weights, "mnist", **overrides)


def MixingAutoEncoder(weights: str | os.PathLike | None = "mnist", **overrides):
    """Mixing auto-encoder (Hu et al. 2018, MIX + C + G, 8 chunks of 8); `weights="mnist"`.

    Trained on MNIST by `mixing_mnist` (a short CPU run: see its card). Takes images as
    they come (uint8 or float 0..255, shape (N, 28, 28, 1) or (N, 28, 28)); `encode`
    gives the 64-d codes (chunk i: values 8 i .. 8 i + 7), `transfer(x, source, chunk)`
    swaps one chunk, `decode` returns images in [0, 1].

    Example:

    ```python
    import lrep_zoo
    model = lrep_zoo.applications.MixingAutoEncoder(weights="mnist")
    x, _ = lrep_zoo.data.load_arrays("mnist", "test")
    digits = x[:2, :, :, 0]                             # (2, 28, 28) uint8
    codes = model.encode(digits)                        # (2, 64)
    swapped = model.transfer(digits, digits[::-1], 4)   # (2, 28, 28, 1) in [0, 1]
    ```
    """
    return _application("MixingAutoEncoder", weights, "mnist", **overrides)


def Siamese(weights: str | os.PathLike | None = "yaleb", **overrides):
    """Siamese network; `weights="yaleb"`: face embeddings for one-shot identification.

    Trained on Extended Yale-B identities 0..27 (48x42 faces, `siamese_yaleb`), for faces
    it never saw. Takes images as they come (uint8 or float 0..255, shape (N, 48, 42, 1)
    or (N, 48, 42)); `embed` gives embeddings, `similarity(a, b)` the score of each pair
    (higher = more alike).

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.data import yaleb
    model = lrep_zoo.applications.Siamese(weights="yaleb")
    faces = yaleb.load_yaleb_npz(None, resolution="48x42")["test"]["image"][:2]
    codes = model.embed(faces)                      # (2, 64)
    score = model.similarity(faces[:1], faces[1:])  # (1,)
    ```
    """
    return _application("Siamese", weights, "yaleb", **overrides)


def _functional_lenet(constructor: str, presets: dict, weights):
    """A functional-LeNet preset of `presets` (short name -> preset name), as `constructor`.

    `weights`: a short name of `presets`, None (random initialisation of the
    `"mnist_1000"` architecture), a preset folder or a `.weights.h5` path.
    """
    default = presets["mnist_1000"]
    if weights is None:
        return load_preset(default, weights=None)
    if str(weights) in presets:
        return from_preset(presets[str(weights)])
    if os.path.isdir(weights):
        return from_preset(weights)
    if os.path.sep in str(weights) or str(weights).endswith(".h5"):
        return load_preset(default, weights=weights)
    raise PresetError(
        f"Unknown weights {weights!r} for {constructor}: pass one of {sorted(presets)}, "
        f"None (random initialisation), the path of a .weights.h5 file or a preset folder."
    )


def ShadeLeNet(weights: str | os.PathLike | None = "mnist_1000"):
    """The SHADE paper's small LeNet, a functional `keras.Model` returning logits.

    `weights="mnist_1000"`: trained with SHADE (weight 1e-3) on 1,000 MNIST labels
    (preset `shade_lenet_mnist_1000`). Takes images as they come (uint8 or float 0..255,
    shape (N, 28, 28, 1) or (N, 28, 28)), like every preset (an `ImageClassifier`:
    `lrep_zoo.models.shade.classifiers`).

    Args:
        weights: `"mnist_1000"`, `None` (random initialisation of that architecture),
            a `.weights.h5` path or a preset folder (`save_to_preset`).

    Example:

    ```python
    import lrep_zoo
    net = lrep_zoo.applications.ShadeLeNet(weights="mnist_1000")
    x, _ = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (N, 28, 28, 1)
    logits = net.predict(x[:2], verbose=0)  # (2, 10)
    ```
    """
    from lrep_zoo.models.shade.presets import LENET_PRESETS

    return _functional_lenet("ShadeLeNet", LENET_PRESETS, weights)


def InformationDropoutLeNet(weights: str | os.PathLike | None = "mnist_1000"):
    """The SHADE protocol's small LeNet with Information Dropout, a functional `keras.Model`.

    `weights="mnist_1000"`: trained with Information Dropout (beta 1) after every hidden
    activation on 1,000 MNIST labels (preset `infodrop_lenet_mnist_1000`); returns
    logits, with no noise outside training. Takes images as they come (uint8 or float
    0..255, shape (N, 28, 28, 1) or (N, 28, 28)), like every preset (an
    `ImageClassifier`: `lrep_zoo.models.shade.classifiers`).

    Args:
        weights: `"mnist_1000"`, `None` (random initialisation of that architecture),
            a `.weights.h5` path or a preset folder (`save_to_preset`).

    Example:

    ```python
    import lrep_zoo
    net = lrep_zoo.applications.InformationDropoutLeNet(weights="mnist_1000")
    x, _ = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (N, 28, 28, 1)
    logits = net.predict(x[:2], verbose=0)  # (2, 10)
    ```
    """
    from lrep_zoo.models.shade.presets import INFODROP_LENET_PRESETS

    return _functional_lenet("InformationDropoutLeNet", INFODROP_LENET_PRESETS, weights)


__all__ = [
    "DualDis",
    "GAN",
    "HybridNet",
    "InformationDropoutLeNet",
    "MixingAutoEncoder",
    "ShadeLeNet",
    "Siamese",
    "TemperedGAN",
    "VAE",
    "PRESETS",
    "DenoisingAutoEncoder",
    "Preset",
    "PresetMixin",
    "PresetError",
    "from_preset",
    "get_preset",
    "list_presets",
    "load_preset",
    "load_weights_into",
    "preset_config",
    "resolve_weights",
    "save_to_preset",
]
