"""Element-wise kernels of the deep autoencoder's output layer: logistic output and its losses.

The hidden layers reuse the kernels of :mod:`dbn._kernels.mlp`; what an autoencoder adds is a logistic
output layer trained on the cross-entropy against targets in [0, 1] (the pixel intensities), which the
classifier's softmax kernels do not cover. Conventions as in :mod:`dbn._kernels.mlp`: pure functions,
C-contiguous arrays of one float dtype, outputs written in place, nothing allocated.

References
----------
Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science, 313(5786), 504-507.
"""

from __future__ import annotations

import numpy as np

from . import jit
from .activations import sigmoid, sigmoid_f32


@jit
def bias_sigmoid_(Z, b, P):
    """Add the bias to the logits in place and write their logistic sigmoid into ``P``.

    The logits are kept (rather than overwritten as :func:`dbn._kernels.mlp.bias_activation_` does)
    because the cross-entropy is computed from them: ``log(1 - sigmoid(z))`` taken from a sigmoid
    rounded to 1 would be ``-inf``.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_units)
        ``A_prev @ W`` on entry, the logits ``A_prev @ W + b`` on exit.
    b : ndarray of shape (n_units,)
        Bias.
    P : ndarray of shape (n_samples, n_units)
        Output: ``sigmoid(Z)``.
    """
    n, m = Z.shape
    if Z.itemsize == 4:
        for i in range(n):
            for j in range(m):
                z = Z[i, j] + b[j]
                Z[i, j] = z
                P[i, j] = sigmoid_f32(z)
    else:
        for i in range(n):
            for j in range(m):
                z = Z[i, j] + b[j]
                Z[i, j] = z
                P[i, j] = sigmoid(z)


@jit
def sigmoid_cross_entropy_(logits, P, X, delta, scale):
    """Cross-entropy of a logistic output against targets in [0, 1], and its gradient.

    The loss of an entry is ``-x log p - (1 - x) log(1 - p)`` with ``p = sigmoid(z)``, evaluated as
    ``max(z, 0) - x z + log1p(exp(-|z|))``: finite for any finite logit, where the form in ``p`` gives
    ``0 * -inf`` once ``p`` rounds to 0 or 1.

    Parameters
    ----------
    logits : ndarray of shape (n_samples, n_units)
        Output pre-activations ``z``.
    P : ndarray of shape (n_samples, n_units)
        ``sigmoid(z)``.
    X : ndarray of shape (n_samples, n_units)
        Targets in [0, 1].
    delta : ndarray of shape (n_samples, n_units), or None
        Output: ``scale * (P - X)``, the gradient with respect to the logits. ``None`` computes the
        loss only.
    scale : float
        Usually ``1 / n_samples``.

    Returns
    -------
    loss : float
        Sum over all entries (not scaled), evaluated and accumulated in float64.
    """
    n, m = logits.shape
    loss = 0.0
    for i in range(n):
        for j in range(m):
            z = np.float64(logits[i, j])
            loss += max(z, 0.0) - np.float64(X[i, j]) * z + np.log1p(np.exp(-abs(z)))
    if delta is not None:
        c = P.dtype.type(scale)
        for i in range(n):
            for j in range(m):
                delta[i, j] = c * (P[i, j] - X[i, j])
    return loss


@jit
def sigmoid_squared_error_(P, X, delta, scale):
    """Squared error of a logistic output and its gradient with respect to the logits.

    Parameters
    ----------
    P : ndarray of shape (n_samples, n_units)
        ``sigmoid(z)``.
    X : ndarray of shape (n_samples, n_units)
        Targets.
    delta : ndarray of shape (n_samples, n_units), or None
        Output: ``2 * scale * (P - X) * P * (1 - P)``; ``None`` computes the loss only.
    scale : float
        Usually ``1 / n_samples``.

    Returns
    -------
    loss : float
        ``sum((P - X) ** 2)`` over all entries (not halved, not scaled), accumulated in float64.
    """
    n, m = P.shape
    loss = 0.0
    for i in range(n):
        for j in range(m):
            d = np.float64(P[i, j]) - np.float64(X[i, j])
            loss += d * d
    if delta is not None:
        c = P.dtype.type(2.0 * scale)
        for i in range(n):
            for j in range(m):
                p = P[i, j]
                delta[i, j] = c * (p - X[i, j]) * p * (P.dtype.type(1.0) - p)
    return loss
