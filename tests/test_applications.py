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
    keras.utils.set_random_seed(0)
    noisy = keras.ops.convert_to_numpy(model.corrupt(x))  # uint8 in, 0..255 units out
    denoised = model.predict(noisy, verbose=0)  # [0, 1]
    clean = x[..., None] / 255.0
    # A trained DAE must clearly beat the noisy input (an untrained one does not).
    assert np.mean((denoised - clean) ** 2) < 0.5 * np.mean((noisy / 255.0 - clean) ** 2)


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
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), source.predict(x, verbose=0),
                               atol=1e-6)


# ---------------------------------------------------------------- presets, keras-hub way
# from_preset / save_to_preset / presets on every model class (PresetMixin).

import importlib.resources
import json

from lrep_zoo.applications import preset_mixin
from lrep_zoo.models import GAN, VAE, DenoisingAutoEncoder, DualDis, HybridNet, TemperedGAN
from lrep_zoo.models import MixingAutoEncoder
from lrep_zoo.models import Siamese
from lrep_zoo.models.hybridnet import mnist_networks

_SMALL_GAN = dict(image_shape=(8, 8, 1), latent_dim=4, generator_filters=(8, 4),
                  discriminator_filters=(4, 8))


def _rng_images(shape, n=2, high=1.0):
    return np.random.default_rng(0).uniform(0, high, size=(n, *shape)).astype("float32")


# class -> (small random-init model, deterministic outputs to compare after a round trip)
_ROUND_TRIPS = {
    "DenoisingAutoEncoder": (
        lambda: DenoisingAutoEncoder(latent_dim=3, architecture="mlp", seed=0),
        lambda m: m.predict(_rng_images((28, 28, 1)), verbose=0)),
    "VAE": (
        lambda: VAE(input_shape=(8, 8, 1), latent_dim=3, seed=0),
        lambda m: m.encode(_rng_images((8, 8, 1)))),
    "GAN": (
        lambda: GAN(**_SMALL_GAN, seed=0),
        lambda m: m(np.ones((2, 4), "float32"))),
    "TemperedGAN": (
        lambda: TemperedGAN(**_SMALL_GAN, lens_steps=10, seed=0),
        lambda m: [m(np.ones((2, 4), "float32")), m.apply_lens(_rng_images((8, 8, 1)))]),
    "HybridNet": (
        lambda: HybridNet(**mnist_networks.networks((8, 8, 1), num_classes=3, filters=(4,)),
                          seed=0),
        lambda m: m(_rng_images((8, 8, 1)), training=False)),
    "DualDis": (
        lambda: DualDis(image_shape=(48, 42, 1), num_classes_y=4, num_classes_z=3,
                        latent_dim=8),
        lambda m: m.classify(_rng_images((48, 42, 1), high=255.0))),
}


def _numpy_leaves(outputs):
    return [keras.ops.convert_to_numpy(x) for x in keras.tree.flatten(outputs)]


@pytest.mark.backends
@pytest.mark.parametrize("name", sorted(_ROUND_TRIPS))
def test_save_to_preset_round_trip(name, tmp_path):
    build, outputs = _ROUND_TRIPS[name]
    model = build()
    cls = type(model)
    assert cls.__name__ == name and isinstance(model, preset_mixin.PresetMixin)
    folder = model.save_to_preset(tmp_path / "preset", command="pytest round trip",
                                  extra_metadata={"epochs": 0})
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "metadata.json", "model.weights.h5"]
    spec = json.loads((folder / "config.json").read_text())
    assert spec["model"] == name and spec["config"] == json.loads(json.dumps(model.get_config()))
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["sha256"] == registry.sha256_of(folder / "model.weights.h5")
    assert metadata["parameter_count"] == model.count_params()
    assert metadata["backend"] == keras.backend.backend()
    assert metadata["keras_version"] == keras.__version__
    assert metadata["lrep_zoo_version"] == lrep_zoo.__version__
    assert metadata["command"] == "pytest round trip" and metadata["epochs"] == 0
    assert metadata["model"] == name and metadata["date"]

    loaded = cls.from_preset(str(folder))
    assert type(loaded) is cls
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_numpy_leaves(outputs(model)), _numpy_leaves(outputs(loaded)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.backends
def test_dualdis_from_preset_is_the_application():
    model = DualDis.from_preset("dualdis_yaleb")
    app = lrep_zoo.applications.DualDis(weights="yaleb")
    baseline = DualDis.from_preset("dualdis_yaleb_multitask")
    assert baseline.adversarial_weight_y == 0.0 and model.adversarial_weight_y > 0
    faces = np.random.default_rng(0).integers(0, 256, (2, 192, 168, 1)).astype("uint8")
    probs, again = model.classify(faces), app.classify(faces)
    np.testing.assert_allclose(_numpy_leaves(probs)[0], _numpy_leaves(again)[0], atol=1e-6)
    same = lrep_zoo.applications.DualDis(weights="yaleb_multitask")
    for a, b in zip(baseline.get_weights(), same.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(model.get_weights()[0], baseline.get_weights()[0])


def test_from_preset_without_weights_and_with_overrides():
    fresh = DenoisingAutoEncoder.from_preset("dae_mnist", load_weights=False, noise_level=0.5)
    assert fresh.noise_level == 0.5
    trained = DenoisingAutoEncoder.from_preset("dae_mnist")
    assert not np.array_equal(fresh.get_weights()[0], trained.get_weights()[0])


def test_presets_listing_per_class():
    assert sorted(DualDis.presets) == ["dualdis_yaleb", "dualdis_yaleb_disentangled",
                                      "dualdis_yaleb_invariant",
                                      "dualdis_yaleb_multitask"]
    assert sorted(DenoisingAutoEncoder.presets) == ["dae_mnist"]
    assert sorted(VAE.presets) == ["vae_mnist"] and sorted(GAN.presets) == ["gan_mnist"]
    assert sorted(TemperedGAN.presets) == ["tempered_gan_mnist"]  # not GAN's
    assert sorted(HybridNet.presets) == ["hybridnet_mnist_100"]
    assert sorted(MixingAutoEncoder.presets) == ["mixing_mnist"]
    assert sorted(Siamese.presets) == ["siamese_yaleb"]
    entry = DualDis.presets["dualdis_yaleb"]
    assert entry["description"] and entry["weights"] == "yaleb"
    assert entry["sha256"] == registry.get_preset("dualdis_yaleb").sha256
    # Every registered preset is listed by exactly its own class; plain Keras models
    # ("Functional" presets) by none.
    listed = [n for c in (DualDis, DenoisingAutoEncoder, VAE, GAN, TemperedGAN, HybridNet,
                          MixingAutoEncoder, Siamese)
              for n in c.presets]
    functional = sorted(registry.presets_of(registry.FUNCTIONAL))
    assert functional == ["infodrop_lenet_mnist_1000", "shade_lenet_mnist_1000"]
    assert sorted(listed + functional) == registry.list_presets()


def test_registrations_live_in_the_method_packages():
    registry_source = (importlib.resources.files("lrep_zoo.applications") / "registry.py").read_text()
    package = {"DenoisingAutoEncoder": "autoencoder", "DualDis": "dualdis", "GAN": "gan",
               "VAE": "vae", "HybridNet": "hybridnet", "TemperedGAN": "tempered_gan",
               "MixingAutoEncoder": "mixing", "Siamese": "siamese", "Functional": "shade"}
    for name in registry.list_presets():
        method = package[registry.get_preset(name).model]
        source = (importlib.resources.files(f"lrep_zoo.models.{method}") / "presets.py").read_text()
        assert f'name="{name}"' in source and f'name="{name}"' not in registry_source


def test_shipped_metadata_matches_the_registry():
    for name in registry.list_presets():
        folder = importlib.resources.files("lrep_zoo.presets") / name
        metadata = preset_mixin.read_metadata(folder)
        assert metadata is not None, name
        preset = registry.get_preset(name)
        assert metadata["sha256"] == preset.sha256 == registry.sha256_of(
            folder / registry.WEIGHTS_FILE), name
        assert metadata["model"] == preset.model == registry.preset_config(name)["model"]
        assert metadata["command"] and metadata["parameter_count"] > 0


def test_wrong_class_is_clear(tmp_path):
    with pytest.raises(PresetError, match=r"'dualdis_yaleb' is a DualDis, not a VAE.*vae_mnist"):
        VAE.from_preset("dualdis_yaleb")
    with pytest.raises(PresetError, match="not a TemperedGAN"):
        TemperedGAN.from_preset("gan_mnist")
    folder = DenoisingAutoEncoder(latent_dim=3, architecture="mlp").save_to_preset(tmp_path / "d")
    with pytest.raises(PresetError, match=r"holds a DenoisingAutoEncoder, not a GAN"):
        GAN.from_preset(folder)
    with pytest.raises(PresetError, match=r"neither a registered VAE preset.*vae_mnist"):
        VAE.from_preset("vae_imagenet")


def test_tampered_folder_weights_are_refused(tmp_path):
    model = DenoisingAutoEncoder(latent_dim=3, architecture="mlp", seed=0)
    folder = model.save_to_preset(tmp_path / "p")
    other = tmp_path / "other.weights.h5"
    DenoisingAutoEncoder(latent_dim=3, architecture="mlp", seed=1).save_weights(other)
    shutil.copy(other, folder / "model.weights.h5")  # same architecture, other weights
    with pytest.raises(PresetError, match=r"sha256 .* metadata.json expects"):
        DenoisingAutoEncoder.from_preset(folder)
    DenoisingAutoEncoder.from_preset(folder, load_weights=False)  # the config is still fine
    (folder / "metadata.json").unlink()  # without metadata: loaded as is
    DenoisingAutoEncoder.from_preset(folder)
    (folder / "metadata.json").write_text("{}")
    with pytest.raises(PresetError, match="no 'sha256'"):
        DenoisingAutoEncoder.from_preset(folder)


def test_malformed_folders_are_clear(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PresetError, match="has no config.json"):
        DenoisingAutoEncoder.from_preset(tmp_path / "empty")
    folder = DenoisingAutoEncoder(latent_dim=3, architecture="mlp").save_to_preset(tmp_path / "p")
    (folder / "model.weights.h5").unlink()
    (folder / "metadata.json").unlink()
    with pytest.raises(PresetError, match="does not exist"):
        DenoisingAutoEncoder.from_preset(folder)


def test_save_to_preset_refuses_to_overwrite(tmp_path):
    model = DenoisingAutoEncoder(latent_dim=3, architecture="mlp", seed=0)
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "MODEL_CARD.md").write_text("card")
    with pytest.raises(PresetError, match="overwrite=True"):
        model.save_to_preset(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["MODEL_CARD.md"]
    model.save_to_preset(folder, overwrite=True)
    retrained = DenoisingAutoEncoder(latent_dim=3, architecture="mlp", seed=1)
    with pytest.raises(PresetError, match="overwrite=True"):
        retrained.save_to_preset(folder)
    retrained.save_to_preset(folder, overwrite=True)
    assert (folder / "MODEL_CARD.md").read_text() == "card"  # other files are kept
    loaded = DenoisingAutoEncoder.from_preset(folder)
    np.testing.assert_array_equal(loaded.get_weights()[0], retrained.get_weights()[0])
    with pytest.raises(ValueError, match="may not set"):
        model.save_to_preset(tmp_path / "q", extra_metadata={"sha256": "x"})
    assert not (tmp_path / "q").exists()


def test_application_accepts_a_preset_folder(tmp_path):
    source = DenoisingAutoEncoder.from_preset("dae_mnist", load_weights=False)
    folder = source.save_to_preset(tmp_path / "mine")
    loaded = lrep_zoo.applications.DenoisingAutoEncoder(weights=str(folder))
    np.testing.assert_array_equal(loaded.get_weights()[0], source.get_weights()[0])


def test_compiled_model_saves_without_optimizer_state(tmp_path):
    model = DenoisingAutoEncoder(latent_dim=3, architecture="mlp", seed=0)
    model.compile(optimizer="adam")
    x = _rng_images((28, 28, 1), n=8)
    model.fit(x, epochs=1, batch_size=4, verbose=0)
    folder = model.save_to_preset(tmp_path / "trained", command="fit")
    loaded = DenoisingAutoEncoder.from_preset(folder)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


# ------------------------------------------------- HybridNet, tempered GAN, SHADE LeNet
# The presets of the methods that had none; accuracies on the first 2,000 MNIST test
# images (their model cards give the full-test-set numbers of the recorded runs).


def _mnist_test(shared_data_dir, n=2000):
    d = np.load(shared_data_dir / "mnist" / "mnist_test_full.npz")
    return d["x_test"][:n].astype("float32")[..., None] / 255.0, d["y_test"][:n].astype("int64")


def _same_weights(a, b):
    for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(u, v)


def _shipped_metadata(name):
    return preset_mixin.read_metadata(importlib.resources.files("lrep_zoo.presets") / name)


@pytest.mark.parametrize("name,model,short", [
    ("hybridnet_mnist_100", "HybridNet", "mnist_100"),
    ("tempered_gan_mnist", "TemperedGAN", "mnist"),
    ("shade_lenet_mnist_1000", "Functional", "mnist_1000"),
    ("infodrop_lenet_mnist_1000", "Functional", "mnist_1000"),
])
def test_new_presets_are_registered_and_verified(name, model, short, tmp_path):
    preset = registry.get_preset(name)
    assert (preset.model, preset.weights) == (model, short)
    path = registry.resolve_weights(name)  # checks the registered sha256
    assert registry.sha256_of(path) == preset.sha256 == _shipped_metadata(name)["sha256"]
    assert path.stat().st_size < 2_000_000  # shipped in the wheel
    assert _shipped_metadata(name)["command"].split()[:3] == ["lrep-zoo", "train", preset.recipe]
    # A tampered copy is refused by sha256, like every registered preset.
    target = tmp_path / name / registry.WEIGHTS_FILE
    target.parent.mkdir()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the weights
    target.write_bytes(bytes(data))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(registry.WEIGHTS_DIR_ENV, str(tmp_path))
        with pytest.raises(PresetError, match="sha256"):
            registry.resolve_weights(name)


def test_hybridnet_mnist_100_preset(shared_data_dir):
    from lrep_zoo.recipes.hybridnet_mnist import evaluate

    model = lrep_zoo.applications.HybridNet(weights="mnist_100")
    _same_weights(model, HybridNet.from_preset("hybridnet_mnist_100"))
    _same_weights(model, lrep_zoo.applications.from_preset("hybridnet_mnist_100"))
    fresh = lrep_zoo.applications.HybridNet(weights=None)
    assert fresh.count_params() == model.count_params()
    x, y = _mnist_test(shared_data_dir)
    scores = evaluate(model, x_test=x, y_test=y)
    # The card: 92.90 % (teacher 92.55 %) on these 2,000 images; untrained: ~10 %.
    assert scores["accuracy"] > 0.90 and scores["teacher_accuracy"] > 0.90
    assert evaluate(fresh, x_test=x, y_test=y)["accuracy"] < 0.5


def test_tempered_gan_mnist_preset():
    gan = lrep_zoo.applications.TemperedGAN(weights="mnist")
    _same_weights(gan, TemperedGAN.from_preset("tempered_gan_mnist"))
    assert isinstance(gan, TemperedGAN) and GAN.presets.keys().isdisjoint(TemperedGAN.presets)
    images = keras.ops.convert_to_numpy(gan.sample(64, seed=0))
    assert images.shape == (64, 28, 28, 1) and 0.0 <= images.min() and images.max() <= 1.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gan.sample(64, seed=0)), images,
                               atol=1e-6)
    # Trained: dark background, bright strokes (an untrained generator is ~0.5 grey) ...
    fresh = keras.ops.convert_to_numpy(
        lrep_zoo.applications.TemperedGAN(weights=None).sample(64, seed=0))
    assert np.median(images) < 0.1 and images.std() > 0.25 and fresh.std() < 0.05
    # ... and digits of most classes, read by the SHADE LeNet preset (measured on these 500
    # samples: 10 classes with >= 2 %, mean confidence 0.71; untrained: 1 class, 0.30).
    samples = keras.ops.convert_to_numpy(gan.sample(500, seed=0))
    logits = lrep_zoo.applications.ShadeLeNet(weights="mnist_1000").predict(samples * 255.0,
                                                                            verbose=0)
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    assert (np.bincount(probs.argmax(-1), minlength=10) >= 10).sum() >= 8
    assert probs.max(-1).mean() > 0.6
    lensed = gan.apply_lens(images[:4] * 255.0)  # real images go in as 0..255, like fit's
    assert keras.ops.convert_to_numpy(lensed).shape == (4, 28, 28, 1)


def test_shade_lenet_mnist_1000_preset(shared_data_dir, tmp_path):
    from lrep_zoo.recipes.shade_mnist_limited import evaluate

    net = lrep_zoo.applications.ShadeLeNet(weights="mnist_1000")
    assert type(net).__name__ == "ImageClassifier" and net.input_range == "0..255"
    assert [l.name for l in net.layers if "shade" in l.name] == [
        "conv1_shade", "conv2_shade", "fc1_shade"]
    _same_weights(net, lrep_zoo.applications.from_preset("shade_lenet_mnist_1000"))
    _same_weights(net, lrep_zoo.applications.load_preset("shade_lenet_mnist_1000"))
    x, y = _mnist_test(shared_data_dir)
    x = np.rint(x * 255.0).astype("uint8")  # the dataset's images: the input contract
    accuracy = float((net.predict(x, verbose=0).argmax(-1) == y).mean())
    assert accuracy > 0.93  # the card: 94.15 % on these 2,000 images (95.57 % on all)
    fresh = lrep_zoo.applications.ShadeLeNet(weights=None)
    assert float((fresh.predict(x, verbose=0).argmax(-1) == y).mean()) < 0.5
    # A fine-tuned copy round-trips as a Functional preset folder, and as a weights file.
    folder = lrep_zoo.applications.save_to_preset(net, tmp_path / "mine", command="test")
    assert json.loads((folder / "config.json").read_text())["model"] == "Functional"
    _same_weights(net, lrep_zoo.applications.ShadeLeNet(weights=str(folder)))
    _same_weights(net, lrep_zoo.applications.ShadeLeNet(weights=str(folder / "model.weights.h5")))
    assert evaluate(net, data_dir=shared_data_dir, limit=2000)["accuracy"] == accuracy


def test_infodrop_lenet_mnist_1000_preset(shared_data_dir):
    from lrep_zoo.recipes.shade_mnist_limited import evaluate

    net = lrep_zoo.applications.InformationDropoutLeNet(weights="mnist_1000")
    assert type(net).__name__ == "ImageClassifier" and net.input_range == "0..255"
    assert [l.name for l in net.layers if "information_dropout" in l.name] == [
        "conv1_information_dropout", "conv2_information_dropout", "fc1_information_dropout"]
    _same_weights(net, lrep_zoo.applications.from_preset("infodrop_lenet_mnist_1000"))
    x, y = _mnist_test(shared_data_dir, 1000)
    x = np.rint(x * 255.0).astype("uint8")  # the dataset's images: the input contract
    logits = net.predict(x, verbose=0)
    np.testing.assert_array_equal(logits, net.predict(x, verbose=0))  # no noise at test time
    accuracy = float((logits.argmax(-1) == y).mean())
    assert accuracy > 0.92  # the card: 93.70 % on these 1,000 images (95.03 % on all)
    fresh = lrep_zoo.applications.InformationDropoutLeNet(weights=None)
    assert float((fresh.predict(x, verbose=0).argmax(-1) == y).mean()) < 0.5
    assert evaluate(net, data_dir=shared_data_dir, limit=1000)["accuracy"] == accuracy
    with pytest.raises(PresetError, match=r"Unknown weights 'cifar' for InformationDropoutLeNet"):
        lrep_zoo.applications.InformationDropoutLeNet(weights="cifar")


def test_functional_presets_errors(tmp_path):
    with pytest.raises(PresetError, match=r"Unknown weights 'cifar'.*mnist_1000"):
        lrep_zoo.applications.ShadeLeNet(weights="cifar")
    with pytest.raises(PresetError, match="no config overrides"):
        lrep_zoo.applications.load_preset("shade_lenet_mnist_1000", weights=None, weight=0.1)
    with pytest.raises(PresetError, match=r"is a Functional, not a GAN.*applications.from_preset"):
        GAN.from_preset("shade_lenet_mnist_1000")
    folder = lrep_zoo.applications.save_to_preset(
        lrep_zoo.applications.ShadeLeNet(weights=None), tmp_path / "f")
    with pytest.raises(PresetError, match="holds a Functional, not a VAE"):
        VAE.from_preset(folder)
    # A compiled functional model is published without its compile state.
    inputs = keras.Input((3,))
    tiny = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    tiny.compile(optimizer="adam", loss="mse")
    tiny.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    again = lrep_zoo.applications.from_preset(
        lrep_zoo.applications.save_to_preset(tiny, tmp_path / "tiny"))
    assert getattr(again, "optimizer", None) is None
    _same_weights(tiny, again)


def test_recipes_write_loadable_presets(shared_data_dir, tmp_path):
    """`hybridnet_mnist --save-weights` and `shade_mnist_limited --save-presets` write preset
    folders (save_to_preset, with the rerun command) that reload with the recorded scores."""
    from lrep_zoo.recipes import hybridnet_mnist, shade_mnist_limited

    out = tmp_path / "hn"
    hybridnet_mnist.main(["--data-dir", str(shared_data_dir), "--output-dir", str(out),
                          "--variants", "hybridnet_shade", "--seeds", "0", "--steps", "20",
                          "--verbose", "0", "--no-jit", "--save-weights"])
    folder = out / "hybridnet_shade_seed0"
    metadata = preset_mixin.read_metadata(folder)
    assert metadata["command"].startswith("lrep-zoo train hybridnet_mnist ")
    assert "--save-weights" in metadata["command"] and metadata["steps"] == 20
    x, y = _mnist_test(shared_data_dir, n=10000)
    again = hybridnet_mnist.evaluate(HybridNet.from_preset(folder), x_test=x, y_test=y)
    assert again == metadata["test_scores"]

    out = tmp_path / "shade"
    shade_mnist_limited.main(["--data-dir", str(shared_data_dir), "--output-dir", str(out),
                              "--labels", "100", "--regularizers", "shade", "--weight",
                              "shade=0.001", "--seeds", "0", "--steps", "30", "--test-images",
                              "500", "--verbose", "0", "--no-jit", "--save-presets"])
    folder = out / "lenet_100_shade_seed0"
    metadata = preset_mixin.read_metadata(folder)
    assert metadata["model"] == "Functional" and "--save-presets" in metadata["command"]
    net = lrep_zoo.applications.from_preset(folder)
    scores = shade_mnist_limited.evaluate(net, data_dir=shared_data_dir, limit=500)
    assert scores["accuracy"] == metadata["test"]
