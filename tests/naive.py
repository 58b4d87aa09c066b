"""Naive NumPy references for the RBM kernels and exact enumeration for tiny RBMs.

Written for clarity, not speed: float64 throughout, explicit formulas from Hinton (2002, 2010).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import expit, logsumexp


def all_binary_states(n):
    """Every binary vector of length ``n`` as rows of a (2**n, n) float64 array."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def energy(v, h, W, b_hidden, b_visible):
    """Binary-binary RBM energy ``E(v, h) = -v.b - h.c - h W v`` for every pair of rows."""
    return -(v @ b_visible)[:, None] - (h @ b_hidden)[None, :] - v @ W.T @ h.T


def exact_free_energy(V, W, b_hidden, b_visible):
    """``F(v) = -log sum_h exp(-E(v, h))`` by summing over all hidden states."""
    H = all_binary_states(W.shape[0])
    return -logsumexp(-energy(V, H, W, b_hidden, b_visible), axis=1)


def exact_log_partition(W, b_hidden, b_visible):
    """``log Z`` by enumerating every joint state (tiny models only)."""
    V = all_binary_states(W.shape[1])
    H = all_binary_states(W.shape[0])
    return logsumexp(-energy(V, H, W, b_hidden, b_visible))


def exact_log_likelihood(X, W, b_hidden, b_visible):
    """Average ``log p(v)`` of the rows of binary ``X``."""
    log_z = exact_log_partition(W, b_hidden, b_visible)
    return float(np.mean(-exact_free_energy(X, W, b_hidden, b_visible) - log_z))


def bars_and_stripes(side=4):
    """All distinct bars-and-stripes images of ``side`` x ``side`` pixels (MacKay 2003)."""
    images = set()
    for bits in itertools.product([0, 1], repeat=side):
        rows = np.repeat(np.array(bits)[:, None], side, axis=1)
        images.add(tuple(rows.ravel()))
        images.add(tuple(rows.T.ravel()))
    return np.array(sorted(images), dtype=np.float64)


def splitmix64(key, n):
    """The first ``n`` numbers of SplitMix64's stream ``key`` (Steele et al. 2014), as uint64.

    Written from the paper's definition with numpy's wrapping uint64 arithmetic, independently of
    the Numba kernel: ``z = key + (i + 1) * gamma``, then two xor-shift-multiply rounds.
    """
    with np.errstate(over="ignore"):
        z = np.uint64(key) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * np.uint64(
            0x9E3779B97F4A7C15
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform_stream(key, shape, dtype):
    """Uniform numbers in [0, 1) from the top 24 (float32) or 53 (float64) bits of SplitMix64."""
    bits = splitmix64(key, int(np.prod(shape)))
    if np.dtype(dtype) == np.float32:
        values = (bits >> np.uint64(40)).astype(np.float64) * 2.0**-24
    else:
        values = (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return values.astype(dtype).reshape(shape)


def draw_uniform(rng, shape, dtype):
    """The uniforms a sampling kernel uses: a stream whose key is the Generator's next raw draw."""
    return uniform_stream(rng.bit_generator.random_raw(), shape, dtype)


def naive_cd_step(
    params,
    velocity,
    chain,
    v0,
    rng,
    *,
    k,
    lr,
    momentum,
    weight_decay,
    persistent,
    positive_hidden="probabilities",
    sample_visible=False,
    visible="bernoulli",
    hidden="bernoulli",
    learn_variance=False,
):
    """One CD-k / PCD update written out plainly, drawing random numbers in the kernel's order.

    ``params`` holds ``W`` (H, V), ``c`` (H,), ``b`` (V,) and optionally ``z`` (V,), the log-variances;
    ``velocity`` has the same keys. Both are updated in place; the new persistent chain is returned.
    """
    W, c, b = params["W"], params["c"], params["b"]
    dtype = W.dtype
    sigma = np.exp(0.5 * params["z"]) if learn_variance else np.ones(W.shape[1], dtype)

    def hidden_given(v, sample):
        x = (v / sigma) @ W.T + c
        if hidden == "bernoulli":
            mean = expit(x)
            state = (draw_uniform(rng, mean.shape, dtype) < mean).astype(dtype) if sample else None
        else:
            mean = x
            state = mean + rng.standard_normal(mean.shape, dtype=dtype) if sample else None
        return mean, state

    def visible_given(h, sample):
        x = h @ W
        if visible == "bernoulli":
            mean = expit(x + b)
            state = (draw_uniform(rng, mean.shape, dtype) < mean).astype(dtype) if sample else None
        else:
            mean = b + sigma * x
            noise = rng.standard_normal(mean.shape, dtype=dtype) if sample else None
            state = mean + sigma * noise if sample else None
        return mean, state, x

    h_mean, h_state = hidden_given(v0, True)
    positive = h_mean if positive_hidden == "probabilities" else h_state
    chain_h = chain if persistent else h_state
    for step in range(k):
        last = step == k - 1
        sample_v = persistent or not last or sample_visible
        v_mean, v_state, top_down_neg = visible_given(chain_h, sample_v)
        v_neg = v_state if sample_v else v_mean
        keep = persistent or not last
        h_neg_mean, new_state = hidden_given(v_neg, keep)
        if keep:
            chain_h = new_state
    grads = {
        "W": positive.T @ (v0 / sigma) / len(v0) - h_neg_mean.T @ (v_neg / sigma) / len(v_neg),
        "c": positive.mean(0) - h_neg_mean.mean(0),
    }
    if learn_variance:
        var = sigma**2
        top_down_pos = h_mean @ W
        grads["b"] = ((v0 - b) / var).mean(0) - ((v_neg - b) / var).mean(0)

        def stat(v, td):
            return (0.5 * (v - b) ** 2 / var - 0.5 * v * td / sigma).mean(0)

        grads["z"] = stat(v0, top_down_pos) - stat(v_neg, top_down_neg)
    else:
        grads["b"] = v0.mean(0) - v_neg.mean(0)
    for name, grad in grads.items():
        decay = weight_decay if name == "W" else 0.0
        velocity[name] = momentum * velocity[name] + lr * (grad - decay * params[name])
        params[name] = params[name] + velocity[name]
    return chain_h if persistent else None


def pseudo_log_likelihood(X, W, b_hidden, b_visible, flip):
    """``n_features * log p(v_i | v_-i)`` of each binary row, ``i = flip[row]`` (Besag 1975).

    ``p(v_i | v_-i) = exp(-F(v)) / (exp(-F(v)) + exp(-F(v'))))`` with ``v'`` the row with feature
    ``i`` flipped; the free energies come from summing over every hidden state.
    """
    X = np.asarray(X, dtype=np.float64)
    flipped = X.copy()
    rows = np.arange(len(X))
    flipped[rows, flip] = 1 - flipped[rows, flip]
    f = exact_free_energy(X, W, b_hidden, b_visible)
    f_flipped = exact_free_energy(flipped, W, b_hidden, b_visible)
    log_conditional = -f - np.logaddexp(-f, -f_flipped)
    return X.shape[1] * log_conditional


def naive_dbm_mean_field(W, b, v, n_iter, U=None, y=None):
    """A DBM's mean field, unit by unit, from the doubled bottom-up pass (Salakhutdinov & Hinton
    2009): ``W[l]`` joins layers ``l`` and ``l + 1``, ``b[l]`` are layer ``l``'s biases; with
    label weights ``U`` (classes x top units), the labels ``y`` are clamped on the top layer."""
    L = len(W)
    labels = 0.0 if U is None else y @ U
    mu, below = [], v
    for layer in range(L):
        factor = 2.0 if layer < L - 1 else 1.0
        pre = factor * below @ W[layer].T + b[layer + 1]
        below = expit(pre + labels if layer == L - 1 else pre)
        mu.append(below)
    for _ in range(n_iter):
        for layer in range(L):
            new = np.empty_like(mu[layer])
            lower = v if layer == 0 else mu[layer - 1]
            for j in range(new.shape[1]):
                total = lower @ W[layer][j] + b[layer + 1][j]
                if layer < L - 1:
                    total = total + mu[layer + 1] @ W[layer + 1][:, j]
                elif U is not None:
                    total = total + y @ U[:, j]
                new[:, j] = expit(total)
            mu[layer] = new
    return mu
