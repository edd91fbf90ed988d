"""Recipe: siamese networks for one-shot face identification on Extended Yale-B.

The task of issue 13: train on the 28 identities 0..27 (the loader's train + test
splits of them; their validation split scores pair verification), then N-way
one-shot identification (N = 5, 10) on the 10 identities 28..37 that training never
sees: one support image per identity under frontal light (azimuth = elevation = 0),
every other image of them (all other lights) as a query
(`lrep_zoo.models.siamese.experiment`). 48x42 faces (the shared npz's 4x4 box average).

Both losses (`cosine`: the cosine contrastive loss; `koch`: learned weighted L1 +
sigmoid + binary cross-entropy), each over `--seeds`, next to nearest neighbours
(Euclidean) on pixels (raw and per-image standardised), on the codes of a denoising
auto-encoder (MLP, trained here on the same training images, one per seed) and on
the h_y codes of the `dualdis_yaleb` preset (which was trained on the train split of
all 38 identities, so it HAS seen the test identities, under other lights: not a
fair one-shot baseline, reported for reference; 192x168 input, so it needs the
192x168 npz).

Writes to `--output-dir`: `metrics.json` (every run, mean +- std per method),
`results.md` (the table) and, for each loss, the preset of the first seed's model
(`preset_<loss>/`: `Siamese.from_preset(DIR)` loads it).

    python recipes/siamese_yaleb.py --data-dir ../shared/data --output-dir runs/siamese_yaleb
    lrep-zoo train siamese_yaleb --data-dir ../shared/data --seeds 0 --epochs 1   # smoke run
"""

from __future__ import annotations

import dataclasses
import json
import time
import numpy as np

from lrep_zoo.recipe_config import command, option, parse, record
from lrep_zoo.training.jit_policy import StepTimer

NAME = "siamese_yaleb"
DESCRIPTION = "Siamese networks: N-way one-shot identification of unseen Yale-B faces"


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train siamese_yaleb` (one flag per field)."""

    data_dir: str | None = option(None, help="folder with the Yale-B npz files (default: "
                                             "$LREP_ZOO_DATA_DIR)")
    output_dir: str = f"runs/{NAME}"
    seeds: list[int] = option([0, 1, 2])
    losses: list[str] = option(["cosine", "koch"], choices=("cosine", "koch"))
    epochs: int = 15
    steps_per_epoch: int = 40
    batch_size: int = option(32, help="pairs per step (half similar)")
    learning_rate: float = option(1e-3, help="Adam")
    embedding_dim: int = 64
    filters: list[int] = option([16, 32, 64], help="conv blocks of the embedding network")
    margin: float = option(0.0, help="cosine contrastive loss margin")
    pooling: str = option("flatten", choices=("flatten", "avg"),
                          help="before the embedding layer")
    trials: int = option(20, help="distractor draws per query for 5-way")
    dae_epochs: int = option(30, help="epochs of the DAE baseline (0: no DAE baseline)")
    dualdis: bool = option(True, help="--no-dualdis: skip the DualDis h_y baseline")
    verbose: int = 0


def _split_pairs(labels, n, seed):
    from lrep_zoo.data.pairs import sample_pairs

    return sample_pairs(labels, n, np.random.default_rng(seed))


def _one_shot(sim, task, trials, seed) -> dict:
    from lrep_zoo.models.siamese.experiment import one_shot_accuracy

    q, s = task["query"]["identity"], task["support"]["identity"]
    return {f"{n}_way": one_shot_accuracy(sim, q, s, n_way=n, trials=trials, seed=seed)
            for n in (5, 10)}


def _dae_codes(task, seed, epochs, verbose):
    import keras

    from lrep_zoo.models import DenoisingAutoEncoder

    x = task["train"]["image"].astype("float32") / 255.0
    keras.utils.set_random_seed(seed)
    dae = DenoisingAutoEncoder(x.shape[1:], latent_dim=64, architecture="mlp", seed=seed)
    dae.compile(optimizer=keras.optimizers.Adam(1e-3))
    start = time.perf_counter()
    dae.fit(x, epochs=epochs, batch_size=64, verbose=verbose, callbacks=[StepTimer()])
    seconds = time.perf_counter() - start
    code = lambda part: keras.ops.convert_to_numpy(
        dae.encode(task[part]["image"].astype("float32") / 255.0))
    return code("query"), code("support"), seconds


def _dualdis_codes(c, task):
    import keras

    from lrep_zoo.data import yaleb
    from lrep_zoo.models import DualDis
    from lrep_zoo.models.siamese.experiment import yaleb_one_shot

    big = yaleb_one_shot(yaleb.load_yaleb_npz(c.data_dir, "192x168"))
    for part in ("query", "support"):
        for k in ("identity", "azimuth", "elevation"):
            if not np.array_equal(big[part][k], task[part][k]):
                raise ValueError("The 192x168 and 48x42 Yale-B files list different images.")
    model = DualDis.from_preset("dualdis_yaleb")
    code = lambda part: np.concatenate([
        keras.ops.convert_to_numpy(model.encode(big[part]["image"][k:k + 64])[0])
        for k in range(0, len(big[part]["image"]), 64)])
    return code("query"), code("support")


def run(config: Config | None = None) -> dict:
    """Trains every (loss, seed), scores the baselines; returns and writes the metrics.

    Example:

    ```python
    from lrep_zoo.recipes.siamese_yaleb import Config, run

    # Yale-B from $LREP_ZOO_DATA_DIR (or data_dir=...). A smoke run: the cosine loss, one
    # seed, one epoch of 5 steps, 2 distractor draws per query; no DAE / DualDis baselines.
    metrics = run(Config(seeds=[0], losses=["cosine"], epochs=1, steps_per_epoch=5,
                         trials=2, dae_epochs=0, dualdis=False, output_dir="runs/siamese"))
    print(sorted(metrics))
    ```

    The table (both losses, three seeds, the baselines):

    ```bash
    lrep-zoo train siamese_yaleb --output-dir runs/siamese_yaleb
    ```
    """
    from lrep_zoo import experiments, reporting
    from lrep_zoo.data import yaleb
    from lrep_zoo.models.siamese import experiment as ex

    c = config or Config()
    out = reporting.output_dir(c.output_dir)
    task = ex.yaleb_one_shot(yaleb.load_yaleb_npz(c.data_dir, "48x42"))
    queries, supports = task["query"]["image"], task["support"]["image"]
    runs = []

    for standardize in (False, True):
        sim = ex.pixel_similarity(queries, supports, standardize=standardize)
        runs.append({"method": "pixels, standardised" if standardize else "pixels",
                     "seed": None, **_one_shot(sim, task, c.trials, 0)})
    if c.dualdis:
        q, s = _dualdis_codes(c, task)
        runs.append({"method": "DualDis h_y (saw all 38 ids)", "seed": None,
                     **_one_shot(ex.euclidean_similarity(q, s), task, c.trials, 0)})
    val_i, val_j, val_same = _split_pairs(task["validation"]["identity"], 2000, 1234)
    test_i, test_j, test_same = _split_pairs(task["query"]["identity"], 2000, 4321)
    presets = {}
    for seed in c.seeds:
        if c.dae_epochs:
            q, s, seconds = _dae_codes(task, seed, c.dae_epochs, c.verbose)
            runs.append({"method": "DAE codes", "seed": seed, "train_seconds": round(seconds, 1),
                         **_one_shot(ex.euclidean_similarity(q, s), task, c.trials, seed)})
        for loss in c.losses:
            model, seconds = ex.train_siamese(
                task["train"]["image"], task["train"]["identity"], loss=loss, seed=seed,
                epochs=c.epochs, steps_per_epoch=c.steps_per_epoch, batch_size=c.batch_size,
                learning_rate=c.learning_rate, embedding_dim=c.embedding_dim,
                filters=tuple(c.filters), margin=c.margin, pooling=c.pooling, verbose=c.verbose)
            sim = ex.siamese_similarity(model, queries, supports)
            val_x, test_x = task["validation"]["image"], queries
            verification = ex.verification_accuracy(
                _pair_scores(model, val_x, val_i, val_j), val_same,
                _pair_scores(model, test_x, test_i, test_j), test_same)
            row = {"method": f"siamese, {loss}", "seed": seed, "train_seconds": round(seconds, 1),
                   **_one_shot(sim, task, c.trials, seed),
                   "verification_val": verification["val_accuracy"],
                   "verification_unseen": verification["test_accuracy"]}
            runs.append(row)
            print(json.dumps(row), flush=True)
            if seed == c.seeds[0]:
                presets[loss] = str(model.save_to_preset(
                    out / f"preset_{loss}", command=command(NAME, c), overwrite=True,
                    extra_metadata={"recipe": NAME, "scores": row}))
    summary = {m: experiments.summarise([r for r in runs if m in r], keys=("method",), metric=m)
               for m in ("5_way", "10_way", "verification_unseen")}
    methods = list(dict.fromkeys(r["method"] for r in runs))
    table = experiments.markdown_table(
        ["method", "5-way one-shot %", "10-way one-shot %", "verification, unseen ids %",
         "seeds"],
        [[m, *(experiments.cell(summary[k].get(m)) for k in summary),
          summary["10_way"][m]["n"]] for m in methods])
    metrics = {"recipe": NAME, **record(c), "command": command(NAME, c), "runs": runs,
               "summary": summary, "machine": reporting.machine(),
               "images": {k: int(len(v["identity"])) for k, v in task.items()},
               "presets": presets}
    reporting.write_json(out / "metrics.json", metrics)
    (out / "results.md").write_text(table + "\n")
    metrics["table"] = table
    return metrics


def _pair_scores(model, images, i, j):
    from keras import ops

    from lrep_zoo.models.siamese.experiment import embed_numpy

    e = embed_numpy(model, images)
    return ops.convert_to_numpy(model.score_embeddings(e[i], e[j]))


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train siamese_yaleb [flags]`."""
    config = parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    metrics = run(config)
    print(metrics["table"])
    print(f"Wrote metrics.json and results.md to {config.output_dir}")
    return metrics


if __name__ == "__main__":
    main()
