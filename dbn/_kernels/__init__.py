"""Numba kernels: every ``@njit`` function of dbn lives in this sub-package.

The estimators own the epoch loop and call these pure functions on arrays for the per-minibatch
element-wise work, with the GEMMs in numpy. One exception: the row-partitioned CD epoch
(:mod:`.cd_epoch`) runs whole epochs compiled, calling numpy's own BLAS through its C interface
(:mod:`.native`), so there is still one BLAS. This module holds the one compilation policy that all
kernels share.

- ``cache=True``: a second process loads the compiled code instead of compiling again.
- ``fastmath=False``: training can diverge, and fastmath's no-NaN/no-Inf assumptions would hide it.
- ``error_model="numpy"``: division follows numpy semantics (inf/nan) instead of raising, and the
  loops vectorise.
- ``nogil=True``: callers may use threads around the kernels.
"""

from __future__ import annotations

import numba

JIT_OPTIONS = {"cache": True, "fastmath": False, "error_model": "numpy", "nogil": True}


def jit(function=None, **overrides):
    """``numba.njit`` with dbn's policy; kernels compile lazily on first call."""
    options = {**JIT_OPTIONS, **overrides}
    if function is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(function)
