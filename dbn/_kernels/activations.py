"""Activation functions shared by every kernel module.

The RBM's hidden means and the MLP's hidden layers use the same sigmoid, so a net initialised from a
DBN reproduces the DBN's features bit for bit.
"""

from __future__ import annotations

import numpy as np

from . import jit

# Cephes' expf (Moshier, 1984): Cody-Waite range reduction and a degree-6 polynomial, ~2 ulp in float32.
# Written with plain arithmetic, it vectorises, where the scalar libm call does not (no SVML here).
_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_EXP_P = (
    np.float32(1.9875691500e-4),
    np.float32(1.3981999507e-3),
    np.float32(8.3334519073e-3),
    np.float32(4.1665795894e-2),
    np.float32(1.6666665459e-1),
    np.float32(5.0000001201e-1),
)
# Below this exp(x) is subnormal in float32; returning 0 also avoids slow subnormal arithmetic.
_EXP_MIN = np.float32(-87.0)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)


@jit
def exp_nonpositive_f32(x):
    """``exp(x)`` of a float32 ``x <= 0`` (NaN gives garbage: callers select the NaN themselves)."""
    small = not x >= _EXP_MIN
    if small:
        x = _EXP_MIN
    n = np.floor(x * _LOG2E + _HALF)
    r = x - n * _LN2_HI - n * _LN2_LO
    p0, p1, p2, p3, p4, p5 = _EXP_P
    p = ((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5
    p = p * r * r + r + _ONE
    # 2**n assembled in the exponent bits; n >= -126 here, so it is a normal number. Converting n
    # to int32, not int64, keeps the vector lanes 32 bits wide (measured 15 % faster per sigmoid).
    two_n = np.int32((np.int32(n) + 127) << 23).view(np.float32)
    return np.float32(0.0) if small else p * two_n


@jit
def sigmoid(x):
    """Logistic function in float64 (libm ``exp``); exact at the extremes, never NaN for finite x."""
    # Both branches exponentiate a non-positive number, so nothing overflows for large |x|.
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    if x >= 0:
        return r
    return e * r


@jit
def sigmoid_f32(x):
    """Logistic function of a float32 through the vectorisable ``expf``; NaN stays NaN."""
    e = exp_nonpositive_f32(-np.abs(x))
    r = _ONE / (_ONE + e)
    s = r if x >= 0 else e * r
    return s if x == x else x
