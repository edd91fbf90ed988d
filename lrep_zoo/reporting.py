"""Small helpers shared by recipes, benchmarks and the CLI: output folders, JSON, machine."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def output_dir(path: str | os.PathLike) -> Path:
    """Creates (if needed) and returns the output folder."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: str | os.PathLike, payload: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float) + "\n")
    return path


def machine() -> dict:
    """What the numbers were measured on."""
    import keras

    return {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }
