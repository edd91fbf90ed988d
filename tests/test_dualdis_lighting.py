"""DualDis' auxiliary regression of z's continuous values from h_z (issue 16.3).

`z_regression_weight`: a linear head on h_z regresses the light's (azimuth,
elevation); the term (NaN targets left out) is checked against NumPy, the labels
(y, z, z_values) train the head in a step and the option survives a `.keras` round
trip on TensorFlow and torch. The JAX pass skips them: the option is `keras.ops`
code in `main_loss` like the other terms, whose compiled JAX step
tests/test_dualdis_options.py runs, and a cold eager JAX build of even this tiny
DualDis took 127 s of CI time (plus 113 s for the step). The Yale-B side (angle targets, mirrored azimuth in
`RelightingBatches`) is NumPy only; the mirrored class of each of the 64 light
positions is checked in tests/test_yaleb.py.
"""

import numpy as np
import pytest

import keras

from lrep_zoo.data import yaleb
from lrep_zoo.models.dualdis.dualdis import DualDis

NY, NZ = 4, 3
SHAPE = (16, 16, 1)


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, *SHAPE)).astype("uint8")
    v = rng.normal(size=(n, 2)).astype("float32")
    v[1, 0] = np.nan  # an unknown azimuth: left out of the term
    return x, rng.integers(0, NY, n), rng.integers(0, NZ, n), v


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    m = DualDis(image_shape=SHAPE, num_classes_y=NY, num_classes_z=NZ, latent_dim=8, input_size=16,
                network_width=0.25, z_regression_weight=2.0)
    # Eager on TF (tracing the two-phase step costs more than the step: CI time).
    m.compile(optimizer={"main": keras.optimizers.Adam(1e-2), "disc": keras.optimizers.Adam(1e-2)},
              run_eagerly=keras.backend.backend() == "tensorflow")
    return m


# See the module docstring (CI time).
SKIP_JAX = pytest.mark.skipif(keras.backend.backend() == "jax",
                              reason="a cold eager JAX DualDis build costs minutes of CI time")


def _np(t):
    return np.asarray(keras.ops.convert_to_numpy(t))


@pytest.mark.backends
@SKIP_JAX
def test_regression_term_matches_numpy_and_trains(model):
    x, y, z, v = _data(4)
    loss, logs = model.main_loss((x, (y, z, v)), training=False)
    _, h_z = model.encode(x)
    kernel, bias = (_np(w) for w in model.head_z_regression.weights)
    err = (_np(h_z) @ kernel + bias - v) ** 2
    np.testing.assert_allclose(float(logs["reg_z"]), np.nanmean(err), rtol=1e-4)
    others = (logs["rec"] + logs["ce_y"] + logs["ce_z"] + 0.08 * logs["adv_y"]
              + 0.08 * logs["adv_z"] + 1e-6 * logs["orth"])
    np.testing.assert_allclose(float(loss), float(others) + 2.0 * np.nanmean(err), rtol=1e-4)
    # Trained in L_main (the compiled step): the head moves, the term is logged.
    before = _np(model.head_z_regression.weights[0])
    out = model.train_on_batch(x, (y, z, v), return_dict=True)
    assert np.isfinite(out["reg_z"])
    assert not np.allclose(_np(model.head_z_regression.weights[0]), before)


@pytest.mark.backends
@SKIP_JAX
def test_regression_option_round_trip(model, tmp_path):
    x = _data(3, seed=1)[0]
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.z_regression_weight == 2.0 and loaded.z_regression_units == 2
    np.testing.assert_allclose(_np(loaded.regress_z(x)), _np(model.regress_z(x)), atol=1e-5)


def test_regression_option_errors(model):
    with pytest.raises(ValueError, match="z_regression_weight must be >= 0"):
        DualDis(z_regression_weight=-1.0)
    with pytest.raises(ValueError, match="z_regression_units must be an integer >= 1"):
        DualDis(z_regression_units=0)
    m = model
    x, y, z, v = _data(4)
    with pytest.raises(ValueError, match=r"labels must be \(y, z, z_values\)"):
        m.labels_to_check((y, z))
    with pytest.raises(ValueError, match="z_values labels must have shape"):
        m.labels_to_check((y, z, v[:, :1]))
    with pytest.raises(ValueError, match="need a 'z_values' entry"):
        m.labels_to_check({"y": y, "z": z})


def test_relighting_batches_mirror_the_azimuth_target():
    rng = np.random.default_rng(0)
    n = 64
    azimuth = rng.choice([-50, -25, 0, 25, 50], n)
    elevation = rng.choice([-20, 0, 45], n)
    x = rng.integers(0, 256, (n, 6, 5, 1)).astype("uint8")
    x[:, :, 0] = 0  # the left column is dark: a flipped image has it on the right
    angles = yaleb.light_angle_targets(azimuth, elevation)
    np.testing.assert_allclose(angles[0], [azimuth[0] / 90, elevation[0] / 90], rtol=1e-6)
    lighting = yaleb.lighting_class(azimuth, elevation)
    batches = yaleb.RelightingBatches(x, np.zeros(n, int), lighting, batch_size=n, mirror=True,
                                      angles=angles, seed=1)
    images, (_, z, v) = batches[0]
    flipped = images[:, :, -1, 0].max(1) == 0
    assert 0 < flipped.sum() < n
    order = batches.order[:n]
    sign = np.where(flipped, -1.0, 1.0)
    np.testing.assert_allclose(v, angles[order] * np.stack([sign, np.ones(n)], 1), rtol=1e-6)
    np.testing.assert_array_equal(z, yaleb.lighting_class(np.round(v[:, 0] * 90), elevation[order]))
    with pytest.raises(ValueError, match=r"angles must have shape \(N, 2\)"):
        yaleb.RelightingBatches(x, np.zeros(n, int), lighting, angles=angles[:, :1])
