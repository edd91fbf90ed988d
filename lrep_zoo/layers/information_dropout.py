"""Information Dropout (Achille & Soatto, PAMI 2018): learned multiplicative noise.

`InformationDropout` multiplies the activations `f(x)` of a layer by log-normal
noise whose scale `alpha(x)` is predicted from the layer's input, and adds the
KL divergence of the noisy code to its prior, an information-bottleneck penalty,
with `add_loss`. Only `keras.ops` and `keras.random` are used, so the layer runs
on the TensorFlow, JAX and PyTorch backends, with or without `jit_compile`.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from lrep_zoo.training.distribute import replica_random

PRIORS = ("log_uniform", "log_normal")
"""`log_uniform`: the paper's prior for ReLU activations; `log_normal`: for softplus."""

_ALPHA_FLOOR = 0.001  # alpha = 0.001 + max_alpha * sigmoid(.), as in the paper's code
_LOG_FLOOR = 1e-4  # log f is taken of max(f, 1e-4) (log-normal prior), as in the paper's code


@keras.saving.register_keras_serializable(package="lrep_zoo")
class InformationDropout(keras.layers.Layer):
    """Information Dropout: multiplicative log-normal noise with a learned scale.

    Called on `f`, the (post-activation) output of a layer, or on `[f, x]`, `f` and
    the layer's input `x`. A linear predictor of the same geometry as the layer
    (a `Dense` for rank-2 `f`; a `Conv2D` with `kernel_size`, `strides`, `padding`
    for rank-4 `f`) maps `x` (default: `f` itself) to

        alpha(x) = 0.001 + max_alpha * sigmoid(predictor(x))          (f's shape)

    and, when `training` is true, the layer returns `z = f * exp(alpha * eps)`,
    `eps ~ N(0, 1)`: `log z ~ N(log f, alpha^2)`, log-normal noise whose
    log-variance `2 log alpha` is predicted from the input. Outside training it
    returns `f` (no noise at test time).

    Penalty (added with `add_loss` on every call, as Keras does for activity
    regularisers, so `evaluate` reports it):

        beta / train_size * mean_batch( sum_units KL )

    the KL of each unit summed over the units (and positions), averaged over the
    batch and divided by the training-set size, as in the paper's code, where the
    loss is `cross-entropy + beta * KL / N`. Per unit:

    - `prior="log_uniform"` (ReLU activations): the KL to the improper
      log-uniform prior is `-log alpha` up to a constant; the constant is chosen
      so that the term is 0 at the largest alpha: `KL = -log(alpha / (0.001 +
      max_alpha))`, so the penalty is `beta / N * E[-log alpha]` (+ const.).
    - `prior="log_normal"` (softplus activations): the prior is `log z ~
      N(mu, sigma^2)` with a learned scalar `mu` (init 0) and `sigma` (init 1),
      and `KL = log(sigma / alpha) + (alpha^2 + (log f - mu)^2) / (2 sigma^2) - 1/2`
      with `log f` taken of `max(f, 1e-4)`.

    The noise comes from the layer's `keras.random.SeedGenerator`, drawn in
    float32 (a seeded layer gives the same draws on every backend and under a
    mixed precision policy); under a `tf.distribute` strategy each replica gets
    its slice of the global batch's draw. `alpha` and the penalty are computed in
    float32. `alpha(x)` itself is `compute_alpha(x)` (for noise maps).

    With `predictor=False` the layer has no predictor of its own: it is called on
    `[f, logits]`, `logits` of f's shape computed by the model (the Information
    Dropout VAE's encoder head, `lrep_zoo.models.VAE(bottleneck="information_dropout")`),
    and `alpha = 0.001 + max_alpha * sigmoid(logits)`.

    Args:
        beta: Float >= 0, the weight of the KL term (the paper uses 3.0, and
            <= 0.5 on cluttered MNIST).
        train_size: Integer >= 1, the number of training samples `N` the KL term
            is divided by.
        max_alpha: Float in (0, 1], the largest noise scale (0.7 in the paper).
        prior: `"log_uniform"` (ReLU) or `"log_normal"` (softplus).
        kernel_size: Kernel size of the `Conv2D` alpha predictor (rank-4 inputs);
            give the layer's own when `x` is its input, so the shapes agree.
        strides: Strides of the `Conv2D` alpha predictor.
        padding: `"same"` or `"valid"`, padding of the `Conv2D` alpha predictor.
        data_format: `"channels_last"` or `"channels_first"` (rank-4 inputs).
        seed: Seed of the noise's `SeedGenerator`.
        predictor: Boolean, `True` (default): alpha is predicted from `x` by the
            layer's own `Dense`/`Conv2D`; `False`: `x` holds the alpha logits.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.layers import InformationDropout

    images, labels = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (N, 28, 28, 1)
    images = images[:64].astype("float32") / 255
    labels = labels[:64]

    x = keras.Input((28, 28, 1))
    f = keras.layers.Conv2D(8, 5, activation="relu")(x)
    z = InformationDropout(beta=3.0, train_size=60000, kernel_size=5,
                           padding="valid", seed=0)([f, x])   # alpha from x, as in the paper
    h = keras.layers.Dense(10)(keras.layers.Flatten()(z))
    model = keras.Model(x, h)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, labels, batch_size=32, epochs=1, verbose=0)   # loss includes the KL term
    ```
    """

    def __init__(
        self,
        beta: float = 3.0,
        train_size: int = 1,
        max_alpha: float = 0.7,
        prior: str = "log_uniform",
        kernel_size: int | Sequence[int] = 3,
        strides: int | Sequence[int] = 1,
        padding: str = "same",
        data_format: str | None = None,
        seed: int | None = None,
        predictor: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not beta >= 0.0:
            raise ValueError(f"`beta` must be >= 0. Received: beta={beta}")
        if int(train_size) != train_size or train_size < 1:
            raise ValueError(
                "`train_size` (the number of training samples the KL term is divided by) "
                f"must be an integer >= 1. Received: train_size={train_size}"
            )
        if not 0.0 < max_alpha <= 1.0:
            raise ValueError(f"`max_alpha` must be in (0, 1]. Received: max_alpha={max_alpha}")
        if prior not in PRIORS:
            raise ValueError(f"`prior` must be one of {PRIORS}. Received: prior={prior!r}")
        if padding not in ("same", "valid"):
            raise ValueError(f"`padding` must be 'same' or 'valid'. Received: padding={padding!r}")
        self.beta = float(beta)
        self.train_size = int(train_size)
        self.max_alpha = float(max_alpha)
        self.prior = prior
        self.kernel_size = kernel_size if isinstance(kernel_size, int) else tuple(kernel_size)
        self.strides = strides if isinstance(strides, int) else tuple(strides)
        self.padding = padding
        data_format = data_format or keras.config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError("`data_format` must be 'channels_last' or 'channels_first'. "
                             f"Received: data_format={data_format!r}")
        self.data_format = data_format
        self.seed = seed
        self.predictor = bool(predictor)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _split(self, shapes_or_tensors):
        if isinstance(shapes_or_tensors, (list, tuple)) and len(shapes_or_tensors) == 2 and (
            isinstance(shapes_or_tensors[0], (list, tuple)) or not isinstance(
                shapes_or_tensors[0], (int, type(None)))
        ):
            return shapes_or_tensors[0], shapes_or_tensors[1]
        return shapes_or_tensors, shapes_or_tensors

    def build(self, input_shape):
        f_shape, x_shape = self._split(input_shape)
        f_shape, x_shape = tuple(f_shape), tuple(x_shape)
        rank = len(f_shape)
        if rank not in (2, 4) or len(x_shape) != rank:
            raise ValueError(
                f"{self.name}: InformationDropout takes rank-2 (Dense) or rank-4 (Conv2D) "
                f"features f, and an input x of the same rank. Received: f shape {f_shape}, "
                f"x shape {x_shape}"
            )
        channel_axis = -1 if rank == 2 or self.data_format == "channels_last" else 1
        units = f_shape[channel_axis]
        if units is None:
            raise ValueError(f"{self.name}: the unit axis of f must be known. Received: {f_shape}")
        if not self.predictor:
            if tuple(x_shape[1:]) != tuple(f_shape[1:]):
                raise ValueError(
                    f"{self.name}: with predictor=False the layer takes [f, alpha_logits] of "
                    f"the same shape. Received: f shape {f_shape}, logits shape {x_shape}")
        elif rank == 2:
            self.alpha_predictor = keras.layers.Dense(units, name="alpha_predictor",
                                                      dtype=self.dtype_policy)
        else:
            self.alpha_predictor = keras.layers.Conv2D(
                units, self.kernel_size, strides=self.strides, padding=self.padding,
                data_format=self.data_format, name="alpha_predictor", dtype=self.dtype_policy)
        if self.predictor:
            self.alpha_predictor.build(x_shape)
            predicted = self.alpha_predictor.compute_output_shape(x_shape)
            if tuple(predicted[1:]) != tuple(f_shape[1:]) and None not in predicted[1:]:
                raise ValueError(
                    f"{self.name}: the alpha predictor maps x {x_shape} to {tuple(predicted)}, "
                    f"not to f's shape {f_shape}: give the kernel_size / strides / padding of "
                    "the layer that made f."
                )
        if self.prior == "log_normal":
            self.prior_mu = self.add_weight(shape=(), name="prior_mu", initializer="zeros",
                                            dtype="float32", autocast=False)
            self.prior_log_sigma = self.add_weight(shape=(), name="prior_log_sigma",
                                                   initializer="zeros", dtype="float32",
                                                   autocast=False)

    def compute_alpha(self, x):
        """`alpha(x) = 0.001 + max_alpha * sigmoid(predictor(x))`, float32, f's shape
        (`sigmoid(x)` itself with `predictor=False`).

        Example:

        ```python
        import numpy as np
        from lrep_zoo.layers import InformationDropout

        layer = InformationDropout(train_size=100)
        layer.build((None, 16))
        layer.compute_alpha(np.ones((2, 16), "float32")).shape  # (2, 16)
        ```
        """
        logits = ops.cast(self.alpha_predictor(x) if self.predictor else x, "float32")
        return _ALPHA_FLOOR + self.max_alpha * ops.sigmoid(logits)

    def kl(self, f, alpha):
        """The per-unit KL divergence of the noisy code to the prior (float32).

        Example:

        ```python
        import keras
        import numpy as np
        from lrep_zoo.layers import InformationDropout

        layer = InformationDropout(train_size=100)
        layer.build((None, 16))
        x = np.ones((2, 16), "float32")
        f = keras.ops.relu(keras.random.normal((2, 16), seed=0))
        kl = layer.kl(f, layer.compute_alpha(x))   # f's shape
        assert tuple(kl.shape) == (2, 16)
        ```
        """
        if self.prior == "log_uniform":
            return -ops.log(alpha / (_ALPHA_FLOOR + self.max_alpha))
        f = ops.cast(f, "float32")
        log_f = ops.log(ops.maximum(f, _LOG_FLOOR))
        mu = ops.convert_to_tensor(self.prior_mu)
        log_sigma = ops.convert_to_tensor(self.prior_log_sigma)
        var = ops.exp(2.0 * log_sigma)
        return (log_sigma - ops.log(alpha) + (ops.square(alpha) + ops.square(log_f - mu))
                / (2.0 * var) - 0.5)

    def call(self, inputs, training=None):
        f, x = self._split(inputs)
        alpha = self.compute_alpha(x)
        kl = self.kl(f, alpha)
        batch = ops.cast(ops.shape(kl)[0], "float32")
        self.add_loss(self.beta / self.train_size * ops.sum(kl) / batch)
        if not training:
            return f
        eps = replica_random(
            lambda s: keras.random.normal(s, dtype="float32", seed=self.seed_generator),
            ops.shape(f))
        return f * ops.cast(ops.exp(alpha * eps), f.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(self._split(input_shape)[0])

    def get_config(self):
        config = super().get_config()
        config.update({
            "beta": self.beta,
            "train_size": self.train_size,
            "max_alpha": self.max_alpha,
            "prior": self.prior,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "seed": self.seed,
            "predictor": self.predictor,
        })
        return config


__all__ = ["PRIORS", "InformationDropout"]
