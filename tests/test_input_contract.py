"""The input contract of every model family (`lrep_zoo.inputs`): images as the dataset
gives them (uint8 or float 0..255, with or without the grayscale channel axis), checked
by the eager entry points with a ValueError naming what was expected and what came."""

from types import SimpleNamespace

import numpy as np
import pytest

import keras

import lrep_zoo
from lrep_zoo import inputs
from lrep_zoo.applications import registry
from lrep_zoo.layers import ImageRescaling
from lrep_zoo.models import GAN, VAE, DenoisingAutoEncoder, DualDis, HybridNet, TemperedGAN
from lrep_zoo.models.hybridnet import mnist_networks
from lrep_zoo.models.shade import classifiers

pytestmark = pytest.mark.backends

_GAN = dict(image_shape=(8, 8, 1), latent_dim=4, generator_filters=(8, 4),
            discriminator_filters=(4, 8), seed=0)


def _dae(input_range="0..255"):
    return DenoisingAutoEncoder((8, 8, 1), latent_dim=3, seed=0, input_range=input_range)


def _vae(input_range="0..255"):
    return VAE((8, 8, 1), latent_dim=3, seed=0, input_range=input_range)


def _hybridnet(input_range="0..255"):
    return HybridNet(**mnist_networks.networks((8, 8, 1), num_classes=3, filters=(4,)),
                     seed=0, input_range=input_range)


def _tempered_gan(input_range="0..255"):
    return TemperedGAN(**_GAN, lens_steps=10, input_range=input_range)


def _classifier(input_range="0..255"):
    return classifiers.mlp((8, 8, 1), 3, hidden=(4,), regularizer="shade", weight=1e-3,
                           input_range=input_range)


def _dualdis():
    return DualDis(image_shape=(48, 42, 1), num_classes_y=4, num_classes_z=3, latent_dim=8)


def _np(x):
    return [keras.ops.convert_to_numpy(v) for v in keras.tree.flatten(x)]


# family -> (model factory, {entry point name: fn(model, images)}, image shape)
FAMILIES = {
    "DenoisingAutoEncoder": (_dae, {
        "predict": lambda m, x: m.predict(x, verbose=0),
        "encode": lambda m, x: m.encode(x),
    }, (8, 8, 1)),
    "VAE": (_vae, {
        "encode": lambda m, x: m.encode(x),
        "reconstruct": lambda m, x: m.reconstruct(x),
    }, (8, 8, 1)),
    "TemperedGAN": (_tempered_gan, {
        "apply_lens": lambda m, x: m.apply_lens(x),
    }, (8, 8, 1)),
    # The SHADE classifiers' ImageClassifier (the shade_lenet_mnist_1000 preset's class).
    "ImageClassifier": (_classifier, {
        "predict": lambda m, x: m.predict(x, verbose=0),
    }, (8, 8, 1)),
    "HybridNet": (_hybridnet, {
        "classify": lambda m, x: m.classify(x),
        "predict": lambda m, x: m.predict(x, verbose=0)["probabilities"],
    }, (8, 8, 1)),
    # What DualDis' networks see (its 64x64 nets take minutes of eager compiles on JAX);
    # every entry point is checked_images -> preprocess -> the nets.
    "DualDis": (_dualdis, {
        "classify": lambda m, x: m.preprocess(m.checked_images(x, "classify")),
    }, (48, 42, 1)),
}
_MODELS = {}


def _model(family):
    if family not in _MODELS:
        _MODELS[family] = FAMILIES[family][0]()
    return _MODELS[family]


def _images(shape, n=2):
    return np.random.default_rng(0).integers(0, 256, size=(n, *shape)).astype("uint8")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_uint8_float_and_no_channel_axis_give_the_same_outputs(family):
    _, entries, shape = FAMILIES[family]
    model = _model(family)
    x = _images(shape)
    for name, fn in entries.items():
        reference = _np(fn(model, x))
        tensor = keras.ops.convert_to_tensor(x.astype("float32"))  # an eager backend tensor
        for variant in (x.astype("float32"), x[..., 0].astype("float64"), tensor):
            for a, b in zip(reference, _np(fn(model, variant)), strict=True):
                np.testing.assert_allclose(a, b, atol=1e-6, err_msg=f"{family}.{name}")


@pytest.mark.parametrize("family", ["DenoisingAutoEncoder", "VAE", "TemperedGAN", "HybridNet",
                                    "ImageClassifier"])
def test_0_255_model_is_the_0_1_model_with_the_rescale_inside(family):
    """The presets' wrap: the same weights with input_range '0..255' on the dataset's
    images give what the '0..1' model gives on images / 255 (bit for bit)."""
    factory, entries, shape = FAMILIES[family]
    raw, unit = _model(family), factory("0..1")
    unit.set_weights(raw.get_weights())
    x = _images(shape)
    for name, fn in entries.items():
        for a, b in zip(_np(fn(raw, x)), _np(fn(unit, x.astype("float32") / 255.0)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=f"{family}.{name}")


def _bad_inputs(shape):
    x = _images(shape)
    h, w, _ = shape
    return {
        "unit_floats": (x.astype("float32") / 255.0,
                        r"takes images as the dataset gives them, uint8 or float in 0\.\.255, "
                        r"but got float32 values in \[0, [0-9.]+\].*"
                        r"look already scaled to \[0, 1\]"),
        "single_image": (x[0], rf"expects a batch of images of shape \(N, {h}, {w}, 1\) or "
                               rf"\(N, {h}, {w}\), got shape \({h}, {w}, 1\) \(rank 3\) "
                               r"\(one image\? pass a batch"),
        "rank_5": (x[None], r"expects a batch of images .*\(rank 5\)"),
        "channels": (np.repeat(x, 3, axis=-1),
                     rf"expects images with 1 channel\(s\).*got 3 channels \(shape \(2, {h}, {w}, 3\)\)"),
        "size": (x[:, : h - 2], rf"expects {h}x{w} images .*got {h - 2}x{w} images"),
        "dtype": (x.astype(bool), "expects numeric images .*got dtype bool"),
    }


@pytest.mark.parametrize("bad", ["unit_floats", "single_image", "rank_5", "channels", "size",
                                 "dtype"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bad_inputs_are_a_clear_error(family, bad):
    _, entries, shape = FAMILIES[family]
    model = _model(family)
    images, message = _bad_inputs(shape)[bad]
    for name, fn in entries.items():
        with pytest.raises(ValueError, match=rf"{family}\.{name} {message}"):
            fn(model, images)


def test_fit_and_other_entry_points_check_too():
    dae = _model("DenoisingAutoEncoder")
    unit = _images((8, 8, 1)) / 255.0
    dae.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"DenoisingAutoEncoder\.fit takes images as the dataset"):
        dae.fit(unit, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"DenoisingAutoEncoder\.fit \(validation_data\) takes"):
        dae.fit(_images((8, 8, 1)), validation_data=(unit,), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"DenoisingAutoEncoder\.corrupt takes"):
        dae.corrupt(unit)
    with pytest.raises(ValueError, match=r"DenoisingAutoEncoder\.encode takes"):
        dae.encode(keras.ops.convert_to_tensor(unit.astype("float32")))  # a backend tensor
    gan = GAN(**_GAN, input_range="0..255")
    with pytest.raises(ValueError, match=r"GAN\.fit takes images as the dataset"):
        gan.fit(unit.astype("float32"), epochs=1, verbose=0)
    # A GAN's predict takes latent codes: not images, not checked as images.
    assert gan.predict(np.zeros((2, 4), "float32"), verbose=0).shape == (2, 8, 8, 1)
    dualdis = _model("DualDis")
    faces = _images((48, 42, 1))
    for call in (lambda x: dualdis.predict(x, verbose=0), dualdis.encode, dualdis.reconstruct):
        with pytest.raises(ValueError, match=r"DualDis\.\w+ takes images as the dataset"):
            call(faces / 255.0)
    with pytest.raises(ValueError, match=r"DualDis\.swap \(x_attribute\) expects 48x42 images"):
        dualdis.swap(faces, faces[:, :40])
    with pytest.raises(ValueError, match=r"DualDis\.edit expects a batch of images .*\(rank 2\)"):
        dualdis.edit(faces[0, ..., 0], attribute=1)
    with pytest.raises(ValueError, match=r"HybridNet\.reconstruct expects images with 1 chan"):
        _model("HybridNet").reconstruct(np.repeat(_images((8, 8, 1)), 2, axis=-1))


def test_datasets_are_checked_like_arrays():
    """`lrep_zoo.data.load`'s default [0, 1] floats and a '0..255' model cannot silently
    disagree: fit / evaluate / predict on a tf.data.Dataset (dtype and shape from its
    element_spec, the first batch's values in the pipeline) raise the arrays' ValueError,
    saying how load gives the model's range."""
    from lrep_zoo import data

    dae = DenoisingAutoEncoder((28, 28, 1), latent_dim=3, architecture="mlp", seed=0,
                               input_range="0..255")
    dae.compile(optimizer="adam", run_eagerly=keras.backend.backend() != "jax")  # no traces
    unit = data.load("shapes", "test[:16]", batch_size=8, with_labels=False)  # [0, 1] floats
    raw = data.load("shapes", "test[:16]", batch_size=8, with_labels=False, value_range=None)
    scaled = r"takes images as the dataset gives them.*value_range=None\) keeps them uint8"
    for method, call in [("fit", lambda: dae.fit(unit, epochs=1, verbose=0)),
                         ("predict", lambda: dae.predict(unit, verbose=0))]:
        with pytest.raises(ValueError, match=rf"DenoisingAutoEncoder\.{method} \(first batch\) "
                                             + scaled):
            call()

    crops = raw.map(lambda x: x[:, :20])
    with pytest.raises(ValueError, match=r"fit expects 28x28 images .*got 20x28 images"):
        dae.fit(crops, epochs=1, verbose=0)
    legacy = DenoisingAutoEncoder((28, 28, 1), latent_dim=3, architecture="mlp", seed=0)
    with pytest.raises(ValueError, match=r"input_range='0\.\.1'.*\(a uint8 dataset\).*"
                                         r"default value_range=\(0, 1\) gives \[0, 1\]"):
        legacy.fit(raw, epochs=1, verbose=0)
    # The dataset's own images train (after the errors: JAX's fit state was restored).
    loss = dae.fit(raw, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss) and 0.0 < loss < 1.0  # an MSE on the [0, 1] scale


def test_fit_trains_on_the_dataset_images():
    """fit takes what predict takes: the uint8 images, without a channel axis too."""
    keras.utils.set_random_seed(0)
    dae = _dae()
    dae.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = np.zeros((32, 8, 8), "uint8")
    x[::2] = 255  # black and white images: an untrained DAE outputs grey (MSE ~0.25)
    before = dae.evaluate(x, verbose=0)
    dae.fit(x, epochs=3, batch_size=16, verbose=0)
    after = dae.evaluate(x, verbose=0)
    assert 0.1 < before < 1.0 and after < 0.8 * before  # an MSE on the [0, 1] scale


def test_legacy_0_1_models_and_saved_configs():
    """Models built by hand default to '0..1' (code and files written for [0, 1] images keep
    working); they refuse the dataset's uint8 images with a message naming input_range."""
    config = _dae().get_config()
    assert config["input_range"] == "0..255"
    del config["input_range"]  # a file saved before the contract
    old = DenoisingAutoEncoder.from_config(config)
    assert old.input_range == "0..1"
    with pytest.raises(ValueError, match=r"DenoisingAutoEncoder\.predict was built with "
                                         r"input_range='0\.\.1'.*got uint8 values up to"):
        old.predict(_images((8, 8, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"input_range must be one of \('0\.\.255', '0\.\.1'\)"):
        VAE((8, 8, 1), input_range="0..256")


def test_every_preset_takes_0_255():
    """The presets of the classes with an `input_range` declare '0..255' (DualDis takes
    0..255 always), and so do the functional presets (the SHADE LeNet: an ImageClassifier
    whose first layer is ImageRescaling)."""
    classes = {"DenoisingAutoEncoder", "VAE", "GAN", "TemperedGAN", "HybridNet"}
    checked = 0
    for name, preset in registry.PRESETS.items():
        config = registry.preset_config(name)["config"]
        if preset.model in classes:
            assert config["input_range"] == "0..255", name
            checked += 1
        elif preset.model == registry.FUNCTIONAL:
            assert config["registered_name"] == "lrep_zoo>ImageClassifier", name
            first = config["config"]["layers"][1]
            assert first["class_name"] == "ImageRescaling", name
            assert first["config"]["input_range"] == "0..255", name
            checked += 1
    assert checked >= 6


def test_shade_lenet_preset_is_the_old_network_with_the_rescale_inside():
    """Same weights file as before the contract: the plain [0, 1] network (what old folders
    and .keras files rebuild) loads it, and on images / 255 gives the preset's logits."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("a check of the weights file, in the TensorFlow pass (JAX compiles: 12 s)")
    preset = lrep_zoo.applications.ShadeLeNet(weights="mnist_1000")
    legacy = classifiers.lenet((28, 28, 1), 10, regularizer="shade", weight=1e-3)
    assert type(legacy).__name__ == "Functional" and not hasattr(legacy, "input_range")
    legacy.load_weights(registry.resolve_weights("shade_lenet_mnist_1000"))
    x = _images((28, 28), n=8)
    logits = preset.predict(x, verbose=0)
    # In-graph / 255 is rounded as * (1 / 255) on TF graphs and JAX: 1 ulp off for some pixels.
    np.testing.assert_allclose(logits, legacy.predict(x[..., None] / 255.0, verbose=0), atol=1e-4)
    with pytest.raises(ValueError, match=r"ImageClassifier\.predict takes images as the dataset"):
        preset.predict(x / 255.0, verbose=0)


def test_image_rescaling_layer():
    layer = ImageRescaling((4, 4, 1))
    out = keras.ops.convert_to_numpy(layer(np.full((2, 4, 4), 255, "uint8")))
    assert out.shape == (2, 4, 4, 1) and out.dtype == np.float32 and (out == 1.0).all()
    again = ImageRescaling.from_config(layer.get_config())
    assert (again.image_shape, again.input_range) == ((4, 4, 1), "0..255")
    assert inputs.to_model_range(np.full((1, 2), 255, "uint8"), _model("VAE")).dtype == np.uint8


def test_evaluate_multitask_preset_is_not_scored_against_itself(monkeypatch):
    """`lrep-zoo evaluate dualdis_yaleb_multitask` scores the baseline once, as "multi-task"
    (it used to be scored twice, as DualDis and as its own baseline)."""
    from lrep_zoo.models.dualdis import evaluation
    from lrep_zoo.recipes import dualdis_yaleb

    calls = []
    monkeypatch.setattr(dualdis_yaleb, "load_data", lambda data_dir: {})
    monkeypatch.setattr(evaluation, "evaluate_dualdis", lambda model, **kw: (
        calls.append(kw) or {"rows": {}, "table": ""}))
    monkeypatch.setattr(DualDis, "from_preset", classmethod(lambda cls, name: f"<{name}>"))
    # Stand-ins with the two weights evaluate reads (building DualDis nets takes seconds).
    dualdis_yaleb.evaluate(SimpleNamespace(adversarial_weight_y=0.0, adversarial_weight_z=0.0))
    dualdis_yaleb.evaluate(SimpleNamespace(adversarial_weight_y=0.08, adversarial_weight_z=0.3))
    assert calls[0] == {"data": {}, "name": "multi-task"}
    assert calls[1] == {"baseline": "<dualdis_yaleb_multitask>", "data": {}}
