"""Recipe: generative models on MNIST, the FID / KID / stability table.

Trains VAE, beta-VAE, the Information Dropout VAE (`infodrop_vae`: the VAE's
network with `bottleneck="information_dropout"`; `infodrop_vae_relu`: with ReLU
codes and the improper log-uniform prior, so no samples and no FID), NS-GAN, WGAN-GP, GAN + R1 and
TemperedGAN (the NS-GAN with a lens; same generator and discriminator) for
`--steps` steps with each of
`--seeds`, and scores 5,000 samples against 5,000 test images with FID and KID on
the features of the `mnist_features` classifier (domain-classifier scores, not
Inception FID; it is trained first when `--features` does not exist). A run
*diverged* if a loss is not finite or its samples are blank (pixel std < 0.02);
it *collapsed* if its samples cover fewer than 8 digit classes (a class is
covered by >= 2 % of the samples, predicted by the classifier). The VAE rows
also get a code table: test ELBO, reconstruction NLL and KL (nats / image), pixel
MSE of `reconstruct` and the accuracy of a linear probe (logistic regression on
standardised codes) trained on the codes of 5,000 training images, on the 2,000
test images.

    python recipes/generative_mnist.py --data-dir ../shared/data --seeds 0 1 2 \
        --steps 1000 --output-dir runs/generative_mnist

Writes per run `metrics.json`, the preset (`config.json`, `model.weights.h5`,
`metadata.json`: `VAE.from_preset(DIR)`, `GAN.from_preset(DIR)`, ...) and grids;
`results.json` and `table.md` at the top.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from lrep_zoo.recipe_config import jit_compile as auto_or_off
from lrep_zoo.recipe_config import command as command_line
from lrep_zoo.recipe_config import option, parse, record
from lrep_zoo.training.jit_policy import StepTimer

NAME = "generative_mnist"
DESCRIPTION = ("VAE, beta-VAE, Information Dropout VAE, NS-GAN, WGAN-GP, R1 and Tempered GAN "
               "on MNIST: FID/KID table")
MODELS = ("ns_gan", "tempered_gan", "wgan_gp", "r1_gan", "vae", "beta_vae",
          "tempered_gan_w0.01", "infodrop_vae", "infodrop_vae_relu")
PROBE_TRAIN = 5000  # training images whose codes train the linear probe
CODE_EVAL = 2000  # test images of the ELBO, MSE and probe scores
GAN_FILTERS = {"generator_filters": (32, 16), "discriminator_filters": (16, 32)}


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train generative_mnist` (one flag per field)."""

    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir; "
                                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    models: list[str] = option(list(MODELS), choices=MODELS)
    seeds: list[int] = option([0, 1, 2])
    steps: int = 1000
    batch_size: int = 64
    features: str | None = option(None, help="mnist_features.keras (trained by "
                                             "recipes/mnist_features.py); default: "
                                             "<output-dir>/mnist_features/, trained if missing")
    eval_samples: int = 5000
    jit: bool = option(True, help="jit_compile=False (default: 'auto'; on a busy CPU XLA "
                                  "compilation dominates short runs)")
    verbose: int = 0


def build(name: str, seed: int, steps: int):
    """The model and its optimizers for one row of the table."""
    import keras

    from lrep_zoo.models.gan import GAN
    from lrep_zoo.models.tempered_gan import TemperedGAN
    from lrep_zoo.models.vae import VAE

    if name == "vae":
        return VAE((28, 28, 1), latent_dim=16, seed=seed), keras.optimizers.Adam(1e-3)
    if name == "beta_vae":
        return VAE((28, 28, 1), latent_dim=10, beta=4.0, seed=seed), keras.optimizers.Adam(1e-3)
    if name == "infodrop_vae":  # the vae row's network and optimizer, Information Dropout KL
        return (VAE((28, 28, 1), latent_dim=16, bottleneck="information_dropout", seed=seed),
                keras.optimizers.Adam(1e-3))
    if name == "infodrop_vae_relu":  # the same with ReLU codes: improper prior, no samples
        return (VAE((28, 28, 1), latent_dim=16, bottleneck="information_dropout",
                    code_activation="relu", seed=seed), keras.optimizers.Adam(1e-3))
    common = dict(image_shape=(28, 28, 1), latent_dim=32, seed=seed, **GAN_FILTERS)
    if name == "ns_gan":
        model = GAN(objective="non_saturating", **common)
    elif name == "wgan_gp":
        model = GAN(objective="wgan_gp", n_critic=2, gp_weight=10.0, **common)
    elif name == "r1_gan":
        model = GAN(objective="r1", r1_gamma=1.0, **common)
    elif name == "tempered_gan":
        model = TemperedGAN(objective="non_saturating", lens_steps=max(1, steps // 2), **common)
    elif name == "tempered_gan_w0.01":  # a lens allowed to distort more
        model = TemperedGAN(objective="non_saturating", lens_steps=max(1, steps // 2),
                            lens_distance_weight=0.01, **common)
    else:
        raise ValueError(f"Unknown model {name!r}; expected one of {MODELS}.")
    betas = (0.5, 0.9) if name == "wgan_gp" else (0.5, 0.999)
    optimizers = {p.name: keras.optimizers.Adam(2e-4, *betas) for p in model.phases()}
    return model, optimizers


def feature_classifier(path, data_dir):
    """The feature extractor of `path`, trained there first (3 epochs) when missing."""
    path = Path(path)
    if not path.exists():
        from lrep_zoo import reporting
        from lrep_zoo.experiments import train_mnist_features

        scores = train_mnist_features(path.parent, data_dir=data_dir, verbose=2)
        reporting.write_json(path.parent / "metrics.json", {
            "recipe": "mnist_features", **scores, "machine": reporting.machine()})
    from lrep_zoo.metrics.sample_quality import load_feature_extractor

    return load_feature_extractor(path)


def score(images, extractor, real_features, seed=0) -> dict:
    from lrep_zoo.metrics import sample_quality as sq

    feats, logits = sq.extract_features(extractor, images, return_logits=True)
    kid, kid_std = sq.kernel_inception_distance(real_features, feats, seed=seed)
    return {"fid": sq.frechet_distance(real_features, feats), "kid": kid, "kid_std": kid_std,
            **sq.class_coverage(logits), "pixel_std": float(np.std(images))}


def evaluate(model, data_dir=None, features=None, seed: int = 0, n: int = 5000,
             limit: int | None = None) -> dict:
    """FID / KID (classifier features) of `n` samples of a VAE or GAN vs `n` test images.

    `limit` (the CLI's `--limit`) overrides `n` for smoke runs.

    `features`: the `mnist_features.keras` classifier; trained (3 epochs) into
    `lrep_zoo_outputs/generative_mnist/mnist_features/` when missing.
    """
    import keras

    from lrep_zoo import data
    from lrep_zoo.metrics import sample_quality as sq

    n = limit or n
    x_test = data.load_arrays("mnist", "test", data_dir=data_dir)[0][:n]
    x_test = (x_test.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    extractor = feature_classifier(
        features or "lrep_zoo_outputs/generative_mnist/mnist_features/mnist_features.keras",
        data_dir)
    real = sq.extract_features(extractor, x_test)
    samples = np.clip(keras.ops.convert_to_numpy(model.sample(len(real), seed=1000 + seed)), 0, 1)
    return score(samples, extractor, real, seed=seed)


def code_scores(vae, x_test, probe_data, seed: int = 0, batch_size: int = 500) -> dict:
    """A trained VAE's test ELBO / NLL / KL (nats per image), reconstruction MSE and the
    linear-probe accuracy of its codes (`encode`).

    `vae` must be compiled. `probe_data`: `(x_train, y_train, y_test)`, the probe's
    training images and labels and the labels of `x_test`.

    Example:

    ```python
    import keras

    from lrep_zoo import data
    from lrep_zoo.models.vae import VAE
    from lrep_zoo.recipes.generative_mnist import code_scores

    x_train, y_train = data.load_arrays("mnist", "train")[:2]  # $LREP_ZOO_DATA_DIR
    x_test, y_test = data.load_arrays("mnist", "test")[:2]
    x_train = (x_train[:1000].astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    x_test = (x_test[:500].astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    y_train, y_test = y_train[:1000], y_test[:500]

    vae = VAE((28, 28, 1), latent_dim=16, seed=0)
    vae.compile(keras.optimizers.Adam(1e-3))
    vae.fit(x_train, batch_size=100, epochs=1, verbose=0)
    scores = code_scores(vae, x_test, (x_train, y_train, y_test))
    print(scores["test_elbo"], scores["probe_accuracy"])
    ```
    """
    import keras

    from lrep_zoo.models.mixing.evaluation import linear_probe_accuracy

    logs = vae.evaluate(x_test, batch_size=batch_size, verbose=0, return_dict=True)
    rec = np.concatenate([keras.ops.convert_to_numpy(vae.reconstruct(x_test[i:i + batch_size]))
                          for i in range(0, len(x_test), batch_size)])
    x_probe, y_probe, y_test = probe_data

    def codes(x):
        return np.concatenate([keras.ops.convert_to_numpy(vae.encode(x[i:i + batch_size]))
                               for i in range(0, len(x), batch_size)])

    return {"test_elbo": float(logs["elbo"]),
            "test_reconstruction_nll": float(logs["reconstruction_loss"]),
            "test_kl": float(logs["kl"]),
            "test_mse": float(np.mean(np.square(rec - x_test))),
            "probe_accuracy": linear_probe_accuracy(codes(x_probe), y_probe, codes(x_test),
                                                    y_test, seed=seed)}


def train_one(name, seed, steps, batch_size, x_train, x_test, extractor, real_features, out,
              verbose=0, jit_compile="auto", command=None, probe_data=None) -> dict:
    """Trains one row of the table; writes its preset, grids and `metrics.json`.

    `command` is recorded in the preset's `metadata.json` (default: this process' argv).
    `probe_data` (`(x_train, y_train, y_test)`, see `code_scores`): VAE rows also get
    `code_scores` on `x_test[:2000]`; without it, only the test ELBO.
    """
    import keras

    from lrep_zoo.callbacks import SampleGrid
    from lrep_zoo.models.tempered_gan import grids as lens_grids
    from lrep_zoo.models.vae import grids as vae_grids
    from lrep_zoo.viz import generative as gviz

    keras.utils.set_random_seed(seed)
    model, optimizer = build(name, seed, steps)
    is_gan = isinstance(optimizer, dict)
    # Gradient penalties need double backward, which torch.compile lacks.
    torch_penalty = keras.backend.backend() == "torch" and is_gan
    model.compile(optimizer=optimizer, jit_compile=False if torch_penalty else jit_compile)
    rng = np.random.default_rng(seed)
    epochs = math.ceil(steps * batch_size / len(x_train))
    order = np.concatenate([rng.permutation(len(x_train)) for _ in range(epochs)])
    x = x_train[order[: steps * batch_size]]
    run_dir = out / f"{name}_seed{seed}"
    sampler = getattr(model, "can_sample", True)  # False: a VAE without a proper prior
    grids = [SampleGrid(run_dir / "grids", every_n_steps=max(1, steps // 4))] if sampler else []
    start = time.perf_counter()
    history = model.fit(x, batch_size=batch_size, epochs=1, shuffle=False, verbose=verbose,
                        callbacks=[*grids, StepTimer()])
    seconds = time.perf_counter() - start
    losses = {k: float(v[-1]) for k, v in history.history.items()}
    # config.json, model.weights.h5 (uncompiled copy), metadata.json; scored as reloaded.
    model.save_to_preset(run_dir, command=command, overwrite=True,
                         extra_metadata={"recipe": NAME, "row": name})
    final = type(model).from_preset(run_dir)
    metrics = {"model": name, "seed": seed, "steps": steps, "batch_size": batch_size,
               "train_seconds": round(seconds, 1), "final_logs": losses}
    metrics["diverged"] = bool(not all(np.isfinite(list(losses.values()))))
    if sampler:
        samples = np.clip(keras.ops.convert_to_numpy(
            final.sample(len(real_features), seed=1000 + seed)), 0, 1)
        metrics.update(score(samples, extractor, real_features, seed=seed))
        metrics["diverged"] = metrics["diverged"] or bool(metrics["pixel_std"] < 0.02)
        metrics["collapsed"] = bool(metrics["classes_covered"] < 8)
        gviz.save_samples(final, run_dir / "samples.png", n=64, seed=0)
    else:
        metrics["collapsed"] = None  # no samples to score
    z = final.latents(8, seed=1) if is_gan else keras.ops.convert_to_numpy(
        final.encode(x_test[:8]))
    gviz.save_interpolations(final, zip(z[0::2], z[1::2]), run_dir / "interpolations.png")
    if not is_gan:
        vae_grids.save_reconstructions(final, x_test[:12], run_dir / "reconstructions.png")
        code = keras.ops.convert_to_numpy(final.encode(x_test[:1]))[0]
        vae_grids.save_traversals(final, code, run_dir / "traversals.png")
        final.compile(optimizer="adam", jit_compile=jit_compile)
        if probe_data is None:
            elbo = final.evaluate(x_test[:CODE_EVAL], batch_size=500, verbose=0,
                                  return_dict=True)
            metrics["test_elbo"] = float(elbo["elbo"])
        else:
            metrics.update(code_scores(final, x_test[:CODE_EVAL], probe_data, seed=seed))
    if name.startswith("tempered_gan"):
        lens_grids.save_lens(final, x_test[:12], run_dir / "lens.png")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def summarize(results) -> dict:
    table = {}
    for name in MODELS:
        rows = [r for r in results if r["model"] == name]
        if not rows:
            continue
        table[name] = {
            "runs": len(rows), "diverged": sum(r["diverged"] for r in rows),
            "train_seconds_mean": float(np.mean([r["train_seconds"] for r in rows])),
        }
        if all("fid" in r for r in rows):  # rows with samples (not infodrop_vae_relu)
            fid = np.array([r["fid"] for r in rows])
            kid = np.array([r["kid"] for r in rows])
            table[name].update({
                "fid_mean": float(fid.mean()), "fid_std": float(fid.std()),
                "kid_mean": float(kid.mean()), "kid_std": float(kid.std()),
                "collapsed": sum(r["collapsed"] for r in rows),
                "classes_covered_mean": float(np.mean([r["classes_covered"] for r in rows])),
            })
        for key in CODE_KEYS:
            values = [r[key] for r in rows if key in r]
            if len(values) == len(rows):
                table[name][f"{key}_mean"] = float(np.mean(values))
                table[name][f"{key}_std"] = float(np.std(values))
    return table


CODE_KEYS = ("test_elbo", "test_reconstruction_nll", "test_kl", "test_mse", "probe_accuracy")


def markdown(table, reference_fid, steps, batch_size, n_eval=5000) -> str:
    lines = [
        f"MNIST, {steps} steps x batch {batch_size}; FID/KID on `mnist_features` classifier "
        f"features (domain-classifier scores, not Inception FID), {n_eval} samples vs {n_eval} "
        f"test images; test-vs-train reference FID {reference_fid:.2f}.",
        "",
        "| model | runs | FID (mean +- std) | KID (mean +- std) | classes covered | "
        "collapsed | diverged | train s/run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in table.items():
        if "fid_mean" not in r:
            continue
        lines.append(
            f"| {name} | {r['runs']} | {r['fid_mean']:.2f} +- {r['fid_std']:.2f} | "
            f"{r['kid_mean']:.2f} +- {r['kid_std']:.2f} | "
            f"{r['classes_covered_mean']:.1f} | {r['collapsed']} | {r['diverged']} | "
            f"{r['train_seconds_mean']:.0f} |")
    coded = {name: r for name, r in table.items() if "probe_accuracy_mean" in r}
    if coded:
        lines += [
            "",
            f"Codes of the VAE rows: test ELBO, reconstruction NLL and KL (nats / image) and "
            f"pixel MSE on {CODE_EVAL} test images; linear probe (logistic regression on "
            f"standardised `encode` codes) trained on {PROBE_TRAIN} training images.",
            "",
            "| model | runs | test ELBO | reconstruction NLL | KL | MSE | probe accuracy % |",
            "|---|---|---|---|---|---|---|",
        ]

        def pm(r, key, scale=1.0, digits=2):
            return (f"{scale * r[key + '_mean']:.{digits}f} +- "
                    f"{scale * r[key + '_std']:.{digits}f}")

        for name, r in coded.items():
            lines.append(
                f"| {name} | {r['runs']} | {pm(r, 'test_elbo')} | "
                f"{pm(r, 'test_reconstruction_nll')} | {pm(r, 'test_kl')} | "
                f"{pm(r, 'test_mse', digits=4)} | {pm(r, 'probe_accuracy', 100.0, 1)} |")
        if "infodrop_vae_relu" in coded:
            lines += ["", "infodrop_vae_relu: the log-uniform prior is improper, its KL is "
                          "`-log(alpha / 0.701)` (defined up to a constant), so its ELBO is an "
                          "ELBO-like score, not a bound."]
    return "\n".join(lines) + "\n"


def run(config: Config | None = None) -> dict:
    """Trains every `models` x `seeds` run not yet in `results.json`; writes the table.

    Example:

    ```python
    import os

    import numpy as np

    import lrep_zoo

    # An npz folder holding a slice of the MNIST of $LREP_ZOO_DATA_DIR keeps the run short
    # (data_dir=None reads all of it).
    x, y = lrep_zoo.data.load_arrays("mnist", "train")[:2]
    x_test, y_test = lrep_zoo.data.load_arrays("mnist", "test")[:2]
    os.makedirs("mnist_slice/mnist", exist_ok=True)
    np.savez("mnist_slice/mnist/mnist.npz", x_train=x[:512], y_train=y[:512],
             x_test=x_test[:256], y_test=y_test[:256])

    from lrep_zoo.recipes.generative_mnist import Config, run

    # One VAE, 20 steps, scored on 256 samples; the feature classifier is trained on the
    # slice into runs/generative/mnist_features/ first.
    result = run(Config(data_dir="mnist_slice", models=["vae"], seeds=[0], steps=20,
                        eval_samples=256, output_dir="runs/generative"))
    print(result["table"])
    ```

    The table (every model, three seeds):

    ```bash
    lrep-zoo train generative_mnist --steps 1000 --output-dir runs/generative_mnist
    ```
    """
    from lrep_zoo import data, reporting

    c = config or Config()
    steps, batch_size, eval_samples = c.steps, c.batch_size, c.eval_samples
    jit_compile = auto_or_off(c.jit)
    out = reporting.output_dir(c.output_dir)
    x_train, y_train = data.load_arrays("mnist", "train", data_dir=c.data_dir)[:2]
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=c.data_dir)[:2]
    x_train = (x_train.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    x_test = (x_test.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    probe_data = (x_train[:PROBE_TRAIN], np.asarray(y_train[:PROBE_TRAIN]),
                  np.asarray(y_test[:CODE_EVAL]))
    from lrep_zoo.metrics import sample_quality as sq

    extractor = feature_classifier(c.features or out / "mnist_features" / "mnist_features.keras",
                                   c.data_dir)
    real_features = sq.extract_features(extractor, x_test[:eval_samples])
    reference_fid = sq.frechet_distance(real_features, sq.extract_features(
        extractor, x_train[:eval_samples]))
    results_path = out / "results.json"
    results = json.loads(results_path.read_text())["runs"] if results_path.exists() else []
    done = {(r["model"], r["seed"]) for r in results if r["steps"] == steps}
    n_eval = len(real_features)
    for seed in c.seeds:
        for name in c.models:
            if (name, seed) in done:
                continue
            rerun = dataclasses.replace(c, models=[name], seeds=[seed])
            metrics = train_one(name, seed, steps, batch_size, x_train, x_test, extractor,
                                real_features, out, verbose=c.verbose, jit_compile=jit_compile,
                                command=command_line(NAME, rerun), probe_data=probe_data)
            print(json.dumps({k: metrics.get(k) for k in ("model", "seed", "fid", "kid",
                                                           "classes_covered", "train_seconds")}),
                  flush=True)
            results.append(metrics)
            table = summarize(results)
            reporting.write_json(results_path, {
                "recipe": NAME, **record(c), "eval_samples": n_eval, "jit_compile": jit_compile,
                "reference_fid_test_vs_train": reference_fid, "table": table, "runs": results,
                "machine": reporting.machine()})
            (out / "table.md").write_text(markdown(table, reference_fid, steps, batch_size,
                                                    n_eval))
    return {"table": summarize(results), "reference_fid": reference_fid}


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train generative_mnist [flags]`."""
    result = run(parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
