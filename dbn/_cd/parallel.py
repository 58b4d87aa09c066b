"""The row-partitioned CD epoch: one minibatch step split between a team of threads.

:meth:`ContrastiveDivergence.run_epoch <dbn._cd.ContrastiveDivergence.run_epoch>` takes this path
for binary units on dense data (CD-k and PCD, see ``ContrastiveDivergence._by_rows_applies``): each
thread of a team (one per BLAS thread, :mod:`dbn._threads`) computes the units of its own rows of
the minibatch, then, after a barrier, the gradient and update of its own block of the weights, so
that the element-wise work runs on every core without a second thread pool fighting the BLAS.

Where :func:`dbn._kernels.native.native_functions` finds numpy's CBLAS and a POSIX mutex (Linux,
macOS), each thread runs the epoch as compiled calls (:func:`dbn._kernels.cd_epoch.cd_epoch_rows`)
with no Python between the minibatches. Elsewhere (Windows, a BLAS without a CBLAS interface) the
same loop runs in Python with :class:`dbn._threads.Team`; the tests run both and compare them with
the serial step.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np

from .._kernels import native as native_kernels
from .._kernels import rbm as kernels
from .._kernels.cd_epoch import cd_epoch_rows, is_compiled_or_cached
from .._kernels.native import native_functions
from .._threads import Team, blas_threads, single_threaded_blas
from .samplers import NO_KEY

__all__ = ["run_epoch_by_rows", "team_size"]

# The row-partitioned epoch: the smallest model and row block worth a thread, and the size of the
# weight-gradient chunk that is applied while in cache: half of a Zen 4/5 core's 1 MiB L2, two
# chunks per thread for MNIST's 784 x 500 at 2 threads (128 KiB chunks, 12 GEMM + kernel calls per
# minibatch, were slower at 1 thread: the Python calls cost more than the cache saved).
_MIN_WEIGHTS_FOR_THREADS = 1 << 16
_MIN_ROWS_PER_THREAD = 8
_GRADIENT_CHUNK_BYTES = 1 << 19
# Minibatches per compiled call of the row-partitioned epoch: about 0.2 s at MNIST's size.
_MINIBATCHES_PER_CALL = 100
# Compiling the whole-epoch kernel costs about 4 s, once per environment (Numba caches it on disk);
# the Python loop over the same kernels gives the same bits and costs 10-200 us more per minibatch
# (2-core Xeon, 2026-12-04: 12 us for a 64 x 100 RBM, 170-230 us at MNIST's size on 2 threads).
# So a small first fit does not wait for a compile it would never pay back: the loop runs in Python
# until this many minibatches have gone through it in the process (ski rental), or the kernel is
# compiled already.
_COMPILE_AFTER_MINIBATCHES = 20_000
_python_loop_minibatches = 0


def _compiled_epoch_wanted(cd, n_minibatches):
    """Whether this epoch runs as :func:`cd_epoch_rows` (see ``cd.compiled_epoch``)."""
    global _python_loop_minibatches
    if cd.compiled_epoch != "auto":
        return bool(cd.compiled_epoch)
    if is_compiled_or_cached():
        return True
    _python_loop_minibatches += n_minibatches
    if _python_loop_minibatches < _COMPILE_AFTER_MINIBATCHES:
        return False
    print(
        "dbn: compiling the multi-threaded CD epoch for this machine (a few seconds, once: Numba "
        "caches it)",
        file=sys.stderr,
        flush=True,
    )
    return True


def team_size(shape, rows):
    """Threads for weights of ``shape`` ``(n_hidden, n_visible)`` and minibatches (or chains) of
    ``rows`` rows: one per BLAS thread, fewer for small models and thin row blocks."""
    H, V = shape
    # A barrier costs tens of microseconds: small models or thin row blocks are not worth one.
    if H * V < _MIN_WEIGHTS_FOR_THREADS or rows < 2 * _MIN_ROWS_PER_THREAD:
        return 1
    return max(1, min(blas_threads(), rows // _MIN_ROWS_PER_THREAD, V // 16))


def run_epoch_by_rows(cd, X, order, learning_rate, momentum, rng, n_threads):
    """``cd.run_epoch`` with the minibatch step of the :class:`~dbn._cd.ContrastiveDivergence`
    ``cd`` split between ``n_threads`` threads; returns ``(diverged_at, profile)``.

    Phase 1: each thread gathers its rows of the minibatch (and its persistent chains), runs
    their Gibbs chain with single-threaded GEMMs and writes their statistics into its rows of
    the stacked blocks. Phase 2, after a barrier: each thread owns a block of rows of ``W.T``
    (and of the bias columns); it computes the weight gradient of its block chunk by chunk
    straight into a small buffer and applies the momentum step while that chunk is still in
    cache, so the full gradient never travels through memory (the GEMM-with-beta numpy does not
    have, written as GEMM + one fused pass). A second barrier ends the minibatch.

    Where :func:`dbn._kernels.native.native_functions` finds numpy's CBLAS and a POSIX mutex
    (Linux, macOS), each thread runs the whole epoch as one compiled call
    (:func:`_run_compiled_epoch`, which returns the ``profile``: ``cd.epoch_profile_``);
    otherwise the threads run the loop below in Python (and ``profile`` is None).

    Every element is computed by one thread, in the same order for any team size, and the
    uniform numbers are indexed by the row of the whole minibatch; the random keys are those
    the serial step draws, in the same order. Results depend on the team size only through
    the BLAS, whose float32 products can round differently for different row blocks (as they
    already do between OpenBLAS's own 1- and 2-thread runs).
    """
    buf = cd._buffers
    params, velocity = cd.parameters, cd.velocity
    W_t, vel_W_t = params["components_"].T, velocity["components_"].T  # (V, H), C-contiguous
    b_vis, c_hid = params["intercept_visible_"], params["intercept_hidden_"]
    vel_b, vel_c = velocity["intercept_visible_"], velocity["intercept_hidden_"]
    dtype = W_t.dtype.type
    V, H = W_t.shape
    lr, mom, decay = dtype(learning_rate), dtype(momentum), dtype(cd.weight_decay)
    batch, k, persistent = cd.batch_size, cd.k, cd.persistent
    starts = range(0, order.shape[0], batch)
    # The keys the serial step draws, in its order: positive hidden, then per Gibbs step the
    # visible (if sampled) and the hidden (if the chain goes on) layers. Drawn up front; the
    # Generator is rewound and advanced exactly if the epoch stops early.
    sample_v = [persistent or s < k - 1 or cd.sample_visible for s in range(k)]
    keep = [persistent or s < k - 1 for s in range(k)]
    key_index = []
    n_keys = 1
    for s in range(k):
        iv = n_keys if sample_v[s] else -1
        n_keys += sample_v[s]
        ih = n_keys if keep[s] else -1
        n_keys += keep[s]
        key_index.append((iv, ih))
    saved_rng = rng.bit_generator.state
    keys = rng.bit_generator.random_raw(len(starts) * n_keys).reshape(len(starts), n_keys)
    positive_is_sample = cd.positive_hidden == "samples"
    stacked_h, stacked_v = buf["stacked_hidden"], buf["stacked_visible"]
    h_state, v_pre_all = buf["hidden_state"], buf["visible_pre"]
    v_state_all, h_pre_model = buf["visible_state"], buf["hidden_mean_model"]
    grad_visible, grad_hidden = buf["grad_visible"], buf["grad_hidden"]
    team = Team(n_threads)
    n = team.n
    chunk = max(1, _GRADIENT_CHUNK_BYTES // (H * W_t.itemsize))
    chunk_buffers = [np.empty((min(chunk, V), H), W_t.dtype) for _ in range(n)]
    native = native_functions() if cd.compiled_epoch else None
    if native is not None and not _compiled_epoch_wanted(cd, len(starts)):
        native = None
    if native is not None:
        diverged_at, profile = _run_compiled_epoch(
            cd, native, team, X, order, keys, key_index, sample_v, keep, chunk_buffers,
            learning_rate=lr, momentum=mom, weight_decay=decay,
        )  # fmt: skip
        if diverged_at:
            rng.bit_generator.state = saved_rng
            rng.bit_generator.random_raw(diverged_at * n_keys)
        return diverged_at, profile
    v_bounds = [V * t // n for t in range(n + 1)]
    h_bounds = [H * t // n for t in range(n + 1)]
    finite = [True] * n

    def work_unguarded(t):
        i0, i1, j0, j1 = v_bounds[t], v_bounds[t + 1], h_bounds[t], h_bounds[t + 1]
        gradient = chunk_buffers[t]
        for number, start in enumerate(starts, 1):
            rows = order[start : start + batch]
            key = keys[number - 1]
            b = rows.shape[0]
            chain = cd.chains if persistent else h_state[:b]
            c = chain.shape[0]
            r0, r1 = b * t // n, b * (t + 1) // n
            q0, q1 = c * t // n, c * (t + 1) // n
            # Phase 1: this thread's rows of the data and of the chains.
            v0 = stacked_v[r0:r1]
            kernels.gather_rows(X, rows[r0:r1], v0)
            h_pre = buf["hidden_pre"][r0:r1]
            np.matmul(v0, W_t, out=h_pre)
            kernels.bernoulli_units_rows(
                h_pre, c_hid, key[0], r0, True, positive_is_sample, None, h_state[r0:r1],
                dtype(1.0 / b), stacked_h[r0:r1],
            )  # fmt: skip
            model_scale = dtype(-1.0 / c)
            chain_t = chain[q0:q1]
            v_pre, v_state = v_pre_all[q0:q1], v_state_all[q0:q1]
            v_neg, h_pre_neg = stacked_v[b + q0 : b + q1], h_pre_model[q0:q1]
            for s in range(k):
                last = s == k - 1
                iv, ih = key_index[s]
                np.matmul(chain_t, W_t.T, out=v_pre)
                kernels.bernoulli_units_rows(
                    v_pre, b_vis, key[iv] if iv >= 0 else NO_KEY, q0, sample_v[s],
                    sample_v[s], None, v_state, dtype(1.0), v_neg,
                )  # fmt: skip
                np.matmul(v_neg, W_t, out=h_pre_neg)
                kernels.bernoulli_units_rows(
                    h_pre_neg, c_hid, key[ih] if ih >= 0 else NO_KEY, q0, keep[s], False,
                    None, chain_t, model_scale, stacked_h[b + q0 : b + q1] if last else None,
                )  # fmt: skip
            team.barrier()
            # Phase 2: this thread's block of W.T rows and of the bias columns.
            v_all, h_all = stacked_v[: b + c], stacked_h[: b + c]
            ok = kernels.column_sums_and_bias_step(
                v_all[:, i0:i1], b, 1.0 / b, model_scale, False, b_vis[i0:i1],
                vel_b[i0:i1], grad_visible[i0:i1], lr, mom,
            )  # fmt: skip
            ok &= kernels.column_sums_and_bias_step(
                h_all[:, j0:j1], b, 1.0, 1.0, True, c_hid[j0:j1], vel_c[j0:j1],
                grad_hidden[j0:j1], lr, mom,
            )  # fmt: skip
            for a in range(i0, i1, chunk):
                e = min(a + chunk, i1)
                g = gradient[: e - a]
                np.matmul(v_all[:, a:e].T, h_all, out=g)
                ok &= kernels.momentum_step_raw(W_t[a:e], vel_W_t[a:e], g, lr, mom, decay)
            finite[t] = ok
            team.barrier()
            if not all(finite):
                return number
        return 0

    def work(t):
        # numpy's error state is per thread; divergence is reported by the return value.
        with np.errstate(over="ignore", invalid="ignore"):
            return work_unguarded(t)

    with single_threaded_blas() if team.n > 1 else contextlib.nullcontext():
        diverged_at = team.run(work)
    if diverged_at:
        rng.bit_generator.state = saved_rng
        rng.bit_generator.random_raw(diverged_at * n_keys)
    return diverged_at, None


def _run_compiled_epoch(
    cd, native, team, X, order, keys, key_index, sample_v, keep, chunk_buffers, **scalars
):
    """The row-partitioned epoch as compiled calls per thread
    (:func:`dbn._kernels.cd_epoch.cd_epoch_rows`): no Python, no GIL between the minibatches.
    Returns ``(diverged_at, profile)``, where each thread's time went.

    Each call covers up to ``_MINIBATCHES_PER_CALL`` minibatches, so that the interpreter gets
    control back every few tenths of a second: a Ctrl-C is acted on then (a signal reaches
    Python code only between compiled calls), not at the end of a long epoch.
    """
    buf = cd._buffers
    params, velocity = cd.parameters, cd.velocity
    W_t, dtype = params["components_"].T, cd.dtype
    n = team.n
    # Persistent chains, or a placeholder of the right type that the kernel does not read.
    chains = cd.chains if cd.persistent else np.empty((0, W_t.shape[1]), dtype)
    finite = np.ones(n, dtype=np.bool_)
    arrivals = np.zeros(n * native_kernels.ARRIVAL_STRIDE + 1, dtype=np.int64)
    profile = np.zeros((n, 3), dtype=np.int64)
    blas = native.gemm_for(dtype)
    order = order.astype(np.int64, copy=False)
    batch = cd.batch_size
    arguments = (
        np.asarray(key_index, dtype=np.int64).reshape(-1, 2), np.asarray(sample_v, np.bool_),
        np.asarray(keep, np.bool_), cd.positive_hidden == "samples", cd.persistent,
        chains, W_t, velocity["components_"].T, params["intercept_visible_"],
        velocity["intercept_visible_"], params["intercept_hidden_"],
        velocity["intercept_hidden_"], scalars["learning_rate"], scalars["momentum"],
        scalars["weight_decay"], buf["stacked_visible"], buf["stacked_hidden"],
        buf["hidden_state"], buf["hidden_pre"], buf["visible_pre"], buf["visible_state"],
        buf["hidden_mean_model"], buf["grad_visible"], buf["grad_hidden"],
    )  # fmt: skip

    segment = {}

    def work(t):
        try:
            return cd_epoch_rows(
                t, n, X, segment["order"], batch, segment["keys"], *arguments,
                chunk_buffers[t], finite, blas, native.sync, native.mutex, arrivals,
                native.clock, native.clock_id, profile[t],
            )  # fmt: skip
        except BaseException:
            arrivals[-1] = 1  # releases the other threads from the barrier
            raise

    diverged_at = 0
    with single_threaded_blas():  # one BLAS thread per team thread
        for first in range(0, keys.shape[0], _MINIBATCHES_PER_CALL):
            last = first + _MINIBATCHES_PER_CALL
            segment["order"] = order[first * batch : last * batch]
            segment["keys"] = keys[first:last]
            arrivals[:] = 0  # the barrier's generations restart with each call
            diverged = team.run(work)
            if diverged:
                diverged_at = first + diverged
                break
    seconds = profile / 1e9
    return diverged_at, {
        "gemm_seconds": seconds[:, 0],
        "barrier_seconds": seconds[:, 1],
        "elementwise_seconds": seconds[:, 2] - seconds[:, 0] - seconds[:, 1],
        "total_seconds": seconds[:, 2],
    }
