"""`import lrep_zoo` is enough: a fresh process loads a saved model of every class."""

import subprocess
import sys
from pathlib import Path

import pytest


from lrep_zoo import models
from lrep_zoo.models.hybridnet import mnist_networks


def _one_of_each():
    return {
        "DenoisingAutoEncoder": models.DenoisingAutoEncoder((8, 8, 1), latent_dim=3,
                                                            architecture="mlp"),
        "VAE": models.VAE(input_shape=(8, 8, 1), latent_dim=3),
        "GAN": models.GAN(image_shape=(8, 8, 1), latent_dim=4, generator_filters=(8, 4),
                          discriminator_filters=(4, 8)),
        "TemperedGAN": models.TemperedGAN(image_shape=(8, 8, 1), latent_dim=4,
                                          generator_filters=(8, 4), discriminator_filters=(4, 8)),
        "HybridNet": models.HybridNet(**mnist_networks.networks((8, 8, 1), num_classes=3,
                                                               filters=(4,), shade_weight=1e-3)),
        "DualDis": models.DualDis(image_shape=(48, 42, 1), num_classes_y=4, num_classes_z=3),
    }


@pytest.mark.backends
def test_load_model_in_a_fresh_process_after_import_lrep_zoo(tmp_path):
    paths = []
    for name, model in _one_of_each().items():
        if not model.built:
            model.build((None, 8, 8, 1))
        path = tmp_path / f"{name}.keras"
        model.save(path)
        paths.append(str(path))
    code = ("import sys, keras, lrep_zoo\n"
            "print(' '.join(type(keras.saving.load_model(p)).__name__ for p in sys.argv[1:]))\n")
    out = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == list(_one_of_each())


def test_no_backend_imports_outside_training_data_and_export():
    import pathlib

    root = pathlib.Path(models.__file__).parents[1]
    allowed = ("training", "data")
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] in allowed or rel.name in ("export.py", "cli.py"):
            continue
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import tensorflow", "import jax", "import torch",
                                    "from tensorflow", "from jax", "from torch")):
                offenders.append(f"{rel}: {stripped}")
    assert not offenders, offenders


def test_every_subpackage_ships_in_the_wheel():
    """pyproject.toml lists packages explicitly: a new lrep_zoo subpackage must be listed."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(root).parts) for p in (root / "lrep_zoo").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
