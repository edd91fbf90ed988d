"""Keras callbacks of lrep_zoo.

- `ReconstructionGrid`: after every `every` epochs, writes a PNG grid of the
  rows x, x_hat_c, x_hat_u, x_hat (HybridNet's figure) for fixed images.
- `SampleGrid`: writes a PNG grid of a generative model's `sample(n, seed)` during `fit`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from lrep_zoo.models.hybridnet.grids import GRID_ROWS, save_reconstruction_grid


class ReconstructionGrid(keras.callbacks.Callback):
    """Saves `x / x_hat_c / x_hat_u / x_hat` grids of fixed images during `fit`.

    Args:
        images: The images to reconstruct (NHWC, in [0, 1]).
        directory: Folder of the PNG files, named `{prefix}_epoch{NNN}.png`.
        every: Write every `every` epochs (and always after the last one).
        rows: Output keys to show below the images.
        prefix: File name prefix.

    Example:

    ```python
    model.fit(ds, epochs=10, steps_per_epoch=300,
              callbacks=[ReconstructionGrid(x_test[:12], "runs/grids")])
    ```
    """

    def __init__(self, images, directory: str | os.PathLike, every: int = 1,
                 rows: Sequence[str] = GRID_ROWS, prefix: str = "reconstructions"):
        super().__init__()
        self.images = np.asarray(images, dtype="float32")
        self.directory = Path(directory)
        self.every = max(1, int(every))
        self.rows = tuple(rows)
        self.prefix = prefix
        self.paths: list[Path] = []

    def on_epoch_end(self, epoch, logs=None):
        last = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every and (last is None or epoch + 1 != last):
            return
        path = self.directory / f"{self.prefix}_epoch{epoch + 1:03d}.png"
        self.paths.append(save_reconstruction_grid(self.model, self.images, path, self.rows))


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
    gan.fit(images, epochs=10, callbacks=[SampleGrid("runs/gan/grids", every_n_steps=500)])
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
