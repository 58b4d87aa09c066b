"""The CD-k / PCD minibatch step of an RBM, as an object that needs no estimator around it.

:class:`ContrastiveDivergence` holds what one minibatch update needs besides the parameters: the
work buffers and the state of its parts (the persistent chains, the momentum velocities, the
running sparsity activity, the centring offsets). The parameters are plain arrays, updated in
place, so the same object serves the RBM estimators (which own it and the epoch loop) and a
data-parallel worker that runs it on its shard of the data and sends
:meth:`ContrastiveDivergence.statistics` back for averaging.

This module holds the step itself and its state (:meth:`ContrastiveDivergence.get_state`,
:func:`merge_states`); the chains are in :mod:`dbn._cd.samplers`, the update transforms in
:mod:`dbn._cd.transforms`, and the row-partitioned epoch in :mod:`dbn._cd.parallel`. Random numbers
come from the ``numpy.random.Generator`` the caller passes to each call: the object has no random
state of its own, so a checkpoint of the Generator, the parameters and :meth:`get_state` resumes
training bit for bit.

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence. Neural
Computation 14(8).
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the likelihood
gradient. ICML.
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR 2010-003.
Cho, K., Ilin, A., & Raiko, T. (2011). Improved learning of Gaussian-Bernoulli restricted Boltzmann
machines. ICANN.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._kernels import rbm as kernels
from .._validation import check_choice, check_scalar
from . import parallel
from .samplers import ParallelTempering, Units, negative_phase, scaled_visible, start_chains
from .transforms import SHARED_STATE, Centring, Momentum, Sparsity

__all__ = ["PARAMETER_NAMES", "ContrastiveDivergence", "merge_states"]

#: Names of an RBM's parameters, as the estimators call their attributes; ``log_variance_`` only
#: exists for Gaussian visible units with learned variances.
PARAMETER_NAMES = ("components_", "intercept_hidden_", "intercept_visible_", "log_variance_")


class ContrastiveDivergence:
    """One CD-k or persistent-CD update of an RBM's parameters per minibatch.

    Parameters
    ----------
    parameters : dict of str to ndarray
        The RBM's parameters, updated in place: ``"components_"`` the weights ``W`` of shape
        ``(n_hidden, n_visible)``, stored column-major (``np.asfortranarray``) so that ``W.T`` is
        C-contiguous for the GEMMs; ``"intercept_hidden_"`` ``(n_hidden,)``;
        ``"intercept_visible_"`` ``(n_visible,)``; and, to learn the variances of Gaussian visible
        units, ``"log_variance_"`` ``(n_visible,)`` holding ``log sigma_i^2``. All share one float
        dtype (float32 or float64).
    batch_size : int
        Largest minibatch that :meth:`step` and :meth:`statistics` will be given (the buffers are
        sized for it); also the minibatch size of :meth:`run_epoch`.
    visible_unit, hidden_unit : {"bernoulli", "gaussian"}, default="bernoulli"
        Binary units, or linear units with Gaussian noise (standard deviation ``sigma`` for visible
        units, 1 for hidden ones).
    k : int, default=1
        Gibbs steps of the negative phase.
    persistent : bool, default=False
        Run the negative phase from persistent chains (PCD, Tieleman 2008) instead of the data;
        start them with :meth:`start_chains` or :meth:`set_state`.
    n_chains : int, optional
        Number of persistent chains; ``batch_size`` by default.
    positive_hidden : {"probabilities", "samples"}, default="probabilities"
        Hidden states of the data statistics (Hinton 2010, section 3.3).
    sample_visible : bool, default=False
        Sample the final reconstruction of CD instead of using its means (PCD chains and
        intermediate Gibbs steps are always sampled).
    weight_decay : float, default=0.0
        L2 penalty on the weights, not the biases (Hinton 2010, section 10).
    sparsity_target : float, optional
        Target mean activity of the hidden units; ``None`` turns the penalty off.
    sparsity_cost, sparsity_damping : float, default=0.0, 0.9
        Weight of the sparsity penalty and decay of its running activity estimate (Hinton 2010,
        section 11).
    centering : bool, default=False
        Train the centred form of the RBM (Montavon & Müller 2012; Melchior, Fischer & Wiskott
        2016): the gradient is taken with respect to the parameters of
        ``E(v, h) = -(v - mu)^T W^T (h - lambda) - b^T v - c^T h``, whose offsets ``mu`` and
        ``lambda`` follow running means of the data and of the hidden units given the data. The
        model itself is unchanged (the offsets fold into the biases, which stay in the usual form
        in :attr:`parameters`); only the direction of each update differs, which makes training
        far less sensitive to the parametrisation. Binary units only.
    offset_rate : float, default=0.01
        Weight of each minibatch's means in the running offsets (the sliding average of Melchior
        et al. 2016).
    n_temperatures : int, optional
        Parallel tempering (Desjardins, Courville, Bengio, Vincent & Delalleau 2010): besides the
        persistent chains at the model's temperature, ``n_temperatures - 1`` sets of chains run at
        inverse temperatures evenly spaced down to 0 (the uniform distribution), and after each
        minibatch neighbouring temperatures propose to swap their states (even and odd pairs in
        turn), accepted by the Metropolis rule on the hidden units' marginal
        ``p*_beta(h) = exp(beta c.h) prod_i (1 + exp(beta (W^T h + b)_i))``. Hot chains cross
        between modes and hand their states down, so the negative statistics (still taken from the
        ``beta = 1`` chains) mix far better than PCD's. Needs ``persistent=True`` and binary units;
        costs about ``n_temperatures`` times PCD's negative phase.

    Attributes
    ----------
    parameters : dict of str to ndarray
        The arrays given, updated in place.
    velocity : dict of str to ndarray
        Momentum velocity of each parameter (same keys, shapes and layouts).
    chains : ndarray of shape (n_chains, n_hidden) or None
        Hidden states of the persistent chains (PCD only).
    running_activity : ndarray of shape (n_hidden,) or None
        Running estimate of each hidden unit's mean activity (with a sparsity target only).
    tempered_chains : ndarray of shape (n_temperatures - 1, n_chains, n_hidden) or None
        Hidden states of the chains at ``inverse_temperatures[1:]`` (parallel tempering only).
    swap_counts : ndarray of shape (n_temperatures - 1, 2) or None
        Accepted and proposed swaps between temperatures ``m`` and ``m + 1``, per chain.
    visible_offset, hidden_offset : ndarray or None
        The offsets ``mu`` (n_visible,) and ``lambda`` (n_hidden,) of the centred form; set by
        :meth:`start_offsets` or, failing that, from the first minibatch.
    epoch_profile_ : dict of str to ndarray or None
        After a compiled row-partitioned :meth:`run_epoch`, where each thread's time went, in
        seconds per thread: ``"gemm_seconds"``, ``"barrier_seconds"`` (waiting for the other
        threads), ``"elementwise_seconds"`` (the rest: kernels, gathers, updates) and
        ``"total_seconds"``, measured inside the compiled loop. None before one.

    Notes
    -----
    Every method that samples takes ``rng``, a ``numpy.random.Generator``, and draws from it in a
    fixed order: one 64-bit key per layer of binary units sampled (see
    :mod:`dbn._kernels.counter_random`) and standard normal numbers for Gaussian units. The same
    Generator state, parameters and :meth:`get_state` give the same update bit for bit.

    The data and model statistics are stacked row-wise so that the weight gradient is one GEMM,
    and each unit kernel writes its statistics and bias-gradient sums in the pass that computes the
    units (:func:`dbn._kernels.rbm.bernoulli_units_with_statistics`).

    References
    ----------
    Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence.
    Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the
    likelihood gradient.
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines.
    Cho, K., Ilin, A., & Raiko, T. (2011). Improved learning of Gaussian-Bernoulli restricted
    Boltzmann machines.
    Montavon, G., & Müller, K.-R. (2012). Deep Boltzmann machines and the centering trick. Neural
    Networks: Tricks of the Trade, LNCS 7700.
    Melchior, J., Fischer, A., & Wiskott, L. (2016). How to center deep Boltzmann machines. JMLR
    17(99).
    Desjardins, G., Courville, A., Bengio, Y., Vincent, P., & Delalleau, O. (2010). Tempered Markov
    chain Monte Carlo for training of restricted Boltzmann machines. AISTATS.

    Examples
    --------
    Train an RBM without an estimator; the parameters are updated in place.

    >>> import numpy as np
    >>> from dbn._cd import ContrastiveDivergence
    >>> rng = np.random.default_rng(0)
    >>> X = (rng.random((200, 16)) < 0.3).astype(np.float32)
    >>> params = {
    ...     "components_": np.asfortranarray(0.01 * rng.standard_normal((8, 16)), np.float32),
    ...     "intercept_hidden_": np.zeros(8, np.float32),
    ...     "intercept_visible_": np.zeros(16, np.float32),
    ... }
    >>> cd = ContrastiveDivergence(params, batch_size=20, weight_decay=2e-4)
    >>> for epoch in range(3):
    ...     assert cd.run_epoch(X, rng.permutation(200), 0.1, 0.5, rng) == 0
    >>> gradients = cd.statistics(X[:20], rng)  # for averaging elsewhere, then cd.apply(...)
    """

    #: Run the row-partitioned epoch as one compiled call per thread where the platform allows
    #: (:mod:`dbn._kernels.native`): True always, False never (the Python team; the tests compare
    #: the two, which give the same bits), "auto" once it is compiled or cached, or once the
    #: process has run enough minibatches to pay for the compile (:mod:`dbn._cd.parallel`).
    compiled_epoch = "auto"

    def __init__(
        self,
        parameters,
        *,
        batch_size,
        visible_unit="bernoulli",
        hidden_unit="bernoulli",
        k=1,
        persistent=False,
        n_chains=None,
        positive_hidden="probabilities",
        sample_visible=False,
        weight_decay=0.0,
        sparsity_target=None,
        sparsity_cost=0.0,
        sparsity_damping=0.9,
        centering=False,
        offset_rate=0.01,
        n_temperatures=None,
    ):
        I, R = numbers.Integral, numbers.Real
        check_scalar(batch_size, "batch_size", kind=I, low=1)
        check_scalar(k, "k", kind=I, low=1)
        check_choice(visible_unit, "visible_unit", ("bernoulli", "gaussian"))
        check_choice(hidden_unit, "hidden_unit", ("bernoulli", "gaussian"))
        check_choice(positive_hidden, "positive_hidden", ("probabilities", "samples"))
        if n_chains is not None:
            check_scalar(n_chains, "n_chains", kind=I, low=1)
        check_scalar(weight_decay, "weight_decay", kind=R, low=0)
        check_scalar(sparsity_cost, "sparsity_cost", kind=R, low=0)
        if not isinstance(centering, bool | np.bool_):
            raise TypeError(f"centering must be True or False, got {centering!r}.")
        check_scalar(offset_rate, "offset_rate", kind=R, low=0, high=1, low_inclusive=False)
        if centering and (visible_unit != "bernoulli" or hidden_unit != "bernoulli"):
            raise ValueError(
                "centering=True needs binary visible and hidden units (Melchior et al. 2016), got "
                f"visible_unit={visible_unit!r}, hidden_unit={hidden_unit!r}."
            )
        if n_temperatures is not None:
            check_scalar(n_temperatures, "n_temperatures", kind=I, low=2)
            if not persistent or visible_unit != "bernoulli" or hidden_unit != "bernoulli":
                raise ValueError(
                    "n_temperatures (parallel tempering) needs persistent=True and binary visible "
                    f"and hidden units, got persistent={persistent!r}, visible_unit="
                    f"{visible_unit!r}, hidden_unit={hidden_unit!r}."
                )
        self.parameters = _check_parameters(parameters, visible_unit)
        self.batch_size = int(batch_size)
        self.visible_unit = visible_unit
        self.hidden_unit = hidden_unit
        self.k = int(k)
        self.persistent = bool(persistent)
        self.n_chains = (int(n_chains) if n_chains else self.batch_size) if persistent else None
        self.positive_hidden = positive_hidden
        self.sample_visible = bool(sample_visible)
        self.centering = bool(centering)
        self.learns_variance = "log_variance_" in self.parameters
        self.n_temperatures = None if n_temperatures is None else int(n_temperatures)
        # The parts of the step hold their settings; their state is kept here, for get_state.
        self._units = Units(self.parameters, visible_unit, hidden_unit)
        self._momentum = Momentum(weight_decay)
        self._sparsity = Sparsity(sparsity_target, sparsity_cost, sparsity_damping)
        self._centring = Centring(offset_rate)
        self._tempering = None if n_temperatures is None else ParallelTempering(n_temperatures)
        self.velocity = self._momentum.init(self.parameters)
        self.chains = None
        H = self.parameters["components_"].shape[0]
        self.running_activity = self._sparsity.init(H, self.dtype)
        self.visible_offset, self.hidden_offset = self._centring.init()
        self.tempered_chains = self.swap_counts = None
        self._swap_parity = 0
        self._buffers = None
        self.epoch_profile_ = None

    # ------------------------------------------------------------------ public
    @property
    def dtype(self):
        """Float dtype of the parameters (and of every array the step works on)."""
        return self.parameters["components_"].dtype

    # The settings of the update transforms, read where they are kept.
    weight_decay = property(lambda self: self._momentum.weight_decay)
    sparsity_target = property(lambda self: self._sparsity.target)
    sparsity_cost = property(lambda self: self._sparsity.cost)
    sparsity_damping = property(lambda self: self._sparsity.damping)
    offset_rate = property(lambda self: self._centring.offset_rate)

    @property
    def inverse_temperatures(self):
        """Inverse temperatures of the chains, ``1 = beta_0 > ... > beta_(M-1) = 0`` (parallel
        tempering only, else None); the ``beta = 1`` chains are :attr:`chains`, the others
        :attr:`tempered_chains`."""
        return None if self._tempering is None else self._tempering.inverse_temperatures

    def start_chains(self, X, rng):
        """Start the persistent chains from the hidden samples of ``n_chains`` random rows of ``X``.

        Rows are drawn without replacement unless ``X`` has fewer rows than chains.
        """
        self.chains = start_chains(
            X, self.n_chains or self.batch_size, self._units, rng, self.dtype
        )
        if self._tempering is not None:
            self.tempered_chains, self.swap_counts = self._tempering.init(self.chains)

    def start_offsets(self, X, *, visible_mean=None):
        """Start the centring offsets: ``mu`` the mean of ``X``, ``lambda`` the mean hidden
        activation of its first :data:`~dbn._cd.OFFSET_ROWS` rows under the current parameters.

        ``visible_mean`` gives ``mu`` when ``X`` holds only the first rows of the data (a driver
        that reads the data in chunks, :func:`dbn.out_of_core.pretrain_out_of_core`).
        """
        if not self.centering:
            raise RuntimeError("start_offsets needs centering=True.")
        self.visible_offset, self.hidden_offset = self._centring.start(
            X, self.parameters, visible_mean=visible_mean
        )

    def step(self, v0, learning_rate, momentum, rng):
        """One CD-k / PCD update of the parameters on the minibatch ``v0``.

        Parameters
        ----------
        v0 : ndarray of shape (b, n_visible), b <= batch_size
            The minibatch, in the parameters' dtype.
        learning_rate, momentum : float
        rng : numpy.random.Generator

        Returns
        -------
        finite : bool
            False if a parameter became NaN or inf (the step diverged).
        """
        self._ensure_buffers()
        with np.errstate(over="ignore", invalid="ignore"):
            self._statistics(self._check_minibatch(v0), rng)
            return self._apply_buffers(learning_rate, momentum)

    def statistics(self, v0, rng):
        """The CD statistics of the minibatch ``v0`` without applying them.

        They are the log-likelihood ascent directions of :meth:`step` before weight decay and
        momentum (the sparsity penalty included): ``<v h>_data - <v h>_model`` for the weights and
        the corresponding bias (and log-variance) terms. Computing them advances ``rng``, the
        persistent chains and the running sparsity activity exactly as :meth:`step` does, so
        ``apply(statistics(v0, rng), lr, momentum)`` equals ``step(v0, lr, momentum, rng)`` bit
        for bit.

        Returns
        -------
        gradients : dict of str to ndarray
            Fresh arrays keyed and shaped like :attr:`parameters` (``"components_"`` column-major);
            average them across workers and pass the result to :meth:`apply`. With centring, also
            ``"data_mean_visible"`` and ``"data_mean_hidden"``, the minibatch means that move the
            offsets (the centred direction itself is formed in :meth:`apply`).
        """
        self._ensure_buffers()
        with np.errstate(over="ignore", invalid="ignore"):
            self._statistics(self._check_minibatch(v0), rng)
        buf = self._buffers
        gradients = {
            "components_": buf["grad_W_t"].T.copy(order="F"),
            "intercept_hidden_": buf["grad_hidden"].copy(),
            "intercept_visible_": buf["grad_visible"].copy(),
        }
        if self.learns_variance:
            gradients["log_variance_"] = buf["grad_log_var"].copy()
        if self.centering:
            gradients["data_mean_visible"] = buf["data_mean_visible"].copy()
            gradients["data_mean_hidden"] = buf["data_mean_hidden"].copy()
        return gradients

    def apply(self, gradients, learning_rate, momentum):
        """Momentum ascent step with the given statistics (e.g. averaged :meth:`statistics`).

        ``velocity = momentum * velocity + learning_rate * (gradient - weight_decay * W)`` and
        ``parameter += velocity``; weight decay applies to the weights only.

        Returns
        -------
        finite : bool
            False if a parameter became NaN or inf.
        """
        missing = sorted(set(self.parameters) - set(gradients))
        if missing:
            raise ValueError(
                f"gradients must hold an array for each parameter {sorted(self.parameters)}; "
                f"missing {missing}."
            )
        dtype = self.dtype
        converted = {}
        for name, param in self.parameters.items():
            g = np.asarray(gradients[name])
            if g.shape != param.shape:
                raise ValueError(
                    f"gradients[{name!r}] must have shape {param.shape}, got {g.shape}."
                )
            converted[name] = (
                np.asfortranarray(g, dtype=dtype) if g.ndim == 2 else g.astype(dtype, copy=False)
            )
        data_means = None
        if self.centering:
            try:
                data_means = (
                    np.asarray(gradients["data_mean_visible"], dtype=dtype),
                    np.asarray(gradients["data_mean_hidden"], dtype=dtype),
                )
            except KeyError as missing_mean:
                raise ValueError(
                    f"with centering=True, gradients must hold {missing_mean} (from statistics)."
                ) from None
            # The centred direction is formed in place: never in the caller's array.
            converted["components_"] = np.array(converted["components_"], order="F", copy=True)
        with np.errstate(over="ignore", invalid="ignore"):
            converted["components_"] = converted["components_"].T
            converted.setdefault("log_variance_", None)
            return self._apply(converted, learning_rate, momentum, data_means)

    def run_epoch(self, X, order, learning_rate, momentum, rng):
        """:meth:`step` over the rows of ``X`` in minibatches of ``batch_size``, in ``order``.

        Parameters
        ----------
        X : ndarray or scipy.sparse matrix of shape (n_samples, n_visible)
            In the parameters' dtype.
        order : ndarray of int
            Row indices of ``X``, minibatch after minibatch (the last one may be smaller).
        learning_rate, momentum : float
        rng : numpy.random.Generator

        Returns
        -------
        diverged_at : int
            0 if every update kept the parameters finite, else the 1-based number of the minibatch
            whose update did not (the epoch stops there).
        """
        self._ensure_buffers()
        if X.dtype != self.dtype:
            raise TypeError(f"X has dtype {X.dtype}, but the parameters are {self.dtype}.")
        if self._by_rows_applies(X):
            diverged_at, profile = parallel.run_epoch_by_rows(
                self, X, order, learning_rate, momentum, rng, self._team_size()
            )
            if profile is not None:
                self.epoch_profile_ = profile
            return diverged_at
        batch = self.batch_size
        # Overflow is detected by the update kernel and reported through the return value.
        with np.errstate(over="ignore", invalid="ignore"):
            for number, start in enumerate(range(0, order.shape[0], batch), 1):
                self._statistics(self._gather(X, order[start : start + batch]), rng, True)
                if not self._apply_buffers(learning_rate, momentum):
                    return number
        return 0

    def _by_rows_applies(self, X):
        """Whether :meth:`run_epoch` can take the row-partitioned path
        (:func:`dbn._cd.parallel.run_epoch_by_rows`).

        It covers binary units on dense data, CD-k and PCD; learned variances, tempering, the
        sparsity penalty and centring need whole-minibatch reductions between the phases and keep
        the serial step.
        """
        return (
            isinstance(X, np.ndarray)
            and X.ndim == 2
            and self.visible_unit == "bernoulli"
            and self.hidden_unit == "bernoulli"
            and not self.centering
            and self.n_temperatures is None
            and not self._sparsity.active
        )

    def _team_size(self):
        """Threads of the row-partitioned epoch (:func:`dbn._cd.parallel.team_size`)."""
        rows = min(self.batch_size, self.n_chains or self.batch_size)
        return parallel.team_size(self.parameters["components_"].shape, rows)

    # ------------------------------------------------------------------ state
    def get_state(self):
        """Copies of the training state besides the parameters and the Generator.

        Returns
        -------
        state : dict of str to ndarray
            ``"velocity_<name>"`` for each parameter, ``"persistent_chains_"`` (PCD) and
            ``"running_activity_"`` (with a sparsity target), ``"visible_offset_"`` and
            ``"hidden_offset_"`` (centring), ``"tempered_chains_"``, ``"swap_counts_"`` and
            ``"swap_parity_"`` (parallel tempering): the names dbn's model files use.
        """
        state = self._momentum.get_state(self.velocity)
        if self.chains is not None:
            state["persistent_chains_"] = self.chains.copy()
        state.update(self._sparsity.get_state(self.running_activity))
        state.update(self.shared_state())
        if self._tempering is not None:
            state.update(
                self._tempering.get_state(self.tempered_chains, self.swap_counts, self._swap_parity)
            )
        return state

    def shared_state(self):
        """Copies of the :data:`~dbn._cd.SHARED_STATE` entries of :meth:`get_state` (none before
        centring starts): what data-parallel workers average with the parameters."""
        return self._centring.get_state((self.visible_offset, self.hidden_offset))

    def set_shared_state(self, shared):
        """Take the :data:`~dbn._cd.SHARED_STATE` entries of ``shared`` (e.g. the workers'
        average), leaving the rest of the state (velocities, chains, sparsity activity) as it is."""
        if "visible_offset_" in shared:
            self.visible_offset = np.array(shared["visible_offset_"], dtype=self.dtype)
            self.hidden_offset = np.array(shared["hidden_offset_"], dtype=self.dtype)

    def set_state(self, state):
        """Restore what :meth:`get_state` returned; missing velocities count as zero."""
        self._momentum.set_state(self.velocity, state)
        H, V = self.parameters["components_"].shape
        chains = state.get("persistent_chains_")
        if chains is not None:
            if np.ndim(chains) != 2 or np.shape(chains)[1] != H:
                raise ValueError(
                    f"state['persistent_chains_'] must have shape (n_chains, {H}), got "
                    f"{np.shape(chains)}."
                )
            chains = np.array(chains, dtype=self.dtype)
            if self.persistent and chains.shape[0] != self.n_chains:
                self.n_chains = chains.shape[0]
                self._buffers = None  # sized for the chains
        self.chains = chains
        self.running_activity = self._sparsity.set_state(state, H, self.dtype)
        self.visible_offset, self.hidden_offset = self._centring.set_state(
            state, (self.visible_offset, self.hidden_offset), (V, H), self.dtype
        )
        if self._tempering is not None:
            current = self.tempered_chains, self.swap_counts, self._swap_parity
            self.tempered_chains, self.swap_counts, self._swap_parity = self._tempering.set_state(
                state, self.chains, current, self.dtype
            )

    # ------------------------------------------------------------------ buffers and minibatches
    def _ensure_buffers(self):
        if self._buffers is not None:
            return
        if self.persistent and self.chains is None:
            raise RuntimeError(
                "The persistent chains are not started: call start_chains(X, rng) or set_state() "
                "before the first step of persistent CD."
            )
        dtype = self.dtype
        H, V = self.parameters["components_"].shape
        B = self.batch_size
        C = self.n_chains if self.persistent else B
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
            "top_down": empty((B, V), dtype) if self.learns_variance else None,
            "ones_hidden": np.ones(H, dtype),
            "ones_visible": np.ones(V, dtype),
            "data_mean_visible": empty(V, dtype),
            "data_mean_hidden": empty(H, dtype),
        }

    def _check_minibatch(self, v0):
        n_visible = self.parameters["components_"].shape[1]
        if v0.ndim != 2 or v0.shape[1] != n_visible or not 1 <= v0.shape[0] <= self.batch_size:
            raise ValueError(
                f"v0 must be a minibatch of shape (b, {n_visible}) with 1 <= b <= batch_size="
                f"{self.batch_size}, got shape {v0.shape}."
            )
        if v0.dtype != self.dtype:
            raise TypeError(f"v0 has dtype {v0.dtype}, but the parameters are {self.dtype}.")
        return v0

    def _gather(self, X, rows):
        """Minibatch ``X[rows]`` into the data block of the stacked visible statistics (or into
        the ``v0`` buffer when learned variances rescale it), and the data's column means into the
        visible-bias gradient."""
        b = rows.shape[0]
        buf = self._buffers
        out = buf["v0"][:b] if self.learns_variance else buf["stacked_visible"][:b]
        if hasattr(X, "tocsr"):
            out[...] = X[rows].toarray()
            np.mean(out, axis=0, out=buf["grad_visible"])
        else:
            kernels.gather_rows_with_column_mean(X, rows, out, buf["grad_visible"])
        return out

    # ------------------------------------------------------------------ the step
    def _statistics(self, v0, rng, data_mean_ready=False):
        """Write the CD statistics of ``v0`` into the gradient buffers.

        ``data_mean_ready`` says that :meth:`_gather` already put ``v0``'s column means into the
        visible-bias gradient buffer (and ``v0`` itself into the stacked statistics).
        """
        buf = self._buffers
        params = self.parameters
        W_t = params["components_"].T  # (V, H), C-contiguous: components_ is column-major
        dtype = W_t.dtype.type
        b = v0.shape[0]
        sigma = self._units.sigma()
        # Data and model statistics are stacked row-wise, so the weight gradient is one GEMM:
        # grad_W.T = [v_data; v_model].T @ [h_data / b; -h_model / c]. Each unit kernel writes its
        # block of the stack and adds its column sums to the bias gradient as it goes.
        stacked_h, stacked_v = buf["stacked_hidden"], buf["stacked_visible"]
        grad_hidden, grad_visible = buf["grad_hidden"], buf["grad_visible"]
        if not data_mean_ready:
            np.mean(v0, axis=0, out=grad_visible)
        v0_in = scaled_visible(v0, sigma, stacked_v[:b])
        # Positive phase: hidden means given the data, plus samples to start the chain.
        h_pre = buf["hidden_pre"][:b]
        np.matmul(v0_in, W_t, out=h_pre)
        h_mean, h_state = buf["hidden_mean"][:b], buf["hidden_state"][:b]
        grad_hidden[:] = 0
        self._units.with_statistics(
            "hidden",
            h_pre,
            h_mean,
            h_state,
            rng,
            buf,
            sample=True,
            statistic_is_sample=self.positive_hidden == "samples",
            statistic_out=stacked_h[:b],
            statistic_scale=dtype(1.0 / b),
            column_sum=grad_hidden,
            column_scale=dtype(1.0 / b),
        )
        if self.centering:
            buf["data_mean_visible"][...] = grad_visible
            buf["data_mean_hidden"][...] = grad_hidden
        if sigma is not None:
            grad_visible[:] = 0
            buf["grad_log_var"][:] = 0
            top_down = buf["top_down"][:b]
            np.matmul(h_mean, W_t.T, out=top_down)
            kernels.gaussian_visible_statistics(
                v0, params["intercept_visible_"], sigma, top_down, grad_visible,
                buf["grad_log_var"], 1.0,
            )  # fmt: skip
        if self._tempering is not None:
            self._swap_parity = self._tempering.sweep(
                params, self.chains, self.tempered_chains, self.swap_counts, self._swap_parity,
                self.k, rng,
            )  # fmt: skip
        # Negative phase: k Gibbs steps from the data (CD) or from the persistent chains (PCD).
        chain = self.chains if self.persistent else h_state
        v_neg, v_pre = negative_phase(
            self._units, chain, buf, b, k=self.k, persistent=self.persistent,
            sample_visible=self.sample_visible, rng=rng,
        )  # fmt: skip
        if sigma is not None:
            kernels.gaussian_visible_statistics(
                v_neg, params["intercept_visible_"], sigma, v_pre, grad_visible,
                buf["grad_log_var"], -1.0,
            )  # fmt: skip
        c = chain.shape[0]
        np.matmul(stacked_v[: b + c].T, stacked_h[: b + c], out=buf["grad_W_t"])
        if self._sparsity.active:
            self.running_activity = self._sparsity.update(
                self.running_activity, h_mean, v0_in, self._gradient_buffers(), buf["sparsity"]
            )

    def _gradient_buffers(self):
        """The gradient buffers, keyed like the parameters (the weights' transposed)."""
        buf = self._buffers
        return {
            "components_": buf["grad_W_t"],
            "intercept_hidden_": buf["grad_hidden"],
            "intercept_visible_": buf["grad_visible"],
            "log_variance_": buf["grad_log_var"] if self.learns_variance else None,
        }

    def _apply_buffers(self, learning_rate, momentum):
        buf = self._buffers
        data_means = (buf["data_mean_visible"], buf["data_mean_hidden"])
        return self._apply(
            self._gradient_buffers(),
            learning_rate,
            momentum,
            data_means if self.centering else None,
        )

    def _apply(self, gradients, learning_rate, momentum, data_means=None):
        """The update transforms on ``gradients`` (weights transposed, changed in place): the
        centred direction, then the momentum step, then the centring's fold into the biases."""
        if self.centering:
            offsets = self._centring.centre(
                (self.visible_offset, self.hidden_offset), data_means, gradients
            )
            self.visible_offset, self.hidden_offset = offsets
        finite = self._momentum.update(
            self.velocity, self.parameters, gradients, learning_rate, momentum
        )
        if self.centering:
            finite &= self._centring.update(offsets, self.parameters, self.velocity, data_means)
        return finite


def merge_states(states, weights):
    """One CD state from the :meth:`ContrastiveDivergence.get_state` of data-parallel workers.

    What a driver hands the estimator after training on several workers, so that the model holds
    the state an in-process fit would: velocities, running sparsity activity and centring offsets
    are the ``weights``-weighted means (with one step per round, the velocity of the combined
    minibatch, the update being linear in the statistics); persistent and tempered chains are
    concatenated (every worker's chains sample the same model, and the default chains of a worker
    are its share of the combined minibatch); swap counts are summed; the swap parity, the same
    on every worker, is the first's.

    Parameters
    ----------
    states : list of dict of str to ndarray
        The workers' states, all with the same entries.
    weights : sequence of float
        Weight of each worker in the means (rows trained on, say).

    Returns
    -------
    state : dict of str to ndarray
        For :meth:`ContrastiveDivergence.set_state`.
    """
    names = set(states[0])
    if any(set(state) != names for state in states):
        raise ValueError("merge_states needs states with the same entries from every worker.")
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    merged = {}
    for name in states[0]:
        values = [np.asarray(state[name]) for state in states]
        if name.startswith("velocity_") or name in ("running_activity_", *SHARED_STATE):
            mean = sum(w * v.astype(np.float64) for w, v in zip(weights, values, strict=True))
            merged[name] = np.asarray(mean / total, dtype=values[0].dtype)
        elif name == "persistent_chains_":
            merged[name] = np.concatenate(values, axis=0)
        elif name == "tempered_chains_":
            merged[name] = np.concatenate(values, axis=1)
        elif name == "swap_counts_":
            merged[name] = sum(values[1:], values[0].copy())
        elif name == "swap_parity_":
            merged[name] = values[0].copy()
        else:
            # A new entry of get_state must say here how workers' copies combine.
            raise ValueError(f"merge_states does not know how to merge the CD state {name!r}.")
    return merged


def _check_parameters(parameters, visible_unit):
    if not isinstance(parameters, dict):
        raise TypeError(
            f"parameters must be a dict of arrays keyed by {PARAMETER_NAMES}, got "
            f"{type(parameters).__name__}."
        )
    unknown = sorted(set(parameters) - set(PARAMETER_NAMES))
    missing = sorted(set(PARAMETER_NAMES[:3]) - set(parameters))
    if unknown or missing:
        raise ValueError(
            f"parameters must hold components_, intercept_hidden_, intercept_visible_ and "
            f"optionally log_variance_; missing {missing}, unknown {unknown}."
        )
    W = parameters["components_"]
    if not isinstance(W, np.ndarray) or W.ndim != 2 or W.dtype not in (np.float32, np.float64):
        raise ValueError(
            "parameters['components_'] must be a 2-D float32 or float64 ndarray, got "
            f"{getattr(W, 'dtype', type(W).__name__)} of shape {np.shape(W)}."
        )
    if not W.flags.f_contiguous:
        raise ValueError(
            "parameters['components_'] must be column-major (np.asfortranarray), so that its "
            "transpose is C-contiguous for the GEMMs; got an array that is not F-contiguous."
        )
    n_hidden, n_visible = W.shape
    shapes = {
        "intercept_hidden_": (n_hidden,),
        "intercept_visible_": (n_visible,),
        "log_variance_": (n_visible,),
    }
    for name, shape in shapes.items():
        if name not in parameters:
            continue
        p = parameters[name]
        if not isinstance(p, np.ndarray) or p.shape != shape or p.dtype != W.dtype:
            raise ValueError(
                f"parameters[{name!r}] must be an ndarray of shape {shape} and dtype {W.dtype}, "
                f"got {getattr(p, 'dtype', type(p).__name__)} of shape {np.shape(p)}."
            )
    if "log_variance_" in parameters and visible_unit != "gaussian":
        raise ValueError(
            "parameters['log_variance_'] (learned variances) needs visible_unit='gaussian', got "
            f"visible_unit={visible_unit!r}."
        )
    return dict(parameters)
