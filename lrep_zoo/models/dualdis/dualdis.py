"""DualDis: dual-branch disentangling with adversarial learning (Robert, Thome, Cord 2019).

An image x is encoded into two codes, h_y (the class / identity domain) and h_z
(the attribute domain, e.g. lighting); a decoder rebuilds x from both. Linear heads
W_y(h_y) -> y and W_z(h_z) -> z make each code carry (linearly) its own information;
adversarial heads C_y(h_z) -> y and C_z(h_y) -> z, trained on their own optimizer,
measure the information that leaked into the wrong code, and the encoder is trained
to fool them.

    L_main = l_r MSE(x, x_hat) + l_y CE(y, W_y h_y) + l_z CE(z, W_z h_z)
             + l_adv_y A_y(y, C_y(h_z)) + l_adv_z A_z(z, C_z(h_y)) + l_o L_orth
    L_disc = CE(y, C_y(sg h_z)) + CE(z, C_z(sg h_y))          (C_y, C_z only)

z comes in two kinds (`attributes=`):

- `"categorical"` (default): ONE categorical label (Yale-B's 14 lighting classes), so
  W_z and C_z are softmax classifiers, the z terms cross-entropies;
- `"binary"`: `num_attributes` independent binary attributes (the paper's main form,
  e.g. CelebA's 40), labels `(N, num_attributes)` of 0 / 1: W_z and C_z are sigmoid
  classifiers, the z terms `BCE(z, W_z h_z)`, `BCE(z, C_z(sg h_y))` (L_disc) and, for
  the encoder, the paper's `BCE(1 - z, C_z(h_y))` (`complement`, the default),
  averaged over the labelled (row, attribute) entries.

One helper per term serves both kinds: labels of the logits' rank (binary) get the
sigmoid form, class indices (one rank less) the softmax form. The adversarial
terms A are chosen by name:

| name         | A(t, p) (p = softmax of the adversary, t the true class)          |
|--------------|-------------------------------------------------------------------|
| `neg_ce`     | `log p_t` = -CE: the paper's y term (unbounded below)             |
| `complement` | `-log(1 - p_t)`: the categorical analogue of the paper's          |
|              | BCE(1 - z, C_z(h_y)) term, restricted to the true class (bounded) |
| `uniform`    | `CE(uniform, p)`: push the adversary to maximum entropy           |

Defaults: `neg_ce` for y (paper) and `complement` for z. `complement` is the exact
softmax counterpart of the paper's z term (BCE against the flipped label, on the
true class), and unlike `neg_ce` its gradient vanishes once the adversary is fooled,
so the 14-class game stays stable (for a binary attribute it is exactly the paper's
`BCE(1 - z, p)`; `neg_ce` is `-BCE(z, p)`, `uniform` `BCE(1/2, p)`); `uniform` only drives the adversary to the prior,
which caps the paper-protocol z error at the majority-class error (~70 %). Measured on
Yale-B (applications/dualdis_yaleb/MODEL_CARD.md, both models trained alike), `complement`
raises the h_y -> z error from 71.3 (multi-task baseline) to 74.2 under the paper's protocol
and from 40.0 to 47.0 under the strict one; `neg_ce` and `uniform` for z were not trained there.

L_orth = sum over i < j of |<w_i, w_j>| for the normalised class directions of W_z.

Labels are `(y, z)` or `{"y": y, "z": z}`. Missing attribute labels (semi-supervised
variant) are left out of the z terms: categorical z < 0 (the whole row), binary z
entries that are negative (-1) or NaN (that attribute of that row; the other
attributes of the row still count). `fit` checks them
before training (integer class indices, y in 0..num_classes_y - 1, z below
num_classes_z; per batch for a `tf.data.Dataset`; binary z: shape `(N, num_attributes)`,
entries 0, 1, negative or NaN, checked for arrays): a `ValueError` names the problem.

Input contract (`lrep_zoo.inputs`): images as the dataset gives them, uint8 or float
0..255, `(N, *image_shape)` or `(N, H, W)` for grayscale; rescaled to [0, 1] and
resized to `input_size` inside (any power of two from 16: the networks are derived
from it and from the channel count, `networks.dualdis_networks`; 64 is the paper's);
images out (`decode`, `edit`, ...) are float32 in [0, 1] at `input_size`. The eager
entry points (`predict`, `fit`, `encode`, `classify`, `reconstruct`, `edit`, `swap`) raise a `ValueError` for a wrong shape or
images already scaled to [0, 1].

Baselines of the paper by config (`DualDis.variant`):
- `"dualdis"`: the full model.
- `"multitask"`: multi-task classification + reconstruction, no adversarial terms
  (C_y and C_z are still trained, on frozen codes, to measure disentangling).
- `"adv_y"`: adversary on y only (Hadad et al. 2018); pass
  `classification_weight_z=0.0` as well for the paper's y-labels-only row.

Example:

```python
import keras
from lrep_zoo.data import yaleb
from lrep_zoo.models import DualDis

train = yaleb.load_yaleb_npz(resolution="48x42")["train"]  # reads $LREP_ZOO_DATA_DIR
images, identity, lighting = train["image"][:128], train["identity"][:128], train["lighting"][:128]
# a small DualDis (the dualdis_yaleb preset: image_shape=(192, 168, 1), width 1, 400 epochs)
model = DualDis(image_shape=(48, 42, 1), input_size=32, network_width=0.25, latent_dim=16)
model.compile(optimizer={"main": keras.optimizers.Adam(1e-3),
                         "disc": keras.optimizers.Adam(1e-3)})
model.fit(images, (identity, lighting), batch_size=64, epochs=1, verbose=0)
h_y, h_z = model.encode(images[:8])  # (8, 16) each
brighter_left = model.edit(images[:8], attribute=4, eps=2.0)  # (8, 32, 32, 1) in [0, 1]
```
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops

from lrep_zoo.applications.preset_mixin import PresetMixin
from lrep_zoo.export import ExportMixin
from lrep_zoo.inputs import ImageInputsMixin
from lrep_zoo.layers.image_rescaling import ImageRescaling
from lrep_zoo.losses.invariance import within_class_scatter_ratio
from lrep_zoo.models.dualdis import networks as nets
from lrep_zoo.models.dualdis.layers import AreaResize
from lrep_zoo.training import MultiPhaseModel, Phase
from lrep_zoo.training.data_checks import LabelSpec

ADVERSARIAL_LOSSES = ("neg_ce", "complement", "uniform")

VARIANTS = {
    "dualdis": {},
    "multitask": {"adversarial_weight_y": 0.0, "adversarial_weight_z": 0.0},
    "adv_y": {"adversarial_weight_z": 0.0},
}


@keras.saving.register_keras_serializable(package="lrep_zoo")
class DualDis(ImageInputsMixin, PresetMixin, ExportMixin, MultiPhaseModel):
    """DualDis two-branch auto-encoder with linear and adversarial heads.

    Takes images as the dataset gives them (uint8 or float 0..255, with or without
    the grayscale channel axis); images out are float32 in [0, 1].

    Args:
        image_shape: Shape of the raw input images (H, W, C), values in 0..255.
        num_classes_y: Classes of y (identity). 38 for Yale-B.
        num_classes_z: Classes of z (attribute), categorical z. 14 for Yale-B
            lighting (the default). Binary z: `None` or 2 (each attribute's classes).
        latent_dim: Size of h_y and of h_z.
        input_size: Side of the square image the network sees (64, as in the paper):
            a power of two, at least 16; the encoder and decoder stacks follow from
            it (`networks.dualdis_networks`).
        reconstruction_weight: l_r.
        classification_weight_y: l_y.
        classification_weight_z: l_z.
        adversarial_weight_y: l_adv_y (0 disables the term).
        adversarial_weight_z: l_adv_z (0 disables the term).
        orthogonality_weight: l_o.
        adversarial_loss_y: One of `ADVERSARIAL_LOSSES` for the y term.
        adversarial_loss_z: One of `ADVERSARIAL_LOSSES` for the z term.
        adversary_hidden: Hidden units of C_y and C_z.
        input_normalization: `"standardize"`: the encoder sees each image
            standardised (zero mean, unit variance), so that faces under grazing
            light (nearly black) are as legible as frontally lit ones; the decoder
            still rebuilds the [0, 1] image. `"none"` (default): the [0, 1] image.
        synchronized_batchnorm: BatchNorm statistics of the global batch under a
            `tf.distribute` strategy (Keras' `BatchNormalization(synchronized=True)`;
            default: per replica). On JAX data-parallel steps they are global
            either way. See `lrep_zoo.training.distribute`.
        adversaries: Training option against a single fooled adversary (Elazar &
            Goldberg 2018): adversaries per code. C_y / C_z are the first ones
            (`classify`, the paper protocol); the others are `extra_adversaries_y`
            / `_z`. L_disc sums their losses; the encoder's adversarial term is
            their mean. Default 1 (the paper).
        adversary_steps: Training option: L_disc updates per L_main update (the
            same batch). Default 1 (the paper).
        adversary_reset_every: Training option: every this many train steps
            (`optimizer.iterations`) re-initialise the adversaries' weights
            (Glorot-uniform kernels, zero biases, as built), so that a fresh
            adversary must find what the encoder hid from the old one. With
            several adversaries the resets are staggered (adversary k at steps
            `k * N / adversaries` modulo N). Their Adam moments are kept. Only the
            adversaries' variables are touched. 0 (default): never.
        code_noise_z: Training option (information bottleneck on h_z): standard
            deviation of Gaussian noise added to h_z in training steps (both
            phases; h_z is BatchNorm-normalised, unit scale at initialisation).
            Inference codes are noise-free. Default 0.
        code_width_z: Training option (information bottleneck on h_z): only the
            first `code_width_z` of the `latent_dim` units of h_z carry a code, the
            others are zero (in `encode` and in `decode`, so edits stay in the
            code's subspace). `None` (default): all units.
        code_invariance_weight_y: Training option (class invariance, beyond the
            paper): weight in L_main of `within_class_scatter_ratio(h_y, y)`
            (`lrep_zoo.losses.invariance`), the share of h_y's batch scatter left
            within the identity classes: it pulls the codes of one identity
            together, so that h_y keeps little of the lighting for a fresh probe to
            read (the strict protocol's h_y->z_adv). Default 0 (the paper).
        code_invariance_weight_z: The same for h_z within the z classes (binary
            attributes: the mean over attributes of each one's two classes), so
            that h_z keeps little of the identity (h_z->y_adv). Default 0.
        z_regression_weight: Training option (lighting accuracy, issue 16.3):
            weight of an auxiliary regression, in L_main, of the continuous
            values behind z (Yale-B: the light's azimuth and elevation, scaled,
            `yaleb.light_angle_targets`) from h_z by a linear head
            `head_z_regression`: `mean((V h_z + c - v)^2)` over the labelled
            (finite) entries of v. The labels become `(y, z, v)` or
            `{"y", "z", "z_values"}` with v `(N, z_regression_units)` floats, NaN
            for unknown. The head is built only when the weight is > 0 (today's
            presets load unchanged). Default 0.
        z_regression_units: Columns of v (2: azimuth, elevation).
        attributes: `"categorical"` (one z class per image, softmax heads) or
            `"binary"` (`num_attributes` binary attributes, sigmoid heads, BCE).
        num_attributes: Number of binary attributes (`attributes="binary"` only).
        network_width: Multiplies the filter counts of the convolutional
            networks (1: the paper's); e.g. 0.25 for quick experiments.
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    Several binary attributes, colour images of any power-of-two size:

    ```python
    import keras
    import numpy as np
    from lrep_zoo.models import DualDis

    model = DualDis(image_shape=(128, 128, 3), input_size=128, num_classes_y=5,
                    attributes="binary", num_attributes=3, network_width=0.25, latent_dim=16)
    images = np.random.default_rng(0).integers(0, 256, (4, 128, 128, 3)).astype("uint8")
    z = np.array([[1, 0, 1], [0, 1, -1], [1, 1, 0], [0, 0, 1]])  # -1: not labelled
    model.compile(optimizer={"main": keras.optimizers.Adam(1e-3),
                             "disc": keras.optimizers.Adam(1e-3)})
    model.fit(images, (np.arange(4) % 5, z), batch_size=4, epochs=1, verbose=0)
    probs = model.classify(images)  # probs["z"]: (4, 3) sigmoid probabilities
    edited = model.edit(images, attribute=2, eps=-3.0)  # (4, 128, 128, 3), attribute 2 off
    ```
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (192, 168, 1),
        num_classes_y: int = 38,
        num_classes_z: int | None = None,
        latent_dim: int = 80,
        input_size: int = 64,
        reconstruction_weight: float = 1.0,
        classification_weight_y: float = 1.0,
        classification_weight_z: float = 1.0,
        adversarial_weight_y: float = 0.08,
        adversarial_weight_z: float = 0.08,
        orthogonality_weight: float = 1e-6,
        adversarial_loss_y: str = "neg_ce",
        adversarial_loss_z: str = "complement",
        adversary_hidden: Sequence[int] = (80,),
        input_normalization: str = "none",
        synchronized_batchnorm: bool = False,
        adversaries: int = 1,
        adversary_steps: int = 1,
        adversary_reset_every: int = 0,
        code_noise_z: float = 0.0,
        code_width_z: int | None = None,
        code_invariance_weight_y: float = 0.0,
        code_invariance_weight_z: float = 0.0,
        z_regression_weight: float = 0.0,
        z_regression_units: int = 2,
        attributes: str = "categorical",
        num_attributes: int | None = None,
        network_width: float = 1.0,
        **kwargs,
    ):
        kwargs.setdefault("name", "dualdis")
        super().__init__(**kwargs)
        self._check_training_options(latent_dim, adversaries, adversary_steps,
                                     adversary_reset_every, code_noise_z, code_width_z)
        self._check_z_regression(z_regression_weight, z_regression_units)
        for which, value in (("y", adversarial_loss_y), ("z", adversarial_loss_z)):
            if value not in ADVERSARIAL_LOSSES:
                raise ValueError(
                    f"adversarial_loss_{which} must be one of {ADVERSARIAL_LOSSES}, got {value!r}."
                )
        if input_normalization not in ("standardize", "none"):
            raise ValueError(
                f"input_normalization must be 'standardize' or 'none', got {input_normalization!r}."
            )
        nets.check_input_size(input_size)
        num_classes_z = _check_attributes(attributes, num_classes_z, num_attributes)
        if not float(network_width) > 0.0:
            raise ValueError(f"network_width must be > 0, got {network_width!r}.")
        self.attributes = attributes
        self.num_attributes = None if num_attributes is None else int(num_attributes)
        self.network_width = float(network_width)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_classes_y = int(num_classes_y)
        self.num_classes_z = int(num_classes_z)
        self.latent_dim = int(latent_dim)
        self.input_size = int(input_size)
        self.reconstruction_weight = float(reconstruction_weight)
        self.classification_weight_y = float(classification_weight_y)
        self.classification_weight_z = float(classification_weight_z)
        self.adversarial_weight_y = float(adversarial_weight_y)
        self.adversarial_weight_z = float(adversarial_weight_z)
        self.orthogonality_weight = float(orthogonality_weight)
        self.adversarial_loss_y = adversarial_loss_y
        self.adversarial_loss_z = adversarial_loss_z
        self.adversary_hidden = tuple(int(u) for u in adversary_hidden)
        self.input_normalization = input_normalization
        self.synchronized_batchnorm = bool(synchronized_batchnorm)
        # Keras' synchronized BatchNormalization is TensorFlow's (tf.distribute);
        # a JAX data-parallel step already normalises with global-batch statistics.
        sync = self.synchronized_batchnorm and keras.backend.backend() == "tensorflow"

        channels = self.image_shape[-1]
        size = self.input_size
        self.input_range = "0..255"  # the input contract (lrep_zoo.inputs)
        self.rescale = ImageRescaling(self.image_shape, self.input_range, name="rescale")
        self.resize = None
        if self.image_shape[:2] != (size, size):
            self.resize = AreaResize(size, size, name="resize")
        parts = nets.dualdis_networks(
            (size, size, channels), self.latent_dim, self.num_classes_y, self.num_outputs_z,
            self.adversary_hidden, width=self.network_width, synchronized=sync,
        )
        self.encoder = parts["encoder"]
        self.encoder_y = parts["encoder_y"]
        self.encoder_z = parts["encoder_z"]
        self.decoder = parts["decoder"]
        self.head_y = parts["head_y"]
        self.head_z = parts["head_z"]
        self.adversary_y = parts["adversary_y"]
        self.adversary_z = parts["adversary_z"]
        self._build_training_options(
            adversaries, adversary_steps, adversary_reset_every, code_noise_z, code_width_z
        )
        self.code_invariance_weight_y = _non_negative("code_invariance_weight_y",
                                                      code_invariance_weight_y)
        self.code_invariance_weight_z = _non_negative("code_invariance_weight_z",
                                                      code_invariance_weight_z)
        self._build_z_regression(z_regression_weight, z_regression_units)
        self.built = True

    @staticmethod
    def _check_z_regression(weight, units):
        if not float(weight) >= 0.0:
            raise ValueError(f"z_regression_weight must be >= 0, got {weight!r}.")
        if isinstance(units, bool) or int(units) != units or int(units) < 1:
            raise ValueError(f"z_regression_units must be an integer >= 1, got {units!r}.")

    def _build_z_regression(self, weight, units):
        """The auxiliary regression of z's continuous values from h_z (option)."""
        self.z_regression_weight = float(weight)
        self.z_regression_units = int(units)
        self.head_z_regression = None
        if self.z_regression_weight:
            self.head_z_regression = nets.linear_head(
                self.latent_dim, self.z_regression_units, name="head_z_regression")

    def regress_z(self, x):
        """Raw images -> `head_z_regression(h_z)`, the regressed values behind z,
        `(N, z_regression_units)` (Yale-B: `yaleb.light_angle_targets`' scale).
        Only with `z_regression_weight > 0`."""
        if self.head_z_regression is None:
            raise ValueError("regress_z needs a model built with z_regression_weight > 0.")
        _, h_z = self.encode(self.checked_images(x, "regress_z"))
        return self.head_z_regression(h_z)

    def _build_training_options(
        self, adversaries, adversary_steps, adversary_reset_every, code_noise_z, code_width_z
    ):
        """The options against a single fooled adversary (see the class docstring)."""
        self.adversaries = int(adversaries)
        self.adversary_steps = int(adversary_steps)
        self.adversary_reset_every = int(adversary_reset_every)
        self.code_noise_z = float(code_noise_z)
        self.code_width_z = None if code_width_z is None else int(code_width_z)
        # Built only when used: today's presets keep their weight files.
        self.extra_adversaries_y = [
            nets.mlp_head(self.latent_dim, self.num_classes_y, self.adversary_hidden,
                          name=f"adversary_y_{k}")
            for k in range(1, self.adversaries)
        ]
        self.extra_adversaries_z = [
            nets.mlp_head(self.latent_dim, self.num_outputs_z, self.adversary_hidden,
                          name=f"adversary_z_{k}")
            for k in range(1, self.adversaries)
        ]
        if self.adversary_reset_every:
            self.reset_seed_generator = keras.random.SeedGenerator(1, name="adversary_reset_seed")
        if self.code_noise_z:
            self.noise_seed_generator = keras.random.SeedGenerator(2, name="code_noise_z_seed")

    @staticmethod
    def _check_training_options(latent_dim, adversaries, adversary_steps, adversary_reset_every,
                                code_noise_z, code_width_z):
        for name, value, low in (("adversaries", adversaries, 1),
                                 ("adversary_steps", adversary_steps, 1),
                                 ("adversary_reset_every", adversary_reset_every, 0)):
            if isinstance(value, bool) or int(value) != value or int(value) < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if not float(code_noise_z) >= 0.0:
            raise ValueError(f"code_noise_z must be >= 0, got {code_noise_z!r}.")
        if code_width_z is not None and not 1 <= int(code_width_z) <= int(latent_dim):
            raise ValueError(
                f"code_width_z must be in 1..latent_dim={latent_dim} or None, got {code_width_z!r}."
            )

    def _adversaries_of(self, which: str) -> list:
        """C_y (`"y"`, on h_z) or C_z (`"z"`, on h_y), then the extra adversaries."""
        if which == "y":
            return [self.adversary_y, *self.extra_adversaries_y]
        return [self.adversary_z, *self.extra_adversaries_z]

    def _code_mask_z(self, h_z):
        """h_z with the units beyond `code_width_z` zeroed (identity when unset)."""
        if self.code_width_z is None or self.code_width_z == self.latent_dim:
            return h_z
        keep = ops.cast(ops.arange(self.latent_dim) < self.code_width_z, h_z.dtype)
        return h_z * keep

    def reset_adversaries(self, step=None):
        """Re-initialises the adversaries due at train step `step` (default: the
        optimizer's iteration count); called by each train step when
        `adversary_reset_every` is set. Works inside a compiled step: every
        adversary variable is assigned `where(due, fresh, current)`."""
        period = self.adversary_reset_every
        if not period:
            return
        step = self.optimizer.iterations if step is None else step
        step = ops.cast(step, "int32")
        for k in range(self.adversaries):
            offset = (k * period) // self.adversaries
            due = ops.logical_and(ops.greater(step, 0), ops.equal(ops.mod(step - offset, period), 0))
            for adversary in (self._adversaries_of("y")[k], self._adversaries_of("z")[k]):
                for layer in adversary.layers:
                    if not isinstance(layer, keras.layers.Dense):
                        continue
                    fan_in, fan_out = layer.kernel.shape
                    limit = (6.0 / (fan_in + fan_out)) ** 0.5
                    fresh = keras.random.uniform(
                        layer.kernel.shape, -limit, limit, dtype=layer.kernel.dtype,
                        seed=self.reset_seed_generator,
                    )
                    layer.kernel.assign(ops.where(due, fresh, layer.kernel.value))
                    if layer.bias is not None:
                        bias = layer.bias.value
                        layer.bias.assign(ops.where(due, ops.zeros_like(bias), bias))

    def run_phases(self, data, training: bool = True) -> dict:
        """`MultiPhaseModel.run_phases`, after `reset_adversaries` in training steps."""
        if training and self.adversary_reset_every:
            self.reset_adversaries()
        return super().run_phases(data, training=training)

    @classmethod
    def variant(cls, name: str, **kwargs) -> "DualDis":
        """The paper's model (`"dualdis"`) or a baseline (`"multitask"`, `"adv_y"`)."""
        if name not in VARIANTS:
            raise ValueError(f"Unknown DualDis variant {name!r}; choose from {sorted(VARIANTS)}.")
        return cls(**{**VARIANTS[name], **kwargs})

    # ------------------------------------------------------------------ parts
    @property
    def num_outputs_z(self) -> int:
        """Outputs of W_z and C_z: z's classes (categorical) or attributes (binary)."""
        return self.num_attributes if self.attributes == "binary" else self.num_classes_z

    @property
    def main_variables(self) -> list:
        """Variables of L_main: encoders, decoder and the linear heads."""
        nets_ = (self.encoder, self.encoder_y, self.encoder_z, self.decoder, self.head_y, self.head_z)
        if self.head_z_regression is not None:  # training option z_regression_weight
            nets_ += (self.head_z_regression,)
        return [v for n in nets_ for v in n.trainable_variables]

    @property
    def adversary_variables(self) -> list:
        """Variables of L_disc: the adversarial heads C_y and C_z."""
        return [v for which in ("y", "z") for a in self._adversaries_of(which)
                for v in a.trainable_variables]

    def phases(self) -> list[Phase]:
        return [
            Phase(
                "disc",
                self.disc_loss,
                self.adversary_variables,
                logs=("disc_y", "disc_z", "y_adv_err", "z_adv_err"),
                steps=self.adversary_steps,
            ),
            Phase(
                "main",
                self.main_loss,
                self.main_variables,
                logs=("rec", "ce_y", "ce_z", "adv_y", "adv_z", "orth", "y_acc", "z_acc")
                + self._invariance_log_names()
                + (("reg_z",) if self.head_z_regression is not None else ()),
            ),
        ]

    # ------------------------------------------------------------------ public API
    def preprocess(self, x):
        """Raw images (0..255, `image_shape`) -> float images in [0, 1], `input_size`."""
        x = self.rescale(x)
        if self.resize is not None:
            x = self.resize(x)
        return x

    def encode(self, x, training: bool = False):
        """Raw images -> `(h_y, h_z)`."""
        x = self.checked_images(x, "encode")
        return self._encode_preprocessed(self.preprocess(x), training)

    def _encode_preprocessed(self, x, training=False):
        if self.input_normalization == "standardize":
            mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
            std = ops.sqrt(ops.mean(ops.square(x - mean), axis=(1, 2, 3), keepdims=True) + 1e-6)
            x = (x - mean) / std
        features = self.encoder(x, training=training)
        h_z = self._code_mask_z(self.encoder_z(features, training=training))
        return self.encoder_y(features, training=training), h_z

    def decode(self, h_y, h_z, training: bool = False):
        """`(h_y, h_z)` -> images in [0, 1] of size `input_size`."""
        return self.decoder([h_y, self._code_mask_z(h_z)], training=training)

    def reconstruct(self, x):
        """Raw images -> D(E(x)), in [0, 1]."""
        x = self.checked_images(x, "reconstruct")
        return self.decode(*self.encode(x))

    def classify(self, x) -> dict:
        """Class probabilities: `y` = W_y(h_y), `z` = W_z(h_z), `y_adv` = C_y(h_z),
        `z_adv` = C_z(h_y). Binary attributes: `z` and `z_adv` are per-attribute
        sigmoid probabilities, `(N, num_attributes)`."""
        h_y, h_z = self.encode(self.checked_images(x, "classify"))
        z_probabilities = ops.sigmoid if self.attributes == "binary" else ops.softmax
        return {
            "y": ops.softmax(self.head_y(h_y)),
            "z": z_probabilities(self.head_z(h_z)),
            "y_adv": ops.softmax(self.adversary_y(h_z)),
            "z_adv": z_probabilities(self.adversary_z(h_y)),
        }

    def attribute_directions(self):
        """W_z's class (categorical) or attribute (binary) directions,
        `(num_outputs_z, latent_dim)`."""
        return ops.transpose(self.head_z.layers[-1].kernel)

    def edit(self, x, attribute, eps=1.0):
        """D(h_y, h_z + eps * w_{z,attribute}): move the attribute code along the
        linear classifier's direction for class `attribute` (categorical) or for
        binary attribute `attribute` (eps > 0 towards "on", < 0 towards "off"); an
        int or an int tensor per image; `eps` is a scalar or one value per image."""
        h_y, h_z = self.encode(self.checked_images(x, "edit"))
        directions = self.attribute_directions()
        attribute = ops.cast(attribute, "int32")
        w = ops.take(directions, attribute, axis=0)
        if len(ops.shape(w)) == 1:
            w = ops.expand_dims(w, 0)
        eps = ops.cast(eps, h_z.dtype)
        if len(ops.shape(eps)) == 1:
            eps = ops.expand_dims(eps, 1)
        return self.decode(h_y, h_z + eps * w)

    def swap(self, x_identity, x_attribute):
        """D(h_y(x_identity), h_z(x_attribute)): identity of one image, attribute
        (lighting) of the other."""
        h_y, _ = self.encode(self.checked_images(x_identity, "swap (x_identity)"))
        _, h_z = self.encode(self.checked_images(x_attribute, "swap (x_attribute)"))
        return self.decode(h_y, h_z)

    def call(self, x, training=False):
        return self.classify(x)

    def export_endpoints(self) -> dict:
        """SavedModel endpoints (see `lrep_zoo.export`): `serving_default`
        (images -> identity and lighting probabilities), `encode`, `decode`, `edit`
        (`attribute` and `eps` are float32 vectors, one value per image)."""
        images = keras.InputSpec(shape=(None, *self.image_shape))
        code = keras.InputSpec(shape=(None, self.latent_dim))
        vector = keras.InputSpec(shape=(None,))

        def serve(x):
            probs = self.classify(x)
            return {"identity": probs["y"],
                    "attributes" if self.attributes == "binary" else "lighting": probs["z"]}

        def encode(x):
            h_y, h_z = self.encode(x)
            return {"h_y": h_y, "h_z": h_z}

        return {
            "serving_default": (serve, {"images": images}),
            "encode": (encode, {"images": images}),
            "decode": (lambda h_y, h_z: {"images": self.decode(h_y, h_z)},
                       {"h_y": code, "h_z": code}),
            "edit": (lambda x, a, e: {"images": self.edit(x, a, e)},
                     {"images": images, "attribute": vector, "eps": vector}),
        }

    # ------------------------------------------------------------------ losses
    def labels_to_check(self, labels) -> list:
        """`fit`'s label check: y in 0..num_classes_y - 1; z below num_classes_z, or
        negative for an unlabelled sample. Binary z (checked here, for concrete arrays
        and a dataset's spec): shape `(N, num_attributes)`, entries 0, 1, negative or
        NaN (unlabelled)."""
        regression = self.head_z_regression is not None
        if isinstance(labels, dict) and {"y", "z"} <= set(labels):
            y, z = labels["y"], labels["z"]
            if regression and "z_values" not in labels:
                raise ValueError("z_regression_weight > 0: the labels need a 'z_values' entry "
                                 f"(N, {self.z_regression_units}) besides 'y' and 'z'.")
            if regression:
                _check_regression_values(labels["z_values"], self.z_regression_units)
        elif isinstance(labels, (tuple, list)) and len(labels) == 2 + regression:
            y, z = labels[:2]
            if regression:
                _check_regression_values(labels[2], self.z_regression_units)
        elif regression:
            raise ValueError(
                "z_regression_weight > 0: DualDis labels must be (y, z, z_values) or "
                f"{{'y': y, 'z': z, 'z_values': z_values}}, got {_describe_labels(labels)}.")
        else:
            if isinstance(labels, dict):
                got = f"a dict with keys {sorted(labels)}"
            elif hasattr(labels, "shape"):
                got = f"one array of shape {tuple(labels.shape)}"
            else:
                got = type(labels).__name__
            raise ValueError(f"DualDis labels must be (y, z) or {{'y': y, 'z': z}}, got {got}.")
        y_spec = (LabelSpec("y", self.num_classes_y, f"num_classes_y={self.num_classes_y}"), y)
        if self.attributes == "binary":
            _check_binary_labels(z, self.num_attributes)
            return [y_spec]
        return [
            y_spec,
            (LabelSpec("z", self.num_classes_z, f"num_classes_z={self.num_classes_z}",
                       unlabelled=True), z),
        ]

    def _unpack(self, data):
        x, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(labels, dict):
            y, z = labels["y"], labels["z"]
        else:
            y, z = labels[:2]
        y = ops.cast(ops.reshape(y, (-1,)), "int32")
        if self.attributes == "binary":  # (N, k) floats; -1 / NaN: unlabelled
            return x, y, ops.cast(ops.reshape(z, (-1, self.num_attributes)), "float32")
        return x, y, ops.cast(ops.reshape(z, (-1,)), "int32")

    def _forward(self, data, training):
        x, y, z = self._unpack(data)
        x = self.preprocess(x)
        h_y, h_z = self._encode_preprocessed(x, training)
        if training and self.code_noise_z:
            noise = keras.random.normal(ops.shape(h_z), dtype=h_z.dtype, seed=self.noise_seed_generator)
            h_z = self._code_mask_z(h_z + self.code_noise_z * noise)
        return x, y, z, h_y, h_z

    def disc_loss(self, data, training=True):
        _, y, z, h_y, h_z = self._forward(data, training)
        z_mask, z_safe = _label_mask(z)
        logits_y = self.adversary_y(ops.stop_gradient(h_z), training=training)
        logits_z = self.adversary_z(ops.stop_gradient(h_y), training=training)
        disc_y = ops.mean(_ce(y, logits_y))
        disc_z = _masked_mean(_ce(z_safe, logits_z), z_mask)
        for extra in self.extra_adversaries_y:  # training option `adversaries`
            disc_y = disc_y + ops.mean(_ce(y, extra(ops.stop_gradient(h_z), training=training)))
        for extra in self.extra_adversaries_z:
            disc_z = disc_z + _masked_mean(
                _ce(z_safe, extra(ops.stop_gradient(h_y), training=training)), z_mask)
        logs = {
            "disc_y": disc_y,
            "disc_z": disc_z,
            "y_adv_err": 1.0 - ops.mean(_correct(y, logits_y)),
            "z_adv_err": 1.0 - _masked_mean(_correct(z_safe, logits_z), z_mask),
        }
        return disc_y + disc_z, logs

    def _regression_values(self, data):
        """The `z_values` labels, `(N, z_regression_units)` float32 (option)."""
        _, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        values = labels["z_values"] if isinstance(labels, dict) else labels[2]
        return ops.cast(ops.reshape(values, (-1, self.z_regression_units)), "float32")

    def main_loss(self, data, training=True):
        x, y, z, h_y, h_z = self._forward(data, training)
        z_mask, z_safe = _label_mask(z)
        x_hat = self.decode(h_y, h_z, training=training)
        rec = ops.mean(ops.square(ops.cast(x, "float32") - ops.cast(x_hat, "float32")))
        logits_y = self.head_y(h_y, training=training)
        logits_z = self.head_z(h_z, training=training)
        ce_y = ops.mean(_ce(y, logits_y))
        ce_z = _masked_mean(_ce(z_safe, logits_z), z_mask)
        adv_y = ops.mean(_adversarial(self.adversarial_loss_y, y, self.adversary_y(h_z)))
        adv_z = _masked_mean(
            _adversarial(self.adversarial_loss_z, z_safe, self.adversary_z(h_y)), z_mask
        )
        if self.adversaries > 1:  # training option: the mean over the adversaries
            for extra in self.extra_adversaries_y:
                adv_y = adv_y + ops.mean(_adversarial(self.adversarial_loss_y, y, extra(h_z)))
            for extra in self.extra_adversaries_z:
                adv_z = adv_z + _masked_mean(
                    _adversarial(self.adversarial_loss_z, z_safe, extra(h_y)), z_mask)
            adv_y, adv_z = adv_y / self.adversaries, adv_z / self.adversaries
        orth = _orthogonality(self.head_z.layers[-1].kernel)
        loss = (
            self.reconstruction_weight * rec
            + self.classification_weight_y * ce_y
            + self.classification_weight_z * ce_z
            + self.orthogonality_weight * orth
        )
        if self.adversarial_weight_y:
            loss = loss + self.adversarial_weight_y * adv_y
        if self.adversarial_weight_z:
            loss = loss + self.adversarial_weight_z * adv_z
        invariance_logs = self._invariance_terms(y, z, h_y, h_z)
        for name, weight in (("inv_y", self.code_invariance_weight_y),
                             ("inv_z", self.code_invariance_weight_z)):
            if name in invariance_logs:
                loss = loss + weight * invariance_logs[name]
        extra_logs = {}
        if self.head_z_regression is not None:  # training option z_regression_weight
            predicted = self.head_z_regression(h_z, training=training)
            extra_logs["reg_z"] = _masked_squared_error(self._regression_values(data), predicted)
            loss = loss + self.z_regression_weight * extra_logs["reg_z"]
        logs = {
            "rec": rec,
            "ce_y": ce_y,
            "ce_z": ce_z,
            "adv_y": adv_y,
            "adv_z": adv_z,
            "orth": orth,
            "y_acc": ops.mean(_correct(y, logits_y)),
            "z_acc": _masked_mean(_correct(z_safe, logits_z), z_mask),
            **extra_logs,
        }
        logs.update(invariance_logs)
        return loss, logs

    def _invariance_log_names(self) -> tuple:
        return (("inv_y",) if self.code_invariance_weight_y else ()) + (
            ("inv_z",) if self.code_invariance_weight_z else ())

    def _invariance_terms(self, y, z, h_y, h_z) -> dict:
        """The class-invariance terms of the options that are on (`inv_y`, `inv_z`)."""
        terms = {}
        if self.code_invariance_weight_y:
            terms["inv_y"] = within_class_scatter_ratio(h_y, y, self.num_classes_y)
        if self.code_invariance_weight_z and self.attributes == "binary":
            # Each attribute's two classes; negative / NaN entries are unlabelled.
            ratios = [within_class_scatter_ratio(
                h_z, ops.where(z[:, j] >= 0, ops.cast(z[:, j] > 0.5, "int32"), -1), 2)
                for j in range(self.num_attributes)]
            terms["inv_z"] = ops.mean(ops.stack(ratios))
        elif self.code_invariance_weight_z:
            terms["inv_z"] = within_class_scatter_ratio(h_z, z, self.num_classes_z)
        return terms

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": list(self.image_shape),
                "num_classes_y": self.num_classes_y,
                "num_classes_z": self.num_classes_z,
                "latent_dim": self.latent_dim,
                "input_size": self.input_size,
                "reconstruction_weight": self.reconstruction_weight,
                "classification_weight_y": self.classification_weight_y,
                "classification_weight_z": self.classification_weight_z,
                "adversarial_weight_y": self.adversarial_weight_y,
                "adversarial_weight_z": self.adversarial_weight_z,
                "orthogonality_weight": self.orthogonality_weight,
                "adversarial_loss_y": self.adversarial_loss_y,
                "adversarial_loss_z": self.adversarial_loss_z,
                "adversary_hidden": list(self.adversary_hidden),
                "input_normalization": self.input_normalization,
                "synchronized_batchnorm": self.synchronized_batchnorm,
                "adversaries": self.adversaries,
                "adversary_steps": self.adversary_steps,
                "adversary_reset_every": self.adversary_reset_every,
                "code_noise_z": self.code_noise_z,
                "code_width_z": self.code_width_z,
                "code_invariance_weight_y": self.code_invariance_weight_y,
                "code_invariance_weight_z": self.code_invariance_weight_z,
                "z_regression_weight": self.z_regression_weight,
                "z_regression_units": self.z_regression_units,
                "attributes": self.attributes,
                "num_attributes": self.num_attributes,
                "network_width": self.network_width,
            }
        )
        return config


# ---------------------------------------------------------------------- helpers
ATTRIBUTE_KINDS = ("categorical", "binary")


def _check_attributes(attributes, num_classes_z, num_attributes) -> int:
    """The `num_classes_z` to store, or a `ValueError` naming the bad argument."""
    if attributes not in ATTRIBUTE_KINDS:
        raise ValueError(f"attributes must be one of {ATTRIBUTE_KINDS}, got {attributes!r}.")
    if attributes == "categorical":
        if num_attributes is not None:
            raise ValueError(
                "num_attributes is for attributes='binary'; categorical z has "
                f"num_classes_z classes (got num_attributes={num_attributes!r})."
            )
        return 14 if num_classes_z is None else int(num_classes_z)
    if num_attributes is None or int(num_attributes) != num_attributes or num_attributes < 1:
        raise ValueError(
            f"attributes='binary' needs num_attributes >= 1 (the number of binary "
            f"attributes), got {num_attributes!r}."
        )
    if num_classes_z not in (None, 2):
        raise ValueError(
            f"Binary attributes have 2 classes each: num_classes_z must be None or 2 "
            f"with attributes='binary', got {num_classes_z!r}."
        )
    return 2


def _check_binary_labels(z, num_attributes: int) -> None:
    """Binary attribute labels: shape `(N, num_attributes)`; concrete values 0, 1,
    negative (unlabelled) or NaN (unlabelled). A `ValueError` names the problem."""
    if isinstance(z, (list, tuple)):
        z = np.asarray(z)
    shape = getattr(z, "shape", None)
    if shape is None:
        raise ValueError(f"DualDis: binary z labels must be an array, got {type(z).__name__}.")
    shape = tuple(None if s is None else int(s) for s in shape)
    if len(shape) != 2 or shape[1] != num_attributes:
        raise ValueError(
            f"DualDis: binary z labels must have shape (batch, num_attributes="
            f"{num_attributes}), got shape {shape}."
        )
    if isinstance(z, np.ndarray):  # tensors and dataset specs: the shape only
        values = np.asarray(z, dtype="float64")
        bad = values[np.isfinite(values) & (values >= 0) & (values != 0) & (values != 1)]
        if bad.size:
            raise ValueError(
                f"DualDis: binary z labels must be 0 or 1 (negative or NaN: unlabelled), "
                f"got {bad[0]!r}."
            )


def _check_regression_values(values, units: int) -> None:
    """`z_values` labels: shape `(N, units)` (a `ValueError` otherwise)."""
    shape = getattr(values, "shape", None)
    if shape is None:
        values = np.asarray(values)
        shape = values.shape
    shape = tuple(None if s is None else int(s) for s in shape)
    if len(shape) != 2 or shape[1] != units:
        raise ValueError(f"DualDis: z_values labels must have shape (batch, z_regression_units="
                         f"{units}), got shape {shape}.")


def _describe_labels(labels) -> str:
    if isinstance(labels, dict):
        return f"a dict with keys {sorted(labels)}"
    if isinstance(labels, (tuple, list)):
        return f"a {type(labels).__name__} of {len(labels)}"
    if hasattr(labels, "shape"):
        return f"one array of shape {tuple(labels.shape)}"
    return type(labels).__name__


def _masked_squared_error(targets, predicted):
    """Mean of `(predicted - targets)^2` over the finite entries of `targets`
    (NaN: unknown value, left out)."""
    predicted = ops.cast(predicted, "float32")
    known = ops.isfinite(targets)
    safe = ops.where(known, targets, ops.zeros_like(targets))
    return _masked_mean(ops.square(predicted - safe), ops.cast(known, "float32"))


def _ce(labels, logits):
    """Per-example cross-entropy. Class indices (one rank below the logits): softmax
    CE; labels of the logits' shape (binary attributes): per-entry sigmoid BCE."""
    # Losses in float32 (mixed precision: the heads give half-precision logits).
    logits = ops.cast(logits, "float32")
    if _is_binary(labels, logits):
        return _bce(ops.cast(labels, "float32"), logits)
    return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def _is_binary(labels, logits) -> bool:
    return len(ops.shape(labels)) == len(ops.shape(logits))


def _bce(targets, logits):
    """Elementwise `BCE(targets, sigmoid(logits))`, stable: softplus(l) - t * l."""
    return ops.softplus(logits) - targets * logits


def _correct(labels, logits):
    if _is_binary(labels, logits):
        predicted = ops.cast(ops.greater(logits, 0.0), "float32")
        return ops.cast(ops.equal(predicted, ops.cast(labels, "float32")), "float32")
    return ops.cast(ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), labels), "float32")


def _label_mask(labels):
    mask = ops.cast(labels >= 0, "float32")
    return mask, ops.where(labels >= 0, labels, ops.zeros_like(labels))


def _masked_mean(values, mask):
    return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)


def _adversarial(kind, labels, logits):
    """Per-example adversarial term for the encoder (see the module docstring);
    per entry for binary labels (the logits' shape): `complement` = BCE(1 - z, p)."""
    logits = ops.cast(logits, "float32")
    if _is_binary(labels, logits):
        targets = ops.cast(labels, "float32")
        if kind == "neg_ce":
            return -_bce(targets, logits)
        if kind == "uniform":
            return _bce(ops.full_like(logits, 0.5), logits)
        return _bce(1.0 - targets, logits)
    log_p = ops.log_softmax(logits, axis=-1)
    if kind == "neg_ce":
        return -_ce(labels, logits)
    if kind == "uniform":
        return -ops.mean(log_p, axis=-1)
    # complement: -log(1 - p_true), computed stably as -log(sum_{k != t} p_k).
    onehot = ops.one_hot(labels, ops.shape(logits)[-1])
    masked = ops.where(onehot > 0, ops.full_like(logits, -1e9), logits)
    return ops.logsumexp(logits, axis=-1) - ops.logsumexp(masked, axis=-1)


def _non_negative(name: str, value) -> float:
    if isinstance(value, bool) or not float(value) >= 0.0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}.")
    return float(value)


def _orthogonality(kernel):
    """Sum over pairs of class directions (kernel columns) of |cosine|."""
    w = kernel / ops.sqrt(ops.sum(ops.square(kernel), axis=0, keepdims=True) + 1e-12)
    gram = ops.matmul(ops.transpose(w), w)
    n = ops.shape(gram)[0]
    off = gram * (1.0 - ops.eye(n, dtype=gram.dtype))
    return 0.5 * ops.sum(ops.abs(off))
