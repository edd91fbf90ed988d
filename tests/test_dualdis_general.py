"""DualDis for any input: sizes and channels, binary attributes, partial labels, metrics,
the colour relit surfaces."""

import numpy as np
import pytest

import keras

from lrep_zoo.models.dualdis import AreaResize, DualDis, metrics, networks, probes
from lrep_zoo.models.dualdis.dualdis import _adversarial, _ce, _label_mask, _masked_mean

pytestmark = pytest.mark.backends

NY, K = 3, 3
TINY = {"latent_dim": 8, "network_width": 0.125, "adversary_hidden": (8,)}
MAIN = ("encoder", "encoder_y", "encoder_z", "decoder", "head_y", "head_z")


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


def _binary(shape=(32, 32, 3), **kwargs):
    kwargs = {**TINY, "input_size": shape[0] if shape[0] == shape[1] else 32, **kwargs}
    return DualDis(image_shape=shape, num_classes_y=NY, attributes="binary", num_attributes=K,
                   **kwargs)


@pytest.fixture(scope="module")
def binary_model():
    """One untrained 32x32x3 binary DualDis for the tests that do not train it (on JAX
    every new weight shape compiles its initializer: building is the slow part)."""
    return _binary(adversarial_weight_z=0.5)


def _images(n, shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape)).astype("uint8")


def _labels(n, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, (n, K)).astype("float32")
    z[1, 0] = -1.0
    z[2, :] = np.nan  # a row without any attribute label
    return rng.integers(0, NY, n), z


def _bce(t, logit):
    p = 1.0 / (1.0 + np.exp(-logit))
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


# ---------------------------------------------------------------------- networks
@pytest.mark.skipif(keras.backend.backend() == "jax", reason="network shapes: the same on every backend (builds of five new shapes on eager JAX: 30 s; CI time)")
def test_networks_follow_input_size_and_channels():
    assert networks.encoder_filters(64) == [32, 40, 48]
    assert networks.decoder_filters(64) == [80, 64, 48, 32, 32]
    assert networks.encoder_filters(128) == [32, 40, 48, 56]
    assert networks.decoder_filters(32) == [80, 64, 48, 32]
    for bad in (48, 8, 100):
        with pytest.raises(ValueError, match="power of two"):
            DualDis(input_size=bad)
    # The Yale-B network is the 64x64 case: test_yaleb_presets_load_unchanged.
    # Built networks for other sizes and channel counts (32x32x3: the tests below).
    # (JAX pass: 128x128x3 only; each build costs it ~25 s, the shapes are backend-free.)
    cases = [(128, 3)] if keras.backend.backend() == "jax" else [(32, 1), (128, 3)]
    for size, channels in cases:
        parts = networks.dualdis_networks((size, size, channels), latent_dim=8, num_outputs_z=K,
                                          width=0.125)
        assert parts["encoder"].output_shape == (None, 8, 8, networks.encoder_filters(size, 0.125)[-1])
        assert parts["encoder_z"].output_shape == (None, 8)
        assert parts["decoder"].output_shape == (None, size, size, channels)
    # Rectangular images are area-resized inside to the square input size.
    x = np.random.default_rng(0).uniform(0, 255, (1, 48, 40, 1)).astype("float32")
    assert tuple(AreaResize(32, 32)(x).shape) == (1, 32, 32, 1)


@pytest.mark.skipif(keras.backend.backend() == "jax",
                    reason="CI time: two 64x64 builds cost the JAX pass ~50 s; weights and "
                           "architecture are backend-free, checked in the TF and torch passes")
def test_yaleb_presets_load_unchanged():
    # Reference values computed with the Yale-B-only code (commit 6b90b6b, TensorFlow)
    # on the same seeded input.
    x = np.random.default_rng(0).integers(0, 256, (2, 192, 168, 1)).astype("uint8")
    expected = {
        "dualdis_yaleb": ([[-1.5183, -1.2543, -0.9485], [-0.1512, 0.2444, -0.7616]], 0.38312116),
        "dualdis_yaleb_multitask": ([[-0.0398, 0.8860, -0.5707], [-0.5631, 1.4509, -0.5009]],
                                    0.29451543),
    }
    for name, (h_y, rec_mean) in expected.items():
        model = DualDis.from_preset(name)
        assert model.attributes == "categorical" and model.network_width == 1.0
        parts = [getattr(model, p) for p in (*MAIN, "adversary_y", "adversary_z")]
        assert [p.count_params() for p in parts] == [  # counted on the Yale-B-only code
            52192, 114528, 114528, 490529, 3078, 1134, 9558, 7614]
        assert model.encoder.output_shape == (None, 8, 8, 48)
        h = model.encode(x)
        np.testing.assert_allclose(_np(h[0])[:, :3], h_y, atol=2e-3)
        assert abs(float(_np(model.decode(*h)).mean()) - rec_mean) < 1e-4


# ---------------------------------------------------------------------- training
def test_binary_training_steps_and_adversary_optimizer():
    keras.utils.set_random_seed(0)
    model = _binary()
    model.compile(optimizer={"main": keras.optimizers.Adam(0.0), "disc": keras.optimizers.Adam(1e-2)},
                  # Compiled steps: tests/test_dualdis.py; eager TF skips a 30 s trace.
                  jit_compile="auto", run_eagerly=keras.backend.backend() != "jax")
    before = {p: [_np(v).copy() for v in getattr(model, p).trainable_variables]
              for p in (*MAIN, "adversary_y", "adversary_z")}
    x = _images(8, (32, 32, 3))
    y, z = _labels(8)
    logs = model.fit(x, (y, z), batch_size=4, epochs=1, verbose=0).history
    moved = {p: any(not np.allclose(b, _np(a)) for b, a in zip(before[p], getattr(model, p).trainable_variables))
             for p in before}
    assert moved["adversary_y"] and moved["adversary_z"]
    assert not any(moved[p] for p in MAIN), moved  # the adversaries' optimizer only
    for key in ("ce_z", "adv_z", "disc_z", "z_acc", "z_adv_err"):
        assert np.isfinite(logs[key][-1]), key  # the NaN / -1 entries are masked out


def test_binary_losses_match_numpy():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0], [1.0, 1.0, 1.0]], "float32")
    z = np.array([[1.0, 0.0, 1.0], [0.0, -1.0, 1.0], [np.nan] * 3], "float32")
    mask, safe = _label_mask(keras.ops.convert_to_tensor(z))
    keep = np.isfinite(z) & (z >= 0)
    t = np.where(keep, z, 0.0)
    for got, want in [
        (_masked_mean(_ce(safe, logits), mask), _bce(t, logits)[keep].mean()),
        # The paper's main adversarial term BCE(1 - z, C_z(h_y)) and the two others.
        (_masked_mean(_adversarial("complement", safe, logits), mask), _bce(1 - t, logits)[keep].mean()),
        (_masked_mean(_adversarial("neg_ce", safe, logits), mask), -_bce(t, logits)[keep].mean()),
        (_masked_mean(_adversarial("uniform", safe, logits), mask), _bce(0.5, logits)[keep].mean()),
    ]:
        np.testing.assert_allclose(float(_np(got)), want, rtol=1e-5)


def test_model_losses_and_masks_against_numpy(binary_model):
    model = binary_model
    x = _images(4, (32, 32, 3), seed=1)
    y, z = _labels(4, seed=1)
    _, disc = model.disc_loss((x, (y, z)), training=False)
    _, main = model.main_loss((x, (y, z)), training=False)
    h_y, h_z = (_np(h) for h in model.encode(x))
    keep = np.isfinite(z) & (z >= 0)
    t = np.where(keep, z, 0.0)
    adv_logits, head_logits = _np(model.adversary_z(h_y)), _np(model.head_z(h_z))
    np.testing.assert_allclose(float(_np(disc["disc_z"])), _bce(t, adv_logits)[keep].mean(), rtol=1e-4)
    np.testing.assert_allclose(float(_np(main["ce_z"])), _bce(t, head_logits)[keep].mean(), rtol=1e-4)
    np.testing.assert_allclose(float(_np(main["adv_z"])), _bce(1 - t, adv_logits)[keep].mean(), rtol=1e-4)
    np.testing.assert_allclose(float(_np(main["z_acc"])), ((head_logits > 0) == t)[keep].mean(), rtol=1e-5)
    # A masked entry's value never counts: NaN or -5 instead of -1 gives the same terms.
    z2 = np.where(keep, z, np.where(np.isnan(z), -5.0, np.nan)).astype("float32")
    _, again = model.main_loss((x, (y, z2)), training=False)
    for key in ("ce_z", "adv_z", "z_acc"):
        np.testing.assert_allclose(float(_np(again[key])), float(_np(main[key])), rtol=1e-6)


def test_categorical_unlabelled_rows_are_left_out():
    logits = np.array([[2.0, -1.0, 0.5, 0.0], [0.0, 3.0, -2.0, 1.0], [1.0, 1.0, 1.0, 4.0]], "float32")
    zc = np.array([2, -1, 3])
    mask, safe = _label_mask(keras.ops.convert_to_tensor(zc))
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    rows = zc >= 0
    np.testing.assert_allclose(float(_np(_masked_mean(_ce(safe, logits), mask))),
                               -log_p[rows, zc[rows]].mean(), rtol=1e-5)


def test_binary_arguments_and_labels_are_checked(binary_model):
    with pytest.raises(ValueError, match="needs num_attributes"):
        DualDis(attributes="binary")
    with pytest.raises(ValueError, match="attributes must be one of"):
        DualDis(attributes="multilabel")
    with pytest.raises(ValueError, match="num_attributes is for attributes='binary'"):
        DualDis(num_attributes=3)
    model = binary_model
    model.compile(optimizer={"main": keras.optimizers.Adam(1e-3), "disc": keras.optimizers.Adam(1e-3)})
    x = _images(4, (32, 32, 3))
    y, z = _labels(4)
    with pytest.raises(ValueError, match=r"binary z labels must have shape \(batch, num_attributes=3\)"):
        model.fit(x, (y, z[:, :2]), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="binary z labels must be 0 or 1"):
        model.fit(x, (y, np.where(np.isfinite(z), z * 2, z)), batch_size=4, verbose=0)
    assert int(model.optimizer.iterations) == 0


def test_binary_edit_classify_save_load_and_export(binary_model, tmp_path):
    model = binary_model
    x = _images(3, (32, 32, 3))
    probs = model.predict(x, verbose=0)  # classify, compiled
    assert probs["z"].shape == (3, K) and probs["z_adv"].shape == (3, K)
    unedited, edited = _np(model.edit(x, 2, 0.0)), _np(model.edit(x, 2, -2.0))
    assert edited.shape == (3, 32, 32, 3) and not np.allclose(edited, unedited, atol=1e-4)
    assert model.get_config()["attributes"] == "binary" and model.get_config()["num_attributes"] == K
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(_np(loaded.edit(x, 2, -2.0)), edited, atol=1e-5)
    if keras.backend.backend() != "torch":
        import tensorflow as tf

        model.export(str(tmp_path / "export"))
        served = tf.saved_model.load(str(tmp_path / "export"))
        out = served.signatures["serving_default"](images=tf.constant(x.astype("float32")))
        np.testing.assert_allclose(out["attributes"].numpy(), _np(probs["z"]), atol=1e-4)


# ---------------------------------------------------------------------- metrics, data
def test_binary_metrics_both_protocols():
    y = np.array([0, 1, 2, 0])
    z = np.array([[1, 0, 1], [0, 1, -1], [1, 1, 0], [0, 0, 1]], "float32")
    eye = np.eye(3)
    probs = {"y": eye[y], "y_adv": eye[(y + 1) % 3],
             "z": np.where(z > 0, 0.9, 0.1), "z_adv": np.full((4, 3), 0.7)}
    s = metrics.scores_from_probabilities(probs, y, z)
    assert s["z_acc_per_attribute"] == [100.0, 100.0, 100.0]
    np.testing.assert_allclose(s["z_adv_err_per_attribute"], [50.0, 50.0, 100 / 3])
    assert s["z_adv_err"] == pytest.approx((50 + 50 + 100 / 3) / 3)
    assert s["aggregate"] == pytest.approx((100 + 100 + 100 + s["z_adv_err"]) / 4)
    ceiling = metrics.majority_reference(y, z, y, z)
    np.testing.assert_allclose(ceiling["z_adv_err_per_attribute"], [50.0, 50.0, 100 / 3])

    class Codes:  # h_y carries the identity, h_z the attributes
        def encode(self, images):
            return images[:, :2], images[:, 2:]

    rng = np.random.default_rng(0)

    def split(n):
        yy, zz = rng.integers(0, 2, n), rng.integers(0, 2, (n, 2)).astype("float32")
        feats = np.concatenate([yy[:, None] * 2.0, -yy[:, None], zz * 2.0], 1)
        return {"image": feats + rng.normal(0, 0.2, feats.shape), "identity": yy, "attributes": zz}

    data = {"train": split(80), "validation": split(20), "test": split(40)}
    data["train"]["attributes"][::4, 1] = np.nan  # partial labels
    s = probes.strict_scores(Codes(), data, hidden=(8,), z_key="attributes")
    assert s["y_acc"] == 100.0 and s["z_acc_per_attribute"] == [100.0, 100.0]
    assert min(s["z_adv_err_per_attribute"]) > 25.0 and s["y_adv_err"] > 25.0


def test_relit_colour_surfaces():
    from lrep_zoo.data import relit_colour

    data = relit_colour.relit_colour_surfaces(num_identities=2, images_per_combination=2, size=16, seed=3)
    total = sum(len(d["identity"]) for d in data.values())
    assert total == 2 * 8 * 2
    train = data["train"]
    assert train["image"].dtype == np.uint8 and train["image"].shape[1:] == (16, 16, 3)
    assert train["attributes"].shape[1] == 3 and set(np.unique(train["attributes"])) <= {0, 1}
    allz = np.concatenate([d["attributes"] for d in data.values()])
    assert (allz.mean(0) == 0.5).all()  # balanced attributes
    assert relit_colour.combination_index([[1, 0, 1]]).tolist() == [5]
    again = relit_colour.relit_colour_surfaces(num_identities=2, images_per_combination=2, size=16, seed=3)
    np.testing.assert_array_equal(again["test"]["image"], data["test"]["image"])
    # Warm light: more red than blue on average, cool light the reverse.
    img = np.concatenate([d["image"] for d in data.values()]).astype(float)
    warm = allz[:, 2] == 1
    assert img[warm][..., 0].mean() > img[warm][..., 2].mean()
    assert img[~warm][..., 2].mean() > img[~warm][..., 0].mean()
