"""Matplotlib helpers (optional: ``pip install dbn[plot]``).

matplotlib is imported inside the functions, so ``import dbn.plot`` works without it. Every function
draws into a new Figure (or into ``ax`` when given) and returns the Figure.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_activation_histograms", "plot_layer_statistics", "plot_learning_curves"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "dbn.plot needs matplotlib; install it with: pip install dbn[plot]"
        ) from exc
    return plt


def _axes_grid(n_rows, n_cols, ax=None, size=(4.0, 3.0)):
    """A Figure with a grid of axes, or the Figure of the given axes."""
    plt = _pyplot()
    if ax is not None:
        axes = np.atleast_1d(ax).reshape(n_rows, n_cols)
        return axes.flat[0].figure, axes
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(size[0] * n_cols, size[1] * n_rows), squeeze=False
    )
    return fig, axes


def plot_activation_histograms(
    model_or_weights, X, y=None, *, activation=None, output=None, bins=50, layers=None, ax=None
):
    """Per-layer normalised histograms of activations and back-propagated gradients.

    The two panels of Glorot & Bengio (2010), Figs. 6-7: the distribution of each hidden layer's
    activations ``f(Z)``, and (when ``y`` is given) of its back-propagated gradients ``dCost/dZ`` of
    each sample's loss. With the "standard" initialisation the gradient histograms narrow layer after
    layer going down; with the normalised one they overlap.

    Parameters
    ----------
    model_or_weights : MLPClassifier, MLPRegressor or (coefs, intercepts)
        As in :func:`dbn.diagnostics.layer_statistics`.
    X : array-like of shape (n_samples, n_features)
    y : array-like, optional
        Targets; without them only the activations are drawn.
    activation, output : str, optional
        For raw weights (see :func:`dbn.diagnostics.layer_statistics`).
    bins : int, default=50
    layers : sequence of int, optional
        Layers to draw; defaults to every hidden layer.
    ax : array of 1 or 2 matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure

    References
    ----------
    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.
    """
    from .diagnostics import propagate

    prop, coefs, _, _ = propagate(model_or_weights, X, y, activation=activation, output=output)
    if layers is None:
        layers = range(max(len(coefs) - 1, 1))
    n_panels = 2 if prop.deltas is not None else 1
    fig, axes = _axes_grid(1, n_panels, ax)
    n = prop.n_samples
    panels = [("activation value", [prop.activations[i + 1] for i in layers])]
    if prop.deltas is not None:
        panels.append(("back-propagated gradient", [prop.deltas[i] * n for i in layers]))
    for axis, (title, arrays) in zip(axes.flat, panels, strict=False):
        flat = np.concatenate([a.ravel() for a in arrays]).astype(np.float64)
        finite = flat[np.isfinite(flat)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
        for i, a in zip(layers, arrays, strict=True):
            name = "output" if i == len(coefs) - 1 else f"layer {i + 1}"
            axis.hist(a.ravel(), bins=edges, density=True, histtype="step", label=name)
        axis.set_xlabel(title)
        axis.set_ylabel("density")
        axis.legend(fontsize="small")
    return fig


def plot_layer_statistics(
    stats_by_name, fields=("activation_std", "delta_std"), *, log_scale=None, ax=None
):
    """Lines of per-layer statistics, one line per initialisation (or model, or epoch).

    Parameters
    ----------
    stats_by_name : dict of str to list of LayerStatistics
        E.g. ``{"standard": layer_statistics(m1, X, y), "xavier": layer_statistics(m2, X, y)}``.
    fields : sequence of str, default=('activation_std', 'delta_std')
        One panel per field of :class:`dbn.diagnostics.LayerStatistics`.
    log_scale : sequence of bool, optional
        Per field; by default a log scale for the gradient fields.
    ax : array of Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fields = list(fields)
    if log_scale is None:
        log_scale = ["gradient" in f or "delta" in f for f in fields]
    fig, axes = _axes_grid(1, len(fields), ax)
    for axis, field, log in zip(axes.flat, fields, log_scale, strict=False):
        for name, stats in stats_by_name.items():
            values = [getattr(s, field) for s in stats]
            axis.plot(range(1, len(values) + 1), values, marker="o", label=str(name))
        axis.set_xlabel("layer")
        axis.set_ylabel(field.replace("_", " "))
        if log:
            axis.set_yscale("log")
        axis.legend(fontsize="small")
    return fig


def plot_learning_curves(histories, keys=("train_loss", "val_loss"), *, x="epoch", ax=None):
    """Learning curves from ``history_`` dicts (one, or several by name).

    Parameters
    ----------
    histories : dict of list, or dict of str to such dicts
        An estimator's ``history_``, or ``{name: history}`` to compare runs.
    keys : sequence of str, default=('train_loss', 'val_loss')
        One panel per key; keys absent from a history or all-NaN are skipped.
    x : {'epoch', 'time'}, default='epoch'
        Abscissa.
    ax : array of Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    if histories and all(isinstance(v, list | tuple | np.ndarray) for v in histories.values()):
        histories = {"": histories}
    keys = list(keys)
    fig, axes = _axes_grid(1, len(keys), ax)
    for axis, key in zip(axes.flat, keys, strict=False):
        for name, history in histories.items():
            values = np.asarray(history.get(key, []), dtype=np.float64)
            if values.size == 0 or np.all(np.isnan(values)):
                continue
            xs = np.asarray(history["time"]) if x == "time" else np.arange(1, values.size + 1)
            axis.plot(xs, values, label=name or key)
        axis.set_xlabel("seconds" if x == "time" else "epoch")
        axis.set_ylabel(key.replace("_", " "))
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    return fig
