"""The targets and sample weights of the MLPs: label checks, labels in model files, weights, R².

:class:`dbn.mlp.MLPClassifier` and :class:`dbn.mlp.MLPRegressor` check what they train on and
score against here, with scikit-learn's words where scikit-learn has a message for it. Class labels
are stored as numeric arrays, since model files hold no pickles (:mod:`dbn.io`). This module
imports no estimator.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._validation import check_array

__all__ = [
    "check_label_values",
    "check_sample_weight",
    "labels_from_array",
    "labels_to_array",
    "overflows",
    "prediction_dtype",
    "r2",
    "require_y",
    "training_weights",
]


def check_label_values(y, name):
    """Labels are numbers, strings or bools of one kind; finite when they are floats."""
    if y.dtype.kind == "c":
        raise TypeError(
            f"{name} must hold class labels (ints, strings, ...), got complex {y.dtype}."
        )
    if y.dtype.kind == "O":
        try:
            np.unique(y)  # labels must be sortable against each other
        except TypeError:
            kinds = sorted({type(v).__name__ for v in y.tolist()})
            raise TypeError(
                f"{name} must hold labels of one kind (all numbers or all strings), got a mix "
                f"of {kinds}."
            ) from None
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(f"{name} must contain only finite labels, got NaN or inf.")


def require_y(estimator, y):
    """scikit-learn's error (and wording) for a supervised ``fit`` without targets."""
    if y is None:
        raise ValueError(
            f"This {type(estimator).__name__} estimator requires y to be passed, but the target y "
            "is None."
        )


def check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return None
    if hasattr(sample_weight, "__array__") and not hasattr(sample_weight, "shape"):
        sample_weight = np.asarray(sample_weight)  # array-likes that only convert
    weights = check_array(sample_weight, "sample_weight", ensure_2d=False)
    if weights.ndim != 1 or len(weights) != n_samples:
        raise ValueError(
            f"sample_weight has {len(weights) if weights.ndim else 0} samples but X has "
            f"{n_samples}; it must be 1-D with one weight per sample (shape {weights.shape})."
        )
    return weights


def training_weights(sample_weight, n_samples):
    """``sample_weight`` of ``fit`` as float64: finite, >= 0, with a positive sum; None for none.

    Unit weights are the unweighted problem: they are dropped, so that training takes the same
    arithmetic (and gives the same weights) as without them.
    """
    weights = check_sample_weight(sample_weight, n_samples)
    if weights is None:
        return None
    weights = np.asarray(weights, dtype=np.float64)
    if (weights < 0).any():
        raise ValueError(f"sample_weight must hold weights >= 0, got {float(weights.min())!r}.")
    if not weights.sum() > 0:
        raise ValueError(
            "sample_weight must have a positive sum, got all weights zero: no sample would count."
        )
    return None if (weights == 1).all() else weights


def overflows(X, dtype):
    """Whether the finite floats of ``X`` overflow when cast to ``dtype``."""
    X = X.data if sp.issparse(X) else X
    if not isinstance(X, np.ndarray) or X.dtype.kind != "f" or not np.isfinite(X).all():
        return False
    return bool(np.abs(X).max(initial=0) > np.finfo(dtype).max)


def prediction_dtype(X, model_dtype):
    """scikit-learn's output dtype: float32 input stays float32, other input gives float64,
    promoted with the model's dtype (a float64 model never predicts in float32)."""
    dtype = getattr(X, "dtype", None)
    if not isinstance(dtype, np.dtype) or dtype.kind != "f":
        dtype = np.dtype(np.float64)
    return np.result_type(dtype, model_dtype)


def r2(y_true, y_pred, sample_weight=None):
    """Coefficient of determination, averaged uniformly over outputs (as sklearn's r2_score)."""
    y_true = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    w = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    w = w[:, None]
    mean = (w * y_true).sum(axis=0) / w.sum()
    ss_res = (w * (y_true - y_pred) ** 2).sum(axis=0)
    ss_tot = (w * (y_true - mean) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), 0.0)
    r2 = np.where((ss_tot == 0) & (ss_res == 0), 1.0, r2)
    return float(r2.mean())


def labels_to_array(classes):
    """Class labels as a numeric array a pickle-free file can hold: ``(array, storage)``.

    Strings become their UCS-4 code points, ``(n_classes, width)`` int32 (model files hold numeric
    arrays only); numbers are stored as int64, float64 or bool.
    """
    classes = np.asarray(classes)
    if classes.dtype.kind == "O":
        if all(isinstance(c, str) for c in classes):
            classes = classes.astype(str)
        else:
            try:
                numeric = np.array(classes.tolist())
            except (TypeError, ValueError):
                numeric = classes
            if numeric.dtype.kind not in "biuf":
                raise TypeError(
                    "classes_ mixes labels of several types, which model files cannot store; use "
                    "labels that are all strings or all numbers."
                )
            classes = numeric
    kind = classes.dtype.kind
    if kind == "U":
        width = max(classes.dtype.itemsize // 4, 1)
        codes = np.ascontiguousarray(classes.astype(f"<U{width}")).view("<i4")
        return codes.reshape(len(classes), width), "unicode"
    if kind == "b":
        return classes.astype(bool), "number"
    if kind in "iu":
        stored = classes.astype(np.int64)
        if not np.array_equal(stored, classes):
            raise TypeError(f"classes_ of dtype {classes.dtype} do not fit in int64.")
        return stored, "number"
    if kind == "f":
        return classes.astype(np.float64), "number"
    raise TypeError(f"classes_ of dtype {classes.dtype} cannot be stored in a model file.")


def labels_from_array(stored, storage, dtype):
    """Inverse of :func:`labels_to_array`; ``dtype`` is the labels' original ``dtype.str``."""
    dtype = np.dtype(dtype)
    if storage == "unicode":
        if stored.ndim != 2 or stored.dtype != np.int32:
            raise ValueError("string labels must be stored as 2-D int32 code points")
        if stored.size and (stored.min() < 0 or stored.max() > 0x10FFFF):
            raise ValueError("string labels hold invalid code points")
        width = stored.shape[1]
        labels = np.ascontiguousarray(stored, dtype="<i4").view(f"<U{width}").reshape(-1)
    elif storage == "number":
        if stored.ndim != 1 or stored.dtype.kind not in "biuf":
            raise ValueError("numeric labels must be stored as a 1-D numeric array")
        labels = stored
    else:
        raise ValueError(f"unknown label storage {storage!r}")
    return labels.astype(dtype)
