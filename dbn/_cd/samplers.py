"""Where the negative statistics of CD come from: the unit conditionals, CD-k, PCD and tempering.

- :func:`hidden_units`, :func:`visible_units`: the conditionals ``p(h | v)`` and ``p(v | h)`` of
  binary and Gaussian units, means and samples (also used by the estimators' ``transform`` and
  their Gibbs samplers);
- :class:`Units`: those conditionals for one RBM's parameters, writing the CD statistics of a layer
  in the pass that computes it;
- :func:`negative_phase`: ``k`` Gibbs steps from the data's hidden states (CD-k, Hinton 2002) or
  from persistent chains (PCD, Tieleman 2008), started by :func:`start_chains`;
- :class:`ParallelTempering`: chains at lower inverse temperatures that swap states with the
  persistent chains after every minibatch (Desjardins et al. 2010).

Every function that samples draws from the ``numpy.random.Generator`` it is given, in a fixed order
(see :mod:`dbn._kernels.counter_random`), and holds no random state of its own.

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence. Neural
Computation 14(8).
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the likelihood
gradient. ICML.
Desjardins, G., Courville, A., Bengio, Y., Vincent, P., & Delalleau, O. (2010). Tempered Markov
chain Monte Carlo for training of restricted Boltzmann machines. AISTATS.
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR 2010-003.
"""

from __future__ import annotations

import numpy as np

from .._kernels import rbm as kernels
from .._kernels.counter_random import draw_key

__all__ = [
    "NO_KEY",
    "ParallelTempering",
    "Units",
    "dense_rows",
    "hidden_units",
    "negative_phase",
    "scaled_visible",
    "start_chains",
    "visible_units",
]

#: Key passed to a sampling kernel that does not sample (a placeholder of the right type).
NO_KEY = np.uint64(0)


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


def dense_rows(X, rows, dtype):
    """``X[rows]`` as a C-contiguous dense array of ``dtype`` (``X`` dense or sparse)."""
    part = X[rows]
    part = part.toarray() if hasattr(part, "toarray") else part
    return np.ascontiguousarray(part, dtype=dtype)


def scaled_visible(v, sigma, out):
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


class Units:
    """The visible and hidden units of one RBM: its conditionals, with the CD statistics.

    Parameters
    ----------
    parameters : dict of str to ndarray
        The RBM's parameters (read, never written here).
    visible_unit, hidden_unit : {"bernoulli", "gaussian"}

    Notes
    -----
    The methods take ``buffers``, the step's work arrays (``"noise_hidden"``, ``"noise_visible"``,
    ``"ones_hidden"``, ``"ones_visible"``), so that nothing is allocated per minibatch.
    """

    def __init__(self, parameters, visible_unit, hidden_unit):
        self.parameters = parameters
        self.visible_unit = visible_unit
        self.hidden_unit = hidden_unit

    def sigma(self):
        """Standard deviations of Gaussian visible units with learned variances, else None."""
        log_variance = self.parameters.get("log_variance_")
        return None if log_variance is None else np.exp(0.5 * log_variance)

    def hidden(self, pre, mean_out, sample_out, rng, buffers, *, sample):
        noise = buffers["noise_hidden"][: pre.shape[0]] if self.hidden_unit == "gaussian" else None
        hidden_units(
            pre,
            self.parameters["intercept_hidden_"],
            self.hidden_unit,
            rng,
            mean_out,
            sample_out,
            sample=sample,
            noise=noise,
            scale=buffers["ones_hidden"],
        )

    def visible(self, pre, mean_out, sample_out, rng, buffers, *, sample):
        noise = None
        if self.visible_unit == "gaussian":
            noise = buffers["noise_visible"][: pre.shape[0]]
        sigma = self.sigma()
        if sigma is None:
            sigma = buffers["ones_visible"]
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

    def with_statistics(
        self,
        layer,
        pre,
        mean_out,
        sample_out,
        rng,
        buffers,
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
            key = draw_key(rng) if sample else NO_KEY
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
            self.hidden(pre, mean_out, sample_out, rng, buffers, sample=sample)
        else:
            self.visible(pre, mean_out, sample_out, rng, buffers, sample=sample)
        units = sample_out if sample and statistic_is_sample else mean_out
        kernels.statistics_of_units(units, statistic_scale, statistic_out, column_scale, column_sum)


# ---------------------------------------------------------------------- CD-k and PCD
def start_chains(X, n_chains, units, rng, dtype):
    """Hidden samples of ``n_chains`` random rows of ``X``: the start of persistent chains.

    Rows are drawn without replacement unless ``X`` has fewer rows than chains.
    """
    rows = rng.choice(X.shape[0], size=n_chains, replace=n_chains > X.shape[0])
    v = dense_rows(X, rows, dtype)
    sigma = units.sigma()
    if sigma is not None:
        v = v / sigma
    # The layout and product the estimator's conditionals use, so the chains match them.
    pre = v @ np.ascontiguousarray(units.parameters["components_"].T)
    state = np.empty_like(pre)
    hidden_units(
        pre,
        units.parameters["intercept_hidden_"],
        units.hidden_unit,
        rng,
        pre,
        state,
        sample=True,
    )
    return state


def negative_phase(units, chain, buffers, b, *, k, persistent, sample_visible, rng):
    """``k`` Gibbs steps from the hidden states ``chain``: the model statistics of the minibatch.

    ``chain`` holds the data's hidden samples (CD-k) or the persistent chains (PCD), which are
    advanced in place. The final visible and hidden units go into the model block (rows ``b`` on)
    of ``buffers["stacked_visible"]`` and ``buffers["stacked_hidden"]``, scaled by ``-1 / c`` for
    ``c`` chains, and their column sums into the bias gradients.

    Returns
    -------
    v_neg, v_pre : ndarray of shape (c, n_visible)
        The final visible units and their pre-activations (for the statistics of Gaussian visible
        units with learned variances).
    """
    W_t = units.parameters["components_"].T  # (V, H), C-contiguous
    dtype = W_t.dtype.type
    sigma = units.sigma()
    stacked_h, stacked_v = buffers["stacked_hidden"], buffers["stacked_visible"]
    grad_hidden, grad_visible = buffers["grad_hidden"], buffers["grad_visible"]
    c = chain.shape[0]
    v_pre, v_mean = buffers["visible_pre"][:c], buffers["visible_mean"][:c]
    v_state, h_neg_mean = buffers["visible_state"][:c], buffers["hidden_mean_model"][:c]
    v_neg_in = stacked_v[b : b + c]
    model_scale = dtype(-1.0 / c)
    for step in range(k):
        last = step == k - 1
        np.matmul(chain, W_t.T, out=v_pre)
        # Intermediate steps and PCD chains must be proper Gibbs samples; the final
        # reconstruction of CD may use probabilities to reduce noise (Hinton 2010, 3.2).
        sample_v = persistent or not last or sample_visible
        if last and sigma is None:
            # The final visible states go straight into the stacked statistics.
            units.with_statistics(
                "visible",
                v_pre,
                v_mean,
                v_state,
                rng,
                buffers,
                sample=sample_v,
                statistic_is_sample=sample_v,
                statistic_out=v_neg_in,
                statistic_scale=dtype(1.0),
                column_sum=grad_visible,
                column_scale=model_scale,
            )
            v_neg = v_state if sample_v else v_mean
        else:
            units.visible(v_pre, v_mean, v_state, rng, buffers, sample=sample_v)
            v_neg = v_state if sample_v else v_mean
            scaled_visible(v_neg, sigma, v_neg_in)
        h_pre_neg = buffers["hidden_pre"][:c]
        np.matmul(v_neg_in, W_t, out=h_pre_neg)
        keep_chain = persistent or not last
        if last:
            units.with_statistics(
                "hidden",
                h_pre_neg,
                h_neg_mean,
                chain,
                rng,
                buffers,
                sample=keep_chain,
                statistic_is_sample=False,
                statistic_out=stacked_h[b : b + c],
                statistic_scale=model_scale,
                column_sum=grad_hidden,
                column_scale=model_scale,
            )
        else:
            units.hidden(h_pre_neg, h_neg_mean, chain, rng, buffers, sample=True)
    return v_neg, v_pre


# ---------------------------------------------------------------------- parallel tempering
class ParallelTempering:
    """Chains at inverse temperatures ``1 = beta_0 > ... > beta_(M-1) = 0``, evenly spaced, that
    swap states with their neighbours (Desjardins et al. 2010).

    The chains at ``beta = 1`` are the persistent chains of PCD; this object runs the others
    (``tempered``, of shape ``(M - 1, n_chains, n_hidden)``) and the swaps. Their state lives with
    the caller, as with the update transforms (:mod:`dbn._cd.transforms`): ``tempered``,
    ``swap_counts`` (accepted and proposed swaps between temperatures ``m`` and ``m + 1``) and
    ``parity`` (which pairs propose next: even and odd in turn).

    Parameters
    ----------
    n_temperatures : int
        ``M``, at least 2.
    """

    def __init__(self, n_temperatures):
        self.n_temperatures = int(n_temperatures)
        self.inverse_temperatures = np.linspace(1.0, 0.0, self.n_temperatures)

    def init(self, chains):
        """``(tempered, swap_counts)``: every temperature starts from the persistent chains."""
        tempered = np.repeat(chains[None], self.n_temperatures - 1, axis=0)
        return tempered, np.zeros((self.n_temperatures - 1, 2), dtype=np.int64)

    def sweep(self, parameters, chains, tempered, swap_counts, parity, k, rng):
        """``k`` Gibbs steps of every tempered chain, then one swap round; returns the next parity.

        ``chains`` (the ``beta = 1`` chains), ``tempered`` and ``swap_counts`` change in place.
        The swaps are accepted by the Metropolis rule on the hidden units' marginal
        ``p*_beta(h) = exp(beta c.h) prod_i (1 + exp(beta (W^T h + b)_i))``.
        """
        W_t = parameters["components_"].T  # (V, H)
        b, c = parameters["intercept_visible_"], parameters["intercept_hidden_"]
        betas = self.inverse_temperatures
        dtype = W_t.dtype.type
        for m in range(1, self.n_temperatures):
            beta = dtype(betas[m])
            h = tempered[m - 1]
            for _ in range(k):
                v_pre = h @ W_t.T
                v_pre *= beta
                kernels.bernoulli_units(v_pre, beta * b, draw_key(rng), v_pre, v_pre)
                h_pre = v_pre @ W_t
                h_pre *= beta
                kernels.bernoulli_units(h_pre, beta * c, draw_key(rng), h_pre, h)
        # log p*_beta(h) = beta c.h + sum_i softplus(beta (W^T h + b)_i), for every chain set.
        states = [chains, *tempered]
        top_down = [np.asarray(h @ W_t.T + b, dtype=np.float64) for h in states]
        hidden_term = [np.asarray(h @ c, dtype=np.float64) for h in states]

        def log_marginal(beta, m):
            return beta * hidden_term[m] + np.logaddexp(0.0, beta * top_down[m]).sum(axis=1)

        uniform = rng.random((self.n_temperatures - 1, chains.shape[0]))
        for m in range(parity, self.n_temperatures - 1, 2):
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
            swap_counts[m, 0] += int(accept.sum())
            swap_counts[m, 1] += accept.size
        return 1 - parity

    def get_state(self, tempered, swap_counts, parity):
        """Copies of the state, under the names of dbn's model files."""
        if tempered is None:
            return {}
        return {
            "tempered_chains_": tempered.copy(),
            "swap_counts_": swap_counts.copy(),
            "swap_parity_": np.array(parity, dtype=np.int64),
        }

    def set_state(self, state, chains, current, dtype):
        """``(tempered, swap_counts, parity)`` from ``state``; without tempered chains there,
        restarted from ``chains`` (parity kept), or ``current`` unchanged when there are none."""
        tempered = state.get("tempered_chains_")
        if tempered is None:
            if chains is None:
                return current
            return (*self.init(chains), current[2])
        expected = (self.n_temperatures - 1, *np.shape(chains))
        if np.shape(tempered) != expected:
            raise ValueError(
                f"state['tempered_chains_'] must have shape {expected}, got {np.shape(tempered)}."
            )
        counts = state.get("swap_counts_")
        counts = (
            np.zeros((self.n_temperatures - 1, 2), np.int64)
            if counts is None
            else np.array(counts, dtype=np.int64)
        )
        return np.array(tempered, dtype=dtype), counts, int(state.get("swap_parity_", 0))
