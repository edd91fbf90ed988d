"""Mixing auto-encoders (Hu, Szabo, Portenier, Favaro, Zwicker: "Disentangling factors of
variation by mixing them", CVPR 2018).

The code of an image is split into `num_chunks` chunks of `chunk_dim` values. Two
images x1, x2 are encoded (f1, f2); a random binary mask m, one bit per chunk and
image (m_i = 1: chunk i from x1), mixes them, f3 = m * f1 + (1 - m) * f2, and the
decoder renders the mix x3 = Dec(f3). x3 is encoded again and un-mixed: the chunks
that came from x1 are taken from Enc(x3), the others from f1, and decoded,
x4 = Dec(m * Enc(x3) + (1 - m) * f1), which must give back x1 (cycle
reconstruction: each chunk must survive rendering and re-encoding whatever the
other chunks are).

Against the shortcut problem (the decoder reads everything from one chunk and the
others carry nothing), a chunk classifier C(x1, x2, x3) says for each chunk whether
x3 took it from x1 or x2 (binary cross-entropy against m): every chunk must leave a
visible trace. A DCGAN discriminator D, trained to tell x1 from the mixes x3, makes
mixed images look like real ones (non-saturating GAN loss).

Phases (one optimizer each, `lrep_zoo.training.MultiPhaseModel`), in the authors'
order (their released code, `model_sprites.py`):

    generator      (encoder + decoder):
        rw * rec + cw * rec_cycle + clw * cls + aw * adv
        rec       = MSE(x1, Dec(f1)) + MSE(x2, Dec(f2))
        rec_cycle = MSE(x1, x4)
        cls       = BCE(m, C(x1, x2, x3))           (C frozen here)
        adv       = -log sigmoid(D(x3))             (D frozen here)
    classifier     (C only): BCE(m, C(x1, x2, sg x3))        (only when clw > 0)
    discriminator  (D only): -log sigmoid(D(x1)) - log(1 - sigmoid(D(sg x3)))
                                                             (only when aw > 0)

Defaults are the weights of `shared/docs/methods.md` (10 rec + 10 rec_cycle + 10
rec_mix + 1 gan + 1 cls, Adam 2e-4): methods.md's three reconstruction terms are,
in the authors' code, the two auto-encoder reconstructions (x1 and x2, summed in
`rec`, each with weight 10) and the cycle (`rec_cycle`, 10). C and D train
cooperatively / adversarially on their own Adam optimizers. Each step pairs every
image of the batch with the next one (`x2 = roll(x1, 1)`; `fit` shuffles the batches
each epoch) and draws fresh masks per phase from the model's seed generator.

The ablation rows of the review (MIX, MIX + C, MIX + G, MIX + C + G) are
`MixingAutoEncoder.variant("mix" | "mix_c" | "mix_g" | "mix_c_g")`; `"ae"` is the
plain auto-encoder (no cycle, C or G). A disabled C or D has no phase (nothing to
pass to `compile` for it).

Inputs follow the zoo's image contract (`lrep_zoo.inputs`): uint8 or float images in
0..255, shape `image_shape` or, for one channel, without the channel axis; the model
rescales them to [0, 1] inside (`lrep_zoo.layers.ImageRescaling`). Eager calls of
`fit`, `predict`, `encode`, `reconstruct`, `mix` and `transfer` check concrete
images (shape, dtype, images that look already scaled to [0, 1]: a `ValueError`).
Decoded images are in [0, 1].

Example:

```python
import keras
import lrep_zoo
from lrep_zoo.models import MixingAutoEncoder

x, _ = lrep_zoo.data.load_arrays("mnist", "test")
mnist_images = x[:64]                                   # uint8 0..255, as the model takes
model = MixingAutoEncoder.variant("mix_c_g", num_chunks=8, chunk_dim=16)
model.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))  # one per phase
model.fit(mnist_images, batch_size=64, epochs=1, verbose=0)
codes = model.encode(mnist_images[:8])                 # (8, 8 * 16)
swapped = model.transfer(mnist_images[:8], mnist_images[8:16], chunk=3)
```
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from lrep_zoo.applications.preset_mixin import PresetMixin
from lrep_zoo.export import ExportMixin
from lrep_zoo.inputs import ImageInputsMixin
from lrep_zoo.layers.image_rescaling import ImageRescaling
from lrep_zoo.losses import gan as gan_losses
from lrep_zoo.models.mixing import networks as nets
from lrep_zoo.training import MultiPhaseModel, Phase

VARIANTS = {
    "ae": {"cycle_weight": 0.0, "classifier_weight": 0.0, "adversarial_weight": 0.0},
    "mix": {"classifier_weight": 0.0, "adversarial_weight": 0.0},
    "mix_c": {"adversarial_weight": 0.0},
    "mix_g": {"classifier_weight": 0.0},
    "mix_c_g": {},
}


def mix_chunks(f1, f2, mask, num_chunks: int):
    """Chunk-wise mix of two flat codes: chunk i from `f1` where `mask[:, i] = 1`.

    Args:
        f1, f2: Codes, `(batch, num_chunks * chunk_dim)`.
        mask: `(batch, num_chunks)` or `(num_chunks,)` of 0/1 (or weights in [0, 1]).
        num_chunks: Number of chunks.

    Example:

    ```python
    from keras import ops
    from lrep_zoo.models.mixing.mixing_autoencoder import mix_chunks
    f1, f2 = ops.ones((1, 4)), ops.zeros((1, 4))  # two chunks of 2
    f3 = mix_chunks(f1, f2, ops.convert_to_tensor([[1.0, 0.0]]), num_chunks=2)  # [[1, 1, 0, 0]]
    ```
    """
    mask = ops.cast(mask, f1.dtype)
    if len(ops.shape(mask)) == 1:
        mask = ops.expand_dims(mask, 0)
    chunk_dim = ops.shape(f1)[-1] // num_chunks
    weights = ops.repeat(mask, chunk_dim, axis=-1)
    return weights * f1 + (1.0 - weights) * f2


@keras.saving.register_keras_serializable(package="lrep_zoo")
class MixingAutoEncoder(ImageInputsMixin, PresetMixin, ExportMixin, MultiPhaseModel):
    """Mixing / unmixing auto-encoder with the chunk classifier C and the adversarial loss G.

    Args:
        image_shape: Shape `(H, W, C)` of the images (H, W divisible by 4).
        num_chunks: Chunks of the code (8 on MNIST, as in the paper).
        chunk_dim: Values per chunk (64 in the paper).
        reconstruction_weight: Weight of `rec` (both auto-encoder reconstructions).
        cycle_weight: Weight of `rec_cycle` (0: no mixing / unmixing).
        classifier_weight: Weight of the chunk classifier's BCE in the generator
            loss; 0 disables C and its phase.
        adversarial_weight: Weight of the generator's GAN loss on mixed images; 0
            disables the discriminator and its phase.
        encoder_filters, decoder_filters: Widths of the DCGAN encoder / decoder.
        discriminator_filters, classifier_filters: Widths of D and C.
        classifier_hidden: Hidden units of C's dense layer.
        seed: Seed of the training masks.
        **kwargs: `keras.Model` arguments (`name`, ...).
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (28, 28, 1),
        num_chunks: int = 8,
        chunk_dim: int = 64,
        reconstruction_weight: float = 10.0,
        cycle_weight: float = 10.0,
        classifier_weight: float = 1.0,
        adversarial_weight: float = 1.0,
        encoder_filters: Sequence[int] = (32, 64),
        decoder_filters: Sequence[int] = (64, 32),
        discriminator_filters: Sequence[int] = (32, 64),
        classifier_filters: Sequence[int] = (32, 64),
        classifier_hidden: int = 128,
        seed: int | None = None,
        **kwargs,
    ):
        kwargs.setdefault("name", "mixing_autoencoder")
        super().__init__(**kwargs)
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}.")
        if int(num_chunks) < 2:
            raise ValueError(f"num_chunks must be at least 2 (mixing needs two chunks), "
                             f"got {num_chunks}.")
        if int(chunk_dim) < 1:
            raise ValueError(f"chunk_dim must be positive, got {chunk_dim}.")
        for name, value in (("reconstruction_weight", reconstruction_weight),
                            ("cycle_weight", cycle_weight),
                            ("classifier_weight", classifier_weight),
                            ("adversarial_weight", adversarial_weight)):
            if float(value) < 0:
                raise ValueError(f"{name} must be >= 0, got {value}.")
        self.image_shape = image_shape
        self.num_chunks = int(num_chunks)
        self.chunk_dim = int(chunk_dim)
        self.code_dim = self.num_chunks * self.chunk_dim
        self.reconstruction_weight = float(reconstruction_weight)
        self.cycle_weight = float(cycle_weight)
        self.classifier_weight = float(classifier_weight)
        self.adversarial_weight = float(adversarial_weight)
        self.encoder_filters = tuple(int(f) for f in encoder_filters)
        self.decoder_filters = tuple(int(f) for f in decoder_filters)
        self.discriminator_filters = tuple(int(f) for f in discriminator_filters)
        self.classifier_filters = tuple(int(f) for f in classifier_filters)
        self.classifier_hidden = int(classifier_hidden)
        self.seed = seed
        self.input_range = "0..255"
        self.rescale = ImageRescaling(image_shape, self.input_range, name="rescale")
        self.encoder = nets.encoder(image_shape, self.code_dim, self.encoder_filters)
        self.decoder = nets.decoder(self.code_dim, image_shape, self.decoder_filters)
        self.classifier = nets.chunk_classifier(
            image_shape, self.num_chunks, self.classifier_filters, self.classifier_hidden
        )
        self.discriminator = nets.discriminator(image_shape, self.discriminator_filters)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @classmethod
    def variant(cls, name: str, **kwargs) -> "MixingAutoEncoder":
        """An ablation row of the review: `"mix"`, `"mix_c"`, `"mix_g"`, `"mix_c_g"`
        (the full model), or `"ae"` (plain auto-encoder).

        Example:

        ```python
        from lrep_zoo.models import MixingAutoEncoder
        mix_only = MixingAutoEncoder.variant("mix", chunk_dim=16)
        ```
        """
        if name not in VARIANTS:
            raise ValueError(
                f"Unknown MixingAutoEncoder variant {name!r}; choose from {sorted(VARIANTS)}."
            )
        return cls(**{**kwargs, **VARIANTS[name]})

    @property
    def uses_classifier(self) -> bool:
        """Whether the chunk classifier C is trained and in the generator loss."""
        return self.classifier_weight > 0

    @property
    def uses_adversarial(self) -> bool:
        """Whether the discriminator D is trained and its loss in the generator loss."""
        return self.adversarial_weight > 0

    # ------------------------------------------------------------------ public API
    def preprocess(self, x):
        """Images in 0..255 (uint8 or float; with or without the channel axis when it is
        1) -> float32 images in [0, 1] of shape `(batch, *image_shape)`."""
        from lrep_zoo.inputs import check_shape

        # The batch dimension may be symbolic (an export trace): only the image dims are checked.
        check_shape((None, *tuple(x.shape)[1:]), self.image_shape, f"{type(self).__name__}")
        return self.rescale(x)

    def encode(self, x, training: bool = False):
        """Images (0..255) -> flat codes `(batch, num_chunks * chunk_dim)`; chunk i is
        `codes[:, i * chunk_dim:(i + 1) * chunk_dim]` (see `split_chunks`)."""
        return self._encode(self.checked_images(x, "encode"), training)

    def _encode(self, x, training=False):
        """`encode` without the eager input checks (compiled and exported graphs)."""
        return self.encoder(self.preprocess(x), training=training)

    def split_chunks(self, codes):
        """Flat codes -> `(batch, num_chunks, chunk_dim)`."""
        return ops.reshape(codes, (-1, self.num_chunks, self.chunk_dim))

    def decode(self, codes, training: bool = False):
        """Flat codes -> images in [0, 1]."""
        return self.decoder(codes, training=training)

    def reconstruct(self, x):
        """Images (0..255) -> Dec(Enc(x)) in [0, 1]."""
        return self.decode(self._encode(self.checked_images(x, "reconstruct")))

    def mix(self, x1, x2, mask):
        """Dec(m * Enc(x1) + (1 - m) * Enc(x2)): chunk i from `x1` where `mask[:, i] = 1`.

        `mask` is `(batch, num_chunks)` or `(num_chunks,)` (the same for every pair).
        """
        return self._mix(self.checked_images(x1, "mix (x1)"),
                         self.checked_images(x2, "mix (x2)"), mask)

    def _mix(self, x1, x2, mask):
        return self.decode(mix_chunks(self._encode(x1), self._encode(x2), mask, self.num_chunks))

    def transfer(self, x, source, chunk: int):
        """`x` with chunk `chunk` taken from `source` (attribute transfer)."""
        if not 0 <= int(chunk) < self.num_chunks:
            raise ValueError(f"chunk must be in 0..{self.num_chunks - 1}, got {chunk}.")
        mask = ops.convert_to_tensor(
            [0.0 if i == int(chunk) else 1.0 for i in range(self.num_chunks)]
        )
        return self.mix(x, source, mask)

    def call(self, x, training=False):
        return self.decode(self._encode(x, training=training), training=training)

    # ------------------------------------------------------------------ training
    def phases(self) -> list[Phase]:
        logs = ("rec", "rec_cycle")
        if self.uses_classifier:
            logs += ("cls",)
        if self.uses_adversarial:
            logs += ("adv",)
        phases = [
            Phase("generator", self.generator_loss,
                  self.encoder.trainable_variables + self.decoder.trainable_variables,
                  logs=logs)
        ]
        if self.uses_classifier:
            phases.append(Phase("classifier", self.classifier_loss,
                                self.classifier.trainable_variables, logs=("cls_acc",)))
        if self.uses_adversarial:
            phases.append(Phase("discriminator", self.discriminator_loss,
                                self.discriminator.trainable_variables,
                                logs=("real_logits", "fake_logits")))
        return phases

    def draw_mask(self, n):
        """`(n, num_chunks)` random 0/1 mixing masks from the seed generator."""
        u = keras.random.uniform((n, self.num_chunks), seed=self.seed_generator)
        return ops.cast(u < 0.5, "float32")

    def _pair(self, data):
        x = keras.utils.unpack_x_y_sample_weight(data)[0] if isinstance(data, tuple) else data
        x1 = self.preprocess(x)
        x2 = ops.roll(x1, 1, axis=0)
        return x1, x2, self.draw_mask(ops.shape(x1)[0])

    def _mixed(self, x1, x2, mask, training):
        n = ops.shape(x1)[0]
        codes = self.encoder(ops.concatenate([x1, x2], axis=0), training=training)
        f1, f2 = codes[:n], codes[n:]
        return f1, f2, mix_chunks(f1, f2, mask, self.num_chunks)

    def terms(self, x1, x2, mask, training: bool = False) -> dict:
        """Every loss term on images in [0, 1] and a fixed mask (see the module
        docstring): `rec`, `rec_cycle`, `cls` (C's BCE), `adv` (the generator's GAN
        loss), `disc` (the discriminator's loss), `cls_acc`; also `x3` and `x4`."""
        n = ops.shape(x1)[0]
        f1, f2, f3 = self._mixed(x1, x2, mask, training)
        decoded = self.decoder(ops.concatenate([f1, f2, f3], axis=0), training=training)
        r1, r2, x3 = decoded[:n], decoded[n : 2 * n], decoded[2 * n :]
        f3_again = self.encoder(x3, training=training)
        x4 = self.decoder(mix_chunks(f3_again, f1, mask, self.num_chunks), training=training)
        out = {
            "rec": _mse(x1, r1) + _mse(x2, r2),
            "rec_cycle": _mse(x1, x4),
            "x3": x3,
            "x4": x4,
        }
        logits = self.classifier([x1, x2, x3], training=training)
        out["cls"] = _bce(mask, logits)
        out["cls_acc"] = _chunk_accuracy(mask, logits)
        fake = self.discriminator(x3, training=training)
        out["adv"] = gan_losses.generator_loss(fake, "non_saturating")
        out["disc"] = gan_losses.discriminator_loss(
            self.discriminator(x1, training=training), fake, "non_saturating"
        )
        return out

    def generator_loss(self, data, training: bool = True):
        """`loss_fn` of the generator phase (encoder and decoder)."""
        x1, x2, mask = self._pair(data)
        n = ops.shape(x1)[0]
        f1, f2, f3 = self._mixed(x1, x2, mask, training)
        decoded = self.decoder(ops.concatenate([f1, f2, f3], axis=0), training=training)
        r1, r2, x3 = decoded[:n], decoded[n : 2 * n], decoded[2 * n :]
        rec = _mse(x1, r1) + _mse(x2, r2)
        logs = {"rec": rec, "rec_cycle": ops.zeros(())}
        loss = self.reconstruction_weight * rec
        if self.cycle_weight:
            f3_again = self.encoder(x3, training=training)
            x4 = self.decoder(mix_chunks(f3_again, f1, mask, self.num_chunks), training=training)
            logs["rec_cycle"] = _mse(x1, x4)
            loss = loss + self.cycle_weight * logs["rec_cycle"]
        if self.uses_classifier:
            logs["cls"] = _bce(mask, self.classifier([x1, x2, x3], training=training))
            loss = loss + self.classifier_weight * logs["cls"]
        if self.uses_adversarial:
            logs["adv"] = gan_losses.generator_loss(
                self.discriminator(x3, training=training), "non_saturating"
            )
            loss = loss + self.adversarial_weight * logs["adv"]
        return loss, logs

    def _mixed_images(self, x1, x2, mask, training):
        _, _, f3 = self._mixed(x1, x2, mask, training)
        return ops.stop_gradient(self.decoder(f3, training=training))

    def classifier_loss(self, data, training: bool = True):
        """`loss_fn` of the classifier phase: BCE of C on fresh mixes."""
        x1, x2, mask = self._pair(data)
        x3 = self._mixed_images(x1, x2, mask, training)
        logits = self.classifier([x1, x2, x3], training=training)
        return _bce(mask, logits), {"cls_acc": _chunk_accuracy(mask, logits)}

    def discriminator_loss(self, data, training: bool = True):
        """`loss_fn` of the discriminator phase: real x1 against fresh mixes."""
        x1, x2, mask = self._pair(data)
        x3 = self._mixed_images(x1, x2, mask, training)
        real = self.discriminator(x1, training=training)
        fake = self.discriminator(x3, training=training)
        return gan_losses.discriminator_loss(real, fake, "non_saturating"), {
            "real_logits": ops.mean(real),
            "fake_logits": ops.mean(fake),
        }

    # ------------------------------------------------------------------ export
    def export_endpoints(self) -> dict:
        """SavedModel / ONNX endpoints (see `lrep_zoo.export`): `serving_default`
        (images -> reconstruction), `encode` (images -> codes), `decode`, `mix`
        (`images1`, `images2`, `mask`: `(batch, num_chunks)` floats, 1 = from images1)."""
        images = keras.InputSpec(shape=(None, *self.image_shape))
        codes = keras.InputSpec(shape=(None, self.code_dim))
        mask = keras.InputSpec(shape=(None, self.num_chunks))
        return {
            "serving_default": (lambda x: {"reconstruction": self.decode(self._encode(x))},
                                {"images": images}),
            "encode": (lambda x: {"codes": self._encode(x)}, {"images": images}),
            "decode": (lambda c: {"images": self.decode(c)}, {"codes": codes}),
            "mix": (lambda a, b, m: {"images": self._mix(a, b, m)},
                    {"images1": images, "images2": images, "mask": mask}),
        }

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": list(self.image_shape),
                "num_chunks": self.num_chunks,
                "chunk_dim": self.chunk_dim,
                "reconstruction_weight": self.reconstruction_weight,
                "cycle_weight": self.cycle_weight,
                "classifier_weight": self.classifier_weight,
                "adversarial_weight": self.adversarial_weight,
                "encoder_filters": list(self.encoder_filters),
                "decoder_filters": list(self.decoder_filters),
                "discriminator_filters": list(self.discriminator_filters),
                "classifier_filters": list(self.classifier_filters),
                "classifier_hidden": self.classifier_hidden,
                "seed": self.seed,
            }
        )
        return config


# ---------------------------------------------------------------------- helpers
def _mse(a, b):
    # In float32: under a mixed policy the reconstructions come in the compute dtype.
    return ops.mean(ops.square(ops.cast(a, "float32") - ops.cast(b, "float32")))


def _bce(mask, logits):
    """Mean binary cross-entropy of `sigmoid(logits)` against the 0/1 `mask` (float32)."""
    logits = ops.cast(logits, "float32")
    return ops.mean(ops.softplus(logits) - ops.cast(mask, "float32") * logits)


def _chunk_accuracy(mask, logits):
    return ops.mean(ops.cast(ops.equal(ops.cast(logits > 0, "float32"), mask), "float32"))
