"""Reconstruction and denoising scores of auto-encoders."""

from __future__ import annotations

import numpy as np


def psnr(mse: float, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB for a mean squared error on [0, peak] images."""
    return float(10.0 * np.log10(peak**2 / max(mse, 1e-12)))


def denoising_scores(model, images, batch_size: int = 256, seed: int = 0) -> dict:
    """Reconstruction and denoising quality of `model` on clean images.

    `images` are in the model's `input_range` (0..255 for the presets, see
    `lrep_zoo.inputs`); the errors are measured on the [0, 1] scale of its outputs.
    The corrupted inputs use the model's own training corruption (`model.corrupt`)
    with noise drawn from `seed`; noisy values are not clipped (as in training).

    Returns a dict with `reconstruction_mse` (clean in, clean target),
    `noisy_mse` (the corrupted input itself vs clean), `denoised_mse` (corrupted
    in, clean target) and their PSNRs in dB.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.metrics.reconstruction import denoising_scores
    from lrep_zoo.models import DenoisingAutoEncoder

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")  # uint8 (10000, 28, 28, 1)
    x_test = x[:512]                                    # 0..255, as the dataset gives them
    dae = DenoisingAutoEncoder((28, 28, 1), latent_dim=32, architecture="mlp",
                               input_range="0..255")
    dae.compile(optimizer="adam")
    dae.fit(x_test, epochs=1, batch_size=128, verbose=0)
    scores = denoising_scores(dae, x_test)
    print(scores["denoised_psnr"], "dB")
    ```
    """
    import keras

    from lrep_zoo.inputs import input_scale

    images = np.asarray(images)
    scale = input_scale(model)
    keras.utils.set_random_seed(seed)
    noisy = np.concatenate(
        [keras.ops.convert_to_numpy(model.corrupt(images[i : i + batch_size]))
         for i in range(0, len(images), batch_size)]
    )
    clean_out = model.predict(images, batch_size=batch_size, verbose=0)
    denoised = model.predict(noisy, batch_size=batch_size, verbose=0)
    clean = images.astype("float32") / scale  # as the model's ImageRescaling does
    scores = {
        "reconstruction_mse": float(np.mean((clean_out - clean) ** 2)),
        "noisy_mse": float(np.mean((noisy / scale - clean) ** 2)),
        "denoised_mse": float(np.mean((denoised - clean) ** 2)),
    }
    for key in list(scores):
        scores[key.replace("_mse", "_psnr")] = psnr(scores[key])
    return scores
