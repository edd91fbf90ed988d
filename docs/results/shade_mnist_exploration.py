"""Exploration behind docs/results/shade.md ("How the protocol was chosen").

SHADE vs no regularisation at 1,000 MNIST labels, labelled subset of seed 0,
validation split (last 2,000 offline training images) only. Each argument is
one run, a JSON dict of `run` keywords; one JSON line is printed per run
(raw lines: shade_mnist_exploration.jsonl). Keys: `arch` "mlp" (2x256),
"mlp1024", "lenet_s" (= `nets.classifiers.lenet` defaults), "lenet" (conv 20,
conv 50, fc 500); `bn` None, "noscale" (BatchNormalization(scale=False) before
SHADE), "scale" (learned scale), "fixedC" (no-scale BN then x C), "unitnorm"
(UnitNorm kernel constraint, no BN); `w` SHADE weight (0: none); `shift`
random translations of up to `shift` pixels; `steps`, `lr`.

    KERAS_BACKEND=jax python docs/results/shade_mnist_exploration.py \
        '{"arch": "lenet_s"}' '{"arch": "lenet_s", "w": 1e-3}'
"""
import json, os, sys, time
import numpy as np
import keras
from lrep_zoo import data
from lrep_zoo.layers.shade import SHADE

x, y = data.load_arrays("mnist", "train", data_dir=os.environ.get("LREP_ZOO_DATA_DIR", "../shared/data"))
prep = lambda a: a.astype("float32").reshape(len(a), 28, 28, 1) / 255.0
y = y.astype("int64")
xp, yp = prep(x[:-2000]), y[:-2000]
xv, yv = prep(x[-2000:]), y[-2000:]
idx = data.split_labelled(yp, 1000, seed=0)
xt, yt = xp[idx], yp[idx]

def block(h, layer, name, bn, w, red, act="relu"):
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

def build(arch, bn, w, red):
    inp = keras.Input((28, 28, 1)); h = inp
    if arch.startswith("lenet"):
        for i, f in enumerate({"lenet": (20, 50), "lenet_s": (8, 16)}[arch], 1):
            h = block(h, keras.layers.Conv2D(f, 5, use_bias=not bn, name=f"conv{i}"), f"conv{i}", bn, w, red)
            h = keras.layers.MaxPooling2D(2)(h)
        h = keras.layers.Flatten()(h)
        hidden = (500,) if arch == "lenet" else (128,)
    else:
        h = keras.layers.Flatten()(h)
        hidden = {"mlp": (256, 256), "mlp1024": (1024, 1024)}[arch]
    for i, u in enumerate(hidden, 1):
        h = block(h, keras.layers.Dense(u, use_bias=not bn or bn == "unitnorm", kernel_constraint=keras.constraints.UnitNorm(0) if bn == "unitnorm" else None, name=f"fc{i}"), f"fc{i}", bn, w, red)
    out = keras.layers.Dense(10)(h)
    return keras.Model(inp, out)

def run(arch="mlp", bn=None, w=0.0, red="mean", steps=1000, lr=0.01, decay=0.95, bs=100, seed=0, shift=0):
    keras.utils.set_random_seed(seed); rng = np.random.default_rng(seed)
    m = build(arch, bn, w, red)
    sched = keras.optimizers.schedules.ExponentialDecay(lr, 100, decay, staircase=True)
    m.compile(keras.optimizers.SGD(sched, momentum=0.9),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
    t = time.perf_counter(); done = 0
    while done < steps:
        order = np.concatenate([rng.permutation(len(xt)) for _ in range(5)])
        n = min(len(order) // bs, steps - done) * bs
        xb = xt[order[:n]]
        if shift:
            pad = np.pad(xb, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
            oy, ox = rng.integers(0, 2 * shift + 1, (2, n))
            r = oy[:, None] + np.arange(28); c = ox[:, None] + np.arange(28)
            xb = pad[np.arange(n)[:, None, None], r[:, :, None], c[:, None, :]]
        m.fit(xb, yt[order[:n]], batch_size=bs, epochs=1, shuffle=False, verbose=0)
        done += n // bs
    acc = float((m.predict(xv, batch_size=500, verbose=0).argmax(-1) == yv).mean())
    mus = {l.name: [float(np.mean(l.moving_mu0)), float(np.mean(l.moving_mu1))]
           for l in m.layers if isinstance(l, SHADE)}
    print(json.dumps({"arch": arch, "bn": bn, "w": w, "red": red, "steps": steps, "lr": lr, "shift": shift,
                      "val": round(100 * acc, 2), "sec": round(time.perf_counter() - t, 1),
                      "mu": {k: [round(a, 3) for a in v] for k, v in mus.items()}}), flush=True)
    keras.backend.clear_session()

for spec in sys.argv[1:]:
    run(**json.loads(spec))
