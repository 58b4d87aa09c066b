"""What :class:`dbn.mlp.MLPClassifier` and :class:`dbn.mlp.MLPRegressor` share: :class:`BaseMLP`.

Their hyperparameters (dbn's and scikit-learn's MLP dialect: ``learning_rate``, ``power_t``,
``warm_start``, ``max_fun``, ...), the initialisation (pretrained layers, named initialisers,
LSUV), ``fit`` and ``partial_fit`` (``warm_start``, ``sample_weight``, weights set by hand) and the
forward pass of prediction. The training run, model files and checkpoints come from
:class:`dbn._network.BackpropEstimator`; the targets' checks from :mod:`dbn._targets`. This module
imports no estimator.

References
----------
Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
back-propagating errors. Nature, 323, 533-536.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.utils.metaestimators import available_if

from . import _backprop
from . import init as _init
from ._activations import activation_code, kinds_of
from ._network import BackpropEstimator
from ._targets import labels_to_array, overflows, training_weights
from ._training.callbacks import CallbackList
from ._validation import (
    NotFittedError,
    check_array,
    check_bool,
    check_choice,
    check_dtype,
    check_is_fitted,
    check_layer_sizes,
    check_random_state,
    check_scalar,
    validate_input,
)

__all__ = ["LOSSES", "BaseMLP", "forward_chunked"]

# The losses of backward(), by output activation.
LOSSES = {
    "softmax": "softmax_cross_entropy",
    "identity": "half_squared_error",
    "logistic": "sigmoid_cross_entropy",  # multilabel classification: one sigmoid per label
}

# scikit-learn's learning-rate schedules of solver='sgd' (see BackpropEstimator._epoch_learning_rate).
_SKLEARN_SCHEDULES = ("constant", "invscaling", "adaptive")

#: ``pretrained_scale``: the pretrained weights as given, or rescaled on the training rows
#: (:func:`dbn.init.rescale_to_unit_variance`).
PRETRAINED_SCALES = ("as_trained", "unit_variance")


def forward_chunked(X, coefs, intercepts, activation, output, logits=False):
    """Last-layer output (or logits) of ``X``, computed a chunk of rows at a time."""
    kinds = kinds_of(len(coefs), activation, output)
    return _backprop.forward_chunked(X, coefs, intercepts, kinds, logits)


class BaseMLP(BackpropEstimator):
    """Shared hyperparameters, initialisation, data handling and prediction of the MLPs."""

    _output = None  # 'softmax' or 'identity', set by the subclasses ('logistic': multilabel)
    _SOLVERS = ("sgd", "adam", "cg", "lbfgs")
    _SIZE_PARAM = "hidden_layer_sizes"
    _PRETRAINED_NAMES = ("W", "b")
    _VALIDATION_KEYS = ("val_loss", "val_error")
    _HISTORY_KEYS = ("epoch", "train_loss", *_VALIDATION_KEYS, "learning_rate", "time")
    _CHECKPOINT_NAME = "mlp-checkpoint.npz"
    _VALIDATION_ADVICE = "pass X_val and y_val"
    _CG_DIVERGENCE_HINT = (
        "learning_rate does not apply to solver='cg'; try scaling the inputs or a larger alpha"
    )

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        activation="sigmoid",
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=1e-3,
        power_t=0.5,
        learning_rate_schedule="constant",
        lr_decay=0.95,
        lr_step_size=10,
        max_iter=200,
        shuffle=True,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        max_fun=15000,
        init="xavier_uniform",
        output_init=None,
        dropout_input=0.0,
        dropout_hidden=0.0,
        max_norm=None,
        pretrained_layers=None,
        pretrained_scale="as_trained",
        center_inputs=False,
        cg_batch_size=1000,
        cg_max_line_searches=3,
        cg_top_layer_epochs=0,
        dtype=np.float32,
        random_state=None,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.learning_rate_schedule = learning_rate_schedule
        self.lr_decay = lr_decay
        self.lr_step_size = lr_step_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.max_fun = max_fun
        self.init = init
        self.output_init = output_init
        self.dropout_input = dropout_input
        self.dropout_hidden = dropout_hidden
        self.max_norm = max_norm
        self.pretrained_layers = pretrained_layers
        self.pretrained_scale = pretrained_scale
        self.center_inputs = center_inputs
        self.cg_batch_size = cg_batch_size
        self.cg_max_line_searches = cg_max_line_searches
        self.cg_top_layer_epochs = cg_top_layer_epochs
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ---------------------------------------------------------------------------------- validation

    def _hidden_sizes(self):
        # An MLP without hidden layers is a (multinomial) linear model.
        return check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=True)

    def _sizes(self):
        return self._hidden_sizes()

    def _full_sizes(self, P, n_features, extra):
        n_outputs = extra["n_outputs_"]
        if isinstance(n_outputs, bool) or not isinstance(n_outputs, int) or n_outputs < 1:
            raise ValueError(f"n_outputs_ must be a positive integer, got {n_outputs!r}")
        return (n_features, *P["hidden"], n_outputs)

    def _validate_params(self):
        """Check every hyperparameter; returns the normalised values the training loop uses."""
        P = {}
        P["hidden"] = self._hidden_sizes()
        P["kind"] = activation_code(self.activation)
        self._check_optimizer_params(P)
        self._check_sklearn_params(P)
        P["init"] = _init.get_initializer(self.init)
        P["output_init"] = (
            P["init"] if self.output_init is None else _init.get_initializer(self.output_init)
        )
        for name in ("dropout_input", "dropout_hidden"):
            check_scalar(getattr(self, name), name, low=0, high=1, high_inclusive=False)
        P["dropout"] = (self.dropout_input, self.dropout_hidden)
        if self.max_norm is not None:
            check_scalar(self.max_norm, "max_norm", low=0, low_inclusive=False)
            if self.solver == "cg":
                raise ValueError(
                    "max_norm constrains the steps of solver='sgd' or 'adam'; it does not apply "
                    "to solver='cg'."
                )
        P["max_norm"] = None if self.max_norm is None else float(self.max_norm)
        self._check_cg_params(P)
        check_scalar(self.cg_top_layer_epochs, "cg_top_layer_epochs", kind=numbers.Integral, low=0)
        P["cg_top_layer_epochs"] = self.cg_top_layer_epochs
        self._check_dtype_verbose(P)
        P["pretrained"] = self._validated_pretrained(P["hidden"], P["dtype"])
        P["pretrained_scale"] = check_choice(
            self.pretrained_scale, "pretrained_scale", PRETRAINED_SCALES
        )
        if not isinstance(self.center_inputs, bool | np.bool_):
            raise TypeError(
                f"center_inputs must be a bool (True or False), got {self.center_inputs!r}."
            )
        self._set_output(P)
        return P

    def _out_activation(self):
        """``out_activation_``: scikit-learn's name of what the output layer computes."""
        return self._output

    @property
    def loss_(self):
        """The training loss of the last epoch (of the last 'lbfgs' iteration), as scikit-learn
        names it: ``loss_curve_[-1]``."""
        curve = getattr(self, "loss_curve_", None)
        if not curve:
            raise AttributeError(f"This {type(self).__name__} has no loss_ before it is trained.")
        return curve[-1]

    def _set_output(self, P):
        """The output layer's activation codes and loss in ``P``, for the current ``_output``."""
        P["kinds"] = kinds_of(len(P["hidden"]) + 1, self.activation, self._output)
        P["loss"] = LOSSES[self._output]
        P["keep_logits"] = self._output == "logistic"

    def _check_sklearn_params(self, P):
        """Check the parameters of scikit-learn's MLP that dbn's own do not cover (into ``P``)."""
        check_choice(self.learning_rate, "learning_rate", _SKLEARN_SCHEDULES)
        check_scalar(self.power_t, "power_t", low=0)
        if self.learning_rate != "constant" and self.learning_rate_schedule != "constant":
            raise ValueError(
                f"learning_rate={self.learning_rate!r} and learning_rate_schedule="
                f"{self.learning_rate_schedule!r} both set the learning rate's schedule; leave "
                "one of them at 'constant'."
            )
        P["shuffle"] = check_bool(self.shuffle, "shuffle")
        check_bool(self.warm_start, "warm_start")
        check_scalar(self.max_fun, "max_fun", kind=numbers.Integral, low=1)

    def _validated_pretrained(self, hidden, dtype, n_features=None):
        """Copies of ``pretrained_layers`` as (W, b) of ``dtype``, after checking that shapes chain."""
        layers = self.pretrained_layers
        if layers is None:
            return []
        if isinstance(layers, np.ndarray) or not isinstance(layers, list | tuple):
            raise TypeError(
                f"pretrained_layers must be a list of (W, b) pairs, got {type(layers).__name__}."
            )
        if len(layers) > len(hidden):
            raise ValueError(
                f"pretrained_layers has {len(layers)} layers but hidden_layer_sizes="
                f"{self.hidden_layer_sizes!r} has only {len(hidden)}."
            )
        out = []
        n_in = n_features
        for i, pair in enumerate(layers):
            try:
                W, b = pair
            except (TypeError, ValueError):
                raise TypeError(
                    f"pretrained_layers[{i}] must be a (W, b) pair, got {type(pair).__name__}."
                ) from None
            W = check_array(W, f"pretrained_layers[{i}][0] (W)", dtype=(dtype.type,), copy=True)
            b = check_array(
                b, f"pretrained_layers[{i}][1] (b)", dtype=(dtype.type,), ensure_2d=False, copy=True
            )
            if W.shape[1] != hidden[i]:
                raise ValueError(
                    f"pretrained_layers[{i}] has W of shape {W.shape}: expected {hidden[i]} "
                    f"columns to match hidden_layer_sizes[{i}]={hidden[i]}."
                )
            if n_in is not None and W.shape[0] != n_in:
                what = "n_features" if i == 0 else f"hidden_layer_sizes[{i - 1}]"
                raise ValueError(
                    f"pretrained_layers[{i}] has W of shape {W.shape}: expected {n_in} rows to "
                    f"match {what}={n_in}."
                )
            if b.shape != (W.shape[1],):
                raise ValueError(
                    f"pretrained_layers[{i}] has b of shape {b.shape}: expected ({W.shape[1]},)."
                )
            out.append((W, b))
            n_in = W.shape[1]
        return out

    def _check_X(self, X, dtype, reset, name="X"):
        """scikit-learn's ``validate_data`` (shape, features, names), then dbn's finiteness check;
        ``X`` is converted to the model's ``dtype``. Sparse input is densified (the kernels work
        on dense rows), a new array: the caller's matrix is left as it is."""
        original = X
        try:
            if name == "X":
                X = validate_input(self, X, reset=reset, dtype=(dtype.type,), accept_sparse=True)
            else:
                X = validate_input(self, X, name, dtype=(dtype.type,), accept_sparse=True)
        except ValueError as error:
            if "finite" in str(error) and overflows(original, dtype):
                raise ValueError(
                    f"{name} holds values beyond the range of {dtype} (the model's dtype): they "
                    "become inf when cast. The input data may contain large values and need to "
                    "be preprocessed (scaled), or use dtype=np.float64."
                ) from error
            raise
        if sp.issparse(X):
            X = np.ascontiguousarray(X.toarray())
        return X

    def encode_targets(self, y, n_samples):
        """Engine-level: ``y`` as backprop trains on it (class indices of ``classes_``, or a 2-D
        array of the weights' dtype), checked as :meth:`fit` checks it, for ``n_samples`` rows."""
        return self._encode_y(y, "y", n_samples, self.coefs_[0].dtype)

    # --------------------------------------------------------------------------------- persistence

    def _state_arrays(self):
        arrays, extra = super()._state_arrays()
        extra["n_outputs_"] = int(self.n_outputs_)
        return arrays, extra

    def _restore_checked(self, arrays, extra, P, source):
        super()._restore_checked(arrays, extra, P, source)
        self.n_outputs_ = int(extra["n_outputs_"])
        self.out_activation_ = self._out_activation()

    # ------------------------------------------------------------------------------ initialisation

    def _initialize(self, X, y, P, rng):
        """Draw the weights (or copy the pretrained ones) and reset the fitted state."""
        dtype = P["dtype"]
        sizes = (X.shape[1], *P["hidden"], self.n_outputs_)
        n_layers = len(sizes) - 1
        pretrained = P["pretrained"]
        if pretrained and pretrained[0][0].shape[0] != X.shape[1]:
            raise ValueError(
                f"pretrained_layers[0] has W of shape {pretrained[0][0].shape}: expected "
                f"{X.shape[1]} rows to match the {X.shape[1]} features of X."
            )
        coefs, intercepts = [None] * n_layers, [None] * n_layers
        lsuv_layers = []
        for i in range(n_layers):
            if i < len(pretrained):
                coefs[i], intercepts[i] = pretrained[i]
                continue
            hidden = i < n_layers - 1
            function = P["init"] if hidden else P["output_init"]
            intercepts[i] = np.zeros(sizes[i + 1], dtype=dtype)
            if function is _init.lsuv:
                lsuv_layers.append(i)
                continue
            activation = self.activation if hidden else "identity"
            coefs[i] = self._draw_weights(
                function, sizes[i], sizes[i + 1], rng, dtype, activation, i
            )
        rescale = bool(pretrained) and P["pretrained_scale"] == "unit_variance"
        if rescale or lsuv_layers:
            # One draw of rows serves both data-dependent steps.
            rows = np.sort(rng.choice(X.shape[0], size=min(X.shape[0], 512), replace=False))
        if rescale:
            n = len(pretrained)
            coefs[:n], intercepts[:n] = _init.rescale_to_unit_variance(
                coefs[:n], intercepts[:n], X[rows], self.activation
            )
        if lsuv_layers:
            fixed = [None if i in lsuv_layers else W for i, W in enumerate(coefs)]
            coefs, intercepts = _init.lsuv_init(
                sizes,
                X[rows],
                self.activation,
                coefs=fixed,
                intercepts=intercepts,
                random_state=rng,
                dtype=dtype,
            )
        self._reset_training(coefs, intercepts, dtype)
        self.input_offset_ = None  # new weights: _train takes the mean of these rows
        self.out_activation_ = self._out_activation()

    def initialize(self, X, y, *, classes=None):
        """Build the weights for ``(X, y)`` as :meth:`fit` would, without training.

        Lets :func:`dbn.diagnostics.layer_statistics` look at a net at initialisation, and
        drivers such as :func:`dbn.dask.fit_mlp` initialise from a sample of their data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like
            Targets; fix ``classes_`` / ``n_outputs_``.
        classes : array-like, optional
            Classifiers: every class of the whole data, when ``y`` is a sample that may lack
            some (as in :meth:`partial_fit`).

        Returns
        -------
        self
        """
        P = self._validate_params()
        if classes is not None and self._output != "softmax":
            raise ValueError(f"classes applies to classifiers; {type(self).__name__} has none.")
        X, y = self._validate_data(X, y, P, reset=True, classes=classes)
        rng = check_random_state(self.random_state)
        self._rng = rng
        self._initialize(X, y, P, rng)
        return self

    # ------------------------------------------------------------------------------------ training

    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        X_val=None,
        y_val=None,
        callbacks=None,
        checkpoint_dir=None,
    ):
        """Train the network by back-propagation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (dense; Fortran-ordered or strided arrays are copied once).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier; a 2-D 0/1 indicator matrix for multilabel
            classification) or targets (regressor).
        sample_weight : array-like of shape (n_samples,), optional
            Weights >= 0 of the samples, as in scikit-learn: the loss is ``(sum_i w_i loss_i +
            0.5 * alpha * ||W||**2) / sum_i w_i`` on each minibatch, so a weight counts as that
            many copies of the sample; the early-stopping score is weighted too. Unit weights
            are the same as none.
        X_val, y_val : array-like, optional
            Validation set. It overrides ``validation_fraction``: with ``early_stopping=True`` the
            training stops on this set; otherwise its loss and error are only recorded in
            ``history_``.
        callbacks : callable, dbn.Callback or list of them, optional
            The callback contract of every dbn estimator (:mod:`dbn._training.callbacks`): each is
            called as ``callback(estimator, epoch, logs)`` after every epoch, where ``epoch`` counts
            completed epochs from 1 and ``logs`` holds the epoch's entries of ``history_``;
            training stops after an epoch in which one returns a truthy value (``True``,
            ``np.True_``, ...). ``on_train_begin(estimator)`` is called once the weights are
            initialised (or restored from a checkpoint), ``on_train_end(estimator)`` when training
            ends, however it ends.
        checkpoint_dir : str or Path, optional
            Write ``mlp-checkpoint.npz`` there after every epoch, atomically (a temporary file,
            fsync, rename: a crash leaves the previous checkpoint whole). It holds the whole
            training state: weights, optimiser state, random stream, counters, early-stopping state,
            history and the rows held out by ``validation_fraction``. Calling ``fit`` again with the
            same folder resumes from it and runs the remaining epochs, so that the weights equal
            those of an uninterrupted run (bit for bit in a single thread); a checkpoint of a
            finished run gives the finished model at once. A checkpoint written with other
            hyperparameters (``verbose`` aside), other data or other ``pretrained_layers`` is
            refused with a ValueError; callable hyperparameters are not compared. Stale temporary
            files of a killed write are removed.

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            When the loss or the weights become non-finite; the weights of the last completed epoch
            are kept.

        Notes
        -----
        A ``KeyboardInterrupt`` stops training with a RuntimeWarning (pointing at the line that
        called ``fit``) and leaves the model as it was after the last completed epoch: weights,
        optimiser state and random stream alike, so that :meth:`partial_fit` or :meth:`save` carry
        on from there.
        """
        P = self._validate_params()
        warm = self.warm_start and hasattr(self, "coefs_")
        X, y = self._validate_data(X, y, P, reset=not warm, warm=warm)
        self._set_output(P)
        if warm:
            self._check_warm_start(X, P)
        weights = training_weights(sample_weight, len(X))
        callbacks = CallbackList(callbacks)
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together.")
        if X_val is not None:
            X_val = self._check_X(X_val, P["dtype"], reset=False, name="X_val")
            y_val = self._encode_y(y_val, "y_val", len(X_val), P["dtype"])
        data = {"X": X, "y": y, "X_val": X_val, "y_val": y_val}
        if weights is not None:
            data["sample_weight"] = weights
        if hasattr(self, "classes_"):
            data["classes_"] = labels_to_array(self.classes_)[0]
        return self._fit(
            X, y, X_val, y_val, P, callbacks, checkpoint_dir, data, warm=warm, sample_weight=weights
        )

    def _check_warm_start(self, X, P):
        """``warm_start`` continues from the fitted weights: the layer sizes must still match."""
        sizes = (X.shape[1], *P["hidden"], self.n_outputs_)
        fitted = (self.coefs_[0].shape[0], *(W.shape[1] for W in self.coefs_))
        if sizes != fitted:
            raise ValueError(
                f"warm_start=True continues from the fitted weights, of layer sizes {fitted}; "
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} asks for {sizes}. Set "
                "warm_start=False to start afresh."
            )

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train for one epoch over ``(X, y)``, continuing from the current weights.

        The first call initialises the weights (from ``pretrained_layers`` if given); the optimiser
        state (momentum, Adam moments) carries over between calls. Available for the epoch
        solvers ('sgd', 'adam', 'cg'), not for 'lbfgs' (as in scikit-learn).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples (see :meth:`fit`).
        classes : array-like, optional
            All the class labels, needed on the first call of a classifier when ``y`` does not hold
            every class (defaults to the labels in ``y``); a later call may repeat them, not
            change them.

        Returns
        -------
        self
        """
        P = self._validate_params()
        first = not hasattr(self, "coefs_")
        if not first and not hasattr(self, "history_"):
            self._adopt_given_weights(P, classes)
        if first:
            X, y = self._validate_data(X, y, P, reset=True, classes=classes)
            self._set_output(P)
            self._rng = check_random_state(self.random_state)
            self._initialize(X, y, P, self._rng)
        else:
            self._check_same_classes(classes)
            X = self._check_X(X, P["dtype"], reset=False)
            y = self._encode_y(y, "y", len(X), P["dtype"])
        return self._partial_fit(X, y, P, training_weights(sample_weight, len(X)))

    def _adopt_given_weights(self, P, classes):
        """Train from weights set by hand before the first ``partial_fit`` (scikit-learn's set-up:
        ``coefs_`` and ``intercepts_`` assigned, never fitted): check that they chain and match
        ``hidden_layer_sizes``, then start the training state around copies of them."""
        dtype = P["dtype"]
        try:
            coefs = [np.asarray(W, dtype=dtype) for W in self.coefs_]
            intercepts = [np.asarray(b, dtype=dtype).reshape(-1) for b in self.intercepts_]
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"coefs_ and intercepts_ set before partial_fit must be lists of numeric arrays "
                f"({exc})."
            ) from None
        n_layers = len(P["hidden"]) + 1
        chained = (
            len(coefs) == len(intercepts) == n_layers
            and all(W.ndim == 2 for W in coefs)
            and all(a.shape[1] == b.shape[0] for a, b in zip(coefs[:-1], coefs[1:], strict=True))
            and all(b.shape == (W.shape[1],) for W, b in zip(coefs, intercepts, strict=True))
            and tuple(W.shape[1] for W in coefs[:-1]) == tuple(P["hidden"])
        )
        if not chained:
            shapes = [np.shape(W) for W in coefs]
            raise ValueError(
                f"coefs_ set before partial_fit have shapes {shapes}; they must be {n_layers} "
                f"chained (n_in, n_out) matrices through hidden_layer_sizes="
                f"{self.hidden_layer_sizes!r}, with intercepts_ of n_out each."
            )
        self._set_given_targets(coefs[-1].shape[1], classes)
        self.n_features_in_ = coefs[0].shape[0]
        self.n_outputs_ = coefs[-1].shape[1]
        self._rng = check_random_state(self.random_state)
        self._reset_training(coefs, intercepts, dtype)
        self.out_activation_ = self._out_activation()

    def _set_given_targets(self, n_outputs, classes):
        """What the targets of hand-set weights are (see :meth:`_adopt_given_weights`)."""

    def _check_solver(self):
        """``partial_fit`` exists for the epoch solvers (scikit-learn's ``available_if``)."""
        if self.solver == "lbfgs":
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. lbfgs is not stochastic."
            )
        return True

    def _check_same_classes(self, classes):
        """Classifiers: ``classes`` of a later ``partial_fit`` must be the first call's."""

    def _epoch_message(self, epoch, loss, validating, val_loss, val_error):
        # scikit-learn's line, with the validation loss when there is one.
        extra = f", validation loss = {val_loss:.8f}" if validating else ""
        return f"Iteration {epoch}, loss = {loss:.8f}{extra}"

    # ---------------------------------------------------------------------------------- prediction

    def _raw_output(self, X, logits=False):
        check_is_fitted(self, "coefs_")
        X = self._check_X(X, self.coefs_[0].dtype, reset=False)
        return forward_chunked(
            X, self.coefs_, self.intercepts_, self.activation, self._output, logits
        )

    def hidden_activations(self, X, layer=-1):
        """Activations of a hidden layer (the features a DBN layer hands to the next).

        Works before :meth:`fit` when ``pretrained_layers`` covers every hidden layer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        layer : int, default=-1
            Index among the hidden layers (negative counts from the top).

        Returns
        -------
        H : ndarray of shape (n_samples, hidden_layer_sizes[layer])
        """
        hidden = self._hidden_sizes()
        if hasattr(self, "coefs_"):
            coefs, intercepts = self.coefs_[:-1], self.intercepts_[:-1]
            n_features = self.n_features_in_
        else:
            dtype = check_dtype(self.dtype)
            pretrained = self._validated_pretrained(hidden, dtype)
            if not hidden or len(pretrained) < len(hidden):
                raise NotFittedError(
                    f"This {type(self).__name__} instance is not fitted yet and pretrained_layers "
                    f"does not cover all {len(hidden)} hidden layers. Call 'fit' first."
                )
            coefs = [W for W, _ in pretrained]
            intercepts = [b for _, b in pretrained]
            n_features = coefs[0].shape[0]
        n_hidden = len(coefs)
        if n_hidden == 0:
            raise ValueError("hidden_layer_sizes is empty: the network has no hidden layer.")
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise TypeError(f"layer must be an integer, got {layer!r}.")
        if not -n_hidden <= layer < n_hidden:
            raise ValueError(
                f"layer must be in [{-n_hidden}, {n_hidden - 1}] for {n_hidden} hidden layers, "
                f"got {layer}."
            )
        layer = layer % n_hidden
        X = check_array(X, "X", dtype=(coefs[0].dtype.type,), n_features=n_features)
        return forward_chunked(
            X, coefs[: layer + 1], intercepts[: layer + 1], self.activation, self.activation
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = True  # densified before training and prediction
        return tags
