"""Siamese networks: losses against NumPy, the pair sampler, training, round trips."""

import keras
import numpy as np
import pytest

from lrep_zoo.data.pairs import PairBatches, sample_pairs, sample_triplets
from lrep_zoo.models.siamese import Siamese, WeightedL1Similarity, experiment, losses
from roundtrip import run_serialization_test

A = np.array([[1.0, 2.0, -1.0], [0.5, -0.5, 2.0], [3.0, 0.0, 1.0], [-1.0, -1.0, 0.5]], "float32")
B = np.array([[2.0, 1.0, 0.0], [-0.5, 0.5, -2.0], [1.0, 1.0, 1.0], [1.0, 0.5, 0.5]], "float32")
SAME = np.array([1.0, 0.0, 0.0, 1.0], "float32")


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _cos_reference(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.backends
@pytest.mark.parametrize("margin", [0.0, -0.2, 0.5])
def test_cosine_contrastive_loss_matches_numpy(margin):
    cos = _cos_reference(A, B)
    np.testing.assert_allclose(_np(losses.cosine_similarity(A, B)), cos, rtol=1e-5)
    expected = np.where(SAME == 1, 0.25 * (1 - cos) ** 2, np.where(cos >= margin, cos**2, 0.0))
    got = _np(losses.cosine_contrastive_loss(losses.cosine_similarity(A, B), SAME, margin))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    # cos(A[1], B[1]) = -1: a dissimilar pair that costs only when the margin is below it.
    assert got[1] == pytest.approx(1.0 if margin <= -1.0 else 0.0, abs=1e-6)


@pytest.mark.backends
def test_koch_head_and_loss_match_numpy():
    head = WeightedL1Similarity(seed=0)
    logits = _np(head(A, B))
    alpha, bias = _np(head.alpha), float(_np(head.bias))
    np.testing.assert_allclose(logits, (alpha * np.abs(A - B)).sum(1) + bias, rtol=1e-5)
    p = 1 / (1 + np.exp(-logits))
    expected = -(SAME * np.log(p) + (1 - SAME) * np.log(1 - p))
    np.testing.assert_allclose(_np(losses.koch_loss(p, SAME)), expected, rtol=1e-5)
    # Broadcasting: every row of A against every row of B.
    matrix = _np(head(A[:, None], B[None]))
    np.testing.assert_allclose(matrix[2, 1], (alpha * np.abs(A[2] - B[1])).sum() + bias, rtol=1e-5)


def test_sampler_is_balanced_and_deterministic():
    labels = np.concatenate([np.repeat(np.arange(4), 5), np.repeat([4], 40)])  # one big class
    i, j, same = sample_pairs(labels, 4000, np.random.default_rng(0))
    assert same.mean() == 0.5
    assert np.all((labels[i] == labels[j]) == (same == 1)) and np.all(i != j)
    # Classes count alike: the big class is in ~1/5 of the similar pairs, not 2/3.
    assert abs(np.mean(labels[i][same == 1] == 4) - 0.2) < 0.03
    again = sample_pairs(labels, 4000, np.random.default_rng(0))
    assert all(np.array_equal(x, y) for x, y in zip((i, j, same), again))
    a, p, n = sample_triplets(labels, 500, np.random.default_rng(1))
    assert np.all(labels[a] == labels[p]) and np.all(a != p) and np.all(labels[a] != labels[n])

    images = np.arange(len(labels), dtype="float32")[:, None, None, None] * np.ones((1, 2, 2, 1))
    batches = PairBatches(images, labels, batch_size=10, steps_per_epoch=3, seed=7)
    (x1, x2), s1 = batches[1]
    assert x1.shape == (10, 2, 2, 1) and s1.sum() == 5
    assert np.all((labels[x1[:, 0, 0, 0].astype(int)] == labels[x2[:, 0, 0, 0].astype(int)]) == s1)
    (y1, _), _ = PairBatches(images, labels, batch_size=10, steps_per_epoch=3, seed=7)[1]
    np.testing.assert_array_equal(x1, y1)
    batches.on_epoch_end()
    assert not np.array_equal(batches[1][0][0], x1)  # a new epoch draws new pairs


def test_bad_inputs_are_clear():
    with pytest.raises(ValueError, match="two classes"):
        sample_pairs(np.zeros(5, int), 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least two images"):
        sample_pairs(np.arange(5), 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="differ in length"):
        PairBatches(np.zeros((4, 2, 2, 1)), np.arange(3))
    with pytest.raises(ValueError, match="integer class labels"):
        sample_pairs(np.array([0.5, 1.5]), 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="loss"):
        Siamese((8, 8, 1), loss="triplet")
    model = Siamese((8, 6, 1), embedding_dim=4, filters=(4,))
    with pytest.raises(ValueError, match=r"shape \(N, 8, 6, 1\)"):
        model.embed(np.zeros((2, 6, 8, 1)))
    with pytest.raises(ValueError, match="already scaled"):
        model.similarity(np.full((2, 8, 6), 0.5), np.full((2, 8, 6), 0.5))
    with pytest.raises(ValueError, match="one image per class"):
        experiment.one_shot_accuracy(np.eye(2), [0, 1], [0, 0], n_way=2)


def test_one_shot_accuracy():
    sim = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.9], [0.0, 0.1, 0.7]])
    assert experiment.one_shot_accuracy(sim, [0, 1, 2], [0, 1, 2], n_way=3) == pytest.approx(2 / 3)
    # 2-way: query 1 loses only against support 2 (one of its two distractors).
    acc = experiment.one_shot_accuracy(sim, [0, 1, 2], [0, 1, 2], n_way=2, trials=400)
    assert acc == pytest.approx((1 + 0.5 + 1) / 3, abs=0.05)


def _toy_faces(n_per_class=6, classes=4, seed=0):
    """Class c is a bright square at position c, on noise; uint8 without channel axis."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 60, (classes * n_per_class, 12, 10)).astype("float32")
    y = np.repeat(np.arange(classes), n_per_class)
    for k, c in enumerate(y):
        x[k, 2 * c:2 * c + 4, 2:8] += 180
    return x.astype("uint8"), y


@pytest.mark.backends
@pytest.mark.parametrize("loss", ["cosine", "koch"])
def test_training_steps_move_the_right_weights_and_lower_the_loss(loss):
    x, y = _toy_faces()
    keras.utils.set_random_seed(0)
    model = Siamese((12, 10, 1), embedding_dim=8, loss=loss, filters=(4,), seed=0)
    # jit-compiled on JAX (eager JAX is slow); TF runs tf.function without XLA (the
    # recipes train with XLA) and torch eagerly (torch.compile takes minutes here).
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  jit_compile=keras.backend.backend() == "jax")
    variables = {v.path: v for v in model.trainable_variables}
    before = {p: _np(v).copy() for p, v in variables.items()}
    pairs = PairBatches(x, y, batch_size=16, steps_per_epoch=3, seed=0)
    (a, b), same = pairs[0]
    start = float(_np(model.compute_loss(y=same, y_pred=model((a, b)))))
    model.fit(pairs, epochs=1, verbose=0)
    moved = {p for p, v in before.items() if not np.allclose(_np(variables[p]), v)}
    # Koch's |f(x) - f(x')| cancels the bias of f's last layer: it gets no gradient.
    frozen = {"embedding_code/bias"} if loss == "koch" else set()
    assert moved == set(before) - frozen
    assert any("alpha" in p for p in moved) == (loss == "koch")
    end = float(_np(model.compute_loss(y=same, y_pred=model((a, b)))))
    assert end < start
    # One shared encoder: a pair of identical images is as similar as can be.
    s = _np(model.similarity(x[:3], x[:3]))
    assert np.all(s >= _np(model.similarity(x[:3], x[-3:])) - 1e-6)


@pytest.mark.backends
@pytest.mark.parametrize("loss", ["cosine", "koch"])
def test_round_trip(loss, tmp_path):
    x, _ = _toy_faces()
    keras.utils.set_random_seed(0)
    model = Siamese((12, 10, 1), embedding_dim=8, loss=loss, filters=(4,), seed=0)
    a = x[:3, ..., None].astype("float32")
    b = x[3:6, ..., None].astype("float32")

    def outputs(m):
        return {"similarity": m.similarity(a, b), "embed": m.embed(x[:3])}

    # The SavedModel export (the slow part) once, for the model with the extra head.
    serving = None if keras.backend.backend() == "torch" or loss == "cosine" else [a, b]
    loaded = run_serialization_test(model, outputs, tmp_path, serving_inputs=serving)
    assert loaded.loss_name == loss
    folder = model.save_to_preset(tmp_path / "preset")
    np.testing.assert_allclose(_np(Siamese.from_preset(folder).similarity(a, b)),
                               _np(model.similarity(a, b)), rtol=1e-5)


def test_siamese_yaleb_preset_identifies_unseen_faces(shared_data_dir):
    """The shipped preset reproduces its card's 10-way one-shot score on identities 28-37."""
    import lrep_zoo
    from lrep_zoo.data import yaleb

    model = lrep_zoo.applications.Siamese(weights="yaleb")
    task = experiment.yaleb_one_shot(yaleb.load_yaleb_npz(shared_data_dir, "48x42"))
    queries = task["query"]["image"][..., 0]  # uint8, no channel axis
    supports = task["support"]["image"][..., 0]
    labels = task["query"]["identity"], task["support"]["identity"]
    sim = experiment.siamese_similarity(model, queries, supports)
    accuracy = experiment.one_shot_accuracy(sim, *labels, n_way=10)
    pixels = experiment.one_shot_accuracy(
        experiment.pixel_similarity(queries, supports, standardize=True), *labels, n_way=10)
    assert accuracy == pytest.approx(0.7841, abs=0.005)  # MODEL_CARD.md, seed 0
    assert accuracy > pixels + 0.2
