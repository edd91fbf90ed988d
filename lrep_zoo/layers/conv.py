"""Strided 2-D convolutions that avoid XLA:CPU's slow input-dilated convolution.

XLA:CPU runs a convolution with `lhs_dilation` (the forward pass of a strided
transposed convolution, and the input gradient of a strided convolution) on a
generic loop instead of its fast convolution kernels
(https://github.com/jax-ml/jax/issues/23783,
https://github.com/jax-ml/jax/issues/31662,
https://github.com/openxla/xla/issues/34273). On the JAX backend on CPU a single
stride-2 `keras.layers.Conv2DTranspose` forward + backward takes seconds where
TensorFlow takes milliseconds, and gradient penalties (a double backward through
strided convolutions) are slowed the same way.

The two layers below compute exactly the same function with only stride-1
convolutions, whose forward and backward passes (of any order) never dilate
their input:

- `Conv2DTranspose` (sub-pixel form): a stride-`s` transposed convolution is a
  stride-1 convolution with `s * s * filters` output channels (the kernel's taps
  rearranged per output phase) followed by a depth-to-space interleave.
- `Conv2D` (space-to-depth form): a stride-`s` convolution is a space-to-depth
  rearrangement of the padded input followed by a stride-1 convolution with the
  kernel's taps rearranged the same way.

`Conv2DTranspose` also runs a stride-1 `"same"` transposed convolution (odd kernels,
ConvLarge's decoder) as the stride-1 convolution with the flipped kernel on torch,
where Keras computes the full-size output and crops it.

Both are subclasses of the Keras layers of the same name with the same weights
(`kernel` and `bias`, same shapes), the same automatic layer names and the same
outputs, so weight files and presets saved with Keras' layers load into them.
`formulation="auto"` uses the rearranged form where it was measured to be faster
(the JAX backend on CPU; `benchmarks/jit_policy.py --conv`) and Keras' own
convolution elsewhere; `"rearranged"` and `"native"` force either.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import ops

__all__ = ["Conv2D", "Conv2DTranspose", "use_rearranged_convolutions"]

_FORMULATIONS = ("auto", "rearranged", "native")


@functools.lru_cache(maxsize=None)
def _rearranged_by_default(backend: str) -> bool:
    if backend != "jax":
        return False
    return all(d.lower().startswith("cpu") for d in keras.distribution.list_devices())


def use_rearranged_convolutions() -> bool:
    """Whether `formulation="auto"` uses the stride-1 (rearranged) form here.

    True on the JAX backend when every device is a CPU (XLA:CPU's slow
    input-dilated convolution), False elsewhere.

    Example:

    ```python
    from lrep_zoo.layers import conv

    conv.use_rearranged_convolutions()  # True under KERAS_BACKEND=jax on a CPU
    ```
    """
    return _rearranged_by_default(keras.backend.backend())


def _torch_ordered_kernel(kernel):
    """On torch: `kernel`'s values as a `(kh, kw, in, out)` view of `(out, in, kh, kw)`
    memory, the order of torch's convolution kernels.

    Keras' torch convolutions permute the kernel to `(out, in, kh, kw)`, a strided view
    that torch copies to contiguous memory in the forward pass and again in the
    backward pass; with this view Keras' permutation is already contiguous, so the
    kernel is copied once per call (the reshape below) instead of twice. The values,
    and the gradient reaching `kernel`, are unchanged. Elsewhere `kernel` itself.
    """
    if keras.backend.backend() != "torch":
        return kernel
    torch_order = ops.transpose(kernel, (3, 2, 0, 1))
    torch_order = ops.reshape(ops.reshape(torch_order, (-1,)), torch_order.shape)  # one copy
    return ops.transpose(torch_order, (2, 3, 1, 0))


def _check_formulation(formulation: str, name: str) -> None:
    if formulation not in _FORMULATIONS:
        raise ValueError(
            f"{name}: formulation must be one of {_FORMULATIONS}, got {formulation!r}."
        )


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras' (and TF's) 'same' padding of a strided convolution: (left, right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _transpose_padding(kernel: int, stride: int, padding: str,
                       output_padding: int | None) -> tuple[int, int]:
    """(left, right) padding of the zero-dilated input in Keras' conv_transpose."""
    if padding == "valid":
        extra = max(kernel, stride) - kernel if output_padding is None else output_padding
        return kernel - 1, kernel - 1 + extra
    if output_padding is None:
        total = stride + kernel - 2
    else:
        total = kernel + kernel % 2 - 2 + output_padding
    left = min(total // 2 + total % 2, kernel - 1)
    return left, total - left


def _pad_or_crop(x, axis: int, before: int, after: int):
    """Pads (positive) or crops (negative) spatial axis `axis` of an NHWC tensor."""
    if before < 0 or after < 0:
        size = x.shape[axis]
        start, stop = max(-before, 0), size - max(-after, 0)
        index = [slice(None)] * 4
        index[axis] = slice(start, stop)
        x = x[tuple(index)]
        before, after = max(before, 0), max(after, 0)
    if before or after:
        widths = [(0, 0)] * 4
        widths[axis] = (before, after)
        x = ops.pad(x, widths)
    return x


def _conv_valid(x, w):
    """Stride-1 'valid' convolution as shifted slices and one matmul (im2col)."""
    mh, mw = w.shape[0], w.shape[1]
    if mh == 1 and mw == 1:
        return ops.matmul(x, w[0, 0])
    oh, ow = x.shape[1] - mh + 1, x.shape[2] - mw + 1
    patches = ops.concatenate(
        [x[:, i:i + oh, j:j + ow, :] for i in range(mh) for j in range(mw)], axis=-1)
    return ops.matmul(patches, ops.reshape(w, (mh * mw * w.shape[2], w.shape[3])))


def _subpixel_taps(kernel: int, stride: int, left: int) -> tuple[np.ndarray, int]:
    """Tap of the flipped kernel for each (window offset, output phase); `kernel` = none.

    Output `s * i + a` of the transposed convolution is the sum over taps `t` with
    `(a + t - left) % s == 0` of `x[i + (a + t - left) // s] * k[t]`; offsets run
    from `d_min`, returned with the (M, s) tap table.
    """
    pairs = [(a, t, (a + t - left) // stride) for a in range(stride) for t in range(kernel)
             if (a + t - left) % stride == 0]
    d_min = min(d for _, _, d in pairs)
    d_max = max(d for _, _, d in pairs)
    table = np.full((d_max - d_min + 1, stride), kernel, dtype="int32")
    for a, t, d in pairs:
        table[d - d_min, a] = t
    return table, d_min


@keras.saving.register_keras_serializable(package="lrep_zoo")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` with a sub-pixel form for strided kernels.

    Same arguments, weights and outputs as Keras' layer, plus `formulation`:
    `"auto"` (default: the sub-pixel form on the JAX backend on CPU, Keras' own
    elsewhere), `"rearranged"` (always the sub-pixel form when `strides > 1`) or
    `"native"` (always Keras' `ops.conv_transpose`). The sub-pixel form applies to
    `channels_last`, `dilation_rate=1`; other settings use Keras' convolution.
    A stride-1 `"same"` layer with odd kernel sizes runs as the convolution with the
    flipped kernel on torch (`"auto"`) and with `"rearranged"`: the same function,
    without the full-size output that Keras' torch `conv_transpose` computes and crops.

    Example:

    ```python
    import keras
    from lrep_zoo.layers import Conv2DTranspose

    up = Conv2DTranspose(32, 4, strides=2, padding="same")
    y = up(keras.random.normal((2, 7, 7, 64)))  # (2, 14, 14, 32), like keras.layers.Conv2DTranspose
    ```
    """

    def __init__(self, *args, formulation: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        _check_formulation(formulation, "Conv2DTranspose")
        self.formulation = formulation

    def _rearranged(self) -> bool:
        if self.formulation == "native" or max(self.strides) == 1:
            return False
        if self.data_format != "channels_last" or max(self.dilation_rate) != 1:
            return False
        return self.formulation == "rearranged" or use_rearranged_convolutions()

    def _as_convolution(self) -> bool:
        """Stride 1, 'same', odd kernels: the convolution with the flipped kernel.

        Keras' torch `conv_transpose` computes the full ('valid') output and crops it
        to 'same' (for a 3x3 kernel on 32x32 inputs, 34x34 outputs and their
        gradients); torch's convolution pads symmetrically instead. Used on torch
        (`"auto"`) and with `"rearranged"`.
        """
        if self.formulation == "native" or max(self.strides) != 1 or self.padding != "same":
            return False
        if max(self.dilation_rate) != 1 or any(k % 2 == 0 for k in self.kernel_size):
            return False
        return self.formulation == "rearranged" or keras.backend.backend() == "torch"

    def transpose_op(self, inputs, kernel):
        """The layer's transposed convolution of `inputs` with `kernel` (no bias)."""
        if self._rearranged():
            return self._subpixel(inputs, kernel)
        if self._as_convolution():
            flipped = ops.transpose(ops.flip(kernel, axis=(0, 1)), (0, 1, 3, 2))
            return ops.conv(inputs, _torch_ordered_kernel(flipped), strides=1, padding="same",
                            data_format=self.data_format)
        return ops.conv_transpose(
            inputs, _torch_ordered_kernel(kernel), strides=list(self.strides),
            padding=self.padding, output_padding=self.output_padding,
            dilation_rate=self.dilation_rate, data_format=self.data_format,
        )

    def call(self, inputs):
        outputs = self.transpose_op(inputs, self.kernel)
        if self.use_bias:
            shape = ((1, 1, 1, self.filters) if self.data_format == "channels_last"
                     else (1, self.filters, 1, 1))
            outputs = ops.add(outputs, ops.reshape(self.bias, shape))
        return outputs if self.activation is None else self.activation(outputs)

    def _subpixel(self, inputs, kernel):
        in_h, in_w = inputs.shape[1], inputs.shape[2]
        if in_h is None or in_w is None:
            raise ValueError(
                "Conv2DTranspose(formulation='rearranged') needs static spatial input "
                f"dimensions, got input shape {inputs.shape}."
            )
        output_padding = self.output_padding or (None, None)
        kh, kw = self.kernel_size
        sh, sw = self.strides
        tables, x = [], inputs
        out_shape = []
        for axis, (size, k, s, op) in enumerate(
                zip((in_h, in_w), (kh, kw), (sh, sw), output_padding)):
            left, right = _transpose_padding(k, s, self.padding, op)
            out = (size - 1) * s + 1 + left + right - k + 1
            table, d_min = _subpixel_taps(k, s, left)
            phases_out = -(-out // s)
            m = table.shape[0]
            x = _pad_or_crop(x, axis + 1, -d_min, phases_out + m - 1 - (size - d_min))
            tables.append(table)
            out_shape.append((out, phases_out, m))
        # Correlation kernel of the transposed convolution: flipped, (kh, kw, in, out).
        flipped = ops.transpose(ops.flip(kernel, axis=(0, 1)), (0, 1, 3, 2))
        flipped = ops.pad(flipped, [(0, 1), (0, 1), (0, 0), (0, 0)])  # tap k = zero
        (mh, _), (mw, _) = tables[0].shape, tables[1].shape
        w = ops.take(flipped, tables[0].reshape(-1), axis=0)  # (mh*sh, kw+1, in, out)
        w = ops.take(w, tables[1].reshape(-1), axis=1)  # (mh*sh, mw*sw, in, out)
        c_in, c_out = kernel.shape[3], kernel.shape[2]
        w = ops.reshape(w, (mh, sh, mw, sw, c_in, c_out))
        w = ops.reshape(ops.transpose(w, (0, 2, 4, 1, 3, 5)), (mh, mw, c_in, sh * sw * c_out))
        z = _conv_valid(x, w)  # (b, ph, pw, sh*sw*out)
        (out_h, ph, _), (out_w, pw, _) = out_shape
        z = ops.reshape(z, (-1, ph, pw, sh, sw, c_out))
        z = ops.reshape(ops.transpose(z, (0, 1, 3, 2, 4, 5)), (-1, ph * sh, pw * sw, c_out))
        return z[:, :out_h, :out_w, :]

    def get_config(self):
        return {**super().get_config(), "formulation": self.formulation}


@keras.saving.register_keras_serializable(package="lrep_zoo")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` with a space-to-depth form for strided kernels.

    Same arguments, weights and outputs as Keras' layer, plus `formulation`:
    `"auto"` (default: the space-to-depth form on the JAX backend on CPU, where
    the input gradient of a strided convolution, used by gradient penalties and by
    any layer below it, is slow; Keras' own elsewhere), `"rearranged"` or
    `"native"`. The rearranged form applies to `channels_last`, `dilation_rate=1`,
    `groups=1`; other settings use Keras' convolution.

    Example:

    ```python
    import keras
    from lrep_zoo.layers import Conv2D

    down = Conv2D(32, 4, strides=2, padding="same")
    y = down(keras.random.normal((2, 28, 28, 1)))  # (2, 14, 14, 32), like keras.layers.Conv2D
    ```
    """

    def __init__(self, *args, formulation: str = "auto", **kwargs):
        super().__init__(*args, **kwargs)
        _check_formulation(formulation, "Conv2D")
        self.formulation = formulation

    def _rearranged(self) -> bool:
        if self.formulation == "native" or max(self.strides) == 1:
            return False
        if (self.data_format != "channels_last" or max(self.dilation_rate) != 1
                or self.groups != 1):
            return False
        return self.formulation == "rearranged" or use_rearranged_convolutions()

    def convolution_op(self, inputs, kernel):
        if not self._rearranged():
            return super().convolution_op(inputs, _torch_ordered_kernel(kernel))
        in_h, in_w = inputs.shape[1], inputs.shape[2]
        if in_h is None or in_w is None:
            raise ValueError(
                "Conv2D(formulation='rearranged') needs static spatial input dimensions, "
                f"got input shape {inputs.shape}."
            )
        kh, kw = self.kernel_size
        sh, sw = self.strides
        x, q = inputs, []
        for axis, (size, k, s) in enumerate(zip((in_h, in_w), (kh, kw), (sh, sw))):
            left, right = _same_padding(size, k, s) if self.padding == "same" else (0, 0)
            out = (size + left + right - k) // s + 1
            taps = -(-k // s)
            # s * (out + taps - 1) padded positions feed `out` outputs.
            x = _pad_or_crop(x, axis + 1, left, s * (out + taps - 1) - size - left)
            q.append((out + taps - 1, taps))
        (jh, qh), (jw, qw) = q
        c_in, c_out = kernel.shape[2], kernel.shape[3]
        x = ops.reshape(x, (-1, jh, sh, jw, sw, c_in))
        x = ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, jh, jw, sh * sw * c_in))
        w = ops.pad(kernel, [(0, qh * sh - kh), (0, qw * sw - kw), (0, 0), (0, 0)])
        w = ops.reshape(w, (qh, sh, qw, sw, c_in, c_out))
        w = ops.reshape(ops.transpose(w, (0, 2, 1, 3, 4, 5)), (qh, qw, sh * sw * c_in, c_out))
        return _conv_valid(x, w)

    def get_config(self):
        return {**super().get_config(), "formulation": self.formulation}
