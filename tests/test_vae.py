"""VAE / beta-VAE: closed-form KL, sampling, beta and capacity losses, fit, save/load, export."""

import math

import numpy as np
import pytest

import keras
from keras import ops

from lrep_zoo.layers.sampling import Sampling
from lrep_zoo.losses.kl import capacity, gaussian_kl
from lrep_zoo.models.vae import VAE
from roundtrip import run_serialization_test

RNG = np.random.default_rng(0)
MEAN = RNG.normal(size=(4, 3)).astype("float32")
LOG_VAR = RNG.normal(scale=0.5, size=(4, 3)).astype("float32")
SMALL = dict(input_shape=(8, 8, 1), latent_dim=3)


def _np(x):
    return ops.convert_to_numpy(x)


def _kl_reference(mean, log_var):
    # Per dimension: KL(N(m, s^2) || N(0, 1)) = 0.5 (s^2 + m^2 - 1 - log s^2).
    var = np.exp(log_var.astype("float64"))
    return 0.5 * np.sum(var + mean.astype("float64") ** 2 - 1.0 - np.log(var), axis=-1)


def _images(n=32, shape=(8, 8, 1), seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, *shape)).astype("float32")


def _jit():
    # XLA compilation of the train and test steps dominates these tiny fits; the
    # recipes run jit_compile=True on TF and JAX.
    return keras.backend.backend() == "jax"


@pytest.mark.backends
def test_kl_equals_closed_form():
    np.testing.assert_allclose(_np(gaussian_kl(MEAN, LOG_VAR)), _kl_reference(MEAN, LOG_VAR),
                               rtol=1e-5)
    np.testing.assert_allclose(_np(gaussian_kl(np.zeros((2, 5)), np.zeros((2, 5)))), [0, 0])


@pytest.mark.backends
def test_vae_loss_terms_on_fixed_inputs():
    vae = VAE(**SMALL, beta=4.0)
    x = _images(4)
    logits = RNG.normal(size=(4, 8, 8, 1)).astype("float32")
    y_pred = {"decoder_output": ops.convert_to_tensor(logits), "mean": MEAN, "log_var": LOG_VAR}
    nll, kl = vae.loss_terms(x, y_pred)
    p = 1 / (1 + np.exp(-logits.astype("float64")))
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(_np(nll), bce, rtol=1e-4)
    np.testing.assert_allclose(_np(kl), _kl_reference(MEAN, LOG_VAR), rtol=1e-5)
    loss = vae.compute_loss(x, None, y_pred)
    np.testing.assert_allclose(float(loss), np.mean(bce + 4.0 * _kl_reference(MEAN, LOG_VAR)),
                               rtol=1e-4)


def test_gaussian_likelihood_and_capacity_loss():
    vae = VAE(**SMALL, likelihood="gaussian", decoder_std=0.5, capacity_max=10.0,
              capacity_steps=8, gamma=100.0)
    x = _images(4)
    mu = _images(4, seed=1)
    y_pred = {"decoder_output": mu, "mean": MEAN, "log_var": LOG_VAR}
    nll, kl = vae.loss_terms(x, y_pred)
    ref = ((x - mu) ** 2).sum(axis=(1, 2, 3)) / (2 * 0.25) + 0.5 * 64 * math.log(2 * math.pi * 0.25)
    np.testing.assert_allclose(_np(nll), ref, rtol=1e-5)
    vae.step_counter.assign(2.0)  # C = 10 * 2 / 8 = 2.5
    loss = vae.compute_loss(x, None, y_pred)
    expected = np.mean(ref + 100.0 * np.abs(_kl_reference(MEAN, LOG_VAR) - 2.5))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
    assert float(capacity(4, 10.0, 8)) == pytest.approx(5.0)
    assert float(capacity(80, 10.0, 8)) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="likelihood"):
        VAE(**SMALL, likelihood="poisson")


@pytest.mark.backends
def test_sampling_layer_is_seeded_and_reparameterised():
    mean = np.full((4000, 2), [1.0, -2.0], "float32")
    log_var = np.full((4000, 2), [0.0, math.log(0.25)], "float32")
    a = _np(Sampling(seed=3)([mean, log_var]))
    b = _np(Sampling(seed=3)([mean, log_var]))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.mean(0), [1.0, -2.0], atol=0.06)
    np.testing.assert_allclose(a.std(0), [1.0, 0.5], rtol=0.06)


@pytest.mark.backends
def test_fit_trains_encoder_and_decoder_and_logs_elbo():
    keras.utils.set_random_seed(0)  # the initial weights (unseeded, the loss drop was flaky)
    vae = VAE(**SMALL, capacity_max=5.0, capacity_steps=100, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=_jit())
    enc0 = [np.array(w) for w in vae.encoder.get_weights()]
    dec0 = [np.array(w) for w in vae.decoder.get_weights()]
    history = vae.fit(_images(64), batch_size=16, epochs=2, verbose=0)
    assert float(vae.step_counter) == 8.0
    for key in ("loss", "reconstruction_loss", "kl", "elbo"):
        assert np.all(np.isfinite(history.history[key])), key
    assert history.history["reconstruction_loss"][-1] < history.history["reconstruction_loss"][0]
    np.testing.assert_allclose(
        history.history["elbo"], -np.add(history.history["reconstruction_loss"],
                                         history.history["kl"]), rtol=1e-4)
    assert any(not np.allclose(a, b) for a, b in zip(enc0, vae.encoder.get_weights()))
    assert any(not np.allclose(a, b) for a, b in zip(dec0, vae.decoder.get_weights()))
    logs = vae.evaluate(_images(32, seed=1), batch_size=16, verbose=0, return_dict=True)
    assert {"loss", "reconstruction_loss", "kl", "elbo"} <= set(logs)
    assert float(vae.step_counter) == 8.0  # evaluate does not advance the capacity


@pytest.mark.backends
def test_save_load_round_trip_and_endpoints(tmp_path):
    vae = VAE(**SMALL, beta=2.0, seed=1)
    x = _images(4)
    loaded = run_serialization_test(
        vae, lambda m: {"code": m.encode(x), "samples": m.sample(3, seed=5)}, tmp_path,
        serving_inputs=[x])
    assert loaded.beta == 2.0
    np.testing.assert_allclose(_np(loaded.encode(x)), _np(vae.encode(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(loaded.sample(3, seed=5)), _np(vae.sample(3, seed=5)),
                               rtol=1e-5, atol=1e-6)
    assert not np.allclose(_np(vae.sample(3, seed=5)), _np(vae.sample(3, seed=6)))
    endpoints = vae.export_endpoints()
    assert set(endpoints) == {"serving_default", "encode", "decode", "sample"}
    fn, inputs = endpoints["encode"]
    out = fn(ops.convert_to_tensor(x))
    np.testing.assert_allclose(_np(out["mean"]), _np(vae.encode(x)), rtol=1e-6)
    fn, inputs = endpoints["decode"]
    assert list(inputs) == ["latents"]
    z = np.zeros((2, 3), "float32")
    np.testing.assert_allclose(_np(fn(ops.convert_to_tensor(z))["images"]), _np(vae.decode(z)))


def test_saved_model_export_round_trip(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from lrep_zoo.export import export_saved_model

    vae = VAE(**SMALL, seed=1)
    path = export_saved_model(vae, tmp_path / "vae")
    served = tf.saved_model.load(str(path))
    x = _images(3)
    enc = served.signatures["encode"](images=tf.constant(x))
    np.testing.assert_allclose(enc["mean"].numpy(), _np(vae.encode(x)), rtol=1e-4, atol=1e-5)
    z = np.random.default_rng(2).normal(size=(2, 3)).astype("float32")
    dec = served.signatures["decode"](latents=tf.constant(z))
    np.testing.assert_allclose(dec["images"].numpy(), _np(vae.decode(z)), rtol=1e-4, atol=1e-5)
