"""lrep_zoo.layers.conv: the stride-1 (rearranged) forms equal Keras' strided convolutions.

Outputs, first-order gradients (input and kernel) and the second-order gradient of a
gradient penalty (d ||dL/dx||^2 / d kernel, as in WGAN-GP) are compared with Keras'
own layers holding the same weights, on every backend; weights and `.keras` files
move between the two.
"""

import re

import keras
import numpy as np
import pytest

from lrep_zoo.layers import conv

pytestmark = pytest.mark.backends

# (kernel, strides, padding, input height/width, output_padding) of the networks
# (4x4 and 3x3, stride 2, 'same'; ConvLarge's 3x3 stride 1 'same', the flipped-kernel
# convolution) and of the awkward cases (odd sizes, 'valid', kernel smaller than the
# stride, stride 3, output_padding).
# (Kernel sizes 1-5, strides 2-3, both paddings and sizes 5-8 were checked the same
# way when the layers were written; the cases here bound the JAX pass's compile time.)
TRANSPOSE_CASES = [(4, 2, "same", (7, 5), None), (3, 2, "same", (4, 7), None),
                   (5, 3, "valid", (3, 4), 1), (3, 1, "same", (6, 5), None)]
CONV_CASES = [(4, 2, "same", (14, 13)), (3, 2, "same", (7, 8)), (5, 3, "valid", (10, 8))]


def _pair(cls, case, channels=3, filters=4, use_bias=True):
    """(Keras' layer, the rearranged layer with the same weights, input)."""
    k, s, padding, (h, w), *rest = case
    kwargs = dict(kernel_size=k, strides=s, padding=padding, use_bias=use_bias)
    if rest and rest[0] is not None:
        kwargs["output_padding"] = rest[0]
    x = np.random.default_rng(k * 10 + s).normal(size=(2, h, w, channels)).astype("float32")
    native = getattr(keras.layers, cls.__name__)(filters, **kwargs)
    native.build(x.shape)
    ours = cls(filters, formulation="rearranged", **kwargs)
    ours.build(x.shape)
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=v.shape).astype("float32") for v in native.weights]
    native.set_weights(weights)
    ours.set_weights(weights)
    return native, ours, x


def _call(layer, x):
    """`layer(x)`, under one `jax.jit` on JAX (one compilation, not one per op)."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(layer)(x)
    return layer(x)


def _np(t):
    if hasattr(t, "detach"):  # a torch tensor that requires grad
        t = t.detach()
    return np.asarray(keras.ops.convert_to_numpy(t))


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv2d_transpose_outputs_equal_keras(case):
    native, ours, x = _pair(conv.Conv2DTranspose, case)
    expected, got = _np(_call(native, x)), _np(_call(ours, x))
    assert got.shape == expected.shape == tuple(ours.compute_output_shape(x.shape))
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_outputs_equal_keras(case):
    native, ours, x = _pair(conv.Conv2D, case)
    expected, got = _np(_call(native, x)), _np(_call(ours, x))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-5)


def _grads(layer, kernel, x, r):
    """(dL/dx, dL/dk, d sum((dL/dx)^2)/dk) of L = sum(tanh(layer(x)) * r), per backend."""
    def loss(k, x_):
        if isinstance(layer, conv.Conv2DTranspose):  # the layer's op on kernel k
            y = layer.transpose_op(x_, k)
        else:
            y = layer.convolution_op(x_, k)
        return keras.ops.sum(keras.ops.tanh(y) * keras.ops.convert_to_tensor(r))

    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        grad_x = jax.grad(loss, 1)
        penalty = jax.grad(lambda k, x_: jnp.sum(grad_x(k, x_) ** 2), 0)
        return jax.jit(lambda k, x_: (grad_x(k, x_), jax.grad(loss, 0)(k, x_),
                                      penalty(k, x_)))(kernel, x)
    if backend == "tensorflow":
        import tensorflow as tf

        kernel, x = tf.constant(kernel), tf.constant(x)
        with tf.GradientTape() as outer:
            outer.watch(kernel)
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([kernel, x])
                value = loss(kernel, x)
            gx, gk = tape.gradient(value, [x, kernel])
            penalty_value = tf.reduce_sum(gx ** 2)
        return gx, gk, outer.gradient(penalty_value, kernel)
    import torch

    kernel = torch.tensor(kernel, requires_grad=True)
    x = torch.tensor(x, requires_grad=True)
    gx, gk = torch.autograd.grad(loss(kernel, x), [x, kernel], create_graph=True)
    (gp,) = torch.autograd.grad((gx ** 2).sum(), kernel)
    return gx, gk, gp


@pytest.mark.parametrize("cls,case", [(conv.Conv2DTranspose, TRANSPOSE_CASES[0]),
                                      (conv.Conv2DTranspose, TRANSPOSE_CASES[3]),
                                      (conv.Conv2D, CONV_CASES[0])])  # the GAN's 4x4 stride 2
def test_gradients_and_gradient_penalty_equal_keras(cls, case):
    native, ours, x = _pair(cls, case, use_bias=False)
    kernel = _np(native.kernel)
    r = np.random.default_rng(2).normal(
        size=native.compute_output_shape(x.shape)).astype("float32")
    native_layer = cls(native.filters, kernel_size=native.kernel_size, strides=native.strides,
                       padding=native.padding, use_bias=False, formulation="native")
    native_layer.build(x.shape)
    expected = [_np(g) for g in _grads(native_layer, kernel, x, r)]
    got = [_np(g) for g in _grads(ours, kernel, x, r)]
    for name, g, e in zip(("d/dx", "d/dkernel", "penalty d/dkernel"), got, expected):
        assert np.abs(e).max() > 1e-3, name  # a real gradient, not zeros
        np.testing.assert_allclose(g, e, atol=1e-5 * np.abs(e).max(), rtol=1e-4, err_msg=name)


def _model(module, formulation="auto"):
    kw = {} if module is keras.layers else {"formulation": formulation}
    inputs = keras.Input((7, 7, 3))
    h = module.Conv2DTranspose(5, 4, strides=2, padding="same", activation="relu", **kw)(inputs)
    outputs = module.Conv2D(2, 3, strides=2, padding="same", **kw)(h)
    return keras.Model(inputs, outputs)


def test_weights_of_keras_layers_load_and_keras_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    reference = _model(keras.layers)
    x = np.random.default_rng(0).normal(size=(2, 7, 7, 3)).astype("float32")
    reference.save_weights(tmp_path / "keras_layers.weights.h5")
    ours = _model(conv, "rearranged")
    # Same variables under the same automatic names (the counters aside).
    same_names = lambda m: [(re.sub(r"_\d+", "", w.path), w.shape) for w in m.weights]  # noqa: E731
    assert same_names(ours) == same_names(reference)
    ours.load_weights(tmp_path / "keras_layers.weights.h5")
    np.testing.assert_allclose(_np(_call(ours, x)), _np(_call(reference, x)), atol=2e-5)

    ours.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [type(layer) for layer in loaded.layers[1:]] == [conv.Conv2DTranspose, conv.Conv2D]
    assert loaded.layers[1].get_config()["formulation"] == "rearranged"
    np.testing.assert_allclose(_np(_call(loaded, x)), _np(_call(reference, x)), atol=2e-5)


def test_auto_formulation_and_bad_formulation():
    on_jax_cpu = keras.backend.backend() == "jax" and all(
        d.startswith("cpu") for d in keras.distribution.list_devices())
    assert conv.use_rearranged_convolutions() == on_jax_cpu
    assert conv.Conv2D(2, 3, strides=2)._rearranged() == on_jax_cpu
    assert not conv.Conv2D(2, 3)._rearranged()  # stride 1: Keras' own convolution
    with pytest.raises(ValueError, match="formulation must be one of"):
        conv.Conv2DTranspose(2, 3, formulation="subpixel")
