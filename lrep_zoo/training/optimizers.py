"""Keras optimizers whose updates run on the backends' fused kernels where they have one."""

from __future__ import annotations

import keras

from lrep_zoo.training import fused_ops

__all__ = ["Adam"]


@keras.saving.register_keras_serializable(package="lrep_zoo")
class Adam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, each variable's update one fused kernel on torch.

    The same arguments, config, variables (`momentum`, `velocity`, `velocity_hat`,
    same names and order) and the same updates as Keras' Adam within float
    tolerance, so either optimizer resumes the other's state. On the torch backend
    (eager) each variable's update is `torch._fused_adam_` (one pass, see
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

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        if fused_ops.adam_update(
            variable, gradient, self._momentums[index], self._velocities[index],
            self._velocity_hats[index] if self.amsgrad else None, learning_rate,
            self.beta_1, self.beta_2, self.epsilon, self.iterations,
        ):
            return
        super().update_step(gradient, variable, learning_rate)
