"""Restricted Boltzmann Machines trained with contrastive divergence (CD-k) or persistent CD.

The estimators own the epoch loop, schedules, monitoring and history; the per-minibatch element-wise
arithmetic lives in :mod:`dbn._kernels.rbm` and the GEMMs go through numpy's BLAS.

Parameter names follow :class:`sklearn.neural_network.BernoulliRBM` where the two overlap, so a dbn RBM
can replace sklearn's in a ``Pipeline``.

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence. Neural
Computation 14(8).
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the likelihood
gradient. ICML.
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR 2010-003.
Hinton, G. E., & Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science 313(5786).
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np

from . import io
from ._base import ParamsMixin
from ._kernels import rbm as kernels
from ._kernels.counter_random import draw_key
from ._validation import (
    DivergenceError,
    check_array,
    check_choice,
    check_is_fitted,
    check_random_state,
    check_scalar,
)

__all__ = ["BernoulliRBM", "GaussianBernoulliRBM"]

_HISTORY_KEYS = (
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


class _BaseRBM(ParamsMixin):
    """Shared training machinery; subclasses fix the visible unit type."""

    _visible_unit = "bernoulli"

    def __init__(
        self,
        n_components=256,
        *,
        learning_rate=0.1,
        batch_size=100,
        n_iter=10,
        k=1,
        persistent=False,
        n_chains=None,
        momentum=0.5,
        final_momentum=0.9,
        momentum_switch_epoch=5,
        weight_decay=0.0002,
        sparsity_target=None,
        sparsity_cost=0.0,
        sparsity_damping=0.9,
        learning_rate_schedule="constant",
        learning_rate_decay=0.98,
        shuffle=True,
        positive_hidden="probabilities",
        sample_visible=False,
        hidden_unit="bernoulli",
        init_std=0.01,
        monitor_size=1000,
        verbose=0,
        random_state=None,
    ):
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.k = k
        self.persistent = persistent
        self.n_chains = n_chains
        self.momentum = momentum
        self.final_momentum = final_momentum
        self.momentum_switch_epoch = momentum_switch_epoch
        self.weight_decay = weight_decay
        self.sparsity_target = sparsity_target
        self.sparsity_cost = sparsity_cost
        self.sparsity_damping = sparsity_damping
        self.learning_rate_schedule = learning_rate_schedule
        self.learning_rate_decay = learning_rate_decay
        self.shuffle = shuffle
        self.positive_hidden = positive_hidden
        self.sample_visible = sample_visible
        self.hidden_unit = hidden_unit
        self.init_std = init_std
        self.monitor_size = monitor_size
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _validate_params(self):
        I, R = numbers.Integral, numbers.Real
        check_scalar(self.n_components, "n_components", kind=I, low=1)
        check_scalar(self.learning_rate, "learning_rate", kind=R, low=0, low_inclusive=False)
        check_scalar(self.batch_size, "batch_size", kind=I, low=1)
        check_scalar(self.n_iter, "n_iter", kind=I, low=1)
        check_scalar(self.k, "k", kind=I, low=1)
        for flag in ("persistent", "shuffle", "sample_visible"):
            value = getattr(self, flag)
            if not isinstance(value, bool | np.bool_):
                raise TypeError(f"{flag} must be True or False, got {value!r}.")
        if isinstance(self.verbose, bool | np.bool_) or not isinstance(
            self.verbose, numbers.Integral
        ):
            raise TypeError(f"verbose must be an int (0, 1 or 2), got {self.verbose!r}.")
        if self.n_chains is not None:
            check_scalar(self.n_chains, "n_chains", kind=I, low=1)
        check_scalar(self.momentum, "momentum", kind=R, low=0, high=1, high_inclusive=False)
        check_scalar(
            self.final_momentum, "final_momentum", kind=R, low=0, high=1, high_inclusive=False
        )
        check_scalar(self.momentum_switch_epoch, "momentum_switch_epoch", kind=I, low=0)
        check_scalar(self.weight_decay, "weight_decay", kind=R, low=0)
        if self.sparsity_target is not None:
            check_scalar(
                self.sparsity_target,
                "sparsity_target",
                kind=R,
                low=0,
                high=1,
                low_inclusive=False,
                high_inclusive=False,
            )
        check_scalar(self.sparsity_cost, "sparsity_cost", kind=R, low=0)
        check_scalar(
            self.sparsity_damping, "sparsity_damping", kind=R, low=0, high=1, high_inclusive=False
        )
        if not callable(self.learning_rate_schedule):
            check_choice(
                self.learning_rate_schedule,
                "learning_rate_schedule",
                ("constant", "exponential", "linear"),
            )
        check_scalar(
            self.learning_rate_decay,
            "learning_rate_decay",
            kind=R,
            low=0,
            high=1,
            low_inclusive=False,
        )
        check_choice(self.positive_hidden, "positive_hidden", ("probabilities", "samples"))
        check_choice(self.hidden_unit, "hidden_unit", ("bernoulli", "gaussian"))
        check_scalar(self.init_std, "init_std", kind=R, low=0)
        check_scalar(self.monitor_size, "monitor_size", kind=I, low=0)

    def _check_input(self, X, name="X", *, reset=False, min_samples=1):
        value_range = (0.0, 1.0) if self._visible_unit == "bernoulli" else None
        n_features = None if reset else getattr(self, "n_features_in_", None)
        return check_array(
            X,
            name,
            accept_sparse=True,
            min_samples=min_samples,
            n_features=n_features,
            value_range=value_range,
        )

    # ------------------------------------------------------------------ public API
    def fit(self, X, y=None, *, X_val=None, callbacks=None):
        """Train the RBM on ``X`` for ``n_iter`` epochs.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Training data. For Bernoulli visible units it must lie in [0, 1]; probabilities are used
            as data, as in Hinton (2010).
        y : ignored
        X_val : array-like of shape (n_val, n_features), optional
            Held-out data for the free-energy overfitting monitor (Hinton 2010, section 6).
        callbacks : list of callable, optional
            Each is called as ``callback(rbm, epoch, record)`` after every epoch, ``record`` being the
            epoch's history entry; a callback returning ``True`` stops training.

        Returns
        -------
        self
        """
        self._validate_params()
        X = self._check_input(X, reset=True)
        if self.batch_size > X.shape[0]:
            raise ValueError(
                f"batch_size={self.batch_size} is larger than the number of samples in X "
                f"({X.shape[0]}); use batch_size <= {X.shape[0]}."
            )
        if X_val is not None:
            X_val = check_array(
                X_val,
                "X_val",
                accept_sparse=True,
                n_features=X.shape[1],
                value_range=(0.0, 1.0) if self._visible_unit == "bernoulli" else None,
            )
        callbacks = _check_callbacks(callbacks)
        self._initialize(X)
        self._train(X, 0, self.n_iter, X_val=X_val, callbacks=callbacks)
        return self

    def partial_fit(self, X, y=None):
        """One pass of CD updates over ``X``, in order, in minibatches of ``batch_size``.

        The first call initialises the model. The momentum and learning rate are those of epoch
        ``n_epochs_`` of the schedules, which ``partial_fit`` does not advance: calling it on
        consecutive minibatches of a data set gives the same weights as one unshuffled epoch of
        ``fit``.
        """
        self._validate_params()
        first = not hasattr(self, "components_")
        X = self._check_input(X, reset=first)
        if first:
            self._initialize(X)
        else:
            X = self._as_model_dtype(X)
        self._ensure_buffers(X.dtype)
        epoch = self.n_epochs_
        self._run_epoch(X, np.arange(X.shape[0]), epoch)
        return self

    def transform(self, X):
        """Hidden unit means ``E[h | v]``: the features passed to the next layer of a DBN.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        H : ndarray of shape (n_samples, n_components), same float dtype as the model
        """
        check_is_fitted(self, "components_")
        X = self._check_input(X)
        return self._hidden_mean(self._as_model_dtype(X))

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X, **fit_params).transform(X)

    def free_energy(self, X):
        """Free energy ``F(v) = -log sum_h exp(-E(v, h))`` of each row of ``X``.

        ``p(v) = exp(-F(v)) / Z``; a training-set average far below the validation average signals
        overfitting (Hinton 2010, section 6).

        Returns
        -------
        F : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self, "components_")
        X = self._as_model_dtype(self._check_input(X))
        return self._free_energy(X)

    def score_samples(self, X):
        """Pseudo-log-likelihood of each row, as sklearn's BernoulliRBM computes it.

        One randomly chosen feature of each row is flipped and ``n_features * log sigmoid(F(v_flip) -
        F(v))`` is returned (Besag 1975). The flips come from ``random_state``, so the same seed gives
        the same scores.
        """
        check_is_fitted(self, "components_")
        X = self._as_model_dtype(self._check_input(X))
        rng = check_random_state(self.random_state)
        return self._pseudo_likelihood(X, rng)

    def score(self, X, y=None):
        """Mean of :meth:`score_samples`."""
        return float(np.mean(self.score_samples(X)))

    def gibbs(self, v):
        """One Gibbs step ``v -> h -> v'`` with sampled states; returns ``v'`` (sklearn semantics)."""
        check_is_fitted(self, "components_")
        v = self._as_model_dtype(self._check_input(v, "v"))
        rng = self._rng
        h = self._sample_hidden(v, rng)
        return self._sample_visible(h, rng)[1]

    def sample(
        self,
        n_samples=100,
        n_steps=1000,
        *,
        init=None,
        return_probabilities=False,
        random_state=None,
    ):
        """Draw visible samples by block Gibbs sampling.

        Parameters
        ----------
        n_samples : int
            Number of independent chains, ignored when ``init`` is an array.
        n_steps : int
            Gibbs steps ``v -> h -> v`` per chain.
        init : array-like of shape (n_chains, n_features), optional
            Start the chains from data; by default they start from uniform noise (Bernoulli) or
            standard normal noise (Gaussian).
        return_probabilities : bool
            Return the visible means of the last step instead of samples (smoother images).
        random_state : int or Generator, optional
            Defaults to the estimator's ``random_state``.

        Returns
        -------
        V : ndarray of shape (n_chains, n_features)
        """
        check_is_fitted(self, "components_")
        check_scalar(n_samples, "n_samples", kind=numbers.Integral, low=1)
        check_scalar(n_steps, "n_steps", kind=numbers.Integral, low=1)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        dtype = self.components_.dtype
        if init is None:
            shape = (n_samples, self.n_features_in_)
            if self._visible_unit == "bernoulli":
                v = (rng.random(shape) < 0.5).astype(dtype)
            else:
                v = rng.standard_normal(shape).astype(dtype)
        else:
            v = self._as_model_dtype(self._check_input(init, "init"))
            if hasattr(v, "toarray"):
                v = v.toarray()
        for _ in range(n_steps):
            h = self._sample_hidden(v, rng)
            mean, v = self._sample_visible(h, rng)
        return mean if return_probabilities else v

    def save(self, path):
        """Save the fitted model to a pickle-free ``.npz`` file (see :mod:`dbn.io`)."""
        check_is_fitted(self, "components_")
        arrays, extra = self._state_arrays()
        io.save_arrays(path, type(self).__name__, self._json_params(), arrays, extra)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save`; the round trip is exact."""
        header, arrays = io.load_arrays(path, kind=cls.__name__)
        model = cls(**header["params"])
        model._restore_state(arrays, header["extra"], path)
        return model

    # ------------------------------------------------------------------ state
    @property
    def sigma_(self):
        """Standard deviation of each visible unit (ones for Bernoulli or fixed-variance units)."""
        if getattr(self, "log_variance_", None) is not None:
            return np.exp(0.5 * self.log_variance_)
        return np.ones(self.n_features_in_, dtype=self.components_.dtype)

    def _learns_variance(self):
        return False

    def _json_params(self):
        params = self.get_params(deep=False)
        for name in ("random_state", "learning_rate_schedule"):
            value = params[name]
            if not (value is None or isinstance(value, int | str)):
                # A Generator or a callable cannot go into a JSON header; the weights are what count.
                params[name] = None if name == "random_state" else "constant"
        return params

    def _parameter_names(self):
        names = ["components_", "intercept_hidden_", "intercept_visible_"]
        if self._learns_variance():
            names.append("log_variance_")
        return names

    def _state_arrays(self):
        arrays = {name: getattr(self, name) for name in self._parameter_names()}
        for name in self._parameter_names():
            arrays["velocity_" + name] = self._velocity[name]
        if self._chain_hidden is not None:
            arrays["persistent_chains_"] = self._chain_hidden
        if self._running_activity is not None:
            arrays["running_activity_"] = self._running_activity
        extra = {
            "n_features_in_": self.n_features_in_,
            "n_epochs_": self.n_epochs_,
            "history_": self.history_,
            "rng_state": self._rng.bit_generator.state,
        }
        return arrays, extra

    def _restore_state(self, arrays, extra, source="state"):
        W = arrays["components_"]
        if W.ndim != 2 or W.shape[0] != self.n_components:
            raise io.ModelFileError(
                f"{source}: components_ has shape {W.shape}, expected ({self.n_components}, "
                f"n_features)."
            )
        n_hidden, n_visible = W.shape
        expected = {"intercept_hidden_": (n_hidden,), "intercept_visible_": (n_visible,)}
        if self._learns_variance():
            expected["log_variance_"] = (n_visible,)
        for name, shape in expected.items():
            if name not in arrays or arrays[name].shape != shape or arrays[name].dtype != W.dtype:
                got = arrays[name].shape if name in arrays else "nothing"
                raise io.ModelFileError(
                    f"{source}: {name} must have shape {shape} and dtype {W.dtype}, got {got}."
                )
        self.n_features_in_ = int(extra.get("n_features_in_", n_visible))
        # order="F": components_ is kept column-major (see _use_column_major_weights).
        for name in self._parameter_names():
            setattr(self, name, np.array(arrays[name], order="F"))
        self._velocity = {
            name: np.array(arrays.get("velocity_" + name, np.zeros_like(arrays[name])), order="F")
            for name in self._parameter_names()
        }
        chains = arrays.get("persistent_chains_")
        self._chain_hidden = None if chains is None else np.array(chains)
        activity = arrays.get("running_activity_")
        self._running_activity = None if activity is None else np.array(activity)
        self.n_epochs_ = int(extra.get("n_epochs_", 0))
        self.history_ = {key: list(extra.get("history_", {}).get(key, [])) for key in _HISTORY_KEYS}
        self._rng = np.random.default_rng()
        if "rng_state" in extra:
            self._rng.bit_generator.state = extra["rng_state"]
        self._buffers = None

    def _initialize(self, X):
        n_visible = X.shape[1]
        dtype = X.dtype
        self._rng = check_random_state(self.random_state)
        self.n_features_in_ = n_visible
        # Small random weights, zero hidden biases (Hinton 2010, section 8).
        self.components_ = np.asfortranarray(
            self.init_std * self._rng.standard_normal((self.n_components, n_visible)), dtype=dtype
        )
        self.intercept_hidden_ = np.zeros(self.n_components, dtype=dtype)
        self.intercept_visible_ = self._initial_visible_bias(X).astype(dtype)
        if self._learns_variance():
            self.log_variance_ = np.zeros(n_visible, dtype=dtype)
        self._velocity = {
            name: np.zeros_like(getattr(self, name)) for name in self._parameter_names()
        }
        self._chain_hidden = None
        if self.persistent:
            n_chains = self.n_chains or self.batch_size
            rows = self._rng.choice(X.shape[0], size=n_chains, replace=n_chains > X.shape[0])
            self._chain_hidden = self._sample_hidden(self._dense_rows(X, rows), self._rng)
        self._running_activity = (
            None
            if self.sparsity_target is None
            else np.full(self.n_components, self.sparsity_target, dtype=dtype)
        )
        self.n_epochs_ = 0
        self.history_ = {key: [] for key in _HISTORY_KEYS}
        self._buffers = None

    def _initial_visible_bias(self, X):
        # Hinton (2010, section 8.1): log(p / (1 - p)) makes the initial reconstruction the mean image.
        mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
        if self._visible_unit == "bernoulli":
            p = np.clip(mean, 1e-3, 1 - 1e-3)
            return np.log(p / (1 - p))
        return mean

    # ------------------------------------------------------------------ training loop
    def _train(self, X, start_epoch, stop_epoch, *, X_val=None, callbacks=None):
        self._ensure_buffers(X.dtype)
        # Monitoring draws from its own stream, so it never changes the training weights and a
        # resumed run sees the same monitoring subset.
        seed = self.random_state
        if not isinstance(seed, numbers.Integral):
            seed = int(self._rng.integers(np.iinfo(np.int64).max))
        monitor_rng = np.random.default_rng([int(seed), 12345])
        n_monitor = min(self.monitor_size, X.shape[0])
        monitor_rows = np.sort(monitor_rng.choice(X.shape[0], n_monitor, replace=False))
        X_monitor = self._dense_rows(X, monitor_rows) if n_monitor else None
        if X_val is not None and X_val.shape[0] > max(n_monitor, 1):
            X_val = self._dense_rows(X_val, np.arange(max(n_monitor, 1)))
        elif X_val is not None:
            X_val = self._dense_rows(X_val, np.arange(X_val.shape[0]))
        epochs = range(start_epoch, stop_epoch)
        progress = None
        if self.verbose:
            from tqdm.auto import tqdm

            progress = tqdm(epochs, desc=f"{type(self).__name__}({self.n_components})", leave=False)
            epochs = progress
        try:
            for epoch in epochs:
                snapshot = self._snapshot()
                start = time.perf_counter()
                order = self._rng.permutation(X.shape[0]) if self.shuffle else np.arange(X.shape[0])
                try:
                    self._run_epoch(X, order, epoch)
                except KeyboardInterrupt:
                    self._restore_snapshot(snapshot)
                    warnings.warn(
                        f"Training interrupted during epoch {epoch + 1}; the model holds the "
                        f"parameters after epoch {epoch} ({epoch} completed epochs).",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    return
                except DivergenceError:
                    self._restore_snapshot(snapshot)
                    raise
                self.n_epochs_ = epoch + 1
                elapsed = time.perf_counter() - start
                record = self._monitor(epoch, X_monitor, X_val, monitor_rng, elapsed)
                if progress is not None:
                    progress.set_postfix(
                        recon=f"{record['reconstruction_error']:.4g}", refresh=False
                    )
                if self.verbose >= 2:
                    print(_format_record(record))
                if callbacks:
                    stop = False
                    for callback in callbacks:
                        stop = bool(callback(self, epoch, record)) or stop
                    if stop:
                        break
        finally:
            if progress is not None:
                progress.close()

    def _snapshot(self):
        params = {name: getattr(self, name).copy() for name in self._parameter_names()}
        velocity = {name: v.copy() for name, v in self._velocity.items()}
        chains = None if self._chain_hidden is None else self._chain_hidden.copy()
        activity = None if self._running_activity is None else self._running_activity.copy()
        return params, velocity, chains, activity, self.n_epochs_, self._rng.bit_generator.state

    def _restore_snapshot(self, snapshot):
        params, velocity, chains, activity, n_epochs, rng_state = snapshot
        for name, value in params.items():
            getattr(self, name)[...] = value
        for name, value in velocity.items():
            self._velocity[name][...] = value
        self._chain_hidden = chains
        self._running_activity = activity
        self.n_epochs_ = n_epochs
        self._rng.bit_generator.state = rng_state

    def _schedule(self, epoch):
        """Learning rate and momentum of ``epoch`` (0-based)."""
        schedule = self.learning_rate_schedule
        if callable(schedule):
            lr = schedule(epoch)
            if not isinstance(lr, numbers.Real) or not np.isfinite(lr) or lr <= 0:
                raise ValueError(
                    f"learning_rate_schedule({epoch}) must return a finite learning rate > 0, "
                    f"got {lr!r}."
                )
            lr = float(lr)
        elif schedule == "exponential":
            lr = self.learning_rate * self.learning_rate_decay**epoch
        elif schedule == "linear":
            # Tieleman (2008) decays PCD's learning rate linearly to zero over training.
            lr = self.learning_rate * (1.0 - epoch / max(self.n_iter, 1))
        else:
            lr = self.learning_rate
        momentum = self.momentum if epoch < self.momentum_switch_epoch else self.final_momentum
        return lr, momentum

    def _run_epoch(self, X, order, epoch):
        lr, momentum = self._schedule(epoch)
        batch = self.batch_size
        for start in range(0, order.shape[0], batch):
            v0 = self._gather(X, order[start : start + batch])
            # Overflow is detected by the update kernel and reported as a DivergenceError.
            with np.errstate(over="ignore", invalid="ignore"):
                finite = self._cd_step(v0, lr, momentum, data_mean_ready=True)
            if not finite:
                raise DivergenceError(
                    f"{type(self).__name__} diverged in epoch {epoch + 1} (minibatch "
                    f"{start // batch + 1}): the weights became NaN or inf. Use a smaller "
                    f"learning_rate (got {lr:g}) or momentum, or standardise the data; the model "
                    f"keeps the parameters of the last completed epoch ({epoch})."
                )

    def _monitor(self, epoch, X_monitor, X_val, rng, elapsed):
        lr, momentum = self._schedule(epoch)
        record = dict.fromkeys(_HISTORY_KEYS, float("nan"))
        record.update(epoch=epoch + 1, learning_rate=lr, momentum=momentum, time=elapsed)
        if X_monitor is not None:
            hidden = self._hidden_mean(X_monitor)
            recon = self._visible_mean(hidden)
            record["reconstruction_error"] = (
                kernels.squared_error_sum(X_monitor, recon) / X_monitor.shape[0]
            )
            if self._visible_unit == "bernoulli":
                record["pseudo_likelihood"] = float(
                    np.mean(self._pseudo_likelihood(X_monitor, rng))
                )
            record["free_energy_train"] = float(np.mean(self._free_energy(X_monitor)))
        if X_val is not None:
            record["free_energy_validation"] = float(np.mean(self._free_energy(X_val)))
            record["free_energy_gap"] = (
                record["free_energy_validation"] - record["free_energy_train"]
            )
        for key, value in record.items():
            self.history_[key].append(float(value) if key != "epoch" else int(value))
        return record

    # ------------------------------------------------------------------ the CD step
    def _ensure_buffers(self, dtype):
        if self.components_.dtype != dtype:
            raise TypeError(
                f"X has dtype {dtype}, but the model was fitted with {self.components_.dtype}."
            )
        self._use_column_major_weights()
        if self._buffers is not None:
            return
        B, H, V = self.batch_size, self.n_components, self.n_features_in_
        C = (self.n_chains or B) if self.persistent else B
        empty = np.empty
        self._buffers = {
            "v0": empty((B, V), dtype),
            "hidden_pre": empty((max(B, C), H), dtype),
            "hidden_mean": empty((B, H), dtype),
            "hidden_state": empty((B, H), dtype),
            "hidden_mean_model": empty((C, H), dtype),
            "visible_pre": empty((C, V), dtype),
            "visible_mean": empty((C, V), dtype),
            "visible_state": empty((C, V), dtype),
            "noise_visible": empty((C, V), dtype),
            "noise_hidden": empty((max(B, C), H), dtype),
            # Data and model statistics stacked row-wise, so the weight gradient is one GEMM.
            "stacked_hidden": empty((B + C, H), dtype),
            "stacked_visible": empty((B + C, V), dtype),
            "grad_W_t": empty((V, H), dtype),
            "grad_hidden": empty(H, dtype),
            "grad_visible": empty(V, dtype),
            "grad_log_var": empty(V, dtype),
            "sparsity": empty(H, dtype),
            "top_down": empty((B, V), dtype) if self._learns_variance() else None,
        }

    def _use_column_major_weights(self):
        """Store ``components_`` (and its velocity) column-major, as sklearn's BernoulliRBM does.

        Then ``components_.T`` is the C-contiguous (n_features, n_components) matrix: the GEMMs
        ``v @ W.T`` take OpenBLAS's faster untransposed path, the weight gradient comes out in the same
        layout, and the update kernel runs over both as flat arrays (measured 4 % fewer GEMM seconds
        per CD-1 step than the row-major layout). A user may assign any layout; it is converted here.
        """
        if not self.components_.flags.f_contiguous:
            self.components_ = np.asfortranarray(self.components_)
        velocity = self._velocity["components_"]
        if not velocity.flags.f_contiguous:
            self._velocity["components_"] = np.asfortranarray(velocity)

    def _gather(self, X, rows):
        """Minibatch ``X[rows]`` into the data block of the stacked visible statistics (or into
        the ``v0`` buffer when learned variances rescale it), and the data's column means into the
        visible-bias gradient."""
        b = rows.shape[0]
        buf = self._buffers
        out = buf["v0"][:b] if self._learns_variance() else buf["stacked_visible"][:b]
        if hasattr(X, "tocsr"):
            out[...] = X[rows].toarray()
            np.mean(out, axis=0, out=buf["grad_visible"])
        else:
            kernels.gather_rows_with_column_mean(X, rows, out, buf["grad_visible"])
        return out

    def _dense_rows(self, X, rows):
        part = X[rows]
        part = part.toarray() if hasattr(part, "toarray") else part
        return np.ascontiguousarray(
            part, dtype=self.components_.dtype if hasattr(self, "components_") else X.dtype
        )

    def _cd_step(self, v0, lr, momentum, *, data_mean_ready=False):
        """One CD-k / PCD update on the minibatch ``v0``; returns False on non-finite parameters.

        ``data_mean_ready`` says that :meth:`_gather` already put ``v0``'s column means into the
        visible-bias gradient buffer (and ``v0`` itself into the stacked statistics).
        """
        buf = self._buffers
        rng = self._rng
        W_t = self.components_.T  # (V, H), C-contiguous: see _use_column_major_weights
        dtype = W_t.dtype.type
        b = v0.shape[0]
        learns_variance = self._learns_variance()
        sigma = self.sigma_ if learns_variance else None
        # Data and model statistics are stacked row-wise, so the weight gradient is one GEMM:
        # grad_W.T = [v_data; v_model].T @ [h_data / b; -h_model / c]. Each unit kernel writes its
        # block of the stack and adds its column sums to the bias gradient as it goes.
        stacked_h, stacked_v = buf["stacked_hidden"], buf["stacked_visible"]
        grad_hidden, grad_visible = buf["grad_hidden"], buf["grad_visible"]
        if not data_mean_ready:
            np.mean(v0, axis=0, out=grad_visible)
        v0_in = self._scaled_visible(v0, sigma, stacked_v[:b])
        # Positive phase: hidden means given the data, plus samples to start the chain.
        h_pre = buf["hidden_pre"][:b]
        np.matmul(v0_in, W_t, out=h_pre)
        h_mean, h_state = buf["hidden_mean"][:b], buf["hidden_state"][:b]
        grad_hidden[:] = 0
        self._units_with_statistics(
            "hidden",
            h_pre,
            h_mean,
            h_state,
            sample=True,
            statistic_is_sample=self.positive_hidden == "samples",
            statistic_out=stacked_h[:b],
            statistic_scale=dtype(1.0 / b),
            column_sum=grad_hidden,
            column_scale=dtype(1.0 / b),
        )
        if learns_variance:
            grad_visible[:] = 0
            buf["grad_log_var"][:] = 0
            top_down = buf["top_down"][:b]
            np.matmul(h_mean, W_t.T, out=top_down)
            kernels.gaussian_visible_statistics(
                v0, self.intercept_visible_, sigma, top_down, grad_visible, buf["grad_log_var"], 1.0
            )
        # Negative phase: k Gibbs steps from the data (CD) or from the persistent chains (PCD).
        chain = self._chain_hidden if self.persistent else h_state
        c = chain.shape[0]
        v_pre, v_mean = buf["visible_pre"][:c], buf["visible_mean"][:c]
        v_state, h_neg_mean = buf["visible_state"][:c], buf["hidden_mean_model"][:c]
        v_neg_in = stacked_v[b : b + c]
        model_scale = dtype(-1.0 / c)
        for step in range(self.k):
            last = step == self.k - 1
            np.matmul(chain, W_t.T, out=v_pre)
            # Intermediate steps and PCD chains must be proper Gibbs samples; the final
            # reconstruction of CD may use probabilities to reduce noise (Hinton 2010, 3.2).
            sample_v = self.persistent or not last or self.sample_visible
            if last and sigma is None:
                # The final visible states go straight into the stacked statistics.
                self._units_with_statistics(
                    "visible",
                    v_pre,
                    v_mean,
                    v_state,
                    sample=sample_v,
                    statistic_is_sample=sample_v,
                    statistic_out=v_neg_in,
                    statistic_scale=dtype(1.0),
                    column_sum=grad_visible,
                    column_scale=model_scale,
                )
                v_neg = v_state if sample_v else v_mean
            else:
                self._visible_units(v_pre, v_mean, v_state, rng, sample=sample_v)
                v_neg = v_state if sample_v else v_mean
                self._scaled_visible(v_neg, sigma, v_neg_in)
            h_pre_neg = buf["hidden_pre"][:c]
            np.matmul(v_neg_in, W_t, out=h_pre_neg)
            keep_chain = self.persistent or not last
            if last:
                self._units_with_statistics(
                    "hidden",
                    h_pre_neg,
                    h_neg_mean,
                    chain,
                    sample=keep_chain,
                    statistic_is_sample=False,
                    statistic_out=stacked_h[b : b + c],
                    statistic_scale=model_scale,
                    column_sum=grad_hidden,
                    column_scale=model_scale,
                )
            else:
                self._hidden_units(h_pre_neg, h_neg_mean, chain, rng, sample=True)
        if learns_variance:
            kernels.gaussian_visible_statistics(
                v_neg,
                self.intercept_visible_,
                sigma,
                v_pre,
                grad_visible,
                buf["grad_log_var"],
                -1.0,
            )
        grad_W_t = buf["grad_W_t"]
        np.matmul(stacked_v[: b + c].T, stacked_h[: b + c], out=grad_W_t)
        if self.sparsity_target is not None and self.sparsity_cost > 0:
            sparsity = buf["sparsity"]
            kernels.sparsity_gradient(
                h_mean,
                self._running_activity,
                self.sparsity_damping,
                self.sparsity_target,
                sparsity,
            )
            grad_hidden -= self.sparsity_cost * sparsity
            kernels.subtract_outer_sparsity(
                grad_W_t, v0_in.mean(axis=0), sparsity, self.sparsity_cost
            )
        velocity = self._velocity
        finite = kernels.momentum_step(
            W_t, velocity["components_"].T, grad_W_t, lr, momentum, self.weight_decay
        )
        # Biases are not decayed (Hinton 2010, section 10).
        finite &= kernels.momentum_step(
            self.intercept_hidden_, velocity["intercept_hidden_"], grad_hidden, lr, momentum, 0.0
        )
        finite &= kernels.momentum_step(
            self.intercept_visible_,
            velocity["intercept_visible_"],
            grad_visible,
            lr,
            momentum,
            0.0,
        )
        if learns_variance:
            finite &= kernels.momentum_step(
                self.log_variance_,
                velocity["log_variance_"],
                buf["grad_log_var"],
                lr,
                momentum,
                0.0,
            )
        return finite

    def _units_with_statistics(
        self,
        layer,
        pre,
        mean_out,
        sample_out,
        *,
        sample,
        statistic_is_sample,
        statistic_out,
        statistic_scale,
        column_sum,
        column_scale,
    ):
        """Units of ``layer`` ("hidden" or "visible") given ``pre``, writing their CD statistics
        (see :func:`dbn._kernels.rbm.bernoulli_units_with_statistics`)."""
        hidden = layer == "hidden"
        unit = self.hidden_unit if hidden else self._visible_unit
        bias = self.intercept_hidden_ if hidden else self.intercept_visible_
        if unit == "bernoulli":
            key = draw_key(self._rng) if sample else _NO_KEY
            kernels.bernoulli_units_with_statistics(
                pre,
                bias,
                key,
                sample,
                statistic_is_sample,
                mean_out,
                sample_out,
                statistic_scale,
                statistic_out,
                column_scale,
                column_sum,
            )
            return
        if hidden:
            self._hidden_units(pre, mean_out, sample_out, self._rng, sample=sample)
        else:
            self._visible_units(pre, mean_out, sample_out, self._rng, sample=sample)
        units = sample_out if sample and statistic_is_sample else mean_out
        kernels.statistics_of_units(units, statistic_scale, statistic_out, column_scale, column_sum)

    # ------------------------------------------------------------------ unit conditionals
    def _scaled_visible(self, v, sigma, out):
        """Write ``v`` (divided by ``sigma`` for learned variances) into ``out`` and return it."""
        if sigma is None:
            out[...] = v
        else:
            kernels.divide_columns_into(v, sigma, out)
        return out

    def _hidden_units(self, pre, mean_out, sample_out, rng, *, sample):
        if self.hidden_unit == "bernoulli":
            kernels.bernoulli_units(
                pre,
                self.intercept_hidden_,
                draw_key(rng) if sample else None,
                mean_out,
                mean_out if sample_out is None else sample_out,
            )
        else:
            noise = None
            if sample:
                noise = self._buffers["noise_hidden"][: pre.shape[0]] if self._buffers else None
                noise = _fill_normal(rng, pre.shape, pre.dtype, noise)
            kernels.gaussian_units(
                pre,
                self.intercept_hidden_,
                self._unit_scale_hidden(),
                noise,
                mean_out,
                mean_out if sample_out is None else sample_out,
            )

    def _visible_units(self, pre, mean_out, sample_out, rng, *, sample):
        noise = None
        if self._visible_unit == "bernoulli":
            key = draw_key(rng) if sample else None
            kernels.bernoulli_units(pre, self.intercept_visible_, key, mean_out, sample_out)
        else:
            if sample:
                noise = _fill_normal(rng, pre.shape, pre.dtype, self._noise_visible(pre))
            kernels.gaussian_units(
                pre, self.intercept_visible_, self.sigma_, noise, mean_out, sample_out
            )

    def _noise_visible(self, pre):
        buffers = self._buffers
        if buffers is None or buffers["noise_visible"].shape[0] < pre.shape[0]:
            return None
        return buffers["noise_visible"][: pre.shape[0]]

    def _unit_scale_hidden(self):
        scale = getattr(self, "_ones_hidden", None)
        if scale is None or scale.dtype != self.components_.dtype:
            scale = self._ones_hidden = np.ones(self.n_components, dtype=self.components_.dtype)
        return scale

    def _as_model_dtype(self, X):
        dtype = self.components_.dtype
        if X.dtype != dtype:
            X = X.astype(dtype)
        return X

    def _hidden_input(self, X):
        sigma = self.sigma_ if self._learns_variance() else None
        if hasattr(X, "tocsr"):
            if sigma is not None:
                X = X.multiply(1.0 / sigma).tocsr()
            return np.ascontiguousarray(X @ self.components_.T)
        if sigma is not None:
            X = X / sigma
        # The (n_features, n_components) layout the MLP stores, so the BLAS takes the same path and
        # DBN.to_mlp() reproduces these features bit for bit; the copy is cheap next to the product.
        return X @ np.ascontiguousarray(self.components_.T)

    def _hidden_mean(self, X):
        pre = self._hidden_input(X)
        if self.hidden_unit == "bernoulli":
            kernels.bernoulli_units(pre, self.intercept_hidden_, None, pre, pre)
        else:
            kernels.gaussian_units(
                pre, self.intercept_hidden_, self._unit_scale_hidden(), None, pre, pre
            )
        return pre

    def _visible_mean(self, H):
        pre = H @ self.components_
        self._visible_units(pre, pre, pre, None, sample=False)
        return pre

    def _sample_hidden(self, v, rng):
        pre = self._hidden_input(v)
        state = np.empty_like(pre)
        self._hidden_units_unbuffered(pre, state, rng)
        return state

    def _hidden_units_unbuffered(self, pre, state, rng):
        if self.hidden_unit == "bernoulli":
            kernels.bernoulli_units(pre, self.intercept_hidden_, draw_key(rng), pre, state)
        else:
            noise = rng.standard_normal(pre.shape, dtype=pre.dtype)
            kernels.gaussian_units(
                pre, self.intercept_hidden_, self._unit_scale_hidden(), noise, pre, state
            )

    def _sample_visible(self, h, rng):
        pre = h @ self.components_
        mean, state = np.empty_like(pre), np.empty_like(pre)
        if self._visible_unit == "bernoulli":
            kernels.bernoulli_units(pre, self.intercept_visible_, draw_key(rng), mean, state)
        else:
            kernels.gaussian_units(
                pre,
                self.intercept_visible_,
                self.sigma_,
                rng.standard_normal(pre.shape, dtype=pre.dtype),
                mean,
                state,
            )
        return mean, state

    # ------------------------------------------------------------------ energies
    def _free_energy(self, X):
        if hasattr(X, "tocsr"):
            X_dense = X
            visible = np.asarray(X @ self.intercept_visible_.astype(np.float64)).ravel()
        else:
            X_dense = X
            visible = None
        out = np.zeros(X.shape[0], dtype=np.float64)
        if self._visible_unit == "bernoulli":
            out -= (
                visible
                if visible is not None
                else X_dense @ self.intercept_visible_.astype(np.float64)
            )
        else:
            dense = X.toarray() if hasattr(X, "toarray") else X
            sigma = self.sigma_.astype(np.float64)
            diff = (dense - self.intercept_visible_) / sigma
            out += 0.5 * np.einsum("ij,ij->i", diff, diff)
        pre = self._hidden_input(X)
        if self.hidden_unit == "bernoulli":
            kernels.free_energy_bernoulli_hidden(pre, self.intercept_hidden_, out)
        else:
            kernels.free_energy_gaussian_hidden(pre, self.intercept_hidden_, out)
        return out

    def _pseudo_likelihood(self, X, rng):
        if self._visible_unit != "bernoulli":
            raise NotImplementedError("pseudo-likelihood needs binary visible units")
        dense = X.toarray() if hasattr(X, "toarray") else np.array(X)
        n, d = dense.shape
        flip = rng.integers(0, d, n)
        corrupted = dense.copy()
        rows = np.arange(n)
        # Flipping x -> 1 - x keeps probabilities used as data inside [0, 1].
        corrupted[rows, flip] = 1 - corrupted[rows, flip]
        fe = self._free_energy(dense)
        fe_flip = self._free_energy(corrupted)
        return -d * np.logaddexp(0, -(fe_flip - fe))


# Key passed to a sampling kernel that does not sample (a placeholder of the right type).
_NO_KEY = np.uint64(0)


def _check_callbacks(callbacks):
    """``None``, one callable or a list of callables, checked before any training."""
    if callbacks is None:
        return []
    if callable(callbacks):
        return [callbacks]
    if not isinstance(callbacks, list | tuple) or not all(callable(c) for c in callbacks):
        raise TypeError(f"callbacks must be a callable or a list of callables, got {callbacks!r}.")
    return list(callbacks)


def _fill_normal(rng, shape, dtype, out):
    if out is None:
        return rng.standard_normal(shape, dtype=dtype)
    rng.standard_normal(dtype=dtype, out=out)
    return out


def _format_record(record):
    parts = [f"epoch {record['epoch']:3d}"]
    for key in ("reconstruction_error", "pseudo_likelihood", "free_energy_gap", "time"):
        value = record[key]
        if value == value:  # skip NaN (not monitored)
            parts.append(f"{key}={value:.4g}")
    return ", ".join(parts)


class BernoulliRBM(_BaseRBM):
    """RBM with binary visible units and binary (or linear Gaussian) hidden units.

    Trained with CD-k (Hinton 2002) or persistent CD (Tieleman 2008), with momentum, L2 weight decay,
    a sparsity target and learning-rate schedules as in Hinton's practical guide (2010). Data in
    [0, 1] is accepted and treated as probabilities.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    learning_rate : float, default=0.1
        Step size of the CD updates.
    batch_size : int, default=100
        Examples per minibatch.
    n_iter : int, default=10
        Epochs of ``fit``.
    k : int, default=1
        Gibbs steps in the negative phase (CD-k).
    persistent : bool, default=False
        Use persistent chains (PCD) instead of restarting at the data. PCD tolerates momentum badly:
        with ``final_momentum=0.9`` a 500-unit MNIST model was seen to jump from reconstruction error
        29 to 59 when the momentum switched; keep ``final_momentum=0.5`` (or a small learning rate with
        ``learning_rate_schedule="linear"``, Tieleman 2008) for PCD.
    n_chains : int, optional
        Number of persistent chains; defaults to ``batch_size``.
    momentum, final_momentum : float, default=0.5, 0.9
        Momentum before and from ``momentum_switch_epoch`` on.
    momentum_switch_epoch : int, default=5
    weight_decay : float, default=0.0002
        L2 penalty on the weights (not the biases).
    sparsity_target : float, optional
        Desired mean activity of each hidden unit (Hinton 2010, section 11).
    sparsity_cost : float, default=0.0
        Weight of the sparsity penalty.
    sparsity_damping : float, default=0.9
        Decay of the running estimate of each unit's activity.
    learning_rate_schedule : {"constant", "exponential", "linear"} or callable, default="constant"
        A callable receives the 0-based epoch and returns the learning rate.
    learning_rate_decay : float, default=0.98
        Factor per epoch for the exponential schedule.
    shuffle : bool, default=True
        Reshuffle the examples every epoch.
    positive_hidden : {"probabilities", "samples"}, default="probabilities"
        Hidden states used in the data statistics: mean-field probabilities (less noise, Hinton 2010
        section 3.3) or the sampled binary states.
    sample_visible : bool, default=False
        Sample the final reconstruction instead of using its probabilities (CD only; PCD chains are
        always sampled).
    hidden_unit : {"bernoulli", "gaussian"}, default="bernoulli"
        ``"gaussian"`` gives linear hidden units with unit-variance Gaussian noise, as in the code
        layer of Hinton & Salakhutdinov (2006); use a small learning rate (about 0.001) with them.
    init_std : float, default=0.01
        Standard deviation of the initial Gaussian weights (Hinton 2010 uses 0.01; Hinton &
        Salakhutdinov 2006 used 0.1).
    monitor_size : int, default=1000
        Number of training examples on which the reconstruction error, pseudo-likelihood and free
        energy are monitored after each epoch.
    verbose : int, default=0
        1 shows a progress bar, 2 also prints each epoch's record.
    random_state : int, numpy Generator or None
        Seeds weights, shuffling and sampling. With the same integer seed and the same number of
        BLAS threads, training gives bit-identical weights; with several threads the BLAS may sum in
        another order, which changes the last bits. Binary units are sampled with uniforms from a
        counter-based SplitMix64 stream whose key is drawn from this Generator once per minibatch
        (:mod:`dbn._kernels.counter_random`), so the Generator is the only random state.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Weights ``W``, stored column-major (as in sklearn's BernoulliRBM) so that ``components_.T``
        is C-contiguous for the matrix products.
    intercept_hidden_ : ndarray of shape (n_components,)
    intercept_visible_ : ndarray of shape (n_features,)
    n_features_in_ : int
    n_epochs_ : int
        Completed training epochs.
    history_ : dict of lists
        Per-epoch ``reconstruction_error``, ``pseudo_likelihood``, ``free_energy_train``,
        ``free_energy_validation``, ``free_energy_gap``, ``learning_rate``, ``momentum``, ``time``.

    References
    ----------
    Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence.
    Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the
    likelihood gradient. ICML.
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines.

    Examples
    --------
    >>> import numpy as np
    >>> from dbn import BernoulliRBM
    >>> X = (np.random.default_rng(0).random((200, 16)) < 0.3).astype(np.float32)
    >>> rbm = BernoulliRBM(n_components=8, n_iter=2, batch_size=20, random_state=0).fit(X)
    >>> rbm.transform(X).shape
    (200, 8)
    """


class GaussianBernoulliRBM(_BaseRBM):
    """RBM with real-valued Gaussian visible units and binary (or linear) hidden units.

    The energy is ``E(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_ij (v_i / sigma_i) W_ji h_j
    - c.h``. Standardise each feature to zero mean and unit variance first (e.g. with
    ``sklearn.preprocessing.StandardScaler``) and keep ``sigma = 1``, as Hinton (2010, section 13.2)
    advises, or set ``learn_variance=True`` to learn ``log sigma_i^2`` too (Cho, Ilin & Raiko 2011).
    Use a learning rate one or two orders of magnitude below the binary RBM's.

    Parameters
    ----------
    n_components : int, default=256
    learn_variance : bool, default=False
        Learn a per-unit variance.
    **kwargs
        All parameters of :class:`BernoulliRBM`; ``learning_rate`` defaults to 0.01 here.

    Attributes
    ----------
    components_, intercept_hidden_, intercept_visible_ : ndarray
        As for :class:`BernoulliRBM`.
    log_variance_ : ndarray of shape (n_features,)
        Only with ``learn_variance=True``.
    sigma_ : ndarray of shape (n_features,)
        Standard deviation of each visible unit.

    Notes
    -----
    ``score_samples`` returns the negative free energy ``-F(v)``, the unnormalised log-density:
    pseudo-likelihood is not defined for continuous units.

    References
    ----------
    Hinton, G. E., & Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
    networks. Science 313(5786).
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines, section 13.2.
    Cho, K., Ilin, A., & Raiko, T. (2011). Improved learning of Gaussian-Bernoulli restricted
    Boltzmann machines. ICANN.
    """

    _visible_unit = "gaussian"

    def __init__(self, n_components=256, *, learn_variance=False, learning_rate=0.01, **kwargs):
        super().__init__(n_components, learning_rate=learning_rate, **kwargs)
        self.learn_variance = learn_variance

    def _validate_params(self):
        super()._validate_params()
        if not isinstance(self.learn_variance, bool | np.bool_):
            raise TypeError(f"learn_variance must be True or False, got {self.learn_variance!r}.")

    def _learns_variance(self):
        return bool(self.learn_variance)

    def score_samples(self, X):
        """Negative free energy ``-F(v)`` of each row (unnormalised log-density)."""
        return -self.free_energy(X)
