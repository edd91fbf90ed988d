"""Benchmark: DAE train-step time under `mixed_bfloat16` vs float32, on this machine.

Two DenoisingAutoEncoders (MNIST size, latent 32, Gaussian noise), one built under each
policy, timed in alternation in one process (`_timing.compare`); the ratio is
bfloat16 / float32 step time (below 1: mixed precision is faster). On a CPU the answer
depends on bfloat16 support in the kernels (oneDNN AVX512_BF16 on TensorFlow, XLA:CPU
on JAX): it may well be slower than float32.

    python benchmarks/mixed_precision.py                       # tensorflow and jax
    python benchmarks/mixed_precision.py --backends tensorflow jax torch
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402


def worker(batch_size: int, steps: int, repeats: int) -> dict:
    import keras
    import numpy as np

    from lrep_zoo.models import DenoisingAutoEncoder

    x = np.random.default_rng(0).uniform(size=(batch_size * steps, 28, 28, 1)).astype("float32")
    jit = keras.backend.backend() != "torch"  # torch.compile: minutes of compile on CPU
    models = {}
    for name, policy in (("float32", "float32"), ("bfloat16", "mixed_bfloat16")):
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        dae = DenoisingAutoEncoder(latent_dim=32, noise="gaussian", noise_level=0.3)
        dae.compile(optimizer="adam", jit_compile=jit)
        models[name] = _timing.XOnly(dae)
    keras.mixed_precision.set_global_policy("float32")
    times = _timing.compare(models, x, x, batch_size, steps, repeats)
    return {**_timing.ratio_summary(times, "bfloat16", "float32"), "jit_compile": jit}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.batch_size, args.steps, args.repeats)))
        return
    extra = ["--batch-size", str(args.batch_size), "--steps", str(args.steps),
             "--repeats", str(args.repeats)]
    results = _timing.run_workers(__file__, backends=args.backends, extra_args=extra)
    rows = [[b, f"{r['float32_ms']:.1f}", f"{r['bfloat16_ms']:.1f}", f"{r['ratio']:.2f}",
             f"{r['ratio_median']:.2f}", r["jit_compile"]]
            if "ratio" in r else [b, "error", r["error"], "", "", ""]
            for b, r in results.items()]
    _timing.print_table("DAE train step, mixed_bfloat16 vs float32, batch "
                        f"{args.batch_size}, best of {args.repeats} alternated timings",
                        ["backend", "float32 ms/step", "bfloat16 ms/step", "ratio bf16/fp32",
                         "ratio of medians", "jit"], rows)
    path = _timing.write_results("mixed_precision", {"results": results, "args": vars(args),
                                                     "machine": platform.platform()})
    print(f"\nWrote {path}")


if __name__ == "__main__":
    main()
