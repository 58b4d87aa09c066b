"""What the backprop estimators share: hyperparameters, the training run, model files and checkpoints.

:class:`BackpropEstimator` is the base of :class:`dbn.mlp.MLPClassifier`, :class:`dbn.mlp.MLPRegressor`
and :class:`dbn.autoencoder.DeepAutoencoder`. It checks the optimiser's hyperparameters and runs
``fit``'s common part (checkpoint, resume, validation split, initialisation); its epochs go through
the training engine (:func:`dbn._training.loop.run_epochs`: history, callbacks, early stopping,
rollback, checkpoints) as a :class:`~dbn._training.loop.EpochTrainer` over the backprop core of
:mod:`dbn._backprop` and the optimisers of :mod:`dbn._training.optimizers`; :class:`NetworkState` saves and restores everything training reads
and writes, in pickle-free model files (:mod:`dbn.io`) and per-epoch checkpoints. The estimators say
what differs (layer sizes, activations, loss, targets, validation metric) through the hooks listed
in each class's docstring; this module imports no estimator.

References
----------
Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
back-propagating errors. Nature, 323, 533-536.

Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science, 313(5786), 504-507.
"""

from __future__ import annotations

import inspect
import numbers
import sys
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from . import init as _init
from . import io
from ._backprop import (
    Net,
    Propagation,
    cg_epoch,
    full_batch_objective,
    layout,
    minibatch_epoch,
    pack,
)
from ._training.callbacks import CallbackList
from ._training.checkpoint import CheckpointFile
from ._training.convergence import backprop_convergence_message, constant_prediction_loss
from ._training.loop import EarlyStopping, EpochTrainer, run_epochs
from ._training.optimizers import make_optimizer
from ._training.schedules import check_schedule, learning_rate_at
from ._training.stacklevel import external_stacklevel
from ._validation import (
    DivergenceError,
    check_choice,
    check_is_fitted,
    check_random_state,
    check_scalar,
)

__all__ = [
    "BackpropEstimator",
    "NetworkState",
    "check_bool",
    "check_dtype",
    "check_n_iter_no_change",
    "history_from_json",
    "history_to_json",
]

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


def check_bool(value, name):
    """``value`` as a bool; a TypeError naming ``name`` for anything but a bool."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {value!r} ({type(value).__name__}).")
    return bool(value)


def check_dtype(dtype):
    """``dtype`` as numpy.float32 or numpy.float64; an error for anything else."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}.") from exc
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}.")
    return dt


# --------------------------------------------------------------------------------------------------
# Persistence: model files and checkpoints
# --------------------------------------------------------------------------------------------------

_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def history_to_json(history):
    """``history_`` as JSON lists: ``epoch`` as integers, every other entry as floats."""
    return {
        key: [int(v) if key == "epoch" else float(v) for v in values]
        for key, values in history.items()
    }


def history_from_json(history, keys, n_iter, fail):
    """A ``history_`` read back from a model file or checkpoint, checked against ``n_iter``.

    Files written before the backprop estimators kept an ``epoch`` entry hold no ``epoch`` and
    the seconds since the start of training under ``time``; they are read into today's form
    (``epoch`` counts completed epochs from 1, ``time`` holds each epoch's own seconds), so that
    every model file ever written still loads.

    Parameters
    ----------
    history : object
        The stored ``history_`` (a dict of lists when the file is sound).
    keys : tuple of str
        The estimator's history keys.
    n_iter : int
        Completed epochs (``n_iter_``): every entry holds one value per epoch.
    fail : callable
        ``fail(message)`` raises the caller's error for a malformed history.

    Returns
    -------
    dict of str to list
    """
    if not isinstance(history, dict):
        fail("history_ must be a dict of lists.")
    history = dict(history)
    if "epoch" in keys and "epoch" not in history:
        history["epoch"] = list(range(1, n_iter + 1))
        times = history.get("time")
        if isinstance(times, list) and all(isinstance(t, int | float) for t in times):
            history["time"] = np.diff(np.asarray(times, dtype=np.float64), prepend=0.0).tolist()
    restored = {}
    for key in keys:
        values = history.get(key, [])
        if not isinstance(values, list) or len(values) != n_iter:
            fail(f"history_[{key!r}] must hold one entry per epoch ({n_iter}).")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            fail(f"history_[{key!r}] must hold numbers.")
        restored[key] = [float(v) for v in values]
    if "epoch" in restored:
        if restored["epoch"] != list(range(1, n_iter + 1)):
            fail(f"history_['epoch'] must count the completed epochs 1, ..., {n_iter}.")
        restored["epoch"] = [int(v) for v in restored["epoch"]]
    return restored


class NetworkState:
    """Model files (safetensors or ``.npz``, never a pickle) and per-epoch checkpoints of a
    feed-forward net trained by backprop.

    The state is everything that training reads and writes: the weights, the pretrained layers,
    the optimiser state (momentum velocity, Adam moments and step count), the random stream, the
    counters (``n_iter_``, ``t_``), the early-stopping state and ``history_``. Restoring it gives a
    model that predicts, and trains on, exactly as the saved one. :class:`MLPClassifier`,
    :class:`MLPRegressor` and :class:`dbn.autoencoder.DeepAutoencoder` share this code; each says
    what differs through the class attributes and hooks below.

    Class attributes: ``_SIZE_PARAM`` (the parameter with the layer sizes), ``_PRETRAINED_NAMES``
    (the names of the arrays of a ``pretrained_layers`` entry), ``_VALIDATION_KEYS`` (the
    validation loss and metric in ``history_``), ``_HISTORY_KEYS`` and ``_CHECKPOINT_NAME``. Hooks: ``_sizes()`` (normalised layer sizes) and
    ``_full_sizes(P, n_features, extra)`` (units of every layer, input first). Subclasses extend
    :meth:`_state_arrays` and :meth:`_restore_state` with what only they hold.
    """

    _SIZE_PARAM = None
    _PRETRAINED_NAMES = ()
    _VALIDATION_KEYS = ()
    _HISTORY_KEYS = ()
    _CHECKPOINT_NAME = None

    # -------------------------------------------------------------------------------- parameters

    def _header_params(self):
        """``get_params(deep=False)`` as a JSON header stores it (model files, checkpoints);
        what JSON cannot hold gets its default."""
        params = self.get_params(deep=False)
        params[self._SIZE_PARAM] = list(self._sizes())
        params["dtype"] = check_dtype(self.dtype).name
        params["pretrained_layers"] = None  # stored as arrays
        seed = params["random_state"]
        if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
            params["random_state"] = int(seed)
        else:
            # A Generator cannot go into a JSON header; the weights and the stream state do.
            params["random_state"] = None
        defaults = inspect.signature(type(self).__init__).parameters
        for name, value in params.items():
            if callable(value):
                params[name] = defaults[name].default
        return params

    @classmethod
    def _params_from_json(cls, params):
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict, got {type(params).__name__}")
        params = dict(params)
        if isinstance(params.get(cls._SIZE_PARAM), list):
            params[cls._SIZE_PARAM] = tuple(params[cls._SIZE_PARAM])
        if "dtype" in params:
            params["dtype"] = np.dtype(params["dtype"]).type
        return params

    def _pretrained_arrays(self):
        arrays = {}
        for i, entry in enumerate(self.pretrained_layers or []):
            for name, value in zip(self._PRETRAINED_NAMES, entry, strict=False):
                value = np.asarray(value)
                if value.dtype not in (np.float32, np.float64):
                    value = value.astype(check_dtype(self.dtype))
                arrays[f"pretrained{i}/{name}"] = value
        return arrays

    # ------------------------------------------------------------------------------------- state

    def _state_arrays(self):
        """``(arrays, extra)``: the numeric arrays and the JSON metadata of the training state."""
        arrays = {}
        for i, (W, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            arrays[f"coef{i}"] = W
            arrays[f"intercept{i}"] = b
        arrays.update(self._pretrained_arrays())
        state = self._optimizer_state
        for name in ("velocity", "m", "v"):
            if name in state:
                arrays[f"optimizer/{name}"] = state[name]
        if hasattr(self, "_best_params"):
            arrays["best_params"] = self._best_params
        best_loss = getattr(self, "best_loss_", None)
        extra = {
            "n_features_in_": int(self.n_features_in_),
            "n_iter_": int(self.n_iter_),
            "t_": int(self.t_),
            "n_pretrained": len(self.pretrained_layers or []),
            "optimizer_t": None if state.get("t") is None else int(state["t"]),
            "history_": history_to_json(self.history_),
            "best_loss_": None if best_loss is None else float(best_loss),
            "no_improvement_count": int(self._no_improvement_count),
            "rng_state": self._rng.bit_generator.state if hasattr(self, "_rng") else None,
        }
        if getattr(self, "best_validation_score_", None) is not None:
            extra["best_validation_score_"] = float(self.best_validation_score_)
            extra["validation_scores_"] = [float(s) for s in self.validation_scores_]
        if "learning_rate" in state:
            extra["optimizer_learning_rate"] = float(state["learning_rate"])
        return arrays, extra

    def _restore_state(self, arrays, extra, P, source):
        """Set the training state from :meth:`_state_arrays`' output, after checking it.

        Raises
        ------
        dbn.io.ModelFileError
            When shapes, dtypes, layer chaining, counters or the random stream do not fit ``P``.
        """
        try:
            self._restore_checked(arrays, extra, P, source)
        except io.ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise io.ModelFileError(
                f"{source}: malformed training state ({type(exc).__name__}: {exc})."
            ) from exc

    def _restore_checked(self, arrays, extra, P, source):
        def fail(message):
            raise io.ModelFileError(f"{source}: {message}")

        def count(name, low=0):
            value = extra[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                fail(f"{name} must be an integer >= {low}, got {value!r}.")
            return value

        dtype = P["dtype"]
        n_features = count("n_features_in_", 1)
        sizes = self._full_sizes(P, n_features, extra)
        n_layers = len(sizes) - 1
        coefs, intercepts = [], []
        for i in range(n_layers):
            W, b = arrays.get(f"coef{i}"), arrays.get(f"intercept{i}")
            shape = (sizes[i], sizes[i + 1])
            if W is None or b is None or W.shape != shape or b.shape != (sizes[i + 1],):
                fail(
                    f"layer {i} must have weights of shape {shape} and biases of shape "
                    f"({sizes[i + 1]},) to chain with its neighbours; the file does not match its "
                    f"{self._SIZE_PARAM} and {n_features} features."
                )
            if W.dtype != dtype or b.dtype != dtype:
                fail(f"layer {i} is stored in {W.dtype}/{b.dtype}, not in the model's {dtype}.")
            coefs.append(W)
            intercepts.append(b)
        if f"coef{n_layers}" in arrays:
            fail(f"holds more than the {n_layers} layers of its {self._SIZE_PARAM}.")
        _, total = layout(sizes)

        def parameter_vector(name):
            a = arrays[name]
            if a.shape != (total,) or a.dtype != dtype:
                fail(
                    f"{name} has shape {a.shape} and dtype {a.dtype}; the net has {total} "
                    f"parameters of {dtype}."
                )
            return a.copy()

        state = {}
        for name in ("velocity", "m", "v"):
            if f"optimizer/{name}" in arrays:
                state[name] = parameter_vector(f"optimizer/{name}")
        if ("m" in state) != ("v" in state):
            fail("holds only one of Adam's two moment vectors.")
        if extra.get("optimizer_t") is not None:
            state["t"] = count("optimizer_t")
        elif "m" in state:
            fail("holds Adam's moments without its step count.")
        if extra.get("optimizer_learning_rate") is not None:
            rate = extra["optimizer_learning_rate"]
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
                fail(f"optimizer_learning_rate must be a positive number, got {rate!r}.")
            state["learning_rate"] = float(rate)
        best_params = parameter_vector("best_params") if "best_params" in arrays else None
        n_iter = count("n_iter_")
        restored_history = history_from_json(extra["history_"], self._HISTORY_KEYS, n_iter, fail)
        rng_state = extra.get("rng_state")
        if rng_state is None:
            rng = check_random_state(self.random_state)
        else:
            name = rng_state.get("bit_generator") if isinstance(rng_state, dict) else None
            if name not in _BIT_GENERATORS:
                fail(f"unknown random bit generator {name!r}.")
            bit_generator = getattr(np.random, name)()
            bit_generator.state = rng_state
            rng = np.random.Generator(bit_generator)
        if "best_validation_score_" in extra:
            scores = extra["validation_scores_"]
            if not isinstance(scores, list) or len(scores) > n_iter:
                fail("validation_scores_ must be a list of at most one score per epoch.")
            best_score = float(extra["best_validation_score_"])
            if best_params is None:
                fail("holds an early-stopping score without the best weights.")
        n_seen, no_improvement = count("t_"), count("no_improvement_count")
        best_loss = None if extra["best_loss_"] is None else float(extra["best_loss_"])
        # Everything is checked: now set it.
        _, self.coefs_, self.intercepts_ = pack(coefs, intercepts, dtype)
        self.n_features_in_ = n_features
        self.n_layers_ = n_layers + 1
        self.n_iter_ = n_iter
        self.t_ = n_seen
        self.history_ = restored_history
        self.loss_curve_ = self.history_["train_loss"]
        self.best_loss_ = best_loss
        self._no_improvement_count = no_improvement
        self._optimizer_state = state
        self._rng = rng
        for name in ("best_validation_score_", "validation_scores_", "_best_params"):
            if hasattr(self, name):
                delattr(self, name)
        if best_params is not None:
            self._best_params = best_params
        if "best_validation_score_" in extra:
            self.best_validation_score_ = best_score
            self.validation_scores_ = [float(s) for s in scores]
        elif best_loss is not None:
            # scikit-learn's convention: None when the run did not monitor a validation set.
            self.best_validation_score_ = self.validation_scores_ = None

    # ------------------------------------------------------------------------------- model files

    def save(self, path):
        """Save the model to a model file, atomically (a crash leaves the old file or the new).

        Stores the hyperparameters, the weights, the pretrained layers, the optimiser state, the
        history, the counters, the early-stopping state and the random stream, so that
        :meth:`load` gives a model that predicts and trains on exactly as this one would.
        Callable hyperparameters (``init``, ``learning_rate_schedule``) and a Generator
        ``random_state`` cannot be stored: the loaded model has their defaults.

        Parameters
        ----------
        path : str or Path
            Ends in ``.safetensors`` (the format to use: PyTorch and the Hugging Face tools read
            its weights) or ``.npz`` (dbn 0.1's); neither holds a pickle (see :mod:`dbn.io`).
        """
        check_is_fitted(self, "coefs_")
        arrays, extra = self._state_arrays()
        io.save_arrays(path, type(self).__name__, self._header_params(), arrays, extra)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save`; the round trip is exact.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        model
            Of this class.

        Raises
        ------
        dbn.io.ModelFileError
            When the file is not a model of this class, is damaged, or its arrays do not fit its
            parameters (shapes, dtypes, layer chaining).
        """
        header, arrays = io.load_arrays(path, kind=cls.__name__)
        try:
            params = cls._params_from_json(header["params"])
            n_pretrained = int(header.get("extra", {}).get("n_pretrained", 0))
            if n_pretrained:
                params["pretrained_layers"] = [
                    tuple(
                        arrays[f"pretrained{i}/{name}"]
                        for name in cls._PRETRAINED_NAMES
                        if f"pretrained{i}/{name}" in arrays
                    )
                    for i in range(n_pretrained)
                ]
            model = cls(**params)
            P = model._validate_params()
        except io.ModelFileError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise io.ModelFileError(f"{path}: invalid stored parameters ({exc}).") from exc
        model._restore_state(arrays, header.get("extra", {}), P, path)
        return model

    # ------------------------------------------------------------------------------- checkpoints

    def _open_checkpoint(self, checkpoint_dir, data):
        """The :class:`~dbn._training.checkpoint.CheckpointFile` of a :meth:`fit`, loaded and checked.

        ``data`` names the arrays the fit trains on (their fingerprints go into the file). Besides
        the engine's checks (hyperparameters other than ``verbose``, data), a checkpoint written
        with other ``pretrained_layers`` is refused with a ValueError.
        """
        name = type(self).__name__
        checkpoint = CheckpointFile(
            checkpoint_dir, self._CHECKPOINT_NAME, f"{name}-checkpoint", data
        )
        if checkpoint.load(self._header_params(), owner=name):
            mine = self._pretrained_arrays()
            theirs = {k: v for k, v in checkpoint.arrays.items() if k.startswith("pretrained")}
            if set(mine) != set(theirs) or any(
                not np.array_equal(mine[k], theirs[k]) for k in mine
            ):
                raise ValueError(
                    f"checkpoint {checkpoint.path} was written with other pretrained_layers; use "
                    "another checkpoint_dir or delete the file."
                )
        return checkpoint

    def _resume(self, checkpoint, P, n_samples=None):
        """Restore the state stored in ``checkpoint``; returns the validation rows it split off."""
        self._restore_state(checkpoint.arrays, checkpoint.extra, P, checkpoint.path)
        val_index = checkpoint.arrays.get("checkpoint/val_index")
        if val_index is not None and n_samples is not None:
            ok = (
                val_index.ndim == 1
                and 0 < len(val_index) < n_samples
                and val_index.dtype == np.int64
                and val_index[0] >= 0
                and val_index[-1] < n_samples
                and np.all(np.diff(val_index) > 0)
            )
            if not ok:
                raise io.ModelFileError(
                    f"{checkpoint.path}: the validation rows are not sorted row indices of the "
                    f"{n_samples} training samples."
                )
        return val_index

    def _write_checkpoint(self, checkpoint, val_index, finished):
        """Write the training state after an epoch (atomically: see :func:`dbn.io.atomic_write`)."""
        arrays, extra = self._state_arrays()
        if val_index is not None:
            arrays["checkpoint/val_index"] = val_index
        checkpoint.write(self._header_params(), arrays, extra, finished=finished)

    # ------------------------------------------------------------------------- epoch boundaries

    def _epoch_snapshot(self, flat, rng, snapshot=None):
        """Copies of the weights, the optimiser state and the random stream (to roll back an epoch).

        Given the ``snapshot`` of an earlier epoch, its buffers are reused.
        """
        state = self._optimizer_state
        arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
        if snapshot is None or snapshot["arrays"].keys() != arrays.keys():
            snapshot = {"flat": flat.copy(), "arrays": {k: v.copy() for k, v in arrays.items()}}
        else:
            snapshot["flat"][...] = flat
            for name, copy in snapshot["arrays"].items():
                copy[...] = arrays[name]
        snapshot["t"] = state.get("t")
        snapshot["rng"] = rng.bit_generator.state
        return snapshot

    def _roll_back(self, snapshot, flat, rng):
        """Undo the parameter and optimiser steps and the random draws of an unfinished epoch."""
        flat[...] = snapshot["flat"]
        state = self._optimizer_state
        for name, copy in snapshot["arrays"].items():
            state[name][...] = copy
        if snapshot["t"] is not None:
            state["t"] = snapshot["t"]
        rng.bit_generator.state = snapshot["rng"]


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
        if P["solver"] == "lbfgs":
            return self._train_lbfgs(
                X, y, X_val, y_val, P, callbacks, check, sample_weight, val_weight
            )
        trainer = _BackpropTrainer(
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
            self._check_convergence(result, X if y is None else y, P)

    def _train_lbfgs(self, X, y, X_val, y_val, P, callbacks, check, sample_weight, val_weight):
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
        flat, self.coefs_, self.intercepts_ = pack(self.coefs_, self.intercepts_, dtype)
        net = Net(flat, self.coefs_, self.intercepts_, P["kinds"], P["loss"], self.alpha)
        prop = Propagation(net.sizes(), X.shape[0], dtype)
        objective = full_batch_objective(net, X, y, prop, sample_weight)
        last_time = [time.perf_counter()]
        val_key, metric_key = self._VALIDATION_KEYS
        stopped = []

        def record(intermediate_result):
            net.flat[...] = intermediate_result.x
            logs = {"train_loss": float(intermediate_result.fun), "learning_rate": np.nan}
            if X_val is not None:
                val_loss, metric, _ = self._evaluate_weighted(X_val, y_val, val_weight)
                logs.update({val_key: val_loss, metric_key: metric})
            self.n_iter_ += 1
            logs["epoch"] = self.n_iter_
            # The iteration's own seconds, as an epoch's in run_epochs.
            now = time.perf_counter()
            logs["time"], last_time[0] = now - last_time[0], now
            for key, values in self.history_.items():
                value = logs.get(key, np.nan)
                values.append(int(value) if key == "epoch" else float(value))
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {logs['train_loss']:.8f}")
            if callbacks.on_epoch_end(self, self.n_iter_, logs):
                stopped.append(self.n_iter_)
                raise StopIteration

        x0 = flat.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            result = minimize(
                objective,
                x0,
                method="L-BFGS-B",
                jac=True,
                callback=record,
                options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
            )
        net.flat[...] = result.x
        if not np.isfinite(net.flat).all():
            raise DivergenceError(
                "Solver produced non-finite parameter weights. The input data may contain large "
                "values and need to be preprocessed (solver='lbfgs')."
            )
        self.t_ += X.shape[0]
        if self.history_["train_loss"]:
            self.best_loss_ = min(self.history_["train_loss"])
        if check and not stopped and result.status != 0:
            message = result.message
            message = message.decode() if isinstance(message, bytes) else message
            warnings.warn(
                f"{type(self).__name__}: lbfgs failed to converge after {self.n_iter_} "
                f"iteration(s) (status={result.status}): {message}. Increase max_iter "
                f"(currently {self.max_iter}) or max_fun (currently {self.max_fun}), or scale "
                "the data.",
                ConvergenceWarning,
                stacklevel=external_stacklevel(),
            )

    def _evaluate_weighted(self, X, y, sample_weight):
        """:meth:`_evaluate` on a validation set, weighted when ``sample_weight`` is given."""
        if sample_weight is None:
            return self._evaluate(X, y)
        return self._evaluate(X, y, sample_weight=sample_weight)

    def _check_convergence(self, result, target, P):
        """Warn (ConvergenceWarning) when ``fit`` ended unconverged or without having learnt.

        Only for a run that the ``n_iter_no_change`` rule or ``max_iter`` ended, not a callback
        or an interrupt; ``target`` is what the net learns to output (``y``, or ``X`` for an
        autoencoder). The rule and its thresholds: :mod:`dbn._training.convergence`.
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
        )
        if message is not None:
            warnings.warn(message, ConvergenceWarning, stacklevel=external_stacklevel())


class _BackpropTrainer(EpochTrainer):
    """The epochs of a :class:`BackpropEstimator`, for :func:`dbn._training.loop.run_epochs`.

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
