"""Extended Yale-B (cropped): lighting classes, the deterministic split, loaders.

Two ways in, one split and one labelling:

- `load_yaleb_npz(data_dir)`: the fast path, from the shared npz files
  `yaleb_cropped/yaleb_cropped_{192x168,48x42}.npz` (see their PROVENANCE.md).
- `extended_yale_b` TFDS builder (`ExtendedYaleB`, created on first access so that
  importing this module does not import TensorFlow Datasets): reads the official
  `CroppedYale.zip` or its extracted folder (`yaleBSS/yaleBSS_P00A+aaaE+ee.pgm`),
  downloaded where there is internet or from the TFDS manual directory. Ambient
  images and `.bad` files are skipped.

The 14 lighting classes follow methods.md section 3: azimuth edges
[-95, -35, -20, 20, 35, 95], elevation rows [20, 80], (-20, 20), [-80, -20];
|A| = 20 or 35 goes to the more central bin, |E| = 20 to the outer row; top row
1..3, middle row 4..8, bottom row 9..13, everything else 0.

The split depends only on (subject, azimuth, elevation): within each identity,
images are ordered by a SHA-256 key; the first half (floor) is `test`, and of the
rest, `round(0.2 * n)` go to `validation`, the others to `train`.

`RelightingBatches` (not in the paper, opt-in) feeds training with relit
images: mirrored faces (the light moves to the other side), brightness scaled, or
two images of one face under two lights superposed; see its docstring.

Example:

```python
from lrep_zoo.data import yaleb
data = yaleb.load_yaleb_npz("/path/to/shared/data", resolution="48x42")
x, y, z = data["train"]["image"], data["train"]["identity"], data["train"]["lighting"]
batches = yaleb.RelightingBatches(x, y, z, batch_size=64, mirror=True, gain=4.0)
```
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import keras
import numpy as np

NUM_IDENTITIES = 38
NUM_LIGHTING_CLASSES = 14
SPLITS = ("train", "validation", "test")
IMAGE_SHAPE = (192, 168, 1)
_FILE_RE = re.compile(r"yaleB(\d\d)_P00A([+-]\d{3})E([+-]\d{2})\.pgm$")
_NPZ_NAMES = {
    "192x168": "yaleb_cropped_192x168.npz",
    "48x42": "yaleb_cropped_48x42.npz",
}


def lighting_class(azimuth, elevation):
    """The 14-class lighting label of light positions (azimuth, elevation) in degrees.

    Works on scalars and numpy arrays.

    Example:

    ```python
    lighting_class(0, 0)     # 6 (frontal light, middle row centre)
    lighting_class(-50, -40) # 9
    ```
    """
    a = np.asarray(azimuth)
    e = np.asarray(elevation)
    col = np.full(a.shape, -1, dtype=np.int64)
    col = np.where((a >= -95) & (a < -35), 0, col)
    col = np.where((a >= -35) & (a < -20), 1, col)
    col = np.where((a >= -20) & (a <= 20), 2, col)
    col = np.where((a > 20) & (a <= 35), 3, col)
    col = np.where((a > 35) & (a <= 95), 4, col)
    top = (e >= 20) & (e <= 80)
    middle = (e > -20) & (e < 20)
    bottom = (e >= -80) & (e <= -20)
    label = np.zeros(a.shape, dtype=np.int64)
    label = np.where(top & (col >= 1) & (col <= 3), col, label)
    label = np.where(middle & (col >= 0), 4 + col, label)
    label = np.where(bottom & (col >= 0), 9 + col, label)
    return label if label.ndim else int(label)


# Lighting class of the mirrored light position (-A, E): the binning is symmetric.
MIRRORED_LIGHTING_CLASS = np.array([0, 3, 2, 1, 8, 7, 6, 5, 4, 13, 12, 11, 10, 9])


def _split_key(subject: int, azimuth: int, elevation: int) -> str:
    return hashlib.sha256(f"yaleb/{int(subject)}/{int(azimuth)}/{int(elevation)}".encode()).hexdigest()


def split_assignment(subject, azimuth, elevation, validation_fraction: float = 0.2) -> np.ndarray:
    """Split name ("train" / "validation" / "test") of each image, deterministically.

    Half of each identity's images (floor) go to test; `validation_fraction` of the
    rest (rounded) to validation.
    """
    subject = np.asarray(subject)
    out = np.empty(len(subject), dtype=object)
    for s in np.unique(subject):
        idx = np.flatnonzero(subject == s)
        order = sorted(idx, key=lambda i: _split_key(s, azimuth[i], elevation[i]))
        n_test = len(order) // 2
        n_val = int(round(validation_fraction * (len(order) - n_test)))
        for rank, i in enumerate(order):
            if rank < n_test:
                out[i] = "test"
            elif rank < n_test + n_val:
                out[i] = "validation"
            else:
                out[i] = "train"
    return out


def identity_labels(subject) -> np.ndarray:
    """Contiguous identity labels 0..37 from Yale subject ids 1..39 (no 14)."""
    subject = np.asarray(subject).astype(np.int64)
    return np.where(subject > 14, subject - 2, subject - 1)


def find_yaleb_npz(data_dir=None, resolution: str = "192x168") -> Path | None:
    """The shared npz file for `resolution`, looked up in `data_dir`, its
    `yaleb_cropped/` subfolder, or `$LREP_ZOO_DATA_DIR`; `None` if absent."""
    if resolution not in _NPZ_NAMES:
        raise ValueError(f"resolution must be one of {sorted(_NPZ_NAMES)}, got {resolution!r}.")
    roots = [data_dir, os.environ.get("LREP_ZOO_DATA_DIR")]
    for root in roots:
        if not root:
            continue
        root = Path(root).expanduser()
        for candidate in (root / _NPZ_NAMES[resolution], root / "yaleb_cropped" / _NPZ_NAMES[resolution]):
            if candidate.is_file():
                return candidate
    return None


def load_yaleb_npz(data_dir=None, resolution: str = "192x168") -> dict:
    """Extended Yale-B from the shared npz file, split and labelled as the TFDS builder.

    Args:
        data_dir: Folder holding `yaleb_cropped/yaleb_cropped_<resolution>.npz`
            (or the file itself); defaults to `$LREP_ZOO_DATA_DIR`.
        resolution: `"192x168"` (original pixels) or `"48x42"` (4x4 box average).

    Returns:
        `{"train": {...}, "validation": {...}, "test": {...}}`, each a dict of numpy
        arrays: `image` uint8 (N, H, W, 1), `identity` (0..37), `lighting` (0..13),
        `azimuth`, `elevation`.
    """
    path = Path(data_dir) if data_dir and Path(data_dir).is_file() else find_yaleb_npz(data_dir, resolution)
    if path is None:
        raise FileNotFoundError(
            f"Extended Yale-B npz ({_NPZ_NAMES[resolution]}) not found in {data_dir!r} or "
            "$LREP_ZOO_DATA_DIR: put it under <data_dir>/yaleb_cropped/, or use the TFDS "
            "builder `extended_yale_b` with CroppedYale.zip in the manual directory."
        )
    with np.load(path) as f:
        images = f["images"]
        subject = f["subject"].astype(np.int64)
        azimuth = f["azimuth"].astype(np.int64)
        elevation = f["elevation"].astype(np.int64)
    return _assemble(images, subject, azimuth, elevation)


def _assemble(images, subject, azimuth, elevation) -> dict:
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim == 3:
        images = images[..., None]
    assignment = split_assignment(subject, azimuth, elevation)
    identity = identity_labels(subject)
    lighting = lighting_class(azimuth, elevation)
    out = {}
    for split in SPLITS:
        m = assignment == split
        out[split] = {
            "image": images[m],
            "identity": identity[m],
            "lighting": lighting[m],
            "azimuth": azimuth[m],
            "elevation": elevation[m],
        }
    return out


# ------------------------------------------------------------------ augmentation
class RelightingBatches(keras.utils.PyDataset):
    """Shuffled training batches `(images, (identity, lighting))` with relighting.

    Not part of the paper's protocol (an option of `recipes/dualdis_yaleb.py`).
    With few light positions per face (26 in train), networks overfit the light
    positions they saw (and their brightness); a linear classifier on the pixels
    does not (a face's images span a low-dimensional "illumination cone"). These
    relightings show a face under light positions and intensities it lacks:

    - `mirror`: left-right flip with probability 1/2; the light moves to (-A, E),
      so the lighting label becomes `MIRRORED_LIGHTING_CLASS[z]` (the 64 light
      positions and the 14-class binning are symmetric).
    - `gain`: brightness scaled by `g`, log-uniform in `[1/gain, gain]`, clipped
      to 255 (a brighter or dimmer source; 1 disables).
    - `light_mix`: `a x + (1 - a) x'` with `x'` another training image of the same
      identity and `a ~ U(0, 1)`: for a fixed pose, image intensities add up over
      light sources, so this is the face under both lights (with dimmed sources).
      The lighting label is `x`'s with probability `a`, else `x'`'s, so that a
      cross-entropy on it is, in expectation, the mixup soft-label loss. (Helps
      identity but blurs the lighting classes; not used by the preset.)

    Images come out as float32 in 0..255, like the inputs (any image shape).

    Example:

    ```python
    batches = RelightingBatches(x, identity, lighting, batch_size=64, mirror=True, gain=4.0)
    model.fit(batches, epochs=10)
    ```
    """

    def __init__(self, images, identity, lighting, batch_size: int = 64, mirror: bool = False,
                 gain: float = 1.0, light_mix: bool = False, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.images = np.asarray(images)
        self.identity = np.asarray(identity).reshape(-1)
        self.lighting = np.asarray(lighting).reshape(-1)
        self.batch_size = int(batch_size)
        self.mirror = bool(mirror)
        self.light_mix = bool(light_mix)
        self.gain = float(gain)
        self.rng = np.random.default_rng(seed)
        self.by_identity = {k: np.flatnonzero(self.identity == k) for k in np.unique(self.identity)}
        self.order = self.rng.permutation(len(self.images))

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.images))

    def __getitem__(self, index):
        idx = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.images[idx].astype("float32")
        y, z = self.identity[idx], self.lighting[idx].copy()
        shape = (len(idx),) + (1,) * (x.ndim - 1)
        if self.light_mix:
            other = np.array([self.rng.choice(self.by_identity[k]) for k in y])
            a = self.rng.uniform(0.0, 1.0, len(idx)).astype("float32")
            x = a.reshape(shape) * x + (1.0 - a.reshape(shape)) * self.images[other].astype("float32")
            z = np.where(self.rng.uniform(size=len(idx)) < a, z, self.lighting[other])
        if self.mirror:
            flip = self.rng.uniform(size=len(idx)) < 0.5
            x = np.where(flip.reshape(shape), x[:, :, ::-1], x)
            z = np.where(flip, MIRRORED_LIGHTING_CLASS[z], z)
        if self.gain != 1.0:
            log_g = self.rng.uniform(-np.log(self.gain), np.log(self.gain), len(idx))
            x = np.minimum(x * np.exp(log_g).astype("float32").reshape(shape), 255.0)
        return x, (y, z)


# ------------------------------------------------------------------ PGM files
def parse_filename(name: str):
    """`(subject, azimuth, elevation)` of `yaleBSS_P00A+aaaE+ee.pgm`, or `None`
    for other files (Ambient, `.bad`, `.info`, ...)."""
    m = _FILE_RE.search(os.path.basename(name))
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def read_pgm(data: bytes) -> np.ndarray:
    """Decodes a binary (P5) or ASCII (P2) 8-bit PGM file into a uint8 (H, W) array."""
    tokens = []
    pos = 0
    magic = data[:2]
    if magic not in (b"P5", b"P2"):
        raise ValueError(f"not a PGM file (magic {magic!r})")
    pos = 2
    while len(tokens) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            while data[pos:pos + 1] not in (b"\n", b""):
                pos += 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        tokens.append(int(data[start:pos]))
    width, height, maxval = tokens
    if magic == b"P5":
        pos += 1  # one whitespace byte after maxval
        dtype = np.uint8 if maxval < 256 else np.dtype(">u2")
        pixels = np.frombuffer(data, dtype=dtype, count=width * height, offset=pos)
    else:
        pixels = np.array(data[pos:].split()[: width * height], dtype=np.int64)
    pixels = pixels.reshape(height, width).astype(np.float64)
    if maxval != 255:
        pixels = pixels * 255.0 / maxval
    return np.round(pixels).astype(np.uint8)


def write_pgm(path, image: np.ndarray) -> None:
    """Writes a uint8 (H, W) array as a binary P5 PGM file (the official format)."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 3:
        image = image[..., 0]
    h, w = image.shape
    with open(path, "wb") as f:
        f.write(f"P5\n{w} {h}\n255\n".encode() + image.tobytes())


def iter_cropped_yale(root):
    """Yields `(relative_path, subject, azimuth, elevation, image)` from a
    `CroppedYale.zip` file or an extracted folder (any depth), skipping Ambient
    images, `.bad` files and anything that is not an image of the set."""
    import zipfile

    root = Path(root)
    if root.is_file():
        with zipfile.ZipFile(root) as zf:
            for name in sorted(zf.namelist()):
                parsed = parse_filename(name)
                if parsed is None or not name.endswith(".pgm"):
                    continue
                yield (name, *parsed, read_pgm(zf.read(name)))
        return
    for path in sorted(root.rglob("*.pgm")):
        parsed = parse_filename(path.name)
        if parsed is None:
            continue
        yield (str(path.relative_to(root)), *parsed, read_pgm(path.read_bytes()))


def load_cropped_yale(root) -> dict:
    """Like `load_yaleb_npz`, but from `CroppedYale.zip` or its extracted folder."""
    rows = sorted(iter_cropped_yale(root), key=lambda r: (r[1], r[2], r[3]))
    if not rows:
        raise FileNotFoundError(f"no yaleBSS_P00A*E*.pgm images under {root}")
    return _assemble(
        np.stack([r[4] for r in rows]),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
    )


# ------------------------------------------------------------------ TFDS builder
_BUILDER = None
_URL = "http://vision.ucsd.edu/extyaleb/CroppedYaleBZip/CroppedYale.zip"


def _make_builder():
    import tensorflow_datasets as tfds

    class ExtendedYaleB(tfds.core.GeneratorBasedBuilder):
        """Cropped Extended Yale Face Database B: 38 identities x 64 lightings, 192x168."""

        VERSION = tfds.core.Version("1.0.0")
        RELEASE_NOTES = {"1.0.0": "Cropped faces, 14 lighting classes, deterministic split."}
        MANUAL_DOWNLOAD_INSTRUCTIONS = (
            "Put CroppedYale.zip (from http://vision.ucsd.edu/extyaleb/CroppedYaleBZip/) or "
            "its extracted CroppedYale/ folder in the manual directory "
            "(default ~/tensorflow_datasets/downloads/manual/)."
        )

        def _info(self):
            return self.dataset_info_from_configs(
                description=(
                    "Cropped Extended Yale-B faces (Georghiades et al. 2001; Lee et al. 2005): "
                    "2414 frontal images of 38 people under 64 light positions. Lighting is "
                    "binned into 14 classes (Robert, Thome, Cord 2019, DualDis). The split "
                    "puts half of each identity's images in test and 20% of the rest in "
                    "validation."
                ),
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(shape=IMAGE_SHAPE, dtype=np.uint8),
                        "identity": tfds.features.ClassLabel(num_classes=NUM_IDENTITIES),
                        "lighting": tfds.features.ClassLabel(num_classes=NUM_LIGHTING_CLASSES),
                        "azimuth": np.int32,
                        "elevation": np.int32,
                        "filename": tfds.features.Text(),
                    }
                ),
                supervised_keys=("image", "identity"),
                homepage="http://vision.ucsd.edu/~leekc/ExtYaleDatabase/ExtYaleB.html",
                citation=(
                    "@article{georghiades2001few, title={From Few to Many: Illumination Cone "
                    "Models for Face Recognition under Variable Lighting and Pose}, "
                    "author={Georghiades, A. S. and Belhumeur, P. N. and Kriegman, D. J.}, "
                    "journal={IEEE TPAMI}, volume={23}, number={6}, year={2001}}"
                ),
            )

        def _source(self, dl_manager):
            manual = Path(str(dl_manager.manual_dir)) if dl_manager.manual_dir else None
            if manual is not None and manual.exists():
                for candidate in (manual / "CroppedYale.zip", manual / "CroppedYale", manual):
                    if candidate.exists() and any(True for _ in _peek(candidate)):
                        return candidate
            return Path(str(dl_manager.download(_URL)))

        def _split_generators(self, dl_manager):
            source = self._source(dl_manager)
            return {split: self._generate_examples(source, split) for split in SPLITS}

        def _generate_examples(self, source, split):
            rows = list(iter_cropped_yale(source))
            assignment = split_assignment(
                np.array([r[1] for r in rows]),
                np.array([r[2] for r in rows]),
                np.array([r[3] for r in rows]),
            )
            for (name, subject, az, el, image), s in zip(rows, assignment):
                if s != split:
                    continue
                yield name, {
                    "image": image[..., None],
                    "identity": int(identity_labels(subject)),
                    "lighting": int(lighting_class(az, el)),
                    "azimuth": az,
                    "elevation": el,
                    "filename": os.path.basename(name),
                }

    return ExtendedYaleB


def _peek(candidate):
    try:
        yield next(iter_cropped_yale(candidate))
    except StopIteration:
        return


def builder_class():
    """The `extended_yale_b` TFDS builder class (registered on first call)."""
    global _BUILDER
    if _BUILDER is None:
        _BUILDER = _make_builder()
    return _BUILDER


def __getattr__(name):
    if name == "ExtendedYaleB":
        return builder_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
