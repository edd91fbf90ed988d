"""Benchmark: train-step time of each model class with `jit_compile` on and off.

The measurements behind `lrep_zoo.training.jit_policy` (the library's
`jit_compile="auto"` per backend and device) and behind the convolution
formulation of `lrep_zoo.layers.conv` (`--conv`: Keras' native strided
convolutions vs the stride-1 rearranged forms, same weights).

Each (model, setting) is built from the same seed, warmed up (compiled), then
timed in alternation with the other settings of the same model (`_timing.compare`);
the table shows the best timing per setting (medians in the JSON).

    python benchmarks/jit_policy.py                          # every installed backend
    python benchmarks/jit_policy.py --backends jax --conv    # + native vs rearranged convs
    python benchmarks/jit_policy.py --models wgan_gp dcgan --steps 3 --repeats 3

torch with `jit_compile=True` (`torch.compile`) is timed only with `--torch-compile`
(minutes of compilation per model on a CPU) and never for gradient penalties
(no double backward in aot_autograd).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402

MODELS = ("dae", "vae", "dcgan", "wgan_gp", "dualdis", "hybridnet")
GRADIENT_PENALTY = ("wgan_gp",)


def _build(name: str, formulation: str | None):
    """(model, x, y, fit kwargs, batch size) of one model class, small MNIST-like shapes."""
    import keras
    import numpy as np

    from lrep_zoo import models
    from lrep_zoo.layers import conv

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = None
    if name == "dae":
        model, batch, shape = models.DenoisingAutoEncoder(latent_dim=32), 128, (28, 28, 1)
    elif name == "vae":
        model, batch, shape = models.VAE(latent_dim=16, seed=0), 64, (28, 28, 1)
    elif name in ("dcgan", "wgan_gp"):
        objective = "non_saturating" if name == "dcgan" else "wgan_gp"
        model, batch, shape = models.GAN(objective=objective, seed=0), 64, (28, 28, 1)
    elif name == "dualdis":
        shape, batch = (64, 64, 1), 16
        model = models.DualDis(image_shape=shape, num_classes_y=38, num_classes_z=14)
    elif name == "hybridnet":
        from lrep_zoo.models.hybridnet import mnist_networks

        shape, batch = (28, 28, 1), 100
        model = models.HybridNet(**mnist_networks.networks(shape), stability="mean_teacher",
                                 seed=0)
    else:
        raise ValueError(f"Unknown model {name!r}; choose from {MODELS}.")
    for layer in model._flatten_layers():
        if not layer.built:  # (an unbuilt input rescaling makes JAX's fit call GAN(images))
            layer.build((None, *shape))
    if formulation is not None:
        for layer in model._flatten_layers():
            if isinstance(layer, (conv.Conv2D, conv.Conv2DTranspose)):
                layer.formulation = formulation
    return model, batch, shape, rng, y


def _data(name: str, n: int, shape, rng):
    import numpy as np

    if name == "dualdis":
        x = rng.integers(0, 256, (n, *shape)).astype("uint8")
        return x, (rng.integers(0, 38, n), rng.integers(0, 14, n))
    x = rng.uniform(size=(n, *shape)).astype("float32")
    if name == "hybridnet":
        y = rng.integers(0, 10, n)
        return x, np.where(np.arange(n) % 5 == 0, y, -1)  # 20 % labelled
    return x, None


def _compile(model, name: str, jit: bool) -> None:
    import keras

    if name in ("dcgan", "wgan_gp"):
        model.compile(optimizer={"discriminator": keras.optimizers.Adam(2e-4, beta_1=0.5),
                                 "generator": keras.optimizers.Adam(2e-4, beta_1=0.5)},
                      jit_compile=jit)
    elif name == "dualdis":
        model.compile(optimizer={"main": keras.optimizers.Adam(1e-3),
                                 "disc": keras.optimizers.Adam(1e-3)}, jit_compile=jit)
    else:
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)


class _Fit:
    """Adapts a model to `_timing.compare`'s `fit(x, y, **kwargs)` with its own labels."""

    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y

    def fit(self, x, y=None, batch_size=32, **kwargs):
        n = len(x)
        labels = None if self.y is None else (
            tuple(v[:n] for v in self.y) if isinstance(self.y, tuple) else self.y[:n])
        return self.model.fit(self.x[:n], labels, batch_size=batch_size, **kwargs)


def settings(backend: str, name: str, conv_compare: bool, torch_compile: bool,
             jit: str = "both") -> list[tuple]:
    """(label, jit_compile, conv formulation) triples timed for a model on a backend."""
    jits = {"both": [False, True], "on": [True], "off": [False]}[jit]
    if backend == "torch" and (not torch_compile or name in GRADIENT_PENALTY):
        jits = [j for j in jits if not j] or [False]
    out = [(f"jit={j}", j, None) for j in jits]
    if conv_compare:
        out = [(f"jit={j} conv={f}", j, f) for j in jits for f in ("native", "rearranged")]
    return out


def worker(names, steps: int, repeats: int, conv_compare: bool, torch_compile: bool,
           jit: str = "both") -> dict:
    import keras

    backend = keras.backend.backend()
    results = {}
    for name in names:
        entries, compile_s = {}, {}
        for label, jit_on, formulation in settings(backend, name, conv_compare, torch_compile, jit):
            model, batch, shape, rng, _ = _build(name, formulation)
            x, y = _data(name, batch * steps, shape, rng)
            _compile(model, name, jit_on)
            entries[label] = _Fit(model, x, y)
            start = time.perf_counter()
            _timing.step_seconds(entries[label], x, None, batch, steps=2)
            compile_s[label] = time.perf_counter() - start
        x_dummy = [0] * (batch * steps)
        times = _timing.compare(entries, x_dummy, None, batch, steps, repeats)
        results[name] = {label: {"ms": 1e3 * t[0], "ms_median": 1e3 * t[len(t) // 2],
                                 "first_two_steps_s": compile_s[label], "batch": batch}
                         for label, t in times.items()}
    return {"backend": backend, "devices": keras.distribution.list_devices(),
            "results": results}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--conv", action="store_true",
                        help="time Keras' native strided convolutions vs the rearranged ones")
    parser.add_argument("--jit", default="both", choices=("both", "on", "off"),
                        help="which jit_compile settings to time")
    parser.add_argument("--torch-compile", action="store_true",
                        help="also time torch.compile (jit_compile=True) on torch")
    parser.add_argument("--output", default="jit_policy",
                        help="JSON name in benchmarks/results/")
    args = parser.parse_args()
    flags = ["--steps", str(args.steps), "--repeats", str(args.repeats),
             "--models", *args.models, "--jit", args.jit] + (["--conv"] if args.conv else []) + (
        ["--torch-compile"] if args.torch_compile else [])
    if args.worker:
        print(json.dumps(worker(args.models, args.steps, args.repeats, args.conv,
                                args.torch_compile, args.jit)))
        return
    results = _timing.run_workers(__file__, backends=args.backends, extra_args=flags)
    rows = []
    for backend, r in results.items():
        if "error" in r:
            rows.append([backend, "error", " ".join(r["error"]), "", "", ""])
            continue
        for name, entries in r["results"].items():
            best = min(entries, key=lambda k: entries[k]["ms"])
            for label, e in entries.items():
                rows.append([backend, name, label, f"{e['ms']:.1f}", f"{e['ms_median']:.1f}",
                             f"{e['first_two_steps_s']:.1f}" + (" *" if label == best else "")])
    _timing.print_table(
        f"Train step per model and setting, best of {args.repeats} alternated timings of "
        f"{args.steps} steps (* fastest)",
        ["backend", "model", "setting", "ms/step", "median", "first 2 steps s"], rows)
    path = _timing.write_results(args.output, {"results": results, "args": vars(args),
                                               "machine": platform.platform()})
    print(f"\nWrote {path}")


if __name__ == "__main__":
    main()
