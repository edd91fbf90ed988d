"""One serialization check for every lrep_zoo model (in the spirit of keras-hub's
`run_serialization_test`): the model survives each way a user saves it.

- config: `from_config(get_config())` rebuilds the same config;
- `.keras`: `keras.saving.load_model` gives the same class, config and outputs;
- `.weights.h5`: a fresh `from_config` model with `load_weights` gives the same outputs;
- SavedModel (TensorFlow and JAX backends): `lrep_zoo.export.export_saved_model`, then
  `tf.saved_model.load`: every endpoint the model declares is a signature, and
  `serving_default` reproduces the model's own serving function.
"""

from __future__ import annotations

import json

import keras
import numpy as np


def _json(config):
    """The config as a `.keras` file stores it (tuples become lists)."""
    return json.loads(json.dumps(config))


def _numpy_tree(outputs):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), outputs)


def _assert_close(got, expected, atol):
    got, expected = _numpy_tree(got), _numpy_tree(expected)
    keras.tree.assert_same_structure(got, expected)
    for g, e in zip(keras.tree.flatten(got), keras.tree.flatten(expected)):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=atol)


def run_serialization_test(model: keras.Model, outputs_fn, tmp_path, serving_inputs=None,
                           atol: float = 1e-5) -> keras.Model:
    """Checks every round trip above; returns the model loaded from `.keras`.

    Args:
        model: A built lrep_zoo model.
        outputs_fn: `outputs_fn(model) -> outputs` (array or nest), deterministic.
        tmp_path: A folder to write into.
        serving_inputs: Arrays for the `serving_default` signature, in its input
            order; `None` skips the export (e.g. on torch, where it is unsupported).
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    cls = type(model)
    expected = outputs_fn(model)
    config = model.get_config()
    assert _json(cls.from_config(config).get_config()) == _json(config)

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded) is cls and _json(loaded.get_config()) == _json(config)
    _assert_close(outputs_fn(loaded), expected, atol)

    model.save_weights(tmp_path / "model.weights.h5")
    fresh = cls.from_config(config)
    fresh.load_weights(tmp_path / "model.weights.h5")
    _assert_close(outputs_fn(fresh), expected, atol)

    if serving_inputs is not None and keras.backend.backend() != "torch":
        import tensorflow as tf

        from lrep_zoo.export import export_saved_model, resolve_endpoints

        endpoints = resolve_endpoints(model)
        served = tf.saved_model.load(str(export_saved_model(model, tmp_path / "export")))
        assert set(endpoints) <= set(served.signatures)
        fn, inputs = endpoints["serving_default"]
        arrays = [np.asarray(a).astype(spec.dtype or np.asarray(a).dtype)
                  for a, spec in zip(serving_inputs, inputs.values())]
        got = served.signatures["serving_default"](
            **{name: tf.constant(a) for name, a in zip(inputs, arrays)})
        _assert_close({k: v.numpy() for k, v in got.items()},
                      dict(fn(*[keras.ops.convert_to_tensor(a) for a in arrays])), atol)
    return loaded
