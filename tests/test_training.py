"""The training engine (dbn._training): the epoch loop, callbacks, schedules and checkpoints."""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest

from dbn import Callback, DivergenceError
from dbn._training import loop
from dbn._training.callbacks import CallbackList, zero_based_adapter
from dbn._training.checkpoint import CheckpointFile, fingerprints
from dbn._training.loop import EarlyStopping, EpochTrainer, run_epochs
from dbn._training.schedules import check_schedule, learning_rate_at, momentum_at


class _CountingTrainer(EpochTrainer):
    """Adds 1 to its parameters each epoch; can diverge or be interrupted at a chosen epoch."""

    def __init__(self, diverge_at=None, interrupt_at=None):
        self.params = np.zeros(3)
        self.diverge_at, self.interrupt_at = diverge_at, interrupt_at
        self.completed = []

    def run_epoch(self, epoch):
        self.params += 1
        if epoch == self.diverge_at:
            self.params[:] = np.nan
            raise DivergenceError("diverged")
        if epoch == self.interrupt_at:
            raise KeyboardInterrupt
        return {"train_loss": 1.0 / (epoch + 1)}

    def evaluate(self, epoch, logs):
        return {"validation_score": -logs["train_loss"]}

    def snapshot(self):
        return self.params.copy()

    def restore(self, snapshot):
        self.params[...] = snapshot

    def epoch_completed(self, completed, logs):
        self.completed.append(completed)


def _history():
    return {"epoch": [], "train_loss": [], "validation_score": [], "missing": [], "time": []}


def test_loop_records_history_and_numbers_epochs_from_one():
    trainer, history, seen = _CountingTrainer(), _history(), []
    callbacks = CallbackList(lambda est, epoch, logs: seen.append((epoch, logs["epoch"])))
    result = run_epochs(object(), trainer, range(0, 4), history=history, callbacks=callbacks)
    assert result.completed == 4 and not (result.interrupted or result.stopped_by_callback)
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["train_loss"] == [1.0, 0.5, 1 / 3, 0.25]
    assert history["validation_score"] == [-1.0, -0.5, -1 / 3, -0.25]
    assert all(np.isnan(history["missing"])) and all(t >= 0 for t in history["time"])
    assert seen == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert trainer.completed == [1, 2, 3, 4]
    # A resumed run continues the numbering.
    run_epochs(object(), trainer, range(4, 6), history=history, callbacks=callbacks)
    assert history["epoch"] == [1, 2, 3, 4, 5, 6] and seen[-1] == (6, 6)


@pytest.mark.parametrize("stop_value", [True, np.True_, 1, "yes"])
def test_any_truthy_callback_return_stops(stop_value):
    calls = []

    def first(est, epoch, logs):
        calls.append(("first", epoch))
        return stop_value if epoch == 2 else None

    def second(est, epoch, logs):
        calls.append(("second", epoch))

    history = _history()
    result = run_epochs(
        object(),
        _CountingTrainer(),
        range(5),
        history=history,
        callbacks=CallbackList([first, second]),
    )
    assert result.completed == 2 and result.stopped_by_callback
    # Every callback still sees the epoch that stopped training.
    assert calls[-2:] == [("first", 2), ("second", 2)]


@pytest.mark.parametrize("stop_value", [False, None, 0, np.False_])
def test_falsy_callback_return_continues(stop_value):
    result = run_epochs(
        object(),
        _CountingTrainer(),
        range(3),
        history=_history(),
        callbacks=CallbackList(lambda est, epoch, logs: stop_value),
    )
    assert result.completed == 3


def test_callback_objects_get_all_hooks_and_plain_callables_keep_on_train_begin():
    events = []

    class Recorder(Callback):
        def on_train_begin(self, estimator):
            events.append("begin")

        def on_epoch_end(self, estimator, epoch, logs):
            events.append(epoch)

        def on_train_end(self, estimator):
            events.append("end")

    def plain(est, epoch, logs):
        events.append(("plain", epoch))

    plain.on_train_begin = lambda est: events.append("plain-begin")
    callbacks = CallbackList([Recorder(), plain])
    callbacks.on_train_begin(None)
    run_epochs(None, _CountingTrainer(), range(1), history=_history(), callbacks=callbacks)
    callbacks.on_train_end(None)
    assert events == ["begin", "plain-begin", 1, ("plain", 1), "end"]


@pytest.mark.parametrize("bad", [3, "f", [print, 3], {"a": print}])
def test_callbacks_of_the_wrong_type_are_refused(bad):
    with pytest.raises(TypeError, match="callbacks must be a callable, a dbn.Callback"):
        CallbackList(bad)


def test_zero_based_adapter_warns_at_the_caller_and_keeps_the_old_numbering():
    seen = []
    with pytest.warns(DeprecationWarning, match="0-based epoch index") as record:
        callbacks = CallbackList(
            [lambda est, epoch, logs: seen.append(epoch)],
            adapt_function=zero_based_adapter("BernoulliRBM"),
        )
    assert record[0].filename == __file__
    run_epochs(None, _CountingTrainer(), range(3), history=_history(), callbacks=callbacks)
    assert seen == [0, 1, 2]


def test_divergence_restores_the_last_completed_epoch_and_reraises():
    trainer, history = _CountingTrainer(diverge_at=2), _history()
    with pytest.raises(DivergenceError):
        run_epochs(None, trainer, range(5), history=history)
    np.testing.assert_array_equal(trainer.params, [2.0, 2.0, 2.0])
    assert history["epoch"] == [1, 2]


def test_interrupt_restores_state_and_warns_at_the_callers_line():
    trainer, history = _CountingTrainer(interrupt_at=3), _history()
    with pytest.warns(RuntimeWarning, match="interrupted during epoch 4") as record:
        result = run_epochs(object(), trainer, range(5), history=history)
    assert record[0].filename == __file__
    assert result.interrupted and result.completed == 3
    np.testing.assert_array_equal(trainer.params, [3.0, 3.0, 3.0])
    assert history["epoch"] == [1, 2, 3]


def test_interrupt_in_a_callback_keeps_the_completed_epoch():
    def interrupt(est, epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    trainer = _CountingTrainer()
    with pytest.warns(RuntimeWarning, match="state after epoch 2"):
        result = run_epochs(
            None, trainer, range(5), history=_history(), callbacks=CallbackList(interrupt)
        )
    assert result.completed == 2
    np.testing.assert_array_equal(trainer.params, [2.0, 2.0, 2.0])


def test_time_is_each_epochs_own_seconds_across_runs(monkeypatch):
    # A fake clock that advances 1, 2, 3, ... seconds per reading: each epoch reads it twice.
    readings = iter(np.cumsum(np.arange(1.0, 100.0)))
    clock = types.SimpleNamespace(perf_counter=lambda: float(next(readings)))
    monkeypatch.setattr(loop, "time", clock)
    history = _history()
    run_epochs(None, _CountingTrainer(), range(2), history=history)
    run_epochs(None, _CountingTrainer(), range(2, 4), history=history)
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["time"] == [2.0, 4.0, 6.0, 8.0]  # not 2, 6, 12, 20 (the running total)


def test_checkpoint_is_saved_every_epoch_and_marked_finished_at_the_end():
    saved = []
    run_epochs(None, _CountingTrainer(), range(3), history=_history(), save_checkpoint=saved.append)
    assert saved == [False, False, True]
    saved.clear()
    run_epochs(
        None,
        _CountingTrainer(),
        range(5),
        history=_history(),
        save_checkpoint=saved.append,
        callbacks=CallbackList(lambda est, epoch, logs: epoch == 2),
    )
    assert saved == [False, False, True]


class _Estimator:
    best_loss_ = np.inf
    _no_improvement_count = 0


def test_early_stopping_on_training_loss_follows_sklearns_rule():
    est, params = _Estimator(), np.zeros(2)
    rule = EarlyStopping(est, params, tol=0.1, n_iter_no_change=2, monitor_validation=False)
    # Improvements by more than tol reset the count; two epochs without one are tolerated.
    assert [rule({"train_loss": v}) for v in (1.0, 0.5, 0.45, 0.44, 0.43)] == [
        False,
        False,
        False,
        False,
        True,
    ]
    assert est.best_loss_ == 0.43


def test_early_stopping_on_validation_keeps_the_best_parameters():
    est, params = _Estimator(), np.zeros(2)
    rule = EarlyStopping(est, params, tol=0.0, n_iter_no_change=1, monitor_validation=True)
    stops = []
    for score in (0.1, 0.5, 0.4, 0.3):
        params += 1
        stops.append(rule({"validation_score": score}))
    assert stops == [False, False, False, True]
    assert est.validation_scores_ == [0.1, 0.5, 0.4, 0.3] and est.best_validation_score_ == 0.5
    rule.restore_best()
    np.testing.assert_array_equal(params, [2.0, 2.0])


# ------------------------------------------------------------------------------------ schedules
@pytest.mark.parametrize(
    ("schedule", "epoch", "expected"),
    [
        ("constant", 7, 0.2),
        ("exponential", 3, 0.2 * 0.5**3),
        ("step", 5, 0.2 * 0.5**2),
        ("linear", 2, 0.2 * (1 - 2 / 8)),
        ("linear", 8, 0.0),
        (lambda epoch, lr: lr / (1 + epoch), 4, 0.2 / 5),
        (lambda epoch, lr: 0.01, 4, 0.01),
    ],
)
def test_learning_rate_schedules_by_hand(schedule, epoch, expected):
    got = learning_rate_at(schedule, epoch, 0.2, decay=0.5, step_size=2, n_epochs=8)
    assert got == pytest.approx(expected, rel=1e-12)


def test_one_parameter_schedules_keep_each_estimators_old_meaning_with_a_warning():
    with pytest.warns(DeprecationWarning, match="returning the learning rate") as record:
        assert check_schedule(lambda e: 0.5, ("constant",), legacy="rate", owner="RBM") == "legacy"
    assert record[0].filename == __file__
    assert learning_rate_at(lambda e: 0.5, 1, 0.2, legacy="rate") == 0.5
    with pytest.warns(DeprecationWarning, match="a factor of the base learning rate"):
        check_schedule(lambda e: 0.5, ("constant",), legacy="factor", owner="MLP")
    assert learning_rate_at(lambda e: 0.5, 1, 0.2, legacy="factor") == pytest.approx(0.1)


def test_two_parameter_schedules_do_not_warn_and_bad_ones_are_refused():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_schedule(lambda e, lr: lr, ("constant",), legacy="rate") == "callable"
    with pytest.raises(TypeError, match="schedule\\(epoch, learning_rate\\)"):
        check_schedule(lambda: 1.0, ("constant",), legacy="rate")
    with pytest.raises(ValueError, match="learning_rate_schedule must be one of"):
        check_schedule("cosine", ("constant", "exponential"))
    for value in (np.nan, -1.0, "0.1", True):
        with pytest.raises(ValueError, match="must return a finite learning rate >= 0"):
            learning_rate_at(lambda e, lr, v=value: v, 0, 0.1)


def test_momentum_switch():
    assert [momentum_at(e, 0.5, 0.9, 2) for e in range(4)] == [0.5, 0.5, 0.9, 0.9]
    assert momentum_at(10, 0.7) == 0.7


# ---------------------------------------------------------------------------------- checkpoints
def test_checkpoint_file_round_trip_and_refusals(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    (tmp_path / ".state.npz.abc.tmp").write_bytes(b"torn")
    params = {"n": 3, "verbose": 0}
    first = CheckpointFile(tmp_path, "state.npz", "Thing-checkpoint", {"X": X, "y": None})
    assert not (tmp_path / ".state.npz.abc.tmp").exists()
    assert first.load(params, owner="Thing") is False
    first.write(params, {"w": np.ones(2)}, {"n_done": 1}, finished=False)

    again = CheckpointFile(tmp_path, "state.npz", "Thing-checkpoint", {"X": X.copy()})
    assert again.load({"n": 3, "verbose": 2}, owner="Thing") and not again.finished
    np.testing.assert_array_equal(again.arrays["w"], np.ones(2))
    assert again.extra["n_done"] == 1

    other = X.copy()
    other[0, 0] += 1
    with pytest.raises(ValueError, match="for other values of X"):
        CheckpointFile(tmp_path, "state.npz", "Thing-checkpoint", {"X": other}).load(
            params, owner="Thing"
        )
    with pytest.raises(ValueError, match="of shape \\(4, 3\\), got \\(3, 3\\)"):
        CheckpointFile(tmp_path, "state.npz", "Thing-checkpoint", {"X": X[:3]}).load(
            params, owner="Thing"
        )
    with pytest.raises(ValueError, match="other parameters \\(n=3\\)"):
        CheckpointFile(tmp_path, "state.npz", "Thing-checkpoint", {"X": X}).load(
            {"n": 4}, owner="Thing"
        )
    with pytest.raises(TypeError, match="checkpoint_dir must be a str or os.PathLike"):
        CheckpointFile(3, "state.npz", "Thing-checkpoint", {})


def test_fingerprints_of_sparse_data_do_not_depend_on_the_format():
    sparse = pytest.importorskip("scipy.sparse")
    dense = np.eye(4, dtype=np.float32)
    a = fingerprints({"X": sparse.csr_matrix(dense)})
    b = fingerprints({"X": sparse.coo_matrix(dense)})
    assert a == b and a != fingerprints({"X": dense})
