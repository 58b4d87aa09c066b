"""Tests of dbn.datasets: IDX parsing, folder resolution, verification and downloads.

Downloads (through pooch) go to a real HTTP server on 127.0.0.1 serving files written under tmp_path;
nothing here touches the network. The checks on the real MNIST read it where conftest.py finds it
(DBN_DATA_HOME, the user cache, ../shared/data).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from dbn import datasets
from dbn.datasets import (
    CHECKSUMS,
    MIRRORS,
    Checksum,
    ChecksumError,
    DatasetNotFoundError,
    IDXFormatError,
    get_data_home,
    load_fashion_mnist,
    load_idx,
    load_mnist,
)

from .conftest import data_homes, mnist_home, needs_mnist

REPO = Path(__file__).resolve().parents[1]
LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"

_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``, written independently of the parser under test."""
    kind = array.dtype.kind + str(array.dtype.itemsize)
    header = bytes([0, 0, _CODES[kind], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    payload = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def sha256_of(payload: bytes) -> Checksum:
    return Checksum("sha256", hashlib.sha256(payload).hexdigest(), of="decompressed")


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# DBN_DATA_HOME, the user cache, ../shared/data: the first that holds MNIST (conftest.py).
REAL_DATA_HOME = mnist_home()


# ----------------------------------------------------------------------------------------------
# IDX parsing
# ----------------------------------------------------------------------------------------------


def _sample(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(0)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        array = rng.standard_normal(shape).astype(dtype) * 1e3
        flat = array.reshape(-1)
        flat[: min(3, flat.size)] = [np.inf, -0.0, np.finfo(dtype).max][: min(3, flat.size)]
        return array
    info = np.iinfo(dtype)
    array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    array.reshape(-1)[:2] = [info.min, info.max]  # extremes catch byte-order and sign errors
    return array


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("shape", [(7,), (5, 3), (4, 3, 2)], ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
def test_load_idx_round_trip(tmp_path, dtype, shape, compress):
    expected = _sample(dtype, shape)
    path = write_idx(tmp_path / "a.idx", expected, compress=compress)
    result = load_idx(path)
    assert result.shape == shape
    assert result.dtype == expected.dtype.newbyteorder("=")
    assert result.dtype.isnative
    assert result.flags.writeable and result.flags.c_contiguous
    np.testing.assert_array_equal(result, expected)


def test_load_idx_detects_gzip_by_content_not_name(tmp_path):
    expected = np.arange(12, dtype=np.int16).reshape(3, 4)
    gz_without_suffix = write_idx(tmp_path / "images-idx2-ubyte", expected, compress=True)
    raw_with_suffix = write_idx(tmp_path / "images-idx2-ubyte.gz", expected, compress=False)
    np.testing.assert_array_equal(load_idx(gz_without_suffix), expected)
    np.testing.assert_array_equal(load_idx(str(raw_with_suffix)), expected)


def test_load_idx_empty_dimension(tmp_path):
    path = write_idx(tmp_path / "empty.idx", np.zeros((0, 28, 28), dtype=np.uint8))
    assert load_idx(path).shape == (0, 28, 28)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_load_idx_rejects_truncated_file(tmp_path, compress):
    payload = idx_bytes(np.zeros((10, 4, 4), dtype=np.uint8))[:-7]
    path = tmp_path / ("images-idx3-ubyte.gz" if compress else "images-idx3-ubyte")
    path.write_bytes(gzip.compress(payload) if compress else payload)
    match = (
        rf"{path.name}: truncated, expected 160 bytes of data after the 16-byte header "
        r".*found 153"
    )
    with pytest.raises(IDXFormatError, match=match):
        load_idx(path)


def test_load_idx_rejects_over_long_file(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.arange(5, dtype=">i4")) + b"\x00")
    with pytest.raises(
        IDXFormatError,
        match=r"labels-idx1-ubyte: over-long, expected 20 bytes .*8-byte header.*found 21",
    ):
        load_idx(path)


def test_load_idx_rejects_truncated_header(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + np.asarray([2, 2], ">u4").tobytes())
    with pytest.raises(
        IDXFormatError,
        match=r"x\.idx: truncated header, expected 16 bytes for 3 dimensions, found 12",
    ):
        load_idx(path)


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (b"\x01\x00\x08\x01", r"bad IDX magic number, expected .*two zero bytes, found 0x01000801"),
        (b"\x00\x07\x08\x01", r"bad IDX magic number.*found 0x00070801"),
        (b"\x00\x00\x0a\x01", r"unknown IDX dtype code 0x0A.*expected one of 0x08 \(uint8\)"),
        (b"\x00\x00\x08\x00", r"IDX header declares 0 dimensions, expected at least 1"),
        (b"\x00\x00", r"too short to be an IDX file.*found 2 bytes"),
    ],
    ids=["first-byte", "second-byte", "dtype-code", "zero-dims", "too-short"],
)
def test_load_idx_rejects_bad_magic(tmp_path, header, match):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(
        header + (np.asarray([1], ">u4").tobytes() + b"\x05" if len(header) == 4 else b"")
    )
    with pytest.raises(IDXFormatError, match="bad-idx1-ubyte: " + match):
        load_idx(path)


def test_load_idx_rejects_corrupt_gzip(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8) % 7))[:-12])
    with pytest.raises(IDXFormatError, match=r"broken\.gz: corrupt or truncated gzip stream"):
        load_idx(path)


def test_idx_format_error_is_a_value_error():
    assert issubclass(IDXFormatError, ValueError)
    assert issubclass(ChecksumError, ValueError)
    assert issubclass(DatasetNotFoundError, FileNotFoundError)


# ----------------------------------------------------------------------------------------------
# Data folder resolution
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No data folder from this machine: no DBN_DATA_HOME, a HOME of its own, and no
    ../shared/data beside the checkout."""
    monkeypatch.delenv("DBN_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(datasets, "_checkout_data_home", lambda: None)
    return monkeypatch


def test_data_home_argument_beats_environment(clean_env, tmp_path):
    clean_env.setenv("DBN_DATA_HOME", str(tmp_path / "env"))
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home(str(tmp_path / "arg")) == tmp_path / "arg"


def test_data_home_env_var_beats_xdg(clean_env, tmp_path):
    clean_env.setenv("DBN_DATA_HOME", str(tmp_path / "env"))
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_data_home() == tmp_path / "env"


def test_data_home_xdg_then_home(clean_env, tmp_path):
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_data_home() == tmp_path / "xdg" / "dbn"
    clean_env.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid per the XDG spec: ignored
    assert get_data_home() == tmp_path / "home" / ".cache" / "dbn"
    clean_env.delenv("XDG_CACHE_HOME")
    clean_env.setenv("DBN_DATA_HOME", "")  # empty means unset
    assert get_data_home() == tmp_path / "home" / ".cache" / "dbn"


def test_data_home_expands_user_and_creates_nothing(clean_env, tmp_path):
    assert get_data_home("~/data") == tmp_path / "home" / "data"
    assert not (tmp_path / "home").exists()


def test_loader_uses_env_var_and_download_false_names_folder(clean_env, tmp_path):
    clean_env.setenv("DBN_DATA_HOME", str(tmp_path / "env"))
    folder = tmp_path / "env" / "mnist"
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("test", download=False)
    message = str(info.value)
    assert str(folder) in message
    assert TEST_IMAGES in message and "download=False" in message
    assert "DBN_DATA_HOME" in message and "data_home=" in message
    assert not (tmp_path / "env").exists()  # nothing created when not downloading


def test_data_homes_search_env_then_user_cache_then_checkout(clean_env, tmp_path):
    shared = tmp_path / "shared" / "data"
    clean_env.setattr(datasets, "_checkout_data_home", lambda: shared)
    cache = tmp_path / "home" / ".cache" / "dbn"
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "home" / ".cache"))
    assert datasets.data_homes() == [cache, shared]
    clean_env.setenv("DBN_DATA_HOME", str(tmp_path / "env"))
    assert datasets.data_homes() == [tmp_path / "env", cache, shared]
    assert datasets.get_data_home() == tmp_path / "env"  # downloads go to the first
    # An explicit data_home is the only folder searched.
    assert datasets.data_homes(tmp_path / "arg") == [tmp_path / "arg"]
    clean_env.setenv("DBN_DATA_HOME", str(cache))  # the same folder twice is searched once
    assert datasets.data_homes() == [cache, shared]


def test_checkout_folder_is_the_clones_shared_data_or_none(monkeypatch):
    folder = datasets._checkout_data_home()
    checkout = Path(datasets.__file__).resolve().parent.parent
    expected = checkout.parent / "shared" / "data"
    if (checkout / "pyproject.toml").is_file() and expected.is_dir():
        assert folder == expected.absolute()
    else:
        assert folder is None


def test_loader_falls_through_to_a_later_folder_and_finds_every_file(
    clean_env, tmp_path, labels_fixture
):
    array, payload, _, checksums = labels_fixture
    shared = tmp_path / "shared" / "data"
    write = shared / "mnist" / LABELS
    write.parent.mkdir(parents=True)
    write.write_bytes(payload)
    clean_env.setattr(datasets, "_checkout_data_home", lambda: shared)
    clean_env.setenv("DBN_DATA_HOME", str(tmp_path / "env"))  # empty: the search goes on
    path = datasets._fetch_file("mnist", LABELS, mirrors=[], checksums=checksums)
    assert path == write
    assert not (tmp_path / "env").exists()  # nothing created where nothing was downloaded
    # A copy in an earlier folder wins.
    (tmp_path / "env" / "mnist").mkdir(parents=True)
    (tmp_path / "env" / "mnist" / LABELS).write_bytes(payload)
    assert datasets._fetch_file("mnist", LABELS, mirrors=[], checksums=checksums) == (
        tmp_path / "env" / "mnist" / LABELS
    )
    # find_data_home wants every file of the set in one folder.
    assert datasets.find_data_home("mnist") is None
    with pytest.raises(ValueError, match="dataset must be one of"):
        datasets.find_data_home("cifar")


def test_missing_file_names_every_folder_searched(clean_env, tmp_path):
    shared = tmp_path / "shared" / "data"
    shared.mkdir(parents=True)
    clean_env.setattr(datasets, "_checkout_data_home", lambda: shared)
    clean_env.setenv("DBN_DATA_HOME", str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("test", download=False)
    message = str(info.value)
    for folder in (tmp_path / "env", tmp_path / "home" / ".cache" / "dbn", shared):
        assert str(folder / "mnist") in message
    # The remedy names the folder a download would go to.
    assert f"put the files (gzipped or not) in {tmp_path / 'env' / 'mnist'}," in message


@needs_mnist
def test_real_mnist_is_found_through_the_loaders_search_order():
    home = datasets.find_data_home("mnist")
    assert home == mnist_home()
    X, y = load_mnist("test", download=False)
    assert X.shape == (10000, 784) and y.shape == (10000,)


@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist])
def test_split_is_validated(loader, tmp_path):
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\), got 'val'"):
        loader("val", data_home=tmp_path, download=False)


# ----------------------------------------------------------------------------------------------
# Checksum table and verification of local files
# ----------------------------------------------------------------------------------------------


def test_checksum_table_is_complete_and_well_formed():
    names = {"train-images-idx3-ubyte", LABELS, TEST_IMAGES, TEST_LABELS}
    assert set(CHECKSUMS) == set(MIRRORS) == {"mnist", "fashion-mnist"}
    lengths = {"sha256": 64, "md5": 32}
    for dataset, table in CHECKSUMS.items():
        assert set(table) == names, dataset
        for checksum in table.values():
            assert checksum.of in {"decompressed", "gzip"}
            assert len(checksum.hexdigest) == lengths[checksum.algorithm]
            int(checksum.hexdigest, 16)
    assert {c.of for c in CHECKSUMS["mnist"].values()} == {"decompressed"}
    assert {c.algorithm for c in CHECKSUMS["fashion-mnist"].values()} == {"md5"}
    assert {c.of for c in CHECKSUMS["fashion-mnist"].values()} == {"gzip"}


@needs_mnist
def test_pinned_mnist_checksums_match_sha256sums_file():
    # The published sums ship with CI's copy (../shared/data), not with a download.
    found = [home / "mnist" / "SHA256SUMS" for home in data_homes()]
    sums = next((path for path in found if path.is_file()), None)
    if sums is None:
        pytest.skip(
            f"no mnist/SHA256SUMS in {', '.join(str(path.parent.parent) for path in found)}"
        )
    published = dict(line.split()[::-1] for line in sums.read_text().splitlines() if line.strip())
    assert {k: v.hexdigest for k, v in CHECKSUMS["mnist"].items()} == published


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_local_file_with_wrong_checksum_is_rejected_and_kept(tmp_path, compress, server):
    # Right name, right IDX format, wrong content: only the checksum can tell.
    name = TEST_IMAGES + (".gz" if compress else "")
    path = write_idx(
        tmp_path / "mnist" / name, np.zeros((10000, 28, 28), np.uint8), compress=compress
    )
    before = path.read_bytes()
    with pytest.raises(ChecksumError) as info:
        load_mnist("test", data_home=tmp_path, mirrors=[server.url("m1")], timeout=5)
    message = str(info.value)
    assert str(path) in message
    assert "SHA-256 of the decompressed bytes is" in message
    assert CHECKSUMS["mnist"][TEST_IMAGES].hexdigest in message
    assert "never uses such a file silently" in message and "left in place" in message
    assert path.read_bytes() == before  # the user's file is not touched
    assert listing(tmp_path / "mnist") == [name]
    assert server.requests == []  # a present but bad file is not replaced by a download


def test_local_fashion_gz_with_wrong_md5_is_rejected(tmp_path):
    path = write_idx(
        tmp_path / "fashion-mnist" / (TEST_IMAGES + ".gz"),
        np.zeros((10000, 28, 28), np.uint8),
        compress=True,
    )
    with pytest.raises(ChecksumError, match=r"MD5 of the gzip file is [0-9a-f]{32}, expected bef4"):
        load_fashion_mnist("test", data_home=tmp_path, download=False)
    assert path.exists()


def test_local_uncompressed_fashion_is_checked_by_header_shape_and_labels(tmp_path):
    folder = tmp_path / "fashion-mnist"
    images = np.zeros((10000, 28, 28), np.uint8)
    images[:, 0, 0] = np.arange(10000) % 256
    write_idx(folder / TEST_IMAGES, images)
    labels = write_idx(folder / TEST_LABELS, (np.arange(10000) % 10).astype(np.uint8))

    X, y = load_fashion_mnist("test", data_home=tmp_path, download=False)
    assert X.shape == (10000, 784) and X.dtype == np.uint8
    np.testing.assert_array_equal(X[:, 0], np.arange(10000) % 256)
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [1000] * 10

    write_idx(labels, (np.arange(10000) % 11).astype(np.uint8))
    with pytest.raises(IDXFormatError, match=rf"{TEST_LABELS}: expected .* labels in 0\.\.9"):
        load_fashion_mnist("test", data_home=tmp_path, download=False)

    write_idx(labels, np.zeros(9999, np.uint8))
    with pytest.raises(
        IDXFormatError,
        match=rf"{TEST_LABELS}: expected Fashion-MNIST {TEST_LABELS} to hold a uint8 array of "
        r"shape \(10000,\), found uint8 of shape \(9999,\)",
    ):
        load_fashion_mnist("test", data_home=tmp_path, download=False)


# ----------------------------------------------------------------------------------------------
# Downloads, against a local HTTP server
# ----------------------------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from a folder; paths in ``server.short`` send fewer bytes than announced."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path in self.server.fail_once:
            self.server.fail_once.discard(self.path)
            self.send_error(503, "Try again")
            return
        if self.path in self.server.short:
            body = self.server.short[self.path]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format, *args):  # keep test output quiet
        pass


class _Server:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
        )
        self.httpd.requests = self.requests = []
        self.httpd.short = self.short = {}
        self.httpd.fail_once = self.fail_once = set()
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, mirror: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{mirror}/"

    def put(self, mirror: str, name: str, payload: bytes) -> None:
        (self.root / mirror).mkdir(exist_ok=True)
        (self.root / mirror / name).write_bytes(payload)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_retries(monkeypatch):
    """pooch waits 1, 2, ... s between retries: tests that are not about retries make none."""
    monkeypatch.setattr(datasets, "_RETRIES", 0)


@pytest.fixture
def server(tmp_path):
    srv = _Server(tmp_path / "www")
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def labels_fixture():
    """A small synthetic label file: its array, decompressed bytes, gz bytes and checksum."""
    array = (np.arange(50) % 10).astype(np.uint8)
    payload = idx_bytes(array)
    return array, payload, gzip.compress(payload), {LABELS: sha256_of(payload)}


def test_download_success_lands_verified_file(tmp_path, server, labels_fixture):
    array, _, gz, checksums = labels_fixture
    server.put("m1", LABELS + ".gz", gz)
    home = tmp_path / "home"
    path = datasets._fetch_file(
        "mnist", LABELS, data_home=home, mirrors=[server.url("m1")], checksums=checksums, timeout=5
    )
    assert path == home / "mnist" / (LABELS + ".gz")
    assert listing(home / "mnist") == [LABELS + ".gz"]  # no temporary files left
    assert path.read_bytes() == gz
    np.testing.assert_array_equal(load_idx(path), array)
    assert server.requests == [f"/m1/{LABELS}.gz"]

    # Second call: the file is found locally, no request is made.
    again = datasets._fetch_file(
        "mnist", LABELS, data_home=home, mirrors=[server.url("m1")], checksums=checksums
    )
    assert again == path and len(server.requests) == 1


def test_download_404_falls_through_to_next_mirror(tmp_path, server, labels_fixture, monkeypatch):
    monkeypatch.setattr(datasets, "_RETRIES", 2)  # a 404 is final: not retried
    array, _, gz, checksums = labels_fixture
    server.put("m2", LABELS + ".gz", gz)
    mirrors = [server.url("m1"), server.url("m2").rstrip("/")]  # trailing slash is optional
    path, loaded = datasets._load_array(
        "mnist",
        LABELS,
        data_home=tmp_path / "home",
        mirrors=mirrors,
        checksums=checksums,
        timeout=5,
    )
    assert server.requests == [f"/m1/{LABELS}.gz", f"/m2/{LABELS}.gz"]
    np.testing.assert_array_equal(loaded, array)
    assert listing(path.parent) == [LABELS + ".gz"]


def test_download_corrupt_payload_is_rejected_and_nothing_left(tmp_path, server, labels_fixture):
    _, payload, _, checksums = labels_fixture
    corrupt = bytearray(payload)
    corrupt[-1] ^= 1  # still a well-formed IDX file: only the checksum catches it
    server.put("m1", LABELS + ".gz", gzip.compress(bytes(corrupt)))
    server.put("m2", LABELS + ".gz", b"<html>Not the file you want</html>")
    home = tmp_path / "home"
    with pytest.raises(DatasetNotFoundError) as info:
        datasets._fetch_file(
            "mnist",
            LABELS,
            data_home=home,
            mirrors=[server.url("m1"), server.url("m2")],
            checksums=checksums,
            timeout=5,
        )
    message = str(info.value)
    assert f"MNIST file {LABELS} (or {LABELS}.gz) not found in {home / 'mnist'}" in message
    assert f"{server.url('m1')}{LABELS}.gz: checksum mismatch, SHA-256" in message
    assert f"{server.url('m2')}{LABELS}.gz: checksum mismatch" in message
    assert checksums[LABELS].hexdigest in message
    assert listing(home / "mnist") == []  # neither a temporary nor a target file


def test_download_corrupt_then_good_mirror(tmp_path, server, labels_fixture):
    array, _, gz, checksums = labels_fixture
    server.put("m1", LABELS + ".gz", gz[: len(gz) // 2])  # truncated gzip stream
    server.put("m2", LABELS + ".gz", gz)
    home = tmp_path / "home"
    path = datasets._fetch_file(
        "mnist",
        LABELS,
        data_home=home,
        mirrors=[server.url("m1"), server.url("m2")],
        checksums=checksums,
        timeout=5,
    )
    np.testing.assert_array_equal(load_idx(path), array)
    assert listing(home / "mnist") == [LABELS + ".gz"]


def test_download_interrupted_transfer_leaves_nothing(tmp_path, server, labels_fixture):
    _, _, gz, checksums = labels_fixture
    server.short[f"/m1/{LABELS}.gz"] = gz  # announces 1000 bytes more than it sends
    home = tmp_path / "home"
    with pytest.raises(
        DatasetNotFoundError, match=rf"{LABELS}\.gz: ChunkedEncodingError: .*IncompleteRead"
    ):
        datasets._fetch_file(
            "mnist", LABELS, data_home=home, mirrors=[server.url("m1")], checksums=checksums
        )
    assert listing(home / "mnist") == []


def test_transient_failures_are_retried(tmp_path, server, labels_fixture, monkeypatch):
    monkeypatch.setattr(datasets, "_RETRIES", 1)
    array, _, gz, checksums = labels_fixture
    server.put("m1", LABELS + ".gz", gz)
    server.fail_once.add(f"/m1/{LABELS}.gz")  # 503 first, then the file
    home = tmp_path / "home"
    path = datasets._fetch_file(
        "mnist", LABELS, data_home=home, mirrors=[server.url("m1")], checksums=checksums, timeout=5
    )
    assert server.requests == [f"/m1/{LABELS}.gz"] * 2
    np.testing.assert_array_equal(load_idx(path), array)
    assert listing(home / "mnist") == [LABELS + ".gz"]


def test_download_interrupted_by_user_leaves_nothing(tmp_path, server, labels_fixture, monkeypatch):
    import pooch

    def interrupted(self, url, output_file, pooch_instance, check_only=False):
        with open(output_file, "wb") as out:
            out.write(b"\x1f\x8b partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", interrupted)
    home = tmp_path / "home"
    with pytest.raises(KeyboardInterrupt):
        datasets._fetch_file(
            "mnist", LABELS, data_home=home, mirrors=[server.url("m1")], checksums=labels_fixture[3]
        )
    assert listing(home / "mnist") == []


def test_download_failure_lists_every_mirror_and_reason(tmp_path, server, labels_fixture):
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/x/"
    home = tmp_path / "home"
    with pytest.raises(DatasetNotFoundError) as info:
        datasets._fetch_file(
            "mnist",
            LABELS,
            data_home=home,
            mirrors=[server.url("m1"), dead],
            checksums=labels_fixture[3],
            timeout=5,
        )
    message = str(info.value)
    assert f"  - {server.url('m1')}{LABELS}.gz: HTTP 404" in message
    assert f"  - {dead}{LABELS}.gz: ConnectionError: " in message
    assert "Connection refused" in message
    assert str(home / "mnist") in message and "DBN_DATA_HOME" in message
    assert listing(home / "mnist") == []


def test_download_checks_md5_of_gzip_for_fashion(tmp_path, server, labels_fixture):
    array, payload, gz, _ = labels_fixture
    server.put("m1", LABELS + ".gz", payload)  # uncompressed: an MD5 of a .gz cannot apply
    server.put("m2", LABELS + ".gz", gz)
    checksums = {LABELS: Checksum("md5", hashlib.md5(gz).hexdigest(), of="gzip")}
    home = tmp_path / "home"
    path = datasets._fetch_file(
        "fashion-mnist",
        LABELS,
        data_home=home,
        mirrors=[server.url("m1"), server.url("m2")],
        checksums=checksums,
        timeout=5,
    )
    assert path == home / "fashion-mnist" / (LABELS + ".gz")
    np.testing.assert_array_equal(load_idx(path), array)

    bad = {LABELS: Checksum("md5", "0" * 32, of="gzip")}
    with pytest.raises(DatasetNotFoundError, match=r"MD5 of the gzip file is [0-9a-f]{32}"):
        datasets._fetch_file(
            "fashion-mnist",
            LABELS,
            data_home=tmp_path / "other",
            mirrors=[server.url("m2")],
            checksums=bad,
        )
    assert listing(tmp_path / "other" / "fashion-mnist") == []


def test_download_progress_bar_only_when_asked(tmp_path, server, labels_fixture, capsys):
    import logging

    import pooch

    _, _, gz, checksums = labels_fixture
    server.put("m1", LABELS + ".gz", gz)
    options = dict(mirrors=[server.url("m1")], checksums=checksums, timeout=5)
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    pooch.get_logger().addHandler(handler)
    try:
        datasets._fetch_file("mnist", LABELS, data_home=tmp_path / "a", **options)
        assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest
        assert log.getvalue() == ""
        datasets._fetch_file("mnist", LABELS, data_home=tmp_path / "b", verbose=True, **options)
        assert "100%" in capsys.readouterr().err  # pooch's progress bar
        assert f"Downloading file '{LABELS}.gz' from '{server.url('m1')}" in log.getvalue()
    finally:
        pooch.get_logger().removeHandler(handler)


def test_mirrors_must_be_a_list(tmp_path):
    with pytest.raises(TypeError, match="mirrors must be a list of URL prefixes"):
        load_mnist("test", data_home=tmp_path, mirrors="http://127.0.0.1/")


@needs_mnist
def test_download_real_mnist_test_split_end_to_end(tmp_path):
    """The true pinned checksums, through the public loader, from a local mirror."""
    srv = _Server(REAL_DATA_HOME)  # read-only: the server only reads
    try:
        home = tmp_path / "home"
        X, y = load_mnist(
            "test", data_home=home, mirrors=[srv.url("missing"), srv.url("mnist")], timeout=10
        )
        assert srv.requests == [
            f"/missing/{TEST_IMAGES}.gz",
            f"/mnist/{TEST_IMAGES}.gz",
            f"/missing/{TEST_LABELS}.gz",
            f"/mnist/{TEST_LABELS}.gz",
        ]
    finally:
        srv.close()
    assert listing(home / "mnist") == [TEST_IMAGES + ".gz", TEST_LABELS + ".gz"]
    assert X.shape == (10000, 784) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ----------------------------------------------------------------------------------------------
# The real MNIST
# ----------------------------------------------------------------------------------------------

MNIST_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}


@needs_mnist
@pytest.mark.parametrize("split", ["train", "test"])
def test_real_mnist_shapes_and_label_counts(split):
    X, y = load_mnist(split, data_home=REAL_DATA_HOME, download=False)
    n = sum(MNIST_COUNTS[split])
    assert X.shape == (n, 784) and X.dtype == np.uint8 and X.flags.c_contiguous
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.bincount(y, minlength=10).tolist() == MNIST_COUNTS[split]
    assert X.max() == 255 and X.min() == 0


@needs_mnist
def test_real_mnist_as_float_and_bunch():
    X, y = load_mnist("test", data_home=REAL_DATA_HOME, download=False)
    bunch = load_mnist(
        "test", data_home=REAL_DATA_HOME, download=False, as_float=True, return_X_y=False
    )
    assert bunch.data.dtype == np.float32 and bunch.data.shape == X.shape
    assert bunch.data.min() == 0.0 and bunch.data.max() == 1.0
    np.testing.assert_array_equal(bunch.data, X.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(bunch.target, y)
    assert bunch.images.shape == (10000, 28, 28)
    assert bunch.target_names == [str(d) for d in range(10)]
    assert [Path(f).name.split(".")[0] for f in bunch.filenames] == [TEST_IMAGES, TEST_LABELS]


# ----------------------------------------------------------------------------------------------
# Import cost
# ----------------------------------------------------------------------------------------------


def test_module_import_is_light():
    """Loaded on its own (not through dbn/__init__), the module pulls in no heavy dependency:
    pooch and requests come in only when a download starts."""
    path = REPO / "dbn" / "datasets.py"
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('probe', {str(path)!r})\n"
        "module = sys.modules['probe'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "heavy = {'tqdm', 'numba', 'scipy', 'urllib.request', 'http.client', 'ssl', 'pooch',"
        " 'requests'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
