"""HybridNet's figure: x, x_hat_c, x_hat_u, x_hat rows for fixed images, and its callback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from lrep_zoo.viz.grids import save_rows

GRID_ROWS = ("x_hat_c", "x_hat_u", "x_hat")


def save_reconstruction_grid(model, images, path: str | os.PathLike,
                             rows: Sequence[str] = GRID_ROWS, scale: int = 2,
                             clip: bool = True, shown_images=None) -> Path:
    """Writes one grid row per output: the images, then `rows` of `model(images)`.

    `model(images, training=False)` must return a dict holding the `rows` keys
    (HybridNet does); missing keys are skipped. Values are clipped to [0, 1].
    `shown_images` replaces `images` in the first row (e.g. un-normalised).

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.hybridnet.grids import save_reconstruction_grid

    hybridnet = lrep_zoo.applications.HybridNet(weights="mnist_100")  # pretrained
    x_test, _ = lrep_zoo.data.load_arrays("mnist", "test")  # uint8, the preset's input range
    save_reconstruction_grid(hybridnet, x_test[:12], "reconstructions.png")
    ```
    """
    images = np.asarray(images, dtype="float32")
    outputs = model(images, training=False)
    grid = [images if shown_images is None else np.clip(np.asarray(shown_images), 0.0, 1.0)]
    for key in rows:
        if key in outputs:
            value = keras.ops.convert_to_numpy(outputs[key])
            grid.append(np.clip(value, 0.0, 1.0) if clip else value)
    return save_rows(grid, path, scale=scale)


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
    import keras
    import lrep_zoo
    from lrep_zoo.models import HybridNet
    from lrep_zoo.models.hybridnet import mnist_networks
    from lrep_zoo.models.hybridnet.grids import ReconstructionGrid

    x, y = lrep_zoo.data.load_arrays("mnist", "train")
    x_test = lrep_zoo.data.load_arrays("mnist", "test")[0] / 255.0  # in [0, 1], as ds
    ds = lrep_zoo.data.semi_supervised(x[:1000], y[:1000], 100, batch_size=32)
    model = HybridNet(**mnist_networks.networks(filters=(4, 8)))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)  # 4 quick steps
    model.fit(ds, epochs=2, steps_per_epoch=2, verbose=0,  # e.g. epochs=10, steps_per_epoch=300
              callbacks=[ReconstructionGrid(x_test[:12], "runs/grids")])
    # runs/grids/reconstructions_epoch001.png, ..._epoch002.png
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
