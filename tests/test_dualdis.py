"""DualDis: who trains what, per-term logs, edit/swap, save/load and export round trips."""

import numpy as np
import pytest

import keras

from lrep_zoo.models.dualdis.dualdis import DualDis, _adversarial
from lrep_zoo.models.dualdis.layers import area_matrix
from roundtrip import run_serialization_test

pytestmark = pytest.mark.backends

NY, NZ = 4, 3
SHAPE = (48, 42, 1)


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, *SHAPE)).astype("uint8")
    return x, rng.integers(0, NY, n), rng.integers(0, NZ, n)


def _model(**kwargs):
    return DualDis(image_shape=SHAPE, num_classes_y=NY, num_classes_z=NZ, **kwargs)


def _compile(model, main_lr=1e-2, disc_lr=1e-2):
    model.compile(
        optimizer={"main": keras.optimizers.Adam(main_lr), "disc": keras.optimizers.Adam(disc_lr)},
        jit_compile=keras.backend.backend() == "jax",
    )
    return model


def _snapshot(net):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in net.trainable_variables]


def _moved(before, net):
    return any(not np.allclose(b, a) for b, a in zip(before, _snapshot(net)))


PARTS = ("encoder", "encoder_y", "encoder_z", "decoder", "head_y", "head_z", "adversary_y", "adversary_z")


def _fit_and_check(main_lr, disc_lr):
    keras.utils.set_random_seed(0)
    model = _compile(_model(), main_lr, disc_lr)
    before = {p: _snapshot(getattr(model, p)) for p in PARTS}
    x, y, z = _data()
    z[::3] = -1  # semi-supervised: rows without an attribute label
    history = model.fit(x, (y, z), batch_size=8, epochs=1, verbose=0)
    return model, {p: _moved(before[p], getattr(model, p)) for p in PARTS}, history.history


def test_training_updates_every_part_and_logs_each_term():
    _, moved, logs = _fit_and_check(1e-2, 1e-2)
    assert all(moved.values()), moved
    for key in ("main_loss", "disc_loss", "rec", "ce_y", "ce_z", "adv_y", "adv_z", "orth",
                "disc_y", "disc_z", "y_acc", "z_acc", "y_adv_err", "z_adv_err"):
        assert key in logs and np.isfinite(logs[key][-1]), key


def test_adversary_optimizer_never_moves_the_encoder():
    # Only the disc optimizer can move anything: encoder, decoder and W stay put.
    _, moved, _ = _fit_and_check(0.0, 1e-2)
    assert moved["adversary_y"] and moved["adversary_z"]
    assert not any(moved[p] for p in PARTS[:6]), moved


def test_public_methods_shapes_and_determinism():
    model = _model()
    x, _, _ = _data(6)
    h_y, h_z = model.encode(x)
    assert tuple(h_y.shape) == (6, 80) and tuple(h_z.shape) == (6, 80)
    rec = keras.ops.convert_to_numpy(model.decode(h_y, h_z))
    assert rec.shape == (6, 64, 64, 1) and rec.min() >= 0 and rec.max() <= 1
    probs = model.classify(x)
    assert {k: tuple(v.shape) for k, v in probs.items()} == {
        "y": (6, NY), "z": (6, NZ), "y_adv": (6, NY), "z_adv": (6, NZ)}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(probs["z"]).sum(-1), 1.0, atol=1e-5)
    edited = keras.ops.convert_to_numpy(model.edit(x, 2, 3.0))
    assert edited.shape == (6, 64, 64, 1)
    np.testing.assert_allclose(edited, keras.ops.convert_to_numpy(model.edit(x, 2, 3.0)), atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.edit(x, 1, 0.0)), rec, atol=1e-5)
    assert not np.allclose(edited, rec, atol=1e-4)
    per_image = model.edit(x, np.array([0, 1, 2, 0, 1, 2]), np.linspace(-2, 2, 6).astype("float32"))
    assert tuple(per_image.shape) == (6, 64, 64, 1)
    swapped = keras.ops.convert_to_numpy(model.swap(x, x[::-1]))
    assert swapped.shape == (6, 64, 64, 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.swap(x, x)), rec, atol=1e-5)
    # float 0..255 input gives the same codes as uint8.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.encode(x.astype("float32"))[0]),
        keras.ops.convert_to_numpy(h_y), atol=1e-5)


def test_save_load_round_trips(tmp_path):
    model = _model(adversarial_loss_z="uniform")
    x, y, z = _data()
    run_serialization_test(
        model, lambda m: {**m.classify(x), "edit": m.edit(x, 1, 2.0)}, tmp_path / "rt",
        serving_inputs=None if keras.backend.backend() == "torch" else [x])
    # The preset path: config + weights of an uncompiled copy.
    fresh = DualDis.from_config(model.get_config())
    fresh.set_weights(model.get_weights())
    fresh.save_weights(tmp_path / "model.weights.h5")
    again = DualDis.from_config(model.get_config())
    again.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again.edit(x, 1, 2.0)),
                               keras.ops.convert_to_numpy(model.edit(x, 1, 2.0)), atol=1e-5)


def test_variants_and_adversarial_terms():
    assert DualDis.variant("multitask").adversarial_weight_y == 0.0
    assert DualDis.variant("adv_y").adversarial_weight_z == 0.0
    assert DualDis.variant("adv_y").adversarial_weight_y > 0
    with pytest.raises(ValueError):
        DualDis.variant("nope")
    with pytest.raises(ValueError):
        DualDis(adversarial_loss_z="bce")
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], "float32")
    labels = np.array([0, 2])
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    got = {k: keras.ops.convert_to_numpy(_adversarial(k, labels, logits))
           for k in ("neg_ce", "complement", "uniform")}
    np.testing.assert_allclose(got["neg_ce"], np.log(p[[0, 1], labels]), rtol=1e-5)
    np.testing.assert_allclose(got["complement"], -np.log(1 - p[[0, 1], labels]), rtol=1e-5)
    np.testing.assert_allclose(got["uniform"], -np.log(p).mean(-1), rtol=1e-5)


def test_area_resize_is_exact_box_average():
    m = area_matrix(192, 64)
    np.testing.assert_allclose(m.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(m[0, :3], 1 / 3, atol=1e-6)
    model = DualDis(image_shape=(128, 128, 1), num_classes_y=NY, num_classes_z=NZ)
    x = np.random.default_rng(0).uniform(0, 255, (2, 128, 128, 1)).astype("float32")
    expected = x.reshape(2, 64, 2, 64, 2, 1).mean((2, 4)) / 255.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.preprocess(x)), expected, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="SavedModel export: tensorflow/jax only")
def test_export_endpoints_round_trip(tmp_path):
    import tensorflow as tf

    from lrep_zoo.export import export_saved_model

    model = _model()
    x, _, _ = _data(3)
    export_saved_model(model, tmp_path / "dualdis")
    served = tf.saved_model.load(str(tmp_path / "dualdis"))
    assert {"serving_default", "encode", "decode", "edit"} <= set(served.signatures)
    xf = tf.constant(x.astype("float32"))
    out = served.signatures["serving_default"](images=xf)
    np.testing.assert_allclose(out["lighting"].numpy(),
                               keras.ops.convert_to_numpy(model.classify(x)["z"]), atol=1e-4)
    codes = served.signatures["encode"](images=xf)
    dec = served.signatures["decode"](h_y=codes["h_y"], h_z=codes["h_z"])["images"].numpy()
    np.testing.assert_allclose(dec, keras.ops.convert_to_numpy(model.reconstruct(x)), atol=1e-4)
    edit = served.signatures["edit"](images=xf, attribute=tf.constant([1.0, 1.0, 2.0]),
                                     eps=tf.constant([2.0, 2.0, 2.0]))["images"].numpy()
    np.testing.assert_allclose(
        edit, keras.ops.convert_to_numpy(model.edit(x, np.array([1, 1, 2]), np.full(3, 2.0, "float32"))),
        atol=1e-4)


def test_relit_surfaces_dataset():
    from lrep_zoo.data import relit

    data = relit.relit_surfaces(num_identities=3, images_per_pair=2, size=32, seed=1)
    total = sum(len(d["identity"]) for d in data.values())
    assert total == 3 * len(relit.LIGHTS) * 2
    assert data["train"]["image"].dtype == np.uint8 and data["train"]["image"].shape[1:] == (32, 32, 1)
    assert len(data["test"]["identity"]) == 3 * 9
    again = relit.relit_surfaces(num_identities=3, images_per_pair=2, size=32, seed=1)
    np.testing.assert_array_equal(again["test"]["image"], data["test"]["image"])


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="the demo is a DualDis.fit; JAX's fit is tested above (a minute of eager JAX compiles here; CI time)")
def test_demo_writes_scores_and_grids(tmp_path):
    from lrep_zoo.models.dualdis.demo import demo

    scores = demo(str(tmp_path), epochs=15, num_identities=3, images_per_pair=4, verbose=0)
    # Untrained, both heads sit at chance (33.3 % identity, ~11 % lighting; measured 33.3 and
    # 3.7 after one epoch); 15 epochs gave 98.1 and 85.2 on TensorFlow.
    assert scores["y_acc"] > 70.0 and scores["z_acc"] > 40.0
    assert scores["aggregate"] == pytest.approx(
        sum(scores[k] for k in ("y_acc", "z_acc", "y_adv_err", "z_adv_err")) / 4)
    for name in ("edits.png", "swaps.png", "reconstructions.png", "metrics.json"):
        assert (tmp_path / name).is_file()


def test_paper_and_strict_metrics_on_known_inputs():
    from lrep_zoo.models.dualdis import metrics as disentangling, probes

    y = np.array([0, 1, 2, 3])
    z = np.array([0, 0, 1, 2])
    eye_y, eye_z = np.eye(NY), np.eye(NZ)
    probs = {"y": eye_y[y], "z": eye_z[z], "y_adv": eye_y[(y + 1) % NY], "z_adv": eye_z[z]}
    s = disentangling.scores_from_probabilities(probs, y, z)
    assert s == {"aggregate": 75.0, "y_acc": 100.0, "z_acc": 100.0, "y_adv_err": 100.0, "z_adv_err": 0.0}
    ref = disentangling.random_reference(38, 14)
    assert round(ref["y_adv_err"], 1) == 97.4 and round(ref["z_adv_err"], 1) == 92.9
    assert disentangling.majority_reference(y, z, y, z)["z_adv_err"] == 50.0
    assert "| m | 75.0 |" in disentangling.format_table({"m": s})
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 120)
    feats = np.eye(3)[labels] * 3 + rng.normal(0, 0.3, (120, 3))
    predict = probes.train_probe(feats[:80], labels[:80], feats[80:100], labels[80:100], epochs=300)
    assert np.mean(predict(feats[100:]) == labels[100:]) > 0.9


def test_crossfit_validation_protocol_never_reads_the_test_split():
    """The selection protocol scores probes on validation halves only (no "test" key
    given), early-stopped on unseen faces: a code that carries the identity is read."""
    from lrep_zoo.recipes import dualdis_yaleb as recipe

    rng = np.random.default_rng(0)

    def split(n):
        y, z = rng.integers(0, 6, n), rng.integers(0, 3, n)
        return {"image": np.stack([y, z], 1).astype("float32"), "identity": y, "lighting": z}

    class Codes:  # h_y reads the identity, h_z the lighting and (leak) the identity
        encoded = 0

        def encode(self, x):
            Codes.encoded += len(x)
            noise = rng.normal(0, 0.1, (len(x), 6))
            return np.eye(6)[x[:, 0].astype(int)] + noise, np.concatenate(
                [np.eye(3)[x[:, 1].astype(int)], np.eye(6)[x[:, 0].astype(int)]], 1)

    data = {"train": split(300), "validation": split(120)}
    scores = recipe.crossfit_validation_scores(Codes(), data)
    assert scores["y_acc"] > 95 and scores["z_acc"] > 95
    assert scores["y_adv_err"] < 5  # the identity in h_z is found
    assert scores["z_adv_err"] > scores["ceiling"]["z_adv_err"] - 15  # none in h_y
    assert len(scores["halves"]) == 2
    assert Codes.encoded == 420  # each image encoded once


def test_standardized_encoder_input_ignores_global_brightness():
    model = _model(input_normalization="standardize")
    x = _data(2)[0].astype("float32")
    a = keras.ops.convert_to_numpy(model.encode(x)[0])
    b = keras.ops.convert_to_numpy(model.encode(0.25 * x + 10.0)[0])
    np.testing.assert_allclose(a, b, atol=1e-3)
    assert model.get_config()["input_normalization"] == "standardize"
    assert _model().get_config()["input_normalization"] == "none"


def test_recipe_fine_tunes_from_a_preset(tmp_path):
    from lrep_zoo.recipes import dualdis_yaleb as recipe

    keras.utils.set_random_seed(1)
    preset = _model()
    preset.save_to_preset(tmp_path / "preset")
    x, y, z = _data()
    split = {"image": x, "identity": y, "lighting": z}
    data = {"train": split, "validation": split}
    tuned, info = recipe.train(data, recipe.Config(
        epochs=1, batch_size=8, eval_every=1, verbose=0, learning_rate=0.0,
        init=str(tmp_path / "preset"), adversarial_weight_z=0.3))
    assert tuned.get_config()["adversarial_weight_z"] == 0.3
    assert info["init"] == str(tmp_path / "preset") and info["learning_rate"] == 0.0
    for bad in (["--variant", "multitask"], ["--output-dir", str(tmp_path / "preset")]):
        with pytest.raises(SystemExit):  # argparse error, before any data is read
            recipe.main(["--init", str(tmp_path / "preset"), *bad])
    # lr 0: the trainable weights are still the preset's (a fresh build would differ).
    for a, b in zip(preset.trainable_weights, tuned.trainable_weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


# ---------------------------------------------------------------------- guards
def test_terminate_on_nan_stops_training_on_nan_data():
    """The logs' total `loss` (main + disc) lets TerminateOnNaN stop DualDis."""
    model = _compile(_model())
    x, y, z = _data()
    x = x.astype("float32")
    x[10] = np.nan  # in the second batch of 8
    history = model.fit(x, (y, z), batch_size=8, epochs=3, verbose=0, shuffle=False,
                        callbacks=[keras.callbacks.TerminateOnNaN()])
    assert int(model.optimizer.iterations) == 2
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])


def test_bad_labels_are_a_clear_error_before_training():
    model = _compile(_model())
    x, y, z = _data()
    z_unlabelled = np.where(np.arange(len(z)) % 3 == 0, -1, z)
    for labels, message in [
        ((np.where(y == 1, 40, y), z), r"DualDis: y label 40 is out of range: y must be in "
                                       r"0\.\.3 \(num_classes_y=4\)"),
        ((y, np.where(z == 1, NZ, z)), r"z label 3 is out of range: z must be in 0\.\.2 "
                                       r"\(num_classes_z=3\), or negative for an unlabelled"),
        ((np.where(y == 1, -1, y), z), r"y label -1 is negative"),
        ((y.astype("float32"), z), r"y labels must be integer class indices, got dtype float32"),
        ({"y": y, "z": np.eye(NZ)[z]}, r"z labels must be class indices .* got shape \(16, 3\); "
                                       r"one-hot labels\?"),
        (y, r"DualDis labels must be \(y, z\) or \{'y': y, 'z': z\}, got one array"),
    ]:
        with pytest.raises(ValueError, match=message):
            model.fit(x, labels, batch_size=8, verbose=0)
    assert int(model.optimizer.iterations) == 0  # nothing trained
    # z < 0 (unlabelled) stays allowed, also in a dataset
    tf = pytest.importorskip("tensorflow")
    model.fit(tf.data.Dataset.from_tensor_slices((x, (y, z_unlabelled))).batch(8), verbose=0)
    assert int(model.optimizer.iterations) == 2


def test_bad_dataset_labels_stop_fit_at_the_first_batch():
    tf = pytest.importorskip("tensorflow")
    model = _compile(_model())
    x, y, z = _data()
    before = {p: _snapshot(getattr(model, p)) for p in PARTS}
    bad = tf.data.Dataset.from_tensor_slices((x, {"y": y + 38, "z": z})).batch(8)
    with pytest.raises(ValueError, match=r"DualDis: y label \d+ is out of range"):
        model.fit(bad, verbose=0)
    floats = tf.data.Dataset.from_tensor_slices((x, (y, z.astype("float32")))).batch(8)
    with pytest.raises(ValueError, match="z labels must be integer class indices"):
        model.fit(floats, verbose=0)
    assert not any(_moved(before[p], getattr(model, p)) for p in PARTS)  # nothing trained


def test_batch_size_one_warns_batch_normalization():
    model = _compile(_model())
    x, y, z = _data(9)
    # epochs=0: the warning comes before training.
    with pytest.warns(UserWarning, match=r"DualDis has BatchNormalization .* batch size 1 "
                                         r"\(batch_size=1, 9 training samples\)"):
        model.fit(x, (y, z), batch_size=1, epochs=0, verbose=0)
    with pytest.warns(UserWarning, match=r"last batch of 1 sample in every epoch "
                                         r"\(9 training samples, batch_size=8\)"):
        model.fit(x, (y, z), batch_size=8, epochs=0, verbose=0)
