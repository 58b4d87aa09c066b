"""An RBM's epochs as the training engine drives them: one CD pass, monitoring, the verbose line,
and the check that the model learnt.

:class:`RBMEpochTrainer` is what :meth:`dbn.BernoulliRBM.epoch_trainer` returns, for
:func:`dbn._training.loop.run_epochs`; :meth:`~dbn.BernoulliRBM.fit` and :meth:`dbn.DBN.pretrain`
both drive it. The estimator stays the model (parameters, conditionals, energies, files).

References
----------
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR
2010-003 (monitoring: sections 5 and 6).
Besag, J. (1975). Statistical analysis of non-lattice data. The Statistician 24(3)
(pseudo-likelihood).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._cd import dense_rows
from ._kernels import rbm as kernels
from ._training.convergence import rbm_collapse_message, rbm_collapse_signs
from ._training.loop import EpochTrainer
from ._training.stacklevel import external_stacklevel
from ._training.verbose import epoch_line
from ._validation import DivergenceError

__all__ = [
    "BLOWUP_FACTOR",
    "HISTORY_KEYS",
    "RBMEpochTrainer",
    "raise_if_blown_up",
    "report_epoch",
    "warn_if_collapsed",
]

#: A monitored reconstruction error this many times the rows' mean squared norm means the model
#: has blown up (its reconstructions are about 1,000 times the data's size) even while its weights
#: are still finite: a Gaussian RBM at too high a rate grows them geometrically, to 1e296 in
#: 19 epochs on scikit-learn's wine, and only the last epochs overflow. Binary visible units
#: cannot get there (their means lie in [0, 1]).
BLOWUP_FACTOR = 1e6


def raise_if_blown_up(name, error, scale, epoch, learning_rate, where=""):
    """Raise a :class:`~dbn.DivergenceError` for an epoch whose monitored reconstruction error
    ``error`` (per row) is not finite, or above ``BLOWUP_FACTOR`` times ``scale`` (the
    monitored rows' mean squared norm; not compared when it is 0)."""
    if np.isfinite(error) and not (scale > 0 and error > BLOWUP_FACTOR * scale):
        return
    ratio = f" ({error / scale:.3g} times the rows' mean squared norm)" if scale > 0 else ""
    raise DivergenceError(
        f"{name} diverged in epoch {epoch + 1}{where}: its reconstruction error reached "
        f"{error:.3g}{ratio}. Use a smaller learning_rate (got {learning_rate:g}) or momentum, or "
        f"standardise the data; the model keeps the parameters of the last completed epoch "
        f"({epoch})."
    )


#: Keys of an RBM's ``history_``, one entry per completed epoch. ``epoch`` counts completed
#: epochs from 1 and ``time`` holds each epoch's own seconds, as in every dbn estimator.
HISTORY_KEYS = (
    "epoch",
    "reconstruction_error",
    "pseudo_likelihood",
    "free_energy_train",
    "free_energy_validation",
    "free_energy_gap",
    "learning_rate",
    "momentum",
    "time",
)
_MONITORED = HISTORY_KEYS[1:6]


class RBMEpochTrainer(EpochTrainer):
    """An RBM's epochs on ``X`` (see :meth:`dbn.BernoulliRBM.epoch_trainer`).

    Parameters
    ----------
    rbm : BernoulliRBM or GaussianBernoulliRBM
        Initialised or restored; trained in place.
    X : ndarray or scipy.sparse CSR matrix
        Checked training data in the model's dtype.
    X_val : ndarray or scipy.sparse matrix, optional
        Checked held-out data for the free-energy monitor.
    name : str, optional
        Who trains, in the verbose lines and warnings: the estimator's class name by default.

    Attributes
    ----------
    cd : dbn._cd.ContrastiveDivergence
        The CD step driven.
    X_monitor : ndarray or None
        The monitored rows (``monitor_size`` of them, drawn from a stream of their own).
    mean_error : float
        Error of reconstructing each monitored row by the mean of the rows, where training
        starts: the reference of the collapse check.
    """

    def __init__(self, rbm, X, X_val=None, *, name=None):
        self.rbm, self.X = rbm, X
        self.name = type(rbm).__name__ if name is None else name
        self.cd = rbm._contrastive_divergence(X)
        # Monitoring draws from its own stream, so it never changes the training weights and a
        # resumed run sees the same monitoring subset.
        seed = rbm.random_state
        if not isinstance(seed, numbers.Integral):
            seed = int(rbm._rng.integers(np.iinfo(np.int64).max))
        self.monitor_rng = np.random.default_rng([int(seed), 12345])
        dtype = rbm.components_.dtype
        n_monitor = min(rbm.monitor_size, X.shape[0])
        rows = np.sort(self.monitor_rng.choice(X.shape[0], n_monitor, replace=False))
        self.X_monitor = dense_rows(X, rows, dtype) if n_monitor else None
        self.mean_error = self.scale = 0.0
        if n_monitor:
            self.mean_error = float(self.X_monitor.var(axis=0, dtype=np.float64).sum())
            squares = np.square(self.X_monitor, dtype=np.float64)
            self.scale = float(squares.sum() / n_monitor)
        self.start_epoch = rbm.n_iter_
        if X_val is not None:
            n_val = X_val.shape[0] if X_val.shape[0] <= max(n_monitor, 1) else max(n_monitor, 1)
            X_val = dense_rows(X_val, np.arange(n_val), dtype)
        self.X_val = X_val

    def run_epoch(self, epoch):
        rbm = self.rbm
        n = self.X.shape[0]
        order = rbm._rng.permutation(n) if rbm.shuffle else np.arange(n)
        lr, momentum = rbm.schedule(epoch)
        diverged_at = self.cd.run_epoch(self.X, order, lr, momentum, rbm._rng)
        if diverged_at:
            raise DivergenceError(rbm._divergence_message(epoch, diverged_at, lr))
        return {"learning_rate": lr, "momentum": momentum}

    def evaluate(self, epoch, logs):
        """Reconstruction error, pseudo-likelihood (binary visible units) and mean free energy
        of the monitored rows, and of ``X_val`` (NaN where not monitored)."""
        rbm, X_monitor, X_val = self.rbm, self.X_monitor, self.X_val
        record = dict.fromkeys(_MONITORED, float("nan"))
        if X_monitor is not None:
            recon = rbm._visible_mean(rbm._hidden_mean(X_monitor))
            record["reconstruction_error"] = (
                kernels.squared_error_sum(X_monitor, recon) / X_monitor.shape[0]
            )
            raise_if_blown_up(
                self.name, record["reconstruction_error"], self.scale, epoch, logs["learning_rate"]
            )
            if rbm._visible_unit == "bernoulli":
                record["pseudo_likelihood"] = float(
                    np.mean(rbm._pseudo_likelihood(X_monitor, self.monitor_rng))
                )
            record["free_energy_train"] = float(np.mean(rbm._free_energy(X_monitor)))
        if X_val is not None:
            record["free_energy_validation"] = float(np.mean(rbm._free_energy(X_val)))
            record["free_energy_gap"] = (
                record["free_energy_validation"] - record["free_energy_train"]
            )
        return record

    def snapshot(self):
        rbm = self.rbm
        parameters = {name: getattr(rbm, name).copy(order="K") for name in rbm._parameter_names()}
        return parameters, self.cd.get_state(), rbm.n_iter_, rbm._rng.bit_generator.state

    def restore(self, snapshot):
        parameters, state, n_iter, rng_state = snapshot
        rbm = self.rbm
        for name, value in parameters.items():
            getattr(rbm, name)[...] = value
        self.cd.set_state(state)
        rbm.n_iter_ = n_iter
        rbm._rng.bit_generator.state = rng_state

    def epoch_completed(self, completed, logs):
        self.rbm.n_iter_ = completed

    def report(self, completed, logs):
        report_epoch(self.name, self.rbm.verbose, logs)

    def warn_if_not_learning(self, result, *, layer=None, n_layers=None):
        """Warn when the model trained by this run shows the signs of not learning.

        A :class:`sklearn.exceptions.ConvergenceWarning` naming the model (for a DBN, ``layer``
        of ``n_layers``), the signs and the remedies; the rules are those of
        :func:`warn_if_collapsed`. Nothing is checked after an interrupt or when the run trained
        no epoch (a resumed, finished model); a callback's stop is checked, since the signs
        describe the model, not how long it trained.

        Parameters
        ----------
        result : dbn._training.loop.LoopResult
            What :func:`~dbn._training.loop.run_epochs` returned for this trainer.
        layer, n_layers : int, optional
            The 0-based index of a DBN layer and the number of layers.
        """
        if result.interrupted or result.completed <= self.start_epoch:
            return
        warn_if_collapsed(self.rbm, self.X_monitor, self.mean_error, layer=layer, n_layers=n_layers)


def report_epoch(name, verbose, logs):
    """Print an RBM's epoch line (:func:`dbn._training.verbose.epoch_line`) when ``verbose``.

    At ``verbose=1`` the line is scikit-learn's (the pseudo-likelihood, or the reconstruction
    error where it is not monitored: Gaussian visible units, the cluster); from 2 on it adds the
    reconstruction error and the free-energy gap.
    """
    if not verbose:
        return
    likelihood = logs.get("pseudo_likelihood")
    if verbose >= 2:
        keys = ("pseudo_likelihood", "reconstruction_error", "free_energy_gap")
    elif likelihood is not None and likelihood == likelihood:  # NaN: not monitored
        keys = ("pseudo_likelihood",)
    else:
        keys = ("reconstruction_error",)
    print(epoch_line(name, logs, keys), flush=True)


def warn_if_collapsed(rbm, X_monitor, mean_error, *, layer=None, n_layers=None):
    """Warn (ConvergenceWarning) when the trained ``rbm`` shows the signs of not learning.

    The signs, thresholds and measurements are those of :mod:`dbn._training.convergence`: the
    reconstruction error of the monitored rows no better than their mean's, most hidden units
    constant across them, exploding weights, or (a DBN layer above the first) inputs that hardly
    vary. Every path that trains an RBM calls this once its training ends: ``fit``, the DBN's
    layers, and the cluster and out-of-core drivers.

    Parameters
    ----------
    rbm : BernoulliRBM or GaussianBernoulliRBM
        The trained model, its ``history_`` holding the run's epochs.
    X_monitor : ndarray or None
        The monitored rows, in the model's dtype (None: only the weights' size is checked).
    mean_error : float
        The summed per-feature variance of ``X_monitor``: the error of reconstructing every row
        by the mean, where training starts.
    layer, n_layers : int, optional
        The 0-based index of a DBN layer and the number of layers.
    """
    error = hidden_std = input_variance = None
    with np.errstate(all="ignore"):
        if X_monitor is not None:
            error = float(rbm.history_["reconstruction_error"][-1])
            hidden_std = rbm._hidden_mean(X_monitor).std(axis=0)
            if layer:
                input_variance = mean_error / X_monitor.shape[1]
        largest = float(np.max(np.abs(rbm.components_)))
    signs = rbm_collapse_signs(
        reconstruction_error=error,
        baseline=mean_error,
        hidden_std=hidden_std,
        max_abs_weight=largest,
        input_variance=input_variance,
    )
    if not signs:
        return
    history = rbm.history_
    message = rbm_collapse_message(
        f"{type(rbm).__name__}({rbm.n_components})",
        signs,
        n_epochs=len(history["epoch"]),
        learning_rate=float(history["learning_rate"][-1]),
        batch_size=int(rbm._effective_batch_size()),
        momentum=float(history["momentum"][-1]),
        centering=None if rbm._visible_unit == "gaussian" else bool(rbm.centering),
        layer=layer,
        n_layers=n_layers,
    )
    warnings.warn(message, ConvergenceWarning, stacklevel=external_stacklevel())
