"""BLAS products and a thread barrier that compiled code can call without the interpreter.

The row-partitioned CD epoch (:mod:`dbn._kernels.cd_epoch`) runs a whole epoch of one thread's
share in one compiled call: its GEMMs, its element-wise kernels and the two barriers of every
minibatch. Each step back into Python (a numpy product, a kernel call, a ``threading.Barrier``)
costs microseconds under the GIL, which the threads of a team take in turn; at MNIST's size these
costs, about 40 calls per minibatch, were as large as the element-wise work they wrapped.

- **GEMM.** numpy's own BLAS, called through its CBLAS interface (``cblas_sgemm`` /
  ``cblas_dgemm``, under the names numpy's wheels give them, ``scipy_cblas_sgemm64_`` ...): the
  same library, kernels and rounding as ``numpy.matmul``. (SciPy's exported BLAS,
  :mod:`scipy.linalg.cython_blas`, is a separate, older OpenBLAS in the wheels: 5-20 % slower on
  these shapes, measured.) The function is passed to the compiled code as a ``ctypes`` function
  object, so Numba caches the code (the address is an argument, not a constant baked into it).
- **Barrier.** :func:`barrier_wait` spins on per-thread arrival counters, reading and writing them
  under a POSIX mutex (``pthread_mutex_lock`` / ``unlock`` from the C library): the mutex orders
  the memory of the threads on every architecture, and ``sched_yield`` gives the core away while
  waiting, should the machine have more runnable threads than cores.

:func:`native_functions` returns None where either part is missing (Windows has no POSIX mutex in
its C library; a BLAS without a CBLAS interface); dbn then keeps its Python team
(:mod:`dbn._threads`).
"""

from __future__ import annotations

import ctypes
import functools
import sys

import numpy as np

from . import jit

__all__ = ["NativeFunctions", "barrier_wait", "gemm", "native_functions", "now_ns"]

# CBLAS's enums: row-major storage, no transpose, transpose.
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

# (symbol suffix, integer type): ILP64 builds (numpy's wheels) suffix their symbols with 64_.
_CBLAS_NAMES = (
    ("scipy_cblas_{}gemm64_", ctypes.c_int64),
    ("cblas_{}gemm64_", ctypes.c_int64),
    ("scipy_cblas_{}gemm", ctypes.c_int32),
    ("cblas_{}gemm", ctypes.c_int32),
)


class NativeFunctions:
    """The C functions of the compiled epoch, and the mutex they share.

    Attributes
    ----------
    sgemm, dgemm : ctypes function
        CBLAS GEMM of numpy's BLAS for float32 and float64.
    library : str
        Path of that BLAS.
    sync : tuple of ctypes function
        ``(pthread_mutex_lock, pthread_mutex_unlock, sched_yield)``.
    clock, clock_id : ctypes function, int
        ``clock_gettime`` and the platform's ``CLOCK_MONOTONIC``, for :func:`now_ns`.
    mutex : ndarray of uint64
        Memory of an initialised ``pthread_mutex_t`` (256 bytes: larger than any platform's).
    """

    def __init__(self, sgemm, dgemm, library, lock, unlock, yield_, init, destroy, clock):
        self.sgemm, self.dgemm, self.library = sgemm, dgemm, library
        self.sync = (lock, unlock, yield_)
        self.clock = clock
        self.clock_id = 6 if sys.platform == "darwin" else 1  # CLOCK_MONOTONIC
        self.mutex = np.zeros(32, np.uint64)
        self._destroy = destroy
        if init(self.mutex.ctypes.data, None) != 0:
            raise OSError("pthread_mutex_init failed")

    def gemm_for(self, dtype):
        """The GEMM of ``dtype`` (float32 or float64)."""
        return self.sgemm if np.dtype(dtype) == np.float32 else self.dgemm

    def __del__(self):
        try:
            self._destroy(self.mutex.ctypes.data)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _numpy_blas_library():
    """Path of the BLAS numpy's products use (threadpoolctl's view), or None."""
    from threadpoolctl import ThreadpoolController

    pools = ThreadpoolController().select(user_api="blas").lib_controllers
    paths = [str(pool.filepath) for pool in pools]
    numpy_paths = [path for path in paths if "numpy" in path]
    return (numpy_paths or paths or [None])[0]


def _cblas_gemm(library):
    """``(sgemm, dgemm)`` ctypes functions of the CBLAS GEMMs of ``library``."""
    handle = ctypes.CDLL(library)
    pointer = ctypes.c_void_p
    for pattern, integer in _CBLAS_NAMES:
        try:
            symbols = [getattr(handle, pattern.format(kind)) for kind in "sd"]
        except AttributeError:
            continue
        functions = []
        for symbol, real in zip(symbols, (ctypes.c_float, ctypes.c_double), strict=True):
            signature = ctypes.CFUNCTYPE(
                None, ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, real,
                pointer, integer, pointer, integer, real, pointer, integer,
            )  # fmt: skip
            functions.append(signature(ctypes.cast(symbol, pointer).value))
        return tuple(functions)
    raise AttributeError(f"no CBLAS gemm in {library}")


@functools.cache
def native_functions():
    """The process's :class:`NativeFunctions`, or None where they are not available."""
    try:
        library = _numpy_blas_library()
        if library is None:
            return None
        sgemm, dgemm = _cblas_gemm(library)
        libc = ctypes.CDLL(None)
        symbols = {
            name: ctypes.cast(getattr(libc, name), ctypes.c_void_p).value
            for name in (
                "pthread_mutex_lock",
                "pthread_mutex_unlock",
                "pthread_mutex_init",
                "pthread_mutex_destroy",
                "sched_yield",
                "clock_gettime",
            )
        }
    except (ImportError, AttributeError, OSError, ValueError):
        return None
    pointer = ctypes.c_void_p
    one_pointer = ctypes.CFUNCTYPE(ctypes.c_int, pointer)
    return NativeFunctions(
        sgemm,
        dgemm,
        library,
        one_pointer(symbols["pthread_mutex_lock"]),
        one_pointer(symbols["pthread_mutex_unlock"]),
        ctypes.CFUNCTYPE(ctypes.c_int)(symbols["sched_yield"]),
        ctypes.CFUNCTYPE(ctypes.c_int, pointer, pointer)(symbols["pthread_mutex_init"]),
        one_pointer(symbols["pthread_mutex_destroy"]),
        ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, pointer)(symbols["clock_gettime"]),
    )


@jit
def gemm(blas, transpose_a, transpose_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
    """Row-major ``C = alpha * op(A) @ op(B) + beta * C`` with the CBLAS function ``blas``.

    ``A``, ``B`` and ``C`` are arrays whose first element starts the operand; ``lda``, ``ldb`` and
    ``ldc`` are their row strides in elements (so column blocks of a larger array work), ``op(A)``
    is ``A.T`` if ``transpose_a``. ``C`` is ``(m, n)``, ``op(A)`` ``(m, k)``, ``op(B)`` ``(k, n)``.
    """
    blas(
        _ROW_MAJOR,
        _TRANS if transpose_a else _NO_TRANS,
        _TRANS if transpose_b else _NO_TRANS,
        m, n, k, alpha, A.ctypes, lda, B.ctypes, ldb, beta, C.ctypes, ldc,
    )  # fmt: skip


@jit
def now_ns(clock, clock_id, buffer):
    """Monotonic time in nanoseconds from ``clock_gettime(clock_id)``; ``buffer`` is 2 int64."""
    clock(clock_id, buffer.ctypes)
    return buffer[0] * 1_000_000_000 + buffer[1]


# Arrival counters sit a cache line apart, so the threads do not write the same line.
ARRIVAL_STRIDE = 8


@jit
def barrier_wait(sync, mutex, arrivals, thread, n_threads, generation):
    """Wait until every thread has called this for the ``generation``-th time; False if aborted.

    ``arrivals`` holds ``n_threads * ARRIVAL_STRIDE + 1`` int64: thread ``t``'s count of arrivals
    at ``t * ARRIVAL_STRIDE`` and, last, an abort flag that a failing thread's caller sets so that
    no thread waits forever.
    """
    lock, unlock, yield_ = sync
    abort = n_threads * ARRIVAL_STRIDE
    lock(mutex.ctypes)
    arrivals[thread * ARRIVAL_STRIDE] = generation
    unlock(mutex.ctypes)
    while True:
        lock(mutex.ctypes)
        done = True
        for t in range(n_threads):
            if arrivals[t * ARRIVAL_STRIDE] < generation:
                done = False
                break
        aborted = arrivals[abort] != 0
        unlock(mutex.ctypes)
        if aborted:
            return False
        if done:
            return True
        yield_()
