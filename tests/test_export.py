"""SavedModel and ONNX export: named signatures, run by TensorFlow alone, by saved_model_cli
and by onnxruntime; `model.export` (Keras' own method) for every lrep_zoo model class."""

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

from lrep_zoo import models
from lrep_zoo.export import export_saved_model, resolve_endpoints
from lrep_zoo.inputs import input_scale
from lrep_zoo.models import DenoisingAutoEncoder
from lrep_zoo.models.hybridnet import mnist_networks

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
answers = {}
for key, args in json.load(sys.stdin).items():  # {key: {"path": ..., "calls": ...}}
    served = tf.saved_model.load(args["path"])
    out = answers[key] = {"signatures": {}, "results": {}}
    for name, sig in served.signatures.items():
        names = [sorted(sig.structured_input_signature[1]), sorted(sig.structured_outputs)]
        out["signatures"][name] = names
    for name, inputs in args["calls"].items():
        feed = {k: tf.constant(np.asarray(v, "float32")) for k, v in inputs.items()}
        results = served.signatures[name](**feed)
        out["results"][name] = {k: v.numpy().tolist() for k, v in results.items()}
print("JSON" + json.dumps(answers))
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


def _start_tf_only(tmp_path: Path) -> subprocess.Popen:
    """The TensorFlow-only process, importing TensorFlow while the exports are written."""
    return subprocess.Popen(
        [sys.executable, "-S", "-c", TF_ONLY_SCRIPT, str(_tf_only_site(tmp_path))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_clean_env(), cwd=tmp_path,
    )


def _tf_only_answers(proc: subprocess.Popen, exports: dict) -> dict:
    """Loads each `{key: {"path", "calls"}}` SavedModel in `proc`; its signatures and results."""
    stdout, stderr = proc.communicate(json.dumps(exports), timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.split("JSON", 1)[1])


def _run_tf_only(exports: dict, tmp_path: Path) -> dict:
    return _tf_only_answers(_start_tf_only(tmp_path), exports)


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
    out = _run_tf_only({"dae": {"path": str(path), "calls": calls}}, tmp_path)["dae"]
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


# ---------------------------------------------------------------- model.export, every class
# Tiny untrained models (random weights), one per class, as in tests/test_package.py.
TINY = {
    "DenoisingAutoEncoder": lambda: models.DenoisingAutoEncoder((8, 8, 1), latent_dim=3,
                                                                architecture="conv"),
    "VAE": lambda: models.VAE(input_shape=(8, 8, 1), latent_dim=3),
    "GAN": lambda: models.GAN(image_shape=(8, 8, 1), latent_dim=4, generator_filters=(8, 4),
                              discriminator_filters=(4, 8)),
    "TemperedGAN": lambda: models.TemperedGAN(image_shape=(8, 8, 1), latent_dim=4,
                                              generator_filters=(8, 4),
                                              discriminator_filters=(4, 8)),
    "HybridNet": lambda: models.HybridNet(**mnist_networks.networks(
        (8, 8, 1), num_classes=3, filters=(4,), shade_weight=1e-3)),
    "DualDis": lambda: models.DualDis(image_shape=(48, 42, 1), num_classes_y=4,
                                      num_classes_z=3),
}
# `predict` on the serving inputs, as serving_default names it (VAE: predict samples z,
# so its serving function, the deterministic `reconstruct`, is the reference).
PREDICT_AS_SERVED = {
    "DenoisingAutoEncoder": lambda out: {"reconstruction": out},
    "VAE": None,
    "GAN": lambda out: {"images": out},
    "TemperedGAN": lambda out: {"images": out},
    "HybridNet": lambda out: {"probabilities": out["probabilities"]},
    "DualDis": lambda out: {"identity": out["y"], "lighting": out["z"]},
}
SIGNATURES = {  # endpoint -> [inputs, outputs], as TensorFlow reads them back
    "DenoisingAutoEncoder": {"serving_default": [["images"], ["reconstruction"]],
                             "encode": [["images"], ["codes"]],
                             "decode": [["codes"], ["images"]]},
    "VAE": {"serving_default": [["images"], ["reconstruction"]],
            "encode": [["images"], ["log_var", "mean"]],
            "decode": [["latents"], ["images"]], "sample": [["latents"], ["images"]]},
    "GAN": {name: [["latents"], ["images"]] for name in ("serving_default", "sample", "decode")},
    "TemperedGAN": {**{name: [["latents"], ["images"]]
                       for name in ("serving_default", "sample", "decode")},
                    "lens": [["images"], ["images"]]},
    "HybridNet": {"serving_default": [["images"], ["probabilities"]],
                  "reconstruct": [["images"], ["x_hat", "x_hat_c", "x_hat_u"]]},
    "DualDis": {"serving_default": [["images"], ["identity", "lighting"]],
                "encode": [["images"], ["h_y", "h_z"]],
                "decode": [["h_y", "h_z"], ["images"]],
                "edit": [["attribute", "eps", "images"], ["images"]]},
}


# (class, backend) whose ONNX export is a clear error, and what it says.
ONNX_UNSUPPORTED = {
    # jax2onnx lowers Keras' JAX max pooling (lax.reduce_window over N, H, W, C) to a
    # 4-D MaxPool, which onnxruntime does not run.
    ("HybridNet", "jax"): r"HybridNet cannot be exported to ONNX on the jax backend: the "
                          r"jax2onnx graph .* 4-D MaxPool .*onnxruntime pools over 1 to 3 "
                          r"spatial dimensions only.*tensorflow, torch",
}


_BUILT = {}


def _tiny(name):
    """One seeded instance per class for this module (building DualDis takes seconds)."""
    if name not in _BUILT:
        keras.utils.set_random_seed(0)
        _BUILT[name] = TINY[name]()
    return _BUILT[name]


def _fixed_inputs(inputs, seed, n=3, scale=1.0):
    """Arrays for an endpoint's `{name: spec}`: images in [0, scale], codes N(0, 1), classes."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, spec in inputs.items():
        shape = (n, *spec.shape[1:])
        if name == "attribute":  # DualDis.edit: a lighting class per image
            value = rng.integers(0, 3, shape)
        elif len(shape) == 4:
            value = rng.uniform(0, scale, shape)
        else:
            value = rng.normal(size=shape)
        arrays[name] = value.astype("float32")
    return arrays


def _eager(fn, arrays):
    out = fn(*[keras.ops.convert_to_tensor(a) for a in arrays.values()])
    return {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in out.items()}


def _check_served(name, model, got, arrays, expected, atol=1e-4):
    """`got[endpoint]` against the eager endpoint and, for serving_default, `predict`."""
    for endpoint, want in expected.items():
        assert sorted(got[endpoint]) == sorted(want), (name, endpoint)
        for key in want:
            np.testing.assert_allclose(got[endpoint][key], want[key], rtol=1e-4, atol=atol,
                                       err_msg=f"{name}.{endpoint}[{key}]")
    view = PREDICT_AS_SERVED[name]
    if view is not None:
        (images,) = arrays["serving_default"].values()
        predicted = view(model.predict(images, verbose=0))
        for key, want in predicted.items():
            np.testing.assert_allclose(got["serving_default"][key], want, rtol=1e-4,
                                       atol=atol, err_msg=f"{name} predict[{key}]")


def _saved_model_cli_run(path: Path, arrays: dict, tmp_path: Path) -> subprocess.Popen:
    cli = _saved_model_cli()
    assert cli, "saved_model_cli not found next to the Python executable or on PATH"
    feeds = []
    for key, array in arrays.items():
        np.save(tmp_path / f"{key}.npy", array)
        feeds.append(f"{key}={tmp_path / f'{key}.npy'}")
    return subprocess.Popen(
        [cli, "run", "--dir", str(path), "--tag_set", "serve", "--signature_def",
         "serving_default", "--inputs", ";".join(feeds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_clean_env(),
        cwd=tmp_path)


@pytest.fixture(scope="module")
def plain_exports(tmp_path_factory):
    """`model.export(path)` of every class, read back by one TensorFlow-only process, and
    `saved_model_cli run` on DualDis' (a hook's serving_default, two outputs)."""
    _skip_torch()
    root = tmp_path_factory.mktemp("plain_export")
    tf_only = _start_tf_only(root)
    built, exports = {}, {}
    try:
        for i, name in enumerate(TINY):
            model = _tiny(name)
            path = root / name
            model.export(str(path), verbose=False)
            endpoints = resolve_endpoints(model)
            arrays = {ep: _fixed_inputs(inputs, seed=i, scale=input_scale(model))
                      for ep, (_, inputs) in endpoints.items()}
            expected = {ep: _eager(fn, arrays[ep]) for ep, (fn, _) in endpoints.items()}
            built[name] = (model, path, arrays, expected)
            exports[name] = {"path": str(path), "calls": {
                ep: {k: v.tolist() for k, v in a.items()} for ep, a in arrays.items()}}
        cli = _saved_model_cli_run(root / "DualDis", built["DualDis"][2]["serving_default"],
                                   root)
        answers = _tf_only_answers(tf_only, exports)
    finally:
        if tf_only.poll() is None:
            tf_only.kill()
    yield built, answers, cli
    if cli.poll() is None:
        cli.kill()
        cli.communicate()


@pytest.mark.backends
@pytest.mark.parametrize("name", list(TINY))
def test_model_export_runs_with_tensorflow_only(plain_exports, name):
    built, answers, _ = plain_exports
    model, path, arrays, expected = built[name]
    assert (path / "saved_model.pb").is_file()  # in `path` itself, as Keras writes it
    assert answers[name]["signatures"] == SIGNATURES[name]
    got = {ep: {k: np.asarray(v) for k, v in r.items()}
           for ep, r in answers[name]["results"].items()}
    _check_served(name, model, got, arrays, expected)


@pytest.mark.backends
def test_model_export_saved_model_cli_run(plain_exports):
    _, _, cli = plain_exports
    stdout, stderr = cli.communicate(timeout=180)
    assert cli.returncode == 0, f"saved_model_cli run: {stderr[-3000:]}"
    for key in SIGNATURES["DualDis"]["serving_default"][1]:
        assert f"Result for output key {key}" in stdout, stdout[-2000:]


@pytest.mark.backends
def test_model_export_options(tmp_path):
    _skip_torch()
    import tensorflow as tf

    model = _tiny("DenoisingAutoEncoder")
    # Keras' list form of input_signature, and lrep_zoo's `endpoints` selection.
    model.export(str(tmp_path / "dae"), input_signature=[keras.InputSpec(shape=(2, 8, 8, 1))],
                 endpoints=["encode"], verbose=False)
    served = tf.saved_model.load(str(tmp_path / "dae"))
    assert sorted(served.signatures) == ["encode", "serving_default"]
    assert served.signatures["serving_default"].structured_input_signature[1][
        "images"].shape.as_list() == [2, 8, 8, 1]
    # A hook's serving_default takes input_signature too (GAN: latents).
    gan = _tiny("GAN")
    gan.export(str(tmp_path / "gan"), input_signature=keras.InputSpec(shape=(5, 4)),
               verbose=False)
    sig = tf.saved_model.load(str(tmp_path / "gan")).signatures["serving_default"]
    assert sig.structured_input_signature[1]["latents"].shape.as_list() == [5, 4]
    with pytest.raises(ValueError, match="Unrecognized format"):
        model.export(str(tmp_path / "x"), format="pickle")


@pytest.mark.backends
@pytest.mark.parametrize("name", list(TINY))
def test_model_export_refused_on_torch(name, tmp_path):
    if keras.backend.backend() != "torch":
        pytest.skip("torch-only check")
    with pytest.raises(NotImplementedError,
                       match=rf"SavedModel export of {name} .*export from the TensorFlow "
                             r"or JAX backend.*load_model.*format='onnx'"):
        _tiny(name).export(str(tmp_path / name))
    assert not (tmp_path / name).exists()


@pytest.mark.backends
@pytest.mark.parametrize("name", list(TINY))
def test_model_export_onnx_runs_in_onnxruntime(name, tmp_path):
    import onnxruntime

    model = _tiny(name)
    fn, inputs = resolve_endpoints(model)["serving_default"]
    path = tmp_path / f"{name}.onnx"
    unsupported = ONNX_UNSUPPORTED.get((name, keras.backend.backend()))
    if unsupported:
        with pytest.raises(RuntimeError, match=unsupported):
            model.export(str(path), format="onnx", verbose=False)
        assert not path.exists()
        return
    model.export(str(path), format="onnx", verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(inputs)
    assert session.get_inputs()[0].shape[0] == "batch"  # dynamic batch
    outputs = [o.name for o in session.get_outputs()]
    assert sorted(outputs) == SIGNATURES[name]["serving_default"][1]
    arrays = _fixed_inputs(inputs, seed=7, n=3, scale=input_scale(model))
    got = dict(zip(outputs, session.run(outputs, arrays)))
    _check_served(name, model, {"serving_default": got}, {"serving_default": arrays},
                  {"serving_default": _eager(fn, arrays)})


@pytest.mark.backends
def test_onnx_other_endpoint_and_errors(tmp_path, capsys):
    import onnxruntime

    model = _tiny("DenoisingAutoEncoder")
    path = tmp_path / "sub" / "encode.onnx"
    model.export(str(path), format="onnx", endpoint="encode", verbose=True)
    printed = capsys.readouterr().out
    assert "endpoint 'encode' (images -> codes)" in printed
    assert "not exported: serving_default, decode" in printed
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _fixed_inputs({"images": keras.InputSpec(shape=(None, 8, 8, 1))}, seed=3)
    (codes,) = session.run(["codes"], x)
    np.testing.assert_allclose(codes, keras.ops.convert_to_numpy(model.encode(x["images"])),
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match=r"Unknown endpoint 'edit'.*available"):
        model.export(str(tmp_path / "a.onnx"), format="onnx", endpoint="edit")
    with pytest.raises(TypeError, match="endpoint.*opset_version"):
        model.export(str(tmp_path / "b.onnx"), format="onnx", jax2tf_kwargs={})
