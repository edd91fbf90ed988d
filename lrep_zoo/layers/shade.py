"""SHADE (SHAnnon DEcay) and the variance-based entropy regulariser.

Both layers are identities on their input (place them on PRE-activations,
between a linear Dense/Conv and its activation) that add a regularisation
term with `self.add_loss`. Only `keras.ops` is used, so they run on the
TensorFlow, JAX and PyTorch backends, with or without `jit_compile`.
"""

import keras
from keras import ops

_REDUCTIONS = ("mean", "sum")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"`reduction` must be one of {_REDUCTIONS}. "
            f"Received: reduction={reduction!r}"
        )


def _unit_axis(axis, rank):
    if not -rank <= axis < rank or rank < 2:
        raise ValueError(
            f"`axis`={axis} is out of range for an input of rank {rank} "
            "(SHADE needs a batch axis and a unit axis)."
        )
    return axis % rank


def _reduce(values, axes, reduction):
    """Per-element terms to a scalar: samples (mean or sum), units (sum)."""
    if reduction == "mean":
        values = ops.mean(values, axis=axes)
    else:
        values = ops.sum(values, axis=axes)
    return ops.sum(values)


@keras.saving.register_keras_serializable(package="lrep_zoo")
class SHADE(keras.layers.Layer):
    """SHADE conditional-entropy regulariser (Blot, Robert, Thome, Cord 2018).

    An identity layer, placed on the pre-activations `h` of a layer, that adds
    `weight * Omega_SHADE` to the model's losses, with

        Omega = sum_i red_k sum_{z in {0,1}} p(z | h_i^(k)) (h_i^(k) - mu_i^z)^2

    where `p(1 | h) = sigmoid(h)`, `p(0 | h) = 1 - sigmoid(h)`, `i` runs over
    the units and `k` over the samples of the batch.

    `mu^z` (an estimate of `E(H | Z=z)`) and `p^z` (of `p(Z=z)`) are
    per-unit, non-trainable moving averages that follow Algorithm A.1 of the
    paper: initialised to `mu^0 = -1`, `mu^1 = 1`, `p^0 = p^1 = 0.5`, and, once
    per training call (`training=True`, layer trainable), for `z` in {0, 1}:

        p^z  <- m p^z  + (1 - m) mean_k p(z | h^(k))
        mu^z <- m mu^z + (1 - m) mean_k [p(z | h^(k)) / p^z * h^(k)]

    with `m = momentum`, the `mu^z` update using the freshly updated `p^z`
    (line 5 of Algorithm A.1 follows line 4). In `evaluate`/`predict` (and
    any call with `training` falsy) the state is left untouched.

    Choices, stated precisely:

    - Omega uses the moving averages AFTER this step's update: each
      mini-batch first refreshes the estimates of `E(H | Z=z)` (Algorithm A.1
      "for each mini-batch"), then the penalty is taken around them. Outside
      training the stored averages are used (the loss is still added, as
      Keras does for activity regularisers, so `evaluate` reports it).
    - The averages are constants for back-propagation: all statistics are
      computed on `stop_gradient(h)`; the gradient flows into `h` only
      through `p(z | h)` and `(h - mu^z)^2`.
    - `reduction="mean"` (default) averages over the samples, which keeps
      `weight` independent of the batch size and of the spatial size; this
      matches the paper's training objective `E_(x,y)[L_classif + Omega]`.
      `reduction="sum"` sums over the samples, as the formula of
      `Omega_SHADE` is written (it equals `K x` the mean). Units are always
      summed.
    - Units and samples: `axis` (default -1, the last axis) is the unit axis;
      every other axis counts samples. A Dense output `(B, D)` has `D` units
      and `B` samples; a channels-last conv feature map `(B, H, W, C)` has `C`
      units (one per channel, shared by all positions, as in BatchNorm) and
      `B * H * W` samples. Use `axis=1` for channels-first maps.
    - Statistics and the loss are computed in float32 (mixed precision safe);
      the output is the input, unchanged, in its own dtype.
    - If the layer is called several times in one training step (shared
      layer), the state is updated once per call.

    Args:
        weight: Float, the coefficient `beta` of `Omega_SHADE` in the loss.
        momentum: Float, the moving-average coefficient `lambda` (0.8 in the
            paper).
        axis: Integer, the axis of the units (`-1`: last axis).
        reduction: `"mean"` or `"sum"` over the samples (see above).
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.layers import SHADE

    x, y = lrep_zoo.data.load_arrays("mnist", "test")   # uint8 (N, 28, 28, 1), int labels
    x = x[:64].reshape(64, 784).astype("float32") / 255
    y = y[:64]

    inputs = keras.Input((784,))
    h = keras.layers.Dense(256)(inputs)  # linear: h is the pre-activation
    h = SHADE(weight=1e-3)(h)
    h = keras.layers.Activation("relu")(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # the SHADE penalty joins the loss
    ```
    """

    def __init__(
        self,
        weight: float = 1e-3,
        momentum: float = 0.8,
        axis: int = -1,
        reduction: str = "mean",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(
                f"`momentum` must be in [0, 1). Received: momentum={momentum}"
            )
        _check_reduction(reduction)
        self.weight = float(weight)
        self.momentum = float(momentum)
        self.axis = int(axis)
        self.reduction = reduction
        self.supports_masking = True

    def build(self, input_shape):
        axis = _unit_axis(self.axis, len(input_shape))
        units = input_shape[axis]
        if units is None:
            raise ValueError(
                f"The unit axis ({self.axis}) of the input of {self.name} must "
                f"be known. Received: input_shape={input_shape}"
            )
        shape = (units,)

        def state(name, value):
            return self.add_weight(
                shape=shape,
                name=name,
                initializer=keras.initializers.Constant(value),
                trainable=False,
                dtype="float32",
                autocast=False,
            )

        self.moving_p0 = state("moving_p0", 0.5)
        self.moving_p1 = state("moving_p1", 0.5)
        self.moving_mu0 = state("moving_mu0", -1.0)
        self.moving_mu1 = state("moving_mu1", 1.0)

    def _layout(self, rank):
        """Returns (reduction axes, broadcast shape for per-unit vectors)."""
        axis = _unit_axis(self.axis, rank)
        axes = tuple(a for a in range(rank) if a != axis)
        bshape = [1] * rank
        bshape[axis] = -1
        return axes, tuple(bshape)

    def call(self, inputs, training=None):
        h = ops.cast(inputs, "float32")
        rank = len(h.shape)
        axes, bshape = self._layout(rank)
        p1 = ops.sigmoid(h)  # p(Z=1 | h), differentiable; p(Z=0 | h) = 1 - p1

        if training and self.trainable:
            hs = ops.stop_gradient(h)
            s1 = ops.stop_gradient(p1)
            m = self.momentum
            # Batch means of p(z|h) and p(z|h) h, the z=0 ones from the z=1 ones.
            mean_s1 = ops.mean(s1, axis=axes)
            mean_s1h = ops.mean(s1 * hs, axis=axes)
            new_p0 = m * self.moving_p0 + (1.0 - m) * (1.0 - mean_s1)
            new_p1 = m * self.moving_p1 + (1.0 - m) * mean_s1
            new_mu0 = m * self.moving_mu0 + (1.0 - m) * ops.divide_no_nan(
                ops.mean(hs, axis=axes) - mean_s1h, new_p0
            )
            new_mu1 = m * self.moving_mu1 + (1.0 - m) * ops.divide_no_nan(mean_s1h, new_p1)
            self.moving_p0.assign(new_p0)
            self.moving_p1.assign(new_p1)
            self.moving_mu0.assign(new_mu0)
            self.moving_mu1.assign(new_mu1)
            mu0, mu1 = new_mu0, new_mu1
        else:
            mu0 = ops.convert_to_tensor(self.moving_mu0)
            mu1 = ops.convert_to_tensor(self.moving_mu1)

        mu0 = ops.reshape(ops.stop_gradient(mu0), bshape)
        mu1 = ops.reshape(ops.stop_gradient(mu1), bshape)
        # (1 - p1)(h - mu0)^2 + p1 (h - mu1)^2, written with one product by p1.
        d0 = ops.square(h - mu0)
        terms = d0 + p1 * (ops.square(h - mu1) - d0)
        self.add_loss(self.weight * _reduce(terms, axes, self.reduction))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "weight": self.weight,
                "momentum": self.momentum,
                "axis": self.axis,
                "reduction": self.reduction,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="lrep_zoo")
class EntropyVariance(keras.layers.Layer):
    """Entropy minimisation of `H(H)` through its variance bound.

    The "entropy min H(H)" baseline of the SHADE paper: the entropy of a unit
    is bounded by (a function of) its variance, so this identity layer, placed
    on pre-activations, adds

        weight * sum_i red_k (h_i^(k) - mean_k h_i^(k))^2

    i.e. the batch variance of every unit (`reduction="mean"`, default), or the
    sum of squared deviations (`reduction="sum"`), summed over the units.
    Units and samples are counted as in `SHADE` (`axis` is the unit axis; a
    conv map `(B, H, W, C)` has `C` units and `B*H*W` samples). The batch mean
    is part of the graph (gradients flow through it). There is no state; the
    loss is computed on every call, in float32.

    Args:
        weight: Float, coefficient of the penalty.
        axis: Integer, the axis of the units (`-1`: last axis).
        reduction: `"mean"` or `"sum"` over the samples.
        **kwargs: Base layer keyword arguments.

    Example:

    ```python
    import keras
    from lrep_zoo.layers import EntropyVariance

    inputs = keras.Input((784,))
    h = keras.layers.Dense(256)(inputs)
    h = EntropyVariance(weight=1e-3)(h)
    h = keras.layers.Activation("relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(10)(h))
    model(keras.random.normal((8, 784)))
    penalty = model.losses   # [the EntropyVariance penalty of that batch]
    ```
    """

    def __init__(
        self,
        weight: float = 1e-3,
        axis: int = -1,
        reduction: str = "mean",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_reduction(reduction)
        self.weight = float(weight)
        self.axis = int(axis)
        self.reduction = reduction
        self.supports_masking = True

    def build(self, input_shape):
        _unit_axis(self.axis, len(input_shape))

    def call(self, inputs):
        h = ops.cast(inputs, "float32")
        rank = len(h.shape)
        axis = _unit_axis(self.axis, rank)
        axes = tuple(a for a in range(rank) if a != axis)
        centred = h - ops.mean(h, axis=axes, keepdims=True)
        terms = ops.square(centred)
        self.add_loss(self.weight * _reduce(terms, axes, self.reduction))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "weight": self.weight,
                "axis": self.axis,
                "reduction": self.reduction,
            }
        )
        return config
