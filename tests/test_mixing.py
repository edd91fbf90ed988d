"""Mixing auto-encoder (Hu et al. 2018): the loss terms against NumPy, which phase moves
which weights, the input contract, the per-chunk evaluation, the round trips."""

import numpy as np
import pytest

import keras
from keras import ops

from lrep_zoo.models.mixing import MixingAutoEncoder, mix_chunks
from lrep_zoo.models.mixing.evaluation import chunk_scores, nearest_neighbour_map
from roundtrip import run_serialization_test

SHAPE = (8, 8, 1)
TINY = dict(image_shape=SHAPE, num_chunks=3, chunk_dim=2, encoder_filters=(4, 4),
            decoder_filters=(4, 4), discriminator_filters=(4,), classifier_filters=(4,),
            classifier_hidden=6)


def _np(x):
    return np.asarray(ops.convert_to_numpy(x), "float64")


def _images(n=8, seed=0):
    """Raw images in 0..255 (float), the model's input contract."""
    return np.random.default_rng(seed).uniform(0, 255, size=(n, *SHAPE)).astype("float32")


def _weights(net):
    return [np.array(w) for w in net.get_weights()]


def _changed(before, net):
    return any(not np.allclose(a, b) for a, b in zip(before, _weights(net)))


def _compile_kwargs():
    # Tracing / XLA / torch.compile dominate these two-step fits: TF and torch run
    # eagerly, JAX compiles (its eager steps are slower than one compilation).
    if keras.backend.backend() == "jax":
        return {"jit_compile": True}
    return {"run_eagerly": True}


def _np_mix(f1, f2, mask, k):
    out = f2.copy()
    d = f1.shape[1] // k
    for n in range(len(f1)):
        for i in range(k):
            if mask[n, i] == 1:
                out[n, i * d:(i + 1) * d] = f1[n, i * d:(i + 1) * d]
    return out


def _softplus(x):
    return np.logaddexp(0.0, x)


@pytest.mark.backends
def test_loss_terms_match_numpy_reference():
    keras.utils.set_random_seed(1)
    model = MixingAutoEncoder(**TINY, seed=0)
    x1 = _images(5, 1) / 255.0
    x2 = _images(5, 2) / 255.0
    mask = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0], [1, 0, 0]], "float32")
    enc = lambda x: _np(model.encoder(x.astype("float32")))  # noqa: E731
    dec = lambda f: _np(model.decoder(f.astype("float32")))  # noqa: E731
    f1, f2 = enc(x1), enc(x2)
    np.testing.assert_allclose(_np(mix_chunks(f1, f2, mask, 3)), _np_mix(f1, f2, mask, 3),
                               atol=1e-6)
    x3 = dec(_np_mix(f1, f2, mask, 3))
    x4 = dec(_np_mix(enc(x3), f1, mask, 3))
    logits = _np(model.classifier([x1, x2, x3.astype("float32")]))
    real = _np(model.discriminator(x1))
    fake = _np(model.discriminator(x3.astype("float32")))
    expected = {
        "rec": np.mean((x1 - dec(f1)) ** 2) + np.mean((x2 - dec(f2)) ** 2),
        "rec_cycle": np.mean((x1 - x4) ** 2),
        "cls": np.mean(-mask * np.log(1 / (1 + np.exp(-logits)))
                       - (1 - mask) * np.log(1 - 1 / (1 + np.exp(-logits)))),
        "cls_acc": np.mean((logits > 0) == (mask > 0)),
        "adv": np.mean(_softplus(-fake)),
        "disc": np.mean(_softplus(-real)) + np.mean(_softplus(fake)),
    }
    got = model.terms(ops.convert_to_tensor(x1), ops.convert_to_tensor(x2),
                      ops.convert_to_tensor(mask))
    for key, value in expected.items():
        assert float(_np(got[key])) == pytest.approx(value, rel=1e-4, abs=1e-6), key
    np.testing.assert_allclose(_np(got["x3"]), x3, atol=1e-5)
    # The generator phase's loss is the weighted sum of the same terms.
    assert model.reconstruction_weight == 10 and model.cycle_weight == 10
    assert model.classifier_weight == 1 and model.adversarial_weight == 1


@pytest.mark.backends
def test_each_phase_moves_only_its_own_weights():
    x = _images(16)
    model = MixingAutoEncoder.variant("mix_c_g", **TINY, seed=0)
    phases = {p.name: {v.path for v in p.variables} for p in model.phases()}
    assert list(phases) == ["generator", "classifier", "discriminator"]
    nets = {"generator": model.encoder.trainable_variables + model.decoder.trainable_variables,
            "classifier": model.classifier.trainable_variables,
            "discriminator": model.discriminator.trainable_variables}
    assert phases == {k: {v.path for v in vs} for k, vs in nets.items()}
    # Frozen generator (lr 0): C and D move, the encoder and decoder do not, although
    # the classifier and discriminator losses read the decoder's mixes.
    model.compile(optimizer={"generator": keras.optimizers.SGD(0.0),
                             "classifier": keras.optimizers.Adam(1e-2),
                             "discriminator": keras.optimizers.Adam(1e-2)}, **_compile_kwargs())
    e0, d0 = _weights(model.encoder), _weights(model.decoder)
    c0, s0 = _weights(model.classifier), _weights(model.discriminator)
    history = model.fit(x, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert not _changed(e0, model.encoder) and not _changed(d0, model.decoder)
    assert _changed(c0, model.classifier) and _changed(s0, model.discriminator)
    assert {int(o.iterations) for o in model.phase_optimizers.values()} == {2}
    for key in ("rec", "rec_cycle", "cls", "adv", "cls_acc", "real_logits", "loss"):
        assert np.isfinite(history.history[key][0]), key
    # Frozen C: the generator's loss has C's BCE in it, yet only the generator
    # optimizer's variables (and D's) move.
    model = MixingAutoEncoder.variant("mix_c_g", **TINY, seed=0)
    model.compile(optimizer={"generator": keras.optimizers.Adam(1e-2),
                             "classifier": keras.optimizers.SGD(0.0),
                             "discriminator": keras.optimizers.SGD(0.0)}, **_compile_kwargs())
    e0, c0, s0 = _weights(model.encoder), _weights(model.classifier), _weights(model.discriminator)
    model.fit(x, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert _changed(e0, model.encoder)
    assert not _changed(c0, model.classifier) and not _changed(s0, model.discriminator)


@pytest.mark.backends
def test_variants_input_contract_and_round_trip(tmp_path):
    assert [p.name for p in MixingAutoEncoder.variant("mix", **TINY).phases()] == ["generator"]
    assert [p.name for p in MixingAutoEncoder.variant("mix_c", **TINY).phases()] == [
        "generator", "classifier"]
    assert [p.name for p in MixingAutoEncoder.variant("mix_g", **TINY).phases()] == [
        "generator", "discriminator"]
    with pytest.raises(ValueError, match="variant"):
        MixingAutoEncoder.variant("mix_x")
    with pytest.raises(ValueError, match="num_chunks"):
        MixingAutoEncoder(**{**TINY, "num_chunks": 1})
    keras.utils.set_random_seed(2)
    model = MixingAutoEncoder.variant("mix_c_g", **TINY, seed=3)
    raw = np.rint(_images(4)).astype("uint8")
    codes = _np(model.encode(raw))
    assert codes.shape == (4, 6)
    # uint8, float 0..255, and no channel axis: the same codes.
    np.testing.assert_allclose(_np(model.encode(raw.astype("float32"))), codes, atol=1e-6)
    np.testing.assert_allclose(_np(model.encode(raw[..., 0])), codes, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        model.encode(np.zeros((2, 9, 8, 1), "float32"))
    with pytest.raises(ValueError, match="scaled"):
        model.encode(raw / 255.0)  # images already in [0, 1]
    with pytest.raises(ValueError, match="chunk"):
        model.transfer(raw, raw, 3)
    # transfer(x, s, i) decodes x's code with chunk i from s.
    f_x, f_s = codes, _np(model.encode(raw[::-1]))
    swapped = f_x.copy()
    swapped[:, 2:4] = f_s[:, 2:4]
    np.testing.assert_allclose(_np(model.transfer(raw, raw[::-1], 1)),
                               _np(model.decode(swapped.astype("float32"))), atol=1e-5)
    mask = np.array([[1, 0, 1]] * 4, "float32")
    loaded = run_serialization_test(
        model, lambda m: {"codes": m.encode(raw), "mix": m.mix(raw, raw[::-1], mask)}, tmp_path,
        serving_inputs=[raw.astype("float32")])
    assert loaded.num_chunks == 3 and loaded.classifier_weight == 1.0


def test_chunk_scores_find_the_informative_chunk():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    codes = rng.normal(size=(400, 3 * 2))
    codes[:, 2:4] += 4.0 * np.stack([y % 2, y // 2], 1)
    scores = chunk_scores(codes[:300], y[:300], codes[300:], y[300:], num_chunks=3)
    assert scores["best_chunk"] == 1 and scores["probe_accuracy"][1] > 0.95
    assert scores["probe_accuracy"][0] < 0.5 and scores["nn_map"][1] > 0.9
    assert scores["nn_map"][0] < 0.4 and scores["chance_nn_map"] == pytest.approx(0.25, abs=0.05)
    # Hand-computed AP: labels [0, 0, 1] on a line; query 0 ranks 1 (hit) then 2.
    feats = np.array([[0.0], [1.0], [3.0]])
    # q0: [1 (rel), 2] -> AP 1; q1: [0 (rel), 2] -> 1; q2: [1, 0], no relevant: left out.
    assert nearest_neighbour_map(feats, np.array([0, 0, 1])) == pytest.approx(1.0)
    # labels [0, 1, 0]: q0 ranks 1 then 2 (rel) -> 1/2; q2 ranks 1 then 0 (rel) -> 1/2.
    assert nearest_neighbour_map(feats, np.array([0, 1, 0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="chunks"):
        chunk_scores(codes[:, :5], y, codes[:, :5], y, num_chunks=3)


def test_shipped_mixing_mnist_preset_reconstructs_and_transfers(shared_data_dir):
    import lrep_zoo
    from lrep_zoo.applications import registry

    x = np.load(shared_data_dir / "mnist" / "mnist_test_full.npz")["x_test"][:200]
    model = lrep_zoo.applications.MixingAutoEncoder(weights="mnist")  # sha256-checked
    assert registry.get_preset("mixing_mnist").model == "MixingAutoEncoder"
    assert model.num_chunks == 8 and model.uses_classifier and model.uses_adversarial
    # The card's test MSE is 0.0336 on 1,000 test images; an untrained decoder is ~0.2.
    mse = float(np.mean((_np(model.reconstruct(x)) - x.reshape(-1, 28, 28, 1) / 255.0) ** 2))
    assert mse < 0.045
    codes = _np(model.encode(x))  # (N, 28, 28) uint8, no channel axis
    assert codes.shape == (200, 64)
    swapped = _np(model.transfer(x[:4], x[4:8], 4))
    assert swapped.shape == (4, 28, 28, 1) and 0.0 <= swapped.min() and swapped.max() <= 1.0


def test_mixing_yaleb_recipe_smoke(shared_data_dir, tmp_path):
    """The Yale-B recipe end to end on a handful of faces: trained (the test MSE is
    below the same seed's untrained model's), a factor scored per chunk, a grid."""
    from lrep_zoo.models.mixing import experiment as ex
    from lrep_zoo.recipes import mixing_yaleb

    out = tmp_path / "yaleb"
    argv = ["--data-dir", str(shared_data_dir), "--output-dir", str(out), "--variants", "mix",
            "--epochs", "8", "--train-images", "96", "--eval-images", "64", "--grid-pairs", "2",
            "--filters", "8", "16", "--factors", "identity", "--verbose", "0"]
    metrics = mixing_yaleb.main(argv)
    config = mixing_yaleb.Config(data_dir=str(shared_data_dir), filters=[8, 16])
    data = ex.yaleb_mixing_data(shared_data_dir, config.resolution)
    keras.utils.set_random_seed(0)
    untrained = mixing_yaleb.build_model(config, "mix", 0, data["test"]["image"].shape[1:])
    untrained_mse = ex.reconstruction_mse(untrained, data["test"]["image"][:64])
    (run,) = metrics["runs"]
    scores = run["scores"]
    assert run["variant"] == "mix" and run["steps"] == 8 * 3
    assert metrics["image_shape"] == [24, 20, 1] and metrics["images"] == {"train": 96, "test": 64}
    assert scores["test_mse"] < 0.7 * untrained_mse, (scores["test_mse"], untrained_mse)
    assert set(scores["factors"]) == {"identity"}  # --factors: the probes are the slow part
    for factor in scores["factors"].values():
        assert len(factor["probe_accuracy"]) == len(factor["nn_map"]) == 8
    assert (out / "mix_seed0" / "transfer_grid.png").stat().st_size > 0
    assert "identity: per chunk" in (out / "table.md").read_text()
    with pytest.raises(ValueError, match="resolution"):
        ex.yaleb_images(data["test"]["image"][:1], "32x32")
