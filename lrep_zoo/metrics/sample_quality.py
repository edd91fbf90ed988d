"""Sample-quality metrics that run offline: FID and KID on classifier features.

`frechet_distance` / `kernel_inception_distance` take feature arrays from any
network. lrep_zoo computes them on the penultimate layer (`"features"`) of a small
MNIST classifier trained by `recipes/mnist_features.py`: these are *domain-classifier
scores* (like the "FID" of many MNIST papers), comparable with each other but not
with Inception FID values. `inception_features` gives the usual Inception-v3
pool features when you have the ImageNet weights file (no download is attempted
unless `weights="imagenet"`).

Example:

```python
import keras
import lrep_zoo
from lrep_zoo.experiments import mnist_feature_classifier
from lrep_zoo.metrics.sample_quality import (
    extract_features, frechet_distance, kernel_inception_distance, load_feature_extractor)
from lrep_zoo.models import GAN

# recipes/mnist_features.py trains and saves the classifier (3 epochs on all of MNIST,
# runs/mnist_features/mnist_features.keras); here one quick epoch on 512 digits.
x_train, y_train = lrep_zoo.data.load_arrays("mnist", "train[:512]")
classifier = mnist_feature_classifier()
classifier.compile("adam", "sparse_categorical_crossentropy")
classifier.fit(x_train / 255.0, y_train, epochs=1, batch_size=128, verbose=0)
classifier.save("mnist_features.keras")

extractor = load_feature_extractor("mnist_features.keras")
x_test, _ = lrep_zoo.data.load_arrays("mnist", "test")
real = extract_features(extractor, x_test[:500] / 255.0)      # (500, 128), images in [0, 1]
gan = GAN((28, 28, 1), generator_filters=(16, 8), discriminator_filters=(8, 16))  # untrained
samples = keras.ops.convert_to_numpy(gan.sample(500, seed=0))  # (500, 28, 28, 1) in [0, 1]
fake = extract_features(extractor, samples)                   # (500, 128)
fid = frechet_distance(real, fake)
kid_mean, kid_std = kernel_inception_distance(real, fake, subsets=10, subset_size=200)
```
"""

from __future__ import annotations

import os

import keras
import numpy as np

FEATURE_LAYER = "features"


def load_feature_extractor(path: str | os.PathLike) -> keras.Model:
    """The classifier saved by `recipes/mnist_features.py`, cut at its `features` layer."""
    classifier = keras.saving.load_model(path, compile=False)
    return feature_extractor(classifier)


def feature_extractor(classifier: keras.Model, layer: str = FEATURE_LAYER) -> keras.Model:
    """A functional classifier cut at `layer`, returning `(features, logits)`."""
    return keras.Model(
        classifier.inputs, [classifier.get_layer(layer).output, classifier.outputs[0]]
    )


def extract_features(extractor: keras.Model, images, batch_size: int = 500,
                     return_logits: bool = False):
    """Features (and logits if `return_logits`) of `images` as float64 NumPy arrays."""
    images = np.asarray(images, "float32")
    feats, logits = [], []
    for i in range(0, len(images), batch_size):
        f, l = extractor(images[i : i + batch_size], training=False)
        feats.append(keras.ops.convert_to_numpy(f))
        logits.append(keras.ops.convert_to_numpy(l))
    feats = np.concatenate(feats).astype("float64")
    return (feats, np.concatenate(logits)) if return_logits else feats


def _sqrt_psd(matrix):
    w, v = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(features_a, features_b) -> float:
    """`||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))` of two feature sets.

    The trace of the matrix square root is computed as the sum of the square roots
    of the eigenvalues of the symmetric `S_a^(1/2) S_b S_a^(1/2)` (same spectrum).
    """
    a, b = np.asarray(features_a, "float64"), np.asarray(features_b, "float64")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrt_psd(cov_a)
    eig = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(eig, 0.0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def kernel_inception_distance(features_a, features_b, subsets: int = 50,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2 with the kernel `(x.y / d + 1)^3`,
    averaged over random subsets. Returns `(mean, std)` over the subsets."""
    a, b = np.asarray(features_a, "float64"), np.asarray(features_b, "float64")
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1))
        values.append(mmd - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def class_coverage(logits, n_classes: int = 10, min_fraction: float = 0.02) -> dict:
    """Mode coverage of generated images by the classifier's predicted classes:
    `classes_covered` (classes with at least `min_fraction` of the samples) and the
    KL of the class histogram to the uniform distribution."""
    counts = np.bincount(np.argmax(logits, -1), minlength=n_classes).astype("float64")
    p = counts / counts.sum()
    kl = float(np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) * n_classes), 0.0)))
    return {"classes_covered": int((p >= min_fraction).sum()), "class_kl_to_uniform": kl}


def inception_features(images, weights: str | os.PathLike, batch_size: int = 100) -> np.ndarray:
    """2048-d Inception-v3 pool features of images in [0, 1] (grey images are tiled to
    RGB and resized to 299x299), for the standard Inception FID.

    Args:
        weights: Path of the Keras `inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`
            file, or `"imagenet"` to let Keras download it.
    """
    if weights != "imagenet" and not os.path.exists(str(weights)):
        raise FileNotFoundError(
            f"Inception-v3 weights not found at {weights!r}. Inception FID needs the "
            "ImageNet weights (inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5); "
            "pass their path, or weights='imagenet' on a machine with internet. "
            "Offline, use the MNIST classifier features (frechet_distance on "
            "extract_features) instead."
        )
    model = keras.applications.InceptionV3(
        include_top=False, weights=weights, pooling="avg", input_shape=(299, 299, 3)
    )
    images = np.asarray(images, "float32")
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size]
        if x.shape[-1] == 1:
            x = np.repeat(x, 3, axis=-1)
        x = keras.ops.image.resize(x, (299, 299)) * 2.0 - 1.0
        out.append(keras.ops.convert_to_numpy(model(x, training=False)))
    return np.concatenate(out).astype("float64")
