"""Keras callbacks shared by several methods (HybridNet's `ReconstructionGrid` lives in
`lrep_zoo.models.hybridnet.grids`).

- `SampleGrid`: writes a PNG grid of a generative model's `sample(n, seed)` during `fit`.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

class SampleGrid(keras.callbacks.Callback):
    """Writes a PNG grid of `model.sample(n, seed)` during `fit`.

    The same `seed` is used every time, so successive grids show how the same
    latent codes evolve. Grids go to `directory/samples_<step or epoch>.png`.

    Args:
        directory: Output folder.
        n: Number of samples; `nrow` per row.
        seed: Sampling seed.
        every_n_steps: Write every this many training steps (also at the end of
            each epoch when `None`).

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.callbacks import SampleGrid
    from lrep_zoo.models import GAN

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (10000, 28, 28, 1)
    images = x[:64].astype("float32") / 255.0
    gan = GAN((28, 28, 1), latent_dim=16,
              generator_filters=(16, 8), discriminator_filters=(8, 16))  # tiny nets
    gan.compile(optimizer={"discriminator": keras.optimizers.Adam(2e-4, 0.5),
                           "generator": keras.optimizers.Adam(2e-4, 0.5)})
    grids = SampleGrid("runs/gan/grids", n=16, nrow=4, every_n_steps=1)
    gan.fit(images, epochs=1, batch_size=32, verbose=0, callbacks=[grids])
    print(grids.written)  # [runs/gan/grids/samples_step0000001.png, ..._step0000002.png]
    ```
    """

    def __init__(self, directory: str | os.PathLike, n: int = 64, nrow: int = 8, seed: int = 0,
                 every_n_steps: int | None = None, scale: int = 2):
        super().__init__()
        self.directory = Path(directory)
        self.n, self.nrow, self.seed, self.scale = n, nrow, seed, scale
        self.every_n_steps = every_n_steps
        self.written: list[Path] = []
        self._step = 0

    def _write(self, tag):
        from lrep_zoo.viz.generative import save_samples

        sync = getattr(self.model, "jax_state_sync", None)
        if callable(sync):  # JAX: bring the fit state into the variables first
            sync()
        path = save_samples(self.model, self.directory / f"samples_{tag}.png", n=self.n,
                            seed=self.seed, nrow=self.nrow, scale=self.scale)
        self.written.append(path)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.every_n_steps and self._step % self.every_n_steps == 0:
            self._write(f"step{self._step:07d}")

    def on_epoch_end(self, epoch, logs=None):
        if not self.every_n_steps:
            self._write(f"epoch{epoch + 1:04d}")
