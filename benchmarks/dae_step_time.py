"""Benchmark: DAE train-step time vs the same network as a plain Keras model.

The plain model is `Sequential([GaussianNoise, encoder, decoder])` compiled with
`loss="mse"` and fitted on (x, x): the same computation through Keras' own
`train_step`. Target: DenoisingAutoEncoder / plain <= 1.05 on every backend.

    python benchmarks/dae_step_time.py            # every installed backend
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

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(size=(batch_size * steps, 28, 28, 1)).astype("float32")
    jit = keras.backend.backend() != "torch"  # torch.compile: minutes of compile on CPU
    dae = DenoisingAutoEncoder(latent_dim=32, noise="gaussian", noise_level=0.3)
    dae.compile(optimizer="adam", jit_compile=jit)
    twin = DenoisingAutoEncoder(latent_dim=32)  # same architecture, fresh weights
    plain = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.GaussianNoise(0.3),
                              twin.encoder, twin.decoder])
    plain.compile(optimizer="adam", loss="mse", jit_compile=jit)
    # The DAE's target is its input; give the plain model the same data as (x, x).
    times = _timing.compare({"dae": _timing.XOnly(dae), "plain": plain}, x, x, batch_size, steps, repeats)
    return {**_timing.ratio_summary(times, "dae", "plain"), "jit_compile": jit}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.batch_size, args.steps, args.repeats)))
        return
    extra = ["--batch-size", str(args.batch_size), "--steps", str(args.steps),
             "--repeats", str(args.repeats)]
    results = _timing.run_workers(__file__, extra_args=extra)
    rows = [[b, f"{r['dae_ms']:.1f}", f"{r['plain_ms']:.1f}", f"{r['ratio']:.3f}",
             f"{r['ratio_median']:.3f}", r["jit_compile"]]
            if "ratio" in r else [b, "error", r["error"], "", "", ""]
            for b, r in results.items()]
    _timing.print_table("DAE train step vs plain Keras compile(loss='mse'), batch "
                        f"{args.batch_size}, best of {args.repeats} alternated timings",
                        ["backend", "dae ms/step", "plain ms/step", "ratio", "ratio of medians",
                         "jit"], rows)
    path = _timing.write_results("dae_step_time", {"results": results, "args": vars(args),
                                                   "machine": platform.platform()})
    print(f"\nWrote {path}")


if __name__ == "__main__":
    main()
