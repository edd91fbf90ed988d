"""benchmarks/peers.py's reference implementations run and match lrep_zoo's networks.

TensorFlow pass only (no `backends` mark): the references are benchmark code.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import keras

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from references import keras_io  # noqa: E402


def _changed(before, after):
    return any(not np.allclose(a, b) for a, b in zip(before, after))


def test_keras_io_references_train_one_step():
    from lrep_zoo.models.gan import networks as gan_nets
    from lrep_zoo.models.vae import networks as vae_nets

    x = keras_io.images(8)
    vae = keras_io.VAE(vae_nets.vae_encoder(latent_dim=4, filters=(4, 8), hidden=16),
                       vae_nets.vae_decoder(4, filters=(8, 4), hidden=16), seed=0)
    vae.compile(optimizer="adam", jit_compile=False)
    before = vae.get_weights()
    logs = vae.fit(x, batch_size=8, epochs=1, verbose=0).history
    # Bernoulli NLL of uniform images under logits ~ 0: about 784 * ln 2 = 543 nats.
    assert 500 < logs["reconstruction_loss"][0] < 600 and logs["kl_loss"][0] >= 0
    assert _changed(before, vae.get_weights())
    for objective, n_critic in (("non_saturating", 1), ("wgan_gp", 2)):
        d = gan_nets.discriminator(filters=(4, 8))
        g = gan_nets.generator(8, filters=(8, 4))
        gan = keras_io.GAN(d, g, 8, objective, n_critic, seed=0)
        gan.compile(keras.optimizers.Adam(2e-4, 0.5, 0.9), keras.optimizers.Adam(2e-4, 0.5, 0.9),
                    jit_compile=False)
        d0, g0 = d.get_weights(), g.get_weights()
        logs = gan.fit(x, batch_size=8, epochs=1, verbose=0).history
        assert np.isfinite(logs["d_loss"][0]) and np.isfinite(logs["g_loss"][0])
        if objective == "non_saturating":  # ln 4 at D ~ 1/2
            assert abs(logs["d_loss"][0] - np.log(4.0)) < 0.2
        assert _changed(d0, d.get_weights()) and _changed(g0, g.get_weights())
    with pytest.raises(ValueError, match="objective"):
        keras_io.GAN(d, g, 8, "wgan")


def test_torch_hybridnet_reference_is_lrep_zoo_convlarge():
    torch = pytest.importorskip("torch")
    from lrep_zoo.models.hybridnet import convlarge
    from references import torch_hybridnet as ref

    keras.utils.set_random_seed(0)
    nets = convlarge.networks(data_format="channels_last")
    modules = ref.torch_networks(nets)
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    with torch.no_grad():
        for m in modules.values():
            m.eval()
        h, _ = modules["encoder_c"](torch.as_tensor(x).permute(0, 3, 1, 2))
        logits = modules["classifier"](h).numpy()
        x_hat_u = modules["decoder_u"](modules["encoder_u"](
            torch.as_tensor(x).permute(0, 3, 1, 2))[0])[0].permute(0, 2, 3, 1).numpy()
        x_hat_c = modules["decoder_c"](h)[0].permute(0, 2, 3, 1).numpy()
    h_k = nets["encoder_c"](x)[0]
    np.testing.assert_allclose(logits, keras.ops.convert_to_numpy(nets["classifier"](h_k)),
                               atol=1e-5)
    np.testing.assert_allclose(x_hat_c, keras.ops.convert_to_numpy(nets["decoder_c"](h_k)[0]),
                               atol=1e-5)
    h_u = nets["encoder_u"](x)[0]
    np.testing.assert_allclose(x_hat_u, keras.ops.convert_to_numpy(nets["decoder_u"](h_u)[0]),
                               atol=1e-5)

    for m in modules.values():
        m.train()
    weights = {"classification": 1.0, "stability": 1.0, "reconstruction": 1.0,
               "intermediate": 0.5, "balancing": 1.0}
    step = ref.HybridNetStep(**modules, loss_weights=weights, rampup_steps={}, flip=True)
    teacher = [p.clone() for p in step.teacher.parameters()]
    student = [p.clone() for p in step.student.parameters()]
    terms = step.train_step(x, np.array([3, -1]))
    assert set(terms) == set(weights) and all(np.isfinite(v) for v in terms.values())
    # One step: the balancing term's value is the reconstruction error of x_hat_c + x_hat_u.
    assert terms["balancing"] == pytest.approx(terms["reconstruction"], rel=1e-5)
    assert terms["classification"] > 0.5  # cross-entropy of 1 labelled sample, untrained
    assert any(not torch.equal(a, b) for a, b in zip(student, step.student.parameters()))
    # Step 0: decay min(1 - 1/1, 0.99) = 0, so the teacher is the (pre-update) student.
    for a, b in zip(teacher, step.teacher.parameters()):
        assert torch.allclose(a, b)
    assert step.step == 1


def test_tf_data_input_feeds_the_same_batches_as_arrays():
    """peers.py's TensorFlow input (a dataset, autotuning off) trains like the arrays."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.data input is the TensorFlow path of peers.py")
    import peers
    from lrep_zoo.models.vae import VAE

    x = keras_io.images(32)
    weights = {}
    for mode in ("numpy", "tf_data"):
        keras.utils.set_random_seed(0)
        model = VAE((28, 28, 1), latent_dim=4, seed=0)
        model.compile(optimizer="adam", jit_compile=False)
        model(x[:1])
        initial = model.get_weights()
        peers._Fit.INPUT = mode
        side = peers._Fit(model, x, batch_size=8)
        side.run(3)
        assert _changed(initial, model.get_weights())
        assert side._datasets == {} if mode == "numpy" else set(side._datasets) == {24}
        weights[mode] = model.get_weights()
    peers._Fit.INPUT = "numpy"
    for a, b in zip(weights["numpy"], weights["tf_data"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="tf_data needs"):
        peers._input("tf_data", "torch")
