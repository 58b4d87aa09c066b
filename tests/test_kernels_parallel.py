"""The row-partitioned CD epoch: its kernels, its thread team and its agreement with the serial step.

``ContrastiveDivergence.run_epoch`` splits each minibatch between a team of threads (one per BLAS
thread). These tests force team sizes 1, 2 and 3 whatever the machine has, so they exercise the
threaded path on any runner. Sampling and bias sums are bit-identical for every partition; the
weights may differ from the serial step in the last bit, because the BLAS rounds products of
different row blocks differently (OpenBLAS does so between its own 1- and 2-thread runs too).
"""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import threading

import numpy as np
import pytest

from dbn import BernoulliRBM
from dbn._cd import ContrastiveDivergence
from dbn._kernels import rbm as kernels
from dbn._threads import Team, blas_threads

# A deadlocked team must fail the test, not hang the suite: SIGALRM raises in the main thread
# (Python-level waits: joins, locks, barriers); faulthandler is the backstop for a deadlock inside
# compiled code, where no Python runs: it prints every thread's stack and ends the process.
_TIMEOUT_SECONDS = 120


@contextlib.contextmanager
def _deadline(seconds):
    def expire(signum, frame):
        raise TimeoutError(f"thread-team test still running after {seconds} s: a deadlock?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    faulthandler.dump_traceback_later(2 * seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def _thread_test_timeout():
    if not hasattr(signal, "SIGALRM"):  # not POSIX: the faulthandler backstop alone
        faulthandler.dump_traceback_later(2 * _TIMEOUT_SECONDS, exit=True)
        yield
        faulthandler.cancel_dump_traceback_later()
        return
    with _deadline(_TIMEOUT_SECONDS):
        yield


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="SIGALRM is POSIX")
def test_the_deadline_stops_a_blocked_test():
    with pytest.raises(TimeoutError, match="deadlock"), _deadline(1):
        threading.Event().wait(30)  # a wait nobody ends, as in a deadlocked team


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("statistic_is_sample", [False, True])
def test_bernoulli_units_rows_split_anywhere_equals_the_whole_block(dtype, statistic_is_sample):
    rng = np.random.default_rng(0)
    pre = rng.standard_normal((13, 7)).astype(dtype)
    bias = rng.standard_normal(7).astype(dtype)
    key, scale = np.uint64(12345), dtype(0.25)
    mean, sample, stat = (np.empty_like(pre) for _ in range(3))
    column_sum = np.zeros(7, dtype)
    kernels.bernoulli_units_with_statistics(
        pre, bias, key, True, statistic_is_sample, mean, sample, scale, stat, scale, column_sum
    )
    for cuts in ([0, 13], [0, 6, 13], [0, 1, 5, 12, 13]):
        sample_rows, stat_rows = np.empty_like(pre), np.empty_like(pre)
        for r0, r1 in zip(cuts[:-1], cuts[1:], strict=True):
            kernels.bernoulli_units_rows(
                pre[r0:r1], bias, key, r0, True, statistic_is_sample, None, sample_rows[r0:r1],
                scale, stat_rows[r0:r1],
            )  # fmt: skip
        np.testing.assert_array_equal(sample_rows, sample)
        np.testing.assert_array_equal(stat_rows, stat)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_column_sums_and_bias_step_equals_the_serial_sums_and_momentum_step(dtype):
    rng = np.random.default_rng(1)
    b, c, n = 10, 7, 9
    stacked = (rng.random((b + c, n)) < 0.5).astype(dtype)
    model_scale = dtype(-1.0 / c)
    # The serial order: data mean (sum, then times 1 / b), then each model row times -1 / c.
    expected_grad = np.zeros(n, dtype)
    for r in range(b):
        expected_grad += stacked[r]
    expected_grad = (expected_grad * (1.0 / b)).astype(dtype)
    for r in range(b, b + c):
        expected_grad += stacked[r] * model_scale
    bias, velocity = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    bias_ref, velocity_ref = bias.copy(), velocity.copy()
    assert kernels.momentum_step(bias_ref, velocity_ref, expected_grad, 0.1, 0.5, 0.0)
    grad = np.empty(n, dtype)
    for j0, j1 in ((0, 4), (4, n)):  # any column blocks
        assert kernels.column_sums_and_bias_step(
            stacked[:, j0:j1], b, 1.0 / b, model_scale, False, bias[j0:j1], velocity[j0:j1],
            grad[j0:j1], dtype(0.1), dtype(0.5),
        )  # fmt: skip
    np.testing.assert_array_equal(grad, expected_grad)
    np.testing.assert_array_equal(bias, bias_ref)
    np.testing.assert_array_equal(velocity, velocity_ref)


CASES = {
    "cd1": dict(),
    "cd2-samples": dict(k=2, positive_hidden="samples", sample_visible=True),
    "pcd-odd-chains": dict(persistent=True, n_chains=37),
}


def _train(dtype, case, team=None, n_epochs=2, learning_rate=0.1, compiled=True):
    rng = np.random.default_rng(0)
    X = (rng.random((300, 40)) < 0.3).astype(dtype)
    params = {
        "components_": np.asfortranarray(0.1 * rng.standard_normal((30, 40)), dtype),
        "intercept_hidden_": np.zeros(30, dtype),
        "intercept_visible_": np.zeros(40, dtype),
    }
    cd = ContrastiveDivergence(params, batch_size=50, weight_decay=1e-3, **case)
    if team is None:
        cd._by_rows_applies = lambda X: False  # the serial step
    else:
        cd._team_size = lambda: team
        cd.compiled_epoch = compiled
    stream = np.random.default_rng(1)
    if cd.persistent:
        cd.start_chains(X, stream)
    results = [
        cd.run_epoch(X, stream.permutation(300), learning_rate, 0.5, stream)
        for _ in range(n_epochs)
    ]
    return cd, stream, results


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python-team"])
@pytest.mark.parametrize("team", [1, 2, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_row_partitioned_epoch_agrees_with_the_serial_step(name, team, compiled):
    serial, serial_rng, _ = _train(np.float64, CASES[name])
    split, split_rng, _ = _train(np.float64, CASES[name], team, compiled=compiled)
    for key in serial.parameters:
        np.testing.assert_allclose(
            split.parameters[key], serial.parameters[key], rtol=0, atol=1e-12, err_msg=key
        )
        np.testing.assert_allclose(split.velocity[key], serial.velocity[key], atol=1e-12)
    if serial.persistent:
        np.testing.assert_array_equal(split.chains, serial.chains)
    # The same keys were drawn: the Generator is where the serial step left it.
    assert split_rng.bit_generator.state == serial_rng.bit_generator.state


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python-team"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_partitioned_epoch_is_deterministic_for_a_team_size(dtype, compiled):
    first, _, _ = _train(dtype, CASES["pcd-odd-chains"], 2, compiled=compiled)
    again, _, _ = _train(dtype, CASES["pcd-odd-chains"], 2, compiled=compiled)
    for key in first.parameters:
        np.testing.assert_array_equal(first.parameters[key], again.parameters[key])


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python-team"])
@pytest.mark.parametrize("team", [1, 2])
def test_row_partitioned_epoch_reports_divergence_like_the_serial_step(team, compiled):
    with np.errstate(over="ignore", invalid="ignore"):
        serial, serial_rng, serial_results = _train(np.float64, {}, learning_rate=1e300)
        split, split_rng, split_results = _train(
            np.float64, {}, team, learning_rate=1e300, compiled=compiled
        )
    assert serial_results[0] > 0
    assert split_results == serial_results
    assert split_rng.bit_generator.state == serial_rng.bit_generator.state


def test_team_reraises_a_worker_error_without_hanging():
    team = Team(3)

    def work(index):
        if index == 2:
            raise ValueError("worker failed")
        team.barrier()
        team.barrier()

    with pytest.raises(ValueError, match="worker failed"):
        team.run(work)
    # The team's threads were released from the barrier and joined: none is left behind.
    assert not [t for t in threading.enumerate() if t.name.startswith("dbn-team-")]


def test_team_runs_every_index_and_returns_the_callers_result():
    seen = []
    team = Team(3)

    def work(index):
        seen.append(index)
        team.barrier()
        return index * 10

    assert team.run(work) == 0
    assert sorted(seen) == [0, 1, 2]


def test_blas_threads_is_a_positive_count():
    assert blas_threads() >= 1


native = pytest.importorskip("dbn._kernels.native")
NATIVE = native.native_functions()
needs_native = pytest.mark.skipif(NATIVE is None, reason="no POSIX mutex or SciPy BLAS here")


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose_a", [False, True])
@pytest.mark.parametrize("transpose_b", [False, True])
def test_compiled_gemm_equals_numpy_on_row_major_blocks(dtype, transpose_a, transpose_b):
    # Operands are column blocks of wider arrays (row stride > width), as the epoch passes them.
    rng = np.random.default_rng(3)
    m, n, k = 5, 7, 4
    wide_a = rng.standard_normal((k, m + 3) if transpose_a else (m, k + 3)).astype(dtype)
    wide_b = rng.standard_normal((n, k + 2) if transpose_b else (k, n + 2)).astype(dtype)
    A = wide_a[:, 1 : 1 + m] if transpose_a else wide_a[:, 1 : 1 + k]
    B = wide_b[:, 2 : 2 + k] if transpose_b else wide_b[:, 2 : 2 + n]
    C = rng.standard_normal((m, n + 1)).astype(dtype)
    expected = 0.5 * ((A.T if transpose_a else A) @ (B.T if transpose_b else B)) + 2.0 * C[:, :n]
    expected_last_column = C[:, n].copy()
    native.gemm(
        NATIVE.gemm_for(dtype), transpose_a, transpose_b, m, n, k, 0.5, A, wide_a.shape[1], B,
        wide_b.shape[1], 2.0, C, C.shape[1],
    )  # fmt: skip
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(C[:, :n], expected, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(C[:, n], expected_last_column)  # outside the block: untouched


@needs_native
def test_compiled_barrier_waits_for_every_thread_and_can_be_aborted():
    n = 3
    arrivals = np.zeros(n * native.ARRIVAL_STRIDE + 1, np.int64)
    order, results = [], [None] * n

    def work(t):
        order.append(("before", t))
        results[t] = native.barrier_wait(NATIVE.sync, NATIVE.mutex, arrivals, t, n, 1)
        order.append(("after", t))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [True] * n
    assert all(step == "before" for step, _ in order[:n])  # nobody left before all arrived
    # A thread whose partner never comes is released by the abort flag.
    waiting = threading.Thread(
        target=lambda: results.__setitem__(
            0, native.barrier_wait(NATIVE.sync, NATIVE.mutex, arrivals, 0, n, 2)
        )
    )
    waiting.start()
    waiting.join(timeout=0.2)
    assert waiting.is_alive()
    arrivals[-1] = 1
    waiting.join(timeout=30)
    assert not waiting.is_alive() and results[0] is False


@needs_native
@pytest.mark.parametrize("team", [1, 2])
def test_compiled_epoch_split_into_calls_equals_one_call_and_counts_minibatches(team, monkeypatch):
    # The epoch runs in calls of _MINIBATCHES_PER_CALL minibatches (so that Ctrl-C is seen);
    # the split changes nothing, and a divergence is numbered within the whole epoch.
    import dbn._cd.parallel

    whole, whole_rng, _ = _train(np.float64, CASES["pcd-odd-chains"], team)
    monkeypatch.setattr(dbn._cd.parallel, "_MINIBATCHES_PER_CALL", 2)
    split, split_rng, _ = _train(np.float64, CASES["pcd-odd-chains"], team)
    for key in whole.parameters:
        np.testing.assert_array_equal(split.parameters[key], whole.parameters[key])
    np.testing.assert_array_equal(split.chains, whole.chains)
    assert split_rng.bit_generator.state == whole_rng.bit_generator.state

    rng = np.random.default_rng(0)
    X = (rng.random((300, 40)) < 0.3).astype(np.float64)
    X[170] = np.inf  # row 170 is in minibatch 4 of 6 (batch 50, rows in order)
    params = {
        "components_": np.asfortranarray(0.1 * rng.standard_normal((30, 40))),
        "intercept_hidden_": np.zeros(30),
        "intercept_visible_": np.zeros(40),
    }
    cd = ContrastiveDivergence(params, batch_size=50)
    cd._team_size = lambda: team
    with np.errstate(all="ignore"):
        assert cd.run_epoch(X, np.arange(300), 0.1, 0.5, np.random.default_rng(1)) == 4


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python-team"])
def test_epoch_profile_shows_which_path_ran(compiled):
    """The compiled epoch leaves where each thread's time went; the Python team leaves none, so
    a compiled path that silently fell back is seen."""
    if compiled and NATIVE is None:
        pytest.skip("no POSIX mutex or SciPy BLAS here")
    cd, _, _ = _train(np.float64, CASES["pcd-odd-chains"], 2, compiled=compiled)
    profile = cd.epoch_profile_
    if not compiled:
        assert profile is None
        return
    assert set(profile) == {
        "gemm_seconds", "barrier_seconds", "elementwise_seconds", "total_seconds"
    }  # fmt: skip
    for name, seconds in profile.items():
        assert seconds.shape == (2,) and np.isfinite(seconds).all(), name  # one per thread
        assert (seconds >= 0).all(), name
    assert (profile["gemm_seconds"] > 0).all() and (profile["total_seconds"] > 0).all()
    parts = profile["gemm_seconds"] + profile["barrier_seconds"] + profile["elementwise_seconds"]
    np.testing.assert_allclose(parts, profile["total_seconds"], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_estimator_threaded_path_at_mnist_size_matches_one_thread(dtype, monkeypatch):
    """A 784x128 BernoulliRBM under a 2-thread BLAS splits each minibatch between 2 threads and
    trains the model of 1 thread, to BLAS rounding."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(0)
    prototypes = rng.random((10, 784)) < 0.2
    X = (prototypes[rng.integers(0, 10, 400)] ^ (rng.random((400, 784)) < 0.05)).astype(dtype)
    params = dict(n_components=128, batch_size=100, n_iter=2, random_state=0)
    # The compiled path, whether or not this process has compiled it yet (the default compiles it
    # only once it pays: test_small_fits_wait_for_the_compile_until_it_pays).
    monkeypatch.setattr(ContrastiveDivergence, "compiled_epoch", True)
    models = {}
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            if blas_threads() != threads:
                pytest.skip(f"numpy's BLAS cannot run {threads} threads here")
            models[threads] = BernoulliRBM(**params).fit(X)
    one, two = models[1], models[2]
    if NATIVE is not None:
        assert one._cd.epoch_profile_["total_seconds"].shape == (1,)
        assert two._cd.epoch_profile_["total_seconds"].shape == (2,)  # the 2-thread path ran
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        assert getattr(two, name).dtype == dtype
        np.testing.assert_allclose(
            getattr(two, name), getattr(one, name), rtol=tolerance, atol=tolerance, err_msg=name
        )


@needs_native
def test_small_fits_wait_for_the_compile_until_it_pays(monkeypatch, capsys):
    """By default the whole-epoch kernel is compiled only once it is cached, or once the Python
    loop (the same bits) has run enough minibatches to pay for the compile; then it says so once."""
    import dbn._cd.parallel as parallel

    monkeypatch.setattr(parallel, "is_compiled_or_cached", lambda: False)
    monkeypatch.setattr(parallel, "_python_loop_minibatches", 0)
    monkeypatch.setattr(parallel, "_COMPILE_AFTER_MINIBATCHES", 10)  # 6 minibatches per epoch
    rng = np.random.default_rng(0)
    X = (rng.random((300, 40)) < 0.3).astype(np.float32)

    params = {
        "components_": np.asfortranarray(0.1 * rng.standard_normal((30, 40)), np.float32),
        "intercept_hidden_": np.zeros(30, np.float32),
        "intercept_visible_": np.zeros(40, np.float32),
    }

    def fresh(mode):
        cd = ContrastiveDivergence({k: v.copy(order="K") for k, v in params.items()}, batch_size=50)
        cd.compiled_epoch = mode
        return cd

    auto = fresh("auto")
    stream = np.random.default_rng(1)
    auto.run_epoch(X, stream.permutation(300), 0.1, 0.5, stream)
    assert auto.epoch_profile_ is None  # 6 minibatches: the Python loop
    assert capsys.readouterr().err == ""
    auto.run_epoch(X, stream.permutation(300), 0.1, 0.5, stream)
    assert auto.epoch_profile_ is not None  # 12 >= 10: compiled from here on
    assert "compiling" in capsys.readouterr().err

    for mode in (True, False):
        other = fresh(mode)
        stream = np.random.default_rng(1)
        for _ in range(2):
            other.run_epoch(X, stream.permutation(300), 0.1, 0.5, stream)
        for key in auto.parameters:  # which path ran changes no bit
            np.testing.assert_array_equal(auto.parameters[key], other.parameters[key])

    # A kernel already compiled (or cached on disk) is used from the first minibatch.
    monkeypatch.setattr(parallel, "is_compiled_or_cached", lambda: True)
    monkeypatch.setattr(parallel, "_python_loop_minibatches", 0)
    cached = fresh("auto")
    cached.run_epoch(X, np.arange(300), 0.1, 0.5, np.random.default_rng(1))
    assert cached.epoch_profile_ is not None


@needs_native
def test_is_compiled_or_cached_after_a_compile():
    from dbn._kernels.cd_epoch import is_compiled_or_cached

    _train(np.float32, CASES["cd1"], 1, n_epochs=1, compiled=True)
    assert is_compiled_or_cached()
