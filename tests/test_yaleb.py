"""Extended Yale-B: lighting classes, the deterministic split, npz loader, TFDS builder."""

import subprocess
import sys

import numpy as np
import pytest

from lrep_zoo.data import yaleb

PER_SUBJECT = [19, 2, 4, 2, 3, 2, 11, 2, 3, 4, 1, 6, 1, 4]
# The 64 light positions of the full subjects (azimuth, elevation).
POSITIONS = [
    (-50, -40), (-20, -40), (20, -40), (50, -40), (-70, -35), (0, -35), (70, -35),
    (-110, -20), (-85, -20), (-60, -20), (-35, -20), (-10, -20), (0, -20), (10, -20),
    (35, -20), (60, -20), (85, -20), (110, -20), (-20, -10), (-5, -10), (5, -10), (20, -10),
    (-120, 0), (-95, 0), (-70, 0), (-50, 0), (-25, 0), (-10, 0), (0, 0), (10, 0), (25, 0),
    (50, 0), (70, 0), (95, 0), (120, 0), (-20, 10), (-5, 10), (5, 10), (20, 10),
    (-110, 15), (-35, 15), (35, 15), (110, 15), (-130, 20), (-85, 20), (-60, 20), (-15, 20),
    (0, 20), (15, 20), (60, 20), (85, 20), (130, 20), (-110, 40), (-35, 40), (35, 40),
    (110, 40), (-70, 45), (0, 45), (70, 45), (-110, 65), (-35, 65), (35, 65), (110, 65), (0, 90),
]


def test_lighting_classes_match_methods_md():
    a, e = np.array(POSITIONS).T
    counts = np.bincount(yaleb.lighting_class(a, e), minlength=14)
    assert counts.tolist() == PER_SUBJECT
    assert yaleb.lighting_class(0, 0) == 6
    assert yaleb.lighting_class(0, 90) == 0
    assert yaleb.lighting_class(-35, 40) == 1 and yaleb.lighting_class(35, 40) == 3
    assert yaleb.lighting_class(-20, -40) == 11 and yaleb.lighting_class(-95, 0) == 4


def test_split_is_deterministic_half_test_and_fifth_validation():
    subject = np.repeat([1, 2, 39], 64)
    a, e = np.tile(np.array(POSITIONS).T, 3)
    first = yaleb.split_assignment(subject, a, e)
    order = np.random.default_rng(0).permutation(len(subject))
    again = yaleb.split_assignment(subject[order], a[order], e[order])
    assert (first[order] == again).all()
    for s in (1, 2, 39):
        m = subject == s
        assert (first[m] == "test").sum() == 32
        assert (first[m] == "validation").sum() == 6
        assert (first[m] == "train").sum() == 26
    assert yaleb.identity_labels([1, 13, 15, 39]).tolist() == [0, 12, 13, 37]


def test_pgm_round_trip(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (192, 168)).astype("uint8")
    yaleb.write_pgm(tmp_path / "a.pgm", image)
    np.testing.assert_array_equal(yaleb.read_pgm((tmp_path / "a.pgm").read_bytes()), image)
    assert yaleb.parse_filename("yaleB07_P00A-035E+15.pgm") == (7, -35, 15)
    assert yaleb.parse_filename("yaleB07_P00_Ambient.pgm") is None
    assert yaleb.parse_filename("yaleB11_P00A+050E-40.pgm.bad") is None


def test_npz_loader_counts_and_split(shared_data_dir):
    if yaleb.find_yaleb_npz(shared_data_dir, "48x42") is None:
        pytest.skip(f"no yaleb_cropped/yaleb_cropped_48x42.npz under {shared_data_dir}")
    data = yaleb.load_yaleb_npz(shared_data_dir, "48x42")
    sizes = {s: len(data[s]["identity"]) for s in yaleb.SPLITS}
    assert sizes == {"train": 981, "validation": 228, "test": 1205}
    assert data["train"]["image"].shape[1:] == (48, 42, 1) and data["train"]["image"].dtype == np.uint8
    for split in yaleb.SPLITS:
        assert set(np.unique(data[split]["identity"])) == set(range(38))
        assert data[split]["lighting"].max() == 13
    test_lighting = np.bincount(data["test"]["lighting"], minlength=14)
    assert (test_lighting > 0).all()


def _write_official_layout(root, images, subject, azimuth, elevation):
    """A CroppedYale/ folder as in the official zip, with Ambient and .bad extras."""
    for img, s, a, e in zip(images, subject, azimuth, elevation):
        folder = root / "CroppedYale" / f"yaleB{s:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        yaleb.write_pgm(folder / f"yaleB{s:02d}_P00A{a:+04d}E{e:+03d}.pgm", img[..., 0])
    for s in np.unique(subject):
        folder = root / "CroppedYale" / f"yaleB{s:02d}"
        yaleb.write_pgm(folder / f"yaleB{s:02d}_P00_Ambient.pgm", images[0, ..., 0])
        yaleb.write_pgm(folder / f"yaleB{s:02d}_P00A+000E+00.pgm.bad", images[0, ..., 0])


def test_tfds_builder_from_official_pgm_files(shared_data_dir, tmp_path):
    import tensorflow_datasets as tfds

    path = yaleb.find_yaleb_npz(shared_data_dir, "192x168")
    if path is None:
        pytest.skip(f"no yaleb_cropped/yaleb_cropped_192x168.npz under {shared_data_dir}")
    with np.load(path) as f:
        keep = np.isin(f["subject"], [1, 2])
        images, subject = f["images"][keep][..., None], f["subject"][keep].astype(int)
        azimuth, elevation = f["azimuth"][keep].astype(int), f["elevation"][keep].astype(int)
    manual = tmp_path / "manual"
    _write_official_layout(manual, images, subject, azimuth, elevation)

    builder = yaleb.builder_class()(data_dir=str(tmp_path / "tfds"))
    assert builder.name == "extended_yale_b"
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    expected = yaleb._assemble(images, subject, azimuth, elevation)
    for split in yaleb.SPLITS:
        got = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        assert len(got["identity"]) == len(expected[split]["identity"])
        order = np.lexsort((got["elevation"], got["azimuth"], got["identity"]))
        ref = np.lexsort((expected[split]["elevation"], expected[split]["azimuth"],
                          expected[split]["identity"]))
        for key in ("identity", "lighting", "azimuth", "elevation"):
            np.testing.assert_array_equal(got[key][order], expected[split][key][ref])
        np.testing.assert_array_equal(got["image"][order], expected[split]["image"][ref])
        assert got["image"].shape[1:] == (192, 168, 1)
    assert builder.info.features["lighting"].num_classes == 14
    assert builder.info.splits["test"].num_examples == 64  # half of 2 x 64


def test_relighting_batches_keep_identity_and_superpose_same_face():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 6, 5, 1)).astype("uint8")
    identity = np.repeat([0, 1, 2], 4)
    lighting = np.arange(12) % 14
    batches = yaleb.RelightingBatches(images, identity, lighting, batch_size=5, light_mix=True, gain=2.0)
    a, e = np.array(POSITIONS).T
    np.testing.assert_array_equal(yaleb.MIRRORED_LIGHTING_CLASS[yaleb.lighting_class(a, e)],
                                  yaleb.lighting_class(-a, e))
    assert len(batches) == 3
    seen = 0
    for i in range(len(batches)):
        x, (y, z) = batches[i]
        assert x.dtype == np.float32 and x.shape[1:] == (6, 5, 1)
        assert x.min() >= 0 and x.max() <= 255
        for k, l in zip(y, z):  # the lighting label comes from an image of the same face
            assert identity[lighting == l][0] == k
        seen += len(y)
    assert seen == 12
    plain = yaleb.RelightingBatches(images, identity, lighting, batch_size=12, light_mix=False)
    x, (y, z) = plain[0]
    order = np.argsort(z)
    np.testing.assert_array_equal(x[order], images.astype("float32"))

    mirrored = yaleb.RelightingBatches(images, identity, lighting, batch_size=12, mirror=True)
    x, (y, z) = mirrored[0]
    for image, k, l in zip(x, y, z):
        j = np.flatnonzero((identity == k) & ((lighting == l) | (yaleb.MIRRORED_LIGHTING_CLASS[lighting] == l)))
        assert any((image == images[i]).all() or (image == images[i][:, ::-1]).all() for i in j)


def test_tfds_load_finds_the_builder_after_import_lrep_zoo(tmp_path):
    """The plain TFDS call, in a fresh process whose only lrep_zoo line is `import lrep_zoo`."""
    rng = np.random.default_rng(0)
    lights = [(0, 0), (-25, 0), (25, 0), (70, 45), (-110, 15), (0, 90)]
    subject = np.repeat([1, 2], len(lights))
    azimuth = np.array([a for _ in range(2) for a, _ in lights])
    elevation = np.array([e for _ in range(2) for _, e in lights])
    images = rng.integers(0, 256, size=(len(subject), *yaleb.IMAGE_SHAPE), dtype=np.uint8)
    _write_official_layout(tmp_path / "manual", images, subject, azimuth, elevation)
    code = (
        "import sys, lrep_zoo, tensorflow_datasets as tfds\n"
        "splits = tfds.load('extended_yale_b', split=['train', 'validation', 'test'],\n"
        "    data_dir=sys.argv[1], batch_size=-1, download_and_prepare_kwargs={\n"
        "        'download_config': tfds.download.DownloadConfig(manual_dir=sys.argv[2])})\n"
        "print(sum(int(s['image'].shape[0]) for s in splits))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "tfds"), str(tmp_path / "manual")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str(len(subject))
