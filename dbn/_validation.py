"""Input validation shared by every estimator.

The estimators check their arrays with scikit-learn's ``validate_data`` / ``check_array`` (shape,
dimension, sample and feature counts, dtype conversion, feature names: sklearn's own wording) through
:func:`validate_input`, which adds dbn's policy on top: float32 and float64 kept, booleans, strings and
ragged lists refused with a message that names the array, non-finite values counted, and values
outside [0, 1] for Bernoulli units reported by a :class:`DataRangeWarning`. The functions that are
not estimators (:mod:`dbn.evaluation`, :mod:`dbn.init`, ...) use :func:`check_array`, dbn's own.

Each check raises ``ValueError`` or ``TypeError`` with a message that names the parameter or array, what
was expected and what was received, and never modifies the caller's data. scikit-learn is imported
on first use, so that ``import dbn`` stays fast.
"""

from __future__ import annotations

import numbers
import os
import sys
import warnings
from collections.abc import Hashable
from pathlib import Path

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)

# Advice for data outside [0, 1] where Bernoulli visible units expect probabilities.
BERNOULLI_ADVICE = (
    "The values are used as given, as probabilities, which is not the model intended. Scale X to "
    "[0, 1], for example X / 255 for 8-bit images or sklearn.preprocessing.MinMaxScaler, or use "
    "GaussianBernoulliRBM (DBN(visible_unit='gaussian')) for real-valued data."
)


_PACKAGE_DIR = str(Path(__file__).resolve().parent) + os.sep


def external_stacklevel():
    """The ``stacklevel`` that makes ``warnings.warn`` point at the first frame outside dbn.

    Called from the function that warns: level 1 is that function, level 2 its caller, and so on.
    Frames of dbn's own files are skipped however deep the call chain is, so a warning raised in
    the engine names the line of the user's code that called ``fit``. Here, at the bottom of dbn's
    layers, so that every module can warn through it.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(
        _PACKAGE_DIR
    ):
        frame = frame.f_back
        level += 1
    return level


class DataRangeWarning(UserWarning):
    """Input outside the range the model's units expect, e.g. values beyond [0, 1] for Bernoulli
    visible units (raw 0..255 pixels). The data are used as given; the message says how to scale them.
    """


#: A feature whose standard deviation exceeds this is not on the unit scale that Gaussian visible
#: units of fixed variance model (sigma = 1): raw measurements such as prices (ggplot2's diamonds,
#: std 3,989) made every unit of the first RBM constant, and the net did not learn.
STANDARDISED_STD_LIMIT = 10.0


def std_from_moments(mean, mean_of_squares):
    """Standard deviations from the first two moments (the one-pass form every path uses: the
    cluster's and the out-of-core pass accumulate both moments)."""
    return np.sqrt(np.maximum(mean_of_squares - mean**2, 0.0))


def feature_std(X, block_rows=8192):
    """Per-feature standard deviation of a dense array or a scipy.sparse matrix, in float64,
    from moments summed over row blocks (no float64 copy of the whole array)."""
    if hasattr(X, "toarray"):  # the stored values, per column, squared in float64
        X = X.tocsr()
        values = X.data.astype(np.float64)
        n, d = X.shape
        mean = np.bincount(X.indices, weights=values, minlength=d) / n
        squares = np.bincount(X.indices, weights=values**2, minlength=d) / n
        return std_from_moments(mean, squares)
    total = np.zeros(X.shape[1], np.float64)
    squares = np.zeros(X.shape[1], np.float64)
    for start in range(0, X.shape[0], block_rows):
        block = np.asarray(X[start : start + block_rows], dtype=np.float64)
        total += block.sum(axis=0)
        squares += np.einsum("ij,ij->j", block, block)
    return std_from_moments(total / X.shape[0], squares / X.shape[0])


def warn_if_not_standardised(estimator, X, variance_option="learn_variance=True"):
    """One :class:`DataRangeWarning` when a feature of ``X`` varies far beyond unit scale, for
    Gaussian visible units with ``sigma = 1`` (Hinton 2010, section 13.2: standardise first).
    ``variance_option`` is how the estimator learns the variances instead, named in the advice."""
    if X.shape[0] >= 2:
        warn_on_feature_scale(type(estimator).__name__, feature_std(X), variance_option)


def warn_on_feature_scale(owner, std, variance_option="learn_variance=True", name="X"):
    """The warning of :func:`warn_if_not_standardised` from the features' standard deviations
    ``std`` (the cluster and out-of-core paths compute them in their pass over the data)."""
    std = np.asarray(std, dtype=np.float64)
    worst = int(np.argmax(std))
    if not std[worst] > STANDARDISED_STD_LIMIT:
        return
    n_wide = int(np.sum(std > STANDARDISED_STD_LIMIT))
    warnings.warn(
        f"{owner}'s Gaussian visible units model features of unit variance "
        f"(sigma = 1), but {n_wide} of the {std.size} features of {name} "
        f"{'has' if n_wide == 1 else 'have'} a standard deviation above "
        f"{STANDARDISED_STD_LIMIT:g} (feature {worst}: {std[worst]:.4g}). Standardise {name} first "
        "(zero mean, unit variance per feature: sklearn.preprocessing.StandardScaler), or "
        f"learn the variances ({variance_option}).",
        DataRangeWarning,
        stacklevel=external_stacklevel(),
    )


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{value!r} ({type(value).__name__})"


def check_scalar(
    value,
    name,
    *,
    kind=numbers.Real,
    low=None,
    high=None,
    low_inclusive=True,
    high_inclusive=True,
):
    """Check a scalar hyperparameter and return it.

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        The parameter's name, used in the error message.
    kind : type or tuple of types
        Accepted type (``numbers.Integral`` or ``numbers.Real``). Booleans are refused for both.
    low, high : float or None
        Bounds; ``None`` means unbounded.
    low_inclusive, high_inclusive : bool
        Whether the bounds themselves are allowed.
    """
    expected = "an integer" if kind is numbers.Integral else "a real number"
    if isinstance(value, bool | np.bool_) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {expected}, got {_describe(value)}.")
    # Integers are always finite (and np.isfinite refuses Python ints beyond 64 bits).
    if not isinstance(value, numbers.Integral) and not np.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    bad_low = low is not None and (value < low if low_inclusive else value <= low)
    bad_high = high is not None and (value > high if high_inclusive else value >= high)
    if bad_low or bad_high:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}.")
    return value


def check_layer_sizes(sizes, name, *, allow_empty=False, empty_hint="at least one layer"):
    """Normalise an int or a sequence of positive ints (layer widths) to a tuple of ints.

    Parameters
    ----------
    sizes : int or sequence of int
    name : str
        The parameter's name, used in error messages.
    allow_empty : bool
        Accept an empty sequence (an MLP without hidden layers is a linear model).
    empty_hint : str
        What the sequence must name, for the error on an empty one.
    """
    value = sizes
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool | np.bool_):
        sizes = (sizes,)
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise TypeError(
            f"{name} must be an int or a sequence of positive ints, got {value!r}."
        ) from None
    if not sizes and not allow_empty:
        raise ValueError(f"{name} must name {empty_hint}, got an empty sequence.")
    for size in sizes:
        bad_type = isinstance(size, bool | np.bool_) or not isinstance(size, numbers.Integral)
        if bad_type or size < 1:
            raise ValueError(f"{name} must contain positive integers, got {value!r}.")
    return tuple(int(size) for size in sizes)


def check_choice(value, name, choices):
    """Check that ``value`` is one of ``choices`` and return it."""
    # An unhashable value (a list, an array) would make ``in`` raise a bare "unhashable type", or
    # compare element-wise and pass for a one-element array: refuse it with the usual message.
    try:
        valid = isinstance(value, Hashable) and value in choices
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"{name} must be one of {sorted(map(str, choices))}, got {value!r}.")
    return value


def check_bool(value, name):
    """``value`` as a bool; a TypeError naming ``name`` for anything but a bool."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {value!r} ({type(value).__name__}).")
    return bool(value)


def check_dtype(dtype):
    """``dtype`` as numpy.float32 or numpy.float64; an error for anything else."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}.") from exc
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}.")
    return dt


def _is_sparse(X):
    return hasattr(X, "tocsr") and hasattr(X, "nnz")


def check_array(
    X,
    name="X",
    *,
    dtype=FLOAT_DTYPES,
    accept_sparse=False,
    ensure_2d=True,
    min_samples=1,
    n_features=None,
    value_range=None,
    allow_nan=False,
    copy=False,
):
    """Validate an input array and return a C-contiguous float array.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix
        The input.
    name : str
        The array's name, used in error messages.
    dtype : tuple of numpy dtypes
        Accepted float dtypes; float32 and float64 are kept, anything else numeric is converted to the first.
    accept_sparse : bool
        If True, scipy.sparse input is returned as CSR with a float dtype; otherwise it is refused.
    ensure_2d : bool
        Require a 2-D array.
    min_samples : int
        Minimum number of rows.
    n_features : int or None
        Required number of columns (the count seen at fit).
    value_range : (float, float) or None
        Inclusive range the values must lie in, e.g. ``(0, 1)`` for Bernoulli units.
    allow_nan : bool
        Whether NaN and inf are accepted.
    copy : bool
        Force a copy, so the caller's array is never touched downstream.

    Returns
    -------
    X : ndarray or scipy.sparse.csr_matrix
        Float32 or float64, C-contiguous when dense.
    """
    if _is_sparse(X):
        _refuse_sparse(X, name, accept_sparse)
        X = X.tocsr(copy=copy)
        if X.dtype not in dtype:
            X = X.astype(_target_dtype(X.dtype, dtype, name))
        values = X.data
    else:
        arr = _as_array(X, name)
        target = _target_dtype(arr.dtype, dtype, name)
        X = np.array(arr, dtype=target, order="C", copy=True if copy else None)
        values = X
    if ensure_2d and X.ndim != 2:
        hint = " Reshape it with X.reshape(-1, 1) or X.reshape(1, -1)." if X.ndim == 1 else ""
        raise ValueError(
            f"{name} must be a 2-D array (n_samples, n_features), got {X.ndim}-D with shape "
            f"{X.shape}.{hint}"
        )
    if X.ndim and X.shape[0] < min_samples:
        raise ValueError(f"{name} must have at least {min_samples} sample(s), got shape {X.shape}.")
    if ensure_2d and X.shape[1] == 0:
        raise ValueError(f"{name} must have at least 1 feature, got shape {X.shape}.")
    if n_features is not None and X.ndim == 2 and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but the model was fitted with {n_features}."
        )
    if not values.size:
        return X
    # min and max propagate NaN and show any inf, so two streaming passes check finiteness and the
    # range together (measured 2.4x faster on MNIST than isfinite().all() plus min and max).
    vmin, vmax = float(values.min()), float(values.max())
    if not allow_nan and not (np.isfinite(vmin) and np.isfinite(vmax)):
        n_bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        raise ValueError(f"{name} must contain only finite values, got {n_bad} NaN or inf.")
    if value_range is not None:
        lo, hi = value_range
        if np.isnan(vmin) or np.isnan(vmax):  # NaN allowed: check the range of the other values
            vmin, vmax = float(np.nanmin(values)), float(np.nanmax(values))
        if _is_sparse(X) and X.nnz < X.shape[0] * X.shape[1]:
            vmin, vmax = min(vmin, 0.0), max(vmax, 0.0)
        if vmin < lo or vmax > hi:
            raise ValueError(
                f"{name} must lie in [{lo}, {hi}] for Bernoulli visible units, got values in "
                f"[{vmin:g}, {vmax:g}]. Scale the data (e.g. pixels / 255) or use "
                f"GaussianBernoulliRBM for real-valued data."
            )
    return X


def _target_dtype(dtype, accepted, name):
    if dtype in accepted:
        return dtype
    if dtype.kind in "iuf":
        return accepted[0]
    raise _dtype_error(dtype, name)


# dbn's dtype policy, shared by check_array and validate_input: the refusals and their wording.
_DTYPE_KINDS = {"b": "boolean", "c": "complex", "O": "object", "U": "string", "S": "bytes"}


def _dtype_error(dtype, name):
    return TypeError(
        f"{name} must have a real numeric dtype (float32, float64 or integer), got "
        f"{_DTYPE_KINDS.get(dtype.kind, 'unsupported')} dtype {dtype}."
    )


def _refuse_sparse(X, name, accept_sparse):
    if not accept_sparse:
        raise TypeError(
            f"{name} must be a dense array; got a scipy.sparse matrix of shape {X.shape}. "
            f"Convert it with {name}.toarray()."
        )


def _as_array(X, name):
    """``X`` as an ndarray (kept as it is if it is one, subclasses included), refusing strings and
    what does not convert (ragged lists) by name."""
    if isinstance(X, np.ndarray):
        return X
    if isinstance(X, str | bytes):
        raise TypeError(f"{name} must be a numeric array, got a {type(X).__name__}.")
    try:
        return np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc


def check_random_state(seed):
    """Turn ``seed`` into a ``numpy.random.Generator``.

    ``None`` gives fresh OS entropy, an integer a reproducible stream, and a ``Generator`` is used as is.
    A legacy ``RandomState`` is accepted and used to draw a seed.
    """
    if seed is None or isinstance(seed, numbers.Integral):
        if seed is not None and int(seed) < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {seed!r}.")
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(np.iinfo(np.int32).max))
    raise TypeError(
        f"random_state must be None, an int or a numpy Generator, got {_describe(seed)}."
    )


def check_is_fitted(estimator, attributes=None, msg=None):
    """scikit-learn's ``check_is_fitted``: raises :class:`sklearn.exceptions.NotFittedError`.

    ``msg`` (with ``%(name)s`` for the class name) replaces scikit-learn's "Call 'fit'" where the
    estimator's own verb is another one, such as :meth:`dbn.DBN.pretrain`.
    """
    from sklearn.utils.validation import check_is_fitted as sklearn_check_is_fitted

    sklearn_check_is_fitted(estimator, attributes, msg=msg)


def __getattr__(name):
    # dbn.NotFittedError is scikit-learn's, imported on first use (import dbn stays fast).
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError

        return NotFittedError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class DivergenceError(FloatingPointError):
    """Raised when training produced non-finite parameters; the last finite ones are kept."""


# ------------------------------------------------------------------------------ estimator input


def validate_input(
    estimator,
    X,
    name="X",
    *,
    reset=False,
    dtype=FLOAT_DTYPES,
    accept_sparse=False,
    value_range=None,
    units="Bernoulli visible units",
    range_advice=BERNOULLI_ADVICE,
    n_features=None,
):
    """Check an estimator's input array with scikit-learn, then with dbn's policy on top.

    scikit-learn's ``validate_data`` (for ``X``, setting or checking ``n_features_in_`` and
    ``feature_names_in_``) or ``check_array`` (for the other arrays: ``X_val``, ``v``, ``init``,
    ``codes``) checks the dimension, the sample and feature counts and converts the dtype, with
    sklearn's messages. dbn adds: booleans, strings, bytes and ragged lists refused with a message
    that names the array; a sparse matrix refused with the conversion to use; non-finite values
    counted; values outside ``value_range`` reported by one :class:`DataRangeWarning` per call.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator the array is for (named in sklearn's messages).
    X : array-like, pandas DataFrame or scipy.sparse matrix
        The input; never modified.
    name : str, default="X"
        The array's name in error messages.
    reset : bool, default=False
        Whether ``fit`` is learning the number of features (``validate_data(reset=True)``).
    dtype : tuple of numpy dtypes
        Accepted float dtypes: these are kept, anything else numeric is converted to the first.
    accept_sparse : bool
        Return scipy.sparse input as CSR instead of refusing it.
    value_range : (float, float), optional
        The range the units expect, e.g. ``(0, 1)`` for Bernoulli units.
    units : str
        The units that expect the range, for the warning.
    range_advice : str
        What to do about values outside ``value_range``, for the warning.
    n_features : int, optional
        The number of columns required, when it is not the estimator's ``n_features_in_`` (an
        unfitted autoencoder holding pretrained layers).

    Returns
    -------
    X : ndarray or scipy.sparse.csr_matrix
        float32 or float64, C-contiguous when dense.
    """
    from sklearn.utils.validation import check_array as sklearn_check_array
    from sklearn.utils.validation import validate_data

    X = _refuse_unsupported(X, name, accept_sparse)
    options = dict(
        accept_sparse="csr" if accept_sparse else False,
        dtype=list(dtype),
        order="C",
        ensure_all_finite=False,  # dbn counts the non-finite values itself, below
    )
    if name == "X" and n_features is None:
        X = validate_data(estimator, X, reset=reset, **options)
    else:
        X = sklearn_check_array(X, input_name=name, estimator=estimator, **options)
        expected = n_features if n_features is not None or reset else None
        if expected is None and not reset:
            expected = getattr(estimator, "n_features_in_", None)
        if expected is not None and X.shape[1] != expected:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                f"{expected} features as input."
            )
    check_values(X, name, value_range=value_range, units=units, range_advice=range_advice)
    return X


def _refuse_unsupported(X, name, accept_sparse):
    """dbn's dtype policy before sklearn's conversion: no booleans, strings or ragged lists."""
    if _is_sparse(X):
        _refuse_sparse(X, name, accept_sparse)
    elif hasattr(X, "dtypes") and hasattr(X, "columns"):  # a DataFrame: sklearn reads its names
        return X
    else:
        X = _as_array(X, name)
    # Object arrays of numbers and complex values go on to sklearn, which converts or names them.
    if X.dtype.kind in "bUS":
        raise _dtype_error(X.dtype, name)
    return X


def check_values(
    X, name="X", *, value_range=None, units="Bernoulli visible units", range_advice=BERNOULLI_ADVICE
):
    """Refuse NaN and inf (counted); warn once about values outside ``value_range``.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix
        A checked float array.
    name : str
        The array's name in the messages.
    value_range : (float, float), optional
        The range the units expect; values outside it raise a :class:`DataRangeWarning`.
    units : str
        The units that expect the range.
    range_advice : str
        What to do about them, appended to the warning.
    """
    values = X.data if _is_sparse(X) else X
    if not values.size:
        return
    # min and max propagate NaN and show any inf, so two streaming passes check finiteness and the
    # range together (measured 2.4x faster on MNIST than isfinite().all() plus min and max).
    vmin, vmax = float(values.min()), float(values.max())
    if not (np.isfinite(vmin) and np.isfinite(vmax)):
        n_bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        raise ValueError(f"{name} must contain only finite values, got {n_bad} NaN or inf.")
    if value_range is None:
        return
    lo, hi = value_range
    if _is_sparse(X) and X.nnz < X.shape[0] * X.shape[1]:
        vmin, vmax = min(vmin, 0.0), max(vmax, 0.0)
    if vmin < lo or vmax > hi:
        warnings.warn(
            f"{name} should lie in [{lo:g}, {hi:g}] for {units}, got values in "
            f"[{vmin:g}, {vmax:g}]. {range_advice}",
            DataRangeWarning,
            stacklevel=external_stacklevel(),
        )


def check_target(y, name="y", *, dtype=FLOAT_DTYPES):
    """Check a regression target with scikit-learn's ``check_array``, with dbn's policy on top.

    Strings, booleans and ragged lists are refused, numbers of any dtype (object arrays of numbers
    included) are converted to ``dtype[0]`` unless already in ``dtype``, the array must be 1-D or
    2-D, and non-finite values are counted.

    Parameters
    ----------
    y : array-like
    name : str, default="y"
        The array's name in error messages.
    dtype : tuple of numpy dtypes

    Returns
    -------
    y : ndarray, 1-D or 2-D
    """
    from sklearn.utils.validation import check_array as sklearn_check_array

    y = _refuse_unsupported(y, name, False)
    if np.ndim(y) not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {np.shape(y)}.")
    y = sklearn_check_array(
        y,
        input_name=name,
        ensure_2d=False,
        dtype=list(dtype),
        ensure_all_finite=False,
        ensure_min_features=0,
    )
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError(f"{name} must have at least 1 output column, got shape {y.shape}.")
    check_values(y, name)
    return y
