"""The data panel: data sets on which dbn's defaults and claims are chosen and checked.

A default that wins on MNIST and loses elsewhere is not a default. The panel gathers, behind one
call per set (:func:`load_panel`), train / validation / test splits of

- MNIST itself and MNIST with every pixel inverted (``1 - x``: dark digits on a white ground,
  most inputs on);
- the variations of Larochelle et al. (2007) [1]_, generated deterministically from MNIST or from
  scratch with the paper's split sizes: ``mnist-basic``, ``mnist-rot``, ``mnist-back-rand``,
  ``rectangles`` and ``convex``;
- scikit-learn's 8x8 ``digits``;
- two real-valued sets that are not images, shipped with scikit-learn: ``breast-cancer`` and
  ``wine``, standardised on their training split (for ``DBN(visible_unit="gaussian")``).

Where the generators depart from the paper's description, the docstring of each says so. The
original archives of the paper's sets are not used: they cannot be downloaded here, and a
generator documents itself.

References
----------
.. [1] H. Larochelle, D. Erhan, A. Courville, J. Bergstra and Y. Bengio (2007). "An empirical
   evaluation of deep architectures on problems with many factors of variation." Proceedings of
   the 24th International Conference on Machine Learning (ICML), 473-480.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["PANEL", "load_panel"]

IMAGE_SIDE = 28

#: The panel's sets, with the paper's split sizes (train, validation, test) for the Larochelle
#: variations, and the visible unit type a DBN should use on each.
PANEL = {
    "mnist": dict(sizes=(50_000, 10_000, 10_000), visible_unit="bernoulli", n_classes=10),
    "mnist-inverted": dict(sizes=(50_000, 10_000, 10_000), visible_unit="bernoulli", n_classes=10),
    "mnist-basic": dict(sizes=(10_000, 2_000, 50_000), visible_unit="bernoulli", n_classes=10),
    "mnist-rot": dict(sizes=(10_000, 2_000, 50_000), visible_unit="bernoulli", n_classes=10),
    "mnist-back-rand": dict(sizes=(10_000, 2_000, 50_000), visible_unit="bernoulli", n_classes=10),
    "rectangles": dict(sizes=(1_000, 200, 50_000), visible_unit="bernoulli", n_classes=2),
    "convex": dict(sizes=(6_000, 2_000, 50_000), visible_unit="bernoulli", n_classes=2),
    "digits": dict(sizes=(1_000, 400, 397), visible_unit="bernoulli", n_classes=10),
    "breast-cancer": dict(sizes=(341, 114, 114), visible_unit="gaussian", n_classes=2),
    "wine": dict(sizes=(106, 36, 36), visible_unit="gaussian", n_classes=3),
}

#: The Larochelle et al. (2007) sets of the panel.
LAROCHELLE_SETS = ("mnist-basic", "mnist-rot", "mnist-back-rand", "rectangles", "convex")


# ----------------------------------------------------------------------------------------------
# MNIST-based sets
# ----------------------------------------------------------------------------------------------


def _mnist_pool(data_home, download):
    """All 70,000 MNIST images as float32 in [0, 1], training images first, and their labels."""
    from .datasets import load_mnist

    X_train, y_train = load_mnist("train", as_float=True, data_home=data_home, download=download)
    X_test, y_test = load_mnist("test", as_float=True, data_home=data_home, download=download)
    return np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])


def _larochelle_mnist_split(X, y):
    """The paper's sizes: 10,000 train and 2,000 validation images from the start of MNIST's
    training set, 50,000 test images from the rest (the last 48,000 training images and the first
    2,000 of MNIST's test set), so the three splits never share a digit image."""
    return (
        (X[:10_000], y[:10_000]),
        (X[10_000:12_000], y[10_000:12_000]),
        (X[12_000:62_000], y[12_000:62_000]),
    )


def rotate_images(images, angles, *, chunk=4096):
    """Rotate square images about their centre, with bilinear interpolation and zero fill.

    Parameters
    ----------
    images : ndarray of shape (n, side * side), float
    angles : ndarray of shape (n,)
        Counter-clockwise angles in radians.

    Returns
    -------
    rotated : ndarray like ``images``
    """
    from scipy.ndimage import map_coordinates

    n = len(images)
    side = int(round(np.sqrt(images.shape[1])))
    centre = (side - 1) / 2.0
    rows, cols = np.mgrid[0:side, 0:side].astype(np.float64)
    rows, cols = rows - centre, cols - centre
    out = np.empty_like(images)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        cos = np.cos(angles[start:stop])[:, None, None]
        sin = np.sin(angles[start:stop])[:, None, None]
        # The output pixel (r, c) reads the input at the inverse rotation of (r, c).
        src_rows = cos * rows + sin * cols + centre
        src_cols = -sin * rows + cos * cols + centre
        # Snap round-off (cos(pi / 2) is 6e-17, not 0) so edge pixels do not fall just outside.
        for src in (src_rows, src_cols):
            nearest = np.round(src)
            np.copyto(src, nearest, where=np.abs(src - nearest) < 1e-9)
        index = np.broadcast_to(
            np.arange(stop - start, dtype=np.float64)[:, None, None], src_rows.shape
        )
        block = images[start:stop].reshape(-1, side, side)
        out[start:stop] = map_coordinates(
            block, [index, src_rows, src_cols], order=1, mode="constant", cval=0.0
        ).reshape(stop - start, -1)
    return out


def _mnist_rot(X, rng):
    """``mnist-rot``: each digit rotated by an angle drawn uniformly in [0, 2 pi).

    Departure from the paper: bilinear interpolation here; the paper does not name its method.
    """
    angles = rng.uniform(0.0, 2.0 * np.pi, size=len(X))
    return np.clip(rotate_images(X, angles), 0.0, 1.0).astype(np.float32)


def _mnist_back_rand(X, rng):
    """``mnist-back-rand``: every background pixel (value 0 in the digit) replaced by uniform noise
    in [0, 1] (the paper's 0..255); the digit's own pixels are kept."""
    noise = rng.uniform(0.0, 1.0, size=X.shape).astype(np.float32)
    return np.where(X > 0, X, noise).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Shapes drawn from scratch
# ----------------------------------------------------------------------------------------------


def _rectangles(n, rng):
    """``rectangles``: the white outline of one rectangle; label 1 when it is taller than wide.

    As in the paper, height and width are drawn uniformly and a pair whose difference is smaller
    than 3 pixels is drawn again; the top-left corner is drawn uniformly so that the whole
    rectangle fits in the image. The sizes are drawn in 1..28 pixels (the paper does not give
    the range), and the classes alternate, so the two are balanced exactly.
    """
    side = IMAGE_SIDE
    images = np.zeros((n, side, side), dtype=np.float32)
    labels = (np.arange(n) % 2).astype(np.int64)
    for i in range(n):
        while True:
            height, width = rng.integers(1, side + 1, size=2)
            if abs(int(height) - int(width)) >= 3 and (height > width) == bool(labels[i]):
                break
        top = rng.integers(0, side - height + 1)
        left = rng.integers(0, side - width + 1)
        bottom, right = top + height - 1, left + width - 1
        images[i, top, left : right + 1] = 1.0
        images[i, bottom, left : right + 1] = 1.0
        images[i, top : bottom + 1, left] = 1.0
        images[i, top : bottom + 1, right] = 1.0
    return images.reshape(n, -1), labels


_GRID = np.stack(np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE], axis=-1).reshape(-1, 2) + 0.5


def _convex_region(rng, p, min_pixels):
    """One convex region: the intersection of ``Geometric(p)`` random half-planes.

    Departure from the paper, which places each half-plane uniformly at random: here every
    boundary line still has a uniform point and orientation, but the half-plane kept is the side
    that contains a common random centre, so the intersection is never empty and few candidates
    are rejected. Regions with fewer than ``min_pixels`` pixels are drawn again.
    """
    while True:
        k = rng.geometric(p)
        centre = rng.uniform(0, IMAGE_SIDE, size=2)
        points = rng.uniform(0, IMAGE_SIDE, size=(k, 2))
        theta = rng.uniform(0, 2 * np.pi, size=k)
        normals = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        offsets = np.einsum("ij,ij->i", normals, points)
        sign = np.where(normals @ centre >= offsets, 1.0, -1.0)
        inside = np.all(sign * (_GRID @ normals.T - offsets) >= 0, axis=1)
        if inside.sum() >= min_pixels:
            return inside


def _is_convex(mask):
    """Whether a pixel set equals the pixels inside the convex hull of its pixel centres."""
    from scipy.spatial import ConvexHull, QhullError

    points = _GRID[mask]
    try:
        hull = ConvexHull(points)
    except QhullError:  # collinear pixels: a segment is convex
        return True
    inside = np.all(_GRID @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-9, axis=1)
    return not np.any(inside & ~mask)


def _convex(n, rng):
    """``convex``: one white region; label 1 when it is convex.

    As in the paper: a convex image is the intersection of ``Geometric(0.195)`` half-planes with at
    least 19 pixels; a non-convex candidate is the union of 2 to 4 (uniform) convex regions drawn
    with ``Geometric(0.07)`` half-planes and at least 10 pixels each, kept only if it fails the
    convexity test (here: some pixel inside the convex hull of its pixels is off, rather than the
    paper's test on every pair of pixels). The paper balanced its parameters so that both
    classes have the same mean number of white pixels; here the balance is made exact in
    distribution: candidates of both classes are drawn into a pool, binned by their number of
    white pixels (bins of 16), and each bin keeps as many of each class, so that the pixel count
    alone cannot tell the classes apart.
    """
    per_class = (n + 1) // 2
    convex, non_convex = [], []
    bins_convex, bins_non_convex = {}, {}

    def balanced_count():
        return sum(
            min(len(bins_convex.get(b, [])), len(bins_non_convex.get(b, []))) for b in bins_convex
        )

    while balanced_count() < per_class:
        for _ in range(512):
            mask = _convex_region(rng, 0.195, 19)
            bins_convex.setdefault(int(mask.sum()) // 16, []).append(mask)
            union = np.zeros(_GRID.shape[0], dtype=bool)
            for _ in range(rng.integers(2, 5)):
                union |= _convex_region(rng, 0.07, 10)
            if not _is_convex(union):
                bins_non_convex.setdefault(int(union.sum()) // 16, []).append(union)
    for b in sorted(bins_convex):
        m = min(len(bins_convex[b]), len(bins_non_convex.get(b, [])))
        convex.extend(bins_convex[b][:m])
        non_convex.extend(bins_non_convex.get(b, [])[:m])
    # Keep the pixel-count distribution when trimming to per_class: an even subsample of each.
    keep = np.sort(rng.permutation(len(convex))[:per_class])
    convex = [convex[i] for i in keep]
    non_convex = [non_convex[i] for i in keep]
    images = np.empty((2 * per_class, _GRID.shape[0]), dtype=np.float32)
    images[0::2] = np.asarray(non_convex, dtype=np.float32)
    images[1::2] = np.asarray(convex, dtype=np.float32)
    labels = np.tile(np.array([0, 1], dtype=np.int64), per_class)
    order = rng.permutation(2 * per_class)[:n]
    return images[order], labels[order]


# ----------------------------------------------------------------------------------------------
# scikit-learn's sets
# ----------------------------------------------------------------------------------------------


def _sklearn_split(X, y, sizes, rng):
    """A stratified shuffle into train, validation and test of the given sizes."""
    n_train, n_val, _ = sizes
    order = np.empty(0, dtype=np.int64)
    # Interleave the classes (each shuffled) so that any prefix is close to stratified.
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    fractions = [np.arange(len(members)) / len(members) for members in per_class]
    order = np.concatenate(per_class)[np.argsort(np.concatenate(fractions), kind="stable")]
    train, val, test = np.split(order, [n_train, n_train + n_val])
    return (X[train], y[train]), (X[val], y[val]), (X[test], y[test])


def _standardise(splits):
    """Scale every split by the training split's mean and standard deviation."""
    (X_train, _), _, _ = splits
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0
    return [(((X - mean) / std).astype(np.float32), y) for X, y in splits]


# ----------------------------------------------------------------------------------------------
# The one entry point
# ----------------------------------------------------------------------------------------------


def load_panel(name, *, random_state=0, test_size=None, data_home=None, download=True):
    """Load one data set of the panel, split into training, validation and test data.

    Parameters
    ----------
    name : str
        One of ``PANEL``: ``"mnist"``, ``"mnist-inverted"``, ``"mnist-basic"``, ``"mnist-rot"``,
        ``"mnist-back-rand"``, ``"rectangles"``, ``"convex"``, ``"digits"``,
        ``"breast-cancer"``, ``"wine"``.
    random_state : int, default=0
        Seed of the generators (rotations, noise, shapes) and of the shuffles of scikit-learn's
        sets. MNIST, its inversion and ``mnist-basic`` do not depend on it. The same seed gives
        the same arrays, bit for bit.
    test_size : int, optional
        Keep only the first ``test_size`` test examples (the generated sets then draw fewer
        shapes, which is quicker; the training and validation splits do not change). Default:
        the paper's size (50,000 for the Larochelle sets).
    data_home, download
        Where MNIST is found, as in :func:`dbn.datasets.load_mnist` (MNIST-based sets only).

    Returns
    -------
    data : dbn.datasets.Bunch
        ``X_train, y_train, X_val, y_val, X_test, y_test`` (float32 features, int64 labels),
        ``visible_unit`` (``"bernoulli"`` for data in [0, 1], ``"gaussian"`` for standardised
        real values), ``n_classes``, ``name`` and ``DESCR``.

    Examples
    --------
    >>> from dbn.datasets import load_panel
    >>> data = load_panel("rectangles", test_size=100)
    >>> data.X_train.shape, data.X_val.shape, data.X_test.shape
    ((1000, 784), (200, 784), (100, 784))

    References
    ----------
    H. Larochelle, D. Erhan, A. Courville, J. Bergstra and Y. Bengio (2007). An empirical
    evaluation of deep architectures on problems with many factors of variation. ICML.
    """
    from .datasets import Bunch

    if not isinstance(name, str) or name not in PANEL:
        raise ValueError(f"name must be one of {sorted(PANEL)}, got {name!r}.")
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"random_state must be an int, got {random_state!r}.")
    spec = PANEL[name]
    n_train, n_val, n_test = spec["sizes"]
    if test_size is not None:
        if isinstance(test_size, bool) or not isinstance(test_size, numbers.Integral):
            raise TypeError(f"test_size must be a positive int or None, got {test_size!r}.")
        if not 1 <= test_size <= n_test:
            raise ValueError(f"test_size must be in [1, {n_test}] for {name!r}, got {test_size}.")
        n_test = int(test_size)
    rng = np.random.default_rng([int(random_state), sum(name.encode())])

    if name in ("mnist", "mnist-inverted"):
        from .datasets import load_mnist

        X, y = load_mnist("train", as_float=True, data_home=data_home, download=download)
        X_test, y_test = load_mnist("test", as_float=True, data_home=data_home, download=download)
        splits = [
            (X[:50_000], y[:50_000]),
            (X[50_000:], y[50_000:]),
            (X_test[:n_test], y_test[:n_test]),
        ]
        if name == "mnist-inverted":
            splits = [(np.float32(1.0) - X_part, y_part) for X_part, y_part in splits]
    elif name.startswith("mnist-"):
        X, y = _mnist_pool(data_home, download)
        X, y = X[: 12_000 + n_test], y[: 12_000 + n_test]
        if name == "mnist-rot":
            X = _mnist_rot(X, rng)
        elif name == "mnist-back-rand":
            X = _mnist_back_rand(X, rng)
        splits = list(_larochelle_mnist_split(X, y))
    elif name in ("rectangles", "convex"):
        make = _rectangles if name == "rectangles" else _convex
        # Each split is drawn from its own stream, so test_size never changes the training data.
        streams = rng.spawn(3)
        splits = [
            make(size, stream)
            for size, stream in zip((n_train, n_val, n_test), streams, strict=True)
        ]
    elif name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        order = np.random.default_rng(0).permutation(len(X))  # the defaults study's fixed split
        X, y = (X[order] / 16.0).astype(np.float32), y[order].astype(np.int64)
        splits = [
            (X[:1000], y[:1000]),
            (X[1000:1400], y[1000:1400]),
            (X[1400 : 1400 + n_test], y[1400 : 1400 + n_test]),
        ]
    else:
        from sklearn.datasets import load_breast_cancer, load_wine

        loader = load_breast_cancer if name == "breast-cancer" else load_wine
        X, y = loader(return_X_y=True)
        splits = _standardise(
            _sklearn_split(X.astype(np.float64), y.astype(np.int64), spec["sizes"], rng)
        )
        X_test, y_test = splits[2]
        splits[2] = (X_test[:n_test], y_test[:n_test])

    (X_train, y_train), (X_val, y_val), (X_test, y_test) = splits
    as_float = [np.ascontiguousarray(part, dtype=np.float32) for part in (X_train, X_val, X_test)]
    return Bunch(
        X_train=as_float[0],
        y_train=np.asarray(y_train, dtype=np.int64),
        X_val=as_float[1],
        y_val=np.asarray(y_val, dtype=np.int64),
        X_test=as_float[2],
        y_test=np.asarray(y_test, dtype=np.int64),
        visible_unit=spec["visible_unit"],
        n_classes=spec["n_classes"],
        name=name,
        DESCR=(
            f"{name}: {len(X_train)} training, {len(X_val)} validation and {len(X_test)} test "
            f"examples of {X_train.shape[1]} features, {spec['n_classes']} classes, "
            f"{spec['visible_unit']} visible units (random_state={random_state})."
        ),
    )
