"""The `lrep-zoo` command, run in-process, and in subprocesses for the entry point,
--backend, exit codes and start-up logs."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from lrep_zoo import _cli_entry
from lrep_zoo.cli import main

# What TensorFlow / absl / CUDA write at start-up (see lrep_zoo/_cli_entry.py).
TF_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]|WARNING: All log messages before absl"
    r"|To enable the following instructions)|cudart_stub|cuInit|oneDNN custom operations"
    r"|google_auth_provider", re.M)


def _user_env():
    """The environment of a user's shell: none of the variables that quiet TensorFlow."""
    return {k: v for k, v in os.environ.items()
            if k not in _cli_entry.QUIET_ENVIRONMENT and k != "KERAS_BACKEND"}


def _error_line(capsys, command):
    """The one stderr line of a failed in-process command."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"lrep-zoo {command}: error: "), lines[0]
    return lines[0]


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "dae_mnist" in out and "Recipes" in out


def test_unknown_recipe_and_preset(capsys):
    assert main(["train", "nope"]) == 1
    assert "unknown recipe 'nope'; known recipes: [" in _error_line(capsys, "train")
    assert main(["evaluate", "nope"]) == 1
    assert "Unknown preset 'nope'. Known presets: [" in _error_line(capsys, "evaluate")
    assert main(["export", "nope", "out"]) == 1
    assert "Unknown preset 'nope'" in _error_line(capsys, "export")


def test_missing_data_and_output_folders_are_one_line_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LREP_ZOO_DATA_DIR", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["demo", "--data-dir", str(empty)]) == 1  # before the preset is loaded
    line = _error_line(capsys, "demo")
    assert "yaleb_cropped_192x168.npz not found" in line and str(empty / "yaleb_cropped") in line
    assert "--data-dir DIR" in line and "data_dir=" not in line  # the flag, not the argument

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["demo", "--model", "dae", "--output-dir", str(blocker / "out")]) == 1
    assert f"cannot write to --output-dir {blocker / 'out'}" in _error_line(capsys, "demo")
    assert main(["evaluate", "dae_mnist", "--output-dir", str(blocker)]) == 1
    assert f"--output-dir {blocker} is a file" in _error_line(capsys, "evaluate")

    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    assert main(["demo", "--model", "dae", "--output-dir", str(full)]) == 1
    line = _error_line(capsys, "demo")
    assert f"--output-dir {full} is not empty (notes.txt): pass --overwrite" in line
    assert main(["export", "dae_mnist", str(blocker)]) == 1
    assert f"export folder {blocker} is a file, not a folder" in _error_line(capsys, "export")


def test_train_recipe_writes_outputs(tmp_path, shared_data_dir):
    out = tmp_path / "run"
    main(["train", "dae_mnist", "--data-dir", str(shared_data_dir), "--epochs", "3",
          "--train-images", "4500", "--test-images", "500", "--output-dir", str(out)])
    for name in ("model.weights.h5", "config.json", "metrics.json", "denoising_grid.png"):
        assert (out / name).is_file(), name
    # Published with the input contract, as the dae_mnist preset (trained on images / 255).
    assert json.loads((out / "config.json").read_text())["config"]["input_range"] == "0..255"
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
    assert main(["export", "dae_mnist", str(tmp_path / "dae")]) == 0
    assert (tmp_path / "dae" / "1" / "saved_model.pb").is_file()
    captured = capsys.readouterr()
    assert "Wrote SavedModel" in captured.out
    assert "lrep-zoo: exporting dae_mnist as a SavedModel" in captured.err  # what it is doing
    assert main(["export", "dae_mnist", str(tmp_path / "dae")]) == 1
    line = _error_line(capsys, "export")
    assert "already exists and is not empty: pass --overwrite" in line
    assert "overwrite=True" not in line


def test_demo_command_runs_dualdis_by_default(monkeypatch, tmp_path, capsys):
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
    assert main(["demo", "--model", "dae", "--data-dir", str(tmp_path)]) == 1
    assert "--data-dir is for the dualdis demo only" in _error_line(capsys, "demo")


def test_library_spellings_become_flags():
    import argparse

    from lrep_zoo.cli import _cli_message

    args = argparse.Namespace(command="export", overwrite=False)
    error = FileExistsError("Export target 'x/1' already exists; pass `overwrite=True` to replace it.")
    assert _cli_message(args, error) == (
        "FileExistsError: Export target 'x/1' already exists; pass --overwrite to replace it.")
    no_flag = argparse.Namespace(command="train")
    assert "overwrite=True" in _cli_message(no_flag, ValueError("pass overwrite=True"))


def test_entry_point_exit_codes_and_debug(tmp_path):
    """`python -m lrep_zoo.cli`: a user error is one stderr line and status 1;
    `--debug` gives the traceback instead; a usage error is argparse's status 2."""
    run = [sys.executable, "-m", "lrep_zoo.cli"]
    plain = subprocess.run([*run, "evaluate", "nope"], env=_user_env(), cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode == 1
    # (start-up log lines, if any, are the business of the test below)
    lines = [l for l in plain.stderr.strip().splitlines() if not _cli_entry.is_noise(l.encode())]
    assert len(lines) == 1, plain.stderr
    assert lines[0].startswith("lrep-zoo evaluate: error: Unknown preset 'nope'")
    debug = subprocess.run([*run, "evaluate", "nope", "--debug"], env=_user_env(), cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "PresetError: Unknown preset 'nope'" in debug.stderr
    with pytest.raises(SystemExit) as usage:
        main(["nope"])
    assert usage.value.code == 2


def test_lrep_zoo_list_prints_no_tensorflow_log_line(tmp_path):
    exe = shutil.which("lrep-zoo", path=os.path.dirname(sys.executable)) or "lrep-zoo"
    out = subprocess.run([exe, "list"], env=_user_env(), cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Keras ")
    noise = TF_LOG_LINE.findall(out.stdout + out.stderr)
    assert not noise, out.stderr
    assert out.stderr == "", out.stderr


def test_startup_capture_keeps_what_is_not_a_log_line():
    lines = [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        b"I0000 00:00:1796125249.411603    1587 port.cc:153] oneDNN custom operations are on.",
        b"I0000 00:00:1796125249.411920    1587 cudart_stub.cc:31] Could not find cuda drivers",
        b"E0000 00:00:1796126030.343922    9872 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
        b"W0101 12:00:01.000001  123 google_auth_provider.cc:184] All attempts to get a Google token",
        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
        b"with the appropriate compiler flags.",
    ]
    assert all(_cli_entry.is_noise(line) for line in lines)
    for kept in (b"Traceback (most recent call last):", b"UserWarning: something real",
                 b"F0000 00:00:1.0  1 check.cc:1] Check failed"):  # fatal: kept
        assert not _cli_entry.is_noise(kept)


def test_demo_grids_are_labelled_and_table_shows_references(tmp_path):
    import numpy as np
    from PIL import Image

    from lrep_zoo.models.dualdis import demo, metrics
    from lrep_zoo.viz.grids import save_grid

    tiles = np.full((6, 10, 8, 1), 0.5, "float32")
    plain = Image.open(save_grid(tiles, tmp_path / "plain.png", nrow=3, scale=2))
    labelled = Image.open(save_grid(tiles, tmp_path / "labelled.png", nrow=3, scale=2,
                                    row_labels=["id 1", "id 2"], col_labels=["in", "out", "z=1"]))
    assert labelled.width > plain.width and labelled.height > plain.height
    pixels = np.asarray(labelled)
    left = labelled.width - plain.width
    top = labelled.height - plain.height
    assert pixels[top:, :left].min() < 100 and pixels[:top, left:].min() < 100  # text drawn
    np.testing.assert_array_equal(pixels[top:, left:], np.asarray(plain))  # tiles untouched

    refs = demo.references(38, 14)
    chance, best = refs.values()
    assert round(chance["y_acc"], 1) == 2.6 and round(chance["y_adv_err"], 1) == 97.4
    assert best["z_acc"] == 100.0 and best["z_adv_err"] == chance["z_adv_err"]
    scores = dict(aggregate=90.0, y_acc=99.0, z_acc=95.0, y_adv_err=97.0, z_adv_err=69.0)
    table = metrics.format_table({"DualDis": scores}, references=refs).splitlines()
    assert table[2] == "| DualDis | 90.0 | 99.0 | 95.0 | 97.0 | 69.0 |"
    assert table[3].startswith("| *chance (uniform random guess)* | ") and "*2.6*" in table[3]
    assert table[4].startswith("| *best") and "*100.0*" in table[4]
