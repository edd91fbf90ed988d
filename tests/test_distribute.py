"""Data-parallel training (issue 17): 2 devices / 2 processes give the weights of 1 device.

Each test launches `tests/distribute_worker.py` in subprocesses with the backend set
explicitly (JAX needs `XLA_FLAGS=--xla_force_host_platform_device_count=2` before it
is imported; TF splits its CPU into 2 logical devices). The TF tests run in the
TensorFlow pass, the JAX ones in the JAX pass (`-m backends` with KERAS_BACKEND=jax).

Tolerances (SGD, 3 steps of global batch 8, float32, on `max_weight_diff`, the
largest difference of any weight; the largest update is 2e-3 to 0.9), as measured:
- JAX: 1e-5 for every model (DAE 7.5e-9, DualDis 6.6e-7, SHADE 1.2e-7; 2 processes:
  DAE 7.5e-9).
- TF: DAE and WGAN-GP GAN 1e-5 (3.7e-9, 1.5e-7); DualDis with synchronised BatchNorm
  5e-3 (7.8e-4; 2.0e-6 after one step): TF's synchronised BatchNorm computes the
  variance as E[x^2] - E[x]^2 (Keras' `_compute_moments_sync`) and 3 steps through
  25 BatchNorm layers amplify the rounding of the 2-replica sums. Per-replica
  BatchNorm: 0.3. SHADE's moving averages are per replica on TF (tested as such).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).with_name("distribute_worker.py")
ROOT = WORKER.parent.parent
TIMEOUT = 600  # seconds per subprocess: bounded, with room for a loaded CI machine
STEPS, BATCH = 3, 8
TOLERANCE = {
    "jax": {"dae": 1e-5, "wgan_gp": 1e-5, "dualdis": 1e-5, "hybridnet": 1e-5},
    "tensorflow": {"dae": 1e-5, "wgan_gp": 1e-5, "dualdis": 5e-3},
}

jax_pass = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "jax",
    reason="runs in the JAX pass (-m backends, KERAS_BACKEND=jax)",
)
tf_pass = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
    reason="runs in the TensorFlow pass",
)


def _env(backend, devices=2):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "XLA_FLAGS")}
    env["KERAS_BACKEND"] = backend
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if backend == "jax":
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


# JAX's pass trains the three required models (XLA compiles dominate its time); the
# SHADE and HybridNet checks are TF's (on JAX, SHADE measured 1.2e-7: global statistics).
JAX_MODELS = "dae,wgan_gp,dualdis"


def _launch(backend, args):
    # Multi-process runs: one device per process.
    devices = 1 if args[0] == "multi" else 2
    env = _env(backend, devices)
    if backend == "jax":
        env["LREP_DW_MODELS"] = JAX_MODELS
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _wait(processes, outs):
    results = []
    try:
        for p in processes:
            log, _ = p.communicate(timeout=TIMEOUT)
            assert p.returncode == 0, log[-4000:]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    for out in outs:
        with open(out) as f:
            results.append(json.load(f))
    return results


def _free_port(n=1):
    # n consecutive free ports on 127.0.0.1 (TF's workers take port and port + 1).
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + n >= 65535:
            continue
        try:
            for k in range(1, n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + k))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port on 127.0.0.1")


def _check_local(result, backend, x_first):
    assert result["backend"] == backend
    assert len(result["devices"]) == 2
    for name, r in result["models"].items():
        assert r["max_update"] > 1e-3, (name, r)  # training moved the weights
        if name == "shade":
            _check_shade(r, backend)
            continue
        if name == "hybridnet":
            _check_teacher(r, backend)
            continue
        assert r["max_weight_diff"] <= TOLERANCE[backend][name], (name, r)
        for key, value in r["logs_one"].items():
            # Logged values are global-batch means on 2 devices too.
            assert np.isclose(r["logs_two"][key], value, rtol=1e-3, atol=1e-3), (name, key, r)
        batches = r["per_device_batches"]
        if backend == "tensorflow":
            # (replica id, rows, first value) for each replica and step.
            assert sorted(b[0] for b in batches) == [0] * STEPS + [1] * STEPS, batches
            assert all(b[1] == BATCH // 2 for b in batches), batches
            firsts = x_first[name]
            expected = sorted(firsts[s * BATCH + rid * BATCH // 2] for s in range(STEPS) for rid in (0, 1))
            assert np.allclose(sorted(b[2] for b in batches), expected), (batches, expected)
        else:
            # (devices the batch is sharded over, rows per shard), seen when tracing.
            assert batches and all(b[:2] == [2, BATCH // 2] for b in batches), batches
    # A recipe's --distribute: data parallel over both devices, in the record and argv.
    flag = result["recipe_flag"]
    assert flag["record"] == {"epochs": 1, "distribute": True}
    assert flag["argv"] == ["--distribute"]
    assert flag["replicas"] == 2
    assert flag["engine"] == {"jax": "DataParallel", "tensorflow": "MirroredStrategy"}[backend]


def _check_shade(r, backend):
    """SHADE's moving averages: global-batch on JAX, per replica on TensorFlow."""
    if backend == "jax":
        assert r["max_weight_diff"] <= 1e-5, r
        return
    # Each replica updates its copy from its half of the batch: the copies differ, and
    # the model's value (replica 0's) is not the 1-device one.
    assert any("moving_mu" in k and d > 1e-3 for k, d in r["replica_spread"].items()), r
    assert any("moving_" in path and d > 1e-3 for d, path in r["worst"]), r


def _check_teacher(r, backend):
    """HybridNet's EMA teacher: the same on every replica (TF), the 1-device one (JAX)."""
    if backend == "jax":
        assert r["max_weight_diff"] <= TOLERANCE["jax"]["hybridnet"], r
        return
    assert r["ema_spread"] and max(r["ema_spread"].values()) == 0.0, r


def _first_values():
    sys.path.insert(0, str(WORKER.parent))
    import distribute_worker

    return {
        name: [float(np.reshape(row, -1)[0]) for row in distribute_worker._data(name, STEPS * BATCH)[0]]
        for name in ("dae", "wgan_gp", "dualdis", "shade", "hybridnet")
    }


@tf_pass
def test_tf_mirrored_two_devices_equal_one(tmp_path):
    """MirroredStrategy on 2 logical CPUs: DAE, WGAN-GP GAN, DualDis (synchronised BN)."""
    out = tmp_path / "tf.json"
    (result,) = _wait([_launch("tensorflow", ["local", str(out)])], [out])
    _check_local(result, "tensorflow", _first_values())


@tf_pass
def test_tf_two_workers_equal_one_device(tmp_path):
    """MultiWorkerMirroredStrategy: 2 worker processes on 127.0.0.1 (TF_CONFIG)."""
    port = _free_port(2)
    outs = [tmp_path / f"worker{i}.json" for i in range(2)]
    results = _wait(
        [_launch("tensorflow", ["multi", str(o), str(i), str(port)]) for i, o in enumerate(outs)],
        outs,
    )
    _check_multi(results, "tensorflow")


@pytest.mark.backends
@jax_pass
def test_jax_data_parallel_two_devices_equal_one(tmp_path):
    """keras.distribution.DataParallel on 2 virtual CPU devices."""
    out = tmp_path / "jax.json"
    (result,) = _wait([_launch("jax", ["local", str(out)])], [out])
    _check_local(result, "jax", _first_values())


@pytest.mark.backends
@jax_pass
def test_jax_two_processes_equal_one_device(tmp_path):
    """keras.distribution.initialize: 2 processes on 127.0.0.1, CPU collectives."""
    port = _free_port(1)
    outs = [tmp_path / f"process{i}.json" for i in range(2)]
    results = _wait(
        [_launch("jax", ["multi", str(o), str(i), str(port)]) for i, o in enumerate(outs)], outs
    )
    _check_multi(results, "jax")


def _check_multi(results, backend):
    assert [r["process_id"] for r in results] == [0, 1]
    for name in results[0]["models"]:
        a, b = (r["models"][name] for r in results)
        assert a["max_update"] > 1e-3, (name, a)
        # Both processes hold the same weights, those of one device on the global batch.
        assert np.isclose(a["checksum"], b["checksum"], rtol=0, atol=1e-4), (name, a, b)
        for r in (a, b):
            assert r["max_weight_diff"] <= TOLERANCE[backend][name], (name, r)


@pytest.mark.backends
def test_bad_requests_are_clear_errors():
    """torch: no data-parallel engine; elsewhere num_devices out of range; bad TF_CONFIG use."""
    import keras

    from lrep_zoo.training import distribute

    if keras.backend.backend() == "torch":
        with pytest.raises(ValueError, match="no data-parallel engine for torch"):
            with distribute.data_parallel():
                pass
        with pytest.raises(ValueError, match="jax or tensorflow backend"):
            distribute.initialize_multi_process()
        return
    n = len(distribute.local_devices())
    with pytest.raises(ValueError, match="num_devices must be between 1 and"):
        with distribute.data_parallel(n + 1):
            pass
    if keras.backend.backend() == "jax":
        with pytest.raises(ValueError, match="needs coordinator_address"):
            distribute.initialize_multi_process("127.0.0.1:1234")
    else:
        with pytest.raises(ValueError, match="TF_CONFIG environment variable"):
            distribute.initialize_multi_process("127.0.0.1:1234", 2, 0)
    assert distribute.num_replicas_in_sync() == 1
    assert distribute.replica_id() == 0
