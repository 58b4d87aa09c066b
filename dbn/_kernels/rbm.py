"""Element-wise kernels of contrastive-divergence training for RBMs.

Everything here is a pure function on arrays; the GEMMs happen in numpy between the calls. Conventions:

- ``B`` is the number of rows in a minibatch (or of persistent chains), ``V`` the number of visible
  and ``H`` the number of hidden units.
- Pre-activations ``pre`` come from a GEMM (``v @ W.T`` or ``h @ W``) and are turned into unit means
  and samples with the bias added in the same pass.
- Uniform random numbers come from a counter-based stream whose key the caller draws from the
  estimator's ``numpy.random.Generator`` (:mod:`dbn._kernels.counter_random`); Gaussian noise is
  drawn by the caller and passed in. Either way a kernel is a deterministic function of its inputs
  and can be checked against a naive NumPy reference with the same numbers.
- All arrays of one call share one float dtype (float32 or float64); numba compiles one version each.
"""

from __future__ import annotations

import math

import numpy as np

from . import jit
from .activations import sigmoid, sigmoid_f32
from .counter_random import uniform_f32, uniform_f64

_ONE_F32 = np.float32(1.0)
_ZERO_F32 = np.float32(0.0)


@jit
def stable_softplus(x):
    """``log(1 + exp(x))`` without overflow for large ``x`` or underflow to 0 for large ``-x``."""
    if x > 0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


def bernoulli_units(pre, bias, key, mean_out, sample_out):
    """Means and samples of binary units: ``mean = sigmoid(pre + bias)``, ``sample = u < mean``.

    One fused pass with the package's sigmoid (:mod:`dbn._kernels.activations`), the same the MLP
    uses, so the features of an RBM and of the net initialised from it agree bit for bit. The float32
    sigmoid is a polynomial ``expf`` that LLVM vectorises; a scalar libm ``exp`` in a Numba loop
    was measured 6x slower (no SVML in pip's llvmlite).

    Parameters
    ----------
    pre : (B, n) float array
        Pre-activations without bias.
    bias : (n,) float array
    key : numpy.uint64 or None
        Key of the uniform stream (:mod:`dbn._kernels.counter_random`): unit ``(r, c)`` uses number
        ``r * n + c``. ``None`` skips sampling (``sample_out`` is then ignored).
    mean_out, sample_out : (B, n) float arrays
        Outputs; ``mean_out`` may be ``pre`` itself.
    """
    if key is None:
        if mean_out is pre:
            sigmoid_with_bias_inplace(mean_out, bias)
        else:
            sigmoid_with_bias(pre, bias, mean_out)
    elif mean_out is pre:
        sigmoid_with_bias_and_sample_inplace(mean_out, bias, key, sample_out)
    else:
        sigmoid_with_bias_and_sample(pre, bias, key, mean_out, sample_out)


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
def sigmoid_with_bias_and_sample(pre, bias, key, mean_out, sample_out):
    """``mean = sigmoid(pre + bias)`` and the Bernoulli sample ``uniform(key, r * n + c) < mean``."""
    rows, cols = pre.shape
    if pre.itemsize == 4:
        for r in range(rows):
            for c in range(cols):
                m = sigmoid_f32(pre[r, c] + bias[c])
                mean_out[r, c] = m
                sample_out[r, c] = 1 if uniform_f32(key, r * cols + c) < m else 0
    else:
        for r in range(rows):
            for c in range(cols):
                m = sigmoid(pre[r, c] + bias[c])
                mean_out[r, c] = m
                sample_out[r, c] = 1 if uniform_f64(key, r * cols + c) < m else 0


@jit
def sigmoid_with_bias_and_sample_inplace(x, bias, key, sample_out):
    """:func:`sigmoid_with_bias_and_sample` with the means written over the pre-activations ``x``.

    A separate kernel for the reason :func:`sigmoid_with_bias_inplace` is one: with ``pre`` and
    ``mean_out`` the same array, LLVM's overlap check fails and the loop runs scalar (measured
    5x slower per element in the DBM's Gibbs sweeps).
    """
    rows, cols = x.shape
    if x.itemsize == 4:
        for r in range(rows):
            for c in range(cols):
                m = sigmoid_f32(x[r, c] + bias[c])
                x[r, c] = m
                sample_out[r, c] = 1 if uniform_f32(key, r * cols + c) < m else 0
    else:
        for r in range(rows):
            for c in range(cols):
                m = sigmoid(x[r, c] + bias[c])
                x[r, c] = m
                sample_out[r, c] = 1 if uniform_f64(key, r * cols + c) < m else 0


@jit
def bernoulli_units_with_statistics(
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
):
    """Binary units and their CD statistics in one pass over the minibatch.

    Computes ``mean = sigmoid(pre + bias)`` and, if ``sample``, the Bernoulli sample as
    :func:`bernoulli_units` does. The unit's statistic ``s`` (the sample if ``statistic_is_sample``,
    else the mean) is written as ``statistic_out = statistic_scale * s``, a block of the stacked
    matrix whose single GEMM gives the weight gradient, and ``column_sum += column_scale * s``
    accumulates a bias gradient. With ``scale = 1 / B`` for the data and ``-1 / B`` for the model
    these are the CD statistics of Hinton (2002). Fusing them saved three passes over memory.

    Parameters
    ----------
    pre : (B, n) float array
    bias : (n,) float array
    key : numpy.uint64
        Uniform stream key; unused unless ``sample``.
    sample, statistic_is_sample : bool
    mean_out, sample_out, statistic_out : (B, n) float arrays (``sample_out`` unused unless
        ``sample``)
    statistic_scale, column_scale : float
    column_sum : (n,) float array, updated in place
    """
    rows, cols = pre.shape
    if pre.itemsize == 4:
        for r in range(rows):
            for c in range(cols):
                m = sigmoid_f32(pre[r, c] + bias[c])
                mean_out[r, c] = m
                s = m
                if sample:
                    state = _ONE_F32 if uniform_f32(key, r * cols + c) < m else _ZERO_F32
                    sample_out[r, c] = state
                    if statistic_is_sample:
                        s = state
                statistic_out[r, c] = s * statistic_scale
                column_sum[c] += s * column_scale
    else:
        for r in range(rows):
            for c in range(cols):
                m = sigmoid(pre[r, c] + bias[c])
                mean_out[r, c] = m
                s = m
                if sample:
                    state = 1.0 if uniform_f64(key, r * cols + c) < m else 0.0
                    sample_out[r, c] = state
                    if statistic_is_sample:
                        s = state
                statistic_out[r, c] = s * statistic_scale
                column_sum[c] += s * column_scale


@jit
def statistics_of_units(units, statistic_scale, statistic_out, column_scale, column_sum):
    """``statistic_out = statistic_scale * units`` and ``column_sum += column_scale * units``.

    The statistics pass of :func:`bernoulli_units_with_statistics` on its own, for units computed
    by another kernel (Gaussian units).
    """
    rows, cols = units.shape
    for r in range(rows):
        for c in range(cols):
            u = units[r, c]
            statistic_out[r, c] = u * statistic_scale
            column_sum[c] += u * column_scale


@jit
def gather_rows_with_column_mean(X, rows, out, column_mean):
    """``out[i] = X[rows[i]]`` and ``column_mean = out.mean(axis=0)`` in one pass (the minibatch and
    the data term of the visible-bias gradient)."""
    n_cols = X.shape[1]
    for c in range(n_cols):
        column_mean[c] = 0
    for i in range(rows.shape[0]):
        source = rows[i]
        for c in range(n_cols):
            x = X[source, c]
            out[i, c] = x
            column_mean[c] += x
    inverse = 1.0 / rows.shape[0]
    for c in range(n_cols):
        column_mean[c] *= inverse


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
def divide_columns_into(source, scale, out):
    """``out[:] = source / scale[None, :]``: visible data in units of their standard deviation."""
    rows, cols = source.shape
    for r in range(rows):
        for c in range(cols):
            out[r, c] = source[r, c] / scale[c]


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
    return momentum_step_raw(
        param, velocity, gradient, cast(learning_rate), cast(momentum), cast(weight_decay)
    )


@jit
def momentum_step_raw(param, velocity, gradient, learning_rate, momentum, weight_decay):
    """:func:`momentum_step` with the scalars already in the arrays' dtype (C-contiguous arrays)."""
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
def subtract_outer_sparsity(gradient_t, visible_mean, sparsity_grad, cost):
    """Add the sparsity penalty's weight gradient: ``gradient_t[i, j] -= cost * <v_i> * s_j``.

    ``gradient_t`` is the (n_visible, n_hidden) transpose of the weight gradient, the layout the
    CD step computes it in.
    """
    rows, cols = gradient_t.shape
    for i in range(rows):
        v = cost * visible_mean[i]
        for j in range(cols):
            gradient_t[i, j] -= v * sparsity_grad[j]


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


@jit
def centre_weight_gradient(gradient_t, visible_offset, grad_hidden, grad_visible, hidden_offset):
    """Turn the weight gradient of an RBM into that of its centred form, in place.

    ``gradient_t[i, j] -= mu_i * g_c_j + g_b_i * lambda_j``: the data-minus-model difference of
    ``(v - mu)(h - lambda)^T`` rather than of ``v h^T`` (Melchior, Fischer & Wiskott 2016), with
    ``g_b`` and ``g_c`` the visible and hidden bias gradients. ``gradient_t`` is (n_visible,
    n_hidden), the layout the CD step computes it in.
    """
    rows, cols = gradient_t.shape
    for i in range(rows):
        mu = visible_offset[i]
        gb = grad_visible[i]
        for j in range(cols):
            gradient_t[i, j] -= mu * grad_hidden[j] + gb * hidden_offset[j]


# ---------------------------------------------------------------------- row-partitioned CD step
# The kernels below serve ContrastiveDivergence's row-partitioned epoch: every thread of a team
# computes the units of its own rows of the minibatch (phase 1), then, after one barrier, the
# weight-gradient rows, bias gradients and updates of its own block of W (phase 2). Each output
# element is computed by one thread in the same order whatever the number of threads.


@jit
def bernoulli_units_rows(
    pre,
    bias,
    key,
    first_row,
    sample,
    statistic_is_sample,
    mean_out,
    sample_out,
    statistic_scale,
    statistic_out,
):
    """:func:`bernoulli_units_with_statistics` on rows ``first_row ...`` of a larger block,
    without the column sums.

    The uniform numbers are those of the whole block: row ``r`` of ``pre`` uses numbers
    ``(first_row + r) * n + c``, so splitting a minibatch between threads leaves every sample as
    it was. The bias gradients are summed per column in phase 2
    (:func:`column_sums_and_bias_step`), which keeps the sums in row order for any partition.

    Parameters
    ----------
    pre : (b, n) float array
    bias : (n,) float array
    key : numpy.uint64
    first_row : int
        Row of the whole block that ``pre[0]`` is.
    sample, statistic_is_sample : bool
    mean_out : (b, n) float array or None
        Unit means; ``None`` when only the statistic is needed (saves a pass of writes).
    sample_out : (b, n) float array (unused unless ``sample``)
    statistic_scale : float
    statistic_out : (b, n) float array or None
        ``statistic_scale *`` the statistic (the sample if ``statistic_is_sample`` else the mean);
        ``None`` for an intermediate Gibbs step.
    """
    rows, cols = pre.shape
    offset = first_row * cols
    if pre.itemsize == 4:
        for r in range(rows):
            for c in range(cols):
                m = sigmoid_f32(pre[r, c] + bias[c])
                if mean_out is not None:
                    mean_out[r, c] = m
                s = m
                if sample:
                    state = _ONE_F32 if uniform_f32(key, offset + r * cols + c) < m else _ZERO_F32
                    sample_out[r, c] = state
                    if statistic_is_sample:
                        s = state
                if statistic_out is not None:
                    statistic_out[r, c] = s * statistic_scale
    else:
        for r in range(rows):
            for c in range(cols):
                m = sigmoid(pre[r, c] + bias[c])
                if mean_out is not None:
                    mean_out[r, c] = m
                s = m
                if sample:
                    state = 1.0 if uniform_f64(key, offset + r * cols + c) < m else 0.0
                    sample_out[r, c] = state
                    if statistic_is_sample:
                        s = state
                if statistic_out is not None:
                    statistic_out[r, c] = s * statistic_scale


@jit
def gather_rows(X, rows, out):
    """``out[i] = X[rows[i]]`` (a thread's share of the minibatch)."""
    n_cols = X.shape[1]
    for i in range(rows.shape[0]):
        source = rows[i]
        for c in range(n_cols):
            out[i, c] = X[source, c]


@jit
def column_sums_and_bias_step(
    stacked,
    n_data,
    data_scale,
    model_scale,
    statistics_scaled,
    bias,
    velocity,
    gradient_out,
    learning_rate,
    momentum,
):
    """Bias gradient of a block of columns from the stacked statistics, then its momentum step.

    ``gradient_out[c]`` is the data term, the sum over the first ``n_data`` rows of ``stacked``,
    minus the model term, the sum over the rest, each summed in row order and scaled as the serial
    kernels scale them: if ``statistics_scaled`` the rows already hold ``scale * s`` and are added
    as they are; else the data rows are summed and multiplied by ``data_scale`` (a mean) and each
    model row is added times ``model_scale``. Then ``velocity = momentum * velocity +
    learning_rate * gradient`` and ``bias += velocity`` (no weight decay on biases). Returns
    False if a bias became non-finite.

    Parameters
    ----------
    stacked : (b + c, n) float array
        Columns of the stacked statistics (a column slice of the whole).
    n_data : int
    data_scale, model_scale : float
    statistics_scaled : bool
    bias, velocity, gradient_out : (n,) float arrays, updated in place
    learning_rate, momentum : float
    """
    rows, cols = stacked.shape
    for c in range(cols):
        gradient_out[c] = 0
    if statistics_scaled:
        for r in range(rows):
            for c in range(cols):
                gradient_out[c] += stacked[r, c]
    else:
        for r in range(n_data):
            for c in range(cols):
                gradient_out[c] += stacked[r, c]
        for c in range(cols):
            gradient_out[c] *= data_scale
        for r in range(n_data, rows):
            for c in range(cols):
                gradient_out[c] += stacked[r, c] * model_scale
    finite = True
    for c in range(cols):
        step = momentum * velocity[c] + learning_rate * gradient_out[c]
        velocity[c] = step
        new = bias[c] + step
        bias[c] = new
        if not math.isfinite(new):
            finite = False
    return finite
