"""lrep_zoo.data: npz folder, TFDS (mocked), offline errors, semi-supervised streams, shapes."""

import socket
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from lrep_zoo import data
from lrep_zoo.data import catalog
from lrep_zoo.data import tfds_source
from lrep_zoo.data.errors import DatasetCorruptError

ENV = catalog.ENV_DATA_DIR

# The shared data are partial copies; the warning is checked once, below.
pytestmark = pytest.mark.filterwarnings("ignore:.*partial copy:UserWarning")


@pytest.fixture
def no_npz_env(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def _batches(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


# ---------------------------------------------------------------- names and arguments


def test_unknown_name_lists_known_datasets():
    with pytest.raises(ValueError, match=r"Unknown dataset 'mnsit'.*cifar10.*mnist.*shapes"):
        data.load("mnsit")
    assert set(data.list_datasets()) == {
        "mnist", "cifar10", "svhn_cropped", "stl10", "smallnorb", "celeb_a", "shapes"
    }  # fmt: skip


def test_bad_source_and_split_are_value_errors():
    with pytest.raises(ValueError, match="source must be one of"):
        data.load("shapes", source="web")
    with pytest.raises(ValueError, match="Unsupported split"):
        data.load("shapes", "train[::2]")
    with pytest.raises(ValueError, match="procedural"):
        data.load("shapes", source="tfds")


def test_celeb_a_attribute_names_follow_tfds_key_order():
    names = data.dataset_info("celeb_a").label_names
    assert len(names) == 40 and list(names) == sorted(names)


# ---------------------------------------------------------------- npz folder (shared data)


def test_mnist_from_npz_matches_the_file(shared_data_dir):
    raw = np.load(shared_data_dir / "mnist" / "mnist_test_full.npz")
    ds = data.load("mnist", "test", data_dir=shared_data_dir, batch_size=1000)
    batches = _batches(ds)
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert [b[0].shape for b in batches] == [(1000, 28, 28, 1)] * 10
    assert x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    # The test split is not shuffled by default: file order, exact values.
    np.testing.assert_array_equal(y, raw["y_test"])
    np.testing.assert_allclose(x[..., 0], raw["x_test"] / 255.0, atol=1e-6)
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_cifar10_npz_value_range_slice_and_remainder(shared_data_dir):
    raw = np.load(shared_data_dir / "cifar10" / "cifar10_partial.npz")
    ds = data.load(
        "cifar10", "test[:100]", data_dir=shared_data_dir, batch_size=64, value_range=(-1, 1)
    )
    batches = _batches(ds)
    assert [b[0].shape for b in batches] == [(64, 32, 32, 3), (36, 32, 32, 3)]
    x = np.concatenate([b[0] for b in batches])
    assert x.min() >= -1.0 and x.max() <= 1.0
    np.testing.assert_allclose(x, raw["x_test"][:100] / 127.5 - 1.0, atol=1e-5)
    dropped = data.load(
        "cifar10", "test[:100]", data_dir=shared_data_dir, batch_size=64, drop_remainder=True
    )
    assert [b[0].shape[0] for b in _batches(dropped)] == [64]


def test_load_arrays_from_env_var_warns_on_partial_copy(shared_data_dir, monkeypatch):
    monkeypatch.setenv(ENV, str(shared_data_dir))
    with pytest.warns(UserWarning, match="17435 of the 60000"):
        x, y = data.load_arrays("mnist", "train", source="npz")
    assert x.shape == (17435, 28, 28, 1) and x.dtype == np.uint8
    assert y.shape == (17435,) and y.dtype == np.int64 and set(np.unique(y)) == set(range(10))


def test_shuffle_is_deterministic_by_seed(shared_data_dir):
    def labels(**kw):
        ds = data.load("mnist", "test[:512]", data_dir=shared_data_dir, batch_size=128, **kw)
        return np.concatenate([y for _, y in _batches(ds)])

    ordered = labels(shuffle=False)
    a, b = labels(shuffle=True, seed=3), labels(shuffle=True, seed=3)
    c = labels(shuffle=True, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, ordered)
    np.testing.assert_array_equal(np.sort(a), np.sort(ordered))  # a permutation


def test_repeat_and_images_only(shared_data_dir):
    ds = data.load(
        "cifar10", "test[:10]", data_dir=shared_data_dir, batch_size=4, repeat=True,
        with_labels=False, value_range=None,
    )
    assert isinstance(ds.element_spec, tf.TensorSpec) and ds.element_spec.dtype == tf.uint8
    assert len(list(ds.take(7))) == 7  # 28 examples from a 10-example split


# ---------------------------------------------------------------- npz folder layout (tmp)


def test_npz_layout_rules(tmp_path, no_npz_env):
    rng = np.random.default_rng(0)
    # Keras-style single file, labels (N, 1), no channel axis.
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (5, 28, 28), np.uint8),
             y_train=np.arange(5).reshape(5, 1))  # fmt: skip
    x, y = data.load_arrays("mnist", "train", data_dir=tmp_path)
    assert x.shape == (5, 28, 28, 1) and y.tolist() == [0, 1, 2, 3, 4]
    # Several files with the same split: the one with most rows wins.
    (tmp_path / "cifar10").mkdir()
    for name, n in (("a.npz", 3), ("b.npz", 7)):
        np.savez(tmp_path / "cifar10" / name, x_test=np.zeros((n, 32, 32, 3), np.uint8),
                 y_test=np.zeros(n, np.uint8))  # fmt: skip
    assert data.load_arrays("cifar10", "test", data_dir=tmp_path)[0].shape[0] == 7
    np.savez(tmp_path / "cifar10" / "c.npz", x_train=np.zeros((8, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="must be uint8"):
        data.load_arrays("cifar10", "train", data_dir=tmp_path)
    with pytest.raises(data.DatasetNotFoundError, match=ENV):
        data.load_arrays("stl10", "train", source="npz", data_dir=tmp_path)
    with pytest.raises(data.DatasetNotFoundError, match="unset"):
        data.load_arrays("stl10", "train", source="npz")


def test_corrupt_npz_is_named_as_corrupt(tmp_path, no_npz_env):
    folder = tmp_path / "mnist"
    folder.mkdir()
    bad = folder / "mnist_bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetCorruptError, match=rf"{bad} is corrupt: not a readable npz"):
        data.load_arrays("mnist", "train", data_dir=tmp_path)
    # A damaged array in a readable archive: named with the array.
    good = np.zeros((4, 28, 28), np.uint8)
    np.savez(bad, x_train=good, y_train=np.arange(4))
    raw = bytearray(bad.read_bytes())
    raw[200:240] = b"\xff" * 40  # inside x_train's data: a CRC error on reading
    bad.write_bytes(bytes(raw))
    with pytest.raises(DatasetCorruptError, match=r"mnist_bad.npz is corrupt: .*array `x_train`.*CRC"):
        data.load_arrays("mnist", "train", source="npz", data_dir=tmp_path)
    # Another file holding the split is used; the damaged one is named in a warning.
    bad.write_bytes(b"garbage")
    np.savez(folder / "mnist_ok.npz", x_train=good, y_train=np.arange(4))
    with pytest.warns(UserWarning, match=r"skipped: .*mnist_bad.npz is corrupt"):
        x, _ = data.load_arrays("mnist", "train", data_dir=tmp_path)
    assert x.shape == (4, 28, 28, 1)


def test_unknown_split_lists_the_available_ones(tmp_path, shared_data_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    for source, data_dir in (("npz", shared_data_dir), ("tfds", tmp_path), ("auto", shared_data_dir)):
        with pytest.raises(ValueError, match=r"Unknown split 'valid' of 'mnist'; available splits: \['test', 'train'\]"):
            data.load("mnist", "valid[:10]", source=source, data_dir=data_dir)
    with pytest.raises(ValueError, match=r"Unknown split 'dev' of 'celeb_a'.*'validation'"):
        data.load_arrays("celeb_a", "dev", source="tfds", data_dir=tmp_path)


def test_download_timeout_is_scoped():
    assert socket.getdefaulttimeout() is None
    with tfds_source.download_timeout(5.0):
        assert socket.getdefaulttimeout() == 5.0
    assert socket.getdefaulttimeout() is None


# ---------------------------------------------------------------- TFDS (mocked)


@pytest.mark.parametrize("name,shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_tfds_path_with_mock_data(name, shape, tmp_path, no_npz_env):
    with tfds.testing.mock_data(num_examples=10):
        # auto: an empty npz folder falls through to TFDS
        ds = data.load(name, "train", batch_size=4, data_dir=tmp_path, seed=1)
        batches = _batches(ds)
        x, y = data.load_arrays(name, "test", source="tfds")
    assert [b[0].shape for b in batches] == [(4, *shape), (4, *shape), (2, *shape)]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.dtype == np.float32 and 0.0 <= images.min() and images.max() <= 1.0
    assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() < 10
    assert x.shape == (10, *shape) and x.dtype == np.uint8 and y.dtype == np.int64


def test_tfds_celeb_a_labels_are_attribute_vectors(no_npz_env):
    with tfds.testing.mock_data(num_examples=3):
        x, y = next(iter(data.load("celeb_a", "test", batch_size=3, value_range=(-1, 1))))
    assert x.shape == (3, 218, 178, 3) and x.numpy().min() >= -1.0
    assert y.shape == (3, 40) and y.dtype == tf.int64 and set(np.unique(y)) <= {0, 1}


# ---------------------------------------------------------------- offline errors


@pytest.fixture
def network_off(monkeypatch):
    """No connection can be opened and TFDS must not start a download."""

    def refuse(*args, **kwargs):
        raise OSError("network is off in this test")

    def no_download(self, *args, **kwargs):
        pytest.fail("download_and_prepare must not run when the host is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)


@pytest.mark.parametrize("where", ["data_dir", "env_unset", "env_empty"])
def test_missing_dataset_fails_fast_and_says_how_to_fix(where, tmp_path, monkeypatch, network_off):
    tfds_dir = tmp_path / "tfds"
    npz_dir = tmp_path / "npz"
    npz_dir.mkdir()
    monkeypatch.delenv(ENV, raising=False)
    if where == "env_empty":
        monkeypatch.setenv(ENV, str(npz_dir))
    if where != "data_dir":  # TFDS' default data_dir, kept hermetic
        monkeypatch.setattr(tfds.core.constants, "DATA_DIR", str(tfds_dir))
    start = time.perf_counter()
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load("mnist", "train", data_dir=tfds_dir if where == "data_dir" else None)
    assert time.perf_counter() - start < 10
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    checked = {
        "data_dir": f"npz folder {tfds_dir} has no 'mnist'",
        "env_unset": f"{ENV} unset",
        "env_empty": f"npz folder {npz_dir} has no 'mnist'",
    }[where]
    for needle in (checked, "storage.googleapis.com", "tfds build mnist", ENV, "x_train",
                   str(tfds_dir / "downloads" / "manual")):  # fmt: skip
        assert needle in message, needle


def test_download_failure_is_wrapped(tmp_path, monkeypatch, no_npz_env):
    def broken(self, *args, **kwargs):
        raise ConnectionError("connection reset")

    monkeypatch.setattr(tfds_source, "unreachable_hosts", lambda urls, timeout=0: [])
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", broken)
    with pytest.raises(data.DatasetNotFoundError, match="connection reset") as info:
        data.load_arrays("cifar10", "test", data_dir=tmp_path)
    assert isinstance(info.value.__cause__, ConnectionError)


def test_unreachable_hosts_probe(monkeypatch):
    seen = []

    def fake_connect(target, timeout):
        seen.append(target)
        if target[0] == "down.example":
            raise OSError("unreachable")
        return socket.socket()

    monkeypatch.setattr(socket, "create_connection", fake_connect)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    hosts = tfds_source.unreachable_hosts(["https://up.example/a", "http://down.example/b"])
    assert hosts == ["down.example:80"]
    assert sorted(seen) == [("down.example", 80), ("up.example", 443)]


# ---------------------------------------------------------------- semi-supervised


def _labels(num_per_class=30, classes=10, seed=0):
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(classes), num_per_class))


def test_split_labelled_balanced_deterministic():
    y = _labels()
    idx = data.split_labelled(y, 50, seed=0)
    assert len(idx) == len(set(idx.tolist())) == 50
    assert np.bincount(y[idx], minlength=10).tolist() == [5] * 10
    np.testing.assert_array_equal(idx, data.split_labelled(y, 50, seed=0))
    assert not np.array_equal(idx, data.split_labelled(y, 50, seed=1))
    # Entries < 0 are already unlabelled and never chosen.
    y2 = np.concatenate([y, -np.ones(100, np.int64)])
    assert (y2[data.split_labelled(y2, 100, seed=0)] >= 0).all()


def test_split_labelled_errors():
    y = _labels(num_per_class=3)
    with pytest.raises(ValueError, match="class .* has 3 examples"):
        data.split_labelled(y, 40)
    with pytest.raises(ValueError, match="multiple of the 10 classes"):
        data.split_labelled(y, 25)


def _index_images(n):
    """2x2x1 uint8 images whose first two pixels encode the row index."""
    x = np.zeros((n, 2, 2, 1), np.uint8)
    x[:, 0, 0, 0], x[:, 0, 1, 0] = np.arange(n) // 256, np.arange(n) % 256
    return x


def _decode(images):
    return images[:, 0, 0, 0].astype(int) * 256 + images[:, 0, 1, 0]


@pytest.mark.parametrize("include", [True, False])
def test_semi_supervised_batches(include):
    y = _labels()
    x = _index_images(len(y))
    kw = dict(seed=2, batch_size=16, labelled_per_batch=4, value_range=None,
              include_labelled_in_unlabelled=include)  # fmt: skip
    ds = data.semi_supervised(x, y, 20, **kw)
    labelled = set(data.split_labelled(y, 20, seed=2).tolist())
    seen_lab, seen_unl = set(), set()
    batches = [(bx.numpy(), by.numpy()) for bx, by in ds.take(40)]  # > 2 passes over the pools
    for bx, by in batches:
        assert bx.shape == (16, 2, 2, 1) and by.shape == (16,)
        ids = _decode(bx)
        assert (by[4:] == -1).all() and (by[:4] >= 0).all()
        np.testing.assert_array_equal(by[:4], y[ids[:4]])
        seen_lab.update(ids[:4].tolist())
        seen_unl.update(ids[4:].tolist())
    assert seen_lab == labelled
    if include:
        assert labelled <= seen_unl
    else:
        assert not (labelled & seen_unl) and len(seen_unl) == len(y) - 20
    again = [(bx.numpy(), by.numpy()) for bx, by in data.semi_supervised(x, y, 20, **kw).take(3)]
    for (a, la), (b, lb) in zip(batches[:3], again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)


def test_semi_supervised_normalises_and_validates():
    y = _labels()
    x = np.full((len(y), 4, 4), 255, np.uint8)  # no channel axis: one is added
    bx, by = next(iter(data.semi_supervised(x, y, 10, batch_size=8, value_range=(-1, 1))))
    assert bx.shape == (8, 4, 4, 1) and bx.dtype == tf.float32 and np.all(bx.numpy() == 1.0)
    assert (by.numpy() >= 0).sum() == 2  # labelled_per_batch defaults to batch_size // 4
    with pytest.raises(ValueError, match="labelled_per_batch"):
        data.semi_supervised(x, y, 10, batch_size=8, labelled_per_batch=8)


# ---------------------------------------------------------------- procedural shapes


def test_shapes_deterministic_and_fast():
    start = time.perf_counter()
    x, y = data.procedural.shapes(10_000, seed=0)
    assert time.perf_counter() - start < 4.0  # < 1 s on one idle core
    assert x.shape == (10_000, 28, 28, 1) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.bincount(y).min() > 1500  # five classes, roughly balanced
    assert x.max() > 200 and np.mean(x) < 128  # bright shapes on dark backgrounds
    x2, y2 = data.procedural.shapes(10_000, seed=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = data.procedural.shapes(100, size=40, seed=1)
    assert x3.shape == (100, 40, 40, 1) and not np.array_equal(x3[:, :28, :28], x[:100])


def test_shapes_classes_are_distinct_images():
    x, y = data.procedural.shapes(2000, seed=5)
    # Coverage differs by class: a ring covers less than a disk of similar radius.
    coverage = (x[..., 0] > 40).mean(axis=(1, 2))
    per_class = [coverage[y == k].mean() for k in range(5)]
    assert per_class[0] > per_class[3]  # disk > ring


def test_load_shapes_splits():
    train = data.load("shapes", "train", batch_size=500, shuffle=False)
    test = data.load("shapes", "test", batch_size=500)
    assert sum(b[0].shape[0] for b in _batches(train)) == 10_000
    xt, yt = next(iter(test))
    assert xt.shape == (500, 28, 28, 1) and xt.dtype == tf.float32
    x_tr, _ = data.load_arrays("shapes", "train[:500]")
    assert not np.array_equal(x_tr, (xt.numpy() * 255).round().astype(np.uint8))
