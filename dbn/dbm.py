"""Deep Boltzmann Machines: greedy pretraining with doubled RBMs, then joint training.

A DBM with layers ``x_0 = v, x_1 = h1, ..., x_L = hL`` of binary units has the energy

    E(v, h) = - sum_l x_l^T W_l x_(l-1) - sum_l b_l . x_l,        l = 1..L (weights), 0..L (biases)

Unlike a DBN, every layer is undirected: the posterior of ``h1`` depends on ``h2`` as well as on
``v``, so inference is approximate. :class:`DBM` follows Salakhutdinov & Hinton (2009):

1. **Greedy pretraining** (:meth:`DBM.pretrain`) with modified RBMs that make up for the missing
   input from above or below: the bottom RBM's hidden units see the data twice
   (``p(h1 | v) = sigmoid(2 W_1 v + c)``, ``p(v | h1) = sigmoid(W_1^T h1 + b)``), the top RBM's
   visible units see their hidden units twice, and an intermediate RBM doubles both directions
   (trained as a plain RBM whose weights are then halved). Composed, each hidden layer of the DBM
   receives the two halves, from below and from above.
2. **Joint training** (:meth:`DBM.fit`): the data-dependent statistics come from mean-field
   posteriors (``n_mean_field`` fixed-point sweeps, each layer updated in turn from the current
   values of its neighbours), the model's statistics from ``n_chains`` persistent Gibbs chains
   (PCD, Tieleman 2008) advanced ``k`` full sweeps per update. Optionally the chains are
   tempered (``n_temperatures``: parallel tempering, Desjardins et al. 2010) and the update is
   that of the centred DBM (``centering``: Montavon & Müller 2012).
3. **Labels** (``supervised=True``): a group of softmax units, one per class, joins the top
   hidden layer, as in Salakhutdinov's code for the paper's MNIST classification result: clamped
   to the labels in the top pretraining RBM and in joint training's mean field, sampled in the
   persistent chains. The labels then shape the top layer's features, which :meth:`DBM.augment`
   and :meth:`DBM.to_mlp` use as before (without the labels, which a test image lacks).

References
----------
Salakhutdinov, R., & Hinton, G. E. (2009). Deep Boltzmann machines. AISTATS, JMLR W&CP 5, 448-455.
Salakhutdinov, R., & Hinton, G. E. (2012). An efficient learning procedure for deep Boltzmann
machines. Neural Computation 24(8), 1967-2006.
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the likelihood
gradient. ICML.
Desjardins, G., Courville, A., Bengio, Y., Vincent, P., & Delalleau, O. (2010). Tempered Markov
chain Monte Carlo for training of restricted Boltzmann machines. AISTATS.
Montavon, G., & Müller, K.-R. (2012). Deep Boltzmann machines and the centering trick. Neural
Networks: Tricks of the Trade, LNCS 7700.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.metaestimators import available_if

from . import io
from ._cd.samplers import ParallelTempering, hidden_units
from ._cd.transforms import OFFSET_ROWS, Centring
from ._kernels.counter_random import draw_key
from ._kernels.dbm import tempered_bernoulli_units
from ._kernels.rbm import centre_weight_gradient, momentum_step
from ._rbm_trainer import report_epoch
from ._targets import labels_from_array, labels_to_array, require_y
from ._training.callbacks import CallbackList
from ._training.checkpoint import CheckpointFile, fingerprints
from ._training.loop import DeprecatedEpochCount, EpochTrainer, run_epochs
from ._training.schedules import NAMED_SCHEDULES, check_schedule, learning_rate_at
from ._validation import (
    DivergenceError,
    check_is_fitted,
    check_layer_sizes,
    check_random_state,
    check_scalar,
    validate_input,
)
from .init import check_init_std, resolve_init_std

__all__ = ["DBM"]

CHECKPOINT_NAME = "dbm-checkpoint.npz"
#: The NotFittedError of a DBM used before training, naming both of its training verbs.
NOT_TRAINED = (
    "This %(name)s instance is not fitted yet: call fit(X) first (greedy pretraining, then joint "
    "training), or pretrain(X) for the greedily pretrained model alone."
)
#: Weight of each minibatch's mean-field means in the running hidden offsets of centring.
_OFFSET_RATE = Centring().offset_rate
_HISTORY_KEYS = ("epoch", "time", "learning_rate", "reconstruction_error")


#: :meth:`DBM.to_mlp`'s fine-tuning rate: the DBN's defaults (``dbn.stack.TO_MLP_DEFAULTS``)
#: with the rate they had when the DBM's nets were measured (``benchmarks/dbm.py``,
#: ``benchmarks/dbm_classifier.py``). The DBN's rose to 0.1 in the tenth round of the panel
#: study, which fine-tuned DBN nets only.
DBM_FINETUNE_RATE = 0.05


def dbm_to_mlp_defaults():
    """Fine-tuning defaults of :meth:`DBM.to_mlp` for classification: the DBN's, at
    :data:`DBM_FINETUNE_RATE`, on the raw inputs (the DBM's nets were measured so; a DBN's
    ``to_mlp()`` centres binary inputs since the twenty-third panel round)."""
    from .stack import TO_MLP_DEFAULTS

    return TO_MLP_DEFAULTS | {"learning_rate_init": DBM_FINETUNE_RATE, "center_inputs": False}


def layer_factors(layer, n_layers):
    """``(up, down)``: how many times a pretraining RBM counts its bottom-up and top-down input.

    The bottom RBM doubles the visible-to-hidden input, the top one the hidden-to-visible input,
    and an intermediate one both (Salakhutdinov & Hinton 2009, section 3.1); a DBM of one hidden
    layer is a plain RBM.
    """
    if n_layers == 1:
        return 1.0, 1.0
    return (1.0 if layer == n_layers - 1 else 2.0), (1.0 if layer == 0 else 2.0)


class DBM(DeprecatedEpochCount, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Deep Boltzmann Machine with binary units (Salakhutdinov & Hinton 2009).

    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default=(500, 1000)
        Hidden units of each layer, bottom to top (the paper's MNIST model is 500-1000).
    learning_rate : float, default=0.005
        Learning rate of joint training (the paper's 0.005).
    learning_rate_schedule : {"constant", "exponential", "step", "linear"} or callable, \
default="linear"
        Schedule of the joint learning rate (see :mod:`dbn._training.schedules`); ``"linear"``
        decays it to zero over ``n_iter`` epochs, as the stochastic-approximation procedure needs
        (Salakhutdinov & Hinton 2009, section 3.2).
    pretrain_learning_rate : float, default=0.02
        Learning rate of the greedy CD-1 pretraining. The paper's 0.05 (with momentum 0.9) left
        34-99 % of the top RBM's hidden units constant across the data (its top-down input is
        doubled; a plain RBM at 0.05 kept them all), and the DBM then fine-tuned to 27.9 %
        validation error on rectangles against 4.9 % at 0.02; chosen with ``centering`` on the
        validation splits of four panel sets by the worst case
        (``benchmarks/dbm_pretraining.py``).
    batch_size : int, default=100
    n_iter : int, default=10
        Epochs of joint training.
    pretrain_n_iter : int or sequence of int, default=10
        Epochs of CD-1 per pretraining RBM, or one count per layer, bottom to top (the paper's
        code trains its MNIST RBMs for 100 and 200 epochs); 0 starts joint training from small
        random weights.
    n_mean_field : int, default=10
        Mean-field sweeps per minibatch (the paper's 10) and in :meth:`transform`.
    n_chains : int, default=100
        Persistent Gibbs chains of the negative phase (the paper's 100 "fantasy particles").
    k : int, default=5
        Full Gibbs sweeps of the chains per update (the paper's 5).
    n_temperatures : int, optional
        Parallel tempering of the persistent chains (Desjardins et al. 2010; for DBMs, Salakhutdinov
        2010 tempers them by tempered transitions instead) with this many inverse temperatures
        ``1 = beta_0 > ... > beta_(M-1) = 0``, evenly spaced as for the RBMs
        (:class:`dbn._cd.samplers.ParallelTempering`). Each temperature runs ``n_chains`` chains
        of the whole joint state ``(v, h1, h2, ...)`` in the model whose energy is scaled,
        ``p_beta(x) ~ exp(-beta E(x))`` (weights and biases times ``beta``; at ``beta = 0`` every
        unit is a fair coin). Scaling needs no base model and makes the swap test depend on the
        energies alone. After every Gibbs sweep, neighbouring temperatures ``(m, m + 1)`` of one
        parity (even and odd in turn) propose to swap their states, accepted with probability
        ``min(1, exp((beta_m - beta_(m+1)) (E(x_m) - E(x_(m+1)))))``; the negative statistics
        come from the ``beta = 1`` chains (``persistent_chains_``). Costs about
        ``n_temperatures`` times PCD's negative phase. ``None``: plain persistent chains.
    centering : bool, default=True
        Joint training of the centred DBM (Montavon & Müller 2012; Melchior, Fischer & Wiskott
        2016), ``E(x) = -sum_l (x_l - o_l)^T W_l (x_(l-1) - o_(l-1)) - sum_l c_l . (x_l - o_l)``:
        the update is the gradient in ``(W, c)``, with offsets ``o_0`` the data's mean and ``o_l``
        (hidden layers) a running mean of the mean-field means (rate 0.01, as in the RBMs'
        :class:`~dbn._cd.transforms.Centring`), started from those of the first 1,000 rows. The step
        is folded back into the usual biases (``b_l = c_l - W_l o_(l-1) - W_(l+1)^T o_(l+1)``), so
        the model and its attributes keep the usual form and moving the offsets changes nothing
        but the direction of later updates. Pretraining is not centred. Plain joint training
        (``False``, the paper's) left 47-83 % of the first hidden layer's units constant across
        MNIST's validation images after 3 epochs, and its fine-tuned nets erred more (MNIST 10.2
        against 7.2 % at 1,000 labels; ``benchmarks/dbm_pretraining.py``).
    supervised : bool, default=False
        Join a group of softmax label units, one per class, to the top hidden layer, as
        Salakhutdinov's code for the paper's MNIST classification result does: ``fit(X, y)``
        and ``pretrain(X, y)`` then need ``y``. The labels are clamped in the top pretraining
        RBM (whose hidden units get ``U^T y`` besides their doubled input; the labels are not
        doubled) and in joint training's mean field, and sampled in the persistent chains, so
        the top layer learns features of ``p(v, y)``. :meth:`transform`, :meth:`augment` and
        :meth:`to_mlp` leave the labels out (a test image has none), as the reference code's
        fine-tuning does; :meth:`predict_proba` infers them by mean field. Not with
        ``n_temperatures``. Without it, ``y`` is ignored (as in a scikit-learn pipeline).
    dynamic_binarization : bool, default=False
        Take ``X`` as the probabilities of binary pixels and draw a fresh binary sample of each
        minibatch every time it is used: in pretraining (the RBMs above the first get the draw's
        bottom-up means through the RBMs below) and in joint training. Salakhutdinov's code
        binarises MNIST's grey levels anew in every epoch this way, so its model sees as many
        binarisations of each image as it has epochs. ``False`` trains on ``X`` as given
        (grey levels are then the data's means, and a binarised set stays one draw).
    momentum : float, default=0.9
        Momentum of every update (pretraining and joint).
    weight_decay : float, default=0.0002
        L2 cost on the weights (not the biases).
    init_std : float or "xavier", default=0.01
        Standard deviation of the pretraining RBMs' initial weights; ``"xavier"``: Glorot &
        Bengio's ``sqrt(2 / (n_visible + n_hidden))`` for each (:func:`dbn.init.xavier_std`), as
        :class:`dbn.DBN`'s default. The DBM's own studies ran at 0.01.
    verbose : int or bool, default=0
        From 1 on, one line per epoch on stdout in scikit-learn's form (``[DBM layer 1/2
        pretraining] Iteration 3, reconstruction error = ...``, then ``[DBM] Iteration 3, ...``),
        and a progress bar on stderr when it is a terminal.
    random_state : int, numpy Generator, RandomState or None
        Seeds everything: the initial weights, the minibatch order and the samplers. A
        Generator is used as is (each fit advances it); a RandomState seeds a Generator.

    Attributes
    ----------
    components_ : list of ndarray
        ``components_[l]`` of shape ``(n_(l+1), n_l)``: the weights between layer ``l`` (0 is the
        visible layer) and layer ``l + 1``.
    intercepts_ : list of ndarray
        ``intercepts_[l]`` of shape ``(n_l,)``: the biases of layer ``l``, visible first.
    persistent_chains_ : list of ndarray
        The states of the ``n_chains`` persistent chains, one array per layer.
    tempered_chains_ : list of ndarray
        With ``n_temperatures``: one ``(n_temperatures - 1, n_chains, n_l)`` array per layer, the
        chains at ``beta_1, ..., beta_(M-1)``.
    swap_counts_ : ndarray of shape (n_temperatures - 1, 2)
        With ``n_temperatures``: accepted and proposed swaps between temperatures ``m`` and
        ``m + 1`` over joint training.
    offsets_ : list of ndarray
        With ``centering``: the offsets ``o_l`` of every layer, visible first (and the labels'
        class frequencies last when ``supervised``).
    classes_ : ndarray of shape (n_classes,)
        With ``supervised``: the class labels, sorted.
    label_components_ : ndarray of shape (n_classes, n_L)
        With ``supervised``: the weights ``U`` between the labels and the top hidden layer
        (energy term ``-y^T U h_L - d . y``); the persistent chains then hold a label state last.
    label_intercept_ : ndarray of shape (n_classes,)
        With ``supervised``: the labels' biases ``d``.
    history_ : dict of str to list
        Per joint-training epoch: ``epoch``, ``time``, ``learning_rate`` and
        ``reconstruction_error`` (mean over rows of ``|v - E[v | mu_1]|^2``, mean-field).
    pretrain_history_ : list of dict
        Each pretraining RBM's history (``reconstruction_error`` of CD-1).
    n_iter_ : int
        Completed joint-training epochs (scikit-learn's name; ``n_epochs_`` is a deprecated
        alias).
    n_features_in_ : int

    Notes
    -----
    Composition of the pretrained RBMs: layer ``l``'s biases are the mean of the hidden biases
    of RBM ``l`` and the visible biases of RBM ``l + 1`` (their conditionals' geometric mean);
    the visible biases are the bottom RBM's and the top layer's the top RBM's hidden biases.
    The mean field starts from the bottom-up pass with doubled weights (every layer but the top
    receives ``2 W_l x_(l-1)``), the recognition pass of the paper.

    Parallel tempering and centring change only joint training; pretraining is the same.

    Examples
    --------
    >>> import numpy as np
    >>> from dbn import DBM
    >>> X = (np.random.default_rng(0).random((200, 12)) < 0.3).astype(np.float64)
    >>> dbm = DBM((8, 4), n_iter=2, pretrain_n_iter=2, batch_size=20, n_chains=10,
    ...           random_state=0).fit(X)
    >>> [m.shape for m in dbm.transform(X, layers="all")]
    [(200, 8), (200, 4)]

    References
    ----------
    Salakhutdinov, R., & Hinton, G. E. (2009). Deep Boltzmann machines. AISTATS.
    Salakhutdinov, R., & Hinton, G. E. (2012). An efficient learning procedure for deep Boltzmann
    machines. Neural Computation 24(8).
    Desjardins, G., Courville, A., Bengio, Y., Vincent, P., & Delalleau, O. (2010). Tempered Markov
    chain Monte Carlo for training of restricted Boltzmann machines. AISTATS.
    Salakhutdinov, R. (2010). Learning deep Boltzmann machines using adaptive MCMC. ICML.
    Montavon, G., & Müller, K.-R. (2012). Deep Boltzmann machines and the centering trick. Neural
    Networks: Tricks of the Trade, LNCS 7700.
    Melchior, J., Fischer, A., & Wiskott, L. (2016). How to center deep Boltzmann machines. JMLR
    17(99).
    """

    def __init__(
        self,
        hidden_layer_sizes=(500, 1000),
        *,
        learning_rate=0.005,
        learning_rate_schedule="linear",
        pretrain_learning_rate=0.02,
        batch_size=100,
        n_iter=10,
        pretrain_n_iter=10,
        n_mean_field=10,
        n_chains=100,
        k=5,
        n_temperatures=None,
        centering=True,
        supervised=False,
        dynamic_binarization=False,
        momentum=0.9,
        weight_decay=0.0002,
        init_std=0.01,
        verbose=0,
        random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.learning_rate = learning_rate
        self.learning_rate_schedule = learning_rate_schedule
        self.pretrain_learning_rate = pretrain_learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.pretrain_n_iter = pretrain_n_iter
        self.n_mean_field = n_mean_field
        self.n_chains = n_chains
        self.k = k
        self.n_temperatures = n_temperatures
        self.centering = centering
        self.supervised = supervised
        self.dynamic_binarization = dynamic_binarization
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.init_std = init_std
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------ configuration
    def _validate_params(self):
        sizes = check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")
        for name in ("learning_rate", "pretrain_learning_rate", "weight_decay"):
            check_scalar(getattr(self, name), name, low=0.0)
        check_init_std(self.init_std)
        check_scalar(self.momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        for name, low in (
            ("batch_size", 1),
            ("n_iter", 0),
            ("n_mean_field", 1),
            ("n_chains", 1),
            ("k", 1),
        ):
            check_scalar(getattr(self, name), name, kind=numbers.Integral, low=low)
        self._pretrain_epochs(len(sizes))  # checks pretrain_n_iter
        check_schedule(self.learning_rate_schedule, NAMED_SCHEDULES, owner="DBM")
        if self.n_temperatures is not None:
            check_scalar(self.n_temperatures, "n_temperatures", kind=numbers.Integral, low=2)
        for name in ("centering", "supervised", "dynamic_binarization"):
            value = getattr(self, name)
            if not isinstance(value, bool | np.bool_):
                raise TypeError(
                    f"{name} must be a bool (True or False), got {value!r} "
                    f"({type(value).__name__})."
                )
        if self.supervised and self.n_temperatures is not None:
            raise ValueError(
                "supervised=True does not support n_temperatures (parallel tempering of the "
                "label units is not implemented); use n_temperatures=None."
            )
        if not isinstance(self.verbose, numbers.Integral):
            raise TypeError(f"verbose must be an int (0 or 1) or a bool, got {self.verbose!r}.")
        if self.random_state is not None and (
            isinstance(self.random_state, bool)
            or not isinstance(
                self.random_state, numbers.Integral | np.random.Generator | np.random.RandomState
            )
        ):
            raise TypeError(
                "random_state of a DBM must be None, an int, a numpy Generator or a RandomState, "
                f"got {self.random_state!r} ({type(self.random_state).__name__})."
            )
        return sizes

    def _check_input(self, X, name="X", *, reset=False):
        return validate_input(self, X, name, reset=reset, value_range=(0.0, 1.0))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def _n_features_out(self):
        return self.components_[-1].shape[0]

    @property
    def n_layers_(self):
        """Number of hidden layers."""
        return len(self.components_)

    @property
    def _labelled(self):
        """Whether the fitted model has label units (``supervised``)."""
        return getattr(self, "label_components_", None) is not None

    def _chain_params(self):
        """``(weights, biases)`` of the chain ``v - h1 - ... - hL (- y)``: a supervised DBM's
        labels are one more layer above the top, of softmax units (the same arrays, not copies)."""
        if self._labelled:
            return (
                [*self.components_, self.label_components_],
                [*self.intercepts_, self.label_intercept_],
            )
        return self.components_, self.intercepts_

    def _label_indicators(self, y, n_samples, dtype):
        """One-hot rows of ``y`` in ``dtype`` (sets ``classes_``), for a supervised fit."""
        from .mlp import MLPClassifier

        require_y(self, y)
        y = MLPClassifier._column_or_1d(y, "y", n_samples)
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y must hold at least 2 classes for supervised=True, got {len(self.classes_)} "
                f"({self.classes_.tolist()!r})."
            )
        Y = np.zeros((n_samples, len(self.classes_)), dtype=dtype)
        Y[np.arange(n_samples), index] = 1
        return Y

    # ------------------------------------------------------------------ inference
    def _recognition(self, v, y=None):
        """Bottom-up pass with doubled weights below the top: the mean field's starting point
        (the top layer also gets the clamped labels ``y``, if given)."""
        W, b = self.components_, self.intercepts_
        L = len(W)
        mu, below = [], v
        for layer in range(L):
            pre = below @ W[layer].T
            if layer < L - 1:
                pre *= 2
            elif y is not None:
                pre += y @ self.label_components_
            hidden_units(pre, b[layer + 1], "bernoulli", None, pre, None, sample=False)
            mu.append(pre)
            below = pre
        return mu

    def mean_field(self, v, n_iter=None, *, tol=0.0, init=None, y=None):
        """Mean-field posteriors ``q(h_l = 1 | v)`` of every hidden layer.

        Sweeps the fixed-point equations ``mu_l = sigmoid(W_l mu_(l-1) + W_(l+1)^T mu_(l+1) +
        b_l)`` (``mu_0 = v``), updating the layers bottom to top with their neighbours' latest
        values: each update maximises the variational bound over one layer, so the bound never
        decreases (Salakhutdinov & Hinton 2009, section 3.2).

        Parameters
        ----------
        v : ndarray of shape (n_samples, n_features)
            Checked, in the model's dtype.
        n_iter : int, optional
            Sweeps; ``n_mean_field`` by default.
        tol : float, default=0
            Stop early when no mean changed by more than ``tol`` in a sweep.
        init : list of ndarray, optional
            Starting means (copied); the recognition pass by default.
        y : ndarray of shape (n_samples, n_classes), optional
            A supervised DBM's label units, clamped to these values (one-hot rows in training;
            :meth:`predict_proba` passes its current means). Without it the label units are left
            out, as in :meth:`transform`.

        Returns
        -------
        mu : list of ndarray, one ``(n_samples, n_l)`` array per hidden layer
        """
        W, b = self.components_, self.intercepts_
        L = len(W)
        n_iter = self.n_mean_field if n_iter is None else n_iter
        if init is None:
            mu = self._recognition(v, y)
        else:
            mu = [np.array(m, copy=True) for m in init]
        for _ in range(n_iter):
            change = 0.0
            for layer in range(L):
                below = v if layer == 0 else mu[layer - 1]
                pre = below @ W[layer].T
                if layer < L - 1:
                    pre += mu[layer + 1] @ W[layer + 1]
                elif y is not None:
                    pre += y @ self.label_components_
                hidden_units(pre, b[layer + 1], "bernoulli", None, pre, None, sample=False)
                if tol > 0:
                    change = max(change, float(np.max(np.abs(pre - mu[layer]), initial=0.0)))
                mu[layer] = pre
            if tol > 0 and change <= tol:
                break
        return mu

    def transform(self, X, *, layers="top"):
        """Mean-field posteriors of the hidden layers.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        layers : {"top", "all"}, default="top"
            ``"top"`` returns the top layer's means (an array, as sklearn transformers do),
            ``"all"`` a list with every hidden layer's.

        Returns
        -------
        H : ndarray of shape (n_samples, n_L), or list of ndarray
        """
        check_is_fitted(self, "components_", msg=NOT_TRAINED)
        if layers not in ("top", "all"):
            raise ValueError(f"layers must be 'top' or 'all', got {layers!r}.")
        X = self._as_model_dtype(self._check_input(X))
        mu = self.mean_field(X)
        return mu if layers == "all" else mu[-1]

    def augment(self, X):
        """``[X, q(h2 | X)]``: the input of :meth:`to_mlp`'s net (the data with the mean-field
        posterior of the second hidden layer; ``X`` itself for a one-layer DBM)."""
        check_is_fitted(self, "components_", msg=NOT_TRAINED)
        X = self._as_model_dtype(self._check_input(X))
        if self.n_layers_ < 2:
            return X
        return np.hstack([X, self.mean_field(X)[1]])

    @available_if(lambda self: self.supervised)
    def predict_proba(self, X):
        """Class probabilities of a supervised DBM: the label units' mean-field means.

        The label group joins the mean field as one more layer above the top, updated after
        every sweep, ``q(y) = softmax(U mu_L + d)``; ``n_mean_field`` sweeps from the
        recognition pass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        P : ndarray of shape (n_samples, n_classes), columns in the order of ``classes_``
        """
        check_is_fitted(self, "label_components_")
        v = self._as_model_dtype(self._check_input(X))
        mu = self._recognition(v)
        q = self._label_means(mu[-1])
        for _ in range(self.n_mean_field):
            mu = self.mean_field(v, 1, init=mu, y=q)
            q = self._label_means(mu[-1])
        return q

    @available_if(lambda self: self.supervised)
    def predict(self, X):
        """The class of largest :meth:`predict_proba`."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _label_means(self, top):
        return softmax_units(top @ self.label_components_.T, self.label_intercept_, None, None)

    def _as_model_dtype(self, X):
        return np.ascontiguousarray(X, dtype=self.components_[0].dtype)

    def gibbs_sweep(self, states, rng):
        """One full Gibbs sweep in place: the odd layers given the even ones, then the even ones.

        ``states`` is a list of ``L + 1`` arrays ``(n_chains, n_l)``, visible first, and a
        supervised DBM's one-hot label states last. Layers of one parity are conditionally
        independent given the others, so each half-sweep is exact.
        """
        W, b = self._chain_params()
        top = len(W)
        for parity in (1, 0):
            for layer in range(parity, top + 1, 2):
                pre = None
                if layer > 0:
                    pre = states[layer - 1] @ W[layer - 1].T
                if layer < top:
                    down = states[layer + 1] @ W[layer]
                    pre = down if pre is None else pre + down
                if self._labelled and layer == top:
                    softmax_units(pre, b[layer], rng, states[layer])
                else:
                    hidden_units(pre, b[layer], "bernoulli", rng, pre, states[layer], sample=True)

    def sample(self, n_samples=100, n_steps=1000, *, return_probabilities=True, random_state=None):
        """Visible samples after ``n_steps`` Gibbs sweeps from random hidden states.

        Parameters
        ----------
        n_samples : int
        n_steps : int
        return_probabilities : bool, default=True
            Return ``E[v | h1]`` of the last sweep instead of binary states.
        random_state : int or Generator, optional
            By default a stream seeded from ``random_state`` (not the training stream).

        Returns
        -------
        V : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self, "components_", msg=NOT_TRAINED)
        check_scalar(n_samples, "n_samples", kind=numbers.Integral, low=1)
        check_scalar(n_steps, "n_steps", kind=numbers.Integral, low=1)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        dtype = self.components_[0].dtype
        weights = self._chain_params()[0]
        sizes = [self.n_features_in_, *(W.shape[0] for W in weights)]
        states = [(rng.random((n_samples, n)) < 0.5).astype(dtype) for n in sizes]
        if self._labelled:  # random classes
            labels = rng.integers(len(self.classes_), size=n_samples)
            states[-1] = np.eye(len(self.classes_), dtype=dtype)[labels]
        for _ in range(n_steps):
            self.gibbs_sweep(states, rng)
        if not return_probabilities:
            return states[0]
        pre = states[1] @ self.components_[0]
        hidden_units(pre, self.intercepts_[0], "bernoulli", None, pre, None, sample=False)
        return pre

    def _pretrain_epochs(self, n_layers):
        """``pretrain_n_iter`` as one epoch count per layer, checked."""
        value = self.pretrain_n_iter
        if isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_):
            check_scalar(value, "pretrain_n_iter", kind=numbers.Integral, low=0)
            return [int(value)] * n_layers
        try:
            epochs = list(value)
        except TypeError:
            raise TypeError(
                f"pretrain_n_iter must be a non-negative int or a sequence of them (one per "
                f"layer), got {value!r} ({type(value).__name__})."
            ) from None
        if len(epochs) != n_layers:
            raise ValueError(
                f"pretrain_n_iter must hold one epoch count per hidden layer ({n_layers}), got "
                f"{len(epochs)}: {value!r}."
            )
        for count in epochs:
            check_scalar(count, "pretrain_n_iter", kind=numbers.Integral, low=0)
        return [int(count) for count in epochs]

    # ------------------------------------------------------------------ training
    def pretrain(self, X, y=None, *, callbacks=None, checkpoint_dir=None):
        """Greedy pretraining with the doubled RBMs of Salakhutdinov & Hinton (2009).

        RBM ``l`` is trained by CD-1 for ``pretrain_n_iter`` epochs on the bottom-up means of the
        layer below (computed with the doubled weights ``2 W``, as the next RBM will see them);
        see :func:`layer_factors`. The RBMs are then composed into the DBM's weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data in [0, 1].
        y : array-like of shape (n_samples,), optional
            Class labels, needed with ``supervised`` (the top RBM's label units); ignored
            otherwise.
        callbacks : callable, dbn.Callback, or list of them, optional
            ``callback(dbm, epoch, logs)`` after each epoch, with ``logs["layer"]``; truthy stops
            the current layer.
        checkpoint_dir : str or Path, optional
            Write ``dbm-checkpoint.npz`` there after every epoch; a later call with the same
            folder, data and parameters resumes bit for bit.

        Returns
        -------
        self
        """
        sizes = self._validate_params()
        X = self._check_input(X, reset=True)
        Y = self._label_indicators(y, X.shape[0], X.dtype) if self.supervised else None
        self._rng = check_random_state(self.random_state)
        checkpoint = self._checkpoint(X, Y, checkpoint_dir)
        self._pretrain(X, Y, sizes, CallbackList(callbacks), checkpoint)
        return self

    def _checkpoint(self, X, Y, checkpoint_dir):
        if checkpoint_dir is None:
            return None
        data = {"X": X, "y": Y}
        checkpoint = CheckpointFile(checkpoint_dir, CHECKPOINT_NAME, "DBM-checkpoint", data)
        checkpoint.load(self.header_params(), owner="DBM")
        return checkpoint

    def _pretrain(self, X, Y, sizes, callbacks, checkpoint):
        dtype = X.dtype
        L = len(sizes)
        epochs = self._pretrain_epochs(L)
        rbms, history, start_layer = [], [], 0
        if checkpoint is not None and checkpoint.resuming:
            if checkpoint.extra.get("stage") == "joint":  # pretraining was finished
                self._set_state_arrays(checkpoint.arrays, checkpoint.extra, checkpoint.path)
                self._pretrained_for = fingerprints({"X": X, "y": Y})
                return
            rbms, history, start_layer = self._restore_pretraining(checkpoint, epochs)
        data = X
        for layer in range(L):
            up, down = layer_factors(layer, L)
            if layer < start_layer:
                data = _bottom_up(data, rbms[layer], up)
                continue
            labels = Y if layer == L - 1 else None  # the labels join the top RBM
            if layer >= len(rbms):
                n_labels = 0 if labels is None else labels.shape[1]
                rbms.append(_new_rbm(data, sizes[layer], self, n_labels))
                history.append({key: [] for key in ("epoch", "time", "reconstruction_error")})
            rbm = rbms[layer]
            if self.dynamic_binarization:  # each minibatch drawn from X, passed up the RBMs below
                below = [(rbms[i], layer_factors(i, L)[0]) for i in range(layer)]
                source = X
            else:
                below, source = [], data
            trainer = _PretrainTrainer(
                self, source, rbm, up, down, f"DBM layer {layer + 1}/{L} pretraining", labels,
                below,
            )  # fmt: skip

            def save(finished, layer=layer):
                if checkpoint is not None:
                    self._write_pretraining(checkpoint, rbms, history, layer, finished)

            relay = _LayerRelay(callbacks, layer)
            result = run_epochs(
                self,
                trainer,
                range(int(rbm["epochs"]), epochs[layer]),
                history=history[layer],
                callbacks=relay,
                save_checkpoint=save,
                progress=f"DBM pretraining layer {layer}",
                progress_key="reconstruction_error",
                verbose=self.verbose,
            )
            if result.interrupted:  # KeyboardInterrupt: stop here, the checkpoint is whole
                raise KeyboardInterrupt
            data = _bottom_up(data, rbm, up)
        self.pretrain_history_ = history
        self._compose(rbms, dtype)
        self.n_features_in_ = X.shape[1]
        self._pretrained_for = fingerprints({"X": X, "y": Y})

    def _compose(self, rbms, dtype):
        """The DBM's weights from the pretraining RBMs (see the class Notes)."""
        L = len(rbms)
        scale = [0.5 if 0 < layer < L - 1 else 1.0 for layer in range(L)]  # intermediate: halved
        self.components_ = [
            np.array(r["W"] * s, dtype=dtype) for r, s in zip(rbms, scale, strict=True)
        ]
        biases = [rbms[0]["b"].copy()]
        for layer in range(L - 1):
            biases.append(0.5 * (rbms[layer]["c"] + rbms[layer + 1]["b"]))
        biases.append(rbms[-1]["c"].copy())
        self.intercepts_ = [np.asarray(b, dtype=dtype) for b in biases]
        if "U" in rbms[-1]:
            self.label_components_ = np.array(rbms[-1]["U"], dtype=dtype)
            self.label_intercept_ = np.array(rbms[-1]["d"], dtype=dtype)
        else:  # from an earlier supervised fit
            self.__dict__.pop("label_components_", None)
            self.__dict__.pop("label_intercept_", None)

    def fit(self, X, y=None, *, callbacks=None, checkpoint_dir=None):
        """Joint training: mean-field positive phase, persistent chains for the negative phase.

        Pretrains first (:meth:`pretrain`), unless :meth:`pretrain` was just called on the same
        ``X``; ``DBM(...).fit(X)`` and ``DBM(...).pretrain(X).fit(X)`` give the same model.

        For each minibatch of ``B`` rows: the mean-field means ``mu`` (``n_mean_field`` sweeps),
        ``k`` Gibbs sweeps of the ``n_chains`` persistent chains ``s``, then the stochastic
        approximation update ``W_l += lr * (mu_l^T mu_(l-1) / B - s_l^T s_(l-1) / n_chains -
        weight_decay * W_l)`` with momentum, and the biases alike (Salakhutdinov & Hinton 2009,
        Algorithm 1).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data in [0, 1] (probabilities are used as the data's means).
        y : array-like of shape (n_samples,), optional
            Class labels, needed with ``supervised``: clamped on the label units in the mean
            field, and in the top pretraining RBM. Ignored otherwise.
        callbacks : callable, dbn.Callback, or list of them, optional
            ``callback(dbm, epoch, logs)`` after every joint epoch (pretraining epochs carry
            ``logs["layer"]``); truthy stops.
        checkpoint_dir : str or Path, optional
            As for :meth:`pretrain`; covers pretraining and joint training.

        Returns
        -------
        self
        """
        sizes = self._validate_params()
        pretrained = getattr(self, "_pretrained_for", None)
        X = self._check_input(X, reset=True)
        Y = self._label_indicators(y, X.shape[0], X.dtype) if self.supervised else None
        callbacks = CallbackList(callbacks)
        checkpoint = self._checkpoint(X, Y, checkpoint_dir)
        if pretrained is None or pretrained != fingerprints({"X": X, "y": Y}):
            self._rng = check_random_state(self.random_state)
            self._pretrain(X, Y, sizes, callbacks, checkpoint)
        self._pretrained_for = None  # a second fit starts again from scratch (idempotent)
        X = self._as_model_dtype(X)
        if checkpoint is not None and checkpoint.resuming and checkpoint.extra["stage"] == "joint":
            self._restore_joint(checkpoint)
        else:
            self._start_joint(X, Y)
        trainer = _JointTrainer(self, X, Y)

        def save(finished):
            if checkpoint is not None:
                self._write_joint(checkpoint, finished)

        callbacks.on_train_begin(self)
        try:
            run_epochs(
                self,
                trainer,
                range(self.n_iter_, self.n_iter),
                history=self.history_,
                callbacks=callbacks,
                save_checkpoint=save,
                progress="DBM",
                progress_key="reconstruction_error",
                verbose=self.verbose,
            )
        finally:
            callbacks.on_train_end(self)
        return self

    def _start_joint(self, X, Y=None):
        rng = self._rng
        weights, biases = self._chain_params()
        self.velocities_ = [np.zeros_like(p) for p in (*weights, *biases)]
        # Chains start from data rows and their recognition means, sampled (and their labels).
        rows = rng.choice(X.shape[0], self.n_chains, replace=X.shape[0] < self.n_chains)
        v = np.ascontiguousarray(X[rows])
        labels = None if Y is None else np.ascontiguousarray(Y[rows])
        chains = [binarize(v, rng)]
        for mu in self._recognition(chains[0], labels):
            chains.append(binarize(mu, rng))
        if labels is not None:
            chains.append(labels)
        self.persistent_chains_ = chains
        for name in ("tempered_chains_", "swap_counts_", "offsets_", "_tempering_states"):
            self.__dict__.pop(name, None)  # from an earlier fit with other settings
        if self.n_temperatures is not None:
            # Every temperature starts from the same states, as the RBMs' tempered chains do.
            self._link_tempered([np.tile(c, (self.n_temperatures, 1)) for c in chains])
            self.swap_counts_ = np.zeros((self.n_temperatures - 1, 2), dtype=np.int64)
            self._swap_parity = 0
        if self.centering:
            self.offsets_ = self._start_offsets(X, Y)
        self.n_iter_ = 0
        self.history_ = {key: [] for key in _HISTORY_KEYS}

    # ------------------------------------------------------------------ parallel tempering
    @property
    def inverse_temperatures_(self):
        """``beta_0 = 1 > ... > beta_(M-1) = 0`` of parallel tempering (``n_temperatures``), or
        None without it."""
        if self.n_temperatures is None:
            return None
        return ParallelTempering(self.n_temperatures).inverse_temperatures

    def _link_tempered(self, stacked):
        """Hold the tempered chains as one ``(M * n_chains, n_l)`` array per layer, temperature
        after temperature, so that a sweep of all of them is one GEMM per layer; the attributes
        ``persistent_chains_`` (``beta = 1``) and ``tempered_chains_`` are views of it."""
        M = self.n_temperatures
        C = stacked[0].shape[0] // M
        self._tempering_states = stacked
        self.persistent_chains_ = [s[:C] for s in stacked]
        self.tempered_chains_ = [s[C:].reshape(M - 1, C, s.shape[1]) for s in stacked]
        dtype = stacked[0].dtype
        self._beta_rows = np.repeat(self.inverse_temperatures_, C).astype(dtype)

    def tempered_sweep(self, states, beta, rng):
        """One full Gibbs sweep in place of chains at inverse temperatures ``beta`` (one per row)
        in the model ``p_beta(x) ~ exp(-beta E(x))``; returns each chain's energy ``E(x)`` (of
        the unscaled model, float64) at its new state.

        The odd layers are sampled given the even ones, then the even ones given the odd ones,
        whose inputs hold every weight term of the energy: ``E(x) = -sum_(l even) x_l . (input_l
        + b_l) - sum_(l odd) b_l . x_l``.
        """
        W, b = self.components_, self.intercepts_
        L = len(W)
        energy = np.zeros(states[0].shape[0])
        for parity in (1, 0):
            for layer in range(parity, L + 1, 2):
                pre = None
                if layer > 0:
                    pre = states[layer - 1] @ W[layer - 1].T
                if layer < L:
                    down = states[layer + 1] @ W[layer]
                    pre = down if pre is None else pre + down
                tempered_bernoulli_units(
                    pre,
                    b[layer],
                    beta,
                    draw_key(rng),
                    states[layer],
                    energy if parity == 0 else None,
                )
        for layer in range(1, L + 1, 2):
            energy -= states[layer] @ b[layer]
        return energy

    def _negative_phase(self):
        """``k`` sweeps of the persistent chains (with a swap round after each when tempered)."""
        if self.n_temperatures is None:
            for _ in range(self.k):
                self.gibbs_sweep(self.persistent_chains_, self._rng)
            return
        betas = self.inverse_temperatures_
        for _ in range(self.k):
            energy = self.tempered_sweep(self._tempering_states, self._beta_rows, self._rng)
            uniform = self._rng.random((self.n_temperatures - 1, self.n_chains))
            self._swap_parity = swap_round(
                self._tempering_states, energy, betas, self._swap_parity, uniform, self.swap_counts_
            )

    # ------------------------------------------------------------------ centring
    def _start_offsets(self, X, Y=None):
        """``o_0``: the mean of ``X``; ``o_l``: the mean-field means of its first rows; a
        supervised DBM's labels: the class frequencies (fixed)."""
        labels = None if Y is None else np.ascontiguousarray(Y[:OFFSET_ROWS])
        mu = self.mean_field(np.ascontiguousarray(X[:OFFSET_ROWS]), y=labels)
        offsets = [X.mean(axis=0).astype(X.dtype), *(m.mean(axis=0) for m in mu)]
        if Y is not None:
            offsets.append(Y.mean(axis=0).astype(X.dtype))
        return offsets

    def centre_gradient(self, gradients, offsets):
        """Turn :meth:`gradient`'s output into the centred DBM's ascent direction, in place.

        The weight directions become the data-minus-model difference of ``(x_l - o_l)
        (x_(l-1) - o_(l-1))^T`` instead of ``x_l x_(l-1)^T``: ``dW_l - g_l o_(l-1)^T -
        o_l g_(l-1)^T`` with ``g`` the bias directions, which are unchanged (they are the
        gradient in the centred biases ``c``). Returns ``gradients``.
        """
        n_weights = len(offsets) - 1  # with the labels' weights, if supervised
        biases = gradients[n_weights:]
        for layer in range(n_weights):
            # The RBM kernel, rows = layer + 1, columns = layer: g[i, j] -= o_up[i] g_low[j] +
            # g_up[i] o_low[j].
            centre_weight_gradient(
                gradients[layer],
                offsets[layer + 1],
                biases[layer],
                biases[layer + 1],
                offsets[layer],
            )
        return gradients

    def _fold_offsets(self, mu):
        """After a step in the centred parameters ``(W, c)``: the usual biases' share of it
        (``b_l = c_l - W_l o_(l-1) - W_(l+1)^T o_(l+1)``), then move the hidden offsets towards
        the minibatch's mean-field means (the labels' offsets, class frequencies, stay). Returns
        whether the biases stayed finite."""
        weights, b = self._chain_params()
        n_weights = len(weights)
        steps, offsets = self.velocities_[:n_weights], self.offsets_
        finite = True
        for layer in range(n_weights + 1):
            if layer > 0:
                b[layer] -= steps[layer - 1] @ offsets[layer - 1]
            if layer < n_weights:
                b[layer] -= offsets[layer + 1] @ steps[layer]
            finite &= bool(np.isfinite(b[layer]).all())
        rate = b[0].dtype.type(_OFFSET_RATE)
        for layer in range(1, len(mu) + 1):
            offsets[layer] += rate * (mu[layer - 1].mean(axis=0) - offsets[layer])
        return finite

    def learning_rate_at(self, epoch):
        """Joint learning rate of the 0-based ``epoch`` under ``learning_rate_schedule``."""
        return learning_rate_at(
            self.learning_rate_schedule, epoch, self.learning_rate, n_epochs=self.n_iter
        )

    def gradient(self, v, mu, chains, y=None):
        """Stochastic approximation of the log-likelihood gradient, per parameter.

        ``v``: the minibatch; ``mu``: its mean-field means; ``chains``: the persistent states;
        ``y``: a supervised DBM's one-hot labels of the minibatch (one more layer above the top;
        the chains then end with label states). Returns the ascent directions of ``components_``
        (then ``label_components_``), then of ``intercepts_`` (then ``label_intercept_``), one
        flat list. It is the exact gradient of the variational bound's data term, for fixed
        ``mu``, minus a one-sample Monte Carlo estimate of the gradient of ``log Z``.
        """
        data = [v, *mu] if y is None else [v, *mu, y]
        B, M = v.shape[0], chains[0].shape[0]
        weights = [
            data[layer + 1].T @ data[layer] / B - chains[layer + 1].T @ chains[layer] / M
            for layer in range(len(data) - 1)
        ]
        biases = [d.mean(axis=0) - s.mean(axis=0) for d, s in zip(data, chains, strict=True)]
        return weights + biases

    def _joint_step(self, v, lr, y=None):
        mu = self.mean_field(v, y=y)
        self._negative_phase()
        gradients = self.gradient(v, mu, self.persistent_chains_, y)
        if self.centering:
            self.centre_gradient(gradients, self.offsets_)
        weights, biases = self._chain_params()
        params = [*weights, *biases]
        n_weights = len(weights)
        finite = True
        for i, (p, vel, g) in enumerate(zip(params, self.velocities_, gradients, strict=True)):
            decay = self.weight_decay if i < n_weights else 0.0
            finite &= momentum_step(p, vel, np.ascontiguousarray(g), lr, self.momentum, decay)
        if self.centering:
            finite &= self._fold_offsets(mu)
        return mu, finite

    # ------------------------------------------------------------------ fine-tuning
    def to_mlp(self, task="classification", **mlp_params):
        """The fine-tuning net of Salakhutdinov & Hinton (2009, section 4.2), unfitted.

        The net's input is ``[v, q(h2 | v)]`` (:meth:`augment`): the data with the mean-field
        posterior of the second hidden layer. Its first hidden layer gets ``W_1 v + W_2^T q2 +
        b_1``, the layers above ``W_l h_(l-1) + b_l``, so at a mean-field fixed point its hidden
        activations are the DBM's mean-field posteriors. Fit it on ``dbm.augment(X)``.

        Parameters
        ----------
        task : {"classification", "regression"}
        **mlp_params
            Any :class:`dbn.MLPClassifier` / :class:`dbn.MLPRegressor` parameter. For
            classification, those not given take :meth:`dbn.DBN.to_mlp`'s defaults, with the
            learning rate at 0.05 (``dbn.dbm.DBM_FINETUNE_RATE``, the rate the DBM's nets were
            measured with).

        Returns
        -------
        mlp : MLPClassifier or MLPRegressor
        """
        check_is_fitted(self, "components_", msg=NOT_TRAINED)
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")
        fixed = sorted({"hidden_layer_sizes", "pretrained_layers"} & set(mlp_params))
        if fixed:
            raise TypeError(f"to_mlp() sets {' and '.join(fixed)} from the DBM's layers.")
        from .mlp import MLPClassifier, MLPRegressor

        W, b = self.components_, self.intercepts_
        first = W[0].T if len(W) < 2 else np.vstack([W[0].T, W[1]])
        pretrained = [(np.array(first, order="C"), b[1].copy())]
        for layer in range(1, len(W)):
            pretrained.append((np.array(W[layer].T, order="C"), b[layer + 1].copy()))
        if task == "classification":
            mlp_params = dbm_to_mlp_defaults() | mlp_params
        mlp_params.setdefault("random_state", self.random_state)
        mlp_params.setdefault("dtype", W[0].dtype)
        cls = MLPClassifier if task == "classification" else MLPRegressor
        return cls(
            hidden_layer_sizes=tuple(w.shape[0] for w in W),
            activation="sigmoid",
            pretrained_layers=pretrained,
            **mlp_params,
        )

    def to_torch(self):
        """:meth:`transform` as a ``torch.nn.Module``: the recognition pass, then
        ``n_mean_field`` mean-field sweeps; it returns the top layer's means.

        The weights are copied as parameters of the model's dtype. Needs PyTorch (the ``torch``
        extra).
        """
        check_is_fitted(self, "components_", msg=NOT_TRAINED)
        try:
            import torch
            from torch import nn
        except ImportError as exc:
            raise ImportError(
                f"DBM.to_torch() needs PyTorch ({exc}); install the torch extra of dbn."
            ) from exc

        class MeanFieldDBM(nn.Module):
            """Mean-field inference of a Deep Boltzmann Machine (Salakhutdinov & Hinton 2009)."""

            def __init__(self, weights, biases, n_mean_field):
                super().__init__()
                self.weights = nn.ParameterList(
                    nn.Parameter(torch.from_numpy(np.array(w))) for w in weights
                )
                self.biases = nn.ParameterList(
                    nn.Parameter(torch.from_numpy(np.array(b))) for b in biases[1:]
                )
                self.n_mean_field = n_mean_field

            def forward(self, v):
                W, b = list(self.weights), list(self.biases)
                L = len(W)
                mu, below = [], v
                for layer in range(L):
                    factor = 2.0 if layer < L - 1 else 1.0  # doubled below the top
                    below = torch.sigmoid(factor * (below @ W[layer].T) + b[layer])
                    mu.append(below)
                for _ in range(self.n_mean_field):
                    for layer in range(L):
                        pre = (v if layer == 0 else mu[layer - 1]) @ W[layer].T + b[layer]
                        if layer < L - 1:
                            pre = pre + mu[layer + 1] @ W[layer + 1]
                        mu[layer] = torch.sigmoid(pre)
                return mu[-1]

        return MeanFieldDBM(self.components_, self.intercepts_, self.n_mean_field).eval()

    # ------------------------------------------------------------------ persistence
    def header_params(self):
        """``get_params(deep=False)`` as a JSON header stores it."""
        params = self.get_params(deep=False)
        if not (params["random_state"] is None or isinstance(params["random_state"], int)):
            params["random_state"] = None  # a generator's state is not a parameter to store
        params["hidden_layer_sizes"] = list(check_layer_sizes(self.hidden_layer_sizes, "sizes"))
        if not isinstance(params["pretrain_n_iter"], numbers.Integral):
            params["pretrain_n_iter"] = self._pretrain_epochs(len(params["hidden_layer_sizes"]))
        if callable(params["learning_rate_schedule"]):
            raise TypeError("a DBM with a callable learning_rate_schedule cannot be saved.")
        return params

    def _state_arrays(self):
        arrays = {}
        for layer, W in enumerate(self.components_):
            arrays[f"components_{layer}"] = W
        for layer, b in enumerate(self.intercepts_):
            arrays[f"intercepts_{layer}"] = b
        for i, vel in enumerate(getattr(self, "velocities_", [])):
            arrays[f"velocity_{i}"] = vel
        for layer, s in enumerate(getattr(self, "persistent_chains_", [])):
            arrays[f"chains_{layer}"] = s
        for layer, s in enumerate(getattr(self, "tempered_chains_", [])):
            arrays[f"tempered_chains_{layer}"] = s
        if hasattr(self, "swap_counts_"):
            arrays["swap_counts"] = self.swap_counts_
        for layer, o in enumerate(getattr(self, "offsets_", [])):
            arrays[f"offsets_{layer}"] = o
        labels = {}
        if self._labelled:
            arrays["label_components"] = self.label_components_
            arrays["label_intercept"] = self.label_intercept_
            arrays["classes"], labels["classes_storage"] = labels_to_array(self.classes_)
            labels["classes_dtype"] = self.classes_.dtype.str
        extra = labels | {
            "n_features_in_": int(self.n_features_in_),
            "n_iter_": int(getattr(self, "n_iter_", 0)),
            "history_": getattr(self, "history_", {}),
            "pretrain_history_": getattr(self, "pretrain_history_", []),
            "rng_state": self._rng.bit_generator.state if hasattr(self, "_rng") else None,
            "swap_parity": int(getattr(self, "_swap_parity", 0)),
        }
        return arrays, extra

    def _set_state_arrays(self, arrays, extra, source):
        L = len(self._validate_params())
        try:
            self.components_ = [np.array(arrays[f"components_{i}"]) for i in range(L)]
            self.intercepts_ = [np.array(arrays[f"intercepts_{i}"]) for i in range(L + 1)]
        except KeyError as missing:
            raise io.ModelFileError(f"{source}: lacks the array {missing}.") from None
        sizes = [int(extra["n_features_in_"]), *check_layer_sizes(self.hidden_layer_sizes, "")]
        for i, W in enumerate(self.components_):
            if W.shape != (sizes[i + 1], sizes[i]) or self.intercepts_[i].shape != (sizes[i],):
                raise io.ModelFileError(
                    f"{source}: layer {i} has weights of shape {W.shape}, expected "
                    f"{(sizes[i + 1], sizes[i])} from hidden_layer_sizes."
                )
        self._set_label_arrays(arrays, extra, source)
        n_states = L + 1 + int(self._labelled)  # a supervised DBM's chains end with labels
        n_velocities = sum(k.startswith("velocity_") for k in arrays)
        if n_velocities:
            self.velocities_ = [np.array(arrays[f"velocity_{i}"]) for i in range(n_velocities)]
        if "chains_0" in arrays:
            self.persistent_chains_ = [np.array(arrays[f"chains_{i}"]) for i in range(n_states)]
            for name in ("tempered_chains_", "swap_counts_", "offsets_", "_tempering_states"):
                self.__dict__.pop(name, None)
            if "tempered_chains_0" in arrays and self.n_temperatures is not None:
                tempered = [np.asarray(arrays[f"tempered_chains_{i}"]) for i in range(L + 1)]
                self._link_tempered(
                    [
                        np.concatenate([c, t.reshape(-1, c.shape[1])])
                        for c, t in zip(self.persistent_chains_, tempered, strict=True)
                    ]
                )
                self.swap_counts_ = np.array(arrays["swap_counts"], dtype=np.int64)
                self._swap_parity = int(extra.get("swap_parity", 0))
            if "offsets_0" in arrays and self.centering:
                self.offsets_ = [np.array(arrays[f"offsets_{i}"]) for i in range(n_states)]
        self.n_features_in_ = int(extra["n_features_in_"])
        # Files written before n_iter_ (dbn 0.2) store the count as n_epochs_.
        self.n_iter_ = int(extra.get("n_iter_", extra.get("n_epochs_", 0)))
        self.history_ = {k: list(extra.get("history_", {}).get(k, [])) for k in _HISTORY_KEYS}
        self.pretrain_history_ = list(extra.get("pretrain_history_", []))
        self._rng = np.random.default_rng()
        if extra.get("rng_state") is not None:
            self._rng.bit_generator.state = extra["rng_state"]

    def _set_label_arrays(self, arrays, extra, source):
        """A supervised DBM's label units and classes from a model file or checkpoint."""
        for name in ("label_components_", "label_intercept_", "classes_"):
            self.__dict__.pop(name, None)
        if not self.supervised:
            return
        try:
            U, d = np.array(arrays["label_components"]), np.array(arrays["label_intercept"])
            classes = labels_from_array(
                arrays["classes"], extra["classes_storage"], extra["classes_dtype"]
            )
        except KeyError as missing:
            raise io.ModelFileError(
                f"{source}: lacks {missing}, which a supervised DBM's file holds."
            ) from None
        n_top = self.components_[-1].shape[0]
        if U.shape != (len(classes), n_top) or d.shape != (len(classes),):
            raise io.ModelFileError(
                f"{source}: label weights of shape {U.shape} and biases of shape {d.shape} do "
                f"not fit {len(classes)} classes and a top layer of {n_top} units."
            )
        self.label_components_, self.label_intercept_, self.classes_ = U, d, classes

    def save(self, path):
        """Save the model and its training state to a pickle-free file (see :mod:`dbn.io`)."""
        check_is_fitted(self, "components_", msg=NOT_TRAINED)
        arrays, extra = self._state_arrays()
        io.save_arrays(path, "DBM", self.header_params(), arrays, extra)

    @classmethod
    def load(cls, path):
        """Load a DBM written by :meth:`save`; the round trip is exact."""
        header, arrays = io.load_arrays(path, kind="DBM")
        params = dict(header["params"])
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        if isinstance(params.get("pretrain_n_iter"), list):  # one count per layer
            params["pretrain_n_iter"] = tuple(params["pretrain_n_iter"])
        model = cls(**params)
        model._set_state_arrays(arrays, header["extra"], path)
        return model

    # ------------------------------------------------------------------ checkpoints
    def _write_pretraining(self, checkpoint, rbms, history, layer, finished):
        arrays = {}
        for i, rbm in enumerate(rbms):
            for name in _rbm_arrays(rbm):
                arrays[f"rbm{i}/{name}"] = rbm[name]
                arrays[f"rbm{i}/v{name}"] = rbm["v" + name]
        extra = {
            "stage": "pretrain",
            "n_features_in_": int(rbms[0]["W"].shape[1]),
            "epochs": [int(r["epochs"]) for r in rbms],
            "pretrain_history_": history,
            "rng_state": self._rng.bit_generator.state,
        }
        checkpoint.write(self.header_params(), arrays, extra, finished=False)

    def _restore_pretraining(self, checkpoint, wanted):
        extra, arrays = checkpoint.extra, checkpoint.arrays
        rbms = []
        for i, epochs in enumerate(extra["epochs"]):
            names = _rbm_arrays({"U": None} if f"rbm{i}/U" in arrays else {})
            rbm = {p + n: np.array(arrays[f"rbm{i}/{p}{n}"]) for n in names for p in ("", "v")}
            rbm["epochs"] = int(epochs)
            rbms.append(rbm)
        self._rng.bit_generator.state = extra["rng_state"]
        history = [{k: list(v) for k, v in h.items()} for h in extra["pretrain_history_"]]
        done = sum(int(r["epochs"]) >= n for r, n in zip(rbms, wanted, strict=False))
        return rbms, history, done

    def _write_joint(self, checkpoint, finished):
        arrays, extra = self._state_arrays()
        extra["stage"] = "joint"
        checkpoint.write(self.header_params(), arrays, extra, finished=finished)

    def _restore_joint(self, checkpoint):
        self._set_state_arrays(checkpoint.arrays, checkpoint.extra, checkpoint.path)


def softmax_units(pre, bias, rng, out):
    """Units of a softmax group (one per class): ``p = softmax(pre + bias)`` row by row.

    Without ``rng``, returns ``p`` (a new array). With it, draws one class per row from ``p``
    (inverse CDF of one uniform number) and writes its one-hot state into ``out``, returned.
    """
    logits = pre + bias
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    if rng is None:
        return p
    uniform = rng.random((p.shape[0], 1))
    chosen = np.minimum((np.cumsum(p, axis=1) < uniform).sum(axis=1), p.shape[1] - 1)
    out[...] = 0
    out[np.arange(p.shape[0]), chosen] = 1
    return out


# ---------------------------------------------------------------------- pretraining RBMs
def _new_rbm(data, n_hidden, dbm, n_labels=0):
    """An RBM's parameters and momentum velocities, as a dict (float64, cast on first use).

    The visible biases start at the log-odds of the data's means (Hinton 2010, section 8.1), so
    that the first reconstructions are the mean input: with zeros, MNIST's always-off border
    pixels left the visible biases far from their values and the hidden units made up for it.
    ``n_labels``: the top RBM of a supervised DBM also has label units, with weights ``U``
    ``(n_labels, n_hidden)`` drawn at the scale of ``W`` and biases ``d`` at zero.
    """
    n_visible = data.shape[1]
    std = resolve_init_std(dbm.init_std, n_visible, n_hidden)
    W = std * dbm._rng.standard_normal((n_hidden, n_visible))
    p = np.clip(np.asarray(data.mean(axis=0), dtype=np.float64), 1e-3, 1 - 1e-3)
    rbm = {"W": W, "c": np.zeros(n_hidden), "b": np.log(p) - np.log1p(-p), "epochs": 0}
    if n_labels:
        rbm["U"] = std * dbm._rng.standard_normal((n_labels, n_hidden))
        rbm["d"] = np.zeros(n_labels)
    for name in _rbm_arrays(rbm):
        rbm["v" + name] = np.zeros_like(rbm[name])
    return rbm


def _rbm_arrays(rbm):
    """Names of a pretraining RBM's parameters (``U``, ``d``: its label units, if any)."""
    return ("W", "c", "b", "U", "d") if "U" in rbm else ("W", "c", "b")


def binarize(probabilities, rng):
    """A binary sample of ``probabilities`` (each entry 1 with its own probability), same dtype."""
    return (rng.random(probabilities.shape) < probabilities).astype(probabilities.dtype)


def _bottom_up(data, rbm, up):
    """The next RBM's training data: ``sigmoid(up * W x + c)`` (the doubled pass below the top)."""
    pre = data @ rbm["W"].T.astype(data.dtype)
    pre *= up
    hidden_units(pre, rbm["c"].astype(data.dtype), "bernoulli", None, pre, None, sample=False)
    return pre


def cd1_step(rbm, v0, up, down, learning_rate, momentum, weight_decay, rng, y0=None):
    """One CD-1 update of a pretraining RBM whose bottom-up input counts ``up`` times and whose
    top-down input counts ``down`` times; returns the squared reconstruction error and whether the
    parameters stayed finite.

    ``h0 ~ sigmoid(up W v0 + c)``, ``v1 = sigmoid(down W^T h0 + b)`` (means, as in Hinton's code),
    ``h1 = sigmoid(up W v1 + c)``; the update is ``<h v^T>_0 - <h v^T>_1`` with ``E[h0 | v0]`` in the
    positive statistics (Salakhutdinov & Hinton 2009, section 3.1).

    With label units (``y0``, one-hot rows; the top RBM of a supervised DBM), the hidden units
    also get ``U^T y`` (not doubled), the labels are reconstructed as ``y1 = softmax(U h0 + d)``
    (means) and ``U``, ``d`` take the same difference of statistics.
    """
    W, c, b = rbm["W"], rbm["c"], rbm["b"]
    B = v0.shape[0]
    h0 = v0 @ W.T
    h0 *= up
    if y0 is not None:
        h0 += y0 @ rbm["U"]
    h0_state = np.empty_like(h0)
    hidden_units(h0, c, "bernoulli", rng, h0, h0_state, sample=True)
    v1 = h0_state @ W
    v1 *= down
    hidden_units(v1, b, "bernoulli", None, v1, None, sample=False)
    h1 = v1 @ W.T
    h1 *= up
    if y0 is not None:
        y1 = softmax_units(h0_state @ rbm["U"].T, rbm["d"], None, None)
        h1 += y1 @ rbm["U"]
    hidden_units(h1, c, "bernoulli", None, h1, None, sample=False)
    grad_W = (h0.T @ v0 - h1.T @ v1) / B
    finite = momentum_step(W, rbm["vW"], grad_W, learning_rate, momentum, weight_decay)
    finite &= momentum_step(c, rbm["vc"], (h0 - h1).mean(axis=0), learning_rate, momentum, 0.0)
    finite &= momentum_step(b, rbm["vb"], (v0 - v1).mean(axis=0), learning_rate, momentum, 0.0)
    if y0 is not None:
        grad_U = (y0.T @ h0 - y1.T @ h1) / B
        U, d = rbm["U"], rbm["d"]
        finite &= momentum_step(U, rbm["vU"], grad_U, learning_rate, momentum, weight_decay)
        finite &= momentum_step(d, rbm["vd"], (y0 - y1).mean(axis=0), learning_rate, momentum, 0.0)
    return float(np.sum((v0 - v1) ** 2)), finite


class _PretrainTrainer(EpochTrainer):
    """Epochs of CD-1 on one doubled RBM of the greedy pretraining."""

    def __init__(self, dbm, X, rbm, up, down, name, Y=None, below=()):
        self.dbm, self.rbm, self.up, self.down, self.name = dbm, rbm, up, down, name
        for name in _rbm_arrays(rbm):
            for key in (name, "v" + name):
                rbm[key] = np.ascontiguousarray(rbm[key], dtype=X.dtype)
        self.X, self.Y = X, Y
        # With dynamic_binarization: X is the DBM's input, and each minibatch's fresh draw goes
        # up through these (RBM, bottom-up factor) pairs to become this RBM's data.
        self.below = list(below)

    def run_epoch(self, epoch):
        dbm, n = self.dbm, self.X.shape[0]
        order = dbm._rng.permutation(n)
        error = 0.0
        for start in range(0, n, dbm.batch_size):
            rows = order[start : start + dbm.batch_size]
            v0 = np.ascontiguousarray(self.X[rows])
            if dbm.dynamic_binarization:
                v0 = binarize(v0, dbm._rng)
                for rbm, up in self.below:
                    v0 = _bottom_up(v0, rbm, up)
            err, finite = cd1_step(
                self.rbm,
                v0,
                self.up,
                self.down,
                dbm.pretrain_learning_rate,
                dbm.momentum,
                dbm.weight_decay,
                dbm._rng,
                y0=None if self.Y is None else self.Y[rows],
            )
            if not finite:
                raise DivergenceError(
                    f"DBM pretraining diverged in epoch {epoch + 1}; lower "
                    f"pretrain_learning_rate={dbm.pretrain_learning_rate}."
                )
            error += err
        return {"reconstruction_error": error / n}

    def snapshot(self):
        arrays = {k: v.copy() for k, v in self.rbm.items() if k != "epochs"}
        return arrays, self.rbm["epochs"], self.dbm._rng.bit_generator.state

    def restore(self, snapshot):
        arrays, epochs, state = snapshot
        for k, v in arrays.items():
            self.rbm[k][...] = v
        self.rbm["epochs"] = epochs
        self.dbm._rng.bit_generator.state = state

    def epoch_completed(self, completed, logs):
        self.rbm["epochs"] = completed

    def report(self, completed, logs):
        report_epoch(self.name, self.dbm.verbose, logs)


def swap_round(states, energy, betas, parity, uniform, swap_counts):
    """One round of parallel tempering's swaps between neighbouring temperatures, in place.

    ``states`` holds one ``(M * C, n_l)`` array per layer, the ``C`` chains of temperature ``m``
    in rows ``m C`` to ``(m + 1) C``; ``energy`` (``M * C``) their energies ``E(x)``. The pairs
    ``(m, m + 1)`` with ``m = parity, parity + 2, ...`` propose to exchange chain ``i``'s states,
    accepted when ``uniform[m, i] < exp((beta_m - beta_(m+1)) (E(x_m) - E(x_(m+1))))``: the
    Metropolis ratio ``p_beta_m(x_(m+1)) p_beta_(m+1)(x_m) / (p_beta_m(x_m) p_beta_(m+1)(x_(m+1)))``
    of the product of the tempered models. ``swap_counts[m]`` gains the accepted and the
    proposed swaps; returns the next parity.
    """
    M = len(betas)
    C = states[0].shape[0] // M
    E = energy.reshape(M, C)
    for m in range(parity, M - 1, 2):
        log_ratio = (betas[m] - betas[m + 1]) * (E[m] - E[m + 1])
        accept = np.flatnonzero(uniform[m] < np.exp(np.minimum(log_ratio, 0.0)))
        if accept.size:
            low, high = m * C + accept, (m + 1) * C + accept
            for s in states:
                below = s[low]
                s[low] = s[high]
                s[high] = below
            E[m, accept], E[m + 1, accept] = E[m + 1, accept], E[m, accept]
        swap_counts[m, 0] += accept.size
        swap_counts[m, 1] += C
    return 1 - parity


class _JointTrainer(EpochTrainer):
    """Epochs of the DBM's joint training (mean field + persistent chains)."""

    def __init__(self, dbm, X, Y=None):
        self.dbm, self.X, self.Y = dbm, X, Y

    def run_epoch(self, epoch):
        dbm, n = self.dbm, self.X.shape[0]
        lr = dbm.learning_rate_at(epoch)
        order = dbm._rng.permutation(n)
        error = 0.0
        for start in range(0, n, dbm.batch_size):
            rows = order[start : start + dbm.batch_size]
            v = np.ascontiguousarray(self.X[rows])
            if dbm.dynamic_binarization:
                v = binarize(v, dbm._rng)
            y = None if self.Y is None else np.ascontiguousarray(self.Y[rows])
            mu, finite = dbm._joint_step(v, lr, y)
            if not finite:
                raise DivergenceError(
                    f"DBM joint training diverged in epoch {epoch + 1}; lower "
                    f"learning_rate={dbm.learning_rate}."
                )
            recon = mu[0] @ dbm.components_[0]
            hidden_units(recon, dbm.intercepts_[0], "bernoulli", None, recon, None, sample=False)
            error += float(np.sum((v - recon) ** 2))
        return {"reconstruction_error": error / n, "learning_rate": lr}

    def _state(self):
        """Every array joint training changes in place."""
        d = self.dbm
        chains = d._tempering_states if d.n_temperatures is not None else d.persistent_chains_
        extra = [d.swap_counts_] if d.n_temperatures is not None else []
        offsets = d.offsets_ if d.centering else []
        weights, biases = d._chain_params()
        return (*weights, *biases, *d.velocities_, *chains, *extra, *offsets)

    def snapshot(self):
        d = self.dbm
        return (
            [p.copy() for p in self._state()],
            getattr(d, "_swap_parity", 0),
            d._rng.bit_generator.state,
        )

    def restore(self, snapshot):
        d = self.dbm
        arrays, parity, state = snapshot
        for p, saved in zip(self._state(), arrays, strict=True):
            p[...] = saved
        d._swap_parity = parity
        d._rng.bit_generator.state = state

    def epoch_completed(self, completed, logs):
        self.dbm.n_iter_ = completed

    def report(self, completed, logs):
        report_epoch("DBM", self.dbm.verbose, logs)


class _LayerRelay:
    """Passes each pretraining epoch on to the DBM's callbacks with ``logs["layer"]``."""

    def __init__(self, callbacks, layer):
        self.callbacks, self.layer = callbacks, layer

    def on_epoch_end(self, dbm, epoch, logs):
        return self.callbacks.on_epoch_end(dbm, epoch, {**logs, "layer": self.layer})
