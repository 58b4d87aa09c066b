"""Matplotlib helpers (optional: ``pip install dbn[plot]``).

matplotlib is imported inside the functions, so ``import dbn.plot`` works without it. Every function
draws into a new Figure (or into ``ax`` when given) and returns the Figure.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "plot_activation_histograms",
    "plot_activation_histograms_grid",
    "plot_embedding",
    "plot_filters",
    "plot_layer_statistics",
    "plot_learning_curves",
    "plot_rbm_history",
    "plot_samples",
    "tile_images",
]


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
        Abscissa: the epoch, or the seconds since the start of training.
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
            # history_['time'] holds each epoch's own seconds: the abscissa is their running total.
            xs = np.cumsum(history["time"]) if x == "time" else np.arange(1, values.size + 1)
            axis.plot(xs, values, label=name or key)
        axis.set_xlabel("seconds" if x == "time" else "epoch")
        axis.set_ylabel(key.replace("_", " "))
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    return fig


# --------------------------------------------------------------------------------------------------
# Images: filters, reconstructions, samples
# --------------------------------------------------------------------------------------------------

_SCALES = ("each", "all", None)


def _as_images(images, shape):
    """``images`` as a float64 array of shape (n, height, width), checked against ``shape``."""
    images = np.asarray(images, dtype=np.float64)
    height, width = (int(s) for s in shape)
    if images.ndim == 1:
        images = images[None]
    if images.ndim == 2:
        if images.shape[1] != height * width:
            raise ValueError(
                f"images have {images.shape[1]} features, which cannot be shown as images of "
                f"shape {tuple(shape)} ({height * width} pixels); pass the right shape."
            )
        images = images.reshape(-1, height, width)
    elif images.ndim != 3 or images.shape[1:] != (height, width):
        raise ValueError(
            f"images must have shape (n, {height * width}) or (n, {height}, {width}), got "
            f"{images.shape}."
        )
    if images.shape[0] == 0:
        raise ValueError("images is empty: there is nothing to draw.")
    return images


def _rescale(images, scale):
    """Map ``images`` to [0, 1]: per image (``'each'``), jointly (``'all'``) or clipped (None)."""
    if scale not in _SCALES:
        raise ValueError(f"scale must be one of {list(_SCALES)}, got {scale!r}.")
    if scale is None:
        return np.clip(images, 0.0, 1.0)
    axes = (1, 2) if scale == "each" else None
    lo = images.min(axis=axes, keepdims=True)
    span = images.max(axis=axes, keepdims=True) - lo
    return (images - lo) / np.where(span > 0, span, 1.0)


def _tile(images, n_cols, padding, pad_value):
    """One array holding ``images`` (n, h, w) on a grid of ``n_cols`` columns."""
    n, height, width = images.shape
    n_rows = -(-n // n_cols)
    grid = np.full(
        (n_rows * (height + padding) + padding, n_cols * (width + padding) + padding), pad_value
    )
    for i, image in enumerate(images):
        row, col = divmod(i, n_cols)
        top = padding + row * (height + padding)
        left = padding + col * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def tile_images(
    images,
    shape=(28, 28),
    n_cols=None,
    *,
    scale=None,
    padding=1,
    pad_value=0.5,
    cmap="gray",
    title=None,
    ax=None,
):
    """Draw flat images (rows of a data matrix, filters, samples) as one tiled image.

    Parameters
    ----------
    images : array-like of shape (n_images, height * width) or (n_images, height, width)
    shape : (int, int), default=(28, 28)
        Height and width of each image (MNIST by default).
    n_cols : int, optional
        Images per row of the grid; defaults to ``ceil(sqrt(n_images))``.
    scale : {None, 'each', 'all'}, default=None
        None shows values in [0, 1] as they are (pixel intensities, probabilities; values outside
        are clipped); ``'each'`` stretches every image to its own range (weights of a filter, whose
        sign and scale are arbitrary); ``'all'`` stretches all images by one common range.
    padding : int, default=1
        Pixels between the images.
    pad_value : float, default=0.5
        Grey level of the padding, in [0, 1].
    cmap : str, default='gray'
    title : str, optional
    ax : matplotlib Axes, optional
        Draw there instead of into a new Figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        With one Axes holding one image of shape
        ``(n_rows * (height + padding) + padding, n_cols * (width + padding) + padding)``.
    """
    images = _rescale(_as_images(images, shape), scale)
    n = images.shape[0]
    if n_cols is None:
        n_cols = int(np.ceil(np.sqrt(n)))
    if isinstance(n_cols, bool) or not isinstance(n_cols, int | np.integer) or n_cols < 1:
        raise ValueError(f"n_cols must be a positive integer, got {n_cols!r}.")
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer, got {padding!r}.")
    n_cols = min(int(n_cols), n)
    grid = _tile(images, n_cols, int(padding), float(pad_value))
    if ax is None:
        plt = _pyplot()
        # About 0.6 inch per 28-pixel image, at most 10 inches wide.
        inches = min(10.0 / grid.shape[1], 0.02)
        fig, ax = plt.subplots(
            figsize=(max(grid.shape[1] * inches, 1.0), max(grid.shape[0] * inches, 0.6))
        )
    else:
        fig = ax.figure
    ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title, fontsize="medium")
    return fig


def _filters(model_or_weights, layer):
    """Rows of ``W`` of ``layer`` projected down to the input space (one row per hidden unit)."""
    if hasattr(model_or_weights, "layers_"):  # a fitted DBN
        weights = [rbm.components_ for rbm in model_or_weights.layers_]
    elif hasattr(model_or_weights, "components_"):  # a fitted RBM
        weights = [model_or_weights.components_]
    else:
        weights = [np.asarray(model_or_weights)]
        if weights[0].ndim != 2:
            raise ValueError(
                "model_or_weights must be a fitted RBM or DBN, or weights of shape "
                f"(n_filters, n_features); got an array of shape {weights[0].shape}."
            )
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
        raise TypeError(f"layer must be an integer, got {layer!r}.")
    if not -len(weights) <= layer < len(weights):
        raise ValueError(
            f"layer must be in [{-len(weights)}, {len(weights) - 1}] for {len(weights)} layer(s), "
            f"got {layer}."
        )
    layer %= len(weights)
    filters = np.asarray(weights[layer], dtype=np.float64)
    for W in reversed(weights[:layer]):
        filters = filters @ np.asarray(W, dtype=np.float64)
    return filters


def plot_filters(model_or_weights, n=100, *, layer=0, shape=(28, 28), n_cols=None, ax=None):
    """The receptive fields ("filters") of an RBM's or a DBN's hidden units, as a tiled image.

    Each filter is a hidden unit's row of weights, stretched to its own grey range. For layer
    ``l > 0`` of a DBN, the filter is the linear combination of the filters below,
    ``W_l W_{l-1} ... W_1`` (the simplest of the visualisations compared by Erhan et al., 2009): it
    ignores the nonlinearities, so read it as a rough picture of what the unit responds to.

    Parameters
    ----------
    model_or_weights : BernoulliRBM, GaussianBernoulliRBM, DBN or array-like
        A fitted model (its ``components_``, of shape (n_components, n_features)), or weights of
        that shape.
    n : int, default=100
        Number of filters drawn: the first ``n`` hidden units.
    layer : int, default=0
        Layer of a DBN (negative counts from the top).
    shape : (int, int), default=(28, 28)
    n_cols : int, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure

    References
    ----------
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR
    2010-003, section 15 (displaying the weights).
    Erhan, D., Bengio, Y., Courville, A. and Vincent, P. (2009). Visualizing higher-layer features
    of a deep network. Technical report 1341, Universite de Montreal.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    filters = _filters(model_or_weights, layer)[: int(n)]
    return tile_images(filters, shape, n_cols, scale="each", ax=ax)


def plot_samples(samples, *, shape=(28, 28), n_cols=10, scale=None, ax=None):
    """Rows of images with a title each: data against reconstructions, samples of several models.

    Parameters
    ----------
    samples : array-like or dict of str to array-like
        Images of shape (n_images, height * width); a dict gives one titled panel per entry, top
        to bottom (e.g. ``{"data": X[:10], "reconstruction": R[:10]}``).
    shape : (int, int), default=(28, 28)
    n_cols : int, default=10
        Images per row of each panel.
    scale : {None, 'each', 'all'}, default=None
        See :func:`tile_images`.
    ax : sequence of matplotlib Axes, optional
        One per panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
        With one Axes per panel.
    """
    if not isinstance(samples, dict):
        samples = {"": samples}
    if not samples:
        raise ValueError("samples is an empty dict: there is nothing to draw.")
    if isinstance(n_cols, bool) or not isinstance(n_cols, int | np.integer) or n_cols < 1:
        raise ValueError(f"n_cols must be a positive integer, got {n_cols!r}.")
    panels = {name: _as_images(images, shape) for name, images in samples.items()}
    rows = [-(-len(images) // min(n_cols, len(images))) for images in panels.values()]
    if ax is None:
        plt = _pyplot()
        width = min(n_cols, max(len(images) for images in panels.values()))
        # Each image row gets about 0.6 inch, plus room for the panel's title.
        heights = [r + (0.4 if name else 0.05) for r, name in zip(rows, panels, strict=True)]
        fig, axes = plt.subplots(
            len(panels),
            1,
            figsize=(min(0.6 * width + 0.2, 10.0), 0.6 * sum(heights) + 0.1),
            squeeze=False,
            gridspec_kw={"height_ratios": heights},
        )
        axes = axes[:, 0]
    else:
        axes = np.atleast_1d(ax).ravel()
        if len(axes) != len(panels):
            raise ValueError(f"ax must hold one Axes per panel ({len(panels)}), got {len(axes)}.")
        fig = axes[0].figure
    for axis, (name, images) in zip(axes, panels.items(), strict=True):
        tile_images(images, shape, n_cols, scale=scale, title=name or None, ax=axis)
    return fig


# --------------------------------------------------------------------------------------------------
# Training curves and features
# --------------------------------------------------------------------------------------------------

_RBM_PANELS = {
    "reconstruction_error": "reconstruction error",
    "pseudo_likelihood": "pseudo-log-likelihood",
    "free_energy": "mean free energy",
    "free_energy_gap": "free-energy gap (validation - train)",
}


def plot_rbm_history(
    history, keys=("reconstruction_error", "pseudo_likelihood", "free_energy"), *, ax=None
):
    """Monitoring curves of RBM training, from ``history_`` (one RBM, several, or a DBN's layers).

    The three signals of Hinton's practical guide (2010): the reconstruction error (easy to
    compute, but not the objective), the pseudo-log-likelihood (a proxy for the log-likelihood)
    and the mean free energy of training data (solid) against held-out data (dashed). A
    validation free energy that rises above the training one, a growing gap, signals overfitting
    (section 6 of the guide); its absolute value means nothing, as the log partition function is
    unknown.

    Parameters
    ----------
    history : dict of list, list of such dicts, or dict of str to such dicts
        ``rbm.history_``; ``dbn.history_`` (one curve per layer, from its ``layer`` column); a
        list of histories; or ``{name: rbm.history_}`` to compare runs.
    keys : sequence of str, default=('reconstruction_error', 'pseudo_likelihood', 'free_energy')
        One panel per key, among 'reconstruction_error', 'pseudo_likelihood', 'free_energy' (train
        and validation) and 'free_energy_gap'. Series missing or all NaN (e.g. the validation free
        energy without ``X_val``) are left out.
    ax : sequence of matplotlib Axes, optional
        One per key.

    Returns
    -------
    fig : matplotlib.figure.Figure

    References
    ----------
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR
    2010-003, University of Toronto, sections 5 and 6.
    """
    if isinstance(history, dict) and "layer" in history:
        # A DBN's history_: one table with a layer column, drawn one curve per layer.
        layer = np.asarray(history["layer"])
        history = {
            f"layer {i + 1}": {
                key: np.asarray(values)[layer == i] for key, values in history.items()
            }
            for i in np.unique(layer)
        }
    if isinstance(history, list | tuple):
        histories = {f"layer {i + 1}": h for i, h in enumerate(history)}
    elif isinstance(history, dict) and all(isinstance(v, dict) for v in history.values()):
        histories = dict(history)
    elif isinstance(history, dict):
        histories = {"": history}
    else:
        raise TypeError(
            "history must be a history_ dict, a list of them or a dict of them, got "
            f"{type(history).__name__}."
        )
    from matplotlib.ticker import MaxNLocator

    keys = list(keys)
    for key in keys:
        if key not in _RBM_PANELS:
            raise ValueError(f"keys must be among {list(_RBM_PANELS)}, got {key!r}.")
    if ax is None:
        fig, axes = _axes_grid(1, len(keys), size=(3.6, 2.8))
        axes = axes.ravel()
    else:
        axes = np.atleast_1d(ax).ravel()
        if len(axes) != len(keys):
            raise ValueError(f"ax must hold one Axes per key ({len(keys)}), got {len(axes)}.")
        fig = axes[0].figure
    colors = _pyplot().rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for axis, key in zip(axes, keys, strict=True):
        series = [("free_energy_train", "-"), ("free_energy_validation", "--")]
        if key != "free_energy":
            series = [(key, "-")]
        for i, (name, record) in enumerate(histories.items()):
            color = colors[i % len(colors)]
            for field, style in series:
                values = np.asarray(record.get(field, []), dtype=np.float64)
                if values.size == 0 or np.all(np.isnan(values)):
                    continue
                epochs = np.asarray(record.get("epoch", []))
                if epochs.size < values.size:
                    epochs = np.arange(1, values.size + 1)
                label = name
                if key == "free_energy":
                    part = "train" if field.endswith("train") else "validation"
                    label = f"{name} {part}".strip()
                axis.plot(epochs[: values.size], values, style, color=color, label=label)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_ylabel(_RBM_PANELS[key])
        if axis.get_legend_handles_labels()[0] and (len(histories) > 1 or key == "free_energy"):
            axis.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_embedding(embedding, labels=None, *, max_points=5000, title=None, ax=None):
    """A 2-D projection of features (PCA, t-SNE, a code layer), coloured by class.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, 2)
    labels : array-like of shape (n_samples,), optional
        Classes (at most 10 distinct values get a colour and a legend entry each).
    max_points : int or None, default=5000
        Draw an evenly spaced subset of at most this many points (keeps the figure light).
    title : str, optional
    ax : matplotlib Axes, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    embedding = np.asarray(embedding, dtype=np.float64)
    if embedding.ndim != 2 or embedding.shape[1] != 2:
        raise ValueError(f"embedding must have shape (n_samples, 2), got {embedding.shape}.")
    if labels is not None:
        labels = np.asarray(labels).ravel()
        if len(labels) != len(embedding):
            raise ValueError(
                f"labels has {len(labels)} entries but embedding has {len(embedding)} rows."
            )
    if max_points is not None and len(embedding) > max_points:
        keep = np.linspace(0, len(embedding) - 1, int(max_points)).astype(np.int64)
        embedding = embedding[keep]
        labels = None if labels is None else labels[keep]
    if ax is None:
        fig, axes = _axes_grid(1, 1, size=(4.2, 3.6))
        ax = axes[0, 0]
    else:
        fig = ax.figure
    if labels is None:
        ax.scatter(embedding[:, 0], embedding[:, 1], s=3, alpha=0.6)
    else:
        classes = np.unique(labels)
        for i, c in enumerate(classes):
            rows = labels == c
            ax.scatter(
                embedding[rows, 0],
                embedding[rows, 1],
                s=3,
                alpha=0.6,
                color=f"C{i % 10}",
                label=str(c),
            )
        if len(classes) <= 10:
            ax.legend(
                fontsize="x-small",
                markerscale=3,
                loc="center left",
                bbox_to_anchor=(1.0, 0.5),
                frameon=False,
            )
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize="medium")
    return fig


def plot_activation_histograms_grid(
    models, X, y=None, *, activation=None, output=None, bins=50, layers=None
):
    """:func:`plot_activation_histograms` for several models, one row each, to compare them.

    The layout of Glorot & Bengio (2010), Figs. 6-7, for e.g. the same net under the "standard",
    normalised (Xavier) and He initialisations: one row per model, activations on the left and,
    with ``y``, back-propagated gradients on the right.

    Parameters
    ----------
    models : dict of str to model or (coefs, intercepts)
        Row titles to models, as accepted by :func:`dbn.diagnostics.layer_statistics`.
    X : array-like of shape (n_samples, n_features)
    y : array-like, optional
    activation, output : str, optional
        For raw weights.
    bins : int, default=50
    layers : sequence of int, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
        With ``len(models)`` rows of 1 (without ``y``) or 2 Axes.

    References
    ----------
    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.
    He, K., Zhang, X., Ren, S. and Sun, J. (2015). Delving deep into rectifiers: surpassing
    human-level performance on ImageNet classification. ICCV, 1026-1034.
    """
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict of name to model.")
    n_cols = 1 if y is None else 2
    fig, axes = _axes_grid(len(models), n_cols, size=(4.2, 2.6))
    for row, (name, model) in zip(axes, models.items(), strict=True):
        plot_activation_histograms(
            model, X, y, activation=activation, output=output, bins=bins, layers=layers, ax=row
        )
        for axis in row:
            axis.set_title(f"{name}: {axis.get_xlabel()}", fontsize="medium")
    fig.tight_layout()
    return fig
