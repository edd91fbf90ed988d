"""Multi-optimizer training: models that declare phases, one train step for every backend."""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import keras

from lrep_zoo.training import backend_ops
from lrep_zoo.training.data_checks import checked_fit
from lrep_zoo.training.seed_state import SeedStateMixin

TOTAL_LOSS = "loss"


@dataclasses.dataclass
class Phase:
    """One player of a multi-optimizer training step.

    Args:
        name: Phase name; its optimizer is `optimizers[name]` in `compile` and its
            loss is logged as `f"{name}_loss"` (and added to the total `loss`).
        loss_fn: `loss_fn(data, training) -> (loss, logs)`, written with `keras.ops`
            and the model's layers. `logs` maps extra scalar names (declared in
            `logs`) to values.
        variables: The trainable variables this phase's optimizer updates.
        logs: Names of the extra scalars `loss_fn` returns (not `"loss"`: that is
            the total).
        steps: How many updates per train step (e.g. `n_critic`); the same batch
            is used each time (draw fresh noise inside `loss_fn`).
    """

    name: str
    loss_fn: Callable
    variables: Sequence
    logs: Sequence[str] = ()
    steps: int = 1


class MultiPhaseModel(SeedStateMixin, keras.Model):
    """Base class for models trained by several optimizers (GANs, adversarial heads).

    Subclasses build their sub-networks in `__init__` and implement `phases()`.
    `compile(optimizer={"d": ..., "g": ...})` gives each phase its optimizer; they
    are wrapped in one `keras.optimizers.MultiOptimizer` so that every backend's
    `fit` carries their state (the JAX trainer only threads `model.optimizer`).
    `train_step` runs the phases in order with the backend's autodiff
    (`lrep_zoo.training.backend_ops`); model code never imports a backend.
    After `compile`, `phase_optimizers` maps each phase name to its optimizer and
    `phase_trackers` each logged name to its `keras.metrics.Mean`.

    Logs: `loss`, the sum of the phase losses of the step (each phase's last update
    when it runs several), so that `keras.callbacks.TerminateOnNaN` and
    `EarlyStopping(monitor="loss")` work as for any Keras model (its value mixes
    players' objectives: a GAN's is D loss + G loss, to watch, not to minimise);
    `f"{name}_loss"` per phase; each phase's extra logs.

    Mixed precision: under a `"mixed_float16"` policy `compile` wraps each phase
    optimizer in a `keras.optimizers.LossScaleOptimizer` (as `keras.Model.compile`
    does for one optimizer; `auto_scale_loss=False` turns it off), on TensorFlow and
    torch (JAX: a ValueError; use "mixed_bfloat16", which needs no loss scaling).
    Each phase differentiates its optimizer's `scale_loss(loss)` and `apply` unscales
    (a step with non-finite gradients is skipped and the phase's scale halved); the
    logs hold unscaled losses. Each phase's dynamic scale and step counter are saved
    with the model (`.keras`, weight files, `BackupAndRestore`), as Keras saves the
    one `LossScaleOptimizer` of a single-optimizer model.

    Saving: `get_compile_config` records the phase optimizers (and `jit_compile`,
    `steps_per_execution`, ...), so `keras.saving.load_model` returns a compiled
    model whose optimizer state (iterations, moments) is the saved one, and the
    weight files (`.keras`, `.weights.h5`, `keras.callbacks.BackupAndRestore`) also
    hold the seed-generator states (`lrep_zoo.training.seed_state`): training
    resumed from a file draws the same noise as the uninterrupted run.

    Data checks: `fit` checks concrete labels (and a `tf.data.Dataset`'s, per batch)
    against `labels_to_check(y)` before training, and warns when a model with
    BatchNormalization would train on one-sample batches
    (`lrep_zoo.training.data_checks`).

    Example:

    ```python
    import keras
    import numpy as np
    from keras import ops
    from lrep_zoo.losses.gan import discriminator_loss, generator_loss
    from lrep_zoo.training import MultiPhaseModel, Phase

    class TinyGAN(MultiPhaseModel):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.generator = keras.Sequential(
                [keras.Input((2,)), keras.layers.Dense(16, activation="relu"),
                 keras.layers.Dense(2)])
            self.critic = keras.Sequential(
                [keras.Input((2,)), keras.layers.Dense(16, activation="relu"),
                 keras.layers.Dense(1)])
            self.noise = keras.random.SeedGenerator(0)

        def call(self, z):
            return self.generator(z)

        def phases(self):
            return [
                Phase("d", self.d_loss, self.critic.trainable_variables),
                Phase("g", self.g_loss, self.generator.trainable_variables),
            ]

        def fake(self, real, training):
            z = keras.random.normal((ops.shape(real)[0], 2), seed=self.noise)
            return self.generator(z, training=training)

        def d_loss(self, data, training=True):
            real = keras.utils.unpack_x_y_sample_weight(data)[0]
            fake = ops.stop_gradient(self.fake(real, training))
            return discriminator_loss(self.critic(real), self.critic(fake)), {}

        def g_loss(self, data, training=True):
            real = keras.utils.unpack_x_y_sample_weight(data)[0]
            return generator_loss(self.critic(self.fake(real, training))), {}

    angles = np.random.default_rng(0).uniform(0, 2 * np.pi, 128)
    points = np.stack([np.cos(angles), np.sin(angles)], 1).astype("float32")  # a circle

    gan = TinyGAN()
    gan.compile(optimizer={"d": keras.optimizers.Adam(1e-3),
                           "g": keras.optimizers.Adam(1e-3)}, jit_compile="auto")
    history = gan.fit(points, batch_size=64, epochs=1, verbose=0)
    sorted(history.history)   # ['d_loss', 'g_loss', 'loss']
    ```
    """

    def phases(self) -> list[Phase]:
        raise NotImplementedError(f"{type(self).__name__} must implement `phases()`.")

    def compile(self, optimizer=None, **kwargs):
        """Configures training.

        Args:
            optimizer: A dict mapping each phase name to its optimizer, or one
                optimizer (or name) whose config is cloned for every phase.
            **kwargs: Passed to `keras.Model.compile` (e.g. `jit_compile`,
                `steps_per_execution`). `loss` and `metrics` are not used:
                losses come from the phases.
        """
        phases = self.phases()
        names = [p.name for p in phases]
        if len(set(names)) != len(names):
            raise ValueError(f"Phase names must be unique, got {names}.")
        for phase in phases:
            if TOTAL_LOSS in phase.logs:
                raise ValueError(
                    f"Phase {phase.name!r} declares a log named {TOTAL_LOSS!r}: that name "
                    "is the total of the phase losses; rename the log."
                )
        optimizers = _phase_optimizers(optimizer, names)
        auto_scale_loss = kwargs.pop("auto_scale_loss", True)
        if auto_scale_loss and self.dtype_policy.name == "mixed_float16":
            optimizers = _loss_scaled(optimizers)
        owner = {}
        optimizer_map = {}
        for phase in phases:
            if not phase.variables:
                raise ValueError(f"Phase {phase.name!r} has no variables to train.")
            for v in phase.variables:
                if v.path in owner:
                    raise ValueError(
                        f"Variable {v.path} is trained by phases {owner[v.path]!r} "
                        f"and {phase.name!r}; each variable must have one optimizer."
                    )
                owner[v.path] = phase.name
                optimizer_map[v.path] = _unscaled(optimizers[phase.name])
        self.phase_optimizers = optimizers
        super().compile(
            optimizer=keras.optimizers.MultiOptimizer(
                keras.optimizers.OptimizerMap(_unscaled(optimizers[names[0]]), optimizer_map)
            ),
            auto_scale_loss=False,  # the phase optimizers scale their own losses
            **kwargs,
        )
        self._phase_auto_scale_loss = auto_scale_loss
        # Built here (not lazily in fit) so every backend sees the slots up front.
        self.optimizer.build(self.trainable_variables)
        for phase in phases:
            if isinstance(optimizers[phase.name], keras.optimizers.LossScaleOptimizer):
                optimizers[phase.name].build(phase.variables)
        self.phase_trackers = {TOTAL_LOSS: keras.metrics.Mean(name=TOTAL_LOSS)}
        for phase in phases:
            for key in (f"{phase.name}_loss", *phase.logs):
                if key not in self.phase_trackers:
                    self.phase_trackers[key] = keras.metrics.Mean(name=key)
        # Tracked as a list so `metrics` (and JAX's metrics state) include them.
        self.phase_tracker_list = list(self.phase_trackers.values())
        self.built = True

    def get_compile_config(self):
        """Keras' compile config with `optimizer` as `{phase name: optimizer}`."""
        config = super().get_compile_config()
        if not config or not getattr(self, "phase_optimizers", None):
            return None
        # Keras' entry is the MultiOptimizer (one optimizer per variable); `compile`
        # rebuilds it from the phase optimizers.
        config["optimizer"] = {
            name: keras.saving.serialize_keras_object(opt)
            for name, opt in self.phase_optimizers.items()
        }
        config["auto_scale_loss"] = getattr(self, "_phase_auto_scale_loss", True)
        return config

    def compile_from_config(self, config):
        """Compiles with the phase optimizers of `get_compile_config` (on `load_model`).

        The optimizers are built here, so the loaded file's optimizer variables
        (iterations, moments) are restored into them.
        """
        self.compile(**keras.saving.deserialize_keras_object(config))

    def labels_to_check(self, y) -> list:
        """`[(LabelSpec, labels), ...]`: the labels in `y` that `fit` checks.

        None by default; models with class labels override it (see
        `lrep_zoo.training.data_checks`).
        """
        return []

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, after the data checks of `lrep_zoo.training.data_checks`."""
        return checked_fit(self, super().fit, args, kwargs, self.labels_to_check)

    @property
    def metrics(self):
        return list(getattr(self, "phase_tracker_list", []))

    def train_step(self, *args):
        return backend_ops.run_step(self, args, training=True)

    def test_step(self, *args):
        return backend_ops.run_step(self, args, training=False)

    def run_phases(self, data, training: bool = True) -> dict:
        """The step body, shared by every backend. Returns the logs."""
        total = None
        for phase in self.phases():
            optimizer = self.phase_optimizers[phase.name]
            for _ in range(phase.steps if training else 1):
                if training:
                    # Gradients of `optimizer.scale_loss(loss)` (a LossScaleOptimizer's
                    # dynamic scale, `loss_scale_factor`, else the loss), which
                    # `apply` unscales; the logs get the loss itself.
                    (_, logs), grads = backend_ops.value_and_grad(
                        lambda: _scaled_loss(optimizer, *phase.loss_fn(data, training=True)),
                        phase.variables,
                    )
                    loss = logs.pop(_UNSCALED_LOSS)
                    backend_ops.apply_gradients(optimizer, grads, phase.variables)
                else:
                    loss, logs = phase.loss_fn(data, training=False)
            unknown = set(logs) - set(phase.logs)
            if unknown:
                raise ValueError(
                    f"Phase {phase.name!r} returned undeclared logs {sorted(unknown)}; "
                    f"declare them in Phase(logs=...)."
                )
            self.phase_trackers[f"{phase.name}_loss"].update_state(loss)
            total = loss if total is None else total + loss
            for key, value in logs.items():
                self.phase_trackers[key].update_state(value)
        self.phase_trackers[TOTAL_LOSS].update_state(total)
        if training:
            self.optimizer.iterations.assign_add(1)
        return {key: t.result() for key, t in self.phase_trackers.items()}


_UNSCALED_LOSS = "__unscaled_loss__"


def _loss_scaled(optimizers):
    """Each phase optimizer in a `LossScaleOptimizer` (its own dynamic scale).

    Keras' `Model.compile` wraps its one optimizer so under "mixed_float16"; a
    `MultiOptimizer` refuses `LossScaleOptimizer`s inside it, so the wrappers stay
    outside it (`phase_optimizers`) and it maps the variables to their inner ones.
    """
    if keras.backend.backend() == "jax":
        raise ValueError(
            "A MultiPhaseModel under the 'mixed_float16' policy needs loss scaling, "
            "which lrep_zoo supports on the tensorflow and torch backends only (on JAX "
            "the LossScaleOptimizers' scale would not travel in the jitted fit state). "
            "Use keras.mixed_precision.set_global_policy('mixed_bfloat16') on JAX (no "
            "loss scaling needed), or compile(..., auto_scale_loss=False) to train in "
            "float16 without it."
        )
    return {
        n: o if isinstance(o, keras.optimizers.LossScaleOptimizer)
        else keras.optimizers.LossScaleOptimizer(o, name=f"{n}_loss_scale_optimizer")
        for n, o in optimizers.items()
    }


def _unscaled(optimizer):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


def _scaled_loss(optimizer, loss, logs):
    return optimizer.scale_loss(loss), {**logs, _UNSCALED_LOSS: loss}


def _phase_optimizers(optimizer, names):
    if isinstance(optimizer, dict):
        missing = set(names) - set(optimizer)
        extra = set(optimizer) - set(names)
        if missing or extra:
            raise ValueError(
                f"`optimizer` must have one entry per phase {names}; "
                f"missing {sorted(missing)}, unknown {sorted(extra)}."
            )
        return {n: keras.optimizers.get(optimizer[n]) for n in names}
    base = keras.optimizers.get(optimizer or "adam")
    config = base.get_config()
    return {
        n: base.__class__.from_config({**config, "name": f"{n}_{config['name']}"})
        for n in names
    }
