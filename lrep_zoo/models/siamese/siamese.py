"""Siamese networks: one shared embedding network f scores pairs of images.

Two objectives (`loss=`), both from the lecture (methods.md section 6):

- `"cosine"`: the similarity is `cos(f(x), f(x'))`; similar pairs cost
  `(1 - cos)^2 / 4`, dissimilar pairs `cos^2` when `cos >= margin` (Bromley et al. 1993).
- `"koch"`: the similarity is `p(same) = sigmoid(sum_k alpha_k |f_k(x) - f_k(x')| + b)`
  with learned `alpha`, `b` (Koch et al. 2015), trained with binary cross-entropy.

Training data are pairs `((x, x'), same)`, `same` = 1 for two images of one class and
0 otherwise, e.g. the balanced stream `lrep_zoo.data.pairs.PairBatches`. The model
takes raw images (uint8 or float in 0..255, with or without the channel axis of a
one-channel `image_shape`), rescales them to [0, 1] and, with
`input_normalization="standardize"` (default), standardises each image (zero mean,
unit variance) before f: faces under grazing light are nearly black, and a per-image
standardisation makes them as legible as frontally lit ones.

One-shot identification picks, among one support image per class, the one with the
highest `similarity(query, support)` (Koch et al.'s protocol);
`lrep_zoo.models.siamese.experiment.one_shot_accuracy` scores it.

Example:

```python
import keras
from lrep_zoo.data import yaleb
from lrep_zoo.data.pairs import PairBatches
from lrep_zoo.models import Siamese

train = yaleb.load_yaleb_npz(resolution="48x42")["train"]     # $LREP_ZOO_DATA_DIR
images, labels = train["image"][:256], train["identity"][:256]  # uint8 (256, 48, 42)
model = Siamese(image_shape=(48, 42, 1), loss="koch", filters=(8, 16), embedding_dim=16)
model.compile(optimizer=keras.optimizers.Adam(1e-3))
model.fit(PairBatches(images, labels, batch_size=16, steps_per_epoch=2, seed=0), epochs=1,
          verbose=0)
codes = model.embed(images[:8])
p_same = model.similarity(images[:8], images[8:16])
```
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from lrep_zoo.applications.preset_mixin import PresetMixin
from lrep_zoo.export import ExportMixin
from lrep_zoo.inputs import check_images
from lrep_zoo.layers.image_rescaling import ImageRescaling
from lrep_zoo.models._networks import deserialize_networks
from lrep_zoo.models.siamese import losses as siamese_losses
from lrep_zoo.models.siamese import networks as nets
from lrep_zoo.models.siamese.layers import WeightedL1Similarity
from lrep_zoo.training.distribute import scale_loss_for_distribution
from lrep_zoo.training.seed_state import SeedStateMixin

LOSSES = ("cosine", "koch")
INPUT_NORMALIZATIONS = ("standardize", "none")


@keras.saving.register_keras_serializable(package="lrep_zoo")
class Siamese(PresetMixin, ExportMixin, SeedStateMixin, keras.Model):
    """A shared embedding network on pairs, trained with a contrastive or Koch loss.

    Args:
        image_shape: Shape of one input image (H, W, C), values in 0..255.
        embedding_dim: Size of the embedding f(x).
        loss: `"cosine"` (cosine contrastive loss) or `"koch"` (weighted L1 +
            sigmoid + binary cross-entropy).
        margin: Margin of the cosine contrastive loss (dissimilar pairs with a
            cosine below it cost nothing); unused by `"koch"`.
        filters: Filter counts of the conv blocks of the built-in embedding network.
        pooling: `"flatten"` or `"avg"` (global average pooling) before its embedding.
        input_normalization: `"standardize"` (per image) or `"none"` ([0, 1] images).
        encoder: Optional `keras.Model` replacing the built-in embedding network
            (it receives the normalised images).
        seed: Seed of the initialisers of the `"koch"` head (seed the embedding
            network with `keras.utils.set_random_seed`).
        **kwargs: `keras.Model` arguments (`name`, ...).

    `call((a, b))` returns the similarity of each pair: the cosine (`"cosine"`) or
    `p(same)` (`"koch"`); higher means more alike.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (48, 42, 1),
        embedding_dim: int = 64,
        loss: str = "cosine",
        margin: float = 0.0,
        filters: Sequence[int] = (32, 64, 128),
        pooling: str = "flatten",
        input_normalization: str = "standardize",
        encoder: keras.Model | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        kwargs.setdefault("name", "siamese")
        super().__init__(**kwargs)
        if loss not in LOSSES:
            raise ValueError(f"Unknown loss {loss!r}; expected one of {LOSSES}.")
        if input_normalization not in INPUT_NORMALIZATIONS:
            raise ValueError(f"Unknown input_normalization {input_normalization!r}; "
                             f"expected one of {INPUT_NORMALIZATIONS}.")
        self.image_shape = tuple(int(d) for d in image_shape)
        if len(self.image_shape) != 3:
            raise ValueError(f"image_shape must be (height, width, channels), got {image_shape}.")
        self.embedding_dim = int(embedding_dim)
        self.loss_name = loss
        self.margin = float(margin)
        self.filters = tuple(int(f) for f in filters)
        self.pooling = pooling
        self.input_normalization = input_normalization
        self.seed = seed
        self.custom_networks = encoder is not None
        self.encoder = encoder or nets.conv_embedding(self.image_shape, self.embedding_dim,
                                                      self.filters, pooling)
        out_dim = self.encoder.output_shape[-1]
        if self.custom_networks and out_dim != self.embedding_dim:
            raise ValueError(f"The encoder's output size {out_dim} differs from "
                             f"embedding_dim={self.embedding_dim}.")
        self.rescaling = ImageRescaling(self.image_shape, "0..255", name="rescaling")
        self.head = None
        if loss == "koch":
            self.head = WeightedL1Similarity(seed=seed, name="weighted_l1")
            self.head.build((None, self.embedding_dim), (None, self.embedding_dim))
        self.built = True

    # ------------------------------------------------------------------ inputs
    def prepare(self, images, method: str | None = "prepare"):
        """Raw images (0..255, uint8 or float, channel axis optional) -> network input.

        Follows lrep_zoo's input contract (`lrep_zoo.inputs`): concrete images are
        checked (shape, dtype, not already scaled to [0, 1]), then rescaled in-graph
        (`lrep_zoo.layers.ImageRescaling`) and, by default, standardised per image.

        Raises:
            ValueError: the images do not have shape `(N, *image_shape)` (or
                `(N, H, W)` for one channel), are not numeric, or look scaled to [0, 1].
        """
        if method is not None:  # None: traced callers (call, export), in-graph half only
            images = check_images(images, self.image_shape, "0..255", owner=f"Siamese.{method}")
        x = self.rescaling(images)
        if self.input_normalization == "standardize":
            mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
            std = ops.std(x, axis=(1, 2, 3), keepdims=True)
            x = (x - mean) / (std + 1e-3)
        return x

    # ------------------------------------------------------------------ API
    def embed(self, images, training: bool = False, method: str | None = "embed"):
        """The embeddings f(x), shape `(N, embedding_dim)`.

        Args:
            images: Raw images (see `prepare`).
            training: Batch-normalisation mode.
            method: The name the input-check messages give; `None` skips the eager
                checks (for traced callers: `call`, the export endpoints).

        Example:

        ```python
        import lrep_zoo
        from lrep_zoo.data import yaleb
        faces = yaleb.load_yaleb_npz(resolution="48x42")["test"]["image"][:8]  # uint8
        model = lrep_zoo.applications.Siamese(weights="yaleb")
        codes = model.embed(faces)  # (N, 64)
        ```
        """
        return self.encoder(self.prepare(images, method), training=training)

    def score_embeddings(self, a, b):
        """Similarity of embeddings `a`, `b` (leading axes broadcast): the cosine, or
        `p(same)` for `"koch"`.

        Example:

        ```python
        import lrep_zoo
        from lrep_zoo.data import yaleb
        faces = yaleb.load_yaleb_npz(resolution="48x42")["test"]["image"]
        queries, supports = faces[:5], faces[5:8]
        model = lrep_zoo.applications.Siamese(weights="yaleb")
        q, s = model.embed(queries), model.embed(supports)
        matrix = model.score_embeddings(q[:, None], s[None])  # (Q, S)
        ```
        """
        if self.loss_name == "cosine":
            return siamese_losses.cosine_similarity(a, b)
        return ops.sigmoid(self.head(a, b))

    def similarity(self, a, b):
        """Similarity of the image pairs `(a[i], b[i])`, higher = more alike.

        Example:

        ```python
        import lrep_zoo
        from lrep_zoo.data import yaleb
        test = yaleb.load_yaleb_npz(resolution="48x42")["test"]["image"]
        faces, other_faces = test[:4], test[4:8]
        model = lrep_zoo.applications.Siamese(weights="yaleb")
        same_person = model.similarity(faces[:4], other_faces[:4]) > 0.5
        ```
        """
        return self.score_embeddings(self.embed(a, method="similarity"),
                                     self.embed(b, method="similarity"))

    def call(self, inputs, training=False):
        a, b = _pair(inputs)
        return self.score_embeddings(self.embed(a, training=training, method=None),
                                     self.embed(b, training=training, method=None))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y is None:
            raise ValueError("Siamese.fit needs targets: data ((a, b), same) with same = 1 "
                             "for similar pairs and 0 for dissimilar ones.")
        same = ops.reshape(ops.cast(y, "float32"), (-1,))
        if self.loss_name == "cosine":
            per_pair = siamese_losses.cosine_contrastive_loss(y_pred, same, self.margin)
        else:
            per_pair = siamese_losses.koch_loss(y_pred, same)
        if sample_weight is not None:
            per_pair = per_pair * ops.reshape(ops.cast(sample_weight, per_pair.dtype), (-1,))
        loss = ops.mean(per_pair)
        for extra in self.losses:  # a Python loop: ops.sum(self.losses) fails on JAX
            loss = loss + extra
        # A replica's share of the global-batch mean (tf.distribute sums gradients).
        return scale_loss_for_distribution(loss)

    # ------------------------------------------------------------------ export
    def export_endpoints(self):
        """SavedModel / ONNX endpoints (see `lrep_zoo.export`)."""
        images = keras.InputSpec(shape=(None, *self.image_shape))
        pair = (lambda a, b: {"similarity": self((a, b))},
                {"images_a": images, "images_b": images})
        return {
            "serving_default": pair,
            "similarity": pair,
            "embed": (lambda x: {"embedding": self.embed(x, method=None)}, {"images": images}),
        }

    # ------------------------------------------------------------------ config
    def get_config(self):
        config = {
            **super().get_config(),
            "image_shape": self.image_shape,
            "embedding_dim": self.embedding_dim,
            "loss": self.loss_name,
            "margin": self.margin,
            "filters": self.filters,
            "pooling": self.pooling,
            "input_normalization": self.input_normalization,
            "seed": self.seed,
        }
        if self.custom_networks:
            config["encoder"] = keras.saving.serialize_keras_object(self.encoder)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_networks(config, ("encoder",)))


def _pair(inputs):
    if isinstance(inputs, dict):
        inputs = (inputs.get("a"), inputs.get("b"))
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2 or any(i is None for i in inputs):
        raise ValueError("Siamese takes a pair of image batches: (a, b) or {'a': a, 'b': b}.")
    return inputs
