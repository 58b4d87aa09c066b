"""The learning-rate and momentum schedule contract shared by every dbn estimator.

``learning_rate_schedule`` is one of:

- ``"constant"``: the base learning rate every epoch;
- ``"exponential"``: ``base * decay ** epoch``;
- ``"step"``: ``base * decay ** (epoch // step_size)``;
- ``"linear"``: ``base * (1 - epoch / n_epochs)``, down to zero at the end of training (Tieleman
  2008 decays PCD's learning rate this way);
- a callable ``schedule(epoch, learning_rate)`` of two parameters that returns the learning rate of
  the 0-based ``epoch``, given the estimator's base ``learning_rate``. A factor schedule is
  ``lambda epoch, lr: lr * 0.5 ** (epoch // 10)``; an absolute one ignores ``lr``.

Every estimator accepts the names that fit it. The value must be finite and ``>= 0``.

Deprecated: a callable of ONE parameter keeps the meaning it had in each estimator, with a
:class:`DeprecationWarning`: in the RBMs and the DBN it returns the learning rate, in the MLPs and
the deep autoencoder a factor of the base learning rate.

Momentum follows Hinton (2010, section 9): ``momentum`` for the first ``momentum_switch_epoch``
epochs, then ``final_momentum``. Estimators without a switch use one value throughout.

References
----------
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR
2010-003.
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the likelihood
gradient. ICML.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings

from .._validation import check_choice
from .stacklevel import external_stacklevel

__all__ = ["NAMED_SCHEDULES", "check_schedule", "learning_rate_at", "momentum_at"]

NAMED_SCHEDULES = ("constant", "exponential", "step", "linear")


def _n_required_parameters(function):
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins without a signature: the new form
        return 2
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if any(p.kind == p.VAR_POSITIONAL for p in signature.parameters.values()):
        return 2
    return len(positional)


def check_schedule(schedule, choices, *, name="learning_rate_schedule", legacy=None, owner=""):
    """Check a schedule parameter; returns its kind: a name, ``"callable"`` or ``"legacy"``.

    Parameters
    ----------
    schedule : str or callable
    choices : tuple of str
        The named schedules this estimator offers (a subset of ``NAMED_SCHEDULES``).
    name : str
        Parameter name for messages.
    legacy : {"rate", "factor"} or None
        What a one-parameter callable returned in this estimator before the contract was unified;
        when given, such a callable is accepted with a DeprecationWarning.
    owner : str
        Estimator name for the warning.
    """
    if not callable(schedule):
        check_choice(schedule, name, choices)
        return schedule
    n = _n_required_parameters(schedule)
    if n == 2:
        return "callable"
    if n == 1 and legacy is not None:
        meaning = "the learning rate" if legacy == "rate" else "a factor of the base learning rate"
        warnings.warn(
            f"{owner} {name} with one parameter (epoch) returning {meaning} is deprecated; pass "
            f"a callable of two parameters, schedule(epoch, learning_rate), that returns the "
            f"learning rate (for example lambda epoch, lr: lr * 0.5 ** epoch).",
            DeprecationWarning,
            stacklevel=external_stacklevel(),
        )
        return "legacy"
    raise TypeError(
        f"{name} must be one of {list(choices)} or a callable schedule(epoch, learning_rate) of "
        f"two parameters; got {schedule!r} taking {n} parameter(s)."
    )


def learning_rate_at(
    schedule,
    epoch,
    base,
    *,
    decay=1.0,
    step_size=1,
    n_epochs=None,
    legacy=None,
    name="learning_rate_schedule",
):
    """Learning rate of the 0-based ``epoch`` under ``schedule`` (see the module docstring).

    Parameters
    ----------
    schedule : str or callable
        Already checked by :func:`check_schedule`.
    epoch : int
        0-based index of the epoch about to run.
    base : float
        The estimator's base learning rate.
    decay : float
        Factor of the ``"exponential"`` and ``"step"`` schedules.
    step_size : int
        Epochs per step of the ``"step"`` schedule.
    n_epochs : int, optional
        Length of the ``"linear"`` schedule.
    legacy : {"rate", "factor"} or None
        Meaning of a one-parameter callable (the deprecated form).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        When a callable returns something other than a finite number >= 0.
    """
    base = float(base)
    if callable(schedule):
        if _n_required_parameters(schedule) == 1:
            value = schedule(epoch)
            what = "learning rate" if legacy == "rate" else "factor"
            _check_value(value, f"{name}({epoch})", what)
            return float(value) if legacy == "rate" else base * float(value)
        value = schedule(epoch, base)
        _check_value(value, f"{name}({epoch}, {base:g})", "learning rate")
        return float(value)
    if schedule == "exponential":
        return base * decay**epoch
    if schedule == "step":
        return base * decay ** (epoch // step_size)
    if schedule == "linear":
        return base * max(1.0 - epoch / max(n_epochs or 1, 1), 0.0)
    return base


def _check_value(value, call, what):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{call} must return a finite {what} >= 0, got {value!r}.")


def momentum_at(epoch, momentum, final_momentum=None, switch_epoch=None):
    """Momentum of the 0-based ``epoch``: ``momentum`` before ``switch_epoch``, then ``final_momentum``.

    Without a switch (``final_momentum`` or ``switch_epoch`` None) it is ``momentum`` throughout.
    """
    if final_momentum is None or switch_epoch is None or epoch < switch_epoch:
        return float(momentum)
    return float(final_momentum)
