"""What the backprop estimators share: hyperparameters and the training run.

:class:`BackpropEstimator` is the base of :class:`dbn.mlp.MLPClassifier`, :class:`dbn.mlp.MLPRegressor`
and :class:`dbn.autoencoder.DeepAutoencoder`. It checks the optimiser's hyperparameters and runs
``fit``'s common part (checkpoint, resume, validation split, initialisation); its epochs go through
the training engine (:func:`dbn._training.loop.run_epochs`: history, callbacks, early stopping,
rollback, checkpoints) as a :class:`~dbn._backprop_trainer.BackpropTrainer` over the backprop core of
:mod:`dbn._backprop` and the optimisers of :mod:`dbn._training.optimizers` (solver='lbfgs':
:func:`~dbn._backprop_trainer.train_lbfgs`); :class:`~dbn._network_state.NetworkState` saves and
restores everything training reads and writes, in pickle-free model files (:mod:`dbn.io`) and
per-epoch checkpoints. The estimators say what differs (layer sizes, activations, loss, targets,
validation metric) through the hooks listed in each class's docstring; this module imports no
estimator.

References
----------
Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
back-propagating errors. Nature, 323, 533-536.

Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science, 313(5786), 504-507.
"""

from __future__ import annotations

import numbers
import sys
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from . import init as _init
from ._backprop import pack
from ._backprop_trainer import BackpropTrainer, train_lbfgs
from ._network_state import NetworkState
from ._training.callbacks import CallbackList
from ._training.convergence import backprop_convergence_message, constant_prediction_loss
from ._training.loop import EarlyStopping, run_epochs
from ._training.schedules import check_schedule, learning_rate_at
from ._training.stacklevel import external_stacklevel
from ._validation import (
    check_bool,
    check_choice,
    check_dtype,
    check_random_state,
    check_scalar,
)

__all__ = ["BackpropEstimator", "check_n_iter_no_change"]

_SCHEDULES = ("constant", "exponential", "step")
_SOLVERS = ("sgd", "adam", "cg")


def check_n_iter_no_change(value):
    """``n_iter_no_change`` as an int for the stopping rule: an integer >= 1, or ``np.inf`` (never
    stop for want of improvement, as in scikit-learn)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == np.inf:
        # The rule compares a count with it: the largest int is never reached.
        return sys.maxsize
    check_scalar(value, "n_iter_no_change", kind=numbers.Integral, low=1)
    return int(value)


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


class _ShapesRepr:
    """Stands in for ``pretrained_layers`` in ``repr``: the shapes, not the numbers."""

    def __init__(self, layers):
        self.layers = layers

    def __repr__(self):
        try:
            rows = [str(tuple(np.shape(a) for a in layer)) for layer in self.layers]
        except (TypeError, ValueError):
            return f"<{type(self.layers).__name__}>"
        return f"[{', '.join(rows)}]"


class BackpropEstimator(NetworkState, BaseEstimator):
    """Hyperparameters, ``fit``'s common part and the epochs of a net trained by back-propagation.

    Subclasses provide: ``_validate_params()`` (calling :meth:`_check_optimizer_params` and
    :meth:`_check_cg_params`; it sets ``P['kinds']``, ``P['loss']``, ``P['keep_logits']``,
    ``P['dropout']`` and ``P['cg_top_layer_epochs']``), ``_initialize(X, y, P, rng)`` (weights, then
    :meth:`_reset_training`), ``_evaluate(X_val, y_val) -> (loss, metric, score)`` (higher score is
    better), ``_epoch_message(epoch, loss, val_loss, val_metric)`` and the hooks of
    :class:`NetworkState`. Class attributes: ``_STRATIFY`` (hold out a stratified validation split),
    ``_VALIDATION_ADVICE`` and ``_CG_DIVERGENCE_HINT`` (message fragments).
    """

    _STRATIFY = False
    _SOLVERS = _SOLVERS
    _VALIDATION_ADVICE = "pass X_val"
    _CG_DIVERGENCE_HINT = "Try a larger alpha or another solver"

    def __repr__(self):
        layers = self.pretrained_layers
        if layers is None:
            return super().__repr__()
        # Weight matrices would fill the screen: show their shapes instead.
        self.pretrained_layers = _ShapesRepr(layers)
        try:
            return super().__repr__()
        finally:
            self.pretrained_layers = layers

    # ---------------------------------------------------------------------------------- validation

    def _check_optimizer_params(self, P):
        """Check the optimiser's and the training loop's hyperparameters (into ``P``)."""
        P["solver"] = check_choice(self.solver, "solver", self._SOLVERS)
        check_scalar(self.alpha, "alpha", low=0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_scalar(self.batch_size, "batch_size", kind=numbers.Integral, low=1)
        check_scalar(self.learning_rate_init, "learning_rate_init", low=0, low_inclusive=False)
        check_schedule(
            self.learning_rate_schedule,
            _SCHEDULES,
            legacy="factor",
            owner=type(self).__name__,
        )
        check_scalar(self.lr_decay, "lr_decay", low=0, high=1, low_inclusive=False)
        check_scalar(self.lr_step_size, "lr_step_size", kind=numbers.Integral, low=1)
        check_scalar(self.max_iter, "max_iter", kind=numbers.Integral, low=1)
        check_scalar(self.momentum, "momentum", low=0, high=1)
        check_bool(self.nesterovs_momentum, "nesterovs_momentum")
        check_scalar(self.beta_1, "beta_1", low=0, high=1, high_inclusive=False)
        check_scalar(self.beta_2, "beta_2", low=0, high=1, high_inclusive=False)
        check_scalar(self.epsilon, "epsilon", low=0, low_inclusive=False)
        check_bool(self.early_stopping, "early_stopping")
        check_scalar(
            self.validation_fraction,
            "validation_fraction",
            low=0,
            high=1,
            low_inclusive=False,
            high_inclusive=False,
        )
        P["n_iter_no_change"] = check_n_iter_no_change(self.n_iter_no_change)
        check_scalar(self.tol, "tol", low=0)
        return P

    def _check_cg_params(self, P):
        """Check ``cg_batch_size`` and ``cg_max_line_searches``."""
        check_scalar(self.cg_batch_size, "cg_batch_size", kind=numbers.Integral, low=1)
        check_scalar(
            self.cg_max_line_searches, "cg_max_line_searches", kind=numbers.Integral, low=1
        )
        return P

    def _check_dtype_verbose(self, P):
        """Check ``dtype`` (into ``P``) and ``verbose``."""
        P["dtype"] = check_dtype(self.dtype)
        if not isinstance(self.verbose, bool | numbers.Integral):
            raise TypeError(f"verbose must be a bool or an int, got {self.verbose!r}.")
        return P

    @staticmethod
    def _draw_weights(function, n_in, n_out, rng, dtype, activation, layer):
        """One weight matrix from an initialiser of :mod:`dbn.init`, with the activation's gain."""
        kwargs = {}
        if _init.accepts_gain(function):
            kwargs["gain"] = _init.gain(activation)
        W = np.asarray(function(n_in, n_out, random_state=rng, dtype=dtype, **kwargs))
        if W.shape != (n_in, n_out) or not np.isfinite(W).all():
            raise ValueError(
                f"init returned an array of shape {W.shape} for layer {layer}: expected finite "
                f"values of shape ({n_in}, {n_out})."
            )
        return W

    def _reset_training(self, coefs, intercepts, dtype):
        """Set the weights (packed into one flat vector) and start the training state afresh."""
        _, self.coefs_, self.intercepts_ = pack(coefs, intercepts, dtype)
        self.n_layers_ = len(coefs) + 1
        self.t_ = 0
        self._restart_training()

    def _restart_training(self):
        """Start a new training run from the current weights (``warm_start``): new counters,
        history, optimiser and stopping state; ``t_`` (samples seen) keeps counting, as in
        scikit-learn, where it drives the 'invscaling' learning rate."""
        self.n_iter_ = 0
        self.history_ = {key: [] for key in self._HISTORY_KEYS}
        self.loss_curve_ = self.history_["train_loss"]
        self._optimizer_state = {}
        self._no_improvement_count = 0
        self.best_loss_ = np.inf
        for name in ("best_validation_score_", "validation_scores_", "_best_params"):
            if hasattr(self, name):
                delattr(self, name)

    # ------------------------------------------------------------------------------------ fitting

    def _fit(
        self,
        X,
        y,
        X_val,
        y_val,
        P,
        callbacks,
        checkpoint_dir,
        data,
        *,
        warm=False,
        sample_weight=None,
    ):
        """``fit`` after the data are checked: checkpoint, resume, validation split, training.

        ``y`` is None for an autoencoder (the targets are the inputs); ``data`` names the arrays
        whose fingerprints a checkpoint records; ``callbacks`` is a
        :class:`~dbn._training.callbacks.CallbackList`. With ``warm``, training starts from the
        fitted weights (``warm_start``) instead of new ones. ``sample_weight`` (or None) weighs
        the rows of ``X``.
        """
        if P["solver"] == "lbfgs" and checkpoint_dir is not None:
            raise ValueError(
                "checkpoint_dir saves the state after each epoch of solver='sgd', 'adam' or 'cg'; "
                "solver='lbfgs' has no epochs. Pass checkpoint_dir=None or another solver."
            )
        checkpoint = None
        if checkpoint_dir is not None:
            checkpoint = self._open_checkpoint(checkpoint_dir, data)
        resuming = checkpoint is not None and checkpoint.resuming
        rng = check_random_state(self.random_state)
        self._rng = rng
        val_index = None
        if resuming:
            val_index = self._resume(checkpoint, P, len(X))
            rng = self._rng
        X_train, y_train, w_train, w_val = X, y, sample_weight, None
        # L-BFGS minimises the whole training loss: it has no epochs to stop early between.
        if X_val is None and self.early_stopping and P["solver"] != "lbfgs":
            if val_index is None:
                val_index = self._validation_indices(len(X), y, rng)
            mask = np.ones(len(X), dtype=bool)
            mask[val_index] = False
            X_train, X_val = X[mask], X[val_index]
            if y is not None:
                y_train, y_val = y[mask], y[val_index]
            if sample_weight is not None:
                w_train, w_val = sample_weight[mask], sample_weight[val_index]
        n_epochs = self.max_iter
        if resuming:
            n_epochs = 0 if checkpoint.finished else max(self.max_iter - self.n_iter_, 0)
        elif warm:
            self._restart_training()
        else:
            self._initialize(X_train, y_train, P, rng)
        save = None
        if checkpoint is not None:

            def save(finished):
                self._write_checkpoint(checkpoint, val_index, finished)

        callbacks.on_train_begin(self)
        try:
            self._train(
                X_train,
                y_train,
                X_val,
                y_val,
                P,
                n_epochs,
                callbacks,
                self.early_stopping,
                save,
                sample_weight=w_train,
                val_weight=w_val,
            )
        finally:
            callbacks.on_train_end(self)
        return self

    def _partial_fit(self, X, y, P, sample_weight=None):
        """One epoch over ``(X, y)`` from the current state, without callbacks or validation.

        No ConvergenceWarning: one epoch of many is not meant to converge.
        """
        if self.early_stopping:
            # scikit-learn's message: one epoch on a batch has no held-out set to stop on.
            raise ValueError(
                "partial_fit does not support early_stopping=True: it trains one epoch on the "
                "data it is given, with no validation split. Set early_stopping=False."
            )
        self._train(
            X,
            y,
            None,
            None,
            P,
            1,
            CallbackList(None),
            False,
            None,
            check=False,
            sample_weight=sample_weight,
        )
        return self

    def _validation_indices(self, n, y, rng):
        """Sorted rows held out as ``validation_fraction`` (stratified when ``_STRATIFY`` and
        ``y`` holds one label per row)."""
        if self._STRATIFY and y is not None and y.ndim == 1:
            labels, counts = np.unique(y, return_counts=True)
            if counts.min() < 2:
                names = self._class_names(labels[counts < 2])
                # scikit-learn's words (its stratified split refuses such classes too).
                raise ValueError(
                    "The least populated classes in y have only 1 member, which is too few for "
                    "a stratified validation split (early_stopping=True). The minimum number of "
                    f"groups for any class cannot be less than 2. Classes with too few members "
                    f"are: {names}"
                )
            val = []
            for c in labels:
                members = rng.permutation(np.flatnonzero(y == c))
                val.append(members[: int(round(self.validation_fraction * len(members)))])
            val = np.concatenate(val)
        else:
            val = rng.permutation(n)[: int(round(self.validation_fraction * n))]
        if len(val) < 2:
            raise ValueError(
                f"The validation set is too small: validation_fraction={self.validation_fraction} "
                f"leaves {len(val)} of {n} samples for validation, and early stopping needs at "
                "least 2. Increase 'validation_fraction' or the size of your dataset, or "
                f"{self._VALIDATION_ADVICE}."
            )
        if len(val) == n:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves {len(val)} of {n} samples "
                "for validation and none for training; early stopping needs both sets non-empty. "
                f"Change validation_fraction or {self._VALIDATION_ADVICE}."
            )
        return np.sort(val).astype(np.int64)

    def _class_names(self, labels):
        """Labels of the training targets as a user reads them (class indices for a classifier)."""
        return labels.tolist()

    def minibatch_size(self, n):
        """The minibatch size for ``n`` samples: ``batch_size`` clipped to ``n`` (with a warning,
        as in scikit-learn's MLP), or ``min(200, n)`` for 'auto'.

        Engine-level, like :meth:`learning_rate_at` and :meth:`network_spec`: for drivers that
        run the backprop epochs themselves (:func:`dbn.dask.fit_mlp`).
        """
        if isinstance(self.batch_size, str):
            return min(200, n)
        if self.batch_size > n and self.solver != "cg":
            warnings.warn(
                f"batch_size={self.batch_size} is larger than the number of samples ({n}); using "
                f"batch_size={n}.",
                UserWarning,
                stacklevel=external_stacklevel(),
            )
        return min(int(self.batch_size), n)

    def learning_rate_at(self, epoch):
        """Learning rate of the 0-based ``epoch`` (:mod:`dbn._training.schedules`).

        Raises
        ------
        ValueError
            For a schedule that depends on the training state rather than on the epoch
            (``learning_rate='invscaling'`` or ``'adaptive'`` of solver='sgd'): a driver that
            asks for it by epoch could not honour it.
        """
        if self._state_schedule() is not None:
            raise ValueError(
                f"learning_rate={self.learning_rate!r} depends on the training state (samples "
                "seen, epochs without improvement), not on the epoch alone; only fit and "
                "partial_fit run it. Use learning_rate='constant' with learning_rate_schedule."
            )
        return learning_rate_at(
            self.learning_rate_schedule,
            epoch,
            self.learning_rate_init,
            decay=self.lr_decay,
            step_size=self.lr_step_size,
            legacy="factor",
        )

    def network_spec(self):
        """The checked hyperparameters the backprop engine (:mod:`dbn._backprop`) runs with.

        Engine-level. Raises what :meth:`fit` raises on bad hyperparameters.

        Returns
        -------
        spec : dict
            ``solver``; ``kinds`` (activation code per layer) and ``loss`` (output loss code), as
            :class:`dbn._backprop.Net` takes them; ``dtype``; ``dropout`` (input, hidden
            rates); ``max_norm`` (None or the bound on each hidden unit's incoming weights).
        """
        P = self._validate_params()
        return {
            "solver": P["solver"],
            "kinds": tuple(P["kinds"]),
            "loss": P["loss"],
            "dtype": P["dtype"],
            "dropout": tuple(P["dropout"]),
            "max_norm": P.get("max_norm"),
        }

    def _state_schedule(self):
        """scikit-learn's ``learning_rate`` of solver='sgd' when it is not 'constant' (None
        otherwise, and for estimators without it): 'invscaling' or 'adaptive'."""
        schedule = getattr(self, "learning_rate", "constant")
        return schedule if self.solver == "sgd" and schedule != "constant" else None

    def _epoch_learning_rate(self, epoch):
        """Learning rate of the 0-based ``epoch`` in a run of :meth:`fit` or :meth:`partial_fit`.

        'invscaling' is ``learning_rate_init / (t_ + 1) ** power_t`` with ``t_`` the samples seen
        before the epoch; 'adaptive' is the rate kept in the optimiser state, divided by 5 when
        the loss stalls (scikit-learn's schedules); otherwise :meth:`learning_rate_at`.
        """
        schedule = self._state_schedule()
        if schedule == "invscaling":
            return self.learning_rate_init / pow(self.t_ + 1, self.power_t)
        if schedule == "adaptive":
            return self._optimizer_state.get("learning_rate", self.learning_rate_init)
        return self.learning_rate_at(epoch)

    def _prepare_stopping_state(self, monitor_validation):
        """scikit-learn's early-stopping attributes: ``best_loss_`` is None when a validation set
        is monitored; ``validation_scores_`` and ``best_validation_score_`` are None when not."""
        if monitor_validation:
            self.best_loss_ = None
            if getattr(self, "best_validation_score_", None) is None:
                # The stopping rule starts them (and the copy of the best weights).
                for name in ("best_validation_score_", "validation_scores_", "_best_params"):
                    if hasattr(self, name):
                        delattr(self, name)
        else:
            if getattr(self, "best_loss_", None) is None:
                self.best_loss_ = np.inf
            self.best_validation_score_ = self.validation_scores_ = None

    def _train(
        self,
        X,
        y,
        X_val,
        y_val,
        P,
        n_epochs,
        callbacks,
        early_stopping,
        save,
        check=True,
        *,
        sample_weight=None,
        val_weight=None,
    ):
        """Run ``n_epochs`` epochs through the training engine (:func:`run_epochs`).

        With ``check``, a run that ends unconverged or without having learnt warns
        (:meth:`_check_convergence`). With early stopping, an epoch that diverges ends training
        with the best epoch's weights (and a ConvergenceWarning) instead of a DivergenceError.
        """
        monitor = bool(early_stopping) and X_val is not None
        self._prepare_stopping_state(monitor)
        self._set_input_offset(X)
        if P["solver"] == "lbfgs":
            return train_lbfgs(
                self, X, y, X_val, y_val, P, callbacks, check, sample_weight, val_weight
            )
        trainer = BackpropTrainer(
            self,
            X,
            y,
            X_val,
            y_val,
            P,
            sample_weight=sample_weight,
            val_weight=val_weight,
            tolerate_divergence=monitor,
        )
        self._optimizer = trainer.optimizer
        self._optimizer.learning_rate = self._epoch_learning_rate(self.n_iter_)
        early = EarlyStopping(
            self,
            trainer.net.flat,
            tol=self.tol,
            n_iter_no_change=P["n_iter_no_change"],
            monitor_validation=monitor,
        )
        diverged = []

        def stop_rule(logs):
            if not np.isfinite(logs["train_loss"]):
                diverged.append(logs["epoch"])
                return True
            stop = early(logs)
            if stop and self._state_schedule() == "adaptive":
                # scikit-learn's 'adaptive': divide the rate by 5 until it falls below 1e-6.
                rate = self._optimizer_state.get("learning_rate", self.learning_rate_init)
                if rate > 1e-6:
                    self._optimizer_state["learning_rate"] = rate / 5.0
                    self._optimizer.learning_rate = rate / 5.0
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(f"Setting learning rate to {rate / 5.0:f}")
                    return False
            return stop

        result = run_epochs(
            self,
            trainer,
            range(self.n_iter_, self.n_iter_ + n_epochs),
            history=self.history_,
            callbacks=callbacks,
            stop_rule=stop_rule,
            save_checkpoint=save,
        )
        early.restore_best()
        if diverged:
            flat = trainer.net.flat
            if not np.isfinite(flat).all():
                flat[...] = self._best_params  # no epoch had a finite validation score
            warnings.warn(
                f"{type(self).__name__}: training diverged at epoch {diverged[0]} (the loss "
                "became non-finite); the weights of the best validation epoch were kept. Try a "
                f"smaller learning_rate_init (currently {self.learning_rate_init!r}).",
                ConvergenceWarning,
                stacklevel=external_stacklevel(),
            )
        elif check and n_epochs > 0:
            self._check_convergence(
                result,
                X if y is None else y,
                P,
                monitored=monitor,
                validation_rows=len(X_val) if monitor else None,
            )

    def _set_input_offset(self, X):
        """``input_offset_``: the training mean of ``X`` with ``center_inputs``, else None.

        Taken when training starts from new weights (the first ``fit`` or ``partial_fit``); a
        ``warm_start`` fit and later ``partial_fit`` calls keep it, so that the optimiser's state
        stays that of the same centred coordinates.
        """
        if not getattr(self, "center_inputs", False):
            self.input_offset_ = None
        elif getattr(self, "input_offset_", None) is None:
            self.input_offset_ = X.mean(axis=0, dtype=np.float64).astype(X.dtype)

    def _evaluate_weighted(self, X, y, sample_weight):
        """:meth:`_evaluate` on a validation set, weighted when ``sample_weight`` is given."""
        if sample_weight is None:
            return self._evaluate(X, y)
        return self._evaluate(X, y, sample_weight=sample_weight)

    def _validation_stop(self, result, validation_rows):
        """The keywords of the "cut short" sign, for a run that early stopping on a validation
        split of ``validation_rows`` rows ended: the kept epoch, and the validation loss there
        and at the last epoch."""
        scores = getattr(self, "validation_scores_", None)
        if validation_rows is None or not result.stopped_early or not scores:
            return {}
        losses = self.history_.get("val_loss", [])[-len(scores) :]
        kept = int(np.argmax(scores))  # the first best score: the one restore_best put back
        if len(losses) != len(scores) or not np.all(np.isfinite([losses[kept], losses[-1]])):
            return {}
        return dict(
            kept_epoch=len(self.loss_curve_) - len(scores) + kept + 1,
            kept_validation_loss=float(losses[kept]),
            final_validation_loss=float(losses[-1]),
            validation_rows=validation_rows,
        )

    def _check_convergence(self, result, target, P, monitored=False, validation_rows=None):
        """Warn (ConvergenceWarning) when ``fit`` ended unconverged or without having learnt.

        Only for a run that the ``n_iter_no_change`` rule or ``max_iter`` ended, not a callback
        or an interrupt; ``target`` is what the net learns to output (``y``, or ``X`` for an
        autoencoder); ``validation_rows``: the rows of the monitored validation split. The rule
        and its thresholds: :mod:`dbn._training.convergence`.
        """
        if result.stopped_by_callback or result.interrupted or not self.loss_curve_:
            return
        reached_max_iter = not result.stopped_early and self.n_iter_ >= self.max_iter
        if not (reached_max_iter or result.stopped_early):
            return
        baseline, floor = constant_prediction_loss(P["loss"], target)
        message = backprop_convergence_message(
            type(self).__name__,
            final_loss=self.loss_curve_[-1],
            n_iter=self.n_iter_,
            max_iter=self.max_iter,
            reached_max_iter=reached_max_iter,
            baseline=baseline,
            floor=floor,
            solver=P["solver"],
            learning_rate_init=self.learning_rate_init,
            alpha=self.alpha,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            loss=P["loss"],
            # With a validation split the best epoch's weights are kept: a swing does not matter.
            best_loss=None if monitored else float(np.min(self.loss_curve_)),
            momentum=getattr(self, "momentum", None),
            **self._validation_stop(result, validation_rows),
        )
        if message is not None:
            warnings.warn(message, ConvergenceWarning, stacklevel=external_stacklevel())
