"""Benchmark: what one shared encoder forward could save in a DualDis train step (issue 18).

DualDis' step runs two phases, `disc` (the adversaries C_y, C_z on the stop-gradient
codes) and `main` (encoder, decoder, heads), and each runs the encoder forward on the
batch. Sharing one forward would save at most the cost of the `disc` phase's encoder
forward; this times that forward (`_forward(data, training=True)`: preprocessing and
encoder, in training mode as in the phase) against the whole train step, in alternation,
on the paper's Yale-B network (192x168 inputs resized to 64x64, batch 64), CPU time of
the process (`time.process_time`) and wall time, best of `--repeats`.

    python benchmarks/dualdis_shared_forward.py         # TensorFlow and torch
    KERAS_BACKEND=torch python benchmarks/dualdis_shared_forward.py --worker

JAX is not measured: its step differentiates each phase as a pure function of the
variables, so the `main` phase cannot reuse activations computed before the `disc`
update without restructuring the step around `jax.vjp`.
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

BACKENDS = ("tensorflow", "torch")


def _functions(model, data):
    """(train step, disc-phase encoder forward), each returning host values."""
    import keras
    from keras import ops

    def host(tree):
        return keras.tree.map_structure(ops.convert_to_numpy, tree)

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        step = tf.function(model.train_step)
        forward = tf.function(lambda d: model._forward(d, True)[3:])
    else:
        step, forward = model.train_step, lambda d: model._forward(d, True)[3:]
    return (lambda: host(step(data))), (lambda: host(forward(data)))


def worker(batch_size: int, repeats: int, calls: int) -> dict:
    import keras
    import numpy as np

    from lrep_zoo.models.dualdis import DualDis

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = DualDis(image_shape=(192, 168, 1), num_classes_y=38, num_classes_z=14)
    model.compile(optimizer={"main": keras.optimizers.Adam(1e-3),
                             "disc": keras.optimizers.Adam(1e-3)}, jit_compile=False)
    x = rng.uniform(size=(batch_size, 192, 168, 1)).astype("float32")
    labels = (rng.integers(0, 38, batch_size).astype("int32"),
              rng.integers(0, 14, batch_size).astype("int32"))
    data = (keras.ops.convert_to_tensor(x), tuple(keras.ops.convert_to_tensor(v) for v in labels))
    sides = dict(zip(("train_step", "encoder_forward"), _functions(model, data)))
    for run in sides.values():
        run()  # trace / warm up
    cpu = {name: [] for name in sides}
    wall = {name: [] for name in sides}
    for r in range(repeats):
        for name in sides if r % 2 == 0 else list(sides)[::-1]:
            c, w = time.process_time(), time.perf_counter()
            for _ in range(calls):
                sides[name]()
            cpu[name].append(1e3 * (time.process_time() - c) / calls)
            wall[name].append(1e3 * (time.perf_counter() - w) / calls)
    best = {f"{kind}_{name}_ms": min(t[name]) for kind, t in (("cpu", cpu), ("wall", wall))
            for name in sides}
    return {**best,
            "saving_bound_cpu": best["cpu_encoder_forward_ms"] / best["cpu_train_step_ms"],
            "saving_bound_wall": best["wall_encoder_forward_ms"] / best["wall_train_step_ms"],
            "batch_size": batch_size, "load_average": [round(v, 1) for v in os.getloadavg()]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help="measure on KERAS_BACKEND, print JSON")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3, help="calls per timing")
    parser.add_argument("--output", default=str(_timing.RESULTS / "dualdis_shared_forward.json"))
    args = parser.parse_args(argv)
    worker_args = ["--batch-size", args.batch_size, "--repeats", args.repeats, "--calls", args.calls]
    if args.worker:
        print(json.dumps(worker(args.batch_size, args.repeats, args.calls)))
        return
    results = {}
    for backend in [b for b in BACKENDS if b in _timing.installed_backends()]:
        env = {**os.environ, "KERAS_BACKEND": backend}
        results[backend] = _timing.run_pinned(__file__, worker_args, "0", env)
    print("| backend | train step (ms, CPU) | disc-phase encoder forward (ms, CPU) | bound on "
          "the saving |\n|---|---|---|---|")
    for backend, r in results.items():
        if "error" in r:
            print(f"| {backend} | error: {r['error']} | | |")
            continue
        print(f"| {backend} | {r['cpu_train_step_ms']:.0f} | {r['cpu_encoder_forward_ms']:.0f} | "
              f"{100 * r['saving_bound_cpu']:.1f} % |")
    with open(args.output, "w") as f:
        json.dump({"machine": f"{platform.machine()}, {os.cpu_count()} CPU cores (shared)",
                   "command": "python benchmarks/dualdis_shared_forward.py", **results}, f, indent=1)


if __name__ == "__main__":
    main()
