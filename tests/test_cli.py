"""The `lrep-zoo` command, run in-process (and once in a subprocess for --backend)."""

import json
import os
import subprocess
import sys

import pytest

from lrep_zoo.cli import main


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "dae_mnist" in out and "Recipes" in out


def test_unknown_recipe_and_preset():
    with pytest.raises(SystemExit, match="unknown recipe 'nope'"):
        main(["train", "nope"])
    from lrep_zoo.applications import PresetError

    with pytest.raises(PresetError, match="Unknown preset"):
        main(["evaluate", "nope"])


def test_train_recipe_writes_outputs(tmp_path, shared_data_dir):
    out = tmp_path / "run"
    main(["train", "dae_mnist", "--data-dir", str(shared_data_dir), "--epochs", "3",
          "--train-images", "4500", "--test-images", "500", "--output-dir", str(out)])
    for name in ("model.weights.h5", "config.json", "metrics.json", "denoising_grid.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["test"]
    # One epoch on 500 images left the output worse than its noisy input (6.4 vs 10.5 dB).
    assert metrics["train_images"] == 2500 and test["denoised_psnr"] > test["noisy_psnr"] + 1.0


def test_evaluate_preset(tmp_path, shared_data_dir, capsys):
    main(["evaluate", "dae_mnist", "--data-dir", str(shared_data_dir), "--limit", "2000",
          "--output-dir", str(tmp_path)])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["denoised_psnr"] > metrics["noisy_psnr"] + 5
    assert metrics["linear_probe_accuracy"] > 0.85


def test_demo(tmp_path):
    from lrep_zoo.models.autoencoder.demo import demo

    metrics = demo(tmp_path, epochs=3, train_images=2000, verbose=0)
    assert (tmp_path / "demo_denoising.png").is_file()
    assert (tmp_path / "metrics.json").is_file()
    # One epoch on 512 images left the output worse than its noisy input (8.3 vs 10.5 dB);
    # three epochs on 2,000 gave 12.9 dB.
    assert metrics["test"]["denoised_psnr"] > metrics["test"]["noisy_psnr"] + 1.0


def test_backend_flag_sets_keras_backend(tmp_path):
    pytest.importorskip("jax")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    # Run outside the checkout so the installed package (with its recipes) is imported.
    out = subprocess.run([sys.executable, "-m", "lrep_zoo.cli", "--backend", "jax", "list"],
                         env=env, capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout
    assert "backend jax" in out.splitlines()[0]


def test_export_preset(tmp_path, capsys):
    main(["export", "dae_mnist", str(tmp_path / "dae")])
    assert (tmp_path / "dae" / "1" / "saved_model.pb").is_file()
    assert "Wrote SavedModel" in capsys.readouterr().out
    with pytest.raises(FileExistsError):
        main(["export", "dae_mnist", str(tmp_path / "dae")])


def test_demo_command_runs_dualdis_by_default(monkeypatch, tmp_path):
    import lrep_zoo.models.dualdis.demo

    calls = []
    monkeypatch.setattr(lrep_zoo.models.dualdis.demo, "demo", lambda *a, **k: calls.append((a, k)))
    assert main(["demo", "--output-dir", str(tmp_path), "--epochs", "2"]) == 0
    (output_dir,), kwargs = calls[0]
    assert output_dir == str(tmp_path)
    assert kwargs["epochs"] == 2 and kwargs["yaleb_model"] is None
    calls.clear()
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0  # each demo has its own default folder
    assert calls[0][0] == (os.path.join("lrep_zoo_outputs", "demo", "dualdis"),)
    with pytest.raises(SystemExit, match="dualdis demo only"):
        main(["demo", "--model", "dae", "--data-dir", str(tmp_path)])
