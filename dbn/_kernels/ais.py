"""Element-wise kernels of Annealed Importance Sampling (AIS) for RBMs.

One AIS run anneals from a base-rate model ``A`` (no weights) to the target RBM ``B`` through the
distributions ``p_beta(v) ∝ p*_beta(v)``, ``0 = beta_0 < ... < beta_K = 1``, defined by the energy

    E_beta(v, h) = (1 - beta) E_A(v) + beta E_B(v, h)

for binary hidden units (Salakhutdinov & Murray 2008). For linear Gaussian hidden units the
``h^2 / 2`` term is kept at full strength at every ``beta``, so that ``p_0`` stays normalisable.
Summing the hidden units out gives, for every unit type,

    log p*_beta(v) = g(v) + beta * d(v) + hidden_beta(x),    x = W u + c,

with ``u = v`` (binary visible) or ``u = v / sigma`` (Gaussian visible), ``g`` independent of
``beta`` (it cancels in the weights), ``d(v) = -E_B,visible(v) + E_A(v)`` and

    hidden_beta(x) = sum_j softplus(beta x_j)        (binary hidden)
    hidden_beta(x) = sum_j beta^2 x_j^2 / 2 + const  (linear Gaussian hidden).

The visible kernels sample ``v`` from ``p_beta(v | h)`` and return ``d(v)``; the hidden kernels add
``log p*_new(v) - log p*_old(v)`` to each run's log weight and sample ``h`` from ``p_new(h | v)``.
The GEMMs ``x = u W^T`` and ``h W`` stay in numpy between the calls, and the random numbers come from
the caller's ``numpy.random.Generator``.

Shapes: ``R`` runs, ``V`` visible and ``H`` hidden units. Pre-activations and samples share one
float dtype (float32 or float64); log weights and ``d(v)`` are float64 whatever the model's dtype,
since their increments are small differences summed over thousands of steps.

References
----------
Neal, R. M. (2001). Annealed importance sampling. Statistics and Computing 11(2), 125-139.
Salakhutdinov, R., & Murray, I. (2008). On the quantitative analysis of deep belief networks. ICML.
"""

from __future__ import annotations

import math

from . import jit


@jit
def ais_visible_bernoulli(pre, base_bias, target_bias, beta, uniform, visible_out, visible_term):
    """Sample binary visible units at ``beta`` and return ``d(v) = (b_B - b_A).v``.

    ``p_beta(v_i = 1 | h) = sigmoid((1 - beta) b_A_i + beta (b_B_i + (h W)_i))``.

    Parameters
    ----------
    pre : (R, V) float array
        Top-down input ``h @ W`` (any values when ``beta == 0``).
    base_bias, target_bias : (V,) float64 arrays
        Visible biases ``b_A`` of the base-rate model and ``b_B`` of the target.
    beta : float
    uniform : (R, V) float array
        Uniform(0, 1) numbers.
    visible_out : (R, V) float array
        Sampled states, the input of the next ``x = v @ W.T``.
    visible_term : (R,) float64 array
        Output ``d(v)``.
    """
    rows, cols = pre.shape
    for r in range(rows):
        acc = 0.0
        for i in range(cols):
            a = (1.0 - beta) * base_bias[i] + beta * (target_bias[i] + pre[r, i])
            # uniform < sigmoid(a) written without a division or a branch on the random outcome,
            # which the CPU cannot predict: this was 2-3x faster than the obvious form.
            state = 1.0 if uniform[r, i] * (1.0 + math.exp(-a)) < 1.0 else 0.0
            visible_out[r, i] = state
            acc += state * (target_bias[i] - base_bias[i])
        visible_term[r] = acc


@jit
def ais_visible_gaussian(
    pre, base_mean, target_mean, sigma, beta, normal, scaled_out, visible_term
):
    """Sample Gaussian visible units at ``beta``; return ``u = v / sigma`` and ``d(v)``.

    With ``E_A(v) = sum_i (v_i - a_i)^2 / (2 sigma_i^2)`` and the target's
    ``E_B(v, h) = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_ij (v_i / sigma_i) W_ji h_j - c.h``,
    ``p_beta(v_i | h)`` is normal with mean ``(1 - beta) a_i + beta b_i + beta sigma_i (h W)_i`` and
    standard deviation ``sigma_i``, and ``d(v) = sum_i ((v_i - a_i)^2 - (v_i - b_i)^2) / (2 sigma_i^2)``.

    Parameters
    ----------
    pre : (R, V) float array
        Top-down input ``h @ W``.
    base_mean, target_mean, sigma : (V,) float64 arrays
        ``a`` (base-rate means), ``b`` (target visible biases) and the shared standard deviations.
    beta : float
    normal : (R, V) float array
        Standard normal numbers.
    scaled_out : (R, V) float array
        Output ``v / sigma``, the input of the next ``x = u @ W.T``.
    visible_term : (R,) float64 array
        Output ``d(v)``.
    """
    rows, cols = pre.shape
    for r in range(rows):
        acc = 0.0
        for i in range(cols):
            s = sigma[i]
            mean = (1.0 - beta) * base_mean[i] + beta * (target_mean[i] + s * pre[r, i])
            v = mean + s * normal[r, i]
            scaled_out[r, i] = v / s
            da = (v - base_mean[i]) / s
            db = (v - target_mean[i]) / s
            acc += 0.5 * (da * da - db * db)
        visible_term[r] = acc


@jit
def ais_hidden_bernoulli(
    pre, hidden_bias, beta_old, beta_new, visible_term, uniform, hidden_out, log_weights
):
    """Add ``log p*_new(v) - log p*_old(v)`` to the log weights; sample binary ``h`` at ``beta_new``.

    The increment is ``(beta_new - beta_old) d(v) + sum_j softplus(beta_new x_j) -
    softplus(beta_old x_j)`` with ``x = pre + hidden_bias``; then ``h_j = uniform < sigmoid(beta_new
    x_j)``.

    Parameters
    ----------
    pre : (R, H) float array
        Bottom-up input ``u @ W.T``, without the hidden bias.
    hidden_bias : (H,) float64 array
    beta_old, beta_new : float
    visible_term : (R,) float64 array
        ``d(v)`` of the current visible states.
    uniform : (R, H) float array or None
        Uniform(0, 1) numbers; ``None`` skips sampling (last step, ``beta_new == 1``).
    hidden_out : (R, H) float array
        Sampled states (untouched when ``uniform`` is None).
    log_weights : (R,) float64 array
        Updated in place.
    """
    rows, cols = pre.shape
    step = beta_new - beta_old
    for r in range(rows):
        acc = step * visible_term[r]
        for j in range(cols):
            x = pre[r, j] + hidden_bias[j]
            z_new = beta_new * x
            z_old = beta_old * x
            # softplus(z) = max(z, 0) + log(1 + exp(-|z|)): the difference of two takes one log of
            # a ratio in [1/2, 2], and exp(-|z_new|) serves the sampling too. This loop is AIS's
            # hot spot (n_runs x n_hidden x n_betas evaluations).
            e_new = math.exp(-abs(z_new))
            e_old = math.exp(-abs(z_old))
            acc += (max(z_new, 0.0) - max(z_old, 0.0)) + math.log((1.0 + e_new) / (1.0 + e_old))
            if uniform is not None:
                # uniform < sigmoid(z_new), i.e. < 1 / (1 + e) for z >= 0 and e / (1 + e) below.
                numerator = 1.0 if z_new >= 0 else e_new
                hidden_out[r, j] = 1.0 if uniform[r, j] * (1.0 + e_new) < numerator else 0.0
        log_weights[r] += acc


@jit
def ais_hidden_gaussian(
    pre, hidden_bias, beta_old, beta_new, visible_term, normal, hidden_out, log_weights
):
    """As :func:`ais_hidden_bernoulli` for linear Gaussian hidden units of unit variance.

    The increment is ``(beta_new - beta_old) d(v) + (beta_new^2 - beta_old^2) sum_j x_j^2 / 2`` and
    ``h_j = beta_new x_j + normal``, since ``p_beta(h_j | v)`` is normal with mean ``beta x_j`` and
    variance 1.

    Parameters
    ----------
    pre, hidden_bias, beta_old, beta_new, visible_term, hidden_out, log_weights
        As for :func:`ais_hidden_bernoulli`.
    normal : (R, H) float array or None
        Standard normal numbers; ``None`` skips sampling.
    """
    rows, cols = pre.shape
    step = beta_new - beta_old
    half_square_step = 0.5 * (beta_new * beta_new - beta_old * beta_old)
    for r in range(rows):
        squares = 0.0
        for j in range(cols):
            x = pre[r, j] + hidden_bias[j]
            squares += x * x
            if normal is not None:
                hidden_out[r, j] = beta_new * x + normal[r, j]
        log_weights[r] += step * visible_term[r] + half_square_step * squares
