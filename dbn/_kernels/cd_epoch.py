"""One thread's share of a row-partitioned CD-k / PCD epoch, compiled whole.

:meth:`dbn._cd.ContrastiveDivergence.run_epoch` starts one call of :func:`cd_epoch_rows` per thread
of its team (:mod:`dbn._threads`); the calls release the GIL and meet at two barriers per minibatch
(:func:`dbn._kernels.native.barrier_wait`). Per minibatch, thread ``t`` of ``n``:

1. gathers its rows of the minibatch and runs their Gibbs chain (its rows of the persistent chains,
   for PCD) with single-threaded GEMMs, writing its rows of the stacked data and model statistics;
2. after a barrier, owns the rows ``V * t // n ... V * (t + 1) // n`` of ``W.T`` (and the same
   share of the hidden biases): it sums its bias columns, computes its weight-gradient rows chunk by
   chunk into a small buffer and applies the momentum step while the chunk is still in cache; a
   second barrier ends the minibatch.

Every element is computed by one thread, in the same order whatever the team size, and the uniform
numbers are indexed by the row of the whole minibatch, so samples do not depend on the team size;
sums do not either. Only the BLAS can round differently for different row blocks.
"""

from __future__ import annotations

import numpy as np

from . import jit
from .native import barrier_wait, gemm, now_ns
from .rbm import bernoulli_units_rows, column_sums_and_bias_step, gather_rows, momentum_step_raw

__all__ = ["cd_epoch_rows", "is_compiled_or_cached"]


@jit
def _timed_gemm(timer, blas, *arguments):
    """:func:`gemm`, its time added to ``profile[0]`` (``timer = (clock, id, buffer, profile)``)."""
    clock, clock_id, buffer, profile = timer
    start = now_ns(clock, clock_id, buffer)
    gemm(blas, *arguments)
    profile[0] += now_ns(clock, clock_id, buffer) - start


@jit
def _timed_barrier(sync, mutex, arrivals, thread, n_threads, generation, timer):
    """:func:`barrier_wait`, the time spent waiting added to ``profile[1]``."""
    clock, clock_id, buffer, profile = timer
    start = now_ns(clock, clock_id, buffer)
    released = barrier_wait(sync, mutex, arrivals, thread, n_threads, generation)
    profile[1] += now_ns(clock, clock_id, buffer) - start
    return released


@jit
def cd_epoch_rows(
    thread,
    n_threads,
    X,
    order,
    batch,
    keys,
    key_index,
    sample_visible,
    keep_hidden,
    positive_is_sample,
    persistent,
    chains,
    W_t,
    velocity_W_t,
    visible_bias,
    velocity_visible,
    hidden_bias,
    velocity_hidden,
    learning_rate,
    momentum,
    weight_decay,
    stacked_visible,
    stacked_hidden,
    hidden_state,
    hidden_pre,
    visible_pre,
    visible_state,
    hidden_pre_model,
    grad_visible,
    grad_hidden,
    gradient,
    finite,
    blas,
    sync,
    mutex,
    arrivals,
    clock,
    clock_id,
    profile,
):
    """Thread ``thread``'s share of one epoch; returns what ``run_epoch`` returns.

    Parameters
    ----------
    thread, n_threads : int
    X : (n_samples, V) float array, C-contiguous
    order : (n,) int64
        Rows of ``X``, minibatch after minibatch.
    batch : int
    keys : (n_minibatches, n_keys) uint64
        The random keys of each minibatch, drawn by the caller in the serial step's order.
    key_index : (k, 2) int64
        Per Gibbs step, the column of ``keys`` of the visible and of the hidden layer (-1: the
        layer is not sampled).
    sample_visible, keep_hidden : (k,) bool
        Per Gibbs step: sample the visible layer; sample the hidden layer (the chain goes on).
    positive_is_sample, persistent : bool
    chains : (n_chains, H) float array
        The persistent chains (PCD), updated in place; unused (any shape) otherwise.
    W_t, velocity_W_t : (V, H) float arrays, C-contiguous (the transposed weights)
    visible_bias, velocity_visible, hidden_bias, velocity_hidden : float arrays
    learning_rate, momentum, weight_decay : float, of the arrays' dtype
    stacked_visible, stacked_hidden : (B + C, V), (B + C, H) float arrays
        Data statistics in the first ``b`` rows, model statistics after them.
    hidden_state, hidden_pre, visible_pre, visible_state, hidden_pre_model : float arrays
        Work buffers of at least the minibatch's (or the chains') rows.
    grad_visible, grad_hidden : (V,), (H,) float arrays
        Bias gradients (work buffers).
    gradient : (chunk, H) float array
        This thread's weight-gradient chunk buffer.
    finite : (n_threads,) bool
        Each thread's "my update stayed finite" flag of the current minibatch.
    blas : ctypes function
        GEMM of the arrays' dtype (:mod:`dbn._kernels.native`).
    sync, mutex, arrivals
        The barrier's functions, mutex and counters (:func:`dbn._kernels.native.barrier_wait`).
    clock, clock_id : ctypes function, int
        ``clock_gettime`` and its clock (:func:`dbn._kernels.native.now_ns`).
    profile : (3,) int64
        Incremented by this thread's nanoseconds in GEMMs, waiting at barriers, and in all; the
        rest of the total is element-wise work (about 20 clock reads per minibatch: < 0.1 %).

    Returns
    -------
    diverged_at : int
        0, or the 1-based minibatch whose update made a parameter non-finite (the epoch stops
        there, for every thread), or -1 if the barrier was aborted.
    """
    V, H = W_t.shape
    i0, i1 = V * thread // n_threads, V * (thread + 1) // n_threads
    j0, j1 = H * thread // n_threads, H * (thread + 1) // n_threads
    chunk = gradient.shape[0]
    n_total = order.shape[0]
    k = sample_visible.shape[0]
    # Scalars in the arrays' dtype (the serial kernels get them so and round the same way).
    scalar = np.empty(3, W_t.dtype)
    scalar[0] = 1.0
    one = scalar[0]
    generation = 0
    number = 0
    timer = (clock, clock_id, np.empty(2, np.int64), profile)
    epoch_start = now_ns(clock, clock_id, timer[2])
    result = 0
    for start in range(0, n_total, batch):
        number += 1
        stop = min(start + batch, n_total)
        b = stop - start
        rows = order[start:stop]
        key = keys[number - 1]
        c = chains.shape[0] if persistent else b
        scalar[1] = 1.0 / b
        data_scale = scalar[1]
        scalar[2] = -1.0 / c
        model_scale = scalar[2]
        r0, r1 = b * thread // n_threads, b * (thread + 1) // n_threads
        q0, q1 = c * thread // n_threads, c * (thread + 1) // n_threads
        # Phase 1: this thread's rows of the data and of the chains.
        v0 = stacked_visible[r0:r1]
        gather_rows(X, rows[r0:r1], v0)
        h_pre = hidden_pre[r0:r1]
        _timed_gemm(timer, blas, False, False, r1 - r0, H, V, one, v0, V, W_t, H, 0.0, h_pre, H)
        bernoulli_units_rows(
            h_pre, hidden_bias, key[0], r0, True, positive_is_sample, None,
            hidden_state[r0:r1], data_scale, stacked_hidden[r0:r1],
        )  # fmt: skip
        chain = chains[q0:q1] if persistent else hidden_state[q0:q1]
        v_pre, v_state = visible_pre[q0:q1], visible_state[q0:q1]
        v_neg, h_pre_neg = stacked_visible[b + q0 : b + q1], hidden_pre_model[q0:q1]
        for s in range(k):
            iv, ih = key_index[s, 0], key_index[s, 1]
            key_v = key[iv] if iv >= 0 else key[0]  # unused when the layer is not sampled
            key_h = key[ih] if ih >= 0 else key[0]
            _timed_gemm(
                timer, blas, False, True, q1 - q0, V, H, one, chain, H, W_t, H, 0.0, v_pre, V
            )
            bernoulli_units_rows(
                v_pre, visible_bias, key_v, q0, sample_visible[s], sample_visible[s], None,
                v_state, one, v_neg,
            )  # fmt: skip
            _timed_gemm(
                timer, blas, False, False, q1 - q0, H, V, one, v_neg, V, W_t, H, 0.0, h_pre_neg, H
            )
            if s == k - 1:
                bernoulli_units_rows(
                    h_pre_neg, hidden_bias, key_h, q0, keep_hidden[s], False, None, chain,
                    model_scale, stacked_hidden[b + q0 : b + q1],
                )  # fmt: skip
            else:
                bernoulli_units_rows(
                    h_pre_neg, hidden_bias, key_h, q0, keep_hidden[s], False, None, chain,
                    model_scale, None,
                )  # fmt: skip
        generation += 1
        if not _timed_barrier(sync, mutex, arrivals, thread, n_threads, generation, timer):
            result = -1
            break
        # Phase 2: this thread's block of W.T rows and of the bias columns.
        m = b + c
        v_all, h_all = stacked_visible[:m], stacked_hidden[:m]
        ok = column_sums_and_bias_step(
            v_all[:, i0:i1], b, 1.0 / b, model_scale, False, visible_bias[i0:i1],
            velocity_visible[i0:i1], grad_visible[i0:i1], learning_rate, momentum,
        )  # fmt: skip
        ok2 = column_sums_and_bias_step(
            h_all[:, j0:j1], b, 1.0, 1.0, True, hidden_bias[j0:j1], velocity_hidden[j0:j1],
            grad_hidden[j0:j1], learning_rate, momentum,
        )  # fmt: skip
        ok = ok and ok2
        for a in range(i0, i1, chunk):
            e = min(a + chunk, i1)
            g = gradient[: e - a]
            _timed_gemm(
                timer, blas, True, False, e - a, H, m, one, v_all[:, a:], V, h_all, H, 0.0, g, H
            )
            ok3 = momentum_step_raw(
                W_t[a:e], velocity_W_t[a:e], g, learning_rate, momentum, weight_decay
            )
            ok = ok and ok3
        finite[thread] = ok
        generation += 1
        if not _timed_barrier(sync, mutex, arrivals, thread, n_threads, generation, timer):
            result = -1
            break
        if not finite[:n_threads].all():
            result = number
            break
    profile[2] += now_ns(clock, clock_id, timer[2]) - epoch_start
    return result


def is_compiled_or_cached():
    """Whether :func:`cd_epoch_rows` is compiled in this process, or in Numba's cache on disk for
    this CPU, so that calling it costs no compile (seconds the first time, in a new environment).

    Reads Numba's cache index through Numba's private ``_cache`` attribute; if a Numba release
    changes it, the answer is False and the caller's rule for compiling applies.
    """
    if cd_epoch_rows.signatures:
        return True
    try:
        index = cd_epoch_rows._cache._cache_file._load_index()
        magic = cd_epoch_rows.targetctx.codegen().magic_tuple()
        return any(key[1] == magic for key in index)
    except Exception:  # noqa: BLE001 (any change in Numba's internals means "not known cached")
        return False
