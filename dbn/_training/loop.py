"""The epoch loop every dbn estimator trains through.

An estimator describes one epoch of its training as an :class:`EpochTrainer` (run the epoch,
evaluate it, snapshot and restore what an epoch changes) and hands it to :func:`run_epochs`, which
owns everything around the epochs:

- timing, and one row of ``history_`` per completed epoch;
- callbacks (:mod:`dbn._training.callbacks`: ``epoch`` counts completed epochs from 1, any truthy
  return stops);
- the progress bar (tqdm on stderr, with ``verbose >= 1`` when stderr is a terminal) and the
  estimator's per-epoch line (:mod:`dbn._training.verbose`);
- early stopping (:class:`EarlyStopping`, scikit-learn's rule);
- rollback: on a :class:`~dbn.DivergenceError` the state of the last completed epoch is restored
  and the error re-raised; on ``KeyboardInterrupt`` it is restored and training ends with a
  RuntimeWarning that points at the caller's line, so ``save`` or ``partial_fit`` carry on from a
  consistent state;
- the per-epoch checkpoint (through a ``save_checkpoint(finished)`` callable; see
  :mod:`dbn._training.checkpoint`).

The per-minibatch arithmetic is not here: it is the trainer's (the CD step of :mod:`dbn._cd`,
backprop of :mod:`dbn._backprop`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import DivergenceError
from .callbacks import CallbackList
from .stacklevel import external_stacklevel
from .verbose import progress_bar

__all__ = ["DeprecatedEpochCount", "EpochTrainer", "EarlyStopping", "LoopResult", "run_epochs"]


class EpochTrainer:
    """One epoch of an estimator's training, as :func:`run_epochs` drives it.

    Subclasses implement :meth:`run_epoch`, :meth:`snapshot` and :meth:`restore`, and may override
    :meth:`evaluate`, :meth:`epoch_completed` and :meth:`report`.
    """

    def run_epoch(self, epoch):
        """Train the 0-based ``epoch``; returns its logs, e.g. ``{"train_loss": ...}``.

        Runs under ``np.errstate(over="ignore", invalid="ignore")``: raise
        :class:`~dbn.DivergenceError` when the parameters or the loss become non-finite (the loop
        then restores the last snapshot and re-raises).
        """
        raise NotImplementedError

    def evaluate(self, epoch, logs):
        """Monitoring and validation entries of the epoch just trained (a dict, merged into logs)."""
        return {}

    def snapshot(self):
        """Everything an epoch changes (parameters, optimiser state, random stream)."""
        raise NotImplementedError

    def restore(self, snapshot):
        """Put back a :meth:`snapshot`."""
        raise NotImplementedError

    def epoch_completed(self, completed, logs):
        """Called once an epoch's history row is written (advance counters such as ``n_iter_``)."""

    def report(self, completed, logs):
        """Print the epoch's line when the estimator is verbose (the trainer decides)."""


@dataclass
class LoopResult:
    """How :func:`run_epochs` ended.

    Attributes
    ----------
    completed : int
        Epochs completed in total (including those before this call).
    stopped_by_callback, stopped_early, interrupted : bool
        Why it ended before the last epoch, if it did.
    """

    completed: int
    stopped_by_callback: bool = False
    stopped_early: bool = False
    interrupted: bool = False


class EarlyStopping:
    """scikit-learn's stopping rule, with its state kept on the estimator (so it is saved with it).

    After each epoch: with ``monitor_validation`` the validation score (``logs[score_key]``, higher
    is better) must improve on the best by more than ``tol``, otherwise the training loss
    (``logs[loss_key]``) must fall below the best by more than ``tol``; after more than
    ``n_iter_no_change`` epochs in a row without such an improvement, training stops. With
    ``monitor_validation`` the parameters of the best epoch are kept and put back by
    :meth:`restore_best`.

    The state lives in the estimator's attributes ``best_loss_``, ``_no_improvement_count`` and,
    when monitoring validation, ``best_validation_score_``, ``validation_scores_`` and
    ``_best_params``, as in :class:`sklearn.neural_network.MLPClassifier`.

    Parameters
    ----------
    estimator : object
    params : ndarray
        The flat parameter vector training updates in place (copied when the score improves).
    tol : float
    n_iter_no_change : int
    monitor_validation : bool
    loss_key, score_key : str
    """

    def __init__(
        self,
        estimator,
        params,
        *,
        tol,
        n_iter_no_change,
        monitor_validation,
        loss_key="train_loss",
        score_key="validation_score",
    ):
        self.estimator = estimator
        self.params = params
        self.tol = float(tol)
        self.n_iter_no_change = int(n_iter_no_change)
        self.monitor_validation = bool(monitor_validation)
        self.loss_key, self.score_key = loss_key, score_key
        if monitor_validation and not hasattr(estimator, "best_validation_score_"):
            estimator.best_validation_score_ = -np.inf
            estimator.validation_scores_ = []
            estimator._best_params = params.copy()

    def __call__(self, logs):
        """Update the state with the epoch's logs; True to stop."""
        est = self.estimator
        if self.monitor_validation:
            score = logs[self.score_key]
            est.validation_scores_.append(score)
            if score < est.best_validation_score_ + self.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_params[...] = self.params
        else:
            loss = logs[self.loss_key]
            if loss > est.best_loss_ - self.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, loss)
        return est._no_improvement_count > self.n_iter_no_change

    def restore_best(self):
        """Put the best epoch's parameters back (validation monitoring only)."""
        est = self.estimator
        if self.monitor_validation and np.isfinite(est.best_validation_score_):
            self.params[...] = est._best_params


def run_epochs(
    estimator,
    trainer,
    epochs,
    *,
    history,
    callbacks=None,
    stop_rule=None,
    save_checkpoint=None,
    progress=None,
    progress_key=None,
    verbose=0,
):
    """Run ``trainer`` over ``epochs`` and record each completed one.

    Parameters
    ----------
    estimator : object
        Passed to the callbacks.
    trainer : EpochTrainer
    epochs : range
        0-based indices of the epochs to run (``range(n_done, n_total)``).
    history : dict of str to list
        The estimator's ``history_``: after each epoch every key gets one entry, from the epoch's
        logs (NaN where the logs lack it); ``"epoch"`` gets the number of completed epochs and
        ``"time"`` the epoch's seconds (training and evaluation).
    callbacks : CallbackList, optional
        ``on_epoch_end`` after each epoch; ``on_train_begin`` / ``on_train_end`` are the caller's
        to call (a fit may resume, restore or initialise before the loop starts).
    stop_rule : callable, optional
        ``stop_rule(logs) -> bool`` after the history row is written, e.g. :class:`EarlyStopping`.
    save_checkpoint : callable, optional
        ``save_checkpoint(finished)`` after each epoch; ``finished`` is True for the last epoch
        of the run (also when a callback or the stop rule ended it).
    progress : str, optional
        Description of a tqdm progress bar shown when ``verbose >= 1`` and stderr is a terminal.
    progress_key : str, optional
        Log entry shown beside the progress bar.
    verbose : int

    Returns
    -------
    LoopResult
    """
    callbacks = callbacks if callbacks is not None else CallbackList(None)
    result = LoopResult(completed=epochs.start)
    bar = None if progress is None else progress_bar(progress, len(epochs), verbose)
    try:
        for epoch in epochs:
            snapshot = trainer.snapshot()
            committed = False
            try:
                start = time.perf_counter()
                # Overflow is reported as a DivergenceError by the trainer, not as numpy warnings.
                with np.errstate(over="ignore", invalid="ignore"):
                    logs = dict(trainer.run_epoch(epoch))
                logs.update(trainer.evaluate(epoch, logs))
                seconds = time.perf_counter() - start
                completed = epoch + 1
                logs["epoch"] = completed
                logs["time"] = seconds
                for key, values in history.items():
                    value = logs.get(key, float("nan"))
                    values.append(int(value) if key == "epoch" else float(value))
                committed = True
                result.completed = completed
                trainer.epoch_completed(completed, logs)
                if bar is not None:
                    bar.update(1)
                    if progress_key is not None and progress_key in logs:
                        bar.set_postfix({progress_key: f"{logs[progress_key]:.4g}"}, refresh=False)
                trainer.report(completed, logs)
                stop_early = bool(stop_rule(logs)) if stop_rule is not None else False
                last = stop_early or epoch == epochs.stop - 1
                if save_checkpoint is not None:
                    save_checkpoint(last)
                stop_by_callback = callbacks.on_epoch_end(estimator, completed, logs)
                if stop_by_callback and not last and save_checkpoint is not None:
                    save_checkpoint(True)
            except DivergenceError:
                if not committed:
                    trainer.restore(snapshot)
                raise
            except KeyboardInterrupt:
                if not committed:
                    trainer.restore(snapshot)
                result.interrupted = True
                warnings.warn(
                    f"{type(estimator).__name__}: training interrupted during epoch "
                    f"{epoch + 1}; the model keeps the state after epoch {result.completed} "
                    f"({result.completed} completed epochs).",
                    RuntimeWarning,
                    stacklevel=external_stacklevel(),
                )
                break
            if stop_early or stop_by_callback:
                result.stopped_early = stop_early
                result.stopped_by_callback = bool(stop_by_callback)
                break
    finally:
        if bar is not None:
            bar.close()
    return result


class DeprecatedEpochCount:
    """Mixin: ``n_epochs_``, the deprecated alias of ``n_iter_`` (the completed training epochs,
    scikit-learn's name), read and set with a FutureWarning."""

    def _warn_n_epochs(self, verb):
        warnings.warn(
            f"{type(self).__name__}.n_epochs_ is deprecated and will be removed in dbn 0.4; "
            f"{verb} n_iter_, the same count under scikit-learn's name.",
            FutureWarning,
            stacklevel=3,
        )

    @property
    def n_epochs_(self):
        """Deprecated alias of ``n_iter_``, the completed training epochs (scikit-learn's name)."""
        self._warn_n_epochs("use")
        return self.n_iter_

    @n_epochs_.setter
    def n_epochs_(self, value):
        self._warn_n_epochs("set")
        self.n_iter_ = value
