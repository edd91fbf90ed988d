"""Shared fixtures. Tests run offline; real images come from ../shared/data when present."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# JAX compiles every new shape's initializer and train step (a DualDis build: 45 s on 2 CPU
# cores, 2 s from the cache); its persistent compilation cache shares them between the
# xdist workers and the test subprocesses (resume, distribute, fresh-process loads).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), "lrep_zoo_tests_jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# XLA's LLVM back end at -O0: the tests' models are small, so compiling is most of their
# JAX time; measured on test_export + test_dualdis_options + test_vae (JAX, cold cache):
# 180 s of CPU instead of 245 s, same results. Test subprocesses inherit it.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()


def _shared_data_dir():
    env = os.environ.get("LREP_ZOO_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Folder laid out like ../shared/data (mnist/, cifar10/, yaleb_cropped/)."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(
            f"real data not found at {path}: set LREP_ZOO_DATA_DIR to a folder with "
            "mnist/, cifar10/ and yaleb_cropped/ npz files (see shared/data/*/PROVENANCE.md)"
        )
    return path


@pytest.fixture(scope="session")
def backend() -> str:
    import keras

    return keras.backend.backend()


def pytest_configure(config):
    import importlib.util

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if importlib.util.find_spec(backend) is None:
        # A backend pass that cannot run is a failure, not a skip (CI runs all three).
        pytest.exit(
            f"KERAS_BACKEND={backend}: {backend} is not installed, so this pass cannot run. "
            f"Install it with: pip install -e '.[{backend}]', or run only the passes of "
            "the backends you have (see the README's test command).",
            returncode=3,
        )
