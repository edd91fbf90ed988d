"""SHADE layer, comparison regularisers, add_shade and the binarised check.

The moving averages and the loss are checked against an independent NumPy
implementation of Algorithm A.1 (methods.md, section 1).
"""

import numpy as np
import pytest

import keras
from keras import ops

from lrep_zoo.layers.binarize import Binarize
from lrep_zoo.layers.shade import SHADE
from lrep_zoo.layers.shade import EntropyVariance
from lrep_zoo.models.shade.classifiers import alexnet
from lrep_zoo.models.shade.classifiers import lenet
from lrep_zoo.models.shade.classifiers import mlp
from lrep_zoo.layers.shade_regularizers import REGULARIZERS
from lrep_zoo.layers.shade_regularizers import add_shade
from lrep_zoo.layers.shade_regularizers import binarize_layer

BACKEND = keras.backend.backend()
# torch.compile works but costs about a minute on CPU: keep it out of tests.
JIT = BACKEND != "torch"
# Smoke fits skip XLA on TensorFlow (seconds of compile); the Algorithm A.1
# tests run under jit_compile=True.
SMOKE_JIT = BACKEND == "jax"


# ---------------------------------------------------------------------------
# Independent reference (float64 NumPy).


def _sigmoid(h):
    return 1.0 / (1.0 + np.exp(-h))


def numpy_shade(batches, weight, momentum=0.8, reduction="mean", axis=-1):
    """Algorithm A.1 then Omega with the updated averages, one batch a step.

    Returns (losses per step, dict of final p0, p1, mu0, mu1).
    """
    state = None
    losses = []
    for h in batches:
        h = np.moveaxis(np.asarray(h, "float64"), axis, -1)
        h = h.reshape(-1, h.shape[-1])  # (samples, units)
        if state is None:
            d = h.shape[-1]
            state = {
                "p0": np.full(d, 0.5),
                "p1": np.full(d, 0.5),
                "mu0": np.full(d, -1.0),
                "mu1": np.full(d, 1.0),
            }
        p = {0: 1.0 - _sigmoid(h), 1: _sigmoid(h)}
        for z in (0, 1):
            state[f"p{z}"] = momentum * state[f"p{z}"] + (1 - momentum) * p[z].mean(0)
            state[f"mu{z}"] = momentum * state[f"mu{z}"] + (1 - momentum) * (
                p[z] / state[f"p{z}"] * h
            ).mean(0)
        terms = sum(p[z] * (h - state[f"mu{z}"]) ** 2 for z in (0, 1))
        per_unit = terms.mean(0) if reduction == "mean" else terms.sum(0)
        losses.append(weight * per_unit.sum())
    return np.array(losses), state


def numpy_omega(h, state, weight, reduction="mean"):
    """Omega with fixed (stored) averages, unit axis last."""
    h = np.asarray(h, "float64").reshape(-1, np.shape(h)[-1])
    s = _sigmoid(h)
    terms = (1 - s) * (h - state["mu0"]) ** 2 + s * (h - state["mu1"]) ** 2
    per_unit = terms.mean(0) if reduction == "mean" else terms.sum(0)
    return weight * per_unit.sum()


def layer_state(layer):
    return {
        "p0": ops.convert_to_numpy(layer.moving_p0),
        "p1": ops.convert_to_numpy(layer.moving_p1),
        "mu0": ops.convert_to_numpy(layer.moving_mu0),
        "mu1": ops.convert_to_numpy(layer.moving_mu1),
    }


def assert_state_close(layer, ref, rtol=1e-5, atol=1e-6):
    got = layer_state(layer)
    for key in ("p0", "p1", "mu0", "mu1"):
        np.testing.assert_allclose(
            got[key], ref[key], rtol=rtol, atol=atol, err_msg=key
        )


class StepLosses(keras.callbacks.Callback):
    """Per-step losses, recovered from Keras' running epoch mean."""

    def on_epoch_begin(self, epoch, logs=None):
        self.means = []

    def on_train_batch_end(self, batch, logs=None):
        self.means.append(float(logs["loss"]))

    def steps(self):
        m = np.array(self.means, "float64")
        t = np.arange(1, len(m) + 1)
        return t * m - np.concatenate([[0.0], (t * m)[:-1]])


def _fixed_dense_model(x_dim, units, weight, reduction, seed=0):
    """Input -> fixed Dense (lr 0) -> SHADE -> zero head (mse 0): loss = SHADE."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input((x_dim,))
    dense = keras.layers.Dense(units, name="dense")
    h = dense(inputs)
    h = SHADE(weight, reduction=reduction, name="shade")(h)
    h = keras.layers.Activation("relu")(h)
    outputs = keras.layers.Dense(1, kernel_initializer="zeros", name="head")(h)
    model = keras.Model(inputs, outputs)
    kernel = rng.normal(size=(x_dim, units)).astype("float32")
    bias = rng.normal(size=(units,)).astype("float32")
    dense.set_weights([kernel, bias])
    model.compile(
        keras.optimizers.SGD(learning_rate=0.0), "mse", jit_compile=JIT
    )
    return model, kernel, bias


# ---------------------------------------------------------------------------
# (a) Algorithm A.1 and the loss, through fit (jit_compile on TF and JAX).


@pytest.mark.backends
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_fit_matches_numpy_algorithm(reduction):
    rng = np.random.default_rng(1)
    k, steps, x_dim, units, weight = 8, 4, 3, 5, 0.3
    model, kernel, bias = _fixed_dense_model(x_dim, units, weight, reduction)
    x = rng.normal(size=(k * steps, x_dim)).astype("float32")
    record = StepLosses()
    model.fit(
        x,
        np.zeros((k * steps, 1), "float32"),
        batch_size=k,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[record],
    )
    h = x.astype("float64") @ kernel + bias
    batches = [h[i * k : (i + 1) * k] for i in range(steps)]
    ref_losses, ref_state = numpy_shade(batches, weight, reduction=reduction)
    np.testing.assert_allclose(record.steps(), ref_losses, rtol=1e-5, atol=1e-5)
    assert_state_close(model.get_layer("shade"), ref_state)


# ---------------------------------------------------------------------------
# (b) evaluate / predict / plain calls leave the state alone.


@pytest.mark.backends
def test_state_untouched_outside_training():
    rng = np.random.default_rng(2)
    weight = 0.5
    model, kernel, bias = _fixed_dense_model(4, 6, weight, "mean")
    x = rng.normal(size=(16, 4)).astype("float32")
    y = np.zeros((16, 1), "float32")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    shade = model.get_layer("shade")
    before = layer_state(shade)
    assert not np.allclose(before["mu1"], 1.0)  # fit did update it

    loss = model.evaluate(x, y, batch_size=16, verbose=0)
    model.predict(x, batch_size=8, verbose=0)
    model(x)
    model(x, training=False)
    after = layer_state(shade)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    # evaluate reports Omega around the stored averages (head is zero: mse 0)
    h = x.astype("float64") @ kernel + bias
    np.testing.assert_allclose(loss, numpy_omega(h, before, weight), rtol=1e-5)


# ---------------------------------------------------------------------------
# (c) units and samples of conv feature maps.


@pytest.mark.backends
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_conv_units_are_channels(reduction):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4, 5)).astype("float32") * 2.0
    layer = SHADE(0.7, reduction=reduction)
    out = layer(x, training=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(out), x)
    assert layer.moving_mu0.shape == (5,)
    ref_losses, ref_state = numpy_shade([x], 0.7, reduction=reduction)
    assert_state_close(layer, ref_state)
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(layer.losses[0])), ref_losses[0], rtol=1e-5
    )

    # channels-first: axis=1 gives the same statistics on the transposed map
    layer_cf = SHADE(0.7, axis=1, reduction=reduction)
    layer_cf(np.transpose(x, (0, 3, 1, 2)), training=True)
    assert_state_close(layer_cf, ref_state)
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(layer_cf.losses[0])), ref_losses[0], rtol=1e-5
    )


@pytest.mark.backends
def test_mixed_precision_computes_in_float32():
    x = np.linspace(-3, 3, 24, dtype="float32").reshape(4, 6)
    layer = SHADE(1.0, dtype="mixed_float16")
    out = layer(x, training=True)
    assert ops.convert_to_numpy(out).dtype == np.float16
    assert layer.moving_mu0.dtype == "float32"
    assert ops.convert_to_numpy(layer.losses[0]).dtype == np.float32
    ref_losses, ref_state = numpy_shade([x.astype("float16")], 1.0)
    assert_state_close(layer, ref_state, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# (e) no gradient through the moving averages.


def _grad_of_loss_wrt_input(layer, x):
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def loss_fn(inputs):
        _, _, losses = layer.stateless_call(
            trainable, non_trainable, inputs, training=True, return_losses=True
        )
        return losses[0]

    if BACKEND == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = loss_fn(xt)
        return tape.gradient(loss, xt).numpy()
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.grad(loss_fn)(x))
    if BACKEND == "torch":
        import torch

        xt = torch.tensor(x, requires_grad=True)
        loss_fn(xt).backward()
        return xt.grad.numpy()
    pytest.skip(f"no gradient helper for backend {BACKEND}")


@pytest.mark.backends
def test_gradient_treats_averages_as_constants():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 3)).astype("float32") * 2.0
    weight = 0.9
    layer = SHADE(weight)
    layer.build(x.shape)
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 4

    grad = _grad_of_loss_wrt_input(layer, x)
    # d/dh of weight * sum_i mean_k sum_z p(z|h)(h - mu^z)^2 with mu^z (the
    # updated averages) held constant.
    _, state = numpy_shade([x], weight)
    h = x.astype("float64")
    s = _sigmoid(h)
    d0, d1 = h - state["mu0"], h - state["mu1"]
    expected = (
        weight
        / len(h)
        * (s * (1 - s) * (d1**2 - d0**2) + 2 * (1 - s) * d0 + 2 * s * d1)
    )
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)
    # the layer's own state is untouched by stateless_call
    assert np.allclose(ops.convert_to_numpy(layer.moving_mu1), 1.0)


# ---------------------------------------------------------------------------
# Entropy baseline.


@pytest.mark.backends
def test_entropy_variance_is_batch_variance():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 3, 3, 2)).astype("float32")
    layer = EntropyVariance(0.25)
    layer(x)
    flat = x.reshape(-1, 2).astype("float64")
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(layer.losses[0])),
        0.25 * flat.var(0).sum(),
        rtol=1e-5,
    )
    layer_sum = EntropyVariance(0.25, reduction="sum")
    layer_sum(x)
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(layer_sum.losses[0])),
        0.25 * len(flat) * flat.var(0).sum(),
        rtol=1e-5,
    )


# ---------------------------------------------------------------------------
# (d) serialisation and add_shade.


@pytest.mark.backends
def test_keras_round_trip(tmp_path):
    rng = np.random.default_rng(6)
    model, _, _ = _fixed_dense_model(3, 4, 0.1, "sum")
    x = rng.normal(size=(8, 3)).astype("float32")
    model.fit(x, np.zeros((8, 1), "float32"), batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "shade.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    shade, shade2 = model.get_layer("shade"), loaded.get_layer("shade")
    assert isinstance(shade2, SHADE)
    assert shade2.get_config() == shade.get_config()
    assert shade2.reduction == "sum" and shade2.momentum == 0.8
    for key, value in layer_state(shade).items():
        np.testing.assert_array_equal(layer_state(shade2)[key], value)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0)
    )

    for layer in (EntropyVariance(0.3, axis=1), Binarize(low=-2.0)):
        config = keras.saving.serialize_keras_object(layer)
        restored = keras.saving.deserialize_keras_object(config)
        assert restored.get_config() == layer.get_config()


def _assert_one_epoch_trains(net, x, y):
    net.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=SMOKE_JIT)
    history = net.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def _shade_names(model):
    return [layer.name for layer in model.layers if isinstance(layer, SHADE)]


def _plain_layers():
    return [
        keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(8, activation="tanh", name="fc"),
        keras.layers.Dense(3, activation="softmax", name="out"),
    ]


def _functional():
    inputs = keras.Input((6, 6, 2))
    h = inputs
    for layer in _plain_layers():
        h = layer(h)
    return keras.Model(inputs, h, name="plain")


def _sequential():
    return keras.Sequential([keras.Input((6, 6, 2))] + _plain_layers(), name="plain")


@pytest.mark.backends
@pytest.mark.parametrize(
    "build", [_functional, _sequential], ids=["functional", "sequential"]
)
def test_add_shade_copies_weights_and_inserts(build):
    model = build()
    x = np.random.default_rng(7).normal(size=(5, 6, 6, 2)).astype("float32")
    shaded = add_shade(model, weight=0.01)
    assert type(shaded) is type(model)
    names = [
        l.name
        for l in shaded.layers
        if not isinstance(l, keras.layers.InputLayer)
    ]
    assert names == [
        "conv", "conv_shade", "conv_activation", "flat",
        "fc", "fc_shade", "fc_activation", "out",
    ]
    assert shaded.get_layer("conv").get_config()["activation"] == "linear"
    assert shaded.get_layer("out").get_config()["activation"] == "softmax"
    assert shaded.get_layer("conv_shade").moving_mu0.shape == (4,)
    for layer in model.layers:
        copied = shaded.get_layer(layer.name).get_weights()
        for w, w2 in zip(layer.get_weights(), copied):
            np.testing.assert_array_equal(w, w2)
    np.testing.assert_allclose(
        shaded.predict(x, verbose=0),
        model.predict(x, verbose=0),
        rtol=1e-6,
        atol=1e-6,
    )
    # the original model is untouched and the copy trains with the SHADE terms
    assert not any(isinstance(l, SHADE) for l in model.layers)
    shaded.compile(
        "sgd", "sparse_categorical_crossentropy", jit_compile=SMOKE_JIT
    )
    shaded.fit(x, np.array([0, 1, 2, 0, 1]), epochs=1, verbose=0)
    mu1 = ops.convert_to_numpy(shaded.get_layer("fc_shade").moving_mu1)
    assert not np.allclose(mu1, 1.0)

    only = add_shade(model, weight=0.01, layers=["fc"], momentum=0.5)
    assert _shade_names(only) == ["fc_shade"]
    assert only.get_layer("fc_shade").momentum == 0.5


def test_add_shade_finds_preactivations_of_a_sequential_model_grown_with_add():
    """`Sequential.add` rebuilds the model each time; the layer graph is read from the
    model itself (public config), so an activation layer after a linear Dense is found."""
    model = keras.Sequential(name="grown")
    model.add(keras.Input((5,), name="pixels"))
    model.add(keras.layers.Dense(4, name="fc"))
    model.add(keras.layers.ReLU(name="relu"))
    model.add(keras.layers.Dense(2, name="out"))
    shaded = add_shade(model, weight=0.01)
    assert _shade_names(shaded) == ["fc_shade"]
    assert shaded.get_config()["layers"][0]["config"]["name"] == "pixels"


def test_add_shade_errors():
    model = _functional()
    with pytest.raises(ValueError, match="no top-level layer named \\['nope'\\]"):
        add_shade(model, 0.1, layers=["nope"])

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.fc = keras.layers.Dense(2, activation="relu")

        def call(self, x):
            return self.fc(x)

    sub = Subclassed()
    sub(np.zeros((1, 3), "float32"))
    with pytest.raises(TypeError, match="subclassed model"):
        add_shade(sub, 0.1)
    with pytest.raises(TypeError, match="keras.Model"):
        add_shade("model", 0.1)


# ---------------------------------------------------------------------------
# Binarised-activation check (Table A.1).


def test_binarize_layer_values():
    rng = np.random.default_rng(8)
    inputs = keras.Input((3,))
    h = keras.layers.Dense(4, activation="relu", name="fc")(inputs)
    outputs = keras.layers.Dense(2, name="out")(h)
    model = keras.Model(inputs, outputs)
    x = rng.normal(size=(32, 3)).astype("float32")
    kernel, bias = model.get_layer("fc").get_weights()
    w_out, b_out = model.get_layer("out").get_weights()
    pre = x @ kernel + bias

    unit = binarize_layer(model, "fc", values="unit")
    expected = np.maximum((pre > 0).astype("float32"), 0) @ w_out + b_out
    np.testing.assert_allclose(
        unit.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6
    )

    data = binarize_layer(model, "fc", values="auto", x=x)  # no SHADE: data
    s = _sigmoid(pre.astype("float64"))
    mu0 = ((1 - s) * pre).sum(0) / (1 - s).sum(0)
    mu1 = (s * pre).sum(0) / s.sum(0)
    codes = np.where(pre > 0, mu1, mu0)
    expected = np.maximum(codes, 0) @ w_out + b_out
    np.testing.assert_allclose(
        data.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5
    )

    # a SHADE model: naming the Dense finds its SHADE state
    shaded = add_shade(model, weight=0.1)
    shaded.compile("sgd", "mse", jit_compile=SMOKE_JIT)
    shaded.fit(x, np.zeros((32, 2), "float32"), batch_size=16, epochs=1, verbose=0)
    state = layer_state(shaded.get_layer("fc_shade"))
    for name in ("fc", "fc_shade"):
        binary = binarize_layer(shaded, name)
        bz = [l for l in binary.layers if isinstance(l, Binarize)]
        assert len(bz) == 1 and not any(isinstance(l, SHADE) for l in binary.layers)
        np.testing.assert_array_equal(ops.convert_to_numpy(bz[0].value0), state["mu0"])
        np.testing.assert_array_equal(ops.convert_to_numpy(bz[0].value1), state["mu1"])

    with pytest.raises(ValueError, match="no SHADE state"):
        binarize_layer(model, "fc", values="shade")
    with pytest.raises(ValueError, match="needs `x`"):
        binarize_layer(model, "fc")


# ---------------------------------------------------------------------------
# Builders of the comparison table.


def test_builders_cover_the_table():
    x = np.random.default_rng(9).normal(size=(4, 8, 8, 3)).astype("float32")
    y = np.array([0, 1, 2, 3])
    for regularizer in REGULARIZERS:
        weight = None if regularizer in ("none", "dropout") else 1e-3
        model = mlp((8, 8, 3), 4, hidden=(6, 5), regularizer=regularizer, weight=weight,
                    train_size=100)
        kinds = {type(l).__name__ for l in model.layers}
        assert ("SHADE" in kinds) == regularizer.startswith("shade")
        assert ("Dropout" in kinds) == (regularizer in ("dropout", "shade_dropout"))
        assert ("InformationDropout" in kinds) == (regularizer == "information_dropout")
        assert ("EntropyVariance" in kinds) == (regularizer == "entropy")
        assert bool(model.losses) == (regularizer == "weight_decay")
    # add_shade on a plain builder model finds the Dense -> Activation pairs
    plain = mlp((8, 8, 3), 4, hidden=(6, 5))
    built = mlp((8, 8, 3), 4, hidden=(6, 5), regularizer="shade", weight=1e-3)
    expected = ["fc1_shade", "fc2_shade"]
    assert _shade_names(add_shade(plain, 1e-3)) == expected
    assert _shade_names(built) == expected
    with pytest.raises(ValueError, match="needs `weight`"):
        mlp((3,), 2, regularizer="shade")
    with pytest.raises(ValueError, match="Unknown regularizer"):
        mlp((3,), 2, regularizer="l1")

    net = alexnet(
        (8, 8, 3),
        4,
        filters=(4, 4),
        dense=(6, 5),
        regularizer="shade_dropout",
        weight=1e-3,
    )
    assert _shade_names(net) == [
        "conv1_shade", "conv2_shade", "fc1_shade", "fc2_shade",
    ]
    _assert_one_epoch_trains(net, x, y)


def test_lenet_builder():
    x = np.random.default_rng(10).normal(size=(4, 28, 28, 1)).astype("float32")
    y = np.array([0, 1, 2, 3])
    net = lenet((28, 28, 1), 4, regularizer="shade", weight=1e-3)
    assert _shade_names(net) == ["conv1_shade", "conv2_shade", "fc1_shade"]
    # 28 -> conv 5x5 "valid" 24 -> pool 12 -> conv 8 -> pool 4: 4 * 4 * 16 features
    assert net.get_layer("flatten").output.shape[-1] == 4 * 4 * 16
    assert net.output_shape == (None, 4)
    plain = lenet((28, 28, 1), 4, dense=(6, 5), regularizer="weight_decay", weight=1e-4)
    assert [l.name for l in plain.layers if l.name.startswith("fc")] == [
        "fc1", "fc1_activation", "fc2", "fc2_activation"]
    assert len(plain.losses) == 5  # L2 on 2 convs, 2 hidden Dense, the output
    _assert_one_epoch_trains(net, x, y)
