"""The CD-k / PCD minibatch step of an RBM, as an object that needs no estimator around it.

:class:`ContrastiveDivergence` holds what one minibatch update needs besides the parameters: the
work buffers, the persistent chains, the momentum velocities and the running sparsity activity. The
parameters are plain arrays, updated in place, so the same object serves the RBM estimators (which
own it and the epoch loop) and a data-parallel worker that runs it on its shard of the data and
sends :meth:`ContrastiveDivergence.statistics` back for averaging.

The element-wise work is in :mod:`dbn._kernels.rbm`; the GEMMs go through numpy's BLAS. Random
numbers come from the ``numpy.random.Generator`` the caller passes to each call: the object has no
random state of its own, so a checkpoint of the Generator, the parameters and :meth:`get_state`
resumes training bit for bit.

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

import contextlib
import numbers

import numpy as np

from ._kernels import native as native_kernels
from ._kernels import rbm as kernels
from ._kernels.cd_epoch import cd_epoch_rows
from ._kernels.counter_random import draw_key
from ._kernels.native import native_functions
from ._threads import Team, blas_threads, single_threaded_blas
from ._validation import check_choice, check_scalar

__all__ = [
    "OFFSET_ROWS",
    "PARAMETER_NAMES",
    "SHARED_STATE",
    "ContrastiveDivergence",
    "hidden_units",
    "merge_states",
    "visible_units",
]

#: Names of an RBM's parameters, as the estimators call their attributes; ``log_variance_`` only
#: exists for Gaussian visible units with learned variances.
PARAMETER_NAMES = ("components_", "intercept_hidden_", "intercept_visible_", "log_variance_")

#: Rows of the data whose mean hidden activation starts the hidden offset of the centred form.
OFFSET_ROWS = 1000

#: Entries of :meth:`ContrastiveDivergence.get_state` that data-parallel workers must share: the
#: direction of every update depends on them (the centred gradient), so a driver averages them with
#: the parameters after every round (:meth:`ContrastiveDivergence.shared_state`).
SHARED_STATE = ("visible_offset_", "hidden_offset_")

# Key passed to a sampling kernel that does not sample (a placeholder of the right type).
_NO_KEY = np.uint64(0)

# The row-partitioned epoch: the smallest model and row block worth a thread, and the size of the
# weight-gradient chunk that is applied while in cache: half of a Zen 4/5 core's 1 MiB L2, two
# chunks per thread for MNIST's 784 x 500 at 2 threads (128 KiB chunks, 12 GEMM + kernel calls per
# minibatch, were slower at 1 thread: the Python calls cost more than the cache saved).
_MIN_WEIGHTS_FOR_THREADS = 1 << 16
_MIN_ROWS_PER_THREAD = 8
_GRADIENT_CHUNK_BYTES = 1 << 19
# Minibatches per compiled call of the row-partitioned epoch: about 0.2 s at MNIST's size.
_MINIBATCHES_PER_CALL = 100


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
    #: (:mod:`dbn._kernels.native`); False keeps the Python team (the tests compare the two).
    compiled_epoch = True

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
        self.weight_decay = weight_decay
        self.sparsity_target = sparsity_target
        self.sparsity_cost = sparsity_cost
        self.sparsity_damping = sparsity_damping
        self.centering = bool(centering)
        self.offset_rate = float(offset_rate)
        self.learns_variance = "log_variance_" in self.parameters
        self.velocity = {name: np.zeros_like(p) for name, p in self.parameters.items()}
        self.chains = None
        W = self.parameters["components_"]
        self.running_activity = (
            None if sparsity_target is None else np.full(W.shape[0], sparsity_target, W.dtype)
        )
        self.visible_offset = self.hidden_offset = None
        # Parallel tempering: inverse temperatures 1 = beta_0 > ... > beta_(M-1) = 0, evenly spaced;
        # the chains at beta < 1 live in tempered_chains, the beta = 1 chains in chains.
        self.n_temperatures = None if n_temperatures is None else int(n_temperatures)
        self.inverse_temperatures = (
            None if n_temperatures is None else np.linspace(1.0, 0.0, self.n_temperatures)
        )
        self.tempered_chains = None
        self.swap_counts = None
        self._swap_parity = 0
        self._buffers = None
        self.epoch_profile_ = None

    # ------------------------------------------------------------------ public
    @property
    def dtype(self):
        """Float dtype of the parameters (and of every array the step works on)."""
        return self.parameters["components_"].dtype

    def start_chains(self, X, rng):
        """Start the persistent chains from the hidden samples of ``n_chains`` random rows of ``X``.

        Rows are drawn without replacement unless ``X`` has fewer rows than chains.
        """
        n_chains = self.n_chains or self.batch_size
        rows = rng.choice(X.shape[0], size=n_chains, replace=n_chains > X.shape[0])
        v = dense_rows(X, rows, self.dtype)
        sigma = self._sigma()
        if sigma is not None:
            v = v / sigma
        # The layout and product the estimator's conditionals use, so the chains match them.
        pre = v @ np.ascontiguousarray(self.parameters["components_"].T)
        state = np.empty_like(pre)
        hidden_units(
            pre,
            self.parameters["intercept_hidden_"],
            self.hidden_unit,
            rng,
            pre,
            state,
            sample=True,
        )
        self.chains = state
        if self.n_temperatures is not None:
            self.tempered_chains = np.repeat(state[None], self.n_temperatures - 1, axis=0)
            self.swap_counts = np.zeros((self.n_temperatures - 1, 2), dtype=np.int64)

    def start_offsets(self, X, *, visible_mean=None):
        """Start the centring offsets: ``mu`` the mean of ``X``, ``lambda`` the mean hidden
        activation of its first :data:`OFFSET_ROWS` rows under the current parameters.

        ``visible_mean`` gives ``mu`` when ``X`` holds only the first rows of the data (a driver
        that reads the data in chunks, :func:`dbn.dask.pretrain_out_of_core`).
        """
        if not self.centering:
            raise RuntimeError("start_offsets needs centering=True.")
        if visible_mean is None:
            visible_mean = X.mean(axis=0)
        mean = np.asarray(visible_mean, dtype=np.float64).ravel()
        v = dense_rows(X, np.arange(min(X.shape[0], OFFSET_ROWS)), self.dtype)
        pre = v @ np.ascontiguousarray(self.parameters["components_"].T)
        hidden_units(
            pre, self.parameters["intercept_hidden_"], "bernoulli", None, pre, pre, sample=False
        )
        self.visible_offset = mean.astype(self.dtype)
        self.hidden_offset = pre.mean(axis=0).astype(self.dtype)

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
            return self._apply(
                converted["components_"].T,
                converted["intercept_hidden_"],
                converted["intercept_visible_"],
                converted.get("log_variance_"),
                learning_rate,
                momentum,
                data_means,
            )

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
            return self._run_epoch_by_rows(X, order, learning_rate, momentum, rng)
        batch = self.batch_size
        # Overflow is detected by the update kernel and reported through the return value.
        with np.errstate(over="ignore", invalid="ignore"):
            for number, start in enumerate(range(0, order.shape[0], batch), 1):
                self._statistics(self._gather(X, order[start : start + batch]), rng, True)
                if not self._apply_buffers(learning_rate, momentum):
                    return number
        return 0

    # ------------------------------------------------------------------ the row-partitioned epoch
    def _by_rows_applies(self, X):
        """Whether :meth:`run_epoch` can take the row-partitioned path (:meth:`_run_epoch_by_rows`).

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
            and not (self.sparsity_target is not None and self.sparsity_cost > 0)
        )

    def _team_size(self):
        H, V = self.parameters["components_"].shape
        rows = min(self.batch_size, self.n_chains or self.batch_size)
        # A barrier costs tens of microseconds: small models or thin row blocks are not worth one.
        if H * V < _MIN_WEIGHTS_FOR_THREADS or rows < 2 * _MIN_ROWS_PER_THREAD:
            return 1
        return max(1, min(blas_threads(), rows // _MIN_ROWS_PER_THREAD, V // 16))

    def _run_epoch_by_rows(self, X, order, learning_rate, momentum, rng):
        """:meth:`run_epoch` with the minibatch step split between a team of threads.

        Phase 1: each thread gathers its rows of the minibatch (and its persistent chains), runs
        their Gibbs chain with single-threaded GEMMs and writes their statistics into its rows of
        the stacked blocks. Phase 2, after a barrier: each thread owns a block of rows of ``W.T``
        (and of the bias columns); it computes the weight gradient of its block chunk by chunk
        straight into a small buffer and applies the momentum step while that chunk is still in
        cache, so the full gradient never travels through memory (the GEMM-with-beta numpy does not
        have, written as GEMM + one fused pass). A second barrier ends the minibatch.

        Where :func:`dbn._kernels.native.native_functions` finds numpy's CBLAS and a POSIX mutex
        (Linux, macOS), each thread runs the whole epoch as one compiled call
        (:meth:`_run_compiled_epoch`); otherwise the threads run the loop below in Python.

        Every element is computed by one thread, in the same order for any team size, and the
        uniform numbers are indexed by the row of the whole minibatch; the random keys are those
        the serial step draws, in the same order. Results depend on the team size only through
        the BLAS, whose float32 products can round differently for different row blocks (as they
        already do between OpenBLAS's own 1- and 2-thread runs).
        """
        buf = self._buffers
        params, velocity = self.parameters, self.velocity
        W_t, vel_W_t = params["components_"].T, velocity["components_"].T  # (V, H), C-contiguous
        b_vis, c_hid = params["intercept_visible_"], params["intercept_hidden_"]
        vel_b, vel_c = velocity["intercept_visible_"], velocity["intercept_hidden_"]
        dtype = W_t.dtype.type
        V, H = W_t.shape
        lr, mom, decay = dtype(learning_rate), dtype(momentum), dtype(self.weight_decay)
        batch, k, persistent = self.batch_size, self.k, self.persistent
        starts = range(0, order.shape[0], batch)
        # The keys the serial step draws, in its order: positive hidden, then per Gibbs step the
        # visible (if sampled) and the hidden (if the chain goes on) layers. Drawn up front; the
        # Generator is rewound and advanced exactly if the epoch stops early.
        sample_v = [persistent or s < k - 1 or self.sample_visible for s in range(k)]
        keep = [persistent or s < k - 1 for s in range(k)]
        key_index = []
        n_keys = 1
        for s in range(k):
            iv = n_keys if sample_v[s] else -1
            n_keys += sample_v[s]
            ih = n_keys if keep[s] else -1
            n_keys += keep[s]
            key_index.append((iv, ih))
        saved_rng = rng.bit_generator.state
        keys = rng.bit_generator.random_raw(len(starts) * n_keys).reshape(len(starts), n_keys)
        positive_is_sample = self.positive_hidden == "samples"
        stacked_h, stacked_v = buf["stacked_hidden"], buf["stacked_visible"]
        h_state, v_pre_all = buf["hidden_state"], buf["visible_pre"]
        v_state_all, h_pre_model = buf["visible_state"], buf["hidden_mean_model"]
        grad_visible, grad_hidden = buf["grad_visible"], buf["grad_hidden"]
        team = Team(self._team_size())
        n = team.n
        chunk = max(1, _GRADIENT_CHUNK_BYTES // (H * W_t.itemsize))
        chunk_buffers = [np.empty((min(chunk, V), H), W_t.dtype) for _ in range(n)]
        native = native_functions() if self.compiled_epoch else None
        if native is not None:
            diverged_at = self._run_compiled_epoch(
                native, team, X, order, keys, key_index, sample_v, keep, chunk_buffers,
                learning_rate=lr, momentum=mom, weight_decay=decay,
            )  # fmt: skip
            if diverged_at:
                rng.bit_generator.state = saved_rng
                rng.bit_generator.random_raw(diverged_at * n_keys)
            return diverged_at
        v_bounds = [V * t // n for t in range(n + 1)]
        h_bounds = [H * t // n for t in range(n + 1)]
        finite = [True] * n

        def work_unguarded(t):
            i0, i1, j0, j1 = v_bounds[t], v_bounds[t + 1], h_bounds[t], h_bounds[t + 1]
            gradient = chunk_buffers[t]
            for number, start in enumerate(starts, 1):
                rows = order[start : start + batch]
                key = keys[number - 1]
                b = rows.shape[0]
                chain = self.chains if persistent else h_state[:b]
                c = chain.shape[0]
                r0, r1 = b * t // n, b * (t + 1) // n
                q0, q1 = c * t // n, c * (t + 1) // n
                # Phase 1: this thread's rows of the data and of the chains.
                v0 = stacked_v[r0:r1]
                kernels.gather_rows(X, rows[r0:r1], v0)
                h_pre = buf["hidden_pre"][r0:r1]
                np.matmul(v0, W_t, out=h_pre)
                kernels.bernoulli_units_rows(
                    h_pre, c_hid, key[0], r0, True, positive_is_sample, None, h_state[r0:r1],
                    dtype(1.0 / b), stacked_h[r0:r1],
                )  # fmt: skip
                model_scale = dtype(-1.0 / c)
                chain_t = chain[q0:q1]
                v_pre, v_state = v_pre_all[q0:q1], v_state_all[q0:q1]
                v_neg, h_pre_neg = stacked_v[b + q0 : b + q1], h_pre_model[q0:q1]
                for s in range(k):
                    last = s == k - 1
                    iv, ih = key_index[s]
                    np.matmul(chain_t, W_t.T, out=v_pre)
                    kernels.bernoulli_units_rows(
                        v_pre, b_vis, key[iv] if iv >= 0 else _NO_KEY, q0, sample_v[s],
                        sample_v[s], None, v_state, dtype(1.0), v_neg,
                    )  # fmt: skip
                    np.matmul(v_neg, W_t, out=h_pre_neg)
                    kernels.bernoulli_units_rows(
                        h_pre_neg, c_hid, key[ih] if ih >= 0 else _NO_KEY, q0, keep[s], False,
                        None, chain_t, model_scale, stacked_h[b + q0 : b + q1] if last else None,
                    )  # fmt: skip
                team.barrier()
                # Phase 2: this thread's block of W.T rows and of the bias columns.
                v_all, h_all = stacked_v[: b + c], stacked_h[: b + c]
                ok = kernels.column_sums_and_bias_step(
                    v_all[:, i0:i1], b, 1.0 / b, model_scale, False, b_vis[i0:i1],
                    vel_b[i0:i1], grad_visible[i0:i1], lr, mom,
                )  # fmt: skip
                ok &= kernels.column_sums_and_bias_step(
                    h_all[:, j0:j1], b, 1.0, 1.0, True, c_hid[j0:j1], vel_c[j0:j1],
                    grad_hidden[j0:j1], lr, mom,
                )  # fmt: skip
                for a in range(i0, i1, chunk):
                    e = min(a + chunk, i1)
                    g = gradient[: e - a]
                    np.matmul(v_all[:, a:e].T, h_all, out=g)
                    ok &= kernels.momentum_step_raw(W_t[a:e], vel_W_t[a:e], g, lr, mom, decay)
                finite[t] = ok
                team.barrier()
                if not all(finite):
                    return number
            return 0

        def work(t):
            # numpy's error state is per thread; divergence is reported by the return value.
            with np.errstate(over="ignore", invalid="ignore"):
                return work_unguarded(t)

        with single_threaded_blas() if team.n > 1 else contextlib.nullcontext():
            diverged_at = team.run(work)
        if diverged_at:
            rng.bit_generator.state = saved_rng
            rng.bit_generator.random_raw(diverged_at * n_keys)
        return diverged_at

    def _run_compiled_epoch(
        self, native, team, X, order, keys, key_index, sample_v, keep, chunk_buffers, **scalars
    ):
        """The row-partitioned epoch as compiled calls per thread
        (:func:`dbn._kernels.cd_epoch.cd_epoch_rows`): no Python, no GIL between the minibatches.

        Each call covers up to ``_MINIBATCHES_PER_CALL`` minibatches, so that the interpreter gets
        control back every few tenths of a second: a Ctrl-C is acted on then (a signal reaches
        Python code only between compiled calls), not at the end of a long epoch.
        """
        buf = self._buffers
        params, velocity = self.parameters, self.velocity
        W_t, dtype = params["components_"].T, self.dtype
        n = team.n
        # Persistent chains, or a placeholder of the right type that the kernel does not read.
        chains = self.chains if self.persistent else np.empty((0, W_t.shape[1]), dtype)
        finite = np.ones(n, dtype=np.bool_)
        arrivals = np.zeros(n * native_kernels.ARRIVAL_STRIDE + 1, dtype=np.int64)
        profile = np.zeros((n, 3), dtype=np.int64)
        blas = native.gemm_for(dtype)
        order = order.astype(np.int64, copy=False)
        batch = self.batch_size
        arguments = (
            np.asarray(key_index, dtype=np.int64).reshape(-1, 2), np.asarray(sample_v, np.bool_),
            np.asarray(keep, np.bool_), self.positive_hidden == "samples", self.persistent,
            chains, W_t, self.velocity["components_"].T, params["intercept_visible_"],
            velocity["intercept_visible_"], params["intercept_hidden_"],
            velocity["intercept_hidden_"], scalars["learning_rate"], scalars["momentum"],
            scalars["weight_decay"], buf["stacked_visible"], buf["stacked_hidden"],
            buf["hidden_state"], buf["hidden_pre"], buf["visible_pre"], buf["visible_state"],
            buf["hidden_mean_model"], buf["grad_visible"], buf["grad_hidden"],
        )  # fmt: skip

        segment = {}

        def work(t):
            try:
                return cd_epoch_rows(
                    t, n, X, segment["order"], batch, segment["keys"], *arguments,
                    chunk_buffers[t], finite, blas, native.sync, native.mutex, arrivals,
                    native.clock, native.clock_id, profile[t],
                )  # fmt: skip
            except BaseException:
                arrivals[-1] = 1  # releases the other threads from the barrier
                raise

        diverged_at = 0
        with single_threaded_blas():  # one BLAS thread per team thread
            for first in range(0, keys.shape[0], _MINIBATCHES_PER_CALL):
                last = first + _MINIBATCHES_PER_CALL
                segment["order"] = order[first * batch : last * batch]
                segment["keys"] = keys[first:last]
                arrivals[:] = 0  # the barrier's generations restart with each call
                diverged = team.run(work)
                if diverged:
                    diverged_at = first + diverged
                    break
        seconds = profile / 1e9
        self.epoch_profile_ = {
            "gemm_seconds": seconds[:, 0],
            "barrier_seconds": seconds[:, 1],
            "elementwise_seconds": seconds[:, 2] - seconds[:, 0] - seconds[:, 1],
            "total_seconds": seconds[:, 2],
        }
        return diverged_at

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
        state = {"velocity_" + name: v.copy(order="K") for name, v in self.velocity.items()}
        if self.chains is not None:
            state["persistent_chains_"] = self.chains.copy()
        if self.running_activity is not None:
            state["running_activity_"] = self.running_activity.copy()
        if self.visible_offset is not None:
            state["visible_offset_"] = self.visible_offset.copy()
            state["hidden_offset_"] = self.hidden_offset.copy()
        if self.tempered_chains is not None:
            state["tempered_chains_"] = self.tempered_chains.copy()
            state["swap_counts_"] = self.swap_counts.copy()
            state["swap_parity_"] = np.array(self._swap_parity, dtype=np.int64)
        return state

    def shared_state(self):
        """Copies of the :data:`SHARED_STATE` entries of :meth:`get_state` (none before centring
        starts): what data-parallel workers average with the parameters."""
        if self.visible_offset is None:
            return {}
        return {
            "visible_offset_": self.visible_offset.copy(),
            "hidden_offset_": self.hidden_offset.copy(),
        }

    def set_shared_state(self, shared):
        """Take the :data:`SHARED_STATE` entries of ``shared`` (e.g. the workers' average),
        leaving the rest of the state (velocities, chains, sparsity activity) as it is."""
        if "visible_offset_" in shared:
            self.visible_offset = np.array(shared["visible_offset_"], dtype=self.dtype)
            self.hidden_offset = np.array(shared["hidden_offset_"], dtype=self.dtype)

    def set_state(self, state):
        """Restore what :meth:`get_state` returned; missing velocities count as zero."""
        for name, velocity in self.velocity.items():
            value = state.get("velocity_" + name)
            if value is None:
                velocity[...] = 0
            elif np.shape(value) != velocity.shape:
                raise ValueError(
                    f"state['velocity_{name}'] must have shape {velocity.shape}, got "
                    f"{np.shape(value)}."
                )
            else:
                velocity[...] = value
        chains = state.get("persistent_chains_")
        if chains is not None:
            n_hidden = self.parameters["components_"].shape[0]
            if np.ndim(chains) != 2 or np.shape(chains)[1] != n_hidden:
                raise ValueError(
                    f"state['persistent_chains_'] must have shape (n_chains, {n_hidden}), got "
                    f"{np.shape(chains)}."
                )
            chains = np.array(chains, dtype=self.dtype)
            if self.persistent and chains.shape[0] != self.n_chains:
                self.n_chains = chains.shape[0]
                self._buffers = None  # sized for the chains
        self.chains = chains
        activity = state.get("running_activity_")
        if activity is not None:
            self.running_activity = np.array(activity, dtype=self.dtype)
        elif self.sparsity_target is not None:
            self.running_activity = np.full(
                self.parameters["intercept_hidden_"].shape, self.sparsity_target, self.dtype
            )
        else:
            self.running_activity = None
        H, V = self.parameters["components_"].shape
        offsets = state.get("visible_offset_"), state.get("hidden_offset_")
        if offsets[0] is not None and offsets[1] is not None:
            if np.shape(offsets[0]) != (V,) or np.shape(offsets[1]) != (H,):
                raise ValueError(
                    f"state['visible_offset_'] and state['hidden_offset_'] must have shapes ({V},) "
                    f"and ({H},), got {np.shape(offsets[0])} and {np.shape(offsets[1])}."
                )
            self.visible_offset = np.array(offsets[0], dtype=self.dtype)
            self.hidden_offset = np.array(offsets[1], dtype=self.dtype)
        tempered = state.get("tempered_chains_")
        if tempered is not None and self.n_temperatures is not None:
            expected = (self.n_temperatures - 1, *np.shape(self.chains))
            if np.shape(tempered) != expected:
                raise ValueError(
                    f"state['tempered_chains_'] must have shape {expected}, got "
                    f"{np.shape(tempered)}."
                )
            self.tempered_chains = np.array(tempered, dtype=self.dtype)
            counts = state.get("swap_counts_")
            self.swap_counts = (
                np.zeros((self.n_temperatures - 1, 2), np.int64)
                if counts is None
                else np.array(counts, dtype=np.int64)
            )
            self._swap_parity = int(state.get("swap_parity_", 0))
        elif self.n_temperatures is not None and self.chains is not None:
            self.tempered_chains = np.repeat(self.chains[None], self.n_temperatures - 1, axis=0)
            self.swap_counts = np.zeros((self.n_temperatures - 1, 2), dtype=np.int64)

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

    def _sigma(self):
        if self.learns_variance:
            return np.exp(0.5 * self.parameters["log_variance_"])
        return None

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
        sigma = self._sigma()
        # Data and model statistics are stacked row-wise, so the weight gradient is one GEMM:
        # grad_W.T = [v_data; v_model].T @ [h_data / b; -h_model / c]. Each unit kernel writes its
        # block of the stack and adds its column sums to the bias gradient as it goes.
        stacked_h, stacked_v = buf["stacked_hidden"], buf["stacked_visible"]
        grad_hidden, grad_visible = buf["grad_hidden"], buf["grad_visible"]
        if not data_mean_ready:
            np.mean(v0, axis=0, out=grad_visible)
        v0_in = _scaled_visible(v0, sigma, stacked_v[:b])
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
            rng,
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
        if self.n_temperatures is not None:
            self._temper(rng)
        # Negative phase: k Gibbs steps from the data (CD) or from the persistent chains (PCD).
        chain = self.chains if self.persistent else h_state
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
                    rng,
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
                _scaled_visible(v_neg, sigma, v_neg_in)
            h_pre_neg = buf["hidden_pre"][:c]
            np.matmul(v_neg_in, W_t, out=h_pre_neg)
            keep_chain = self.persistent or not last
            if last:
                self._units_with_statistics(
                    "hidden",
                    h_pre_neg,
                    h_neg_mean,
                    chain,
                    rng,
                    sample=keep_chain,
                    statistic_is_sample=False,
                    statistic_out=stacked_h[b : b + c],
                    statistic_scale=model_scale,
                    column_sum=grad_hidden,
                    column_scale=model_scale,
                )
            else:
                self._hidden_units(h_pre_neg, h_neg_mean, chain, rng, sample=True)
        if sigma is not None:
            kernels.gaussian_visible_statistics(
                v_neg, params["intercept_visible_"], sigma, v_pre, grad_visible,
                buf["grad_log_var"], -1.0,
            )  # fmt: skip
        grad_W_t = buf["grad_W_t"]
        np.matmul(stacked_v[: b + c].T, stacked_h[: b + c], out=grad_W_t)
        if self.sparsity_target is not None and self.sparsity_cost > 0:
            sparsity = buf["sparsity"]
            kernels.sparsity_gradient(
                h_mean, self.running_activity, self.sparsity_damping, self.sparsity_target, sparsity
            )
            grad_hidden -= self.sparsity_cost * sparsity
            kernels.subtract_outer_sparsity(
                grad_W_t, v0_in.mean(axis=0), sparsity, self.sparsity_cost
            )

    def _apply_buffers(self, learning_rate, momentum):
        buf = self._buffers
        return self._apply(
            buf["grad_W_t"],
            buf["grad_hidden"],
            buf["grad_visible"],
            buf["grad_log_var"] if self.learns_variance else None,
            learning_rate,
            momentum,
            (buf["data_mean_visible"], buf["data_mean_hidden"]) if self.centering else None,
        )

    def _apply(
        self,
        grad_W_t,
        grad_hidden,
        grad_visible,
        grad_log_var,
        learning_rate,
        momentum,
        data_means=None,
    ):
        params, velocity = self.parameters, self.velocity
        if self.centering:
            if self.visible_offset is None:
                # No start_offsets: the first minibatch's means start them.
                self.visible_offset = data_means[0].copy()
                self.hidden_offset = data_means[1].copy()
            kernels.centre_weight_gradient(
                grad_W_t, self.visible_offset, grad_hidden, grad_visible, self.hidden_offset
            )
        finite = kernels.momentum_step(
            params["components_"].T,
            velocity["components_"].T,
            grad_W_t,
            learning_rate,
            momentum,
            self.weight_decay,
        )
        # Biases are not decayed (Hinton 2010, section 10).
        finite &= kernels.momentum_step(
            params["intercept_hidden_"],
            velocity["intercept_hidden_"],
            grad_hidden,
            learning_rate,
            momentum,
            0.0,
        )
        finite &= kernels.momentum_step(
            params["intercept_visible_"],
            velocity["intercept_visible_"],
            grad_visible,
            learning_rate,
            momentum,
            0.0,
        )
        if grad_log_var is not None:
            finite &= kernels.momentum_step(
                params["log_variance_"],
                velocity["log_variance_"],
                grad_log_var,
                learning_rate,
                momentum,
                0.0,
            )
        if self.centering:
            # The step was taken in the centred parameters (W, b + W lambda, c + W^T mu); back in
            # the usual biases it is db - dW lambda and dc - dW^T mu, dW being the weight step.
            step_W_t = velocity["components_"].T
            params["intercept_visible_"] -= step_W_t @ self.hidden_offset
            params["intercept_hidden_"] -= step_W_t.T @ self.visible_offset
            # Moving the offsets changes the parametrisation, not the model: nothing to fold.
            rate = self.dtype.type(self.offset_rate)
            self.visible_offset += rate * (data_means[0] - self.visible_offset)
            self.hidden_offset += rate * (data_means[1] - self.hidden_offset)
            finite &= bool(
                np.isfinite(params["intercept_visible_"]).all()
                and np.isfinite(params["intercept_hidden_"]).all()
            )
        return finite

    def _temper(self, rng):
        """Parallel tempering: ``k`` Gibbs steps of every tempered chain, then one swap round.

        The chains at ``beta = 1`` (:attr:`chains`) take part in the swaps; their Gibbs steps are
        the negative phase that follows.
        """
        params = self.parameters
        W_t = params["components_"].T  # (V, H)
        b, c = params["intercept_visible_"], params["intercept_hidden_"]
        betas = self.inverse_temperatures
        dtype = self.dtype.type
        for m in range(1, self.n_temperatures):
            beta = dtype(betas[m])
            h = self.tempered_chains[m - 1]
            for _ in range(self.k):
                v_pre = h @ W_t.T
                v_pre *= beta
                kernels.bernoulli_units(v_pre, beta * b, draw_key(rng), v_pre, v_pre)
                h_pre = v_pre @ W_t
                h_pre *= beta
                kernels.bernoulli_units(h_pre, beta * c, draw_key(rng), h_pre, h)
        # log p*_beta(h) = beta c.h + sum_i softplus(beta (W^T h + b)_i), for every chain set.
        states = [self.chains, *self.tempered_chains]
        top_down = [np.asarray(h @ W_t.T + b, dtype=np.float64) for h in states]
        hidden_term = [np.asarray(h @ c, dtype=np.float64) for h in states]

        def log_marginal(beta, m):
            return beta * hidden_term[m] + np.logaddexp(0.0, beta * top_down[m]).sum(axis=1)

        uniform = rng.random((self.n_temperatures - 1, self.chains.shape[0]))
        for m in range(self._swap_parity, self.n_temperatures - 1, 2):
            lo, hi = betas[m], betas[m + 1]
            log_ratio = (
                log_marginal(lo, m + 1)
                + log_marginal(hi, m)
                - log_marginal(lo, m)
                - log_marginal(hi, m + 1)
            )
            accept = np.log(uniform[m]) < log_ratio
            if accept.any():
                below, above = states[m], states[m + 1]
                swapped = below[accept].copy()
                below[accept] = above[accept]
                above[accept] = swapped
            self.swap_counts[m, 0] += int(accept.sum())
            self.swap_counts[m, 1] += accept.size
        self._swap_parity = 1 - self._swap_parity

    def _units_with_statistics(
        self,
        layer,
        pre,
        mean_out,
        sample_out,
        rng,
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
        unit = self.hidden_unit if hidden else self.visible_unit
        if unit == "bernoulli":
            bias = self.parameters["intercept_hidden_" if hidden else "intercept_visible_"]
            key = draw_key(rng) if sample else _NO_KEY
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
            self._hidden_units(pre, mean_out, sample_out, rng, sample=sample)
        else:
            self._visible_units(pre, mean_out, sample_out, rng, sample=sample)
        units = sample_out if sample and statistic_is_sample else mean_out
        kernels.statistics_of_units(units, statistic_scale, statistic_out, column_scale, column_sum)

    def _hidden_units(self, pre, mean_out, sample_out, rng, *, sample):
        buf = self._buffers
        noise = buf["noise_hidden"][: pre.shape[0]] if self.hidden_unit == "gaussian" else None
        hidden_units(
            pre,
            self.parameters["intercept_hidden_"],
            self.hidden_unit,
            rng,
            mean_out,
            sample_out,
            sample=sample,
            noise=noise,
            scale=buf["ones_hidden"],
        )

    def _visible_units(self, pre, mean_out, sample_out, rng, *, sample):
        noise = None
        if self.visible_unit == "gaussian":
            noise = self._buffers["noise_visible"][: pre.shape[0]]
        sigma = self._sigma()
        if sigma is None:
            sigma = self._buffers["ones_visible"]
        visible_units(
            pre,
            self.parameters["intercept_visible_"],
            sigma,
            self.visible_unit,
            rng,
            mean_out,
            sample_out,
            sample=sample,
            noise=noise,
        )


# ---------------------------------------------------------------------- unit conditionals
def hidden_units(pre, bias, unit, rng, mean_out, sample_out, *, sample, noise=None, scale=None):
    """Hidden means ``E[h | v]`` and, if ``sample``, samples, from ``pre = (v / sigma) @ W.T``.

    Parameters
    ----------
    pre : ndarray of shape (B, n_hidden)
        Pre-activations without the bias.
    bias : ndarray of shape (n_hidden,)
    unit : {"bernoulli", "gaussian"}
    rng : numpy.random.Generator or None
        Used only when ``sample``: one stream key (binary units) or ``B * n_hidden`` standard
        normal numbers (linear units).
    mean_out, sample_out : ndarray of shape (B, n_hidden)
        Outputs; ``mean_out`` may be ``pre``; ``sample_out`` may be None when not sampling.
    noise : ndarray of shape (B, n_hidden), optional
        Buffer for the normal numbers of linear units.
    scale : ndarray of shape (n_hidden,), optional
        Ones, the noise scale of linear units (allocated when not given).
    """
    if sample_out is None:
        sample_out = mean_out
    if unit == "bernoulli":
        key = draw_key(rng) if sample else None
        kernels.bernoulli_units(pre, bias, key, mean_out, sample_out)
        return
    normal = _fill_normal(rng, pre.shape, pre.dtype, noise) if sample else None
    if scale is None:
        scale = np.ones(pre.shape[1], pre.dtype)
    kernels.gaussian_units(pre, bias, scale, normal, mean_out, sample_out)


def visible_units(pre, bias, sigma, unit, rng, mean_out, sample_out, *, sample, noise=None):
    """Visible means ``E[v | h]`` and, if ``sample``, samples, from ``pre = h @ W``.

    Binary units: ``sigmoid(pre + bias)``; Gaussian units: ``bias + sigma * pre`` with noise of
    standard deviation ``sigma`` (Hinton 2010, section 13.2). Arguments as for
    :func:`hidden_units`; ``sigma`` is ignored for binary units.
    """
    if unit == "bernoulli":
        key = draw_key(rng) if sample else None
        kernels.bernoulli_units(pre, bias, key, mean_out, sample_out)
        return
    normal = _fill_normal(rng, pre.shape, pre.dtype, noise) if sample else None
    kernels.gaussian_units(pre, bias, sigma, normal, mean_out, sample_out)


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


def dense_rows(X, rows, dtype):
    """``X[rows]`` as a C-contiguous dense array of ``dtype`` (``X`` dense or sparse)."""
    part = X[rows]
    part = part.toarray() if hasattr(part, "toarray") else part
    return np.ascontiguousarray(part, dtype=dtype)


def _scaled_visible(v, sigma, out):
    """Write ``v`` (divided by ``sigma`` for learned variances) into ``out`` and return it."""
    if sigma is None:
        out[...] = v
    else:
        kernels.divide_columns_into(v, sigma, out)
    return out


def _fill_normal(rng, shape, dtype, out):
    if out is None or out.shape != tuple(shape):
        return rng.standard_normal(shape, dtype=dtype)
    rng.standard_normal(dtype=dtype, out=out)
    return out


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
