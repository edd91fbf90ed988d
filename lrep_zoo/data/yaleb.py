"""Extended Yale-B (cropped): lighting classes, the deterministic split, loaders.

Two ways in, one split and one labelling:

- `load_yaleb_npz(data_dir)`: the fast path, from the shared npz files
  `yaleb_cropped/yaleb_cropped_{192x168,48x42}.npz` (see their PROVENANCE.md).
- `extended_yale_b` TFDS builder (`ExtendedYaleB`, created on first access so that
  importing this module does not import TensorFlow Datasets): reads the official
  `CroppedYale.zip` or its extracted folder (`yaleBSS/yaleBSS_P00A+aaaE+ee.pgm`)
  from the TFDS manual directory. Ambient images and `.bad` files are skipped.
  A manual folder given in `DownloadConfig(manual_dir=...)` is the only source:
  without images there, building fails at once and says what it looked for. The
  download (no manual folder given, nothing in the default one) is verified
  against the TFDS checksums file; as no sha256 of `CroppedYale.zip` is recorded
  yet, it is an opt-in (`DownloadConfig(register_checksums=True)`) that records it.

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

# data_dir=None: $LREP_ZOO_DATA_DIR, the folder holding yaleb_cropped/.
data = yaleb.load_yaleb_npz(None, resolution="48x42")
x, y, z = data["train"]["image"], data["train"]["identity"], data["train"]["lighting"]
batches = yaleb.RelightingBatches(x, y, z, batch_size=64, mirror=True, gain=4.0)
```
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
import zlib
from pathlib import Path

import keras
import numpy as np

from lrep_zoo.data import local
from lrep_zoo.data.errors import DatasetCorruptError, DatasetNotFoundError

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
    from lrep_zoo.data.yaleb import lighting_class

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

# Degrees per unit of `light_angle_targets` (azimuth -130..130 -> -1.44..1.44).
LIGHT_ANGLE_SCALE = 90.0


def light_angle_targets(azimuth, elevation) -> np.ndarray:
    """`(N, 2)` float32 regression targets `(azimuth, elevation) / LIGHT_ANGLE_SCALE`
    (DualDis' `z_regression_weight` option). A mirrored image's targets negate the
    azimuth column (`RelightingBatches(..., angles=...)` does).

    Example:

    ```python
    from lrep_zoo.data.yaleb import light_angle_targets

    light_angle_targets([0, -90], [0, 45])  # [[0, 0], [-1, 0.5]]
    ```
    """
    a = np.asarray(azimuth, "float32").reshape(-1)
    e = np.asarray(elevation, "float32").reshape(-1)
    if a.shape != e.shape:
        raise ValueError(f"azimuth and elevation must have the same length, got {a.shape[0]} "
                         f"and {e.shape[0]}.")
    return np.stack([a, e], axis=1) / np.float32(LIGHT_ANGLE_SCALE)


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


def _npz_candidates(data_dir, resolution: str) -> list[Path]:
    """Where `find_yaleb_npz` looks, in order."""
    if resolution not in _NPZ_NAMES:
        raise ValueError(f"resolution must be one of {sorted(_NPZ_NAMES)}, got {resolution!r}.")
    out = []
    for root in (data_dir, os.environ.get("LREP_ZOO_DATA_DIR")):
        if root:
            root = Path(root).expanduser()
            out += [root / _NPZ_NAMES[resolution], root / "yaleb_cropped" / _NPZ_NAMES[resolution]]
    return out


def find_yaleb_npz(data_dir=None, resolution: str = "192x168") -> Path | None:
    """The shared npz file for `resolution`, looked up in `data_dir`, its
    `yaleb_cropped/` subfolder, or `$LREP_ZOO_DATA_DIR`; `None` if absent."""
    for candidate in _npz_candidates(data_dir, resolution):
        if candidate.is_file():
            return candidate
    return None


def yaleb_npz_path(data_dir=None, resolution: str = "192x168") -> Path:
    """`data_dir` itself if it is a file, else `find_yaleb_npz`'s answer.

    Raises:
        DatasetNotFoundError: no such file; the message lists the paths tried.
    """
    if data_dir and Path(data_dir).is_file():
        return Path(data_dir)
    path = find_yaleb_npz(data_dir, resolution)
    if path is None:
        tried = _npz_candidates(data_dir, resolution)
        where = ", ".join(map(str, tried)) if tried else "nowhere: data_dir=None and $LREP_ZOO_DATA_DIR is unset"
        raise DatasetNotFoundError(
            f"Extended Yale-B npz {_NPZ_NAMES[resolution]} not found (looked for {where}): "
            "put it under <data_dir>/yaleb_cropped/ and pass data_dir=DIR (or set "
            "$LREP_ZOO_DATA_DIR), or use the TFDS builder `extended_yale_b` with "
            "CroppedYale.zip in its manual folder."
        )
    return path


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

    Raises:
        DatasetNotFoundError: no such file; the message lists the paths tried.
        DatasetCorruptError: the file is damaged or lacks an array; the message
            names the file and what failed.
    """
    path = yaleb_npz_path(data_dir, resolution)
    f = local.read_npz(path, ["images", "subject", "azimuth", "elevation"])
    images = f["images"]
    lengths = {k: len(v) for k, v in f.items()}
    if images.ndim not in (3, 4) or len(set(lengths.values())) != 1:
        raise DatasetCorruptError(
            f"{path} is corrupt: `images` must be (N, H, W[, 1]) with one subject, azimuth "
            f"and elevation per image; got images {images.shape} and lengths {lengths}. "
            "Copy this file again."
        )
    return _assemble(images, f["subject"].astype(np.int64), f["azimuth"].astype(np.int64),
                     f["elevation"].astype(np.int64))


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
      to 255 (a brighter or dimmer source; 1 disables). `gain_clip=False`: each
      image's `g` is capped at `255 / max(x)` instead, so that no pixel saturates
      (a clipped face loses the shading that tells the light's position: on the
      `dualdis_yaleb` preset, validation lighting accuracy 92.5 % at g = 1, 88.6 %
      at g = 4 where 49 % of the pixels clip).
    - `light_mix`: `a x + (1 - a) x'` with `x'` another training image of the same
      identity and `a ~ U(0, 1)`: for a fixed pose, image intensities add up over
      light sources, so this is the face under both lights (with dimmed sources).
      The lighting label is `x`'s with probability `a`, else `x'`'s, so that a
      cross-entropy on it is, in expectation, the mixup soft-label loss. (Helps
      identity but blurs the lighting classes; not used by the preset.)

    `images_per_identity` (k > 1): each batch is drawn as `batch_size / k` groups of
    k images of one face (a face with fewer images left gives a smaller group), so
    that per-class terms such as `DualDis(code_invariance_weight_y=...)` see several
    images of each identity; every image is still used once per epoch.

    `angles` (optional, `(N, 2)`: azimuth, elevation in any unit, e.g.
    `light_angle_targets`): the batches are then `(images, (identity, lighting,
    angles))`, mirrored images with the azimuth negated, `light_mix` taking the
    angles of the image whose lighting label it keeps.

    Images come out as float32 in 0..255, like the inputs (any image shape).

    Example:

    ```python
    import keras
    from lrep_zoo.data.yaleb import RelightingBatches, load_yaleb_npz

    train = load_yaleb_npz(None, resolution="48x42")["train"]  # None: $LREP_ZOO_DATA_DIR
    x, identity, lighting = train["image"], train["identity"], train["lighting"]
    batches = RelightingBatches(x, identity, lighting, batch_size=64, mirror=True, gain=4.0)
    inputs = keras.Input(x.shape[1:])
    h = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(inputs / 255.0))
    outputs = [keras.layers.Dense(38)(h), keras.layers.Dense(14)(h)]  # identity, lighting
    model = keras.Model(inputs, outputs)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", [loss, loss])
    model.fit(batches, epochs=1, verbose=0)
    ```
    """

    def __init__(self, images, identity, lighting, batch_size: int = 64, mirror: bool = False,
                 gain: float = 1.0, light_mix: bool = False, seed: int = 0, angles=None,
                 gain_clip: bool = True, images_per_identity: int = 1, **kwargs):
        super().__init__(**kwargs)
        if int(images_per_identity) < 1:
            raise ValueError(f"images_per_identity must be >= 1, got {images_per_identity}.")
        self.images_per_identity = int(images_per_identity)
        self.gain_clip = bool(gain_clip)
        self.angles = None if angles is None else np.asarray(angles, "float32")
        if self.angles is not None and self.angles.shape != (len(images), 2):
            raise ValueError(f"angles must have shape (N, 2) = ({len(images)}, 2) (azimuth, "
                             f"elevation per image), got {self.angles.shape}.")
        self.images = np.asarray(images)
        self.identity = np.asarray(identity).reshape(-1)
        self.lighting = np.asarray(lighting).reshape(-1)
        self.batch_size = int(batch_size)
        self.mirror = bool(mirror)
        self.light_mix = bool(light_mix)
        self.gain = float(gain)
        self.rng = np.random.default_rng(seed)
        self.by_identity = {k: np.flatnonzero(self.identity == k) for k in np.unique(self.identity)}
        self.order = self._epoch_order()

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    def on_epoch_end(self):
        self.order = self._epoch_order()

    def _epoch_order(self):
        """A permutation of the images; with `images_per_identity = k`, shuffled groups
        of k images of one face laid end to end."""
        k = self.images_per_identity
        if k == 1:
            return self.rng.permutation(len(self.images))
        groups = []
        for members in self.by_identity.values():
            members = self.rng.permutation(members)
            groups += [members[i:i + k] for i in range(0, len(members), k)]
        return np.concatenate([groups[i] for i in self.rng.permutation(len(groups))])

    def __getitem__(self, index):
        idx = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        x = self.images[idx].astype("float32")
        y, z = self.identity[idx], self.lighting[idx].copy()
        angles = None if self.angles is None else self.angles[idx].copy()
        shape = (len(idx),) + (1,) * (x.ndim - 1)
        if self.light_mix:
            other = np.array([self.rng.choice(self.by_identity[k]) for k in y])
            a = self.rng.uniform(0.0, 1.0, len(idx)).astype("float32")
            x = a.reshape(shape) * x + (1.0 - a.reshape(shape)) * self.images[other].astype("float32")
            keep = self.rng.uniform(size=len(idx)) < a
            z = np.where(keep, z, self.lighting[other])
            if angles is not None:
                angles = np.where(keep[:, None], angles, self.angles[other])
        if self.mirror:
            flip = self.rng.uniform(size=len(idx)) < 0.5
            x = np.where(flip.reshape(shape), x[:, :, ::-1], x)
            # z < 0 (no lighting label: semi-supervised rows) stays unlabelled.
            z = np.where(flip & (z >= 0), MIRRORED_LIGHTING_CLASS[np.maximum(z, 0)], z)
            if angles is not None:  # the light moves to (-A, E)
                angles[:, 0] = np.where(flip, -angles[:, 0], angles[:, 0])
        if self.gain != 1.0:
            log_g = self.rng.uniform(-np.log(self.gain), np.log(self.gain), len(idx))
            g = np.exp(log_g).astype("float32")
            if not self.gain_clip:  # no saturated pixel: g <= 255 / max(x)
                peak = x.reshape(len(idx), -1).max(axis=1)
                g = np.minimum(g, 255.0 / np.maximum(peak, 1.0))
            x = np.minimum(x * g.reshape(shape), 255.0)
        return x, (y, z) if angles is None else (y, z, angles)


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
        try:
            zf = zipfile.ZipFile(root)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise DatasetCorruptError(
                f"{root} is corrupt: not a readable zip archive ({type(e).__name__}: {e}). "
                "Download or copy CroppedYale.zip again."
            ) from e
        with zf:
            for name in sorted(zf.namelist()):
                parsed = parse_filename(name)
                if parsed is None or not name.endswith(".pgm"):
                    continue
                try:
                    image = read_pgm(zf.read(name))
                except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
                    raise DatasetCorruptError(
                        f"{root} is corrupt: its member {name} cannot be read "
                        f"({type(e).__name__}: {e}). Download or copy CroppedYale.zip again."
                    ) from e
                yield (name, *parsed, image)
        return
    for path in sorted(root.rglob("*.pgm")):
        parsed = parse_filename(path.name)
        if parsed is None:
            continue
        try:
            image = read_pgm(path.read_bytes())
        except ValueError as e:
            raise DatasetCorruptError(f"{path} is corrupt: {e}. Copy this image again.") from e
        yield (str(path.relative_to(root)), *parsed, image)


def load_cropped_yale(root) -> dict:
    """Like `load_yaleb_npz`, but from `CroppedYale.zip` or its extracted folder."""
    rows = sorted(iter_cropped_yale(root), key=lambda r: (r[1], r[2], r[3]))
    if not rows:
        raise DatasetNotFoundError(f"no yaleBSS_P00A*E*.pgm images under {root}")
    return _assemble(
        np.stack([r[4] for r in rows]),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
    )


def load_yaleb(data_dir=None, resolution: str = "192x168") -> dict:
    """Yale-B splits as numpy dicts: the npz fast path, else the `extended_yale_b` builder.

    Args:
        data_dir: Folder holding the Yale-B npz (`yaleb_cropped/`), else
            `$LREP_ZOO_DATA_DIR`; without an npz, the TFDS data_dir of the
            `extended_yale_b` builder (192x168 only).
        resolution: The npz resolution.

    Returns:
        `{split: {"image", "identity", "lighting", "azimuth", "elevation"}}` for `SPLITS`.

    Example:

    ```python
    from lrep_zoo.data.yaleb import load_yaleb

    data = load_yaleb(None, resolution="48x42")  # None: $LREP_ZOO_DATA_DIR
    sorted(data)  # ['test', 'train', 'validation']
    ```
    """
    try:
        return load_yaleb_npz(data_dir, resolution)
    except FileNotFoundError:
        if resolution != "192x168":
            raise
    import tensorflow_datasets as tfds

    builder = builder_class()(data_dir=data_dir)
    builder.download_and_prepare()
    fields = ("image", "identity", "lighting", "azimuth", "elevation")
    out = {}
    for split in SPLITS:
        arrays = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        out[split] = {k: arrays[k] for k in fields}
    return out


# ------------------------------------------------------------------ TFDS builder
_BUILDER = None
_URL = "http://vision.ucsd.edu/extyaleb/CroppedYaleBZip/CroppedYale.zip"
# The sha256 of CroppedYale.zip is not recorded here: this builder was written on a
# machine without internet, and no trustworthy copy of the checksum was at hand. TFDS
# verifies downloads against its checksums file, `checksums.tsv` next to this module
# (`ExtendedYaleB.url_infos`). Until that file has the entry, the download is an
# opt-in that records it: `DownloadConfig(register_checksums=True)`, or
# `tfds build extended_yale_b --imports lrep_zoo --register_checksums`; every later
# download is then verified against it (commit the file; it must also be listed in
# the package data to ship in the wheel).
_IMAGE_PATTERN = "yaleBSS_P00A±AAAE±EE.pgm"


def _make_builder():
    import tensorflow_datasets as tfds

    class ExtendedYaleB(tfds.core.GeneratorBasedBuilder):
        """Cropped Extended Yale Face Database B: 38 identities x 64 lightings, 192x168."""

        VERSION = tfds.core.Version("1.0.0")
        RELEASE_NOTES = {"1.0.0": "Cropped faces, 14 lighting classes, deterministic split."}
        MANUAL_DOWNLOAD_INSTRUCTIONS = (
            "Put CroppedYale.zip (from http://vision.ucsd.edu/extyaleb/CroppedYaleBZip/) or "
            "its extracted CroppedYale/ folder in the manual directory "
            "(DownloadConfig(manual_dir=DIR); default <data_dir>/downloads/manual/)."
        )

        def download_and_prepare(self, *, download_dir=None, download_config=None, **kwargs):
            # A manual folder named by the caller is the only source (no download fallback).
            self.manual_dir_given = getattr(download_config, "manual_dir", None)
            return super().download_and_prepare(
                download_dir=download_dir, download_config=download_config, **kwargs)

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
            given = getattr(self, "manual_dir_given", None)
            manual = Path(str(given)).expanduser() if given else Path(str(dl_manager.download_dir)) / "manual"
            found = find_cropped_yale(manual)
            if found is not None:
                return found
            if given:
                raise DatasetNotFoundError(_no_images_message(manual))
            return _download(type(self), dl_manager, manual)

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


def _manual_candidates(manual: Path) -> list[Path]:
    """Where a manual folder may hold the images: CroppedYale.zip, other zips, the
    extracted CroppedYale/ folder, or the pgm files anywhere under it."""
    zips = sorted(p for p in manual.glob("*.zip") if p.name != "CroppedYale.zip")
    return [manual / "CroppedYale.zip", *zips, manual / "CroppedYale", manual]


def find_cropped_yale(manual) -> Path | None:
    """The first of `CroppedYale.zip`, another zip, `CroppedYale/` or the folder
    itself (pgm files at any depth) in `manual` that holds Yale-B images; `None` if
    none does (also when `manual` does not exist).

    Raises:
        DatasetCorruptError: `CroppedYale.zip` or an image there is damaged (named in
            the message); other unreadable zips (of other datasets: TFDS' default
            manual folder is shared) are passed over.
    """
    manual = Path(manual)
    if not manual.is_dir():
        return None
    for candidate in _manual_candidates(manual):
        try:
            if candidate.exists() and any(True for _ in _peek(candidate)):
                return candidate
        except DatasetCorruptError:
            if candidate.suffix != ".zip" or candidate.name == "CroppedYale.zip":
                raise
    return None


def _no_images_message(manual: Path) -> str:
    if not manual.exists():
        state = "the folder does not exist"
    elif not manual.is_dir():
        state = "it is a file, not a folder"
    else:
        entries = sorted(p.name for p in manual.iterdir())
        state = (f"it holds {len(entries)} {'entry' if len(entries) == 1 else 'entries'} "
                 f"({', '.join(entries[:5])}"
                 f"{', ...' if len(entries) > 5 else ''}), none with such images"
                 if entries else "the folder is empty")
    return (
        f"No Extended Yale-B images in the manual folder {manual}: looked for "
        f"{manual / 'CroppedYale.zip'}, other {manual}/*.zip archives and {manual / 'CroppedYale'}/ "
        f"holding {_IMAGE_PATTERN} files, and such files anywhere under {manual}/; {state}. "
        "Nothing is downloaded when a manual folder is given: put CroppedYale.zip or its "
        "extracted CroppedYale/ folder there."
    )


def _download(builder_cls, dl_manager, manual: Path) -> Path:
    """CroppedYale.zip from `_URL`, verified by TFDS against the builder's checksums
    file, or recorded in it under `register_checksums` (see the note at `_URL`)."""
    from lrep_zoo.data import tfds_source

    checksums = Path(__file__).with_name("checksums.tsv")  # where TFDS keeps a builder's
    if _URL not in (builder_cls.url_infos or {}) and not dl_manager.register_checksums:
        raise DatasetNotFoundError(
            f"Extended Yale-B is not prepared and the TFDS manual folder {manual} holds no "
            f"{_IMAGE_PATTERN} images. CroppedYale.zip is not downloaded: its sha256 is not "
            f"recorded in {checksums} (the TFDS checksums file), so the download could not be "
            f"verified. Put CroppedYale.zip (or its extracted CroppedYale/ folder) into "
            f"{manual}/ or pass DownloadConfig(manual_dir=DIR); or opt in to the unverified "
            f"download from {_URL}, which records its sha256 there: "
            "DownloadConfig(register_checksums=True)."
        )
    unreachable = tfds_source.unreachable_hosts([_URL])
    if unreachable:
        raise DatasetNotFoundError(
            f"Cannot download {_URL}: no connection to {', '.join(unreachable)}. Put "
            f"CroppedYale.zip (or its extracted CroppedYale/ folder) into {manual}/."
        )
    with tfds_source.download_timeout():
        return Path(str(dl_manager.download(_URL)))


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
