"""Deep Belief Networks: RBMs trained greedily, one layer at a time, then exported to an MLP.

``DBN(hidden_layer_sizes=[500, 500, 2000]).pretrain(X).to_mlp()`` is the heart of dbn: layer 1 is an
RBM trained on ``X``, layer ``k + 1`` an RBM trained on the hidden probabilities of layer ``k``, and
the stack's weights initialise a feed-forward net that backprop fine-tunes.

References
----------
Hinton, G. E., Osindero, S., & Teh, Y.-W. (2006). A fast learning algorithm for deep belief nets.
Neural Computation 18(7).
Hinton, G. E., & Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science 313(5786).
Bengio, Y., Lamblin, P., Popovici, D., & Larochelle, H. (2007). Greedy layer-wise training of deep
networks. NIPS.
"""

from __future__ import annotations

import inspect
import numbers
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin

from . import io
from ._drivers import DBN_VARIANCE_OPTION, scale_warning_applies
from ._training.callbacks import Callback, CallbackList
from ._training.checkpoint import CheckpointFile
from ._training.loop import run_epochs
from ._training.stacklevel import external_stacklevel
from ._validation import (
    check_choice,
    check_is_fitted,
    check_layer_sizes,
    check_random_state,
    check_scalar,
    validate_input,
    warn_if_not_standardised,
)
from .rbm import BernoulliRBM, GaussianBernoulliRBM

__all__ = ["DBN"]

CHECKPOINT_NAME = "dbn-checkpoint.npz"
#: The NotFittedError of a DBN used before training, in scikit-learn's words but with the DBN's
#: own verb, ``pretrain`` (``fit`` does the same).
NOT_PRETRAINED = (
    "This %(name)s instance is not fitted yet: call pretrain(X) first (or fit(X), its "
    "scikit-learn name)."
)

#: Fine-tuning defaults of :meth:`DBN.to_mlp` for classification, chosen on validation data by
#: ``benchmarks/panel_study.py`` (see the method's docstring). Parameters passed to ``to_mlp``
#: override them.
TO_MLP_DEFAULTS = {
    "solver": "sgd",
    "learning_rate_init": 0.1,
    "momentum": 0.9,
    "nesterovs_momentum": True,
    "batch_size": 20,
    "max_iter": 200,
    "early_stopping": False,
}

#: What ``to_mlp()`` adds to ``TO_MLP_DEFAULTS`` for a DBN on binary inputs: training on inputs
#: centred by their training mean (the MLP's ``center_inputs``; LeCun et al. 1998, section 4.3).
#: Twenty-third round (``benchmarks/panel_study.py --parts centring``, validation splits of the
#: panel's eight binary sets): worst ratio 1.077 against the raw inputs' 1.100, the rule written
#: before the run. Where it matters is inputs far from zero and of little contrast, which the
#: panel lacks: on MNIST digits lifted onto a grey background, SGD 0.1 on the raw inputs stalls
#: or diverges (``benchmarks/centering_threshold.py``). Not for the DBM's nets, which were
#: measured without it (``dbn.dbm.dbm_to_mlp_defaults``).
BINARY_INPUT_FINETUNING = {"center_inputs": True}

#: ``to_mlp()``'s fine-tuning defaults for a DBN on real-valued inputs (``visible_unit="gaussian"``):
#: Adam 1e-3 on minibatches of 32 for at most 500 epochs, the rest as ``TO_MLP_DEFAULTS``.
#: Chosen on cross-validation folds of the panel's real-valued sets (``benchmarks/panel_study.py``).
#: Seventeenth round, the solver: Adam 1e-3 on minibatches of ``min(200, n_samples)``, worst ratio
#: 1.017 against SGD 0.1's 1.180 (wine 1.42 against 1.85 %, breast-cancer 3.30 against 3.22 %).
#: On standardised, unbounded inputs SGD 0.1 stopped with the training loss at a third of chance
#: in folds of a small table (``benchmarks/heldout_tabular.py``, crabs), where Adam, whose steps
#: adapt to each weight's gradient scale, fitted. Eighteenth round, how it stops: minibatches of
#: 32, worst ratio 1.062 against 1.206 (breast-cancer 2.78 against 3.30 %, wine 1.41 against
#: 1.42 %). ``min(200, n)`` gave one or two updates per epoch on these sets, and its 500 epochs
#: overfitted breast-cancer's 341 labels; early stopping on a held-out tenth or fifth of the
#: labels stopped within a few epochs (14-26 % error on wine), and ``alpha=1e-2`` did not help.
REAL_VALUED_TO_MLP_DEFAULTS = TO_MLP_DEFAULTS | {
    "solver": "adam",
    "learning_rate_init": 1e-3,
    "batch_size": 32,
    "max_iter": 500,
}

#: ``centering="auto"`` centres a layer whose inputs have a mean above this: more units on than
#: off, the regime where plain CD collapsed on the data panel (inverted MNIST, mean 0.87; MNIST on
#: a noise background, 0.54); 0.5 is where flipping the inputs would make them sparse.
AUTO_CENTERING_MEAN = 0.5


def resolve_auto_centering(rbm, input_mean):
    """Set ``rbm.centering`` from the mean of its inputs if its DBN asked for ``"auto"``.

    Every path that trains a DBN's layers calls this once a layer's inputs exist, before the
    layer is initialised: in process, on the cluster and out of core.
    """
    if getattr(rbm, "_centering_auto", False):
        rbm.set_params(centering=bool(float(np.mean(input_mean)) > AUTO_CENTERING_MEAN))


#: ``n_iter="auto"``: this many epochs per layer, raised on small data until the layer gets at
#: least ``AUTO_MIN_UPDATES`` minibatch updates. Ten epochs of 106 rows (scikit-learn's wine) in
#: minibatches of 10 are 110 updates, too few for any layer to learn: ``DBN()`` ended at 67 %
#: validation error there, against 0 % with at least 2,000 updates (benchmarks/panel_study.py,
#: sixth round). Sets of 2,000 rows or more keep 10 epochs.
AUTO_EPOCHS = 10
AUTO_MIN_UPDATES = 2000


def auto_epochs(n_samples, batch_size):
    """Epochs for ``n_iter="auto"``: ``AUTO_EPOCHS``, or enough for ``AUTO_MIN_UPDATES``
    minibatches of ``batch_size`` over ``n_samples`` rows."""
    per_epoch = -(-int(n_samples) // max(1, min(int(batch_size), int(n_samples))))
    return max(AUTO_EPOCHS, -(-AUTO_MIN_UPDATES // per_epoch))


def resolve_auto_epochs(rbm, n_samples):
    """Set ``rbm.n_iter`` from the number of its input rows if its DBN asked for ``"auto"``.

    Called by every path that trains a DBN's layers, before a layer trains or resumes (the
    count depends only on the rows and the minibatch size, so a resumed layer gets the same).
    """
    if getattr(rbm, "_n_iter_auto", False):
        rbm.set_params(n_iter=auto_epochs(n_samples, rbm.batch_size))


#: ``hidden_layer_sizes="auto"``: Hinton's 500-500-2000, each width capped at
#: ``max(AUTO_WIDTH_FLOOR, AUTO_WIDTH_PER_INPUT * n_features)``. 784 inputs keep the full widths;
#: scikit-learn's digits (64 inputs) get 500-500-512, breast-cancer (30) 240-240-240 and wine (13)
#: 128-128-128. On validation they matched or beat the full widths on all three (breast-cancer
#: 1.27 against 1.56 %, digits 2.67 against 2.75 %), and a cap of max(64, 4 x inputs) lost on
#: both (benchmarks/panel_study.py, seventh round); wine trains in 0.6 s instead of 9 s.
AUTO_WIDTHS = (500, 500, 2000)
AUTO_WIDTH_FLOOR = 128
AUTO_WIDTH_PER_INPUT = 8


def auto_layer_sizes(n_features):
    """Hidden widths of ``hidden_layer_sizes="auto"`` for ``n_features`` inputs."""
    cap = max(AUTO_WIDTH_FLOOR, AUTO_WIDTH_PER_INPUT * int(n_features))
    return tuple(min(width, cap) for width in AUTO_WIDTHS)


#: The first layer's learning rate, when its visible units are Gaussian, is this times the DBN's
#: ``learning_rate`` (unless ``layer_params`` sets it). At 0.1 the layer's reconstruction error
#: oscillated on wine and breast-cancer and it collapsed in 15 of 27 small-set runs; 0.03 with
#: ``n_iter="auto"`` collapsed in none (benchmarks/panel_study.py, sixth round).
GAUSSIAN_RATE_FACTOR = 0.03

#: The first layer's own settings when its visible units are Gaussian (unless ``layer_params``
#: sets them): a sigma learnt per input (Cho, Ilin & Raiko 2011), with sampled reconstructions,
#: without which sigma grows far beyond the data's. Chosen on the thirteen real-valued sets of
#: the data panel (benchmarks/panel_study.py, twenty-fourth round): worst ratio 1.181 against
#: 1.410 for sigma = 1, which lost 7 points on a table of heavy-tailed measures (Ecdat's
#: PatentsHGH: 16.18 against 23.24 %); mean gain over a Xavier net +0.61 against +0.25 points.
GAUSSIAN_LAYER_DEFAULTS = {"learn_variance": True, "sample_visible": True}

#: The top layer's learning rate, when its hidden units are Gaussian (linear; an autoencoder's
#: code layer), is this times the DBN's ``learning_rate`` (unless ``layer_params`` sets it): the
#: ratio of Hinton & Salakhutdinov's (2006) code, 0.001 for the linear top RBM against 0.1 for the
#: others. At the shared 0.1 the top layer of ``DBN((1000, 500, 250, 30),
#: top_hidden_unit="gaussian")`` diverged in its first epoch on 3,000 MNIST images.
LINEAR_TOP_RATE_FACTOR = 0.01

# Parameters shared by every layer unless ``layer_params`` overrides them.
_SHARED_RBM_PARAMS = (
    "learning_rate",
    "batch_size",
    "n_iter",
    "k",
    "persistent",
    "momentum",
    "final_momentum",
    "momentum_switch_epoch",
    "weight_decay",
    "init_std",
    "monitor_size",
    "centering",
)


class DBN(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """A stack of RBMs trained greedily, layer by layer (Hinton, Osindero & Teh 2006).

    Parameters
    ----------
    hidden_layer_sizes : sequence of int or "auto", default="auto"
        Hidden units of each RBM, bottom to top. ``"auto"``: Hinton's 500-500-2000, each width
        capped at ``max(128, 8 * n_features)`` (``dbn.stack.auto_layer_sizes``), so MNIST-sized
        inputs get the full stack and 13 inputs 128-128-128; each layer's RBM holds its width.
    visible_unit : {"bernoulli", "gaussian"}, default="bernoulli"
        Units of the first layer's visible layer: ``"gaussian"`` for real-valued (standardised)
        data; the layers above always see probabilities in [0, 1]. A Gaussian first layer
        learns at 0.03 times ``learning_rate`` (Hinton 2010, section 13.2: one to two orders of
        magnitude smaller) and learns a sigma per input, with sampled reconstructions
        (``GAUSSIAN_LAYER_DEFAULTS``: ``learn_variance=True, sample_visible=True``; Cho, Ilin &
        Raiko 2011), unless ``layer_params`` sets them; sigma starts at 1, so standardise the
        data first. ``pretrain`` warns (:class:`dbn.DataRangeWarning`) when a feature's standard
        deviation is above 10.
    top_hidden_unit : {"bernoulli", "gaussian"}, default="bernoulli"
        ``"gaussian"`` makes the top layer's hidden units linear, as in the code layer of the
        Hinton & Salakhutdinov (2006) autoencoder. That layer learns at 0.01 times
        ``learning_rate`` (the paper's 0.001 against 0.1) unless ``layer_params`` sets its rate.
    n_iter : int or "auto", default="auto"
        Epochs per layer. ``"auto"``: 10, raised on small data so that each layer gets at least
        2,000 minibatch updates (``dbn.stack.AUTO_MIN_UPDATES``; 106 rows in minibatches of 10
        train for 182 epochs), since 10 epochs of a small set are too few updates for any layer
        to learn. Each layer's RBM holds the number it used.
    learning_rate, batch_size, k, persistent, momentum, final_momentum, \
momentum_switch_epoch, weight_decay, init_std, monitor_size
        Shared defaults for every layer's RBM; see :class:`dbn.BernoulliRBM`. Three differ from
        the RBM's own: ``batch_size=10``, momentum 0.5 throughout (``final_momentum=0.5``; the
        RBM keeps Hinton's 100 and 0.5 rising to 0.9 after 5 epochs) and ``init_std="xavier"``
        (each layer's initial weights at Glorot & Bengio's scale, ``sqrt(2 / (n_visible +
        n_hidden))``, instead of Hinton's 0.01, so that a layer that trains briefly, as on a few
        hundred rows, still hands the net weights of a working scale; ninth round). They were
        chosen on validation data by ``benchmarks/panel_study.py`` (see Notes); :meth:`hinton_salakhutdinov_2006`
        gives the paper's recipe. The minibatch does not grow with the data: minibatches of 20
        to 100 on the panel's larger sets were 2-2.5 times faster and worse on five of six
        (MNIST 8.3 against 6.0 % validation error; eighth round), so pass a larger
        ``batch_size`` only to trade accuracy for speed.
    centering : {"auto", True, False}, default="auto"
        Centred RBMs (Melchior, Fischer & Wiskott 2016) in the layers with binary visible units:
        the energy is written in terms of ``v - mu`` and ``h - lambda``, with offsets that track
        the mean activities, which makes training invariant to which value of a unit is "on"
        (see :class:`dbn.BernoulliRBM`). ``"auto"`` centres a layer whose inputs are on more than
        half of the time (their mean above 0.5: inverted images, noisy backgrounds), where plain
        CD was measured to collapse, and trains the others plain, in the sparse regime where plain
        CD works and its features fine-tuned better on the data panel; each layer decides on its
        own inputs, and its ``centering`` says what it chose. A Gaussian first layer
        (standardised data) and a top layer with linear hidden units
        (``top_hidden_unit="gaussian"``) are not centred.
    layer_params : list of dict or dict of int to dict, optional
        Per-layer overrides of any RBM parameter, e.g. ``{0: {"learning_rate": 0.01}}`` or a list
        with one dict (or ``None``) per layer.
    verbose : int or bool, default=0
        As for :class:`dbn.BernoulliRBM`: from 1 (or True) on, each epoch of each layer prints
        scikit-learn's line on stdout, ``[DBN layer 1/3] Iteration 1, pseudo-likelihood = ...,
        time = ...s``, with a progress bar on stderr when it is a terminal.
    random_state : int, numpy Generator, RandomState or None
        Seeds each layer's RBM with its own stream derived from this seed (a Generator or
        RandomState is drawn from once per :meth:`pretrain`).

    Attributes
    ----------
    layers_ : list of RBM
        The fitted RBMs, bottom to top.
    n_features_in_ : int
    history_ : dict of lists
        One entry per completed epoch of every layer, bottom layer first: ``layer`` (the 0-based
        layer index) and the keys of ``BernoulliRBM.history_``, with the same meaning (``epoch``
        counts the layer's completed epochs from 1, ``time`` holds the epoch's own seconds). A
        layer's own history is ``layers_[i].history_``; ``history_[i]``, the list-style access of
        dbn 0.2, still returns it, with a FutureWarning.
    n_iter_ : ndarray of int, shape (n_layers,)
        Completed pretraining epochs of each layer (``layers_[i].n_iter_``).
    pretrain_time_ : list of float
        Seconds spent training each layer.

    Notes
    -----
    The pretraining defaults (minibatches of 10, momentum 0.5 throughout, centring for the
    layers whose inputs are mostly on, initial weights at Glorot & Bengio's scale) and :meth:`to_mlp`'s fine-tuning defaults were chosen
    together on the validation splits of the data panel (:func:`dbn.datasets.load_panel`), by
    the worst cell rather than the mean, among the candidates whose layers never collapsed; the
    user guide's data-panel page has the tables. Minibatches of 10 make an epoch about 2.5 times
    slower than minibatches of 100; :meth:`hinton_salakhutdinov_2006` gives the paper's recipe
    (minibatches of 100, momentum 0.5 rising to 0.9, no centring).

    Examples
    --------
    >>> import numpy as np
    >>> from dbn import DBN
    >>> X = (np.random.default_rng(0).random((300, 20)) < 0.3).astype(np.float32)
    >>> stack = DBN([16, 8], n_iter=2, batch_size=30, random_state=0).pretrain(X)
    >>> stack.transform(X).shape
    (300, 8)
    >>> clf = stack.to_mlp(max_iter=5, random_state=0).fit(X, X[:, 0] > 0)

    References
    ----------
    Hinton, G. E., Osindero, S., & Teh, Y.-W. (2006). A fast learning algorithm for deep belief nets.
    Hinton, G. E., & Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
    networks.
    Glorot, X., & Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS.
    """

    def __init__(
        self,
        hidden_layer_sizes="auto",
        *,
        visible_unit="bernoulli",
        top_hidden_unit="bernoulli",
        learning_rate=0.1,
        batch_size=10,
        n_iter="auto",
        k=1,
        persistent=False,
        momentum=0.5,
        final_momentum=0.5,
        momentum_switch_epoch=5,
        weight_decay=0.0002,
        init_std="xavier",
        monitor_size=1000,
        centering="auto",
        layer_params=None,
        verbose=0,
        random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.visible_unit = visible_unit
        self.top_hidden_unit = top_hidden_unit
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.final_momentum = final_momentum
        self.momentum_switch_epoch = momentum_switch_epoch
        self.weight_decay = weight_decay
        self.init_std = init_std
        self.monitor_size = monitor_size
        self.centering = centering
        self.layer_params = layer_params
        self.verbose = verbose
        self.random_state = random_state

    @classmethod
    def hinton_salakhutdinov_2006(cls, hidden_layer_sizes=(500, 500, 2000), *, n_iter=50, **kw):
        """The pretraining recipe of Hinton & Salakhutdinov (2006) for MNIST classification.

        CD-1, 50 epochs per layer, learning rate 0.1, momentum 0.5 rising to 0.9 after 5 epochs,
        weight cost 0.0002, minibatches of 100, weights initialised as ``0.1 * N(0, 1)``.
        Keyword arguments override any of these.
        """
        recipe = dict(
            learning_rate=0.1,
            batch_size=100,
            k=1,
            momentum=0.5,
            final_momentum=0.9,
            momentum_switch_epoch=5,
            weight_decay=0.0002,
            init_std=0.1,
            centering=False,  # the paper's RBMs are not centred
        )
        recipe.update(kw)
        return cls(hidden_layer_sizes, n_iter=n_iter, **recipe)

    # ------------------------------------------------------------------ configuration
    def _sizes(self, n_features):
        """The hidden widths, ``"auto"`` resolved for ``n_features`` inputs."""
        if isinstance(self.hidden_layer_sizes, str):
            if self.hidden_layer_sizes != "auto":
                raise ValueError(
                    "hidden_layer_sizes must be 'auto' or a sequence of positive integers, got "
                    f"{self.hidden_layer_sizes!r}."
                )
            return auto_layer_sizes(n_features)
        return check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")

    def _layer_overrides(self, n_layers):
        overrides = self.layer_params
        if overrides is None:
            return [{} for _ in range(n_layers)]
        if isinstance(overrides, dict):
            bad = [
                key
                for key in overrides
                if isinstance(key, bool)
                or not (isinstance(key, numbers.Integral) and 0 <= key < n_layers)
            ]
            if bad:
                raise ValueError(
                    f"layer_params keys must be layer indices in [0, {n_layers - 1}], got {bad}."
                )
            entries = [overrides.get(i) for i in range(n_layers)]
        elif isinstance(overrides, list | tuple):
            if len(overrides) != n_layers:
                raise ValueError(
                    f"layer_params must have one entry per layer ({n_layers}), got "
                    f"{len(overrides)}."
                )
            entries = list(overrides)
        else:
            raise TypeError(
                "layer_params must be None, a list with one dict (or None) per layer, or a dict "
                f"of layer index to dict, got {overrides!r} ({type(overrides).__name__})."
            )
        for i, entry in enumerate(entries):
            if entry is not None and not isinstance(entry, dict):
                raise TypeError(
                    f"layer_params[{i}] must be a dict of RBM parameters or None, got {entry!r} "
                    f"({type(entry).__name__})."
                )
        return [dict(entry or {}) for entry in entries]

    def _check_unit_choices(self):
        check_choice(self.visible_unit, "visible_unit", ("bernoulli", "gaussian"))
        check_choice(self.top_hidden_unit, "top_hidden_unit", ("bernoulli", "gaussian"))

    def _make_layers(self, n_features):
        """The untrained RBMs of the stack, one per layer, with their hyperparameters checked.

        Each gets the DBN's shared settings, its size from ``hidden_layer_sizes``, a seed of its
        own drawn from ``random_state``, and its ``layer_params`` overrides; the first is a
        :class:`GaussianBernoulliRBM` when ``visible_unit="gaussian"``. Engine-level:
        :meth:`pretrain` and :func:`dbn.dask.pretrain` train these.

        Parameters
        ----------
        n_features : int
            Inputs of the first layer (``hidden_layer_sizes="auto"`` scales with it).

        Returns
        -------
        layers : list of BernoulliRBM or GaussianBernoulliRBM
        """
        sizes = self._sizes(n_features)
        self._check_unit_choices()
        if not isinstance(self.verbose, numbers.Integral):  # bools are integers too
            raise TypeError(f"verbose must be an int (0, 1 or 2) or a bool, got {self.verbose!r}.")
        if not (isinstance(self.centering, bool | np.bool_) or self.centering == "auto"):
            raise ValueError(f"centering must be 'auto', True or False, got {self.centering!r}.")
        if isinstance(self.n_iter, str) and self.n_iter != "auto":
            raise TypeError(f"n_iter must be a positive int or 'auto', got {self.n_iter!r}.")
        seeds = _layer_seeds(self.random_state, len(sizes))
        shared = {name: getattr(self, name) for name in _SHARED_RBM_PARAMS}
        layers = []
        for i, (size, override) in enumerate(
            zip(sizes, self._layer_overrides(len(sizes)), strict=True)
        ):
            params = dict(shared, n_components=size, random_state=seeds[i])
            # "auto" epochs are decided per layer on its number of rows (resolve_auto_epochs).
            epochs_auto = params["n_iter"] == "auto" and "n_iter" not in override
            if params["n_iter"] == "auto":
                params["n_iter"] = AUTO_EPOCHS
            # "auto" is decided per layer on its inputs, when they exist (resolve_auto_centering).
            auto = params["centering"] == "auto" and "centering" not in override
            if params["centering"] == "auto":
                params["centering"] = False
            params["verbose"] = self.verbose
            params["hidden_unit"] = self.top_hidden_unit if i == len(sizes) - 1 else "bernoulli"
            if params["hidden_unit"] != "bernoulli":
                params["centering"] = False  # centring needs binary hidden units
            rate_factor = 1.0
            if i == 0 and self.visible_unit == "gaussian":
                # The Gaussian RBM has no centring: its data are standardised.
                params.pop("centering")
                # Real-valued visible units need a rate one to two orders of magnitude smaller
                # (Hinton 2010, section 13.2): at the shared 0.1 with momentum 0.9, layer 1
                # diverged on scikit-learn's wine and breast-cancer sets.
                rate_factor *= GAUSSIAN_RATE_FACTOR
                cls = GaussianBernoulliRBM
                params.update(GAUSSIAN_LAYER_DEFAULTS)  # layer_params may override them
            else:
                cls = BernoulliRBM
            if params["hidden_unit"] == "gaussian":
                # So do linear hidden units, whose activities are unbounded (Hinton 2010, 13.3).
                rate_factor *= LINEAR_TOP_RATE_FACTOR
            if rate_factor != 1.0:
                params["learning_rate"] = override.pop(
                    "learning_rate", rate_factor * self.learning_rate
                )
            unknown = set(override) - set(cls._get_param_names())
            if unknown:
                raise ValueError(
                    f"layer_params[{i}] has unknown RBM parameters {sorted(unknown)}; valid names "
                    f"are {cls._get_param_names()}."
                )
            params.update(override)
            rbm = cls(**params)
            rbm.validate_params()
            # Centring needs binary units on both sides (no Gaussian first or linear top layer).
            rbm._centering_auto = (
                auto and "centering" in params and params["hidden_unit"] == "bernoulli"
            )
            rbm._n_iter_auto = epochs_auto
            # A sigma learnt by default starts at 1 and moves at the Gaussian layer's slow rate:
            # unscaled inputs still get the scale warning (learnt_variance_by_default).
            rbm._variance_by_default = (
                cls is GaussianBernoulliRBM and "learn_variance" not in override
            )
            layers.append(rbm)
        return layers

    # ------------------------------------------------------------------ training
    def pretrain(self, X, y=None, *, X_val=None, callbacks=None, checkpoint_dir=None):
        """Train the RBMs greedily: layer 1 on ``X``, layer ``k + 1`` on layer ``k``'s features.

        Each layer trains through dbn's epoch loop (:mod:`dbn._training`), driven through the
        RBM's engine interface (:meth:`dbn.BernoulliRBM.epoch_trainer`).

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Unlabelled training data; in [0, 1] for Bernoulli visible units (other values are used
            as given, with a :class:`dbn.DataRangeWarning`).
        y : None
            Pretraining uses no labels: passing any is a TypeError that says where they go (the
            net's ``fit``). :meth:`fit`, scikit-learn's name for the same step, ignores ``y``.
        X_val : array-like, optional
            Held-out data, propagated up the stack for each layer's free-energy monitor.
        callbacks : callable, dbn.Callback, or list of them, optional
            Called after every epoch of every layer as ``callback(dbn, epoch, logs)`` (or
            ``Callback.on_epoch_end``): ``epoch`` counts the layer's completed epochs from 1,
            ``logs`` holds the epoch's history entries and ``logs["layer"]``, the 0-based index of
            the layer. Any truthy return stops the current layer; training goes on with the next
            one. The five-parameter form ``callback(dbn, layer, rbm, epoch, record)`` with a
            0-based ``epoch`` is deprecated but still works.
        checkpoint_dir : str or Path, optional
            Write ``dbn-checkpoint.npz`` there after every epoch and every finished layer
            (atomically), with a fingerprint of ``X`` and ``X_val``. Running again with the same
            folder and the same data resumes where training stopped, and gives the same weights as
            an uninterrupted run with the same ``random_state``; other data or other parameters
            are refused with a ValueError.

        Returns
        -------
        self
        """
        if y is not None:
            raise TypeError(
                f"DBN.pretrain takes no labels (got y of {type(y).__name__}): pretraining is "
                "unsupervised. The labels go to the fine-tuned net: "
                "DBN(...).pretrain(X).to_mlp().fit(X, y)."
            )
        self._check_unit_choices()  # before the input check, which reads visible_unit
        X = self._check_input(X, reset=True)
        layers = self._make_layers(X.shape[1])
        if scale_warning_applies(layers[0]):
            warn_if_not_standardised(self, X, DBN_VARIANCE_OPTION)
        if X_val is not None:
            X_val = self._check_input(X_val, "X_val")
        callbacks = CallbackList(callbacks, adapt_function=_adapt_layer_function)
        checkpoint, start_layer, times = None, 0, []
        if checkpoint_dir is not None:
            checkpoint = CheckpointFile(
                checkpoint_dir, CHECKPOINT_NAME, "DBN-checkpoint", {"X": X, "X_val": X_val}
            )
            if checkpoint.load(self._header_params(), owner="DBN"):
                start_layer, times = self._resume(checkpoint, layers)
        self.n_features_in_ = X.shape[1]
        self.layers_ = layers[:start_layer]
        self.pretrain_time_ = (times + [0.0] * start_layer)[:start_layer]
        data, data_val = X, X_val
        for rbm in layers[:start_layer]:
            data = rbm.transform(data, check_input=False)
            data_val = None if data_val is None else rbm.transform(data_val, check_input=False)
        callbacks.on_train_begin(self)
        try:
            for i in range(start_layer, len(layers)):
                rbm = layers[i]
                self.layers_.append(rbm)
                start = time.perf_counter()
                resolve_auto_epochs(rbm, data.shape[0])
                if not hasattr(rbm, "components_"):  # not resumed from the checkpoint
                    resolve_auto_centering(rbm, data.mean())
                    # A batch_size larger than the data is clipped, with a warning.
                    rbm.initialize(data, check_input=False, clip_batch_size=True)
                if self.verbose:
                    print(f"DBN layer {i + 1}/{len(layers)}: {data.shape[1]} -> {rbm.n_components}")
                save = None
                if checkpoint is not None:

                    def save(finished, layer=i, rbm=rbm):
                        self._write_checkpoint(checkpoint, layer, rbm)

                trainer = rbm.epoch_trainer(
                    data, X_val=data_val, name=f"DBN layer {i + 1}/{len(layers)}"
                )
                result = run_epochs(
                    self,
                    trainer,
                    range(rbm.n_iter_, rbm.n_iter),
                    history=rbm.history_,
                    callbacks=CallbackList(_LayerRelay(callbacks, i)),
                    save_checkpoint=save,
                    progress=f"DBN layer {i + 1}/{len(layers)} ({rbm.n_components})",
                    progress_key="reconstruction_error",
                    verbose=self.verbose,
                )
                self.pretrain_time_.append(time.perf_counter() - start)
                if result.interrupted:
                    # The loop restored the last completed epoch and warned; say what layers_ holds.
                    warnings.warn(
                        f"DBN pretraining interrupted in layer {i + 1}; layers_ holds {i} finished "
                        f"layer(s) and the partly trained layer {i + 1}.",
                        RuntimeWarning,
                        stacklevel=external_stacklevel(),
                    )
                    return self
                # A collapsed layer warns by its number: the layers above learn from its features.
                trainer.warn_if_not_learning(result, layer=i, n_layers=len(layers))
                if checkpoint is not None:
                    self._write_checkpoint(checkpoint, i + 1, None)
                if i + 1 < len(layers):
                    data = rbm.transform(data, check_input=False)
                    data_val = (
                        None if data_val is None else rbm.transform(data_val, check_input=False)
                    )
        finally:
            callbacks.on_train_end(self)
        return self

    def fit(self, X, y=None, *, X_val=None, callbacks=None, checkpoint_dir=None):
        """Same as :meth:`pretrain` (sklearn transformer contract); ``y`` is ignored."""
        return self.pretrain(X, X_val=X_val, callbacks=callbacks, checkpoint_dir=checkpoint_dir)

    def transform(self, X):
        """Top-layer features: ``X`` propagated up through every layer's hidden means.

        Returns
        -------
        H : ndarray of shape (n_samples, hidden_layer_sizes[-1])
        """
        check_is_fitted(self, "layers_", msg=NOT_PRETRAINED)
        data = self._check_input(X)
        for rbm in self.layers_:
            data = rbm.transform(data, check_input=False)
        return data

    def _check_input(self, X, name="X", *, reset=False):
        """scikit-learn's checks, then dbn's: finite values, and a :class:`dbn.DataRangeWarning`
        for Bernoulli visible units outside [0, 1] (once per call, not once per layer)."""
        value_range = (0.0, 1.0) if self.visible_unit == "bernoulli" else None
        return validate_input(
            self, X, name, reset=reset, accept_sparse=True, value_range=value_range
        )

    @property
    def _n_features_out(self):
        """Number of features :meth:`transform` returns (for ``get_feature_names_out``)."""
        return self.layers_[-1].n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @property
    def history_(self):
        """Every layer's per-epoch history in one table (see the class docstring)."""
        check_is_fitted(self, "layers_", msg=NOT_PRETRAINED)
        return _StackHistory(self.layers_)

    @property
    def n_iter_(self):
        """Completed pretraining epochs of each layer, bottom first (an array, as scikit-learn's
        ``n_iter_`` of estimators fitted in parts); ``layers_[i].n_iter_`` is layer ``i``'s."""
        check_is_fitted(self, "layers_", msg=NOT_PRETRAINED)
        return np.array([layer.n_iter_ for layer in self.layers_], dtype=np.int64)

    # ------------------------------------------------------------------ export
    def to_mlp(self, task="classification", *, activation="sigmoid", **mlp_params):
        """A feed-forward net whose hidden layers hold exactly this DBN's weights and biases.

        Parameters
        ----------
        task : {"classification", "regression"}
            ``"classification"`` gives an :class:`dbn.MLPClassifier` with a softmax output layer
            (classes inferred at ``fit``); ``"regression"`` an :class:`dbn.MLPRegressor` with a
            linear one.
        activation : {"sigmoid", "tanh", "relu"}, default="sigmoid"
            Hidden activation of the net. Only ``"sigmoid"`` reproduces the DBN's features; the
            others reuse the weights as an initialisation.
        **mlp_params
            Any other MLP parameter, e.g. ``solver``, ``learning_rate_init``, ``max_iter``,
            ``output_init`` (initialisation of the new output layer), ``dropout_hidden``. They
            override the fine-tuning defaults below.

        Returns
        -------
        mlp : MLPClassifier or MLPRegressor, unfitted but holding the pretrained layers

        Notes
        -----
        Fine-tuning defaults. For classification, parameters not given take the values of
        ``dbn.stack.TO_MLP_DEFAULTS``, pinned here so that they do not follow the MLP's own
        defaults: SGD (``solver="sgd"``, ``learning_rate_init=0.1``) with Nesterov momentum 0.9,
        minibatches of 20, ``max_iter=200`` (training stops sooner when the training loss stops
        improving, as in scikit-learn) and no early stopping. They were chosen with the DBN's
        pretraining defaults by ``benchmarks/panel_study.py`` on the validation splits of the
        data panel, by the worst set (``benchmarks/results/panel/``; minibatches of 20 in the
        fifth round, the rate of 0.1 rather than 0.05 in the tenth, once the RBMs started from
        Glorot & Bengio's scale). Small
        minibatches give SGD enough updates on small labelled sets: with ``min(200, n_samples)``
        (sklearn's ``"auto"``), SGD 0.1 stopped short on wine (106 labels, 100 updates: 8 %
        validation error) and digits, where Adam 1e-3 (the fourth round's choice) fitted; with
        minibatches of 20 SGD matches Adam there and beats it on the image sets (mnist-back-rand
        26.3 against 29.8 %, mnist 6.4 against 7.2 %). On a large labelled set, minibatches of
        20 make an epoch 2-3 times slower than minibatches of 200: pass ``batch_size``.
        A DBN on real-valued inputs (``visible_unit="gaussian"``) fine-tunes by Adam 1e-3 on
        minibatches of 32 for at most 500 epochs instead
        (``dbn.stack.REAL_VALUED_TO_MLP_DEFAULTS``, the seventeenth and eighteenth rounds, on
        cross-validation folds of the panel's wine and breast-cancer): on standardised, unbounded
        inputs SGD 0.1 stalled in some folds of a small table, where Adam fitted, and Adam on
        minibatches of ``min(200, n_samples)`` took one or two steps per epoch on small sets and
        overfitted breast-cancer's 341 labels in its 500 epochs.
        On binary inputs the net trains on inputs centred by their training mean
        (``center_inputs=True``, ``dbn.stack.BINARY_INPUT_FINETUNING``, the twenty-third round):
        the same function, fitted and stored for the raw inputs, but without the common
        component that a mean far from zero adds to every first-layer gradient, which made SGD
        0.1 stall or diverge on digits lifted onto a grey background
        (``benchmarks/centering_threshold.py``). Pass ``center_inputs=False`` for the raw inputs.
        Training that ends without having learnt raises a ``ConvergenceWarning``. Regression
        keeps :class:`dbn.MLPRegressor`'s defaults (the studies cover classification only). The
        hidden activations of the returned net equal :meth:`transform` exactly, whatever the
        parameters.
        """
        check_is_fitted(self, "layers_", msg=NOT_PRETRAINED)
        check_choice(task, "task", ("classification", "regression"))
        fixed = sorted({"hidden_layer_sizes", "pretrained_layers"} & set(mlp_params))
        if fixed:
            raise TypeError(
                f"to_mlp() sets {' and '.join(fixed)} from the DBN's layers; got {fixed} as well."
            )
        from .mlp import MLPClassifier, MLPRegressor

        if any(rbm.hidden_unit != "bernoulli" for rbm in self.layers_) and activation == "sigmoid":
            warnings.warn(
                "The top layer has linear hidden units; the sigmoid MLP will not reproduce its "
                "features exactly.",
                RuntimeWarning,
                stacklevel=2,
            )
        pretrained = []
        for rbm in self.layers_:
            W = rbm.components_.T
            if getattr(rbm, "log_variance_", None) is not None:
                # Hidden input is (v / sigma) W^T: fold sigma into the exported weights.
                W = W / rbm.sigma_[:, None]
            pretrained.append((np.array(W, order="C"), rbm.intercept_hidden_.copy()))
        cls = MLPClassifier if task == "classification" else MLPRegressor
        mlp_params = (
            self.finetune_params(task, dtype=self.layers_[0].components_.dtype) | mlp_params
        )
        return cls(
            hidden_layer_sizes=tuple(rbm.n_components for rbm in self.layers_),
            activation=activation,
            pretrained_layers=pretrained,
            **mlp_params,
        )

    def finetune_params(self, task="classification", **mlp_params):
        """The MLP parameters :meth:`to_mlp` fine-tunes with: its defaults for this DBN's inputs
        (``TO_MLP_DEFAULTS`` with ``BINARY_INPUT_FINETUNING``, or ``REAL_VALUED_TO_MLP_DEFAULTS``
        for ``visible_unit="gaussian"``; none for regression) and the DBN's ``random_state``, overridden by ``mlp_params``.

        Works before :meth:`pretrain`: a net of the same widths from another initialiser, given
        these parameters, differs from the pretrained one only in its starting weights (see
        :class:`dbn.DBNClassifier`'s ``init``).
        """
        check_choice(task, "task", ("classification", "regression"))
        defaults = {}
        if task == "classification":
            real_valued = self.visible_unit == "gaussian"
            defaults = (
                dict(REAL_VALUED_TO_MLP_DEFAULTS)
                if real_valued
                else TO_MLP_DEFAULTS | BINARY_INPUT_FINETUNING
            )
        return defaults | {"random_state": self.random_state} | mlp_params

    def to_torch(self):
        """The fitted stack (its :meth:`transform`) as a ``torch.nn.Module`` with the same outputs.

        See :func:`dbn.export.to_torch`; needs the ``torch`` extra.
        """
        from .export import to_torch

        return to_torch(self)

    def to_autoencoder(self, **params):
        """Unroll the stack into a deep autoencoder (Hinton & Salakhutdinov 2006).

        The encoder holds the RBMs' weights and hidden biases; the decoder starts from the transposed
        weights and the visible biases. For the paper's linear code layer, pretrain with
        ``top_hidden_unit="gaussian"``. ``params`` go to :class:`dbn.DeepAutoencoder`.
        """
        check_is_fitted(self, "layers_", msg=NOT_PRETRAINED)
        from .autoencoder import DeepAutoencoder

        return DeepAutoencoder.from_dbn(self, **params)

    # ------------------------------------------------------------------ generation
    def sample(
        self,
        n_samples=100,
        n_steps=1000,
        *,
        init=None,
        return_probabilities=True,
        random_state=None,
    ):
        """Generate visible samples: Gibbs sampling in the top RBM, then a top-down pass.

        The top two layers form an undirected associative memory; the layers below are a directed
        sigmoid belief net whose generative weights are the RBMs' transposed weights (Hinton,
        Osindero & Teh 2006).

        Parameters
        ----------
        n_samples : int
            Number of chains.
        n_steps : int
            Gibbs steps in the top-level RBM.
        init : array-like of shape (n_chains, n_features), optional
            Start the chains from the top-level features of these data instead of noise.
        return_probabilities : bool, default=True
            Return the visible means of the last top-down step (smoother images) instead of samples.
        random_state : int or Generator, optional

        Returns
        -------
        V : ndarray of shape (n_chains, ``n_features_in_``)
        """
        check_is_fitted(self, "layers_", msg=NOT_PRETRAINED)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        top = self.layers_[-1]
        top_init = None
        if init is not None:
            data = self._check_input(init, "init")
            for rbm in self.layers_[:-1]:
                data = rbm.transform(data, check_input=False)
            top_init = data
        below = self.layers_[:-1]
        visible = top.sample(
            n_samples,
            n_steps,
            init=top_init,
            return_probabilities=return_probabilities and not below,
            random_state=rng,
        )
        for idx, rbm in enumerate(reversed(below)):
            mean, state = rbm.sample_visible_units(visible, rng)
            last = idx == len(below) - 1
            visible = mean if (last and return_probabilities) else state
        return visible

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save all layers to one model file, atomically; :meth:`load` reads it back exactly.

        Parameters
        ----------
        path : str or Path
            Ends in ``.safetensors`` (the format to use: PyTorch and the Hugging Face tools read
            its weights) or ``.npz`` (dbn 0.1's); neither holds a pickle (see :mod:`dbn.io`).
        """
        check_is_fitted(self, "layers_", msg=NOT_PRETRAINED)
        arrays, extra = self._layer_arrays()
        io.save_arrays(path, "DBN", self._header_params(), arrays, extra)

    @classmethod
    def load(cls, path):
        """Load a DBN written by :meth:`save`; the round trip is exact."""
        header, arrays = io.load_arrays(path, kind="DBN")
        return cls._from_saved(header["params"], header["extra"], arrays, path)

    @classmethod
    def _from_saved(cls, stored_params, extra, arrays, source):
        """The DBN :meth:`save` stored as ``(params, extra, arrays)``; ``source`` names it in
        errors. Also reads a stack stored inside another model's file (``dbn.DBNClassifier``)."""
        model = cls(**_params_from_json(stored_params))
        layers = model._make_layers(int(extra["n_features_in_"]))
        n_done = int(extra.get("n_layers_done", len(layers)))
        model._restore_layers(layers, n_done, arrays, extra, source)
        model.layers_ = layers[:n_done]
        model.n_features_in_ = int(extra["n_features_in_"])
        model.pretrain_time_ = list(extra.get("pretrain_time_", []))
        return model

    def _header_params(self):
        """``get_params(deep=False)`` as a JSON header stores it (model files, checkpoints)."""
        params = self.get_params(deep=False)
        if not (params["random_state"] is None or isinstance(params["random_state"], int)):
            params["random_state"] = None
        if isinstance(params["layer_params"], dict):
            params["layer_params"] = {str(k): v for k, v in params["layer_params"].items()}
        if not isinstance(params["hidden_layer_sizes"], str):  # "auto" is kept as such
            params["hidden_layer_sizes"] = list(self._sizes(getattr(self, "n_features_in_", 0)))
        return params

    def _layer_arrays(self, layers=None):
        layers = self.layers_ if layers is None else layers
        arrays, layer_extra = {}, []
        for i, rbm in enumerate(layers):
            state, extra = rbm.training_state()
            for name, value in state.items():
                arrays[f"layer{i}/{name}"] = value
            if "centering" in rbm.get_params():  # what "auto" chose for this layer
                extra = dict(extra, centering=bool(rbm.centering))
            layer_extra.append(extra)
        extra = {
            "n_features_in_": int(self.n_features_in_),
            "n_layers_done": len(layers),
            "layers": layer_extra,
            "pretrain_time_": list(getattr(self, "pretrain_time_", [])),
        }
        return arrays, extra

    def _restore_layers(self, layers, n_layers, arrays, extra, source):
        if n_layers > len(layers):
            raise io.ModelFileError(
                f"{source}: holds {n_layers} layers, but hidden_layer_sizes has {len(layers)}."
            )
        previous = int(extra["n_features_in_"])
        for i in range(n_layers):
            prefix = f"layer{i}/"
            state = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            if "components_" not in state:
                raise io.ModelFileError(f"{source}: layer {i} has no weights.")
            centering = extra["layers"][i].get("centering")
            if centering is not None and "centering" in layers[i].get_params():
                layers[i].set_params(centering=bool(centering))
            layers[i].restore_training_state(state, extra["layers"][i], f"{source} layer {i}")
            if layers[i].components_.shape[1] != previous:
                raise io.ModelFileError(
                    f"{source}: layer {i} expects {layers[i].components_.shape[1]} inputs, but "
                    f"the layer below has {previous} outputs; the layers do not chain."
                )
            previous = layers[i].n_components

    # ------------------------------------------------------------------ checkpoints
    def _write_checkpoint(self, checkpoint, n_finished, current):
        """Finished layers plus, mid-layer, the current RBM's full training state."""
        layers = list(self.layers_[:n_finished])
        if current is not None:
            layers.append(current)
        arrays, extra = self._layer_arrays(layers)
        extra["n_finished_layers"] = n_finished
        finished = current is None and n_finished == len(self._sizes(self.n_features_in_))
        checkpoint.write(self._header_params(), arrays, extra, finished=finished)

    def _resume(self, checkpoint, layers):
        """Restore the layers a checked checkpoint holds; returns the first layer to train and
        the stored training times."""
        extra = checkpoint.extra
        n_stored = int(extra["n_layers_done"])
        self._restore_layers(layers, n_stored, checkpoint.arrays, extra, checkpoint.path)
        return int(extra["n_finished_layers"]), list(extra.get("pretrain_time_", []))


class _StackHistory(dict):
    """A DBN's ``history_``: the layers' histories stacked, with a ``layer`` column.

    A dict of lists like every estimator's ``history_``. An integer index, the list-style access
    of dbn 0.2 (``history_[i]``, layer ``i``'s history), still works with a FutureWarning.
    """

    def __init__(self, layers):
        keys = ["layer", *(layers[0].history_keys if layers else ())]
        super().__init__((key, []) for key in keys)
        self._layers = list(layers)
        for i, rbm in enumerate(layers):
            self["layer"].extend([i] * len(rbm.history_["epoch"]))
            for key in keys[1:]:
                self[key].extend(rbm.history_[key])

    def __getitem__(self, key):
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            warnings.warn(
                "DBN.history_[i] (a list of per-layer histories) is deprecated: history_ is one "
                "dict of lists with a 'layer' column, like every estimator's; read layer i's "
                "history as DBN.layers_[i].history_.",
                FutureWarning,
                stacklevel=2,
            )
            return self._layers[key].history_
        return super().__getitem__(key)


class _LayerRelay(Callback):
    """Passes each epoch of layer ``layer`` on to the DBN's callbacks, with ``logs["layer"]``."""

    def __init__(self, callbacks, layer):
        self.callbacks, self.layer = callbacks, layer

    def on_epoch_end(self, dbn, epoch, logs):
        return self.callbacks.on_epoch_end(dbn, epoch, {**logs, "layer": self.layer})


class _PlainLayerCallback(Callback):
    """``callback(dbn, epoch, logs)``, keeping the hooks of a callable that has them."""

    def __init__(self, function):
        self.function = function

    def on_train_begin(self, dbn):
        hook = getattr(self.function, "on_train_begin", None)
        if hook is not None:
            hook(dbn)

    def on_epoch_end(self, dbn, epoch, logs):
        return self.function(dbn, epoch, logs)

    def on_train_end(self, dbn):
        hook = getattr(self.function, "on_train_end", None)
        if hook is not None:
            hook(dbn)


class _LegacyLayerCallback(_PlainLayerCallback):
    """Deprecated ``callback(dbn, layer, rbm, epoch, record)`` with the 0-based ``epoch``."""

    def on_epoch_end(self, dbn, epoch, logs):
        layer = logs["layer"]
        return self.function(dbn, layer, dbn.layers_[layer], epoch - 1, logs)


def _adapt_layer_function(function):
    """A plain callable as a DBN callback: the unified three-parameter form, or the deprecated
    five-parameter one (with a DeprecationWarning pointing at the caller)."""
    n_required, n_positional = _positional_parameters(function)
    if n_required == 5:
        warnings.warn(
            "DBN callbacks of five parameters (dbn, layer, rbm, epoch, record) with a 0-based "
            "epoch are deprecated; use callback(dbn, epoch, logs), where epoch counts the "
            "layer's completed epochs from 1, logs['layer'] is the layer index and "
            "dbn.layers_[logs['layer']] the RBM (or subclass dbn.Callback).",
            DeprecationWarning,
            stacklevel=external_stacklevel(),
        )
        return _LegacyLayerCallback(function)
    if n_required <= 3 <= n_positional:
        return _PlainLayerCallback(function)
    raise TypeError(
        "callbacks of a DBN must take (dbn, epoch, logs), or the deprecated (dbn, layer, rbm, "
        f"epoch, record); got {function!r} taking {n_required} required parameter(s)."
    )


def _positional_parameters(function):
    """``(required, total)`` positional parameters of ``function``; ``*args`` accepts any."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: take the unified form
        return 3, 3
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return 3, 3
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return len(required), len(positional)


def _layer_seeds(random_state, n_layers):
    """One integer seed per layer, derived from the DBN's seed (fresh entropy if None).

    A numpy Generator or RandomState is accepted, as by scikit-learn and the other dbn
    estimators: one draw from it seeds the layers, so each ``pretrain`` advances it and gives
    new layers, as a RandomState instance does in scikit-learn.
    """
    generator = isinstance(random_state, np.random.Generator | np.random.RandomState)
    if (
        random_state is not None
        and not generator
        and (isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral))
    ):
        raise TypeError(
            f"random_state of a DBN must be None or an int, got {random_state!r} "
            f"({type(random_state).__name__}); a numpy Generator or RandomState is accepted "
            "as well."
        )
    if not generator and random_state is not None and random_state < 0:
        raise ValueError(f"random_state must be a non-negative integer, got {random_state!r}.")
    check_scalar(n_layers, "n_layers", kind=numbers.Integral, low=1)
    if generator:
        random_state = int(check_random_state(random_state).integers(2**63))
    sequence = np.random.SeedSequence(random_state)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in sequence.spawn(n_layers)]


def _params_from_json(params):
    params = dict(params)
    # Files written before the DBN had a shared ``centering`` trained plain RBMs (unless their
    # layer_params said otherwise, which still applies): never let a later default change them.
    params.setdefault("centering", False)
    if isinstance(params.get("layer_params"), dict):
        params["layer_params"] = {int(k): v for k, v in params["layer_params"].items()}
    if isinstance(params.get("hidden_layer_sizes"), list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return params
