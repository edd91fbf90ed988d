"""TFDS-backed datasets that fail fast, with a clear message, where there is no network.

`tfds.load` on a machine without internet retries each URL for minutes before it
gives up. Here the download hosts are probed first (a TCP connect with a short
timeout, through the configured proxy if any) and a `DatasetNotFoundError` that
says how to provide the data is raised at once when they cannot be reached.
Downloads run under a socket timeout (`DOWNLOAD_TIMEOUT` seconds without a byte
ends them with an error instead of a hang); unknown split names are a
`ValueError` that lists the dataset's splits, before any download.
"""

import contextlib
import socket
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import tensorflow as tf

from lrep_zoo.data import catalog
from lrep_zoo.data import local
from lrep_zoo.data.errors import DatasetNotFoundError

PROBE_TIMEOUT = 3.0  # seconds, for all download hosts together
DOWNLOAD_TIMEOUT = 60.0  # seconds a download socket may wait for a connection or data


def _tfds():
    import tensorflow_datasets as tfds

    return tfds


def _download_is_mocked() -> bool:
    """True inside `tfds.testing.mock_data`, which makes downloads a no-op."""
    fn = _tfds().core.DatasetBuilder.download_and_prepare
    return getattr(fn, "__module__", "").startswith("tensorflow_datasets.testing")


def _probe_target(url):
    parsed = urlparse(url)
    proxy = None
    if not urllib.request.proxy_bypass(parsed.hostname or ""):
        proxy = urllib.request.getproxies().get(parsed.scheme)
    if proxy:
        p = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        return p.hostname, p.port or 80
    return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)


def unreachable_hosts(urls, timeout: float = PROBE_TIMEOUT) -> list[str]:
    """`host:port` of the URLs' hosts (or proxies) that a TCP connect cannot reach."""
    targets = sorted({_probe_target(u) for u in urls})
    ok = {}

    def probe(target):
        try:
            socket.create_connection(target, timeout=timeout).close()
            ok[target] = True
        except OSError:  # DNS failure, refused, timeout
            ok[target] = False

    threads = [threading.Thread(target=probe, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:  # DNS lookups ignore `timeout`: bound the wait here
        thread.join(timeout)
    return [f"{h}:{p}" for h, p in targets if not ok.get((h, p), False)]


@contextlib.contextmanager
def download_timeout(seconds: float = DOWNLOAD_TIMEOUT):
    """Gives sockets opened without a timeout (TFDS' `requests` downloads open
    theirs so) a `seconds` limit per connect / read, for the duration of the block."""
    previous = socket.getdefaulttimeout()
    if previous is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        if previous is None:
            socket.setdefaulttimeout(None)


def _expected_files(builder):
    """`{url: filename}` that the builder downloads, or `{}` when unknown."""
    try:
        infos = builder.url_infos or {}
    except Exception:  # noqa: BLE001 (TFDS needs optional modules for this)
        return {}
    return {url: info.filename or Path(urlparse(url).path).name for url, info in infos.items()}


def _not_found_message(info, builder, manual_dir, files, reason, npz_note):
    tfds_name = info.tfds_name
    original = ", ".join(sorted(set(files.values()))) or (
        f"the original files that TFDS downloads for {tfds_name}"
    )
    return "\n".join(
        [
            f"Dataset {info.name!r} is not prepared in the TFDS data_dir "
            f"{builder.data_dir_root} and {reason}.",
            *([npz_note] if npz_note else []),
            "Provide it in one of these ways:",
            f"  1. Prepared TFDS data: on a machine with internet run `tfds build {tfds_name} "
            f"--data_dir=DIR` (or `tfds.load({tfds_name!r}, data_dir=DIR)`), copy DIR here and "
            "pass data_dir=DIR (or set TFDS_DATA_DIR=DIR).",
            f"  2. TFDS manual_dir: put {original} into {manual_dir}/ and load again; "
            "TFDS then prepares the dataset from those files without network.",
            f"  3. npz files: {local.npz_layout_help(info.name)}",
        ]
    )


def prepared_builder(name: str, data_dir=None, *, npz_note: str = ""):
    """The TFDS builder of `name`, downloaded and prepared if needed.

    Raises:
        DatasetNotFoundError: the dataset is not prepared in `data_dir` and
            cannot be downloaded (host unreachable, or the download failed).
    """
    tfds = _tfds()
    info = catalog.dataset_info(name)
    builder = tfds.builder(info.tfds_name, data_dir=None if data_dir is None else str(data_dir))
    if builder.is_prepared():
        return builder
    manual_dir = Path(builder.data_dir_root) / "downloads" / "manual"
    files = _expected_files(builder)
    if not _download_is_mocked():
        missing = [u for u, f in files.items() if not (manual_dir / f).exists()]
        if not files:
            missing = [info.download_url]
        unreachable = unreachable_hosts(missing) if missing else []
        if unreachable:
            reason = f"cannot be downloaded: no connection to {', '.join(unreachable)}"
            raise DatasetNotFoundError(
                _not_found_message(info, builder, manual_dir, files, reason, npz_note)
            )
    try:
        with download_timeout():
            builder.download_and_prepare()
    except ImportError:
        raise
    except Exception as e:  # noqa: BLE001 (network, checksum and extraction errors)
        reason = f"downloading or preparing it failed ({type(e).__name__}: {e})"
        raise DatasetNotFoundError(
            _not_found_message(info, builder, manual_dir, files, reason, npz_note)
        ) from e
    return builder


def _example_to_pair(info):
    def to_pair(example):
        label = example[info.label_key]
        if isinstance(label, dict):  # celeb_a attributes: bools, stacked in sorted key order
            label = tf.stack([tf.cast(label[k], tf.int64) for k in sorted(label)])
        return example[info.image_key], tf.cast(label, tf.int64)

    return to_pair


def as_dataset(
    name: str, split: str, *, data_dir=None, shuffle_files: bool = False, seed: int = 0,
    npz_note: str = "",
) -> tf.data.Dataset:
    """Unbatched `(image uint8 HWC, label int64)` examples of a TFDS dataset."""
    tfds = _tfds()
    info = catalog.dataset_info(name)
    local.check_split(name, split)
    builder = prepared_builder(name, data_dir, npz_note=npz_note)
    ds = builder.as_dataset(
        split=split,
        shuffle_files=shuffle_files,
        read_config=tfds.ReadConfig(shuffle_seed=seed),
    )
    return ds.map(_example_to_pair(info), num_parallel_calls=tf.data.AUTOTUNE)


def load_arrays(name: str, split: str, *, data_dir=None, npz_note: str = ""):
    """`(x uint8 NHWC, y int64)` of a TFDS split, in file order."""
    ds = as_dataset(name, split, data_dir=data_dir, npz_note=npz_note).batch(4096)
    xs, ys = [], []
    for x, y in ds.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    info = catalog.dataset_info(name)
    if not xs:
        return np.zeros((0, *info.image_shape), np.uint8), np.zeros((0,), np.int64)
    return np.concatenate(xs), np.concatenate(ys)


def shuffle_buffer_size(name: str, max_bytes: int = 256 * 2**20) -> int:
    """A shuffle buffer of about `max_bytes` of images (at most the train split)."""
    info = catalog.dataset_info(name)
    per_image = int(np.prod(info.image_shape))
    return int(max(1, min(max(info.splits.values()), max_bytes // per_image)))

