"""The multi-optimizer training core, proven on a tiny WGAN-GP over 2-D points."""

import json

import numpy as np
import pytest

import keras
from keras import layers, ops

from lrep_zoo.training import (
    MultiPhaseModel,
    Phase,
    ema_update,
    value_and_input_gradient,
)
from lrep_zoo.training.data_checks import LabelSpec, check_labels, has_batch_normalization

pytestmark = pytest.mark.backends


class TinyWGANGP(MultiPhaseModel):
    def __init__(self, n_critic=2, gp_weight=10.0, **kwargs):
        super().__init__(**kwargs)
        self.n_critic = n_critic
        self.gp_weight = gp_weight
        self.generator = keras.Sequential(
            [keras.Input((2,)), layers.Dense(16, activation="relu"), layers.Dense(2)],
            name="generator",
        )
        self.critic = keras.Sequential(
            [keras.Input((2,)), layers.Dense(16, activation="relu"), layers.Dense(1)],
            name="critic",
        )
        self.seed_generator = keras.random.SeedGenerator(1)

    def call(self, z):
        return self.generator(z)

    def phases(self):
        return [
            Phase("critic", self.critic_loss, self.critic.trainable_variables,
                  logs=("gp",), steps=self.n_critic),
            Phase("generator", self.generator_loss, self.generator.trainable_variables),
        ]

    def critic_loss(self, data, training=True):
        real = keras.utils.unpack_x_y_sample_weight(data)[0]
        n = ops.shape(real)[0]
        z = keras.random.normal((n, 2), seed=self.seed_generator)
        fake = ops.stop_gradient(self.generator(z, training=training))
        eps = keras.random.uniform((n, 1), seed=self.seed_generator)
        mix = eps * real + (1.0 - eps) * fake
        _, grad = value_and_input_gradient(self.critic, mix)
        norm = ops.sqrt(ops.sum(ops.square(grad), axis=1) + 1e-12)
        gp = ops.mean(ops.square(norm - 1.0))
        loss = ops.mean(self.critic(fake)) - ops.mean(self.critic(real)) + self.gp_weight * gp
        return loss, {"gp": gp}

    def generator_loss(self, data, training=True):
        real = keras.utils.unpack_x_y_sample_weight(data)[0]
        z = keras.random.normal((ops.shape(real)[0], 2), seed=self.seed_generator)
        return -ops.mean(self.critic(self.generator(z, training=training))), {}


def _jit(model_uses_input_gradients=True):
    # torch.compile does not support double backward (gradient penalties).
    return not (model_uses_input_gradients and keras.backend.backend() == "torch")


def _points(n=256):
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(angles), np.sin(angles)], 1).astype("float32") * 2.0


def _weights(net):
    return [np.array(w) for w in net.get_weights()]


def test_both_players_train_with_their_own_optimizer():
    model = TinyWGANGP(n_critic=3)
    model.compile(
        optimizer={"critic": keras.optimizers.Adam(1e-2), "generator": keras.optimizers.Adam(1e-2)},
        jit_compile=_jit(),
    )
    g0, c0 = _weights(model.generator), _weights(model.critic)
    history = model.fit(_points(), batch_size=64, epochs=2, verbose=0)
    steps = 2 * 256 // 64
    assert int(model.phase_optimizers["critic"].iterations) == 3 * steps
    assert int(model.phase_optimizers["generator"].iterations) == steps
    assert int(model.optimizer.iterations) == steps
    assert any(not np.allclose(a, b) for a, b in zip(g0, _weights(model.generator)))
    assert any(not np.allclose(a, b) for a, b in zip(c0, _weights(model.critic)))
    for key in ("critic_loss", "generator_loss", "gp"):
        assert np.all(np.isfinite(history.history[key])), key
    logs = model.evaluate(_points(64), batch_size=64, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "critic_loss", "generator_loss", "gp"}
    assert int(model.optimizer.iterations) == steps  # evaluate does not train


def test_a_phase_only_moves_its_own_variables():
    model = TinyWGANGP(n_critic=1)
    model.compile(
        optimizer={"critic": keras.optimizers.Adam(1e-2), "generator": keras.optimizers.SGD(0.0)},
        jit_compile=_jit(),
    )
    g0, c0 = _weights(model.generator), _weights(model.critic)
    model.fit(_points(), batch_size=64, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(g0, _weights(model.generator)))
    assert any(not np.allclose(a, b) for a, b in zip(c0, _weights(model.critic)))


def test_input_gradient_matches_closed_form():
    # For a linear critic f(x) = x.w + b, df/dx = w for every sample.
    critic = keras.Sequential([keras.Input((3,)), layers.Dense(1)])
    w = np.array([[0.5], [-2.0], [1.0]], "float32")
    critic.set_weights([w, np.array([0.3], "float32")])
    x = ops.convert_to_tensor(np.random.default_rng(0).normal(size=(5, 3)).astype("float32"))
    y, grad = value_and_input_gradient(critic, x)
    np.testing.assert_allclose(ops.convert_to_numpy(grad), np.tile(w.T, (5, 1)), rtol=1e-6)
    np.testing.assert_allclose(
        ops.convert_to_numpy(y), ops.convert_to_numpy(x) @ w + 0.3, rtol=1e-5, atol=1e-6
    )


def test_compile_errors_are_clear():
    model = TinyWGANGP()
    with pytest.raises(ValueError, match="missing"):
        model.compile(optimizer={"critic": "adam"})
    model.phases = lambda: [Phase("g", lambda d, training: (0.0, {}),
                                  model.generator.trainable_variables, logs=("loss",))]
    with pytest.raises(ValueError, match="log named 'loss'.*total of the phase losses"):
        model.compile(optimizer="adam")


def _without_penalty(model):
    # The input-gradient penalty dominates these tiny fits on TensorFlow.
    model.critic_loss = _no_penalty(model)
    return model


def test_total_loss_is_the_sum_of_the_phase_losses_and_callbacks_watch_it():
    model = _without_penalty(TinyWGANGP(n_critic=1))
    model.compile(optimizer={"critic": keras.optimizers.SGD(0.0),
                             "generator": keras.optimizers.SGD(0.0)}, jit_compile=_jit())
    # Nothing improves (learning rates 0): EarlyStopping on `loss` stops after `patience`.
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=1e9)
    history = model.fit(_points(128), batch_size=64, epochs=10, verbose=0, callbacks=[stop])
    logs = history.history
    assert len(logs["loss"]) == 2 and stop.stopped_epoch == 1
    np.testing.assert_allclose(logs["loss"],
                               np.add(logs["critic_loss"], logs["generator_loss"]), rtol=1e-5)


def test_terminate_on_nan_stops_at_the_first_nan_batch():
    model = _without_penalty(TinyWGANGP(n_critic=1))
    model.compile(optimizer="adam", jit_compile=_jit())
    points = _points(256)
    points[70] = np.nan  # in the second batch of 64
    history = model.fit(points, batch_size=64, epochs=3, verbose=0, shuffle=False,
                        callbacks=[keras.callbacks.TerminateOnNaN()])
    assert int(model.optimizer.iterations) == 2
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])


def test_compile_config_restores_the_phase_optimizers():
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5)
    model = TinyWGANGP()
    model.compile(optimizer={"critic": keras.optimizers.Adam(schedule, beta_1=0.5),
                             "generator": keras.optimizers.SGD(1e-3, momentum=0.9)},
                  jit_compile=False, steps_per_execution=2)
    config = model.get_compile_config()
    assert set(config["optimizer"]) == {"critic", "generator"}
    other = TinyWGANGP()
    other.compile_from_config(json.loads(json.dumps(config)))
    assert other.compiled and other.jit_compile is False and other.steps_per_execution == 2
    for name, opt in model.phase_optimizers.items():
        assert type(other.phase_optimizers[name]) is type(opt)
        assert other.phase_optimizers[name].get_config() == opt.get_config()
    assert len(other.optimizer.variables) == len(model.optimizer.variables)  # built
    assert TinyWGANGP().get_compile_config() is None  # not compiled: nothing to restore


def test_weight_files_hold_the_seed_generator_states(tmp_path, monkeypatch):
    model = _without_penalty(TinyWGANGP(n_critic=1))
    model.compile(optimizer="adam", jit_compile=_jit())
    model.fit(_points(128), batch_size=64, epochs=1, verbose=0)
    trained = ops.convert_to_numpy(model.seed_generator.state)
    assert trained[1] > 0
    model.save_weights(tmp_path / "model.weights.h5")
    fresh = TinyWGANGP()
    fresh.compile(optimizer="adam", jit_compile=_jit())
    fresh.load_weights(tmp_path / "model.weights.h5")
    np.testing.assert_array_equal(ops.convert_to_numpy(fresh.seed_generator.state), trained)
    # Files without them (older saves, presets) load as before: seeds left as they are.
    monkeypatch.setattr(TinyWGANGP, "save_own_variables", keras.Model.save_own_variables)
    model.save_weights(tmp_path / "old.weights.h5")
    monkeypatch.undo()
    old = TinyWGANGP()
    old.compile(optimizer="adam", jit_compile=_jit())
    initial = ops.convert_to_numpy(old.seed_generator.state)
    old.load_weights(tmp_path / "old.weights.h5")
    np.testing.assert_array_equal(ops.convert_to_numpy(old.seed_generator.state), initial)
    for a, b in zip(old.trainable_weights, model.trainable_weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))


# ---------------------------------------------------------------------- data checks
class LabelledWGANGP(TinyWGANGP):
    """The tiny WGAN-GP, with (ignored) class labels that `fit` checks: 3 classes."""

    def labels_to_check(self, y):
        return [(LabelSpec("y", 3, "3 classes"), y)]


def test_check_labels_names_each_problem():
    spec = LabelSpec("y", 38, "num_classes_y=38")
    check_labels("M", spec, np.array([0, 37]))
    check_labels("M", spec, np.array([[3], [5]], "uint8"))
    for labels, message in [
        (np.array([0, 40]),
         r"M: y label 40 is out of range: y must be in 0\.\.37 \(num_classes_y=38\)"),
        (np.array([-1, 2]), r"y label -1 is negative"),
        (np.array([1.0, 2.0]), r"integer class indices, got dtype float64"),
        (np.eye(38)[[1, 2]], r"shape \(2, 38\); one-hot labels\?"),
        (np.zeros((2, 3, 1), "int32"),
         r"shape \(batch,\) or \(batch, 1\), got shape \(2, 3, 1\)"),
        (np.array([True, False]), r"got dtype bool"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_labels("M", spec, labels)
    check_labels("M", LabelSpec("z", 3, unlabelled=True), [-1, -5, 2])
    with pytest.raises(ValueError, match="z label 3 .* or negative for an unlabelled sample"):
        check_labels("M", LabelSpec("z", 3, unlabelled=True), [-1, 3])


def test_fit_checks_array_labels_before_training():
    model = _without_penalty(LabelledWGANGP(n_critic=1))
    model.compile(optimizer="adam", jit_compile=_jit())
    x = _points(128)
    y = np.arange(128) % 3
    for bad, message in [(np.where(y == 2, 40, y), "y label 40 is out of range"),
                         (y.astype("float32"), "dtype float32"),
                         (np.eye(3)[y], "one-hot")]:
        with pytest.raises(ValueError, match=message):
            model.fit(x, bad, batch_size=64, verbose=0)
        with pytest.raises(ValueError, match=message):
            model.fit(x, y, batch_size=64, verbose=0, validation_data=(x, bad))
    assert int(model.optimizer.iterations) == 0  # nothing trained
    model.fit(x, y, batch_size=64, verbose=0)
    assert int(model.optimizer.iterations) == 2


def test_fit_checks_dataset_labels_per_batch_and_the_model_stays_usable():
    import tensorflow as tf

    model = _without_penalty(LabelledWGANGP(n_critic=1))
    model.compile(optimizer="adam", jit_compile=_jit())
    x = _points(128)
    y = np.arange(128) % 3
    with pytest.raises(ValueError, match="dtype float32"):  # from the element_spec, at once
        model.fit(tf.data.Dataset.from_tensor_slices((x, y.astype("float32"))).batch(32))
    for first_bad in (0, 70):  # in the first batch; in the third (after two steps)
        bad = y.copy()
        bad[first_bad] = 3
        data = tf.data.Dataset.from_tensor_slices((x, bad)).batch(32)
        before = _weights(model.critic)
        with pytest.raises(ValueError, match=r"LabelledWGANGP: y label 3 is out of range: "
                                             r"y must be in 0\.\.2 \(3 classes\)\.$"):
            model.fit(data, verbose=0)
        # The model is usable afterwards (JAX's fit detaches the variables while it runs),
        # with the weights of the last completed step.
        after = _weights(model.critic)
        assert all(np.array_equal(a, b) for a, b in zip(before, after)) == (first_bad == 0)
        assert all(np.all(np.isfinite(w)) for w in after)
    good = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(128, seed=1).batch(32)
    history = model.fit(good, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_batch_normalization_detection():
    assert not has_batch_normalization(TinyWGANGP())
    nested = keras.Sequential([keras.Input((2,)), keras.Sequential([layers.BatchNormalization()])])
    assert has_batch_normalization(nested)


def test_ema_update():
    src = keras.Variable(np.ones((2, 2), "float32"))
    dst = keras.Variable(np.zeros((2, 2), "float32"))
    ema_update([dst], [src], decay=0.9)
    np.testing.assert_allclose(ops.convert_to_numpy(dst), 0.1 * np.ones((2, 2)), rtol=1e-6)


@pytest.mark.slow
def test_jit_compiled_step_without_penalty():
    # Every backend compiles the multi-phase step (torch: torch.compile).
    model = TinyWGANGP(n_critic=1, gp_weight=0.0)
    model.compile(optimizer="adam", jit_compile=True)
    model.critic_loss = _no_penalty(model)
    c0 = _weights(model.critic)
    model.fit(_points(128), batch_size=64, epochs=1, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(c0, _weights(model.critic)))


def _no_penalty(model):
    def critic_loss(data, training=True):
        real = keras.utils.unpack_x_y_sample_weight(data)[0]
        z = keras.random.normal((ops.shape(real)[0], 2), seed=model.seed_generator)
        fake = ops.stop_gradient(model.generator(z, training=training))
        return ops.mean(model.critic(fake)) - ops.mean(model.critic(real)), {"gp": ops.zeros(())}

    return critic_loss


def test_jax_value_and_grad_outside_a_step_is_a_clear_error(backend):
    from lrep_zoo.training import value_and_grad

    v = keras.Variable(1.0)
    if backend != "jax":
        (loss, _), (grad,) = value_and_grad(lambda: (3.0 * v, {}), [v])
        assert float(ops.convert_to_numpy(grad)) == pytest.approx(3.0)
        return
    with pytest.raises(RuntimeError, match="inside a train step"):
        value_and_grad(lambda: (3.0 * v, {}), [v])


def test_the_package_uses_public_keras_apis_only():
    """No `keras.src` import and none of the Keras internals lrep_zoo once used."""
    import re
    from pathlib import Path

    import lrep_zoo

    forbidden = re.compile(
        r"\bkeras\.src\b|\._(outbound_nodes|inbound_nodes|keras_history|flatten_layers"
        r"|run_through_graph|reduction_axes)\b|\bget_stateless_scope\b"
    )
    root = Path(lrep_zoo.__file__).parent
    hits = [
        f"{path.relative_to(root.parent)}:{n}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if forbidden.search(line)
    ]
    assert not hits, "\n".join(hits)
