"""Recipe: HybridNet with ConvLarge on CIFAR-10 (1000 / 2000 / 4000 labels), the paper's protocol.

Protocol (methods.md, thesis appendix): ConvLarge encoders, transposed-conv
decoder (c-branch) and unpooling decoder (u-branch); 2 px mirror-padded
translations, horizontal flips and Gaussian noise (sigma 0.15) inside the model
(a different draw for the Mean Teacher); Adam lr 0.003 with linear decay to 0
over the last third; batches of 20 labelled + 80 unlabelled; lambda_c = 1,
lambda_s = 100 (ramp-up exp(-5 (1 - t)^2)), lambda_r = 1, intermediate 0.5,
branch balancing 1; EMA decay 0.99. Images are standardised per channel.
Deviations: Keras' Adam has a fixed beta_1 (the paper anneals it 0.9 -> 0.5
over the last fifth); the u-branch unpooling is nearest-neighbour upsampling.
`--ablation` runs the rows of the ablation table (classification,
+ stability, auto-encoder, ...). Meant for a GPU machine.

    lrep-zoo train hybridnet_cifar10 --labels 4000 --steps 60000 --output-dir runs/hn_c10
    python recipes/hybridnet_cifar10.py --labels 1000 --steps 200   # smoke run
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

NAME = "hybridnet_cifar10"
DESCRIPTION = "HybridNet (ConvLarge) on CIFAR-10 with 1000/2000/4000 labels"

# Ablation rows of methods.md: (networks, stability, loss weights).
ABLATION = {
    "classification": dict(branches=False, stability=None, weights={}),
    "classification_stability": dict(branches=False, stability="mean_teacher", weights={}),
    "autoencoder": dict(branches="c", stability=None,
                        weights={"intermediate": 0.0, "balancing": 0.0}),
    "autoencoder_stability": dict(branches="c", stability="mean_teacher",
                                  weights={"intermediate": 0.0, "balancing": 0.0}),
    "hybridnet_architecture": dict(branches="cu", stability=None,
                                   weights={"intermediate": 0.0, "balancing": 0.0}),
    "hybridnet": dict(branches="cu", stability="mean_teacher", weights={}),
}


def build(row="hybridnet", steps=60000, rampup_fraction=0.25, stability_weight=100.0,
          flip=True, shade_weight=None, seed=0, image_shape=(32, 32, 3)):
    """The model of one ablation row (uncompiled)."""
    from lrep_zoo.models.hybridnet import HybridNet
    from lrep_zoo.models.hybridnet import convlarge

    spec = ABLATION[row]
    nets = convlarge.networks(image_shape, shade_weight=shade_weight,
                              unsupervised_branch=spec["branches"] == "cu",
                              decoders=bool(spec["branches"]))
    weights = {"classification": 1.0, "stability": stability_weight, "reconstruction": 1.0,
               "intermediate": 0.5, "balancing": 1.0, **spec["weights"]}
    if spec["branches"] != "cu":
        weights["balancing"] = 0.0
    return HybridNet(**nets, stability=spec["stability"], ema_decay=0.99, loss_weights=weights,
                     rampup_steps={"stability": int(rampup_fraction * steps)},
                     input_noise=0.15, max_translation=2, flip=flip, seed=seed)


def standardise(x, mean, std):
    return ((x.astype("float32") / 255.0) - mean) / std


def evaluate(model, x_test, y_test) -> dict:
    """Test accuracy (%) of the student and, where there is one, of the Mean Teacher."""
    import keras

    def predict(fn):
        return np.concatenate([keras.ops.convert_to_numpy(fn(x_test[i:i + 500]))
                               for i in range(0, len(x_test), 500)]).argmax(-1)

    scores = {"accuracy": 100 * float((predict(model.classify) == y_test).mean())}
    if model.teacher_encoder is not None:
        def teacher(x):
            return model.teacher_classifier(model.teacher_encoder(x, training=False)[0],
                                            training=False)
        scores["teacher_accuracy"] = 100 * float((predict(teacher) == y_test).mean())
    return scores


def run(dataset="cifar10", output_dir=None, data_dir=None, labels=4000, rows=("hybridnet",),
        seeds=(0,), split_seed=0, steps=60000, batch_size=100, labelled_per_batch=20,
        learning_rate=3e-3, stability_weight=100.0, rampup_fraction=0.25, flip=True,
        shade_weight=None, verbose=2, name=NAME) -> dict:
    import keras

    from lrep_zoo import data, reporting
    from lrep_zoo.models.hybridnet.grids import save_reconstruction_grid
    from lrep_zoo.training.schedules import RampedLinearDecay

    out = reporting.output_dir(output_dir or f"lrep_zoo_outputs/{name}")
    x, y = data.load_arrays(dataset, "train", data_dir=data_dir)
    x_test, y_test = data.load_arrays(dataset, "test", data_dir=data_dir)
    mean = (x.astype("float32") / 255.0).mean((0, 1, 2))
    std = (x.astype("float32") / 255.0).std((0, 1, 2))
    x_train = standardise(x, mean, std)
    x_test = standardise(x_test, mean, std)
    labelled = data.split_labelled(y, labels, seed=split_seed)
    jit = keras.backend.backend() != "torch"
    results = {"recipe": name, "dataset": dataset, "labels": labels, "steps": steps,
               "runs": [], "machine": reporting.machine()}
    for row in rows:
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            stream = data.semi_supervised(x_train, y, labels, seed=seed, batch_size=batch_size,
                                          labelled_per_batch=labelled_per_batch,
                                          labelled_indices=labelled, value_range=None)
            model = build(row, steps, rampup_fraction, stability_weight, flip, shade_weight,
                          seed, tuple(x.shape[1:]))
            lr = RampedLinearDecay(learning_rate, total_steps=steps, decay_steps=steps // 3)
            model.compile(optimizer=keras.optimizers.Adam(lr), jit_compile=jit)
            epochs = max(1, min(20, steps // 100))
            start = time.perf_counter()
            model.fit(stream, steps_per_epoch=steps // epochs, epochs=epochs, verbose=verbose)
            seconds = time.perf_counter() - start
            run_out = {"row": row, "seed": seed, "train_seconds": round(seconds, 1),
                       **evaluate(model, x_test, y_test)}
            if model.decoder_c is not None:
                sample = x_test[:10]
                run_out["grid"] = str(save_reconstruction_grid(
                    _DisplayModel(model, mean, std), sample, out / f"{row}_seed{seed}.png",
                    shown_images=sample * std + mean))
            model.save_weights(out / f"{row}_seed{seed}.weights.h5")
            results["runs"].append(run_out)
            print(json.dumps(run_out), flush=True)
            reporting.write_json(out / "results.json", results)
    return results


class _DisplayModel:
    """Maps HybridNet reconstructions back to [0, 1] for the grids.

    `x_hat = x_hat_c + x_hat_u` lives in standardised units; the mean is added to
    `x_hat` and `x_hat_c`, the u-branch (the complement) is shown around 0.5.
    """

    def __init__(self, model, mean, std):
        self.model, self.mean, self.std = model, mean, std

    def __call__(self, images, training=False):
        import keras

        outputs = self.model(images, training=False)
        shown = {}
        for key in ("x_hat_c", "x_hat_u", "x_hat"):
            if key in outputs:
                value = keras.ops.convert_to_numpy(outputs[key]) * self.std
                shown[key] = value + (0.5 if key == "x_hat_u" else self.mean)
        return shown


def main(argv=None, dataset="cifar10", name=NAME, description=DESCRIPTION, flip=True,
         label_choices=(1000, 2000, 4000)) -> dict:
    parser = argparse.ArgumentParser(prog=f"lrep-zoo train {name}", description=description)
    parser.add_argument("--output-dir", default=f"lrep_zoo_outputs/{name}")
    parser.add_argument("--data-dir", default=None,
                        help="TFDS data_dir or npz folder; default: $LREP_ZOO_DATA_DIR, then TFDS")
    parser.add_argument("--labels", type=int, default=label_choices[-1], choices=label_choices)
    parser.add_argument("--rows", nargs="+", default=["hybridnet"], choices=list(ABLATION),
                        help="ablation rows to train")
    parser.add_argument("--ablation", action="store_true", help="all ablation rows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=60000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--labelled-per-batch", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--stability-weight", type=float, default=100.0)
    parser.add_argument("--rampup-fraction", type=float, default=0.25)
    parser.add_argument("--shade-weight", type=float, default=None)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    results = run(
        dataset=dataset, output_dir=args.output_dir, data_dir=args.data_dir, labels=args.labels,
        rows=list(ABLATION) if args.ablation else args.rows, seeds=args.seeds,
        split_seed=args.split_seed, steps=args.steps, batch_size=args.batch_size,
        labelled_per_batch=args.labelled_per_batch, learning_rate=args.learning_rate,
        stability_weight=args.stability_weight, rampup_fraction=args.rampup_fraction,
        flip=flip, shade_weight=args.shade_weight, verbose=args.verbose, name=name,
    )
    print(json.dumps(results["runs"], indent=2))
    return results


if __name__ == "__main__":
    main()
