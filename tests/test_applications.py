"""Preset registry and weight resolution: the shipped preset and every failure mode."""

import shutil

import numpy as np
import pytest

import keras

import lrep_zoo
from lrep_zoo.applications import PresetError, registry


def test_shipped_dae_mnist_loads_and_denoises(shared_data_dir):
    model = lrep_zoo.applications.DenoisingAutoEncoder(weights="mnist")
    x = np.load(shared_data_dir / "mnist" / "mnist_test_full.npz")["x_test"][:200]
    x = x[..., None].astype("float32") / 255.0
    keras.utils.set_random_seed(0)
    noisy = keras.ops.convert_to_numpy(model.corrupt(x))
    denoised = model.predict(noisy, verbose=0)
    # A trained DAE must clearly beat the noisy input (an untrained one does not).
    assert np.mean((denoised - x) ** 2) < 0.5 * np.mean((noisy - x) ** 2)


def test_weights_none_gives_fresh_model_of_preset_architecture():
    fresh = lrep_zoo.applications.DenoisingAutoEncoder(weights=None)
    config = registry.preset_config("dae_mnist")["config"]
    assert fresh.latent_dim == config["latent_dim"]


def test_unknown_names_are_clear():
    with pytest.raises(PresetError, match="Known presets"):
        lrep_zoo.applications.load_preset("dae_imagenet")
    with pytest.raises(PresetError, match=r"Unknown weights 'imagenet'.*'mnist'"):
        lrep_zoo.applications.DenoisingAutoEncoder(weights="imagenet")


def _shipped():
    return registry.resolve_weights("dae_mnist")


def test_weights_dir_env_takes_precedence_and_is_verified(tmp_path, monkeypatch):
    target = tmp_path / "dae_mnist" / registry.WEIGHTS_FILE
    target.parent.mkdir()
    shutil.copy(_shipped(), target)
    monkeypatch.setenv(registry.WEIGHTS_DIR_ENV, str(tmp_path))
    assert registry.resolve_weights("dae_mnist") == target
    target.write_bytes(target.read_bytes()[:1000])  # truncated
    with pytest.raises(PresetError, match=r"dae_mnist.*sha256.*expected"):
        registry.resolve_weights("dae_mnist")
    assert target.exists() and target.stat().st_size == 1000  # never deleted


def test_bad_cached_download_is_reported_not_deleted(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(registry.importlib.resources, "files",
                        lambda package: tmp_path / "no_package")
    cache = tmp_path / "models" / "lrep_zoo" / "dae_mnist.weights.h5"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not weights")
    with pytest.raises(PresetError, match="left in place"):
        registry.resolve_weights("dae_mnist")
    assert cache.read_bytes() == b"not weights"


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(registry.WEIGHTS_DIR_ENV, str(tmp_path / "weights"))
    monkeypatch.setattr(registry.importlib.resources, "files",
                        lambda package: tmp_path / "no_package")
    with pytest.raises(PresetError, match="LREP_ZOO_WEIGHTS_DIR"):
        registry.resolve_weights("dae_mnist")


def test_truncated_explicit_file(tmp_path):
    bad = tmp_path / "cut.weights.h5"
    bad.write_bytes(_shipped().read_bytes()[:4096])
    with pytest.raises(PresetError, match="truncated"):
        lrep_zoo.applications.DenoisingAutoEncoder(weights=str(bad))


def test_wrong_architecture(tmp_path):
    other = lrep_zoo.models.DenoisingAutoEncoder(latent_dim=3)
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with pytest.raises(PresetError, match="does not match the architecture"):
        lrep_zoo.applications.DenoisingAutoEncoder(weights=str(path))


def test_explicit_path_loads(tmp_path):
    source = lrep_zoo.applications.DenoisingAutoEncoder(weights=None)
    path = tmp_path / "mine.weights.h5"
    source.save_weights(path)
    loaded = lrep_zoo.applications.DenoisingAutoEncoder(weights=str(path))
    x = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), source.predict(x, verbose=0),
                               atol=1e-6)
