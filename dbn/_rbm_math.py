"""An RBM's deterministic passes and free energy, as functions of its arrays.

The one definition of each, shared by the estimators (:mod:`dbn.rbm`), the drivers that train
outside ``fit`` (:mod:`dbn._drivers`: cluster shards and out-of-core chunks hold parameter
dictionaries, not estimators) and the likelihood estimates of :mod:`dbn.evaluation` (which call
them with float64 copies of the parameters, so that ``log Z`` and ``F(v)`` come from the same
arithmetic). The element-wise work is the kernels' (:mod:`dbn._kernels.rbm`); the GEMMs are
numpy's.

Notation: ``weights`` is ``W`` of shape (n_hidden, n_visible) (an estimator's ``components_``),
``sigma`` the standard deviation of each visible unit, or None for unit variance, in which case
nothing is divided.

References
----------
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR
2010-003 (free energy: section 16.1; Gaussian visible units: section 13.2).
Cho, K., Ilin, A., & Raiko, T. (2011). Improved learning of Gaussian-Bernoulli restricted
Boltzmann machines. ICANN.
"""

from __future__ import annotations

import numpy as np

from ._cd import hidden_units, visible_units
from ._kernels import rbm as kernels

__all__ = ["free_energy", "hidden_input", "hidden_mean", "visible_mean"]


def hidden_input(X, weights, sigma=None):
    """``(v / sigma) @ W.T`` for each row of ``X``, C-contiguous, in the dtype of the product.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n_rows, n_visible)
    weights : ndarray of shape (n_hidden, n_visible)
    sigma : ndarray of shape (n_visible,), optional

    Returns
    -------
    pre : ndarray of shape (n_rows, n_hidden)
    """
    if hasattr(X, "tocsr"):
        if sigma is not None:
            X = X.multiply(1.0 / sigma).tocsr()
        return np.ascontiguousarray(X @ weights.T)
    if sigma is not None:
        X = X / sigma
    # The (n_visible, n_hidden) layout the MLP stores, so the BLAS takes the same path and
    # DBN.to_mlp() reproduces these features bit for bit; the copy is cheap next to the product.
    return X @ np.ascontiguousarray(weights.T)


def hidden_mean(X, weights, hidden_bias, hidden_unit, sigma=None):
    """Hidden means ``E[h | v]`` of each row of ``X`` (the features a DBN passes up).

    ``hidden_unit`` is ``"bernoulli"`` (logistic) or ``"gaussian"`` (linear, unit variance).
    """
    pre = hidden_input(X, weights, sigma)
    hidden_units(pre, hidden_bias, hidden_unit, None, pre, pre, sample=False)
    return pre


def visible_mean(H, weights, visible_bias, visible_unit, sigma=None):
    """Visible means ``E[v | h]`` of each row of ``H`` (a reconstruction).

    Binary units: ``sigmoid(h @ W + b)``; Gaussian units: ``b + sigma * (h @ W)``.
    """
    pre = H @ weights
    if sigma is None and visible_unit == "gaussian":
        sigma = np.ones(weights.shape[1], weights.dtype)
    visible_units(pre, visible_bias, sigma, visible_unit, None, pre, pre, sample=False)
    return pre


def free_energy(X, weights, hidden_bias, visible_bias, *, visible_unit, hidden_unit, sigma=None):
    """Free energy ``F(v) = -log sum_h exp(-E(v, h))`` of each row of ``X``, in float64.

    Binary visible units: ``F(v) = -b.v - sum_j softplus(c_j + W_j.v)``; Gaussian visible units:
    ``sum_i (v_i - b_i)^2 / (2 sigma_i^2) - sum_j softplus(c_j + W_j.(v / sigma))``; linear hidden
    units integrate out to ``-sum_j (x_j^2 + log 2 pi) / 2`` instead of the softplus terms. The
    hidden pre-activations are computed in the dtype of the arrays, the sums in float64.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n_rows, n_visible)
    weights : ndarray of shape (n_hidden, n_visible)
    hidden_bias : ndarray of shape (n_hidden,)
    visible_bias : ndarray of shape (n_visible,)
    visible_unit, hidden_unit : {"bernoulli", "gaussian"}
    sigma : ndarray of shape (n_visible,), optional
        Standard deviations of Gaussian visible units (unit variance when None).

    Returns
    -------
    F : ndarray of shape (n_rows,), float64
    """
    out = np.zeros(X.shape[0], dtype=np.float64)
    if visible_unit == "bernoulli":
        out -= np.asarray(X @ visible_bias.astype(np.float64)).ravel()
    else:
        dense = X.toarray() if hasattr(X, "toarray") else X
        diff = dense - visible_bias.astype(np.float64)
        if sigma is not None:
            diff = diff / sigma.astype(np.float64)
        out += 0.5 * np.einsum("ij,ij->i", diff, diff)
    pre = hidden_input(X, weights, sigma)
    if hidden_unit == "bernoulli":
        kernels.free_energy_bernoulli_hidden(pre, hidden_bias, out)
    else:
        kernels.free_energy_gaussian_hidden(pre, hidden_bias, out)
    return out
