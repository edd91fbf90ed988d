"""Denoising auto-encoder (Vincent et al. 2008)."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from lrep_zoo.applications.preset_mixin import PresetMixin
from lrep_zoo.export import ExportMixin
from lrep_zoo.training.distribute import scale_loss_for_distribution
from lrep_zoo.inputs import ImageInputsMixin, check_input_range, input_scale
from lrep_zoo.layers.image_rescaling import ImageRescaling
from lrep_zoo.models._networks import deserialize_networks, serialize_networks

from lrep_zoo.layers.noise import MaskingNoise
from lrep_zoo.models.autoencoder import networks as nets
from lrep_zoo.training.seed_state import SeedStateMixin

NOISES = ("gaussian", "masking", "none")
RECONSTRUCTION_LOSSES = ("mse", "bce")
ARCHITECTURES = ("conv", "mlp")


@keras.saving.register_keras_serializable(package="lrep_zoo")
class DenoisingAutoEncoder(ImageInputsMixin, PresetMixin, ExportMixin, SeedStateMixin, keras.Model):
    """Auto-encoder trained to reconstruct clean images from corrupted ones.

    During training the input is corrupted (Gaussian noise of std `noise_level`, or
    masking noise zeroing a fraction `noise_level` of the values) and the loss
    compares the reconstruction with the clean input. At inference (`predict`,
    `evaluate`, `call` with `training=False`) the input is used as given, so
    `model.predict(noisy_images)` denoises and `evaluate` reports the
    reconstruction loss of clean images.

    Input contract (`lrep_zoo.inputs`): images in `input_range` ("0..255": uint8 or
    float as the dataset gives them, the preset's; "0..1": already scaled, the
    default), `(N, *input_shape)` or `(N, H, W)` for grayscale, in `fit`, `predict`,
    `encode` and `corrupt` alike; reconstructions and decodes are float32 in [0, 1].
    Corruption and loss act on the [0, 1] images (`noise_level` in those units).

    Args:
        input_shape: Image shape, e.g. `(28, 28, 1)`.
        latent_dim: Size of the code.
        noise: `"gaussian"`, `"masking"` or `"none"`.
        noise_level: Std of the Gaussian noise or fraction of masked values.
        reconstruction_loss: `"mse"` or `"bce"` (binary cross-entropy, for [0, 1] data).
        architecture: `"conv"` or `"mlp"` (ignored when `encoder`/`decoder` are given).
        encoder, decoder: Optional `keras.Model`s replacing the built-in networks.
        seed: Seed of the corruption noise.
        input_range: `"0..1"` or `"0..255"` (see the input contract above).

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.models import DenoisingAutoEncoder

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")      # uint8 (10000, 28, 28, 1)
    images = x[:256].astype("float32") / 255.0              # the default input_range "0..1"
    dae = DenoisingAutoEncoder((28, 28, 1), latent_dim=32, noise="gaussian")
    dae.compile(optimizer="adam")
    dae.fit(images, epochs=1, batch_size=128, verbose=0)
    codes = dae.encode(images)                               # (256, 32)
    noisy_images = keras.ops.convert_to_numpy(dae.corrupt(images[:8]))
    denoised = dae.predict(noisy_images, verbose=0)          # (8, 28, 28, 1) in [0, 1]
    ```
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (28, 28, 1),
        latent_dim: int = 32,
        noise: str = "gaussian",
        noise_level: float = 0.3,
        reconstruction_loss: str = "mse",
        architecture: str = "conv",
        encoder: keras.Model | None = None,
        decoder: keras.Model | None = None,
        seed: int | None = None,
        input_range: str = "0..1",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_choice("noise", noise, NOISES)
        _check_choice("reconstruction_loss", reconstruction_loss, RECONSTRUCTION_LOSSES)
        _check_choice("architecture", architecture, ARCHITECTURES)
        self.image_shape = tuple(int(d) for d in input_shape)
        self.latent_dim = int(latent_dim)
        self.noise = noise
        self.noise_level = float(noise_level)
        self.reconstruction_loss = reconstruction_loss
        self.architecture = architecture
        self.seed = seed
        self.input_range = check_input_range(input_range)
        self.rescale = ImageRescaling(self.image_shape, self.input_range, name="rescale")
        self.custom_networks = encoder is not None or decoder is not None
        if architecture == "conv":
            make_encoder, make_decoder = nets.conv_encoder, nets.conv_decoder
        else:
            make_encoder, make_decoder = nets.mlp_encoder, nets.mlp_decoder
        self.encoder = encoder or make_encoder(self.image_shape, self.latent_dim)
        self.decoder = decoder or make_decoder(self.latent_dim, self.image_shape)
        if noise == "gaussian":
            self.corruption = keras.layers.GaussianNoise(self.noise_level, seed=seed)
        elif noise == "masking":
            self.corruption = MaskingNoise(self.noise_level, seed=seed)
        else:
            self.corruption = keras.layers.Identity()
        self.build((None, *self.image_shape))

    def build(self, input_shape):
        if tuple(input_shape[1:]) != self.image_shape:
            raise ValueError(
                f"DenoisingAutoEncoder expects images of shape {self.image_shape}, "
                f"got {tuple(input_shape[1:])}."
            )
        self.built = True

    def call(self, inputs, training=False):
        corrupted = self.corruption(self.rescale(inputs), training=training)
        return self.decoder(self.encoder(corrupted, training=training), training=training)

    def encode(self, images):
        """Codes of (clean) images (in `input_range`)."""
        images = self.checked_images(images, "encode")
        return self.encoder(self.rescale(images), training=False)

    def decode(self, codes):
        """Images from codes, float32 in [0, 1]."""
        return self.decoder(codes, training=False)

    def corrupt(self, images):
        """The training-time corruption, applied on demand (e.g. to make noisy test sets).

        Takes and returns images in `input_range` units (noisy values not clipped), so
        that `predict(corrupt(x))` denoises.
        """
        images = self.checked_images(images, "corrupt")
        noisy = self.corruption(self.rescale(images), training=True)
        return noisy * input_scale(self)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        target = self.rescale(x if y is None else y)
        # In float32 (mixed precision: the decoder gives half-precision images).
        target, y_pred = ops.cast(target, "float32"), ops.cast(y_pred, "float32")
        if self.reconstruction_loss == "mse":
            per_sample = ops.mean(ops.square(target - y_pred), axis=(1, 2, 3))
        else:
            per_sample = ops.mean(
                keras.losses.binary_crossentropy(target, y_pred), axis=(1, 2)
            )
        if sample_weight is not None:
            per_sample = per_sample * ops.cast(sample_weight, per_sample.dtype)
        loss = ops.mean(per_sample)
        for extra in self.losses:  # a Python loop: ops.sum(self.losses) fails on JAX
            loss = loss + extra
        # A replica's share of the global-batch mean (tf.distribute sums gradients).
        return scale_loss_for_distribution(loss)

    def get_config(self):
        config = {
            **super().get_config(),
            "input_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "noise": self.noise,
            "noise_level": self.noise_level,
            "reconstruction_loss": self.reconstruction_loss,
            "architecture": self.architecture,
            "seed": self.seed,
            "input_range": self.input_range,
        }
        return serialize_networks(self, config)

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_networks(config))


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"Unknown {name} {value!r}; expected one of {choices}.")
