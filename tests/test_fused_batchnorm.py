"""`lrep_zoo.layers.BatchNormalization` (fused kernels) is Keras' `BatchNormalization`.

Outputs, gradients (inputs, gamma, beta) and moving statistics against Keras' layer and
`keras.ops`, training under `jit_compile`, the `.keras` round trip, and the
`hybridnet_mnist_100` preset's weights giving the preset's outputs. Backend-generic.
"""

from pathlib import Path

import numpy as np
import pytest

import keras
from keras import ops

import lrep_zoo  # noqa: F401  (registers the layers for load_model)
from lrep_zoo.layers import BatchNormalization
from lrep_zoo.training import fused_ops, value_and_input_gradient

PRESETS = Path(__file__).resolve().parents[1] / "applications"


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _one_case_on_jax(backend, other_case):
    if backend == "jax" and other_case:
        pytest.skip("on JAX the layer runs Keras' own ops (no fused kernel): one case is "
                    "checked (eager JAX ops compile one by one: seconds per case)")


def _twins(shape, axis, rng):
    keras_bn = keras.layers.BatchNormalization(axis=axis, momentum=0.9)
    fused_bn = BatchNormalization(axis=axis, momentum=0.9)
    for layer in (keras_bn, fused_bn):
        layer.build(shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in keras_bn.get_weights()]
    weights[3] = np.abs(weights[3]) + 0.1  # moving variance
    keras_bn.set_weights(weights)
    fused_bn.set_weights(weights)
    return keras_bn, fused_bn


@pytest.mark.backends
@pytest.mark.parametrize("axis, shape, masked", [
    (-1, (6, 5, 4, 7), False), (1, (6, 7, 5, 4), False), (-1, (10, 7), False),
    (-1, (6, 5, 4, 7), True),
])
def test_outputs_statistics_and_input_gradients_equal_keras(axis, shape, masked, backend):
    _one_case_on_jax(backend, shape != (6, 5, 4, 7) or masked)
    rng = np.random.default_rng(0)
    x = (3.0 + 2.0 * rng.normal(size=shape)).astype("float32")
    w = ops.convert_to_tensor(rng.normal(size=shape).astype("float32"))
    mask = (rng.uniform(size=shape[:-1]) > 0.3) if masked else None
    keras_bn, fused_bn = _twins(shape, axis, rng)
    assert [v.path for v in fused_bn.weights] == [
        v.path.replace(keras_bn.name, fused_bn.name) for v in keras_bn.weights]
    config = fused_bn.get_config()
    assert {k: v for k, v in config.items() if k != "name"} == {
        k: v for k, v in keras_bn.get_config().items() if k != "name"}
    for _ in range(2):  # moving statistics follow the same updates
        out_k = keras_bn(x, training=True, mask=mask)
        out_f = fused_bn(x, training=True, mask=mask)
        np.testing.assert_allclose(_np(out_f), _np(out_k), rtol=1e-5, atol=2e-5)
    for a, b in zip(fused_bn.get_weights(), keras_bn.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(_np(fused_bn.moving_mean), 0.0)
    np.testing.assert_allclose(_np(fused_bn(x, training=False)), _np(keras_bn(x, training=False)),
                               rtol=1e-5, atol=2e-5)
    grads = [value_and_input_gradient(lambda t, bn=bn: bn(t, training=True, mask=mask) * w,
                                      ops.convert_to_tensor(x))[1]
             for bn in (keras_bn, fused_bn)]
    np.testing.assert_allclose(_np(grads[1]), _np(grads[0]), rtol=1e-4, atol=1e-5)
    assert np.abs(_np(grads[0])).max() > 0.1


@pytest.mark.backends
@pytest.mark.parametrize("axis", [-1, 1])
def test_fused_op_gradients_in_x_gamma_beta_equal_keras_ops(axis, backend):
    _one_case_on_jax(backend, axis == 1)
    shape = (4, 6, 5, 3) if axis == -1 else (4, 3, 6, 5)
    channels = shape[axis]
    n = int(np.prod(shape))
    rng = np.random.default_rng(1)
    packed = np.concatenate([1.0 + 3.0 * rng.normal(size=n), rng.normal(size=2 * channels)])
    w = ops.convert_to_tensor(rng.normal(size=shape).astype("float32"))
    axes = [i for i in range(4) if i != axis % 4]

    def keras_ops(x, gamma, beta, axis, epsilon):
        mean, variance = ops.moments(x, axes)
        return ops.batch_normalization(x, mean, variance, axis, beta, gamma, epsilon), mean, variance

    results = []
    for op in (keras_ops, fused_ops.batch_normalization_training):
        def fn(z, op=op):
            x = ops.reshape(z[:n], shape)
            y, _, _ = op(x, z[n:n + channels], z[n + channels:], axis=axis, epsilon=1e-3)
            return y * w

        value, grad = value_and_input_gradient(fn, ops.convert_to_tensor(packed, "float32"))
        _, mean, variance = op(ops.reshape(ops.convert_to_tensor(packed[:n], "float32"), shape),
                               None, None, axis=axis, epsilon=1e-3)
        results.append([_np(value), _np(grad), _np(mean), _np(variance)])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=2e-5)
    assert np.abs(results[0][1][n:]).min() > 0  # gamma and beta receive gradients
    fused = backend in ("torch", "tensorflow") and (backend == "torch" or axis == -1)
    assert fused_ops.fused_kernel_used(shape, axis, training=True) == fused


def _net(bn_class):
    inputs = keras.Input((4, 4, 2))
    x = bn_class(name="bn")(keras.layers.Dense(3, name="pointwise")(inputs))
    outputs = keras.layers.Dense(3, name="dense")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


@pytest.mark.backends
def test_training_under_jit_compile_and_keras_round_trip(tmp_path, backend):
    keras.utils.set_random_seed(0)
    models = [_net(keras.layers.BatchNormalization), _net(BatchNormalization)]
    models[1].set_weights(models[0].get_weights())
    rng = np.random.default_rng(2)
    x = (2.0 + rng.normal(size=(8, 4, 4, 2))).astype("float32")
    y = rng.normal(size=(8, 3)).astype("float32")
    # The fused layer under XLA / jax.jit (torch.compile takes minutes on CPU: eager
    # torch), Keras' twin without it.
    for model, jit in zip(models, (False, backend != "torch")):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(models[1].get_weights(), models[0].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert not np.allclose(models[1].get_layer("bn").get_weights()[0], 1.0)  # gamma trained
    path = tmp_path / "fused.keras"
    models[1].save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("bn")) is BatchNormalization
    np.testing.assert_allclose(_np(loaded(x)), _np(models[1](x)), rtol=1e-6, atol=1e-6)


@pytest.mark.backends
def test_hybridnet_preset_weights_load_with_identical_outputs(backend):
    """The preset was saved with Keras' BatchNormalization; the networks built now (fused
    student and teacher BN) load its weight file and give its outputs."""
    if backend == "jax":
        pytest.skip("on JAX the layer runs Keras' own ops (no fused kernel); eager HybridNet "
                    "calls on JAX take minutes of CI time")
    from lrep_zoo.models.hybridnet import HybridNet, TeacherBatchNormalization
    from lrep_zoo.models.hybridnet import mnist_networks

    preset = HybridNet.from_preset("hybridnet_mnist_100")
    config = {k: v for k, v in preset.get_config().items()
              if k not in ("encoder_c", "classifier", "decoder_c", "encoder_u", "decoder_u",
                           "name", "trainable", "dtype")}
    model = HybridNet(**mnist_networks.networks(filters=(8, 16), shade_weight=1e-3), **config)
    bn = model.encoder_c.get_layer("encoder_c_block1_bn")
    assert type(bn) is BatchNormalization
    assert type(model.teacher_encoder.get_layer("encoder_c_block1_bn")) is TeacherBatchNormalization
    model.load_weights(PRESETS / "hybridnet_mnist_100" / "model.weights.h5")
    x = np.random.default_rng(3).uniform(0, 255, size=(4, 28, 28, 1)).astype("float32")
    for key in ("probabilities", "x_hat"):
        np.testing.assert_allclose(_np(model(x)[key]), _np(preset(x)[key]),
                                   rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(bn.moving_variance), _np(
        preset.encoder_c.get_layer("encoder_c_block1_bn").moving_variance))
    assert not np.allclose(_np(bn.moving_variance), 1.0)  # trained statistics were loaded
