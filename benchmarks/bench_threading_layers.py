"""Why dbn does not run a Numba ``parallel=True`` pool next to numpy's BLAS: the measurement.

    python benchmarks/bench_threading_layers.py serial
    python benchmarks/bench_threading_layers.py workqueue        # or omp, tbb (if installed)
    OPENBLAS_THREAD_TIMEOUT=4 python benchmarks/bench_threading_layers.py omp

Times ``N_STEPS`` (default 100) minibatch-like steps of two 2-thread OpenBLAS GEMMs (the positive
hidden product and the 784 x 200 x 500 weight gradient), with and without the 784 x 500 momentum
update after them, the update compiled serially or with ``parallel=True`` on the given threading
layer. After each GEMM OpenBLAS's workers spin for a while (``OPENBLAS_THREAD_TIMEOUT`` sets for how
long), so a parallel update competes with them for the cores. Prints the update's wall and the run's
CPU time. Run each layer in its own process: Numba picks its layer once per process.
"""

from __future__ import annotations

import os
import sys
import time

import numba
import numpy as np
from numba import prange

LAYER = sys.argv[1] if len(sys.argv) > 1 else "serial"
if LAYER != "serial":
    numba.config.THREADING_LAYER = LAYER


@numba.njit(parallel=LAYER != "serial", fastmath=False, error_model="numpy", nogil=True)
def update(p, v, g, lr, m, wd):
    for i in prange(p.shape[0]):
        for j in range(p.shape[1]):
            s = m * v[i, j] + lr * (g[i, j] - wd * p[i, j])
            v[i, j] = s
            p[i, j] += s


def main():
    rng = np.random.default_rng(0)
    V, H, B = 784, 500, 100
    W = (0.01 * rng.standard_normal((V, H))).astype(np.float32)
    velocity, gradient = np.zeros_like(W), np.empty_like(W)
    stacked_v = rng.random((2 * B, V), dtype=np.float32)
    stacked_h = rng.random((2 * B, H), dtype=np.float32)
    x, h = rng.random((B, V), dtype=np.float32), np.empty((B, H), np.float32)
    lr, m, wd = np.float32(0.1), np.float32(0.5), np.float32(2e-4)
    update(W, velocity, gradient, lr, m, wd)  # compile
    n_steps = int(os.environ.get("N_STEPS", "100"))

    def steps(with_update):
        for _ in range(n_steps):
            np.matmul(x, W, out=h)
            np.matmul(stacked_v.T, stacked_h, out=gradient)
            if with_update:
                update(W, velocity, gradient, lr, m, wd)

    best = {}
    for _ in range(3):
        for with_update in (False, True):
            wall, cpu = time.perf_counter(), time.process_time()
            steps(with_update)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if with_update not in best or wall < best[with_update][0]:
                best[with_update] = (wall, cpu)
    used = numba.threading_layer() if LAYER != "serial" else "serial"
    timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "default")
    print(
        f"{LAYER} (used {used}), OPENBLAS_THREAD_TIMEOUT={timeout}, {n_steps} steps: GEMMs "
        f"{best[False][0]:.3f} s, with the update {best[True][0]:.3f} s: the update costs "
        f"{best[True][0] - best[False][0]:.3f} s wall (run's CPU {best[True][1]:.3f} s); load "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
