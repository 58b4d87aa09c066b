"""Deep autoencoders: a pretrained RBM stack unrolled into an encoder and a decoder, then fine-tuned.

Hinton & Salakhutdinov (2006) pretrain a stack of RBMs greedily (:class:`dbn.DBN`), "unroll" it into
an encoder that uses the RBMs' recognition weights ``W.T`` and hidden biases, and a decoder that uses
their generative weights ``W`` and visible biases in reverse order, then fine-tune the whole net by
back-propagating the reconstruction error. :class:`DeepAutoencoder` is that net; built with
:meth:`DeepAutoencoder.from_dbn` (or ``DBN.to_autoencoder()``) it starts from the pretrained weights,
built directly it starts from a random initialisation (the paper's "without pretraining" baseline).

The net reuses the pieces of :mod:`dbn.mlp` (the :class:`~dbn.mlp.Propagation` buffers, the flat
parameter layout, the element-wise kernels and the optimiser steps); what it adds is a different
activation per layer (the code layer is linear) and a logistic output trained on the cross-entropy,
whose kernels live in ``dbn._kernels.autoencoder``.

References
----------
Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science, 313(5786), 504-507.

Hinton, G. E., Osindero, S. and Teh, Y.-W. (2006). A fast learning algorithm for deep belief nets.
Neural Computation, 18(7), 1527-1554.
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np

from . import init as _init
from ._base import ParamsMixin
from ._kernels import autoencoder as _ka
from ._kernels import mlp as _k
from ._kernels.rbm import squared_error_sum
from ._validation import (
    DivergenceError,
    NotFittedError,
    check_array,
    check_choice,
    check_is_fitted,
    check_layer_sizes,
    check_random_state,
    check_scalar,
)
from .mlp import (
    ACTIVATIONS,
    Propagation,
    _BaseMLP,
    _check_bool,
    _check_dtype,
    _forward_chunked,
    _pack,
    _segments,
    _TrainingState,
)

__all__ = ["DeepAutoencoder", "forward", "backward"]

_CODE_ACTIVATIONS = ("identity", "sigmoid")
_OUTPUT_ACTIVATIONS = ("sigmoid", "identity")
_LOSSES = ("cross_entropy", "squared_error")
_SCHEDULES = ("constant", "exponential", "step")
_HISTORY_KEYS = ("train_loss", "val_loss", "val_mse", "learning_rate", "time")
# Rows per chunk when evaluating: bounds the memory of the activations of large inputs.
_CHUNK = 2048


def layer_kinds(n_encoder_layers, code_activation="identity", output_activation="sigmoid"):
    """Activation codes of the unrolled net's ``2 * n_encoder_layers`` weight layers.

    Sigmoid everywhere except the code layer (the last encoder layer) and the output layer.
    """
    sigmoid = ACTIVATIONS["sigmoid"]
    encoder = [sigmoid] * (n_encoder_layers - 1) + [ACTIVATIONS[code_activation]]
    decoder = [sigmoid] * (n_encoder_layers - 1) + [ACTIVATIONS[output_activation]]
    return encoder + decoder


# --------------------------------------------------------------------------------------------------
# Forward and backward passes
# --------------------------------------------------------------------------------------------------


def forward(X, coefs, intercepts, kinds, out):
    """Propagate ``X`` through the unrolled net: ``A_{i+1} = f_i(A_i @ W_i + b_i)``.

    Unlike :func:`dbn.mlp.forward`, each layer has its own activation (``kinds``), and a logistic
    output keeps its logits (in ``out.logits``) for the cross-entropy.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        C-contiguous input of the weights' dtype.
    coefs, intercepts : list of ndarray
        ``coefs[i]`` of shape ``(n_in_i, n_out_i)``, ``intercepts[i]`` of shape ``(n_out_i,)``.
    kinds : sequence of int
        Activation code of each layer (see :func:`layer_kinds`).
    out : Propagation
        Buffers for the net's layer sizes and at least ``n_samples`` rows, without dropout.

    Returns
    -------
    out : Propagation
        With ``activations``, ``inputs`` and ``logits`` set.
    """
    n = X.shape[0]
    last = len(coefs) - 1
    activations = [X]
    A = X
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        Z = out._outputs[i][:n]
        if i == last and kinds[i] == _k.SIGMOID:
            logits = out._logits[:n]
            np.matmul(A, W, out=logits)
            _ka.bias_sigmoid_(logits, b, Z)
            out.logits = logits
        else:
            np.matmul(A, W, out=Z)
            _k.bias_activation_(Z, b, kinds[i])
            out.logits = Z
        activations.append(Z)
        A = Z
    out.n_samples = n
    out.activations = activations
    out.inputs = activations[:-1]
    return out


def backward(propagation, X, coefs, kinds, loss="cross_entropy", *, alpha=0.0):
    """Gradient of the reconstruction loss of the last :func:`forward` pass.

    The loss is the mean over the batch of the cross-entropy
    ``-sum_j [x_j log p_j + (1 - x_j) log(1 - p_j)]`` (``loss='cross_entropy'``, logistic output) or
    of the squared error ``sum_j (x_hat_j - x_j)**2`` (``loss='squared_error'``, not halved, so that it
    equals the reported reconstruction error), plus ``0.5 * alpha * sum(W**2) / n_samples``.

    Parameters
    ----------
    propagation : Propagation
        State after :func:`forward`, allocated with ``gradients=True``.
    X : ndarray of shape (n_samples, n_features)
        The targets: the input of the forward pass.
    coefs : list of ndarray
        The weights used in the forward pass.
    kinds : sequence of int
        The activation codes used in the forward pass.
    loss : {'cross_entropy', 'squared_error'}
    alpha : float, default=0.0
        L2 penalty on the weights.

    Returns
    -------
    propagation : Propagation
        With ``coef_grads``, ``intercept_grads`` (views into ``grad``) and ``loss`` set.

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.
    """
    prop = propagation
    n = prop.n_samples
    scale = 1.0 / n
    deltas = [d[:n] for d in prop._deltas]
    top = prop.activations[-1]
    if loss == "cross_entropy":
        data_loss = _ka.sigmoid_cross_entropy_(prop.logits, top, X, deltas[-1], scale)
    elif kinds[-1] == _k.SIGMOID:
        data_loss = _ka.sigmoid_squared_error_(top, X, deltas[-1], scale)
    else:
        # The MLP kernel's loss is halved; doubling both keeps one definition of squared error.
        data_loss = 2.0 * _k.squared_error_(top, X, deltas[-1], 2.0 * scale)
    sum_sq = 0.0
    for i in range(len(coefs) - 1, -1, -1):
        delta = deltas[i]
        np.matmul(prop.inputs[i].T, delta, out=prop.coef_grads[i])
        _k.column_sum_(delta, prop.intercept_grads[i])
        if i > 0:
            below = deltas[i - 1]
            np.matmul(delta, coefs[i].T, out=below)
            _k.activation_backward_(below, prop.activations[i], kinds[i - 1], prop._no_noise, 0.0)
        if alpha > 0:
            sum_sq += _k.add_l2_(prop.coef_grads[i], coefs[i], alpha * scale)
    prop.loss = data_loss * scale + 0.5 * alpha * sum_sq * scale
    return prop


def _reconstruction_sums(X, coefs, intercepts, kinds, loss):
    """(sum of the loss, sum of squared errors) over the rows of ``X``, ``_CHUNK`` rows at a time."""
    n = X.shape[0]
    sizes = (X.shape[1], *(W.shape[1] for W in coefs))
    prop = Propagation(sizes, min(n, _CHUNK), coefs[0].dtype, gradients=False)
    total_loss = total_sq = 0.0
    for start in range(0, n, _CHUNK):
        xb = X[start : start + _CHUNK]
        forward(xb, coefs, intercepts, kinds, prop)
        top = prop.activations[-1]
        sq = squared_error_sum(xb, top)
        total_sq += sq
        if loss == "cross_entropy":
            total_loss += _ka.sigmoid_cross_entropy_(prop.logits, top, xb, None, 1.0)
        else:
            total_loss += sq
    return total_loss, total_sq


# --------------------------------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------------------------------


class _PretrainedRepr:
    """Stands in for ``pretrained_layers`` in ``repr``: the shapes, not the numbers."""

    def __init__(self, layers):
        self.layers = layers

    def __repr__(self):
        try:
            rows = [str(tuple(np.shape(a) for a in layer)) for layer in self.layers]
        except TypeError:
            return f"<{type(self.layers).__name__}>"
        return f"[{', '.join(rows)}]"


class DeepAutoencoder(_TrainingState, ParamsMixin):
    """Deep autoencoder: an unrolled encoder/decoder net fine-tuned by back-propagation.

    The encoder maps ``n_features -> layer_sizes[0] -> ... -> layer_sizes[-1]`` (the code) with
    logistic hidden units and a linear (or logistic) code layer; the decoder mirrors it back to
    ``n_features`` and ends in a logistic output for data in [0, 1]. Built by :meth:`from_dbn`, the
    encoder holds the RBMs' weights ``W.T`` and hidden biases and the decoder their weights ``W`` and
    visible biases, so that before fine-tuning :meth:`encode` is the DBN's upward pass
    (Hinton & Salakhutdinov, 2006).

    Parameters
    ----------
    layer_sizes : int or tuple of int, default=(1000, 500, 250, 30)
        Units of the encoder's layers, the last being the code layer.
    code_activation : {'identity', 'sigmoid'}, default='identity'
        Activation of the code layer: linear, as in the paper (the top RBM then has Gaussian hidden
        units), or logistic.
    output_activation : {'sigmoid', 'identity'}, default='sigmoid'
        Activation of the reconstruction: logistic for data in [0, 1] (then ``X`` must lie in
        [0, 1]), linear for real-valued data (with ``loss='squared_error'``).
    loss : {'cross_entropy', 'squared_error'}, default='cross_entropy'
        Reconstruction loss, summed over features and averaged over examples: the cross-entropy
        ``-sum_j [x_j log x_hat_j + (1 - x_j) log(1 - x_hat_j)]`` of the paper's MNIST autoencoders,
        or the squared error ``sum_j (x_j - x_hat_j)**2`` (not halved).
    solver : {'cg', 'sgd', 'adam'}, default='cg'
        Conjugate gradient on minibatches of ``cg_batch_size`` with ``cg_max_line_searches`` line
        searches each (the paper's recipe: 1000 and 3), minibatch SGD with (Nesterov) momentum, or
        Adam.
    alpha : float, default=0.0
        L2 penalty: ``0.5 * alpha * sum(W**2) / batch_size`` is added to the mean loss.
    batch_size : int or 'auto', default=100
        Minibatch size of 'sgd' and 'adam' ('auto': ``min(200, n_samples)``).
    learning_rate_init : float, default=1e-3
        Learning rate of 'sgd' and 'adam'.
    learning_rate_schedule : {'constant', 'exponential', 'step'} or callable, default='constant'
        As in :class:`dbn.mlp.MLPClassifier`.
    lr_decay : float, default=0.95
    lr_step_size : int, default=10
    max_iter : int, default=200
        Maximum number of epochs (the paper fine-tunes for 200).
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters (Kingma & Ba, 2015).
    early_stopping : bool, default=False
        Stop when the validation reconstruction error stops improving and restore the best
        weights. The validation set is ``X_val`` passed to :meth:`fit`, or a random
        ``validation_fraction`` of the training data.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
        Training stops after more than this many epochs without an improvement of ``tol`` in the
        training loss (or in the validation score ``-val_mse`` with early stopping), as in
        scikit-learn.
    tol : float, default=1e-4
    init : str or callable, default='xavier_uniform'
        Initialiser of :mod:`dbn.init` for the layers that ``pretrained_layers`` does not cover, with
        the :func:`dbn.init.gain` of each layer's activation (4 for a logistic layer, 1 for the
        linear code layer). Biases start at zero. 'lsuv' is not supported (it assumes one hidden
        activation).
    pretrained_layers : list of tuple, optional
        ``(W, b_hidden, b_visible)`` or ``(W, b_hidden, b_visible, W_decoder)`` for the first encoder
        layers, bottom up: ``W`` of shape ``(n_in, n_out)`` and ``b_hidden`` of shape ``(n_out,)``
        make encoder layer ``i``; ``W_decoder`` (default ``W.T``) of shape ``(n_out, n_in)`` and
        ``b_visible`` of shape ``(n_in,)`` make its mirror in the decoder. :meth:`from_dbn` fills
        them from the RBMs. Copied, never modified.
    cg_batch_size : int, default=1000
    cg_max_line_searches : int, default=3
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Precision of the weights and the computation (float64 for gradient checks).
    random_state : None, int or numpy.random.Generator
        Seeds the initialisation, the shuffling and the validation split.
    verbose : bool, default=False
        Print the losses after each epoch.

    Attributes
    ----------
    coefs_ : list of ndarray
        The ``2 * len(layer_sizes)`` weight matrices, encoder then decoder; ``coefs_[i]`` has shape
        ``(n_in, n_out)``.
    intercepts_ : list of ndarray
    n_features_in_ : int
    n_layers_ : int
        Layers of units, input and output included (``2 * len(layer_sizes) + 1``).
    n_iter_ : int
        Completed epochs.
    history_ : dict of list
        Per epoch: 'train_loss' (with the L2 term), 'val_loss' (data term only), 'val_mse' (squared
        reconstruction error per example, summed over features), 'learning_rate' (NaN for 'cg')
        and 'time' (seconds since the start of training). Validation entries are NaN without a
        validation set.
    loss_curve_ : list of float
        ``history_['train_loss']``.
    best_loss_ : float
    best_validation_score_ : float
        With early stopping: the best ``-val_mse``.
    validation_scores_ : list of float
        With early stopping: ``-val_mse`` per epoch.

    See Also
    --------
    dbn.DBN : the greedy pretraining whose stack :meth:`from_dbn` unrolls.

    Notes
    -----
    The reconstruction error that :meth:`score` and ``history_['val_mse']`` report is the paper's:
    the squared error summed over the features of an example, averaged over examples. With pixels in
    [0, 1], Hinton & Salakhutdinov (2006) report 3.00 on the MNIST test set for a 784-1000-500-250-30
    autoencoder, against 13.87 for PCA with 30 components.

    References
    ----------
    Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
    networks. Science, 313(5786), 504-507.

    Hinton, G. E., Osindero, S. and Teh, Y.-W. (2006). A fast learning algorithm for deep belief
    nets. Neural Computation, 18(7), 1527-1554.

    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.

    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.

    Kingma, D. P. and Ba, J. (2015). Adam: a method for stochastic optimization. ICLR.

    Examples
    --------
    >>> import numpy as np
    >>> from dbn.autoencoder import DeepAutoencoder
    >>> X = np.random.default_rng(0).random((200, 16)).astype(np.float32)
    >>> ae = DeepAutoencoder((8, 2), solver="adam", max_iter=3, random_state=0).fit(X)
    >>> ae.encode(X).shape
    (200, 2)
    """

    _SIZE_PARAM = "layer_sizes"
    _PRETRAINED_NAMES = ("W", "b_hidden", "b_visible", "W_decoder")
    _HISTORY_KEYS = _HISTORY_KEYS
    _CHECKPOINT_NAME = "autoencoder-checkpoint.npz"

    def __init__(
        self,
        layer_sizes=(1000, 500, 250, 30),
        *,
        code_activation="identity",
        output_activation="sigmoid",
        loss="cross_entropy",
        solver="cg",
        alpha=0.0,
        batch_size=100,
        learning_rate_init=1e-3,
        learning_rate_schedule="constant",
        lr_decay=0.95,
        lr_step_size=10,
        max_iter=200,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        init="xavier_uniform",
        pretrained_layers=None,
        cg_batch_size=1000,
        cg_max_line_searches=3,
        dtype=np.float32,
        random_state=None,
        verbose=False,
    ):
        self.layer_sizes = layer_sizes
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.loss = loss
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate_schedule = learning_rate_schedule
        self.lr_decay = lr_decay
        self.lr_step_size = lr_step_size
        self.max_iter = max_iter
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.init = init
        self.pretrained_layers = pretrained_layers
        self.cg_batch_size = cg_batch_size
        self.cg_max_line_searches = cg_max_line_searches
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------------------------- building

    @classmethod
    def from_dbn(cls, dbn, **params):
        """Unroll a pretrained :class:`dbn.DBN` into an autoencoder (Hinton & Salakhutdinov, 2006).

        Encoder layer ``i`` gets RBM ``i``'s weights ``components_.T`` and hidden biases; its mirror
        in the decoder gets ``components_`` and the visible biases. The code layer is linear when the
        top RBM has Gaussian hidden units (``DBN(top_hidden_unit='gaussian')``), logistic
        otherwise; a Gaussian first layer gives a linear output trained on the squared error.

        Parameters
        ----------
        dbn : DBN
            A pretrained DBN.
        **params
            Any other parameter of :class:`DeepAutoencoder` (``solver``, ``max_iter``, ...). Those
            derived from the DBN (``layer_sizes``, ``code_activation``, ``output_activation``,
            ``loss``, ``dtype``, ``random_state``) can be overridden; ``pretrained_layers`` cannot.

        Returns
        -------
        autoencoder : DeepAutoencoder
            Unfitted, holding the pretrained weights: :meth:`encode` works at once and :meth:`fit`
            fine-tunes them.
        """
        check_is_fitted(dbn, "layers_")
        if "pretrained_layers" in params:
            raise TypeError(
                "from_dbn() sets pretrained_layers from the DBN; got pretrained_layers as well."
            )
        pretrained = []
        for rbm in dbn.layers_:
            W = rbm.components_
            b_hidden = rbm.intercept_hidden_.copy()
            b_visible = rbm.intercept_visible_.copy()
            if getattr(rbm, "log_variance_", None) is not None:
                # Hidden input is (v / sigma) W^T and the visible mean b + sigma (h W): fold sigma
                # into the encoder and the decoder weights, which are then no longer transposes.
                sigma = rbm.sigma_
                encoder = np.ascontiguousarray(W.T / sigma[:, None])
                decoder = np.ascontiguousarray(W * sigma[None, :])
                pretrained.append((encoder, b_hidden, b_visible, decoder))
            else:
                pretrained.append((np.ascontiguousarray(W.T), b_hidden, b_visible))
        top = dbn.layers_[-1]
        params.setdefault("layer_sizes", tuple(int(rbm.n_components) for rbm in dbn.layers_))
        params.setdefault(
            "code_activation", "identity" if top.hidden_unit == "gaussian" else "sigmoid"
        )
        if getattr(dbn.layers_[0], "_visible_unit", "bernoulli") == "gaussian":
            params.setdefault("output_activation", "identity")
            params.setdefault("loss", "squared_error")
        params.setdefault("dtype", dbn.layers_[0].components_.dtype.type)
        params.setdefault("random_state", dbn.random_state)
        return cls(pretrained_layers=pretrained, **params)

    # --------------------------------------------------------------------------------- validation

    def _encoder_sizes(self):
        return check_layer_sizes(
            self.layer_sizes, "layer_sizes", empty_hint="at least the code layer"
        )

    def _validate_params(self):
        """Check every hyperparameter; returns the normalised values the training loop uses."""
        P = {"sizes": self._encoder_sizes()}
        check_choice(self.code_activation, "code_activation", _CODE_ACTIVATIONS)
        check_choice(self.output_activation, "output_activation", _OUTPUT_ACTIVATIONS)
        check_choice(self.loss, "loss", _LOSSES)
        if self.loss == "cross_entropy" and self.output_activation != "sigmoid":
            raise ValueError(
                "loss='cross_entropy' needs output_activation='sigmoid' (a probability per "
                f"feature), got output_activation={self.output_activation!r}; use "
                "loss='squared_error' for a linear output."
            )
        P["kinds"] = layer_kinds(len(P["sizes"]), self.code_activation, self.output_activation)
        P["solver"] = check_choice(self.solver, "solver", ("cg", "sgd", "adam"))
        check_scalar(self.alpha, "alpha", low=0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_scalar(self.batch_size, "batch_size", kind=numbers.Integral, low=1)
        check_scalar(self.learning_rate_init, "learning_rate_init", low=0, low_inclusive=False)
        if not callable(self.learning_rate_schedule):
            check_choice(self.learning_rate_schedule, "learning_rate_schedule", _SCHEDULES)
        check_scalar(self.lr_decay, "lr_decay", low=0, high=1, low_inclusive=False)
        check_scalar(self.lr_step_size, "lr_step_size", kind=numbers.Integral, low=1)
        check_scalar(self.max_iter, "max_iter", kind=numbers.Integral, low=1)
        check_scalar(self.momentum, "momentum", low=0, high=1)
        _check_bool(self.nesterovs_momentum, "nesterovs_momentum")
        check_scalar(self.beta_1, "beta_1", low=0, high=1, high_inclusive=False)
        check_scalar(self.beta_2, "beta_2", low=0, high=1, high_inclusive=False)
        check_scalar(self.epsilon, "epsilon", low=0, low_inclusive=False)
        _check_bool(self.early_stopping, "early_stopping")
        check_scalar(
            self.validation_fraction,
            "validation_fraction",
            low=0,
            high=1,
            low_inclusive=False,
            high_inclusive=False,
        )
        check_scalar(self.n_iter_no_change, "n_iter_no_change", kind=numbers.Integral, low=1)
        check_scalar(self.tol, "tol", low=0)
        P["init"] = _init.get_initializer(self.init)
        if P["init"] is _init.lsuv:
            raise ValueError(
                "init='lsuv' is not supported by DeepAutoencoder (its layers have different "
                "activations); choose another initialiser of dbn.init."
            )
        check_scalar(self.cg_batch_size, "cg_batch_size", kind=numbers.Integral, low=1)
        check_scalar(
            self.cg_max_line_searches, "cg_max_line_searches", kind=numbers.Integral, low=1
        )
        P["dtype"] = _check_dtype(self.dtype)
        if not isinstance(self.verbose, bool | numbers.Integral):
            raise TypeError(f"verbose must be a bool or an int, got {self.verbose!r}.")
        P["pretrained"] = self._validated_pretrained(P["sizes"], P["dtype"])
        return P

    def _validated_pretrained(self, sizes, dtype):
        """Copies of ``pretrained_layers`` as ``(W, b_hidden, b_visible, W_decoder)`` of ``dtype``."""
        layers = self.pretrained_layers
        if layers is None:
            return []
        if isinstance(layers, np.ndarray) or not isinstance(layers, list | tuple):
            raise TypeError(
                "pretrained_layers must be a list of (W, b_hidden, b_visible) tuples, got "
                f"{type(layers).__name__}."
            )
        if len(layers) > len(sizes):
            raise ValueError(
                f"pretrained_layers has {len(layers)} layers but layer_sizes={self.layer_sizes!r} "
                f"has only {len(sizes)}."
            )
        out = []
        n_in = None
        for i, entry in enumerate(layers):
            if isinstance(entry, np.ndarray) or not isinstance(entry, list | tuple):
                raise TypeError(
                    f"pretrained_layers[{i}] must be a (W, b_hidden, b_visible[, W_decoder]) "
                    f"tuple, got {type(entry).__name__}."
                )
            if len(entry) not in (3, 4):
                raise ValueError(
                    f"pretrained_layers[{i}] must have 3 or 4 entries (W, b_hidden, b_visible"
                    f"[, W_decoder]), got {len(entry)}."
                )
            name = f"pretrained_layers[{i}]"
            W = check_array(entry[0], f"{name}[0] (W)", dtype=(dtype.type,), copy=True)
            b_hidden = check_array(
                entry[1], f"{name}[1] (b_hidden)", dtype=(dtype.type,), ensure_2d=False, copy=True
            )
            b_visible = check_array(
                entry[2], f"{name}[2] (b_visible)", dtype=(dtype.type,), ensure_2d=False, copy=True
            )
            if W.shape[1] != sizes[i]:
                raise ValueError(
                    f"{name} has W of shape {W.shape}: expected {sizes[i]} columns to match "
                    f"layer_sizes[{i}]={sizes[i]}."
                )
            if n_in is not None and W.shape[0] != n_in:
                raise ValueError(
                    f"{name} has W of shape {W.shape}: expected {n_in} rows to match "
                    f"layer_sizes[{i - 1}]={n_in}."
                )
            if b_hidden.shape != (W.shape[1],):
                raise ValueError(
                    f"{name} has b_hidden of shape {b_hidden.shape}: expected ({W.shape[1]},)."
                )
            if b_visible.shape != (W.shape[0],):
                raise ValueError(
                    f"{name} has b_visible of shape {b_visible.shape}: expected ({W.shape[0]},)."
                )
            if len(entry) == 4:
                W_dec = check_array(
                    entry[3], f"{name}[3] (W_decoder)", dtype=(dtype.type,), copy=True
                )
                if W_dec.shape != W.shape[::-1]:
                    raise ValueError(
                        f"{name} has W_decoder of shape {W_dec.shape}: expected {W.shape[::-1]}, "
                        "the shape of W.T."
                    )
            else:
                W_dec = np.ascontiguousarray(W.T)
            out.append((W, b_hidden, b_visible, W_dec))
            n_in = W.shape[1]
        return out

    def _check_X(self, X, dtype, name="X", n_features=None):
        X = check_array(X, name, dtype=(dtype.type,), n_features=n_features)
        if self.output_activation == "sigmoid":
            lo, hi = float(X.min()), float(X.max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"{name} must lie in [0, 1] for output_activation='sigmoid', got values in "
                    f"[{lo:g}, {hi:g}]. Scale the data (e.g. pixels / 255), or use "
                    "output_activation='identity' with loss='squared_error' for real-valued data."
                )
        return X

    # ----------------------------------------------------------------------------- initialisation

    def _build_weights(self, n_features, P, rng):
        """Weights of the unrolled net: pretrained layers copied, the others drawn by ``init``."""
        sizes = P["sizes"]
        k = len(sizes)
        pretrained = P["pretrained"]
        if pretrained and pretrained[0][0].shape[0] != n_features:
            raise ValueError(
                f"pretrained_layers[0] has W of shape {pretrained[0][0].shape}: expected "
                f"{n_features} rows to match the {n_features} features of X."
            )
        encoder = (n_features, *sizes)
        full = encoder + encoder[-2::-1]
        coefs, intercepts = [None] * (2 * k), [None] * (2 * k)
        for i, (W, b_hidden, b_visible, W_dec) in enumerate(pretrained):
            coefs[i], intercepts[i] = W, b_hidden
            coefs[2 * k - 1 - i], intercepts[2 * k - 1 - i] = W_dec, b_visible
        names = {code: name for name, code in ACTIVATIONS.items()}
        function = P["init"]
        for i in range(2 * k):
            if coefs[i] is not None:
                continue
            kwargs = {}
            if _init.accepts_gain(function):
                kwargs["gain"] = _init.gain(names[P["kinds"][i]])
            W = np.asarray(
                function(full[i], full[i + 1], random_state=rng, dtype=P["dtype"], **kwargs)
            )
            if W.shape != (full[i], full[i + 1]) or not np.isfinite(W).all():
                raise ValueError(
                    f"init returned an array of shape {W.shape} for layer {i}: expected finite "
                    f"values of shape ({full[i]}, {full[i + 1]})."
                )
            coefs[i] = W
            intercepts[i] = np.zeros(full[i + 1], dtype=P["dtype"])
        return coefs, intercepts

    def _initialize(self, n_features, P, rng):
        """Set the weights and reset the fitted state."""
        coefs, intercepts = self._build_weights(n_features, P, rng)
        _, self.coefs_, self.intercepts_ = _pack(coefs, intercepts, P["dtype"])
        self.n_features_in_ = int(n_features)
        self.n_layers_ = len(coefs) + 1
        self.n_iter_ = 0
        self.t_ = 0
        self.history_ = {key: [] for key in _HISTORY_KEYS}
        self.loss_curve_ = self.history_["train_loss"]
        self._optimizer_state = {}
        self._no_improvement_count = 0
        self.best_loss_ = np.inf
        for name in ("best_validation_score_", "validation_scores_", "_best_params"):
            if hasattr(self, name):
                delattr(self, name)

    def initialize(self, X):
        """Build the weights for ``X`` as :meth:`fit` would, without training.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        self
        """
        P = self._validate_params()
        X = self._check_X(X, P["dtype"])
        self._rng = check_random_state(self.random_state)
        self._initialize(X.shape[1], P, self._rng)
        return self

    # ----------------------------------------------------------------------------------- training

    def fit(self, X, y=None, *, X_val=None, callbacks=None, checkpoint_dir=None):
        """Fine-tune (or train from scratch) the autoencoder on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; in [0, 1] for a logistic output. Never modified.
        y : None
            Ignored (the targets are ``X``); accepted for the scikit-learn API.
        X_val : array-like of shape (n_val, n_features), optional
            Validation set: its loss and reconstruction error go to ``history_`` and, with
            ``early_stopping=True``, training stops on it (overriding ``validation_fraction``).
        callbacks : list of callable, optional
            Each is called as ``callback(estimator, epoch, logs)`` after every epoch (``logs``: the
            epoch's entries of ``history_``); training stops when one returns True.
        checkpoint_dir : str or Path, optional
            Write ``autoencoder-checkpoint.npz`` there after every epoch, atomically; calling
            ``fit`` again with the same folder resumes from it and gives the weights of an
            uninterrupted run (bit for bit in a single thread). As for
            :meth:`dbn.mlp.MLPClassifier.fit`: a checkpoint written with other hyperparameters,
            other data or other ``pretrained_layers`` is refused with a ValueError.

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            When the loss or the weights become non-finite; the weights of the last completed epoch
            are kept.
        """
        P = self._validate_params()
        X = self._check_X(X, P["dtype"])
        callbacks = _BaseMLP._check_callbacks(self, callbacks)
        if X_val is not None:
            X_val = self._check_X(X_val, P["dtype"], "X_val", n_features=X.shape[1])
        checkpoint = None
        if checkpoint_dir is not None:
            checkpoint = self._open_checkpoint(checkpoint_dir, {"X": X, "X_val": X_val})
        resuming = checkpoint is not None and checkpoint.resuming
        rng = check_random_state(self.random_state)
        self._rng = rng
        val_index = None
        if resuming:
            val_index = self._resume(checkpoint, P, len(X))
            rng = self._rng
        if X_val is not None:
            X_train = X
        elif self.early_stopping:
            if val_index is None:
                val_index = self._validation_indices(len(X), rng)
            mask = np.ones(len(X), dtype=bool)
            mask[val_index] = False
            X_train, X_val = X[mask], X[val_index]
        else:
            X_train = X
        n_epochs = self.max_iter
        if resuming:
            n_epochs = 0 if checkpoint.finished else max(self.max_iter - self.n_iter_, 0)
        else:
            self._initialize(X.shape[1], P, rng)
        if checkpoint is not None:
            checkpoint.val_index = val_index
        return self._train(
            X_train, X_val, P, rng, n_epochs, callbacks, self.early_stopping, checkpoint
        )

    def partial_fit(self, X, y=None):
        """Train for one epoch over ``X``, continuing from the current weights.

        The first call initialises the weights (from ``pretrained_layers`` where given); the
        optimiser state (momentum, Adam moments) carries over between calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self
        """
        P = self._validate_params()
        first = not hasattr(self, "coefs_")
        X = self._check_X(X, P["dtype"], n_features=None if first else self.n_features_in_)
        if first:
            self._rng = check_random_state(self.random_state)
            self._initialize(X.shape[1], P, self._rng)
        elif self.coefs_[0].dtype != P["dtype"]:
            raise ValueError(
                f"dtype={self.dtype!r} but the model was fitted in {self.coefs_[0].dtype}; call fit "
                "to start again in another precision."
            )
        return self._train(X, None, P, self._rng, 1, [], False)

    def _validation_indices(self, n, rng):
        """Sorted rows of a random ``validation_fraction`` of ``n`` held out for early stopping."""
        val = np.sort(rng.permutation(n)[: int(round(self.validation_fraction * n))])
        if len(val) == 0 or len(val) == n:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves {len(val)} of {n} samples "
                "for validation; early stopping needs both sets non-empty. Change "
                "validation_fraction or pass X_val."
            )
        return val.astype(np.int64)

    def _train(self, X, X_val, P, rng, n_epochs, callbacks, early_stopping, checkpoint=None):
        dtype = P["dtype"]
        kinds = P["kinds"]
        flat, self.coefs_, self.intercepts_ = _pack(self.coefs_, self.intercepts_, dtype)
        sizes = (self.coefs_[0].shape[0], *(W.shape[1] for W in self.coefs_))
        n = X.shape[0]
        solver = P["solver"]
        state = self._optimizer_state
        if any(np.shape(v) != flat.shape for v in state.values() if isinstance(v, np.ndarray)):
            state.clear()
        if solver == "sgd" and "velocity" not in state:
            state["velocity"] = np.zeros_like(flat)
        if solver == "adam" and "m" not in state:
            state.update(m=np.zeros_like(flat), v=np.zeros_like(flat), t=0)
        if solver == "cg":
            capacity = min(int(self.cg_batch_size), n)
        else:
            capacity = _BaseMLP._batch_size(self, n)
        prop = Propagation(sizes, capacity, dtype)
        X_batch = np.empty((capacity, X.shape[1]), dtype=dtype)
        # The state after the last completed epoch (weights, optimiser, random stream): restored on
        # divergence or interruption.
        snapshot = flat.copy()
        state_snapshot = self._epoch_snapshot(rng)
        completed = self.n_iter_
        start_time = time.perf_counter()
        time_offset = self.history_["time"][-1] if self.history_["time"] else 0.0
        if early_stopping and not hasattr(self, "best_validation_score_"):
            self.best_validation_score_ = -np.inf
            self.validation_scores_ = []
            self._best_params = flat.copy()
        epoch = completed + 1
        try:
            for i_epoch in range(n_epochs):
                epoch = completed + 1
                learning_rate = _BaseMLP._learning_rate(self, completed)
                # Overflow is reported below as a DivergenceError, not as numpy warnings.
                with np.errstate(over="ignore", invalid="ignore"):
                    if solver == "cg":
                        loss = self._cg_epoch(X, flat, prop, X_batch, rng, kinds)
                        learning_rate = np.nan
                    else:
                        loss = self._sgd_epoch(
                            X, flat, prop, X_batch, rng, kinds, learning_rate, solver
                        )
                if not np.isfinite(loss) or not np.isfinite(flat).all():
                    flat[...] = snapshot
                    self._roll_back(state_snapshot, rng)
                    hint = (
                        f"Try a smaller learning_rate_init (currently {self.learning_rate_init!r})"
                        if solver != "cg"
                        else "Try a larger alpha or another solver"
                    )
                    raise DivergenceError(
                        f"Training diverged at epoch {epoch}: the loss became {loss!r} or the "
                        f"weights non-finite. {hint}. The weights after epoch {completed} were "
                        "kept."
                    )
                val_loss = val_mse = np.nan
                score = None
                if X_val is not None:
                    total_loss, total_sq = _reconstruction_sums(
                        X_val, self.coefs_, self.intercepts_, kinds, self.loss
                    )
                    val_loss = total_loss / len(X_val)
                    val_mse = total_sq / len(X_val)
                    score = -val_mse
                history = self.history_
                history["train_loss"].append(float(loss))
                history["val_loss"].append(float(val_loss))
                history["val_mse"].append(float(val_mse))
                history["learning_rate"].append(float(learning_rate))
                history["time"].append(time_offset + time.perf_counter() - start_time)
                completed += 1
                self.n_iter_ = completed
                self.t_ += n
                snapshot[...] = flat
                self._update_snapshot(state_snapshot, rng)
                if self.verbose:
                    extra = (
                        ""
                        if X_val is None
                        else f", val_loss = {val_loss:.4f}, val_mse = {val_mse:.4f}"
                    )
                    print(f"Epoch {epoch}, loss = {loss:.4f}{extra}")
                stop = _BaseMLP._update_no_improvement(self, loss, score, flat, early_stopping)
                last = stop or i_epoch == n_epochs - 1
                if checkpoint is not None:
                    self._write_checkpoint(checkpoint, finished=last)
                logs = {key: values[-1] for key, values in history.items()}
                for callback in callbacks:
                    if callback(self, epoch, logs) is True:
                        stop = True
                if stop:
                    if checkpoint is not None and not last:
                        self._write_checkpoint(checkpoint, finished=True)
                    break
        except KeyboardInterrupt:
            flat[...] = snapshot
            self._roll_back(state_snapshot, rng)
            warnings.warn(
                f"Training interrupted during epoch {epoch}; keeping the weights after epoch "
                f"{completed}.",
                RuntimeWarning,
                stacklevel=3,
            )
        if early_stopping and np.isfinite(self.best_validation_score_):
            flat[...] = self._best_params
        return self

    def _sgd_epoch(self, X, flat, prop, X_batch, rng, kinds, learning_rate, solver):
        """One pass of minibatch SGD or Adam; returns the mean training loss."""
        n = X.shape[0]
        bs = prop.capacity
        order = rng.permutation(n)
        segments = _segments(prop.layer_sizes)
        state = self._optimizer_state
        coefs, intercepts = self.coefs_, self.intercepts_
        momentum, nesterov = float(self.momentum), bool(self.nesterovs_momentum)
        beta_1, beta_2, epsilon = float(self.beta_1), float(self.beta_2), float(self.epsilon)
        total = 0.0
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            m = len(idx)
            xb = X_batch[:m]
            np.take(X, idx, axis=0, out=xb)
            forward(xb, coefs, intercepts, kinds, prop)
            backward(prop, xb, coefs, kinds, self.loss)
            # L2 decay is fused into the optimiser kernel, as in dbn.mlp; its loss term uses the
            # weights before the step, like the data term.
            l2 = self.alpha / m
            sum_sq = sum(float(np.vdot(W, W)) for W in coefs) if l2 > 0 else 0.0
            if solver == "sgd":
                _k.sgd_step_(
                    flat,
                    prop.grad,
                    state["velocity"],
                    segments,
                    learning_rate,
                    momentum,
                    nesterov,
                    l2,
                )
            else:
                state["t"] += 1
                t = state["t"]
                step = float(learning_rate * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t))
                _k.adam_step_(
                    flat,
                    prop.grad,
                    state["m"],
                    state["v"],
                    segments,
                    step,
                    beta_1,
                    beta_2,
                    epsilon,
                    l2,
                )
            loss = prop.loss + 0.5 * l2 * sum_sq
            if not np.isfinite(loss):
                return loss
            total += loss * m
        return total / n

    def _cg_epoch(self, X, flat, prop, X_batch, rng, kinds):
        """One pass of conjugate gradient over large minibatches (Hinton & Salakhutdinov, 2006)."""
        from scipy.optimize import minimize

        n = X.shape[0]
        bs = prop.capacity
        order = rng.permutation(n)
        coefs, intercepts = self.coefs_, self.intercepts_
        options = {"maxiter": int(self.cg_max_line_searches)}
        loss_name, alpha = self.loss, float(self.alpha)
        total = 0.0
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            m = len(idx)
            xb = X_batch[:m]
            np.take(X, idx, axis=0, out=xb)

            def objective(x, xb=xb):
                flat[...] = x
                forward(xb, coefs, intercepts, kinds, prop)
                backward(prop, xb, coefs, kinds, loss_name, alpha=alpha)
                return prop.loss, prop.grad.astype(np.float64)

            result = minimize(
                objective, flat.astype(np.float64), jac=True, method="CG", options=options
            )
            # The line search may have left a trial point in ``flat``: keep the accepted one.
            flat[...] = result.x
            loss = float(result.fun)
            if not np.isfinite(loss):
                return loss
            total += loss * m
        return total / n

    # ---------------------------------------------------------------------------------- inference

    def _weights(self):
        """The net's weights: fitted ones, or the pretrained ones when they cover every layer."""
        if hasattr(self, "coefs_"):
            return self.coefs_, self.intercepts_, self.n_features_in_
        P_sizes = self._encoder_sizes()
        dtype = _check_dtype(self.dtype)
        pretrained = self._validated_pretrained(P_sizes, dtype)
        if len(pretrained) < len(P_sizes):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet and pretrained_layers "
                f"does not cover all {len(P_sizes)} layers. Call 'fit' first."
            )
        coefs = [W for W, _, _, _ in pretrained] + [Wd for _, _, _, Wd in reversed(pretrained)]
        intercepts = [b for _, b, _, _ in pretrained] + [c for _, _, c, _ in reversed(pretrained)]
        return coefs, intercepts, coefs[0].shape[0]

    def encode(self, X):
        """Codes of ``X``: the activations of the code layer.

        Works before :meth:`fit` on a net whose ``pretrained_layers`` cover every layer (e.g. from
        :meth:`from_dbn`): it is then the DBN's upward pass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        codes : ndarray of shape (n_samples, layer_sizes[-1]), in the model's dtype
        """
        coefs, intercepts, n_features = self._weights()
        X = self._check_X(X, coefs[0].dtype, n_features=n_features)
        k = len(coefs) // 2
        return _forward_chunked(X, coefs[:k], intercepts[:k], "sigmoid", self.code_activation)

    def transform(self, X):
        """Same as :meth:`encode` (scikit-learn transformer API)."""
        return self.encode(X)

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X)`` then ``encode(X)``."""
        return self.fit(X, **fit_params).encode(X)

    def decode(self, codes):
        """Reconstructions from codes: the decoder half of the net.

        Parameters
        ----------
        codes : array-like of shape (n_samples, layer_sizes[-1])

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features), in the model's dtype
        """
        coefs, intercepts, _ = self._weights()
        k = len(coefs) // 2
        codes = check_array(
            codes, "codes", dtype=(coefs[0].dtype.type,), n_features=coefs[k].shape[0]
        )
        return _forward_chunked(codes, coefs[k:], intercepts[k:], "sigmoid", self.output_activation)

    def reconstruct(self, X):
        """``decode(encode(X))``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_hat : ndarray of shape (n_samples, n_features)
        """
        return self.decode(self.encode(X))

    def inverse_transform(self, codes):
        """Same as :meth:`decode` (scikit-learn transformer API)."""
        return self.decode(codes)

    def reconstruction_error(self, X):
        """Squared reconstruction error per example, summed over features, averaged over examples.

        The error the paper reports (3.00 on the MNIST test set for 784-1000-500-250-30).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        error : float
        """
        coefs, intercepts, n_features = self._weights()
        X = self._check_X(X, coefs[0].dtype, n_features=n_features)
        kinds = layer_kinds(len(coefs) // 2, self.code_activation, self.output_activation)
        _, total_sq = _reconstruction_sums(X, coefs, intercepts, kinds, "squared_error")
        return total_sq / X.shape[0]

    def score(self, X, y=None):
        """Negative reconstruction error (see :meth:`reconstruction_error`): higher is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return -self.reconstruction_error(X)

    # -------------------------------------------------------------------------------- persistence
    # save, load and the checkpoints of fit come from dbn.mlp._TrainingState; these are the hooks.

    def _sizes(self):
        return self._encoder_sizes()

    def _full_sizes(self, P, n_features, extra):
        encoder = (n_features, *P["sizes"])
        return encoder + encoder[-2::-1]

    # ------------------------------------------------------------------------------------- sklearn

    def __repr__(self):
        layers = self.pretrained_layers
        if layers is None:
            return super().__repr__()
        # Weight matrices would fill the screen: show their shapes instead.
        self.pretrained_layers = _PretrainedRepr(layers)
        try:
            return super().__repr__()
        finally:
            self.pretrained_layers = layers

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so importing it here keeps it out of dbn's dependencies.
        from sklearn.utils import Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(),
        )
