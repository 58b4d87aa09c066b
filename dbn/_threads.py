"""Threads for the element-wise work, taken from numpy's BLAS instead of fighting it.

numpy's OpenBLAS keeps its worker threads spinning for a while after every GEMM (about 0.1 s of CPU
after one product, measured with OpenBLAS 0.3.31), far longer than one minibatch step. Any other
thread pool that runs element-wise kernels between the GEMMs therefore competes with spinning BLAS
threads for the same cores (an earlier Numba ``parallel=True`` attempt was 5x slower). dbn instead
runs the whole minibatch step in a team of its own threads, one per BLAS thread, with the BLAS
limited to one thread for the duration: each thread issues single-threaded GEMMs on its own rows
and runs the kernels on them, so there is exactly one busy thread per core and nothing spins.
Where it can, each thread runs its whole epoch as one compiled call that releases the GIL
(:mod:`dbn._kernels.cd_epoch`), with barriers of its own (:mod:`dbn._kernels.native`); the
:class:`Team` and its :meth:`Team.barrier` are the portable fallback.

The team size follows numpy's BLAS thread count (so ``threadpoolctl.threadpool_limits(1)`` or
``OPENBLAS_NUM_THREADS=1`` also make dbn single-threaded). Without ``threadpoolctl`` (a dependency
of scikit-learn, so normally present) dbn runs on one thread.
"""

from __future__ import annotations

import contextlib
import threading

__all__ = ["Team", "blas_threads", "single_threaded_blas"]

_controller = None


def _blas_controller():
    """threadpoolctl's view of numpy's BLAS (None if threadpoolctl is missing or sees no BLAS)."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            import numpy  # noqa: F401 (its BLAS must be loaded to be seen)

            _controller = ThreadpoolController().select(user_api="blas") or False
    return _controller or None


def blas_threads():
    """Threads of numpy's BLAS, 1 if unknown.

    numpy's pool is the one whose library lives in numpy's folders (a wheel's ``numpy.libs``);
    where none does (one BLAS shared by numpy and SciPy, as in conda), the largest pool counts.
    """
    controller = _blas_controller()
    if controller is None:
        return 1
    pools = controller.lib_controllers
    numpy_pools = [pool for pool in pools if "numpy" in str(pool.filepath)]
    return max((pool.num_threads for pool in numpy_pools or pools), default=1)


@contextlib.contextmanager
def single_threaded_blas():
    """Limit the BLAS to one thread (each team thread calls it on its own rows); restore on exit."""
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1):
        yield


class Team:
    """``n`` threads that run the same function with their index: the caller's and ``n - 1`` more.

    Parameters
    ----------
    n : int
        Team size.

    Notes
    -----
    :meth:`barrier` synchronises the team inside the function. An exception in any thread aborts
    the barrier, so no thread waits forever, and :meth:`run` re-raises it in the caller.
    """

    def __init__(self, n):
        self.n = int(n)
        self._barrier = threading.Barrier(self.n) if self.n > 1 else None

    def barrier(self):
        """Wait until every thread of the team has reached this point."""
        if self._barrier is not None:
            self._barrier.wait()

    def run(self, function):
        """Run ``function(index)`` on every thread (index 0 on the caller's); return index 0's
        result."""
        if self.n == 1:
            return function(0)
        errors = []

        def work(index):
            try:
                function(index)
            except threading.BrokenBarrierError:
                pass
            except BaseException as error:  # re-raised in the caller
                errors.append(error)
                self._barrier.abort()

        threads = [
            threading.Thread(target=work, args=(index,), daemon=True, name=f"dbn-team-{index}")
            for index in range(1, self.n)
        ]
        for thread in threads:
            thread.start()
        try:
            result = function(0)
        except threading.BrokenBarrierError:
            result = None
        except BaseException:
            self._barrier.abort()
            raise
        finally:
            for thread in threads:
                thread.join()
        if errors:
            raise errors[0]
        return result
