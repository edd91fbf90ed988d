"""Reconstruction and denoising scores of auto-encoders."""

from __future__ import annotations

import numpy as np


def psnr(mse: float, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB for a mean squared error on [0, peak] images."""
    return float(10.0 * np.log10(peak**2 / max(mse, 1e-12)))


def denoising_scores(model, images, batch_size: int = 256, seed: int = 0) -> dict:
    """Reconstruction and denoising quality of `model` on clean images in [0, 1].

    The corrupted inputs use the model's own training corruption (`model.corrupt`)
    with noise drawn from `seed`; noisy values are not clipped (as in training).

    Returns a dict with `reconstruction_mse` (clean in, clean target),
    `noisy_mse` (the corrupted input itself vs clean), `denoised_mse` (corrupted
    in, clean target) and their PSNRs in dB.

    Example:

    ```python
    scores = denoising_scores(dae, x_test)
    print(scores["denoised_psnr"], "dB")
    ```
    """
    import keras

    images = np.asarray(images, "float32")
    keras.utils.set_random_seed(seed)
    noisy = np.concatenate(
        [keras.ops.convert_to_numpy(model.corrupt(images[i : i + batch_size]))
         for i in range(0, len(images), batch_size)]
    )
    clean_out = model.predict(images, batch_size=batch_size, verbose=0)
    denoised = model.predict(noisy, batch_size=batch_size, verbose=0)
    scores = {
        "reconstruction_mse": float(np.mean((clean_out - images) ** 2)),
        "noisy_mse": float(np.mean((noisy - images) ** 2)),
        "denoised_mse": float(np.mean((denoised - images) ** 2)),
    }
    for key in list(scores):
        scores[key.replace("_mse", "_psnr")] = psnr(scores[key])
    return scores
