"""The Information Dropout VAE, `VAE(bottleneck="information_dropout")`, on every backend:
its KL term against NumPy, training, round trips; the default (Gaussian) VAE unchanged."""

import numpy as np
import pytest
import keras
from keras import ops

import lrep_zoo  # noqa: F401  (registers the layers with Keras)
from lrep_zoo.models.vae import VAE
from roundtrip import run_serialization_test

pytestmark = pytest.mark.backends

BACKEND = keras.backend.backend()
# torch.compile costs minutes on CPU; XLA on TF costs seconds of compile for a tiny fit.
JIT = BACKEND == "jax"
LATENT = 3


def _np(x):
    return ops.convert_to_numpy(x)


def _networks(second_head):
    """A tiny linear encoder / decoder (eager JAX compiles each weight shape's initializer)."""
    images = keras.Input((8, 8, 1))
    h = keras.layers.Flatten()(images)
    heads = [keras.layers.Dense(LATENT, name="mean")(h),
             keras.layers.Dense(LATENT, name=second_head)(h)]
    encoder = keras.Model(images, heads, name="encoder")
    z = keras.Input((LATENT,))
    decoder = keras.Model(z, keras.layers.Reshape((8, 8, 1))(keras.layers.Dense(64)(z)),
                          name="decoder")
    return encoder, decoder


def _vae(bottleneck="information_dropout", seed=0, **kwargs):
    encoder, decoder = _networks("log_var" if bottleneck == "gaussian" else "alpha_logits")
    vae = VAE((8, 8, 1), latent_dim=LATENT, bottleneck=bottleneck, encoder=encoder,
              decoder=decoder, seed=seed, **kwargs)
    rng = np.random.default_rng(seed)
    for w in vae.encoder.weights + vae.decoder.weights:
        w.assign(rng.normal(scale=0.3, size=w.shape).astype("float32"))
    return vae


def _images(n=8, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, 8, 8, 1)).astype("float32")


def _digits(n=32):
    """Fixed structured data: each image one of 4 bars, at a random brightness."""
    rng = np.random.default_rng(1)
    x = np.zeros((n, 8, 8, 1), "float32")
    for i in range(n):
        k = i % 4
        x[i, 2 * k:2 * k + 2, :, 0] = rng.uniform(0.6, 1.0)
    return x


# ---------------------------------------------------------------------------
# Independent reference (float64 NumPy).


def numpy_terms(vae, x, activation, mu=0.0, sigma=1.0, max_alpha=0.7):
    """Per-image KL, code f and noise scale alpha of the Information Dropout VAE (float64)."""
    (km, bm), (ka, ba) = [
        [np.asarray(_np(w), "float64") for w in vae.encoder.get_layer(n).weights]
        for n in ("mean", "alpha_logits")]
    h = x.reshape(len(x), -1).astype("float64")
    pre = h @ km + bm
    f = np.log1p(np.exp(pre)) if activation == "softplus" else np.maximum(pre, 0.0)
    alpha = 0.001 + max_alpha * (1.0 / (1.0 + np.exp(-(h @ ka + ba))))
    if activation == "softplus":  # log z ~ N(log f, alpha^2) against N(mu, sigma^2)
        log_f = np.log(np.maximum(f, 1e-4))
        kl = np.log(sigma / alpha) + (alpha**2 + (log_f - mu) ** 2) / (2 * sigma**2) - 0.5
    else:  # the log-uniform prior: -log alpha, 0 at the largest alpha
        kl = -np.log(alpha / (0.001 + max_alpha))
    return kl.sum(axis=1), f, alpha


def numpy_nll(vae, x, z):
    """Per-image Bernoulli NLL of `x` given the code `z` (the linear decoder), float64."""
    kd, bd = [np.asarray(_np(w), "float64") for w in vae.decoder.weights]
    p = 1.0 / (1.0 + np.exp(-(np.asarray(z, "float64") @ kd + bd).reshape(x.shape)))
    return -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=(1, 2, 3))


@pytest.mark.parametrize("activation", ["softplus", "relu"])
def test_penalty_against_numpy(activation):
    vae = _vae(code_activation=activation, beta=2.5)
    if activation == "softplus":
        vae.information_dropout.prior_mu.assign(0.3)
        vae.information_dropout.prior_log_sigma.assign(np.log(1.5))
        extra = dict(mu=0.3, sigma=1.5)
    else:
        extra = {}
    x = _images()
    kl, f, alpha = numpy_terms(vae, x, activation, **extra)
    np.testing.assert_allclose(_np(vae.encode(x)), f, rtol=1e-5, atol=1e-6)  # no noise
    y_pred = vae(x, training=False)
    np.testing.assert_allclose(_np(y_pred["alpha"]), alpha, rtol=1e-5)
    np.testing.assert_allclose(_np(y_pred["log_var"]), 2 * np.log(alpha), rtol=1e-5, atol=1e-6)
    # z = f * exp(alpha * eps), drawn in every mode (evaluate's elbo is a one-sample ELBO).
    z = _np(y_pred["z"])
    live = f > 1e-3
    eps = np.log(z[live] / f[live]) / alpha[live]
    assert np.all(np.isfinite(eps)) and np.abs(eps).max() < 6 and np.abs(eps).max() > 1e-3
    np.testing.assert_allclose(z[~live], f[~live], atol=1e-3)
    got_nll, got_kl = vae.loss_terms(x, y_pred)
    nll = numpy_nll(vae, x, z)
    np.testing.assert_allclose(_np(got_nll), nll, rtol=1e-5)
    np.testing.assert_allclose(_np(got_kl), kl, rtol=1e-5, atol=1e-6)
    # The KL term of the loss is the layer's penalty: beta * mean over the batch.
    np.testing.assert_allclose(float(_np(vae.losses[0])), 2.5 * kl.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(_np(vae.compute_loss(x, None, y_pred))),
                               np.mean(nll + 2.5 * kl), rtol=1e-5)


def test_fit_trains_the_noise_scale_and_lowers_the_loss():
    keras.utils.set_random_seed(0)
    vae = _vae(seed=1)
    vae.compile(optimizer=keras.optimizers.Adam(2e-2), jit_compile=JIT)
    x = _digits()
    heads = {n: [_np(w) for w in vae.encoder.get_layer(n).weights]
             for n in ("mean", "alpha_logits")}
    mu0 = float(_np(vae.information_dropout.prior_mu))
    history = vae.fit(x, batch_size=8, epochs=5, verbose=0).history
    for name, weights in heads.items():
        moved = [np.abs(_np(w) - w0).max() for w, w0 in
                 zip(vae.encoder.get_layer(name).weights, weights)]
        assert min(moved) > 1e-3, (name, moved)
    assert abs(float(_np(vae.information_dropout.prior_mu)) - mu0) > 1e-3
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]
    assert history["kl"][-1] > 0.0 and np.all(np.isfinite(history["loss"]))
    np.testing.assert_allclose(history["elbo"], -np.add(history["reconstruction_loss"],
                                                        history["kl"]), rtol=1e-4)
    # beta 1: the loss (reconstruction + the layer's penalty) is the negative ELBO.
    np.testing.assert_allclose(history["loss"], -np.asarray(history["elbo"]), rtol=1e-4)


def test_round_trip_sampling_and_errors(tmp_path):
    vae = _vae(seed=2)
    vae.information_dropout.prior_mu.assign(-0.2)
    x = _images(4)
    loaded = run_serialization_test(
        vae, lambda m: {"code": m.encode(x), "log_var": m.encode(x, return_log_var=True)[1],
                        "reconstruction": m.reconstruct(x), "samples": m.sample(3, seed=5)},
        tmp_path, serving_inputs=None)
    assert loaded.bottleneck == "information_dropout" and loaded.code_activation == "softplus"
    assert not hasattr(loaded, "sampling")
    # Samples: z = exp(mu + sigma * eps), the learned log-normal prior.
    eps = np.random.default_rng(5).standard_normal((3, LATENT)).astype("float32")
    np.testing.assert_allclose(_np(vae.sample(3, seed=5)), _np(vae.decode(np.exp(-0.2 + eps))),
                               rtol=1e-5, atol=1e-6)
    relu = _vae(seed=2, code_activation="relu")
    assert vae.can_sample and not relu.can_sample
    with pytest.raises(ValueError, match="improper"):
        relu.sample(2)
    with pytest.raises(ValueError, match="bottleneck"):
        VAE((8, 8, 1), bottleneck="laplace")
    with pytest.raises(ValueError, match="code_activation"):
        VAE((8, 8, 1), bottleneck="information_dropout", code_activation="linear")
    with pytest.raises(ValueError, match="capacity"):
        VAE((8, 8, 1), bottleneck="information_dropout", capacity_max=5.0)


# Outputs of the Gaussian VAE computed by the VAE before the Information Dropout option
# existed (commit 8a604a3, TensorFlow): `_vae("gaussian", seed=3)` on `_images(4, seed=3)`.
GOLDEN_CODE = [[0.354758, 0.231112, 0.227107], [1.226236, 0.26043, -0.406838],
               [1.152225, 0.937233, 0.421908], [0.820725, -0.256417, -0.190424]]
GOLDEN_LOG_VAR = [[1.162172, 0.420191, -0.036157], [1.104522, -0.192267, 0.579005],
                  [1.054009, -0.26228, -0.518246], [0.426637, -0.34749, 0.569795]]
GOLDEN_SUMS = {"reconstruction": (133.86206, 72.27476), "samples": (96.68808, 51.11974)}
# The vae_mnist preset's codes of two bars (uint8), first 4 dims; log_var and sample sums.
GOLDEN_PRESET_CODE = [[-1.87003, 0.0455, 0.07191, -0.03641],
                      [0.60493, 0.06457, 1.21564, -0.06069]]
GOLDEN_PRESET_SUMS = (-67.65744, 216.09923)


def test_default_vae_unchanged():
    vae = _vae("gaussian", seed=3)
    assert vae.bottleneck == "gaussian" and not hasattr(vae, "information_dropout")
    x = _images(4, seed=3)
    mean, log_var = vae.encode(x, return_log_var=True)
    np.testing.assert_allclose(_np(mean), GOLDEN_CODE, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_np(log_var), GOLDEN_LOG_VAR, rtol=1e-4, atol=1e-5)
    for name, images in (("reconstruction", vae.reconstruct(x)),
                         ("samples", vae.sample(3, seed=5))):
        images = _np(images).astype("float64")
        np.testing.assert_allclose([images.sum(), (images**2).sum()], GOLDEN_SUMS[name],
                                   rtol=1e-5, err_msg=name)
    config = VAE.from_config(vae.get_config()).get_config()
    assert config["bottleneck"] == "gaussian" and config["max_alpha"] == 0.7
    if BACKEND == "jax":  # the preset's conv net builds slowly in eager JAX; TF and torch check it
        return
    preset = VAE.from_preset("vae_mnist")
    assert preset.bottleneck == "gaussian"
    bars = np.zeros((2, 28, 28, 1), "uint8")
    bars[0, 6:22, 12:16] = 255
    bars[1, 8:12, 4:24] = 200
    mean, log_var = preset.encode(bars, return_log_var=True)
    np.testing.assert_allclose(_np(mean)[:, :4], GOLDEN_PRESET_CODE, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose([_np(log_var).sum(), _np(preset.sample(2, seed=0)).sum()],
                               GOLDEN_PRESET_SUMS, rtol=1e-4)
