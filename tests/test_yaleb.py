"""Extended Yale-B: lighting classes, the deterministic split, npz loader, TFDS builder."""

import subprocess
import sys

import numpy as np
import pytest

from lrep_zoo.data import yaleb
from lrep_zoo.data.errors import DatasetCorruptError, DatasetNotFoundError

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


def test_relighting_batches_group_images_of_one_face():
    identity = np.repeat(np.arange(6), [5, 5, 5, 5, 5, 3])  # a face with fewer images
    images = np.arange(len(identity), dtype="uint8").reshape(-1, 1, 1, 1)
    batches = yaleb.RelightingBatches(images, identity, identity % 2, batch_size=8,
                                      images_per_identity=4, seed=1)
    for epoch in range(2):
        seen = []
        for i in range(len(batches)):
            x, (y, _) = batches[i]
            np.testing.assert_array_equal(identity[x.reshape(-1).astype(int)], y)
            seen += list(x.reshape(-1).astype(int))
        assert sorted(seen) == list(range(len(identity)))  # every image once an epoch
        runs = np.split(identity[batches.order], np.flatnonzero(np.diff(identity[batches.order])) + 1)
        assert max(len(r) for r in runs) >= 4 and len(runs) <= 11  # 11 groups: 5 x (4 + 1) + 3
        batches.on_epoch_end()
    with pytest.raises(ValueError, match="images_per_identity"):
        yaleb.RelightingBatches(images, identity, identity, images_per_identity=0)


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


# ---------------------------------------------------------------- errors that name the problem


@pytest.fixture
def no_download(monkeypatch):
    """TFDS must not start a download, nor open a connection."""
    import socket

    import tensorflow_datasets as tfds

    def refuse(*args, **kwargs):
        raise OSError("network is off in this test")

    def download(self, *args, **kwargs):
        pytest.fail("the Yale-B builder must not download here")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(tfds.download.DownloadManager, "download", download)


def _build(tmp_path, **config):
    import tensorflow_datasets as tfds

    builder = yaleb.builder_class()(data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(**config))


@pytest.mark.parametrize("state", ["missing", "empty", "other files"])
def test_builder_with_manual_folder_without_images_fails_at_once(state, tmp_path, no_download):
    import time

    manual = tmp_path / "manual"
    if state != "missing":
        manual.mkdir()
    if state == "other files":
        (manual / "README.txt").write_text("not the faces")
        (manual / "CroppedYale").mkdir()
    start = time.perf_counter()
    with pytest.raises(DatasetNotFoundError) as info:
        _build(tmp_path, manual_dir=str(manual))
    assert time.perf_counter() - start < 30
    message = str(info.value)
    for needle in (f"manual folder {manual}", str(manual / "CroppedYale.zip"), "yaleBSS_P00A",
                   "Nothing is downloaded", {"missing": "does not exist", "empty": "is empty",
                                             "other files": "README.txt"}[state]):
        assert needle in message, needle


def test_builder_without_manual_folder_does_not_download_unverified(tmp_path, no_download):
    assert yaleb.builder_class().url_infos is None  # no sha256 of CroppedYale.zip recorded
    with pytest.raises(DatasetNotFoundError) as info:
        _build(tmp_path)
    message = str(info.value)
    for needle in ("sha256", "checksums.tsv", "register_checksums=True", "CroppedYale.zip",
                   str(tmp_path / "tfds" / "downloads" / "manual")):
        assert needle in message, needle


def test_builder_download_opt_in_fails_fast_offline(tmp_path, no_download):
    class OptIn:  # the part of the DownloadManager that `_download` reads
        register_checksums = True

    with pytest.raises(DatasetNotFoundError, match="no connection to vision.ucsd.edu:80"):
        yaleb._download(yaleb.builder_class(), OptIn(), tmp_path / "manual")


def test_corrupt_zip_in_manual_folder_is_named(tmp_path, no_download):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "CroppedYale.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DatasetCorruptError, match=r"CroppedYale\.zip is corrupt: not a readable zip"):
        _build(tmp_path, manual_dir=str(manual))


def test_npz_errors_name_the_file_and_the_problem(tmp_path, monkeypatch):
    monkeypatch.delenv("LREP_ZOO_DATA_DIR", raising=False)
    folder = tmp_path / "yaleb_cropped"
    with pytest.raises(DatasetNotFoundError) as info:
        yaleb.load_yaleb_npz(tmp_path, "48x42")
    assert str(tmp_path / "yaleb_cropped" / "yaleb_cropped_48x42.npz") in str(info.value)
    with pytest.raises(DatasetNotFoundError, match=r"LREP_ZOO_DATA_DIR is unset"):
        yaleb.load_yaleb_npz(None)

    folder.mkdir()
    path = folder / "yaleb_cropped_48x42.npz"
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetCorruptError, match=rf"{path} is corrupt: not a readable npz"):
        yaleb.load_yaleb_npz(tmp_path, "48x42")
    np.savez(path, images=np.zeros((3, 48, 42), np.uint8), subject=np.ones(3))
    with pytest.raises(DatasetCorruptError, match=r"\['azimuth', 'elevation'\] are missing"):
        yaleb.load_yaleb_npz(tmp_path, "48x42")
    np.savez(path, images=np.zeros((3, 48, 42), np.uint8), subject=np.ones(2),
             azimuth=np.zeros(3), elevation=np.zeros(3))
    with pytest.raises(DatasetCorruptError, match=r"lengths .*'subject': 2"):
        yaleb.load_yaleb_npz(tmp_path, "48x42")


def test_other_unreadable_zips_in_manual_folder_are_passed_over(tmp_path, no_download):
    manual = tmp_path / "manual"
    manual.mkdir()
    (manual / "other_dataset.zip").write_bytes(b"not a zip")  # TFDS' manual folder is shared
    assert yaleb.find_cropped_yale(manual) is None
    with pytest.raises(DatasetNotFoundError, match="other_dataset.zip"):  # listed, not corrupt
        _build(tmp_path, manual_dir=str(manual))
