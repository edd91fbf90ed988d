"""Fused updates (`training.fused_ops`): Adam and moving averages equal the plain path.

`lrep_zoo.training.optimizers.Adam` against `keras.optimizers.Adam` (variables and optimizer
variables after a few updates, amsgrad, a learning-rate schedule, config, the `.keras`
round trip), `ema_update` / `assign_moving_averages` against the formula. On torch these
run the fused kernels (`torch._fused_adam_`, `torch._foreach_lerp_`), elsewhere Keras'
own ops. Backend-generic.
"""

import numpy as np
import pytest

import keras
from keras import ops

import lrep_zoo  # noqa: F401  (registers the optimizer for load_model)
from lrep_zoo.training import ema_update, fused_ops
from lrep_zoo.training.optimizers import Adam


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _slot(variable):
    """An optimizer variable's shape and kind (`momentum`, `velocity`, ...)."""
    return tuple(variable.shape), variable.name.split("_")[-1]


def _model():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])


@pytest.mark.backends
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_equals_keras_adam(amsgrad, backend):
    # `apply` as `fit` calls it (eager here: on TF/JAX both sides are Keras' own code).
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,)]
    initial = [rng.normal(size=s).astype("float32") for s in shapes]
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, 2, 0.5)
    ours = Adam(schedule, amsgrad=amsgrad, epsilon=1e-3)
    theirs = keras.optimizers.Adam(schedule, amsgrad=amsgrad, epsilon=1e-3)
    ours_vars = [keras.Variable(w) for w in initial]
    their_vars = [keras.Variable(w) for w in initial]
    for _ in range(3):
        grads = [rng.normal(size=s).astype("float32") for s in shapes]
        ours.apply([ops.convert_to_tensor(g) for g in grads], ours_vars)
        theirs.apply([ops.convert_to_tensor(g) for g in grads], their_vars)
    assert [_slot(v) for v in ours.variables] == [_slot(v) for v in theirs.variables]
    for a, b in zip(ours_vars + ours.variables, their_vars + theirs.variables):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, atol=1e-6, err_msg=a.path)
    assert not np.allclose(_np(ours_vars[0]), initial[0])  # it moved
    config, keras_config = ours.get_config(), theirs.get_config()
    assert {**config, "name": None} == {**keras_config, "name": None}


@pytest.mark.backends
def test_adam_round_trip_and_fused_path(tmp_path, backend):
    if backend != "jax":  # the registration is backend-free (eager JAX builds slowly)
        model = _model()
        model.compile(optimizer=Adam(1e-2), loss="mse")
        path = tmp_path / "m.keras"
        model.save(path)
        assert type(keras.saving.load_model(path).optimizer) is Adam
    var = keras.Variable(np.ones(3, "float32"))
    m, v = keras.Variable(np.zeros(3, "float32")), keras.Variable(np.zeros(3, "float32"))
    ran = fused_ops.adam_update([var], [np.ones(3, "float32")], [m], [v], None, 0.1, 0.9,
                                0.999, 1e-7, iterations=0)
    assert ran == (backend == "torch")
    if ran:  # the first Adam step moves every weight by lr (sign of the gradient)
        np.testing.assert_allclose(_np(var), 0.9, rtol=1e-5)
        np.testing.assert_allclose(_np(m), 0.1, rtol=1e-5)
        with pytest.raises(ValueError, match="iterations"):
            fused_ops.adam_update([var], [np.ones(3, "float32")], [m], [v], None, 0.1, 0.9,
                                  0.999, 1e-7, iterations=-1)


@pytest.mark.backends
def test_moving_averages_equal_the_formula(backend):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), ()]
    start = [rng.normal(size=s).astype("float32") for s in shapes]
    values = [rng.normal(size=s).astype("float32") for s in shapes]
    for decay in (0.0, 0.9, ops.convert_to_tensor(0.75)):
        d = float(_np(decay))
        targets = [keras.Variable(s) for s in start]
        sources = [keras.Variable(v) for v in values]
        ema_update(targets, sources, decay=decay)
        for t, s, v in zip(targets, start, values):
            np.testing.assert_allclose(_np(t), d * s + (1 - d) * v, rtol=1e-6, atol=1e-7)
    targets = [keras.Variable(s) for s in start]
    ran = fused_ops.assign_moving_averages(targets, values, 0.5)
    assert ran == (backend == "torch")
    if ran:
        for t, s, v in zip(targets, start, values):
            np.testing.assert_allclose(_np(t), 0.5 * (s + v), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="matching"):
        ema_update(targets, targets[:1], decay=0.5)


@pytest.mark.backends
@pytest.mark.parametrize("transposed", [False, True])
def test_conv_kernel_in_torch_order_equals_keras(transposed, backend):
    # `lrep_zoo.layers.Conv2D` / `Conv2DTranspose` hand Keras' torch convolution a
    # kernel view in torch's memory order (one copy per call instead of two).
    from lrep_zoo.layers import conv

    if backend == "jax":
        pytest.skip("torch-only path; on JAX these layers run Keras' own convolution "
                    "(tests/test_conv.py; eager JAX compiles op by op)")
    name = "Conv2DTranspose" if transposed else "Conv2D"
    kwargs = dict(kernel_size=3, strides=1, padding="same", data_format="channels_first")
    native = getattr(keras.layers, name)(4, **kwargs)
    ours = getattr(conv, name)(4, formulation="native", **kwargs)
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 5)).astype("float32")
    for layer in (native, ours):
        layer.build(x.shape)
    ours.set_weights(native.get_weights())
    np.testing.assert_allclose(_np(ours(x)), _np(native(x)), rtol=1e-5, atol=1e-5)
    if backend == "torch":
        import torch

        grads = []
        for layer in (native, ours):
            inputs = torch.tensor(x, requires_grad=True)
            layer(inputs).square().sum().backward()
            grads.append([inputs.grad.numpy(), layer.kernel.value.grad.numpy()])
            layer.kernel.value.grad = None
        for a, b in zip(*grads):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
