"""Feed-forward networks trained by back-propagation: the fine-tuning stage of a Deep Belief Net.

:class:`MLPClassifier` (softmax output, cross-entropy) and :class:`MLPRegressor` (linear output, squared
error) follow the interface of :class:`sklearn.neural_network.MLPClassifier` where the two overlap, and
add what DBN fine-tuning needs: pretrained hidden layers (``pretrained_layers``, filled by
``DBN.to_mlp()``), named initialisers (:mod:`dbn.init`), dropout, learning-rate schedules and the
conjugate-gradient recipe of Hinton & Salakhutdinov (2006).

The forward and backward passes are module-level functions, :func:`forward` and :func:`backward`, that
work on any list of weights with one hidden activation; :mod:`dbn.diagnostics` calls them. They are
thin wrappers over the backprop core of ``dbn._backprop``, which the estimators train with (and
:mod:`dbn.autoencoder` shares). Matrix products go to numpy's BLAS; the element-wise work runs in the
kernels of ``dbn._kernels.mlp``.

What the two estimators share (hyperparameters, initialisation, ``fit`` and ``partial_fit``) is in
``dbn._mlp_base``, the checks of their targets and sample weights in ``dbn._targets``. The optimisers
and the training loop come from ``dbn._network`` and ``dbn._backprop_trainer``; ``save`` / ``load``
(pickle-free, see :mod:`dbn.io`) and the per-epoch checkpoints of ``fit(..., checkpoint_dir=...)``
from ``dbn._network_state``.

References
----------
Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
back-propagating errors. Nature, 323, 533-536.

Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science, 313(5786), 504-507.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from . import _backprop, io
from ._activations import ACTIVATIONS, activation_code, kinds_of
from ._backprop import Propagation
from ._mlp_base import LOSSES, BaseMLP, forward_chunked
from ._targets import (
    check_label_values,
    check_sample_weight,
    labels_from_array,
    labels_to_array,
    prediction_dtype,
    r2,
    require_y,
)
from ._validation import (
    check_array,
    check_choice,
    check_target,
)

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "Propagation",
    "forward",
    "backward",
    "ACTIVATIONS",
]

_OUTPUTS = ("softmax", *ACTIVATIONS)
_REGRESSION_LOSSES = ("squared_error", "poisson")


# --------------------------------------------------------------------------------------------------
# Forward and backward passes
# --------------------------------------------------------------------------------------------------


def forward(X, coefs, intercepts, activation="sigmoid", output="softmax", *, out=None):
    """Propagate ``X`` through the layers ``A_{i+1} = f(A_i @ W_i + b_i)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Input, of the weights' dtype.
    coefs : list of ndarray
        ``coefs[i]`` of shape ``(n_in_i, n_out_i)``.
    intercepts : list of ndarray
        ``intercepts[i]`` of shape ``(n_out_i,)``.
    activation : {'sigmoid', 'logistic', 'tanh', 'relu', 'identity'}, default='sigmoid'
        Activation of the hidden layers.
    output : {'softmax', 'identity', 'sigmoid', 'logistic', 'tanh', 'relu'}, default='softmax'
        Activation of the last layer (pass ``output=activation`` to compute hidden features only).
    out : Propagation, optional
        Buffers to reuse; when it has dropout noise (see :meth:`Propagation.draw_noise`), dropout is
        applied (training mode). A new one without dropout is allocated when omitted.

    Returns
    -------
    propagation : Propagation
        With ``activations``, ``inputs`` and ``logits`` set.

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.

    Srivastava, N., Hinton, G., Krizhevsky, A., Sutskever, I. and Salakhutdinov, R. (2014). Dropout:
    a simple way to prevent neural networks from overfitting. JMLR, 15, 1929-1958.
    """
    kinds = _kinds(len(coefs), activation, output)
    if len(coefs) == 0 or len(coefs) != len(intercepts):
        raise ValueError(
            f"coefs and intercepts must be non-empty lists of equal length, got {len(coefs)} and "
            f"{len(intercepts)}."
        )
    dtype = coefs[0].dtype
    X = np.ascontiguousarray(X, dtype=dtype)
    n = X.shape[0]
    sizes = (X.shape[1], *(W.shape[1] for W in coefs))
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        if W.shape[0] != sizes[i] or b.shape != (W.shape[1],):
            raise ValueError(
                f"Layer {i} has W of shape {W.shape} and b of shape {b.shape}: expected "
                f"({sizes[i]}, n_out) and (n_out,) to follow an input of {sizes[i]} features."
            )
    if out is None:
        out = Propagation(sizes, n, dtype, gradients=False)
    elif out.layer_sizes != sizes or out.capacity < n or out.dtype != dtype:
        raise ValueError(
            f"out holds buffers for layer sizes {out.layer_sizes}, up to {out.capacity} rows of "
            f"{out.dtype}; got layer sizes {sizes}, {n} rows of {dtype}."
        )
    return _backprop.forward(X, coefs, intercepts, kinds, out)


def backward(
    propagation, y, coefs, activation="sigmoid", output="softmax", *, alpha=0.0, on_layer=None
):
    """Back-propagate the loss of the last :func:`forward` pass stored in ``propagation``.

    The loss is the mean over the batch of the softmax cross-entropy ``-log p_y``
    (``output='softmax'``) or of the half squared error ``0.5 ||a - y||**2`` (``output='identity'``),
    plus ``0.5 * alpha * sum(W**2) / n_samples`` (the L2 term of scikit-learn's MLP). Both losses have
    the output delta ``(a - y) / n_samples``; then, layer by layer,
    ``delta_i = (delta_{i+1} @ W_{i+1}.T) * f'(Z_i)``, ``dW_i = inputs_i.T @ delta_i`` and
    ``db_i = sum(delta_i, axis=0)``.

    Parameters
    ----------
    propagation : Propagation
        State after :func:`forward`, allocated with ``gradients=True``.
    y : ndarray
        Class indices of shape (n_samples,) for ``'softmax'``; targets of shape
        (n_samples, n_outputs) or (n_samples,) for ``'identity'``.
    coefs : list of ndarray
        The weights used in the forward pass.
    activation : str, default='sigmoid'
        Hidden activation used in the forward pass.
    output : {'softmax', 'identity'}, default='softmax'
        Output activation used in the forward pass; selects the loss.
    alpha : float, default=0.0
        L2 penalty.
    on_layer : callable, optional
        Called as ``on_layer(i)`` as soon as layer ``i``'s gradients are complete and its weights are
        no longer needed by the pass (top layer first), so that an optimiser can update them while
        the gradients are still in cache.

    Returns
    -------
    propagation : Propagation
        With ``deltas``, ``coef_grads``, ``intercept_grads`` (views into ``grad``) and ``loss`` set.

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.
    """
    check_choice(output, "output", LOSSES)
    kinds = _kinds(len(coefs), activation, output)
    return _backprop.backward(
        propagation, y, coefs, kinds, LOSSES[output], alpha=alpha, on_layer=on_layer
    )


def _kinds(n_layers, activation, output):
    """Activation codes of a net with one hidden ``activation`` and an ``output`` layer."""
    activation_code(activation)
    check_choice(output, "output", _OUTPUTS)
    return kinds_of(n_layers, activation, output)


# --------------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------------


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: softmax output trained on the cross-entropy.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Units per hidden layer.
    activation : {'sigmoid', 'logistic', 'tanh', 'relu', 'identity'}, default='sigmoid'
        Hidden activation ('logistic' is scikit-learn's name for the sigmoid).
    solver : {'sgd', 'adam', 'cg', 'lbfgs'}, default='adam'
        Minibatch SGD with (Nesterov) momentum, Adam, conjugate gradient on large minibatches
        (``cg_*`` parameters), or L-BFGS-B (scipy) on the whole training loss as in
        scikit-learn: ``max_iter`` bounds its iterations, ``max_fun`` its loss evaluations and
        ``tol`` is its gradient tolerance; it has no epochs, so no dropout, max-norm,
        early stopping, checkpoints or ``partial_fit``.
    alpha : float, default=1e-4
        L2 penalty; the term ``0.5 * alpha * sum(W**2) / batch_size`` is added to the mean loss, as in
        scikit-learn.
    batch_size : int or 'auto', default='auto'
        Minibatch size for 'sgd' and 'adam'; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        scikit-learn's schedules of solver='sgd' (ignored by the others): 'invscaling' uses
        ``learning_rate_init / (t_ + 1) ** power_t`` in an epoch that starts after ``t_``
        samples; 'adaptive' keeps the rate while the loss improves and divides it by 5 each time
        ``n_iter_no_change`` epochs pass without improvement, stopping once it falls below 1e-6.
        Not with a ``learning_rate_schedule`` other than 'constant'.
    learning_rate_init : float, default=1e-3
        Initial learning rate.
    power_t : float, default=0.5
        Exponent of 'invscaling', >= 0.
    learning_rate_schedule : {'constant', 'exponential', 'step'} or callable, default='constant'
        Learning rate of epoch ``e`` (from 0): ``learning_rate_init``, ``learning_rate_init *
        lr_decay**e``, ``learning_rate_init * lr_decay**(e // lr_step_size)``, or
        ``schedule(e, learning_rate_init)``, which returns the learning rate (the schedule contract
        of every dbn estimator, :mod:`dbn._training.schedules`). Deprecated: a callable of one
        parameter, ``schedule(e)``, returns a factor of ``learning_rate_init`` (the MLP's old
        form) and raises a DeprecationWarning.
    lr_decay : float, default=0.95
        Decay factor of the 'exponential' and 'step' schedules, in (0, 1].
    lr_step_size : int, default=10
        Epochs between decays of the 'step' schedule.
    max_iter : int, default=200
        Maximum number of epochs (of iterations for 'lbfgs').
    shuffle : bool, default=True
        Visit the training rows in a new random order each epoch; False keeps their order.
    warm_start : bool, default=False
        Let :meth:`fit` start from the fitted weights (same classes and layer sizes) instead of
        new ones, as in scikit-learn: it runs up to ``max_iter`` more epochs with new counters,
        history, optimiser and early-stopping state; ``t_`` keeps counting samples.
    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1].
    nesterovs_momentum : bool, default=True
        Nesterov's accelerated gradient (Sutskever et al., 2013) instead of classical momentum.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters (Kingma & Ba, 2015).
    early_stopping : bool, default=False
        Stop when the validation accuracy stops improving and restore the best weights. The
        validation set is ``X_val, y_val`` passed to :meth:`fit`, or a stratified
        ``validation_fraction`` of the training data.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping, in (0, 1).
    n_iter_no_change : int or numpy.inf, default=10
        Training stops after more than this many epochs without an improvement of ``tol`` in the
        training loss (or the validation score with early stopping), as in scikit-learn;
        ``np.inf`` never stops for that.
    tol : float, default=1e-4
        Improvement tolerance.
    max_fun : int, default=15000
        Maximum number of loss evaluations of solver='lbfgs'.
    init : str or callable, default='xavier_uniform'
        Initialiser of :mod:`dbn.init` (by name) or a function
        ``f(fan_in, fan_out, *, random_state, dtype)``, for the hidden and output layers. Initialisers
        with a ``gain`` parameter get :func:`dbn.init.gain` of the activation (4 for the sigmoid)
        for hidden layers and 1 for the output layer. 'lsuv' rescales the layers on a batch of the
        training data (:func:`dbn.init.lsuv_init`). Biases start at zero.
    output_init : str or callable, optional
        Initialiser of the output layer; defaults to ``init``.
    dropout_input, dropout_hidden : float, default=0.0
        Probability of dropping an input / hidden unit during training (inverted dropout:
        Srivastava et al., 2014), in [0, 1).
    max_norm : float, optional
        Max-norm constraint (Srivastava et al., 2014, section 5.1): after every SGD or Adam step,
        the incoming weight vector of each hidden unit is scaled back to this L2 norm if it grew
        beyond it (3 to 4 is usual with dropout). Lets dropout nets use large learning rates.
    pretrained_layers : list of (W, b), optional
        Weights ``W`` of shape ``(n_in, n_out)`` and biases ``b`` of shape ``(n_out,)`` for the first
        hidden layers (``DBN.to_mlp()`` fills them from the RBMs); shapes must chain and match
        ``hidden_layer_sizes``. Copied, never modified.
    pretrained_scale : {'as_trained', 'unit_variance'}, default='as_trained'
        'unit_variance' rescales the pretrained layers when :meth:`fit` initialises, on up to 512
        training rows, so that each layer's pre-activations vary with a standard deviation of 1
        across the rows, keeping the units' mean inputs
        (:func:`dbn.init.rescale_to_unit_variance`): for pretrained layers that pass too little
        of their inputs' variation (an RBM on a few real-valued features). Not a default of
        ``DBN.to_mlp()``: on the panel's real-valued sets it lost (twentieth round,
        ``benchmarks/panel_study.py --parts realvalued-scale``).
    center_inputs : bool, default=False
        Train on inputs centred by their training mean: the first layer computes ``(x - m) W +
        b'`` during training, which is the same function as ``x W + b`` with ``b = b' - m W``, so
        ``coefs_``, ``intercepts_`` and every prediction stay those of the raw inputs; only the
        optimiser's path changes. A mean far from zero adds a large common component to every
        first-layer gradient, which makes the loss surface ill-conditioned (LeCun et al., 1998,
        section 4.3; Schraudolph, 1998): on MNIST digits lifted onto a grey background (every
        pixel ``0.7 + 0.3 x``), the net of ``DBN.to_mlp()`` fine-tuned by SGD 0.1 ended at 79.7 %
        validation error, and at 10.0 % when centred, against 14.0 % for Xavier's net
        (``benchmarks/centering_threshold.py``). The mean, ``input_offset_``, is taken from the rows of the
        first ``fit`` (or ``partial_fit``) and kept by ``warm_start`` and later ``partial_fit``
        calls. With ``dropout_input``, a dropped input is set to its mean, not to zero. Training
        holds one centred copy of the training rows.
    cg_batch_size : int, default=1000
        Minibatch size of the 'cg' solver.
    cg_max_line_searches : int, default=3
        Conjugate-gradient iterations (one line search each) per minibatch.
    cg_top_layer_epochs : int, default=0
        Initial epochs of 'cg' in which only the output layer is trained (Hinton & Salakhutdinov,
        2006, fine-tuning recipe); dropout is not applied in these epochs. In the others, 'cg' draws
        one dropout mask per minibatch, so that the line searches see a fixed objective.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Precision of the weights and the computation (float64 for gradient checks).
    random_state : None, int or numpy.random.Generator
        Seeds the initialisation, the shuffling and the dropout masks: the same seed gives the
        same weights (in a single thread).
    verbose : bool or int, default=False
        Print scikit-learn's line ``Iteration N, loss = ...`` after each epoch (each 'lbfgs'
        iteration), with the validation loss when there is a validation set.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels; one class is allowed (the net then predicts it). For a 2-D 0/1 indicator
        ``y`` (multilabel classification: one sigmoid output per label, trained on their
        cross-entropies, ``out_activation_='logistic'``), ``arange(n_labels)``.
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape ``(n_in, n_out)``.
    intercepts_ : list of ndarray
    n_features_in_ : int
    n_iter_ : int
        Completed epochs.
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    loss_curve_ : list of float
        Training loss per epoch (with the L2 term).
    history_ : dict of list
        Per epoch (L-BFGS iteration for 'lbfgs'): 'epoch' (completed epochs, from 1),
        'train_loss', 'val_loss' (data term only), 'val_error' (1 - accuracy), 'learning_rate'
        (NaN for 'cg' and 'lbfgs') and 'time' (the epoch's own seconds), the keys and meanings
        of every dbn estimator (docs/guide/training.md).
    best_loss_ : float or None
        Lowest training loss; None with early stopping.
    best_validation_score_ : float or None
        Best validation accuracy with early stopping; None without.
    validation_scores_ : list of float or None
        Validation accuracy per epoch with early stopping; None without.
    t_ : int
        Training samples seen.
    input_offset_ : ndarray of shape (n_features,) or None
        The training mean the inputs are centred by during training (``center_inputs=True``);
        None otherwise.

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.

    Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
    networks. Science, 313(5786), 504-507.

    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.

    Sutskever, I., Martens, J., Dahl, G. and Hinton, G. (2013). On the importance of initialization
    and momentum in deep learning. ICML, 1139-1147.

    LeCun, Y., Bottou, L., Orr, G. B. and Mueller, K.-R. (1998). Efficient BackProp. In Neural
    Networks: Tricks of the Trade, LNCS 1524, 9-50 (section 4.3: inputs of mean zero).

    Schraudolph, N. N. (1998). Centering neural network gradient factors. In Neural Networks:
    Tricks of the Trade, LNCS 1524, 207-226.

    Srivastava, N., Hinton, G., Krizhevsky, A., Sutskever, I. and Salakhutdinov, R. (2014). Dropout:
    a simple way to prevent neural networks from overfitting. JMLR, 15, 1929-1958.

    Kingma, D. P. and Ba, J. (2015). Adam: a method for stochastic optimization. ICLR.

    Notes
    -----
    :meth:`save` and :meth:`load` round-trip the whole training state exactly (string labels
    included); ``fit(X, y, checkpoint_dir=...)`` writes it after every epoch and resumes from it.

    Examples
    --------
    >>> from dbn.mlp import MLPClassifier
    >>> clf = MLPClassifier((64,), solver="sgd", learning_rate_init=0.1, random_state=0)
    """

    _output = "softmax"
    _STRATIFY = True

    def _validate_data(self, X, y, P, reset, classes=None, warm=False):
        X = self._check_X(X, P["dtype"], reset=reset)
        require_y(self, y)
        if self._is_multilabel(y):
            # One sigmoid output per label, trained on their cross-entropies (as scikit-learn).
            y = self._check_indicator(y, "y", len(X))
            if warm and not (self._output == "logistic" and y.shape[1] == self.n_outputs_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has "
                    f"{y.shape[1]} labels (multilabel)."
                )
            self._output = "logistic"
            self.classes_ = np.arange(y.shape[1])
            self.n_features_in_ = X.shape[1]
            self.n_outputs_ = y.shape[1]
            return X, y.astype(P["dtype"])
        y = self._column_or_1d(y, "y", len(X))
        if warm:
            labels = np.unique(y)
            if self._output != "softmax" or set(labels.tolist()) != set(self.classes_.tolist()):
                # scikit-learn's message.
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {labels}"
                )
            return X, self._encode_y(y, "y", len(X), P["dtype"])
        self.__dict__.pop("_output", None)  # back to the class's softmax
        if classes is not None:
            classes = np.asarray(classes)
            if classes.ndim != 1:
                raise ValueError(f"classes must be 1-D, got shape {classes.shape}.")
            check_label_values(classes, "classes")
        encoder = LabelEncoder().fit(y if classes is None else classes)
        # One class is allowed, as in scikit-learn: the net then predicts it everywhere.
        self.classes_ = encoder.classes_
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = len(self.classes_)
        return X, self._encode_y(y, "y", len(X), P["dtype"])

    @staticmethod
    def _is_multilabel(y):
        """Whether ``y`` is a dense 2-D indicator matrix (multilabel), as scikit-learn's
        type_of_target says."""
        if sp.issparse(y) or isinstance(y, str | bytes):
            return False
        try:
            y = np.asarray(y)
        except (TypeError, ValueError):  # ragged: refused later with the 1-D label checks
            return False
        if y.ndim != 2 or y.shape[1] < 2:
            return False
        return type_of_target(y) == "multilabel-indicator"

    def _check_indicator(self, y, name, n_samples):
        """A multilabel target as a dense 0/1 array of shape (n_samples, n_labels)."""
        y = np.asarray(y)
        if y.ndim != 2 or len(y) != n_samples:
            raise ValueError(
                f"{name} must have shape ({n_samples}, n_labels) for multilabel classification, "
                f"got {y.shape}."
            )
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"{name} of a multilabel classifier must hold only 0 and 1.")
        return y

    def _set_given_targets(self, n_outputs, classes):
        # classes_ from the first partial_fit's classes: one class per softmax unit.
        self.__dict__.pop("_output", None)
        if classes is None:
            if hasattr(self, "classes_"):
                classes = self.classes_
            else:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit (the weights were "
                    "set without classes_)."
                )
        classes = np.unique(np.asarray(classes))
        if len(classes) != n_outputs:
            raise ValueError(
                f"classes holds {len(classes)} labels but the given weights have {n_outputs} "
                "output units; a classifier's softmax has one unit per class."
            )
        check_label_values(classes, "classes")
        self.classes_ = classes

    def _check_same_classes(self, classes):
        if classes is None or self._output == "logistic":
            return
        classes = np.asarray(classes)
        if classes.shape != self.classes_.shape or not np.array_equal(
            np.sort(classes), self.classes_
        ):
            # scikit-learn's message (sklearn.utils.multiclass._check_partial_fit_first_call).
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit, was: "
                f"{self.classes_!r}"
            )

    def _class_names(self, labels):
        return self.classes_[labels].tolist()

    @staticmethod
    def _column_or_1d(y, name, n_samples):
        """Labels as a 1-D array: scikit-learn's ``column_or_1d`` (a column vector is raveled with
        a DataConversionWarning) and ``check_classification_targets`` (continuous targets are
        refused), after dbn's checks of the label values."""
        if isinstance(y, str | bytes) or hasattr(y, "nnz"):
            raise TypeError(f"{name} must be a 1-D array of labels, got {type(y).__name__}.")
        y = np.asarray(y)
        check_label_values(y, name)
        y = column_or_1d(y, warn=True, input_name=name)
        if len(y) != n_samples:
            raise ValueError(f"{name} has {len(y)} samples but X has {n_samples}; they must match.")
        check_classification_targets(y)
        return y

    def _encode_y(self, y, name, n_samples, dtype):
        """Class indices of the labels ``y`` (scikit-learn's ``LabelEncoder`` over ``classes_``);
        for a multilabel classifier, the 0/1 indicator matrix in ``dtype``."""
        if self._output == "logistic":
            y = self._check_indicator(y, name, n_samples)
            if y.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"{name} has {y.shape[1]} labels, but the model was fitted with "
                    f"{self.n_outputs_}."
                )
            return y.astype(dtype)
        y = self._column_or_1d(y, name, n_samples)
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():  # sklearn's message would show numpy scalar reprs: name the labels
            raise ValueError(
                f"{name} contains labels {np.unique(y[unknown]).tolist()!r} not in classes_ "
                f"{self.classes_.tolist()!r}."
            )
        encoder = LabelEncoder()
        encoder.classes_ = self.classes_
        return encoder.transform(y).astype(np.int64)

    def _state_arrays(self):
        arrays, extra = super()._state_arrays()
        arrays["classes_"], extra["classes_storage"] = labels_to_array(self.classes_)
        extra["classes_dtype"] = self.classes_.dtype.str
        extra["multilabel"] = self._output == "logistic"
        return arrays, extra

    def _restore_checked(self, arrays, extra, P, source):
        dtype = np.dtype(extra["classes_dtype"])
        if dtype.kind not in "UObiuf":
            raise ValueError(f"classes_ cannot have dtype {dtype}")
        classes = labels_from_array(arrays["classes_"], extra["classes_storage"], dtype)
        if len(classes) < 1 or len(classes) != extra["n_outputs_"]:
            raise io.ModelFileError(
                f"{source}: holds {len(classes)} classes for {extra['n_outputs_']!r} outputs; a "
                "classifier has one output per class."
            )
        if len(np.unique(classes)) != len(classes) or np.any(np.unique(classes) != classes):
            raise io.ModelFileError(f"{source}: classes_ must be sorted and unique.")
        multilabel = extra.get("multilabel", False)
        if not isinstance(multilabel, bool):
            raise io.ModelFileError(f"{source}: multilabel must be a bool, got {multilabel!r}.")
        if multilabel:
            self._output = "logistic"
        else:
            self.__dict__.pop("_output", None)
        super()._restore_checked(arrays, extra, P, source)
        self.classes_ = classes

    def to_torch(self, *, probabilities=False):
        """This fitted net as a ``torch.nn.Module`` that outputs its logits (or, with
        ``probabilities=True``, :meth:`predict_proba`).

        See :func:`dbn.export.to_torch`; needs the ``torch`` extra. Not for a multilabel
        classifier (its outputs are independent sigmoids, not a softmax).
        """
        from .export import to_torch

        if self._output == "logistic":
            raise ValueError(
                "to_torch exports a softmax classifier; this one is multilabel (one sigmoid per "
                "label): export its logits with torch.sigmoid applied instead."
            )
        return to_torch(self, probabilities=probabilities)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True  # 2-D indicator targets (one sigmoid per label)
        return tags

    def predict_proba(self, X):
        """Class probabilities, of shape (n_samples, n_classes), in the model's dtype."""
        return self._raw_output(X)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed from the logits (finite where probabilities underflow)."""
        if self._output == "logistic":
            # Of the probabilities themselves, so that both rank the labels alike where the
            # sigmoid rounds to 1 (as scikit-learn).
            with np.errstate(divide="ignore"):
                return np.log(self.predict_proba(X))
        z = self._raw_output(X, logits=True)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def decision_function(self, X):
        """Logits of the output layer, of shape (n_samples, n_classes).

        For two classes, as in scikit-learn, the log-odds of ``classes_[1]``: the difference of the
        two logits, of shape (n_samples,), positive where :meth:`predict` gives ``classes_[1]``
        (and ``predict_proba[:, 1]`` is its sigmoid).
        """
        logits = self._raw_output(X, logits=True)
        if logits.shape[1] == 2 and self._output == "softmax":
            return logits[:, 1] - logits[:, 0]
        return logits

    def predict(self, X):
        """Most probable class of each sample; for a multilabel classifier, the 0/1 indicator
        matrix of the labels whose probability exceeds 1/2."""
        logits = self._raw_output(X, logits=True)
        if self._output == "logistic":
            return (logits > 0).astype(np.int64)
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on ``(X, y)`` (multilabel: of whole label sets)."""
        predicted = self.predict(X)
        if self._output == "logistic":
            y = self._check_indicator(y, "y", len(predicted))
            correct = (predicted == y).all(axis=1)
        else:
            correct = predicted == self._column_or_1d(y, "y", len(predicted))
        weights = check_sample_weight(sample_weight, len(predicted))
        return float(np.average(correct, weights=weights))

    def _evaluate(self, X, y_idx, sample_weight=None):
        """(mean cross-entropy, error rate, accuracy) on encoded labels (weighted means with
        ``sample_weight``)."""
        logits = forward_chunked(
            X, self.coefs_, self.intercepts_, self.activation, self._output, logits=True
        ).astype(np.float64)
        if self._output == "logistic":
            losses = np.maximum(logits, 0) - y_idx * logits + np.logaddexp(0, -np.abs(logits))
            losses = losses.sum(axis=1)
            correct = ((logits > 0) == (y_idx > 0.5)).all(axis=1)
        else:
            zmax = logits.max(axis=1, keepdims=True)
            lse = (zmax + np.log(np.exp(logits - zmax).sum(axis=1, keepdims=True))).ravel()
            losses = lse - logits[np.arange(len(y_idx)), y_idx]
            correct = np.argmax(logits, axis=1) == y_idx
        loss = float(np.average(losses, weights=sample_weight))
        accuracy = float(np.average(correct, weights=sample_weight))
        return loss, 1.0 - accuracy, accuracy


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: linear output trained on the squared error.

    Takes the parameters of :class:`MLPClassifier`, and ``loss``; early stopping monitors the
    validation R². The loss is ``0.5 * mean over samples of ||output - y||**2`` (summed over
    outputs) plus the L2 term; ``history_['val_error']`` is the validation mean squared error.
    Predictions are float32 for float32 ``X`` and float64 otherwise (scikit-learn's rule),
    computed in the model's ``dtype``.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        'poisson' (scikit-learn's): the output is the log of the mean, ``predict`` returns its
        exp, and the loss is the half Poisson deviance ``mean over samples of sum_j [y_j
        log(y_j / mu_j) - y_j + mu_j]``, for counts ``y >= 0``.
    hidden_layer_sizes, activation, solver, ...
        As for :class:`MLPClassifier`.

    Attributes
    ----------
    coefs_, intercepts_, n_features_in_, n_iter_, n_layers_, n_outputs_, out_activation_,
    loss_curve_, history_, best_loss_, best_validation_score_, validation_scores_
        As for :class:`MLPClassifier`.

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.

    Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
    networks. Science, 313(5786), 504-507.
    """

    _output = "identity"

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        loss="squared_error",
        activation="sigmoid",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
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
        epsilon=1e-08,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=0.0001,
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
        # scikit-learn's style: the whole signature, so that get_params sees `loss`.
        super().__init__(
            hidden_layer_sizes,
            activation=activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            learning_rate_schedule=learning_rate_schedule,
            lr_decay=lr_decay,
            lr_step_size=lr_step_size,
            max_iter=max_iter,
            shuffle=shuffle,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            max_fun=max_fun,
            init=init,
            output_init=output_init,
            dropout_input=dropout_input,
            dropout_hidden=dropout_hidden,
            max_norm=max_norm,
            pretrained_layers=pretrained_layers,
            pretrained_scale=pretrained_scale,
            center_inputs=center_inputs,
            cg_batch_size=cg_batch_size,
            cg_max_line_searches=cg_max_line_searches,
            cg_top_layer_epochs=cg_top_layer_epochs,
            dtype=dtype,
            random_state=random_state,
            verbose=verbose,
        )
        self.loss = loss

    def _check_sklearn_params(self, P):
        super()._check_sklearn_params(P)
        check_choice(self.loss, "loss", _REGRESSION_LOSSES)

    def _set_output(self, P):
        super()._set_output(P)
        if self.loss == "poisson":
            # A linear output read as the log of the mean: exp is the loss's link, not a layer.
            P["loss"] = "poisson"

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else self._output

    def _set_given_targets(self, n_outputs, classes):
        self._y_1d = n_outputs == 1  # predict as scikit-learn: 1-D for one output

    def _validate_data(self, X, y, P, reset, classes=None, warm=False):
        X = self._check_X(X, P["dtype"], reset=reset)
        require_y(self, y)
        y = self._encode_y(y, "y", len(X), P["dtype"], reset=reset)
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = y.shape[1]
        return X, y

    def _encode_y(self, y, name, n_samples, dtype, reset=False):
        y = check_target(y, name, dtype=(dtype.type,))
        if len(y) != n_samples:
            raise ValueError(f"{name} has {len(y)} samples but X has {n_samples}; they must match.")
        if reset:
            self._y_1d = y.ndim == 1
        y = y.reshape(n_samples, -1)
        if not reset and y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"{name} has {y.shape[1]} outputs, but the model was fitted with {self.n_outputs_}."
            )
        if self.loss == "poisson" and (y < 0).any():
            # scikit-learn's message.
            raise ValueError(
                f"Some value(s) of {name} are negative which is not allowed for Poisson "
                f"regression (loss='poisson'); the smallest is {y.min()!r}."
            )
        return np.ascontiguousarray(y)

    def _state_arrays(self):
        arrays, extra = super()._state_arrays()
        extra["y_1d"] = bool(getattr(self, "_y_1d", False))
        return arrays, extra

    def _restore_checked(self, arrays, extra, P, source):
        y_1d = extra.get("y_1d", False)
        if not isinstance(y_1d, bool) or (y_1d and extra["n_outputs_"] != 1):
            raise io.ModelFileError(f"{source}: y_1d must be a bool, and True only for 1 output.")
        super()._restore_checked(arrays, extra, P, source)
        self._y_1d = y_1d

    def to_torch(self):
        """This fitted net as a ``torch.nn.Module`` with the same outputs.

        See :func:`dbn.export.to_torch`; needs the ``torch`` extra.
        """
        from .export import to_torch

        if self.loss == "poisson":
            raise ValueError(
                "to_torch exports the net's linear output; with loss='poisson' the prediction "
                "is its exp, which the export would leave out. Apply torch.exp to its output."
            )

        return to_torch(self)

    def predict(self, X):
        """Predicted targets, of shape (n_samples,) if ``y`` was 1-D at fit, else (n_samples, n_outputs).

        In scikit-learn's dtype: float32 for float32 ``X``, float64 otherwise (promoted with the
        model's ``dtype``; the computation runs in the model's ``dtype``).
        """
        out = self._raw_output(X).astype(prediction_dtype(X, self.coefs_[0].dtype), copy=False)
        if self.loss == "poisson":
            out = np.exp(out)
        return out.ravel() if getattr(self, "_y_1d", False) else out

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R² of :meth:`predict`."""
        predicted = self.predict(X)
        y = check_array(y, "y", ensure_2d=False)
        if y.ndim not in (1, 2) or len(y) != len(predicted):
            raise ValueError(
                f"y has {len(y) if y.ndim else 0} samples but X has {len(predicted)}; they must "
                f"match (y shape {y.shape})."
            )
        weights = check_sample_weight(sample_weight, len(predicted))
        return r2(y, predicted, weights)

    def _evaluate(self, X, y, sample_weight=None):
        """(half mean squared error summed over outputs, mean squared error, R²), weighted means
        with ``sample_weight``; R² is NaN when the predictions are not finite (as in
        scikit-learn's early stopping)."""
        out = forward_chunked(X, self.coefs_, self.intercepts_, self.activation, "identity")
        if self.loss == "poisson":
            deviance = _backprop._poisson_rows(out, y)
            out = np.exp(out.astype(np.float64))
        diff = out.astype(np.float64) - y
        loss = float(0.5 * np.average(np.sum(diff**2, axis=1), weights=sample_weight))
        if self.loss == "poisson":
            loss = float(np.average(deviance, weights=sample_weight))
        mse = float(np.average(np.mean(diff**2, axis=1), weights=sample_weight))
        if not np.isfinite(out).all():
            return loss, mse, float("nan")
        return loss, mse, r2(y, out, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
