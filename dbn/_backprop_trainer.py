"""A backprop estimator's training runs: its epochs as the training engine drives them, and the
full-batch L-BFGS-B run of solver='lbfgs'.

:class:`BackpropTrainer` is the :class:`~dbn._training.loop.EpochTrainer` of
:meth:`dbn._network.BackpropEstimator._train` for the epoch solvers ('sgd', 'adam', 'cg'), over the
backprop core of :mod:`dbn._backprop` and the optimisers of :mod:`dbn._training.optimizers`;
:func:`train_lbfgs` minimises the whole training loss with scipy's L-BFGS-B, as scikit-learn's MLP
does. The estimator stays the model (weights, counters, history, files).

References
----------
Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
back-propagating errors. Nature, 323, 533-536.

Liu, D. C. and Nocedal, J. (1989). On the limited memory BFGS method for large scale
optimization. Mathematical Programming, 45, 503-528.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._backprop import (
    Net,
    Propagation,
    cg_epoch,
    full_batch_objective,
    minibatch_epoch,
    pack,
)
from ._training.loop import EpochTrainer
from ._training.optimizers import make_optimizer
from ._training.stacklevel import external_stacklevel
from ._validation import DivergenceError

__all__ = ["BackpropTrainer", "shift_first_bias", "train_lbfgs"]


def shift_first_bias(estimator, offset, sign):
    """Move the first layer between raw inputs and inputs centred by ``offset`` (in place).

    ``(x - m) W + (b + m W) = x W + b``: with ``sign=+1`` the bias becomes that of centred inputs,
    with ``-1`` (and the weights trained meanwhile) that of raw inputs again. Nothing with
    ``offset`` None (``center_inputs=False``).
    """
    if offset is not None:
        estimator.intercepts_[0] += sign * (offset @ estimator.coefs_[0])


def train_lbfgs(estimator, X, y, X_val, y_val, P, callbacks, check, sample_weight, val_weight):
    """Minimise the whole training loss with L-BFGS-B (scipy), as scikit-learn's MLP does.

    ``max_iter`` bounds the iterations, ``max_fun`` the loss evaluations and ``tol`` is the
    projected-gradient tolerance. Each iteration is one row of ``history_`` (and one
    ``n_iter_``), goes to the callbacks and, when verbose, prints its line; a callback that
    returns a truthy value stops the minimisation.
    """
    from scipy.optimize import minimize

    if P["dropout"] != (0.0, 0.0) or P.get("max_norm") is not None:
        raise ValueError(
            "solver='lbfgs' minimises a fixed objective: dropout_input, dropout_hidden and "
            "max_norm must be left at 0, 0 and None (they apply to 'sgd' and 'adam')."
        )
    dtype = P["dtype"]
    flat, estimator.coefs_, estimator.intercepts_ = pack(
        estimator.coefs_, estimator.intercepts_, dtype
    )
    net = Net(flat, estimator.coefs_, estimator.intercepts_, P["kinds"], P["loss"], estimator.alpha)
    # center_inputs: L-BFGS-B searches the weights of centred inputs (its x); the model is put
    # back in raw form wherever anyone looks at it (validation, callbacks, the end).
    offset = getattr(estimator, "input_offset_", None)
    if offset is not None:
        X = X - offset
    shift_first_bias(estimator, offset, +1)
    prop = Propagation(net.sizes(), X.shape[0], dtype)
    objective = full_batch_objective(net, X, y, prop, sample_weight)
    last_time = [time.perf_counter()]
    val_key, metric_key = estimator._VALIDATION_KEYS
    stopped = []

    def record(intermediate_result):
        net.flat[...] = intermediate_result.x
        shift_first_bias(estimator, offset, -1)
        logs = {"train_loss": float(intermediate_result.fun), "learning_rate": np.nan}
        if X_val is not None:
            val_loss, metric, _ = estimator._evaluate_weighted(X_val, y_val, val_weight)
            logs.update({val_key: val_loss, metric_key: metric})
        estimator.n_iter_ += 1
        logs["epoch"] = estimator.n_iter_
        # The iteration's own seconds, as an epoch's in run_epochs.
        now = time.perf_counter()
        logs["time"], last_time[0] = now - last_time[0], now
        for key, values in estimator.history_.items():
            value = logs.get(key, np.nan)
            values.append(int(value) if key == "epoch" else float(value))
        if estimator.verbose:
            print(f"Iteration {estimator.n_iter_}, loss = {logs['train_loss']:.8f}")
        if callbacks.on_epoch_end(estimator, estimator.n_iter_, logs):
            stopped.append(estimator.n_iter_)
            raise StopIteration

    x0 = flat.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        result = minimize(
            objective,
            x0,
            method="L-BFGS-B",
            jac=True,
            callback=record,
            options={
                "maxfun": estimator.max_fun,
                "maxiter": estimator.max_iter,
                "gtol": estimator.tol,
            },
        )
    net.flat[...] = result.x
    shift_first_bias(estimator, offset, -1)
    if not np.isfinite(net.flat).all():
        raise DivergenceError(
            "Solver produced non-finite parameter weights. The input data may contain large "
            "values and need to be preprocessed (solver='lbfgs')."
        )
    estimator.t_ += X.shape[0]
    if estimator.history_["train_loss"]:
        estimator.best_loss_ = min(estimator.history_["train_loss"])
    if check and not stopped and result.status != 0:
        message = result.message
        message = message.decode() if isinstance(message, bytes) else message
        warnings.warn(
            f"{type(estimator).__name__}: lbfgs failed to converge after {estimator.n_iter_} "
            f"iteration(s) (status={result.status}): {message}. Increase max_iter "
            f"(currently {estimator.max_iter}) or max_fun (currently {estimator.max_fun}), or "
            "scale the data.",
            ConvergenceWarning,
            stacklevel=external_stacklevel(),
        )


class BackpropTrainer(EpochTrainer):
    """The epochs of a :class:`~dbn._network.BackpropEstimator`, for
    :func:`dbn._training.loop.run_epochs`.

    Owns the buffers of a training run (:class:`~dbn._backprop.Propagation`, the minibatch gather
    buffers) and the optimiser, bound to the estimator's flat parameter vector and stored state.
    With ``tolerate_divergence`` (early stopping), an epoch whose loss or weights become
    non-finite is reported with a NaN loss for the stopping rule to end training, instead of
    raising a DivergenceError.
    """

    def __init__(
        self,
        estimator,
        X,
        y,
        X_val,
        y_val,
        P,
        *,
        sample_weight=None,
        val_weight=None,
        tolerate_divergence=False,
    ):
        est = self.estimator = estimator
        dtype = P["dtype"]
        flat, est.coefs_, est.intercepts_ = pack(est.coefs_, est.intercepts_, dtype)
        self.net = Net(
            flat, est.coefs_, est.intercepts_, P["kinds"], P["loss"], est.alpha, P["keep_logits"]
        )
        # center_inputs: the epochs see X - m and a first-layer bias b + m W (the same function);
        # between epochs the model is in raw form again (see shift_first_bias).
        self.offset = getattr(est, "input_offset_", None)
        if self.offset is not None:
            X = X - self.offset
        self.X, self.y, self.X_val, self.y_val, self.P = X, y, X_val, y_val, P
        self.sample_weight, self.val_weight = sample_weight, val_weight
        self.tolerate_divergence = tolerate_divergence
        self.shuffle = P.get("shuffle", True)
        n = X.shape[0]
        self.solver = P["solver"]
        self.optimizer = make_optimizer(self.solver, est, est._optimizer_state)
        self.optimizer.init(flat)
        if self.solver == "cg":
            capacity = min(int(est.cg_batch_size), n)
        else:
            capacity = est.minibatch_size(n)
        dropout_input, dropout_hidden = P["dropout"]
        self.prop = Propagation(
            self.net.sizes(),
            capacity,
            dtype,
            dropout_input=dropout_input,
            dropout_hidden=dropout_hidden,
        )
        self.X_batch = np.empty((capacity, X.shape[1]), dtype=dtype)
        self.y_batch = None if y is None else np.empty((capacity, *y.shape[1:]), dtype=y.dtype)
        self._snapshot = None

    def run_epoch(self, epoch):
        est, net = self.estimator, self.net
        shift_first_bias(est, self.offset, +1)
        try:
            loss, learning_rate = self._epoch_loss(epoch)
        finally:
            shift_first_bias(est, self.offset, -1)
        if not np.isfinite(loss) or not np.isfinite(net.flat).all():
            if self.tolerate_divergence:
                return {"train_loss": np.nan, "learning_rate": learning_rate}
            hint = (
                f"Try a smaller learning_rate_init (currently {est.learning_rate_init!r})"
                if self.solver != "cg"
                else est._CG_DIVERGENCE_HINT
            )
            raise DivergenceError(
                f"Training diverged at epoch {epoch + 1}: the loss became {loss!r} or the "
                f"weights non-finite. {hint}. The weights after epoch {epoch} were kept."
            )
        return {"train_loss": float(loss), "learning_rate": learning_rate}

    def _epoch_loss(self, epoch):
        """One epoch of the solver over ``self.X``: ``(training loss, learning rate)``."""
        est, net = self.estimator, self.net
        learning_rate = est._epoch_learning_rate(epoch)
        batches = (self.X, self.y, self.prop, self.X_batch, self.y_batch, est._rng)
        options = {"sample_weight": self.sample_weight, "shuffle": self.shuffle}
        if self.solver == "cg":
            top_only = epoch < self.P["cg_top_layer_epochs"]
            loss = cg_epoch(net, *batches, self.optimizer, top_layer_only=top_only, **options)
            learning_rate = np.nan
        else:
            loss = minibatch_epoch(
                net,
                *batches,
                self.optimizer,
                learning_rate,
                max_norm=self.P.get("max_norm"),
                **options,
            )
        return loss, learning_rate

    def evaluate(self, epoch, logs):
        if self.X_val is None:
            return {}
        val_key, metric_key = self.estimator._VALIDATION_KEYS
        if not np.isfinite(logs["train_loss"]):
            return {val_key: np.nan, metric_key: np.nan, "validation_score": np.nan}
        val_loss, metric, score = self.estimator._evaluate_weighted(
            self.X_val, self.y_val, self.val_weight
        )
        return {val_key: val_loss, metric_key: metric, "validation_score": score}

    def snapshot(self):
        # One set of buffers for the whole run: the loop holds one snapshot at a time.
        est = self.estimator
        self._snapshot = est._epoch_snapshot(self.net.flat, est._rng, self._snapshot)
        return self._snapshot

    def restore(self, snapshot):
        self.estimator._roll_back(snapshot, self.net.flat, self.estimator._rng)

    def epoch_completed(self, completed, logs):
        est = self.estimator
        est.n_iter_ = completed
        est.t_ += self.X.shape[0]
        # The rate the next epoch will use (scikit-learn's optimiser.learning_rate).
        self.optimizer.learning_rate = est._epoch_learning_rate(completed)

    def report(self, completed, logs):
        est = self.estimator
        if est.verbose:
            val_key, metric_key = est._VALIDATION_KEYS
            validating = self.X_val is not None
            print(
                est._epoch_message(
                    completed,
                    logs["train_loss"],
                    validating,
                    logs.get(val_key),
                    logs.get(metric_key),
                )
            )
