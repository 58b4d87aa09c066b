"""Model files and per-epoch checkpoints of the backprop estimators: :class:`NetworkState`.

Everything training reads and writes (weights, pretrained layers, optimiser state, random stream,
counters, early-stopping state, ``history_``) is saved and restored here, in pickle-free model
files (:mod:`dbn.io`) and the checkpoints of :class:`~dbn._training.checkpoint.CheckpointFile`.
:class:`dbn._network.BackpropEstimator` derives from it; this module imports no estimator.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from . import io
from ._backprop import layout, pack
from ._training.checkpoint import CheckpointFile
from ._validation import check_dtype, check_is_fitted, check_random_state

__all__ = ["NetworkState", "history_from_json", "history_to_json"]

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
        if getattr(self, "input_offset_", None) is not None:
            arrays["input_offset"] = self.input_offset_
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
        offset = arrays.get("input_offset")
        if offset is not None and (offset.shape != (n_features,) or offset.dtype != dtype):
            fail(
                f"input_offset has shape {offset.shape} and dtype {offset.dtype}; expected "
                f"({n_features},) of {dtype}, one training mean per feature."
            )
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
        self.input_offset_ = None if offset is None else offset.copy()
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
        return cls._from_saved(header["params"], header.get("extra", {}), arrays, path)

    @classmethod
    def _from_saved(cls, stored_params, extra, arrays, source):
        """The model :meth:`save` stored as ``(params, extra, arrays)``; ``source`` names it in
        errors. Also reads a net stored inside another model's file (``dbn.DBNClassifier``)."""
        try:
            params = cls._params_from_json(stored_params)
            n_pretrained = int(extra.get("n_pretrained", 0))
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
            raise io.ModelFileError(f"{source}: invalid stored parameters ({exc}).") from exc
        model._restore_state(arrays, extra, P, source)
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
