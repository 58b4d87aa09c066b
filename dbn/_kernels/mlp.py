"""Element-wise kernels of the feed-forward network (forward, backward, optimiser steps).

The GEMMs of a layer (``A @ W``, ``A.T @ delta``, ``delta @ W.T``) stay in numpy, so that one BLAS does
all matrix products; these kernels fuse the element-wise work around them into single passes over
memory. Every kernel is a pure function of its arguments: it writes only into the arrays documented as
outputs and allocates nothing. Arrays are C-contiguous and share one float dtype (float32 or float64);
integer labels are int64. Scalars (learning rates, coefficients) are Python floats.

Activation codes (``kind``) are the constants ``IDENTITY``, ``SIGMOID``, ``TANH`` and ``RELU``, defined
with the registry of names in ``dbn._activations`` and re-exported here.
Derivatives are taken from the activation's *output* ``A = f(Z)``, so the pre-activations need not be
kept: ``sigmoid' = A (1 - A)``, ``tanh' = 1 - A**2``, ``relu' = [A > 0]``.

References
----------
Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
back-propagating errors. Nature, 323, 533-536.
"""

from __future__ import annotations

import numpy as np

from .._activations import IDENTITY, RELU, SIGMOID, TANH  # noqa: F401 (re-exported)
from . import jit

# One sigmoid for the whole package, so that DBN.to_mlp() reproduces the RBMs' features exactly.
from .activations import sigmoid as _sigmoid
from .activations import sigmoid_f32 as _sigmoid_f32


@jit
def bias_activation_(Z, b, kind):
    """In place ``Z = f(Z + b)``: add the bias row and apply the activation.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_units)
        Pre-activations without bias on entry (the output of ``A_prev @ W``); activations on exit.
    b : ndarray of shape (n_units,)
        Bias.
    kind : int
        Activation code (IDENTITY, SIGMOID, TANH or RELU). The float32 sigmoid uses a vectorisable
        ``expf`` (relative error below 3e-7); float64 uses libm's ``exp``.
    """
    n, m = Z.shape
    if kind == SIGMOID and Z.itemsize == 4:
        for i in range(n):
            for j in range(m):
                Z[i, j] = _sigmoid_f32(Z[i, j] + b[j])
    elif kind == SIGMOID:
        for i in range(n):
            for j in range(m):
                Z[i, j] = _sigmoid(Z[i, j] + b[j])
    elif kind == TANH:
        for i in range(n):
            for j in range(m):
                Z[i, j] = np.tanh(Z[i, j] + b[j])
    elif kind == RELU:
        for i in range(n):
            for j in range(m):
                x = Z[i, j] + b[j]
                # ``x > 0`` keeps NaN as NaN (a max would silently turn it into 0 and hide divergence).
                Z[i, j] = x if (x > 0 or x != x) else 0.0
    else:
        for i in range(n):
            for j in range(m):
                Z[i, j] += b[j]


@jit
def softmax_(Z, b, P):
    """Add the bias to the logits in place and write the row-wise softmax into ``P``.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_classes)
        ``A_prev @ W`` on entry, the logits ``A_prev @ W + b`` on exit.
    b : ndarray of shape (n_classes,)
        Bias.
    P : ndarray of shape (n_samples, n_classes)
        Output: class probabilities; rows sum to one. The row maximum is subtracted before
        exponentiating, so large logits cannot overflow.
    """
    n, k = Z.shape
    for i in range(n):
        zmax = -np.inf
        for j in range(k):
            z = Z[i, j] + b[j]
            Z[i, j] = z
            if z > zmax:
                zmax = z
        total = 0.0
        for j in range(k):
            e = np.exp(Z[i, j] - zmax)
            P[i, j] = e
            total += e
        inv = 1.0 / total
        for j in range(k):
            P[i, j] *= inv


@jit
def softmax_cross_entropy_(logits, P, y, delta, scale):
    """Cross-entropy of a softmax output and its gradient with respect to the logits.

    The loss of a row is ``logsumexp(z) - z[y]`` (the log-softmax form), which stays finite where the
    probability of the true class underflows to zero.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_classes)
        Output pre-activations ``z``.
    P : ndarray of shape (n_samples, n_classes)
        ``softmax(z)`` as computed by :func:`softmax_`.
    y : ndarray of shape (n_samples,), int64
        True class indices in ``[0, n_classes)``.
    delta : ndarray of shape (n_samples, n_classes)
        Output: ``scale * (P - onehot(y))``.
    scale : float
        Usually ``1 / n_samples``, making ``delta`` the gradient of the mean loss.

    Returns
    -------
    loss : float
        Sum over rows of the cross-entropy (not scaled), accumulated in float64.
    """
    n, k = logits.shape
    loss = 0.0
    for i in range(n):
        zmax = -np.inf
        for j in range(k):
            if logits[i, j] > zmax:
                zmax = logits[i, j]
        total = 0.0
        for j in range(k):
            total += np.exp(np.float64(logits[i, j]) - zmax)
        c = y[i]
        loss += np.log(total) + zmax - logits[i, c]
        for j in range(k):
            delta[i, j] = scale * P[i, j]
        delta[i, c] = scale * (P[i, c] - 1.0)
    return loss


@jit
def squared_error_(output, Y, delta, scale):
    """Half squared error of a linear output and its gradient.

    Parameters
    ----------
    output : ndarray of shape (n_samples, n_outputs)
        Network output.
    Y : ndarray of shape (n_samples, n_outputs)
        Targets.
    delta : ndarray of shape (n_samples, n_outputs)
        Output: ``scale * (output - Y)``.
    scale : float
        Usually ``1 / n_samples``.

    Returns
    -------
    loss : float
        ``0.5 * sum((output - Y) ** 2)`` over all entries (not scaled), accumulated in float64.
    """
    n, k = output.shape
    loss = 0.0
    for i in range(n):
        for j in range(k):
            d = output[i, j] - Y[i, j]
            loss += 0.5 * np.float64(d) * np.float64(d)
            delta[i, j] = scale * d
    return loss


@jit
def dropout_(A, U, p, out):
    """Inverted dropout: ``out = A * [U >= p] / (1 - p)``.

    Scaling the kept units by ``1 / (1 - p)`` at training time keeps the expected input of the next
    layer unchanged, so nothing needs rescaling at test time (Srivastava et al., 2014).

    Parameters
    ----------
    A : ndarray of shape (n_samples, n_units)
        Activations.
    U : ndarray of shape (n_samples, n_units)
        Uniform [0, 1) noise drawn by the caller's Generator; a unit is dropped where ``U < p``.
    p : float
        Drop probability in [0, 1).
    out : ndarray of shape (n_samples, n_units)
        Output.
    """
    n, m = A.shape
    keep = 1.0 / (1.0 - p)
    for i in range(n):
        for j in range(m):
            out[i, j] = A[i, j] * keep if U[i, j] >= p else 0.0


@jit
def activation_backward_(delta, A, kind, U, p):
    """In place ``delta *= f'(Z)`` (times the dropout mask when ``p > 0``).

    Turns the gradient with respect to a layer's (dropped-out) output into the gradient with respect to
    its pre-activations, the back-propagated gradient of Glorot & Bengio (2010).

    Parameters
    ----------
    delta : ndarray of shape (n_samples, n_units)
        ``delta_next @ W_next.T`` on entry, ``dLoss/dZ`` on exit.
    A : ndarray of shape (n_samples, n_units)
        The layer's activations before dropout, ``f(Z)``.
    kind : int
        Activation code.
    U : ndarray of shape (n_samples, n_units), or any array when ``p == 0``
        The dropout noise used in the forward pass (read only when ``p > 0``).
    p : float
        Drop probability used in the forward pass.
    """
    n, m = delta.shape
    if kind == SIGMOID:
        for i in range(n):
            for j in range(m):
                a = A[i, j]
                delta[i, j] *= a * (1.0 - a)
    elif kind == TANH:
        for i in range(n):
            for j in range(m):
                a = A[i, j]
                delta[i, j] *= 1.0 - a * a
    elif kind == RELU:
        for i in range(n):
            for j in range(m):
                if not A[i, j] > 0:
                    delta[i, j] = 0.0
    if p > 0:
        keep = 1.0 / (1.0 - p)
        for i in range(n):
            for j in range(m):
                delta[i, j] = delta[i, j] * keep if U[i, j] >= p else 0.0


@jit
def add_l2_(grad, W, c):
    """In place ``grad += c * W``; returns ``sum(W ** 2)`` (float64) for the loss.

    Parameters
    ----------
    grad : ndarray of shape (n_in, n_out)
        Weight gradient.
    W : ndarray of shape (n_in, n_out)
        Weights.
    c : float
        ``alpha / n_samples``.
    """
    n, m = W.shape
    total = 0.0
    for i in range(n):
        for j in range(m):
            w = W[i, j]
            total += np.float64(w) * np.float64(w)
            grad[i, j] += c * w
    return total


@jit
def column_sum_(delta, out):
    """``out = delta.sum(axis=0)``: the bias gradient.

    Parameters
    ----------
    delta : ndarray of shape (n_samples, n_units)
    out : ndarray of shape (n_units,)
        Output.
    """
    n, m = delta.shape
    for j in range(m):
        out[j] = 0.0
    # Row by row, so the inner loop runs along contiguous memory and vectorises.
    for i in range(n):
        for j in range(m):
            out[j] += delta[i, j]


@jit
def sgd_step_(params, grads, velocity, segments, learning_rate, momentum, nesterov, l2):
    """One SGD step with (Nesterov) momentum and L2 weight decay, in place on flat vectors.

    ``v = momentum * v - learning_rate * g`` then ``theta += v`` (classical momentum) or
    ``theta += momentum * v - learning_rate * g`` (Nesterov's accelerated gradient in the form of
    Sutskever et al., 2013), where ``g = grads + l2 * theta`` on weights and ``g = grads`` on biases.
    The arithmetic is done in the dtype of ``params``.

    Parameters
    ----------
    params, grads, velocity : ndarray of shape (n_params,)
        All weights and biases of the net, concatenated; ``params`` and ``velocity`` are updated.
    segments : ndarray of shape (n_segments, 3), int64
        Rows ``(start, stop, is_weight)`` covering ``params``; decay applies where ``is_weight``.
    learning_rate, momentum : float
    nesterov : bool
    l2 : float
        ``alpha / batch_size``.
    """
    # Scalars in the array's dtype: float64 scalars would promote every float32 element and stop
    # the loops from vectorising (measured 7x slower).
    lr = params.dtype.type(learning_rate)
    mu = params.dtype.type(momentum)
    for s in range(segments.shape[0]):
        start, stop = segments[s, 0], segments[s, 1]
        c = params.dtype.type(l2 if segments[s, 2] else 0.0)
        # Loops over slices from 0, not over range(start, stop) of the whole vectors: the latter
        # did not vectorise (measured 4.8x slower, a fifth of a fine-tuning epoch).
        p, g_, vel = params[start:stop], grads[start:stop], velocity[start:stop]
        if nesterov:
            for i in range(p.size):
                g = g_[i] + c * p[i]
                v = mu * vel[i] - lr * g
                vel[i] = v
                p[i] += mu * v - lr * g
        else:
            for i in range(p.size):
                g = g_[i] + c * p[i]
                v = mu * vel[i] - lr * g
                vel[i] = v
                p[i] += v


@jit
def adam_step_(params, grads, m, v, segments, step_size, beta_1, beta_2, epsilon, l2):
    """One Adam step (Kingma & Ba, 2015) with L2 weight decay, in place on flat vectors.

    ``m = beta_1 m + (1 - beta_1) g``, ``v = beta_2 v + (1 - beta_2) g**2`` and
    ``theta -= step_size * m / (sqrt(v) + epsilon)``, with ``g`` as in :func:`sgd_step_`. The
    arithmetic is done in the dtype of ``params``.

    Parameters
    ----------
    params, grads, m, v : ndarray of shape (n_params,)
        ``params``, ``m`` and ``v`` are updated.
    segments : ndarray of shape (n_segments, 3), int64
        As in :func:`sgd_step_`.
    step_size : float
        ``learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)``: the bias-corrected step at step t.
    beta_1, beta_2, epsilon : float
    l2 : float
    """
    step = params.dtype.type(step_size)
    b1 = params.dtype.type(beta_1)
    b2 = params.dtype.type(beta_2)
    one_b1 = params.dtype.type(1.0 - beta_1)
    one_b2 = params.dtype.type(1.0 - beta_2)
    eps = params.dtype.type(epsilon)
    for s in range(segments.shape[0]):
        start, stop = segments[s, 0], segments[s, 1]
        c = params.dtype.type(l2 if segments[s, 2] else 0.0)
        # Slices from 0, as in sgd_step_, so the loop vectorises.
        p, g_, m_, v_ = params[start:stop], grads[start:stop], m[start:stop], v[start:stop]
        for i in range(p.size):
            g = g_[i] + c * p[i]
            mi = b1 * m_[i] + one_b1 * g
            vi = b2 * v_[i] + one_b2 * g * g
            m_[i] = mi
            v_[i] = vi
            p[i] -= step * mi / (np.sqrt(vi) + eps)


@jit
def layer_statistics_(A, kind, low, high):
    """Mean, standard deviation, saturated and dead fractions of a layer's activations.

    Parameters
    ----------
    A : ndarray of shape (n_samples, n_units)
        Activations.
    kind : int
        Activation code: SIGMOID counts ``A < low`` or ``A > high`` as saturated, TANH counts
        ``|A| > high``; RELU counts ``A == 0`` as dead. Other codes give NaN for the fractions.
    low, high : float
        Saturation thresholds (0.01 and 0.99 for the sigmoid, 0.99 for tanh).

    Returns
    -------
    mean, std, saturated, dead : float
        Statistics over all entries, accumulated in float64 (two passes for the variance).
    """
    n, m = A.shape
    size = n * m
    total = 0.0
    for i in range(n):
        for j in range(m):
            total += A[i, j]
    mean = total / size
    sq = 0.0
    saturated = 0
    dead = 0
    for i in range(n):
        for j in range(m):
            a = np.float64(A[i, j])
            sq += (a - mean) * (a - mean)
            if kind == SIGMOID:
                if a < low or a > high:
                    saturated += 1
            elif kind == TANH:
                if np.abs(a) > high:
                    saturated += 1
            elif kind == RELU:
                if a == 0.0:
                    dead += 1
    std = np.sqrt(sq / size)
    sat = saturated / size if (kind == SIGMOID or kind == TANH) else np.nan
    dd = dead / size if kind == RELU else np.nan
    return mean, std, sat, dd
