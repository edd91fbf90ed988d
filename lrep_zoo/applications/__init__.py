"""Pretrained models, in the style of `keras.applications`.

Example:

```python
import lrep_zoo
dae = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
denoised = dae.predict(noisy_digits)
```
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


def _application(model: str, weights, default: str, **overrides):
    """Model `model` with the architecture of a preset and the requested weights.

    `weights` is a preset short name (e.g. "mnist"), None (random initialisation of
    the `default` preset's architecture) or the path of a `.weights.h5` file.
    """
    is_path = weights is not None and (
        os.path.sep in str(weights) or str(weights).endswith(".h5")
    )
    short = default if weights is None or is_path else str(weights)
    preset = find_preset(model, short)
    return load_preset(
        preset.name, weights=weights if is_path else (None if weights is None else "preset"),
        **overrides,
    )


def DenoisingAutoEncoder(weights: str | os.PathLike | None = "mnist", **overrides):
    """Denoising auto-encoder; `weights="mnist"` loads the pretrained MNIST preset.

    Args:
        weights: `"mnist"`, `None` (random initialisation) or a `.weights.h5` path.
        **overrides: Config entries to change (e.g. `noise_level`).

    Example:

    ```python
    dae = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
    codes = dae.encode(images)  # images: (N, 28, 28, 1) float32 in [0, 1]
    ```
    """
    return _application("DenoisingAutoEncoder", weights, "mnist", **overrides)


def DualDis(weights: str | os.PathLike | None = "yaleb", **overrides):
    """DualDis; `weights="yaleb"` loads the Extended Yale-B preset (identity vs lighting).

    Takes Yale-B images as they come (uint8 or float 0..255, 192x168x1).

    Example:

    ```python
    model = lrep_zoo.applications.DualDis(weights="yaleb")
    probs = model.classify(faces)          # {"y", "z", "y_adv", "z_adv"}
    relit = model.edit(faces, attribute=4, eps=2.0)
    ```
    """
    return _application("DualDis", weights, "yaleb", **overrides)


def VAE(weights: str | os.PathLike | None = "mnist", **overrides):
    """Variational auto-encoder; `weights="mnist"` loads the pretrained MNIST preset.

    Example:

    ```python
    vae = lrep_zoo.applications.VAE(weights="mnist")
    images = vae.sample(16, seed=0)
    ```
    """
    return _application("VAE", weights, "mnist", **overrides)


def GAN(weights: str | os.PathLike | None = "mnist", **overrides):
    """Non-saturating GAN; `weights="mnist"` loads the pretrained MNIST preset.

    Example:

    ```python
    gan = lrep_zoo.applications.GAN(weights="mnist")
    images = gan.sample(16, seed=0)
    ```
    """
    return _application("GAN", weights, "mnist", **overrides)


__all__ = [
    "DualDis",
    "GAN",
    "VAE",
    "PRESETS",
    "DenoisingAutoEncoder",
    "Preset",
    "PresetError",
    "get_preset",
    "list_presets",
    "load_preset",
    "load_weights_into",
    "preset_config",
    "resolve_weights",
]
