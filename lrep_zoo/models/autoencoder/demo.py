"""`lrep-zoo demo --model dae`: a short DAE run on an embedded dataset (no download).

Trains the denoising auto-encoder on procedurally generated shapes
(`lrep_zoo.data.procedural.shapes`), prints its test scores and writes a PNG grid of
noisy / clean / denoised images.
"""

from __future__ import annotations

import time

import numpy as np


def demo(output_dir="lrep_zoo_outputs/demo/dae", epochs: int = 3, train_images: int = 6000,
             seed: int = 0, verbose: int = 1) -> dict:
    """Trains and scores a small DAE; returns the metrics (also in `metrics.json`).

    Example:

    ```python
    from lrep_zoo.models.autoencoder.demo import demo
    metrics = demo("demo_dae", epochs=1, train_images=1000, verbose=0)
    ```
    """
    import keras

    from lrep_zoo import reporting, viz
    from lrep_zoo.data import procedural
    from lrep_zoo.metrics.reconstruction import denoising_scores
    from lrep_zoo.models import DenoisingAutoEncoder

    out = reporting.output_dir(output_dir)
    keras.utils.set_random_seed(seed)
    x_train = procedural.shapes(train_images, seed=seed)[0].astype("float32") / 255.0
    x_test = procedural.shapes(1000, seed=seed + 1)[0].astype("float32") / 255.0
    model = DenoisingAutoEncoder(x_train.shape[1:], latent_dim=16, noise="gaussian",
                                 noise_level=0.3, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    start = time.perf_counter()
    model.fit(x_train, batch_size=128, epochs=epochs, verbose=verbose)
    seconds = time.perf_counter() - start
    scores = denoising_scores(model, x_test, seed=seed)
    sample = x_test[:10]
    keras.utils.set_random_seed(seed)
    noisy = keras.ops.convert_to_numpy(model.corrupt(sample))
    grid = viz.save_rows([np.clip(noisy, 0, 1), sample, model.predict(noisy, verbose=0)],
                         out / "demo_denoising.png", scale=3)
    model.save_weights(out / "demo_dae.weights.h5")
    metrics = {"model": "DenoisingAutoEncoder", "dataset": "procedural shapes",
               "epochs": epochs, "train_seconds": round(seconds, 1), "test": scores,
               "machine": reporting.machine()}
    reporting.write_json(out / "metrics.json", metrics)
    metrics["files"] = [str(grid), str(out / "metrics.json"), str(out / "demo_dae.weights.h5")]
    return metrics
