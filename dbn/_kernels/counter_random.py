"""Counter-based uniform random numbers for the sampling kernels.

The kernels need one uniform number per unit they sample. Drawing them from numpy's ``Generator``
into a buffer cost a fifth of an RBM's element-wise time per minibatch (measured: 95 us of ~450 us
for 100 x 500 float32 numbers), so the kernels make their own: number ``i`` of a stream is
SplitMix64 of the Weyl sequence ``key + (i + 1) * gamma`` (Steele, Lea and Flood 2014), a pure
function of ``(key, i)``. It costs two 64-bit multiplies, vectorises, and needs no state. The key of
each stream is drawn from the estimator's ``numpy.random.Generator`` (:func:`draw_key`), so the same
``random_state`` still gives the same weights, and the Generator stays the one state to save.

SplitMix64 passes BigCrush (TestU01) and is the generator of Java's ``SplittableRandom``.

References
----------
Steele, G. L., Lea, D. and Flood, C. H. (2014). Fast splittable pseudorandom number generators.
OOPSLA 2014, 453-472.
"""

from __future__ import annotations

import numpy as np

from . import jit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_SHIFT_30 = np.uint64(30)
_SHIFT_27 = np.uint64(27)
_SHIFT_31 = np.uint64(31)
# The top 24 (float32) or 53 (float64) bits, scaled into [0, 1): every value is exact.
_SHIFT_F32 = np.uint64(40)
_SHIFT_F64 = np.uint64(11)
_SCALE_F32 = np.float32(2.0**-24)
_SCALE_F64 = 2.0**-53


def draw_key(rng):
    """A fresh 64-bit stream key from a ``numpy.random.Generator`` (advances it by one draw)."""
    return np.uint64(rng.bit_generator.random_raw())


@jit(inline="always")
def splitmix64(key, index):
    """Number ``index`` (>= 0) of the stream ``key``, 64 random bits as a ``uint64``."""
    z = key + (np.uint64(index) + np.uint64(1)) * _GAMMA
    z = (z ^ (z >> _SHIFT_30)) * _MIX_1
    z = (z ^ (z >> _SHIFT_27)) * _MIX_2
    return z ^ (z >> _SHIFT_31)


@jit(inline="always")
def uniform_f32(key, index):
    """Uniform float32 in [0, 1) from the top 24 bits of :func:`splitmix64`."""
    return np.float32(np.int64(splitmix64(key, index) >> _SHIFT_F32)) * _SCALE_F32


@jit(inline="always")
def uniform_f64(key, index):
    """Uniform float64 in [0, 1) from the top 53 bits of :func:`splitmix64`."""
    return np.float64(np.int64(splitmix64(key, index) >> _SHIFT_F64)) * _SCALE_F64


@jit
def fill_uniform(key, out):
    """``out.flat[i] = uniform(key, i)`` in ``out``'s dtype: the numbers a kernel with this key uses.

    ``out`` is C-contiguous; element ``(r, c)`` of a 2-D array gets number ``r * n_cols + c``, the
    index the sampling kernels use.
    """
    flat = out.ravel()
    if out.itemsize == 4:
        for i in range(flat.size):
            flat[i] = uniform_f32(key, i)
    else:
        for i in range(flat.size):
            flat[i] = uniform_f64(key, i)
