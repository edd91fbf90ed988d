"""HybridNet (Robert, Thome, Cord, ECCV 2018): classification and reconstruction cooperation."""

from __future__ import annotations

from typing import Mapping

import keras
from keras import ops

from lrep_zoo.applications.preset_mixin import PresetMixin
from lrep_zoo.export import ExportMixin
from lrep_zoo.training.distribute import scale_loss_for_distribution
from lrep_zoo.inputs import ImageInputsMixin, check_input_range
from lrep_zoo.layers.batch_normalization import BatchNormalization
from lrep_zoo.layers.image_rescaling import ImageRescaling
from lrep_zoo.layers.shade import SHADE
from lrep_zoo.losses import branch_balancing as bb
from lrep_zoo.models._networks import deserialize_networks
from lrep_zoo.models.hybridnet.layers import TeacherBatchNormalization
from lrep_zoo.training import seed_state
from lrep_zoo.training.data_checks import LabelSpec, checked_fit
from lrep_zoo.training.ema import ema_update
from lrep_zoo.training.schedules import sigmoid_rampup

LOSS_TERMS = ("classification", "stability", "reconstruction", "intermediate", "balancing")
DEFAULT_LOSS_WEIGHTS = {
    "classification": 1.0,
    "stability": 1.0,
    "reconstruction": 1.0,
    "intermediate": 0.5,
    "balancing": 1.0,
}
STABILITY = ("mean_teacher", "pi", None)
FUSIONS = ("late", "early")
_NETWORKS = ("encoder_c", "classifier", "decoder_c", "encoder_u", "decoder_u")


def random_translate(images, max_shift: int, seed=None):
    """Shifts each image by its own random integer offset in `[-max_shift, max_shift]`.

    Mirror padding, then a per-sample crop written as two one-hot matrix
    products, so that it jit-compiles on every backend (unlike
    `keras.layers.RandomTranslation`). Images are channels-last `(B, H, W, C)`.

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.models.hybridnet.hybridnet import random_translate

    x, _ = lrep_zoo.data.load_arrays("mnist", "test")
    images = x[:8].astype("float32") / 255.0  # (8, 28, 28, 1)
    shifted = random_translate(images, 2, seed=keras.random.SeedGenerator(0))  # (8, 28, 28, 1)
    ```
    """
    if not max_shift:
        return images
    p = int(max_shift)
    h, w = int(images.shape[1]), int(images.shape[2])
    padded = ops.pad(images, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")
    batch = ops.shape(images)[:1]
    dy = keras.random.randint(batch, 0, 2 * p + 1, seed=seed, dtype="int32")
    dx = keras.random.randint(batch, 0, 2 * p + 1, seed=seed, dtype="int32")
    rows = ops.one_hot(ops.arange(h, dtype="int32")[None, :] + dy[:, None], h + 2 * p)
    cols = ops.one_hot(ops.arange(w, dtype="int32")[None, :] + dx[:, None], w + 2 * p)
    rows = ops.cast(rows, images.dtype)
    cols = ops.cast(cols, images.dtype)
    out = ops.einsum("bik,bkwc->biwc", rows, padded)
    return ops.einsum("bjk,bikc->bijc", cols, out)


def random_flip(images, seed=None):
    """Flips each image left-right with probability 1/2 (jit-able)."""
    flip = keras.random.uniform(ops.shape(images)[:1], seed=seed) < 0.5
    return ops.where(flip[:, None, None, None], ops.flip(images, axis=2), images)


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


@keras.saving.register_keras_serializable(package="lrep_zoo")
class HybridNet(ImageInputsMixin, PresetMixin, ExportMixin, keras.Model):
    """Two-branch semi-supervised model: classification and reconstruction cooperate.

    Discriminative branch: `E_c -> h_c -> classifier -> y_hat` and
    `D_c(h_c) -> x_hat_c`; unsupervised branch: `E_u -> h_u -> D_u -> x_hat_u`;
    late fusion `x_hat = x_hat_c + x_hat_u` (or `fusion="early"`: one decoder,
    `decoder_c`, on `concat([h_c, h_u])`). Batches mix labelled and unlabelled
    samples; a label `< 0` marks an unlabelled sample.

    Training loss, each term `weight * ramp(step) * term` (ramp
    `exp(-5 (1 - t)^2)`, `t = step / rampup_steps`), a weight of 0 or `None`
    switching the term (and its computation) off:

    - `classification`: cross-entropy on the labelled samples only;
    - `stability`: `||softmax(student) - softmax(teacher)||^2` (mean over
      classes and batch) against a Mean Teacher (EMA of the trainable weights
      of `E_c` + classifier, no decoder, another augmentation and noise draw,
      run in training mode: BatchNorm on batch statistics, its moving
      statistics its own) or, `stability="pi"`, a
      second stochastic pass of the model itself (detached);
    - `reconstruction`: `||x - x_hat||^2`;
    - `intermediate`: each decoder activation `r_l` reconstructs the matching
      encoder activation, `mse(r_l, sg(a_l))`;
    - `balancing`: branch balancing with per-sample selective stop-gradient
      (`lrep_zoo.losses.branch_balancing_loss`): only the branch that
      reconstructs worse gets gradient (late fusion only);
    - plus the layers' own losses (`SHADE` in the encoders).

    Each enabled term is logged by `fit`/`evaluate` as `<term>_loss`, with the
    `accuracy` on labelled samples. Reconstruction targets are the augmented,
    noise-free inputs; the student sees them with Gaussian noise.

    Networks (functional models): encoders map images to `[h, a_1, ..., a_k]`
    (or `h`), decoders map codes to `[x_hat, r_1, ..., r_k]` (or `x_hat`), with
    `r_l` shaped like `a_l` (see `lrep_zoo.models.hybridnet.mnist_networks` and
    `lrep_zoo.models.hybridnet.convlarge`). `encoder_u`, `decoder_c` and `decoder_u` are
    optional: without them the model is the supervised (or Mean Teacher)
    baseline with the same encoder, data and augmentation.

    Outputs of `call` (a dict): `probabilities`, `logits`, and where the
    branches exist `x_hat`, `x_hat_c`, `x_hat_u`.

    Input contract (`lrep_zoo.inputs`): images in `input_range` ("0..255": uint8 or
    float as the dataset gives them, the preset's; "0..1": already scaled, the
    default), `(N, H, W, C)` of the encoder's input or `(N, H, W)` for grayscale, in
    `fit`, `predict`, `classify` and `reconstruct` alike; the networks see them
    rescaled to [0, 1] (then any normalisation they hold), reconstructions are on that
    scale.

    Args:
        encoder_c, classifier: discriminative encoder and classifier (logits).
        decoder_c: decoder of `h_c` (late fusion) or of `[h_c, h_u]` (early).
        encoder_u, decoder_u: unsupervised branch.
        fusion: `"late"` or `"early"`.
        loss_weights: `{term: weight}` over `LOSS_TERMS`; missing terms take
            `DEFAULT_LOSS_WEIGHTS`.
        rampup_steps: `{term: steps}` of sigmoid ramp-up (0: none).
        stability: `"mean_teacher"`, `"pi"` or `None`.
        ema_decay: Mean Teacher decay (`min(1 - 1/(step + 1), ema_decay)`).
        input_noise: std of the Gaussian input noise during training.
        max_translation: random translation in pixels during training.
        flip: random horizontal flips during training.
        seed: seed of the noise and augmentation.
        input_range: `"0..1"` or `"0..255"` (see the input contract above).

    Example:

    ```python
    import keras
    import lrep_zoo
    from lrep_zoo.models import HybridNet
    from lrep_zoo.models.hybridnet import mnist_networks as hybrid_mnist

    x, y = lrep_zoo.data.load_arrays("mnist", "train")
    x_test = lrep_zoo.data.load_arrays("mnist", "test")[0][:100] / 255.0  # the default 0..1
    model = HybridNet(**hybrid_mnist.networks(), stability="mean_teacher",
                      loss_weights={"stability": 10.0}, rampup_steps={"stability": 1000})
    # run_eagerly: no graph to build for these 2 steps (the mnist_100 preset trained
    # thousands of steps, steps_per_epoch=500, compiled)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    model.fit(lrep_zoo.data.semi_supervised(x, y, 100, batch_size=32), steps_per_epoch=2,
              epochs=1, verbose=0)
    probabilities = model.predict(x_test, verbose=0)["probabilities"]  # (100, 10)
    ```
    """

    def __init__(
        self,
        encoder_c: keras.Model,
        classifier: keras.Model,
        decoder_c: keras.Model | None = None,
        encoder_u: keras.Model | None = None,
        decoder_u: keras.Model | None = None,
        fusion: str = "late",
        loss_weights: Mapping[str, float] | None = None,
        rampup_steps: Mapping[str, int] | None = None,
        stability: str | None = "mean_teacher",
        ema_decay: float = 0.99,
        input_noise: float = 0.15,
        max_translation: int = 2,
        flip: bool = False,
        seed: int | None = None,
        input_range: str = "0..1",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}.")
        if stability not in STABILITY:
            raise ValueError(f"stability must be one of {STABILITY}, got {stability!r}.")
        for name, mapping in (("loss_weights", loss_weights), ("rampup_steps", rampup_steps)):
            unknown = set(mapping or {}) - set(LOSS_TERMS)
            if unknown:
                raise ValueError(f"Unknown {name} keys {sorted(unknown)}; terms: {LOSS_TERMS}.")
        self.encoder_c = encoder_c
        self.classifier = classifier
        self.decoder_c = decoder_c
        self.encoder_u = encoder_u
        self.decoder_u = decoder_u
        self.fusion = fusion
        self.stability = stability
        self.ema_decay = float(ema_decay)
        self.input_noise = float(input_noise)
        self.max_translation = int(max_translation)
        self.flip = bool(flip)
        self.seed = seed
        self.image_shape = tuple(int(d) for d in encoder_c.inputs[0].shape[1:])
        self.input_range = check_input_range(input_range)
        self.rescale = ImageRescaling(self.image_shape, self.input_range, name="rescale")

        weights = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
        self.loss_weights = {k: float(v or 0.0) for k, v in weights.items()}
        self.rampup_steps = {k: int((rampup_steps or {}).get(k, 0)) for k in LOSS_TERMS}
        if stability is None:
            self.loss_weights["stability"] = 0.0
        self._check_branches()

        self.seed_generator = keras.random.SeedGenerator(seed)
        self.train_steps = self.add_weight(
            shape=(), initializer="zeros", trainable=False, dtype="float32",
            name="train_steps", autocast=False,  # float32 under mixed precision
        )
        self.teacher_encoder = self.teacher_classifier = None
        if self._enabled("stability") and stability == "mean_teacher":
            self.teacher_encoder = _teacher_copy(encoder_c, "teacher_encoder")
            self.teacher_classifier = _teacher_copy(classifier, "teacher_classifier")
            teachers = [self.teacher_encoder, self.teacher_classifier]
            students = [encoder_c, classifier]
            # The teacher starts as the student (an arithmetic copy: distinct JAX buffers).
            ema_update(*zip(*_weight_pairs(teachers, students)), decay=0.0)
            # The EMA follows the student's trainable weights; the teacher's BatchNorm
            # moving statistics are its own (updated by its batch-statistics passes).
            self.ema_pairs = _weight_pairs(teachers, students, trainable_only=True)

        self.loss_trackers = {
            term: keras.metrics.Mean(name=f"{term}_loss")
            for term in LOSS_TERMS if self._enabled(term)
        }
        has_shade = any(
            isinstance(layer, SHADE)
            for net in (encoder_c, encoder_u, classifier) if net is not None
            for layer in _layers_within(net)
        )
        self.regularization_tracker = (
            keras.metrics.Mean(name="regularization_loss") if has_shade else None
        )
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.built = True

    # ------------------------------------------------------------------ checks
    def _enabled(self, term: str) -> bool:
        return self.loss_weights.get(term, 0.0) > 0.0

    def _check_branches(self):
        late = self.fusion == "late"
        if self.decoder_u is not None and self.encoder_u is None:
            raise ValueError("decoder_u needs encoder_u.")
        if not late and (self.encoder_u is None or self.decoder_c is None):
            raise ValueError("fusion='early' needs encoder_u and decoder_c (the joint decoder).")
        if not late and self.decoder_u is not None:
            raise ValueError("fusion='early' uses one decoder (decoder_c); decoder_u must be None.")
        if self.decoder_c is None and self.decoder_u is None:
            for term in ("reconstruction", "intermediate", "balancing"):
                self.loss_weights[term] = 0.0  # nothing to reconstruct with
        if self._enabled("balancing") and not (
            late and self.decoder_c is not None and self.decoder_u is not None
        ):
            raise ValueError(
                "Branch balancing needs late fusion with both decoders (decoder_c and "
                "decoder_u); set loss_weights={'balancing': 0} otherwise."
            )

    # ------------------------------------------------------------- forward
    def _noisy(self, images):
        if self.input_noise <= 0:
            return images
        return images + self.input_noise * keras.random.normal(
            ops.shape(images), seed=self.seed_generator, dtype=images.dtype
        )

    def augment(self, images):
        """Random translation (mirror padding) and flip, as in training."""
        images = random_translate(images, self.max_translation, seed=self.seed_generator)
        if self.flip:
            images = random_flip(images, seed=self.seed_generator)
        return images

    def _branches(self, inputs, training):
        """All forward quantities of the student on `inputs` (already augmented)."""
        enc_c = _as_list(self.encoder_c(inputs, training=training))
        logits = self.classifier(enc_c[0], training=training)
        out = {"logits": logits, "probabilities": ops.softmax(logits), "_pairs": []}
        enc_u = None
        if self.encoder_u is not None:
            enc_u = _as_list(self.encoder_u(inputs, training=training))
        if self.fusion == "early":
            code = ops.concatenate([enc_c[0], enc_u[0]], axis=-1)
            dec = _as_list(self.decoder_c(code, training=training))
            out["x_hat"] = dec[0]
            targets = [ops.concatenate([a, b], axis=-1) for a, b in zip(enc_c[1:], enc_u[1:])]
            out["_pairs"] = list(zip(targets, dec[1:]))
            return out
        x_hat = None
        if self.decoder_c is not None:
            dec_c = _as_list(self.decoder_c(enc_c[0], training=training))
            out["x_hat_c"] = x_hat = dec_c[0]
            out["_pairs"] += list(zip(enc_c[1:], dec_c[1:]))
        if self.decoder_u is not None:
            dec_u = _as_list(self.decoder_u(enc_u[0], training=training))
            out["x_hat_u"] = dec_u[0]
            x_hat = dec_u[0] if x_hat is None else x_hat + dec_u[0]
            out["_pairs"] += list(zip(enc_u[1:], dec_u[1:]))
        if x_hat is not None:
            out["x_hat"] = x_hat
        return out

    def call(self, inputs, training=False):
        inputs = self.rescale(inputs)
        if not training:
            out = self._branches(inputs, training=False)
            out.pop("_pairs")
            return out
        target = self.augment(inputs)
        out = self._branches(self._noisy(target), training=True)
        out["_target"] = target
        if self._enabled("stability"):
            view = self._noisy(self.augment(inputs))
            if self.stability == "mean_teacher":
                # Training mode, as in Mean Teacher: batch statistics (see
                # `TeacherBatchNormalization`) and the teacher's own dropout.
                h_t = _as_list(self.teacher_encoder(view, training=True))[0]
                teacher_logits = self.teacher_classifier(h_t, training=True)
                step = ops.convert_to_tensor(self.train_steps)
                decay = ops.minimum(1.0 - 1.0 / (step + 1.0), self.ema_decay)
                ema_update(*zip(*self.ema_pairs), decay=decay)
            else:  # Pi-model: a second stochastic pass of the student
                h_t = _as_list(self.encoder_c(view, training=True))[0]
                teacher_logits = self.classifier(h_t, training=True)
            out["_teacher_probabilities"] = ops.stop_gradient(ops.softmax(teacher_logits))
        return out

    # ------------------------------------------------------------------ training
    def labels_to_check(self, y) -> list:
        """`fit`'s label check: integer class indices below the classifier's number of
        logits, negative for an unlabelled sample."""
        outputs = getattr(self.classifier, "outputs", None)
        classes = outputs[0].shape[-1] if outputs else None
        if classes is None:
            return []
        source = f"the classifier has {classes} logits"
        return [(LabelSpec("y", int(classes), source, unlabelled=True), y)]

    def fit(self, *args, **kwargs):
        """`keras.Model.fit` after checking the labels (a `ValueError` before training,
        or at the first bad batch of a `tf.data.Dataset`) and warning about one-sample
        batches (BatchNorm); see `lrep_zoo.training.data_checks`."""
        return checked_fit(self, super().fit, args, kwargs, self.labels_to_check)

    def save_own_variables(self, store):
        # With the seed-generator state: resumed training draws the same noise.
        super().save_own_variables(store)
        seed_state.save_seed_states(self, store)

    def load_own_variables(self, store):
        super().load_own_variables(seed_state.load_seed_states(self, store))

    # ------------------------------------------------------------------ loss
    def _ramped(self, term, step):
        weight = self.loss_weights[term]
        if self.rampup_steps[term] > 0:
            return weight * sigmoid_rampup(step, self.rampup_steps[term])
        return weight

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Weighted sum of the enabled terms (see the class docstring); logs each term.

        `sample_weight` is not supported (labelled samples are marked by labels >= 0).
        """
        step = ops.convert_to_tensor(self.train_steps)
        terms = {}
        if y is not None:
            mask = bb.labelled_mask(y)
            labels = ops.maximum(ops.reshape(y, (-1,)), 0)
            self.accuracy_tracker.update_state(labels, y_pred["probabilities"], sample_weight=mask)
            if self._enabled("classification"):
                terms["classification"] = bb.masked_sparse_categorical_crossentropy(
                    y, y_pred["logits"]
                )
        target = y_pred.get("_target")
        if target is None and x is not None:
            target = self.rescale(x)
        if self._enabled("reconstruction"):
            terms["reconstruction"] = ops.mean(bb.per_sample_squared_error(target, y_pred["x_hat"]))
        if "_pairs" in y_pred and self._enabled("intermediate"):
            targets, recs = zip(*y_pred["_pairs"]) if y_pred["_pairs"] else ((), ())
            terms["intermediate"] = bb.intermediate_reconstruction_loss(targets, recs)
        if training and self._enabled("balancing"):
            terms["balancing"] = bb.branch_balancing_loss(
                target, y_pred["x_hat_c"], y_pred["x_hat_u"]
            )
        if "_teacher_probabilities" in y_pred:
            terms["stability"] = bb.stability_loss(
                y_pred["probabilities"], y_pred["_teacher_probabilities"]
            )
        total = ops.convert_to_tensor(0.0)
        for term, value in terms.items():
            self.loss_trackers[term].update_state(value)
            total = total + self._ramped(term, step) * value
        regularization = ops.convert_to_tensor(0.0)
        for extra in self.losses:  # a Python loop: ops.sum(self.losses) fails on JAX
            regularization = regularization + ops.cast(extra, "float32")
        if self.regularization_tracker is not None:
            self.regularization_tracker.update_state(regularization)
        if training:
            self.train_steps.assign(step + 1.0)
        # A replica's share of the global-batch mean (tf.distribute sums gradients).
        return scale_loss_for_distribution(total + regularization)

    # ------------------------------------------------------------ inference
    def classify(self, images):
        """Class probabilities of (clean) images."""
        images = self.rescale(self.checked_images(images, "classify"))
        logits = self.classifier(
            _as_list(self.encoder_c(images, training=False))[0],
            training=False,
        )
        return ops.softmax(logits)

    def reconstruct(self, images) -> dict:
        """`{"x_hat", "x_hat_c", "x_hat_u"}` (those that exist) of (clean) images, on
        the [0, 1] scale."""
        out = self(self.checked_images(images, "reconstruct"), training=False)
        return {k: out[k] for k in ("x_hat", "x_hat_c", "x_hat_u") if k in out}

    def export_endpoints(self):
        """Endpoints of `lrep_zoo.export.export_saved_model`.

        `serving_default`: `images -> probabilities`; `reconstruct`:
        `images -> x_hat, x_hat_c, x_hat_u` (when the model has decoders).
        """
        images = keras.InputSpec(shape=(None, *self.image_shape), dtype="float32")
        endpoints = {
            "serving_default": (lambda x: {"probabilities": self.classify(x)}, {"images": images}),
        }
        if self.decoder_c is not None or self.decoder_u is not None:
            endpoints["reconstruct"] = (self.reconstruct, {"images": images})
        return endpoints

    # ------------------------------------------------------------- config
    def get_config(self):
        config = super().get_config()
        for key in _NETWORKS:
            net = getattr(self, key)
            config[key] = None if net is None else keras.saving.serialize_keras_object(net)
        config.update(
            {
                "fusion": self.fusion,
                "loss_weights": dict(self.loss_weights),
                "rampup_steps": dict(self.rampup_steps),
                "stability": self.stability,
                "ema_decay": self.ema_decay,
                "input_noise": self.input_noise,
                "max_translation": self.max_translation,
                "flip": self.flip,
                "seed": self.seed,
                "input_range": self.input_range,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_networks(config, _NETWORKS))


def _teacher_copy(model: keras.Model, name: str) -> keras.Model:
    """A frozen copy of `model` for the Mean Teacher, its `SHADE` layers removed.

    Its BatchNorm layers are `TeacherBatchNormalization` (batch statistics in
    training mode although frozen).
    """

    def clone(layer):
        if isinstance(layer, SHADE):
            return keras.layers.Identity(name=layer.name)
        if type(layer) in (keras.layers.BatchNormalization, BatchNormalization):
            return TeacherBatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    teacher = keras.models.clone_model(model, clone_function=clone)
    teacher = keras.Model(teacher.inputs, teacher.outputs, name=name)
    teacher.trainable = False
    return teacher


def _weight_pairs(teachers, students, trainable_only=False):
    """`(teacher_variable, student_variable)` pairs, matched by layer name.

    `trainable_only`: only the pairs whose student variable is trainable.
    """
    pairs = []
    for teacher, student in zip(teachers, students):
        by_name = {layer.name: layer for layer in student.layers}
        for layer in teacher.layers:
            if not layer.weights:
                continue
            source = by_name[layer.name]
            if len(source.weights) != len(layer.weights):
                raise ValueError(f"Teacher layer {layer.name} does not match the student.")
            pairs.extend((t, s) for t, s in zip(layer.weights, source.weights)
                         if s.trainable or not trainable_only)
    return pairs


def _layers_within(layer):
    """`layer` and the layers nested in it, through the public `Model.layers`.

    Keras has no public recursive list of a layer's sub-layers: layers nested in a
    plain (non-`Model`) layer are not reached. Every network lrep_zoo builds, and
    any functional, Sequential or subclassed `Model`, nests its layers in Models.
    """
    yield layer
    if isinstance(layer, keras.Model):
        for sub in layer.layers:
            yield from _layers_within(sub)
