"""Binarised pre-activations: the binary-detector check of SHADE (Table A.1)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="lrep_zoo")
class Binarize(keras.layers.Layer):
    """Replaces pre-activations `h` by a value of their binary code `Z`.

    SHADE models each unit as a binary detector with `p(Z=1 | h) =
    sigmoid(h)`; its most likely state is `Z = 1` iff `sigmoid(h) > 0.5`, i.e.
    iff `h > 0`. This layer outputs, per unit `i`,

        value1[i]  if h_i > 0   (Z = 1)
        value0[i]  otherwise    (Z = 0)

    `value0` and `value1` are non-trainable per-unit weights, initialised to
    `low` and `high`. `lrep_zoo.layers.shade_regularizers.binarize_layer` sets them to
    `E(H | Z=z)` (the SHADE moving averages `mu^z`, or the same estimate
    computed on data) so that the layer after it sees the binary code at the
    scale it was trained with; with `values="unit"` they stay 0 and 1.
    Place it where `SHADE` goes, on pre-activations (before the activation).

    Units are counted as in `SHADE`: `axis` is the unit axis (default -1).
    There is no gradient through the output (it is piecewise constant in `h`).

    Args:
        axis: Integer, the axis of the units.
        low: Float, initial value of `value0` (code `Z = 0`).
        high: Float, initial value of `value1` (code `Z = 1`).
        **kwargs: Base layer keyword arguments.

    Example:

    ```python
    import keras
    from lrep_zoo.layers import Binarize

    inputs = keras.Input((784,))
    h = keras.layers.Dense(256)(inputs)
    h = Binarize()(h)  # 0 / 1 codes
    h = keras.layers.Activation("relu")(h)
    outputs = keras.layers.Dense(10)(h)
    model = keras.Model(inputs, outputs)
    codes = Binarize()(keras.ops.convert_to_tensor([[-1.0, 0.0, 2.0]]))  # [[0., 0., 1.]]
    ```
    """

    def __init__(
        self,
        axis: int = -1,
        low: float = 0.0,
        high: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.low = float(low)
        self.high = float(high)

    def build(self, input_shape):
        rank = len(input_shape)
        if rank < 2 or not -rank <= self.axis < rank:
            raise ValueError(
                f"`axis`={self.axis} is out of range for an input of "
                f"rank {rank}."
            )
        units = input_shape[self.axis]
        if units is None:
            raise ValueError(
                f"The unit axis ({self.axis}) of the input of {self.name} must "
                f"be known. Received: input_shape={input_shape}"
            )
        self.value0 = self.add_weight(
            shape=(units,),
            name="value0",
            initializer=keras.initializers.Constant(self.low),
            trainable=False,
            dtype="float32",
            autocast=False,
        )
        self.value1 = self.add_weight(
            shape=(units,),
            name="value1",
            initializer=keras.initializers.Constant(self.high),
            trainable=False,
            dtype="float32",
            autocast=False,
        )

    def call(self, inputs):
        rank = len(inputs.shape)
        bshape = [1] * rank
        bshape[self.axis % rank] = -1
        value0 = ops.reshape(ops.cast(self.value0, inputs.dtype), bshape)
        value1 = ops.reshape(ops.cast(self.value1, inputs.dtype), bshape)
        outputs = ops.where(inputs > 0, value1, value0)
        return ops.stop_gradient(outputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"axis": self.axis, "low": self.low, "high": self.high})
        return config
