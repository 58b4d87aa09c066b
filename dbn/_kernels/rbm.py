"""Element-wise kernels of contrastive-divergence training for RBMs.

Everything here is a pure function on arrays; the GEMMs happen in numpy between the calls. Conventions:

- ``B`` is the number of rows in a minibatch (or of persistent chains), ``V`` the number of visible
  and ``H`` the number of hidden units.
- Pre-activations ``pre`` come from a GEMM (``v @ W.T`` or ``h @ W``) and are turned into unit means
  and samples with the bias added in the same pass.
- Random numbers are drawn by the caller from the estimator's ``numpy.random.Generator`` and passed
  in, so a kernel is a deterministic function of its inputs and can be checked against a naive NumPy
  reference with the same numbers.
- All arrays of one call share one float dtype (float32 or float64); numba compiles one version each.
"""

from __future__ import annotations

import math

from . import jit
from .activations import sigmoid, sigmoid_f32


@jit
def stable_softplus(x):
    """``log(1 + exp(x))`` without overflow for large ``x`` or underflow to 0 for large ``-x``."""
    if x > 0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


def bernoulli_units(pre, bias, uniform, mean_out, sample_out):
    """Means and samples of binary units: ``mean = sigmoid(pre + bias)``, ``sample = uniform < mean``.

    One fused pass with the package's sigmoid (:mod:`dbn._kernels.activations`), the same the MLP
    uses, so the features of an RBM and of the net initialised from it agree bit for bit. The float32
    sigmoid is a polynomial ``expf`` that LLVM vectorises; a scalar libm ``exp`` in a Numba loop
    was measured 6x slower (no SVML in pip's llvmlite).

    Parameters
    ----------
    pre : (B, n) float array
        Pre-activations without bias.
    bias : (n,) float array
    uniform : (B, n) float array or None
        Uniform(0, 1) numbers; ``None`` skips sampling (``sample_out`` is then ignored).
    mean_out, sample_out : (B, n) float arrays
        Outputs; ``mean_out`` may be ``pre`` itself.
    """
    if uniform is None:
        if mean_out is pre:
            sigmoid_with_bias_inplace(mean_out, bias)
        else:
            sigmoid_with_bias(pre, bias, mean_out)
    else:
        sigmoid_with_bias_and_sample(pre, bias, uniform, mean_out, sample_out)


@jit
def sigmoid_with_bias(pre, bias, out):
    """``out = sigmoid(pre + bias[None, :])``."""
    rows, cols = pre.shape
    if pre.itemsize == 4:
        for r in range(rows):
            for c in range(cols):
                out[r, c] = sigmoid_f32(pre[r, c] + bias[c])
    else:
        for r in range(rows):
            for c in range(cols):
                out[r, c] = sigmoid(pre[r, c] + bias[c])


@jit
def sigmoid_with_bias_inplace(x, bias):
    """``x = sigmoid(x + bias[None, :])`` in place.

    A separate in-place kernel: a loop that reads one array and writes an aliased one fails LLVM's
    overlap check and runs scalar (measured 4x slower).
    """
    rows, cols = x.shape
    if x.itemsize == 4:
        for r in range(rows):
            for c in range(cols):
                x[r, c] = sigmoid_f32(x[r, c] + bias[c])
    else:
        for r in range(rows):
            for c in range(cols):
                x[r, c] = sigmoid(x[r, c] + bias[c])


@jit
def sigmoid_with_bias_and_sample(pre, bias, uniform, mean_out, sample_out):
    """``mean = sigmoid(pre + bias)`` and the Bernoulli sample ``uniform < mean`` in one pass."""
    rows, cols = pre.shape
    if pre.itemsize == 4:
        for r in range(rows):
            for c in range(cols):
                m = sigmoid_f32(pre[r, c] + bias[c])
                mean_out[r, c] = m
                sample_out[r, c] = 1 if uniform[r, c] < m else 0
    else:
        for r in range(rows):
            for c in range(cols):
                m = sigmoid(pre[r, c] + bias[c])
                mean_out[r, c] = m
                sample_out[r, c] = 1 if uniform[r, c] < m else 0


@jit
def gaussian_units(pre, bias, scale, normal, mean_out, sample_out):
    """Means and samples of linear Gaussian units: ``mean = bias + scale * pre``.

    ``sample = mean + scale * normal``. For Gaussian visible units ``scale`` is the standard deviation
    ``sigma`` (Hinton 2010, section 13.2); for linear hidden units it is 1.

    Parameters
    ----------
    pre : (B, n) float array
    bias, scale : (n,) float arrays
    normal : (B, n) float array or None
        Standard normal numbers; ``None`` skips sampling.
    mean_out, sample_out : (B, n) float arrays
    """
    rows, cols = pre.shape
    for r in range(rows):
        for c in range(cols):
            m = bias[c] + scale[c] * pre[r, c]
            mean_out[r, c] = m
            if normal is not None:
                sample_out[r, c] = m + scale[c] * normal[r, c]


@jit
def squared_error_sum(data, reconstruction):
    """Sum over all entries of ``(data - reconstruction) ** 2``, accumulated in float64."""
    total = 0.0
    rows, cols = data.shape
    for r in range(rows):
        for c in range(cols):
            d = data[r, c] - reconstruction[r, c]
            total += d * d
    return total


@jit
def scale_rows_into(source, factor, out):
    """``out[:] = source * factor``; used to fill the stacked statistics buffer without a temporary."""
    rows, cols = source.shape
    for r in range(rows):
        for c in range(cols):
            out[r, c] = source[r, c] * factor


@jit
def divide_columns_into(source, scale, out):
    """``out[:] = source / scale[None, :]``: visible data in units of their standard deviation."""
    rows, cols = source.shape
    for r in range(rows):
        for c in range(cols):
            out[r, c] = source[r, c] / scale[c]


@jit
def column_mean_difference(positive, negative, out):
    """``out[c] = mean(positive[:, c]) - mean(negative[:, c])``.

    This is the CD statistic of a bias (Hinton 2002): data term minus model term. The loops run
    along rows, the arrays' memory order, so the inner loop vectorises.
    """
    rows_pos, cols = positive.shape
    rows_neg = negative.shape[0]
    for c in range(cols):
        out[c] = 0
    for r in range(rows_pos):
        for c in range(cols):
            out[c] += positive[r, c]
    for c in range(cols):
        out[c] /= rows_pos
    inv_neg = 1.0 / rows_neg
    for r in range(rows_neg):
        for c in range(cols):
            out[c] -= negative[r, c] * inv_neg


@jit
def gaussian_visible_statistics(
    visible, visible_bias, sigma, top_down, out_bias, out_log_var, sign
):
    """Accumulate the bias and log-variance statistics of Gaussian visible units.

    With energy ``E = sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_ij (v_i / sigma_i) W_ji h_j - c.h``
    and ``z_i = log sigma_i^2``, the negative energy gradients averaged over the rows are::

        -dE/db_i = (v_i - b_i) / sigma_i^2
        -dE/dz_i = (v_i - b_i)^2 / (2 sigma_i^2) - v_i (h W)_i / (2 sigma_i)

    The row means times ``sign`` (+1 for the data, -1 for the model) are added to the outputs.

    Parameters
    ----------
    visible : (B, V) float array
    visible_bias, sigma : (V,) float arrays
    top_down : (B, V) float array
        ``h @ W`` for the hidden states paired with ``visible``.
    out_bias, out_log_var : (V,) float arrays, updated in place
    sign : float
    """
    rows, cols = visible.shape
    for c in range(cols):
        var = sigma[c] * sigma[c]
        acc_bias = 0.0
        acc_var = 0.0
        for r in range(rows):
            diff = visible[r, c] - visible_bias[c]
            acc_bias += diff / var
            acc_var += 0.5 * diff * diff / var - 0.5 * visible[r, c] * top_down[r, c] / sigma[c]
        out_bias[c] += sign * acc_bias / rows
        out_log_var[c] += sign * acc_var / rows


@jit
def sparsity_gradient(hidden_mean, running_activity, damping, target, out):
    """Update the running mean activity of each hidden unit and return its sparsity gradient.

    Hinton (2010, section 11): ``q <- damping * q + (1 - damping) * mean(h)``; the penalty's
    gradient with respect to the hidden unit's total input is ``q - target``, written to ``out``.
    """
    rows, cols = hidden_mean.shape
    for c in range(cols):
        acc = 0.0
        for r in range(rows):
            acc += hidden_mean[r, c]
        q = damping * running_activity[c] + (1.0 - damping) * acc / rows
        running_activity[c] = q
        out[c] = q - target


def momentum_step(param, velocity, gradient, learning_rate, momentum, weight_decay):
    """In-place momentum ascent step; returns False if a parameter became non-finite.

    ``velocity = momentum * velocity + learning_rate * (gradient - weight_decay * param)`` and
    ``param += velocity``, in one pass over memory (Hinton 2010, sections 9-10). Works on arrays of
    any shape; ``gradient`` is the log-likelihood ascent direction. The scalars are cast to the
    arrays' dtype so a float32 model updates in float32 arithmetic (measured 3x faster).
    """
    cast = param.dtype.type
    return _momentum_step(
        param, velocity, gradient, cast(learning_rate), cast(momentum), cast(weight_decay)
    )


@jit
def _momentum_step(param, velocity, gradient, learning_rate, momentum, weight_decay):
    p = param.ravel()
    v = velocity.ravel()
    g = gradient.ravel()
    finite = True
    for i in range(p.size):
        step = momentum * v[i] + learning_rate * (g[i] - weight_decay * p[i])
        v[i] = step
        new = p[i] + step
        p[i] = new
        if not math.isfinite(new):
            finite = False
    return finite


@jit
def subtract_outer_sparsity(gradient, sparsity_grad, cost, visible_mean):
    """Add the sparsity penalty's weight gradient: ``gradient[j, i] -= cost * s_j * <v_i>``."""
    rows, cols = gradient.shape
    for j in range(rows):
        s = cost * sparsity_grad[j]
        for i in range(cols):
            gradient[j, i] -= s * visible_mean[i]


@jit
def free_energy_bernoulli_hidden(hidden_pre, hidden_bias, out):
    """``out[r] -= sum_j softplus(hidden_pre[r, j] + hidden_bias[j])`` (binary hidden units)."""
    rows, cols = hidden_pre.shape
    for r in range(rows):
        acc = 0.0
        for c in range(cols):
            acc += stable_softplus(hidden_pre[r, c] + hidden_bias[c])
        out[r] -= acc


@jit
def free_energy_gaussian_hidden(hidden_pre, hidden_bias, out):
    """``out[r] -= sum_j x_j^2 / 2 + log(2 pi) / 2`` with ``x = hidden_pre + bias`` (unit-variance
    linear hidden units, integrated out exactly)."""
    rows, cols = hidden_pre.shape
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)
    for r in range(rows):
        acc = 0.0
        for c in range(cols):
            x = hidden_pre[r, c] + hidden_bias[c]
            acc += 0.5 * x * x + half_log_2pi
        out[r] -= acc
