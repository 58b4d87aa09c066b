"""The callback contract shared by every dbn estimator.

A callback is either a plain callable ``callback(estimator, epoch, logs)`` or a :class:`Callback`
object. After every completed epoch it receives:

- ``estimator``: the estimator being trained (for a DBN: the DBN);
- ``epoch``: the number of completed epochs, counted from 1 (so it equals ``len(history)`` of the
  estimator's epoch history at that moment);
- ``logs``: a dict with that epoch's entries of ``history_`` (for a DBN also ``"layer"``, the
  0-based index of the layer being trained).

Training stops after the epoch when any callback returns a truthy value (``True``, ``np.True_``,
``1``...); every callback is still called for that epoch. ``callbacks`` may be ``None``, one
callback, or a list or tuple of them.

Deprecated forms, still honoured with a :class:`DeprecationWarning`: plain callables given to an
RBM's ``fit`` receive the 0-based epoch index (the RBM's old numbering), and the DBN's
five-argument callables ``callback(dbn, layer, rbm, epoch, record)`` keep that form with a 0-based
``epoch``. Subclass :class:`Callback` (or use three-argument callables on the DBN) to get the
unified numbering now.
"""

from __future__ import annotations

import warnings

from .stacklevel import external_stacklevel

__all__ = ["Callback", "CallbackList", "zero_based_adapter"]


class Callback:
    """Base class of training callbacks: override the hooks you need.

    The hooks receive the estimator being trained. ``on_epoch_end`` returns a truthy value to stop
    training after the current epoch.

    Examples
    --------
    >>> from dbn import Callback
    >>> class StopBelow(Callback):
    ...     def __init__(self, threshold):
    ...         self.threshold = threshold
    ...     def on_epoch_end(self, estimator, epoch, logs):
    ...         return logs.get("reconstruction_error", float("inf")) < self.threshold
    """

    def on_train_begin(self, estimator):
        """Called once before the first epoch, after the weights are initialised or restored."""

    def on_epoch_end(self, estimator, epoch, logs):
        """Called after every completed epoch (``epoch`` counts from 1); truthy stops training."""
        return None

    def on_train_end(self, estimator):
        """Called once when training ends, however it ends (finished, stopped, interrupted)."""


class _FunctionCallback(Callback):
    """A plain callable ``f(estimator, epoch, logs)`` seen through the :class:`Callback` API.

    A callable that also has an ``on_train_begin`` method (for example
    :class:`dbn.diagnostics.DiagnosticsRecorder`) keeps it.
    """

    def __init__(self, function):
        self.function = function

    def on_train_begin(self, estimator):
        hook = getattr(self.function, "on_train_begin", None)
        if hook is not None:
            hook(estimator)

    def on_epoch_end(self, estimator, epoch, logs):
        return self.function(estimator, epoch, logs)

    def on_train_end(self, estimator):
        hook = getattr(self.function, "on_train_end", None)
        if hook is not None:
            hook(estimator)


class _ZeroBasedCallback(_FunctionCallback):
    """Deprecated form: the plain callable receives the 0-based epoch index."""

    def on_epoch_end(self, estimator, epoch, logs):
        return self.function(estimator, epoch - 1, logs)


def zero_based_adapter(owner):
    """Adapter for :class:`CallbackList` that keeps plain callables on the old 0-based numbering.

    ``owner`` names the estimator in the :class:`DeprecationWarning`, which is raised once per
    :class:`CallbackList` that holds such a callable.
    """

    def adapt(function):
        warnings.warn(
            f"{owner} callbacks given as plain functions receive the 0-based epoch index; from "
            "dbn 0.3 they will receive the number of completed epochs (counted from 1), like the "
            "other dbn estimators. Subclass dbn.Callback (on_epoch_end) to use the new numbering "
            "now and silence this warning.",
            DeprecationWarning,
            stacklevel=external_stacklevel(),
        )
        return _ZeroBasedCallback(function)

    return adapt


class CallbackList:
    """Checked callbacks, called together.

    Parameters
    ----------
    callbacks : None, callable, Callback, or list/tuple of them
        Checked at once: anything else raises a TypeError naming ``name``.
    name : str, default="callbacks"
        The parameter name for error messages.
    adapt_function : callable, optional
        ``adapt_function(f) -> Callback`` wraps each plain callable (for the deprecated forms);
        by default a plain callable follows the unified contract.
    """

    def __init__(self, callbacks, *, name="callbacks", adapt_function=None):
        if callbacks is None:
            items = []
        elif isinstance(callbacks, Callback) or callable(callbacks):
            items = [callbacks]
        elif isinstance(callbacks, list | tuple):
            items = list(callbacks)
        else:
            items = None
        if items is None or not all(isinstance(c, Callback) or callable(c) for c in items):
            raise TypeError(
                f"{name} must be a callable, a dbn.Callback, or a list of them; got {callbacks!r}."
            )
        adapt = adapt_function or _FunctionCallback
        self.callbacks = [c if isinstance(c, Callback) else adapt(c) for c in items]

    def __len__(self):
        return len(self.callbacks)

    def on_train_begin(self, estimator):
        for callback in self.callbacks:
            callback.on_train_begin(estimator)

    def on_epoch_end(self, estimator, epoch, logs):
        """Call every callback; True when any returned a truthy value."""
        stop = False
        for callback in self.callbacks:
            if callback.on_epoch_end(estimator, epoch, dict(logs)):
                stop = True
        return stop

    def on_train_end(self, estimator):
        for callback in self.callbacks:
            callback.on_train_end(estimator)
