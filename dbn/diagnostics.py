"""Per-layer activation and gradient statistics, in the spirit of Glorot & Bengio (2010).

Glorot & Bengio diagnose a deep net by the distribution, layer by layer, of its activations (mean,
spread, saturation of sigmoid/tanh units) and of its back-propagated gradients ``dCost/dZ``; they show
that with the "standard" initialisation the back-propagated gradients shrink as they travel down, and
that saturated top sigmoid units stall learning. :func:`layer_statistics` computes these quantities for a
net at initialisation or after training, :class:`DiagnosticsRecorder` records them after every epoch of
``fit``, and :func:`format_table` prints them.

The passes are those of :func:`dbn.mlp.forward` and :func:`dbn.mlp.backward`: nothing is recomputed
here.

References
----------
Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward neural
networks. AISTATS, JMLR W&CP 9, 249-256.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._activations import ACTIVATIONS, activation_code
from ._backprop import Propagation
from ._kernels.mlp import layer_statistics_
from ._validation import NotFittedError, check_array
from .mlp import MLPClassifier, MLPRegressor, backward, forward

__all__ = ["LayerStatistics", "layer_statistics", "DiagnosticsRecorder", "format_table"]


@dataclasses.dataclass(frozen=True)
class LayerStatistics:
    """Statistics of one layer on a batch.

    Attributes
    ----------
    layer : int
        Index of the layer (``coefs[layer]`` maps its input to its output); the last one is the output
        layer.
    name : str
        ``'hidden 1'``, ``'hidden 2'``, ..., ``'output'``.
    n_units : int
    activation_mean, activation_std : float
        Over all samples and units of the layer's output ``f(Z)``.
    saturated_fraction : float
        Fraction of sigmoid outputs below 0.01 or above 0.99, or of tanh outputs with ``|a| > 0.99``;
        NaN for other activations.
    dead_fraction : float
        Fraction of ReLU outputs equal to zero; NaN for other activations.
    delta_std : float
        Standard deviation of the back-propagated gradient ``dCost/dZ`` of each sample's loss (so it
        does not depend on the batch size). NaN when no targets were given.
    weight_gradient_std : float
        Standard deviation of the entries of ``dLoss/dW`` for the mean loss over the batch (the
        gradient the optimiser sees). NaN when no targets were given.
    weight_std : float
        Standard deviation of the entries of ``W``.
    """

    layer: int
    name: str
    n_units: int
    activation_mean: float
    activation_std: float
    saturated_fraction: float
    dead_fraction: float
    delta_std: float
    weight_gradient_std: float
    weight_std: float


FIELDS = tuple(f.name for f in dataclasses.fields(LayerStatistics))


def _resolve(model_or_weights, X, y, activation, output):
    """(coefs, intercepts, activation, output, X, encoded y or None) from a model or raw weights."""
    if isinstance(model_or_weights, MLPClassifier | MLPRegressor):
        model = model_or_weights
        if not hasattr(model, "coefs_"):
            raise NotFittedError(
                f"This {type(model).__name__} has no weights yet: call fit(X, y) or initialize(X, y) "
                "first to look at it at initialisation."
            )
        coefs, intercepts = model.coefs_, model.intercepts_
        dtype = coefs[0].dtype
        X = check_array(X, "X", dtype=(dtype.type,), n_features=model.n_features_in_)
        if activation is not None and activation != model.activation:
            raise ValueError(
                f"activation={activation!r} differs from the model's {model.activation!r}; leave it "
                "as None for a model."
            )
        activation, output = model.activation, model.out_activation_
        if y is not None:
            y = model.encode_targets(y, len(X))
        return coefs, intercepts, activation, output, X, y
    try:
        coefs, intercepts = model_or_weights
        coefs, intercepts = list(coefs), list(intercepts)
    except (TypeError, ValueError):
        raise TypeError(
            "model_or_weights must be a fitted MLPClassifier/MLPRegressor or a (coefs, intercepts) "
            f"pair, got {type(model_or_weights).__name__}."
        ) from None
    if not coefs:
        raise ValueError("coefs must hold at least one weight matrix.")
    dtype = np.asarray(coefs[0]).dtype
    dtype = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)
    coefs = [np.ascontiguousarray(W, dtype=dtype) for W in coefs]
    intercepts = [np.ascontiguousarray(b, dtype=dtype) for b in intercepts]
    X = check_array(X, "X", dtype=(dtype.type,), n_features=coefs[0].shape[0])
    activation = "sigmoid" if activation is None else activation
    output = "softmax" if output is None else output
    activation_code(activation)
    if y is not None:
        if output == "softmax":
            y = np.asarray(y).astype(np.int64).ravel()
            if len(y) != len(X) or y.min() < 0 or y.max() >= coefs[-1].shape[1]:
                raise ValueError(
                    f"y must hold {len(X)} class indices in [0, {coefs[-1].shape[1]}) for a "
                    "softmax output."
                )
        else:
            y = np.asarray(y, dtype=dtype).reshape(len(X), -1)
    return coefs, intercepts, activation, output, X, y


def propagate(model_or_weights, X, y=None, *, activation=None, output=None):
    """Forward (and, given ``y``, backward) pass of a model or of ``(coefs, intercepts)``.

    Returns
    -------
    propagation : dbn.mlp.Propagation
        With the activations of every layer and, when ``y`` is given, the deltas and gradients.
    coefs : list of ndarray
    activation, output : str
    """
    coefs, intercepts, activation, output, X, y = _resolve(
        model_or_weights, X, y, activation, output
    )
    sizes = (X.shape[1], *(W.shape[1] for W in coefs))
    prop = Propagation(sizes, len(X), coefs[0].dtype, gradients=y is not None)
    forward(X, coefs, intercepts, activation, output, out=prop)
    if y is not None:
        backward(prop, y, coefs, activation, output)
    return prop, coefs, activation, output


def layer_statistics(
    model_or_weights, X, y=None, *, activation=None, output=None, saturation=(0.01, 0.99)
):
    """Activation and gradient statistics of every layer on the batch ``X``.

    Parameters
    ----------
    model_or_weights : MLPClassifier, MLPRegressor or (coefs, intercepts)
        A model with weights (fitted, or built by ``initialize(X, y)`` to study the initialisation),
        or raw weights ``coefs[i]`` of shape ``(n_in, n_out)`` and biases.
    X : array-like of shape (n_samples, n_features)
    y : array-like, optional
        Targets: labels for a classifier, class indices for raw weights with a softmax output,
        real targets for a linear output. Without them the gradient statistics are NaN.
    activation : str, optional
        Hidden activation of raw weights (default 'sigmoid'); taken from a model.
    output : {'softmax', 'identity'}, optional
        Output of raw weights (default 'softmax'); taken from a model.
    saturation : (float, float), default=(0.01, 0.99)
        Sigmoid outputs outside this interval count as saturated; tanh outputs with ``|a|`` above
        the upper bound.

    Returns
    -------
    stats : list of LayerStatistics
        One record per layer, the output layer last.

    References
    ----------
    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.
    """
    (
        prop,
        coefs,
        activation,
        output,
    ) = propagate(model_or_weights, X, y, activation=activation, output=output)
    low, high = (float(s) for s in saturation)
    n = prop.n_samples
    n_layers = len(coefs)
    stats = []
    for i in range(n_layers):
        last = i == n_layers - 1
        kind = ACTIVATIONS.get(output, ACTIVATIONS["identity"]) if last else ACTIVATIONS[activation]
        mean, std, saturated, dead = layer_statistics_(prop.activations[i + 1], kind, low, high)
        if prop.deltas is not None:
            delta_std = float(np.std(prop.deltas[i], dtype=np.float64)) * n
            grad_std = float(np.std(prop.coef_grads[i], dtype=np.float64))
        else:
            delta_std = grad_std = math.nan
        stats.append(
            LayerStatistics(
                layer=i,
                name="output" if last else f"hidden {i + 1}",
                n_units=coefs[i].shape[1],
                activation_mean=float(mean),
                activation_std=float(std),
                saturated_fraction=float(saturated),
                dead_fraction=float(dead),
                delta_std=delta_std,
                weight_gradient_std=grad_std,
                weight_std=float(np.std(coefs[i], dtype=np.float64)),
            )
        )
    return stats


def as_arrays(stats):
    """Turn a list of :class:`LayerStatistics` into a dict ``field -> ndarray of shape (n_layers,)``."""
    return {f: np.array([getattr(s, f) for s in stats]) for f in FIELDS}


class DiagnosticsRecorder:
    """Callback for ``fit(callbacks=[...])`` that records :func:`layer_statistics` during training.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        A fixed batch (a few hundred samples) on which the statistics are computed.
    y : array-like, optional
        Its targets (needed for the gradient statistics).
    every : int, default=1
        Record every ``every`` epochs.
    record_initial : bool, default=True
        Also record the net at initialisation (as epoch 0).

    Attributes
    ----------
    epochs : list of int
        The epochs recorded (0 is the initialisation).
    statistics : list of list of LayerStatistics
        ``statistics[k]`` for ``epochs[k]``.

    Examples
    --------
    >>> from dbn.diagnostics import DiagnosticsRecorder
    >>> # recorder = DiagnosticsRecorder(X[:500], y[:500])
    >>> # MLPClassifier(...).fit(X, y, callbacks=[recorder]); recorder.history("delta_std")
    """

    def __init__(self, X, y=None, *, every=1, record_initial=True):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}.")
        self.X = X
        self.y = y
        self.every = every
        self.record_initial = record_initial
        self.epochs = []
        self.statistics = []

    def on_train_begin(self, estimator):
        """Reset the records and, if ``record_initial``, record the initial weights."""
        self.epochs, self.statistics = [], []
        if self.record_initial:
            self._record(estimator, 0)

    def __call__(self, estimator, epoch, logs):
        if epoch % self.every == 0:
            self._record(estimator, epoch)

    def _record(self, estimator, epoch):
        self.epochs.append(epoch)
        self.statistics.append(layer_statistics(estimator, self.X, self.y))

    def history(self, field):
        """``field`` of every layer at every recorded epoch, as an array (n_records, n_layers)."""
        if field not in FIELDS:
            raise ValueError(f"field must be one of {list(FIELDS)}, got {field!r}.")
        return np.array([[getattr(s, field) for s in record] for record in self.statistics])


def format_table(stats, fields=None, *, floatfmt=".3g"):
    """Render layer statistics as a Markdown table (readable as plain text too).

    Parameters
    ----------
    stats : list of LayerStatistics
    fields : sequence of str, optional
        Columns after the layer name; defaults to every statistic.
    floatfmt : str, default='.3g'
        Format of the floats.

    Returns
    -------
    table : str
    """
    if fields is None:
        fields = [f for f in FIELDS if f not in ("layer", "name")]
    for f in fields:
        if f not in FIELDS:
            raise ValueError(f"fields must be among {list(FIELDS)}, got {f!r}.")
    header = ["layer", *fields]
    rows = []
    for s in stats:
        cells = [s.name]
        for f in fields:
            value = getattr(s, f)
            if isinstance(value, float):
                cells.append("-" if math.isnan(value) else format(value, floatfmt))
            else:
                cells.append(str(value))
        rows.append(cells)
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]

    def line(cells):
        return (
            "| "
            + " | ".join(
                c.rjust(w) if j else c.ljust(w)
                for j, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    rule = (
        "|"
        + "|".join("-" * (w + 1) + ":" if j else ":" + "-" * (w + 1) for j, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(r) for r in rows)])
