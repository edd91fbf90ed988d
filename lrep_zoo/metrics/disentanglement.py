"""Disentanglement metrics: beta-VAE, FactorVAE, MIG, SAP and DCI.

The definitions and defaults are disentanglement_lib's (Locatello et al. 2019), as
written down in `shared/docs/methods.md` section 5. Notation: codes `(N, D)`, one row
per image; ground-truth factors `(N, K)`.

Array-level metrics, on any codes:

- `mig(codes, factors)`: mutual information gap (Chen et al. 2018). NumPy only.
- `sap(codes, factors)`: separated attribute predictability (Kumar et al. 2018).
  scikit-learn for discrete factors with the default `LinearSVC`; NumPy for
  continuous factors and with `discrete_classifier="threshold"`.
- `dci(codes, factors)`: disentanglement, completeness, informativeness (Eastwood &
  Williams 2018), importances from gradient-boosted trees (default) or lasso.
  scikit-learn.

Intervention-based metrics, on an encoder and a factor source (see
`lrep_zoo.data.factors`; any object with `num_factors`, `sample`, `sample_pairs` and
`fixed_factor_batch` works):

- `beta_vae_score(encode_fn, source)` (Higgins et al. 2017). scikit-learn.
- `factor_vae_score(encode_fn, source)` (Kim & Mnih 2018). NumPy only.

Discrete and continuous factors: a factor is continuous when declared so with
`continuous=` (one flag, or one per factor) or, by default (`continuous=None`), when
its column is floating point and holds non-integer values. MIG and DCI bin continuous
factors into `num_bins` (20) equal-width bins; SAP scores them by the R^2 of a linear
fit. Every estimator is seeded with `seed`.

Example:

```python
import numpy as np
from lrep_zoo.metrics import dci, mig, sap

rng = np.random.default_rng(0)
factors = rng.integers(0, 3, (900, 3))
codes = factors + 0.1 * rng.normal(size=(900, 3))
mig(codes, factors)                        # 0.98
dci(codes, factors)["disentanglement"]     # 1.0
```
"""

from __future__ import annotations

import numpy as np

_INSTALL_HINT = 'pip install "lrep-zoo[metrics]"'


def _sklearn(metric: str):
    """Imports scikit-learn, or says which extra installs it."""
    try:
        import sklearn
    except ImportError as e:
        raise ImportError(f"{metric} needs scikit-learn: {_INSTALL_HINT}") from e
    return sklearn


# ------------------------------------------------------------------ checks and binning
def _as_codes(codes, name: str = "codes") -> np.ndarray:
    codes = _to_numpy(codes)
    if codes.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {codes.shape}.")
    if codes.shape[1] == 0:
        raise ValueError(f"{name} has no dimensions (shape {codes.shape}).")
    if not np.all(np.isfinite(codes)):
        raise ValueError(f"{name} holds NaN or infinite values.")
    return codes


def _as_factors(factors, num: int, name: str = "factors") -> np.ndarray:
    factors = np.asarray(factors)
    if factors.ndim != 2:
        raise ValueError(f"{name} must have shape (N, K), got {factors.shape} "
                         "(a single factor is `factors[:, None]`).")
    if factors.shape[1] == 0:
        raise ValueError(f"{name} has no factors (shape {factors.shape}).")
    if len(factors) != num:
        raise ValueError(f"codes and {name} differ in N: {num} vs {len(factors)}.")
    if not np.issubdtype(factors.dtype, np.number) or not np.all(np.isfinite(factors)):
        raise ValueError(f"{name} must be finite numbers.")
    return factors


def _min_points(num: int, minimum: int, what: str):
    if num < minimum:
        raise ValueError(f"too few points for {what}: {num}, need at least {minimum}.")


def continuous_factors(factors, continuous=None) -> np.ndarray:
    """Which factors count as continuous: a `(K,)` boolean array.

    Args:
        factors: `(N, K)` factor values.
        continuous: `None` (a factor is continuous when its column is floating point
            with non-integer values), one flag for all factors, or K flags.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.metrics.disentanglement import continuous_factors

    continuous_factors(np.array([[0, 0.5], [1, 2.25]]))  # array([False,  True])
    ```
    """
    factors = np.asarray(factors)
    k = factors.shape[1]
    if continuous is None:
        floating = np.issubdtype(factors.dtype, np.floating)
        return np.array([bool(floating and np.any(col != np.round(col))) for col in factors.T])
    flags = np.broadcast_to(np.asarray(continuous, dtype=bool), (k,)) if np.ndim(continuous) == 0 \
        else np.asarray(continuous, dtype=bool)
    if flags.shape != (k,):
        raise ValueError(f"continuous must be one flag or {k} flags, got {np.shape(continuous)}.")
    return flags.copy()


def discretize(values, num_bins: int = 20) -> np.ndarray:
    """Histogram discretisation of each column into `num_bins` equal-width bins.

    The bin edges are `np.histogram`'s over the column's range (disentanglement_lib's
    `histogram_discretizer`); labels are 0..num_bins-1.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.metrics.disentanglement import discretize

    discretize(np.array([[0.0], [0.5], [1.0]]), num_bins=2)[:, 0]  # array([0, 1, 1])
    ```
    """
    values = np.asarray(values, dtype=np.float64)
    if int(num_bins) != num_bins or num_bins < 2:
        raise ValueError(f"num_bins must be an integer >= 2, got {num_bins!r}.")
    out = np.empty(values.shape, dtype=np.int64)
    for j, col in enumerate(values.T):
        out[:, j] = np.digitize(col, np.histogram(col, int(num_bins))[1][:-1]) - 1
    return out


def _factor_labels(factors, continuous, num_bins) -> np.ndarray:
    """Integer labels 0..C-1 per factor: discrete values as they are, continuous binned."""
    labels = np.empty(factors.shape, dtype=np.int64)
    for k, col in enumerate(factors.T):
        if continuous[k]:
            col = discretize(col[:, None], num_bins)[:, 0]
        labels[:, k] = np.unique(col, return_inverse=True)[1].reshape(-1)
    return labels


def _check_not_constant(labels, what: str = "factors"):
    for k, col in enumerate(labels.T):
        if np.all(col == col[0]):
            raise ValueError(f"factor {k} takes a single value on the {what}: nothing to predict.")


def _split(codes, factors, test_codes, test_factors, train_fraction, seed):
    """Train and test codes/factors: the given test set, or a seeded random split."""
    if (test_codes is None) != (test_factors is None):
        raise ValueError("pass both test_codes and test_factors, or neither.")
    if test_codes is not None:
        test_codes = _as_codes(test_codes, "test_codes")
        test_factors = _as_factors(test_factors, len(test_codes), "test_factors")
        if test_codes.shape[1] != codes.shape[1]:
            raise ValueError(f"codes and test_codes differ in D: {codes.shape[1]} vs {test_codes.shape[1]}.")
        if test_factors.shape[1] != factors.shape[1]:
            raise ValueError(f"factors and test_factors differ in K: {factors.shape[1]} vs "
                             f"{test_factors.shape[1]}.")
        return codes, factors, test_codes, test_factors
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction!r}.")
    order = np.random.default_rng(seed).permutation(len(codes))
    n_train = int(np.ceil(len(codes) * train_fraction))
    train, test = order[:n_train], order[n_train:]
    return codes[train], factors[train], codes[test], factors[test]


def _to_numpy(x) -> np.ndarray:
    """NumPy float64 copy of a NumPy / TF / JAX / torch array (no backend import)."""
    if hasattr(x, "detach"):  # torch
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


# ------------------------------------------------------------------ MIG
def _mutual_info(a, b) -> float:
    """Discrete mutual information in nats of two integer label vectors."""
    n = len(a)
    nb = b.max() + 1
    joint = np.bincount(a * nb + b, minlength=(a.max() + 1) * nb).reshape(-1, nb)
    pa, pb = joint.sum(1), joint.sum(0)
    rows, cols = np.nonzero(joint)
    counts = joint[rows, cols]
    return float(np.sum(counts / n * np.log(counts * n / (pa[rows] * pb[cols]))))


def mutual_information(codes, factors, num_bins: int = 20, continuous=None) -> np.ndarray:
    """Mutual information `(D, K)` in nats between binned code dimensions and factors.

    Each code dimension is discretised into `num_bins` equal-width bins
    (`discretize`); continuous factors too, discrete ones are used as they are.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.metrics import mutual_information

    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, (1000, 2))
    mutual_information(factors.astype(float), factors)  # ~log(4) = 1.39 on the diagonal
    ```
    """
    codes = _as_codes(codes)
    factors = _as_factors(factors, len(codes))
    _min_points(len(codes), 2, "mutual information")
    labels = _factor_labels(factors, continuous_factors(factors, continuous), num_bins)
    return _mi_matrix(discretize(codes, num_bins), labels)


def _mi_matrix(binned, labels) -> np.ndarray:
    return np.array([[_mutual_info(c, v) for v in labels.T] for c in binned.T])


def mig(codes, factors, num_bins: int = 20, continuous=None) -> float:
    """Mutual information gap (Chen et al. 2018).

    `MIG = mean_k (m_(1)k - m_(2)k) / H(v_k)`: the gap between the mutual information
    of the two code dimensions most informative about factor k, normalised by the
    factor's entropy (`mutual_information`, 20 bins). 1 when each factor is in one
    dimension and nowhere else; 0 for codes independent of the factors (up to the
    plug-in estimator's positive bias, about `num_bins * C_k / (2 N H(v_k))`).
    disentanglement_lib scores 10,000 points. NumPy only.

    Args:
        codes: `(N, D)` codes, `D >= 2`.
        factors: `(N, K)` ground-truth factors.
        num_bins: Bins of the code dimensions and of continuous factors.
        continuous: Which factors are continuous (see `continuous_factors`).

    Returns:
        The MIG, a float in [0, 1].

    Example:

    ```python
    import numpy as np
    from lrep_zoo.metrics import mig

    rng = np.random.default_rng(0)
    factors = rng.integers(0, 10, (10000, 3))
    mig(factors.astype(float), factors)         # ~1.0
    mig(rng.normal(size=(10000, 3)), factors)   # ~0.0
    ```
    """
    codes = _as_codes(codes)
    if codes.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 code dimensions (a gap), got {codes.shape[1]}.")
    factors = _as_factors(factors, len(codes))
    _min_points(len(codes), 2, "MIG")
    labels = _factor_labels(factors, continuous_factors(factors, continuous), num_bins)
    _check_not_constant(labels, "points")
    m = _mi_matrix(discretize(codes, num_bins), labels)
    entropy = np.array([_mutual_info(v, v) for v in labels.T])
    top = -np.sort(-m, axis=0)
    return float(np.mean((top[0] - top[1]) / entropy))


# ------------------------------------------------------------------ SAP
def _threshold_accuracy(c_train, y_train, c_test, y_test, num_bins) -> float:
    """Test accuracy of the thresholds classifier: the training range of one code
    dimension cut into `num_bins` equal-width bins, each predicting its majority class."""
    inner = np.histogram_bin_edges(c_train, num_bins)[1:-1]
    classes, y = np.unique(y_train, return_inverse=True)
    counts = np.zeros((num_bins, len(classes)), dtype=np.int64)
    np.add.at(counts, (np.digitize(c_train, inner), y.reshape(-1)), 1)
    majority = np.where(counts.sum(1) > 0, counts.argmax(1), np.bincount(y.reshape(-1)).argmax())
    return float(np.mean(classes[majority[np.digitize(c_test, inner)]] == y_test))


def sap_score_matrix(codes, factors, continuous=None, test_codes=None, test_factors=None,
                     train_fraction: float = 2 / 3, discrete_classifier: str = "linear_svc",
                     num_bins: int = 20, seed: int = 0) -> np.ndarray:
    """SAP's score matrix `S (D, K)`: how well each code dimension alone predicts each factor.

    Discrete factors: test accuracy of a classifier on the one dimension,
    `LinearSVC(C=0.01, class_weight="balanced")` (`discrete_classifier="linear_svc"`,
    disentanglement_lib's, scikit-learn) or thresholds (`"threshold"`: `num_bins`
    equal-width bins over the training range, each predicting its majority class;
    NumPy). Continuous factors: R^2 of a linear fit on the training points,
    `cov(c_j, v_k)^2 / (var c_j var v_k)`. See `sap` for the other arguments.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.metrics import sap_score_matrix

    factors = np.random.default_rng(0).integers(0, 2, (1500, 2))
    sap_score_matrix(factors + 0.0, factors)  # 1 on the diagonal, 0.51 (chance) elsewhere
    ```
    """
    codes = _as_codes(codes)
    factors = _as_factors(factors, len(codes))
    _min_points(len(codes), 4 if test_codes is None else 2, "SAP")
    train_c, train_f, test_c, test_f = _split(codes, factors, test_codes, test_factors, train_fraction, seed)
    _min_points(min(len(train_c), len(test_c)), 2, "SAP (train and test sets)")
    flags = continuous_factors(np.concatenate([train_f, test_f]), continuous)
    if discrete_classifier not in ("linear_svc", "threshold"):
        raise ValueError(f"discrete_classifier must be 'linear_svc' or 'threshold', "
                         f"got {discrete_classifier!r}.")
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    if not flags.all() and discrete_classifier == "linear_svc":
        _sklearn("sap (discrete factors, linear_svc)")
        from sklearn import svm
    for k in range(factors.shape[1]):
        if flags[k]:
            y = train_f[:, k].astype(np.float64)
            var_y = np.var(y, ddof=1)
            if var_y <= 0:
                raise ValueError(f"factor {k} takes a single value on the training points.")
            for j, c in enumerate(train_c.T):
                var_c = np.var(c, ddof=1)
                cov = np.cov(c, y, ddof=1)[0, 1]
                scores[j, k] = cov**2 / (var_c * var_y) if var_c > 1e-12 else 0.0
            continue
        if len(np.unique(train_f[:, k])) < 2:
            raise ValueError(f"factor {k} takes a single value on the training points.")
        for j in range(codes.shape[1]):
            if discrete_classifier == "threshold":
                scores[j, k] = _threshold_accuracy(train_c[:, j], train_f[:, k], test_c[:, j], test_f[:, k],
                                                   int(num_bins))
                continue
            classifier = svm.LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
            classifier.fit(train_c[:, j:j + 1], train_f[:, k])
            scores[j, k] = np.mean(classifier.predict(test_c[:, j:j + 1]) == test_f[:, k])
    return scores


def sap(codes, factors, continuous=None, test_codes=None, test_factors=None,
        train_fraction: float = 2 / 3, discrete_classifier: str = "linear_svc",
        num_bins: int = 20, seed: int = 0) -> float:
    """Separated attribute predictability (Kumar et al. 2018).

    `SAP = mean_k (S_(1)k - S_(2)k)`, the gap between the two code dimensions that
    predict factor k best on their own (`sap_score_matrix`). High when each factor is
    predictable from one dimension only. disentanglement_lib trains on 10,000 points
    and tests on 5,000: by default the points are split at random (seeded) in that
    ratio; pass `test_codes` / `test_factors` for a given test set.

    Discrete factors are scored by accuracy, so a dimension unrelated to factor k
    still scores about its majority-class rate: for the factor itself SAP is about
    `1 - 1 / C_k` (C_k values), not 1. The default linear SVM (disentanglement_lib's)
    cannot carve more than about 4 classes out of one dimension (one-vs-rest
    hyperplanes on a line), and with C = 0.01 and liblinear's penalised intercept its
    accuracy depends on the codes' offset and on N (codes 0..3 = the factor: 0.76 at
    1,500 points, 0.99 at 10,000); `discrete_classifier="threshold"` has neither issue.

    Needs scikit-learn for discrete factors with `"linear_svc"`; continuous factors and
    `"threshold"` are NumPy only.

    Args:
        codes: `(N, D)` codes, `D >= 2`.
        factors: `(N, K)` factors.
        continuous: Which factors are continuous (see `continuous_factors`).
        test_codes, test_factors: Optional test set (else a split of the points).
        train_fraction: Fraction of the points that trains when splitting.
        discrete_classifier: `"linear_svc"` or `"threshold"` (see `sap_score_matrix`).
        num_bins: Bins of the threshold classifier.
        seed: Seeds the split and the classifiers.

    Returns:
        The SAP score, a float in [0, 1].

    Example:

    ```python
    import numpy as np
    from lrep_zoo.metrics import sap

    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, (1500, 3))
    codes = factors + 0.1 * rng.normal(size=(1500, 3))
    sap(codes, factors)                                   # 0.50
    sap(codes, factors, discrete_classifier="threshold")  # 0.74 (1 - 1/4 is the best)
    ```
    """
    codes = _as_codes(codes)
    if codes.shape[1] < 2:
        raise ValueError(f"SAP needs at least 2 code dimensions (a gap), got {codes.shape[1]}.")
    scores = sap_score_matrix(codes, factors, continuous, test_codes, test_factors, train_fraction,
                              discrete_classifier, num_bins, seed)
    top = -np.sort(-scores, axis=0)
    return float(np.mean(top[0] - top[1]))


# ------------------------------------------------------------------ DCI
def _entropy_rows(p, base) -> np.ndarray:
    """Entropy with log base `base` of each row of a non-negative matrix (rows normalised)."""
    total = p.sum(axis=1, keepdims=True)
    q = np.divide(p, total, out=np.zeros_like(p), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * np.log(q), 0.0)
    return -terms.sum(axis=1) / np.log(base)


def dci_from_importance(importance) -> dict:
    """DCI disentanglement and completeness of an importance matrix `R (D, K)`.

    `P_jk = R_jk / sum_k R_jk`; disentanglement `= sum_j rho_j (1 - H_K(P_j.))` with
    `rho_j = sum_k R_jk / sum R`; completeness `= mean_k (1 - H_D(P~_.k))` with
    `P~_jk = R_jk / sum_j R_jk` (entropies with log base K and D). A dimension (or
    factor) with zero importance counts as uniform (score 0). With gradient-boosted
    trees every column sums to 1, so completeness equals disentanglement_lib's
    importance-weighted mean.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.metrics import dci_from_importance

    dci_from_importance(np.eye(3))  # {'disentanglement': 1.0, 'completeness': 1.0}
    ```
    """
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 2 or r.shape[1] < 2:
        raise ValueError(f"importance must have shape (D, K) with D, K >= 2, got {r.shape}.")
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("importance must be finite and non-negative.")
    if r.sum() == 0:
        return {"disentanglement": 0.0, "completeness": 0.0}
    per_code = np.where(r.sum(1) > 0, 1.0 - _entropy_rows(r, r.shape[1]), 0.0)
    per_factor = np.where(r.sum(0) > 0, 1.0 - _entropy_rows(r.T, r.shape[0]), 0.0)
    rho = r.sum(1) / r.sum()
    return {"disentanglement": float(np.sum(rho * per_code)), "completeness": float(np.mean(per_factor))}


def dci(codes, factors, continuous=None, num_bins: int = 20, test_codes=None, test_factors=None,
        train_fraction: float = 2 / 3, importance: str = "gbt", alpha: float = 0.02,
        seed: int = 0) -> dict:
    """DCI disentanglement, completeness and informativeness (Eastwood & Williams 2018).

    One predictor per factor gives the importance matrix `R (D, K)`:

    - `importance="gbt"` (default, disentanglement_lib's): a
      `GradientBoostingClassifier()` (scikit-learn's defaults, `random_state=seed`)
      per factor, continuous factors binned into `num_bins` bins; `R` is its
      `feature_importances_`; informativeness is the mean test accuracy.
    - `importance="lasso"` (the paper's): a `Lasso(alpha)` per factor on codes and
      factor values standardised with the training statistics; `R = |coef|`;
      informativeness is the mean test R^2 (meaningful for ordered factors).

    disentanglement_lib trains on 10,000 points and tests on 5,000: by default the
    points are split at random (seeded) in that ratio. Needs scikit-learn.

    Args:
        codes: `(N, D)` codes, `D >= 2`.
        factors: `(N, K)` factors, `K >= 2`.
        continuous: Which factors are continuous (see `continuous_factors`).
        num_bins: Bins of continuous factors (GBT).
        test_codes, test_factors: Optional test set (else a split of the points).
        train_fraction: Fraction of the points that trains when splitting.
        importance: `"gbt"` or `"lasso"`.
        alpha: Lasso penalty.
        seed: Seeds the split and the predictors.

    Returns:
        A dict with `disentanglement`, `completeness`, `informativeness` (test),
        `informativeness_train` (floats) and `importance` (the `(D, K)` matrix).

    Example:

    ```python
    import numpy as np
    from lrep_zoo.metrics import dci

    rng = np.random.default_rng(0)
    factors = rng.integers(0, 3, (900, 3))
    scores = dci(factors + 0.1 * rng.normal(size=(900, 3)), factors)
    scores["disentanglement"], scores["completeness"], scores["informativeness"]  # 1.0, 1.0, 1.0
    ```
    """
    _sklearn("dci")
    codes = _as_codes(codes)
    factors = _as_factors(factors, len(codes))
    if codes.shape[1] < 2 or factors.shape[1] < 2:
        raise ValueError(f"DCI needs at least 2 code dimensions and 2 factors, got D={codes.shape[1]}, "
                         f"K={factors.shape[1]}.")
    if importance not in ("gbt", "lasso"):
        raise ValueError(f"importance must be 'gbt' or 'lasso', got {importance!r}.")
    _min_points(len(codes), 4 if test_codes is None else 2, "DCI")
    train_c, train_f, test_c, test_f = _split(codes, factors, test_codes, test_factors, train_fraction, seed)
    _min_points(min(len(train_c), len(test_c)), 2, "DCI (train and test sets)")
    n_train = len(train_c)
    all_f = np.concatenate([train_f, test_f])
    r = np.zeros((codes.shape[1], factors.shape[1]))
    train_scores, test_scores = [], []
    if importance == "gbt":
        from sklearn import ensemble

        labels = _factor_labels(all_f, continuous_factors(all_f, continuous), num_bins)
        _check_not_constant(labels[:n_train], "training points")
        for k in range(factors.shape[1]):
            model = ensemble.GradientBoostingClassifier(random_state=seed)
            model.fit(train_c, labels[:n_train, k])
            r[:, k] = np.abs(model.feature_importances_)
            train_scores.append(np.mean(model.predict(train_c) == labels[:n_train, k]))
            test_scores.append(np.mean(model.predict(test_c) == labels[n_train:, k]))
    else:
        from sklearn import linear_model

        mean, std = train_c.mean(0), train_c.std(0)
        std = np.where(std > 0, std, 1.0)
        x_train, x_test = (train_c - mean) / std, (test_c - mean) / std
        for k in range(factors.shape[1]):
            y_mean, y_std = train_f[:, k].mean(), train_f[:, k].std()
            if y_std == 0:
                raise ValueError(f"factor {k} takes a single value on the training points.")
            y_train, y_test = (train_f[:, k] - y_mean) / y_std, (test_f[:, k] - y_mean) / y_std
            model = linear_model.Lasso(alpha=alpha, random_state=seed)
            model.fit(x_train, y_train)
            r[:, k] = np.abs(model.coef_)
            train_scores.append(model.score(x_train, y_train))
            test_scores.append(model.score(x_test, y_test))
    scores = dci_from_importance(r)
    scores.update(informativeness=float(np.mean(test_scores)),
                  informativeness_train=float(np.mean(train_scores)), importance=r)
    return scores


# ------------------------------------------------------------------ intervention-based
def _check_intervention_args(source, batch_size, counts):
    if not all(hasattr(source, m) for m in ("num_factors", "sample", "sample_pairs", "fixed_factor_batch")):
        raise ValueError("source must be a factor source (num_factors, sample, sample_pairs, "
                         "fixed_factor_batch), e.g. lrep_zoo.data.factors.RelitFactors().")
    if source.num_factors < 2:
        raise ValueError(f"the intervention metrics need at least 2 factors, got {source.num_factors}.")
    if int(batch_size) != batch_size or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2, got {batch_size!r}.")
    for name, value in counts.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")


def _encode(encode_fn, images, num_dims=None) -> np.ndarray:
    codes = _to_numpy(encode_fn(images))
    if codes.ndim != 2 or len(codes) != len(images):
        raise ValueError(f"encode_fn must map N images to (N, D) codes; {len(images)} images gave "
                         f"shape {codes.shape}.")
    if num_dims is not None and codes.shape[1] != num_dims:
        raise ValueError(f"encode_fn changed its code size: {num_dims} then {codes.shape[1]}.")
    if not np.all(np.isfinite(codes)):
        raise ValueError("encode_fn returned NaN or infinite codes.")
    return codes


_VARIANCE_CHUNK = 1000  # images per `source.sample` call for the FactorVAE variances


def _batched_points(encode_fn, draw, num_points, images_per_point, encode_batch_size):
    """Draws `num_points` groups of images (`draw()`, in order) and encodes them in
    calls of about `encode_batch_size` images; yields `(label, codes)` per point."""
    per_call = max(1, int(encode_batch_size) // images_per_point)
    num_dims = None
    for start in range(0, num_points, per_call):
        labels, groups = zip(*(draw() for _ in range(min(per_call, num_points - start))))
        codes = _encode(encode_fn, np.concatenate(groups), num_dims)
        num_dims = codes.shape[1]
        for i, label in enumerate(labels):
            yield label, codes[i * images_per_point:(i + 1) * images_per_point]


def beta_vae_score(encode_fn, source, batch_size: int = 64, num_train: int = 10000,
                   num_eval: int = 5000, seed: int = 0, encode_batch_size: int = 1024) -> dict:
    """The beta-VAE metric (Higgins et al. 2017), disentanglement_lib's version.

    Each point: a factor k uniformly at random, `batch_size` pairs of images that share
    factor k (`source.sample_pairs`), the feature `mean_pairs |c(x1) - c(x2)|`, the
    label k. A logistic regression (scikit-learn defaults, `random_state=seed`) learns
    k from `num_train` points; the score is its accuracy on `num_eval` new points
    (chance is 1 / K). Needs scikit-learn.

    Random draws, in order, from `np.random.default_rng(seed)`: per training point
    `rng.integers(K)` then `source.sample_pairs(k, batch_size, rng)`; then the
    evaluation points the same way.

    Args:
        encode_fn: Maps a batch of the source's images to `(n, D)` codes (NumPy, or a
            TF / JAX / torch tensor), e.g. `lambda x: model.encode(x)` or
            `lambda x: model.predict(x, verbose=0)`.
        source: A factor source (`lrep_zoo.data.factors`), at least 2 factors.
        batch_size: Pairs per point [64].
        num_train: Training points [10,000].
        num_eval: Evaluation points [5,000].
        seed: Seeds the draws and the classifier.
        encode_batch_size: About how many images go through `encode_fn` at once
            (does not change the result).

    Returns:
        A dict with `train_accuracy` and `eval_accuracy` (the score).

    Example:

    ```python
    from lrep_zoo.metrics import beta_vae_score

    from lrep_zoo.data.factors import RelitFactors
    source = RelitFactors(num_identities=5, size=32)
    encode = lambda x: x.reshape(len(x), -1)[:, ::97] / 255.0  # any (n, D) codes
    beta_vae_score(encode, source, batch_size=16, num_train=300, num_eval=100)["eval_accuracy"]
    ```
    """
    _sklearn("beta_vae_score")
    from sklearn import linear_model

    _check_intervention_args(source, batch_size, {"num_train": num_train, "num_eval": num_eval})
    rng = np.random.default_rng(seed)
    num_factors = source.num_factors

    def draw():
        k = int(rng.integers(num_factors))
        first, second = source.sample_pairs(k, batch_size, rng)
        return k, np.concatenate([first, second])

    def points(num):
        labels, features = [], []
        for k, codes in _batched_points(encode_fn, draw, num, 2 * batch_size, encode_batch_size):
            labels.append(k)
            features.append(np.mean(np.abs(codes[:batch_size] - codes[batch_size:]), axis=0))
        return np.stack(features), np.array(labels)

    train_x, train_y = points(int(num_train))
    if len(np.unique(train_y)) < 2:
        raise ValueError(f"num_train={num_train} points drew a single factor: use more points.")
    model = linear_model.LogisticRegression(random_state=seed)
    model.fit(train_x, train_y)
    eval_x, eval_y = points(int(num_eval))
    return {"train_accuracy": float(model.score(train_x, train_y)),
            "eval_accuracy": float(model.score(eval_x, eval_y))}


def factor_vae_score(encode_fn, source, batch_size: int = 64, num_train: int = 10000,
                     num_eval: int = 5000, num_variance_estimate: int = 10000,
                     prune_threshold: float = 0.05, seed: int = 0,
                     encode_batch_size: int = 1024) -> dict:
    """The FactorVAE metric (Kim & Mnih 2018), disentanglement_lib's version.

    The std `s_j` of each code dimension over `num_variance_estimate` images
    (`source.sample`, ddof 1); dimensions with `s_j < prune_threshold` are collapsed
    and dropped (disentanglement_lib's `prune_dims` thresholds the std at 0.05). Each
    point: a factor k uniformly at random, a batch with factor k fixed
    (`source.fixed_factor_batch`), the vote `argmin_j Var(c_j) / s_j^2` over the active
    dimensions. The majority-vote classifier (each dimension -> the factor that voted
    for it most, ties to the lowest factor) is built from `num_train` votes; the score
    is its accuracy on `num_eval` new votes (chance is about 1 / K). NumPy only.

    Random draws, in order, from `np.random.default_rng(seed)`: `source.sample` in
    chunks of 1,000 images for the variances; per training point
    `rng.integers(K)` then `source.fixed_factor_batch(k, batch_size, rng)`; then the
    evaluation points the same way.

    Args:
        encode_fn: Maps a batch of the source's images to `(n, D)` codes (see
            `beta_vae_score`).
        source: A factor source (`lrep_zoo.data.factors`), at least 2 factors.
        batch_size: Images per vote [64].
        num_train: Training votes [10,000].
        num_eval: Evaluation votes [5,000].
        num_variance_estimate: Images for the global stds [10,000].
        prune_threshold: Minimum std of an active dimension [0.05].
        seed: Seeds the draws.
        encode_batch_size: About how many images go through `encode_fn` at once
            (does not change the result).

    Returns:
        A dict with `train_accuracy`, `eval_accuracy` (the score) and
        `num_active_dims` (both accuracies are 0 when every dimension collapsed).

    Example:

    ```python
    from lrep_zoo.metrics import factor_vae_score

    from lrep_zoo.data.factors import RelitFactors
    source = RelitFactors(num_identities=5, size=32)
    encode = lambda x: x.reshape(len(x), -1)[:, ::97] / 255.0
    factor_vae_score(encode, source, num_train=300, num_eval=100, num_variance_estimate=1000)
    ```
    """
    _check_intervention_args(source, batch_size, {
        "num_train": num_train, "num_eval": num_eval, "num_variance_estimate": num_variance_estimate})
    if num_variance_estimate < 2:
        raise ValueError(f"num_variance_estimate must be >= 2, got {num_variance_estimate}.")
    rng = np.random.default_rng(seed)
    num_factors = source.num_factors
    step = max(1, int(encode_batch_size))
    codes = []
    for start in range(0, int(num_variance_estimate), _VARIANCE_CHUNK):
        images = source.sample(min(_VARIANCE_CHUNK, num_variance_estimate - start), rng)[0]
        codes += [_encode(encode_fn, images[i:i + step]) for i in range(0, len(images), step)]
    codes = np.concatenate(codes)
    global_var = np.var(codes, axis=0, ddof=1)
    active = np.flatnonzero(np.sqrt(global_var) >= prune_threshold)
    if len(active) == 0:
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}

    def draw():
        k = int(rng.integers(num_factors))
        return k, source.fixed_factor_batch(k, batch_size, rng)[0]

    def votes(num):
        table = np.zeros((num_factors, codes.shape[1]), dtype=np.int64)
        for k, batch in _batched_points(encode_fn, draw, num, batch_size, encode_batch_size):
            if batch.shape[1] != codes.shape[1]:
                raise ValueError(f"encode_fn changed its code size: {codes.shape[1]} then {batch.shape[1]}.")
            local_var = np.var(batch, axis=0, ddof=1)
            table[k, active[np.argmin(local_var[active] / global_var[active])]] += 1
        return table

    train_votes = votes(int(num_train))
    classifier = np.argmax(train_votes, axis=0)
    dims = np.arange(codes.shape[1])
    eval_votes = votes(int(num_eval))
    return {"train_accuracy": float(train_votes[classifier, dims].sum() / train_votes.sum()),
            "eval_accuracy": float(eval_votes[classifier, dims].sum() / eval_votes.sum()),
            "num_active_dims": len(active)}
