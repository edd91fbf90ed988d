"""Subprocess body of tests/test_distribute.py.

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python tests/distribute_worker.py local OUT.json
    KERAS_BACKEND=tensorflow python tests/distribute_worker.py local OUT.json
    python tests/distribute_worker.py multi OUT.json PROCESS_ID PORT   # 2 processes

`local`: for each tiny model (DAE, WGAN-GP GAN, DualDis with synchronised BatchNorm;
on TF also SHADE and HybridNet) trains STEPS steps of global batch BATCH with SGD on
one device, then on 2 devices (JAX: keras.distribution.DataParallel; TF:
MirroredStrategy on 2 logical CPUs) from the same weights, and writes the largest
weight difference, the logged losses and the batch each device saw to OUT.json, and
the 1-device weights to OUT.npz (the reference of the `multi` runs).
`multi`: this process is one of 2 (JAX: keras.distribution.initialize on 127.0.0.1
with CPU collectives, each process feeding its half of every batch; TF:
MultiWorkerMirroredStrategy from TF_CONFIG); it trains each of MULTI_MODELS
distributed from the 1-device initial weights and writes the logs to OUT.json and
the trained weights to OUT.npz (tests/test_distribute.py compares them with the
`local` run's 1-device weights).
"""

from __future__ import annotations

import json
import os
import sys

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
STEPS, BATCH = int(os.environ.get("LREP_DW_STEPS", "3")), 8


def _names(variable, default):
    return tuple(n for n in os.environ.get(variable, default).split(",") if n)


MODELS = _names("LREP_DW_MODELS", "dae,wgan_gp,dualdis,shade,hybridnet")
# On 2 TF workers: the single-optimizer models (Keras' own train_step) and the WGAN-GP;
# Keras' fit needs the strategy of distribute.data_parallel() there (two reduce bugs,
# one of them tensorflow/tensorflow#72388).
MULTI_MODELS = _names(
    "LREP_DW_MULTI_MODELS",
    # JAX: the DAE only (CI time: the WGAN-GP's warm-up and XLA compile cost each
    # process ~18 s of CPU; it measured 1.2e-7 with LREP_DW_MULTI_MODELS=dae,wgan_gp).
    "dae" if BACKEND == "jax" else "dae,wgan_gp,vae,hybridnet,siamese",
)
# XLA cannot compile a MirroredStrategy step that reads per-replica variables placed
# on other logical devices (TF known issue); the TF runs are not jit-compiled.
JIT = BACKEND == "jax"
# TF, `local` mode: models whose steps run eagerly (run_eagerly=True: the same
# strategy.run and all-reduces, without tf.function). Tracing DualDis' two-phase step
# once per replica took 20-40 s on the 2 shared cores, its 3 eager steps ~10 s; the DAE
# and the WGAN-GP (faster traced) and every `multi` run keep tf.function under test.
EAGER = _names(
    "LREP_DW_EAGER", "dualdis,shade,hybridnet,vae,siamese" if BACKEND == "tensorflow" else ""
)


def _setup_tf_devices(n):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * n
    )


def _data(name, n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    if name == "dualdis":
        x = rng.integers(0, 256, size=(n, 20, 18, 1)).astype("uint8")
        return x, (rng.integers(0, 4, n).astype("int32"), rng.integers(0, 3, n).astype("int32"))
    if name == "dae":
        return rng.uniform(0, 1, size=(n, 8, 8, 1)).astype("float32"), None
    if name == "hybridnet":
        y = np.where(np.arange(n) % 2 == 0, np.arange(n) % 3, -1).astype("int32")
        return rng.uniform(0, 1, size=(n, 8, 8, 1)).astype("float32"), y
    if name == "siamese":
        pairs = rng.integers(0, 256, size=(2, n, 8, 8, 1)).astype("float32")
        return (pairs[0], pairs[1]), (np.arange(n) % 2).astype("float32")
    if name == "shade":
        return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n).astype("int32")
    return rng.uniform(0, 1, size=(n, 8, 8, 1)).astype("float32"), None


def build(name, record=None, eager=False):
    """A tiny model of kind `name`, compiled with SGD (fixed seeds); `eager`: steps run
    eagerly when `name` is in EAGER."""
    import keras

    import lrep_zoo

    keras.utils.set_random_seed(0)
    step = {"run_eagerly": True} if eager and name in EAGER else {"jit_compile": JIT}
    if name == "dae":
        model = lrep_zoo.models.DenoisingAutoEncoder(
            input_shape=(8, 8, 1), latent_dim=4, noise="masking", noise_level=0.3,
            architecture="mlp", seed=0,
        )
        model.compile(optimizer=keras.optimizers.SGD(0.5), **step)
    elif name == "wgan_gp":
        model = lrep_zoo.models.GAN(
            image_shape=(8, 8, 1), latent_dim=4, generator_filters=(8, 4),
            discriminator_filters=(4, 8), objective="wgan_gp", n_critic=2, seed=0,
        )
        model.compile(
            optimizer={"discriminator": keras.optimizers.SGD(0.05),
                       "generator": keras.optimizers.SGD(0.05)},
            **step,
        )
    elif name == "dualdis":
        # The smallest DualDis (16x16 input, a quarter of the paper's widths) keeps
        # every part of it: the resize, BatchNorm in each network, both phases.
        model = lrep_zoo.models.DualDis(
            image_shape=(20, 18, 1), num_classes_y=4, num_classes_z=3, input_size=16,
            latent_dim=8, network_width=0.25, adversary_hidden=(8,),
            synchronized_batchnorm=os.environ.get("LREP_DW_SYNC", "1") == "1",
        )
        model.compile(
            optimizer={"main": keras.optimizers.SGD(0.01), "disc": keras.optimizers.SGD(0.01)},
            **step,
        )
    elif name == "vae":
        model = lrep_zoo.models.VAE(input_shape=(8, 8, 1), latent_dim=3, seed=1)
        model.compile(optimizer=keras.optimizers.SGD(0.05), **step)
    elif name == "siamese":
        model = lrep_zoo.models.Siamese(image_shape=(8, 8, 1), embedding_dim=4, filters=(4,))
        model.compile(optimizer=keras.optimizers.SGD(0.1), **step)
    elif name == "shade":
        # SHADE's moving averages (p^z, mu^z) are assigned in call under training.
        model = keras.Sequential([
            keras.Input((6,)), keras.layers.Dense(5), lrep_zoo.layers.SHADE(momentum=0.5),
            keras.layers.Dense(3),
        ])
        model.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            **step,
        )
    elif name == "hybridnet":
        # Mean Teacher: the EMA teacher is updated in call from the student's weights.
        from lrep_zoo.models.hybridnet import mnist_networks

        model = lrep_zoo.models.HybridNet(
            **mnist_networks.networks((8, 8, 1), num_classes=3, filters=(4,)),
            stability="mean_teacher",
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), **step)
    else:
        raise ValueError(name)
    if record is not None:
        _record_batches(model, record)
    return model


def _record_batches(model, record):
    """Wraps the model's train_step to record (device, batch rows) of every step."""
    step = model.train_step
    if BACKEND == "tensorflow":
        import tensorflow as tf

        def recorded(*args):
            data = args[-1]
            x = data[0] if isinstance(data, tuple) else data
            rid = tf.distribute.get_replica_context().replica_id_in_sync_group

            def log(r, n, first):
                record.append((int(r), int(n), float(first)))
                return 0

            tf.py_function(log, [rid, tf.shape(x)[0], tf.reshape(tf.cast(x, "float32"), [-1])[0]],
                           Tout=tf.int32)
            return step(*args)

    else:
        import jax

        def recorded(*args):
            data = args[-1]
            x = data[0] if isinstance(data, tuple) else data
            jax.debug.inspect_array_sharding(
                x, callback=lambda s: record.append(
                    (len(s.device_set), s.shard_shape(x.shape)[0], 0.0)
                ),
            )
            return step(*args)

    model.train_step = recorded


def _replica_spread(model, variables=None, top=3):
    """TF: the largest difference between the replicas' copies of a variable, per name
    (the `top` largest; all with top=0)."""
    if BACKEND != "tensorflow":
        return {}
    import numpy as np

    spread = {}
    for v in model.weights if variables is None else variables:
        copies = getattr(v.value, "values", None)
        if copies and len(copies) > 1:
            arrays = [np.array(c.numpy()) for c in copies]
            spread[v.path] = max(float(np.max(np.abs(a - arrays[0]))) for a in arrays)
    ranked = sorted(spread.items(), key=lambda kv: -kv[1])
    return dict(ranked[:top] if top else ranked)


def weights(model):
    import numpy as np
    from keras import ops

    return [np.array(ops.convert_to_numpy(v)) for v in model.weights]


def train(name, model, x, y, batch):
    history = model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    return {k: float(v[-1]) for k, v in history.history.items()}


def run_local(out):
    if BACKEND == "tensorflow":
        _setup_tf_devices(2)
    import numpy as np

    from lrep_zoo.training import distribute

    result = {"backend": BACKEND, "devices": distribute.local_devices(), "models": {}}
    references = {}
    for name in MODELS:
        x, y = _data(name, STEPS * BATCH)
        one = build(name, eager=True)
        start = weights(one)
        logs_one = train(name, one, x, y, BATCH)
        record = []
        with distribute.data_parallel(2):
            two = build(name, record, eager=True)
            for v, w in zip(two.weights, start):
                v.assign(w)
            logs_two = train(name, two, x, y, BATCH)
        w1, w2 = weights(one), weights(two)
        result["models"][name] = {
            "max_weight_diff": max(float(np.max(np.abs(a - b))) for a, b in zip(w1, w2)),
            "max_update": max(float(np.max(np.abs(a - b))) for a, b in zip(w1, start)),
            "worst": sorted(
                ((float(np.max(np.abs(a - b))), v.path) for a, b, v in zip(w1, w2, one.weights)),
                reverse=True,
            )[:4],
            "replica_spread": _replica_spread(two),
            "ema_spread": _replica_spread(two, [t for t, _ in getattr(two, "ema_pairs", [])], 0),
            "logs_one": logs_one,
            "logs_two": logs_two,
            "per_device_batches": record,
        }
        references.update({f"{name}/{i}": w for i, w in enumerate(w1)})
        if BACKEND == "jax" and name == "dae":
            result["model_parallel"] = _model_parallel(name, start, w1, x, y)
    result["recipe_flag"] = _recipe_flag()
    with open(out, "w") as f:
        json.dump(result, f)
    np.savez(_npz(out), **references)


def _model_parallel(name, start, reference, x, y):
    """JAX: `keras.distribution.ModelParallel` with a data-parallel layout map (a
    2 x 1 "batch" x "model" mesh; kernels laid out over the size-1 "model" axis)."""
    import keras
    import numpy as np

    mesh = keras.distribution.DeviceMesh(
        (2, 1), ["batch", "model"], devices=keras.distribution.list_devices()[:2]
    )
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map[".*dense.*kernel"] = (None, "model")
    record = []
    with keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch").scope():
        model = build(name, record)
        for v, w in zip(model.weights, start):
            v.assign(w)
        train(name, model, x, y, BATCH)
        layouts = {v.path: str(v.value.sharding.spec) for v in model.trainable_variables}
    return {
        "max_weight_diff": max(
            float(np.max(np.abs(a - b))) for a, b in zip(weights(model), reference)
        ),
        "per_device_batches": record,
        "kernel_layouts": layouts,
    }


def _npz(out):
    return os.path.splitext(out)[0] + ".npz"


def _recipe_flag():
    """A recipe config parsed with --distribute: the engine it set up, record, argv."""
    import dataclasses

    from lrep_zoo.recipe_config import parse, record, to_argv
    from lrep_zoo.training import distribute

    @dataclasses.dataclass
    class Config:
        epochs: int = 1

    config = parse(Config, ["--distribute"])
    engine = distribute.enable_data_parallel()
    if BACKEND == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
    else:
        import keras

        replicas = len(keras.distribution.distribution().device_mesh.devices.reshape(-1))
    return {"record": record(config), "argv": to_argv(config),
            "engine": type(engine).__name__, "replicas": int(replicas)}


def run_multi(out, process_id, port):
    import numpy as np
    from keras import ops

    from lrep_zoo.training import distribute

    if BACKEND == "jax":
        distribute.initialize_multi_process(f"127.0.0.1:{port}", 2, process_id)
    else:
        os.environ["TF_CONFIG"] = json.dumps({
            "cluster": {"worker": [f"127.0.0.1:{port}", f"127.0.0.1:{port + 1}"]},
            "task": {"type": "worker", "index": process_id},
        })
        distribute.initialize_multi_process()
    result = {"backend": BACKEND, "process_id": process_id, "models": {}}
    trained = {}
    for name in MULTI_MODELS:
        x, y = _data(name, STEPS * BATCH)
        start = weights(build(name))  # the 1-device run's initial weights
        with distribute.data_parallel():
            two = build(name)
            for v, w in zip(two.weights, start):
                v.assign(w)
            if BACKEND == "jax":
                # Each process feeds its half of every global batch.
                half = BATCH // 2
                rows = np.concatenate([
                    np.arange(s * BATCH + process_id * half, s * BATCH + (process_id + 1) * half)
                    for s in range(STEPS)
                ])
                xs = x[rows]
                ys = None if y is None else tuple(t[rows] for t in y)
                logs = train(name, two, xs, ys, half)
            else:
                logs = train(name, two, x, y, BATCH)
        w2 = weights(two)
        result["models"][name] = {
            "logs": logs,
            "max_update": max(float(np.max(np.abs(a - b))) for a, b in zip(w2, start)),
            # Trainable weights: mirrored, the same on every worker (BatchNorm moving
            # statistics are per replica unless synchronised).
            "checksum": float(sum(
                float(np.sum(np.array(ops.convert_to_numpy(v)), dtype="float64"))
                for v in two.trainable_variables
            )),
        }
        trained.update({f"{name}/{i}": w for i, w in enumerate(w2)})
    with open(out, "w") as f:
        json.dump(result, f)
    np.savez(_npz(out), **trained)


if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "local":
        run_local(out)
    else:
        run_multi(out, int(sys.argv[3]), int(sys.argv[4]))
