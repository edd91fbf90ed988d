"""The only backend-aware code of lrep_zoo: autodiff and the fit-state plumbing.

Everything else is written once with `keras.ops`. Three primitives:

- `value_and_grad(fn, variables)`: `fn() -> (loss, aux)`; returns
  `((loss, aux), grads)` with the gradients of `loss` w.r.t. `variables`.
- `value_and_input_gradient(fn, x)`: returns `(fn(x), d sum(fn(x)) / dx)`, kept
  differentiable w.r.t. the weights (for gradient penalties: WGAN-GP, R1).
- `apply_gradients(optimizer, grads, variables)`: the optimizer update (outside
  torch's autograd graph).
- `run_step(model, args, training)`: adapts `model.run_phases(data, training)` to
  the backend's `train_step`/`test_step` signature (JAX passes and returns the
  whole fit state; the step runs inside a `keras.StatelessScope` over that state).
"""

from __future__ import annotations

import contextvars

import keras

_BACKEND = keras.backend.backend()

# The JAX step's `keras.StatelessScope` and the variables it carries, set by
# `_jax_run_step` for the `value_and_grad` calls of the step body. Kept here
# (not on Keras' scope object): Keras has no public "current stateless scope".
_JAX_STEP = contextvars.ContextVar("lrep_zoo_jax_step", default=None)


# ---------------------------------------------------------------- TensorFlow
def _tf_value_and_grad(fn, variables):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss, aux = fn()
        # Under a tf.distribute strategy the optimizer sums the replicas' gradients
        # (Keras' TF optimizer all-reduces with SUM): differentiate each replica's
        # share of the global-batch mean, as Keras' own `compute_loss` does.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        scaled = loss / replicas if replicas > 1 else loss
    grads = tape.gradient(scaled, list(variables))
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    return (loss, aux), grads


def _tf_value_and_input_gradient(fn, x):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        total = tf.reduce_sum(y)
    return y, tape.gradient(total, x)


# ---------------------------------------------------------------- PyTorch
def _torch_value_and_grad(fn, variables):
    import torch

    loss, aux = fn()
    values = [v.value for v in variables]
    grads = torch.autograd.grad(loss, values, allow_unused=True)
    grads = [torch.zeros_like(v) if g is None else g for g, v in zip(grads, values)]
    return (loss.detach(), {k: _torch_detach(a) for k, a in aux.items()}), grads


def _torch_detach(x):
    return x.detach() if hasattr(x, "detach") else x


def _torch_value_and_input_gradient(fn, x):
    import torch

    if torch.compiler.is_compiling():
        raise RuntimeError(
            "Gradients w.r.t. inputs (gradient penalties) need double backward, which "
            "torch.compile does not support: compile this model with "
            "jit_compile=False on the torch backend."
        )
    # Keep the penalty differentiable when training; evaluate runs under no_grad.
    training = torch.is_grad_enabled()
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        y = fn(x)
        (grad,) = torch.autograd.grad(y.sum(), x, create_graph=training)
    return y, grad


# ---------------------------------------------------------------- JAX
def _jax_value_and_grad(fn, variables):
    import jax

    step = _JAX_STEP.get()
    if step is None:
        raise RuntimeError(
            "lrep_zoo.training.value_and_grad on JAX must run inside a train step "
            "(MultiPhaseModel.train_step opens the StatelessScope it needs)."
        )
    outer, tracked = step
    values = [_current(outer, v) for v in variables]
    var_ids = {id(v) for v in variables}
    others = [v for v in tracked if id(v) not in var_ids]

    def pure(trainable_values):
        mapping = list(zip(variables, trainable_values))
        mapping += [(v, _current(outer, v)) for v in others]
        with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as inner:
            loss, aux = fn()
        updates = [_current(inner, v) for v in others]
        return loss, (aux, updates)

    (loss, (aux, updates)), grads = jax.value_and_grad(pure, has_aux=True)(values)
    for v, value in zip(others, updates):
        outer.add_update((v, value))
    return (loss, aux), grads


def _jax_value_and_input_gradient(fn, x):
    import jax
    import jax.numpy as jnp

    def total(x_):
        y_ = fn(x_)
        return jnp.sum(y_), y_

    grad, y = jax.grad(total, has_aux=True)(x)
    return y, grad


def _current(scope, variable):
    value = scope.get_current_value(variable)
    return variable.value if value is None else value


def _jax_run_step(model, args, training):
    if training:
        state, data = args
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        groups = [
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
            model.metrics_variables,
        ]
    else:
        state, data = args
        trainable, non_trainable, metrics_vars = state
        groups = [
            model.trainable_variables,
            model.non_trainable_variables,
            model.metrics_variables,
        ]
    mapping = [(v, value) for vs, values in zip(groups, state) for v, value in zip(vs, values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        token = _JAX_STEP.set((scope, [v for vs in groups for v in vs]))
        try:
            logs = model.run_phases(data, training=training)
        finally:
            _JAX_STEP.reset(token)
    new_state = tuple([_current(scope, v) for v in vs] for vs in groups)
    return logs, new_state


def _run_step(model, args, training):
    (data,) = args
    return model.run_phases(data, training=training)


def _apply_gradients(optimizer, grads, variables):
    optimizer.apply(grads, variables)


def _torch_apply_gradients(optimizer, grads, variables):
    import torch

    with torch.no_grad():
        optimizer.apply(grads, variables)


apply_gradients = _apply_gradients
if _BACKEND == "tensorflow":
    value_and_grad = _tf_value_and_grad
    value_and_input_gradient = _tf_value_and_input_gradient
    run_step = _run_step
elif _BACKEND == "jax":
    value_and_grad = _jax_value_and_grad
    value_and_input_gradient = _jax_value_and_input_gradient
    run_step = _jax_run_step
elif _BACKEND == "torch":
    value_and_grad = _torch_value_and_grad
    value_and_input_gradient = _torch_value_and_input_gradient
    run_step = _run_step
    apply_gradients = _torch_apply_gradients
else:
    raise ImportError(
        f"lrep_zoo supports the tensorflow, jax and torch backends; "
        f"KERAS_BACKEND is {_BACKEND!r}."
    )
