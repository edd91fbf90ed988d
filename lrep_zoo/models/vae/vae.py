"""Variational auto-encoder (Kingma & Welling 2014), beta-VAE (Higgins 2017; Burgess 2017)
and the Information Dropout VAE (Achille & Soatto 2018)."""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
from keras import ops

from lrep_zoo.applications.preset_mixin import PresetMixin
from lrep_zoo.export import ExportMixin
from lrep_zoo.training.distribute import scale_loss_for_distribution
from lrep_zoo.inputs import ImageInputsMixin, check_input_range
from lrep_zoo.layers.image_rescaling import ImageRescaling
from lrep_zoo.models._networks import deserialize_networks, serialize_networks

from lrep_zoo.layers.information_dropout import InformationDropout
from lrep_zoo.layers.sampling import Sampling
from lrep_zoo.losses.kl import capacity as capacity_schedule
from lrep_zoo.losses.kl import gaussian_kl
from lrep_zoo.models.vae import networks as nets
from lrep_zoo.training.seed_state import SeedStateMixin

LIKELIHOODS = ("bernoulli", "gaussian")
BOTTLENECKS = ("gaussian", "information_dropout")
CODE_PRIORS = {"softplus": "log_normal", "relu": "log_uniform"}
"""Code activation of the Information Dropout VAE -> the prior of its `InformationDropout`."""


@keras.saving.register_keras_serializable(package="lrep_zoo")
class VAE(ImageInputsMixin, PresetMixin, ExportMixin, SeedStateMixin, keras.Model):
    """Gaussian-encoder VAE with a Bernoulli or Gaussian decoder; beta-VAE options.

    The encoder gives `q(z|x) = N(mean, exp(log_var))`; `z` is drawn with the
    reparameterisation trick in a `Sampling` layer (seeded `SeedGenerator`). Per
    image, the negative ELBO is `reconstruction + KL`, with `reconstruction` the
    negative log-likelihood summed over pixels (Bernoulli: binary cross-entropy of
    the decoder logits; Gaussian: `||x - mu||^2 / (2 sigma^2) + D/2 log(2 pi sigma^2)`)
    and `KL = KL(q(z|x) || N(0, I))` in closed form. The training loss is

    - `reconstruction + beta * KL` (VAE: `beta=1`; beta-VAE: `beta > 1`), or
    - `reconstruction + gamma * |KL - C|` when `capacity_max` is set (Burgess et al.
      2017), `C` growing linearly from 0 to `capacity_max` nats over
      `capacity_steps` training steps (counted by the model).

    `fit`/`evaluate` log `loss`, `reconstruction_loss`, `kl` and `elbo` (per image,
    in nats). `call` returns a dict (`reconstruction`, `mean`, `log_var`, `z`) with a
    sampled `z`; `reconstruct` uses `z = mean`.

    `bottleneck="information_dropout"` makes it the Information Dropout VAE
    (Achille & Soatto 2018, the VAE as an information bottleneck with
    multiplicative noise). The encoder's two heads give `m` and the alpha logits
    `a`; the code is `f = code_activation(m)` and, through an `InformationDropout`
    layer (`predictor=False`, `train_size=1`, its `beta` this model's):

        alpha = 0.001 + max_alpha * sigmoid(a)
        z = f * exp(alpha * eps), eps ~ N(0, I)

    so `log z ~ N(log f, alpha^2)`. Like the Gaussian VAE's, `call` draws `z` in
    every mode (so `evaluate`'s `elbo` is a one-sample estimate for both
    bottlenecks); `encode`, `reconstruct` and `sample` are deterministic (`z = f`). The KL term of the loss is the layer's
    penalty, `beta * sum_units KL` per image averaged over the batch (added with
    `add_loss`; `sample_weight` weights the reconstruction term only):

    - `code_activation="softplus"` (default): prior `log z_j ~ N(mu, sigma^2)`
      with the layer's learned scalars `mu`, `sigma`, and per unit `KL = log(sigma
      / alpha) + (alpha^2 + (log f - mu)^2) / (2 sigma^2) - 1/2`, the exact KL of
      the log-normal posterior to a proper prior: `elbo` is an ELBO and `sample`
      decodes `z = exp(mu + sigma * eps)`.
    - `code_activation="relu"`: the improper log-uniform prior, `KL = -log(alpha /
      (0.001 + max_alpha))` per unit (`-log alpha` up to a constant): `elbo` is
      only an ELBO-like score and `sample` raises a `ValueError` (no prior to draw
      from).

    `log_var` is then `2 log alpha`, the log-variance of `log z`, and `mean` is
    `f` (the median of `z`). Capacity annealing applies to the Gaussian KL only.

    Input contract (`lrep_zoo.inputs`): images in `input_range` ("0..255": uint8 or
    float as the dataset gives them, the preset's; "0..1": already scaled, the
    default), `(N, *input_shape)` or `(N, H, W)` for grayscale, in `fit`, `predict`,
    `encode` and `reconstruct` alike; images out (`reconstruct`, `decode`, `sample`)
    are float32 in [0, 1] (Bernoulli means or Gaussian means).

    Args:
        input_shape: Image shape, `(H, W, C)`.
        latent_dim: Size of `z`.
        likelihood: `"bernoulli"` or `"gaussian"` decoder.
        decoder_std: `sigma` of the Gaussian decoder.
        beta: KL weight (ignored when `capacity_max` is set).
        capacity_max: `C_max` in nats, or `None` for no capacity annealing.
        capacity_steps: Steps over which `C` reaches `capacity_max`.
        gamma: Weight of `|KL - C|`.
        encoder: Optional `keras.Model` mapping images to `[mean, log_var]`.
        decoder: Optional `keras.Model` mapping `z` to logits (Bernoulli) or means.
        seed: Seed of the `Sampling` (or `InformationDropout`) layer.
        input_range: `"0..1"` or `"0..255"` (see the input contract above).
        bottleneck: `"gaussian"` (default: the VAE) or `"information_dropout"`.
        code_activation: `"softplus"` (log-normal prior) or `"relu"` (log-uniform
            prior), the activation of the code `f` (Information Dropout only).
        max_alpha: The largest noise scale, in (0, 1] (Information Dropout only).

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models import VAE

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")           # uint8 (10000, 28, 28, 1)
    images = x[:128].astype("float32") / 255.0                   # the default input_range "0..1"
    vae = VAE((28, 28, 1), latent_dim=16)                       # VAE
    bvae = VAE((28, 28, 1), latent_dim=10, beta=4.0)            # beta-VAE
    cvae = VAE((28, 28, 1), capacity_max=25.0, capacity_steps=100_000, gamma=1000.0)
    idvae = VAE((28, 28, 1), latent_dim=16, bottleneck="information_dropout")
    vae.compile(optimizer="adam")
    vae.fit(images, epochs=1, batch_size=128, verbose=0)
    codes = vae.encode(images)                                   # (128, 16)
    samples = vae.sample(16, seed=0)                             # (16, 28, 28, 1) in [0, 1]
    ```
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (28, 28, 1),
        latent_dim: int = 16,
        likelihood: str = "bernoulli",
        decoder_std: float = 0.1,
        beta: float = 1.0,
        capacity_max: float | None = None,
        capacity_steps: int = 100_000,
        gamma: float = 1000.0,
        encoder: keras.Model | None = None,
        decoder: keras.Model | None = None,
        seed: int | None = None,
        input_range: str = "0..1",
        bottleneck: str = "gaussian",
        code_activation: str = "softplus",
        max_alpha: float = 0.7,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"Unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}.")
        if bottleneck not in BOTTLENECKS:
            raise ValueError(f"Unknown bottleneck {bottleneck!r}; expected one of {BOTTLENECKS}.")
        if code_activation not in CODE_PRIORS:
            raise ValueError(f"Unknown code_activation {code_activation!r}; expected one of "
                             f"{tuple(CODE_PRIORS)} (the multiplicative noise needs a "
                             "non-negative code).")
        if bottleneck == "information_dropout" and capacity_max is not None:
            raise ValueError("capacity_max (capacity annealing) applies to the Gaussian KL; "
                             "it cannot be combined with bottleneck='information_dropout'.")
        self.image_shape = tuple(int(d) for d in input_shape)
        self.latent_dim = int(latent_dim)
        self.likelihood = likelihood
        self.decoder_std = float(decoder_std)
        self.beta = float(beta)
        self.capacity_max = None if capacity_max is None else float(capacity_max)
        self.capacity_steps = int(capacity_steps)
        self.gamma = float(gamma)
        self.seed = seed
        self.input_range = check_input_range(input_range)
        self.bottleneck = bottleneck
        self.code_activation = code_activation
        self.max_alpha = float(max_alpha)
        self.rescale = ImageRescaling(self.image_shape, self.input_range, name="rescale")
        self.custom_networks = encoder is not None or decoder is not None
        info = bottleneck == "information_dropout"
        self.encoder = encoder or nets.vae_encoder(
            self.image_shape, self.latent_dim, second_head="alpha_logits" if info else "log_var")
        self.decoder = decoder or nets.vae_decoder(self.latent_dim, self.image_shape)
        if info:
            self.information_dropout = InformationDropout(
                beta=self.beta, train_size=1, max_alpha=self.max_alpha,
                prior=CODE_PRIORS[code_activation], seed=seed, predictor=False,
                name="information_dropout")
            self.information_dropout.build([(None, self.latent_dim)] * 2)
        else:
            self.sampling = Sampling(seed=seed, name="sampling")
        self.step_counter = self.add_weight(
            shape=(), initializer="zeros", dtype="float32", trainable=False, name="step",
            autocast=False,  # float32 under mixed precision (bfloat16 stops counting at 256)
        )
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.elbo_tracker = keras.metrics.Mean(name="elbo")
        self.built = True

    # ------------------------------------------------------------------ forward
    def call(self, inputs, training=False):
        heads = self.encoder(self.rescale(inputs), training=training)
        if self.bottleneck == "gaussian":
            mean, log_var = heads
            z = self.sampling([mean, log_var])
            extra = {}
        else:
            mean, alpha_logits = self._code(heads)
            # The layer's noise is on in every mode, as the Gaussian VAE's Sampling is.
            z = self.information_dropout([mean, alpha_logits], training=True)
            alpha = self.information_dropout.compute_alpha(alpha_logits)
            log_var = 2.0 * ops.log(alpha)
            # Per-image KL, here: after a train step the learned prior has moved.
            extra = {"alpha": alpha,
                     "kl": ops.sum(self.information_dropout.kl(mean, alpha), axis=-1)}
        out = self.decoder(z, training=training)
        if training:
            self.step_counter.assign_add(1.0)
        return {
            "reconstruction": self._output_to_image(out),
            "decoder_output": out,
            "mean": mean,
            "log_var": log_var,
            "z": z,
            **extra,
        }

    def _code(self, heads):
        """Information Dropout: the encoder's heads -> `(f, alpha logits)`."""
        pre, alpha_logits = heads
        f = ops.softplus(pre) if self.code_activation == "softplus" else ops.relu(pre)
        return f, alpha_logits

    def _output_to_image(self, out):
        return ops.sigmoid(out) if self.likelihood == "bernoulli" else out

    def encode(self, images, return_log_var: bool = False):
        """Posterior means (and log-variances if `return_log_var`) of `images`.

        Information Dropout: the noiseless code `f` (and `2 log alpha`, the
        log-variance of `log z`).

        Example:

        ```python
        import lrep_zoo
        x, _ = lrep_zoo.data.load_arrays("mnist", "test")
        vae = lrep_zoo.applications.VAE(weights="mnist")  # takes uint8 0..255 images
        images = x[:32]
        codes = vae.encode(images)                 # (N, latent_dim)
        ```
        """
        images = self.checked_images(images, "encode")
        heads = self.encoder(self.rescale(images), training=False)
        if self.bottleneck == "gaussian":
            mean, log_var = heads
        else:
            mean, alpha_logits = self._code(heads)
            if not return_log_var:
                return mean
            log_var = 2.0 * ops.log(self.information_dropout.compute_alpha(alpha_logits))
        return (mean, log_var) if return_log_var else mean

    def decode(self, latents):
        """Images from latent codes: Bernoulli probabilities (float32 in [0, 1]) or
        Gaussian means."""
        return self._output_to_image(self.decoder(latents, training=False))

    def reconstruct(self, images):
        """`decode(encode(images))` with `z = mean` (deterministic)."""
        return self.decode(self.encode(self.checked_images(images, "reconstruct")))

    def sample(self, n: int, seed: int = 0):
        """`n` images decoded from `z ~ N(0, I)`; the same `seed` gives the same images.

        Information Dropout with the log-normal prior (`code_activation="softplus"`):
        `z = exp(mu + sigma * eps)` with the prior's learned `mu` and `sigma`; with
        the log-uniform prior (`"relu"`), a `ValueError`: that prior is improper.

        Example:

        ```python
        import lrep_zoo
        vae = lrep_zoo.applications.VAE(weights="mnist")
        images = vae.sample(16, seed=0)            # (16, *input_shape) in [0, 1]
        ```
        """
        eps = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32")
        if self.bottleneck == "gaussian":
            return self.decode(eps)
        if not self.can_sample:
            raise ValueError(
                "This Information Dropout VAE has code_activation='relu', whose log-uniform "
                "prior is improper: there is no prior to sample codes from. Use "
                "code_activation='softplus' (a learned log-normal prior) to sample.")
        layer = self.information_dropout
        mu = ops.convert_to_numpy(layer.prior_mu)
        sigma = np.exp(ops.convert_to_numpy(layer.prior_log_sigma))
        return self.decode(np.exp(mu + sigma * eps).astype("float32"))

    @property
    def can_sample(self) -> bool:
        """Whether `sample` has a proper prior to draw codes from: `False` only for the
        Information Dropout VAE with `code_activation="relu"` (log-uniform prior)."""
        return not (self.bottleneck == "information_dropout" and self.code_activation == "relu")

    # ------------------------------------------------------------------ loss
    def loss_terms(self, x, y_pred):
        """Per-image `(reconstruction NLL, KL)` in nats, from `call`'s output."""
        x = self.rescale(x)  # the [0, 1] images
        out = ops.convert_to_tensor(y_pred["decoder_output"], "float32")
        axes = tuple(range(1, len(self.image_shape) + 1))
        if self.likelihood == "bernoulli":
            # Binary cross-entropy with logits: softplus(l) - x * l.
            nll = ops.sum(ops.softplus(out) - x * out, axis=axes)
        else:
            var = self.decoder_std**2
            dims = math.prod(self.image_shape)
            nll = ops.sum(ops.square(x - out), axis=axes) / (2.0 * var) + 0.5 * dims * math.log(
                2.0 * math.pi * var
            )
        if self.bottleneck == "gaussian":
            return nll, gaussian_kl(y_pred["mean"], y_pred["log_var"])
        if "kl" in y_pred:
            return nll, y_pred["kl"]
        kl = self.information_dropout.kl(y_pred["mean"], y_pred["alpha"])
        return nll, ops.sum(kl, axis=-1)

    def capacity_at(self, step):
        """Capacity `C` (nats) after `step` training steps (0 without annealing)."""
        if self.capacity_max is None:
            return ops.zeros(())
        return capacity_schedule(step, self.capacity_max, self.capacity_steps)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        nll, kl = self.loss_terms(x, y_pred)
        if self.bottleneck == "information_dropout":
            per_image = nll  # beta * KL: the InformationDropout layer's loss, below
        elif self.capacity_max is None:
            per_image = nll + self.beta * kl
        else:
            c = self.capacity_at(self.step_counter)
            per_image = nll + self.gamma * ops.abs(kl - c)
        if sample_weight is not None:
            per_image = per_image * ops.cast(sample_weight, per_image.dtype)
        loss = ops.mean(per_image)
        for extra in self.losses:  # a Python loop: ops.sum(self.losses) fails on JAX
            loss = loss + extra
        # A replica's share of the global-batch mean (tf.distribute sums gradients).
        return scale_loss_for_distribution(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        nll, kl = self.loss_terms(x, y_pred)
        self.reconstruction_tracker.update_state(nll)
        self.kl_tracker.update_state(kl)
        self.elbo_tracker.update_state(-(nll + kl))
        return super().compute_metrics(x, y, y_pred, sample_weight)

    # ------------------------------------------------------------------ export
    def export_endpoints(self):
        """SavedModel endpoints (see `lrep_zoo.export`): reconstruction, encode, decode, sample."""
        images = keras.InputSpec(shape=(None, *self.image_shape))
        latents = keras.InputSpec(shape=(None, self.latent_dim))

        def encode(x):
            mean, log_var = self.encode(x, return_log_var=True)
            return {"mean": mean, "log_var": log_var}

        return {
            "serving_default": (lambda x: {"reconstruction": self.reconstruct(x)},
                                {"images": images}),
            "encode": (encode, {"images": images}),
            "decode": (lambda z: {"images": self.decode(z)}, {"latents": latents}),
            "sample": (lambda z: {"images": self.decode(z)}, {"latents": latents}),
        }

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {
            **super().get_config(),
            "input_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "likelihood": self.likelihood,
            "decoder_std": self.decoder_std,
            "beta": self.beta,
            "capacity_max": self.capacity_max,
            "capacity_steps": self.capacity_steps,
            "gamma": self.gamma,
            "seed": self.seed,
            "input_range": self.input_range,
            "bottleneck": self.bottleneck,
            "code_activation": self.code_activation,
            "max_alpha": self.max_alpha,
        }
        return serialize_networks(self, config)

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_networks(config))
