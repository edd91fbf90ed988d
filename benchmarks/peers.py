"""Benchmark: each lrep_zoo model against its reference implementation, in one run.

| lrep_zoo                         | reference (`benchmarks/references/`)                    |
|----------------------------------|---------------------------------------------------------|
| `VAE` (bernoulli, MNIST nets)    | `keras_io.VAE`: keras-io custom `train_step`            |
| `GAN` non-saturating (DCGAN)     | `keras_io.GAN`: keras-io DCGAN `train_step`             |
| `GAN` wgan_gp, n_critic 5        | `keras_io.GAN(objective="wgan_gp")`: keras-io WGAN-GP   |
| `HybridNet` ConvLarge, 2 branches| `torch_hybridnet`: plain PyTorch step (any backend)     |
| `HybridNet` (`hybridnet_bn`)     | `keras_bn`: the same model on Keras' BatchNormalization |
| `HybridNet` (`hybridnet_adam`)   | the same model trained with `keras.optimizers.Adam`     |

Both sides of a pair start from the same weights (the reference's networks are a
copy of lrep_zoo's) and see the same batches; each timing is `steps` optimizer
steps after a warm-up (compilation), the pairs are timed in alternation with the
order reversed every other round, and the table gives the best (headline) and the
median of `repeats` timings of each side (see `_timing.ratio_summary`), and the ratio
of the best CPU times of the process per step (`time.process_time`; with `--threads 1`
the step's own work, which other processes' load on a shared machine barely changes). Run without
`--worker`, one subprocess per backend (`--backends`; one backend:
`KERAS_BACKEND=torch python benchmarks/peers.py --worker`).

On TensorFlow both Keras sides get a `tf.data.Dataset` with autotuning off (`--input
auto`; `--input numpy` passes arrays, whose autotuned prefetch stalls one-core timings at
random). `--jit fast` (default) compiles both sides alike with what is fastest on a CPU:
no XLA on TensorFlow, eager torch, `jax.jit` on JAX; `--jit auto|true|false`
forces one setting on both sides (torch: gradient penalties never compile).

    python benchmarks/peers.py                                  # all, every backend
    python benchmarks/peers.py --models hybridnet --backends torch tensorflow
    python benchmarks/peers.py --models vae dcgan --steps 5 --repeats 3
    KERAS_BACKEND=torch python benchmarks/peers.py --worker --profile --hybridnet-batch-size 4
    KERAS_BACKEND=torch python benchmarks/peers.py --worker --models hybridnet --threads 1
    KERAS_BACKEND=tensorflow python benchmarks/peers.py --worker --graph-ops --models wgan_gp
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402

MODELS = ("vae", "dcgan", "wgan_gp", "hybridnet", "hybridnet_bn", "hybridnet_adam")


def _jit(mode: str, backend: str, penalty: bool = False):
    if mode == "fast":
        return backend == "jax"
    if backend == "torch" and penalty:
        return False
    return {"auto": "auto", "true": True, "false": False}[mode]


def _adam():
    import keras

    return keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.9)


# ------------------------------------------------------------------ the pairs
class _Fit:
    """`run(n_steps)`: `fit` over the first `n_steps` batches, no shuffling.

    `INPUT == "tf_data"` (TensorFlow's default here) feeds `fit` a `tf.data.Dataset`
    with autotuning off; `"numpy"` passes the arrays, which Keras wraps in a
    prefetching, autotuned dataset whose tuning thread stalls a step pinned to one
    core by about 50 ms at random (see the README's "Where it stands").
    """

    INPUT = "numpy"

    def __init__(self, model, x, y=None, batch_size=64, keras_model=True):
        self.model, self.x, self.y, self.batch_size = model, x, y, batch_size
        self.keras_model = keras_model  # False: the PyTorch reference, always on arrays
        self._datasets = {}

    def _inputs(self, n):
        labels = () if self.y is None else (self.y[:n],)  # keras-io's JAX GAN.fit takes no y
        if self.INPUT == "numpy" or not self.keras_model:
            return (self.x[:n], *labels), {"batch_size": self.batch_size}
        if n not in self._datasets:
            import tensorflow as tf

            data = (self.x[:n], *labels)
            ds = tf.data.Dataset.from_tensor_slices(data[0] if len(data) == 1 else data)
            options = tf.data.Options()
            options.autotune.enabled = False
            self._datasets[n] = ds.batch(self.batch_size).with_options(options)
        return (self._datasets[n],), {}

    def run(self, n_steps):
        args, kwargs = self._inputs(n_steps * self.batch_size)
        self.model.fit(*args, **kwargs, epochs=1, verbose=0, shuffle=False)


def pair_vae(batch_size, steps, jit):
    import keras

    from lrep_zoo.models.vae import VAE
    from references import keras_io

    keras.utils.set_random_seed(0)
    x = keras_io.images(batch_size * steps)
    ours = VAE((28, 28, 1), latent_dim=16, seed=0)
    ours.compile(optimizer="adam", jit_compile=jit)
    ref = keras_io.VAE(keras_io.copy_of(ours.encoder), keras_io.copy_of(ours.decoder), seed=0)
    ref.compile(optimizer="adam", jit_compile=jit)
    return _Fit(ours, x, batch_size=batch_size), _Fit(ref, x, batch_size=batch_size)


def pair_gan(objective, n_critic, batch_size, steps, jit):
    import keras

    from lrep_zoo.models.gan import GAN
    from references import keras_io

    keras.utils.set_random_seed(0)
    x = keras_io.images(batch_size * steps)
    ours = GAN((28, 28, 1), latent_dim=64, objective=objective, n_critic=n_critic, seed=0)
    ours.compile(optimizer={"discriminator": _adam(), "generator": _adam()}, jit_compile=jit)
    ref = keras_io.GAN(keras_io.copy_of(ours.discriminator), keras_io.copy_of(ours.generator),
                       64, objective, n_critic, seed=0)
    ref.compile(_adam(), _adam(), jit_compile=jit)
    return _Fit(ours, x, batch_size=batch_size), _Fit(ref, x, batch_size=batch_size)


def _hybridnet_batches(batch_size, steps):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch_size * steps, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=len(x))
    y = np.where(np.arange(len(x)) % 5 == 0, y, -1).astype("int64")  # 20 of 100 labelled
    return x, y


def pair_hybridnet(batch_size, steps, jit):
    """lrep_zoo's HybridNet (the recipes' optimizer, `training.optimizers.Adam`) vs
    the PyTorch step (`torch.optim.Adam`)."""
    import keras

    from lrep_zoo.models.hybridnet import experiment
    from lrep_zoo.training.optimizers import Adam
    from references import torch_hybridnet

    keras.utils.set_random_seed(0)
    x, y = _hybridnet_batches(batch_size, steps)
    ours = experiment.build_convlarge("hybridnet", steps=60000, seed=0)
    ours.compile(optimizer=Adam(1e-3), jit_compile=jit)
    ref = torch_hybridnet.from_keras(ours, learning_rate=1e-3, seed=0)
    return _Fit(ours, x, y, batch_size), _Fit(ref, x, y, batch_size, keras_model=False)


def pair_hybridnet_adam(batch_size, steps, jit):
    """lrep_zoo's HybridNet with `training.optimizers.Adam` vs with `keras.optimizers.Adam`."""
    import keras

    from lrep_zoo.models.hybridnet import experiment
    from lrep_zoo.training.optimizers import Adam

    x, y = _hybridnet_batches(batch_size, steps)
    models = []
    for optimizer in (Adam(1e-3), keras.optimizers.Adam(1e-3)):
        keras.utils.set_random_seed(0)
        model = experiment.build_convlarge("hybridnet", steps=60000, seed=0)
        model.compile(optimizer=optimizer, jit_compile=jit)
        models.append(_Fit(model, x, y, batch_size))
    return tuple(models)


def pair_hybridnet_bn(batch_size, steps, jit):
    """lrep_zoo's HybridNet (fused BatchNormalization) vs the same model on Keras' layer."""
    import keras

    from lrep_zoo.models.hybridnet import experiment
    from references import keras_bn

    x, y = _hybridnet_batches(batch_size, steps)
    keras.utils.set_random_seed(0)
    ours = experiment.build_convlarge("hybridnet", steps=60000, seed=0)
    keras.utils.set_random_seed(0)
    with keras_bn.keras_batch_normalization():
        ref = experiment.build_convlarge("hybridnet", steps=60000, seed=0)
    ref.set_weights(ours.get_weights())
    for model in (ours, ref):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
    return _Fit(ours, x, y, batch_size), _Fit(ref, x, y, batch_size)


def build(name, args, backend):
    jit = _jit(args.jit, backend, penalty=name == "wgan_gp")
    if name == "vae":
        return pair_vae(args.batch_size, args.steps, jit), jit
    if name == "dcgan":
        return pair_gan("non_saturating", 1, args.batch_size, args.steps, jit), jit
    if name == "wgan_gp":
        return pair_gan("wgan_gp", 5, args.batch_size, args.steps, jit), jit
    if name == "hybridnet":
        return pair_hybridnet(args.hybridnet_batch_size, args.hybridnet_steps, jit), jit
    if name == "hybridnet_bn":
        return pair_hybridnet_bn(args.hybridnet_batch_size, args.hybridnet_steps, jit), jit
    if name == "hybridnet_adam":
        return pair_hybridnet_adam(args.hybridnet_batch_size, args.hybridnet_steps, jit), jit
    raise ValueError(f"Unknown model {name!r}; expected one of {MODELS}.")


def _steps(name, args):
    return args.hybridnet_steps if name.startswith("hybridnet") else args.steps


def worker(args) -> dict:
    import keras

    backend = keras.backend.backend()
    set_threads(args.threads)
    _Fit.INPUT = _input(args.input, backend)
    load_at_start = [round(x, 1) for x in os.getloadavg()]
    pairs, jits = {}, {}
    for name in args.models:
        pairs[name], jits[name] = build(name, args, backend)
        for side in pairs[name]:
            side.run(1)  # compile / warm up
    times = {name: ([], []) for name in pairs}
    cpu = {name: ([], []) for name in pairs}
    for r in range(args.repeats):
        for name, (ours, ref) in pairs.items():
            order = ((0, ours), (1, ref)) if r % 2 == 0 else ((1, ref), (0, ours))
            for i, side in order:
                start, start_cpu = time.perf_counter(), time.process_time()
                side.run(_steps(name, args))
                times[name][i].append((time.perf_counter() - start) / _steps(name, args))
                cpu[name][i].append((time.process_time() - start_cpu) / _steps(name, args))
    out = {}
    for name, (a, b) in times.items():
        ca, cb = cpu[name]
        out[name] = {
            "lrep_zoo_ms": 1e3 * min(a), "reference_ms": 1e3 * min(b),
            "lrep_zoo_ms_median": 1e3 * statistics.median(a),
            "reference_ms_median": 1e3 * statistics.median(b),
            "ratio": min(a) / min(b), "ratio_median": statistics.median(a) / statistics.median(b),
            "lrep_zoo_all_ms": [1e3 * t for t in a], "reference_all_ms": [1e3 * t for t in b],
            # CPU time of the process (all threads) per step: less sensitive to other
            # processes' load than wall time (`--threads 1`: the step's own thread).
            "lrep_zoo_cpu_ms": 1e3 * min(ca), "reference_cpu_ms": 1e3 * min(cb),
            "ratio_cpu": min(ca) / min(cb),
            "ratio_cpu_median": statistics.median(ca) / statistics.median(cb),
            "lrep_zoo_all_cpu_ms": [1e3 * t for t in ca],
            "reference_all_cpu_ms": [1e3 * t for t in cb],
            "jit_compile": jits[name], "threads": args.threads, "input": _Fit.INPUT,
            "load_average_start_end": [load_at_start, [round(x, 1) for x in os.getloadavg()]],
        }
    return out


def _input(mode: str, backend: str) -> str:
    if mode == "auto":
        return "tf_data" if backend == "tensorflow" else "numpy"
    if mode == "tf_data" and backend != "tensorflow":
        raise ValueError(f"--input tf_data needs KERAS_BACKEND=tensorflow, not {backend}.")
    return mode


def set_threads(n: int | None) -> None:
    """`n` compute threads for both sides (torch and TensorFlow; `None`: the default)."""
    if not n:
        return
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.set_num_threads(n)
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    else:
        raise ValueError(f"--threads is supported on torch and tensorflow, not {backend}.")


PROFILED_OPS = ("aten::copy_", "aten::native_batch_norm", "aten::native_batch_norm_backward",
                "aten::mean", "aten::sum", "aten::mul", "aten::sub", "aten::add",
                "aten::convolution", "aten::convolution_backward")


def profile(args) -> dict:
    """torch only: op counts and CPU times of one HybridNet step of each side (`--profile`).

    Uses `torch.profiler` (CPU activities) on one `fit` step after a warm-up step.
    """
    import keras
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    if keras.backend.backend() != "torch":
        raise ValueError("--profile needs KERAS_BACKEND=torch.")
    set_threads(args.threads)
    pair = pair_hybridnet(args.hybridnet_batch_size, 1, False)
    out = {}
    for name, side in zip(("lrep_zoo", "reference"), pair):
        side.run(1)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            side.run(1)
        events = {e.key: e for e in prof.key_averages()}
        out[name] = {op: {"count": events[op].count if op in events else 0,
                          "self_cpu_ms": round(events[op].self_cpu_time_total / 1e3, 1)
                          if op in events else 0.0} for op in PROFILED_OPS}
        out[name]["total_cpu_ms"] = round(
            sum(e.self_cpu_time_total for e in prof.key_averages()) / 1e3, 1)
    return out


def graph_ops(args) -> dict:
    """TensorFlow only: op-type counts of each side's traced `train_step` (`--graph-ops`).

    The static graph each side runs per step (one batch of `--batch-size` images),
    independent of the machine's load: `{model: {"lrep_zoo": n, "reference": n,
    "differences": {op_type: [lrep_zoo, reference]}}}`.
    """
    import collections

    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise ValueError("--graph-ops needs KERAS_BACKEND=tensorflow.")
    out = {}
    for name in args.models:
        if name.startswith("hybridnet"):
            raise ValueError("--graph-ops compares the keras-io pairs (vae, dcgan, wgan_gp).")
        pair, _ = build(name, args, "tensorflow")
        counts = []
        for side in pair:
            side.run(1)  # builds the optimizers' variables
            spec = tf.TensorSpec((args.batch_size, *side.x.shape[1:]), tf.float32)
            graph = tf.function(side.model.train_step).get_concrete_function(spec).graph
            counts.append(collections.Counter(op.type for op in graph.get_operations()))
        ours, ref = counts
        out[name] = {"lrep_zoo": sum(ours.values()), "reference": sum(ref.values()),
                     "differences": {k: [ours[k], ref[k]] for k in sorted(set(ours) | set(ref))
                                     if ours[k] != ref[k]}}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true",
                        help="measure on the current KERAS_BACKEND and print JSON")
    parser.add_argument("--models", nargs="+",
                        default=[m for m in MODELS if m not in ("hybridnet_bn", "hybridnet_adam")],
                        choices=MODELS)
    parser.add_argument("--backends", nargs="+", default=None, choices=_timing.BACKENDS)
    parser.add_argument("--jit", default="fast", choices=["fast", "auto", "true", "false"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="steps per timing")
    parser.add_argument("--hybridnet-batch-size", type=int, default=100)
    parser.add_argument("--hybridnet-steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="compute threads of both sides (torch, tensorflow; default: theirs)")
    parser.add_argument("--input", default="auto", choices=["auto", "numpy", "tf_data"],
                        help="what `fit` gets: arrays, or (TensorFlow) a tf.data.Dataset with "
                             "autotuning off; auto: tf_data on tensorflow, numpy elsewhere")
    parser.add_argument("--graph-ops", action="store_true",
                        help="with --worker on tensorflow: op counts of each side's train step")
    parser.add_argument("--name", default="peers", help="results file benchmarks/results/NAME.json")
    parser.add_argument("--profile", action="store_true",
                        help="with --worker on torch: op counts of one HybridNet step per side")
    args = parser.parse_args(argv)
    if args.worker and args.profile:
        print(json.dumps(profile(args)))
        return
    if args.worker and args.graph_ops:
        print(json.dumps(graph_ops(args)))
        return
    if args.worker:
        print(json.dumps(worker(args)))
        return
    extra = [a for a in (argv if argv is not None else sys.argv[1:])
             if a not in ("--worker",)]
    start = time.time()
    results = _timing.run_workers(__file__, backends=args.backends, extra_args=_strip(extra))
    rows = []
    for backend, per_model in results.items():
        if "error" in per_model:
            rows.append([backend, "error", str(per_model["error"]), "", "", "", "", "", ""])
            continue
        for name, r in per_model.items():
            rows.append([backend, name, f"{r['lrep_zoo_ms']:.0f}", f"{r['reference_ms']:.0f}",
                         f"{r['ratio']:.2f}", f"{r['lrep_zoo_ms_median']:.0f}",
                         f"{r['reference_ms_median']:.0f}", f"{r['ratio_median']:.2f}",
                         f"{r['ratio_cpu']:.2f}"])
    _timing.print_table(
        f"lrep_zoo vs reference, ms per train step, best / median of {args.repeats} "
        "alternated timings", ["backend", "model", "lrep_zoo best", "reference best",
                               "ratio", "lrep_zoo median", "reference median",
                               "ratio of medians", "ratio of best CPU times"], rows)
    path = _timing.write_results(args.name, {
        "results": results, "args": vars(args), "machine": platform.platform(),
        "command": "python benchmarks/peers.py " + " ".join(extra),
        "wall_seconds": round(time.time() - start, 1)})
    print(f"\nWrote {path}")


def _strip(argv):
    """The worker's arguments: everything but `--backends ...` and `--name ...`."""
    out, skip = [], False
    for a in argv:
        if a in ("--backends", "--name"):
            skip = True
            continue
        if skip and not a.startswith("--"):
            continue
        skip = False
        out.append(a)
    return out


if __name__ == "__main__":
    main()
