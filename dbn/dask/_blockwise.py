"""A fitted model's outputs on dask arrays, computed block by block on the workers."""

from __future__ import annotations

import numpy as np

from .._validation import check_is_fitted
from ._shards import as_dask_array, import_dask

__all__ = ["predict", "predict_proba", "score", "transform"]


def transform(model, X):
    """``model.transform`` of each block of ``X``, on the workers; a lazy dask array.

    Parameters
    ----------
    model : fitted dbn.BernoulliRBM, dbn.GaussianBernoulliRBM or dbn.DBN (anything with
        ``transform`` and ``n_components`` or ``layers_``)
    X : dask.array.Array of shape (n_samples, n_features)

    Returns
    -------
    dask.array.Array of shape (n_samples, n_components)
    """
    if hasattr(model, "layers_"):
        n_out = model.layers_[-1].n_components
    else:
        check_is_fitted(model, "components_")
        n_out = model.n_components
    return _blockwise(model, X, "transform", n_out, _model_dtype(model), "dbn-transform")


def predict(model, X):
    """``model.predict`` of each block of ``X`` on the workers; a lazy 1-D (or 2-D) dask array."""
    check_is_fitted(model, "coefs_")
    n_outputs = getattr(model, "n_outputs_", 1)
    if hasattr(model, "classes_"):
        return _blockwise(model, X, "predict", None, model.classes_.dtype, "dbn-predict")
    if n_outputs == 1:
        return _blockwise(model, X, "predict", None, _model_dtype(model), "dbn-predict")
    return _blockwise(model, X, "predict", n_outputs, _model_dtype(model), "dbn-predict")


def predict_proba(model, X):
    """``model.predict_proba`` of each block of ``X`` on the workers; a lazy dask array."""
    check_is_fitted(model, "classes_")
    return _blockwise(
        model, X, "predict_proba", len(model.classes_), _model_dtype(model), "dbn-predict-proba"
    )


def score(model, X, y=None):
    """The model's score on dask input, reduced on the workers; a 0-d dask array.

    - classifiers: accuracy (mean of ``predict(X) == y``);
    - regressors: the coefficient of determination R^2 (one pass for the sums);
    - RBMs: the mean pseudo-log-likelihood of the rows (``score_samples``).
    """
    da, _ = import_dask()
    if hasattr(model, "coefs_"):
        if y is None:
            raise ValueError("y is required to score a classifier or regressor, got None.")
        y = as_dask_array(y, "y")
        X = as_dask_array(X, "X")
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X and y must have the same number of rows, got {X.shape[0]} and {y.shape[0]}."
            )
        y = y.rechunk({0: X.chunks[0]})
        y_pred = predict(model, X)
        if hasattr(model, "classes_"):
            return (y_pred == y).mean()
        y = y.astype(np.float64)
        residual = ((y - y_pred) ** 2).sum()
        total = ((y - y.mean(axis=0)) ** 2).sum()
        return 1.0 - residual / total
    check_is_fitted(model, "components_")
    return _blockwise(
        model, X, "score_samples", None, _model_dtype(model), "dbn-score-samples"
    ).mean()


def _blockwise(model, X, method, n_out, dtype, name):
    da, _ = import_dask()
    import dask

    X = as_dask_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    X = X.rechunk({1: -1})
    # One copy of the model in the graph, shared by every block's task.
    model_key = dask.delayed(model, pure=True)

    def apply(block, model):
        return getattr(model, method)(block)

    # ``meta`` spares dask a trial call of the model on an empty block.
    if n_out is None:
        meta = np.empty((0,), dtype)
        return X.map_blocks(apply, model_key, drop_axis=1, dtype=dtype, meta=meta, token=name)
    meta = np.empty((0, n_out), dtype)
    chunks = (X.chunks[0], (n_out,))
    return X.map_blocks(apply, model_key, chunks=chunks, dtype=dtype, meta=meta, token=name)


def _model_dtype(model):
    for attribute in ("components_", "coefs_", "layers_"):
        value = getattr(model, attribute, None)
        if value is None:
            continue
        if attribute == "layers_":
            return value[0].components_.dtype
        if attribute == "coefs_":
            return value[0].dtype
        return value.dtype
    return np.dtype(np.float64)
