"""Training that cannot fail silently: the checks behind dbn's ``ConvergenceWarning``.

A run that ends without having learnt says so, with :class:`sklearn.exceptions.ConvergenceWarning`
and a message that names the estimator (for a DBN, the layer), what was measured and the remedy.
The estimators compute the measurements (cheaply, on data they already hold); the thresholds and
the wording live here, in one place.

Fine-tuning by back-propagation (:func:`backprop_convergence_message`)
-----------------------------------------------------------------------
Four signs, checked when :meth:`fit` ends at ``max_iter`` or by the ``n_iter_no_change`` rule, never
after ``partial_fit``, a callback's stop, an interrupt or the resume of a finished checkpoint:

- Not converged: training ran to ``max_iter`` without the stopping rule firing, i.e. the loss (or
  the validation score) still improved by more than ``tol`` within the last ``n_iter_no_change``
  epochs. This is scikit-learn's own rule and message ("Maximum iterations (N) reached and the
  optimization hasn't converged yet.").
- Not learnt: the final training loss is at least :data:`BACKPROP_HIGH_LOSS` (90 %) of the loss of
  the best constant prediction (:func:`constant_prediction_loss`: the class frequencies for a
  classifier, the mean target for a regressor, the mean image for an autoencoder, whose
  cross-entropy is counted above its floor, the entropy of the data themselves). Measured on
  healthy runs that cannot fit their data well, the final loss reached at most 0.81 of that loss
  (scikit-learn's digits with half the labels replaced at random, 0-100 hidden units:
  0.74-0.81; a 2-unit autoencoder code on the digits: 0.76; diabetes regression: 0.46-0.49;
  digits with 20 % noisy labels: 0.41-0.50; clean digits: 0.006-0.03). Stuck runs were at or
  above 1.0: SGD at learning rates 10 and 50 (17.5 and 100: the loss oscillates above chance),
  ``alpha=10`` (0.997), and MLPs fine-tuned by SGD from DBNs whose first layer collapsed on
  flipped MNIST (1.07 after 60 epochs, 1.48 after 12). Labels unrelated to the inputs give
  0.94-0.99 and are reported too: nothing was learnt. A loss below 0.9 of chance cannot tell a
  hard problem from a slow optimiser, so a slow run that is still improving is caught by the
  first sign instead (the case of 0.318 after 100 SGD epochs).
- Oscillating (only without a validation split, whose best epoch the estimator keeps): the final
  training loss is at least :data:`BACKPROP_OSCILLATION` (1.1) times the best epoch's (both
  counted above the least possible loss, zero for a classifier), and above it by at least
  :data:`BACKPROP_OSCILLATION_SHARE` (2.5 %) of the constant prediction's loss. The stopping
  rule fires on a loss that has not improved for ``n_iter_no_change`` epochs, so a loss that
  swings up and down stops in whatever state its last epoch left, and the net keeps those
  weights. First measured on Fashion-MNIST with every pixel flipped, ``DBN()`` then
  ``to_mlp()`` (SGD 0.1, momentum 0.9) on 1,000 labels: one run stopped after 35 epochs at
  0.197 against a best of 0.128 (0.030 of chance above it), with 20.6 % validation error
  against 18.0 % at its best epoch; at momentum 0.5 the same net's loss fell smoothly. Then on
  a panel (``benchmarks/convergence_study.py``, 135 runs: up to 10 cross-validation folds of
  digits, digits with half the labels at random, rectangles, wine, breast-cancer and four MASS
  tables, fine-tuned at the defaults and, on real-valued inputs, by SGD 0.1). There the
  swing of a run's last epoch did not predict its held-out error (of 116 runs the rule stopped,
  the last epoch was better than the best loss's in 25, worse in 19), but large swings marked the runs that SGD had left
  stalled: 7 SGD runs ended at least 5 points of held-out error above Adam on the same fold
  (crabs: 10-30 % against 0-2.5 %, the loss at 0.20-0.34 of chance). The former thresholds,
  1.25 and 2 %, reported 2 of them and 1 healthy run; 1.1 and 2.5 % (as 1.05-1.1 with
  2.5-3 %) report 5 and no other run (ratios 1.14-1.32, shares 0.031-0.086; the runs not
  reported had a share of at most 0.023, or a ratio of at most 1.05). The other two stalled
  slowly, without a swing. Converged runs end at or near their best (104 of the 135 within
  1.05); at small losses the relative swings of SGD are large but the absolute ones tiny, which
  the second threshold leaves out.

- Cut short (only with early stopping on a validation split, when the rule ended the run):
  the validation loss at the last epoch is below the validation loss at the epoch whose weights
  were kept (the best validation score) by at least :data:`EARLY_STOP_STILL_LEARNING` (5 %) of
  the constant prediction's loss. The rule watches the validation accuracy, as scikit-learn's
  does; on a few dozen rows it saturates (every row right) or does not move for
  ``n_iter_no_change`` epochs of one or two updates each, while the net still improves. First
  seen in the eighteenth panel round: Adam on wine with early stopping on a tenth of its rows
  stopped after about 20 epochs at 14-26 % held-out error. Measured on 135 early-stopped runs
  (``benchmarks/early_stopping_study.py``: 5 folds of nine small sets, a tenth or a fifth held
  out, or a tenth with ``n_iter_no_change=50``): on digits, digits with half the labels at
  random and rectangles the validation loss fell after the kept epoch by at most 0.023 of chance
  (with more patience, on the noisy labels, it rose by up to 0.40: overfitting, which early
  stopping is for); on the small tables by up to 0.73. Of the 35 runs whose held-out error was
  5 points or more above the same net's without early stopping, 26 are reported with the
  high-loss sign (crabs, whose kept epoch was the first), none of the healthy runs, and 32 of
  the other 55 small-table runs, which also kept an epoch before the validation loss had
  stopped falling. Training losses were tried first and dropped: their fall over the last
  epochs is large for a net that learns quickly, and the kept epoch's training loss is far
  above the last one's for a net that goes on to memorise noisy labels.

RBM pretraining (:func:`rbm_collapse_signs`)
--------------------------------------------
Checked at the end of every :meth:`~dbn.BernoulliRBM.fit` and of every DBN layer, on every path
(in process, :mod:`dbn.dask` and :mod:`dbn.out_of_core`, through
:func:`dbn._rbm_trainer.warn_if_collapsed`), from the monitoring subset the RBM already keeps
(``monitor_size`` rows; on a cluster the first rows of each shard, gathered): one more
hidden-unit pass and the per-feature variance of the subset, computed once. The signs:

- No better than the mean: the monitored reconstruction error is at least
  :data:`RBM_NO_BETTER_THAN_MEAN` (90 %) of the error of reconstructing every row by the mean of
  the data (the sum of the per-feature variances), which is where training starts: the visible
  biases are initialised to the data's mean and the weights are small (Hinton 2010, section 8).
  An error that rose during training ends above it.
- Constant hidden units: at least :data:`RBM_CONSTANT_UNITS` (90 %) of the hidden units have an
  activation whose standard deviation over the subset is below :data:`RBM_CONSTANT_STD` (1e-3),
  dead or saturated: the features carry nothing about the data.
- Exploding weights: a weight above :data:`RBM_WEIGHT_LIMIT` (1e3) in magnitude, or a non-finite
  reconstruction error, before the weights overflow to NaN.
- Constant inputs (DBN layers above the first only): the mean variance of the layer's inputs, the
  features of the layer below, is below :data:`DBN_CONSTANT_INPUTS` (1e-3): that layer collapsed or
  learnt too little, and this one cannot learn from it.

Measurements (CD-1, minibatches of 10 at momentum 0.9; ratio = reconstruction error / error of
the mean, constant = fraction of constant hidden units; at the end of training unless said).

- The known collapse, MNIST with every pixel flipped, ``DBN([500, 500])``, learning rate 0.1:
  layer 1 ratio 1.04-1.20 and constant 0.98-1.00 over 5 epochs on 30,000 images (1.01 and 1.00
  after 3 epochs on 10,000); its layer 2 sees inputs of mean variance 2.2e-4 (30,000 images) or
  5e-17 (10,000). The same on the digits (``load_digits().data > 8``, flipped) with 200 hidden
  units at learning rate 0.2, 2 epochs, 5 seeds: ratio 0.97-1.03, constant 0.89-1.00.
- Minibatches of 1 at learning rates 0.2-1.0 on the digits, without centring: ratio 1.2-2.0,
  constant 0.8-1.0. (Centred at 0.2: ratio 0.77-0.81, constant 0.70-0.77, a poor model that
  stays under both thresholds and is not reported.) A Gaussian RBM at learning rate 0.2 on
  standardised digits: weights of 8e13 after one epoch, still finite.
- Healthy: unflipped MNIST, same settings, 30,000 images: ratio 0.21-0.24 and constant
  0.01-0.02 (layer 1), 0.09-0.11 and 0 (layer 2, inputs of mean variance 0.038); flipped MNIST
  with ``centering=True``: 0.14-0.15 and 0 (layer 1), 0.09-0.12 and 0 (layer 2). A
  ``BernoulliRBM(500)`` at its own defaults (batch 100, momentum 0.5) on flipped MNIST: ratio
  0.28 with 0.75 constant units after 5 epochs (it learns, with a quarter of its units: hence
  90 % constant units, not a majority); with PCD on unflipped MNIST 0.25 and 0.01, the error
  falling every epoch. The digits' settings above, 5 seeds:
  unflipped 0.19-0.32 and at most 0.005; centred, flipped or not, 0.02-0.04 and 0. Weights at
  most 13 in magnitude after 100 epochs on the digits.
- Early states of runs that learn later can lie near or above the thresholds: unflipped MNIST
  after one epoch on 5,000 images (500 updates) has ratio 0.93 and 0.89 constant units (by epoch
  3: 0.35 and 0.006); flipped digits with 64 units at learning rate 0.1 after one epoch, ratio
  1.02 (0.36 by epoch 5). Such a model has not learnt yet, and is reported.
- An RBM on independent random bits cannot beat the mean: ratio 1.00 after 2 epochs on 300 rows.
  It is reported (it learnt nothing) until it overfits the rows (0.2 after 20 epochs).

References
----------
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR
2010-003.
Melchior, J., Fischer, A. and Wiskott, L. (2016). How to center deep Boltzmann machines. JMLR 17.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

__all__ = [
    "BACKPROP_HIGH_LOSS",
    "EARLY_STOP_STILL_LEARNING",
    "DBN_CONSTANT_INPUTS",
    "RBM_CONSTANT_STD",
    "RBM_CONSTANT_UNITS",
    "RBM_NO_BETTER_THAN_MEAN",
    "RBM_WEIGHT_LIMIT",
    "backprop_convergence_message",
    "constant_prediction_loss",
    "rbm_collapse_message",
    "rbm_collapse_signs",
]

#: Final training loss, as a fraction of the best constant prediction's, from which a backprop run
#: is reported as not having learnt (healthy runs measured up to 0.81, stuck ones from 0.997).
BACKPROP_HIGH_LOSS = 0.9
#: A run that ends with its training loss this many times its best epoch's, and above it by
#: ``BACKPROP_OSCILLATION_SHARE`` of the constant prediction's loss, is reported as oscillating
#: (measured on a panel of 135 runs: ``benchmarks/convergence_study.py``).
BACKPROP_OSCILLATION = 1.1
BACKPROP_OSCILLATION_SHARE = 0.025
#: Early stopping whose validation loss fell, from the kept epoch (the best validation score) to
#: the last, by this share of the constant prediction's loss is reported: the net was still
#: improving on the validation rows, which their score (on a few rows it saturates or does not
#: move) did not show. Measured on 135 early-stopped runs (``benchmarks/early_stopping_study.py``):
#: at most 0.023 on the sets where the nets learnt well or could not learn more (digits, digits
#: with half the labels at random, rectangles), up to 0.73 on small tables; twice the first.
EARLY_STOP_STILL_LEARNING = 0.05
#: Reconstruction error, as a fraction of the error of the data's mean, from which an RBM is
#: reported as not learning (collapsed runs measured from 0.97, healthy ones up to 0.43).
RBM_NO_BETTER_THAN_MEAN = 0.9
#: A hidden unit whose activation varies less than this (standard deviation over the monitoring
#: subset) is constant: dead or saturated.
RBM_CONSTANT_STD = 1e-3
#: Fraction of constant hidden units from which an RBM is reported (collapsed runs from 0.89, that
#: one also no better than the mean; healthy ones up to 0.02, and 0.75 for an RBM that learns with
#: a quarter of its units).
RBM_CONSTANT_UNITS = 0.9
#: Largest weight magnitude of a healthy RBM (measured up to 13).
RBM_WEIGHT_LIMIT = 1e3
#: Mean variance of a DBN layer's inputs (the features of the layer below) under which they are
#: constant (collapsed layer 1 of flipped MNIST: 2.2e-4; healthy layer 2 of MNIST: 0.038).
DBN_CONSTANT_INPUTS = 1e-3

# Rows used to estimate the constant prediction's loss: enough for three digits, and cheap.
_MAX_ROWS = 10_000


_CONSTANT_PREDICTIONS = {
    "softmax_cross_entropy": "the class frequencies",
    "half_squared_error": "the mean target",
    "sigmoid_cross_entropy": "the mean of each feature",
    "squared_error": "the mean of each feature",
}


def _share(ratio):
    """``ratio`` in words: "93 % of" or, from ten, "1.2e+05 times"."""
    return f"{100 * ratio:.0f} % of" if ratio < 10 else f"{ratio:.3g} times"


def _binary_entropy(p):
    """Entropy of Bernoulli(p) in nats, 0 at p = 0 and 1."""
    p = np.asarray(p, dtype=np.float64)
    q = 1 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0) + np.where(q > 0, q * np.log(q), 0.0)
    return -terms


def constant_prediction_loss(loss, target):
    """The training loss of the best constant prediction, and the loss's floor.

    Parameters
    ----------
    loss : str
        One of :data:`dbn._backprop.LOSSES`.
    target : ndarray
        What the net is trained to output: class indices (``'softmax_cross_entropy'``), targets
        of shape (n_samples,) or (n_samples, n_outputs) (``'half_squared_error'``, or counts
        for ``'poisson'``, whose baseline predicts the mean count), or the inputs
        themselves (an autoencoder's ``'sigmoid_cross_entropy'`` / ``'squared_error'``). At most
        10,000 evenly spaced rows are read.

    Returns
    -------
    baseline : float
        Loss per sample of always predicting the class frequencies, the mean target or the mean
        row.
    floor : float
        The least loss any prediction can have: 0, except for the cross-entropy of targets in
        (0, 1), whose floor is their own entropy.
    """
    target = np.asarray(target)
    step = max(1, -(-len(target) // _MAX_ROWS))
    target = target[::step]
    if loss == "softmax_cross_entropy":
        counts = np.bincount(target.astype(np.int64).ravel())
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum()), 0.0
    values = target.astype(np.float64).reshape(len(target), -1)
    if loss == "poisson":
        # The half Poisson deviance of predicting the mean count; a perfect fit has 0.
        mean = values.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            rows = xlogy(values, values / mean) - values + mean
        return float(np.nansum(rows, axis=1).mean()), 0.0
    if loss == "sigmoid_cross_entropy":
        baseline = float(_binary_entropy(values.mean(axis=0)).sum())
        return baseline, float(_binary_entropy(values).sum(axis=1).mean())
    scale = 0.5 if loss == "half_squared_error" else 1.0
    return scale * float(values.var(axis=0).sum()), 0.0


def backprop_convergence_message(
    name,
    *,
    final_loss,
    n_iter,
    max_iter,
    reached_max_iter,
    baseline,
    floor,
    solver,
    learning_rate_init,
    alpha,
    tol,
    n_iter_no_change,
    loss,
    best_loss=None,
    momentum=None,
    kept_epoch=None,
    kept_validation_loss=None,
    final_validation_loss=None,
    validation_rows=None,
):
    """The ``ConvergenceWarning`` message of a finished fit, or None when it converged and learnt.

    Parameters
    ----------
    name : str
        The estimator, e.g. ``"MLPClassifier"``.
    final_loss : float
        The last epoch's training loss.
    n_iter, max_iter : int
    reached_max_iter : bool
        Training ran to ``max_iter`` without the ``n_iter_no_change`` rule firing.
    baseline, floor : float
        From :func:`constant_prediction_loss`.
    solver : str
    learning_rate_init, alpha, tol : float
    n_iter_no_change : int
    loss : str
        The loss (:data:`dbn._backprop.LOSSES`), which says what the constant prediction is.
    best_loss : float, optional
        The lowest training loss of the run's epochs; None when a validation split chose the
        weights kept (then the oscillation sign is not checked).
    momentum : float, optional
        The SGD momentum, named in the oscillation's remedy.
    kept_epoch : int, optional
        With early stopping on a validation split: the epoch whose weights were kept (its best
        validation score), counted from 1.
    kept_validation_loss, final_validation_loss : float, optional
        The validation loss at that epoch and at the last, which the "cut short" sign compares.
    validation_rows : int, optional
        The validation split's rows, named in that sign's message.
    """
    baseline_name = _CONSTANT_PREDICTIONS.get(loss, "a constant")
    span = baseline - floor
    excess = (final_loss - floor) / span if span > 0 else 0.0
    high = not np.isfinite(final_loss) or excess >= BACKPROP_HIGH_LOSS
    oscillating = (
        not high
        and best_loss is not None
        and span > 0
        and final_loss - floor >= BACKPROP_OSCILLATION * (best_loss - floor)
        and final_loss - best_loss >= BACKPROP_OSCILLATION_SHARE * span
    )
    cut_short = (
        not reached_max_iter
        and kept_validation_loss is not None
        and final_validation_loss is not None
        and span > 0
        and kept_validation_loss - final_validation_loss >= EARLY_STOP_STILL_LEARNING * span
    )
    if not (reached_max_iter or high or oscillating or cut_short):
        return None
    parts = [f"{name}:"]
    if cut_short:
        rows = f" on {validation_rows} rows" if validation_rows else ""
        parts.append(
            f"early stopping ended training after {n_iter} epochs and kept the weights of epoch "
            f"{kept_epoch}, its best validation score{rows}, but the validation loss went on "
            f"falling after it, from {kept_validation_loss:.4g} to {final_validation_loss:.4g} "
            f"({_share((kept_validation_loss - final_validation_loss) / span)} the loss of "
            f"always predicting {baseline_name}, {baseline:.4g}): the net was still improving, "
            "which the score did not show."
        )
    elif reached_max_iter:
        prefix = "Stochastic Optimizer: " if solver != "cg" else ""
        parts.append(
            f"{prefix}Maximum iterations ({max_iter}) reached and the optimization hasn't "
            f"converged yet (training loss {final_loss:.4g}, still improving by more than "
            f"tol={tol:g} within n_iter_no_change={n_iter_no_change} epochs)."
        )
    else:
        parts.append(
            f"training stopped after {n_iter} epochs (no improvement by more than tol={tol:g} "
            f"for n_iter_no_change={n_iter_no_change} epochs) with the training loss at "
            f"{final_loss:.4g}."
        )
    if oscillating:
        parts.append(
            f"That is {(final_loss - floor) / (best_loss - floor):.2f} times its best epoch's "
            f"({best_loss:.4g}): the loss oscillates, and the net keeps its last epoch's weights."
        )
    if high:
        floor_note = f", both counted above the least possible loss ({floor:.4g})" if floor else ""
        parts.append(
            f"That is {_share(excess)} the loss of always predicting {baseline_name} "
            f"({baseline:.4g}){floor_note}: the network has not learnt."
        )
    remedies = []
    if cut_short:
        remedies.append(
            "hold out more rows for validation (validation_fraction, or a larger X_val), or "
            "fine-tune without early stopping (early_stopping=False keeps the last epoch's "
            "weights)"
        )
    if oscillating:
        lower = f"lower learning_rate_init (now {learning_rate_init:g})"
        if solver == "sgd" and momentum:
            lower += f" or momentum (now {momentum:g})"
        if solver == "sgd":  # Adam fitted every fold where SGD 0.1 stalled in a swing
            lower += ", use solver='adam'"
        remedies.append(f"{lower}, or pass X_val and y_val so that the best epoch is kept")
    if reached_max_iter:
        remedies.append(f"increase max_iter (now {max_iter})")
    if solver == "sgd" and not oscillating:
        remedies.append(
            f"lower learning_rate_init (now {learning_rate_init:g}) if the loss oscillates, or "
            "use solver='adam'"
        )
    elif high:
        remedies.append(
            f"try another learning_rate_init (now {learning_rate_init:g})"
            if solver == "adam"
            else "try solver='adam'"
        )
    if high and alpha >= 0.01:  # alpha=1 held the digits loss at 0.38 of chance, 10 at 1.0
        remedies.append(f"lower alpha (now {alpha:g}) if the penalty holds the loss up")
    parts.append("Remedy: " + "; ".join(remedies) + ".")
    return " ".join(parts)


def rbm_collapse_signs(
    *,
    reconstruction_error,
    baseline,
    hidden_std,
    max_abs_weight,
    input_variance=None,
):
    """The signs that an RBM is not learning, as sentences (an empty list: none).

    Parameters
    ----------
    reconstruction_error : float or None
        The last monitored reconstruction error (``history_['reconstruction_error'][-1]``); None
        when not monitored.
    baseline : float
        The error of reconstructing every monitored row by the mean of the rows (the sum of the
        per-feature variances).
    hidden_std : ndarray of shape (n_hidden,)
        Standard deviation of each hidden unit's activation over the monitored rows.
    max_abs_weight : float
    input_variance : float, optional
        Mean per-feature variance of the inputs, for a DBN layer above the first (its inputs are
        the features of the layer below); None for an RBM on data.
    """
    signs = []
    constant_inputs = input_variance is not None and input_variance < DBN_CONSTANT_INPUTS
    if not np.isfinite(max_abs_weight) or max_abs_weight > RBM_WEIGHT_LIMIT:
        signs.append(f"its weights grew to {max_abs_weight:.3g} in magnitude")
    if reconstruction_error is None:
        pass
    elif not np.isfinite(reconstruction_error):
        signs.append(f"its reconstruction error became {reconstruction_error}")
    elif (
        baseline > 0
        and not constant_inputs  # then the error of their mean is ~0 and the ratio means nothing
        and reconstruction_error >= RBM_NO_BETTER_THAN_MEAN * baseline
    ):
        signs.append(
            f"its reconstruction error, {reconstruction_error:.4g}, is "
            f"{_share(reconstruction_error / baseline)} the error of reconstructing every row by "
            f"the mean of the data ({baseline:.4g}), where training starts"
        )
    if hidden_std is not None and len(hidden_std):
        constant = float(np.mean(~(np.asarray(hidden_std) >= RBM_CONSTANT_STD)))
        if constant >= RBM_CONSTANT_UNITS:
            signs.append(
                f"{100 * constant:.0f} % of its hidden units are constant across the data (dead "
                "or saturated)"
            )
    if constant_inputs:
        signs.append(
            f"its inputs, the features of the layer below, hardly vary (mean variance "
            f"{input_variance:.2g}): that layer collapsed or learnt too little"
        )
    return signs


def rbm_collapse_message(
    name,
    signs,
    *,
    n_epochs,
    learning_rate,
    batch_size,
    momentum,
    centering,
    layer=None,
    n_layers=None,
):
    """The ``ConvergenceWarning`` message of an RBM that shows :func:`rbm_collapse_signs`.

    Parameters
    ----------
    name : str
        The model, e.g. ``"BernoulliRBM(500)"``.
    signs : list of str
    n_epochs : int
        Epochs trained.
    learning_rate, momentum : float
        Those of the last epoch.
    batch_size : int
    centering : bool or None
        The model's ``centering``; None where the model has no such option (Gaussian visible
        units), whose remedy is then to standardise the data.
    layer, n_layers : int, optional
        The 0-based layer of a DBN and the number of layers: the message names "layer 2 of 3".
        The remedies are named as parameters of both the RBM and the DBN (shared by every
        layer, or set for one by ``layer_params``).
    """
    where = name if layer is None else f"DBN layer {layer + 1} of {n_layers} ({name})"
    message = (
        f"{where} is not learning after {n_epochs} epoch{'s' if n_epochs != 1 else ''}: "
        + "; ".join(signs)
        + "."
    )
    remedies = []
    if centering is False:
        remedies.append("centering=True")
    elif centering is None:
        remedies.append("standardised data (zero mean, unit variance per feature)")
    remedies.append(
        f"a lower learning_rate (now {learning_rate:g}{'' if layer is None else ' in this layer'})"
    )
    remedies.append(f"a larger batch_size (now {batch_size})")
    if momentum > 0:
        remedies.append(f"a lower momentum (now {momentum:g})")
    advice = "Try " + ", ".join(remedies[:-1]) + " or " + remedies[-1]
    if layer is not None and layer > 0 and any("layer below" in sign for sign in signs):
        # The layer below may have passed every check of its own and still vary little: a
        # Gaussian first layer on two or three standardised features (synth, kyphosis) does.
        advice = (
            f"Fix layer {layer} first: its own warning, if it gave one, names the remedy; with "
            "none, it learnt too little to pass on (a Gaussian layer on a few standardised "
            "features can, and pretraining may then not pay: compare the same net without it, "
            "dbn.DBNClassifier(init='xavier_uniform')). " + advice
        )
    return f"{message} {advice}; if the error is still falling, more epochs (n_iter)."
