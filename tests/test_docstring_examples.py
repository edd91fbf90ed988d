"""Every ```python example in the docstrings of `lrep_zoo/` and `recipes/` runs as written.

One case per source file: its examples run in order, each in a fresh namespace, in this
process (no interpreter start-up per example), in a temporary working directory, with
`LREP_ZOO_DATA_DIR` pointing at the real data; the preset registry, the dtype policy
and the Keras session are restored after each file. An example whose dataset is absent skips
with lrep_zoo's `DatasetNotFoundError` message (where to put the files).

The examples are backend-neutral. In CI they run in the torch pass: torch runs them
eagerly, while TensorFlow traces a graph for every example's first `fit`. The whole set
took 6.7 min of one xdist worker on TensorFlow and 4.5 min on torch, and the
suite has a 20-minute budget. The torch pass also catches `np.asarray` on tensors that
require grad. Run them on any backend by hand, for all files or some:

    KERAS_BACKEND=tensorflow python tests/test_docstring_examples.py lrep_zoo/layers/conv.py
"""

from __future__ import annotations

import ast
import os
import re
import sys
import time
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
DOCSTRING_NODES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)

pytestmark = [
    pytest.mark.backends,
    pytest.mark.skipif(keras.backend.backend() != "torch",
                       reason="docstring examples run in the torch pass (CI time; see the "
                              "module docstring to run them on this backend)"),
]


def examples(path: Path) -> list[tuple[str, str]]:
    """`[(label, code)]` of the ```python blocks in the docstrings of one source file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, DOCSTRING_NODES):
            doc = ast.get_docstring(node, clean=True)
            for match in BLOCK.finditer(doc or ""):
                line = getattr(node, "lineno", 1)
                out.append((f"{path.relative_to(ROOT)}:{line} {getattr(node, 'name', '')}".strip(),
                            match.group(1)))
    return out


def source_files() -> list[Path]:
    files = sorted([*(ROOT / "lrep_zoo").rglob("*.py"), *(ROOT / "recipes").rglob("*.py")])
    return [p for p in files if examples(p)]


def run_examples(path: Path, workdir: Path) -> list[tuple[str, float]]:
    """Runs the file's examples in `workdir`; `[(label, seconds)]`. Raises on the first failure."""
    import keras

    from lrep_zoo.applications import registry
    from lrep_zoo.data.errors import DatasetNotFoundError

    timings, cwd, presets = [], os.getcwd(), dict(registry.PRESETS)
    os.chdir(workdir)
    try:
        for label, code in examples(path):
            start = time.perf_counter()
            try:
                # dont_inherit: not this module's `from __future__ import annotations`.
                exec(compile(code, label, "exec", dont_inherit=True), {"__name__": "__main__"})
            except DatasetNotFoundError as e:
                pytest.skip(f"{label}: {e}")
            except Exception as e:
                raise AssertionError(f"the example at {label} fails:\n{code}") from e
            finally:
                keras.config.set_dtype_policy("float32")
                keras.utils.clear_session()
            timings.append((label, time.perf_counter() - start))
    finally:
        os.chdir(cwd)
        registry.PRESETS.clear()
        registry.PRESETS.update(presets)  # examples may register their own presets
    return timings


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_docstring_examples_run(path, tmp_path, shared_data_dir, monkeypatch):
    monkeypatch.setenv("LREP_ZOO_DATA_DIR", str(shared_data_dir))
    run_examples(path, tmp_path)


def test_examples_are_found():
    """The collector sees the fenced blocks of module, class and method docstrings."""
    found = {label.split(":")[0] for p in source_files() for label, _ in examples(p)}
    assert {"lrep_zoo/models/vae/vae.py", "lrep_zoo/layers/conv.py",
            "recipes/dae_mnist.py", "lrep_zoo/training/distribute.py"} <= found
    assert sum(len(examples(p)) for p in source_files()) > 250


if __name__ == "__main__":
    import tempfile

    os.environ.setdefault("LREP_ZOO_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    sys.path.insert(0, str(ROOT))
    failed = 0
    for arg in sys.argv[1:] or [str(p) for p in source_files()]:
        path = Path(arg).resolve()
        try:
            for label, seconds in run_examples(path, Path(tempfile.mkdtemp())):
                print(f"ok   {seconds:6.1f} s  {label}")
        except AssertionError as e:
            failed += 1
            print(f"FAIL {e}\n     {type(e.__cause__).__name__}: {e.__cause__}")
        except BaseException as e:  # pytest.skip outside pytest
            print(f"skip {path}: {e}")
    sys.exit(1 if failed else 0)
