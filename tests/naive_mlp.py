"""Naive NumPy reference of the MLP maths: written for clarity, not speed, sharing no code with dbn.

Used by the tests to check the Numba kernels, the forward pass and back-propagation.
"""

import numpy as np


def activate(Z, activation):
    if activation in ("sigmoid", "logistic"):
        return 1.0 / (1.0 + np.exp(-Z))
    if activation == "tanh":
        return np.tanh(Z)
    if activation == "relu":
        return np.maximum(Z, 0.0)
    if activation == "identity":
        return Z
    raise ValueError(activation)


def derivative(Z, activation):
    if activation in ("sigmoid", "logistic"):
        s = 1.0 / (1.0 + np.exp(-Z))
        return s * (1.0 - s)
    if activation == "tanh":
        return 1.0 - np.tanh(Z) ** 2
    if activation == "relu":
        return (Z > 0).astype(Z.dtype)
    if activation == "identity":
        return np.ones_like(Z)
    raise ValueError(activation)


def softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def forward(X, coefs, intercepts, activation, output):
    """Returns (pre-activations, activations), activations[0] = X."""
    Zs, As = [], [X]
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        Z = As[-1] @ W + b
        Zs.append(Z)
        if i < len(coefs) - 1:
            As.append(activate(Z, activation))
        elif output == "softmax":
            As.append(softmax(Z))
        else:
            As.append(activate(Z, output))
    return Zs, As


def loss(X, y, coefs, intercepts, activation, output, alpha=0.0):
    Zs, As = forward(X, coefs, intercepts, activation, output)
    n = X.shape[0]
    if output == "softmax":
        logp = np.log(As[-1])
        value = -logp[np.arange(n), y].mean()
    else:
        Y = y.reshape(n, -1)
        value = 0.5 * ((As[-1] - Y) ** 2).sum() / n
    value += 0.5 * alpha * sum((W**2).sum() for W in coefs) / n
    return value


def gradients(X, y, coefs, intercepts, activation, output, alpha=0.0):
    """Back-propagation by the textbook recursion: returns (deltas, coef_grads, intercept_grads)."""
    Zs, As = forward(X, coefs, intercepts, activation, output)
    n = X.shape[0]
    if output == "softmax":
        T = np.zeros_like(As[-1])
        T[np.arange(n), y] = 1.0
    else:
        T = y.reshape(n, -1)
    L = len(coefs)
    deltas = [None] * L
    deltas[-1] = (As[-1] - T) / n
    for i in range(L - 2, -1, -1):
        deltas[i] = (deltas[i + 1] @ coefs[i + 1].T) * derivative(Zs[i], activation)
    coef_grads = [As[i].T @ deltas[i] + alpha * coefs[i] / n for i in range(L)]
    intercept_grads = [d.sum(axis=0) for d in deltas]
    return deltas, coef_grads, intercept_grads


def sgd_step(params, grads, velocity, weight_mask, lr, momentum, nesterov, l2):
    g = grads + l2 * params * weight_mask
    velocity = momentum * velocity - lr * g
    if nesterov:
        params = params + momentum * velocity - lr * g
    else:
        params = params + velocity
    return params, velocity


def adam_step(params, grads, m, v, weight_mask, lr, t, beta_1, beta_2, eps, l2):
    g = grads + l2 * params * weight_mask
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    m_hat = m / (1 - beta_1**t)
    v_hat = v / (1 - beta_2**t)
    # Kingma & Ba's "more efficient" ordering (also scikit-learn's) adds epsilon to sqrt(v), not to
    # sqrt(v_hat): in bias-corrected terms, epsilon / sqrt(1 - beta_2**t).
    return params - lr * m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - beta_2**t)), m, v
