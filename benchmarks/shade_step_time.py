"""Benchmark: train-step time of an MLP with SHADE on every hidden layer vs without.

The model is the CIFAR-10 MLP of the SHADE table (`lrep_zoo.models.shade.classifiers.mlp`,
3x512 ReLU on 32x32x3 inputs, logits, momentum SGD): `regularizer="shade"` puts
a `SHADE` layer (moving averages + penalty) on each of the 3 hidden
pre-activations; the plain twin has `regularizer="none"`. Both are timed in
alternation in one process per backend, so that machine load affects both alike;
the ratio compares their fastest timings (`_timing.ratio_summary`; the ratio of
medians is given beside it). Target: SHADE / plain <= 1.10 on the JAX and
TensorFlow backends.

    python benchmarks/shade_step_time.py            # every installed backend
    python benchmarks/shade_step_time.py --hidden 1024 1024 --batch-size 256

torch runs without `jit_compile` (torch.compile costs minutes on CPU).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402


def worker(batch_size: int, steps: int, repeats: int, hidden: list[int]) -> dict:
    import keras
    import numpy as np

    from lrep_zoo.models.shade.classifiers import mlp

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size * steps, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(batch_size * steps,))
    jit = keras.backend.backend() != "torch"  # torch.compile: minutes of compile on CPU
    models = {}
    for name, reg, weight in (("shade", "shade", 1e-4), ("plain", "none", None)):
        model = mlp((32, 32, 3), 10, hidden=tuple(hidden), regularizer=reg, weight=weight)
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit,
        )
        models[name] = model
    times = _timing.compare(models, x, y, batch_size, steps, repeats)
    return {**_timing.ratio_summary(times, "shade", "plain"), "jit_compile": jit,
            "shade_layers": sum(type(l).__name__ == "SHADE" for l in models["shade"].layers)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 512, 512])
    parser.add_argument("--backends", nargs="+", default=None, choices=_timing.BACKENDS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.batch_size, args.steps, args.repeats, args.hidden)))
        return
    extra = ["--batch-size", str(args.batch_size), "--steps", str(args.steps),
             "--repeats", str(args.repeats), "--hidden", *map(str, args.hidden)]
    results = _timing.run_workers(__file__, backends=args.backends, extra_args=extra)
    rows = [[b, f"{r['shade_ms']:.1f}", f"{r['plain_ms']:.1f}", f"{r['ratio']:.3f}",
             f"{r['ratio_median']:.3f}", r["jit_compile"]]
            if "ratio" in r else [b, "error", r["error"], "", "", ""]
            for b, r in results.items()]
    _timing.print_table(
        f"MLP {'x'.join(map(str, args.hidden))} train step, SHADE on every hidden layer vs "
        f"plain, batch {args.batch_size}, best of {args.repeats} alternated timings of "
        f"{args.steps} steps", ["backend", "shade ms/step", "plain ms/step", "ratio",
                                "ratio of medians", "jit"], rows)
    path = _timing.write_results("shade_step_time", {"results": results, "args": vars(args),
                                                     "machine": platform.platform()})
    print(f"\nWrote {path}")


if __name__ == "__main__":
    main()
