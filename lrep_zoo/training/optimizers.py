"""Keras optimizers whose updates run on the backends' fused kernels where they have one."""

from __future__ import annotations

import keras

from lrep_zoo.training import fused_ops

__all__ = ["Adam"]


@keras.saving.register_keras_serializable(package="lrep_zoo")
class Adam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, its update one fused kernel on torch.

    The same arguments, config, variables (`momentum`, `velocity`, `velocity_hat`,
    same names and order) and the same updates as Keras' Adam within float
    tolerance, so either optimizer resumes the other's state. On the torch backend
    (eager) the update of all the variables is one `torch._fused_adam_` call (see
    `lrep_zoo.training.fused_ops.adam_update`) where Keras' torch Adam runs ten
    `torch._foreach_*` ops that on a CPU loop over the variables one kernel each; on
    TensorFlow, JAX and under `torch.compile` it is Keras' Adam. The HybridNet
    recipes train with it (`benchmarks/peers.py` measures the difference).

    Example:

    ```python
    import keras
    from lrep_zoo.training.optimizers import Adam

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=Adam(1e-3), loss="mse")
    model.fit(keras.random.normal((8, 4)), keras.random.normal((8, 1)), verbose=0)
    ```
    """

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # Keras' hook for a collective update (its own torch optimizers override it the
        # same way); the per-variable `update_step` cannot fuse across variables.
        indices = [self._get_variable_index(v) for v in trainable_variables]
        if fused_ops.adam_update(
            trainable_variables, grads, [self._momentums[i] for i in indices],
            [self._velocities[i] for i in indices],
            [self._velocity_hats[i] for i in indices] if self.amsgrad else None,
            learning_rate, self.beta_1, self.beta_2, self.epsilon, self.iterations,
        ):
            return
        super()._backend_update_step(grads, trainable_variables, learning_rate)
