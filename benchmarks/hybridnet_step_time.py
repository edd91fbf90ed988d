"""Benchmark: HybridNet train-step time vs the supervised baseline with the same encoder.

The baseline is the plain Keras model `images -> E_c -> classifier` compiled with
`SparseCategoricalCrossentropy(from_logits=True)` and fitted on the labelled
images only (Keras' own `train_step`). HybridNet runs the full loss (Mean
Teacher, reconstruction, intermediate reconstructions, branch balancing) on
mixed batches. Same encoder builder, same batch size. The ratio is the cost of
the second branch, the two decoders, the teacher and the extra losses.

    python benchmarks/hybridnet_step_time.py                   # small MNIST net
    python benchmarks/hybridnet_step_time.py --net convlarge   # ConvLarge, 32x32x3
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _timing  # noqa: E402


def worker(net: str, batch_size: int, steps: int, repeats: int) -> dict:
    import keras
    import numpy as np

    from lrep_zoo.models.hybridnet import HybridNet
    from lrep_zoo.models.hybridnet import convlarge, mnist_networks as hybrid_mnist

    keras.utils.set_random_seed(0)
    module, shape = (hybrid_mnist, (28, 28, 1)) if net == "mnist" else (convlarge, (32, 32, 3))
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(batch_size * steps, *shape)).astype("float32")
    y = rng.integers(0, 10, size=len(x)).astype("int64")
    y_mixed = np.where(np.arange(len(x)) % 5 == 0, y, -1)  # 20 % labelled
    jit = keras.backend.backend() != "torch"  # torch.compile: minutes of compile on CPU

    hybrid = HybridNet(**module.networks(shape), stability="mean_teacher", seed=0)
    hybrid.compile(optimizer="adam", jit_compile=jit)
    nets = module.networks(shape, unsupervised_branch=False, decoders=False)
    inputs = keras.Input(shape)
    encoded = nets["encoder_c"](inputs)
    encoded = encoded[0] if isinstance(encoded, (list, tuple)) else encoded
    baseline = keras.Model(inputs, nets["classifier"](encoded))
    baseline.compile(optimizer="adam", jit_compile=jit,
                     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    times = _timing.compare({"hybridnet": _Mixed(hybrid, y_mixed), "baseline": baseline},
                            x, y, batch_size, steps, repeats)
    return {**_timing.ratio_summary(times, "hybridnet", "baseline"), "jit_compile": jit}


class _Mixed:
    """Fits HybridNet on the same images with 80 % of the labels hidden (-1)."""

    def __init__(self, model, y_mixed):
        self.model, self.y_mixed = model, y_mixed

    def fit(self, x, y=None, **kwargs):
        return self.model.fit(x, self.y_mixed[: len(x)], **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--net", default="mnist", choices=["mnist", "convlarge"])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=None)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.net, args.batch_size, args.steps, args.repeats)))
        return
    extra = ["--net", args.net, "--batch-size", str(args.batch_size), "--steps",
             str(args.steps), "--repeats", str(args.repeats)]
    results = _timing.run_workers(__file__, backends=args.backends, extra_args=extra)
    rows = [[b, f"{r['hybridnet_ms']:.1f}", f"{r['baseline_ms']:.1f}", f"{r['ratio']:.2f}",
             f"{r['ratio_median']:.2f}", r["jit_compile"]]
            if "ratio" in r else [b, "error", r["error"], "", "", ""]
            for b, r in results.items()]
    _timing.print_table(f"HybridNet ({args.net}) vs supervised baseline (same encoder), "
                        f"batch {args.batch_size}, best of {args.repeats} alternated timings",
                        ["backend", "hybridnet ms/step", "baseline ms/step", "ratio",
                         "ratio of medians", "jit"], rows)
    path = _timing.write_results(f"hybridnet_step_time_{args.net}",
                                 {"results": results, "args": vars(args),
                                  "machine": platform.platform()})
    print(f"\nWrote {path}")


if __name__ == "__main__":
    main()
