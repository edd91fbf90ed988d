"""Benchmark: where a TensorFlow `MirroredStrategy` step on 2 logical CPU devices spends its time.

`benchmarks/data_parallel.py` measured TF DualDis 0.82x and the DAE 0.90x on 2 logical CPU
devices vs 1 device (JAX's 2 virtual devices: 1.5-1.75x). This script explains the gap
with measurements that a shared machine does not blur as much as wall-clock ratios:

- CPU seconds per training step, from the slope between a `fit` of `--steps` and of
  `3 * --steps` batches (so the per-`fit` cost, mostly building the distributed dataset
  iterator, is separated out), and which threads spent them (`/proc/self/task`: the
  Python main thread, TF's inter-op `tf_Compute` threads, the unnamed intra-op Eigen
  threads (`python`), `collective_ops`);
- a `tf.profiler.experimental` trace of `--steps` steps, read from its `.xplane.pb`
  (TensorFlow's own protobuf, no TensorBoard plugin needed): time in each replica's ops,
  how long both replicas' ops ran at the same time, the number and time of the
  cross-device all-reduces (`CollectiveReduceV2`).

Each configuration runs in its own process, pinned like the throughput benchmark
(1 device: `taskset -c 0`; 2 devices: `taskset -c 0,1`); `--thread-pools` also runs
2 devices with one intra-op pool per logical device (`TF_OVERRIDE_GLOBAL_THREADPOOL=1`,
`TF_NUM_INTRAOP_THREADS=1`: by default every logical CPU device of a process shares
TensorFlow's one global intra-op pool, `LocalDevice` in TF's `local_device.cc`).

    python benchmarks/tf_mirrored_profile.py                    # DAE and DualDis
    python benchmarks/tf_mirrored_profile.py --models dae --steps 2 --thread-pools
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402

BATCH = {"dualdis": 32, "dae": 128}
CONFIGS = {
    "1 device, 1 core": (1, "0", {}),
    "2 devices, 2 cores": (2, "0,1", {}),
    "2 devices, 2 cores, one pool per device": (
        2, "0,1", {"TF_OVERRIDE_GLOBAL_THREADPOOL": "1", "TF_NUM_INTRAOP_THREADS": "1"}),
}
# Executor bookkeeping events around the op events in a TF trace.
_WRAPPERS = {"ExecutorState", "ExecutorDoneCallback", "ParallelFor", "Loop",
             "CollectiveExecutor", "BaseCollectiveExecutor", "MemoryAllocation",
             "MemoryDeallocation", "ThreadpoolListener", "RemoteCallOpDone"}


def _thread_cpu() -> collections.Counter:
    """CPU seconds of this process's threads so far, by kind (thread name)."""
    out = collections.Counter()
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = "main" if tid == str(os.getpid()) else comm.rstrip("0123456789-_")
        out[kind] += (int(fields[11]) + int(fields[12])) / tick
    return out


def _build(model_name, devices, n):
    import keras
    import numpy as np

    import lrep_zoo

    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    if model_name == "dualdis":
        model = lrep_zoo.models.DualDis(image_shape=(64, 64, 1), synchronized_batchnorm=True)
        model.compile(optimizer={"main": "adam", "disc": "adam"})
        x = rng.integers(0, 256, size=(n, 64, 64, 1)).astype("uint8")
        y = (rng.integers(0, 38, n).astype("int32"), rng.integers(0, 14, n).astype("int32"))
    else:
        model = lrep_zoo.models.DenoisingAutoEncoder(latent_dim=32, noise="masking")
        model.compile(optimizer="adam")
        x, y = rng.uniform(size=(n, 28, 28, 1)).astype("float32"), None
    return model, x, y


def worker(model_name: str, devices: int, steps: int, logdir: str) -> dict:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    from lrep_zoo.training import distribute

    batch = BATCH[model_name]
    long = 3 * steps
    with distribute.data_parallel(devices):
        model, x, y = _build(model_name, devices, batch * long)

        def fit(s):
            n = batch * s
            model.fit(x[:n], None if y is None else tuple(t[:n] for t in y),
                      batch_size=batch, epochs=1, verbose=0, shuffle=False)

        fit(1)  # trace
        best = {}
        for s in (steps, long, steps, long):
            threads, wall, cpu_time = _thread_cpu(), time.perf_counter(), time.process_time()
            fit(s)
            wall, cpu_time = time.perf_counter() - wall, time.process_time() - cpu_time
            after = _thread_cpu()
            spent = {k: after[k] - threads.get(k, 0.0) for k in after}
            if s not in best or cpu_time < best[s][1]:
                best[s] = (wall, cpu_time, spent)
        tf.profiler.experimental.start(logdir)
        fit(steps)
        tf.profiler.experimental.stop()
    (w0, c0, t0), (w1, c1, t1) = best[steps], best[long]
    per_step = lambda a, b: 1e3 * (b - a) / (long - steps)  # noqa: E731
    return {
        "model": model_name, "devices": devices, "global_batch": batch,
        "cpu_ms_per_step": per_step(c0, c1),
        "wall_ms_per_step": per_step(w0, w1),
        "cpu_ms_per_fit_call": 1e3 * (c0 - steps * (c1 - c0) / (long - steps)),
        "thread_cpu_ms_per_step": {k: round(per_step(t0.get(k, 0.0), v), 1)
                                   for k, v in t1.items() if v - t0.get(k, 0.0) > 0},
        "trace": summarize_trace(logdir, steps),
        "load_average": os.getloadavg()[0],
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "env": {k: os.environ[k] for k in ("TF_OVERRIDE_GLOBAL_THREADPOOL",
                                           "TF_NUM_INTRAOP_THREADS") if k in os.environ},
    }


def summarize_trace(logdir: str, steps: int) -> dict:
    """Per-step op time of each replica, their overlap and the all-reduces, from the
    trace's `.xplane.pb` (leaf op events of the host plane)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    plane = next(p for p in space.planes if p.name == "/host:CPU")
    names = plane.event_metadata
    ops = collections.defaultdict(list)
    for line in plane.lines:
        base = line.timestamp_ns * 1000
        for e in line.events:
            op = names[e.metadata_id].name.split(":")[0]
            if op in _WRAPPERS or not op.startswith("StatefulPartitionedCall/"):
                continue
            start = base + e.offset_ps
            ops[line.id].append((start, start + e.duration_ps, op))
    leaves = []
    for events in ops.values():
        events.sort(key=lambda o: (o[0], -o[1]))
        for i, o in enumerate(events):
            inner = events[i + 1] if i + 1 < len(events) else None
            if not (inner and inner[0] < o[1] and inner[1] <= o[1]):
                leaves.append(o)

    def kind(op):
        if "Collective" in op:
            return "all_reduce"
        return "replica_1" if "replica_1/" in op else "replica_0"

    totals, counts = collections.Counter(), collections.Counter()
    edges = []
    for start, end, op in leaves:
        k = kind(op)
        totals[k] += (end - start) / 1e9
        counts[k] += 1
        if k != "all_reduce":
            edges += [(start, k, 1), (end, k, -1)]
    edges.sort()
    active, last = collections.Counter(), None
    both = one = 0.0
    for t, k, d in edges:
        if last is not None:
            if active["replica_0"] and active["replica_1"]:
                both += (t - last) / 1e9
            elif active["replica_0"] or active["replica_1"]:
                one += (t - last) / 1e9
        active[k] += d
        last = t
    return {
        "ms_per_step": {k: round(v / steps, 1) for k, v in totals.items()},
        "ops_per_step": {k: round(v / steps) for k, v in counts.items()},
        "both_replicas_running_ms_per_step": round(both / steps, 1),
        "one_replica_running_ms_per_step": round(one / steps, 1),
    }


def run_one(model_name, config, steps) -> dict:
    devices, cores, extra = CONFIGS[config]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", **extra}
    for key in ("TF_OVERRIDE_GLOBAL_THREADPOOL", "TF_NUM_INTRAOP_THREADS"):
        if key not in extra:
            env.pop(key, None)
    with tempfile.TemporaryDirectory() as logdir:
        return _timing.run_pinned(__file__, [model_name, devices, "--steps", steps,
                                             "--logdir", logdir], cores, env)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "DEVICES"))
    parser.add_argument("--logdir")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["dae", "dualdis"], choices=list(BATCH))
    parser.add_argument("--thread-pools", action="store_true",
                        help="also 2 devices with one intra-op pool per logical device")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.steps, args.logdir)))
        return {}
    started = time.time()
    configs = list(CONFIGS) if args.thread_pools else list(CONFIGS)[:2]
    rows = {name: {c: run_one(name, c, args.steps) for c in configs} for name in args.models}
    result = {
        "benchmark": "tf_mirrored_profile",
        "command": "python benchmarks/tf_mirrored_profile.py " + " ".join(argv or sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "note": "shared 2-core VM: other processes ran during the benchmark"},
        "seconds": round(time.time() - started, 1),
        "rows": rows,
    }
    for name, row in rows.items():
        for config, r in row.items():
            if "error" in r:
                print(f"{name:<8} {config:<42} error: {r['error']}")
                continue
            t = r["trace"]
            print(f"{name:<8} {config:<42} cpu/step {r['cpu_ms_per_step']:7.0f} ms  "
                  f"per fit {r['cpu_ms_per_fit_call']:6.0f} ms  threads "
                  f"{r['thread_cpu_ms_per_step']}  trace {t}")
    _timing.RESULTS.mkdir(exist_ok=True)
    with open(_timing.RESULTS / "tf_mirrored_profile.json", "w") as f:
        json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
