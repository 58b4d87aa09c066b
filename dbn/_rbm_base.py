"""The RBM estimator's machinery, shared by :class:`dbn.BernoulliRBM` and
:class:`dbn.GaussianBernoulliRBM`: hyperparameters and their checks, the scikit-learn API, the
engine-level interface drivers use, and the model's conditionals and energies.

The estimators are thin owners of two engines: the per-minibatch CD step,
:class:`dbn._cd.ContrastiveDivergence` (with the element-wise kernels of :mod:`dbn._kernels.rbm`
and numpy's BLAS for the GEMMs), and the epoch loop of :mod:`dbn._training` (history, callbacks,
schedules, progress, checkpoints, rollback on divergence or interrupt), which drives the epochs
of :mod:`dbn._rbm_trainer`. The conditionals and the free energy are the functions of
:mod:`dbn._rbm_math`. The public classes, their documented parameters and the unit types live in
:mod:`dbn.rbm`.

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence. Neural
Computation 14(8).
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the likelihood
gradient. ICML.
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR 2010-003.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin

from . import io
from ._cd import ContrastiveDivergence, hidden_units, visible_units
from ._rbm_math import free_energy, hidden_input, hidden_mean, visible_mean
from ._rbm_trainer import HISTORY_KEYS, RBMEpochTrainer
from ._training.callbacks import CallbackList, zero_based_adapter
from ._training.checkpoint import CheckpointFile
from ._training.loop import DeprecatedEpochCount, run_epochs
from ._training.schedules import check_schedule, learning_rate_at, momentum_at
from ._training.stacklevel import external_stacklevel
from ._validation import (
    DivergenceError,
    check_array,
    check_choice,
    check_is_fitted,
    check_random_state,
    check_scalar,
    validate_input,
    warn_if_not_standardised,
)
from .init import check_init_std, resolve_init_std

__all__ = ["BaseRBM"]

_SCHEDULES = ("constant", "exponential", "linear")


class BaseRBM(
    DeprecatedEpochCount, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """The RBM estimator; subclasses fix the visible unit type.

    A scikit-learn transformer (``get_params`` / ``set_params``, ``clone``, ``set_output``,
    ``get_feature_names_out``). Besides the sklearn API it offers a small engine-level interface,
    used by :class:`dbn.DBN` and available to other drivers: :meth:`validate_params`,
    :meth:`initialize`, :meth:`cd_config`, :meth:`epoch_trainer`, :meth:`training_state` /
    :meth:`restore_training_state`, :meth:`schedule`, the conditionals
    :meth:`sample_hidden_units` / :meth:`sample_visible_units`, and ``history_keys``, the keys
    of ``history_``. (``_header_params``, the hyperparameters as model files store them, is
    dbn's own: its drivers in ``dbn.dask`` and ``dbn.out_of_core`` call it.)
    """

    _visible_unit = "bernoulli"
    history_keys = HISTORY_KEYS

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
        centering=False,
        n_temperatures=None,
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
        self.centering = centering
        self.n_temperatures = n_temperatures
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def validate_params(self):
        """Check every hyperparameter as :meth:`fit` does, before any training; returns ``self``.

        For drivers that build several RBMs (the DBN checks all its layers before training the
        first). A one-parameter callable ``learning_rate_schedule`` warns here that it is
        deprecated (see :mod:`dbn._training.schedules`).
        """
        self._validate_params()
        return self

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
        if not isinstance(self.verbose, numbers.Integral):  # bools are integers too
            raise TypeError(f"verbose must be an int (0, 1 or 2) or a bool, got {self.verbose!r}.")
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
        check_schedule(
            self.learning_rate_schedule, _SCHEDULES, legacy="rate", owner=type(self).__name__
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
        check_init_std(self.init_std)
        check_scalar(self.monitor_size, "monitor_size", kind=I, low=0)
        # Centring and parallel tempering are BernoulliRBM's (binary units only).
        centering = getattr(self, "centering", False)
        if not isinstance(centering, bool | np.bool_):
            raise TypeError(f"centering must be True or False, got {centering!r}.")
        n_temperatures = getattr(self, "n_temperatures", None)
        if n_temperatures is not None:
            check_scalar(n_temperatures, "n_temperatures", kind=I, low=2)
            if not self.persistent:
                raise ValueError(
                    f"n_temperatures={n_temperatures} (parallel tempering) needs persistent=True."
                )
        if (centering or n_temperatures is not None) and self.hidden_unit != "bernoulli":
            raise ValueError(
                "centering and n_temperatures need binary hidden units, got "
                f"hidden_unit={self.hidden_unit!r}."
            )

    def _check_input(self, X, name="X", *, reset=False):
        """scikit-learn's checks (``validate_data`` for ``X``), then dbn's: finite values, and a
        :class:`dbn.DataRangeWarning` for Bernoulli visible units outside [0, 1], or, when
        ``fit`` starts, for Gaussian ones of fixed unit variance on unscaled features."""
        value_range = (0.0, 1.0) if self._visible_unit == "bernoulli" else None
        X = validate_input(self, X, name, reset=reset, accept_sparse=True, value_range=value_range)
        if reset and self._visible_unit == "gaussian" and not self._learns_variance():
            warn_if_not_standardised(self, X)
        return X

    def _clip_batch_size(self, n_samples):
        """Clip ``batch_size`` to ``n_samples`` with a warning when the data are fewer, as sklearn's
        MLP does: the CD step then sees all the rows as one minibatch per epoch."""
        self._batch_limit = None
        if self.batch_size > n_samples:
            warnings.warn(
                f"batch_size={self.batch_size} of {type(self).__name__}({self.n_components}) is "
                f"larger than the number of samples ({n_samples}); using batch_size={n_samples}.",
                UserWarning,
                stacklevel=external_stacklevel(),
            )
            self._batch_limit = int(n_samples)

    def _effective_batch_size(self):
        limit = getattr(self, "_batch_limit", None)
        return self.batch_size if limit is None else min(self.batch_size, limit)

    @property
    def _n_features_out(self):
        """Number of features :meth:`transform` returns (for ``get_feature_names_out``)."""
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ------------------------------------------------------------------ public API
    def fit(self, X, y=None, *, X_val=None, callbacks=None, checkpoint_dir=None):
        """Train the RBM on ``X`` for ``n_iter`` epochs.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Training data. For Bernoulli visible units it should lie in [0, 1]; probabilities are
            used as data, as in Hinton (2010). Values outside [0, 1] are used as given, with a
            :class:`dbn.DataRangeWarning` that says how to scale them (the policy of every path:
            :mod:`dbn.dask` and :mod:`dbn.out_of_core` warn alike). float32 and float64 are kept;
            other numbers become float32, dbn's dtype policy.
        y : ignored
        X_val : array-like of shape (n_val, n_features), optional
            Held-out data for the free-energy overfitting monitor (Hinton 2010, section 6).
        callbacks : callable, dbn.Callback, or list of them, optional
            Called after every epoch as ``callback(rbm, epoch, logs)`` (or
            ``Callback.on_epoch_end``), ``logs`` being the epoch's history entries; any truthy
            return stops training (see :mod:`dbn._training.callbacks`). A :class:`dbn.Callback`
            receives the number of completed epochs (from 1); a plain function still receives the
            0-based epoch index, with a DeprecationWarning (on every path that trains an RBM:
            :func:`dbn.dask.fit_rbm` too).
        checkpoint_dir : str or os.PathLike, optional
            Write ``<classname>-checkpoint.npz`` there after every epoch (atomically), with a
            fingerprint of ``X`` and ``X_val``. Calling ``fit`` again with the same folder and the
            same data resumes where training stopped and gives the same weights as an
            uninterrupted run with the same integer ``random_state``; other data or other
            hyperparameters (``verbose`` aside) are refused with a ValueError.

        Returns
        -------
        self
        """
        self._validate_params()
        X = self._check_input(X, reset=True)
        if X_val is not None:
            X_val = self._check_input(X_val, "X_val")
        callbacks = CallbackList(callbacks, adapt_function=zero_based_adapter(type(self).__name__))
        checkpoint = save = None
        if checkpoint_dir is not None:
            name = type(self).__name__
            checkpoint = CheckpointFile(
                checkpoint_dir,
                f"{name.lower()}-checkpoint.npz",
                f"{name}-checkpoint",
                {"X": X, "X_val": X_val},
            )

            def save(finished):
                arrays, extra = self.training_state()
                checkpoint.write(self._header_params(), arrays, extra, finished=finished)

        if checkpoint is not None and checkpoint.load(self._header_params(), owner=name):
            self.restore_training_state(checkpoint.arrays, checkpoint.extra, checkpoint.path)
        else:
            self._initialize(X, batch_limit=True)
        trainer = self.epoch_trainer(X, X_val=X_val)
        callbacks.on_train_begin(self)
        try:
            result = run_epochs(
                self,
                trainer,
                range(self.n_iter_, self.n_iter),
                history=self.history_,
                callbacks=callbacks,
                save_checkpoint=save,
                progress=f"{type(self).__name__}({self.n_components})",
                progress_key="reconstruction_error",
                verbose=self.verbose,
            )
        finally:
            callbacks.on_train_end(self)
        trainer.warn_if_not_learning(result)
        return self

    def partial_fit(self, X, y=None):
        """One pass of CD updates over ``X``, in order, in minibatches of ``batch_size``.

        The first call initialises the model. The momentum and learning rate are those of epoch
        ``n_iter_`` of the schedules, which ``partial_fit`` does not advance: calling it on
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
        cd = self._contrastive_divergence(X)
        epoch = self.n_iter_
        lr, momentum = self.schedule(epoch)
        diverged_at = cd.run_epoch(X, np.arange(X.shape[0]), lr, momentum, self._rng)
        if diverged_at:
            raise DivergenceError(self._divergence_message(epoch, diverged_at, lr))
        return self

    def transform(self, X, *, check_input=True):
        """Hidden unit means ``E[h | v]``: the features passed to the next layer of a DBN.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        check_input : bool, default=True
            ``False`` skips the input checks, for a driver that has checked ``X`` already (the
            DBN passes its checked data up the stack): then ``X`` must be a C-contiguous float
            array or a CSR matrix with ``n_features_in_`` columns.

        Returns
        -------
        H : ndarray of shape (n_samples, n_components), same float dtype as the model
        """
        check_is_fitted(self, "components_")
        if check_input:
            X = self._check_input(X)
        return self._hidden_mean(self._as_model_dtype(X))

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
        h = self._sample_hidden(v, self._rng)
        return self._sample_visible(h, self._rng)[1]

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
        """Save the fitted model to a model file, atomically; :meth:`load` reads it back exactly.

        Stores the hyperparameters, the parameters with their momentum velocities, the
        persistent chains, the running sparsity activity, ``n_iter_``, ``history_`` and the
        random stream (:meth:`training_state`), so that the loaded model trains on as this one.

        Parameters
        ----------
        path : str or Path
            Ends in ``.safetensors`` (the format to use: PyTorch and the Hugging Face tools read
            its weights) or ``.npz`` (dbn 0.1's); neither holds a pickle (see :mod:`dbn.io`).
        """
        check_is_fitted(self, "components_")
        arrays, extra = self.training_state()
        io.save_arrays(path, type(self).__name__, self._header_params(), arrays, extra)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save`; the round trip is exact."""
        header, arrays = io.load_arrays(path, kind=cls.__name__)
        model = cls(**header["params"])
        model.restore_training_state(arrays, header["extra"], path)
        return model

    # ------------------------------------------------------------------ engine interface
    def initialize(self, X, *, check_input=True, clip_batch_size=False):
        """Initialise the parameters (and persistent chains) for ``X`` without training.

        Small random weights, zero hidden biases and visible biases that make the first
        reconstruction the mean of ``X`` (Hinton 2010, section 8). :meth:`fit` starts with this;
        the DBN calls it for each layer before driving :meth:`epoch_trainer`.
        ``clip_batch_size=True`` clips a ``batch_size`` larger than ``X``, the training data, to
        its rows with a warning, as :meth:`fit` does. ``check_input=False`` skips the input checks
        (for a driver that has checked ``X``: a C-contiguous float array or a CSR matrix).
        Returns ``self``.
        """
        self._validate_params()
        if check_input:
            X = self._check_input(X, reset=True)
        else:
            self.n_features_in_ = X.shape[1]
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        self._initialize(X, batch_limit=clip_batch_size)
        return self

    def epoch_trainer(self, X, *, X_val=None, name=None):
        """This model's epochs on ``X``, as the training engine drives them.

        Returns a :class:`dbn._rbm_trainer.RBMEpochTrainer` for
        :func:`dbn._training.loop.run_epochs`: each epoch shuffles ``X`` (if ``shuffle``), runs
        the CD step over it with the scheduled learning rate and momentum, and monitors the
        reconstruction error, pseudo-likelihood and free energies; the trainer's ``cd`` attribute
        is the :class:`dbn._cd.ContrastiveDivergence` it drives. The model must be initialised
        (:meth:`initialize`) or restored (:meth:`restore_training_state`), and ``X`` checked and
        in the model's dtype. The monitoring subset is drawn here, from a stream of its own.
        ``name`` names the trainer in the verbose lines (default: the class name; the DBN
        passes ``"DBN layer i/n"``).
        """
        check_is_fitted(self, "components_")
        return RBMEpochTrainer(self, X, X_val, name=name)

    def training_state(self):
        """Everything :meth:`restore_training_state` needs to continue training bit for bit.

        Returns
        -------
        arrays : dict of str to ndarray
            The parameters, their momentum velocities, the persistent chains and the running
            sparsity activity (the arrays of the model file).
        extra : dict
            JSON-able: ``n_features_in_``, ``n_iter_``, ``history_`` and the state of the
            random Generator.
        """
        check_is_fitted(self, "components_")
        arrays = {name: getattr(self, name) for name in self._parameter_names()}
        arrays.update(self._contrastive_divergence().get_state())
        extra = {
            "n_features_in_": self.n_features_in_,
            "n_iter_": self.n_iter_,
            "history_": self.history_,
            "rng_state": self._rng.bit_generator.state,
        }
        if getattr(self, "_batch_limit", None) is not None:
            extra["batch_limit"] = self._batch_limit  # batch_size was clipped to the data
        return arrays, extra

    def restore_training_state(self, arrays, extra, source="state"):
        """Set the model from what :meth:`training_state` returned; ``source`` names it in errors.

        Raises
        ------
        dbn.io.ModelFileError
            When the arrays do not fit the hyperparameters.
        """
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
        # Files written before n_iter_ (dbn 0.2) store the count as n_epochs_.
        self.n_iter_ = int(extra.get("n_iter_", extra.get("n_epochs_", 0)))
        self.history_ = {key: list(extra.get("history_", {}).get(key, [])) for key in HISTORY_KEYS}
        self._rng = np.random.default_rng()
        if "rng_state" in extra:
            self._rng.bit_generator.state = extra["rng_state"]
        limit = extra.get("batch_limit")
        self._batch_limit = None if limit is None else int(limit)
        self._cd = None
        self._contrastive_divergence().set_state(arrays)

    def sample_hidden_units(self, visible, random_state=None):
        """Sampled hidden states ``h ~ p(h | v)`` of each row of ``visible``.

        ``random_state`` (an int or a Generator, advanced in place) defaults to the estimator's.
        """
        check_is_fitted(self, "components_")
        v = self._as_model_dtype(self._check_input(visible, "visible"))
        rng = check_random_state(self.random_state if random_state is None else random_state)
        return self._sample_hidden(v, rng)

    def sample_visible_units(self, hidden, random_state=None):
        """Means ``E[v | h]`` and samples ``v ~ p(v | h)`` of each row of ``hidden``.

        The top-down pass of a DBN's directed layers. ``random_state`` (an int or a Generator,
        advanced in place) defaults to the estimator's.

        Returns
        -------
        mean, sample : ndarray of shape (n_rows, n_features_in_)
        """
        check_is_fitted(self, "components_")
        h = check_array(hidden, "hidden")
        if h.shape[1] != self.n_components:
            raise ValueError(
                f"hidden has {h.shape[1]} columns, but the model has {self.n_components} hidden "
                "units."
            )
        rng = check_random_state(self.random_state if random_state is None else random_state)
        return self._sample_visible(self._as_model_dtype(h), rng)

    # ------------------------------------------------------------------ state
    @property
    def sigma_(self):
        """Standard deviation of each visible unit (ones for Bernoulli or fixed-variance units)."""
        if getattr(self, "log_variance_", None) is not None:
            return np.exp(0.5 * self.log_variance_)
        return np.ones(self.n_features_in_, dtype=self.components_.dtype)

    def _learns_variance(self):
        return False

    def _header_params(self):
        """``get_params(deep=False)`` as a JSON header stores it (model files, checkpoints).

        Engine-level: a driver that writes its own checkpoints (:mod:`dbn.dask`) fingerprints the
        hyperparameters with it. A Generator ``random_state`` becomes None and a callable
        ``learning_rate_schedule`` becomes ``"constant"``: the weights are what count.
        """
        params = self.get_params(deep=False)
        for name in ("random_state", "learning_rate_schedule"):
            value = params[name]
            if not (value is None or isinstance(value, int | str)):
                params[name] = None if name == "random_state" else "constant"
        return params

    def _parameter_names(self):
        names = ["components_", "intercept_hidden_", "intercept_visible_"]
        if self._learns_variance():
            names.append("log_variance_")
        return names

    def _initialize(self, X, *, batch_limit=False):
        """Fresh parameters for ``X``; ``batch_limit`` clips ``batch_size`` to the rows of ``X``
        (``fit``, ``initialize``; ``partial_fit`` keeps it: its chunks may be small)."""
        if batch_limit:
            self._clip_batch_size(X.shape[0])
        else:
            self._batch_limit = None
        n_visible = X.shape[1]
        dtype = X.dtype
        self._rng = check_random_state(self.random_state)
        self.n_features_in_ = n_visible
        # Small random weights, zero hidden biases (Hinton 2010, section 8).
        self.components_ = np.asfortranarray(
            resolve_init_std(self.init_std, n_visible, self.n_components)
            * self._rng.standard_normal((self.n_components, n_visible)),
            dtype=dtype,
        )
        self.intercept_hidden_ = np.zeros(self.n_components, dtype=dtype)
        self.intercept_visible_ = self._initial_visible_bias(X).astype(dtype)
        if self._learns_variance():
            self.log_variance_ = np.zeros(n_visible, dtype=dtype)
        self._cd = None
        self._contrastive_divergence(X)  # fresh velocities; starts the persistent chains
        self.n_iter_ = 0
        self.history_ = {key: [] for key in HISTORY_KEYS}

    def _initial_visible_bias(self, X):
        # Hinton (2010, section 8.1): log(p / (1 - p)) makes the initial reconstruction the mean image.
        mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
        if self._visible_unit == "bernoulli":
            p = np.clip(mean, 1e-3, 1 - 1e-3)
            return np.log(p / (1 - p))
        return mean

    # ------------------------------------------------------------------ the CD step
    def cd_config(self, *, batch_size=None):
        """Keyword arguments of :class:`dbn._cd.ContrastiveDivergence` for these hyperparameters.

        Engine-level, and the one place that maps the estimator's options to its CD step: the
        estimator's own training, :func:`dbn.dask.fit_rbm` / :func:`dbn.dask.pretrain` and
        :func:`dbn.dask.pretrain_out_of_core` all build their CD objects from it, so an option
        added here reaches every path (a path that cannot honour one refuses it by name).

        Parameters
        ----------
        batch_size : int, optional
            Rows of each minibatch; by default the model's ``batch_size`` (clipped to the data by
            :meth:`fit`). A data-parallel driver passes its per-worker minibatch.

        Returns
        -------
        config : dict
            ``ContrastiveDivergence(parameters, **config)`` is this model's CD step.
        """
        return dict(
            batch_size=int(self._effective_batch_size() if batch_size is None else batch_size),
            visible_unit=self._visible_unit,
            hidden_unit=self.hidden_unit,
            k=self.k,
            persistent=self.persistent,
            n_chains=self.n_chains,
            positive_hidden=self.positive_hidden,
            sample_visible=self.sample_visible,
            weight_decay=self.weight_decay,
            sparsity_target=self.sparsity_target,
            sparsity_cost=self.sparsity_cost,
            sparsity_damping=self.sparsity_damping,
            centering=bool(getattr(self, "centering", False)),
            n_temperatures=getattr(self, "n_temperatures", None),
        )

    def _contrastive_divergence(self, X=None):
        """The CD step over this model's parameter arrays.

        Made on first use and again, keeping its velocities, chains and sparsity activity, when a
        hyperparameter or a parameter array changed since (``set_params`` between ``partial_fit``
        calls, an assigned ``components_``). With ``X``, checks its dtype and starts the
        persistent chains from it if they are missing.
        """
        if X is not None and X.dtype != self.components_.dtype:
            raise TypeError(
                f"X has dtype {X.dtype}, but the model was fitted with {self.components_.dtype}."
            )
        self._use_column_major_weights()
        parameters = {name: getattr(self, name) for name in self._parameter_names()}
        config = self.cd_config()
        cd = getattr(self, "_cd", None)
        stale = (
            cd is None
            or self._cd_config != config
            or cd.parameters.keys() != parameters.keys()
            or any(cd.parameters[name] is not p for name, p in parameters.items())
        )
        if stale:
            new = ContrastiveDivergence(parameters, **config)
            if cd is not None:
                new.set_state(cd.get_state())
            self._cd, self._cd_config, cd = new, config, new
        if X is not None and cd.persistent and cd.chains is None:
            cd.start_chains(X, self._rng)
        if X is not None and cd.centering and cd.visible_offset is None:
            cd.start_offsets(X)
        return cd

    def _use_column_major_weights(self):
        """Store ``components_`` column-major, as sklearn's BernoulliRBM does.

        Then ``components_.T`` is the C-contiguous (n_features, n_components) matrix: the GEMMs
        ``v @ W.T`` take OpenBLAS's faster untransposed path, the weight gradient comes out in the same
        layout, and the update kernel runs over both as flat arrays (measured 4 % fewer GEMM seconds
        per CD-1 step than the row-major layout). A user may assign any layout; it is converted here.
        """
        if not self.components_.flags.f_contiguous:
            self.components_ = np.asfortranarray(self.components_)

    def schedule(self, epoch):
        """Learning rate and momentum of the 0-based ``epoch`` (see :mod:`dbn._training.schedules`).

        Engine-level: drivers such as :mod:`dbn.dask` use it to step the CD object themselves.
        """
        lr = learning_rate_at(
            self.learning_rate_schedule,
            epoch,
            self.learning_rate,
            decay=self.learning_rate_decay,
            n_epochs=self.n_iter,
            legacy="rate",
        )
        momentum = momentum_at(
            epoch, self.momentum, self.final_momentum, self.momentum_switch_epoch
        )
        return lr, momentum

    def _divergence_message(self, epoch, minibatch, lr):
        return (
            f"{type(self).__name__} diverged in epoch {epoch + 1} (minibatch {minibatch}): the "
            f"weights became NaN or inf. Use a smaller learning_rate (got {lr:g}) or momentum, or "
            f"standardise the data; the model keeps the parameters of the last completed epoch "
            f"({epoch})."
        )

    # ------------------------------------------------------------------ conditionals
    def _as_model_dtype(self, X):
        dtype = self.components_.dtype
        if X.dtype != dtype:
            X = X.astype(dtype)
        return X

    def _sigma_or_none(self):
        """The visible standard deviations when learnt, else None (nothing is divided)."""
        return self.sigma_ if self._learns_variance() else None

    def _hidden_input(self, X):
        return hidden_input(X, self.components_, self._sigma_or_none())

    def _hidden_mean(self, X):
        return hidden_mean(
            X, self.components_, self.intercept_hidden_, self.hidden_unit, self._sigma_or_none()
        )

    def _visible_mean(self, H):
        return visible_mean(
            H, self.components_, self.intercept_visible_, self._visible_unit, self.sigma_
        )

    def _sample_hidden(self, v, rng):
        pre = self._hidden_input(v)
        state = np.empty_like(pre)
        hidden_units(pre, self.intercept_hidden_, self.hidden_unit, rng, pre, state, sample=True)
        return state

    def _sample_visible(self, h, rng):
        pre = h @ self.components_
        mean, state = np.empty_like(pre), np.empty_like(pre)
        visible_units(
            pre,
            self.intercept_visible_,
            self.sigma_,
            self._visible_unit,
            rng,
            mean,
            state,
            sample=True,
        )
        return mean, state

    # ------------------------------------------------------------------ energies
    def _free_energy(self, X):
        return free_energy(
            X,
            self.components_,
            self.intercept_hidden_,
            self.intercept_visible_,
            visible_unit=self._visible_unit,
            hidden_unit=self.hidden_unit,
            sigma=self._sigma_or_none(),
        )

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
