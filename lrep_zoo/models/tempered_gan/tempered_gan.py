"""Tempered Adversarial Networks (Sajjadi et al., ICML 2018)."""

from __future__ import annotations

import math

import keras
from keras import ops

from lrep_zoo.layers.lens import Lens
from lrep_zoo.losses import gan as gan_losses
from lrep_zoo.models.gan import GAN
from lrep_zoo.training import Phase


def lens_weight(step, lens_steps: int):
    """`lambda(t) = 1 - sin(t * pi / (2K))` for `t <= K`, then 0 (`K = lens_steps`).

    Example:

    ```python
    from lrep_zoo.models.tempered_gan.tempered_gan import lens_weight
    lens_weight(0, 1000)     # 1.0
    lens_weight(500, 1000)   # 1 - sin(pi / 4) = 0.2929
    lens_weight(2000, 1000)  # 0.0
    ```
    """
    t = ops.minimum(ops.cast(step, "float32"), float(lens_steps))
    return 1.0 - ops.sin(t * (math.pi / (2.0 * lens_steps)))


@keras.saving.register_keras_serializable(package="lrep_zoo")
class TemperedGAN(GAN):
    """A GAN whose discriminator sees real images through a learned lens `L`.

    The discriminator is trained on `{L(x): real}` and `{G(z): fake}`. The lens, a
    `Lens` (residual conv net, the identity at initialisation) with its own
    optimizer, minimises `-lambda(t) * L_D + mean_i ||L(x_i) - x_i||^2` (squared error
    summed over pixels, averaged over the batch): it makes the discriminator's task
    harder while staying close to the data, and as `lambda(t)` decays to 0 after
    `lens_steps` training steps the task becomes the plain GAN's. `L_D` is the
    discriminator's loss of the chosen objective without penalty.

    Phases: `"discriminator"` (`n_critic` times), `"lens"`, `"generator"`.
    Extra logs: `lens_weight` (lambda(t)) and `lens_distance`.

    Input contract: as `GAN` (real images in `input_range`, 0..255 for the preset);
    `apply_lens` takes images in `input_range` and returns float32 images in [0, 1].

    Args:
        lens_steps: `K` of the schedule.
        lens_filters, lens_depth: Size of the `Lens`.
        lens_distance_weight: Weight of `||L(x) - x||^2` (1 in the paper's objective;
            smaller values let the lens distort more).
        **kwargs: Those of `GAN`.

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.models import TemperedGAN

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (10000, 28, 28, 1)
    images = x[:64].astype("float32") / 255.0            # the default input_range "0..1"
    tgan = TemperedGAN((28, 28, 1), objective="non_saturating", lens_steps=2000)
    tgan.compile(optimizer={"discriminator": keras.optimizers.Adam(2e-4, 0.5),
                            "lens": keras.optimizers.Adam(2e-4, 0.5),
                            "generator": keras.optimizers.Adam(2e-4, 0.5)})
    tgan.fit(images, epochs=1, batch_size=64, verbose=0)
    seen_by_d = tgan.apply_lens(images[:8])  # what the discriminator sees
    ```
    """

    def __init__(self, *args, lens_steps: int = 2000, lens_filters: int = 16,
                 lens_depth: int = 2, lens_distance_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.lens_steps = int(lens_steps)
        self.lens_filters = int(lens_filters)
        self.lens_depth = int(lens_depth)
        self.lens_distance_weight = float(lens_distance_weight)
        self.lens = Lens(self.lens_filters, self.lens_depth, name="lens")
        self.lens.build((None, *self.image_shape))

    def phases(self) -> list[Phase]:
        d_phase, g_phase = super().phases()
        lens_phase = Phase(
            "lens", self.lens_loss, self.lens.trainable_variables,
            logs=("lens_weight", "lens_distance"),
        )
        return [d_phase, lens_phase, g_phase]

    def real_images(self, data, training: bool = True):
        # The discriminator phase does not train the lens.
        return ops.stop_gradient(self.lens(super().real_images(data, training)))

    def apply_lens(self, images):
        """`L(images)`: what the discriminator sees of real images (in `input_range`),
        float32 on the [0, 1] scale."""
        images = self.checked_images(images, "apply_lens")
        return self.lens(self.rescale(images))

    def current_lens_weight(self):
        """`lambda(t)` at the current training step `t = optimizer.iterations`."""
        step = self.optimizer.iterations if self.optimizer is not None else 0
        return lens_weight(step, self.lens_steps)

    def lens_loss(self, data, training: bool = True):
        """`loss_fn` of the lens phase: `-lambda(t) * L_D + w * mean ||L(x) - x||^2`."""
        x = GAN.real_images(self, data, training)
        lensed = self.lens(x)
        n = ops.shape(x)[0]
        fake = ops.stop_gradient(self.generator(self._noise(n), training=training))
        d_loss = gan_losses.discriminator_loss(
            self.discriminator(lensed, training=training),
            self.discriminator(fake, training=training),
            self.objective,
        )
        distance = ops.mean(gan_losses.squared_gradient_norm(lensed - x))
        weight = self.current_lens_weight()
        loss = -weight * d_loss + self.lens_distance_weight * distance
        return loss, {"lens_weight": weight, "lens_distance": distance}

    def export_endpoints(self):
        endpoints = super().export_endpoints()
        images = keras.InputSpec(shape=(None, *self.image_shape))
        endpoints["lens"] = (lambda x: {"images": self.apply_lens(x)}, {"images": images})
        return endpoints

    def get_config(self):
        return {
            **super().get_config(),
            "lens_steps": self.lens_steps,
            "lens_filters": self.lens_filters,
            "lens_depth": self.lens_depth,
            "lens_distance_weight": self.lens_distance_weight,
        }
