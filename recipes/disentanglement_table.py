"""Recipe: the disentanglement table, every lrep_zoo representation under five metrics.

Scores each representation with the beta-VAE metric, the FactorVAE metric, MIG, SAP and
DCI (disentanglement / completeness / informativeness) of `lrep_zoo.metrics`, over
several seeds (mean +- std), on two datasets whose generative factors are known:

- `relit`: relit surfaces (`lrep_zoo.data.factors.RelitFactors`: identity, light
  azimuth, light elevation; any combination rendered on demand). Every model is
  trained here on `--train-images` images drawn from the factor source (seeded per
  seed); DualDis and its multi-task baseline get identity as y and the 3 x 3 light
  cell (azimuth cut at +-25 degrees, elevation at +-17.5) as z.
- `yaleb`: Extended Yale-B (`lrep_zoo.data.factors.yaleb_factors`: identity, azimuth,
  elevation, 2,414 images). The DAE / VAEs / mixing auto-encoder train (unsupervised)
  on all 2,414 images at 48x42, cropped to 48x40 and box-averaged by `--yaleb-pool`;
  `dualdis` and `dualdis_multitask` are the presets `dualdis_yaleb` and
  `dualdis_yaleb_multitask` (192x168 input), scored as they are: their seeds only
  reseed the metrics. Codes of the 2,414 images are computed once per model and the
  intervention metrics draw images by index (the same draws as on the images).

Representations (`--methods`): `pixels` (the image box-averaged to about
`--pixel-size` px a side, a reference), `pca` (`--latent-dim` principal components, a
reference), `dae`, `vae` (beta 1), `beta_vae` (`--beta`), `capacity_vae` (Burgess et
al.: `gamma |KL - C|`, C annealed to `--capacity-max` over the whole training),
`dualdis` (three rows: h_y, h_z, [h_y, h_z]), `dualdis_multitask` (the same three) and
`mixing` (the mixing auto-encoder, variant `--mixing-variant`, codes of
`--mixing-chunks` chunks of `--mixing-chunk-dim`).

The metric sample counts default well below disentanglement_lib's (10,000 train /
5,000 eval points, batches of 64, 10,000 points for the variances): the defaults here
fit the whole table in about an hour of a shared 2-core CPU; every count is a flag
and recorded in `results.json`.

Writes `runs.jsonl` (one line per dataset, representation and seed, appended as they
finish; `--resume` skips those already there, `--summarize-only` trains nothing),
`results.json` (config, runs, mean and
std per row), `table.md` and traversal grids of the beta-VAE seeds on relit surfaces
(`traversals_beta_vae_seed<S>.png`; `best_beta_vae` in `results.json` names the seed
of highest MIG) to `--output-dir`.

    lrep-zoo train disentanglement_table --data-dir ../shared/data
    python recipes/disentanglement_table.py --datasets relit --methods pixels vae --seeds 0
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Literal

import numpy as np

from lrep_zoo.recipe_config import command, jit_compile, option, parse, record
from lrep_zoo.training.jit_policy import StepTimer

NAME = "disentanglement_table"
DESCRIPTION = ("Disentanglement metrics (beta-VAE, FactorVAE, MIG, SAP, DCI) of every "
               "lrep_zoo representation on relit surfaces and Extended Yale-B")
DATASETS = ("relit", "yaleb")
METHODS = ("pixels", "pca", "dae", "vae", "beta_vae", "capacity_vae", "dualdis",
           "dualdis_multitask", "mixing")
METRICS = ("beta_vae", "factor_vae", "mig", "sap", "dci_d", "dci_c", "dci_i")
METRIC_NAMES = {"beta_vae": "beta-VAE", "factor_vae": "FactorVAE", "mig": "MIG", "sap": "SAP",
                "dci_d": "DCI D", "dci_c": "DCI C", "dci_i": "DCI I"}
ROW_NAMES = {"pixels": "raw pixels", "pca": "PCA", "dae": "DAE", "vae": "VAE",
             "beta_vae": "beta-VAE", "capacity_vae": "beta-VAE, capacity annealing",
             "mixing": "mixing auto-encoder"}
_PRESETS = {"dualdis": "dualdis_yaleb", "dualdis_multitask": "dualdis_yaleb_multitask"}


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train disentanglement_table` (one flag per field)."""

    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    data_dir: str | None = option(None, help="folder holding yaleb_cropped/ (like shared/data); "
                                             "default: $LREP_ZOO_DATA_DIR")
    datasets: list[Literal["yaleb", "relit"]] = option(["yaleb", "relit"])
    methods: list[str] = option(list(METHODS), choices=METHODS, help="representations scored")
    seeds: list[int] = option([0, 1, 2])
    # Relit surfaces.
    relit_identities: int = 10
    relit_size: int = option(32, help="side of the relit images")
    train_images: int = option(2000, help="relit images drawn to train each model")
    # Models.
    latent_dim: int = option(10, help="code size of DAE, VAEs, PCA; h_y and h_z each (relit "
                                      "DualDis)")
    epochs: int = option(10, help="epochs of DAE / VAEs / mixing")
    yaleb_epochs: int = option(10, help="epochs of DAE / VAEs / mixing on Yale-B")
    yaleb_pool: int = option(2, help="box-average factor of the 48x40 Yale-B crops for the "
                                     "trained models")
    batch_size: int = 64
    learning_rate: float = option(1e-3, help="Adam")
    beta: float = option(4.0, help="beta of beta_vae")
    capacity_max: float = option(15.0, help="C_max (nats) of capacity_vae")
    gamma: float = option(1000.0, help="gamma of capacity_vae")
    dualdis_train_images: int = option(600, help="relit images that train DualDis")
    dualdis_epochs: int = 4
    mixing_variant: Literal["ae", "mix", "mix_c", "mix_g", "mix_c_g"] = "mix"
    mixing_chunks: int = 5
    mixing_chunk_dim: int = 2
    # Metrics (disentanglement_lib's defaults in brackets).
    num_points: int = option(2000, help="points of MIG / SAP / DCI on relit [10,000]; "
                                        "Yale-B: all 2,414 images")
    metric_batch_size: int = option(32, help="pairs per beta-VAE point, images per FactorVAE "
                                             "vote [64]")
    beta_vae_train: int = option(200, help="beta-VAE metric training points [10,000]")
    beta_vae_eval: int = option(100, help="beta-VAE metric evaluation points [5,000]")
    factor_vae_train: int = option(200, help="FactorVAE training votes [10,000]")
    factor_vae_eval: int = option(100, help="FactorVAE evaluation votes [5,000]")
    variance_points: int = option(1000, help="FactorVAE global-variance images [10,000]")
    sap_classifier: Literal["threshold", "linear_svc"] = option(
        "threshold", help="SAP's per-dimension classifier of discrete factors [linear_svc]")
    dci_importance: Literal["lasso", "gbt"] = option(
        "lasso", help="DCI importances [gbt: 1-5 min per call here]")
    pixel_size: int = option(8, help="pixels row: box-average to about this many px a side")
    resume: bool = option(False, recorded=False, help="skip the runs already in runs.jsonl")
    summarize_only: bool = option(False, recorded=False, help="train nothing: rebuild results.json "
                                                              "and table.md from runs.jsonl")
    jit: bool = option(True, help="--no-jit: jit_compile=False")
    verbose: int = 0


# ------------------------------------------------------------------ data
def light_cell(azimuth, elevation) -> np.ndarray:
    """The 3 x 3 light cell (0..8, `relit.LIGHTS` order) of (azimuth, elevation) degrees.

    Example:

    ```python
    import numpy as np

    from lrep_zoo.recipes.disentanglement_table import light_cell

    cells = light_cell(np.array([-50.0, 0.0]), np.array([35.0, 0.0]))
    print(cells)  # [0 4]
    ```
    """
    column = np.digitize(np.asarray(azimuth), [-25.0, 25.0])
    row = np.digitize(-np.asarray(elevation), [-17.5, 17.5])
    return (3 * row + column).astype("int32")


def box_pool(images, factor: int) -> np.ndarray:
    """Float images in [0, 1], cropped to a multiple of `factor` and box-averaged.

    Example:

    ```python
    import numpy as np

    from lrep_zoo.recipes.disentanglement_table import box_pool

    print(box_pool(np.zeros((2, 32, 32, 1), "uint8"), 4).shape)  # (2, 8, 8, 1)
    ```
    """
    images = np.asarray(images, dtype="float32") / 255.0
    n, h, w, ch = images.shape
    h, w = h - h % factor, w - w % factor
    images = images[:, :h, :w]
    return images.reshape(n, h // factor, factor, w // factor, factor, ch).mean((2, 4))


def index_source(factors, names):
    """Intervention draws of a labelled set by index: a factor source over `arange(N)`.

    `sample`, `sample_pairs` and `fixed_factor_batch` return image indices `(n, 1)`
    drawn exactly as `ArrayFactorSource(images, factors)` draws the images, so
    `encode_fn = lambda idx: codes[idx[:, 0]]` scores precomputed codes.

    Example:

    ```python
    import numpy as np

    from lrep_zoo.recipes.disentanglement_table import index_source

    source = index_source(np.array([[0, 1], [1, 0], [1, 1]]), ("a", "b"))
    print(source.fixed_factor_batch(0, 4, np.random.default_rng(0))[0].shape)  # (4, 1)
    ```
    """
    from lrep_zoo.data.factors import ArrayFactorSource

    return ArrayFactorSource(np.arange(len(factors))[:, None], factors, names, continuous=False)


class CachedEncoder:
    """`encode_fn` that remembers the codes of each batch (keyed by its bytes), so the
    rows cut from one model's codes (DualDis' h_y, h_z, [h_y, h_z]) encode each batch
    once: the metrics draw the same batches for the same seed."""

    def __init__(self, encode):
        self.encode = encode
        self.cache: dict[bytes, np.ndarray] = {}

    def columns(self, cols):
        def encode_fn(images):
            key = hashlib.blake2b(np.ascontiguousarray(images).tobytes(), digest_size=16).digest()
            if key not in self.cache:
                self.cache[key] = np.asarray(self.encode(images), dtype="float64")
            return self.cache[key][:, cols]
        return encode_fn


# ------------------------------------------------------------------ models
def _numpy(x):
    import keras

    return keras.ops.convert_to_numpy(x)


def _batched(fn, images, batch: int = 256) -> np.ndarray:
    return np.concatenate([_numpy(fn(images[i:i + batch])) for i in range(0, len(images), batch)])


def _train_unsupervised(method, x, c, seed, epochs):
    """A DAE, VAE, beta-VAE, capacity VAE or mixing AE trained on `x` (float [0, 1])."""
    import keras

    from lrep_zoo.models import VAE, DenoisingAutoEncoder
    from lrep_zoo.models.mixing import MixingAutoEncoder

    keras.utils.set_random_seed(seed)
    shape = x.shape[1:]
    steps = epochs * int(np.ceil(len(x) / c.batch_size))
    if method == "dae":
        model = DenoisingAutoEncoder(shape, latent_dim=c.latent_dim, seed=seed)
    elif method == "mixing":
        model = MixingAutoEncoder.variant(c.mixing_variant, image_shape=shape, num_chunks=c.mixing_chunks,
                                          chunk_dim=c.mixing_chunk_dim, seed=seed)
        x = np.rint(x * 255.0).astype("float32")  # the mixing AE takes 0..255 images
    else:
        kwargs = {"vae": {}, "beta_vae": {"beta": c.beta},
                  "capacity_vae": {"capacity_max": c.capacity_max, "capacity_steps": steps,
                                   "gamma": c.gamma}}[method]
        model = VAE(shape, latent_dim=c.latent_dim, seed=seed, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(c.learning_rate), jit_compile=jit_compile(c.jit))
    model.fit(x, batch_size=c.batch_size, epochs=epochs, shuffle=True, verbose=c.verbose,
              callbacks=[StepTimer()])
    if method == "mixing":
        return model, lambda images: model.encode(np.rint(images * 255.0).astype("float32"))
    return model, model.encode


def _train_dualdis(variant, images, factors, c, seed):
    import keras

    from lrep_zoo.models import DualDis

    keras.utils.set_random_seed(seed)
    model = DualDis.variant(variant, image_shape=images.shape[1:], num_classes_y=c.relit_identities,
                            num_classes_z=9, latent_dim=c.latent_dim)
    model.compile(optimizer={"disc": keras.optimizers.Adam(c.learning_rate),
                             "main": keras.optimizers.Adam(c.learning_rate)},
                  jit_compile=jit_compile(c.jit))
    labels = (factors[:, 0].astype("int32"), light_cell(factors[:, 1], factors[:, 2]))
    model.fit(images, labels, batch_size=c.batch_size, epochs=c.dualdis_epochs, shuffle=True,
              verbose=c.verbose, callbacks=[StepTimer()])
    return model


def _dualdis_rows(name, dim):
    """The three DualDis rows of one model: `(row, columns)`."""
    both = f"{name} [h_y, h_z]"
    return [(f"{name} h_y", slice(0, dim)), (f"{name} h_z", slice(dim, 2 * dim)), (both, slice(0, 2 * dim))]


# ------------------------------------------------------------------ scoring
def score(encode_fn, source, codes, factors, c, seed: int) -> dict:
    """The five metrics of one representation (see the module docstring for the counts)."""
    from lrep_zoo import metrics

    beta = metrics.beta_vae_score(encode_fn, source, batch_size=c.metric_batch_size,
                                  num_train=c.beta_vae_train, num_eval=c.beta_vae_eval, seed=seed)
    factor = metrics.factor_vae_score(encode_fn, source, batch_size=c.metric_batch_size,
                                      num_train=c.factor_vae_train, num_eval=c.factor_vae_eval,
                                      num_variance_estimate=c.variance_points, seed=seed)
    dci = metrics.dci(codes, factors, importance=c.dci_importance, seed=seed)
    per_factor_mig = [metrics.mig(codes, factors[:, k:k + 1]) for k in range(factors.shape[1])]
    s = metrics.sap_score_matrix(codes, factors, discrete_classifier=c.sap_classifier, seed=seed)
    top = -np.sort(-s, axis=0)
    return {
        "beta_vae": beta["eval_accuracy"], "factor_vae": factor["eval_accuracy"],
        "factor_vae_active_dims": factor["num_active_dims"],
        "mig": metrics.mig(codes, factors),
        "sap": metrics.sap(codes, factors, discrete_classifier=c.sap_classifier, seed=seed),
        "dci_d": dci["disentanglement"], "dci_c": dci["completeness"], "dci_i": dci["informativeness"],
        "mig_per_factor": per_factor_mig,
        "sap_gap_per_factor": (top[0] - top[1]).tolist(), "sap_top_per_factor": top[0].tolist(),
        "code_dims": int(codes.shape[1]),
    }


def _traversal_grid(model, source, codes, factors, path, seed):
    """beta-VAE traversals: one row per latent dimension (sorted by mean KL, labelled
    with its KL and the factor it shares the most mutual information with), values
    -2.5..2.5 around the code of identity 0 lit frontally."""
    from lrep_zoo import metrics, viz
    from lrep_zoo.models.vae.grids import traversals

    mean, log_var = (_numpy(t) for t in model.encode(source.sample_observations_from_factors(
        factors[:256], np.random.default_rng(seed)).astype("float32") / 255.0, return_log_var=True))
    kl = np.mean(0.5 * (mean ** 2 + np.exp(log_var) - log_var - 1.0), axis=0)
    mi = metrics.mutual_information(codes, factors)
    names = source.factor_names
    dims = np.argsort(-kl)
    anchor = source.sample_observations_from_factors(np.array([[0.0, 0.0, 0.0]]), np.random.default_rng(0))
    code = _numpy(model.encode(anchor.astype("float32") / 255.0))[0]
    values = np.linspace(-2.5, 2.5, 9)
    images = _numpy(model.decode(traversals(code, dims, values)))
    labels = [f"z{d} KL {kl[d]:.1f} {names[int(np.argmax(mi[d]))]}" for d in dims]
    return viz.save_grid(np.clip(images, 0, 1), path, nrow=len(values), scale=2, row_labels=labels)


# ------------------------------------------------------------------ the two datasets
def _relit_runs(c, out, done):
    from lrep_zoo.data.factors import RelitFactors

    source = RelitFactors(num_identities=c.relit_identities, size=c.relit_size)
    for method in c.methods:
        for seed in c.seeds:
            if ("relit", method, seed) in done:
                continue
            rng = np.random.default_rng(1000 + seed)
            images, train_factors = source.sample(c.train_images, rng)
            point_images, factors = source.sample(c.num_points, np.random.default_rng(2000 + seed))
            start = time.perf_counter()
            model = None
            if method == "pixels":
                pool = max(1, c.relit_size // c.pixel_size)
                rows = [(ROW_NAMES[method], lambda x: box_pool(x, pool).reshape(len(x), -1))]
            elif method == "pca":
                rows = [(ROW_NAMES[method], _fit_pca(images / 255.0, c.latent_dim, seed))]
            elif method in ("dualdis", "dualdis_multitask"):
                model = _train_dualdis("dualdis" if method == "dualdis" else "multitask",
                                       images[:c.dualdis_train_images],
                                       train_factors[:c.dualdis_train_images], c, seed)
                cache = CachedEncoder(lambda x, m=model: np.concatenate([_numpy(h) for h in m.encode(np.asarray(x, "float32"))], 1))
                name = "DualDis" if method == "dualdis" else "multi-task"
                rows = [(row, cache.columns(cols)) for row, cols in _dualdis_rows(name, c.latent_dim)]
            else:
                model, encode = _train_unsupervised(method, images.astype("float32") / 255.0, c, seed,
                                                    c.epochs)
                rows = [(ROW_NAMES[method], lambda x, e=encode: _numpy(e(np.asarray(x, "float32") / 255.0)))]
            train_seconds = time.perf_counter() - start
            for row, encode_fn in rows:
                t0 = time.perf_counter()
                codes = _batched(encode_fn, point_images)
                run = {"dataset": "relit", "method": method, "representation": row, "seed": seed,
                       **score(encode_fn, source, codes, factors, c, seed),
                       "train_seconds": round(train_seconds, 1),
                       "score_seconds": round(time.perf_counter() - t0, 1)}
                if method == "beta_vae":
                    run["traversals"] = str(_traversal_grid(
                        model, source, codes, factors, out / f"traversals_beta_vae_seed{seed}.png", seed))
                yield run


def _fit_pca(x, dim, seed):
    from sklearn.decomposition import PCA

    pca = PCA(n_components=dim, random_state=seed).fit(np.asarray(x).reshape(len(x), -1))
    return lambda images: pca.transform(np.asarray(images, "float32").reshape(len(images), -1) / 255.0)


def _yaleb_runs(c, out, done):
    from lrep_zoo.data.factors import yaleb_factors

    small = yaleb_factors(c.data_dir, resolution="48x42")
    names, factors = small.factor_names, small.factors
    source = index_source(factors, names)
    full = None
    for method in c.methods:
        for seed in c.seeds:
            if ("yaleb", method, seed) in done:
                continue
            start = time.perf_counter()
            x = box_pool(small.images[:, :, 1:41], c.yaleb_pool)  # 48x40, box-averaged
            if method == "pixels":
                pool = max(1, small.images.shape[1] // c.pixel_size)
                rows = [(ROW_NAMES[method], box_pool(small.images, pool).reshape(len(x), -1))]
            elif method == "pca":
                rows = [(ROW_NAMES[method], _fit_pca(x, c.latent_dim, seed)(x * 255.0))]
            elif method in _PRESETS:
                from lrep_zoo.models import DualDis

                if full is None:
                    full = yaleb_factors(c.data_dir, resolution="192x168")
                    if not np.array_equal(full.factors, factors):
                        raise ValueError("the 192x168 and 48x42 Yale-B files list different images.")
                model = DualDis.from_preset(_PRESETS[method])
                both = _batched(lambda im: np.concatenate([_numpy(h) for h in model.encode(im.astype("float32"))], 1),
                                full.images, 128)
                name = "DualDis" if method == "dualdis" else "multi-task"
                rows = [(row, both[:, cols]) for row, cols in _dualdis_rows(name, model.latent_dim)]
            else:
                _, encode = _train_unsupervised(method, x, c, seed, c.yaleb_epochs)
                rows = [(ROW_NAMES[method], _batched(encode, x))]
            train_seconds = time.perf_counter() - start
            for row, codes in rows:
                t0 = time.perf_counter()
                codes = np.asarray(codes, "float64")
                run = {"dataset": "yaleb", "method": method, "representation": row, "seed": seed,
                       **score(lambda idx, k=codes: k[idx[:, 0]], source, codes, factors, c, seed),
                       "train_seconds": round(train_seconds, 1),
                       "score_seconds": round(time.perf_counter() - t0, 1)}
                if method in _PRESETS:
                    run["preset"] = _PRESETS[method]
                yield run


# ------------------------------------------------------------------ tables
def summarise(runs: list[dict]) -> dict:
    """Mean and std (over seeds, ddof 0) of every metric per dataset and representation.

    Example:

    ```python
    from lrep_zoo.recipes.disentanglement_table import METRICS, summarise

    # Two seeds of one row: each run holds every metric and the per-factor gaps
    # (identity, azimuth, elevation).
    runs = [{"dataset": "relit", "representation": "VAE", "method": "vae", "seed": seed,
             **{metric: 0.1 * (seed + 1) for metric in METRICS},
             "mig_per_factor": [0.1, 0.2, 0.3], "sap_gap_per_factor": [0.0, 0.1, 0.2]}
            for seed in (0, 1)]
    row = summarise(runs)["relit/VAE"]
    print(row["seeds"], row["mig"])  # [0, 1] {'mean': 0.15..., 'std': 0.05...}
    ```
    """
    rows: dict[str, dict] = {}
    for run in runs:
        row = rows.setdefault(f"{run['dataset']}/{run['representation']}", {
            "dataset": run["dataset"], "representation": run["representation"],
            "method": run["method"], "seeds": [], "_runs": []})
        row["seeds"].append(run["seed"])
        row["_runs"].append(run)
    for row in rows.values():
        runs_ = row.pop("_runs")
        for key in (*METRICS, "mig_per_factor", "sap_gap_per_factor"):
            values = np.array([r[key] for r in runs_], dtype=float)
            row[key] = {"mean": np.mean(values, 0).tolist(), "std": np.std(values, 0).tolist()}
    return rows


def _cell(stat, k=None) -> str:
    mean, std = (stat["mean"], stat["std"]) if k is None else (stat["mean"][k], stat["std"][k])
    return f"{mean:.2f} +- {std:.2f}"


def markdown(summary: dict, factor_names: dict) -> str:
    """The tables of `table.md`: the five metrics, then MIG and SAP gap per factor."""
    from lrep_zoo.experiments import markdown_table

    parts = []
    titles = {"relit": "Relit surfaces (identity, azimuth, elevation)",
              "yaleb": "Extended Yale-B (identity, azimuth, elevation)"}
    for dataset in DATASETS:
        rows = [r for r in summary.values() if r["dataset"] == dataset]
        if not rows:
            continue
        parts.append(f"### {titles[dataset]}\n")
        parts.append(markdown_table(
            ["representation", "seeds", *(METRIC_NAMES[m] for m in METRICS)],
            [[r["representation"], len(r["seeds"]), *(_cell(r[m]) for m in METRICS)] for r in rows]))
        names = factor_names[dataset]
        parts.append(f"\nPer factor ({', '.join(names)}): MIG gap / SAP gap\n")
        parts.append(markdown_table(
            ["representation", *names],
            [[r["representation"], *(f"{_cell(r['mig_per_factor'], k)} / {_cell(r['sap_gap_per_factor'], k)}"
                                     for k in range(len(names)))] for r in rows]))
        parts.append("")
    return "\n".join(parts) + "\n"


def run(config: Config | None = None) -> dict:
    """Trains and scores every representation; writes runs.jsonl, results.json, table.md.

    Example:

    ```python
    from lrep_zoo.recipes.disentanglement_table import Config, run

    # A smoke-sized table: relit surfaces only (rendered, no files needed), raw pixels
    # and a VAE, one seed, tiny metric sample counts.
    results = run(Config(
        datasets=["relit"], methods=["pixels", "vae"], seeds=[0], epochs=1,
        relit_size=16, relit_identities=3, train_images=64, latent_dim=4,
        num_points=300, metric_batch_size=8, beta_vae_train=40, beta_vae_eval=20,
        factor_vae_train=40, factor_vae_eval=20, variance_points=200,
        output_dir="runs/disentanglement"))
    print([(r["representation"], round(r["mig"], 2)) for r in results["runs"]])
    ```

    The whole table (about an hour on a shared 2-core CPU):

    ```bash
    lrep-zoo train disentanglement_table --output-dir runs/disentanglement_table
    ```
    """
    from lrep_zoo import reporting

    c = config or Config()
    if not c.seeds or not c.methods or not c.datasets:
        raise ValueError("seeds, methods and datasets must each name at least one value.")
    for name in ("train_images", "num_points", "epochs", "yaleb_epochs", "dualdis_train_images",
                 "dualdis_epochs", "latent_dim", "pixel_size", "yaleb_pool"):
        if getattr(c, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(c, name)}.")
    if c.num_points < 6:
        raise ValueError(f"num_points must be >= 6 (SAP and DCI split the points), got {c.num_points}.")
    out = reporting.output_dir(c.output_dir)
    log = out / "runs.jsonl"
    keep = c.resume or c.summarize_only
    runs = [json.loads(line) for line in log.read_text().splitlines()] if keep and log.exists() else []
    if not keep:
        log.write_text("")
    done = {(r["dataset"], r["method"], r["seed"]) for r in runs}
    factor_names = {"relit": ["identity", "azimuth", "elevation"],
                    "yaleb": ["identity", "azimuth", "elevation"]}
    start = time.perf_counter()
    for dataset in () if c.summarize_only else c.datasets:
        generate = _relit_runs if dataset == "relit" else _yaleb_runs
        for r in generate(c, out, done):
            runs.append(r)
            with log.open("a") as f:
                f.write(json.dumps(r, default=float) + "\n")
            if c.verbose:
                print(json.dumps({k: r[k] for k in ("dataset", "representation", "seed", *METRICS)},
                                 default=float))
    summary = summarise(runs)
    best = [r for r in runs if r["dataset"] == "relit" and r["method"] == "beta_vae"]
    results = {
        "recipe": NAME, "command": command(NAME, c), **record(c), "summary": summary, "runs": runs,
        "best_beta_vae": max(best, key=lambda r: r["mig"])["traversals"] if best else None,
        "seconds": round(time.perf_counter() - start, 1), "machine": reporting.machine(),
    }
    reporting.write_json(out / "results.json", results)
    (out / "table.md").write_text(markdown(summary, factor_names))
    return results


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train disentanglement_table [flags]`."""
    config = parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    results = run(config)
    print((Path(config.output_dir) / "table.md").read_text())
    print(f"Wrote runs.jsonl, results.json and table.md to {config.output_dir}")
    return results


if __name__ == "__main__":
    main()
