"""`lrep-zoo demo`: the one entry point of the demos, each writing to its own folder.

| demo      | what it does                                                         | default folder                 |
|-----------|----------------------------------------------------------------------|--------------------------------|
| `dualdis` | DualDis on embedded relit surfaces (or the `yaleb` preset on faces)  | `lrep_zoo_outputs/demo/dualdis` |
| `dae`     | a short denoising auto-encoder run on procedural shapes              | `lrep_zoo_outputs/demo/dae`     |

Example:

```python
from lrep_zoo.demo import run_demo
metrics = run_demo("dae", output_dir="demo_dae", epochs=1, verbose=0)
```
"""

from __future__ import annotations

import os
from pathlib import Path

DEMOS = ("dualdis", "dae")
OUTPUT_ROOT = Path("lrep_zoo_outputs") / "demo"


def run_demo(model: str = "dualdis", output_dir: str | os.PathLike | None = None,
             epochs: int | None = None, data_dir: str | os.PathLike | None = None,
             verbose: int = 1) -> dict:
    """Runs demo `model` and returns its metrics (also written to `metrics.json`).

    Args:
        model: One of `DEMOS`.
        output_dir: Where its files go (default `lrep_zoo_outputs/demo/<model>`).
        epochs: Training epochs (default: 8 for dualdis, 3 for dae).
        data_dir: dualdis only: the Yale-B npz folder; scores and draws the
            pretrained `yaleb` preset on real faces instead of training.
        verbose: Keras verbosity of `fit`.
    """
    if model not in DEMOS:
        raise ValueError(f"Unknown demo {model!r}; choose one of {DEMOS}.")
    output_dir = str(output_dir or OUTPUT_ROOT / model)
    if model == "dae":
        if data_dir:
            raise ValueError("--data-dir is for the dualdis demo only.")
        from lrep_zoo.models.autoencoder import demo as dae_demo

        return dae_demo.demo(output_dir, epochs=epochs or 3, verbose=verbose)
    from lrep_zoo.models.dualdis import demo as dualdis_demo

    yaleb_model = None
    if data_dir:
        from lrep_zoo.applications import DualDis

        yaleb_model = DualDis(weights="yaleb")
    return dualdis_demo.demo(output_dir, epochs=epochs or 8, yaleb_model=yaleb_model,
                             data_dir=data_dir, verbose=verbose)
