"""GAN objectives, gradient penalties, n_critic training, the tempered GAN's lens."""

import math

import numpy as np
import pytest

import keras
from keras import layers, ops

from lrep_zoo.layers.lens import Lens
from lrep_zoo.losses import gan as gan_losses
from lrep_zoo.models.gan import GAN
from lrep_zoo.models.tempered_gan.tempered_gan import TemperedGAN, lens_weight
from lrep_zoo.training import value_and_input_gradient
from roundtrip import run_serialization_test

SHAPE = (8, 8, 1)
SMALL = dict(image_shape=SHAPE, latent_dim=4, generator_filters=(8, 4),
             discriminator_filters=(4, 8))


def _np(x):
    return ops.convert_to_numpy(x)


def _images(n=32, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, *SHAPE)).astype("float32")


def _weights(net):
    return [np.array(w) for w in net.get_weights()]


def _changed(before, net):
    return any(not np.allclose(a, b) for a, b in zip(before, _weights(net)))


def _jit(penalty=False):
    # XLA compilation dominates these tiny fits on TF (the recipes use it);
    # torch.compile has no double backward (gradient penalties).
    backend = keras.backend.backend()
    return backend == "jax"


def _linear_critic(w):
    critic = keras.Sequential([keras.Input(SHAPE), layers.Flatten(), layers.Dense(1)])
    critic.set_weights([w.reshape(-1, 1), np.array([0.2], "float32")])
    return critic


@pytest.mark.backends
def test_objective_values_match_formulas():
    r = np.array([[1.5], [-0.3]], "float32")
    f = np.array([[0.4], [-2.0]], "float32")
    sig = lambda x: 1 / (1 + np.exp(-x.astype("float64")))  # noqa: E731
    ns_d = -np.mean(np.log(sig(r))) - np.mean(np.log(1 - sig(f)))
    for obj in ("minimax", "non_saturating", "r1"):
        assert float(gan_losses.discriminator_loss(r, f, obj)) == pytest.approx(ns_d, rel=1e-5)
    assert float(gan_losses.generator_loss(f, "minimax")) == pytest.approx(
        np.mean(np.log(1 - sig(f))), rel=1e-5)
    assert float(gan_losses.generator_loss(f, "non_saturating")) == pytest.approx(
        -np.mean(np.log(sig(f))), rel=1e-5)
    for obj in ("wgan", "wgan_gp"):
        assert float(gan_losses.discriminator_loss(r, f, obj)) == pytest.approx(
            f.mean() - r.mean(), rel=1e-5)
        assert float(gan_losses.generator_loss(f, obj)) == pytest.approx(-f.mean(), rel=1e-5)
    with pytest.raises(ValueError, match="objective"):
        GAN(**SMALL, objective="hinge")


@pytest.mark.backends
def test_wgan_gp_penalty_equals_independent_computation():
    # Quadratic critic f(x) = sum(x^2): grad = 2x, penalty = mean((||2x|| - 1)^2).
    x = _images(5)
    _, grads = value_and_input_gradient(lambda t: ops.sum(ops.square(t), axis=(1, 2, 3)),
                                        ops.convert_to_tensor(x))
    norms = np.linalg.norm(2 * x.reshape(5, -1).astype("float64"), axis=1)
    assert float(gan_losses.wgan_gradient_penalty(grads)) == pytest.approx(
        np.mean((norms - 1) ** 2), rel=1e-5)
    assert float(gan_losses.r1_penalty(grads)) == pytest.approx(np.mean(norms**2), rel=1e-5)
    # Through the model, with a linear critic: grad = w at every interpolate.
    w = np.random.default_rng(1).normal(scale=0.05, size=SHAPE).astype("float32")
    gan = GAN(**SMALL, objective="wgan_gp", gp_weight=10.0, discriminator=_linear_critic(w))
    _, logs = gan.discriminator_loss(_images(6), training=False)
    expected = (np.linalg.norm(w.astype("float64")) - 1.0) ** 2
    assert float(logs["gradient_penalty"]) == pytest.approx(expected, rel=1e-4)
    gan = GAN(**SMALL, objective="r1", discriminator=_linear_critic(w))
    _, logs = gan.discriminator_loss(_images(6), training=False)
    assert float(logs["gradient_penalty"]) == pytest.approx(np.sum(w.astype("float64") ** 2),
                                                            rel=1e-4)


@pytest.mark.backends
def test_fit_moves_both_players_with_n_critic(tmp_path):
    from lrep_zoo.callbacks import SampleGrid

    objective = "wgan_gp"
    gan = GAN(**SMALL, objective=objective, n_critic=2, seed=0)
    gan.compile(optimizer={"discriminator": keras.optimizers.Adam(1e-2),
                           "generator": keras.optimizers.Adam(1e-2)},
                jit_compile=_jit(penalty=True))
    g0, d0 = _weights(gan.generator), _weights(gan.discriminator)
    callback = SampleGrid(tmp_path / "grids", n=4, nrow=2, every_n_steps=2)
    history = gan.fit(_images(64), batch_size=16, epochs=1, verbose=0, callbacks=[callback])
    assert [p.name for p in callback.written] == ["samples_step0000002.png",
                                                  "samples_step0000004.png"]
    assert int(gan.phase_optimizers["discriminator"].iterations) == 8
    assert int(gan.phase_optimizers["generator"].iterations) == 4
    assert _changed(g0, gan.generator) and _changed(d0, gan.discriminator)
    for key in ("discriminator_loss", "generator_loss", "gradient_penalty"):
        assert np.all(np.isfinite(history.history[key])), key
    assert history.history["gradient_penalty"][0] > 0


def test_generator_phase_moves_only_the_generator_and_wgan_clips():
    gan = GAN(**SMALL, objective="wgan", clip_value=0.02, seed=0)
    gan.compile(optimizer={"discriminator": keras.optimizers.SGD(0.0),
                           "generator": keras.optimizers.Adam(1e-2)}, jit_compile=False)
    g0 = _weights(gan.generator)
    gan.fit(_images(32), batch_size=16, epochs=1, verbose=0)
    assert _changed(g0, gan.generator)
    # The critic's only update is the clipping constraint.
    assert all(np.abs(w).max() <= 0.02 + 1e-7 for w in _weights(gan.discriminator))


def test_lens_weight_schedule():
    k = 100
    for t, expected in [(0, 1.0), (25, 1 - math.sin(math.pi / 8)), (50, 1 - math.sin(math.pi / 4)),
                        (100, 0.0), (101, 0.0), (10_000, 0.0)]:
        assert float(lens_weight(t, k)) == pytest.approx(expected, abs=1e-6), t


@pytest.mark.backends
def test_lens_starts_as_identity_and_only_the_lens_optimizer_moves_it():
    x = _images(32)
    lens = Lens(4)
    np.testing.assert_array_equal(_np(lens(x)), x)
    tgan = TemperedGAN(**SMALL, lens_steps=10, seed=0)
    assert [v.path for v in tgan.phases()[1].variables] == [
        v.path for v in tgan.lens.trainable_variables]
    tgan.compile(optimizer={"discriminator": keras.optimizers.SGD(0.0),
                            "lens": keras.optimizers.Adam(1e-2),
                            "generator": keras.optimizers.SGD(0.0)}, jit_compile=_jit())
    g0, d0, l0 = _weights(tgan.generator), _weights(tgan.discriminator), _weights(tgan.lens)
    history = tgan.fit(x, batch_size=16, epochs=2, verbose=0)
    assert _changed(l0, tgan.lens)
    assert not _changed(g0, tgan.generator) and not _changed(d0, tgan.discriminator)
    # lambda(t) at steps 0, 1 (epoch 1) and 2, 3 (epoch 2), averaged per epoch.
    lam = [1 - math.sin(t * math.pi / 20) for t in range(4)]
    np.testing.assert_allclose(history.history["lens_weight"],
                               [np.mean(lam[:2]), np.mean(lam[2:])], rtol=1e-5)
    assert history.history["lens_distance"][-1] > 0
    assert not np.allclose(_np(tgan.apply_lens(x)), x)


@pytest.mark.backends
def test_sample_is_deterministic_and_save_load_round_trip(tmp_path):
    tgan = TemperedGAN(**SMALL, objective="r1", lens_steps=7, lens_distance_weight=0.5, seed=3)
    a, b = _np(tgan.sample(5, seed=1)), _np(tgan.sample(5, seed=1))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, _np(tgan.sample(5, seed=2)))
    assert a.shape == (5, *SHAPE)
    loaded = run_serialization_test(tgan, lambda m: m.sample(5, seed=1), tmp_path,
                                    serving_inputs=[tgan.latents(5, 1)])
    assert loaded.lens_steps == 7
    assert loaded.objective == "r1" and loaded.lens_distance_weight == 0.5
    np.testing.assert_allclose(_np(loaded.sample(5, seed=1)), a, rtol=1e-5, atol=1e-6)
    fn, inputs = loaded.export_endpoints()["serving_default"]
    assert list(inputs) == ["latents"]
    np.testing.assert_allclose(_np(fn(ops.convert_to_tensor(loaded.latents(5, 1)))["images"]), a,
                               rtol=1e-5, atol=1e-6)
    assert "lens" in loaded.export_endpoints()


def test_saved_model_export_round_trip(tmp_path):
    tf = pytest.importorskip("tensorflow")
    from lrep_zoo.export import export_saved_model

    gan = GAN(**SMALL, seed=0)
    path = export_saved_model(gan, tmp_path / "gan")
    served = tf.saved_model.load(str(path))
    z = gan.latents(3, seed=4)
    out = served.signatures["sample"](latents=tf.constant(z))["images"].numpy()
    np.testing.assert_allclose(out, _np(gan.sample(3, seed=4)), rtol=1e-4, atol=1e-5)


def test_fid_and_kid_on_known_feature_distributions():
    from lrep_zoo.metrics import sample_quality as sq

    rng = np.random.default_rng(0)
    cov = np.diag([1.0, 4.0, 0.25])
    a = rng.multivariate_normal(np.zeros(3), cov, size=20000)
    b = rng.multivariate_normal([1.0, 2.0, 0.0], cov, size=20000)
    # Same covariance: FID = ||mu_a - mu_b||^2 = 5.
    assert sq.frechet_distance(a, b) == pytest.approx(5.0, rel=0.03)
    assert abs(sq.frechet_distance(a, a)) < 1e-6
    # Different scales, same mean: FID = sum (s_a - s_b)^2 with s the standard deviations.
    c = rng.normal(size=(20000, 3)) * np.array([2.0, 2.0, 2.0])
    assert sq.frechet_distance(a, c) == pytest.approx(1 + 0 + 1.5**2, rel=0.05)
    kid_same, _ = sq.kernel_inception_distance(a[:2000], a[2000:4000], subsets=5)
    kid_diff, _ = sq.kernel_inception_distance(a[:2000], b[:2000], subsets=5)
    assert abs(kid_same) < 0.2 and kid_diff > 20  # unbiased: ~0 for one distribution
    logits = np.eye(10)[np.r_[np.zeros(90, int), np.arange(10)]]
    assert sq.class_coverage(logits)["classes_covered"] == 1
    with pytest.raises(FileNotFoundError, match="Inception-v3 weights"):
        sq.inception_features(np.zeros((1, 28, 28, 1)), weights="/nonexistent.h5")


def test_grids(tmp_path):
    from PIL import Image

    from lrep_zoo.models.vae import grids as vae_grids
    from lrep_zoo.viz import generative as gviz

    gan = GAN(**SMALL, seed=0)
    z = gan.latents(4, seed=0)
    path = gviz.save_interpolations(gan, zip(z[0::2], z[1::2]), tmp_path / "i.png", steps=5,
                                    scale=1)
    assert Image.open(path).size == (5 * 10 + 2, 2 * 10 + 2)
    assert vae_grids.traversals(np.zeros(4), dims=[1, 3], values=[-1, 1])[:, 1].tolist() == [
        -1, 1, 0, 0]
    path = gviz.save_samples(gan, tmp_path / "s.png", n=6, nrow=3, scale=1)
    assert Image.open(path).size == (3 * 10 + 2, 2 * 10 + 2)


@pytest.mark.backends
def test_terminate_on_nan_stops_training_on_nan_data():
    """The logs' total `loss` (discriminator + generator) lets TerminateOnNaN stop a GAN."""
    gan = GAN(**SMALL, seed=0)
    gan.compile(optimizer={"discriminator": keras.optimizers.Adam(1e-3),
                           "generator": keras.optimizers.Adam(1e-3)}, jit_compile=_jit())
    images = _images(64)
    images[20] = np.nan  # in the second batch of 16
    history = gan.fit(images, batch_size=16, epochs=3, verbose=0, shuffle=False,
                      callbacks=[keras.callbacks.TerminateOnNaN()])
    assert int(gan.optimizer.iterations) == 2  # stopped after the first NaN batch
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])
