"""Recipe: HybridNet (+ SHADE) on MNIST with 100 or 1000 labels (the SHADE paper's table).

Three rows, each trained on the same labelled split (`--split-seed`) for every
seed: `baseline` (encoder E_c + classifier, classification loss only, same
data stream, augmentation and noise), `hybridnet` (both branches, Mean
Teacher stability, reconstruction, intermediate reconstructions, branch
balancing) and `hybridnet_shade` (the same with SHADE on the encoders). Writes
`results.json` (the options, per run and mean +- std per row), reconstruction
grids (x, x_hat_c, x_hat_u, x_hat) and, with `--save-weights`, each trained model
as a preset folder `<output-dir>/<variant>_seed<seed>/` (`model.save_to_preset`:
config.json, model.weights.h5, metadata.json with the rerun command and the test
scores; it loads with `HybridNet.from_preset(folder)`). The
rows and their training are `lrep_zoo.models.hybridnet.experiment`
(`build_mnist`, `train_mnist`).

Offline the training images are the npz folder of `--data-dir` /
`LREP_ZOO_DATA_DIR` (../shared/data holds the first 17,435 MNIST training
images and the full test set); online, full MNIST comes through TFDS.

    lrep-zoo train hybridnet_mnist --data-dir ../shared/data --labels 100 --seeds 0 1 2
    python recipes/hybridnet_mnist.py --labels 100 --variants hybridnet_shade --steps 500
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from lrep_zoo.models.hybridnet.experiment import MNIST_VARIANTS as VARIANTS
from lrep_zoo.models.hybridnet.experiment import MnistProtocol, classification_scores, train_mnist
from lrep_zoo.recipe_config import command, option, parse, record

NAME = "hybridnet_mnist"
DESCRIPTION = "HybridNet (+ SHADE) vs supervised baseline on MNIST, 100/1000 labels"


@dataclasses.dataclass
class Config(MnistProtocol):
    """The options of `lrep-zoo train hybridnet_mnist`: the training protocol, then the run's."""

    output_dir: str = f"lrep_zoo_outputs/{NAME}"
    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir; "
                                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    variants: list[str] = option(list(VARIANTS), choices=VARIANTS)
    seeds: list[int] = option([0, 1, 2])
    save_weights: bool = False
    verbose: int = 2
    summarise: list[str] | None = option(
        None, metavar="DIR", recorded=False,
        help="only merge the results.json of these output folders into a table")


def evaluate(model, data_dir=None, x_test=None, y_test=None, limit: int | None = None) -> dict:
    """Test accuracy (fractions) of the student and of the Mean Teacher when there is one.

    `limit` (the CLI's `--limit`): score only the first `limit` test images.

    Example:

    ```python
    from lrep_zoo.models import HybridNet
    from lrep_zoo.recipes.hybridnet_mnist import evaluate

    model = HybridNet.from_preset("hybridnet_mnist_100")
    # MNIST test images from $LREP_ZOO_DATA_DIR (or data_dir=...); the first 500 here.
    print(evaluate(model, limit=500))  # {'accuracy': ..., 'teacher_accuracy': ...}
    ```
    """
    from lrep_zoo import data
    from lrep_zoo.inputs import to_model_range

    if x_test is None:  # the uint8 test images, as the model takes them
        x_test, y_test = data.load_arrays("mnist", "test", data_dir=data_dir)
        x_test = to_model_range(x_test, model)
    else:  # images in [0, 1], as this recipe's protocol scales them
        x_test = to_model_range(x_test, model, source="0..1")
    x_test, y_test = x_test[:limit], y_test[:limit]
    return classification_scores(model, x_test, y_test, batch_size=1000)


def run(config: Config | None = None) -> dict:
    """Trains every `variants` x `seeds` row; writes `results.json` and grids.

    Example:

    ```python
    from lrep_zoo.recipes.hybridnet_mnist import Config, run

    # MNIST from $LREP_ZOO_DATA_DIR (or data_dir=...). A smoke run: the baseline row,
    # one seed, 20 steps, without XLA (its compilation would cost more than the steps).
    results = run(Config(variants=["baseline"], seeds=[0], steps=20, jit=False, verbose=0,
                         output_dir="runs/hn"))
    print(results["rows"])
    ```

    The table (100 labels, three seeds):

    ```bash
    lrep-zoo train hybridnet_mnist --labels 100 --seeds 0 1 2 --output-dir runs/hybridnet_mnist
    ```
    """
    from lrep_zoo import data, reporting
    from lrep_zoo.models.hybridnet.grids import save_reconstruction_grid

    config = config or Config()
    out = reporting.output_dir(config.output_dir)
    x, y = data.load_arrays("mnist", "train", data_dir=config.data_dir)
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=config.data_dir)
    x = x.reshape(len(x), 28, 28, 1)
    x_test = x_test.astype("float32").reshape(len(x_test), 28, 28, 1) / 255.0
    labelled = data.split_labelled(y, config.labels, seed=config.split_seed)
    results = {"recipe": NAME, **record(config), "train_images": int(len(x)),
               "test_images": int(len(x_test)), "machine": reporting.machine(),
               "runs": [], "rows": {}}
    path = out / "results.json"
    for variant in config.variants:
        for seed in config.seeds:
            model, history, seconds = train_mnist(config, variant, seed, x, y, labelled,
                                                  verbose=config.verbose)
            scores = evaluate(model, x_test=x_test, y_test=y_test)
            run_out = {"variant": variant, "seed": seed, "labels": config.labels,
                       "steps": config.steps, "train_seconds": round(seconds, 1), **scores,
                       "final_logs": {k: float(v[-1]) for k, v in history.history.items()}}
            if variant != "baseline":
                grid = save_reconstruction_grid(
                    model, x_test[:12], out / f"{variant}_seed{seed}_reconstructions.png")
                run_out["grid"] = str(grid)
            if config.save_weights:
                preset = model.save_to_preset(
                    out / f"{variant}_seed{seed}", command=command(NAME, config),
                    overwrite=True, extra_metadata={
                        "recipe": NAME, "variant": variant, "seed": seed,
                        "labels": config.labels, "steps": config.steps,
                        "train_seconds": round(seconds, 1),
                        "test_scores": scores, "test_images": int(len(x_test))})
                run_out["preset"] = str(preset)
            results["runs"].append(run_out)
            print(json.dumps(run_out), flush=True)
            _summarise(results)
            reporting.write_json(path, results)
    return results


def _summarise(results):
    rows = {}
    for r in results["runs"]:
        rows.setdefault(r["variant"], []).append(r)
    results["rows"] = {
        variant: {
            "accuracy_mean": 100 * float(np.mean([r["accuracy"] for r in runs])),
            "accuracy_std": 100 * float(np.std([r["accuracy"] for r in runs])),
            "seeds": [r["seed"] for r in runs],
            **({"teacher_accuracy_mean": 100 * float(np.mean([r["teacher_accuracy"] for r in runs])),
                "teacher_accuracy_std": 100 * float(np.std([r["teacher_accuracy"] for r in runs]))}
               if "teacher_accuracy" in runs[0] else {}),
        }
        for variant, runs in rows.items()
    }


def summarise(folders) -> str:
    """Merges the `results.json` of several runs (e.g. seeds run in parallel) into a table.

    Example:

    ```python
    import json
    import os

    from lrep_zoo.recipes.hybridnet_mnist import summarise

    # Two output folders of `run`, one seed each (here their results.json written by hand).
    for seed, accuracy in ((0, 0.95), (1, 0.93)):
        os.makedirs(f"runs/hn_seed{seed}", exist_ok=True)
        with open(f"runs/hn_seed{seed}/results.json", "w") as f:
            json.dump({"runs": [{"variant": "hybridnet", "seed": seed, "accuracy": accuracy,
                                 "teacher_accuracy": accuracy + 0.01}]}, f)
    print(summarise(["runs/hn_seed0", "runs/hn_seed1"]))
    ```
    """
    from pathlib import Path

    results = {"runs": []}
    for folder in folders:
        path = Path(folder) / "results.json"
        if path.exists():
            results["runs"] += json.loads(path.read_text())["runs"]
    _summarise(results)
    lines = ["| model | test accuracy % (mean +- std) | Mean Teacher % | seeds |",
             "|---|---|---|---|"]
    for variant, row in results["rows"].items():
        teacher = (f"{row['teacher_accuracy_mean']:.2f} +- {row['teacher_accuracy_std']:.2f}"
                   if "teacher_accuracy_mean" in row else "-")
        lines.append(f"| {variant} | {row['accuracy_mean']:.2f} +- {row['accuracy_std']:.2f} "
                     f"| {teacher} | {row['seeds']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """`lrep-zoo train hybridnet_mnist [flags]` (or `--summarise DIR...`)."""
    config = parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    if config.summarise:
        table = summarise(config.summarise)
        print(table)
        return {"table": table}
    results = run(config)
    print(json.dumps(results["rows"], indent=2))
    return results


if __name__ == "__main__":
    main()
