"""Restricted Boltzmann Machines trained with contrastive divergence (CD-k) or persistent CD.

The two public estimators and their unit types: :class:`BernoulliRBM` (binary visible units) and
:class:`GaussianBernoulliRBM` (real-valued visible units). What they share lives in private
modules, one job each: the estimator machinery (:mod:`dbn._rbm_base`), an epoch of training with
its monitoring and convergence check (:mod:`dbn._rbm_trainer`), the conditionals and the free
energy (:mod:`dbn._rbm_math`), the CD step (:mod:`dbn._cd`) and the epoch loop
(:mod:`dbn._training`).

Parameter names follow :class:`sklearn.neural_network.BernoulliRBM` where the two overlap, so a dbn RBM
can replace sklearn's in a ``Pipeline``; scikit-learn's own ``test_rbm.py`` runs on it
(``tests/test_sklearn_rbm_suite.py``).

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

import numpy as np

from ._rbm_base import BaseRBM

__all__ = ["BernoulliRBM", "GaussianBernoulliRBM"]


class BernoulliRBM(BaseRBM):
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
        ``"exponential"``: ``learning_rate * learning_rate_decay ** epoch``; ``"linear"``: down to
        zero over ``n_iter`` epochs. A callable ``schedule(epoch, learning_rate)`` receives the
        0-based epoch and the base learning rate and returns the learning rate (the contract of
        :mod:`dbn._training.schedules`); a one-parameter ``schedule(epoch)`` returning the
        learning rate is deprecated.
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
    init_std : float or "xavier", default=0.01
        Standard deviation of the initial Gaussian weights (Hinton 2010 uses 0.01; Hinton &
        Salakhutdinov 2006 used 0.1). ``"xavier"``: Glorot & Bengio's (2010)
        ``sqrt(2 / (n_visible + n_components))`` (:func:`dbn.init.xavier_std`), the default of
        :class:`dbn.DBN`'s layers.
    monitor_size : int, default=1000
        Number of training examples on which the reconstruction error, pseudo-likelihood and free
        energy are monitored after each epoch.
    centering : bool, default=False
        Train the centred RBM (Montavon & Müller 2012; Melchior, Fischer & Wiskott 2016): each
        update follows the gradient of the parametrisation centred on running means of the data and
        of the hidden activations, which conditions training far better; the model and its
        attributes keep the usual form. See :class:`dbn._cd.ContrastiveDivergence`.
    n_temperatures : int, optional
        Parallel tempering (Desjardins et al. 2010) with this many inverse temperatures, evenly
        spaced from 1 to 0, for the negative phase of persistent CD (needs ``persistent=True``);
        about ``n_temperatures`` times the cost of PCD's negative phase.
    verbose : int or bool, default=0
        From 1 (or True) on, each epoch prints scikit-learn's line on stdout,
        ``[BernoulliRBM] Iteration 1, pseudo-likelihood = -21.03, time = 0.12s``, and a progress
        bar is drawn on stderr when it is a terminal; 2 adds the reconstruction error and the
        free-energy gap to the line (see :mod:`dbn._training.verbose`).
    random_state : int, numpy Generator, RandomState or None
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
    n_iter_ : int
        Completed training epochs (scikit-learn's name; ``n_epochs_`` is a deprecated alias).
    history_ : dict of lists
        One entry per completed epoch: ``epoch`` (counted from 1, as in every dbn estimator),
        ``reconstruction_error``, ``pseudo_likelihood``, ``free_energy_train``,
        ``free_energy_validation``, ``free_energy_gap``, ``learning_rate``, ``momentum`` and
        ``time`` (the epoch's own seconds).

    References
    ----------
    Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence.
    Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the
    likelihood gradient. ICML.
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines.
    Desjardins, G., Courville, A., Bengio, Y., Vincent, P., & Delalleau, O. (2010). Tempered Markov
    chain Monte Carlo for training of restricted Boltzmann machines. AISTATS.
    Montavon, G., & Müller, K.-R. (2012). Deep Boltzmann machines and the centering trick.
    Melchior, J., Fischer, A., & Wiskott, L. (2016). How to center deep Boltzmann machines. JMLR 17.

    Examples
    --------
    >>> import numpy as np
    >>> from dbn import BernoulliRBM
    >>> X = (np.random.default_rng(0).random((200, 16)) < 0.3).astype(np.float32)
    >>> rbm = BernoulliRBM(n_components=8, n_iter=2, batch_size=20, random_state=0).fit(X)
    >>> rbm.transform(X).shape
    (200, 8)
    """


class GaussianBernoulliRBM(BaseRBM):
    """RBM with real-valued Gaussian visible units and binary (or linear) hidden units.

    The energy is ``E(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_ij (v_i / sigma_i) W_ji h_j
    - c.h``. Standardise each feature to zero mean and unit variance first (e.g. with
    ``sklearn.preprocessing.StandardScaler``) and keep ``sigma = 1``, as Hinton (2010, section 13.2)
    advises, or set ``learn_variance=True`` to learn ``log sigma_i^2`` too (Cho, Ilin & Raiko 2011).
    Use a learning rate one or two orders of magnitude below the binary RBM's. With
    ``learn_variance=False``, ``fit`` raises a :class:`dbn.DataRangeWarning` when a feature's
    standard deviation is above 10 (``dbn._validation.STANDARDISED_STD_LIMIT``): on raw
    measurements (prices in the thousands) every hidden unit was constant and nothing was learnt.

    Parameters
    ----------
    n_components : int, default=256
    learn_variance : bool, default=False
        Learn a per-unit variance. Use it with ``sample_visible=True`` or ``persistent=True``: with
        mean-field reconstructions the model term of the variance statistic lacks the visible
        noise, and sigma grows far beyond the data's (measured about 7x in 30 epochs on
        standardised synthetic data, against within 4 % with sampled reconstructions).
    learning_rate : float, default=0.01
        An order of magnitude below the binary RBM's.
    batch_size, n_iter, k, persistent, n_chains, momentum, final_momentum, \
momentum_switch_epoch, weight_decay, sparsity_target, sparsity_cost, sparsity_damping, \
learning_rate_schedule, learning_rate_decay, shuffle, positive_hidden, sample_visible, hidden_unit, \
init_std, monitor_size, verbose, random_state
        As for :class:`BernoulliRBM`.

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

    def __init__(
        self,
        n_components=256,
        *,
        learn_variance=False,
        learning_rate=0.01,
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
        self.learn_variance = learn_variance
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

    def _validate_params(self):
        super()._validate_params()
        if not isinstance(self.learn_variance, bool | np.bool_):
            raise TypeError(f"learn_variance must be True or False, got {self.learn_variance!r}.")

    def _learns_variance(self):
        return bool(self.learn_variance)

    def score_samples(self, X):
        """Negative free energy ``-F(v)`` of each row (unnormalised log-density)."""
        return -self.free_energy(X)
