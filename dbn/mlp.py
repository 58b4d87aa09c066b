"""Feed-forward networks trained by back-propagation: the fine-tuning stage of a Deep Belief Net.

:class:`MLPClassifier` (softmax output, cross-entropy) and :class:`MLPRegressor` (linear output, squared
error) follow the interface of :class:`sklearn.neural_network.MLPClassifier` where the two overlap, and
add what DBN fine-tuning needs: pretrained hidden layers (``pretrained_layers``, filled by
``DBN.to_mlp()``), named initialisers (:mod:`dbn.init`), dropout, learning-rate schedules and the
conjugate-gradient recipe of Hinton & Salakhutdinov (2006).

The forward and backward passes are module-level functions, :func:`forward` and :func:`backward`, that
work on any list of weights; the estimators and :mod:`dbn.diagnostics` both call them. Matrix products
go to numpy's BLAS; the element-wise work runs in the kernels of ``dbn._kernels.mlp``.

``save`` / ``load`` (pickle-free, see :mod:`dbn.io`) and the per-epoch checkpoints of
``fit(..., checkpoint_dir=...)`` live in ``_TrainingState``, which
:class:`dbn.autoencoder.DeepAutoencoder` shares.

References
----------
Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
back-propagating errors. Nature, 323, 533-536.

Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science, 313(5786), 504-507.
"""

from __future__ import annotations

import inspect
import json
import numbers
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

from . import init as _init
from . import io
from ._base import ParamsMixin
from ._kernels import mlp as _k
from ._validation import (
    DivergenceError,
    NotFittedError,
    check_array,
    check_choice,
    check_is_fitted,
    check_layer_sizes,
    check_random_state,
    check_scalar,
)

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "Propagation",
    "forward",
    "backward",
    "ACTIVATIONS",
]

ACTIVATIONS = {
    "sigmoid": _k.SIGMOID,
    "logistic": _k.SIGMOID,
    "tanh": _k.TANH,
    "relu": _k.RELU,
    "identity": _k.IDENTITY,
}
_OUTPUTS = ("softmax", *ACTIVATIONS)
_LOSSES = ("softmax", "identity")
_SCHEDULES = ("constant", "exponential", "step")
# Rows per chunk when predicting: bounds the memory of the hidden activations of large inputs.
_CHUNK = 2048


def _activation_code(activation, name="activation"):
    check_choice(activation, name, ACTIVATIONS)
    return ACTIVATIONS[activation]


# --------------------------------------------------------------------------------------------------
# Forward and backward passes
# --------------------------------------------------------------------------------------------------


def _layout(layer_sizes):
    """Offsets of each layer's ``W`` and ``b`` in one flat parameter vector ``[W1, b1, W2, b2, ...]``."""
    offsets = []
    start = 0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=True):
        w_stop = start + n_in * n_out
        offsets.append((start, w_stop, w_stop + n_out))
        start = w_stop + n_out
    return offsets, start


def _views(flat, layer_sizes):
    """Weight and bias views into ``flat`` (C-contiguous, so BLAS and the kernels take them as is)."""
    offsets, _ = _layout(layer_sizes)
    coefs, intercepts = [], []
    for (w0, w1, b1), n_in, n_out in zip(offsets, layer_sizes[:-1], layer_sizes[1:], strict=True):
        coefs.append(flat[w0:w1].reshape(n_in, n_out))
        intercepts.append(flat[w1:b1])
    return coefs, intercepts


def _segments(layer_sizes):
    """``(start, stop, is_weight)`` rows for the optimiser kernels (L2 decay on weights only)."""
    offsets, _ = _layout(layer_sizes)
    rows = []
    for w0, w1, b1 in offsets:
        rows.append((w0, w1, 1))
        rows.append((w1, b1, 0))
    return np.array(rows, dtype=np.int64)


def _pack(coefs, intercepts, dtype):
    """Copy weights into one new flat vector; returns it with views shaped like the input."""
    sizes = [coefs[0].shape[0]] + [W.shape[1] for W in coefs]
    _, total = _layout(sizes)
    flat = np.empty(total, dtype=dtype)
    new_coefs, new_intercepts = _views(flat, sizes)
    for W, b, W_new, b_new in zip(coefs, intercepts, new_coefs, new_intercepts, strict=True):
        W_new[...] = W
        b_new[...] = b
    return flat, new_coefs, new_intercepts


class Propagation:
    """Buffers and results of a forward (and backward) pass through a feed-forward net.

    Allocate one per training run with the largest batch size as ``capacity``; :func:`forward` and
    :func:`backward` then reuse its buffers for every batch of up to ``capacity`` rows. After the
    passes, the attributes below hold views of the current batch.

    Parameters
    ----------
    layer_sizes : sequence of int
        ``(n_features, n_hidden_1, ..., n_outputs)``.
    capacity : int
        Maximum number of rows per pass.
    dtype : {numpy.float32, numpy.float64}
    dropout_input, dropout_hidden : float
        Drop probabilities (inverted dropout) of the input and hidden units; noise buffers are
        allocated when they are positive and filled by :meth:`draw_noise`.
    gradients : bool
        Allocate the buffers of the backward pass.

    Attributes
    ----------
    activations : list of ndarray
        ``activations[0]`` is the input and ``activations[i + 1]`` the output of layer ``i``, before
        dropout (the class probabilities for a softmax output).
    inputs : list of ndarray
        ``inputs[i]``: what layer ``i`` multiplied by its weights (``activations[i]`` after dropout).
    logits : ndarray
        Pre-activations of the output layer.
    deltas : list of ndarray
        ``deltas[i] = dLoss / dZ_i``, the back-propagated gradient at layer ``i``'s pre-activations.
    coef_grads, intercept_grads : list of ndarray
        Gradients of the loss, views into :attr:`grad`.
    grad : ndarray of shape (n_params,)
        All gradients, laid out like the flat parameter vector ``[W1, b1, W2, b2, ...]``.
    loss : float
        Mean loss over the batch, plus the L2 term when ``alpha > 0``.
    """

    def __init__(
        self,
        layer_sizes,
        capacity,
        dtype=np.float32,
        *,
        dropout_input=0.0,
        dropout_hidden=0.0,
        gradients=True,
    ):
        self.layer_sizes = tuple(int(s) for s in layer_sizes)
        self.capacity = int(capacity)
        self.dtype = np.dtype(dtype)
        sizes, n, dt = self.layer_sizes, self.capacity, self.dtype
        n_layers = len(sizes) - 1
        self.dropout = [dropout_input] + [dropout_hidden] * (n_layers - 1)
        self._outputs = [np.empty((n, s), dtype=dt) for s in sizes[1:]]
        self._logits = np.empty((n, sizes[-1]), dtype=dt)
        self._noise = [
            np.empty((n, sizes[i]), dtype=dt) if p > 0 else None for i, p in enumerate(self.dropout)
        ]
        self._dropped = [
            np.empty((n, sizes[i]), dtype=dt) if p > 0 else None for i, p in enumerate(self.dropout)
        ]
        # Stands in for the noise of layers without dropout: the kernel never reads it.
        self._no_noise = np.empty((0, 0), dtype=dt)
        if gradients:
            self._deltas = [np.empty((n, s), dtype=dt) for s in sizes[1:]]
            _, total = _layout(sizes)
            self.grad = np.empty(total, dtype=dt)
            self.coef_grads, self.intercept_grads = _views(self.grad, sizes)
        else:
            self._deltas = None
        self.n_samples = 0
        self.activations = self.inputs = self.deltas = self.logits = None
        self.loss = None

    def draw_noise(self, rng, n_samples):
        """Fill the dropout noise of the next ``n_samples`` rows from a numpy Generator."""
        for noise in self._noise:
            if noise is not None:
                rng.random(dtype=self.dtype.type, out=noise[:n_samples])


def forward(X, coefs, intercepts, activation="sigmoid", output="softmax", *, out=None):
    """Propagate ``X`` through the layers ``A_{i+1} = f(A_i @ W_i + b_i)``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Input, of the weights' dtype.
    coefs : list of ndarray
        ``coefs[i]`` of shape ``(n_in_i, n_out_i)``.
    intercepts : list of ndarray
        ``intercepts[i]`` of shape ``(n_out_i,)``.
    activation : {'sigmoid', 'logistic', 'tanh', 'relu', 'identity'}, default='sigmoid'
        Activation of the hidden layers.
    output : {'softmax', 'identity', 'sigmoid', 'logistic', 'tanh', 'relu'}, default='softmax'
        Activation of the last layer (pass ``output=activation`` to compute hidden features only).
    out : Propagation, optional
        Buffers to reuse; when it has dropout noise (see :meth:`Propagation.draw_noise`), dropout is
        applied (training mode). A new one without dropout is allocated when omitted.

    Returns
    -------
    propagation : Propagation
        With ``activations``, ``inputs`` and ``logits`` set.

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.

    Srivastava, N., Hinton, G., Krizhevsky, A., Sutskever, I. and Salakhutdinov, R. (2014). Dropout:
    a simple way to prevent neural networks from overfitting. JMLR, 15, 1929-1958.
    """
    kind = _activation_code(activation)
    check_choice(output, "output", _OUTPUTS)
    if len(coefs) == 0 or len(coefs) != len(intercepts):
        raise ValueError(
            f"coefs and intercepts must be non-empty lists of equal length, got {len(coefs)} and "
            f"{len(intercepts)}."
        )
    dtype = coefs[0].dtype
    X = np.ascontiguousarray(X, dtype=dtype)
    n = X.shape[0]
    sizes = (X.shape[1], *(W.shape[1] for W in coefs))
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        if W.shape[0] != sizes[i] or b.shape != (W.shape[1],):
            raise ValueError(
                f"Layer {i} has W of shape {W.shape} and b of shape {b.shape}: expected "
                f"({sizes[i]}, n_out) and (n_out,) to follow an input of {sizes[i]} features."
            )
    if out is None:
        out = Propagation(sizes, n, dtype, gradients=False)
    elif out.layer_sizes != sizes or out.capacity < n or out.dtype != dtype:
        raise ValueError(
            f"out holds buffers for layer sizes {out.layer_sizes}, up to {out.capacity} rows of "
            f"{out.dtype}; got layer sizes {sizes}, {n} rows of {dtype}."
        )
    n_layers = len(coefs)
    activations, inputs = [X], []
    A = X
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        p = out.dropout[i]
        if p > 0:
            dropped = out._dropped[i][:n]
            _k.dropout_(A, out._noise[i][:n], p, dropped)
            A = dropped
        inputs.append(A)
        Z = out._outputs[i][:n]
        if i < n_layers - 1:
            np.matmul(A, W, out=Z)
            _k.bias_activation_(Z, b, kind)
        elif output == "softmax":
            logits = out._logits[:n]
            np.matmul(A, W, out=logits)
            _k.softmax_(logits, b, Z)
            out.logits = logits
        else:
            np.matmul(A, W, out=Z)
            _k.bias_activation_(Z, b, ACTIVATIONS[output])
            # A linear output is its own logit; for the other activations this is the output.
            out.logits = Z
        activations.append(Z)
        A = Z
    out.n_samples = n
    out.activations = activations
    out.inputs = inputs
    return out


def backward(
    propagation, y, coefs, activation="sigmoid", output="softmax", *, alpha=0.0, on_layer=None
):
    """Back-propagate the loss of the last :func:`forward` pass stored in ``propagation``.

    The loss is the mean over the batch of the softmax cross-entropy ``-log p_y``
    (``output='softmax'``) or of the half squared error ``0.5 ||a - y||**2`` (``output='identity'``),
    plus ``0.5 * alpha * sum(W**2) / n_samples`` (the L2 term of scikit-learn's MLP). Both losses have
    the output delta ``(a - y) / n_samples``; then, layer by layer,
    ``delta_i = (delta_{i+1} @ W_{i+1}.T) * f'(Z_i)``, ``dW_i = inputs_i.T @ delta_i`` and
    ``db_i = sum(delta_i, axis=0)``.

    Parameters
    ----------
    propagation : Propagation
        State after :func:`forward`, allocated with ``gradients=True``.
    y : ndarray
        Class indices of shape (n_samples,) for ``'softmax'``; targets of shape
        (n_samples, n_outputs) or (n_samples,) for ``'identity'``.
    coefs : list of ndarray
        The weights used in the forward pass.
    activation : str, default='sigmoid'
        Hidden activation used in the forward pass.
    output : {'softmax', 'identity'}, default='softmax'
        Output activation used in the forward pass; selects the loss.
    alpha : float, default=0.0
        L2 penalty.
    on_layer : callable, optional
        Called as ``on_layer(i)`` as soon as layer ``i``'s gradients are complete and its weights are
        no longer needed by the pass (top layer first), so that an optimiser can update them while
        the gradients are still in cache.

    Returns
    -------
    propagation : Propagation
        With ``deltas``, ``coef_grads``, ``intercept_grads`` (views into ``grad``) and ``loss`` set.

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.
    """
    kind = _activation_code(activation)
    check_choice(output, "output", _LOSSES)
    prop = propagation
    if prop._deltas is None:
        raise ValueError("propagation was allocated without gradient buffers (gradients=False).")
    n = prop.n_samples
    n_layers = len(coefs)
    scale = 1.0 / n
    deltas = [d[:n] for d in prop._deltas]
    top = prop.activations[-1]
    if output == "softmax":
        y = np.asarray(y)
        if y.dtype != np.int64:
            y = y.astype(np.int64)
        data_loss = _k.softmax_cross_entropy_(prop.logits, top, y, deltas[-1], scale)
    else:
        y = np.asarray(y, dtype=top.dtype)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        y = np.ascontiguousarray(y)
        data_loss = _k.squared_error_(top, y, deltas[-1], scale)
    sum_sq = 0.0
    for i in range(n_layers - 1, -1, -1):
        delta = deltas[i]
        np.matmul(prop.inputs[i].T, delta, out=prop.coef_grads[i])
        _k.column_sum_(delta, prop.intercept_grads[i])
        if i > 0:
            below = deltas[i - 1]
            np.matmul(delta, coefs[i].T, out=below)
            p = prop.dropout[i]
            noise = prop._noise[i][:n] if p > 0 else prop._no_noise
            _k.activation_backward_(below, prop.activations[i], kind, noise, p)
        if alpha > 0:
            sum_sq += _k.add_l2_(prop.coef_grads[i], coefs[i], alpha * scale)
        if on_layer is not None:
            on_layer(i)
    loss = data_loss * scale + 0.5 * alpha * sum_sq * scale
    prop.deltas = deltas
    prop.loss = float(loss)
    return prop


def _forward_chunked(X, coefs, intercepts, activation, output, logits=False):
    """Last-layer output (or logits) of ``X`` computed ``_CHUNK`` rows at a time."""
    n = X.shape[0]
    sizes = (X.shape[1], *(W.shape[1] for W in coefs))
    prop = Propagation(sizes, min(n, _CHUNK), coefs[0].dtype, gradients=False)
    result = np.empty((n, sizes[-1]), dtype=coefs[0].dtype)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        forward(X[start:stop], coefs, intercepts, activation, output, out=prop)
        result[start:stop] = prop.logits if logits else prop.activations[-1]
    return result


# --------------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------------


def _check_bool(value, name):
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {value!r} ({type(value).__name__}).")
    return bool(value)


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}.") from exc
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}.")
    return dt


def _minibatches(X, y, order, batch_size, X_batch, y_batch):
    """Yield ``(m, xb, yb)``: the rows ``order[start:start + batch_size]`` gathered into the
    preallocated buffers (views of their first ``m`` rows), so no minibatch allocates."""
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        m = len(idx)
        xb, yb = X_batch[:m], y_batch[:m]
        np.take(X, idx, axis=0, out=xb)
        np.take(y, idx, axis=0, out=yb)
        yield m, xb, yb


def _check_label_values(y, name):
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


def _check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return None
    weights = check_array(sample_weight, "sample_weight", ensure_2d=False)
    if weights.ndim != 1 or len(weights) != n_samples:
        raise ValueError(
            f"sample_weight has {len(weights) if weights.ndim else 0} samples but X has "
            f"{n_samples}; it must be 1-D with one weight per sample (shape {weights.shape})."
        )
    return weights


def _r2(y_true, y_pred, sample_weight=None):
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


class _ShapesRepr:
    """Stands in for ``pretrained_layers`` in ``repr``: the shapes, not the numbers."""

    def __init__(self, layers):
        self.layers = layers

    def __repr__(self):
        try:
            shapes = ", ".join(f"({np.shape(W)}, {np.shape(b)})" for W, b in self.layers)
        except (TypeError, ValueError):
            return f"<{type(self.layers).__name__}>"
        return f"[{shapes}]"


# --------------------------------------------------------------------------------------------------
# Persistence: model files and checkpoints
# --------------------------------------------------------------------------------------------------

_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _to_json(value):
    """``value`` as the JSON header stores it, for comparing parameters with a stored header."""

    def default(v):
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        raise TypeError(f"cannot store {type(v).__name__} in a model file header: {v!r}")

    return json.loads(json.dumps(value, default=default))


def _fingerprints(data):
    """``{name: [shape, dtype, crc32]}`` of the arrays a fit was started on (None entries skipped)."""
    out = {}
    for name, a in data.items():
        if a is None:
            continue
        a = np.ascontiguousarray(a)
        out[name] = [list(a.shape), a.dtype.str, zlib.crc32(memoryview(a).cast("B"))]
    return out


def _labels_to_array(classes):
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


def _labels_from_array(stored, storage, dtype):
    """Inverse of :func:`_labels_to_array`; ``dtype`` is the labels' original ``dtype.str``."""
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


class _Checkpoint:
    """The checkpoint file of one :meth:`fit`: where it goes, which data it belongs to, and (when a
    previous run left one) the stored state to resume from."""

    def __init__(self, path, kind, data):
        self.path = path
        self.kind = kind
        self.data = data
        self.arrays = self.extra = None
        self.val_index = None

    @property
    def resuming(self):
        return self.arrays is not None

    @property
    def finished(self):
        return self.extra["checkpoint"].get("finished") is True


class _TrainingState:
    """Pickle-free model files and per-epoch checkpoints of a feed-forward net trained by backprop.

    The state is everything that training reads and writes: the weights, the pretrained layers,
    the optimiser state (momentum velocity, Adam moments and step count), the random stream, the
    counters (``n_iter_``, ``t_``), the early-stopping state and ``history_``. Restoring it gives a
    model that predicts, and trains on, exactly as the saved one. :class:`MLPClassifier`,
    :class:`MLPRegressor` and :class:`dbn.autoencoder.DeepAutoencoder` share this code; each says
    what differs through the class attributes and hooks below.

    Class attributes: ``_SIZE_PARAM`` (the parameter with the layer sizes), ``_PRETRAINED_NAMES``
    (the names of the arrays of a ``pretrained_layers`` entry), ``_HISTORY_KEYS`` and
    ``_CHECKPOINT_NAME``. Hooks: ``_sizes()`` (normalised layer sizes) and
    ``_full_sizes(P, n_features, extra)`` (units of every layer, input first). Subclasses extend
    :meth:`_state_arrays` and :meth:`_restore_state` with what only they hold.
    """

    _SIZE_PARAM = None
    _PRETRAINED_NAMES = ()
    _HISTORY_KEYS = ()
    _CHECKPOINT_NAME = None

    # -------------------------------------------------------------------------------- parameters

    def _json_params(self):
        """Hyperparameters for the JSON header; what JSON cannot hold gets its default."""
        params = self.get_params(deep=False)
        params[self._SIZE_PARAM] = list(self._sizes())
        params["dtype"] = _check_dtype(self.dtype).name
        params["pretrained_layers"] = None  # stored as arrays
        seed = params["random_state"]
        if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
            params["random_state"] = int(seed)
        else:
            # A Generator cannot go into a JSON header; the weights and the stream state do.
            params["random_state"] = None
        defaults = inspect.signature(type(self).__init__).parameters
        for name, value in params.items():
            if callable(value):
                params[name] = defaults[name].default
        return params

    @classmethod
    def _params_from_json(cls, params):
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict, got {type(params).__name__}")
        params = dict(params)
        if isinstance(params.get(cls._SIZE_PARAM), list):
            params[cls._SIZE_PARAM] = tuple(params[cls._SIZE_PARAM])
        if "dtype" in params:
            params["dtype"] = np.dtype(params["dtype"]).type
        return params

    def _pretrained_arrays(self):
        arrays = {}
        for i, entry in enumerate(self.pretrained_layers or []):
            for name, value in zip(self._PRETRAINED_NAMES, entry, strict=False):
                value = np.asarray(value)
                if value.dtype not in (np.float32, np.float64):
                    value = value.astype(_check_dtype(self.dtype))
                arrays[f"pretrained{i}/{name}"] = value
        return arrays

    # ------------------------------------------------------------------------------------- state

    def _state_arrays(self):
        """``(arrays, extra)``: the numeric arrays and the JSON metadata of the training state."""
        arrays = {}
        for i, (W, b) in enumerate(zip(self.coefs_, self.intercepts_, strict=True)):
            arrays[f"coef{i}"] = W
            arrays[f"intercept{i}"] = b
        arrays.update(self._pretrained_arrays())
        state = self._optimizer_state
        for name in ("velocity", "m", "v"):
            if name in state:
                arrays[f"optimizer/{name}"] = state[name]
        if hasattr(self, "_best_params"):
            arrays["best_params"] = self._best_params
        extra = {
            "n_features_in_": int(self.n_features_in_),
            "n_iter_": int(self.n_iter_),
            "t_": int(self.t_),
            "n_pretrained": len(self.pretrained_layers or []),
            "optimizer_t": None if state.get("t") is None else int(state["t"]),
            "history_": {key: [float(v) for v in values] for key, values in self.history_.items()},
            "best_loss_": float(self.best_loss_),
            "no_improvement_count": int(self._no_improvement_count),
            "rng_state": self._rng.bit_generator.state if hasattr(self, "_rng") else None,
        }
        if hasattr(self, "best_validation_score_"):
            extra["best_validation_score_"] = float(self.best_validation_score_)
            extra["validation_scores_"] = [float(s) for s in self.validation_scores_]
        return arrays, extra

    def _restore_state(self, arrays, extra, P, source):
        """Set the training state from :meth:`_state_arrays`' output, after checking it.

        Raises
        ------
        dbn.io.ModelFileError
            When shapes, dtypes, layer chaining, counters or the random stream do not fit ``P``.
        """
        try:
            self._restore_checked(arrays, extra, P, source)
        except io.ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise io.ModelFileError(
                f"{source}: malformed training state ({type(exc).__name__}: {exc})."
            ) from exc

    def _restore_checked(self, arrays, extra, P, source):
        def fail(message):
            raise io.ModelFileError(f"{source}: {message}")

        def count(name, low=0):
            value = extra[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                fail(f"{name} must be an integer >= {low}, got {value!r}.")
            return value

        dtype = P["dtype"]
        n_features = count("n_features_in_", 1)
        sizes = self._full_sizes(P, n_features, extra)
        n_layers = len(sizes) - 1
        coefs, intercepts = [], []
        for i in range(n_layers):
            W, b = arrays.get(f"coef{i}"), arrays.get(f"intercept{i}")
            shape = (sizes[i], sizes[i + 1])
            if W is None or b is None or W.shape != shape or b.shape != (sizes[i + 1],):
                fail(
                    f"layer {i} must have weights of shape {shape} and biases of shape "
                    f"({sizes[i + 1]},) to chain with its neighbours; the file does not match its "
                    f"{self._SIZE_PARAM} and {n_features} features."
                )
            if W.dtype != dtype or b.dtype != dtype:
                fail(f"layer {i} is stored in {W.dtype}/{b.dtype}, not in the model's {dtype}.")
            coefs.append(W)
            intercepts.append(b)
        if f"coef{n_layers}" in arrays:
            fail(f"holds more than the {n_layers} layers of its {self._SIZE_PARAM}.")
        _, total = _layout(sizes)

        def parameter_vector(name):
            a = arrays[name]
            if a.shape != (total,) or a.dtype != dtype:
                fail(
                    f"{name} has shape {a.shape} and dtype {a.dtype}; the net has {total} "
                    f"parameters of {dtype}."
                )
            return a.copy()

        state = {}
        for name in ("velocity", "m", "v"):
            if f"optimizer/{name}" in arrays:
                state[name] = parameter_vector(f"optimizer/{name}")
        if ("m" in state) != ("v" in state):
            fail("holds only one of Adam's two moment vectors.")
        if extra.get("optimizer_t") is not None:
            state["t"] = count("optimizer_t")
        elif "m" in state:
            fail("holds Adam's moments without its step count.")
        best_params = parameter_vector("best_params") if "best_params" in arrays else None
        n_iter = count("n_iter_")
        history = extra["history_"]
        if not isinstance(history, dict):
            fail("history_ must be a dict of lists.")
        restored_history = {}
        for key in self._HISTORY_KEYS:
            values = history.get(key, [])
            if not isinstance(values, list) or len(values) != n_iter:
                fail(f"history_[{key!r}] must hold one entry per epoch ({n_iter}).")
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                fail(f"history_[{key!r}] must hold numbers.")
            restored_history[key] = [float(v) for v in values]
        rng_state = extra.get("rng_state")
        if rng_state is None:
            rng = check_random_state(self.random_state)
        else:
            name = rng_state.get("bit_generator") if isinstance(rng_state, dict) else None
            if name not in _BIT_GENERATORS:
                fail(f"unknown random bit generator {name!r}.")
            bit_generator = getattr(np.random, name)()
            bit_generator.state = rng_state
            rng = np.random.Generator(bit_generator)
        if "best_validation_score_" in extra:
            scores = extra["validation_scores_"]
            if not isinstance(scores, list) or len(scores) > n_iter:
                fail("validation_scores_ must be a list of at most one score per epoch.")
            best_score = float(extra["best_validation_score_"])
            if best_params is None:
                fail("holds an early-stopping score without the best weights.")
        n_seen, no_improvement = count("t_"), count("no_improvement_count")
        best_loss = float(extra["best_loss_"])
        # Everything is checked: now set it.
        _, self.coefs_, self.intercepts_ = _pack(coefs, intercepts, dtype)
        self.n_features_in_ = n_features
        self.n_layers_ = n_layers + 1
        self.n_iter_ = n_iter
        self.t_ = n_seen
        self.history_ = restored_history
        self.loss_curve_ = self.history_["train_loss"]
        self.best_loss_ = best_loss
        self._no_improvement_count = no_improvement
        self._optimizer_state = state
        self._rng = rng
        for name in ("best_validation_score_", "validation_scores_", "_best_params"):
            if hasattr(self, name):
                delattr(self, name)
        if best_params is not None:
            self._best_params = best_params
        if "best_validation_score_" in extra:
            self.best_validation_score_ = best_score
            self.validation_scores_ = [float(s) for s in scores]

    # ------------------------------------------------------------------------------- model files

    def save(self, path):
        """Save the model to a pickle-free ``.npz`` file (see :mod:`dbn.io`), atomically.

        Stores the hyperparameters, the weights, the pretrained layers, the optimiser state, the
        history, the counters, the early-stopping state and the random stream, so that
        :meth:`load` gives a model that predicts and trains on exactly as this one would.
        Callable hyperparameters (``init``, ``learning_rate_schedule``) and a Generator
        ``random_state`` cannot be stored: the loaded model has their defaults.

        Parameters
        ----------
        path : str or Path
            Ends in ``.npz``.
        """
        check_is_fitted(self, "coefs_")
        arrays, extra = self._state_arrays()
        io.save_arrays(path, type(self).__name__, self._json_params(), arrays, extra)

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save`; the round trip is exact.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        model
            Of this class.

        Raises
        ------
        dbn.io.ModelFileError
            When the file is not a model of this class, is damaged, or its arrays do not fit its
            parameters (shapes, dtypes, layer chaining).
        """
        header, arrays = io.load_arrays(path, kind=cls.__name__)
        try:
            params = cls._params_from_json(header["params"])
            n_pretrained = int(header.get("extra", {}).get("n_pretrained", 0))
            if n_pretrained:
                params["pretrained_layers"] = [
                    tuple(
                        arrays[f"pretrained{i}/{name}"]
                        for name in cls._PRETRAINED_NAMES
                        if f"pretrained{i}/{name}" in arrays
                    )
                    for i in range(n_pretrained)
                ]
            model = cls(**params)
            P = model._validate_params()
        except io.ModelFileError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise io.ModelFileError(f"{path}: invalid stored parameters ({exc}).") from exc
        model._restore_state(arrays, header.get("extra", {}), P, path)
        return model

    # ------------------------------------------------------------------------------- checkpoints

    def _open_checkpoint(self, checkpoint_dir, data):
        """Prepare ``checkpoint_dir`` and read the checkpoint a previous :meth:`fit` left there.

        ``data`` names the arrays the fit trains on (their shapes and checksums go into the file).
        Stale temporary files of a killed write are removed. A checkpoint written with other
        hyperparameters, other data or other ``pretrained_layers`` is refused with a ValueError.
        """
        folder = Path(checkpoint_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = self._CHECKPOINT_NAME
        # A process killed mid-write leaves its temporary file; the checkpoint itself is whole.
        for stale in folder.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)
        checkpoint = _Checkpoint(
            folder / name, f"{type(self).__name__}-checkpoint", _fingerprints(data)
        )
        path = checkpoint.path
        if not path.exists():
            return checkpoint
        header, arrays = io.load_arrays(path, kind=checkpoint.kind)
        advice = "use another checkpoint_dir or delete the file"
        saved, mine = header["params"], _to_json(self._json_params())
        different = sorted(
            k for k in set(saved) | set(mine) if k != "verbose" and saved.get(k) != mine.get(k)
        )
        if different:
            raise ValueError(
                f"checkpoint {path} was written by a {type(self).__name__} with other parameters "
                f"({', '.join(f'{k}={saved.get(k)!r}' for k in different)}); {advice}."
            )
        extra = header.get("extra", {})
        record = extra.get("checkpoint")
        if not isinstance(record, dict) or not isinstance(record.get("data"), dict):
            raise io.ModelFileError(f"{path}: lacks the record of the data it was trained on.")
        stored = record["data"]
        for key in sorted(set(stored) | set(checkpoint.data)):
            if key not in stored or key not in checkpoint.data:
                how = "with" if key in stored else "without"
                raise ValueError(f"checkpoint {path} was written {how} {key}; {advice}.")
            (shape, dtype, crc), (my_shape, my_dtype, my_crc) = stored[key], checkpoint.data[key]
            if shape != my_shape:
                raise ValueError(
                    f"checkpoint {path} was written for {key} of shape {tuple(shape)}, got "
                    f"{tuple(my_shape)}; {advice}."
                )
            if dtype != my_dtype or crc != my_crc:
                raise ValueError(
                    f"checkpoint {path} was written for other values of {key} (same shape); "
                    f"{advice}."
                )
        mine = self._pretrained_arrays()
        theirs = {k: v for k, v in arrays.items() if k.startswith("pretrained")}
        if set(mine) != set(theirs) or any(not np.array_equal(mine[k], theirs[k]) for k in mine):
            raise ValueError(
                f"checkpoint {path} was written with other pretrained_layers; {advice}."
            )
        checkpoint.arrays, checkpoint.extra = arrays, extra
        return checkpoint

    def _resume(self, checkpoint, P, n_samples=None):
        """Restore the state stored in ``checkpoint``; returns the validation rows it split off."""
        self._restore_state(checkpoint.arrays, checkpoint.extra, P, checkpoint.path)
        val_index = checkpoint.arrays.get("checkpoint/val_index")
        if val_index is not None and n_samples is not None:
            ok = (
                val_index.ndim == 1
                and 0 < len(val_index) < n_samples
                and val_index.dtype == np.int64
                and val_index[0] >= 0
                and val_index[-1] < n_samples
                and np.all(np.diff(val_index) > 0)
            )
            if not ok:
                raise io.ModelFileError(
                    f"{checkpoint.path}: the validation rows are not sorted row indices of the "
                    f"{n_samples} training samples."
                )
        return val_index

    def _write_checkpoint(self, checkpoint, finished):
        """Write the training state after an epoch (atomically: see :func:`dbn.io.atomic_write`)."""
        arrays, extra = self._state_arrays()
        if checkpoint.val_index is not None:
            arrays["checkpoint/val_index"] = checkpoint.val_index
        extra["checkpoint"] = {"data": checkpoint.data, "finished": bool(finished)}
        io.save_arrays(checkpoint.path, checkpoint.kind, self._json_params(), arrays, extra)

    # ------------------------------------------------------------------------- epoch boundaries

    def _epoch_snapshot(self, rng):
        """Copies of the optimiser state and the random stream, to roll back an unfinished epoch."""
        state = self._optimizer_state
        return {
            "arrays": {k: v.copy() for k, v in state.items() if isinstance(v, np.ndarray)},
            "t": state.get("t"),
            "rng": rng.bit_generator.state,
        }

    def _update_snapshot(self, snapshot, rng):
        state = self._optimizer_state
        for name, copy in snapshot["arrays"].items():
            copy[...] = state[name]
        snapshot["t"] = state.get("t")
        snapshot["rng"] = rng.bit_generator.state

    def _roll_back(self, snapshot, rng):
        """Undo the optimiser steps and random draws of an unfinished epoch."""
        state = self._optimizer_state
        for name, copy in snapshot["arrays"].items():
            state[name][...] = copy
        if snapshot["t"] is not None:
            state["t"] = snapshot["t"]
        rng.bit_generator.state = snapshot["rng"]


class _BaseMLP(_TrainingState, ParamsMixin):
    """Shared hyperparameters, initialisation, training loop and prediction of the MLPs."""

    _output = None  # 'softmax' or 'identity', set by the subclasses
    _SIZE_PARAM = "hidden_layer_sizes"
    _PRETRAINED_NAMES = ("W", "b")
    _HISTORY_KEYS = ("train_loss", "val_loss", "val_error", "learning_rate", "time")
    _CHECKPOINT_NAME = "mlp-checkpoint.npz"

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        *,
        activation="sigmoid",
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        learning_rate_schedule="constant",
        lr_decay=0.95,
        lr_step_size=10,
        max_iter=200,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        init="xavier_uniform",
        output_init=None,
        dropout_input=0.0,
        dropout_hidden=0.0,
        pretrained_layers=None,
        cg_batch_size=1000,
        cg_max_line_searches=3,
        cg_top_layer_epochs=0,
        dtype=np.float32,
        random_state=None,
        verbose=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate_schedule = learning_rate_schedule
        self.lr_decay = lr_decay
        self.lr_step_size = lr_step_size
        self.max_iter = max_iter
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.init = init
        self.output_init = output_init
        self.dropout_input = dropout_input
        self.dropout_hidden = dropout_hidden
        self.pretrained_layers = pretrained_layers
        self.cg_batch_size = cg_batch_size
        self.cg_max_line_searches = cg_max_line_searches
        self.cg_top_layer_epochs = cg_top_layer_epochs
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # ---------------------------------------------------------------------------------- validation

    def _hidden_sizes(self):
        # An MLP without hidden layers is a (multinomial) linear model.
        return check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=True)

    def _sizes(self):
        return self._hidden_sizes()

    def _full_sizes(self, P, n_features, extra):
        n_outputs = extra["n_outputs_"]
        if isinstance(n_outputs, bool) or not isinstance(n_outputs, int) or n_outputs < 1:
            raise ValueError(f"n_outputs_ must be a positive integer, got {n_outputs!r}")
        return (n_features, *P["hidden"], n_outputs)

    def _validate_params(self):
        """Check every hyperparameter; returns the normalised values the training loop uses."""
        P = {}
        P["hidden"] = self._hidden_sizes()
        P["kind"] = _activation_code(self.activation)
        P["solver"] = check_choice(self.solver, "solver", ("sgd", "adam", "cg"))
        check_scalar(self.alpha, "alpha", low=0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_scalar(self.batch_size, "batch_size", kind=numbers.Integral, low=1)
        check_scalar(self.learning_rate_init, "learning_rate_init", low=0, low_inclusive=False)
        if not callable(self.learning_rate_schedule):
            check_choice(self.learning_rate_schedule, "learning_rate_schedule", _SCHEDULES)
        check_scalar(self.lr_decay, "lr_decay", low=0, high=1, low_inclusive=False)
        check_scalar(self.lr_step_size, "lr_step_size", kind=numbers.Integral, low=1)
        check_scalar(self.max_iter, "max_iter", kind=numbers.Integral, low=1)
        check_scalar(self.momentum, "momentum", low=0, high=1)
        _check_bool(self.nesterovs_momentum, "nesterovs_momentum")
        check_scalar(self.beta_1, "beta_1", low=0, high=1, high_inclusive=False)
        check_scalar(self.beta_2, "beta_2", low=0, high=1, high_inclusive=False)
        check_scalar(self.epsilon, "epsilon", low=0, low_inclusive=False)
        _check_bool(self.early_stopping, "early_stopping")
        check_scalar(
            self.validation_fraction,
            "validation_fraction",
            low=0,
            high=1,
            low_inclusive=False,
            high_inclusive=False,
        )
        check_scalar(self.n_iter_no_change, "n_iter_no_change", kind=numbers.Integral, low=1)
        check_scalar(self.tol, "tol", low=0)
        P["init"] = _init.get_initializer(self.init)
        P["output_init"] = (
            P["init"] if self.output_init is None else _init.get_initializer(self.output_init)
        )
        for name in ("dropout_input", "dropout_hidden"):
            check_scalar(getattr(self, name), name, low=0, high=1, high_inclusive=False)
        check_scalar(self.cg_batch_size, "cg_batch_size", kind=numbers.Integral, low=1)
        check_scalar(
            self.cg_max_line_searches, "cg_max_line_searches", kind=numbers.Integral, low=1
        )
        check_scalar(self.cg_top_layer_epochs, "cg_top_layer_epochs", kind=numbers.Integral, low=0)
        P["dtype"] = _check_dtype(self.dtype)
        if not isinstance(self.verbose, bool | numbers.Integral):
            raise TypeError(f"verbose must be a bool or an int, got {self.verbose!r}.")
        P["pretrained"] = self._validated_pretrained(P["hidden"], P["dtype"])
        return P

    def _validated_pretrained(self, hidden, dtype, n_features=None):
        """Copies of ``pretrained_layers`` as (W, b) of ``dtype``, after checking that shapes chain."""
        layers = self.pretrained_layers
        if layers is None:
            return []
        if isinstance(layers, np.ndarray) or not isinstance(layers, list | tuple):
            raise TypeError(
                f"pretrained_layers must be a list of (W, b) pairs, got {type(layers).__name__}."
            )
        if len(layers) > len(hidden):
            raise ValueError(
                f"pretrained_layers has {len(layers)} layers but hidden_layer_sizes="
                f"{self.hidden_layer_sizes!r} has only {len(hidden)}."
            )
        out = []
        n_in = n_features
        for i, pair in enumerate(layers):
            try:
                W, b = pair
            except (TypeError, ValueError):
                raise TypeError(
                    f"pretrained_layers[{i}] must be a (W, b) pair, got {type(pair).__name__}."
                ) from None
            W = check_array(W, f"pretrained_layers[{i}][0] (W)", dtype=(dtype.type,), copy=True)
            b = check_array(
                b, f"pretrained_layers[{i}][1] (b)", dtype=(dtype.type,), ensure_2d=False, copy=True
            )
            if W.shape[1] != hidden[i]:
                raise ValueError(
                    f"pretrained_layers[{i}] has W of shape {W.shape}: expected {hidden[i]} "
                    f"columns to match hidden_layer_sizes[{i}]={hidden[i]}."
                )
            if n_in is not None and W.shape[0] != n_in:
                what = "n_features" if i == 0 else f"hidden_layer_sizes[{i - 1}]"
                raise ValueError(
                    f"pretrained_layers[{i}] has W of shape {W.shape}: expected {n_in} rows to "
                    f"match {what}={n_in}."
                )
            if b.shape != (W.shape[1],):
                raise ValueError(
                    f"pretrained_layers[{i}] has b of shape {b.shape}: expected ({W.shape[1]},)."
                )
            out.append((W, b))
            n_in = W.shape[1]
        return out

    def _check_X(self, X, dtype, reset):
        n_features = None if reset else self.n_features_in_
        return check_array(X, "X", dtype=(dtype.type,), n_features=n_features)

    # --------------------------------------------------------------------------------- persistence

    def _state_arrays(self):
        arrays, extra = super()._state_arrays()
        extra["n_outputs_"] = int(self.n_outputs_)
        return arrays, extra

    def _restore_checked(self, arrays, extra, P, source):
        super()._restore_checked(arrays, extra, P, source)
        self.n_outputs_ = int(extra["n_outputs_"])
        self.out_activation_ = self._output

    # ------------------------------------------------------------------------------ initialisation

    def _initialize(self, X, y, P, rng):
        """Draw the weights (or copy the pretrained ones) and reset the fitted state."""
        dtype = P["dtype"]
        sizes = (X.shape[1], *P["hidden"], self.n_outputs_)
        n_layers = len(sizes) - 1
        pretrained = P["pretrained"]
        if pretrained and pretrained[0][0].shape[0] != X.shape[1]:
            raise ValueError(
                f"pretrained_layers[0] has W of shape {pretrained[0][0].shape}: expected "
                f"{X.shape[1]} rows to match the {X.shape[1]} features of X."
            )
        coefs, intercepts = [None] * n_layers, [None] * n_layers
        lsuv_layers = []
        for i in range(n_layers):
            if i < len(pretrained):
                coefs[i], intercepts[i] = pretrained[i]
                continue
            hidden = i < n_layers - 1
            function = P["init"] if hidden else P["output_init"]
            intercepts[i] = np.zeros(sizes[i + 1], dtype=dtype)
            if function is _init.lsuv:
                lsuv_layers.append(i)
                continue
            kwargs = {}
            if _init.accepts_gain(function):
                kwargs["gain"] = _init.gain(self.activation if hidden else "identity")
            W = function(sizes[i], sizes[i + 1], random_state=rng, dtype=dtype, **kwargs)
            W = np.asarray(W)
            if W.shape != (sizes[i], sizes[i + 1]) or not np.isfinite(W).all():
                raise ValueError(
                    f"init returned an array of shape {W.shape} for layer {i}: expected finite "
                    f"values of shape ({sizes[i]}, {sizes[i + 1]})."
                )
            coefs[i] = W
        if lsuv_layers:
            fixed = [None if i in lsuv_layers else W for i, W in enumerate(coefs)]
            rows = rng.choice(X.shape[0], size=min(X.shape[0], 512), replace=False)
            coefs, intercepts = _init.lsuv_init(
                sizes,
                X[np.sort(rows)],
                self.activation,
                coefs=fixed,
                intercepts=intercepts,
                random_state=rng,
                dtype=dtype,
            )
        _, self.coefs_, self.intercepts_ = _pack(coefs, intercepts, dtype)
        self.n_layers_ = n_layers + 1
        self.out_activation_ = self._output
        self.n_iter_ = 0
        self.t_ = 0
        self.history_ = {key: [] for key in self._HISTORY_KEYS}
        self.loss_curve_ = self.history_["train_loss"]
        self._optimizer_state = {}
        self._no_improvement_count = 0
        self.best_loss_ = np.inf
        for name in ("best_validation_score_", "validation_scores_", "_best_params"):
            if hasattr(self, name):
                delattr(self, name)

    def initialize(self, X, y):
        """Build the weights for ``(X, y)`` as :meth:`fit` would, without training.

        Lets :func:`dbn.diagnostics.layer_statistics` look at a net at initialisation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like
            Targets; fix ``classes_`` / ``n_outputs_``.

        Returns
        -------
        self
        """
        P = self._validate_params()
        X, y = self._validate_data(X, y, P, reset=True)
        rng = check_random_state(self.random_state)
        self._rng = rng
        self._initialize(X, y, P, rng)
        return self

    # ------------------------------------------------------------------------------------ training

    def fit(self, X, y, *, X_val=None, y_val=None, callbacks=None, checkpoint_dir=None):
        """Train the network by back-propagation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs (dense; Fortran-ordered or strided arrays are copied once).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or targets (regressor).
        X_val, y_val : array-like, optional
            Validation set. It overrides ``validation_fraction``: with ``early_stopping=True`` the
            training stops on this set; otherwise its loss and error are only recorded in
            ``history_``.
        callbacks : list of callable, optional
            Each is called as ``callback(estimator, epoch, logs)`` after every epoch, where ``epoch``
            counts completed epochs from 1 and ``logs`` holds the epoch's entries of ``history_``;
            training stops when one returns True. A callback with an ``on_train_begin(estimator)``
            method has it called once the weights are initialised (or restored from a checkpoint).
        checkpoint_dir : str or Path, optional
            Write ``mlp-checkpoint.npz`` there after every epoch, atomically (a temporary file,
            fsync, rename: a crash leaves the previous checkpoint whole). It holds the whole
            training state: weights, optimiser state, random stream, counters, early-stopping state,
            history and the rows held out by ``validation_fraction``. Calling ``fit`` again with the
            same folder resumes from it and runs the remaining epochs, so that the weights equal
            those of an uninterrupted run (bit for bit in a single thread); a checkpoint of a
            finished run gives the finished model at once. A checkpoint written with other
            hyperparameters (``verbose`` aside), other data or other ``pretrained_layers`` is
            refused with a ValueError; callable hyperparameters are not compared. Stale temporary
            files of a killed write are removed.

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            When the loss or the weights become non-finite; the weights of the last completed epoch
            are kept.

        Notes
        -----
        A ``KeyboardInterrupt`` stops training with a RuntimeWarning and leaves the model as it was
        after the last completed epoch: weights, optimiser state and random stream alike, so that
        :meth:`partial_fit` or :meth:`save` carry on from there.
        """
        P = self._validate_params()
        X, y = self._validate_data(X, y, P, reset=True)
        callbacks = self._check_callbacks(callbacks)
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together.")
        if X_val is not None:
            X_val = check_array(X_val, "X_val", dtype=(P["dtype"].type,), n_features=X.shape[1])
            y_val = self._encode_y(y_val, "y_val", len(X_val), P["dtype"])
        checkpoint = None
        if checkpoint_dir is not None:
            data = {"X": X, "y": y, "X_val": X_val, "y_val": y_val}
            if hasattr(self, "classes_"):
                data["classes_"] = _labels_to_array(self.classes_)[0]
            checkpoint = self._open_checkpoint(checkpoint_dir, data)
        resuming = checkpoint is not None and checkpoint.resuming
        rng = check_random_state(self.random_state)
        self._rng = rng
        val_index = None
        if resuming:
            val_index = self._resume(checkpoint, P, len(X))
            rng = self._rng
        if X_val is not None:
            X_train, y_train = X, y
        elif self.early_stopping:
            if val_index is None:
                val_index = self._validation_indices(y, rng)
            mask = np.ones(len(X), dtype=bool)
            mask[val_index] = False
            X_train, y_train, X_val, y_val = X[mask], y[mask], X[val_index], y[val_index]
        else:
            X_train, y_train = X, y
        n_epochs = self.max_iter
        if resuming:
            n_epochs = 0 if checkpoint.finished else max(self.max_iter - self.n_iter_, 0)
        else:
            self._initialize(X_train, y_train, P, rng)
        if checkpoint is not None:
            checkpoint.val_index = val_index
        for callback in callbacks:
            if hasattr(callback, "on_train_begin"):
                callback.on_train_begin(self)
        return self._train(
            X_train,
            y_train,
            X_val,
            y_val,
            P,
            rng,
            n_epochs,
            callbacks,
            self.early_stopping,
            checkpoint=checkpoint,
        )

    def partial_fit(self, X, y, classes=None):
        """Train for one epoch over ``(X, y)``, continuing from the current weights.

        The first call initialises the weights (from ``pretrained_layers`` if given); the optimiser
        state (momentum, Adam moments) carries over between calls.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like
        classes : array-like, optional
            All the class labels, needed on the first call of a classifier when ``y`` does not hold
            every class (defaults to the labels in ``y``).

        Returns
        -------
        self
        """
        P = self._validate_params()
        first = not hasattr(self, "coefs_")
        if first:
            X, y = self._validate_data(X, y, P, reset=True, classes=classes)
            self._rng = check_random_state(self.random_state)
            self._initialize(X, y, P, self._rng)
        else:
            X = self._check_X(X, P["dtype"], reset=False)
            y = self._encode_y(y, "y", len(X), P["dtype"])
        return self._train(X, y, None, None, P, self._rng, 1, [], False)

    def _check_callbacks(self, callbacks):
        if callbacks is None:
            return []
        if callable(callbacks):
            return [callbacks]
        if not isinstance(callbacks, list | tuple) or not all(callable(c) for c in callbacks):
            raise TypeError(
                f"callbacks must be a callable or a list of callables, got {callbacks!r}."
            )
        return list(callbacks)

    def _batch_size(self, n):
        if isinstance(self.batch_size, str):
            return min(200, n)
        return min(int(self.batch_size), n)

    def _learning_rate(self, epoch):
        """Learning rate of the 0-based ``epoch``."""
        schedule = self.learning_rate_schedule
        if callable(schedule):
            factor = schedule(epoch)
            if not isinstance(factor, numbers.Real) or not np.isfinite(factor) or factor < 0:
                raise ValueError(
                    f"learning_rate_schedule({epoch}) must return a finite factor >= 0, "
                    f"got {factor!r}."
                )
        elif schedule == "exponential":
            factor = self.lr_decay**epoch
        elif schedule == "step":
            factor = self.lr_decay ** (epoch // self.lr_step_size)
        else:
            factor = 1.0
        return float(self.learning_rate_init * factor)

    def _train(
        self, X, y, X_val, y_val, P, rng, n_epochs, callbacks, early_stopping, checkpoint=None
    ):
        dtype = P["dtype"]
        flat, self.coefs_, self.intercepts_ = _pack(self.coefs_, self.intercepts_, dtype)
        sizes = (self.coefs_[0].shape[0], *(W.shape[1] for W in self.coefs_))
        n = X.shape[0]
        solver = P["solver"]
        state = self._optimizer_state
        if solver == "sgd" and state.get("velocity", flat).shape != flat.shape:
            state.clear()
        if solver == "sgd" and "velocity" not in state:
            state["velocity"] = np.zeros_like(flat)
        if solver == "adam" and "m" not in state:
            state.update(m=np.zeros_like(flat), v=np.zeros_like(flat), t=0)
        capacity = min(self.cg_batch_size, n) if solver == "cg" else self._batch_size(n)
        prop = Propagation(
            sizes,
            capacity,
            dtype,
            dropout_input=self.dropout_input,
            dropout_hidden=self.dropout_hidden,
        )
        X_batch = np.empty((capacity, X.shape[1]), dtype=dtype)
        y_batch = np.empty((capacity, *y.shape[1:]), dtype=y.dtype)
        # The state after the last completed epoch (weights, optimiser, random stream): restored on
        # divergence or interruption.
        snapshot = flat.copy()
        state_snapshot = self._epoch_snapshot(rng)
        completed = self.n_iter_
        start_time = time.perf_counter()
        time_offset = self.history_["time"][-1] if self.history_["time"] else 0.0
        if early_stopping and not hasattr(self, "best_validation_score_"):
            self.best_validation_score_ = -np.inf
            self.validation_scores_ = []
            self._best_params = flat.copy()
        epoch = completed + 1
        try:
            for i_epoch in range(n_epochs):
                epoch = completed + 1
                learning_rate = self._learning_rate(completed)
                # Overflow is reported below as a DivergenceError, not as numpy warnings.
                with np.errstate(over="ignore", invalid="ignore"):
                    if solver == "cg":
                        loss = self._cg_epoch(X, y, flat, prop, X_batch, y_batch, rng, completed)
                        learning_rate = np.nan
                    else:
                        loss = self._sgd_epoch(
                            X, y, flat, prop, X_batch, y_batch, rng, learning_rate, solver
                        )
                if not np.isfinite(loss) or not np.isfinite(flat).all():
                    flat[...] = snapshot
                    self._roll_back(state_snapshot, rng)
                    hint = (
                        f"Try a smaller learning_rate_init (currently {self.learning_rate_init!r})"
                        if solver != "cg"
                        else "learning_rate does not apply to solver='cg'; try scaling the "
                        "inputs or a larger alpha"
                    )
                    raise DivergenceError(
                        f"Training diverged at epoch {epoch}: the loss became {loss!r} or the "
                        f"weights non-finite. {hint}. The weights after epoch {completed} were "
                        "kept."
                    )
                val_loss = val_error = np.nan
                score = None
                if X_val is not None:
                    val_loss, val_error, score = self._evaluate(X_val, y_val)
                history = self.history_
                history["train_loss"].append(float(loss))
                history["val_loss"].append(val_loss)
                history["val_error"].append(val_error)
                history["learning_rate"].append(learning_rate)
                history["time"].append(time_offset + time.perf_counter() - start_time)
                completed += 1
                self.n_iter_ = completed
                self.t_ += n
                snapshot[...] = flat
                self._update_snapshot(state_snapshot, rng)
                if self.verbose:
                    extra = "" if X_val is None else f", val_loss = {val_loss:.6f}"
                    print(f"Epoch {epoch}, loss = {loss:.6f}{extra}")
                stop = self._update_no_improvement(loss, score, flat, early_stopping)
                last = stop or i_epoch == n_epochs - 1
                if checkpoint is not None:
                    self._write_checkpoint(checkpoint, finished=last)
                logs = {key: values[-1] for key, values in history.items()}
                for callback in callbacks:
                    if callback(self, epoch, logs) is True:
                        stop = True
                if stop:
                    if checkpoint is not None and not last:
                        self._write_checkpoint(checkpoint, finished=True)
                    break
        except KeyboardInterrupt:
            flat[...] = snapshot
            self._roll_back(state_snapshot, rng)
            warnings.warn(
                f"Training interrupted during epoch {epoch}; keeping the weights after epoch "
                f"{completed}.",
                RuntimeWarning,
                stacklevel=2,
            )
        if early_stopping and np.isfinite(self.best_validation_score_):
            flat[...] = self._best_params
        return self

    def _update_no_improvement(self, loss, score, flat, early_stopping):
        """scikit-learn's stopping rule; returns True to stop."""
        if early_stopping:
            self.validation_scores_.append(score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params[...] = flat
        else:
            if loss > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, loss)
        return self._no_improvement_count > self.n_iter_no_change

    def _sgd_epoch(self, X, y, flat, prop, X_batch, y_batch, rng, learning_rate, solver):
        """One pass of minibatch SGD or Adam; returns the mean training loss."""
        n = X.shape[0]
        bs = prop.capacity
        order = rng.permutation(n)
        segments = _segments(prop.layer_sizes)
        state = self._optimizer_state
        activation, output = self.activation, self._output
        coefs, intercepts = self.coefs_, self.intercepts_
        dropout = self.dropout_input > 0 or self.dropout_hidden > 0
        momentum, nesterov = float(self.momentum), bool(self.nesterovs_momentum)
        beta_1, beta_2, epsilon = float(self.beta_1), float(self.beta_2), float(self.epsilon)
        total = 0.0
        for m, xb, yb in _minibatches(X, y, order, bs, X_batch, y_batch):
            if dropout:
                prop.draw_noise(rng, m)
            forward(xb, coefs, intercepts, activation, output, out=prop)
            # L2 decay is fused into the optimiser kernel: one pass over the weights, not two. Its
            # loss term uses the weights before the step, like the data term.
            l2 = self.alpha / m
            sum_sq = sum(float(np.vdot(W, W)) for W in coefs) if l2 > 0 else 0.0
            if solver == "sgd":
                args = (learning_rate, momentum, nesterov, l2)

                def update(i, args=args):
                    rows = segments[2 * i : 2 * i + 2]
                    _k.sgd_step_(flat, prop.grad, state["velocity"], rows, *args)
            else:
                state["t"] += 1
                t = state["t"]
                step = learning_rate * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
                args = (float(step), beta_1, beta_2, epsilon, l2)

                def update(i, args=args):
                    rows = segments[2 * i : 2 * i + 2]
                    _k.adam_step_(flat, prop.grad, state["m"], state["v"], rows, *args)

            # Each layer is stepped as soon as its gradient is ready, while it is still in cache.
            backward(prop, yb, coefs, activation, output, on_layer=update)
            loss = prop.loss + 0.5 * l2 * sum_sq
            if not np.isfinite(loss):
                return loss
            total += loss * m
        return total / n

    def _cg_epoch(self, X, y, flat, prop, X_batch, y_batch, rng, epoch):
        """One pass of conjugate gradient over large minibatches (Hinton & Salakhutdinov, 2006)."""
        from scipy.optimize import minimize

        n = X.shape[0]
        bs = prop.capacity
        order = rng.permutation(n)
        activation, output = self.activation, self._output
        coefs, intercepts = self.coefs_, self.intercepts_
        n_layers = len(coefs)
        top_only = epoch < self.cg_top_layer_epochs and n_layers > 1
        dropout = self.dropout_input > 0 or self.dropout_hidden > 0
        options = {"maxiter": int(self.cg_max_line_searches)}
        if top_only:
            # Only the output layer moves, so the hidden features of a minibatch are computed once.
            offsets, _ = _layout(prop.layer_sizes)
            theta = flat[offsets[-1][0] :]
            top_prop = Propagation(prop.layer_sizes[-2:], bs, flat.dtype)
            top_coefs, top_intercepts = [coefs[-1]], [intercepts[-1]]
        total = 0.0
        for m, xb, yb in _minibatches(X, y, order, bs, X_batch, y_batch):
            if top_only:
                hidden = forward(xb, coefs[:-1], intercepts[:-1], activation, activation)
                features = hidden.activations[-1]
                target, net, passes = theta, top_prop, (features, top_coefs, top_intercepts)
            else:
                if dropout:
                    # One mask per minibatch keeps the objective deterministic for the line searches.
                    prop.draw_noise(rng, m)
                target, net, passes = flat, prop, (xb, coefs, intercepts)

            def objective(x, target=target, net=net, passes=passes, yb=yb):
                target[...] = x
                inputs, weights, biases = passes
                forward(inputs, weights, biases, activation, output, out=net)
                backward(net, yb, weights, activation, output, alpha=self.alpha)
                return net.loss, net.grad.astype(np.float64)

            result = minimize(
                objective, target.astype(np.float64), jac=True, method="CG", options=options
            )
            target[...] = result.x
            loss = float(result.fun)
            if top_only and self.alpha > 0:
                # The frozen layers' L2 term, so that the reported loss is the whole objective.
                frozen = sum(float(np.vdot(W, W)) for W in coefs[:-1])
                loss += 0.5 * self.alpha * frozen / m
            if not np.isfinite(loss):
                return loss
            total += loss * m
        return total / n

    def _validation_indices(self, y, rng):
        """Sorted rows held out as ``validation_fraction`` (stratified for a classifier)."""
        n = y.shape[0]
        if self._output == "softmax":
            val = []
            for c in np.unique(y):
                members = rng.permutation(np.flatnonzero(y == c))
                val.append(members[: int(round(self.validation_fraction * len(members)))])
            val = np.concatenate(val)
        else:
            val = rng.permutation(n)[: int(round(self.validation_fraction * n))]
        if len(val) == 0 or len(val) == n:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves "
                f"{len(val)} of {n} samples for validation; early stopping needs both sets "
                "non-empty. Change validation_fraction or pass X_val and y_val."
            )
        return np.sort(val).astype(np.int64)

    # ---------------------------------------------------------------------------------- prediction

    def _raw_output(self, X, logits=False):
        check_is_fitted(self, "coefs_")
        X = self._check_X(X, self.coefs_[0].dtype, reset=False)
        return _forward_chunked(
            X, self.coefs_, self.intercepts_, self.activation, self._output, logits
        )

    def hidden_activations(self, X, layer=-1):
        """Activations of a hidden layer (the features a DBN layer hands to the next).

        Works before :meth:`fit` when ``pretrained_layers`` covers every hidden layer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        layer : int, default=-1
            Index among the hidden layers (negative counts from the top).

        Returns
        -------
        H : ndarray of shape (n_samples, hidden_layer_sizes[layer])
        """
        hidden = self._hidden_sizes()
        if hasattr(self, "coefs_"):
            coefs, intercepts = self.coefs_[:-1], self.intercepts_[:-1]
            n_features = self.n_features_in_
        else:
            dtype = _check_dtype(self.dtype)
            pretrained = self._validated_pretrained(hidden, dtype)
            if not hidden or len(pretrained) < len(hidden):
                raise NotFittedError(
                    f"This {type(self).__name__} instance is not fitted yet and pretrained_layers "
                    f"does not cover all {len(hidden)} hidden layers. Call 'fit' first."
                )
            coefs = [W for W, _ in pretrained]
            intercepts = [b for _, b in pretrained]
            n_features = coefs[0].shape[0]
        n_hidden = len(coefs)
        if n_hidden == 0:
            raise ValueError("hidden_layer_sizes is empty: the network has no hidden layer.")
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise TypeError(f"layer must be an integer, got {layer!r}.")
        if not -n_hidden <= layer < n_hidden:
            raise ValueError(
                f"layer must be in [{-n_hidden}, {n_hidden - 1}] for {n_hidden} hidden layers, "
                f"got {layer}."
            )
        layer = layer % n_hidden
        X = check_array(X, "X", dtype=(coefs[0].dtype.type,), n_features=n_features)
        return _forward_chunked(
            X, coefs[: layer + 1], intercepts[: layer + 1], self.activation, self.activation
        )

    def __repr__(self):
        layers = self.pretrained_layers
        if layers is None:
            return super().__repr__()
        # Weight matrices would fill the screen: show their shapes instead.
        self.pretrained_layers = _ShapesRepr(layers)
        try:
            return super().__repr__()
        finally:
            self.pretrained_layers = layers

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so importing it here keeps it out of dbn's dependencies.
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=True))


class MLPClassifier(_BaseMLP):
    """Multi-layer perceptron classifier: softmax output trained on the cross-entropy.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Units per hidden layer.
    activation : {'sigmoid', 'logistic', 'tanh', 'relu', 'identity'}, default='sigmoid'
        Hidden activation ('logistic' is scikit-learn's name for the sigmoid).
    solver : {'sgd', 'adam', 'cg'}, default='adam'
        Minibatch SGD with (Nesterov) momentum, Adam, or conjugate gradient on large minibatches
        (``cg_*`` parameters).
    alpha : float, default=1e-4
        L2 penalty; the term ``0.5 * alpha * sum(W**2) / batch_size`` is added to the mean loss, as in
        scikit-learn.
    batch_size : int or 'auto', default='auto'
        Minibatch size for 'sgd' and 'adam'; 'auto' is ``min(200, n_samples)``.
    learning_rate_init : float, default=1e-3
        Initial learning rate.
    learning_rate_schedule : {'constant', 'exponential', 'step'} or callable, default='constant'
        Factor applied to ``learning_rate_init`` at epoch ``e`` (from 0): 1, ``lr_decay**e``,
        ``lr_decay**(e // lr_step_size)``, or ``schedule(e)``.
    lr_decay : float, default=0.95
        Decay factor of the 'exponential' and 'step' schedules, in (0, 1].
    lr_step_size : int, default=10
        Epochs between decays of the 'step' schedule.
    max_iter : int, default=200
        Maximum number of epochs.
    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1].
    nesterovs_momentum : bool, default=True
        Nesterov's accelerated gradient (Sutskever et al., 2013) instead of classical momentum.
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's parameters (Kingma & Ba, 2015).
    early_stopping : bool, default=False
        Stop when the validation accuracy stops improving and restore the best weights. The
        validation set is ``X_val, y_val`` passed to :meth:`fit`, or a stratified
        ``validation_fraction`` of the training data.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping, in (0, 1).
    n_iter_no_change : int, default=10
        Training stops after more than this many epochs without an improvement of ``tol`` in the
        training loss (or the validation score with early stopping), as in scikit-learn.
    tol : float, default=1e-4
        Improvement tolerance.
    init : str or callable, default='xavier_uniform'
        Initialiser of :mod:`dbn.init` (by name) or a function
        ``f(fan_in, fan_out, *, random_state, dtype)``, for the hidden and output layers. Initialisers
        with a ``gain`` parameter get :func:`dbn.init.gain` of the activation (4 for the sigmoid)
        for hidden layers and 1 for the output layer. 'lsuv' rescales the layers on a batch of the
        training data (:func:`dbn.init.lsuv_init`). Biases start at zero.
    output_init : str or callable, optional
        Initialiser of the output layer; defaults to ``init``.
    dropout_input, dropout_hidden : float, default=0.0
        Probability of dropping an input / hidden unit during training (inverted dropout:
        Srivastava et al., 2014), in [0, 1).
    pretrained_layers : list of (W, b), optional
        Weights ``W`` of shape ``(n_in, n_out)`` and biases ``b`` of shape ``(n_out,)`` for the first
        hidden layers (``DBN.to_mlp()`` fills them from the RBMs); shapes must chain and match
        ``hidden_layer_sizes``. Copied, never modified.
    cg_batch_size : int, default=1000
        Minibatch size of the 'cg' solver.
    cg_max_line_searches : int, default=3
        Conjugate-gradient iterations (one line search each) per minibatch.
    cg_top_layer_epochs : int, default=0
        Initial epochs of 'cg' in which only the output layer is trained (Hinton & Salakhutdinov,
        2006, fine-tuning recipe); dropout is not applied in these epochs. In the others, 'cg' draws
        one dropout mask per minibatch, so that the line searches see a fixed objective.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        Precision of the weights and the computation (float64 for gradient checks).
    random_state : None, int or numpy.random.Generator
        Seeds the initialisation, the shuffling and the dropout masks: the same seed gives the
        same weights (in a single thread).
    verbose : bool, default=False
        Print the loss after each epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape ``(n_in, n_out)``.
    intercepts_ : list of ndarray
    n_features_in_ : int
    n_iter_ : int
        Completed epochs.
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    loss_curve_ : list of float
        Training loss per epoch (with the L2 term).
    history_ : dict of list
        Per epoch: 'train_loss', 'val_loss' (data term only), 'val_error' (1 - accuracy),
        'learning_rate' (NaN for 'cg') and 'time' (seconds since the start of training).
    best_loss_ : float
    best_validation_score_ : float
        Best validation accuracy, with early stopping.
    validation_scores_ : list of float
        With early stopping.

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.

    Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
    networks. Science, 313(5786), 504-507.

    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.

    Sutskever, I., Martens, J., Dahl, G. and Hinton, G. (2013). On the importance of initialization
    and momentum in deep learning. ICML, 1139-1147.

    Srivastava, N., Hinton, G., Krizhevsky, A., Sutskever, I. and Salakhutdinov, R. (2014). Dropout:
    a simple way to prevent neural networks from overfitting. JMLR, 15, 1929-1958.

    Kingma, D. P. and Ba, J. (2015). Adam: a method for stochastic optimization. ICLR.

    Notes
    -----
    :meth:`save` and :meth:`load` round-trip the whole training state exactly (string labels
    included); ``fit(X, y, checkpoint_dir=...)`` writes it after every epoch and resumes from it.

    Examples
    --------
    >>> from dbn.mlp import MLPClassifier
    >>> clf = MLPClassifier((64,), solver="sgd", learning_rate_init=0.1, random_state=0)
    """

    _output = "softmax"
    _estimator_type = "classifier"

    def _validate_data(self, X, y, P, reset, classes=None):
        X = self._check_X(X, P["dtype"], reset=reset)
        y = self._column_or_1d(y, "y", len(X))
        if classes is not None:
            classes = np.asarray(classes)
            if classes.ndim != 1:
                raise ValueError(f"classes must be 1-D, got shape {classes.shape}.")
            _check_label_values(classes, "classes")
        labels = np.unique(y) if classes is None else np.unique(classes)
        if len(labels) < 2:
            raise ValueError(
                f"y must contain at least 2 classes, got a single class {labels.tolist()!r}."
            )
        self.classes_ = labels
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = len(labels)
        return X, self._encode_y(y, "y", len(X), P["dtype"])

    @staticmethod
    def _column_or_1d(y, name, n_samples):
        if isinstance(y, str | bytes) or hasattr(y, "nnz"):
            raise TypeError(f"{name} must be a 1-D array of labels, got {type(y).__name__}.")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"{name} must be 1-D (n_samples,), got shape {y.shape}.")
        if len(y) != n_samples:
            raise ValueError(f"{name} has {len(y)} samples but X has {n_samples}; they must match.")
        _check_label_values(y, name)
        return y

    def _encode_y(self, y, name, n_samples, dtype):
        y = self._column_or_1d(y, name, n_samples)
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        unknown = self.classes_[idx] != y
        if unknown.any():
            raise ValueError(
                f"{name} contains labels {np.unique(y[unknown]).tolist()!r} not in classes_ "
                f"{self.classes_.tolist()!r}."
            )
        return idx.astype(np.int64)

    def _state_arrays(self):
        arrays, extra = super()._state_arrays()
        arrays["classes_"], extra["classes_storage"] = _labels_to_array(self.classes_)
        extra["classes_dtype"] = self.classes_.dtype.str
        return arrays, extra

    def _restore_checked(self, arrays, extra, P, source):
        dtype = np.dtype(extra["classes_dtype"])
        if dtype.kind not in "UObiuf":
            raise ValueError(f"classes_ cannot have dtype {dtype}")
        classes = _labels_from_array(arrays["classes_"], extra["classes_storage"], dtype)
        if len(classes) < 2 or len(classes) != extra["n_outputs_"]:
            raise io.ModelFileError(
                f"{source}: holds {len(classes)} classes for {extra['n_outputs_']!r} outputs; a "
                "classifier has one output per class, and at least 2."
            )
        if len(np.unique(classes)) != len(classes) or np.any(np.unique(classes) != classes):
            raise io.ModelFileError(f"{source}: classes_ must be sorted and unique.")
        super()._restore_checked(arrays, extra, P, source)
        self.classes_ = classes

    def predict_proba(self, X):
        """Class probabilities, of shape (n_samples, n_classes), in the model's dtype."""
        return self._raw_output(X)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed from the logits (finite where probabilities underflow)."""
        z = self._raw_output(X, logits=True)
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def decision_function(self, X):
        """Logits of the output layer, of shape (n_samples, n_classes)."""
        return self._raw_output(X, logits=True)

    def predict(self, X):
        """Most probable class of each sample."""
        logits = self._raw_output(X, logits=True)
        return self.classes_[np.argmax(logits, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on ``(X, y)``."""
        predicted = self.predict(X)
        y = self._column_or_1d(y, "y", len(predicted))
        weights = _check_sample_weight(sample_weight, len(predicted))
        return float(np.average(predicted == y, weights=weights))

    def _evaluate(self, X, y_idx):
        """(mean cross-entropy, error rate, accuracy) on encoded labels."""
        logits = _forward_chunked(
            X, self.coefs_, self.intercepts_, self.activation, "softmax", logits=True
        ).astype(np.float64)
        zmax = logits.max(axis=1, keepdims=True)
        lse = (zmax + np.log(np.exp(logits - zmax).sum(axis=1, keepdims=True))).ravel()
        loss = float(np.mean(lse - logits[np.arange(len(y_idx)), y_idx]))
        accuracy = float(np.mean(np.argmax(logits, axis=1) == y_idx))
        return loss, 1.0 - accuracy, accuracy

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        return tags


class MLPRegressor(_BaseMLP):
    """Multi-layer perceptron regressor: linear output trained on the squared error.

    Takes the parameters of :class:`MLPClassifier`; early stopping monitors the validation R².
    The loss is ``0.5 * mean over samples of ||output - y||**2`` (summed over outputs) plus the L2
    term; ``history_['val_error']`` is the validation mean squared error.

    Attributes
    ----------
    coefs_, intercepts_, n_features_in_, n_iter_, n_layers_, n_outputs_, out_activation_,
    loss_curve_, history_, best_loss_, best_validation_score_, validation_scores_
        As for :class:`MLPClassifier`.

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.

    Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
    networks. Science, 313(5786), 504-507.
    """

    _output = "identity"
    _estimator_type = "regressor"

    def _validate_data(self, X, y, P, reset, classes=None):
        X = self._check_X(X, P["dtype"], reset=reset)
        y = self._encode_y(y, "y", len(X), P["dtype"], reset=reset)
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = y.shape[1]
        return X, y

    def _encode_y(self, y, name, n_samples, dtype, reset=False):
        y = check_array(y, name, dtype=(dtype.type,), ensure_2d=False)
        if y.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D, got shape {y.shape}.")
        if y.ndim == 2 and y.shape[1] == 0:
            raise ValueError(f"{name} must have at least 1 output column, got shape {y.shape}.")
        if len(y) != n_samples:
            raise ValueError(f"{name} has {len(y)} samples but X has {n_samples}; they must match.")
        if reset:
            self._y_1d = y.ndim == 1
        y = y.reshape(n_samples, -1)
        if not reset and y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"{name} has {y.shape[1]} outputs, but the model was fitted with {self.n_outputs_}."
            )
        return np.ascontiguousarray(y)

    def _state_arrays(self):
        arrays, extra = super()._state_arrays()
        extra["y_1d"] = bool(getattr(self, "_y_1d", False))
        return arrays, extra

    def _restore_checked(self, arrays, extra, P, source):
        y_1d = extra.get("y_1d", False)
        if not isinstance(y_1d, bool) or (y_1d and extra["n_outputs_"] != 1):
            raise io.ModelFileError(f"{source}: y_1d must be a bool, and True only for 1 output.")
        super()._restore_checked(arrays, extra, P, source)
        self._y_1d = y_1d

    def predict(self, X):
        """Predicted targets, of shape (n_samples,) if ``y`` was 1-D at fit, else (n_samples, n_outputs)."""
        out = self._raw_output(X)
        return out.ravel() if getattr(self, "_y_1d", False) else out

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R² of :meth:`predict`."""
        predicted = self.predict(X)
        y = check_array(y, "y", ensure_2d=False)
        if y.ndim not in (1, 2) or len(y) != len(predicted):
            raise ValueError(
                f"y has {len(y) if y.ndim else 0} samples but X has {len(predicted)}; they must "
                f"match (y shape {y.shape})."
            )
        weights = _check_sample_weight(sample_weight, len(predicted))
        return _r2(y, predicted, weights)

    def _evaluate(self, X, y):
        """(half mean squared error summed over outputs, mean squared error, R²)."""
        out = _forward_chunked(X, self.coefs_, self.intercepts_, self.activation, "identity")
        diff = out.astype(np.float64) - y
        loss = float(0.5 * np.mean(np.sum(diff**2, axis=1)))
        return loss, float(np.mean(diff**2)), _r2(y, out)

    def __sklearn_tags__(self):
        from sklearn.utils import RegressorTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.regressor_tags = RegressorTags()
        return tags
