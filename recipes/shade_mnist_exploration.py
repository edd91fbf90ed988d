"""Recipe: the exploration behind docs/results/shade.md ("How the protocol was chosen").

SHADE vs no regularisation at `--labels` (1,000) MNIST labels, labelled subset of
`--subset-seed`, scored on the validation split only (the last `--val-images`
training images). One run per `--runs` spec, a JSON dict of option names (e.g.
`'{"arch": "lenet_s", "w": 1e-3}'`) applied over the flags; one JSON line is printed
per run (raw lines: docs/results/shade_mnist_exploration.jsonl), and appended to
`<output-dir>/exploration.jsonl` with `--output-dir`.

Options (spec keys in brackets): `arch` "mlp" (2x256), "mlp1024", "lenet_s" (=
`lrep_zoo.models.shade.classifiers.lenet` defaults), "lenet" (conv 20, conv 50, fc 500);
`bn` none, "noscale" (BatchNormalization(scale=False) before SHADE), "scale"
(learned scale), "fixedC" (no-scale BN then x C), "unitnorm" (UnitNorm kernel
constraint, no BN); `--shade-weight` [`w`] (0: no SHADE); `--reduction` [`red`];
`--shift` random translations of up to `shift` pixels; `--steps`, `--learning-rate`
[`lr`], `--lr-decay` [`decay`, every 100 steps], `--batch-size` [`bs`], `--seed`.

    KERAS_BACKEND=jax lrep-zoo train shade_mnist_exploration --data-dir ../shared/data \
        --runs '{"arch": "lenet_s"}' '{"arch": "lenet_s", "w": 1e-3}'
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time

import numpy as np

from lrep_zoo.recipe_config import jit_compile, option, parse, record

NAME = "shade_mnist_exploration"
DESCRIPTION = "SHADE on MNIST, 1000 labels, validation only: the MLP / BatchNorm / ConvNet exploration"
ARCHS = ("mlp", "mlp1024", "lenet_s", "lenet")


@dataclasses.dataclass
class Config:
    """The options of `lrep-zoo train shade_mnist_exploration`; `--runs` specs override them."""

    arch: str = option("mlp", choices=ARCHS)
    bn: str | None = option(None, help="noscale, scale, fixedC (e.g. fixed4) or unitnorm")
    w: float = option(0.0, flag="--shade-weight", help="SHADE weight (0: no SHADE)")
    red: str = option("mean", flag="--reduction", help="SHADE reduction")
    steps: int = 1000
    lr: float = option(0.01, flag="--learning-rate")
    decay: float = option(0.95, flag="--lr-decay", help="every 100 steps")
    bs: int = option(100, flag="--batch-size")
    seed: int = 0
    shift: int = option(0, help="random translations of up to this many pixels")
    labels: int = 1000
    subset_seed: int = 0
    val_images: int = 2000
    data_dir: str | None = option(None, help="npz folder (like shared/data) or TFDS data_dir; "
                                             "default: $LREP_ZOO_DATA_DIR, then TFDS")
    jit: bool = option(True, help="jit_compile=False (default: 'auto')")
    output_dir: str | None = option(None, help="also append the lines to exploration.jsonl here")
    runs: list[str] = option([], metavar="JSON", recorded=False,
                             help="one run per JSON dict of options (default: one run of the flags)")


@functools.lru_cache(maxsize=2)
def _data(data_dir, labels, subset_seed, val_images):
    from lrep_zoo import data

    x, y = data.load_arrays("mnist", "train", data_dir=data_dir)

    def prep(a):
        return a.astype("float32").reshape(len(a), 28, 28, 1) / 255.0

    y = y.astype("int64")
    xp, yp = prep(x[:-val_images]), y[:-val_images]
    idx = data.split_labelled(yp, labels, seed=subset_seed)
    return xp[idx], yp[idx], prep(x[-val_images:]), y[-val_images:]


def _block(h, layer, name, bn, w, red, act="relu"):
    import keras

    from lrep_zoo.layers.shade import SHADE

    h = layer(h)
    if bn == "unitnorm":
        pass
    elif bn:
        h = keras.layers.BatchNormalization(scale=(bn == "scale"), name=f"{name}_bn")(h)
        if bn.startswith("fixed"):
            h = keras.layers.Rescaling(float(bn[5:]))(h)
    if w:
        h = SHADE(w, momentum=0.8, reduction=red, name=f"{name}_shade")(h)
    return keras.layers.Activation(act)(h)


def build(arch: str, bn: str | None, w: float, red: str):
    """The explored network (logits), SHADE of weight `w` on every hidden pre-activation.

    Example:

    ```python
    from lrep_zoo.recipes.shade_mnist_exploration import build

    print(build("lenet_s", None, 1e-3, "mean").output_shape)  # (None, 10)
    ```
    """
    import keras

    if arch not in ARCHS:
        raise ValueError(f"Unknown arch {arch!r}; expected one of {ARCHS}.")
    inp = keras.Input((28, 28, 1))
    h = inp
    if arch.startswith("lenet"):
        for i, f in enumerate({"lenet": (20, 50), "lenet_s": (8, 16)}[arch], 1):
            h = _block(h, keras.layers.Conv2D(f, 5, use_bias=not bn, name=f"conv{i}"),
                       f"conv{i}", bn, w, red)
            h = keras.layers.MaxPooling2D(2)(h)
        h = keras.layers.Flatten()(h)
        hidden = (500,) if arch == "lenet" else (128,)
    else:
        h = keras.layers.Flatten()(h)
        hidden = {"mlp": (256, 256), "mlp1024": (1024, 1024)}[arch]
    for i, u in enumerate(hidden, 1):
        dense = keras.layers.Dense(
            u, use_bias=not bn or bn == "unitnorm",
            kernel_constraint=keras.constraints.UnitNorm(0) if bn == "unitnorm" else None,
            name=f"fc{i}")
        h = _block(h, dense, f"fc{i}", bn, w, red)
    out = keras.layers.Dense(10)(h)
    return keras.Model(inp, out)


def run_one(c: Config) -> dict:
    """One run: trains on the labelled subset, returns validation accuracy and SHADE's `mu`.

    Example:

    ```python
    from lrep_zoo.recipes.shade_mnist_exploration import Config, run_one

    # MNIST from $LREP_ZOO_DATA_DIR (or data_dir=...). A smoke run: 20 steps of the small
    # LeNet with SHADE, 500 validation images, without XLA.
    line = run_one(Config(arch="lenet_s", w=1e-3, steps=20, val_images=500, jit=False))
    print(line["val"], line["mu"])  # validation accuracy (%), SHADE's moving mu
    ```
    """
    import keras

    from lrep_zoo.layers.shade import SHADE

    xt, yt, xv, yv = _data(c.data_dir, c.labels, c.subset_seed, c.val_images)
    keras.utils.set_random_seed(c.seed)
    rng = np.random.default_rng(c.seed)
    m = build(c.arch, c.bn, c.w, c.red)
    sched = keras.optimizers.schedules.ExponentialDecay(c.lr, 100, c.decay, staircase=True)
    m.compile(keras.optimizers.SGD(sched, momentum=0.9),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              jit_compile=jit_compile(c.jit))
    t = time.perf_counter()
    done, bs, shift = 0, c.bs, c.shift
    while done < c.steps:
        order = np.concatenate([rng.permutation(len(xt)) for _ in range(5)])
        n = min(len(order) // bs, c.steps - done) * bs
        xb = xt[order[:n]]
        if shift:
            pad = np.pad(xb, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
            oy, ox = rng.integers(0, 2 * shift + 1, (2, n))
            r = oy[:, None] + np.arange(28)
            cols = ox[:, None] + np.arange(28)
            xb = pad[np.arange(n)[:, None, None], r[:, :, None], cols[:, None, :]]
        m.fit(xb, yt[order[:n]], batch_size=bs, epochs=1, shuffle=False, verbose=0)
        done += n // bs
    acc = float((m.predict(xv, batch_size=500, verbose=0).argmax(-1) == yv).mean())
    mus = {l.name: [float(np.mean(l.moving_mu0)), float(np.mean(l.moving_mu1))]
           for l in m.layers if isinstance(l, SHADE)}
    keras.backend.clear_session()
    return {**record(c), "split": "val", "val": round(100 * acc, 2),
            "sec": round(time.perf_counter() - t, 1),
            "mu": {k: [round(a, 3) for a in v] for k, v in mus.items()}}


def run(config: Config | None = None) -> list[dict]:
    """One `run_one` per `runs` spec (the flags alone without specs); prints JSON lines.

    Example:

    ```python
    from lrep_zoo.recipes.shade_mnist_exploration import Config, run

    # Two runs sharing the flags (20 steps, 500 validation images, no XLA): the small
    # LeNet, then the MLP with SHADE; the lines also go to runs/exploration/exploration.jsonl.
    lines = run(Config(steps=20, val_images=500, jit=False, output_dir="runs/exploration",
                       runs=['{"arch": "lenet_s"}', '{"w": 1e-3}']))
    print([line["val"] for line in lines])
    ```

    An exploration run at full length:

    ```bash
    lrep-zoo train shade_mnist_exploration --runs '{"arch": "lenet_s"}' '{"w": 1e-3}'
    ```
    """
    from lrep_zoo import reporting

    config = config or Config()
    names = {f.name for f in dataclasses.fields(Config)} - {"runs"}
    lines = []
    for spec in config.runs or ["{}"]:
        overrides = json.loads(spec)
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"Unknown run option(s) {unknown} in {spec}; known: {sorted(names)}.")
        line = run_one(dataclasses.replace(config, runs=[], **overrides))
        print(json.dumps(line), flush=True)
        lines.append(line)
        if config.output_dir:
            path = reporting.output_dir(config.output_dir) / "exploration.jsonl"
            with open(path, "a") as f:
                f.write(json.dumps(line) + "\n")
    return lines


def main(argv: list[str] | None = None) -> list[dict]:
    """`lrep-zoo train shade_mnist_exploration [flags] [--runs JSON ...]`."""
    return run(parse(Config, argv, prog=f"lrep-zoo train {NAME}", description=DESCRIPTION))


if __name__ == "__main__":
    main()
