"""Element-wise kernels of Deep Boltzmann Machines: Annealed Importance Sampling, and the tempered
Gibbs half-sweep of parallel tempering.

AIS for a DBM keeps the layers of one parity as its state and sums the other parity out (given
the state, those layers are independent). Both the base model ``A`` (biases ``a``, no weights) and
the target ``B`` have biases on every layer, so a summed-out layer's unit ``j`` contributes
``softplus(x_j(beta))`` to ``log p*_beta`` with

    x_j(beta) = (1 - beta) a_j + beta (b_j + pre_j),

``pre`` being its input from the state layers. :func:`ais_summed_layer` adds the change of these
terms between two inverse temperatures to each run's log weight and samples the layer at the new
one (the first half of the Gibbs transition); the state layers are sampled by
:func:`dbn._kernels.ais.ais_visible_bernoulli`, whose formula is the same.

:func:`tempered_bernoulli_units` samples one layer of chains held at different inverse
temperatures (one per row), and adds the layer's part of each chain's energy in the same pass.

Shapes: ``R`` runs (or chains) and ``n`` units; pre-activations and samples share one float dtype, the log
weights are float64.

References
----------
Salakhutdinov, R., & Hinton, G. E. (2009). Deep Boltzmann machines. AISTATS.
Neal, R. M. (2001). Annealed importance sampling. Statistics and Computing 11(2), 125-139.
Desjardins, G., Courville, A., Bengio, Y., Vincent, P., & Delalleau, O. (2010). Tempered Markov
chain Monte Carlo for training of restricted Boltzmann machines. AISTATS.
"""

from __future__ import annotations

import math

from . import jit
from .activations import sigmoid, sigmoid_f32
from .counter_random import uniform_f32, uniform_f64


@jit
def ais_summed_layer(
    pre, base_bias, target_bias, beta_old, beta_new, uniform, state_out, log_weights
):
    """Add ``sum_j softplus(x_j(beta_new)) - softplus(x_j(beta_old))`` to each log weight, and
    sample the layer at ``beta_new``: ``state = uniform < sigmoid(x(beta_new))``.

    Parameters
    ----------
    pre : (R, n) float array
        Input from the state layers, without bias.
    base_bias, target_bias : (n,) float64 arrays
        ``a`` and ``b``.
    beta_old, beta_new : float
    uniform : (R, n) float array or None
        Uniform(0, 1) numbers; ``None`` skips sampling.
    state_out : (R, n) float array
        Sampled states (untouched when ``uniform`` is None).
    log_weights : (R,) float64 array
        Updated in place.
    """
    rows, cols = pre.shape
    for r in range(rows):
        acc = 0.0
        for j in range(cols):
            a, b = base_bias[j], target_bias[j] + pre[r, j]
            z_new = (1.0 - beta_new) * a + beta_new * b
            z_old = (1.0 - beta_old) * a + beta_old * b
            # softplus(z) = max(z, 0) + log(1 + exp(-|z|)); exp(-|z_new|) serves the sampling too.
            e_new = math.exp(-abs(z_new))
            e_old = math.exp(-abs(z_old))
            acc += (max(z_new, 0.0) - max(z_old, 0.0)) + math.log((1.0 + e_new) / (1.0 + e_old))
            if uniform is not None:
                numerator = 1.0 if z_new >= 0 else e_new
                state_out[r, j] = 1.0 if uniform[r, j] * (1.0 + e_new) < numerator else 0.0
        log_weights[r] += acc


@jit
def tempered_bernoulli_units(pre, bias, beta, key, sample_out, energy_out):
    """Sample binary units at per-row inverse temperatures and add their energy term.

    ``z = pre + bias``; ``sample_out[r, j] = uniform(key, r * n + j) < sigmoid(beta[r] * z[r, j])``
    (the conditional of the model whose energy is scaled by ``beta[r]``), and
    ``energy_out[r] -= sum_j sample_out[r, j] * z[r, j]``: the terms of the unscaled energy
    ``E(x)`` that involve this layer's new states, when ``pre`` holds all of its inputs.

    Parameters
    ----------
    pre : (R, n) float array
        Input from the neighbouring layers, without bias (left unchanged).
    bias : (n,) float array
    beta : (R,) float array
        Inverse temperature of each row.
    key : numpy.uint64
        Key of the uniform stream (:mod:`dbn._kernels.counter_random`).
    sample_out : (R, n) float array
    energy_out : (R,) float64 array or None
        Updated in place; ``None`` skips the energy.
    """
    rows, cols = pre.shape
    for r in range(rows):
        acc = 0.0
        b = beta[r]
        for j in range(cols):
            z = pre[r, j] + bias[j]
            if pre.itemsize == 4:
                on = uniform_f32(key, r * cols + j) < sigmoid_f32(b * z)
            else:
                on = uniform_f64(key, r * cols + j) < sigmoid(b * z)
            sample_out[r, j] = 1 if on else 0
            if on:
                acc += z
        if energy_out is not None:
            energy_out[r] -= acc
