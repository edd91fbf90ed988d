"""Data-parallel training on the engines Keras supports: `keras.distribution` and `tf.distribute`.

lrep_zoo has no distribution code of its own: on JAX a model trains under Keras'
`keras.distribution.DataParallel` (the batch is sharded over the devices, XLA's
SPMD partitioner all-reduces), on TensorFlow under a `tf.distribute` strategy
(`MirroredStrategy` on one machine, `MultiWorkerMirroredStrategy` on several).
This module is the thin layer that makes both look the same to a user:

- `data_parallel(num_devices=None)`: a context manager; build, compile and `fit`
  the model inside it to train data parallel over the local devices.
- `enable_data_parallel()`: the same for the rest of the process (the recipes'
  `--distribute` flag).
- `initialize_multi_process(...)`: joins a multi-process (multi-machine) run
  (JAX: `keras.distribution.initialize`; TensorFlow: `TF_CONFIG`), then
  `data_parallel()` spans the devices of every process.
- `num_replicas_in_sync()`, `replica_id()`: where the running step is.
- `scale_loss_for_distribution(loss)`: what a `compute_loss` override returns, so
  that the replicas' summed gradients are those of the global-batch mean.
- `replica_random(draw, shape)`: random draws inside a train step that give each
  replica its own slice of the global batch's draw, so that training on N replicas
  uses the same noise as on one device (used by the models' noise layers).

What is per replica and what is synchronised (measured in `tests/test_distribute.py`):

- Losses: the phase losses of `MultiPhaseModel` and Keras' own `compute_loss` are
  averaged over the global batch (on TensorFlow each replica's loss is divided by
  the number of replicas before the gradients are summed across replicas).
- BatchNormalization: on JAX the statistics are those of the global batch (the
  step is one SPMD program). On TensorFlow they are per replica unless the layer
  is built with `synchronized=True` (models with BatchNorm take
  `synchronized_batchnorm=True`), which all-reduces them.
- SHADE moving averages (p^z, mu^z): on JAX computed on the global batch. On
  TensorFlow each replica updates its own copy from its slice of the batch (like
  BatchNorm's moving statistics; the copies differ, by 0.57 in the test), and the
  saved / evaluated value is replica 0's.
- EMA teachers (HybridNet's Mean Teacher) are updated from the mirrored student
  weights, which are identical on every replica, so they stay identical.
- torch: no data-parallel engine in Keras 3; `data_parallel` raises a ValueError.

Several TensorFlow workers: the strategy `data_parallel()` enters is TF's
`MultiWorkerMirroredStrategy` with a `reduce` that accepts what Keras 3.15's `fit`
gives it (a nest of per-replica batches, scalar logs; see
`_keras_fit_multi_worker_strategy`): with TF's own class `fit` fails for every model
(tensorflow/tensorflow#72388), so enter `data_parallel()` rather than building one.

Example:

```python
import keras
import lrep_zoo
from lrep_zoo.training import distribute

x, _ = lrep_zoo.data.load_arrays("mnist", "test")      # uint8 (N, 28, 28, 1)
images = x[:128].astype("float32") / 255.0

if keras.backend.backend() != "torch":  # jax or tensorflow; torch: a ValueError
    with distribute.data_parallel():
        model = lrep_zoo.models.DenoisingAutoEncoder((28, 28, 1), architecture="mlp")
        model.compile(optimizer="adam")
        model.fit(images, batch_size=64, epochs=1, verbose=0)  # 64 = the global batch
```
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Callable, Iterator, Sequence

import keras
from keras import ops

_BACKEND = keras.backend.backend()


def local_devices() -> list[str]:
    """The accelerator devices of this process (GPUs/TPUs, else CPUs), as Keras lists them.

    On TensorFlow, CPU logical devices count (`tf.config.set_logical_device_configuration`).

    Example:

    ```python
    from lrep_zoo.training import distribute

    print(distribute.local_devices())  # e.g. ['cpu:0']
    ```
    """
    if _BACKEND == "jax":
        import jax

        devices = jax.local_devices()
        return [f"{d.platform}:{d.id}" for d in devices]
    if _BACKEND == "tensorflow":
        import tensorflow as tf

        for kind in ("GPU", "TPU", "CPU"):
            found = tf.config.list_logical_devices(kind)
            if found:
                return [d.name for d in found]
        return []
    return ["cpu:0"]


@contextlib.contextmanager
def data_parallel(num_devices: int | None = None) -> Iterator[object]:
    """Data-parallel training over the local devices (or every process's, after
    `initialize_multi_process`).

    Build, compile and `fit` the model inside the `with` block: the batch size
    given to `fit` is the global batch, each of the N devices gets `batch / N`.

    Args:
        num_devices: How many local devices to use (default: all). Only with a
            single process.

    Yields:
        The engine: a `keras.distribution.DataParallel` on JAX, a
        `tf.distribute.Strategy` on TensorFlow.

    Raises:
        ValueError: on the torch backend, or when `num_devices` is not between 1
            and the number of local devices.

    Example:

    ```python
    import keras
    import numpy as np
    from lrep_zoo.training import distribute

    x = np.random.default_rng(0).normal(size=(128, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)

    def build_model():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])

    if keras.backend.backend() != "torch":  # jax or tensorflow; torch: a ValueError
        with distribute.data_parallel() as engine:   # one CPU: a one-device engine
            model = build_model()
            model.compile(optimizer="adam", loss="mse")
            model.fit(x, y, batch_size=64, verbose=0)
    ```
    """
    if _BACKEND == "torch":
        raise ValueError(
            "Data-parallel training needs the jax backend (keras.distribution) or the "
            "tensorflow backend (tf.distribute); Keras 3 has no data-parallel engine "
            "for torch. Set KERAS_BACKEND=jax or tensorflow."
        )
    if _BACKEND == "jax":
        import jax

        multi = jax.process_count() > 1
        if num_devices is not None and multi:
            raise ValueError(
                "num_devices is for a single process; a multi-process run uses every "
                "device of every process."
            )
        devices = jax.devices() if multi else jax.local_devices()
        devices = _first(devices, num_devices)
        engine = keras.distribution.DataParallel(
            devices=[f"{d.platform}:{d.id}" for d in devices]
        )
        if multi:
            # Each process feeds its own part of every global batch (arrays or
            # datasets): Keras must not shard it again.
            engine.auto_shard_dataset = False
        with engine.scope():
            yield engine
        return
    import tensorflow as tf

    if "TF_CONFIG" in os.environ and _tf_config_workers() > 1:
        if num_devices is not None:
            raise ValueError(
                "num_devices is for a single process; with TF_CONFIG every worker "
                "uses all its devices."
            )
        engine = _multi_worker_strategy()
    else:
        devices = tuple(_first(local_devices(), num_devices))
        # One strategy per device set and process: a second MirroredStrategy over
        # the same devices reuses collective keys of the first, and its all-reduces
        # fail ("Shape mismatch in the collective instance ...").
        if devices not in _MIRRORED:
            if len(devices) == 1:
                _MIRRORED[devices] = tf.distribute.OneDeviceStrategy(devices[0])
            else:
                _MIRRORED[devices] = tf.distribute.MirroredStrategy(list(devices))
        engine = _MIRRORED[devices]
    with engine.scope():
        yield engine


_ENABLED = []


def enable_data_parallel(num_devices: int | None = None) -> object:
    """`data_parallel` for the rest of the process (the recipes' `--distribute`).

    Models built, compiled and fitted after this call train data parallel; a
    second call is a no-op.

    Returns:
        The engine (see `data_parallel`).

    Example:

    ```python
    import subprocess
    import sys
    import textwrap

    import keras

    # For the rest of the process, so shown as the start of a training script
    # (run here in a process of its own):
    script = textwrap.dedent('''
        import keras
        import numpy as np
        from lrep_zoo.training import distribute

        distribute.enable_data_parallel()
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        # replicated on every local device
        model.compile(optimizer="adam", loss="mse")
        x = np.ones((64, 4), "float32")
        model.fit(x, x[:, :1], batch_size=32, verbose=0)
    ''')
    if keras.backend.backend() != "torch":  # jax or tensorflow; torch: a ValueError
        subprocess.run([sys.executable, "-c", script], check=True)
    ```
    """
    if not _ENABLED:
        scope = data_parallel(num_devices)
        _ENABLED.append((scope, scope.__enter__()))
    return _ENABLED[0][1]


def initialize_multi_process(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Joins a multi-process (several machines) data-parallel run; call it first.

    On JAX this is `keras.distribution.initialize(coordinator_address,
    num_processes, process_id)` (JAX distributed; CPU collectives are enabled, so
    it also works on CPUs). Each process then feeds its own part of every global
    batch to `fit` (`batch_size` = the per-process batch).

    On TensorFlow the cluster comes from `TF_CONFIG` (set by the launcher; the
    arguments must be None), and `data_parallel()` is a
    `MultiWorkerMirroredStrategy`; each worker passes the same dataset and `fit`'s
    `batch_size` is the global batch.

    Args:
        coordinator_address: `"host:port"` of process 0 (JAX).
        num_processes: Number of processes (JAX).
        process_id: This process's index, 0 ... num_processes - 1 (JAX).

    Raises:
        ValueError: on torch; on TensorFlow without `TF_CONFIG` or with arguments;
            on JAX with a missing argument or a process id out of range.

    Example:

    ```python
    import os
    import keras
    from lrep_zoo.training import distribute

    # Each process of a multi-process run calls it first, with what its launcher set
    # (a single process, as here, skips it):
    if keras.backend.backend() == "jax" and "JAX_COORDINATOR_ADDRESS" in os.environ:
        distribute.initialize_multi_process(            # e.g. "10.0.0.1:1234", 2, 0
            os.environ["JAX_COORDINATOR_ADDRESS"],
            num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
            process_id=int(os.environ["JAX_PROCESS_ID"]))
    elif keras.backend.backend() == "tensorflow" and "TF_CONFIG" in os.environ:
        distribute.initialize_multi_process()          # the cluster comes from TF_CONFIG

    # Bad arguments are refused before anything connects:
    try:
        distribute.initialize_multi_process("10.0.0.1:1234", num_processes=2, process_id=2)
    except ValueError as e:
        print(e)  # JAX: process_id must be in [0, 2), got 2. TensorFlow: use TF_CONFIG.
    ```
    """
    if _BACKEND == "jax":
        args = (coordinator_address, num_processes, process_id)
        if any(a is None for a in args):
            raise ValueError(
                "initialize_multi_process on JAX needs coordinator_address, "
                f"num_processes and process_id, got {args}."
            )
        if not 0 <= int(process_id) < int(num_processes):
            raise ValueError(
                f"process_id must be in [0, {num_processes}), got {process_id}."
            )
        import jax

        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        keras.distribution.initialize(
            job_addresses=coordinator_address,
            num_processes=int(num_processes),
            process_id=int(process_id),
        )
        return
    if _BACKEND == "tensorflow":
        if any(a is not None for a in (coordinator_address, num_processes, process_id)):
            raise ValueError(
                "On TensorFlow the cluster is described by the TF_CONFIG environment "
                "variable; call initialize_multi_process() without arguments."
            )
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "TF_CONFIG is not set: a multi-worker TensorFlow run needs "
                'TF_CONFIG=\'{"cluster": {"worker": [...]}, "task": {"type": "worker", '
                '"index": i}}\' in every worker process.'
            )
        _multi_worker_strategy()
        return
    raise ValueError(
        "Multi-process training needs the jax or tensorflow backend; Keras 3 has no "
        "data-parallel engine for torch."
    )


def num_replicas_in_sync() -> int:
    """How many replicas run the current step (TensorFlow strategy replicas; else 1).

    On JAX a data-parallel step is one SPMD program over the global batch, so
    model code sees one replica.

    Example:

    ```python
    from lrep_zoo.training import distribute

    global_batch = 64
    per_replica_batch = global_batch // distribute.num_replicas_in_sync()  # 64 outside a strategy
    ```
    """
    if _BACKEND != "tensorflow":
        return 1
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def scale_loss_for_distribution(loss):
    """`loss / num_replicas_in_sync()`: a replica's share of the global-batch mean.

    A model that overrides `compute_loss` returns this, as Keras' own losses do: on
    TensorFlow the replicas' gradients are summed and Keras' loss tracker
    multiplies the logged loss back. A no-op with one replica (and on JAX/torch).

    Example:

    ```python
    import keras
    import numpy as np
    from keras import ops
    from lrep_zoo.training.distribute import scale_loss_for_distribution

    class AutoEncoder(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(4)

        def call(self, x):
            return self.dense(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            return scale_loss_for_distribution(ops.mean(ops.square(x - y_pred)))

    model = AutoEncoder()
    model.compile(optimizer="adam")
    model.fit(np.ones((32, 4), "float32"), batch_size=16, epochs=1, verbose=0)
    ```
    """
    n = num_replicas_in_sync()
    if n == 1:
        return loss
    return loss * ops.cast(1.0 / n, loss.dtype)


def replica_id():
    """The index of the running replica in its sync group (0 outside a replica step).

    A scalar int32 tensor on TensorFlow inside `strategy.run`, else the int 0.

    Example:

    ```python
    from lrep_zoo.training import distribute

    rid = distribute.replica_id()   # 0 outside a replica step
    ```
    """
    if _BACKEND != "tensorflow":
        return 0
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None:
        return 0
    return context.replica_id_in_sync_group


def replica_random(draw: Callable, shape: Sequence[int]):
    """`draw(shape)`, or this replica's slice of the global batch's draw.

    Under a TensorFlow strategy with N replicas, every replica's random ops see
    the same seed-generator state, so `draw(shape)` alone gives each replica the
    same noise (the replicas' halves of the batch would share their noise). This
    draws the noise of the global batch (`shape[0] * N` rows) and returns rows
    `replica_id * shape[0]` onwards: the noise one device would draw for the same
    global batch. Elsewhere it is `draw(shape)`.

    Args:
        draw: `draw(shape) -> tensor`, e.g.
            `lambda s: keras.random.normal(s, seed=self.seed_generator)`.
        shape: The local shape; the first axis is the batch.

    Example:

    ```python
    import keras
    from keras import ops
    from lrep_zoo.training.distribute import replica_random

    sg = keras.random.SeedGenerator(0)
    x = ops.zeros((8, 3))
    eps = replica_random(lambda s: keras.random.normal(s, seed=sg), ops.shape(x))  # (8, 3)
    ```
    """
    n = num_replicas_in_sync()
    if n == 1:
        return draw(shape)
    shape = tuple(shape)
    batch = shape[0]
    full = draw((batch * n,) + shape[1:])
    start = ops.cast(replica_id(), "int32") * ops.cast(batch, "int32")
    zeros = [0] * (len(shape) - 1)
    return ops.slice(full, [start, *zeros], shape)


def _first(devices, num_devices):
    devices = list(devices)
    if num_devices is None:
        return devices
    if not 1 <= int(num_devices) <= len(devices):
        raise ValueError(
            f"num_devices must be between 1 and the {len(devices)} local devices "
            f"{devices}, got {num_devices}."
        )
    return devices[: int(num_devices)]


def _tf_config_workers() -> int:
    try:
        config = json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}.") from None
    return len(config.get("cluster", {}).get("worker", []))


_MULTI_WORKER = []
_MIRRORED = {}


def _multi_worker_strategy():
    # One MultiWorkerMirroredStrategy per process: TensorFlow starts its gRPC
    # server on the first one and cannot start another.
    if not _MULTI_WORKER:
        _tf_config_workers()
        _MULTI_WORKER.append(_keras_fit_multi_worker_strategy()())
    return _MULTI_WORKER[0]


def _keras_fit_multi_worker_strategy():
    """`tf.distribute.MultiWorkerMirroredStrategy` with the `reduce` Keras 3's `fit` needs.

    Keras 3.15's TensorFlow `fit` calls `strategy.reduce` in two ways that TF's
    collective strategy rejects: on the nest of a per-replica batch `(x, y)` when it
    builds the model ("Attempt to convert a value (PerReplica ...) to a Tensor"), and
    on scalar step logs with `axis=0` ("Invalid reduction dimension 0",
    tensorflow/tensorflow#72388). This subclass reduces a nest leaf by leaf and a
    per-replica scalar across replicas (`axis=None`), as `MirroredStrategy` does.
    """
    import tensorflow as tf

    base = tf.distribute.MultiWorkerMirroredStrategy

    class MultiWorkerMirroredStrategy(base):
        def reduce(self, reduce_op, value, axis):
            def one(v):
                if v is None:
                    return None
                local = self.experimental_local_results(v)
                scalar = bool(local) and getattr(local[0], "shape", None) is not None and (
                    len(local[0].shape) == 0
                )
                return base.reduce(self, reduce_op, v, None if scalar else axis)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirroredStrategy
