"""Data with known generative factors, for the disentanglement metrics.

A factor source gives images with their ground-truth factors, and the batches the
intervention-based metrics (`lrep_zoo.metrics.beta_vae_score`, `factor_vae_score`)
need, where one chosen factor is held fixed:

- `sample(num, rng)`: `(images, factors)`, `num` independent draws.
- `sample_pairs(factor_index, num, rng)`: `(images1, images2)`, `num` pairs; pair `i`
  shares the value of factor `factor_index`, everything else is drawn anew.
- `fixed_factor_batch(factor_index, batch_size, rng)`: `(images, factors)`, one value
  of factor `factor_index` (drawn from its marginal) for the whole batch.

`rng` is a `np.random.Generator`. Two implementations:

- `ProductFactorSource`: factors are independent and any combination can be rendered
  (disentanglement_lib's `sample_factors` / `sample_observations_from_factors`).
  `RelitFactors` renders the relit surfaces (identity, light azimuth and elevation).
- `ArrayFactorSource`: a finite labelled set, where fixing a factor is a lookup among
  the images that share its value. `yaleb_factors` wraps Extended Yale-B (identity,
  azimuth, elevation: 38 faces x 64 light positions, 2,414 images).

Example:

```python
import numpy as np
from lrep_zoo.data import factors

source = factors.RelitFactors(num_identities=10, size=32)
rng = np.random.default_rng(0)
images, values = source.sample(8, rng)          # (8, 32, 32, 1) uint8, (8, 3) float
batch, _ = source.fixed_factor_batch(0, 64, rng)  # 64 images of one identity
```
"""

from __future__ import annotations

import numpy as np

from lrep_zoo.data import relit


def _check_count(name, value, minimum=1):
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


class FactorSource:
    """Base class of data sources with known factors (see the module docstring).

    Subclasses set `factor_names` and `continuous` (one flag per factor) and
    implement `sample`, `sample_pairs` and `fixed_factor_batch`.
    """

    factor_names: tuple = ()
    continuous: tuple = ()

    @property
    def num_factors(self) -> int:
        return len(self.factor_names)

    def _check_factor(self, factor_index) -> int:
        if not 0 <= int(factor_index) < self.num_factors or int(factor_index) != factor_index:
            raise ValueError(
                f"factor_index must be an integer in [0, {self.num_factors}) "
                f"(factors {self.factor_names}), got {factor_index!r}."
            )
        return int(factor_index)

    def sample(self, num: int, rng: np.random.Generator):
        raise NotImplementedError

    def sample_pairs(self, factor_index: int, num: int, rng: np.random.Generator):
        raise NotImplementedError

    def fixed_factor_batch(self, factor_index: int, batch_size: int, rng: np.random.Generator):
        raise NotImplementedError


class ProductFactorSource(FactorSource):
    """Independent factors, any combination renderable.

    Subclasses implement `sample_factors(num, rng) -> (num, K)` and
    `sample_observations_from_factors(factors, rng) -> images`.
    """

    def sample_factors(self, num: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def sample_observations_from_factors(self, factors, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def sample(self, num, rng):
        values = self.sample_factors(_check_count("num", num), rng)
        return self.sample_observations_from_factors(values, rng), values

    def sample_pairs(self, factor_index, num, rng):
        k = self._check_factor(factor_index)
        num = _check_count("num", num)
        first = self.sample_factors(num, rng)
        second = self.sample_factors(num, rng)
        second[:, k] = first[:, k]
        return (self.sample_observations_from_factors(first, rng),
                self.sample_observations_from_factors(second, rng))

    def fixed_factor_batch(self, factor_index, batch_size, rng):
        k = self._check_factor(factor_index)
        values = self.sample_factors(_check_count("batch_size", batch_size), rng)
        values[:, k] = values[0, k]
        return self.sample_observations_from_factors(values, rng), values


class RelitFactors(ProductFactorSource):
    """Relit surfaces rendered from factors (identity, azimuth, elevation).

    The identities are the surfaces of `relit.relit_surfaces` called with the same
    `num_identities`, `images_per_pair`, `size`, `jitter`, `noise` and `seed`, so a
    model trained on that dataset is scored on its own identities. Factors are drawn
    independently: identity uniform over the surfaces (discrete), azimuth and elevation
    (degrees) uniform over the range the dataset covers, its 3 x 3 light grid widened
    by `jitter` ([-56, 56] x [-41, 41] by default; continuous). Images are rendered
    like the dataset's: Lambertian shading, pixel noise of std `noise`, uint8
    `(N, size, size, 1)`.

    Args:
        num_identities, images_per_pair, size, jitter, noise, seed: as in
            `relit.relit_surfaces`.
        azimuth_range, elevation_range: `(low, high)` in degrees; `None` for the
            dataset's range.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.data.factors import RelitFactors

    source = RelitFactors(num_identities=10, size=32)
    rng = np.random.default_rng(0)
    left, right = source.sample_pairs(1, 16, rng)  # 16 pairs sharing their azimuth
    ```
    """

    factor_names = ("identity", "azimuth", "elevation")
    continuous = (False, True, True)

    def __init__(self, num_identities: int = 10, images_per_pair: int = 8, size: int = 64,
                 jitter: float = 6.0, noise: float = 0.02, seed: int = 0,
                 azimuth_range=None, elevation_range=None, ambient: float = 0.08):
        self.num_identities = _check_count("num_identities", num_identities)
        self.noise = float(noise)
        self.ambient = float(ambient)
        heights, self.albedos = relit.identity_surfaces(
            num_identities, images_per_pair, size, jitter, noise, seed)
        self.normals = np.stack([relit.surface_normals(h) for h in heights])
        azimuths, elevations = np.array(relit.LIGHTS, dtype=float).T
        default_azimuth = (azimuths.min() - jitter, azimuths.max() + jitter)
        default_elevation = (elevations.min() - jitter, elevations.max() + jitter)
        self.azimuth_range = tuple(float(v) for v in (azimuth_range or default_azimuth))
        self.elevation_range = tuple(float(v) for v in (elevation_range or default_elevation))

    def sample_factors(self, num, rng):
        num = _check_count("num", num)
        return np.stack([
            rng.integers(0, self.num_identities, num).astype(float),
            rng.uniform(*self.azimuth_range, num),
            rng.uniform(*self.elevation_range, num),
        ], axis=1)

    def sample_observations_from_factors(self, factors, rng):
        factors = np.asarray(factors, dtype=float)
        if factors.ndim != 2 or factors.shape[1] != 3:
            raise ValueError("factors must have shape (N, 3) (identity, azimuth, elevation), "
                             f"got {factors.shape}.")
        identity = factors[:, 0].astype(np.int64)
        if identity.min(initial=0) < 0 or identity.max(initial=0) >= self.num_identities:
            raise ValueError(f"identity factors must lie in [0, {self.num_identities}).")
        light = relit.light_direction(factors[:, 1], factors[:, 2])
        image = np.empty((len(factors),) + self.albedos.shape[1:])
        for i in np.unique(identity):  # one matrix product per surface (no gather of normals)
            rows = identity == i
            shading = np.maximum(np.moveaxis(self.normals[i] @ light[rows].T, -1, 0), 0.0)
            image[rows] = np.clip(self.albedos[i] * shading + self.ambient, 0.0, 1.0)
        image += rng.normal(0.0, self.noise, image.shape)
        return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)[..., None]


class ArrayFactorSource(FactorSource):
    """A finite set of images with their factors; fixed-factor batches are lookups.

    Images are drawn uniformly with replacement. Fixing factor k takes one image's
    value of k (so values follow the data's marginal) and draws the rest of the batch
    among the images that share it: on data whose factors are not a full product
    (Yale-B's 64 light positions are not every azimuth x elevation), the other factors
    follow their distribution given that value. Continuous factors are matched by
    their bin among `num_bins` equal-width bins over their range.

    Args:
        images: Array of N observations (any shape after the first axis).
        factors: `(N, K)` factor values.
        factor_names: K names; defaults to `factor_0`, ...
        continuous: K flags, a single flag, or `None`: a factor is continuous when its
            column is floating point with non-integer values.
        num_bins: Bins of continuous factors.

    Example:

    ```python
    import numpy as np
    from lrep_zoo.data.factors import ArrayFactorSource

    values = np.stack(np.meshgrid(np.arange(5), np.arange(4), indexing="ij"), -1).reshape(-1, 2)
    source = ArrayFactorSource(values.astype("float32"), values, ("a", "b"))
    batch, fixed = source.fixed_factor_batch(1, 8, np.random.default_rng(0))  # fixed[:, 1] constant
    ```
    """

    def __init__(self, images, factors, factor_names=None, continuous=None, num_bins: int = 20):
        self.images = np.asarray(images)
        self.factors = np.asarray(factors)
        if self.factors.ndim != 2:
            raise ValueError(f"factors must have shape (N, K), got {self.factors.shape}.")
        if len(self.images) != len(self.factors):
            raise ValueError(f"images and factors differ in length: {len(self.images)} vs "
                             f"{len(self.factors)}.")
        if len(self.factors) < 2:
            raise ValueError(f"need at least 2 images, got {len(self.factors)}.")
        k = self.factors.shape[1]
        self.factor_names = tuple(factor_names or (f"factor_{i}" for i in range(k)))
        if len(self.factor_names) != k:
            raise ValueError(f"{len(self.factor_names)} factor names for {k} factors.")
        if continuous is None:
            floating = np.issubdtype(self.factors.dtype, np.floating)
            continuous = [bool(floating and np.any(col != np.round(col))) for col in self.factors.T]
        elif np.ndim(continuous) == 0:
            continuous = [bool(continuous)] * k
        if len(continuous) != k:
            raise ValueError(f"continuous has {len(continuous)} flags for {k} factors.")
        self.continuous = tuple(bool(c) for c in continuous)
        # Per factor: image indices sorted by key, the start and size of each key's run,
        # and each image's run.
        self._groups = []
        for col, cont in zip(self.factors.T, self.continuous):
            if cont:
                edges = np.histogram_bin_edges(col, num_bins)
                col = np.digitize(col, edges[1:-1])
            _, inverse, counts = np.unique(col, return_inverse=True, return_counts=True)
            order = np.argsort(inverse, kind="stable")
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            self._groups.append((order, starts, counts, inverse.reshape(-1)))

    def _same_value(self, k, anchors, num, rng):
        order, starts, counts, inverse = self._groups[k]
        run = inverse[anchors]
        return order[starts[run] + (rng.random(num) * counts[run]).astype(np.int64)]

    def sample(self, num, rng):
        idx = rng.integers(0, len(self.images), _check_count("num", num))
        return self.images[idx], self.factors[idx]

    def sample_pairs(self, factor_index, num, rng):
        k = self._check_factor(factor_index)
        first = rng.integers(0, len(self.images), _check_count("num", num))
        second = self._same_value(k, first, len(first), rng)
        return self.images[first], self.images[second]

    def fixed_factor_batch(self, factor_index, batch_size, rng):
        k = self._check_factor(factor_index)
        batch_size = _check_count("batch_size", batch_size)
        anchor = np.full(batch_size, rng.integers(0, len(self.images)))
        idx = self._same_value(k, anchor, batch_size, rng)
        return self.images[idx], self.factors[idx]


def yaleb_factors(data_dir=None, resolution: str = "192x168",
                  splits=("train", "validation", "test")) -> ArrayFactorSource:
    """Extended Yale-B as an `ArrayFactorSource` with factors (identity, azimuth, elevation).

    Identity is 0..37; azimuth and elevation are the light position in degrees (integers
    on the 64-position grid: discrete factors). Images are uint8 `(N, H, W, 1)` from
    `yaleb.load_yaleb_npz`. Fixing the identity draws among that person's images,
    fixing the azimuth among the images lit from that azimuth (any person, any
    elevation it occurs with).

    Args:
        data_dir: As in `yaleb.load_yaleb_npz` (the folder holding `yaleb_cropped/`).
        resolution: `"192x168"` or `"48x42"`.
        splits: The splits to pool (default all 2,414 images).

    Example:

    ```python
    import numpy as np
    from lrep_zoo.data.factors import yaleb_factors

    # data_dir=None: $LREP_ZOO_DATA_DIR (the folder holding yaleb_cropped/).
    source = yaleb_factors(None, resolution="48x42")
    images, values = source.fixed_factor_batch(0, 64, np.random.default_rng(0))  # one person
    ```
    """
    from lrep_zoo.data import yaleb

    data = yaleb.load_yaleb_npz(data_dir, resolution)
    splits = (splits,) if isinstance(splits, str) else tuple(splits)
    unknown = sorted(set(splits) - set(yaleb.SPLITS))
    if unknown or not splits:
        raise ValueError(f"splits must be a non-empty subset of {yaleb.SPLITS}, got {splits!r}.")
    images = np.concatenate([data[s]["image"] for s in splits])
    values = np.concatenate([
        np.stack([data[s]["identity"], data[s]["azimuth"], data[s]["elevation"]], axis=1)
        for s in splits
    ]).astype(np.int64)
    return ArrayFactorSource(images, values, ("identity", "azimuth", "elevation"),
                             continuous=False)
