"""Denoising auto-encoder: training, inference, saving, weights across backends."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from lrep_zoo.models import DenoisingAutoEncoder
from roundtrip import run_serialization_test


def _images(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, size=(n, 28, 28, 1)).astype("float32")


@pytest.mark.backends
@pytest.mark.parametrize("noise,loss", [("gaussian", "mse"), ("masking", "bce")])
def test_fit_evaluate_predict(noise, loss):
    model = DenoisingAutoEncoder(latent_dim=8, noise=noise, noise_level=0.3,
                                 reconstruction_loss=loss, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  jit_compile=keras.backend.backend() != "torch")
    x = _images()
    before = model.evaluate(x, batch_size=32, verbose=0)
    history = model.fit(x, batch_size=32, epochs=3, verbose=0)
    after = model.evaluate(x, batch_size=32, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert after < before
    assert model.predict(x[:5], verbose=0).shape == (5, 28, 28, 1)
    assert tuple(model.encode(x[:5]).shape) == (5, 8)
    assert tuple(model.decode(model.encode(x[:5])).shape) == (5, 28, 28, 1)


@pytest.mark.backends
def test_noise_only_in_training():
    model = DenoisingAutoEncoder(latent_dim=4, noise="masking", noise_level=0.5, seed=0)
    x = np.ones((4, 28, 28, 1), "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))
    corrupted = keras.ops.convert_to_numpy(model.corrupt(x))
    assert 0.3 < (corrupted == 0).mean() < 0.7


@pytest.mark.backends
def test_keras_save_and_load_round_trip(tmp_path):
    model = DenoisingAutoEncoder(latent_dim=6, noise="masking", architecture="mlp")
    model.compile(optimizer="adam")
    model.fit(_images(32), batch_size=16, epochs=1, verbose=0)
    x = _images(8, seed=3)
    loaded = run_serialization_test(model, lambda m: m.predict(x, verbose=0), tmp_path,
                                    serving_inputs=[x])
    assert loaded.get_config()["noise"] == "masking"


@pytest.mark.backends
def test_custom_networks_serialize(tmp_path):
    from lrep_zoo.models.autoencoder.networks import mlp_decoder, mlp_encoder

    model = DenoisingAutoEncoder(
        latent_dim=5,
        encoder=mlp_encoder((28, 28, 1), 5, units=(16,)),
        decoder=mlp_decoder(5, (28, 28, 1), units=(16,)),
    )
    model.save(tmp_path / "custom.keras")
    loaded = keras.saving.load_model(tmp_path / "custom.keras")
    assert loaded.encoder.count_params() == model.encoder.count_params()


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="noise"):
        DenoisingAutoEncoder(noise="salt")
    with pytest.raises(ValueError, match="divisible by 4"):
        DenoisingAutoEncoder(input_shape=(30, 30, 1))
    model = DenoisingAutoEncoder(latent_dim=4)
    with pytest.raises(ValueError):
        model.predict(np.zeros((2, 32, 32, 1), "float32"), verbose=0)


_LOAD_IN_OTHER_BACKEND = """
import json, sys
import numpy as np
from lrep_zoo.models import DenoisingAutoEncoder
model = DenoisingAutoEncoder(latent_dim=8)
model.load_weights(sys.argv[1])
x = np.load(sys.argv[2])
print(json.dumps(model.predict(x, verbose=0).tolist()))
"""


@pytest.mark.slow
@pytest.mark.parametrize("other", ["jax", "torch"])
def test_weights_h5_load_in_other_backend(tmp_path, other):
    pytest.importorskip(other)
    model = DenoisingAutoEncoder(latent_dim=8)
    model.compile(optimizer="adam")
    model.fit(_images(32), batch_size=16, epochs=1, verbose=0)
    model.save_weights(tmp_path / "dae.weights.h5")
    x = _images(4, seed=5)
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "KERAS_BACKEND": other}
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_IN_OTHER_BACKEND, str(tmp_path / "dae.weights.h5"),
         str(tmp_path / "x.npy")],
        env=env, capture_output=True, text=True, check=True,
    )
    theirs = np.array(json.loads(out.stdout.strip().splitlines()[-1]), "float32")
    np.testing.assert_allclose(theirs, model.predict(x, verbose=0), atol=1e-5)
