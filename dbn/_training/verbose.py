"""What ``verbose`` shows, for every estimator trained by epochs.

``verbose`` is an int (or a bool, as in scikit-learn): 0 is silent; from 1 on, every completed
epoch prints one line on stdout in scikit-learn's form, for example
``[BernoulliRBM] Iteration 3, pseudo-likelihood = -21.03, time = 0.12s`` (the line
:class:`sklearn.neural_network.BernoulliRBM` prints, so that tools which read it read dbn's), and
a progress bar is drawn on stderr when stderr is a terminal (never into a log file or a captured
stream). The estimators choose the entries of the line; larger ``verbose`` may add entries.
"""

from __future__ import annotations

import sys

__all__ = ["epoch_line", "progress_bar"]

# How a history key is named in the line (scikit-learn's wording where it has one).
_LABELS = {
    "pseudo_likelihood": "pseudo-likelihood",
    "reconstruction_error": "reconstruction error",
    "free_energy_gap": "free-energy gap",
}


def epoch_line(name, logs, keys):
    """``[name] Iteration <epoch>, <entry> = <value>, ..., time = <seconds>s``.

    Parameters
    ----------
    name : str
        Who trained, e.g. the estimator's class name or ``"DBN layer 2/3"``.
    logs : dict
        The epoch's history entries; ``logs["epoch"]`` counts completed epochs from 1 and
        ``logs["time"]`` holds the epoch's seconds.
    keys : sequence of str
        Entries to show, in order; those missing or NaN (not monitored) are left out.

    Returns
    -------
    str
    """
    parts = [f"[{name}] Iteration {int(logs['epoch'])}"]
    for key in keys:
        value = logs.get(key)
        if value is not None and value == value:  # NaN: not monitored
            parts.append(f"{_LABELS.get(key, key)} = {float(value):.2f}")
    parts.append(f"time = {float(logs['time']):.2f}s")
    return ", ".join(parts)


def progress_bar(description, total, verbose):
    """A tqdm bar on stderr when ``verbose`` and stderr is a terminal, else None."""
    if not verbose or not _is_terminal(sys.stderr):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=False, file=sys.stderr)


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed streams
        return False
