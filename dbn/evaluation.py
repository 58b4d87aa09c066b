"""Likelihood evaluation of RBMs: exact log partition function for small models, AIS for large ones.

The probability of a visible vector under an RBM is ``p(v) = exp(-F(v)) / Z``: the free energy
``F`` is cheap, the partition function ``Z`` is not. :func:`exact_log_partition` computes ``log Z``
by enumerating the states of the smaller binary layer (tiny models, tests);
:func:`ais_log_partition` estimates it by Annealed Importance Sampling (Neal 2001) from a base-rate
model, as Salakhutdinov & Murray (2008) did for MNIST RBMs; :func:`log_likelihood` turns either
into the average test log-likelihood in nats.

Every unit type of :mod:`dbn.rbm` is covered: binary or Gaussian visible units, binary or linear
Gaussian hidden units. All sums are done in float64, whatever the model's dtype.

References
----------
Neal, R. M. (2001). Annealed importance sampling. Statistics and Computing 11(2), 125-139.
Salakhutdinov, R., & Murray, I. (2008). On the quantitative analysis of deep belief networks. ICML.
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR 2010-003.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ._dbm_likelihood import (  # Deep Boltzmann Machines: their own module, re-exported here
    _binary_states,  # the enumeration both exact log Z's walk
    dbm_ais_log_partition,
    dbm_exact_log_partition,
    dbm_exact_log_probability,
    dbm_reverse_ais_log_partition,
    dbm_variational_bound,
)
from ._validation import check_array, check_is_fitted, check_random_state, check_scalar

__all__ = [
    "AISResult",
    "RAISEResult",
    "ais_log_partition",
    "annealing_schedule",
    "dbm_ais_log_partition",
    "dbm_exact_log_partition",
    "dbm_exact_log_probability",
    "dbm_reverse_ais_log_partition",
    "dbm_variational_bound",
    "exact_log_partition",
    "log_likelihood",
    "raise_log_likelihood",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Salakhutdinov & Murray (2008): 500 steps of 1e-3 up to 0.5, 4,000 of 1e-4 up to 0.9 and 10,000 of
# 1e-5 up to 1. The target's distribution changes fastest near beta = 1, where the steps are finest.
_SCHEDULE_KNOTS = (0.0, 0.5, 0.9, 1.0)
_SCHEDULE_STEPS = (500, 4000, 10000)


# ----------------------------------------------------------------------------------- model access
@dataclass(frozen=True)
class _Model:
    """An RBM's parameters in float64 plus its unit types, read once per call."""

    weights: np.ndarray  # (H, V), W
    hidden_bias: np.ndarray  # (H,), c
    visible_bias: np.ndarray  # (V,), b
    sigma: np.ndarray  # (V,), ones for binary visible units
    visible: str
    hidden: str
    dtype: np.dtype

    @property
    def n_visible(self):
        return self.weights.shape[1]

    @property
    def n_hidden(self):
        return self.weights.shape[0]


def _read_model(rbm):
    if not hasattr(rbm, "fit") or not hasattr(rbm, "get_params"):
        raise TypeError(
            f"rbm must be a fitted BernoulliRBM or GaussianBernoulliRBM, got {type(rbm).__name__}."
        )
    check_is_fitted(rbm, "components_")
    weights = np.asarray(rbm.components_)
    visible = getattr(rbm, "_visible_unit", "bernoulli")
    hidden = getattr(rbm, "hidden_unit", "bernoulli")
    sigma = getattr(rbm, "sigma_", None)
    sigma = np.ones(weights.shape[1]) if sigma is None else np.asarray(sigma, dtype=np.float64)
    model = _Model(
        weights=weights.astype(np.float64),
        hidden_bias=np.asarray(rbm.intercept_hidden_, dtype=np.float64),
        visible_bias=np.asarray(rbm.intercept_visible_, dtype=np.float64),
        sigma=sigma,
        visible=visible,
        hidden=hidden,
        dtype=weights.dtype if weights.dtype in (np.float32, np.float64) else np.dtype(np.float64),
    )
    for name, value in (
        ("components_", model.weights),
        ("intercept_hidden_", model.hidden_bias),
        ("intercept_visible_", model.visible_bias),
        ("sigma_", model.sigma),
    ):
        if not np.isfinite(value).all():
            raise ValueError(f"rbm.{name} contains NaN or inf; its likelihood is undefined.")
    return model


def _free_energy(model, X):
    """``F(v)`` of the rows of dense ``X`` in float64: :func:`dbn._rbm_math.free_energy`, the
    definition ``rbm.free_energy`` uses, called with the float64 copies of the parameters.

    Not ``rbm.free_energy`` itself, which works in the model's dtype: ``log Z`` and ``F`` must come
    from the same float64 arithmetic to be subtracted.
    """
    from ._rbm_math import free_energy

    return free_energy(
        np.asarray(X, dtype=np.float64),
        model.weights,
        model.hidden_bias,
        model.visible_bias,
        visible_unit=model.visible,
        hidden_unit=model.hidden,
        sigma=model.sigma,
    )


# ------------------------------------------------------------------------------- exact log Z
def _log_terms_over_hidden(model, states):
    """``log sum_v exp(-E(v, h))`` (or the integral over ``v``) for each binary hidden state."""
    from ._kernels import rbm as kernels

    top_down = states @ model.weights  # (n, V): (h W)_i
    out = states @ model.hidden_bias
    if model.visible == "bernoulli":
        # The kernel subtracts sum_i softplus(b_i + a_i); negate around it to add.
        out = -out
        kernels.free_energy_bernoulli_hidden(top_down, model.visible_bias, out)
        out = -out
    else:
        # int exp(-(v - b)^2 / (2 s^2) + v a / s) dv = s sqrt(2 pi) exp(a^2 / 2 + a b / s).
        out += (
            top_down @ (model.visible_bias / model.sigma)
            + 0.5 * np.einsum("ij,ij->i", top_down, top_down)
            + np.sum(np.log(model.sigma))
            + model.n_visible * _HALF_LOG_2PI
        )
    return out


def _gaussian_log_partition(model):
    """Closed-form ``log Z`` when both layers are Gaussian (the joint is a multivariate normal).

    In ``u = v / sigma`` the energy is ``x^T P x / 2 - m^T x + |b / sigma|^2 / 2`` with
    ``x = [u; h]``, ``P = [[I, -W^T], [-W, I]]`` and ``m = [b / sigma; c]``.
    """
    V, H = model.n_visible, model.n_hidden
    W = model.weights
    precision = np.eye(V + H)
    precision[V:, :V] = -W
    precision[:V, V:] = -W.T
    try:
        cholesky = np.linalg.cholesky(precision)
    except np.linalg.LinAlgError:
        top = np.linalg.norm(W, 2)
        raise ValueError(
            "this RBM with Gaussian visible and Gaussian hidden units has no finite partition "
            f"function: its weights' largest singular value is {top:.4g} >= 1, so exp(-E) is not "
            "integrable."
        ) from None
    mean_term = np.concatenate([model.visible_bias / model.sigma, model.hidden_bias])
    solved = np.linalg.solve(precision, mean_term)
    log_det = 2.0 * np.sum(np.log(np.diag(cholesky)))
    return float(
        np.sum(np.log(model.sigma))
        + (V + H) * _HALF_LOG_2PI
        - 0.5 * log_det
        + 0.5 * mean_term @ solved
        - 0.5 * np.sum((model.visible_bias / model.sigma) ** 2)
    )


def exact_log_partition(rbm, *, max_units=25, chunk_size=None):
    """Exact ``log Z`` of a small RBM, by enumerating the states of its smaller binary layer.

    The other layer is summed or integrated out analytically, so the cost is
    ``2**min(n_visible, n_hidden)`` states times one row of the other layer:

    - binary hidden states ``h``: ``log Z = logsumexp_h [c.h + sum_i softplus(b_i + (h W)_i)]`` for
      binary visible units, and ``c.h + sum_i [log(sigma_i sqrt(2 pi)) + b_i a_i / sigma_i +
      a_i^2 / 2]`` with ``a = h W`` for Gaussian visible units;
    - binary visible states ``v``: ``log Z = logsumexp_v -F(v)``, for binary or linear Gaussian
      hidden units;
    - Gaussian visible and Gaussian hidden units: the joint is normal and ``log Z`` has a closed form
      (finite only when the weights' largest singular value is below 1); no enumeration.

    Parameters
    ----------
    rbm : BernoulliRBM or GaussianBernoulliRBM
        A fitted model.
    max_units : int, default=25
        Largest number of units enumerated (``2**25`` states, about a minute per hundred units of
        the other layer on one core). Larger models are refused: use :func:`ais_log_partition`.
    chunk_size : int, optional
        States processed at a time; memory is about ``3 * chunk_size * max(n_visible, n_hidden)``
        floats. By default ``2**16`` states, fewer for wide layers, to stay near 100 MB.

    Returns
    -------
    log_z : float

    Raises
    ------
    ValueError
        If the layer to enumerate has more than ``max_units`` units, or a Gaussian-Gaussian model is
        not normalisable.

    References
    ----------
    Salakhutdinov, R., & Murray, I. (2008). On the quantitative analysis of deep belief networks.
    ICML (section 3: summing out one layer).
    """
    model = _read_model(rbm)
    check_scalar(max_units, "max_units", kind=numbers.Integral, low=0, high=62)
    if chunk_size is not None:
        check_scalar(chunk_size, "chunk_size", kind=numbers.Integral, low=1)
    if model.visible == "gaussian" and model.hidden == "gaussian":
        return _gaussian_log_partition(model)
    # A layer can be enumerated only when it is binary; the other one is then summed out.
    options = []
    if model.hidden == "bernoulli":
        options.append(("hidden", model.n_hidden))
    if model.visible == "bernoulli":
        options.append(("visible", model.n_visible))
    layer, n_units = min(options, key=lambda option: option[1])
    if n_units > max_units:
        which = (
            "both layers have"
            if len(options) == 2
            else f"the {layer} layer, the only binary one, has"
        )
        raise ValueError(
            f"exact_log_partition enumerates the 2**n states of the smaller binary layer, but "
            f"{which} more than max_units={max_units} units (n_visible={model.n_visible}, "
            f"n_hidden={model.n_hidden}). Use ais_log_partition(rbm) for an estimate, or raise "
            f"max_units if 2**{n_units} states are affordable."
        )
    if chunk_size is None:
        other = model.n_visible if layer == "hidden" else model.n_hidden
        chunk_size = max(1, min(1 << 16, (1 << 22) // max(other, n_units)))
    total = -math.inf
    n_states = 1 << n_units
    for start in range(0, n_states, chunk_size):
        states = _binary_states(start, min(start + chunk_size, n_states), n_units)
        if layer == "hidden":
            terms = _log_terms_over_hidden(model, states)
        else:
            terms = -_free_energy(model, states)
        peak = terms.max()
        total = np.logaddexp(total, peak + math.log(np.sum(np.exp(terms - peak))))
    return float(total)


# ------------------------------------------------------------------------------------- AIS
@dataclass(frozen=True)
class AISResult:
    """Estimate of ``log Z`` by Annealed Importance Sampling, as returned by :func:`ais_log_partition`.

    Attributes
    ----------
    log_z : float
        ``log Z_A + log mean(w)``: the log of an unbiased estimate of ``Z``. Being the log of an
        unbiased estimate it is biased low (Jensen), so log-likelihoods computed from it tend to be
        optimistic when the weights are too few or too spread out (Salakhutdinov & Murray 2008).
    log_z_std : float
        Standard error of ``log_z`` by the delta method, ``std(w) / (sqrt(n_runs) mean(w))``; NaN
        for a single run.
    lower, upper : float
        ``log Z_A + log(mean(w) -/+ 3 std(w) / sqrt(n_runs))``; ``lower`` is ``-inf`` when the
        spread of the weights exceeds a third of their mean times ``sqrt(n_runs)``.
    log_weights : ndarray of shape (n_runs,)
        Log importance weights ``log w`` of the runs (without ``log Z_A``), float64.
    log_z_base : float
        ``log Z_A`` of the base-rate model.
    n_runs : int
    n_betas : int
        Number of inverse temperatures, both ends included.
    direction : {"forward", "reverse"}
        ``"reverse"`` for :func:`dbm_reverse_ais_log_partition`: the runs anneal from the model to
        the base model, ``log_z = log Z_A - log mean(w)``, and the estimate errs HIGH (when the
        runs start from exact samples of the model) where the forward one errs low.
    """

    log_z: float
    log_z_std: float
    lower: float
    upper: float
    log_weights: np.ndarray = field(repr=False)
    log_z_base: float
    n_runs: int
    n_betas: int
    direction: str = "forward"

    @property
    def effective_sample_size(self):
        """``(sum w)^2 / sum w^2``: close to ``n_runs`` when the weights are even, 1 when one run
        dominates, in which case the bounds are not to be trusted (Neal 2001, section 3)."""
        w = np.exp(self.log_weights - self.log_weights.max())
        return float(w.sum() ** 2 / np.sum(w * w))

    def __float__(self):
        return float(self.log_z)


def annealing_schedule(n_betas):
    """Inverse temperatures ``0 = beta_0 <= ... <= beta_K = 1`` shaped as Salakhutdinov & Murray's.

    The ``n_betas - 1`` steps are split between ``[0, 0.5]``, ``[0.5, 0.9]`` and ``[0.9, 1]`` in the
    proportions 500 : 4,000 : 10,000 of their 14,500-step schedule, evenly spaced within each
    segment, so ``n_betas=14501`` gives their schedule exactly; fewer than 30 betas are spaced
    evenly on ``[0, 1]``.

    Parameters
    ----------
    n_betas : int
        At least 2.

    Returns
    -------
    betas : ndarray of shape (n_betas,), float64
    """
    check_scalar(n_betas, "n_betas", kind=numbers.Integral, low=2)
    steps = n_betas - 1
    if steps < sum(_SCHEDULE_STEPS) / _SCHEDULE_STEPS[0]:
        return np.linspace(0.0, 1.0, n_betas)
    first = max(1, round(steps * _SCHEDULE_STEPS[0] / sum(_SCHEDULE_STEPS)))
    second = max(1, round(steps * _SCHEDULE_STEPS[1] / sum(_SCHEDULE_STEPS)))
    counts = (first, second, steps - first - second)
    pieces = [
        np.linspace(lo, hi, count, endpoint=False)
        for lo, hi, count in zip(_SCHEDULE_KNOTS[:-1], _SCHEDULE_KNOTS[1:], counts, strict=True)
    ]
    return np.concatenate([*pieces, [1.0]])


def _check_betas(n_betas):
    if isinstance(n_betas, numbers.Integral) and not isinstance(n_betas, bool | np.bool_):
        return annealing_schedule(n_betas)
    if isinstance(n_betas, bool | np.bool_ | str | bytes) or np.ndim(n_betas) != 1:
        raise TypeError(
            f"n_betas must be an integer or a 1-D array of inverse temperatures, got {n_betas!r}."
        )
    # NaN and inf pass here to get the schedule-specific message below.
    betas = check_array(
        n_betas, "n_betas", dtype=(np.float64,), ensure_2d=False, min_samples=0, allow_nan=True
    )
    if (
        betas.size < 2
        or not np.isfinite(betas).all()
        or betas[0] != 0.0
        or betas[-1] != 1.0
        or np.any(np.diff(betas) < 0)
    ):
        raise ValueError(
            "n_betas as an array must be a non-decreasing schedule of at least 2 finite values "
            f"from exactly 0 to exactly 1, got {betas.size} values in "
            f"[{betas.min() if betas.size else float('nan'):g}, "
            f"{betas.max() if betas.size else float('nan'):g}]."
        )
    return betas


def _base_rate(model, data, base_rate):
    """Visible parameters of the base-rate model: log-odds (binary) or means (Gaussian)."""
    V = model.n_visible
    if data is not None and base_rate is not None:
        raise ValueError("pass either data or base_rate, not both.")
    if data is not None:
        value_range = (0.0, 1.0) if model.visible == "bernoulli" else None
        data = check_array(data, "data", accept_sparse=True, n_features=V, value_range=value_range)
        totals = np.asarray(data.sum(axis=0), dtype=np.float64).ravel()
        if model.visible == "gaussian":
            return totals / data.shape[0]
        # Laplace's rule of succession: a pixel never on in the data gets a finite log-odds.
        p = (totals + 1.0) / (data.shape[0] + 2.0)
        return np.log(p) - np.log1p(-p)
    if base_rate is None:
        # Binary: the uniform distribution, a broad proposal. Gaussian: the target's visible biases
        # with its own standard deviations.
        return np.zeros(V) if model.visible == "bernoulli" else model.visible_bias.copy()
    rate = check_array(
        base_rate, "base_rate", dtype=(np.float64,), ensure_2d=False, min_samples=0, copy=True
    )
    if rate.shape != (V,):
        raise ValueError(f"base_rate must be an array of shape ({V},), got shape {rate.shape}.")
    if model.visible == "gaussian":
        return rate
    if np.any((rate <= 0) | (rate >= 1)):
        raise ValueError(
            "base_rate holds the visible marginals p_i of the base-rate model and must lie in "
            f"(0, 1), got values in [{rate.min():g}, {rate.max():g}]."
        )
    return np.log(rate) - np.log1p(-rate)


def ais_log_partition(
    rbm, *, n_betas=10000, n_runs=100, data=None, base_rate=None, random_state=None
):
    """Estimate ``log Z`` of an RBM by Annealed Importance Sampling (AIS).

    ``n_runs`` independent chains start from the base-rate model ``A`` (zero weights and hidden
    biases; visible biases from ``data`` or ``base_rate``), whose ``Z_A`` is known, and move
    through the distributions ``p_k ∝ p*_A^(1 - beta_k) p*_B^(beta_k)`` towards the target ``B``:
    one Gibbs step ``h ~ p_k(h | v)``, ``v ~ p_k(v | h)`` at each intermediate ``beta_k``. Each chain
    accumulates the log importance weight ``log w = sum_k log p*_k(v_(k-1)) - log p*_(k-1)(v_(k-1))``
    with the hidden units summed out, and ``Z_B ≈ Z_A mean(w)`` (Neal 2001; Salakhutdinov & Murray
    2008). Along the path the visible biases are interpolated and the target's weights and hidden
    biases are scaled by ``beta``.

    What holds for each unit type:

    - binary visible, binary hidden: the scheme of Salakhutdinov & Murray (2008);
    - Gaussian visible units: the base model is a product of independent normals with means from
      ``data`` (the target's visible biases by default) and the target's ``sigma_``, so the
      intermediate visible conditionals are normal with the same ``sigma``;
    - linear Gaussian hidden units: the ``h^2 / 2`` term of the energy keeps its full weight along
      the path (only ``W`` and ``c`` are scaled), since ``beta h^2 / 2`` would make ``p_0``
      improper. A Gaussian-Gaussian model with no finite ``Z`` is refused.

    Parameters
    ----------
    rbm : BernoulliRBM or GaussianBernoulliRBM
        A fitted model.
    n_betas : int or array-like of shape (n_betas,), default=10000
        Number of inverse temperatures, laid out by :func:`annealing_schedule` (14501 reproduces
        Salakhutdinov & Murray's schedule), or the schedule itself: non-decreasing, from 0 to 1.
        The estimate's bias and variance shrink as the steps get finer.
    n_runs : int, default=100
        Independent AIS chains; the error bars shrink as ``1 / sqrt(n_runs)``.
    data : array-like of shape (n_samples, n_features), optional
        Training data, whose per-feature means set the base-rate model: log-odds of
        ``(count + 1) / (n_samples + 2)`` for binary units, means for Gaussian units. A base rate
        close to the data makes AIS much more accurate than the uniform distribution
        (Salakhutdinov & Murray 2008, section 4.1).
    base_rate : array-like of shape (n_features,), optional
        The base-rate model's visible marginals directly: probabilities in (0, 1) for binary units,
        means for Gaussian units. By default (neither given) the uniform distribution for binary
        units and the target's visible biases for Gaussian units.
    random_state : int, numpy Generator or None
        Seeds the chains: the same seed gives the same estimate (with the same BLAS threading).

    Returns
    -------
    result : AISResult
        ``log_z``, its standard error ``log_z_std``, the bounds ``lower`` and ``upper`` at three
        standard errors of ``mean(w)``, the ``log_weights`` and the base model's ``log_z_base``.

    Notes
    -----
    The GEMMs (two of ``n_runs x n_visible x n_hidden`` per step) run in the model's dtype through
    numpy's BLAS; sampling and the weight increments are fused in :mod:`dbn._kernels.ais` and the
    log weights are accumulated in float64. A 784-500 MNIST model with ``n_runs=100`` and
    ``n_betas=14501`` takes about a minute on two cores.

    ``Z`` is estimated without bias, ``log Z`` with a downward bias, so ``log_likelihood`` from an
    AIS estimate errs on the optimistic side when the runs are too few or too short; the
    ``effective_sample_size`` of the result tells when the weights are dominated by a few runs.

    References
    ----------
    Neal, R. M. (2001). Annealed importance sampling. Statistics and Computing 11(2), 125-139.
    Salakhutdinov, R., & Murray, I. (2008). On the quantitative analysis of deep belief networks.
    ICML.
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines.

    Examples
    --------
    >>> import numpy as np
    >>> from dbn import BernoulliRBM
    >>> from dbn.evaluation import ais_log_partition, exact_log_partition, log_likelihood
    >>> X = (np.random.default_rng(0).random((200, 12)) < 0.3).astype(np.float64)
    >>> rbm = BernoulliRBM(8, n_iter=5, batch_size=20, random_state=0).fit(X)
    >>> ais = ais_log_partition(rbm, n_betas=2000, n_runs=50, data=X, random_state=0)
    >>> bool(abs(ais.log_z - exact_log_partition(rbm)) < 0.1)
    True
    >>> float(log_likelihood(rbm, X, ais)) < 0
    True
    """
    model = _read_model(rbm)
    betas = _check_betas(n_betas)
    check_scalar(n_runs, "n_runs", kind=numbers.Integral, low=1)
    base = _base_rate(model, data, base_rate)
    if model.visible == "gaussian" and model.hidden == "gaussian":
        _gaussian_log_partition(model)  # refuses a target without a finite Z
    rng = check_random_state(random_state)
    chains = _AnnealedChains(rbm, model, base, n_runs, rng)
    # beta_0 = 0: exact samples of the base model (visible_pre is zero).
    chains.sample_visible(0.0)
    n_steps = betas.size - 1
    for k in range(1, n_steps + 1):
        last = k == n_steps
        # p_K is the target: its weight is complete without a last transition.
        chains.reweight_and_sample_hidden(betas[k - 1], betas[k], sample=not last)
        if not last:
            chains.sample_visible(betas[k])
    log_weights = chains.log_weights
    if not np.isfinite(log_weights).all():
        raise FloatingPointError(
            "AIS produced non-finite importance weights; the model's parameters are too large "
            "for the schedule (try more betas)."
        )
    return _summarise(log_weights, chains.log_z_base, betas.size)


class _AnnealedChains:
    """Buffers and steps of ``R`` annealing chains between a base-rate model and an RBM.

    The state is a visible vector per chain, with the hidden units summed out of the weights (see
    :mod:`dbn._kernels.ais`): :meth:`sample_visible` draws ``v ~ p_beta(v | h)``;
    :meth:`reweight_and_sample_hidden` adds ``log p*_new(v) - log p*_old(v)`` to each chain's log
    weight and draws ``h ~ p_new(h | v)``. Forward AIS and reverse AIS (RAISE) are the same two steps
    run in opposite directions along the schedule.
    """

    def __init__(self, rbm, model, base, n_chains, rng):
        from ._kernels import ais as kernels

        dtype = model.dtype
        R, H, V = n_chains, model.n_hidden, model.n_visible
        self.W = np.ascontiguousarray(rbm.components_, dtype=dtype)
        self.model, self.base, self.rng = model, base, rng
        self.hidden_pre, self.hidden = np.empty((R, H), dtype), np.empty((R, H), dtype)
        self.visible_pre, self.visible = np.zeros((R, V), dtype), np.empty((R, V), dtype)
        self.noise_hidden, self.noise_visible = np.empty((R, H), dtype), np.empty((R, V), dtype)
        self.visible_term = np.empty(R, dtype=np.float64)
        self.log_weights = np.zeros(R, dtype=np.float64)
        if model.visible == "bernoulli":
            self._draw_visible = rng.random
            self._visible_kernel = kernels.ais_visible_bernoulli
            self.log_z_base = float(np.sum(np.logaddexp(0.0, base)))
        else:
            self._draw_visible = rng.standard_normal
            self._visible_kernel = kernels.ais_visible_gaussian
            self.log_z_base = float(np.sum(np.log(model.sigma)) + V * _HALF_LOG_2PI)
        if model.hidden == "bernoulli":
            self._draw_hidden, self._hidden_kernel = rng.random, kernels.ais_hidden_bernoulli
            self.log_z_base += H * math.log(2.0)
        else:
            self._draw_hidden, self._hidden_kernel = (
                rng.standard_normal,
                kernels.ais_hidden_gaussian,
            )
            self.log_z_base += H * _HALF_LOG_2PI

    def sample_visible(self, beta):
        """``v ~ p_beta(v | h)`` for every chain, then the bottom-up input of the hidden units."""
        m = self.model
        self._draw_visible(dtype=self.visible.dtype, out=self.noise_visible)
        if m.visible == "bernoulli":
            self._visible_kernel(
                self.visible_pre,
                self.base,
                m.visible_bias,
                beta,
                self.noise_visible,
                self.visible,
                self.visible_term,
            )
        else:
            self._visible_kernel(
                self.visible_pre,
                self.base,
                m.visible_bias,
                m.sigma,
                beta,
                self.noise_visible,
                self.visible,
                self.visible_term,
            )
        np.matmul(self.visible, self.W.T, out=self.hidden_pre)

    def set_visible(self, X):
        """Put the rows of ``X`` (float64, one per chain) in the chains, as :meth:`sample_visible`
        would have left them: scaled inputs, ``d(v)`` and the hidden units' input."""
        m = self.model
        if m.visible == "bernoulli":
            self.visible[...] = X
            self.visible_term[...] = X @ (m.visible_bias - self.base)
        else:
            self.visible[...] = X / m.sigma
            da = (X - self.base) / m.sigma
            db = (X - m.visible_bias) / m.sigma
            self.visible_term[...] = 0.5 * np.einsum("ij,ij->i", da, da) - 0.5 * np.einsum(
                "ij,ij->i", db, db
            )
        np.matmul(self.visible, self.W.T, out=self.hidden_pre)

    def reweight_and_sample_hidden(self, beta_old, beta_new, *, sample=True):
        """Add ``log p*_new(v) - log p*_old(v)``; then (``sample``) ``h ~ p_new(h | v)`` and the
        top-down input of the visible units."""
        noise = (
            self._draw_hidden(dtype=self.hidden.dtype, out=self.noise_hidden) if sample else None
        )
        self._hidden_kernel(
            self.hidden_pre,
            self.model.hidden_bias,
            beta_old,
            beta_new,
            self.visible_term,
            noise,
            self.hidden,
            self.log_weights,
        )
        if sample:
            np.matmul(self.hidden, self.W, out=self.visible_pre)


def _summarise(log_weights, log_z_base, n_betas):
    n_runs = log_weights.size
    shift = float(log_weights.max())
    w = np.exp(log_weights - shift)
    mean = float(w.mean())
    log_z = log_z_base + shift + math.log(mean)
    if n_runs < 2:
        log_z_std, lower, upper = math.nan, -math.inf, math.inf
    else:
        error = float(w.std(ddof=1)) / math.sqrt(n_runs)
        log_z_std = error / mean
        upper = log_z_base + shift + math.log(mean + 3.0 * error)
        low = mean - 3.0 * error
        lower = log_z_base + shift + math.log(low) if low > 0 else -math.inf
    return AISResult(
        log_z=log_z,
        log_z_std=log_z_std,
        lower=lower,
        upper=upper,
        log_weights=log_weights,
        log_z_base=log_z_base,
        n_runs=n_runs,
        n_betas=n_betas,
    )


# ------------------------------------------------------------------------- reverse AIS (RAISE)
@dataclass(frozen=True)
class RAISEResult:
    """Conservative log-likelihood estimate by reverse annealing, from :func:`raise_log_likelihood`.

    Attributes
    ----------
    log_likelihood : float
        Mean over the test vectors of ``log p_hat(v)``, in nats: the counterpart of
        ``log_likelihood(rbm, X, ais_log_partition(...))`` that errs on the low side.
    log_probabilities : ndarray of shape (n_samples,)
        ``log p_hat(v)`` of each test vector: the log of the mean of its ``n_runs`` importance
        weights, float64.
    log_likelihood_std : float
        Standard error of ``log_likelihood`` over the test vectors (NaN for one vector).
    log_z : float
        The partition function this estimate implies, ``mean(-F(v)) - log_likelihood``: an
        estimate of ``log Z`` that errs on the HIGH side, so it brackets ``log Z`` with AIS's.
    n_runs, n_betas : int
    """

    log_likelihood: float
    log_probabilities: np.ndarray = field(repr=False)
    log_likelihood_std: float
    log_z: float
    n_runs: int
    n_betas: int

    def __float__(self):
        return float(self.log_likelihood)


def raise_log_likelihood(
    rbm,
    X,
    *,
    n_betas=10000,
    n_runs=10,
    data=None,
    base_rate=None,
    chunk_size=1000,
    random_state=None,
):
    """Estimate the test log-likelihood conservatively by Reverse AIS (RAISE).

    AIS estimates ``Z`` without bias, so its ``log Z`` errs low and the log-likelihood computed from
    it errs HIGH: optimistic. RAISE (Burda, Grosse & Salakhutdinov 2015) runs the annealing the other
    way, starting at each test vector ``v`` and moving from the RBM (``beta = 1``) to the base-rate
    model (``beta = 0``) with the same Gibbs transitions ``T_k``; the importance weight

    ``w = p*_K(v) / Z_0 * prod_(k=1..K) p*_(k-1)(x_(k-1)) / p*_k(x_(k-1))``,  ``x_K = v``,
    ``x_(k-1) ~ T_k(. | x_k)``

    is an unbiased estimate of ``p_ann(v)``, the probability of ``v`` under the annealing model (the
    distribution of forward AIS's final state), which approaches the RBM as the schedule gets finer.
    ``log mean(w)`` then errs LOW (Jensen), and the average over test vectors is a stochastic lower
    bound on ``E log p_ann(v)``: a conservative estimate, where AIS's is optimistic. Reporting both
    brackets the log-likelihood, and the gap between the two says how far each may be trusted.

    No ``Z`` is needed: each vector's estimate is self-normalised through the base model's known
    ``Z_0``. Transitions and weights are the kernels of :func:`ais_log_partition`, so every unit type
    that AIS covers is covered.

    Parameters
    ----------
    rbm : BernoulliRBM or GaussianBernoulliRBM
        A fitted model.
    X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        Test vectors (binary for binary visible units). Cost grows as ``n_samples * n_runs *
        n_betas``: a random subset of a large test set is the usual practice.
    n_betas : int or array-like, default=10000
        As for :func:`ais_log_partition`; the schedule is run from 1 down to 0.
    n_runs : int, default=10
        Reverse chains per test vector.
    data, base_rate : optional
        The base-rate model, as for :func:`ais_log_partition` (a base rate close to the data makes
        both estimates tighter).
    chunk_size : int, default=1000
        Chains annealed together (bounds memory: ``chunk_size * (n_visible + n_hidden)`` floats).
        Every test vector's ``n_runs`` chains stay in one chunk.
    random_state : int, numpy Generator or None

    Returns
    -------
    RAISEResult

    References
    ----------
    Burda, Y., Grosse, R. B., & Salakhutdinov, R. (2015). Accurate and conservative estimates of MRF
    log-likelihood using reverse annealing. AISTATS.
    Neal, R. M. (2001). Annealed importance sampling. Statistics and Computing 11(2), 125-139.

    Examples
    --------
    >>> import numpy as np
    >>> from dbn import BernoulliRBM
    >>> from dbn.evaluation import exact_log_partition, log_likelihood, raise_log_likelihood
    >>> X = (np.random.default_rng(0).random((200, 12)) < 0.3).astype(np.float64)
    >>> rbm = BernoulliRBM(8, n_iter=5, batch_size=20, random_state=0).fit(X)
    >>> result = raise_log_likelihood(rbm, X[:50], n_betas=1000, n_runs=20, data=X, random_state=0)
    >>> exact = log_likelihood(rbm, X[:50], exact_log_partition(rbm))
    >>> bool(exact - 0.2 < result.log_likelihood < exact + 0.05)
    True
    """
    model = _read_model(rbm)
    betas = _check_betas(n_betas)
    check_scalar(n_runs, "n_runs", kind=numbers.Integral, low=1)
    check_scalar(chunk_size, "chunk_size", kind=numbers.Integral, low=1)
    base = _base_rate(model, data, base_rate)
    if model.visible == "gaussian" and model.hidden == "gaussian":
        _gaussian_log_partition(model)
    X = _test_vectors(model, X)
    rng = check_random_state(random_state)
    n_samples = X.shape[0]
    per_chunk = max(1, int(chunk_size) // int(n_runs))
    log_probabilities = np.empty(n_samples, dtype=np.float64)
    negative_free_energy = -_free_energy(model, X)
    for start in range(0, n_samples, per_chunk):
        rows = np.repeat(X[start : start + per_chunk], n_runs, axis=0)
        chains = _AnnealedChains(rbm, model, base, rows.shape[0], rng)
        chains.set_visible(rows)
        # h ~ p_K(h | v) at the target, then down the schedule: x_(k-1) ~ T_k(x_k) at beta_k, and
        # the weight gains log p*_(k-1)(x_(k-1)) - log p*_k(x_(k-1)).
        chains.reweight_and_sample_hidden(1.0, 1.0)
        for k in range(betas.size - 1, 0, -1):
            chains.sample_visible(betas[k])
            chains.reweight_and_sample_hidden(betas[k], betas[k - 1], sample=k > 1)
        log_w = chains.log_weights.reshape(-1, n_runs)
        shift = log_w.max(axis=1)
        log_mean = shift + np.log(np.mean(np.exp(log_w - shift[:, None]), axis=1))
        stop = start + log_w.shape[0]
        log_probabilities[start:stop] = (
            negative_free_energy[start:stop] - chains.log_z_base + log_mean
        )
    if not np.isfinite(log_probabilities).all():
        raise FloatingPointError(
            "RAISE produced non-finite importance weights; the model's parameters are too large "
            "for the schedule (try more betas)."
        )
    mean = float(log_probabilities.mean())
    std = float(log_probabilities.std(ddof=1) / math.sqrt(n_samples)) if n_samples > 1 else math.nan
    return RAISEResult(
        log_likelihood=mean,
        log_probabilities=log_probabilities,
        log_likelihood_std=std,
        log_z=float(negative_free_energy.mean()) - mean,
        n_runs=int(n_runs),
        n_betas=int(betas.size),
    )


def _test_vectors(model, X):
    """Dense float64 test vectors, binary for binary visible units."""
    value_range = (0.0, 1.0) if model.visible == "bernoulli" else None
    X = check_array(X, "X", accept_sparse=True, n_features=model.n_visible, value_range=value_range)
    X = X.toarray() if hasattr(X, "toarray") else X
    if model.visible == "bernoulli" and not np.all((X == 0) | (X == 1)):
        raise ValueError(
            "X must be binary (0 or 1) for an RBM with binary visible units: p(v) is defined for "
            "binary vectors only. Binarise it, e.g. X = (X > 0.5).astype(float)."
        )
    return np.asarray(X, dtype=np.float64)


# ------------------------------------------------------------------------------ log-likelihood
def log_likelihood(rbm, X, log_z, *, return_bounds=False):
    """Average log-probability ``mean_n log p(x_n) = mean_n(-F(x_n)) - log Z`` in nats.

    Parameters
    ----------
    rbm : BernoulliRBM or GaussianBernoulliRBM
        A fitted model.
    X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        Test data: binary for binary visible units (log-probabilities of probabilities are not
        defined; binarise, e.g. ``X > 0.5``), real-valued for Gaussian ones (a log-density).
    log_z : float or AISResult
        ``log Z`` from :func:`exact_log_partition` or :func:`ais_log_partition`.
    return_bounds : bool, default=False
        Also return the bounds implied by an :class:`AISResult`'s ``upper`` and ``lower``.

    Returns
    -------
    log_likelihood : float
    lower, upper : float
        Only with ``return_bounds``: ``mean(-F) - log_z.upper`` and ``mean(-F) - log_z.lower``.

    References
    ----------
    Salakhutdinov, R., & Murray, I. (2008). On the quantitative analysis of deep belief networks.
    ICML.
    """
    model = _read_model(rbm)
    if isinstance(log_z, AISResult):
        estimate = log_z.log_z
    elif isinstance(log_z, numbers.Real) and not isinstance(log_z, bool | np.bool_):
        estimate = float(check_scalar(log_z, "log_z", kind=numbers.Real))
    else:
        raise TypeError(
            f"log_z must be a float or an AISResult, got {type(log_z).__name__}: {log_z!r}."
        )
    if not isinstance(return_bounds, bool | np.bool_):
        raise TypeError(f"return_bounds must be True or False, got {return_bounds!r}.")
    if return_bounds and not isinstance(log_z, AISResult):
        raise ValueError(
            "return_bounds=True needs log_z to be an AISResult from ais_log_partition."
        )
    X = _test_vectors(model, X)
    mean_negative_free_energy = float(np.mean(-_free_energy(model, X)))
    value = mean_negative_free_energy - estimate
    if return_bounds:
        return (
            value,
            mean_negative_free_energy - log_z.upper,
            mean_negative_free_energy - log_z.lower,
        )
    return value
