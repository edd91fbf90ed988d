"""Training core: the one place that knows about TensorFlow, JAX and PyTorch.

- `MultiPhaseModel` / `Phase`: several optimizers (GAN players, adversarial heads)
  in one jit-compiled `fit` step on every backend.
- `value_and_grad`, `value_and_input_gradient`: autodiff, incl. gradients w.r.t.
  inputs for gradient penalties.
- `ema_update`: moving averages of weights (Mean Teacher).
- `optimizers.Adam`: Keras' Adam on the backends' fused update kernels.
"""

from lrep_zoo.training.backend_ops import (
    apply_gradients,
    value_and_grad,
    value_and_input_gradient,
)
from lrep_zoo.training.ema import ema_update
from lrep_zoo.training.optimizers import Adam
from lrep_zoo.training.phases import MultiPhaseModel, Phase
from lrep_zoo.training.schedules import RampedLinearDecay, linear_rampdown, sigmoid_rampup

__all__ = [
    "Adam",
    "MultiPhaseModel",
    "Phase",
    "RampedLinearDecay",
    "apply_gradients",
    "ema_update",
    "linear_rampdown",
    "sigmoid_rampup",
    "value_and_grad",
    "value_and_input_gradient",
]
