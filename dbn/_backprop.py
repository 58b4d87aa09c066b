"""Back-propagation over a list of layers: the one core under the MLPs and the deep autoencoder.

A net is a list of weight layers ``A_{i+1} = f_i(A_i @ W_i + b_i)``, each with its own activation code
``kinds[i]`` (:mod:`dbn._activations`; the last may be :data:`~dbn._activations.SOFTMAX`), trained on
one output loss of :data:`LOSSES`. All weights and biases live in one flat parameter vector
``[W1, b1, W2, b2, ...]`` (:func:`layout`, :func:`views`), so that an optimiser steps the whole net,
or one layer of it, in one fused pass; :class:`Propagation` holds the buffers of the passes, allocated
once per training run.

This module also holds the epochs that drive an optimiser of :mod:`dbn._training.optimizers` over
minibatches (:func:`minibatch_epoch`, :func:`cg_epoch`): the per-minibatch arithmetic, with no
estimator around it. Matrix products go to numpy's BLAS; the element-wise work runs in the kernels
of ``dbn._kernels.mlp`` and ``dbn._kernels.autoencoder``.

References
----------
Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
back-propagating errors. Nature, 323, 533-536.

Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science, 313(5786), 504-507.

Srivastava, N., Hinton, G., Krizhevsky, A., Sutskever, I. and Salakhutdinov, R. (2014). Dropout:
a simple way to prevent neural networks from overfitting. JMLR, 15, 1929-1958.
"""

from __future__ import annotations

import numpy as np

from ._activations import SIGMOID, SOFTMAX
from ._kernels import autoencoder as _ka
from ._kernels import mlp as _k

__all__ = [
    "LOSSES",
    "Propagation",
    "forward",
    "backward",
    "forward_chunked",
    "layout",
    "views",
    "segments",
    "pack",
    "minibatches",
    "minibatch_epoch",
    "clip_column_norms",
    "cg_epoch",
    "epoch_order",
    "full_batch_objective",
]

#: Output losses, each the mean over the batch of a per-example loss:
#:
#: - ``'softmax_cross_entropy'``: ``-log p_y`` of a softmax output; targets are class indices.
#: - ``'half_squared_error'``: ``0.5 ||a - y||**2`` (the MLP regressor's, as in scikit-learn).
#: - ``'sigmoid_cross_entropy'``: ``-sum_j [y_j log p_j + (1 - y_j) log(1 - p_j)]`` of a logistic
#:   output, from its logits (the autoencoder's, Hinton & Salakhutdinov, 2006).
#: - ``'squared_error'``: ``||a - y||**2``, not halved (the autoencoder's reconstruction error).
#: - ``'poisson'``: the half Poisson deviance ``sum_j [y_j log(y_j / mu_j) - y_j + mu_j]`` of the
#:   mean ``mu = exp(a)`` of a linear output ``a`` (the log link; scikit-learn's ``loss='poisson'``).
LOSSES = (
    "softmax_cross_entropy",
    "half_squared_error",
    "sigmoid_cross_entropy",
    "squared_error",
    "poisson",
)

# Rows per chunk when predicting: bounds the memory of the hidden activations of large inputs.
CHUNK = 2048


# --------------------------------------------------------------------------------------------------
# The flat parameter vector
# --------------------------------------------------------------------------------------------------


def layout(layer_sizes):
    """Offsets of each layer's ``W`` and ``b`` in one flat parameter vector ``[W1, b1, W2, b2, ...]``.

    Returns
    -------
    offsets : list of (int, int, int)
        ``(w_start, w_stop = b_start, b_stop)`` per layer.
    total : int
        Length of the vector.
    """
    offsets = []
    start = 0
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=True):
        w_stop = start + n_in * n_out
        offsets.append((start, w_stop, w_stop + n_out))
        start = w_stop + n_out
    return offsets, start


def views(flat, layer_sizes):
    """Weight and bias views into ``flat`` (C-contiguous, so BLAS and the kernels take them as is)."""
    offsets, _ = layout(layer_sizes)
    coefs, intercepts = [], []
    for (w0, w1, b1), n_in, n_out in zip(offsets, layer_sizes[:-1], layer_sizes[1:], strict=True):
        coefs.append(flat[w0:w1].reshape(n_in, n_out))
        intercepts.append(flat[w1:b1])
    return coefs, intercepts


def segments(layer_sizes):
    """``(start, stop, is_weight)`` rows for the optimiser kernels (L2 decay on weights only).

    Rows ``2 i`` and ``2 i + 1`` are layer ``i``'s weights and biases.
    """
    offsets, _ = layout(layer_sizes)
    rows = []
    for w0, w1, b1 in offsets:
        rows.append((w0, w1, 1))
        rows.append((w1, b1, 0))
    return np.array(rows, dtype=np.int64)


def pack(coefs, intercepts, dtype):
    """Copy weights into one new flat vector; returns it with views shaped like the input."""
    sizes = [coefs[0].shape[0]] + [W.shape[1] for W in coefs]
    _, total = layout(sizes)
    flat = np.empty(total, dtype=dtype)
    new_coefs, new_intercepts = views(flat, sizes)
    for W, b, W_new, b_new in zip(coefs, intercepts, new_coefs, new_intercepts, strict=True):
        W_new[...] = W
        b_new[...] = b
    return flat, new_coefs, new_intercepts


# --------------------------------------------------------------------------------------------------
# Forward and backward passes
# --------------------------------------------------------------------------------------------------


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
            _, total = layout(sizes)
            self.grad = np.empty(total, dtype=dt)
            self.coef_grads, self.intercept_grads = views(self.grad, sizes)
        else:
            self._deltas = None
        self.n_samples = 0
        self.activations = self.inputs = self.deltas = self.logits = None
        self.loss = None

    @property
    def has_dropout(self):
        """Whether any layer drops units (training mode)."""
        return any(p > 0 for p in self.dropout)

    def draw_noise(self, rng, n_samples):
        """Fill the dropout noise of the next ``n_samples`` rows from a numpy Generator."""
        for noise in self._noise:
            if noise is not None:
                rng.random(dtype=self.dtype.type, out=noise[:n_samples])


def forward(X, coefs, intercepts, kinds, out, *, keep_logits=False):
    """Propagate ``X`` through the layers ``A_{i+1} = f_i(A_i @ W_i + b_i)``.

    Dropout is applied where ``out`` holds dropout noise (see :meth:`Propagation.draw_noise`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        C-contiguous input of the weights' dtype.
    coefs, intercepts : list of ndarray
        ``coefs[i]`` of shape ``(n_in_i, n_out_i)``, ``intercepts[i]`` of shape ``(n_out_i,)``.
    kinds : sequence of int
        Activation code of each layer; the last may be :data:`dbn._activations.SOFTMAX`.
    out : Propagation
        Buffers for the net's layer sizes and at least ``n_samples`` rows.
    keep_logits : bool, default=False
        Keep the pre-activations of a logistic output layer in ``out.logits`` (the sigmoid
        cross-entropy is computed from them). A softmax output always keeps them; any other output
        is its own ``out.logits``.

    Returns
    -------
    out : Propagation
        With ``activations``, ``inputs`` and ``logits`` set.
    """
    n = X.shape[0]
    last = len(coefs) - 1
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
        kind = kinds[i]
        if i == last and kind == SOFTMAX:
            logits = out._logits[:n]
            np.matmul(A, W, out=logits)
            _k.softmax_(logits, b, Z)
            out.logits = logits
        elif i == last and keep_logits and kind == SIGMOID:
            logits = out._logits[:n]
            np.matmul(A, W, out=logits)
            _ka.bias_sigmoid_(logits, b, Z)
            out.logits = logits
        else:
            np.matmul(A, W, out=Z)
            _k.bias_activation_(Z, b, kind)
            # A linear output is its own logit; for the other activations this is the output.
            out.logits = Z
        activations.append(Z)
        A = Z
    out.n_samples = n
    out.activations = activations
    out.inputs = inputs
    return out


def _output_delta(prop, target, kinds, loss, delta, scale):
    """Write the output layer's delta for ``loss``; returns the loss summed over the batch."""
    top = prop.activations[-1]
    if loss == "softmax_cross_entropy":
        target = np.asarray(target)
        if target.dtype != np.int64:
            target = target.astype(np.int64)
        return _k.softmax_cross_entropy_(prop.logits, top, target, delta, scale)
    if loss == "sigmoid_cross_entropy":
        return _ka.sigmoid_cross_entropy_(prop.logits, top, target, delta, scale)
    target = np.asarray(target, dtype=top.dtype)
    if target.ndim == 1:
        target = target.reshape(-1, 1)
    target = np.ascontiguousarray(target)
    if loss == "half_squared_error":
        return _k.squared_error_(top, target, delta, scale)
    if loss == "squared_error":
        if kinds[-1] == SIGMOID:
            return _ka.sigmoid_squared_error_(top, target, delta, scale)
        # The linear kernel's loss is halved; doubling both keeps one definition of squared error.
        return 2.0 * _k.squared_error_(top, target, delta, 2.0 * scale)
    if loss == "poisson":
        rows = _poisson_rows(top, target)
        delta[...] = scale * (np.exp(top.astype(np.float64)) - target)
        return float(rows.sum())
    raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}.")


def _poisson_rows(log_mean, target):
    """Half Poisson deviance of each row (float64), from the log of the predicted mean."""
    from scipy.special import xlogy

    z = np.asarray(log_mean, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64).reshape(z.shape)
    with np.errstate(over="ignore"):
        return (xlogy(y, y) - y * z - y + np.exp(z)).sum(axis=1)


def _row_losses(prop, target, loss):
    """Per-row loss of the last forward pass (float64), for weighting; the kernels only sum."""
    top = prop.activations[-1].astype(np.float64)
    if loss == "softmax_cross_entropy":
        z = prop.logits.astype(np.float64)
        zmax = z.max(axis=1)
        lse = zmax + np.log(np.exp(z - zmax[:, None]).sum(axis=1))
        return lse - z[np.arange(len(z)), np.asarray(target, dtype=np.int64)]
    if loss == "sigmoid_cross_entropy":
        z = prop.logits.astype(np.float64)
        t = np.asarray(target, dtype=np.float64)
        return (np.maximum(z, 0) - t * z + np.log1p(np.exp(-np.abs(z)))).sum(axis=1)
    if loss == "poisson":
        return _poisson_rows(prop.activations[-1], target)
    diff = top - np.asarray(target, dtype=np.float64).reshape(top.shape)
    if loss == "half_squared_error":
        return 0.5 * (diff**2).sum(axis=1)
    if loss == "squared_error":
        return (diff**2).sum(axis=1)
    raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}.")


def backward(
    propagation, target, coefs, kinds, loss, *, alpha=0.0, on_layer=None, sample_weight=None
):
    """Back-propagate ``loss`` of the last :func:`forward` pass stored in ``propagation``.

    The loss is the mean over the batch of the per-example ``loss`` (:data:`LOSSES`) plus
    ``0.5 * alpha * sum(W**2) / n_samples`` (the L2 term of scikit-learn's MLP). With
    ``sample_weight`` it is scikit-learn's weighted form ``(sum_i w_i loss_i + 0.5 * alpha *
    sum(W**2)) / sum_i w_i``, in which a weight counts as that many copies of the example. The output delta is
    the loss's gradient with respect to the output pre-activations; then, layer by layer,
    ``delta_i = (delta_{i+1} @ W_{i+1}.T) * f'(Z_i)``, ``dW_i = inputs_i.T @ delta_i`` and
    ``db_i = sum(delta_i, axis=0)``.

    Parameters
    ----------
    propagation : Propagation
        State after :func:`forward`, allocated with ``gradients=True``.
    target : ndarray
        Class indices of shape (n_samples,) for ``'softmax_cross_entropy'``; targets of shape
        (n_samples, n_outputs) (or (n_samples,) for one output) for the others.
    coefs : list of ndarray
        The weights used in the forward pass.
    kinds : sequence of int
        The activation codes used in the forward pass.
    loss : str
        One of :data:`LOSSES`, matching the output layer (``'softmax_cross_entropy'`` needs a softmax
        output, ``'sigmoid_cross_entropy'`` a logistic one run with ``keep_logits=True``).
    alpha : float, default=0.0
        L2 penalty on the weights.
    on_layer : callable, optional
        Called as ``on_layer(i)`` as soon as layer ``i``'s gradients are complete and its weights are
        no longer needed by the pass (top layer first), so that an optimiser can update them while
        the gradients are still in cache.
    sample_weight : ndarray of shape (n_samples,), optional
        Non-negative weights of the rows, with a positive sum.

    Returns
    -------
    propagation : Propagation
        With ``deltas``, ``coef_grads``, ``intercept_grads`` (views into ``grad``) and ``loss`` set.

    References
    ----------
    Rumelhart, D. E., Hinton, G. E. and Williams, R. J. (1986). Learning representations by
    back-propagating errors. Nature, 323, 533-536.
    """
    prop = propagation
    if prop._deltas is None:
        raise ValueError("propagation was allocated without gradient buffers (gradients=False).")
    n = prop.n_samples
    deltas = [d[:n] for d in prop._deltas]
    if sample_weight is None:
        scale = 1.0 / n
        data_loss = _output_delta(prop, target, kinds, loss, deltas[-1], scale)
    else:
        scale = 1.0 / float(np.sum(sample_weight, dtype=np.float64))
        _output_delta(prop, target, kinds, loss, deltas[-1], scale)
        deltas[-1] *= sample_weight.reshape(-1, 1).astype(prop.dtype, copy=False)
        data_loss = float(np.dot(_row_losses(prop, target, loss), sample_weight))
    sum_sq = 0.0
    for i in range(len(coefs) - 1, -1, -1):
        delta = deltas[i]
        np.matmul(prop.inputs[i].T, delta, out=prop.coef_grads[i])
        _k.column_sum_(delta, prop.intercept_grads[i])
        if i > 0:
            below = deltas[i - 1]
            np.matmul(delta, coefs[i].T, out=below)
            p = prop.dropout[i]
            noise = prop._noise[i][:n] if p > 0 else prop._no_noise
            _k.activation_backward_(below, prop.activations[i], kinds[i - 1], noise, p)
        if alpha > 0:
            sum_sq += _k.add_l2_(prop.coef_grads[i], coefs[i], alpha * scale)
        if on_layer is not None:
            on_layer(i)
    prop.deltas = deltas
    prop.loss = float(data_loss * scale + 0.5 * alpha * sum_sq * scale)
    return prop


def forward_chunked(X, coefs, intercepts, kinds, logits=False):
    """Last-layer output (or logits) of ``X`` computed :data:`CHUNK` rows at a time."""
    n = X.shape[0]
    sizes = (X.shape[1], *(W.shape[1] for W in coefs))
    prop = Propagation(sizes, min(n, CHUNK), coefs[0].dtype, gradients=False)
    result = np.empty((n, sizes[-1]), dtype=coefs[0].dtype)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        # keep_logits: a logistic output's pre-activations, not its probabilities, when asked.
        forward(X[start:stop], coefs, intercepts, kinds, prop, keep_logits=logits)
        result[start:stop] = prop.logits if logits else prop.activations[-1]
    return result


# --------------------------------------------------------------------------------------------------
# Epochs
# --------------------------------------------------------------------------------------------------


class Net:
    """A net in training: its flat parameter vector and what the passes need to know of it.

    Parameters
    ----------
    flat : ndarray of shape (n_params,)
        The parameter vector; ``coefs`` and ``intercepts`` are views into it (see :func:`pack`).
    coefs, intercepts : list of ndarray
    kinds : sequence of int
        Activation code of each layer.
    loss : str
        One of :data:`LOSSES`.
    alpha : float
        L2 penalty.
    keep_logits : bool, optional
        Passed to :func:`forward`; by default, when the loss needs them.
    """

    def __init__(self, flat, coefs, intercepts, kinds, loss, alpha, keep_logits=None):
        self.flat = flat
        self.coefs = coefs
        self.intercepts = intercepts
        self.kinds = tuple(kinds)
        self.loss = loss
        self.alpha = float(alpha)
        if keep_logits is None:
            keep_logits = loss == "sigmoid_cross_entropy"
        self.keep_logits = keep_logits

    def sizes(self):
        return (self.coefs[0].shape[0], *(W.shape[1] for W in self.coefs))

    def gradient(self, xb, target, prop, *, alpha=None, on_layer=None, sample_weight=None):
        """Forward and backward pass of one batch; returns ``prop`` with its loss and gradient."""
        forward(xb, self.coefs, self.intercepts, self.kinds, prop, keep_logits=self.keep_logits)
        alpha = self.alpha if alpha is None else alpha
        # Looked up at call time, so that a test can interrupt training inside it.
        return backward(
            prop,
            target,
            self.coefs,
            self.kinds,
            self.loss,
            alpha=alpha,
            on_layer=on_layer,
            sample_weight=sample_weight,
        )


def minibatches(X, y, order, batch_size, X_batch, y_batch, sample_weight=None):
    """Yield ``(m, xb, yb)``: the rows ``order[start:start + batch_size]`` gathered into the
    preallocated buffers (views of their first ``m`` rows), so no minibatch allocates.

    With ``y=None`` (an autoencoder, whose targets are its inputs) ``yb`` is ``xb``. With
    ``sample_weight``, ``(m, xb, yb, wb)`` with the batch's weights.
    """
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        m = len(idx)
        xb = X_batch[:m]
        np.take(X, idx, axis=0, out=xb)
        if y is None:
            yb = xb
        else:
            yb = y_batch[:m]
            np.take(y, idx, axis=0, out=yb)
        if sample_weight is None:
            yield m, xb, yb
        else:
            yield m, xb, yb, sample_weight[idx]


def _weighted_batches(X, y, order, batch_size, X_batch, y_batch, sample_weight):
    """:func:`minibatches` as ``(m, xb, yb, wb)`` (``wb`` None without weights), skipping batches
    whose weights are all zero: they carry no information, and their mean loss is 0 / 0."""
    if sample_weight is None:
        for m, xb, yb in minibatches(X, y, order, batch_size, X_batch, y_batch):
            yield m, xb, yb, None
        return
    for m, xb, yb, wb in minibatches(X, y, order, batch_size, X_batch, y_batch, sample_weight):
        if wb.sum() > 0:
            yield m, xb, yb, wb


def epoch_order(n, rng, shuffle=True):
    """The order of the rows in an epoch: a permutation drawn from ``rng``, or ``0 .. n - 1``."""
    return rng.permutation(n) if shuffle else np.arange(n)


def minibatch_epoch(
    net,
    X,
    y,
    prop,
    X_batch,
    y_batch,
    rng,
    optimizer,
    learning_rate,
    *,
    max_norm=None,
    sample_weight=None,
    shuffle=True,
):
    """One shuffled pass of a first-order optimiser (SGD, Adam) over ``(X, y)``.

    Each layer is stepped by ``optimizer`` as soon as its gradient is ready, while it is still in
    cache; L2 decay is fused into the optimiser's pass, so the gradient is computed without it.

    Parameters
    ----------
    net : Net
    X : ndarray of shape (n_samples, n_features)
    y : ndarray or None
        Targets (None: the targets are the inputs).
    prop : Propagation
        Buffers of ``prop.capacity`` rows, the batch size.
    X_batch, y_batch : ndarray
        Gather buffers of ``prop.capacity`` rows (``y_batch`` unused when ``y`` is None).
    rng : numpy.random.Generator
        Shuffles, and draws the dropout masks.
    optimizer : dbn._training.optimizers.SGD or Adam
    learning_rate : float
    max_norm : float, optional
        After each step, scale the incoming weight vector of every hidden unit (a column of a
        hidden layer's ``W``) whose L2 norm exceeds ``max_norm`` back to that norm (Srivastava et
        al. 2014, section 5.1); the output layer is left free.
    sample_weight : ndarray of shape (n_samples,), optional
        Weights of the rows (see :func:`backward`); a minibatch whose weights are all zero is
        skipped.
    shuffle : bool, default=True
        Visit the rows in a new random order (else in order; the stream of ``rng`` is then left
        untouched by the shuffling).

    Returns
    -------
    loss : float
        Mean training loss of the epoch (with the L2 term); the first non-finite minibatch loss
        ends the epoch at once and is returned.
    """
    n = X.shape[0]
    order = epoch_order(n, rng, shuffle)
    rows = segments(prop.layer_sizes)
    coefs, flat, grad = net.coefs, net.flat, prop.grad
    dropout = prop.has_dropout

    n_hidden_layers = len(coefs) - 1

    def update(i):
        optimizer.update(flat, grad, rows[2 * i : 2 * i + 2])
        if max_norm is not None and i < n_hidden_layers:
            clip_column_norms(coefs[i], max_norm)

    total = 0.0
    batches = _weighted_batches(X, y, order, prop.capacity, X_batch, y_batch, sample_weight)
    for m, xb, yb, wb in batches:
        if dropout:
            prop.draw_noise(rng, m)
        # The L2 loss term uses the weights before the step, like the data term.
        l2 = net.alpha / (m if wb is None else float(wb.sum()))
        sum_sq = sum(float(np.vdot(W, W)) for W in coefs) if l2 > 0 else 0.0
        optimizer.begin(learning_rate, l2)
        net.gradient(xb, yb, prop, alpha=0.0, on_layer=update, sample_weight=wb)
        loss = prop.loss + 0.5 * l2 * sum_sq
        if not np.isfinite(loss):
            return loss
        total += loss * m
    return total / n


def clip_column_norms(W, max_norm):
    """Scale, in place, the columns of ``W`` whose L2 norm exceeds ``max_norm`` down to it.

    The max-norm constraint of Srivastava et al. (2014): column ``j`` of a ``(n_in, n_out)`` weight
    matrix is the incoming weight vector of unit ``j``.

    References
    ----------
    Srivastava, N., Hinton, G., Krizhevsky, A., Sutskever, I. and Salakhutdinov, R. (2014).
    Dropout: a simple way to prevent neural networks from overfitting. JMLR, 15, 1929-1958.
    """
    norms = np.sqrt(np.einsum("ij,ij->j", W, W))
    if norms.max(initial=0.0) > max_norm:
        W *= np.minimum(1.0, max_norm / np.maximum(norms, np.finfo(W.dtype).tiny)).astype(W.dtype)


def cg_epoch(
    net,
    X,
    y,
    prop,
    X_batch,
    y_batch,
    rng,
    optimizer,
    *,
    top_layer_only=False,
    sample_weight=None,
    shuffle=True,
):
    """One shuffled pass of conjugate gradient over large minibatches (Hinton & Salakhutdinov, 2006).

    Parameters
    ----------
    net, X, y, prop, X_batch, y_batch, rng
        As in :func:`minibatch_epoch`; ``prop.capacity`` is the CG batch size.
    optimizer : dbn._training.optimizers.ConjugateGradient
    top_layer_only : bool, default=False
        Move only the output layer (the first epochs of the paper's recipe): the hidden features of
        a minibatch are then computed once, and dropout is not applied.
    sample_weight, shuffle
        As in :func:`minibatch_epoch`.

    Returns
    -------
    loss : float
        Mean training loss (the whole objective, frozen layers' L2 term included).
    """
    n = X.shape[0]
    order = epoch_order(n, rng, shuffle)
    coefs, intercepts, kinds = net.coefs, net.intercepts, net.kinds
    top_only = top_layer_only and len(coefs) > 1
    if top_only:
        offsets, _ = layout(prop.layer_sizes)
        top = Net(
            net.flat[offsets[-1][0] :],
            [coefs[-1]],
            [intercepts[-1]],
            kinds[-1:],
            net.loss,
            net.alpha,
            net.keep_logits,
        )
        top_prop = Propagation(prop.layer_sizes[-2:], prop.capacity, net.flat.dtype)
        hidden_prop = Propagation(
            prop.layer_sizes[:-1], prop.capacity, net.flat.dtype, gradients=False
        )
    total = 0.0
    batches = _weighted_batches(X, y, order, prop.capacity, X_batch, y_batch, sample_weight)
    for m, xb, yb, wb in batches:
        if top_only:
            forward(xb, coefs[:-1], intercepts[:-1], kinds[:-1], hidden_prop)
            target, batch_net, inputs = top, top_prop, hidden_prop.activations[-1]
        else:
            if prop.has_dropout:
                # One mask per minibatch keeps the objective deterministic for the line searches.
                prop.draw_noise(rng, m)
            target, batch_net, inputs = net, prop, xb

        def objective(x, target=target, batch_net=batch_net, inputs=inputs, yb=yb, wb=wb):
            target.flat[...] = x
            target.gradient(inputs, yb, batch_net, sample_weight=wb)
            return batch_net.loss, batch_net.grad.astype(np.float64)

        loss = optimizer.minimize(objective, target.flat)
        if top_only and net.alpha > 0:
            # The frozen layers' L2 term, so that the reported loss is the whole objective.
            frozen = sum(float(np.vdot(W, W)) for W in coefs[:-1])
            loss += 0.5 * net.alpha * frozen / (m if wb is None else float(wb.sum()))
        if not np.isfinite(loss):
            return loss
        total += loss * m
    return total / n


def full_batch_objective(net, X, y, prop, sample_weight=None):
    """The whole training objective as a function of the flat parameters, for a batch optimiser.

    Parameters
    ----------
    net : Net
        Its ``flat`` vector receives each point evaluated.
    X, y : ndarray
        All the training data (``y`` None: the targets are the inputs).
    prop : Propagation
        Buffers of at least ``len(X)`` rows, without dropout.
    sample_weight : ndarray of shape (n_samples,), optional

    Returns
    -------
    objective : callable
        ``objective(x) -> (loss, gradient)`` for ``x`` of float64, in float64: the mean loss with
        the L2 term (:func:`backward`), evaluated in the net's dtype.
    """
    target = X if y is None else y

    def objective(x):
        net.flat[...] = x
        net.gradient(X, target, prop, sample_weight=sample_weight)
        return prop.loss, prop.grad.astype(np.float64)

    return objective
