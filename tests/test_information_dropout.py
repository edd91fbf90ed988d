"""InformationDropout (Achille & Soatto) and cluttered MNIST, on every backend."""

import numpy as np
import pytest
import keras
from keras import ops

import lrep_zoo  # noqa: F401  (registers the layers with Keras)
from lrep_zoo.layers import InformationDropout
from lrep_zoo.models.shade.classifiers import lenet, mlp

pytestmark = pytest.mark.backends

BACKEND = keras.backend.backend()
# torch.compile costs minutes on CPU: the jit cases run on TF and JAX.
JIT = BACKEND != "torch"
# Training smoke fits skip XLA on TensorFlow (seconds of compile); JAX is jitted.
SMOKE_JIT = BACKEND == "jax"


# ---------------------------------------------------------------------------
# Independent reference (float64 NumPy).


def _sigmoid(h):
    return 1.0 / (1.0 + np.exp(-h))


def numpy_penalty(f, x, kernel, bias, beta, train_size, prior, max_alpha=0.7, mu=0.0,
                  sigma=1.0):
    """beta / N * mean_batch sum_units KL, for a Dense alpha predictor."""
    f, x = np.asarray(f, "float64"), np.asarray(x, "float64")
    alpha = 0.001 + max_alpha * _sigmoid(x @ kernel + bias)
    if prior == "log_uniform":
        kl = -np.log(alpha / (0.001 + max_alpha))
    else:
        log_f = np.log(np.maximum(f, 1e-4))
        kl = np.log(sigma / alpha) + (alpha**2 + (log_f - mu) ** 2) / (2 * sigma**2) - 0.5
    return beta / train_size * kl.sum() / len(f), alpha


def _fixed(prior, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, 5)).astype("float32")
    f = np.abs(rng.normal(size=(6, 4))).astype("float32")
    f[0, 0] = 0.0  # a dead ReLU unit: log f is taken of max(f, 1e-4)
    kernel = rng.normal(size=(5, 4)).astype("float32")
    bias = rng.normal(size=(4,)).astype("float32")
    layer = InformationDropout(beta=3.0, train_size=50, prior=prior, seed=1)
    layer.build([(None, 4), (None, 5)])
    layer.alpha_predictor.set_weights([kernel, bias])
    if prior == "log_normal":
        layer.prior_mu.assign(0.3)
        layer.prior_log_sigma.assign(np.log(1.5))
    return layer, f, x, kernel, bias


@pytest.mark.parametrize("prior", ["log_uniform", "log_normal"])
def test_kl_term_against_numpy(prior):
    layer, f, x, kernel, bias = _fixed(prior)
    extra = dict(mu=0.3, sigma=1.5) if prior == "log_normal" else {}
    expected, alpha = numpy_penalty(f, x, kernel, bias, 3.0, 50, prior, **extra)
    np.testing.assert_allclose(ops.convert_to_numpy(layer.compute_alpha(x)), alpha, rtol=1e-5)
    for training in (False, True):  # the penalty does not depend on the noise
        layer([f, x], training=training)
        assert len(layer.losses) == 1
        np.testing.assert_allclose(float(ops.convert_to_numpy(layer.losses[0])), expected,
                                   rtol=1e-5)
    if prior == "log_uniform":
        return
    # The same term through a compiled fit step: frozen layer, zero head, mse 0 -> loss = KL.
    fin, xin = keras.Input((4,)), keras.Input((5,))
    z = layer([fin, xin])
    out = keras.layers.Dense(1, kernel_initializer="zeros", trainable=False)(z)
    model = keras.Model([fin, xin], out)
    model.compile(keras.optimizers.SGD(0.0), "mse", jit_compile=JIT)
    logs = model.fit([f, x], np.zeros((6, 1)), batch_size=6, epochs=1, verbose=0)
    np.testing.assert_allclose(logs.history["loss"][0], expected, rtol=1e-5)


def test_noise_at_training_only_and_seeded():
    layer, f, x, _, _ = _fixed("log_uniform")
    f = np.abs(np.random.default_rng(3).normal(size=(6, 4))).astype("float32") + 0.1
    np.testing.assert_array_equal(ops.convert_to_numpy(layer([f, x])), f)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer([f, x], training=False)), f)
    # Noise: log(z / f) / alpha ~ N(0, 1), a fresh draw per call.
    big_f = np.ones((1000, 4), "float32")
    big_x = np.random.default_rng(4).normal(size=(1000, 5)).astype("float32")
    alpha = ops.convert_to_numpy(layer.compute_alpha(big_x))
    z1 = ops.convert_to_numpy(layer([big_f, big_x], training=True))
    z2 = ops.convert_to_numpy(layer([big_f, big_x], training=True))
    eps = np.log(z1) / alpha
    assert abs(eps.mean()) < 0.06 and abs(eps.std() - 1.0) < 0.06
    assert not np.allclose(z1, z2)
    # Seeded: a copy with the same seed and weights draws the same noise.
    twin = InformationDropout.from_config(layer.get_config())
    twin.build([(None, 4), (None, 5)])
    twin.set_weights(layer.get_weights())
    again = InformationDropout.from_config(layer.get_config())
    again.build([(None, 4), (None, 5)])
    again.set_weights(layer.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(twin([f, x], training=True)),
                               ops.convert_to_numpy(again([f, x], training=True)), rtol=1e-6)


def _conv_net(beta=1.0, prior="log_uniform", activation="relu"):
    x = keras.Input((8, 8, 1))
    f = keras.layers.Conv2D(3, 3, padding="valid", activation=activation, name="conv")(x)
    z = InformationDropout(beta, 40, prior=prior, kernel_size=3, padding="valid", seed=2,
                           name="drop")([f, x])
    out = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(z))
    return keras.Model(x, out)


def _dense_net(beta):
    inputs = keras.Input((16,))
    f = keras.layers.Dense(6, activation="relu")(inputs)
    z = InformationDropout(beta, 40, seed=3, name="drop")([f, inputs])
    model = keras.Model(inputs, keras.layers.Dense(2)(z))
    model.compile(keras.optimizers.SGD(0.5),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=SMOKE_JIT)
    return model, model.get_layer("drop")


def test_gradient_reaches_the_alpha_predictor():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 16)).astype("float32")
    y = (x.mean(axis=1) > 0).astype("int64")
    model, drop = _dense_net(beta=1.0)
    before = [ops.convert_to_numpy(w) for w in drop.alpha_predictor.weights]
    penalty = lambda: float(np.mean(-np.log(ops.convert_to_numpy(  # noqa: E731
        drop.compute_alpha(x)) / 0.701)))
    start = penalty()
    model.fit(x, y, batch_size=20, epochs=3, verbose=0)
    after = [ops.convert_to_numpy(w) for w in drop.alpha_predictor.weights]
    assert all(np.abs(a - b).max() > 1e-4 for a, b in zip(after, before))
    assert penalty() < start  # the KL term pushes alpha up

    # The task loss alone (beta 0) also trains the predictor, through the noise.
    model, drop = _dense_net(beta=0.0)
    before = ops.convert_to_numpy(drop.alpha_predictor.kernel)
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    assert np.abs(ops.convert_to_numpy(drop.alpha_predictor.kernel) - before).max() > 1e-6


def test_serialization_round_trip(tmp_path):
    model = _conv_net(prior="log_normal", activation="softplus")
    model.get_layer("drop").prior_mu.assign(0.25)
    x = np.random.default_rng(6).random((3, 8, 8, 1)).astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    drop = loaded.get_layer("drop")
    assert drop.get_config() == model.get_layer("drop").get_config()
    np.testing.assert_allclose(float(ops.convert_to_numpy(drop.prior_mu)), 0.25)


def test_classifier_plug_in():
    net = mlp((4, 4, 1), 3, hidden=(8, 6), regularizer="information_dropout", weight=3.0,
              train_size=100)
    names = [l.name for l in net.layers if isinstance(l, InformationDropout)]
    assert names == ["fc1_information_dropout", "fc2_information_dropout"]
    assert all(net.get_layer(n).train_size == 100 for n in names)
    with pytest.raises(ValueError, match="needs `train_size`"):
        mlp((4,), 2, regularizer="information_dropout", weight=3.0)
    if BACKEND == "tensorflow":  # conv geometry (JAX builds convs slowly in eager mode)
        net = lenet((28, 28, 1), 4, filters=(2, 2), dense=(8,),
                    regularizer="information_dropout", weight=3.0, train_size=100)
        names = [l.name for l in net.layers if isinstance(l, InformationDropout)]
        assert names == ["conv1_information_dropout", "conv2_information_dropout",
                         "fc1_information_dropout"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="train_size"):
        InformationDropout(train_size=0)
    with pytest.raises(ValueError, match="max_alpha"):
        InformationDropout(train_size=10, max_alpha=1.5)
    with pytest.raises(ValueError, match="prior"):
        InformationDropout(train_size=10, prior="gaussian")
    with pytest.raises(ValueError, match="rank-2"):
        InformationDropout(train_size=10).build((None, 4, 4))
    with pytest.raises(ValueError, match="kernel_size / strides / padding"):
        InformationDropout(train_size=10, kernel_size=3, padding="same").build(
            [(None, 6, 6, 2), (None, 8, 8, 1)])


def test_cluttered_mnist_is_deterministic_and_labelled():
    from lrep_zoo.data.cluttered_mnist import BACKGROUND, CLUTTER, DIGIT, cluttered_mnist

    digits = np.zeros((12, 28, 28), "uint8")
    for i, d in enumerate(digits):  # a distinct bar per digit
        d[4 + i: 8 + i, 6:22] = 200 + i
    labels = np.arange(12) % 10
    x, y, regions = cluttered_mnist(digits, labels, 30, canvas_size=40, num_pieces=3, seed=3)
    x2, y2, r2 = cluttered_mnist(digits, labels, 30, canvas_size=40, num_pieces=3, seed=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(regions, r2)
    assert not np.array_equal(x, cluttered_mnist(digits, labels, 30, canvas_size=40,
                                                 num_pieces=3, seed=4)[0])
    assert x.shape == regions.shape == (30, 40, 40) and x.dtype == np.uint8
    for image, label, region in zip(x, y, regions):
        # The digit's ink is all there (its bar is value 200 + index; clutter on top of
        # it can only raise a pixel: pixel-wise maximum).
        ink = image[region == DIGIT]
        values, counts = np.unique(ink, return_counts=True)
        assert values[counts.argmax()] - 200 in np.flatnonzero(labels == label)
        assert (ink >= values[counts.argmax()]).all()
        assert (region == DIGIT).sum() == 4 * 16
        assert (image[region == BACKGROUND] < 64).all()
        assert (image[region == CLUTTER] >= 64).all()
    assert (regions == CLUTTER).any()
    with pytest.raises(ValueError, match="uint8"):
        cluttered_mnist(digits.astype("float32"), labels)
    with pytest.raises(ValueError, match="canvas_size"):
        cluttered_mnist(digits, labels, canvas_size=28)


def test_region_scores_of_the_recipe():
    from lrep_zoo.data.cluttered_mnist import CLUTTER, DIGIT
    from lrep_zoo.recipes.information_dropout_mnist import region_scores

    regions = np.zeros((2, 4, 4), "uint8")
    regions[:, 0, :2] = DIGIT  # 4 digit pixels
    regions[:, 3, :] = CLUTTER  # 8 clutter pixels
    alpha = np.full((2, 4, 4), 0.5)
    alpha[regions == DIGIT] = 0.1
    alpha[regions == CLUTTER] = 0.3
    scores = region_scores(alpha, regions)
    np.testing.assert_allclose([scores["digit"], scores["clutter"], scores["background"]],
                               [0.1, 0.3, 0.5])
    np.testing.assert_allclose(scores["clutter_share"], 8 * 0.3 / (8 * 0.3 + 4 * 0.1))
    np.testing.assert_allclose(scores["clutter_area_share"], 8 / 12)
    np.testing.assert_allclose(scores["clutter_over_digit"], 3.0)
