"""KL divergences for variational models, written with `keras.ops` only."""

from __future__ import annotations

from keras import ops


def gaussian_kl(mean, log_var):
    """Per-sample KL(N(mean, exp(log_var)) || N(0, I)), summed over the latent axis.

    Closed form: `-0.5 * sum(1 + log_var - mean**2 - exp(log_var))`.

    Args:
        mean: `(batch, latent_dim)` posterior means.
        log_var: `(batch, latent_dim)` posterior log-variances.

    Returns:
        `(batch,)` KL values in nats, float32 (half-precision inputs are cast first:
        `exp(log_var)` overflows float16 above `log_var = 11`).

    Example:

    ```python
    from keras import ops
    from lrep_zoo.losses.kl import gaussian_kl

    kl = gaussian_kl(ops.zeros((2, 8)), ops.zeros((2, 8)))  # [0., 0.]
    ```
    """
    mean = ops.cast(mean, "float32")
    log_var = ops.cast(log_var, "float32")
    return -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)


def capacity(step, capacity_max: float, capacity_steps: int):
    """Burgess et al. (2017) capacity `C(step)`: linear from 0 to `capacity_max` over
    `capacity_steps` steps, then constant.

    Example:

    ```python
    from lrep_zoo.losses.kl import capacity

    capacity(500, 25.0, 1000)  # 12.5
    ```
    """
    step = ops.cast(step, "float32")
    if capacity_steps <= 0:
        return ops.convert_to_tensor(float(capacity_max))
    return float(capacity_max) * ops.minimum(step / float(capacity_steps), 1.0)
