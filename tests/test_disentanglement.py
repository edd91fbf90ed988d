"""Disentanglement metrics (MIG, SAP, DCI, beta-VAE, FactorVAE) and factor-aware sources.

Validation on synthetic codes whose answer is known (the factors themselves, rotations,
two factors in one dimension, noise), comparisons with references written here in plain
NumPy, and one pipeline test per backend (a random Keras encoder on relit surfaces).
The metrics are NumPy / scikit-learn, so only that last test is marked `backends`.
"""

import sys

import numpy as np
import pytest

from lrep_zoo.data import relit
from lrep_zoo.data.factors import ArrayFactorSource, RelitFactors, yaleb_factors
from lrep_zoo.metrics import disentanglement as dis
from lrep_zoo.metrics import (beta_vae_score, dci, dci_from_importance, factor_vae_score, mig,
                              mutual_information, sap, sap_score_matrix)

pytest.importorskip("sklearn", reason="scikit-learn (the [metrics] extra) is not installed")

VALUES = 4  # per factor: the linear SVM of SAP handles up to about 4 classes per dimension


def _codes(case, z, seed=0):
    """Synthetic codes from standardised factors z (N, 3)."""
    n = len(z)
    if case == "factors":
        return z
    if case == "rotation":  # a random rotation: every dimension mixes every factor
        q, _ = np.linalg.qr(np.random.default_rng(seed + 1).normal(size=(3, 3)))
        return z @ q
    if case == "rotation45":  # factors 0 and 1 rotated by 45 degrees, factor 2 alone
        return np.stack([(z[:, 0] + z[:, 1]), (z[:, 0] - z[:, 1]), np.sqrt(2) * z[:, 2]], 1) / np.sqrt(2)
    if case == "merged":  # two factors in one dimension, a noise dimension
        return np.stack([z[:, 0] + z[:, 1], z[:, 2], np.random.default_rng(seed + 2).normal(size=n)], 1)
    if case == "noise":
        return np.random.default_rng(seed + 3).normal(size=(n, 3))
    raise ValueError(case)


def _factors(n, seed=0, values=VALUES):
    f = np.random.default_rng(seed).integers(0, values, (n, 3))
    return f, (f - (values - 1) / 2) / np.std(np.arange(values))


CASES = ("factors", "rotation", "rotation45", "merged", "noise")


# ------------------------------------------------------------------ known answers
def test_mig_known_answers():
    f, z = _factors(10000)  # disentanglement_lib's 10,000 points
    scores = {case: mig(_codes(case, z), f) for case in CASES}
    assert scores["factors"] > 0.99
    assert scores["rotation"] < 0.5 and scores["rotation45"] < 0.4
    # f0 + f1 in one dimension: I(f0; f0 + f1) / H(f0) = 0.33 for f0 and f1, 1 for f2.
    assert abs(scores["merged"] - (2 * 0.328 + 1) / 3) < 0.01
    assert scores["noise"] < 0.01


def test_sap_known_answers():
    f, z = _factors(3000)
    scores = {case: sap(_codes(case, z), f) for case in CASES}
    # Accuracy scores: an unrelated dimension still gets the majority rate, so the
    # factors themselves score about 1 - 1 / VALUES.
    assert scores["factors"] > 1 - 1 / VALUES - 0.03
    assert max(scores["rotation"], scores["rotation45"], scores["merged"]) < 0.45
    assert scores["noise"] < 0.05


def test_sap_threshold_classifier_handles_many_values():
    f, z = _factors(3000, values=10)
    # disentanglement_lib's one-vs-rest linear SVM cannot cut 10 classes out of a line...
    assert sap(z, f) < 0.3
    # ...thresholds can; noise stays near zero.
    assert sap(z, f, discrete_classifier="threshold") > 0.85
    assert sap(_codes("noise", z), f, discrete_classifier="threshold") < 0.05


def test_sap_continuous_factors_use_r2():
    rng = np.random.default_rng(0)
    f = rng.uniform(-1, 1, (1500, 2))
    s = sap_score_matrix(f, f)
    np.testing.assert_allclose(np.diag(s), 1.0)
    assert sap(f, f) > 0.99 and sap(rng.normal(size=(1500, 2)), f) < 0.02


@pytest.fixture(scope="module")
def dci_scores():
    f, z = _factors(900)  # gradient-boosted trees cost the same per tree at 900 or 15,000 points
    return {case: dci(_codes(case, z), f) for case in CASES}


def test_dci_known_answers(dci_scores):
    scores = dci_scores
    assert scores["factors"]["disentanglement"] > 0.95 and scores["factors"]["completeness"] > 0.95
    assert scores["factors"]["informativeness"] > 0.99
    for case in ("rotation", "rotation45"):
        assert scores[case]["disentanglement"] < 0.7 and scores[case]["completeness"] < 0.7
        assert scores[case]["informativeness"] > 0.9  # a rotation keeps the information
    # Dimension 0 serves two factors, and f0 + f1 loses information (the trees then
    # also split on the noise dimension, which costs completeness).
    assert scores["merged"]["disentanglement"] < 0.7 and scores["merged"]["completeness"] < 0.7
    assert scores["merged"]["informativeness"] < 0.8
    assert scores["noise"]["disentanglement"] < 0.1 and scores["noise"]["completeness"] < 0.1
    assert abs(scores["noise"]["informativeness"] - 1 / VALUES) < 0.05


def test_dci_lasso_importance():
    rng = np.random.default_rng(0)
    f = rng.uniform(-1, 1, (1500, 3))
    good = dci(f + 0.05 * rng.normal(size=f.shape), f, importance="lasso")
    assert good["disentanglement"] > 0.95 and good["informativeness"] > 0.95
    mixed = dci(_codes("rotation", f), f, importance="lasso")
    assert mixed["disentanglement"] < good["disentanglement"] - 0.3


def test_continuous_factors_are_binned():
    source = RelitFactors(num_identities=4, size=16)
    _, f = source.sample(2000, np.random.default_rng(0))
    np.testing.assert_array_equal(dis.continuous_factors(f), [False, True, True])
    assert mig(f, f) > 0.95  # codes = factors, continuous factors in 20 bins
    # Declared, not detected: azimuth as a discrete factor has as many values as points.
    m = mutual_information(f, f, continuous=[False, True, True])
    assert m.shape == (3, 3) and m[1, 1] > m[0, 1]


# ------------------------------------------------------------------ references in plain NumPy
def _reference_mig(codes, factors, bins=20):
    """MIG written from methods.md: floor-binned codes, counts, plug-in entropies."""
    def entropy(counts):
        p = counts[counts > 0] / counts.sum()
        return -np.sum(p * np.log(p))

    d = codes.shape[1]
    lo, hi = codes.min(0), codes.max(0)
    binned = np.minimum(((codes - lo) / (hi - lo) * bins).astype(int), bins - 1)
    gaps = []
    for v in factors.T:
        values = np.unique(v)
        h_v = entropy(np.array([np.sum(v == x) for x in values]))
        mi = []
        for j in range(d):
            joint = np.zeros((bins, len(values)))
            for b, x in zip(binned[:, j], np.searchsorted(values, v)):
                joint[b, x] += 1
            mi.append(entropy(joint.sum(1)) + h_v - entropy(joint.ravel()))
        top = sorted(mi, reverse=True)
        gaps.append((top[0] - top[1]) / h_v)
    return np.mean(gaps)


def _reference_dci(r):
    """disentanglement_lib's disentanglement / completeness (epsilon 1e-11, as scipy.stats.entropy)."""
    def one_minus_entropy(p, base):  # columns are distributions
        p = p + 1e-11
        p = p / p.sum(0)
        return 1.0 + np.sum(p * np.log(p), 0) / np.log(base)

    d = np.sum(one_minus_entropy(r.T, r.shape[1]) * r.sum(1) / r.sum())
    c = np.sum(one_minus_entropy(r, r.shape[0]) * r.sum(0) / r.sum())
    return d, c


@pytest.mark.parametrize("case", CASES)
def test_mig_matches_numpy_reference(case):
    f, z = _factors(2000, seed=1)
    codes = _codes(case, z, seed=1)
    assert abs(mig(codes, f) - _reference_mig(codes, f)) < 1e-10


def test_mutual_information_matches_sklearn():
    from sklearn.metrics import mutual_info_score

    f, z = _factors(2000, seed=2)
    codes = _codes("rotation", z)
    binned = dis.discretize(codes)
    expected = np.array([[mutual_info_score(v, c) for v in f.T] for c in binned.T])
    np.testing.assert_allclose(mutual_information(codes, f), expected, atol=1e-12)


def test_dci_matches_reference_on_importance_matrices(dci_scores):
    rng = np.random.default_rng(0)
    matrices = [rng.uniform(size=(5, 3)), rng.uniform(size=(3, 4)) ** 8, np.eye(3), np.ones((4, 2))]
    for r in matrices + [dci_scores[case]["importance"] for case in CASES]:
        expected = _reference_dci(r)
        got = dci_from_importance(r)
        # The reference's epsilon moves the result by < 1e-9; completeness is a plain mean
        # here, the importance-weighted one there: equal when columns sum alike.
        assert abs(got["disentanglement"] - expected[0]) < 1e-8
        if np.allclose(r.sum(0), r.sum(0)[0]):
            assert abs(got["completeness"] - expected[1]) < 1e-8


def test_sap_continuous_matches_numpy_reference():
    rng = np.random.default_rng(0)
    f = rng.uniform(size=(1200, 3))
    codes = f @ rng.normal(size=(3, 4)) + 0.3 * rng.normal(size=(1200, 4))
    s = sap_score_matrix(codes, f)
    order = np.random.default_rng(0).permutation(1200)[:800]  # the seeded 2/3 training split
    r2 = np.corrcoef(codes[order].T, f[order].T)[:4, 4:] ** 2
    np.testing.assert_allclose(s, r2, atol=1e-10)
    top = np.sort(r2, 0)
    assert abs(sap(codes, f) - np.mean(top[-1] - top[-2])) < 1e-10


def _reference_factor_vae(encode_fn, source, batch_size, num_train, num_eval, num_var, seed, chunk):
    """FactorVAE metric written from methods.md and the documented order of draws."""
    rng = np.random.default_rng(seed)
    images = [source.sample(min(chunk, num_var - s), rng)[0] for s in range(0, num_var, chunk)]
    var = np.var(encode_fn(np.concatenate(images)), axis=0, ddof=1)
    active = np.sqrt(var) >= 0.05

    def votes(num):
        table = np.zeros((source.num_factors, len(var)), dtype=int)
        for _ in range(num):
            k = rng.integers(source.num_factors)
            codes = encode_fn(source.fixed_factor_batch(k, batch_size, rng)[0])
            ratio = np.where(active, np.var(codes, axis=0, ddof=1) / var, np.inf)
            table[k, np.argmin(ratio)] += 1
        return table

    train = votes(num_train)
    evals = votes(num_eval)
    majority = train.argmax(0)  # dimension -> the factor that voted for it most
    correct = sum(evals[majority[j], j] for j in range(len(var)))
    return correct / evals.sum()


def _noisy_factor_source(n=5000, noise=(1.5, 1.2, 0.9), seed=0):
    """Images are [factors, noise]: `encode = factors + noise * scale` is deterministic."""
    f, z = _factors(n, seed)
    e = np.random.default_rng(seed + 10).normal(size=(n, 3)) * np.array(noise)
    source = ArrayFactorSource(np.concatenate([z, e], 1), f)
    return source, lambda x: x[:, :3] + x[:, 3:]


def test_factor_vae_matches_numpy_reference():
    source, encode = _noisy_factor_source()
    # A dimension of its own per factor, noisy enough for about one vote in four to go astray,
    # plus a fourth dimension that mixes everything (the reference must handle it the same).
    def encode4(x):
        return np.concatenate([encode(x), x[:, :3].sum(1, keepdims=True)], 1)

    args = dict(batch_size=16, num_train=600, num_eval=300, seed=3)
    got = factor_vae_score(encode4, source, num_variance_estimate=1000, encode_batch_size=256, **args)
    expected = _reference_factor_vae(encode4, source, 16, 600, 300, 1000, 3, 1000)
    assert 0.3 < expected < 0.95  # not a trivial score
    assert got["eval_accuracy"] == pytest.approx(expected, abs=1e-12)
    # The encoding batch size does not change the result.
    again = factor_vae_score(encode4, source, num_variance_estimate=1000, encode_batch_size=100, **args)
    assert again == got


# ------------------------------------------------------------------ intervention-based
def _grid_source():
    grid = np.stack(np.meshgrid(*[np.arange(VALUES)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return ArrayFactorSource((grid - (VALUES - 1) / 2) / np.std(np.arange(VALUES)), grid)


def _encoders():
    noise = np.random.default_rng(7)
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    return {
        "factors": lambda x: x,
        "rotation": lambda x: x @ q,
        "rotation45": lambda x: _codes("rotation45", x),
        "merged": lambda x: np.stack([x[:, 0] + x[:, 1], x[:, 2], noise.normal(size=len(x))], 1),
        "noise": lambda x: noise.normal(size=x.shape),
    }


def test_beta_vae_and_factor_vae_known_answers():
    source = _grid_source()
    beta, fvae = {}, {}
    for case, encode in _encoders().items():
        beta[case] = beta_vae_score(encode, source, num_train=1000, num_eval=500)["eval_accuracy"]
        fvae[case] = factor_vae_score(encode, source, num_train=1000, num_eval=500,
                                      num_variance_estimate=2000)["eval_accuracy"]
    for scores in (beta, fvae):
        assert scores["factors"] > 0.99
        # Factors 0 and 1 become indistinguishable: two factors out of three are guessed.
        assert scores["rotation45"] < 0.75 and scores["merged"] < 0.75
        assert abs(scores["noise"] - 1 / 3) < 0.06  # chance
    # Known blind spot (Kim & Mnih 2018): a linear classifier on |z1 - z2| separates the
    # factors of a generic rotation as well as of the factors themselves.
    assert beta["rotation"] > 0.95


def test_factor_vae_prunes_collapsed_dimensions():
    source = _grid_source()
    def collapsed(x):  # a fourth dimension with std 1e-3 < 0.05
        return np.concatenate([x, 1e-3 * x[:, :1]], 1)

    scores = factor_vae_score(collapsed, source, num_train=200, num_eval=100, num_variance_estimate=500)
    assert scores["num_active_dims"] == 3 and scores["eval_accuracy"] > 0.99
    dead = factor_vae_score(lambda x: 1e-3 * x, source, num_train=10, num_eval=10, num_variance_estimate=50)
    assert dead == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_intervention_metrics_are_seeded():
    source = RelitFactors(num_identities=3, size=16)

    def encode(x):
        return x.reshape(len(x), -1)[:, ::37] / 255.0

    args = dict(batch_size=8, num_train=40, num_eval=20)
    assert beta_vae_score(encode, source, seed=1, **args) == beta_vae_score(encode, source, seed=1, **args)
    first = factor_vae_score(encode, source, num_variance_estimate=100, seed=1, **args)
    assert first == factor_vae_score(encode, source, num_variance_estimate=100, seed=1,
                                     encode_batch_size=7, **args)


# ------------------------------------------------------------------ errors
def test_clear_errors():
    f, z = _factors(100)
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        mig(z[:, 0], f)
    with pytest.raises(ValueError, match=r"factors\[:, None\]"):
        mig(z, f[:, 0])
    with pytest.raises(ValueError, match="differ in N"):
        dci(z, f[:50])
    with pytest.raises(ValueError, match="too few points"):
        sap(z[:3], f[:3])
    with pytest.raises(ValueError, match="at least 2 code dimensions"):
        mig(z[:, :1], f)
    with pytest.raises(ValueError, match="single value"):
        mig(z, np.zeros((100, 2)))
    with pytest.raises(ValueError, match="NaN"):
        mig(np.full((100, 3), np.nan), f)
    with pytest.raises(ValueError, match="2 flags"):
        dis.continuous_factors(f[:, :2], [True, False, True])
    with pytest.raises(ValueError, match="both test_codes and test_factors"):
        dci(z, f, test_codes=z)
    with pytest.raises(ValueError, match="factor source"):
        beta_vae_score(lambda x: x, object())
    with pytest.raises(ValueError, match=r"\(N, D\) codes"):
        factor_vae_score(lambda x: x[:, 0], _grid_source(), num_train=1, num_eval=1, num_variance_estimate=4)
    with pytest.raises(ValueError, match="batch_size"):
        beta_vae_score(lambda x: x, _grid_source(), batch_size=1)


def test_import_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn` now raises ImportError
    f, z = _factors(1000)
    with pytest.raises(ImportError, match=r'pip install "lrep-zoo\[metrics\]"'):
        dci(z, f)
    with pytest.raises(ImportError, match=r'pip install "lrep-zoo\[metrics\]"'):
        sap(z, f)
    # NumPy-only metrics keep working.
    assert mig(z, f) > 0.99
    assert sap(z, f, discrete_classifier="threshold") > 0.7


# ------------------------------------------------------------------ factor sources
def test_relit_factors_render_the_dataset_identities():
    kwargs = dict(num_identities=3, images_per_pair=2, size=32, seed=1)
    data = relit.relit_surfaces(**kwargs)["test"]
    source = RelitFactors(noise=0.0, **kwargs)
    factors = np.stack([data["identity"], data["azimuth"], data["elevation"]], 1).astype(float)
    images = source.sample_observations_from_factors(factors, np.random.default_rng(0))
    assert images.shape == data["image"].shape and images.dtype == np.uint8
    # The dataset adds pixel noise of std 0.02 (5.1 grey levels) to the same rendering.
    diff = images.astype(float) - data["image"]
    assert abs(diff.mean()) < 0.5 and 4.0 < diff.std() < 6.0


def test_relit_factors_fixed_factor_batches():
    source = RelitFactors(num_identities=4, size=16)
    assert source.factor_names == ("identity", "azimuth", "elevation") and source.num_factors == 3
    rng = np.random.default_rng(0)
    _, f = source.sample(500, rng)
    assert set(np.unique(f[:, 0])) == {0.0, 1.0, 2.0, 3.0}
    assert f[:, 1].min() >= -56 and f[:, 1].max() <= 56 and f[:, 2].min() >= -41 and f[:, 2].max() <= 41
    for k in range(3):
        images, values = source.fixed_factor_batch(k, 32, rng)
        assert images.shape == (32, 16, 16, 1)
        assert np.all(values[:, k] == values[0, k])
        assert all(len(np.unique(values[:, j])) > 1 for j in range(3) if j != k)
    first, second = source.sample_pairs(1, 10, rng)
    assert first.shape == second.shape == (10, 16, 16, 1)
    with pytest.raises(ValueError, match="factor_index"):
        source.fixed_factor_batch(3, 4, rng)


def test_array_factor_source_lookups():
    rng = np.random.default_rng(0)
    f = np.stack([rng.integers(0, 5, 400), rng.uniform(0, 1, 400)], 1)
    source = ArrayFactorSource(np.arange(400), f, ("a", "b"))
    assert source.continuous == (False, True)
    for _ in range(5):
        idx, values = source.fixed_factor_batch(0, 16, rng)
        assert np.all(f[idx, 0] == values[0, 0])
        idx, values = source.fixed_factor_batch(1, 16, rng)  # continuous: the same of 20 bins
        assert np.ptp(values[:, 1]) <= 1 / 20 + 1e-9
    first, second = source.sample_pairs(0, 50, rng)
    np.testing.assert_array_equal(f[first, 0], f[second, 0])
    with pytest.raises(ValueError, match="differ in length"):
        ArrayFactorSource(np.arange(3), f)


def test_yaleb_factors(shared_data_dir):
    source = yaleb_factors(shared_data_dir, resolution="48x42")
    assert source.images.shape == (2414, 48, 42, 1) and source.factors.shape == (2414, 3)
    assert source.factor_names == ("identity", "azimuth", "elevation")
    assert source.continuous == (False, False, False)
    assert len(np.unique(source.factors[:, 0])) == 38
    assert len(np.unique(source.factors[:, 1:], axis=0)) == 64  # light positions
    rng = np.random.default_rng(0)
    for k in range(3):
        images, values = source.fixed_factor_batch(k, 64, rng)
        assert images.shape == (64, 48, 42, 1) and np.all(values[:, k] == values[0, k])
    first, second = source.sample_pairs(0, 20, rng)
    lookup = {img.tobytes(): i for i, img in enumerate(source.images)}
    ids = source.factors[:, 0]
    assert all(ids[lookup[a.tobytes()]] == ids[lookup[b.tobytes()]] for a, b in zip(first, second))
    test_only = yaleb_factors(shared_data_dir, resolution="48x42", splits="test")
    assert len(test_only.images) == 1205


# ------------------------------------------------------------------ every backend
@pytest.mark.backends
def test_random_keras_encoder_on_relit_surfaces():
    import keras

    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([
        keras.Input((16, 16, 1)),
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(5),
    ])

    def encode(x):
        return keras.ops.convert_to_numpy(encoder(x.astype("float32")))

    source = RelitFactors(num_identities=4, size=16)
    images, factors = source.sample(600, np.random.default_rng(0))
    codes = encode(images)
    assert codes.shape == (600, 5)
    assert 0.0 <= mig(codes, factors) <= 1.0
    assert 0.0 <= sap(codes, factors) <= 1.0
    scores = dci(codes, factors, num_bins=4)  # 4 classes per light angle keep the trees few
    assert 0.0 <= scores["disentanglement"] <= 1.0 and 0.0 <= scores["completeness"] <= 1.0
    assert scores["informativeness"] > 0.3  # a random conv net keeps some information
    beta = beta_vae_score(encode, source, batch_size=16, num_train=60, num_eval=30)
    fvae = factor_vae_score(encode, source, batch_size=16, num_train=60, num_eval=30,
                            num_variance_estimate=200)
    assert 0.0 <= beta["eval_accuracy"] <= 1.0 and 0.0 <= fvae["eval_accuracy"] <= 1.0
    # The encoder's own tensors are accepted too (torch tensors that require grad included).
    raw = factor_vae_score(lambda x: encoder(x.astype("float32")), source, batch_size=16,
                           num_train=60, num_eval=30, num_variance_estimate=200)
    assert raw == fvae
