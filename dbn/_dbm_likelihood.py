"""Likelihood of Deep Boltzmann Machines: exact values for tiny models, AIS and the variational bound.

For a DBM with layers ``x_0 = v, x_1, ..., x_L`` the layers of one parity are conditionally
independent given the other parity, so one parity can always be summed out analytically:

- :func:`dbm_exact_log_partition` and :func:`dbm_exact_log_probability` enumerate the states of
  one parity (the one with fewer units) and sum the other out: exact, for tiny models and tests;
- :func:`dbm_ais_log_partition` estimates ``log Z`` by Annealed Importance Sampling on the layers
  of one parity with the other summed out: the even layers ``(v, h2, ...)`` with the odd hidden
  layers summed out, as Salakhutdinov & Hinton (2009, section 4) did, or the odd ones, a smaller
  state on MNIST-sized models;
- :func:`dbm_variational_bound` gives, per test vector, the mean-field lower bound
  ``log p(v) >= E_q[-E(v, h)] + H(q) - log Z``.

Which way each figure errs:

- the variational bound is below ``log p(v)`` for every ``v`` (exactly, given the exact ``log Z``);
  the gap is the KL divergence from the mean-field posterior to the true one, zero when the
  posterior factorises (a one-layer DBM, or zero weights between the hidden layers);
- AIS estimates ``Z`` without bias, so its ``log Z`` errs LOW in expectation (Jensen) and a bound
  computed with it errs HIGH by that amount: ``bound(v) - log Z_AIS`` is a lower bound on
  ``log p(v)`` only up to AIS's error, which the result's ``lower``/``upper`` and effective sample
  size describe. The published DBM figure (-84.62 nats on MNIST) is this quantity.

All sums are in float64, whatever the model's dtype.

References
----------
Salakhutdinov, R., & Hinton, G. E. (2009). Deep Boltzmann machines. AISTATS.
Salakhutdinov, R., & Murray, I. (2008). On the quantitative analysis of deep belief networks. ICML.
Neal, R. M. (2001). Annealed importance sampling. Statistics and Computing 11(2), 125-139.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._validation import check_array, check_is_fitted, check_random_state, check_scalar

__all__ = [
    "dbm_ais_log_partition",
    "dbm_exact_log_partition",
    "dbm_exact_log_probability",
    "dbm_reverse_ais_log_partition",
    "dbm_variational_bound",
]

_LOG_2 = math.log(2.0)


def _read_dbm(dbm):
    """``(W, b)`` of a fitted DBM as float64 lists, checked finite."""
    if not hasattr(dbm, "components_") and not hasattr(dbm, "mean_field"):
        raise TypeError(f"dbm must be a fitted dbn.DBM, got {type(dbm).__name__}.")
    check_is_fitted(dbm, "components_")
    if getattr(dbm, "label_components_", None) is not None:
        raise ValueError(
            "dbm has label units (supervised=True): it models p(v, y), and the likelihood "
            "estimates here cover p(v) of a DBM without labels."
        )
    W = [np.asarray(w, dtype=np.float64) for w in dbm.components_]
    b = [np.asarray(c, dtype=np.float64) for c in dbm.intercepts_]
    for name, values in (("components_", W), ("intercepts_", b)):
        if not all(np.isfinite(v).all() for v in values):
            raise ValueError(f"dbm.{name} contains NaN or inf; its likelihood is undefined.")
    return W, b


def _softplus(x):
    return np.logaddexp(0.0, x)


def _log_marginal(W, b, states):
    """``log sum exp(-E)`` over the layers whose entry of ``states`` is None, per row.

    ``states[l]`` is an ``(n, n_l)`` array of fixed states or None; no two adjacent layers may both
    be None (then each summed layer is independent given its fixed neighbours, and contributes
    ``sum_j softplus(b_j + input_j)``).
    """
    L = len(W)
    n = next(s.shape[0] for s in states if s is not None)
    out = np.zeros(n)
    for layer, x in enumerate(states):
        if x is not None:
            out += x @ b[layer]
            if layer < L and states[layer + 1] is not None:
                out += np.einsum("ij,ij->i", states[layer + 1] @ W[layer], x)
            continue
        total = np.broadcast_to(b[layer], (n, b[layer].size)).copy()
        if layer > 0:
            total += states[layer - 1] @ W[layer - 1].T
        if layer < L:
            total += states[layer + 1] @ W[layer]
        out += _softplus(total).sum(axis=1)
    return out


def _binary_states(start, stop, n):
    """Binary vectors number ``start`` to ``stop - 1`` of length ``n`` as float64 rows (bit ``j``
    of the number is unit ``j``): the enumeration of the exact ``log Z`` of RBMs and DBMs."""
    index = np.arange(start, stop, dtype=np.int64)
    return ((index[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(np.float64)


def _enumerate(W, b, layers, fixed, max_units, chunk_size=1 << 14):
    """``log sum`` over all states of ``layers`` (the other free layers summed out analytically),
    with ``fixed`` ({layer: (1, n_l) row}) clamped; one float."""
    sizes = [W[0].shape[1], *(w.shape[0] for w in W)]
    n_bits = sum(sizes[layer] for layer in layers)
    if n_bits > max_units:
        raise ValueError(
            f"exact DBM likelihoods enumerate 2**{n_bits} states (layers {list(layers)}), more "
            f"than max_units={max_units}. Use dbm_ais_log_partition for an estimate, or raise "
            f"max_units if 2**{n_bits} states are affordable."
        )
    total = -math.inf
    for start in range(0, 1 << n_bits, chunk_size):
        bits = _binary_states(start, min(start + chunk_size, 1 << n_bits), n_bits)
        states, offset = [None] * len(sizes), 0
        for layer in layers:
            states[layer] = bits[:, offset : offset + sizes[layer]]
            offset += sizes[layer]
        for layer, row in fixed.items():
            states[layer] = np.broadcast_to(row, (bits.shape[0], row.shape[1]))
        terms = _log_marginal(W, b, states)
        peak = terms.max()
        total = np.logaddexp(total, peak + math.log(np.sum(np.exp(terms - peak))))
    return float(total)


def _smaller_parity(sizes, candidates):
    """The parity (0 or 1) whose layers among ``candidates`` hold fewer units."""
    units = [sum(sizes[layer] for layer in candidates if layer % 2 == p) for p in (0, 1)]
    return 0 if units[0] <= units[1] else 1


def dbm_exact_log_partition(dbm, *, max_units=22):
    """Exact ``log Z`` of a tiny DBM: enumerate one parity of layers, sum the other out.

    Parameters
    ----------
    dbm : dbn.DBM
        A fitted model.
    max_units : int, default=22
        Most units enumerated (``2**max_units`` states); larger models are refused.

    Returns
    -------
    log_z : float

    References
    ----------
    Salakhutdinov, R., & Hinton, G. E. (2009). Deep Boltzmann machines. AISTATS.
    """
    W, b = _read_dbm(dbm)
    check_scalar(max_units, "max_units", kind=numbers.Integral, low=0, high=40)
    sizes = [W[0].shape[1], *(w.shape[0] for w in W)]
    parity = _smaller_parity(sizes, range(len(sizes)))
    layers = [layer for layer in range(len(sizes)) if layer % 2 == parity]
    return _enumerate(W, b, layers, {}, max_units)


def dbm_exact_log_probability(dbm, X, *, max_units=22, log_z=None):
    """Exact ``log p(v)`` of each row of ``X`` under a tiny DBM.

    ``log p*(v)`` enumerates the hidden layers of one parity and sums out the other; ``log Z``
    comes from :func:`dbm_exact_log_partition` unless given.

    Parameters
    ----------
    dbm : dbn.DBM
    X : array-like of shape (n_samples, n_features)
        Binary vectors.
    max_units : int, default=22
    log_z : float, optional

    Returns
    -------
    log_p : ndarray of shape (n_samples,), float64
    """
    W, b = _read_dbm(dbm)
    X = _binary_rows(X, W[0].shape[1])
    if log_z is None:
        log_z = dbm_exact_log_partition(dbm, max_units=max_units)
    sizes = [W[0].shape[1], *(w.shape[0] for w in W)]
    hidden = range(1, len(sizes))
    parity = _smaller_parity(sizes, hidden)
    layers = [layer for layer in hidden if layer % 2 == parity]
    return np.array(
        [_enumerate(W, b, layers, {0: row[None]}, max_units) - log_z for row in X],
        dtype=np.float64,
    )


def _binary_rows(X, n_features):
    X = check_array(X, "X", n_features=n_features, value_range=(0.0, 1.0))
    if not np.all((X == 0) | (X == 1)):
        raise ValueError(
            "X must be binary (0 or 1): p(v) is defined for binary vectors only. Binarise it, "
            "e.g. X = (X > 0.5).astype(float), or sample it as the published figures do."
        )
    return np.asarray(X, dtype=np.float64)


def dbm_variational_bound(dbm, X, log_z=0.0, *, n_mean_field=100, tol=1e-7):
    """Mean-field lower bound on ``log p(v)`` of each row of ``X``.

    ``log p(v) >= sum_l b_l . mu_l + sum_l mu_(l+1)^T W_l mu_l + H(mu) - log Z`` with ``mu_0 = v``
    and ``mu`` the mean-field posteriors (:meth:`dbn.DBM.mean_field`, run to ``tol`` or
    ``n_mean_field`` sweeps), ``H`` the entropy of the factorised ``q``. It is exact when the
    posterior factorises and below ``log p(v)`` otherwise, by the KL divergence from ``q`` to the
    posterior (Salakhutdinov & Hinton 2009, eq. 7).

    Parameters
    ----------
    dbm : dbn.DBM
    X : array-like of shape (n_samples, n_features)
        Binary test vectors.
    log_z : float or AISResult, default=0
        ``log Z``; 0 gives the bound on the unnormalised ``log p*(v)``. With an AIS estimate the
        result errs high by AIS's downward error in ``log Z`` (see the module docstring).
    n_mean_field : int, default=100
    tol : float, default=1e-7

    Returns
    -------
    bound : ndarray of shape (n_samples,), float64
    """
    from scipy.special import xlogy

    W, b = _read_dbm(dbm)
    check_scalar(n_mean_field, "n_mean_field", kind=numbers.Integral, low=1)
    check_scalar(tol, "tol", low=0.0)
    log_z = float(getattr(log_z, "log_z", log_z))
    X = _binary_rows(X, W[0].shape[1])
    v = np.ascontiguousarray(X, dtype=dbm.components_[0].dtype)
    mu = [np.asarray(m, dtype=np.float64) for m in dbm.mean_field(v, n_mean_field, tol=tol)]
    layers = [X, *mu]
    bound = _log_marginal(W, b, layers)  # every layer fixed to its means: -E(v, mu)
    for m in mu:
        bound -= (xlogy(m, m) + xlogy(1.0 - m, 1.0 - m)).sum(axis=1)
    return bound - log_z


def dbm_ais_log_partition(
    dbm,
    *,
    n_betas=10000,
    n_runs=100,
    data=None,
    base_rate=None,
    state_layers="auto",
    random_state=None,
):
    """Estimate ``log Z`` of a DBM by Annealed Importance Sampling.

    The runs' state is the layers of one parity; the other parity is summed out of every
    intermediate distribution (given the state, its layers are independent). With base biases
    ``a`` and target biases ``b`` on every layer,

    ``log p*_beta(s) = sum_(l in S) ((1 - beta) a_l + beta b_l) . s_l
    + sum_(l not in S) sum_j softplus((1 - beta) a_lj + beta (b_l + input_l(s))_j)``,

    where the base model ``A`` has no weights, so ``log Z_A = sum_l sum_j softplus(a_lj)``. Each
    step adds ``log p*_(k+1)(s) - log p*_k(s)`` to the run's log weight, then samples the
    summed-out layers given the state and the state given them, at ``beta_(k+1)``
    (Salakhutdinov & Hinton 2009, section 4; Neal 2001).

    Parameters
    ----------
    dbm : dbn.DBM
        A fitted model.
    n_betas : int or array-like, default=10000
        Inverse temperatures, as for :func:`dbn.evaluation.ais_log_partition`.
    n_runs : int, default=100
    data : array-like, optional
        Training data for the base rates: the visible units' from the data (Laplace-smoothed),
        every hidden layer's from the data's mean-field means (of up to 10,000 rows, clipped to
        [0.001, 0.999]). Without it the base model is uniform on the hidden layers.
    base_rate : array-like of shape (n_features,), optional
        The base model's visible marginals directly (the hidden layers are then uniform).
    state_layers : {"auto", "odd", "even"}, default="auto"
        The parity kept as the state: ``"odd"`` is ``(h1, h3, ...)`` with ``v, h2, ...`` summed
        out, ``"even"`` is ``(v, h2, ...)`` with the odd hidden layers summed out (the paper's
        choice). ``"auto"`` keeps the parity with fewer units: the smaller the state, the less
        the importance weights spread (on a 784-500-1000 MNIST model, the odd layer of 500
        units against 1,784).
    random_state : int, numpy Generator or None

    Returns
    -------
    AISResult
        ``log_z`` errs LOW in expectation (the log of an unbiased estimate of ``Z``); check the
        ``effective_sample_size`` and the ``lower``/``upper`` bounds.

    References
    ----------
    Salakhutdinov, R., & Hinton, G. E. (2009). Deep Boltzmann machines. AISTATS.
    Neal, R. M. (2001). Annealed importance sampling. Statistics and Computing 11(2).
    """
    from . import evaluation

    _, b = _read_dbm(dbm)
    betas = evaluation._check_betas(n_betas)
    check_scalar(n_runs, "n_runs", kind=numbers.Integral, low=1)
    log_weights, log_z_base = _annealing_runs(
        dbm, b, betas, int(n_runs), None, data, base_rate, state_layers, random_state
    )
    return evaluation._summarise(log_weights, log_z_base, betas.size)


def dbm_reverse_ais_log_partition(
    dbm,
    initial_states=None,
    *,
    n_betas=10000,
    n_gibbs_sweeps=1000,
    data=None,
    base_rate=None,
    state_layers="auto",
    random_state=None,
):
    """Estimate ``log Z`` of a DBM by reverse Annealed Importance Sampling: an estimate that errs
    HIGH, the counterpart of :func:`dbm_ais_log_partition`'s, which errs low.

    The runs start from states of the DBM itself (its persistent chains by default) and anneal
    from the target back to the base model along the same path and the same transitions as the
    forward runs, taken in reverse order; each transition leaves its intermediate distribution
    invariant and is reversible, so the mean of the weights ``exp(w) = prod_k p*_(k-1)(s_k) /
    p*_k(s_k)`` estimates ``Z_A / Z`` without bias when the starting states are exact samples of
    the DBM. Then ``log Z_A - log mean(exp(w))`` errs HIGH in expectation (Jensen), and a
    likelihood computed with it errs LOW: with the forward estimate, it brackets ``log Z`` in
    expectation (bidirectional Monte Carlo, Grosse, Ghahramani & Adams 2015). A wide gap between
    the two says that AIS needs more betas; a narrow one, that both are close to ``log Z``.

    The bracket holds only as far as the starting states are samples of the DBM: Gibbs chains
    are approximate samples, which is why ``n_gibbs_sweeps`` more sweeps are run from them first.
    A chain stuck in one mode makes the reverse estimate too low, possibly below the true
    ``log Z``.

    Parameters
    ----------
    dbm : dbn.DBM
        A fitted model.
    initial_states : list of ndarray, optional
        States of every layer, ``L + 1`` arrays of shape ``(n_runs, n_l)``, visible first; only the
        layers of the state parity are used (the others are summed out). By default the DBM's
        ``persistent_chains_`` (the fantasy particles of its joint training). Not modified.
    n_betas : int or array-like, default=10000
        Inverse temperatures, as for :func:`dbm_ais_log_partition` (traversed from 1 to 0).
    n_gibbs_sweeps : int, default=1000
        Full Gibbs sweeps of the DBM run from ``initial_states`` before annealing (0: none).
    data, base_rate, state_layers, random_state
        As for :func:`dbm_ais_log_partition`: the same base model, the same state parity.

    Returns
    -------
    AISResult
        With ``direction="reverse"``: ``log_z = log Z_A - log mean(exp(w))``, which errs HIGH;
        ``lower``/``upper`` from the 3-standard-error interval of ``mean(exp(w))``;
        ``effective_sample_size`` of the reverse weights.

    References
    ----------
    Neal, R. M. (2001). Annealed importance sampling. Statistics and Computing 11(2).
    Burda, Y., Grosse, R., & Salakhutdinov, R. (2015). Accurate and conservative estimates of MRF
    log-likelihood using reverse annealing. AISTATS.
    Grosse, R. B., Ghahramani, Z., & Adams, R. P. (2015). Sandwiching the marginal likelihood
    using bidirectional Monte Carlo. arXiv:1511.02543.
    """
    from . import evaluation

    W, b = _read_dbm(dbm)
    betas = evaluation._check_betas(n_betas)
    check_scalar(n_gibbs_sweeps, "n_gibbs_sweeps", kind=numbers.Integral, low=0)
    sizes = [W[0].shape[1], *(w.shape[0] for w in W)]
    if initial_states is None:
        initial_states = getattr(dbm, "persistent_chains_", None)
        if initial_states is None:
            raise ValueError(
                "dbm has no persistent_chains_ (it was not joint-trained, or was loaded from a file "
                "without them); pass initial_states: L + 1 arrays of states, one per layer."
            )
    if not isinstance(initial_states, (list, tuple)) or len(initial_states) != len(sizes):
        raise ValueError(
            f"initial_states must be a list of {len(sizes)} arrays (one per layer, visible "
            f"first), got {type(initial_states).__name__} of length "
            f"{len(initial_states) if hasattr(initial_states, '__len__') else 'none'}."
        )
    dtype = dbm.components_[0].dtype
    states = []
    for layer, (x, n) in enumerate(zip(initial_states, sizes, strict=True)):
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != n or x.shape[0] != np.shape(initial_states[0])[0]:
            raise ValueError(
                f"initial_states[{layer}] must have shape (n_runs, {n}) with the same n_runs as "
                f"initial_states[0], got {x.shape}."
            )
        if not np.all((x == 0) | (x == 1)):
            raise ValueError(f"initial_states[{layer}] must hold binary states (0 or 1).")
        states.append(np.array(x, dtype=dtype, order="C"))  # a copy: the caller's stay as given
    rng = check_random_state(random_state)
    for _ in range(int(n_gibbs_sweeps)):
        dbm.gibbs_sweep(states, rng)
    log_weights, log_z_base = _annealing_runs(
        dbm, b, betas[::-1], states[0].shape[0], states, data, base_rate, state_layers, rng
    )
    forward_like = evaluation._summarise(log_weights, 0.0, betas.size)  # log(Z_A / Z) estimate
    return evaluation.AISResult(
        log_z=log_z_base - forward_like.log_z,
        log_z_std=forward_like.log_z_std,
        lower=log_z_base - forward_like.upper,
        upper=log_z_base - forward_like.lower,
        log_weights=log_weights,
        log_z_base=log_z_base,
        n_runs=forward_like.n_runs,
        n_betas=betas.size,
        direction="reverse",
    )


def _annealing_runs(dbm, b, betas, R, initial, data, base_rate, state_layers, random_state):
    """Log weights of ``R`` annealing runs along ``betas`` and ``log Z_A``; ``b`` holds the
    DBM's biases in float64 (:func:`_read_dbm`).

    Forward (``initial`` None, ``betas`` from 0 to 1): the state starts as a sample of the base
    model. Reverse (``initial`` the states of every layer, ``betas`` from 1 to 0): it starts as
    given. Each step adds ``log p*_new(s) - log p*_old(s)`` to the weights, then samples the summed
    layers and the state at the new inverse temperature.
    """
    from ._kernels import ais as ais_kernels
    from ._kernels import dbm as kernels

    if state_layers not in ("auto", "odd", "even"):
        raise ValueError(f"state_layers must be 'auto', 'odd' or 'even', got {state_layers!r}.")
    sizes = [dbm.components_[0].shape[1], *(w.shape[0] for w in dbm.components_)]
    L = len(dbm.components_)
    if state_layers == "auto":
        parity = _smaller_parity(sizes, range(L + 1))
    else:
        parity = 1 if state_layers == "odd" else 0
    state = range(parity, L + 1, 2)
    summed = range(1 - parity, L + 1, 2)
    base = _base_biases(dbm, sizes, data, base_rate)
    rng = check_random_state(random_state)
    dtype = dbm.components_[0].dtype
    W = [np.ascontiguousarray(w, dtype=dtype) for w in dbm.components_]
    x = [np.zeros((R, n), dtype) for n in sizes]
    noise = [np.empty((R, n), dtype) for n in sizes]
    state_term, part = np.zeros(R), np.empty(R)
    log_weights = np.zeros(R)

    def layer_input(layer):
        pre = np.zeros((R, sizes[layer]), dtype)
        if layer > 0:
            pre += x[layer - 1] @ W[layer - 1].T
        if layer < L:
            pre += x[layer + 1] @ W[layer]
        return pre

    def sample_state(beta):
        # Also d(s) = sum_(l in S) (b_l - a_l) . s_l, the state's part of d log p* / d beta.
        state_term[...] = 0.0
        for layer in state:
            rng.random(dtype=dtype, out=noise[layer])
            ais_kernels.ais_visible_bernoulli(
                layer_input(layer), base[layer], b[layer], beta, noise[layer], x[layer], part
            )
            state_term[...] += part

    def reweight_and_sample_summed(beta_old, beta_new, sample):
        log_weights[...] += (beta_new - beta_old) * state_term
        # Every summed layer's input comes from the state alone: compute all before sampling.
        inputs = [layer_input(layer) for layer in summed]
        for layer, pre in zip(summed, inputs, strict=True):
            uniform = rng.random(dtype=dtype, out=noise[layer]) if sample else None
            kernels.ais_summed_layer(
                pre, base[layer], b[layer], beta_old, beta_new, uniform, x[layer], log_weights
            )

    if initial is None:
        sample_state(betas[0])
    else:
        for layer in state:
            x[layer][...] = initial[layer]
            state_term[...] += x[layer].astype(np.float64) @ (b[layer] - base[layer])
    n_steps = betas.size - 1
    for step in range(n_steps):
        last = step == n_steps - 1
        reweight_and_sample_summed(betas[step], betas[step + 1], not last)
        if not last:
            sample_state(betas[step + 1])
    log_z_base = sum(float(np.sum(_softplus(a))) for a in base)
    if not np.isfinite(log_weights).all():
        raise FloatingPointError("AIS produced non-finite importance weights; use more betas.")
    return log_weights, log_z_base


def _base_biases(dbm, sizes, data, base_rate):
    """Log-odds of the base model's units, one array per layer (zeros: uniform)."""
    base = [_visible_base_rate(sizes[0], data, base_rate)]
    base += [np.zeros(n) for n in sizes[1:]]
    if data is not None:
        # A base model closer to the target lets the importance weights spread less.
        rows = np.ascontiguousarray(np.asarray(data)[:10000], dtype=dbm.components_[0].dtype)
        for layer, means in enumerate(dbm.mean_field(rows), start=1):
            p = np.clip(means.astype(np.float64).mean(axis=0), 1e-3, 1 - 1e-3)
            base[layer] = np.log(p) - np.log1p(-p)
    return base


def _visible_base_rate(n_visible, data, base_rate):
    """Log-odds of the base model's visible units (uniform by default)."""
    if data is not None and base_rate is not None:
        raise ValueError("pass either data or base_rate, not both.")
    if data is not None:
        data = check_array(data, "data", n_features=n_visible, value_range=(0.0, 1.0))
        # Laplace's rule of succession: a pixel never on in the data gets a finite log-odds.
        p = (np.asarray(data.sum(axis=0), dtype=np.float64) + 1.0) / (data.shape[0] + 2.0)
        return np.log(p) - np.log1p(-p)
    if base_rate is None:
        return np.zeros(n_visible)
    rate = check_array(base_rate, "base_rate", dtype=(np.float64,), ensure_2d=False, copy=True)
    if rate.shape != (n_visible,) or np.any((rate <= 0) | (rate >= 1)):
        raise ValueError(
            f"base_rate must hold {n_visible} visible marginals in (0, 1), got shape "
            f"{rate.shape} with values in [{rate.min():g}, {rate.max():g}]."
        )
    return np.log(rate) - np.log1p(-rate)
