"""Recipe: HybridNet (+ SHADE) on MNIST with 100 or 1000 labels (the SHADE paper's table).

Three rows, each trained on the same labelled split (`--split-seed`) for every
seed: `baseline` (encoder E_c + classifier, classification loss only, same
data stream, augmentation and noise), `hybridnet` (both branches, Mean
Teacher stability, reconstruction, intermediate reconstructions, branch
balancing) and `hybridnet_shade` (the same with SHADE on the encoders). Writes
`results.json` (per run and mean +- std per row), reconstruction grids
(x, x_hat_c, x_hat_u, x_hat) and, with `--save-weights`, weights.

Offline the training images are the npz folder of `--data-dir` /
`LREP_ZOO_DATA_DIR` (../shared/data holds the first 17,435 MNIST training
images and the full test set); online, full MNIST comes through TFDS.

    lrep-zoo train hybridnet_mnist --data-dir ../shared/data --labels 100 --seeds 0 1 2
    python recipes/hybridnet_mnist.py --labels 100 --variants hybridnet_shade --steps 500
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

NAME = "hybridnet_mnist"
DESCRIPTION = "HybridNet (+ SHADE) vs supervised baseline on MNIST, 100/1000 labels"
VARIANTS = ("baseline", "hybridnet", "hybridnet_shade")


def build(variant: str, steps: int, shade_weight: float = 1e-3, stability_weight: float = 100.0,
          rampup_fraction: float = 0.5, seed: int = 0, filters=(8, 16), input_noise: float = 0.15):
    """The model of one row (uncompiled)."""
    from lrep_zoo.models.hybridnet import HybridNet
    from lrep_zoo.models.hybridnet import mnist_networks as hybrid_mnist

    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; expected one of {VARIANTS}.")
    rampup = int(rampup_fraction * steps)
    common = dict(input_noise=input_noise, max_translation=2, seed=seed)
    if variant == "baseline":
        nets = hybrid_mnist.networks(filters=filters, unsupervised_branch=False, decoders=False)
        return HybridNet(**nets, stability=None, loss_weights={"classification": 1.0}, **common)
    nets = hybrid_mnist.networks(
        filters=filters, shade_weight=shade_weight if variant == "hybridnet_shade" else None
    )
    return HybridNet(
        **nets,
        stability="mean_teacher",
        ema_decay=0.99,
        loss_weights={"classification": 1.0, "stability": stability_weight,
                      "reconstruction": 1.0, "intermediate": 0.5, "balancing": 1.0},
        rampup_steps={"stability": rampup, "reconstruction": 0},
        **common,
    )


def evaluate(model, data_dir=None, x_test=None, y_test=None) -> dict:
    """Test accuracy of the student (and of the Mean Teacher when there is one)."""
    import keras

    from lrep_zoo import data

    if x_test is None:
        x_test, y_test = data.load_arrays("mnist", "test", data_dir=data_dir)
        x_test = x_test.astype("float32")[..., None] / 255.0
    scores = {}
    probs = np.concatenate([
        keras.ops.convert_to_numpy(model.classify(x_test[i:i + 1000]))
        for i in range(0, len(x_test), 1000)
    ])
    scores["accuracy"] = float((probs.argmax(-1) == y_test).mean())
    if model.teacher_encoder is not None:
        def teacher(x):
            h = model.teacher_encoder(x, training=False)
            h = h[0] if isinstance(h, (list, tuple)) else h
            return keras.ops.convert_to_numpy(model.teacher_classifier(h, training=False))
        logits = np.concatenate([teacher(x_test[i:i + 1000]) for i in range(0, len(x_test), 1000)])
        scores["teacher_accuracy"] = float((logits.argmax(-1) == y_test).mean())
    return scores


def run(
    output_dir="lrep_zoo_outputs/hybridnet_mnist",
    data_dir=None,
    labels=100,
    variants=VARIANTS,
    seeds=(0, 1, 2),
    split_seed=0,
    steps=4000,
    batch_size=64,
    labelled_per_batch=16,
    learning_rate=3e-3,
    shade_weight=1e-3,
    stability_weight=100.0,
    rampup_fraction=0.5,
    filters=(8, 16),
    input_noise=0.15,
    save_weights=False,
    verbose=2,
    jit_compile=None,
) -> dict:
    import keras

    from lrep_zoo import data, reporting
    from lrep_zoo.models.hybridnet.grids import save_reconstruction_grid
    from lrep_zoo.training.schedules import RampedLinearDecay

    out = reporting.output_dir(output_dir)
    x, y = data.load_arrays("mnist", "train", data_dir=data_dir)
    x_test, y_test = data.load_arrays("mnist", "test", data_dir=data_dir)
    x = x.reshape(len(x), 28, 28, 1)
    x_test = x_test.astype("float32").reshape(len(x_test), 28, 28, 1) / 255.0
    labelled = data.split_labelled(y, labels, seed=split_seed)
    jit = keras.backend.backend() != "torch" if jit_compile is None else jit_compile
    results = {"runs": [], "rows": {}}
    path = out / "results.json"
    for variant in variants:
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            stream = data.semi_supervised(
                x, y, labels, seed=seed, batch_size=batch_size,
                labelled_per_batch=labelled_per_batch, labelled_indices=labelled,
            )
            model = build(variant, steps, shade_weight, stability_weight, rampup_fraction,
                          seed=seed, filters=tuple(filters), input_noise=input_noise)
            lr = RampedLinearDecay(learning_rate, total_steps=steps, decay_steps=steps // 3)
            model.compile(optimizer=keras.optimizers.Adam(lr), jit_compile=jit)
            epochs = 10
            start = time.perf_counter()
            history = model.fit(stream, steps_per_epoch=steps // epochs, epochs=epochs,
                                verbose=verbose)
            seconds = time.perf_counter() - start
            scores = evaluate(model, x_test=x_test, y_test=y_test)
            run_out = {"variant": variant, "seed": seed, "labels": labels, "steps": steps,
                       "train_seconds": round(seconds, 1), **scores,
                       "final_logs": {k: float(v[-1]) for k, v in history.history.items()}}
            if variant != "baseline":
                grid = save_reconstruction_grid(
                    model, x_test[:12], out / f"{variant}_seed{seed}_reconstructions.png")
                run_out["grid"] = str(grid)
            if save_weights:
                model.save_weights(out / f"{variant}_seed{seed}.weights.h5")
            results["runs"].append(run_out)
            print(json.dumps(run_out), flush=True)
            _summarise(results)
            results.update(
                {"recipe": NAME, "split_seed": split_seed, "batch_size": batch_size,
                 "labelled_per_batch": labelled_per_batch, "learning_rate": learning_rate,
                 "shade_weight": shade_weight, "stability_weight": stability_weight,
                 "rampup_fraction": rampup_fraction, "filters": list(filters),
                 "input_noise": input_noise, "steps": steps,
                 "train_images": int(len(x)), "test_images": int(len(x_test)),
                 "machine": reporting.machine()}
            )
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
    """Merges the `results.json` of several runs (e.g. seeds run in parallel) into a table."""
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


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog=f"lrep-zoo train {NAME}", description=DESCRIPTION)
    parser.add_argument("--output-dir", default="lrep_zoo_outputs/hybridnet_mnist")
    parser.add_argument("--data-dir", default=None,
                        help="npz folder (like shared/data) or TFDS data_dir; "
                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    parser.add_argument("--labels", type=int, default=100, choices=[100, 1000])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--labelled-per-batch", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--shade-weight", type=float, default=1e-3)
    parser.add_argument("--stability-weight", type=float, default=100.0)
    parser.add_argument("--rampup-fraction", type=float, default=0.5)
    parser.add_argument("--filters", type=int, nargs=2, default=[8, 16])
    parser.add_argument("--input-noise", type=float, default=0.15)
    parser.add_argument("--save-weights", action="store_true")
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument("--no-jit", action="store_true", help="jit_compile=False")
    parser.add_argument("--summarise", nargs="+", metavar="DIR",
                        help="only merge the results.json of these output folders into a table")
    args = parser.parse_args(argv)
    if args.summarise:
        table = summarise(args.summarise)
        print(table)
        return {"table": table}
    results = run(
        output_dir=args.output_dir, data_dir=args.data_dir, labels=args.labels,
        variants=args.variants, seeds=args.seeds, split_seed=args.split_seed, steps=args.steps,
        batch_size=args.batch_size, labelled_per_batch=args.labelled_per_batch,
        learning_rate=args.learning_rate, shade_weight=args.shade_weight,
        stability_weight=args.stability_weight, rampup_fraction=args.rampup_fraction,
        filters=args.filters, input_noise=args.input_noise, save_weights=args.save_weights,
        verbose=args.verbose, jit_compile=False if args.no_jit else None,
    )
    print(json.dumps(results["rows"], indent=2))
    return results


if __name__ == "__main__":
    main()
