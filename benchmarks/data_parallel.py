"""Benchmark: data-parallel throughput, 1 device on 1 core vs 2 devices on 2 cores.

For each backend with a data-parallel engine (JAX: `keras.distribution.DataParallel`
over `--xla_force_host_platform_device_count=2` virtual CPU devices; TensorFlow:
`MirroredStrategy` over 2 logical CPU devices) and each model (DualDis at 64x64, the
MNIST DAE), one worker process trains the same global batch on 1 device pinned to
1 core (`taskset -c 0`), another on 2 devices pinned to 2 cores (`taskset -c 0,1`);
the ratio of their throughputs (images per second, best timing of `--repeats`) is
the speed-up. The ideal is 2.0x (2 cores; nothing else is parallel here). The
machine load average at the start and end of each worker is recorded: on a shared
machine other processes take cores too, and the table says so.

    python benchmarks/data_parallel.py                 # JAX and TensorFlow, both models
    python benchmarks/data_parallel.py --steps 5 --repeats 3 --backends jax
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402

MODELS = ("dualdis", "dae")
BATCH = {"dualdis": 32, "dae": 128}


def worker(model_name: str, devices: int, steps: int, repeats: int) -> dict:
    backend = os.environ["KERAS_BACKEND"]
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * devices
        )
    import keras
    import numpy as np

    import lrep_zoo
    from lrep_zoo.training import distribute

    batch = BATCH[model_name]
    rng = np.random.default_rng(0)
    n = batch * steps
    with distribute.data_parallel(devices):
        keras.utils.set_random_seed(0)
        jit = backend == "jax"  # XLA + MirroredStrategy on logical CPUs: TF known issue
        if model_name == "dualdis":
            model = lrep_zoo.models.DualDis(image_shape=(64, 64, 1), synchronized_batchnorm=True)
            model.compile(optimizer={"main": "adam", "disc": "adam"}, jit_compile=jit)
            x = rng.integers(0, 256, size=(n, 64, 64, 1)).astype("uint8")
            y = (rng.integers(0, 38, n).astype("int32"), rng.integers(0, 14, n).astype("int32"))
        else:
            model = lrep_zoo.models.DenoisingAutoEncoder(latent_dim=32, noise="masking")
            model.compile(optimizer="adam", jit_compile=jit)
            x, y = rng.uniform(size=(n, 28, 28, 1)).astype("float32"), None
        load = [os.getloadavg()[0]]
        _step_seconds(model, x, y, batch, steps=2)  # compile
        times = sorted(_step_seconds(model, x, y, batch, steps) for _ in range(repeats))
        load.append(os.getloadavg()[0])
    return {
        "model": model_name, "devices": devices, "global_batch": batch,
        "step_ms": 1e3 * times[0], "step_ms_median": 1e3 * times[len(times) // 2],
        "images_per_s": batch / times[0], "jit_compile": jit, "load_average": load,
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
    }


def _step_seconds(model, x, y, batch, steps):
    """Seconds per step of `fit` over `steps` batches; `y` may be a tuple (DualDis)."""
    n = batch * steps
    y = None if y is None else tuple(t[:n] for t in y)
    start = time.perf_counter()
    model.fit(x[:n], y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return (time.perf_counter() - start) / steps


def run_one(backend, model_name, devices, steps, repeats) -> dict:
    cores = "0" if devices == 1 else "0,1"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("XLA_FLAGS", None)
    if backend == "jax":
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return _timing.run_pinned(__file__, [model_name, devices, "--steps", steps,
                                         "--repeats", repeats], cores, env)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "DEVICES"))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow"],
                        choices=["jax", "tensorflow"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.steps, args.repeats)))
        return {}
    started = time.time()
    rows = {}
    for backend in args.backends:
        for name in args.models:
            one = run_one(backend, name, 1, args.steps, args.repeats)
            two = run_one(backend, name, 2, args.steps, args.repeats)
            ratio = (two["images_per_s"] / one["images_per_s"]
                     if "error" not in one and "error" not in two else None)
            rows[f"{backend}/{name}"] = {"one_device": one, "two_devices": two,
                                         "speedup": ratio, "ideal": 2.0}
    result = {
        "benchmark": "data_parallel",
        "command": "python benchmarks/data_parallel.py " + " ".join(argv or sys.argv[1:]),
        "pinning": "1 device: taskset -c 0; 2 devices: taskset -c 0,1",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "note": "shared 2-core VM: other processes ran during the benchmark"},
        "seconds": round(time.time() - started, 1),
        "rows": rows,
    }
    print(f"{'backend/model':<22}{'1 dev img/s':>13}{'2 dev img/s':>13}{'speed-up':>10}{'ideal':>7}"
          f"{'load 1 dev':>12}{'load 2 dev':>12}")
    for key, row in rows.items():
        one, two = row["one_device"], row["two_devices"]
        if row["speedup"] is None:
            print(f"{key:<22} error: {one.get('error') or two.get('error')}")
            continue
        print(f"{key:<22}{one['images_per_s']:>13.1f}{two['images_per_s']:>13.1f}"
              f"{row['speedup']:>9.2f}x{2.0:>6.1f}x"
              f"{max(one['load_average']):>12.1f}{max(two['load_average']):>12.1f}")
    _timing.RESULTS.mkdir(exist_ok=True)
    with open(_timing.RESULTS / "data_parallel.json", "w") as f:
        json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
