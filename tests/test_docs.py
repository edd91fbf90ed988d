"""Every Python code block of the README and the model cards runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "applications").glob("*/MODEL_CARD.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks():
    for doc in DOCS:
        for i, match in enumerate(BLOCK.finditer(doc.read_text())):
            line = doc.read_text()[: match.start()].count("\n") + 1
            yield pytest.param(match.group(1), id=f"{doc.relative_to(ROOT)}:{line}")


@pytest.mark.slow
@pytest.mark.parametrize("code", list(_blocks()))
def test_code_block_runs(code, tmp_path, shared_data_dir):
    env = {**os.environ, "LREP_ZOO_DATA_DIR": str(shared_data_dir)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
