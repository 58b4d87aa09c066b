"""Reliability: killed training resumes exactly, model files are safe, input is never mutated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dbn import DBN, BernoulliRBM, GaussianBernoulliRBM
from dbn.io import ModelFileError, load_arrays, save_arrays

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


def _data(n=400, d=30, seed=0):
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((5, d)) < 0.4).astype(float)
    return np.abs(prototypes[rng.integers(0, 5, n)] - (rng.random((n, d)) < 0.05)).astype(
        np.float32
    )


# ----------------------------------------------------------------------------- kill and resume
_TRAIN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from dbn import DBN
    from tests.test_reliability import _data

    def slow(dbn, layer, rbm, epoch, record):
        print(f"layer {layer} epoch {epoch}", flush=True)
        time.sleep(0.15)  # give the parent a window to kill us mid-training

    DBN([12, 8], n_iter=6, batch_size=40, random_state=7).pretrain(
        _data(), checkpoint_dir=sys.argv[1], callbacks=[slow]
    )
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("kill_after", ["layer 0 epoch 2", "layer 1 epoch 3"])
def test_sigkill_mid_training_then_resume_matches_uninterrupted(tmp_path, kill_after):
    reference = DBN([12, 8], n_iter=6, batch_size=40, random_state=7).pretrain(_data())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _TRAIN_SCRIPT, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 120
        for line in proc.stdout:
            if line.strip() == kill_after or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["dbn-checkpoint.npz"], files  # no torn or temporary file left
    resumed = DBN([12, 8], n_iter=6, batch_size=40, random_state=7).pretrain(
        _data(), checkpoint_dir=tmp_path
    )
    for a, b in zip(resumed.layers_, reference.layers_, strict=True):
        np.testing.assert_array_equal(a.components_, b.components_)
        np.testing.assert_array_equal(a.intercept_hidden_, b.intercept_hidden_)
        np.testing.assert_array_equal(a.intercept_visible_, b.intercept_visible_)


def test_checkpoint_is_never_torn_when_killed_at_random_moments(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = np.random.default_rng(0)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, "-c", _TRAIN_SCRIPT, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        proc.stdout.readline()  # training has started
        time.sleep(float(rng.uniform(0.0, 0.6)))
        proc.kill()
        proc.wait(timeout=60)
        checkpoint = tmp_path / "dbn-checkpoint.npz"
        if checkpoint.exists():
            header, _ = load_arrays(checkpoint, kind="DBN-checkpoint")  # loads cleanly
            assert header["version"] == 1
        # SIGKILL allows no clean-up: at most a hidden temporary file, never a torn checkpoint.
        others = [p.name for p in tmp_path.iterdir() if p.name != "dbn-checkpoint.npz"]
        assert all(n.startswith(".dbn-checkpoint.npz.") and n.endswith(".tmp") for n in others)
    # Resuming clears the stale temporary files and finishes training.
    DBN([12, 8], n_iter=6, batch_size=40, random_state=7).pretrain(_data(), checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dbn-checkpoint.npz"]


# ----------------------------------------------------------------------------- model files
class _Payload:
    """Unpickling this object would create a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickle_payload_is_rejected_without_executing(tmp_path):
    rbm = BernoulliRBM(4, n_iter=1, batch_size=50, random_state=0).fit(_data())
    good = tmp_path / "good.npz"
    rbm.save(good)
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for item in src.namelist():
            if item == "components_.npy":
                payload = np.array([_Payload(marker)], dtype=object)
                with dst.open(item, "w") as handle:
                    np.lib.format.write_array(handle, payload, allow_pickle=True)
            else:
                dst.writestr(item, src.read(item))
    with pytest.raises(ModelFileError, match="never contain pickled objects"):
        BernoulliRBM.load(evil)
    assert not marker.exists()


def test_truncated_tampered_and_mismatched_files(tmp_path):
    rbm = BernoulliRBM(4, n_iter=1, batch_size=50, random_state=0).fit(_data())
    path = tmp_path / "rbm.npz"
    rbm.save(path)
    raw = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match="unreadable or truncated"):
        BernoulliRBM.load(truncated)
    # Another array under a known name: shape no longer matches the header.
    header, arrays = load_arrays(path)
    arrays["components_"] = arrays["components_"][:, :5]
    save_arrays(
        tmp_path / "tampered.npz", "BernoulliRBM", header["params"], arrays, header["extra"]
    )
    with pytest.raises(ModelFileError, match=r"intercept_visible_ must have shape \(5,\)"):
        BernoulliRBM.load(tmp_path / "tampered.npz")
    with pytest.raises(ModelFileError, match="expected GaussianBernoulliRBM"):
        GaussianBernoulliRBM.load(path)
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(ModelFileError, match="not a dbn model file"):
        BernoulliRBM.load(tmp_path / "foreign.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        BernoulliRBM.load(tmp_path / "missing.npz")


def test_future_format_version_is_refused(tmp_path, monkeypatch):
    import dbn.io

    rbm = BernoulliRBM(4, n_iter=1, batch_size=50, random_state=0).fit(_data())
    monkeypatch.setattr(dbn.io, "FORMAT_VERSION", 99)
    rbm.save(tmp_path / "future.npz")
    monkeypatch.setattr(dbn.io, "FORMAT_VERSION", 1)
    with pytest.raises(ModelFileError, match="format version 99.*Upgrade dbn"):
        BernoulliRBM.load(tmp_path / "future.npz")


def test_save_never_clobbers_existing_file_on_failure(tmp_path, monkeypatch):
    rbm = BernoulliRBM(4, n_iter=1, batch_size=50, random_state=0).fit(_data())
    path = tmp_path / "rbm.npz"
    rbm.save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        rbm.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rbm.npz"]


@pytest.mark.parametrize("name", ["rbm-v1.npz", "dbn-v1.npz"])
def test_files_from_version_1_keep_loading(name):
    """Fixture files written by dbn 0.1 (format version 1); regenerate only on purpose."""
    path = FIXTURES / name
    X = _data(n=20)
    if name.startswith("rbm"):
        model = BernoulliRBM.load(path)
    else:
        model = DBN.load(path)
    expected = np.load(FIXTURES / name.replace(".npz", "-transform.npy"))
    # Kernels may change in their last bits between versions; the stored model may not.
    np.testing.assert_allclose(model.transform(X), expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- determinism, input
def test_same_seed_bit_identical_in_single_thread():
    from threadpoolctl import threadpool_limits

    X = _data()
    with threadpool_limits(1):
        a = DBN([10, 6], n_iter=2, batch_size=40, random_state=5).pretrain(X)
        b = DBN([10, 6], n_iter=2, batch_size=40, random_state=5).pretrain(X)
    for la, lb in zip(a.layers_, b.layers_, strict=True):
        assert la.components_.tobytes() == lb.components_.tobytes()


def test_same_seed_with_several_threads_agrees_to_rounding():
    """With more BLAS threads the summation order may change; results agree to float rounding."""
    from threadpoolctl import threadpool_limits

    X = _data().astype(np.float64)
    with threadpool_limits(1):
        one = BernoulliRBM(10, n_iter=2, batch_size=40, random_state=5).fit(X)
    with threadpool_limits(2):
        two = BernoulliRBM(10, n_iter=2, batch_size=40, random_state=5).fit(X)
    np.testing.assert_allclose(one.components_, two.components_, rtol=1e-9, atol=1e-12)


def test_fortran_ordered_and_strided_input_work_and_are_not_mutated():
    X = _data()
    ref = BernoulliRBM(6, n_iter=2, batch_size=40, random_state=0).fit(X)
    fortran = np.asfortranarray(X)
    wide = np.repeat(X, 2, axis=1)
    strided = wide[:, ::2]
    for variant in (fortran, strided):
        before = variant.copy()
        rbm = BernoulliRBM(6, n_iter=2, batch_size=40, random_state=0).fit(variant)
        np.testing.assert_array_equal(rbm.components_, ref.components_)
        np.testing.assert_array_equal(variant, before)


def test_memmap_input(tmp_path):
    X = _data(n=1000)
    path = tmp_path / "X.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    readonly = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    rbm = BernoulliRBM(8, n_iter=2, batch_size=50, random_state=0).fit(readonly)
    ref = BernoulliRBM(8, n_iter=2, batch_size=50, random_state=0).fit(X)
    np.testing.assert_array_equal(rbm.components_, ref.components_)
    dbn = DBN([8, 4], n_iter=1, batch_size=50, random_state=0).pretrain(readonly)
    assert dbn.transform(readonly).shape == (1000, 4)
