"""The estimator contract of the RBMs and the DBN: verbose lines, history_, n_iter_,
checkpoint_dir, random_state."""

from __future__ import annotations

import re

import numpy as np
import pytest

import dbn._training.loop
import dbn._training.verbose
from dbn import DBM, DBN, BernoulliRBM, Callback, GaussianBernoulliRBM

# scikit-learn's line (sklearn/neural_network/tests/test_rbm.py::test_sparse_and_verbose).
SKLEARN_LINE = r"\[BernoulliRBM\] Iteration {}, pseudo-likelihood = -?\d+\.\d\d, time = \d+\.\d\ds$"


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    prototypes = rng.random((4, 24)) < 0.4
    return (prototypes[rng.integers(0, 4, 200)] ^ (rng.random((200, 24)) < 0.05)).astype(np.float64)


def _lines(capsys):
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err


def test_verbose_prints_sklearns_line_per_epoch_and_no_bar_off_a_terminal(X, capsys):
    BernoulliRBM(8, n_iter=3, batch_size=20, random_state=0, verbose=True).fit(X)
    out, err = _lines(capsys)
    assert len(out) == 3
    for epoch, line in enumerate(out, 1):
        assert re.match(SKLEARN_LINE.format(epoch), line), line
    assert "it/s" not in err and "BernoulliRBM(8)" not in err  # captured stderr: no tqdm bar
    BernoulliRBM(8, n_iter=2, batch_size=20, random_state=0, verbose=0).fit(X)
    assert _lines(capsys)[0] == []


def test_verbose_2_adds_the_other_monitors_and_gaussian_units_show_the_error(X, capsys):
    BernoulliRBM(8, n_iter=1, batch_size=20, random_state=0, verbose=2).fit(X, X_val=X[:50])
    (line,) = _lines(capsys)[0]
    assert re.match(
        r"\[BernoulliRBM\] Iteration 1, pseudo-likelihood = -?\d+\.\d\d, reconstruction error = "
        r"\d+\.\d\d, free-energy gap = -?\d+\.\d\d, time = \d+\.\d\ds$",
        line,
    ), line
    # No pseudo-likelihood for real-valued units: the reconstruction error takes its place.
    GaussianBernoulliRBM(4, n_iter=1, batch_size=20, random_state=0, verbose=1).fit(X - 0.5)
    (line,) = _lines(capsys)[0]
    assert re.match(
        r"\[GaussianBernoulliRBM\] Iteration 1, reconstruction error = \d+\.\d\d, time", line
    )


def test_dbn_verbose_names_each_layer(X, capsys):
    DBN([8, 4], n_iter=2, batch_size=20, random_state=0, verbose=1).pretrain(X)
    out = [line for line in _lines(capsys)[0] if "Iteration" in line]
    assert [line.split(",")[0] for line in out] == [
        "[DBN layer 1/2] Iteration 1",
        "[DBN layer 1/2] Iteration 2",
        "[DBN layer 2/2] Iteration 1",
        "[DBN layer 2/2] Iteration 2",
    ]


def test_a_progress_bar_is_drawn_on_stderr_when_it_is_a_terminal(X, capsys, monkeypatch):
    monkeypatch.setattr(dbn._training.verbose, "_is_terminal", lambda stream: True)
    BernoulliRBM(8, n_iter=2, batch_size=20, random_state=0, verbose=1).fit(X)
    out, err = _lines(capsys)
    assert len(out) == 2 and "BernoulliRBM(8)" in err


def test_n_iter_counts_epochs_and_n_epochs_is_a_deprecated_alias(X):
    rbm = BernoulliRBM(8, n_iter=3, batch_size=20, random_state=0).fit(X)
    assert rbm.n_iter_ == 3
    with pytest.warns(FutureWarning, match="n_epochs_ is deprecated.*use n_iter_"):
        assert rbm.n_epochs_ == 3
    with pytest.warns(FutureWarning, match="n_epochs_ is deprecated.*set n_iter_"):
        rbm.n_epochs_ = 1
    assert rbm.n_iter_ == 1


def test_history_has_the_epoch_and_the_epochs_own_seconds(X, monkeypatch):
    # A clock that advances one second per reading: each epoch takes the same number of seconds,
    # so per-epoch times are equal where cumulative ones would grow.
    ticks = iter(range(10**6))
    monkeypatch.setattr(dbn._training.loop.time, "perf_counter", lambda: float(next(ticks)))
    rbm = BernoulliRBM(8, n_iter=3, batch_size=20, random_state=0).fit(X)
    assert rbm.history_["epoch"] == [1, 2, 3]
    assert len(set(rbm.history_["time"])) == 1 and rbm.history_["time"][0] > 0
    stack = DBN([8, 4], n_iter=2, batch_size=20, random_state=0).pretrain(X)
    history = stack.history_
    assert history["epoch"] == [1, 2, 1, 2] and history["layer"] == [0, 0, 1, 1]
    assert len(set(history["time"])) == 1
    assert set(history) - {"layer"} == set(rbm.history_)  # the same keys as the RBM's


def test_dbn_history_keeps_the_list_access_with_a_future_warning(X):
    stack = DBN([8, 4], n_iter=2, batch_size=20, random_state=0).pretrain(X)
    with pytest.warns(FutureWarning, match=r"layers_\[i\]\.history_"):
        layer = stack.history_[1]
    assert layer is stack.layers_[1].history_


class _InterruptAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, model, epoch, logs):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_rbm_checkpoint_resumes_to_the_uninterrupted_weights(X, tmp_path):
    params = dict(n_components=8, n_iter=4, batch_size=20, persistent=True, random_state=0)
    reference = BernoulliRBM(**params).fit(X)
    first = BernoulliRBM(**params)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        first.fit(X, checkpoint_dir=tmp_path, callbacks=_InterruptAfter(2))
    assert first.n_iter_ == 2 and (tmp_path / "bernoullirbm-checkpoint.npz").is_file()
    resumed = BernoulliRBM(**params).fit(X, checkpoint_dir=tmp_path)
    assert resumed.n_iter_ == 4 and resumed.history_["epoch"] == [1, 2, 3, 4]
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(reference, name))
    np.testing.assert_array_equal(
        resumed.training_state()[0]["persistent_chains_"],
        reference.training_state()[0]["persistent_chains_"],
    )
    with pytest.raises(ValueError, match="other values of X"):
        BernoulliRBM(**params).fit(X[::-1], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="other parameters"):
        BernoulliRBM(**{**params, "learning_rate": 0.05}).fit(X, checkpoint_dir=tmp_path)
    with pytest.raises(TypeError, match="checkpoint_dir must be a str or os.PathLike"):
        BernoulliRBM(**params).fit(X, checkpoint_dir=3)


def test_model_files_with_the_old_epoch_count_still_load(X, tmp_path):
    rbm = BernoulliRBM(8, n_iter=2, batch_size=20, random_state=0).fit(X)
    arrays, extra = rbm.training_state()
    extra = {("n_epochs_" if k == "n_iter_" else k): v for k, v in extra.items()}
    again = BernoulliRBM(**rbm.get_params())
    again.restore_training_state(arrays, extra)
    assert again.n_iter_ == 2


def test_dbn_accepts_a_generator_or_random_state_as_random_state(X):
    params = dict(n_iter=1, batch_size=20)
    a = DBN([8], random_state=np.random.default_rng(0), **params).pretrain(X)
    b = DBN([8], random_state=np.random.default_rng(0), **params).pretrain(X)
    np.testing.assert_array_equal(a.layers_[0].components_, b.layers_[0].components_)
    # Each pretrain draws from the Generator: a second one gives other layers.
    again = a.pretrain(X).layers_[0].components_
    assert not np.array_equal(again, b.layers_[0].components_)
    legacy = DBN([8], random_state=np.random.RandomState(0), **params).pretrain(X)
    assert legacy.layers_[0].components_.shape == (8, X.shape[1])
    assert a._header_params()["random_state"] is None  # a Generator is not stored in files
    with pytest.raises(TypeError, match="random_state of a DBN must be None or an int, got 2.5"):
        DBN([8], random_state=2.5).pretrain(X)


def test_dbm_accepts_a_generator_or_random_state_as_random_state(X):
    params = dict(n_iter=1, pretrain_n_iter=1, batch_size=20, n_chains=8)
    a = DBM((8, 4), random_state=np.random.default_rng(0), **params).fit(X)
    b = DBM((8, 4), random_state=np.random.default_rng(0), **params).fit(X)
    for left, right in zip(a.components_, b.components_, strict=True):
        np.testing.assert_array_equal(left, right)
    # A fit draws from the Generator: a second fit gives another model.
    first = a.components_[0].copy()
    assert not np.array_equal(a.fit(X).components_[0], first)
    legacy = DBM((8, 4), random_state=np.random.RandomState(0), **params).fit(X)
    assert np.isfinite(legacy.components_[0]).all()
    assert a.header_params()["random_state"] is None  # a Generator is not stored in files
    with pytest.raises(TypeError, match="random_state of a DBM must be None, an int, a numpy"):
        DBM((8, 4), random_state=2.5, **params).fit(X)


def test_dbm_prints_a_line_per_epoch_and_counts_them_in_n_iter_(X, capsys):
    dbm = DBM((8, 4), n_iter=2, pretrain_n_iter=1, batch_size=20, n_chains=8, verbose=1)
    dbm.fit(X)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("]")[0] for line in lines] == [
        "[DBM layer 1/2 pretraining",
        "[DBM layer 2/2 pretraining",
        "[DBM",
        "[DBM",
    ]
    assert re.fullmatch(
        r"\[DBM\] Iteration 2, reconstruction error = \d+\.\d\d, time = \d+\.\d\ds", lines[-1]
    )
    assert dbm.n_iter_ == 2 and dbm.history_["epoch"] == [1, 2]
    with pytest.warns(FutureWarning, match="DBM.n_epochs_ is deprecated.*use n_iter_"):
        assert dbm.n_epochs_ == 2


def test_dbn_n_iter_counts_each_layers_epochs(X):
    stack = DBN([8, 4], n_iter=2, batch_size=20, random_state=0).pretrain(X)
    np.testing.assert_array_equal(stack.n_iter_, [2, 2])
    assert [layer.n_iter_ for layer in stack.layers_] == [2, 2]
