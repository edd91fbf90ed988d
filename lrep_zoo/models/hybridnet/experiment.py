"""HybridNet protocols shared by the recipes.

- MNIST (`hybridnet_mnist`, `hybridnet_mnist_validation`): the rows `baseline`,
  `hybridnet`, `hybridnet_shade` (`build_mnist`), their training hyperparameters
  (`MnistProtocol`) and training run (`train_mnist`).
- ConvLarge (`hybridnet_cifar10`, `hybridnet_svhn`): the ablation rows
  (`build_convlarge`), the options (`ConvLargeConfig`) and the whole run
  (`run_convlarge`).

`classification_scores` scores the student and, where there is one, the Mean Teacher.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Sequence

import numpy as np

from lrep_zoo.recipe_config import jit_compile, option, record
from lrep_zoo.training.jit_policy import StepTimer

MNIST_VARIANTS = ("baseline", "hybridnet", "hybridnet_shade")

# Ablation rows of methods.md: (networks, stability, loss weights).
CONVLARGE_ABLATION = {
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


def classification_scores(model, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> dict:
    """Accuracy (fractions) of the student and, when there is one, of the Mean Teacher.

    Returns `{"accuracy": ...}` plus `"teacher_accuracy"` for a Mean-Teacher model.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.hybridnet.experiment import classification_scores

    model = lrep_zoo.applications.HybridNet(weights="mnist_100")  # pretrained, uint8 in
    x_test, y_test = lrep_zoo.data.load_arrays("mnist", "test")
    classification_scores(model, x_test[:1000], y_test[:1000])  # {'accuracy': 0.94, 'teacher_accuracy': 0.94}
    ```
    """
    import keras

    def predict(fn):
        return np.concatenate([keras.ops.convert_to_numpy(fn(x[i:i + batch_size]))
                               for i in range(0, len(x), batch_size)]).argmax(-1)

    scores = {"accuracy": float((predict(model.classify) == y).mean())}
    if model.teacher_encoder is not None:
        def teacher(images):
            h = model.teacher_encoder(model.rescale(images), training=False)
            h = h[0] if isinstance(h, (list, tuple)) else h
            return model.teacher_classifier(h, training=False)

        scores["teacher_accuracy"] = float((predict(teacher) == y).mean())
    return scores


# ---------------------------------------------------------------------------
# MNIST.


def build_mnist(variant: str, steps: int, shade_weight: float = 1e-3,
                stability_weight: float = 100.0, rampup_fraction: float = 0.5, seed: int = 0,
                filters: Sequence[int] = (8, 16), input_noise: float = 0.15):
    """The (uncompiled) model of one MNIST row: `baseline`, `hybridnet` or `hybridnet_shade`.

    `baseline` is E_c + classifier with the classification loss only (same
    augmentation and noise); `hybridnet` has both branches, Mean Teacher
    stability, reconstruction, intermediate reconstructions and branch
    balancing; `hybridnet_shade` adds SHADE on the encoders.

    Example:

    ```python
    from lrep_zoo.models.hybridnet.experiment import build_mnist

    model = build_mnist("hybridnet_shade", steps=4000)
    ```
    """
    from lrep_zoo.models.hybridnet import HybridNet
    from lrep_zoo.models.hybridnet import mnist_networks

    if variant not in MNIST_VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; expected one of {MNIST_VARIANTS}.")
    rampup = int(rampup_fraction * steps)
    common = dict(input_noise=input_noise, max_translation=2, seed=seed)
    if variant == "baseline":
        nets = mnist_networks.networks(filters=filters, unsupervised_branch=False,
                                       decoders=False)
        return HybridNet(**nets, stability=None, loss_weights={"classification": 1.0}, **common)
    nets = mnist_networks.networks(
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


@dataclasses.dataclass
class MnistProtocol:
    """How each HybridNet MNIST row is trained (the `hybridnet_mnist` recipe's defaults)."""

    labels: int = option(100, choices=(100, 1000))
    split_seed: int = 0
    steps: int = 4000
    batch_size: int = 64
    labelled_per_batch: int = 16
    learning_rate: float = 3e-3
    shade_weight: float = 1e-3
    stability_weight: float = 100.0
    rampup_fraction: float = 0.5
    filters: list[int] = option([8, 16], nargs=2)
    input_noise: float = 0.15
    jit: bool = option(True, help="jit_compile=False (default: 'auto')")


# `fit` runs the steps as this many epochs (callbacks see their ends).
MNIST_EPOCHS = 10


def train_mnist(protocol: MnistProtocol, variant: str, seed: int, x: np.ndarray,
                y: np.ndarray, labelled: np.ndarray, *, verbose: int = 2, callbacks=None):
    """Trains one MNIST row; returns `(model, history, seconds)`.

    `x` are the uint8 training images (N, 28, 28, 1), `labelled` the indices
    whose labels are used (the others feed the unlabelled stream). Adam with
    `RampedLinearDecay` (linear decay over the last third; `lrep_zoo.training.optimizers.Adam`,
    Keras' Adam on fused kernels), `MNIST_EPOCHS`
    epochs of `steps // MNIST_EPOCHS` steps.

    Example:

    ```python
    from lrep_zoo import data
    from lrep_zoo.models.hybridnet.experiment import MnistProtocol, train_mnist

    x, y = data.load_arrays("mnist", "train")  # uint8 (N, 28, 28, 1)
    x, y = x[:2000], y[:2000]
    labelled = data.split_labelled(y, 100, seed=0)
    model, history, seconds = train_mnist(MnistProtocol(steps=20), "baseline", 0, x, y, labelled,
                                          verbose=0)  # the recipe: steps=4000
    ```
    """
    import keras

    from lrep_zoo import data
    from lrep_zoo.training.optimizers import Adam
    from lrep_zoo.training.schedules import RampedLinearDecay

    p = protocol
    keras.utils.set_random_seed(seed)
    stream = data.semi_supervised(
        x, y, p.labels, seed=seed, batch_size=p.batch_size,
        labelled_per_batch=p.labelled_per_batch, labelled_indices=labelled,
    )
    model = build_mnist(variant, p.steps, p.shade_weight, p.stability_weight,
                        p.rampup_fraction, seed=seed, filters=tuple(p.filters),
                        input_noise=p.input_noise)
    lr = RampedLinearDecay(p.learning_rate, total_steps=p.steps, decay_steps=p.steps // 3)
    model.compile(optimizer=Adam(lr), jit_compile=jit_compile(p.jit))
    start = time.perf_counter()
    history = model.fit(stream, steps_per_epoch=p.steps // MNIST_EPOCHS, epochs=MNIST_EPOCHS,
                        verbose=verbose, callbacks=[*(callbacks or []), StepTimer()])
    return model, history, time.perf_counter() - start


# ---------------------------------------------------------------------------
# ConvLarge (CIFAR-10, SVHN).


def build_convlarge(row: str = "hybridnet", steps: int = 60000, rampup_fraction: float = 0.25,
                    stability_weight: float = 100.0, flip: bool = True,
                    shade_weight: float | None = None, seed: int = 0,
                    image_shape: tuple = (32, 32, 3)):
    """The (uncompiled) model of one ConvLarge ablation row (`CONVLARGE_ABLATION`).

    Example:

    ```python
    from lrep_zoo.models.hybridnet.experiment import build_convlarge

    model = build_convlarge("hybridnet", steps=60000)
    ```
    """
    from lrep_zoo.models.hybridnet import HybridNet
    from lrep_zoo.models.hybridnet import convlarge

    spec = CONVLARGE_ABLATION[row]
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


def standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """`(x / 255 - mean) / std` of uint8 images.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.hybridnet.experiment import standardise

    x_train, _ = lrep_zoo.data.load_arrays("cifar10", "train")  # uint8 (N, 32, 32, 3)
    x_test, _ = lrep_zoo.data.load_arrays("cifar10", "test")
    mean = (x_train.astype("float32") / 255.0).mean((0, 1, 2))  # per channel
    std = (x_train.astype("float32") / 255.0).std((0, 1, 2))  # as run_convlarge
    standardise(x_test, mean, std)  # float32, about zero mean and unit std
    ```
    """
    return ((x.astype("float32") / 255.0) - mean) / std


class DisplayModel:
    """Maps HybridNet reconstructions back to [0, 1] for the grids.

    `x_hat = x_hat_c + x_hat_u` lives in standardised units; the mean is added to
    `x_hat` and `x_hat_c`, the u-branch (the complement) is shown around 0.5.

    Example:

    ```python
    import lrep_zoo
    from lrep_zoo.models.hybridnet.grids import save_reconstruction_grid
    from lrep_zoo.models.hybridnet.experiment import DisplayModel, build_convlarge, standardise

    x_train, _ = lrep_zoo.data.load_arrays("cifar10", "train")  # uint8 (N, 32, 32, 3)
    x_test, _ = lrep_zoo.data.load_arrays("cifar10", "test")
    mean = (x_train.astype("float32") / 255.0).mean((0, 1, 2))  # per channel
    std = (x_train.astype("float32") / 255.0).std((0, 1, 2))  # as run_convlarge
    x = standardise(x_test[:10], mean, std)
    model = build_convlarge("hybridnet", steps=60000)  # untrained here: see run_convlarge
    save_reconstruction_grid(DisplayModel(model, mean, std), x[:10], "grid.png",
                             shown_images=x[:10] * std + mean)
    ```
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


@dataclasses.dataclass
class ConvLargeConfig:
    """The options of the ConvLarge recipes; each recipe sets `output_dir` and `labels`."""

    output_dir: str = "lrep_zoo_outputs/hybridnet"
    data_dir: str | None = option(None, help="TFDS data_dir or npz folder; default: "
                                             "$LREP_ZOO_DATA_DIR, then TFDS")
    labels: int = option(4000, choices=(1000, 2000, 4000))
    rows: list[str] = option(["hybridnet"], choices=list(CONVLARGE_ABLATION),
                             help="ablation rows to train")
    ablation: bool = option(False, help="all ablation rows")
    seeds: list[int] = option([0])
    split_seed: int = 0
    steps: int = 60000
    batch_size: int = 100
    labelled_per_batch: int = 20
    learning_rate: float = 3e-3
    stability_weight: float = 100.0
    rampup_fraction: float = 0.25
    shade_weight: float | None = None
    verbose: int = 2


def run_convlarge(config: ConvLargeConfig, *, dataset: str, name: str, flip: bool) -> dict:
    """Trains every `config.rows` x `config.seeds`; writes weights, grids and `results.json`.

    Protocol: `hybridnet_cifar10`'s docstring. Images are standardised per
    channel (training-set statistics); test accuracies are in %.

    Example:

    ```python
    import os
    import numpy as np
    import lrep_zoo
    from lrep_zoo.models.hybridnet.experiment import ConvLargeConfig, run_convlarge

    # a small npz folder (the layout of lrep_zoo.data.local) from the real CIFAR-10
    x_train, y_train = lrep_zoo.data.load_arrays("cifar10", "train")
    x_test, y_test = lrep_zoo.data.load_arrays("cifar10", "test")
    os.makedirs("small/cifar10", exist_ok=True)
    np.savez("small/cifar10/small.npz", x_train=x_train[:200], y_train=y_train[:200],
             x_test=x_test[:20], y_test=y_test[:20])
    # the recipe: ConvLargeConfig(steps=60000, labels=4000), all of CIFAR-10, row "hybridnet";
    # here one step of the smallest ablation row (ConvLarge + classifier)
    config = ConvLargeConfig(output_dir="hybridnet_out", data_dir="small", steps=1, labels=100,
                             rows=["classification"], batch_size=20, labelled_per_batch=4,
                             verbose=0)
    results = run_convlarge(config, dataset="cifar10", name="hybridnet_cifar10", flip=True)
    results["runs"][0]["accuracy"]  # test accuracy in %
    ```
    """
    import keras

    from lrep_zoo import data, reporting
    from lrep_zoo.models.hybridnet.grids import save_reconstruction_grid
    from lrep_zoo.training.optimizers import Adam
    from lrep_zoo.training.schedules import RampedLinearDecay

    c = config
    out = reporting.output_dir(c.output_dir)
    x, y = data.load_arrays(dataset, "train", data_dir=c.data_dir)
    x_test, y_test = data.load_arrays(dataset, "test", data_dir=c.data_dir)
    mean = (x.astype("float32") / 255.0).mean((0, 1, 2))
    std = (x.astype("float32") / 255.0).std((0, 1, 2))
    x_train = standardise(x, mean, std)
    x_test = standardise(x_test, mean, std)
    labelled = data.split_labelled(y, c.labels, seed=c.split_seed)
    rows = list(CONVLARGE_ABLATION) if c.ablation else c.rows
    results = {"recipe": name, "dataset": dataset, "flip": flip, **record(c), "rows": rows,
               "runs": [], "machine": reporting.machine()}
    for row in rows:
        for seed in c.seeds:
            keras.utils.set_random_seed(seed)
            stream = data.semi_supervised(x_train, y, c.labels, seed=seed,
                                          batch_size=c.batch_size,
                                          labelled_per_batch=c.labelled_per_batch,
                                          labelled_indices=labelled, value_range=None)
            model = build_convlarge(row, c.steps, c.rampup_fraction, c.stability_weight, flip,
                                    c.shade_weight, seed, tuple(x.shape[1:]))
            lr = RampedLinearDecay(c.learning_rate, total_steps=c.steps,
                                   decay_steps=c.steps // 3)
            model.compile(optimizer=Adam(lr), jit_compile="auto")
            epochs = max(1, min(20, c.steps // 100))
            start = time.perf_counter()
            model.fit(stream, steps_per_epoch=c.steps // epochs, epochs=epochs,
                      verbose=c.verbose, callbacks=[StepTimer()])
            seconds = time.perf_counter() - start
            scores = classification_scores(model, x_test, y_test, batch_size=500)
            run_out = {"row": row, "seed": seed, "train_seconds": round(seconds, 1),
                       **{k: 100 * v for k, v in scores.items()}}
            if model.decoder_c is not None:
                sample = x_test[:10]
                run_out["grid"] = str(save_reconstruction_grid(
                    DisplayModel(model, mean, std), sample, out / f"{row}_seed{seed}.png",
                    shown_images=sample * std + mean))
            model.save_weights(out / f"{row}_seed{seed}.weights.h5")
            results["runs"].append(run_out)
            print(json.dumps(run_out), flush=True)
            reporting.write_json(out / "results.json", results)
    return results
