"""The two siamese objectives of the lecture, as pure `keras.ops` functions.

- Cosine contrastive loss (Bromley et al. 1993, lecture 001): with
  `c = cos(f(x), f(x'))`, a similar pair costs `L+ = (1 - c)^2 / 4` and a dissimilar
  pair `L- = c^2` if `c >= margin`, else 0.
- Koch et al. (2015): `p(same) = sigmoid(sum_k alpha_k |f_k(x) - f_k(x')| + b)`
  with learned `alpha` and `b` (`WeightedL1Similarity`), trained with binary
  cross-entropy on balanced pairs.

Both take per-pair scores and targets `same` (1 for a similar pair, 0 for a
dissimilar one) and return one loss per pair.

Example:

```python
import numpy as np
from lrep_zoo.models.siamese import losses
cos = losses.cosine_similarity(np.ones((2, 3)), np.array([[1., 1., 1.], [-1., 0., 0.]]))
per_pair = losses.cosine_contrastive_loss(cos, np.array([1., 0.]), margin=0.0)
```
"""

from __future__ import annotations

from keras import ops

EPSILON = 1e-7


def cosine_similarity(a, b, axis: int = -1):
    """Cosine of the angle between `a` and `b` along `axis` (broadcasting).

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.siamese.losses import cosine_similarity
    cosine_similarity(np.ones((4, 8)), np.ones((4, 8)))  # four ones
    ```
    """
    a = ops.convert_to_tensor(a, "float32")
    b = ops.convert_to_tensor(b, "float32")
    dot = ops.sum(a * b, axis=axis)
    norms = ops.sqrt(ops.sum(ops.square(a), axis=axis) * ops.sum(ops.square(b), axis=axis))
    return dot / ops.maximum(norms, EPSILON)


def cosine_contrastive_loss(cosine, same, margin: float = 0.0):
    """Per-pair `L+ = (1 - cos)^2 / 4` (same = 1), `L- = cos^2 [cos >= margin]` (same = 0).

    Args:
        cosine: Cosine similarities of the pairs, shape `(N,)`.
        same: 1 for similar pairs, 0 for dissimilar ones, shape `(N,)`.
        margin: Dissimilar pairs whose cosine is below `margin` cost nothing.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.siamese.losses import cosine_contrastive_loss
    cosine_contrastive_loss(np.array([0.5, 0.5]), np.array([1.0, 0.0]))  # [0.0625, 0.25]
    ```
    """
    cosine = ops.convert_to_tensor(cosine, "float32")
    same = ops.cast(ops.convert_to_tensor(same), cosine.dtype)
    positive = 0.25 * ops.square(1.0 - cosine)
    negative = ops.where(cosine >= margin, ops.square(cosine), ops.zeros_like(cosine))
    return same * positive + (1.0 - same) * negative


def koch_loss(probability, same):
    """Per-pair binary cross-entropy of `p(same)` (Koch et al. 2015).

    `-(same log p + (1 - same) log(1 - p))`, with `p` clipped to
    `[1e-7, 1 - 1e-7]` (as Keras' `binary_crossentropy`).

    Example:

    ```python
    import numpy as np
    from lrep_zoo.models.siamese.losses import koch_loss
    koch_loss(np.array([0.9, 0.2]), np.array([1.0, 0.0]))  # [-log 0.9, -log 0.8]
    ```
    """
    p = ops.clip(ops.convert_to_tensor(probability, "float32"), EPSILON, 1.0 - EPSILON)
    same = ops.cast(ops.convert_to_tensor(same), p.dtype)
    return -(same * ops.log(p) + (1.0 - same) * ops.log(1.0 - p))
