"""Named, seeded weight initialisers.

Every initialiser has the signature ``f(fan_in, fan_out, *, random_state=None, dtype=np.float32, **kw)``
and returns an array of shape ``(fan_in, fan_out)``, the layout of :attr:`dbn.mlp.MLPClassifier.coefs_`
(a layer computes ``X @ W + b``). Random draws are made in float64 from a ``numpy.random.Generator`` and
cast to ``dtype``, so a seed gives the same weights (up to rounding) in float32 and float64.

Biases are not covered here: dbn starts them at zero.

The variance each initialiser targets:

==================  ==================================  =====================================
name                distribution                        Var(W)
==================  ==================================  =====================================
``zeros``           0                                   0
``normal``          N(0, std**2)                        std**2
``uniform``         U(-limit, limit)                    limit**2 / 3
``standard``        U(-1/sqrt(fan_in), 1/sqrt(fan_in))  1 / (3 fan_in)
``xavier_uniform``  U(-a, a), a = gain sqrt(6/(i+o))    gain**2 * 2 / (fan_in + fan_out)
``xavier_normal``   N(0, gain**2 2/(i+o))               gain**2 * 2 / (fan_in + fan_out)
``he_uniform``      U(-sqrt(6/fan_in), sqrt(6/fan_in))  2 / fan_in
``he_normal``       N(0, 2/fan_in)                      2 / fan_in
``orthogonal``      gain * Q, Q from QR of a Gaussian   gain**2 / max(fan_in, fan_out)
``lsuv``            orthogonal, rescaled on data        (data-dependent, see :func:`lsuv_init`)
==================  ==================================  =====================================
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from ._activations import activation_code, gain
from ._validation import check_array, check_random_state, check_scalar

__all__ = [
    "zeros",
    "normal",
    "uniform",
    "standard",
    "xavier_uniform",
    "xavier_normal",
    "xavier_std",
    "he_uniform",
    "he_normal",
    "orthogonal",
    "lsuv",
    "lsuv_init",
    "rescale_to_unit_variance",
    "gain",
    "get_initializer",
    "INITIALIZERS",
]


def _check_fans(fan_in, fan_out):
    check_scalar(fan_in, "fan_in", kind=numbers.Integral, low=1)
    check_scalar(fan_out, "fan_out", kind=numbers.Integral, low=1)
    return int(fan_in), int(fan_out)


def _check_dtype(dtype):
    # np.dtype(None) is float64: refuse None rather than silently change the precision.
    try:
        resolved = None if dtype is None else np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None:
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}.")
    if resolved not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {resolved}.")
    return resolved


def _uniform(fan_in, fan_out, limit, random_state, dtype):
    rng = check_random_state(random_state)
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


def _normal(fan_in, fan_out, std, random_state, dtype):
    rng = check_random_state(random_state)
    return (std * rng.standard_normal((fan_in, fan_out))).astype(dtype)


def zeros(fan_in, fan_out, *, random_state=None, dtype=np.float32):
    """All-zero weights.

    Every hidden unit of a layer then computes the same function and receives the same gradient, so
    gradient descent can never make them differ (the symmetry problem, Rumelhart et al., 1986). Useful
    as a baseline and for the output layer of a pretrained net.

    Parameters
    ----------
    fan_in, fan_out : int
        Number of inputs and outputs of the layer.
    random_state : None, int or numpy.random.Generator
        Ignored; accepted for a uniform signature.
    dtype : {numpy.float32, numpy.float64}

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out)

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.
    """
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    check_random_state(random_state)  # unused, but a bad value is still a mistake worth reporting
    return np.zeros((fan_in, fan_out), dtype=_check_dtype(dtype))


def normal(fan_in, fan_out, *, random_state=None, dtype=np.float32, std=0.01):
    """Gaussian weights ``W ~ N(0, std**2)``.

    ``std=0.01`` is the value Hinton (2010) recommends for RBMs; in a deep net it makes the
    back-propagated gradients vanish layer after layer, and large values (``std=1``) saturate
    sigmoid units.

    Parameters
    ----------
    fan_in, fan_out : int
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float32, numpy.float64}
    std : float, default=0.01
        Standard deviation, ``>= 0``.

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out)

    References
    ----------
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR
    2010-003, University of Toronto.
    """
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    check_scalar(std, "std", low=0)
    return _normal(fan_in, fan_out, std, random_state, _check_dtype(dtype))


def uniform(fan_in, fan_out, *, random_state=None, dtype=np.float32, limit=0.05):
    """Uniform weights ``W ~ U(-limit, limit)``, variance ``limit**2 / 3``.

    Parameters
    ----------
    fan_in, fan_out : int
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float32, numpy.float64}
    limit : float, default=0.05
        Half-width of the interval, ``>= 0``.

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out)
    """
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    check_scalar(limit, "limit", low=0)
    return _uniform(fan_in, fan_out, limit, random_state, _check_dtype(dtype))


def standard(fan_in, fan_out, *, random_state=None, dtype=np.float32):
    """The "commonly used heuristic" ``W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    Its variance ``1 / (3 fan_in)`` makes ``fan_in Var(W) = 1/3``: Glorot & Bengio (2010, eq. 1)
    show that the variance of the back-propagated gradients then shrinks as it travels down a deep
    net.

    Parameters
    ----------
    fan_in, fan_out : int
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float32, numpy.float64}

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out)

    References
    ----------
    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.
    """
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    return _uniform(fan_in, fan_out, 1.0 / np.sqrt(fan_in), random_state, _check_dtype(dtype))


def xavier_uniform(fan_in, fan_out, *, random_state=None, dtype=np.float32, gain=1.0):
    """Glorot & Bengio's normalised initialisation ``W ~ U(-a, a)``, ``a = gain sqrt(6/(fan_in+fan_out))``.

    ``Var(W) = gain**2 * 2 / (fan_in + fan_out)`` compromises between keeping the activation
    variance (``fan_in Var(W) = 1``) and the back-propagated gradient variance (``fan_out Var(W) = 1``)
    constant across layers of a net of linear-regime units (Glorot & Bengio, 2010, eq. 16). Use
    :func:`gain` to correct for the slope of the activation at zero (4 for the sigmoid).

    Parameters
    ----------
    fan_in, fan_out : int
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float32, numpy.float64}
    gain : float, default=1.0
        Multiplies the weights, ``> 0``.

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out)

    References
    ----------
    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.
    """
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    check_scalar(gain, "gain", low=0, low_inclusive=False)
    limit = gain * np.sqrt(6.0 / (fan_in + fan_out))
    return _uniform(fan_in, fan_out, limit, random_state, _check_dtype(dtype))


def xavier_normal(fan_in, fan_out, *, random_state=None, dtype=np.float32, gain=1.0):
    """Gaussian form of Glorot & Bengio's initialisation, ``W ~ N(0, gain**2 * 2 / (fan_in + fan_out))``.

    Parameters
    ----------
    fan_in, fan_out : int
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float32, numpy.float64}
    gain : float, default=1.0
        Multiplies the weights, ``> 0``.

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out)

    References
    ----------
    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.
    """
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    check_scalar(gain, "gain", low=0, low_inclusive=False)
    std = gain * xavier_std(fan_in, fan_out)
    return _normal(fan_in, fan_out, std, random_state, _check_dtype(dtype))


def xavier_std(fan_in, fan_out):
    """Standard deviation of Glorot & Bengio's initialisation, ``sqrt(2 / (fan_in + fan_out))``.

    The variance that keeps activations and back-propagated gradients of the same spread in both
    directions through a layer (the compromise between ``1 / fan_in`` and ``1 / fan_out``). Used
    by :func:`xavier_normal` and by the RBMs' ``init_std="xavier"``.

    Parameters
    ----------
    fan_in, fan_out : int

    Returns
    -------
    std : float

    References
    ----------
    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.
    """
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    return float(np.sqrt(2.0 / (fan_in + fan_out)))


def check_init_std(init_std):
    """Raise unless ``init_std`` (of an RBM or a DBM) is a float >= 0 or ``"xavier"``."""
    if isinstance(init_std, str):
        if init_std != "xavier":
            raise TypeError(f"init_std must be a float >= 0 or 'xavier', got {init_std!r}.")
    else:
        check_scalar(init_std, "init_std", kind=numbers.Real, low=0)


def resolve_init_std(init_std, n_visible, n_hidden):
    """The standard deviation of an RBM's initial weights that ``init_std`` asks for: the float
    itself, or ``"xavier"`` resolved for the layer's fans (:func:`xavier_std`)."""
    return xavier_std(n_visible, n_hidden) if isinstance(init_std, str) else init_std


def he_uniform(fan_in, fan_out, *, random_state=None, dtype=np.float32):
    """He (MSRA) initialisation, uniform form: ``W ~ U(-sqrt(6/fan_in), sqrt(6/fan_in))``.

    ``Var(W) = 2 / fan_in``: a ReLU zeroes half of its input's variance, and the factor 2 restores it,
    so that the activation variance is constant across layers (He et al., 2015, eq. 10).

    Parameters
    ----------
    fan_in, fan_out : int
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float32, numpy.float64}

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out)

    References
    ----------
    He, K., Zhang, X., Ren, S. and Sun, J. (2015). Delving deep into rectifiers: surpassing
    human-level performance on ImageNet classification. ICCV, 1026-1034.
    """
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    return _uniform(fan_in, fan_out, np.sqrt(6.0 / fan_in), random_state, _check_dtype(dtype))


def he_normal(fan_in, fan_out, *, random_state=None, dtype=np.float32):
    """He (MSRA) initialisation ``W ~ N(0, 2 / fan_in)`` for ReLU nets.

    Parameters
    ----------
    fan_in, fan_out : int
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float32, numpy.float64}

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out)

    References
    ----------
    He, K., Zhang, X., Ren, S. and Sun, J. (2015). Delving deep into rectifiers: surpassing
    human-level performance on ImageNet classification. ICCV, 1026-1034.
    """
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    return _normal(fan_in, fan_out, np.sqrt(2.0 / fan_in), random_state, _check_dtype(dtype))


def orthogonal(fan_in, fan_out, *, random_state=None, dtype=np.float32, gain=1.0):
    """Random orthogonal weights (Saxe et al., 2014), scaled by ``gain``.

    Draws ``G ~ N(0, 1)`` of shape ``(max, min)``, takes its reduced QR decomposition ``G = QR`` and
    multiplies each column of ``Q`` by ``sign(R_jj)``, which makes ``Q`` Haar-distributed (uniform on
    the orthogonal group) rather than biased by the QR convention. A tall ``W`` (``fan_in >= fan_out``)
    has orthonormal columns, ``W.T @ W = gain**2 I``; a wide one has orthonormal rows,
    ``W @ W.T = gain**2 I``. All singular values equal ``gain``, so a deep linear net neither
    amplifies nor attenuates any direction (dynamical isometry).

    Parameters
    ----------
    fan_in, fan_out : int
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float32, numpy.float64}
    gain : float, default=1.0
        Multiplies the weights, ``> 0``.

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out)

    References
    ----------
    Saxe, A. M., McClelland, J. L. and Ganguli, S. (2014). Exact solutions to the nonlinear dynamics
    of learning in deep linear neural networks. ICLR.

    Mezzadri, F. (2007). How to generate random matrices from the classical compact groups. Notices
    of the AMS, 54(5), 592-604.
    """
    fan_in, fan_out = _check_fans(fan_in, fan_out)
    check_scalar(gain, "gain", low=0, low_inclusive=False)
    rng = check_random_state(random_state)
    tall = fan_in >= fan_out
    rows, cols = (fan_in, fan_out) if tall else (fan_out, fan_in)
    # numpy's LAPACK (not scipy's) so that a single BLAS runs in the process.
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0
    q *= d
    W = q if tall else q.T
    return (gain * W).astype(_check_dtype(dtype))


def lsuv(fan_in, fan_out, *, random_state=None, dtype=np.float32, gain=1.0):
    """Data-independent part of LSUV: an orthogonal matrix (see :func:`orthogonal`).

    Layer-sequential unit-variance initialisation needs data to rescale each layer; the estimators
    in :mod:`dbn.mlp` call :func:`lsuv_init` with a batch of the training data when ``init='lsuv'``.
    Called on its own, this returns the orthogonal pre-initialisation.

    References
    ----------
    Mishkin, D. and Matas, J. (2016). All you need is a good init. ICLR (arXiv:1511.06422, 2015).
    """
    return orthogonal(fan_in, fan_out, random_state=random_state, dtype=dtype, gain=gain)


def lsuv_init(
    layer_sizes,
    X,
    activation="sigmoid",
    *,
    coefs=None,
    intercepts=None,
    random_state=None,
    dtype=np.float32,
    tol=0.05,
    max_iter=10,
):
    """Layer-sequential unit-variance initialisation (Mishkin & Matas, 2015).

    Starting from orthogonal weights, for each layer in turn: propagate the batch ``X``, compute the
    variance ``v`` of the layer's pre-activations ``Z = A_prev @ W + b`` over all samples and units,
    and set ``W /= sqrt(v)``; repeat until ``|v - 1| < tol`` or ``max_iter`` rounds. The layer above
    then sees the activations of a rescaled layer, so each layer ends with unit output variance on
    the batch.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_features, n_hidden_1, ..., n_outputs)``.
    X : array-like of shape (n_samples, n_features)
        The batch (a few hundred training samples suffice).
    activation : {'sigmoid', 'logistic', 'tanh', 'relu', 'identity'}, default='sigmoid'
        Hidden activation (the output layer's pre-activations are rescaled, never activated).
    coefs, intercepts : list of ndarray, optional
        Weights to keep: layers whose entry is not None are propagated through unchanged (e.g.
        pretrained layers); the others are drawn orthogonal and rescaled.
    random_state : None, int or numpy.random.Generator
    dtype : {numpy.float32, numpy.float64}
    tol : float, default=0.05
        Tolerance on the variance.
    max_iter : int, default=10
        Rescaling rounds per layer.

    Returns
    -------
    coefs : list of ndarray
        ``coefs[i]`` of shape ``(layer_sizes[i], layer_sizes[i + 1])``.
    intercepts : list of ndarray
        Zero biases (or those given).

    References
    ----------
    Mishkin, D. and Matas, J. (2016). All you need is a good init. ICLR (arXiv:1511.06422, 2015).

    Saxe, A. M., McClelland, J. L. and Ganguli, S. (2014). Exact solutions to the nonlinear dynamics
    of learning in deep linear neural networks. ICLR.
    """
    from ._kernels.mlp import bias_activation_

    dtype = _check_dtype(dtype)
    sizes = _check_layer_sizes(layer_sizes)
    n_layers = len(sizes) - 1
    X = check_array(X, "X", min_samples=2)
    if X.shape[1] != sizes[0]:
        raise ValueError(
            f"X has {X.shape[1]} features, but layer_sizes[0] is {sizes[0]}; they must match."
        )
    X = X.astype(dtype, copy=False)
    coefs = _check_given_layers(coefs, "coefs", sizes, dtype)
    intercepts = _check_given_layers(intercepts, "intercepts", sizes, dtype)
    check_scalar(tol, "tol", low=0, low_inclusive=False)
    check_scalar(max_iter, "max_iter", kind=numbers.Integral, low=1)
    kind = activation_code(activation)
    rng = check_random_state(random_state)
    A = X
    for i in range(n_layers):
        fixed = coefs[i] is not None
        if not fixed:
            coefs[i] = orthogonal(sizes[i], sizes[i + 1], random_state=rng, dtype=dtype)
        if intercepts[i] is None:
            intercepts[i] = np.zeros(sizes[i + 1], dtype=dtype)
        W, b = coefs[i], intercepts[i]
        Z = A @ W + b
        if not fixed:
            for _ in range(max_iter):
                var = float(Z.var(dtype=np.float64))
                if not np.isfinite(var) or var <= 0:
                    break
                if abs(var - 1.0) < tol:
                    break
                # Only W is rescaled: the biases are zero at this point, so Z scales exactly.
                W *= dtype.type(1.0 / np.sqrt(var))
                Z = A @ W + b
        if i < n_layers - 1:
            A = np.matmul(A, W)
            bias_activation_(A, b, kind)
    return coefs, intercepts


def rescale_to_unit_variance(coefs, intercepts, X, activation="sigmoid"):
    """Scale given (pretrained) layers so that their pre-activations vary with unit spread on ``X``.

    For each layer in turn: propagate ``X`` through the layers below (already rescaled), compute
    the pre-activations ``Z = A @ W + b``, their standard deviation across rows averaged over the
    units, ``s``, and set ``W <- W / s`` and ``b <- b + (1 - 1/s) mean(A @ W)``. One factor per
    layer keeps the learnt directions and the units' relative strengths (unlike a unit-by-unit
    normalisation), and the bias shift keeps each unit's mean input over ``X``, so only how much
    of the input's variation reaches the layer above changes: the layer-wise variance target of
    LSUV (Mishkin & Matas 2016) applied to weights that pretraining chose, as the data-dependent
    rescaling of Kraehenbuehl et al. (2016) applies it to any given weights.

    An RBM on a few standardised real-valued features learns weights of about Xavier's scale
    without its gain (a Gaussian visible unit of variance 1 already explains the data's variance):
    on two features a pretrained sigmoid layer then passes a tenth of its input's spread, less in
    every layer above, and backprop's gradients vanish ("small random values", Glorot & Bengio
    2010). The rescaling recovered the loss on one small, hard generated table (28.4 against
    22.0 % error, 15 folds) but not on the panel's validation folds, where it lost on wine and a
    6-feature table (``benchmarks/panel_study.py --parts realvalued-scale``, twentieth round):
    it is an option (``MLPClassifier(pretrained_scale="unit_variance")``), not a default.

    Parameters
    ----------
    coefs : list of ndarray
        ``coefs[i]`` of shape ``(n_in, n_out)``, chaining from ``X.shape[1]``.
    intercepts : list of ndarray
        ``intercepts[i]`` of shape ``(coefs[i].shape[1],)``.
    X : array-like of shape (n_samples, n_features)
        The rows the spread is measured on (a few hundred training rows suffice).
    activation : {'sigmoid', 'logistic', 'tanh', 'relu', 'identity'}, default='sigmoid'
        The activation of every given layer.

    Returns
    -------
    coefs, intercepts : list of ndarray
        New arrays of the given dtypes; the inputs are not modified. A layer whose pre-activations
        do not vary on ``X`` is returned unchanged.

    References
    ----------
    Mishkin, D. and Matas, J. (2016). All you need is a good init. ICLR (arXiv:1511.06422).

    Kraehenbuehl, P., Doersch, C., Donahue, J. and Darrell, T. (2016). Data-dependent
    initializations of convolutional neural networks. ICLR (arXiv:1511.06856).

    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS.
    """
    from ._kernels.mlp import bias_activation_

    X = check_array(X, "X", min_samples=2)
    if len(coefs) != len(intercepts) or not coefs:
        raise ValueError(
            f"coefs and intercepts must hold one array per layer, got {len(coefs)} and "
            f"{len(intercepts)}."
        )
    kind = activation_code(activation)
    A = X.astype(np.float64)
    scaled_coefs, scaled_intercepts = [], []
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        W, b = np.asarray(W), np.asarray(b)
        if W.ndim != 2 or W.shape[0] != A.shape[1] or b.shape != (W.shape[1],):
            raise ValueError(
                f"coefs[{i}] of shape {W.shape} and intercepts[{i}] of shape {b.shape} do not "
                f"chain from {A.shape[1]} inputs."
            )
        signal = A @ W.astype(np.float64)
        spread = float(signal.std(axis=0).mean())
        factor = 1.0 / spread if np.isfinite(spread) and spread > 0 else 1.0
        W64 = W.astype(np.float64) * factor
        b64 = b.astype(np.float64) + (1.0 - factor) * signal.mean(axis=0)
        scaled_coefs.append(W64.astype(W.dtype))
        scaled_intercepts.append(b64.astype(b.dtype))
        A = A @ W64
        bias_activation_(A, b64, kind)
    return scaled_coefs, scaled_intercepts


def _check_layer_sizes(layer_sizes):
    if isinstance(layer_sizes, str | bytes) or not hasattr(layer_sizes, "__len__"):
        raise TypeError(
            f"layer_sizes must be a sequence of positive ints (n_features, ..., n_outputs), got "
            f"{layer_sizes!r}."
        )
    sizes = list(layer_sizes)
    if len(sizes) < 2 or any(
        isinstance(s, bool | np.bool_) or not isinstance(s, numbers.Integral) or s < 1
        for s in sizes
    ):
        raise ValueError(f"layer_sizes must hold at least 2 positive ints, got {layer_sizes!r}.")
    return [int(s) for s in sizes]


def _check_given_layers(given, name, sizes, dtype):
    """``coefs`` / ``intercepts`` of :func:`lsuv_init`: one entry (array or None) per layer."""
    n_layers = len(sizes) - 1
    if given is None:
        return [None] * n_layers
    if isinstance(given, np.ndarray) or not isinstance(given, list | tuple):
        raise TypeError(
            f"{name} must be a list with one entry (array or None) per layer, got "
            f"{type(given).__name__}."
        )
    if len(given) != n_layers:
        raise ValueError(
            f"{name} must have one entry per layer ({n_layers} for layer_sizes={sizes}), got "
            f"{len(given)}."
        )
    out = []
    for i, value in enumerate(given):
        if value is None:
            out.append(None)
            continue
        shape = (sizes[i], sizes[i + 1]) if name == "coefs" else (sizes[i + 1],)
        array = check_array(
            value, f"{name}[{i}]", dtype=(dtype.type,), ensure_2d=name == "coefs", min_samples=0
        )
        if array.shape != shape:
            raise ValueError(f"{name}[{i}] must have shape {shape}, got {array.shape}.")
        out.append(array)
    return out


INITIALIZERS = {
    "zeros": zeros,
    "normal": normal,
    "uniform": uniform,
    "standard": standard,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "orthogonal": orthogonal,
    "lsuv": lsuv,
}


def get_initializer(init):
    """Return the initialiser named ``init``, or ``init`` itself if it is callable.

    Parameters
    ----------
    init : str or callable
        One of the names of :data:`INITIALIZERS`, or a function
        ``f(fan_in, fan_out, *, random_state, dtype) -> ndarray of shape (fan_in, fan_out)``.

    Returns
    -------
    function : callable
    """
    if callable(init):
        return init
    if isinstance(init, str) and init in INITIALIZERS:
        return INITIALIZERS[init]
    raise ValueError(f"init must be a callable or one of {sorted(INITIALIZERS)}, got {init!r}.")


def accepts_gain(function):
    """Whether an initialiser takes a ``gain`` keyword (the estimators then pass :func:`gain`)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "gain" in parameters
