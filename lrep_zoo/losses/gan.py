"""GAN objectives and gradient penalties, written with `keras.ops` only.

All functions take discriminator *logits* (critic values for the Wasserstein
objectives) and return scalars to minimise. They compute in float32 whatever the
dtype of their inputs (a `mixed_float16` / `mixed_bfloat16` discriminator gives
half-precision logits and gradients): the softplus terms, means and the squared
norms of the penalties would lose digits, or overflow, in half precision.

| objective          | discriminator / critic loss                  | generator loss          |
|--------------------|----------------------------------------------|-------------------------|
| `"minimax"`        | `-log D(x) - log(1 - D(G(z)))`               | `log(1 - D(G(z)))`      |
| `"non_saturating"` | same                                         | `-log D(G(z))`          |
| `"wgan"`           | `f(G(z)) - f(x)` (weights clipped)           | `-f(G(z))`              |
| `"wgan_gp"`        | `f(G(z)) - f(x) + w * (||grad f(x_hat)|| - 1)^2` | `-f(G(z))`          |
| `"r1"`             | non-saturating `+ gamma / 2 * ||grad D(x)||^2`   | `-log D(G(z))`      |
"""

from __future__ import annotations

from keras import ops

OBJECTIVES = ("minimax", "non_saturating", "wgan", "wgan_gp", "r1")
WASSERSTEIN = ("wgan", "wgan_gp")


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise ValueError(f"Unknown GAN objective {objective!r}; expected one of {OBJECTIVES}.")
    return objective


def discriminator_loss(real_logits, fake_logits, objective: str = "non_saturating"):
    """Loss the discriminator (critic) minimises, without gradient penalty.

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.losses.gan import discriminator_loss

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (N, 28, 28, 1)
    real = x[:8].astype("float32") / 255
    fake = keras.random.uniform((8, 28, 28, 1), seed=0)
    d = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                          keras.layers.Dense(1)])      # logits
    loss = discriminator_loss(d(real), d(fake), "non_saturating")
    ```
    """
    check_objective(objective)
    real_logits, fake_logits = _float32(real_logits), _float32(fake_logits)
    if objective in WASSERSTEIN:
        return ops.mean(fake_logits) - ops.mean(real_logits)
    # -log sigmoid(r) = softplus(-r); -log(1 - sigmoid(f)) = softplus(f)
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


def generator_loss(fake_logits, objective: str = "non_saturating"):
    """Loss the generator minimises.

    `"minimax"` is Goodfellow's original `E[log(1 - D(G(z)))]` (saturates when D
    wins); `"non_saturating"` and `"r1"` use `-E[log D(G(z))]`.

    Example:

    ```python
    import keras
    from lrep_zoo.losses.gan import generator_loss

    g = keras.Sequential([keras.Input((8,)), keras.layers.Dense(784, activation="sigmoid")])
    d = keras.Sequential([keras.Input((784,)), keras.layers.Dense(1)])
    z = keras.random.normal((4, 8), seed=0)
    loss = generator_loss(d(g(z)), "minimax")
    ```
    """
    check_objective(objective)
    fake_logits = _float32(fake_logits)
    if objective in WASSERSTEIN:
        return -ops.mean(fake_logits)
    if objective == "minimax":
        return -ops.mean(ops.softplus(fake_logits))  # log(1 - sigmoid(f)) = -softplus(f)
    return ops.mean(ops.softplus(-fake_logits))


def squared_gradient_norm(gradients):
    """Per-sample `||g||^2` over all non-batch axes, in float32."""
    gradients = _float32(gradients)
    axes = tuple(range(1, len(ops.shape(gradients))))
    return ops.sum(ops.square(gradients), axis=axes)


def wgan_gradient_penalty(gradients, target: float = 1.0):
    """Gulrajani et al. (2017): `mean((||g|| - target)^2)` for the critic's gradients
    `g` at random interpolates of real and fake samples.

    Example:

    ```python
    import keras
    from lrep_zoo.losses.gan import wgan_gradient_penalty
    from lrep_zoo.training import value_and_input_gradient

    critic = keras.Sequential([keras.Input((784,)), keras.layers.Dense(1)])
    real = keras.random.uniform((4, 784), seed=0)
    fake = keras.random.uniform((4, 784), seed=1)
    eps = keras.random.uniform((4, 1), seed=2)
    interpolates = eps * real + (1.0 - eps) * fake
    _, grads = value_and_input_gradient(critic, interpolates)
    gp = wgan_gradient_penalty(grads)
    ```
    """
    norm = ops.sqrt(squared_gradient_norm(gradients) + 1e-12)
    return ops.mean(ops.square(norm - target))


def r1_penalty(gradients):
    """Mescheder et al. (2018) R1: `mean(||grad D(x_real)||^2)` (multiply by gamma / 2)."""
    return ops.mean(squared_gradient_norm(gradients))


def _float32(x):
    return ops.cast(x, "float32")
