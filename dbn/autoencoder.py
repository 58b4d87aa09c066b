"""Deep autoencoders: a pretrained RBM stack unrolled into an encoder and a decoder, then fine-tuned.

Hinton & Salakhutdinov (2006) pretrain a stack of RBMs greedily (:class:`dbn.DBN`), "unroll" it into
an encoder that uses the RBMs' recognition weights ``W.T`` and hidden biases, and a decoder that uses
their generative weights ``W`` and visible biases in reverse order, then fine-tune the whole net by
back-propagating the reconstruction error. :class:`DeepAutoencoder` is that net; built with
:meth:`DeepAutoencoder.from_dbn` (or ``DBN.to_autoencoder()``) it starts from the pretrained weights,
built directly it starts from a random initialisation (the paper's "without pretraining" baseline).

The net trains on the backprop core that the MLPs use (``dbn._backprop``: the
:class:`~dbn.mlp.Propagation` buffers, the flat parameter vector, forward and backward over layers
with one activation each) and shares their optimisers, training loop, model files and checkpoints
(``dbn._network``). What it adds is a different activation per layer (the code layer is linear) and
a logistic output trained on the cross-entropy, whose kernels live in ``dbn._kernels.autoencoder``.

References
----------
Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science, 313(5786), 504-507.

Hinton, G. E., Osindero, S. and Teh, Y.-W. (2006). A fast learning algorithm for deep belief nets.
Neural Computation, 18(7), 1527-1554.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from . import _backprop
from . import init as _init
from ._activations import ACTIVATIONS, activation_name
from ._backprop import Propagation
from ._kernels import autoencoder as _ka
from ._kernels.rbm import squared_error_sum
from ._network import BackpropEstimator
from ._training.callbacks import CallbackList
from ._validation import (
    NotFittedError,
    check_array,
    check_choice,
    check_dtype,
    check_is_fitted,
    check_layer_sizes,
    check_random_state,
    validate_input,
)

__all__ = ["DeepAutoencoder", "forward", "backward"]

_CODE_ACTIVATIONS = ("identity", "sigmoid")
_OUTPUT_ACTIVATIONS = ("sigmoid", "identity")
# The losses of the backprop core, by this module's names.
_LOSSES = {"cross_entropy": "sigmoid_cross_entropy", "squared_error": "squared_error"}
_VALIDATION_KEYS = ("val_loss", "val_mse")
_HISTORY_KEYS = ("epoch", "train_loss", *_VALIDATION_KEYS, "learning_rate", "time")


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
    return _backprop.forward(X, coefs, intercepts, kinds, out, keep_logits=True)


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
    check_choice(loss, "loss", _LOSSES)
    return _backprop.backward(propagation, X, coefs, kinds, _LOSSES[loss], alpha=alpha)


def _reconstruction_sums(X, coefs, intercepts, kinds, loss):
    """(sum of the loss, sum of squared errors) over the rows of ``X``, a chunk of rows at a time."""
    n = X.shape[0]
    sizes = (X.shape[1], *(W.shape[1] for W in coefs))
    chunk = _backprop.CHUNK
    prop = Propagation(sizes, min(n, chunk), coefs[0].dtype, gradients=False)
    total_loss = total_sq = 0.0
    for start in range(0, n, chunk):
        xb = X[start : start + chunk]
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


class DeepAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BackpropEstimator):
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
        As in :class:`dbn.mlp.MLPClassifier`: a callable ``schedule(epoch, learning_rate_init)``
        returns the learning rate; one of one parameter (deprecated) returns a factor.
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
        Per epoch: 'epoch' (completed epochs, from 1), 'train_loss' (with the L2 term),
        'val_loss' (data term only), 'val_mse' (squared reconstruction error per example, summed
        over features), 'learning_rate' (NaN for 'cg') and 'time' (the epoch's own seconds), as
        in every dbn estimator. Validation entries are NaN without a validation set.
    loss_curve_ : list of float
        ``history_['train_loss']``.
    best_loss_ : float or None
        Lowest training loss; None with early stopping (scikit-learn's convention).
    best_validation_score_ : float or None
        With early stopping: the best ``-val_mse``; None without.
    validation_scores_ : list of float or None
        With early stopping: ``-val_mse`` per epoch; None without.

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
    _VALIDATION_KEYS = _VALIDATION_KEYS
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
        P["loss"] = _LOSSES[self.loss]
        # A logistic output keeps its logits: the cross-entropy is computed from them.
        P["keep_logits"] = True
        P["dropout"] = (0.0, 0.0)
        P["cg_top_layer_epochs"] = 0
        self._check_optimizer_params(P)
        P["init"] = _init.get_initializer(self.init)
        if P["init"] is _init.lsuv:
            raise ValueError(
                "init='lsuv' is not supported by DeepAutoencoder (its layers have different "
                "activations); choose another initialiser of dbn.init."
            )
        self._check_cg_params(P)
        self._check_dtype_verbose(P)
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

    def _check_X(self, X, dtype, name="X", *, reset=False, n_features=None):
        """scikit-learn's checks (``validate_data`` for ``X``), then dbn's: finite values, and a
        :class:`dbn.DataRangeWarning` for a logistic output and values outside [0, 1]."""
        sigmoid = self.output_activation == "sigmoid"
        return validate_input(
            self,
            X,
            name,
            reset=reset,
            dtype=(dtype.type,),
            n_features=n_features,
            value_range=(0.0, 1.0) if sigmoid else None,
            units="output_activation='sigmoid'",
            range_advice=(
                "The values are used as given, but the cross-entropy of a logistic output expects "
                "probabilities. Scale X to [0, 1], for example X / 255 for 8-bit images or "
                "sklearn.preprocessing.MinMaxScaler, or use output_activation='identity' with "
                "loss='squared_error' for real-valued data."
            ),
        )

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
        function = P["init"]
        for i in range(2 * k):
            if coefs[i] is not None:
                continue
            activation = activation_name(P["kinds"][i])
            coefs[i] = self._draw_weights(
                function, full[i], full[i + 1], rng, P["dtype"], activation, i
            )
            intercepts[i] = np.zeros(full[i + 1], dtype=P["dtype"])
        return coefs, intercepts

    def _initialize(self, X, y, P, rng):
        """Set the weights for the features of ``X`` and reset the fitted state (``y`` unused)."""
        coefs, intercepts = self._build_weights(X.shape[1], P, rng)
        self._reset_training(coefs, intercepts, P["dtype"])
        self.n_features_in_ = int(X.shape[1])

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
        X = self._check_X(X, P["dtype"], reset=True)
        self._rng = check_random_state(self.random_state)
        self._initialize(X, None, P, self._rng)
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
        callbacks : callable, dbn.Callback or list of them, optional
            As for :meth:`dbn.mlp.MLPClassifier.fit`: ``callback(estimator, epoch, logs)`` after
            every epoch (``epoch`` counts completed epochs from 1, ``logs`` holds the epoch's
            entries of ``history_``); training stops after an epoch in which one returns a truthy
            value.
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
        X = self._check_X(X, P["dtype"], reset=True)
        callbacks = CallbackList(callbacks)
        if X_val is not None:
            X_val = self._check_X(X_val, P["dtype"], "X_val")
        data = {"X": X, "X_val": X_val}
        return self._fit(X, None, X_val, None, P, callbacks, checkpoint_dir, data)

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
        X = self._check_X(X, P["dtype"], reset=first)
        if first:
            self._rng = check_random_state(self.random_state)
            self._initialize(X, None, P, self._rng)
        elif self.coefs_[0].dtype != P["dtype"]:
            raise ValueError(
                f"dtype={self.dtype!r} but the model was fitted in {self.coefs_[0].dtype}; call fit "
                "to start again in another precision."
            )
        return self._partial_fit(X, None, P)

    def _evaluate(self, X_val, y_val=None):
        """(mean loss, mean squared reconstruction error, -error) on ``X_val``."""
        kinds = layer_kinds(len(self.coefs_) // 2, self.code_activation, self.output_activation)
        total_loss, total_sq = _reconstruction_sums(
            X_val, self.coefs_, self.intercepts_, kinds, self.loss
        )
        val_mse = total_sq / len(X_val)
        return total_loss / len(X_val), val_mse, -val_mse

    def _epoch_message(self, epoch, loss, validating, val_loss, val_mse):
        # The MLPs' line (scikit-learn's), with the validation loss and error when validating.
        extra = f", val_loss = {val_loss:.4f}, val_mse = {val_mse:.4f}" if validating else ""
        return f"Iteration {epoch}, loss = {loss:.8f}{extra}"

    # ---------------------------------------------------------------------------------- inference

    def _weights(self):
        """The net's weights: fitted ones, or the pretrained ones when they cover every layer."""
        if hasattr(self, "coefs_"):
            return self.coefs_, self.intercepts_, self.n_features_in_
        P_sizes = self._encoder_sizes()
        dtype = check_dtype(self.dtype)
        pretrained = self._validated_pretrained(P_sizes, dtype)
        if len(pretrained) < len(P_sizes):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet and pretrained_layers "
                f"does not cover all {len(P_sizes)} layers. Call 'fit' first."
            )
        coefs = [W for W, _, _, _ in pretrained] + [Wd for _, _, _, Wd in reversed(pretrained)]
        intercepts = [b for _, b, _, _ in pretrained] + [c for _, _, c, _ in reversed(pretrained)]
        return coefs, intercepts, coefs[0].shape[0]

    def _unfitted_features(self, n_features):
        """``n_features`` for an unfitted net with pretrained layers; None (check against
        ``n_features_in_`` and the feature names, as sklearn does) for a fitted one."""
        return None if hasattr(self, "coefs_") else n_features

    def to_torch(self):
        """This fitted net as a ``torch.nn.Module`` with the same outputs.

        See :func:`dbn.export.to_torch`; needs the ``torch`` extra.
        """
        from .export import to_torch

        return to_torch(self)

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
        X = self._check_X(X, coefs[0].dtype, n_features=self._unfitted_features(n_features))
        k = len(coefs) // 2
        kinds = layer_kinds(k, self.code_activation, self.output_activation)
        return _backprop.forward_chunked(X, coefs[:k], intercepts[:k], kinds[:k])

    def transform(self, X):
        """Same as :meth:`encode` (scikit-learn transformer API)."""
        return self.encode(X)

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
        codes = validate_input(
            self, codes, "codes", dtype=(coefs[0].dtype.type,), n_features=coefs[k].shape[0]
        )
        kinds = layer_kinds(k, self.code_activation, self.output_activation)
        return _backprop.forward_chunked(codes, coefs[k:], intercepts[k:], kinds[k:])

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
        X = self._check_X(X, coefs[0].dtype, n_features=self._unfitted_features(n_features))
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
    # save, load and the checkpoints of fit come from dbn._network_state.NetworkState; these are the hooks.

    def _sizes(self):
        return self._encoder_sizes()

    def _full_sizes(self, P, n_features, extra):
        encoder = (n_features, *P["sizes"])
        return encoder + encoder[-2::-1]

    # ------------------------------------------------------------------------------------- sklearn

    @property
    def _n_features_out(self):
        """Number of features :meth:`transform` returns (for ``get_feature_names_out``)."""
        return self._encoder_sizes()[-1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The net computes in its dtype parameter: that one dtype is preserved.
        try:
            tags.transformer_tags.preserves_dtype = [check_dtype(self.dtype).name]
        except (TypeError, ValueError):  # an invalid dtype is reported by fit
            tags.transformer_tags.preserves_dtype = []
        return tags
