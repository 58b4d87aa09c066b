"""MLP persistence: exact save / load, per-epoch checkpoints, resume after a crash or SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import dbn._backprop
from dbn._validation import NotFittedError
from dbn.autoencoder import DeepAutoencoder
from dbn.io import ModelFileError, load_arrays, save_arrays
from dbn.mlp import MLPClassifier, MLPRegressor

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
CHECKPOINT = "mlp-checkpoint.npz"


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Bit-for-bit equality of two runs needs one summation order: one BLAS thread.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield


def _data(n=160, d=8, seed=0):
    """Three noisy clusters: small enough that an epoch takes milliseconds."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d))
    y = rng.integers(0, 3, n)
    X = (centres[y] + 0.8 * rng.normal(size=(n, d))).astype(np.float32)
    return X, y


def _params(solver="adam", early_stopping=False, **overrides):
    params = dict(
        hidden_layer_sizes=(6, 5),
        solver=solver,
        max_iter=6,
        batch_size=32,
        learning_rate_init=0.05,
        dropout_hidden=0.1,  # the random stream matters for every minibatch
        early_stopping=early_stopping,
        n_iter_no_change=50,
        cg_batch_size=80,
        random_state=3,
    )
    params.update(overrides)
    return params


def _assert_same_weights(a, b):
    assert len(a.coefs_) == len(b.coefs_)
    for W, W2 in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        assert W.dtype == W2.dtype
        np.testing.assert_array_equal(W, W2)


class _Fail:
    """Callback that raises at ``epoch``, and records the epochs it saw."""

    def __init__(self, epoch=None, error=RuntimeError):
        self.epoch, self.error, self.seen = epoch, error, []

    def __call__(self, estimator, epoch, logs):
        self.seen.append(epoch)
        if epoch == self.epoch:
            raise self.error("stop here")


# ------------------------------------------------------------------------------------ save / load


@pytest.mark.parametrize(
    ("solver", "early_stopping"), [("sgd", False), ("adam", True), ("cg", False)]
)
def test_save_load_round_trip_is_exact(tmp_path, solver, early_stopping):
    X, y = _data()
    clf = MLPClassifier(**_params(solver, early_stopping, max_iter=3)).fit(X, y)
    path = tmp_path / "mlp.npz"
    clf.save(path)
    loaded = MLPClassifier.load(path)
    assert repr(loaded) == repr(clf)
    assert loaded.get_params() == clf.get_params()
    _assert_same_weights(loaded, clf)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_equal(loaded.history_, clf.history_)
    assert loaded.loss_curve_ is loaded.history_["train_loss"]
    for name in ("n_iter_", "t_", "n_features_in_", "n_outputs_", "n_layers_", "out_activation_"):
        assert getattr(loaded, name) == getattr(clf, name), name
    assert loaded.best_loss_ == clf.best_loss_
    assert loaded._no_improvement_count == clf._no_improvement_count
    np.testing.assert_equal(loaded._optimizer_state, clf._optimizer_state)
    if early_stopping:
        assert loaded.best_validation_score_ == clf.best_validation_score_
        assert loaded.validation_scores_ == clf.validation_scores_
        np.testing.assert_array_equal(loaded._best_params, clf._best_params)
    # Optimiser state and random stream travel too: training on equals never having saved
    # (partial_fit trains without early stopping, as in scikit-learn).
    for model in (clf, loaded):
        model.set_params(early_stopping=False)
    for _ in range(2):
        clf.partial_fit(X, y)
        loaded.partial_fit(X, y)
    _assert_same_weights(loaded, clf)
    assert loaded.n_iter_ == clf.n_iter_ == 5


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog", "émeu"]),  # unicode, beyond ASCII
        np.array(["b", "a", "cc"], dtype=object),
        np.array([-3, 7, 12]),
        # Float labels with integral values: sklearn's classifiers refuse non-integral floats as a
        # regression target ("Unknown label type: continuous"), and so does dbn's (issue 13).
        np.array([-1.0, 2.0, 7.0]),
        np.array([2, 4, 9], dtype=np.uint8),
    ],
)
def test_labels_of_any_kind_round_trip(tmp_path, labels):
    X, y = _data(n=90)
    y = labels[y]
    clf = MLPClassifier(**_params(max_iter=2)).fit(X, y)
    clf.save(tmp_path / "mlp.npz")
    loaded = MLPClassifier.load(tmp_path / "mlp.npz")
    assert loaded.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    assert loaded.score(X, y) == clf.score(X, y)
    # Model files stay numeric: no object or string array is written.
    _, arrays = load_arrays(tmp_path / "mlp.npz")
    assert all(a.dtype.kind in "biuf" for a in arrays.values())


def test_mixed_label_types_cannot_be_saved(tmp_path):
    X, y = _data(n=60)
    labels = np.array([1, "two", 3.0], dtype=object)
    clf = MLPClassifier(**_params(max_iter=1)).fit(X, np.array([str(v) for v in labels[y]]))
    clf.classes_ = labels  # as if fitted on mixed labels
    with pytest.raises(TypeError, match="mixes labels"):
        clf.save(tmp_path / "mlp.npz")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("two_d", [False, True])
def test_regressor_round_trip(tmp_path, two_d):
    X, _ = _data(n=100)
    y = np.stack([X[:, 0] - X[:, 1], X[:, 2]], axis=1) if two_d else X[:, 0] * 2
    reg = MLPRegressor(**_params("sgd", True, max_iter=3, learning_rate_init=0.01)).fit(X, y)
    reg.save(tmp_path / "reg.npz")
    loaded = MLPRegressor.load(tmp_path / "reg.npz")
    assert loaded.predict(X).shape == reg.predict(X).shape == y.shape
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    for model in (reg, loaded):
        model.set_params(early_stopping=False)  # partial_fit trains without it
    reg.partial_fit(X, y)
    loaded.partial_fit(X, y)
    _assert_same_weights(loaded, reg)


def test_pretrained_layers_round_trip(tmp_path):
    X, y = _data()
    rng = np.random.default_rng(1)
    layers = [
        (rng.normal(size=(8, 6)).astype(np.float32), np.zeros(6, np.float32)),
        (rng.normal(size=(6, 5)).astype(np.float32), np.ones(5, np.float32)),
    ]
    clf = MLPClassifier(**_params(max_iter=2, pretrained_layers=layers)).fit(X, y)
    clf.save(tmp_path / "mlp.npz")
    loaded = MLPClassifier.load(tmp_path / "mlp.npz")
    assert len(loaded.pretrained_layers) == 2
    for (W, b), (W2, b2) in zip(layers, loaded.pretrained_layers, strict=True):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    np.testing.assert_array_equal(loaded.hidden_activations(X), clf.hidden_activations(X))


def _tamper(src, dst, edit_arrays=None, edit_header=None):
    header, arrays = load_arrays(src)
    if edit_arrays:
        edit_arrays(arrays)
    if edit_header:
        edit_header(header)
    save_arrays(dst, header["kind"], header["params"], arrays, header["extra"])


def _set(mapping, key, value):
    mapping[key] = value


def test_tampered_and_mismatched_files_are_rejected(tmp_path):
    X, y = _data()
    clf = MLPClassifier(**_params("adam", True, max_iter=2)).fit(X, y)
    good = tmp_path / "good.npz"
    clf.save(good)
    n_params = clf._optimizer_state["m"].shape[0]
    bad = tmp_path / "bad.npz"
    cases = [
        # Layer 1 no longer chains with layer 0 (header and arrays agree, so dbn.io accepts it).
        (lambda a: _set(a, "coef1", np.zeros((7, 5), np.float32)), None, "layer 1 must have"),
        (lambda a: _set(a, "coef0", a["coef0"].astype(np.float64)), None, "not in the model's"),
        (lambda a: _set(a, "optimizer/m", np.zeros(n_params + 1, np.float32)), None, "optimizer/m"),
        (lambda a: a.pop("optimizer/v"), None, "one of Adam's two moment"),
        (lambda a: _set(a, "best_params", np.zeros(3, np.float32)), None, "best_params"),
        (lambda a: _set(a, "classes_", a["classes_"][:2]), None, "2 classes for 3 outputs"),
        (lambda a: _set(a, "classes_", a["classes_"][::-1].copy()), None, "sorted and unique"),
        (None, lambda h: _set(h["params"], "hidden_layer_sizes", [6, 4]), "layer 1 must have"),
        (None, lambda h: _set(h["params"], "dtype", "float64"), "not in the model's"),
        (None, lambda h: _set(h["params"], "alpha", -1.0), "invalid stored parameters"),
        (None, lambda h: _set(h["params"], "foo", 1), "invalid stored parameters"),
        (None, lambda h: _set(h["extra"], "n_outputs_", 4), "3 classes for 4 outputs"),
        (None, lambda h: _set(h["extra"], "n_iter_", -1), "n_iter_ must be an integer"),
        (None, lambda h: h["extra"]["history_"]["val_loss"].pop(), "one entry per epoch"),
        (None, lambda h: _set(h["extra"]["history_"], "epoch", [2, 1]), "count the completed"),
        (None, lambda h: _set(h["extra"]["rng_state"], "bit_generator", "Evil"), "bit generator"),
        (None, lambda h: h["extra"].pop("t_"), "malformed training state"),
    ]
    for edit_arrays, edit_header, match in cases:
        _tamper(good, bad, edit_arrays, edit_header)
        with pytest.raises(ModelFileError, match=match):
            MLPClassifier.load(bad)
    with pytest.raises(ModelFileError, match="expected MLPRegressor"):
        MLPRegressor.load(good)
    raw = good.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelFileError, match="unreadable or truncated"):
        MLPClassifier.load(bad)
    assert MLPClassifier.load(good).n_iter_ == 2  # the original still loads
    with pytest.raises(NotFittedError):
        MLPClassifier().save(tmp_path / "unfitted.npz")


@pytest.mark.parametrize(
    ("cls", "name"),
    [(MLPClassifier, "mlp-history-v1"), (DeepAutoencoder, "autoencoder-history-v1")],
)
def test_files_with_the_old_history_still_load(tmp_path, cls, name):
    # Written before history_ had 'epoch', when its 'time' was the seconds since the start.
    path = FIXTURES / f"{name}.safetensors"
    header, _ = load_arrays(path)
    stored = header["extra"]["history_"]
    assert "epoch" not in stored and np.all(np.diff(stored["time"]) > 0)
    model = cls.load(path)
    assert model.history_["epoch"] == [1, 2, 3] == list(range(1, model.n_iter_ + 1))
    assert all(type(epoch) is int for epoch in model.history_["epoch"])
    assert all(t >= 0 for t in model.history_["time"])
    np.testing.assert_allclose(np.cumsum(model.history_["time"]), stored["time"], rtol=1e-12)
    for key in set(stored) - {"time"}:
        np.testing.assert_equal(model.history_[key], stored[key])
    assert model.loss_curve_ is model.history_["train_loss"]
    X = np.random.default_rng(0).random((60, 6)).astype(np.float32)
    if cls is MLPClassifier:
        np.testing.assert_array_equal(
            model.predict_proba(X[:5]), np.load(FIXTURES / f"{name}-proba.npy")
        )
    # Saved again, it is in today's form; trained on, its epochs go on counting.
    model.save(tmp_path / "new.safetensors")
    assert load_arrays(tmp_path / "new.safetensors")[0]["extra"]["history_"]["epoch"] == [1, 2, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if cls is MLPClassifier:
            model.partial_fit(X, (X[:, 0] > 0.5).astype(int))
        else:
            model.partial_fit(X)
    assert model.history_["epoch"] == [1, 2, 3, 4]


# ------------------------------------------------------------------------------------ checkpoints


@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize(
    ("solver", "overrides"),
    [
        ("sgd", {}),
        ("adam", {}),
        ("cg", {}),
        # Epochs 1-2 train the output layer only; the crash at 3 resumes in the full-net phase.
        ("cg", {"cg_top_layer_epochs": 2, "alpha": 0.01}),
        # Trained on centred inputs, stored raw between epochs: the resumed run moves the bias
        # between the two forms exactly as the uninterrupted one did.
        ("sgd", {"center_inputs": True}),
        ("adam", {"center_inputs": True}),
    ],
)
def test_resume_after_a_crash_equals_uninterrupted_run(tmp_path, solver, overrides, early_stopping):
    X, y = _data()
    params = _params(solver, early_stopping, **overrides)
    reference = MLPClassifier(**params).fit(X, y)
    crash = _Fail(epoch=3)
    with pytest.raises(RuntimeError, match="stop here"):
        MLPClassifier(**params).fit(X, y, callbacks=[crash], checkpoint_dir=tmp_path)
    header, _ = load_arrays(tmp_path / CHECKPOINT)
    assert header["extra"]["n_iter_"] == 3 and not header["extra"]["checkpoint"]["finished"]
    watch = _Fail()
    resumed = MLPClassifier(**params).fit(X, y, callbacks=[watch], checkpoint_dir=tmp_path)
    assert watch.seen == [4, 5, 6]  # it resumed, and did not start over
    _assert_same_weights(resumed, reference)
    assert resumed.n_iter_ == reference.n_iter_ == 6
    assert resumed.history_["train_loss"] == reference.history_["train_loss"]
    assert resumed.history_["val_loss"] == pytest.approx(
        reference.history_["val_loss"], nan_ok=True
    )
    if early_stopping:
        assert resumed.validation_scores_ == reference.validation_scores_
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT]


def test_finished_checkpoint_gives_the_finished_model(tmp_path):
    X, y = _data()
    # Early stopping stops before max_iter and restores the best weights.
    params = _params("adam", True, max_iter=40, n_iter_no_change=2, learning_rate_init=0.2)
    first = MLPClassifier(**params).fit(X, y, checkpoint_dir=tmp_path)
    assert first.n_iter_ < 40
    watch = _Fail()
    again = MLPClassifier(**params).fit(X, y, callbacks=[watch], checkpoint_dir=tmp_path)
    assert watch.seen == []
    assert again.n_iter_ == first.n_iter_
    _assert_same_weights(again, first)
    np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))


def test_checkpoint_of_other_parameters_or_data_is_refused(tmp_path):
    X, y = _data()
    params = _params(max_iter=2)
    MLPClassifier(**params).fit(X, y, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"other parameters \(alpha=0\.0001\)"):
        MLPClassifier(**{**params, "alpha": 0.1}).fit(X, y, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"X of shape \(160, 8\), got \(150, 8\)"):
        MLPClassifier(**params).fit(X[:150], y[:150], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="other values of X"):
        MLPClassifier(**params).fit(X + 1, y, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="other values of y"):
        MLPClassifier(**params).fit(X, y[::-1], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="other values of classes_"):
        MLPClassifier(**params).fit(X, y + 1, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="written without X_val"):
        MLPClassifier(**params).fit(X, y, X_val=X, y_val=y, checkpoint_dir=tmp_path)
    layers = [(np.ones((8, 6), np.float32), np.zeros(6, np.float32))]
    with pytest.raises(ValueError, match="other pretrained_layers"):
        MLPClassifier(**params, pretrained_layers=layers).fit(X, y, checkpoint_dir=tmp_path)
    with pytest.raises(ModelFileError, match="expected MLPRegressor-checkpoint"):
        MLPRegressor(**params).fit(X, y.astype(float), checkpoint_dir=tmp_path)
    # verbose is not a training parameter: changing it keeps the checkpoint.
    MLPClassifier(**{**params, "verbose": False}).fit(X, y, checkpoint_dir=tmp_path)


def test_stale_temporary_files_are_removed(tmp_path):
    X, y = _data()
    stale = tmp_path / f".{CHECKPOINT}.x1y2.tmp"
    stale.write_bytes(b"half a file")
    MLPClassifier(**_params(max_iter=2)).fit(X, y, checkpoint_dir=tmp_path / ".")
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT]


@pytest.mark.parametrize("solver", ["adam", "cg"])
def test_autoencoder_resume_after_a_crash_equals_uninterrupted_run(tmp_path, solver):
    X, _ = _data()
    X = 1 / (1 + np.exp(-X))
    params = dict(
        layer_sizes=(6, 2),
        solver=solver,
        cg_batch_size=70,  # 3 minibatches, the last one short
        cg_max_line_searches=2,
        max_iter=5,
        batch_size=40,
        learning_rate_init=0.01,
        early_stopping=True,
        n_iter_no_change=50,
        random_state=2,
    )
    reference = DeepAutoencoder(**params).fit(X)
    with pytest.raises(RuntimeError):
        DeepAutoencoder(**params).fit(X, callbacks=[_Fail(epoch=2)], checkpoint_dir=tmp_path)
    watch = _Fail()
    resumed = DeepAutoencoder(**params).fit(X, callbacks=[watch], checkpoint_dir=tmp_path)
    assert watch.seen == [3, 4, 5]
    _assert_same_weights(resumed, reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autoencoder-checkpoint.npz"]


# ------------------------------------------------------------------------------- kill and resume

_KILL_PARAMS = dict(early_stopping=True, max_iter=8)

_TRAIN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from dbn.mlp import MLPClassifier
    from tests.test_mlp_persistence import _KILL_PARAMS, _data, _params

    def slow(estimator, epoch, logs):
        print(f"epoch {epoch}", flush=True)
        time.sleep(0.15)  # gives the parent a window to kill us mid-training

    X, y = _data()
    MLPClassifier(**_params(**_KILL_PARAMS)).fit(
        X, y, callbacks=[slow], checkpoint_dir=sys.argv[1]
    )
    print("done", flush=True)
    """
)


def test_sigkill_mid_fine_tuning_then_resume_matches_uninterrupted(tmp_path):
    X, y = _data()
    reference = MLPClassifier(**_params(**_KILL_PARAMS)).fit(X, y)
    # One BLAS thread in the child too, so that both runs add in the same order.
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env = {**os.environ, **threads, "PYTHONPATH": str(REPO)}
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
            if line.strip() == "epoch 3" or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT]  # nothing torn
    header, _ = load_arrays(tmp_path / CHECKPOINT)
    assert 3 <= header["extra"]["n_iter_"] < 8  # killed mid-training
    watch = _Fail()
    resumed = MLPClassifier(**_params(**_KILL_PARAMS)).fit(
        X, y, callbacks=[watch], checkpoint_dir=tmp_path
    )
    assert watch.seen and watch.seen[0] == header["extra"]["n_iter_"] + 1
    _assert_same_weights(resumed, reference)
    assert resumed.validation_scores_ == reference.validation_scores_


# ------------------------------------------------------------------------------ KeyboardInterrupt


def test_keyboard_interrupt_after_an_epoch_keeps_a_usable_model(tmp_path):
    X, y = _data()
    params = _params("adam", max_iter=6)
    reference = MLPClassifier(**params).fit(X, y)
    clf = MLPClassifier(**params)
    with pytest.warns(
        RuntimeWarning, match="interrupted during epoch 2; the model keeps the state after epoch 2"
    ):
        assert clf.fit(X, y, callbacks=[_Fail(2, KeyboardInterrupt)]) is clf
    assert clf.n_iter_ == 2 and len(clf.history_["train_loss"]) == 2
    assert clf.predict(X).shape == (len(X),)
    for _ in range(4):
        clf.partial_fit(X, y)
    _assert_same_weights(clf, reference)


def test_keyboard_interrupt_mid_epoch_rolls_back_to_the_last_epoch(tmp_path, monkeypatch):
    X, y = _data()
    params = _params("adam", max_iter=5)
    reference = MLPClassifier(**params).fit(X, y)
    after_two = MLPClassifier(**{**params, "max_iter": 2}).fit(X, y)
    batches_per_epoch = -(-len(X) // 32)
    calls = {"n": 0}
    # The backprop core that training calls (dbn.mlp.backward is a wrapper for users of the passes).
    backward = dbn._backprop.backward

    def interrupted_backward(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2 * batches_per_epoch + 3:  # the 3rd minibatch of epoch 3
            raise KeyboardInterrupt
        return backward(*args, **kwargs)

    monkeypatch.setattr(dbn._backprop, "backward", interrupted_backward)
    clf = MLPClassifier(**params)
    with pytest.warns(RuntimeWarning, match="interrupted during epoch 3"):
        clf.fit(X, y, checkpoint_dir=tmp_path)
    monkeypatch.setattr(dbn._backprop, "backward", backward)
    # Weights, Adam's moments and step count, and the random stream are those after epoch 2.
    assert clf.n_iter_ == 2
    _assert_same_weights(clf, after_two)
    np.testing.assert_equal(clf._optimizer_state, after_two._optimizer_state)
    assert clf._rng.bit_generator.state == after_two._rng.bit_generator.state
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The resumed run ends at a small max_iter, unconverged: that warning is expected.
        warnings.simplefilter("ignore", ConvergenceWarning)
        resumed = MLPClassifier(**params).fit(X, y, checkpoint_dir=tmp_path)
    _assert_same_weights(resumed, reference)
    for _ in range(3):
        clf.partial_fit(X, y)
    _assert_same_weights(clf, reference)
