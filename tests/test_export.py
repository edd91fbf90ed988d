"""SavedModel export: named signatures, run by TensorFlow alone and by saved_model_cli."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

import keras

from lrep_zoo.export import export_saved_model, resolve_endpoints
from lrep_zoo.models import DenoisingAutoEncoder

LATENT = 4
TORCH_REASON = (
    "SavedModel export needs the tensorflow or jax backend: Keras 3.15 exports torch "
    "models only through torch_xla (not installed) and only their `call`"
)

# Runs in a process whose sys.path holds TensorFlow's site-packages minus keras and
# lrep_zoo: the export must not need them.
TF_ONLY_SCRIPT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import tensorflow as tf
import importlib.util
assert importlib.util.find_spec("keras") is None and importlib.util.find_spec("lrep_zoo") is None
args = json.load(sys.stdin)
served = tf.saved_model.load(args["path"])
out = {"signatures": {}, "results": {}}
for name, sig in served.signatures.items():
    names = [sorted(sig.structured_input_signature[1]), sorted(sig.structured_outputs)]
    out["signatures"][name] = names
for name, inputs in args["calls"].items():
    feed = {k: tf.constant(np.asarray(v, "float32")) for k, v in inputs.items()}
    results = served.signatures[name](**feed)
    out["results"][name] = {k: v.numpy().tolist() for k, v in results.items()}
print("JSON" + json.dumps(out))
"""


def _images(n=16, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, 28, 28, 1)).astype("float32")


def _clean_env():
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


def _tf_only_site(root: Path) -> Path:
    """A copy (symlinks) of site-packages without keras and lrep_zoo."""
    site = Path(sysconfig.get_paths()["purelib"])
    view = root / "tf_only_site"
    view.mkdir()
    for entry in site.iterdir():
        if entry.name.startswith(("keras", "lrep_zoo", "__editable__")) or entry.suffix == ".pth":
            continue
        (view / entry.name).symlink_to(entry)
    return view


def _saved_model_cli() -> str:
    cli = Path(sys.executable).parent / "saved_model_cli"
    return str(cli) if cli.exists() else shutil.which("saved_model_cli")


def _skip_torch():
    if keras.backend.backend() == "torch":
        pytest.skip(TORCH_REASON)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    _skip_torch()
    keras.utils.set_random_seed(0)
    model = DenoisingAutoEncoder(latent_dim=LATENT, noise="gaussian", seed=0)  # untrained
    mix = (
        lambda codes_a, codes_b: {"images": model.decode(0.5 * (codes_a + codes_b))},
        {"codes_a": keras.InputSpec(shape=(None, LATENT)), "codes_b": (None, LATENT)},
    )
    root = tmp_path_factory.mktemp("export")
    path = export_saved_model(model, root / "dae", endpoints={"mix": mix}, version=1)
    return model, path


@pytest.mark.backends
def test_export_runs_with_tensorflow_only(exported, tmp_path):
    model, path = exported
    assert path == path.parent / "1" and (path / "saved_model.pb").is_file()  # TF Serving layout
    x = _images(5, seed=1)
    codes = keras.ops.convert_to_numpy(model.encode(x))
    codes_b = np.random.default_rng(2).normal(size=codes.shape).astype("float32")
    calls = {
        "serving_default": {"images": x.tolist()},
        "encode": {"images": x.tolist()},
        "decode": {"codes": codes.tolist()},
        "mix": {"codes_a": codes.tolist(), "codes_b": codes_b.tolist()},
    }
    proc = subprocess.run(
        [sys.executable, "-S", "-c", TF_ONLY_SCRIPT, str(_tf_only_site(tmp_path))],
        input=json.dumps({"path": str(path), "calls": calls}),
        capture_output=True, text=True, env=_clean_env(), cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("JSON", 1)[1])
    assert out["signatures"] == {
        "serving_default": [["images"], ["reconstruction"]],
        "encode": [["images"], ["codes"]],
        "decode": [["codes"], ["images"]],
        "mix": [["codes_a", "codes_b"], ["images"]],
    }
    results = {
        name: {k: np.asarray(v) for k, v in r.items()} for name, r in out["results"].items()
    }
    np.testing.assert_allclose(
        results["serving_default"]["reconstruction"], model.predict(x, verbose=0), atol=1e-5
    )
    np.testing.assert_allclose(results["encode"]["codes"], codes, atol=1e-5)
    decoded = keras.ops.convert_to_numpy(model.decode(codes))
    np.testing.assert_allclose(results["decode"]["images"], decoded, atol=1e-5)
    mixed = keras.ops.convert_to_numpy(model.decode(0.5 * (codes + codes_b)))
    np.testing.assert_allclose(results["mix"]["images"], mixed, atol=1e-5)


@pytest.mark.backends
def test_saved_model_cli_show_and_run(exported, tmp_path):
    _, path = exported
    cli = _saved_model_cli()
    assert cli, "saved_model_cli not found next to the Python executable or on PATH"

    # TF 2.21's --input_exprs only takes Python literals (no `np.zeros(...)`): use a .npy file.
    np.save(tmp_path / "images.npy", np.zeros((1, 28, 28, 1), "float32"))
    commands = {
        "show": ["show", "--dir", str(path), "--all"],
        "run": ["run", "--dir", str(path), "--tag_set", "serve", "--signature_def",
                "serving_default", "--inputs", f"images={tmp_path / 'images.npy'}"],
    }
    procs = {  # both at once: each one spends most of its time importing TensorFlow
        key: subprocess.Popen([cli, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_clean_env(), cwd=tmp_path)
        for key, args in commands.items()
    }
    outputs = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"saved_model_cli {key}: {stderr[-3000:]}"
        outputs[key] = stdout
    for expected in ("signature_def['serving_default']", "signature_def['encode']",
                     "signature_def['decode']", "inputs['images']", "inputs['codes']",
                     "outputs['reconstruction']", "outputs['codes']"):
        assert expected in outputs["show"]
    out = outputs["run"]
    assert "Result for output key reconstruction" in out


def test_endpoint_hook_and_names():
    model = DenoisingAutoEncoder(latent_dim=3, architecture="mlp")
    assert list(resolve_endpoints(model)) == ["serving_default", "encode", "decode"]
    assert list(resolve_endpoints(model, endpoints=["decode"])) == ["serving_default", "decode"]

    class Hooked(DenoisingAutoEncoder):
        def export_endpoints(self):
            images = keras.InputSpec(shape=(None, *self.image_shape))
            return {
                "serving_default": (lambda x: {"codes": self.encode(x)}, {"images": images}),
                "decode": None,
                "sample": (lambda z: self.decode(z), {"noise": (None, self.latent_dim)}),
            }

    hooked = Hooked(latent_dim=3, architecture="mlp")
    resolved = resolve_endpoints(hooked)
    assert list(resolved) == ["serving_default", "encode", "sample"]
    fn, inputs = resolved["sample"]
    assert list(inputs) == ["noise"] and inputs["noise"].shape == (None, 3)
    assert inputs["noise"].name == "noise"


def test_clear_errors(tmp_path):
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="never been built"):
        export_saved_model(unbuilt, tmp_path / "a")
    model = DenoisingAutoEncoder(latent_dim=3, architecture="mlp")
    with pytest.raises(ValueError, match=r"Unknown endpoint.*'edit'.*available"):
        export_saved_model(model, tmp_path / "b", endpoints=["encode", "edit"])
    (tmp_path / "c" / "2").mkdir(parents=True)
    (tmp_path / "c" / "2" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_saved_model(model, tmp_path / "c", version=2)
    with pytest.raises(ValueError, match="version"):
        export_saved_model(model, tmp_path / "d", version="v1")


def test_overwrite_and_default_names(tmp_path):
    _skip_torch()
    import tensorflow as tf

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    target = tmp_path / "mlp"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    with pytest.raises(FileExistsError):
        export_saved_model(model, target)
    assert export_saved_model(model, target, overwrite=True) == target
    assert not (target / "stale.txt").exists()
    sig = tf.saved_model.load(str(target)).signatures["serving_default"]
    assert list(sig.structured_input_signature[1]) == ["images"]
    out = sig(images=tf.ones((2, 3)))["outputs"].numpy()
    expected = model.predict(np.ones((2, 3), "float32"), verbose=0)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_torch_backend_is_refused(tmp_path):
    if keras.backend.backend() != "torch":
        pytest.skip("torch-only check")
    model = DenoisingAutoEncoder(latent_dim=3, architecture="mlp")
    with pytest.raises(NotImplementedError, match="TensorFlow or JAX"):
        export_saved_model(model, tmp_path / "dae")
