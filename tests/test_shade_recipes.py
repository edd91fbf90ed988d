"""Smoke tests: the SHADE recipes run end to end on tiny settings and write JSON."""

import json

import keras
import pytest

from lrep_zoo.models.shade import experiment
from lrep_zoo.recipes import shade_cifar10
from lrep_zoo.recipes import shade_mnist_limited

BACKEND = keras.backend.backend()
# Tiny fits: XLA compile would cost more than the training (as in test_shade.py).
NO_JIT = [] if BACKEND == "jax" else ["--no-jit"]


def test_shade_mnist_limited_smoke(shared_data_dir, tmp_path, capsys):
    out = tmp_path / "mnist"
    results = shade_mnist_limited.main([
        "--data-dir", str(shared_data_dir), "--output-dir", str(out),
        "--labels", "100", "all", "--regularizers", "none", "shade",
        "--seeds", "0", "--steps", "60", "--hidden", "32", "--weight", "shade=1e-4",
        "--binarize-labels", "100", "--train-images", "1200", "--val-images", "200",
        "--test-images", "200", "--verbose", "0", *NO_JIT,
    ])
    saved = json.loads((out / "results.json").read_text())
    assert saved["weights"]["100"] == {"none": None, "shade": 1e-4}
    assert saved["selection"]["all"] == {}  # fixed by --weight: no selection
    assert {(r["labels"], r["regularizer"]) for r in saved["runs"]} == {
        ("100", "none"), ("100", "shade"), ("all", "none"), ("all", "shade")}
    assert set(saved["rows"]["100/shade"]) >= {"mean", "std", "n"}
    binarized = [r["binarized"] for r in saved["runs"] if "binarized" in r]
    assert saved["arch"] == "lenet" and saved["hidden"] == [32]
    assert len(binarized) == 2 and set(binarized[0]) == {"full", "conv1", "conv2", "fc1"}
    # Trained, not at chance (10 %): 60 steps gave 81.5-87.5 % test (200 images) on TF
    # (4 steps: 10.5 %, an untrained model).
    assert all(r["test"] > 0.6 for r in saved["runs"]), saved["runs"]
    assert "SHADE - no regul." in results["table"]
    assert "| all (1000) |" in capsys.readouterr().out


def test_shade_cifar10_smoke(shared_data_dir, tmp_path, capsys):
    out = tmp_path / "cifar"
    results = shade_cifar10.main([
        "--data-dir", str(shared_data_dir), "--output-dir", str(out),
        "--regularizers", "none", "shade", "--seeds", "0",
        "--epochs", "8", "--batch-size", "64", "--hidden", "32",
        "--grid", "1e-5", "1e-4", "--train-images", "800", "--val-per-class", "20",
        "--test-images", "100", "--verbose", "0", *NO_JIT,
    ])
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["selection"]) == {"shade"}
    assert saved["weights"]["shade"] in (1e-5, 1e-4)
    assert saved["weights"]["none"] is None
    assert len(saved["runs"]) == 2
    assert saved["rows"]["shade"]["n"] == 1
    # Above chance (10 %): 8 epochs gave 34 % test (100 images) for both on TF (1 epoch: 16 %).
    assert saved["rows"]["none"]["mean"] > 20.0 and saved["rows"]["shade"]["mean"] > 20.0
    assert all(r["val"] > 0.2 for r in saved["runs"])
    assert "SHADE" in results["table"] and "chosen weight" in results["table"]
    assert "fc1 binarised" in results["binarized_table"]
    printed = capsys.readouterr().out
    assert "CIFAR-10 test accuracy" in printed


def test_shade_mnist_limited_mlp_and_errors(shared_data_dir, tmp_path):
    results = shade_mnist_limited.run(shade_mnist_limited.Config(
        output_dir=str(tmp_path / "mlp"), data_dir=str(shared_data_dir), arch="mlp",
        labels=["100"], regularizers=["none"], seeds=[0], steps=2, train_images=1200,
        val_images=200, test_images=100, binarize_labels="none", verbose=0,
        jit=BACKEND == "jax",
    ))
    assert results["hidden"] == [256, 256] and results["rows"]["100/none"]["n"] == 1
    with pytest.raises(ValueError, match="arch"):
        shade_mnist_limited.run(shade_mnist_limited.Config(
            output_dir=str(tmp_path / "x"), data_dir=str(shared_data_dir), arch="resnet",
            verbose=0))


def test_cifar_alexnet_augmentation_shapes():
    import numpy as np

    rng = np.random.default_rng(0)
    x = np.arange(2 * 32 * 32 * 3, dtype="float32").reshape(2, 32, 32, 3)
    crops = experiment.augment(x, rng, flip=True, crop=28)
    assert crops.shape == (2, 28, 28, 3)
    centre = experiment.centre_crop(x, 28)
    np.testing.assert_array_equal(centre, x[:, 2:30, 2:30])
    model = experiment.build_classifier("alexnet", (28, 28, 3), 10, "shade", 1e-4)
    assert model.output_shape == (None, 10)
    with pytest.raises(ValueError, match="arch"):
        experiment.build_classifier("resnet", (28, 28, 3), 10, "none", None)
