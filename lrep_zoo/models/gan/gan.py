"""GANs: minimax / non-saturating (Goodfellow 2014), WGAN (Arjovsky 2017), WGAN-GP
(Gulrajani 2017) and R1 (Mescheder 2018), trained by `lrep_zoo.training`."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from lrep_zoo.applications.preset_mixin import PresetMixin
from lrep_zoo.export import ExportMixin
from lrep_zoo.inputs import ImageInputsMixin, check_input_range
from lrep_zoo.layers.image_rescaling import ImageRescaling
from lrep_zoo.losses import gan as gan_losses
from lrep_zoo.models.gan import networks as nets
from lrep_zoo.models._networks import deserialize_networks
from lrep_zoo.training import MultiPhaseModel, Phase, value_and_input_gradient
from lrep_zoo.training.distribute import replica_random


@keras.saving.register_keras_serializable(package="lrep_zoo")
class ClipConstraint(keras.constraints.Constraint):
    """Clips every weight to `[-clip_value, clip_value]` (WGAN critic)."""

    def __init__(self, clip_value: float = 0.01):
        self.clip_value = float(clip_value)

    def __call__(self, w):
        return ops.clip(w, -self.clip_value, self.clip_value)

    def get_config(self):
        return {"clip_value": self.clip_value}


@keras.saving.register_keras_serializable(package="lrep_zoo")
class GAN(ImageInputsMixin, PresetMixin, ExportMixin, MultiPhaseModel):
    """Generator / discriminator pair with a selectable objective.

    Phases (each with its own optimizer, see `MultiPhaseModel`): `"discriminator"`,
    run `n_critic` times per batch with fresh noise, then `"generator"`. Objectives
    (`lrep_zoo.losses.gan`): `"minimax"`, `"non_saturating"`, `"wgan"` (critic
    weights clipped to `clip_value` after each update), `"wgan_gp"` (penalty
    `gp_weight * (||grad f(x_hat)|| - 1)^2` at random interpolates) and `"r1"`
    (non-saturating plus `r1_gamma / 2 * ||grad D(x)||^2` on real images).
    Gradient penalties need `jit_compile=False` on torch (no double backward in
    `torch.compile`); TF and JAX compile them.

    Logs: `discriminator_loss`, `generator_loss`, `real_logits`, `fake_logits`
    (mean discriminator outputs) and `gradient_penalty` (0 without penalty).

    Input contract (`lrep_zoo.inputs`): the real images of `fit` / `evaluate` are in
    `input_range` ("0..255": uint8 or float as the dataset gives them, the preset's;
    "0..1": already scaled, the default), `(N, *image_shape)` or `(N, H, W)` for
    grayscale; generated images (`sample`, `decode`, `predict` of latents) are
    float32 in [0, 1] (the default generator ends in a sigmoid).

    Args:
        image_shape: Shape of the images, `(H, W, C)`.
        latent_dim: Size of `z ~ N(0, I)`.
        objective: One of `lrep_zoo.losses.gan.OBJECTIVES`.
        n_critic: Discriminator updates per generator update.
        gp_weight: WGAN-GP penalty weight.
        r1_gamma: R1 penalty weight `gamma`.
        clip_value: WGAN weight clipping bound.
        generator_filters, discriminator_filters: Widths of the default DCGAN nets.
        generator, discriminator: Optional `keras.Model`s replacing them
            (`latent -> image`, `image -> (batch, 1) logits`).
        seed: Seed of the training noise.
        input_range: `"0..1"` or `"0..255"` (see the input contract above).

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.models import GAN

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (10000, 28, 28, 1)
    images = x[:64].astype("float32") / 255.0            # the default input_range "0..1"
    gan = GAN((28, 28, 1), latent_dim=64, objective="wgan_gp", n_critic=5,
              generator_filters=(16, 8), discriminator_filters=(8, 16))  # tiny nets
    gan.compile(optimizer={"discriminator": keras.optimizers.Adam(2e-4, 0.5, 0.9),
                           "generator": keras.optimizers.Adam(2e-4, 0.5, 0.9)},
                jit_compile=False)  # XLA works on TF / JAX (not torch), but compiles slowly
    gan.fit(images, epochs=1, batch_size=64, verbose=0)
    samples = gan.sample(16, seed=0)                     # (16, 28, 28, 1) in [0, 1]
    ```
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (28, 28, 1),
        latent_dim: int = 64,
        objective: str = "non_saturating",
        n_critic: int = 1,
        gp_weight: float = 10.0,
        r1_gamma: float = 10.0,
        clip_value: float = 0.01,
        generator_filters: Sequence[int] = (64, 32),
        discriminator_filters: Sequence[int] = (32, 64),
        generator: keras.Model | None = None,
        discriminator: keras.Model | None = None,
        seed: int | None = None,
        input_range: str = "0..1",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(d) for d in image_shape)
        self.input_range = check_input_range(input_range)
        self.rescale = ImageRescaling(self.image_shape, self.input_range, name="rescale")
        self.latent_dim = int(latent_dim)
        self.objective = gan_losses.check_objective(objective)
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)
        self.r1_gamma = float(r1_gamma)
        self.clip_value = float(clip_value)
        self.generator_filters = tuple(int(f) for f in generator_filters)
        self.discriminator_filters = tuple(int(f) for f in discriminator_filters)
        self.seed = seed
        self.custom_networks = generator is not None or discriminator is not None
        self.generator = generator or nets.generator(
            self.latent_dim, self.image_shape, self.generator_filters
        )
        self.discriminator = discriminator or nets.discriminator(
            self.image_shape, self.discriminator_filters
        )
        if self.objective == "wgan":
            for v in self.discriminator.trainable_variables:
                v.constraint = ClipConstraint(self.clip_value)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    # `predict` takes latent codes; `fit` and `evaluate` take real images.
    image_data_methods = ("fit", "evaluate")

    # ------------------------------------------------------------------ inference
    def call(self, latents, training=False):
        return self.generator(latents, training=training)

    def decode(self, latents):
        """Images generated from latent codes, float32 in [0, 1]."""
        return self.generator(latents, training=False)

    def latents(self, n: int, seed: int = 0) -> np.ndarray:
        """`n` latent codes `z ~ N(0, I)` from a NumPy generator seeded with `seed`."""
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")

    def sample(self, n: int, seed: int = 0):
        """`n` generated images (float32 in [0, 1]); the same `seed` gives the same images
        on every backend."""
        return self.decode(self.latents(n, seed))

    # ------------------------------------------------------------------ training
    def phases(self) -> list[Phase]:
        return [
            Phase(
                "discriminator",
                self.discriminator_loss,
                self.discriminator.trainable_variables,
                logs=("real_logits", "fake_logits", "gradient_penalty"),
                steps=self.n_critic,
            ),
            Phase("generator", self.generator_loss, self.generator.trainable_variables),
        ]

    def real_images(self, data, training: bool = True):
        """The "real" input of the discriminator for a batch, in [0, 1] (hook for subclasses)."""
        x = keras.utils.unpack_x_y_sample_weight(data)[0] if isinstance(data, tuple) else data
        return self.rescale(x)

    def _noise(self, n):
        # replica_random: each tf.distribute replica gets its slice of the global
        # batch's noise (lrep_zoo.training.distribute).
        return replica_random(
            lambda s: keras.random.normal(s, seed=self.seed_generator), (n, self.latent_dim)
        )

    def discriminator_loss(self, data, training: bool = True):
        """`loss_fn` of the discriminator phase: `(loss, logs)`."""
        real = self.real_images(data, training=training)
        n = ops.shape(real)[0]
        fake = ops.stop_gradient(self.generator(self._noise(n), training=training))
        penalty = ops.zeros(())
        if self.objective == "r1":
            real_logits, grads = value_and_input_gradient(
                lambda x: self.discriminator(x, training=training), real
            )
            penalty = gan_losses.r1_penalty(grads)
            weight = 0.5 * self.r1_gamma
        else:
            real_logits = self.discriminator(real, training=training)
        fake_logits = self.discriminator(fake, training=training)
        loss = gan_losses.discriminator_loss(real_logits, fake_logits, self.objective)
        if self.objective == "wgan_gp":
            eps = replica_random(
                lambda s: keras.random.uniform(s, seed=self.seed_generator),
                (n,) + (1,) * len(self.image_shape),
            )
            # In float32: a mixed-precision generator gives half-precision images.
            mix = eps * ops.cast(real, eps.dtype) + (1.0 - eps) * ops.cast(fake, eps.dtype)
            _, grads = value_and_input_gradient(
                lambda x: self.discriminator(x, training=training), mix
            )
            penalty = gan_losses.wgan_gradient_penalty(grads)
            weight = self.gp_weight
        if self.objective in ("r1", "wgan_gp"):
            loss = loss + weight * penalty
        return loss, {
            "real_logits": ops.mean(real_logits),
            "fake_logits": ops.mean(fake_logits),
            "gradient_penalty": penalty,
        }

    def generator_loss(self, data, training: bool = True):
        """`loss_fn` of the generator phase: `(loss, {})`."""
        real = keras.utils.unpack_x_y_sample_weight(data)[0] if isinstance(data, tuple) else data
        fake = self.generator(self._noise(ops.shape(real)[0]), training=training)
        logits = self.discriminator(fake, training=training)
        return gan_losses.generator_loss(logits, self.objective), {}

    # ------------------------------------------------------------------ export
    def export_endpoints(self):
        """SavedModel endpoints (see `lrep_zoo.export`): latents -> images."""
        latents = keras.InputSpec(shape=(None, self.latent_dim))
        decode = (lambda z: {"images": self.decode(z)}, {"latents": latents})
        return {"serving_default": decode, "sample": decode, "decode": decode}

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {
            **super().get_config(),
            "image_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "objective": self.objective,
            "n_critic": self.n_critic,
            "gp_weight": self.gp_weight,
            "r1_gamma": self.r1_gamma,
            "clip_value": self.clip_value,
            "generator_filters": self.generator_filters,
            "discriminator_filters": self.discriminator_filters,
            "seed": self.seed,
            "input_range": self.input_range,
        }
        if self.custom_networks:
            config["generator"] = keras.saving.serialize_keras_object(self.generator)
            config["discriminator"] = keras.saving.serialize_keras_object(self.discriminator)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_networks(config, ("generator", "discriminator")))
