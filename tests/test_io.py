"""Tests of dbn.io: safetensors model files, the .npz files of dbn 0.1, and the load-time checks.

The safetensors files are checked against the reference ``safetensors`` package in both
directions: it reads what dbn writes, and dbn reads what it writes.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from dbn import (
    DBN,
    BernoulliRBM,
    DeepAutoencoder,
    GaussianBernoulliRBM,
    MLPClassifier,
    MLPRegressor,
)
from dbn.io import FORMAT_VERSION, ModelFileError, load_arrays, load_header, save_arrays

FIXTURES = Path(__file__).parent / "fixtures"


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "W": rng.standard_normal((5, 3)).astype(np.float32),
        "layer0/components_": rng.standard_normal((2, 4)),
        "fortran": np.asfortranarray(rng.standard_normal((3, 4))),
        "big_endian": np.arange(7, dtype=">i4"),
        "counts": np.arange(5, dtype=np.int64),
        "pixels": np.arange(10, dtype=np.uint8),
        "mask": np.array([True, False, True]),
        "empty": np.zeros((2, 0)),
        "scalar": np.array(2.5),
    }


def _save(path, arrays=None, *, kind="Thing", extra=None):
    arrays = _arrays() if arrays is None else arrays
    extra = (
        {"history_": {"loss": [1.0, 0.5, float("nan")]}, "n_seen": 7} if extra is None else extra
    )
    save_arrays(path, kind, {"size": 3, "name": "x", "rate": 0.1}, arrays, extra)
    return path


def _assert_same(loaded, expected):
    assert set(loaded) == set(expected)
    for name, a in expected.items():
        assert loaded[name].shape == a.shape, name
        assert loaded[name].dtype.newbyteorder("=") == a.dtype.newbyteorder("="), name
        np.testing.assert_array_equal(loaded[name], a, err_msg=name)


# ------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_round_trip_is_exact_and_input_untouched(tmp_path, suffix):
    arrays = _arrays()
    copies = {name: a.copy(order="K") for name, a in arrays.items()}
    path = _save(tmp_path / f"m{suffix}", arrays)
    header, loaded = load_arrays(path, kind="Thing")
    _assert_same(loaded, copies)
    for name, a in arrays.items():  # the caller's arrays are not modified
        assert a.dtype == copies[name].dtype, name
        assert a.flags.f_contiguous == copies[name].flags.f_contiguous, name
        np.testing.assert_array_equal(a, copies[name])
    assert header["kind"] == "Thing" and header["version"] == FORMAT_VERSION
    assert header["params"] == {"size": 3, "name": "x", "rate": 0.1}
    assert header["extra"]["n_seen"] == 7
    assert header["extra"]["history_"]["loss"][:2] == [1.0, 0.5]
    assert np.isnan(header["extra"]["history_"]["loss"][2])
    assert header["arrays"]["W"] == [[5, 3], "float32"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m{suffix}"]  # no temporary file


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_the_header_alone_is_the_full_loads_header_and_reads_no_array(
    tmp_path, suffix, monkeypatch
):
    import dbn.io

    path = _save(tmp_path / f"m{suffix}")
    header, _ = load_arrays(path, kind="Thing")
    assert load_header(path, kind="Thing") == header
    with pytest.raises(ModelFileError, match="holds a 'Thing', expected DBN"):
        load_header(path, kind="DBN")
    if suffix == ".npz":
        return
    # Only the length prefix and the JSON are read: count the bytes the reader asks for.
    (n,) = struct.unpack("<Q", path.read_bytes()[:8])
    read = []

    class Counting:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def read(self, size=-1):
            data = self.handle.read(size)
            read.append(len(data))
            return data

        def readinto(self, buffer):
            read.append(self.handle.readinto(buffer))
            return read[-1]

        def seek(self, offset):
            return self.handle.seek(offset)

    monkeypatch.setattr(dbn.io, "open", lambda *a: Counting(open(*a)), raising=False)
    assert load_header(path) == header
    assert sum(read) <= 8 + 8 + n < path.stat().st_size  # the format check's 8, then the header
    read.clear()
    load_arrays(path)
    assert sum(read) >= path.stat().st_size


def test_the_header_alone_refuses_what_the_full_load_refuses(tmp_path):
    raw = _save(tmp_path / "m.safetensors").read_bytes()
    cut = tmp_path / "cut.safetensors"
    for n in (0, 7, 20, len(raw) - 1):  # truncated: the arrays' spans exceed the file
        cut.write_bytes(raw[:n])
        with pytest.raises(ModelFileError, match="unreadable or truncated|not a dbn model file"):
            load_header(cut)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_header(tmp_path / "missing.safetensors")


def test_the_format_is_chosen_by_suffix(tmp_path):
    st = _save(tmp_path / "m.safetensors").read_bytes()
    npz = _save(tmp_path / "m.npz").read_bytes()
    assert npz[:4] == b"PK\x03\x04"
    (n,) = struct.unpack("<Q", st[:8])
    assert (8 + n) % 8 == 0  # the byte buffer starts 8-byte aligned
    table = json.loads(st[8 : 8 + n])
    assert table["__metadata__"]["format"] == "dbn" and table["W"]["dtype"] == "F32"


# ----------------------------------------------------------------------- the safetensors package


def test_safetensors_package_reads_dbn_files(tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    path = _save(tmp_path / "m.safetensors")
    _assert_same(load_file(path), _arrays())
    with safe_open(path, framework="numpy") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "dbn" and metadata["kind"] == "Thing"
    assert metadata["version"] == str(FORMAT_VERSION)
    assert json.loads(metadata["params"]) == {"size": 3, "name": "x", "rate": 0.1}
    assert json.loads(metadata["history"])["loss"][:2] == [1.0, 0.5]
    assert json.loads(metadata["extra"]) == {"n_seen": 7}


def test_dbn_reads_files_written_by_the_safetensors_package(tmp_path):
    from safetensors.numpy import save_file

    arrays = {k: v for k, v in _arrays().items() if k != "big_endian"}
    metadata = {
        "format": "dbn",
        "version": "1",
        "kind": "Thing",
        "params": json.dumps({"size": 3}),
        "extra": "{}",
    }
    save_file(
        {k: np.require(v, requirements="C") for k, v in arrays.items()},
        tmp_path / "x.safetensors",
        metadata,
    )
    header, loaded = load_arrays(tmp_path / "x.safetensors", kind="Thing")
    _assert_same(loaded, arrays)
    assert header["params"] == {"size": 3}

    save_file({"W": np.zeros(3)}, tmp_path / "foreign.safetensors")  # no dbn metadata
    with pytest.raises(ModelFileError, match="not a dbn model file"):
        load_arrays(tmp_path / "foreign.safetensors")


def test_torch_reads_a_fitted_models_weights(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    X = np.random.default_rng(0).random((60, 6)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier((5,), max_iter=3, random_state=0).fit(X, y)
    clf.save(tmp_path / "clf.safetensors")
    tensors = safetensors_torch.load_file(tmp_path / "clf.safetensors")
    weights = sorted(
        (name, t) for name, t in tensors.items() if t.shape == tuple(clf.coefs_[0].shape)
    )
    assert weights, sorted(tensors)
    assert any(np.array_equal(t.numpy(), clf.coefs_[0]) for _, t in weights)
    assert any(np.array_equal(t.numpy(), clf.coefs_[1]) for t in tensors.values())


# --------------------------------------------------------------------- every estimator's files


def _fitted_models():
    rng = np.random.default_rng(0)
    X = (rng.random((80, 8)) < 0.4).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "rbm": (BernoulliRBM(4, n_iter=2, batch_size=20, random_state=0).fit(X), X),
            "grbm": (
                GaussianBernoulliRBM(
                    4, learn_variance=True, n_iter=2, batch_size=20, random_state=0
                ).fit(X - 0.4),
                X - 0.4,
            ),
            "dbn": (DBN((5, 3), n_iter=2, batch_size=20, random_state=0).pretrain(X), X),
            "clf": (MLPClassifier((5,), max_iter=3, random_state=0).fit(X, y), X),
            "reg": (MLPRegressor((5,), max_iter=3, random_state=0).fit(X, X[:, :2]), X),
            "ae": (DeepAutoencoder((5, 2), solver="adam", max_iter=3, random_state=0).fit(X), X),
        }


def _output(model, X):
    for method in ("predict_proba", "transform", "predict"):
        if hasattr(model, method):
            return getattr(model, method)(X)
    raise AssertionError(type(model))


def test_every_estimator_round_trips_through_safetensors(tmp_path):
    for key, (model, X) in _fitted_models().items():
        path = tmp_path / f"{key}.safetensors"
        model.save(path)
        loaded = type(model).load(path)
        np.testing.assert_array_equal(_output(loaded, X), _output(model, X), err_msg=key)
        assert path.read_bytes()[:4] != b"PK\x03\x04", key


@pytest.mark.parametrize("name", ["rbm-v1.npz", "dbn-v1.npz"])
def test_npz_fixtures_still_load_and_convert(tmp_path, name):
    header, arrays = load_arrays(FIXTURES / name)
    assert header["version"] == 1 and arrays
    save_arrays(
        tmp_path / "new.safetensors", header["kind"], header["params"], arrays, header["extra"]
    )
    header2, arrays2 = load_arrays(tmp_path / "new.safetensors", kind=header["kind"])
    _assert_same(arrays2, arrays)
    assert header2["params"] == header["params"] and header2["extra"] == header["extra"]
    cls = DBN if name.startswith("dbn") else BernoulliRBM
    old, new = cls.load(FIXTURES / name), cls.load(tmp_path / "new.safetensors")
    X = np.random.default_rng(1).random((5, old.n_features_in_)).astype(np.float32)
    np.testing.assert_array_equal(new.transform(X), old.transform(X))


# ------------------------------------------------------------------------- refused files


def test_every_truncation_is_refused(tmp_path):
    raw = _save(tmp_path / "m.safetensors").read_bytes()
    cut = tmp_path / "cut.safetensors"
    for n in sorted({0, 1, 7, 8, 9, 20, *range(len(raw) - 40, len(raw), 3), len(raw) - 1}):
        cut.write_bytes(raw[:n])
        with pytest.raises(ModelFileError, match="unreadable or truncated|not a dbn model file"):
            load_arrays(cut)


def test_trailing_bytes_are_refused(tmp_path):
    path = _save(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes() + b"\0" * 8)
    with pytest.raises(ModelFileError, match="has trailing bytes"):
        load_arrays(path)


def _rewrite_table(path, edit):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    table = json.loads(raw[8 : 8 + n])
    edit(table)
    text = json.dumps(table).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t["W"].update(dtype="O"), r"array 'W' has dtype 'O'.*never pickled objects"),
        (lambda t: t["W"].update(dtype="F16"), r"array 'W' has dtype 'F16'"),
        (lambda t: t["W"].update(shape=[5, 4]), r"array 'W' of shape \(5, 4\).*spans 60 bytes"),
        (lambda t: t["W"].update(shape=[-5, -3]), r"array 'W' has shape \[-5, -3\]"),
        (
            lambda t: t["fortran"].update(data_offsets=[0, 96]),
            r"starts at byte|spans",
        ),
        (lambda t: t["__metadata__"].update(version="99"), r"format version 99.*Upgrade dbn"),
        (lambda t: t["__metadata__"].update(version="one"), r"format version 'one'"),
        (lambda t: t["__metadata__"].update(format="other"), r"not a dbn model file"),
        (lambda t: t["__metadata__"].pop("kind"), r"header lacks 'kind'"),
        (lambda t: t["__metadata__"].update(params="{oops"), r"metadata that is not JSON"),
        (lambda t: t["__metadata__"].update(extra=3), r"metadata values must be strings"),
    ],
    ids=[
        "object",
        "unknown-dtype",
        "shape",
        "negative-shape",
        "overlap",
        "future-version",
        "bad-version",
        "format",
        "no-kind",
        "bad-json",
        "non-string",
    ],
)
def test_tampered_headers_are_refused(tmp_path, edit, match):
    path = _save(tmp_path / "m.safetensors")
    _rewrite_table(path, edit)
    with pytest.raises(ModelFileError, match=match):
        load_arrays(path)


def test_kind_is_checked(tmp_path):
    path = _save(tmp_path / "m.safetensors", kind="BernoulliRBM")
    with pytest.raises(
        ModelFileError, match="holds a 'BernoulliRBM', expected DBN or MLPClassifier"
    ):
        load_arrays(path, kind=("DBN", "MLPClassifier"))
    with pytest.raises(ModelFileError, match="expected GaussianBernoulliRBM"):
        GaussianBernoulliRBM.load(path)


def test_absurd_header_length_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(ModelFileError, match="the header claims"):
        load_arrays(path)


class _Payload:
    """Unpickling this object would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_pickles_are_refused_without_running(tmp_path, suffix):
    marker = tmp_path / "pwned"
    for protocol in (2, 4, 5):
        path = tmp_path / f"evil{protocol}{suffix}"
        path.write_bytes(pickle.dumps({"W": _Payload(marker)}, protocol=protocol))
        with pytest.raises(ModelFileError, match="never contain pickled objects|not a dbn model"):
            load_arrays(path)
    assert not marker.exists()


def test_torch_save_files_are_refused_without_running(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.safetensors"
    torch.save({"W": _Payload(marker)}, path)  # a zip archive holding data.pkl
    with pytest.raises(ModelFileError, match="not a dbn model file"):
        load_arrays(path)
    assert not marker.exists()


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        (
            "model.pkl",
            ValueError,
            r"path must end in '\.safetensors' \(or '\.npz'.*got '.*model\.pkl'",
        ),
        ("model.safetensor", ValueError, r"path must end in '\.safetensors'"),
        ("missing/model.safetensors", FileNotFoundError, "the folder '.*missing' does not exist"),
    ],
)
def test_bad_save_paths(tmp_path, name, error, match):
    with pytest.raises(error, match=match):
        _save(tmp_path / name)
    assert not (tmp_path / name).exists()


def test_bad_arrays_and_paths(tmp_path):
    with pytest.raises(TypeError, match=r"path must be a str or os.PathLike .*\(bytes\)"):
        save_arrays(b"m.safetensors", "Thing", {}, {})
    with pytest.raises(TypeError, match=r"array 'W' has dtype object.*expected one of"):
        save_arrays(tmp_path / "m.safetensors", "Thing", {}, {"W": np.array([None])})
    with pytest.raises(ValueError, match="cannot be named '__metadata__'"):
        save_arrays(tmp_path / "m.safetensors", "Thing", {}, {"__metadata__": np.zeros(2)})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_arrays(tmp_path / "missing.safetensors")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        load_arrays(tmp_path)
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, suffix):
    path = _save(tmp_path / f"m{suffix}")
    before = path.read_bytes()

    def broken(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        _save(path, {"other": np.ones(4)})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
