"""Tests of the data panel (dbn.datasets.load_panel): shapes, classes, ranges, seeds, generators."""

from __future__ import annotations

import numpy as np
import pytest

from dbn import _panel
from dbn.datasets import PANEL
from dbn.datasets import load_panel as _load_panel

from .conftest import mnist_home, needs_mnist, skip_without_mnist

MNIST_HOME = mnist_home()


def load_panel(name, **kwargs):
    """``dbn.datasets.load_panel`` reading MNIST from where the tests find it."""
    return _load_panel(name, data_home=MNIST_HOME, download=False, **kwargs)


SMALL_TEST = 300


@pytest.fixture(scope="module", params=sorted(PANEL))
def panel_set(request):
    name = request.param
    if name.startswith("mnist"):
        skip_without_mnist()  # CI turns this skip into a failure
    test_size = min(SMALL_TEST, PANEL[name]["sizes"][2])
    return load_panel(name, test_size=test_size)


def test_shapes_dtypes_and_split_sizes(panel_set):
    spec = PANEL[panel_set.name]
    n_train, n_val, n_test = spec["sizes"]
    assert panel_set.X_train.shape[0] == n_train == len(panel_set.y_train)
    assert panel_set.X_val.shape[0] == n_val == len(panel_set.y_val)
    assert panel_set.X_test.shape[0] == min(SMALL_TEST, n_test) == len(panel_set.y_test)
    n_features = panel_set.X_train.shape[1]
    for X in (panel_set.X_train, panel_set.X_val, panel_set.X_test):
        assert X.dtype == np.float32 and X.flags.c_contiguous and X.shape[1] == n_features
        assert np.isfinite(X).all()
    for y in (panel_set.y_train, panel_set.y_val, panel_set.y_test):
        assert y.dtype == np.int64
    assert panel_set.visible_unit == spec["visible_unit"]
    assert n_features == {"digits": 64, "breast-cancer": 30, "wine": 13}.get(panel_set.name, 784)


def test_every_class_present_and_balanced(panel_set):
    n_classes = PANEL[panel_set.name]["n_classes"]
    counts = np.bincount(panel_set.y_train, minlength=n_classes)
    assert len(counts) == n_classes and counts.min() > 0
    # MNIST's own imbalance (digit 5 is the rarest) and the real-valued sets' natural class
    # proportions stay; the generated shapes are balanced exactly.
    if panel_set.name in ("rectangles", "convex"):
        assert counts.max() - counts.min() <= 1
    else:
        assert counts.max() / counts.min() < 2.0


def test_value_range(panel_set):
    X = panel_set.X_train
    if panel_set.visible_unit == "bernoulli":
        assert X.min() >= 0.0 and X.max() <= 1.0
    else:  # standardised on the training split
        np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(X.std(axis=0), 1.0, atol=1e-4)


@pytest.mark.parametrize("name", ["mnist-rot", "mnist-back-rand", "rectangles", "convex", "wine"])
def test_same_seed_same_arrays_and_test_size_keeps_training_data(name):
    if name.startswith("mnist"):
        skip_without_mnist()
    a = load_panel(name, test_size=20, random_state=3)
    b = load_panel(name, test_size=20, random_state=3)
    c = load_panel(name, test_size=30, random_state=3)
    d = load_panel(name, test_size=20, random_state=4)
    for key in ("X_train", "y_train", "X_val", "X_test", "y_test"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(a.X_train, c.X_train)
    np.testing.assert_array_equal(a.X_val, c.X_val)
    assert not np.array_equal(a.X_train, d.X_train)


@needs_mnist
def test_mnist_inverted_is_one_minus_mnist():
    plain = load_panel("mnist", test_size=20)
    inverted = load_panel("mnist-inverted", test_size=20)
    np.testing.assert_array_equal(inverted.X_val, np.float32(1) - plain.X_val)
    np.testing.assert_array_equal(inverted.y_train, plain.y_train)
    assert inverted.X_train.mean() > 0.8  # most inputs on


@needs_mnist
def test_mnist_variations_share_digits_and_splits_are_disjoint():
    from dbn.datasets import load_mnist

    basic = load_panel("mnist-basic", test_size=100)
    X, y = load_mnist("train", as_float=True, data_home=MNIST_HOME, download=False)
    np.testing.assert_array_equal(basic.X_train, X[:10_000])
    np.testing.assert_array_equal(basic.X_test, X[12_000:12_100])
    back = load_panel("mnist-back-rand", test_size=100)
    np.testing.assert_array_equal(back.y_train, basic.y_train)
    on = basic.X_train > 0
    np.testing.assert_array_equal(back.X_train[on], basic.X_train[on])
    noise = back.X_train[~on]
    assert 0.45 < noise.mean() < 0.55 and noise.min() >= 0 and noise.max() <= 1


def test_rotation_by_quarter_turns_is_exact_and_full_turn_is_identity():
    rng = np.random.default_rng(0)
    images = rng.random((3, 28 * 28))
    quarter = _panel.rotate_images(images, np.full(3, np.pi / 2))
    # Counter-clockwise by 90 degrees as seen on screen: what np.rot90 does.
    expected = np.stack([np.rot90(im.reshape(28, 28), k=1).ravel() for im in images])
    np.testing.assert_allclose(quarter, expected, atol=1e-9)
    np.testing.assert_allclose(
        _panel.rotate_images(images, np.full(3, 2 * np.pi)), images, atol=1e-9
    )


@needs_mnist
def test_mnist_rot_angles_cover_the_circle():
    basic = load_panel("mnist-basic", test_size=10)
    rot = load_panel("mnist-rot", test_size=10)
    # Rotation keeps the digit's mass near its centre but moves it: the images differ, and the
    # mean image of many rotated digits is close to rotation invariant (a disc).
    assert not np.allclose(rot.X_train[:100], basic.X_train[:100])
    mean = rot.X_train.mean(axis=0).reshape(28, 28)
    np.testing.assert_allclose(mean, np.rot90(mean), atol=0.05)


def _outline_box(image):
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_rectangles_are_outlines_labelled_by_orientation():
    data = load_panel("rectangles", test_size=200)
    for X, y in ((data.X_train, data.y_train), (data.X_test, data.y_test)):
        assert set(np.unique(X)) <= {0.0, 1.0}
        for image, label in zip(X.reshape(-1, 28, 28), y, strict=True):
            height, width = _outline_box(image)
            assert abs(height - width) >= 3
            assert (height > width) == bool(label)
            # An outline: the border of its box is on, the inside is off.
            inside = image[1:-1, 1:-1]
            box_pixels = 2 * (height + width) - 4 if min(height, width) > 1 else height * width
            assert image.sum() == box_pixels or inside.sum() <= image.sum()


def test_convexity_check_on_known_shapes():
    square = np.zeros((28, 28), dtype=bool)
    square[5:15, 5:15] = True
    assert _panel._is_convex(square.ravel())
    two_squares = square.copy()
    two_squares[20:25, 20:25] = True
    assert not _panel._is_convex(two_squares.ravel())
    ring = square.copy()
    ring[8:12, 8:12] = False
    assert not _panel._is_convex(ring.ravel())


def test_convex_labels_match_convexity_and_pixel_count_does_not_tell():
    data = load_panel("convex", test_size=300)
    X, y = data.X_train, data.y_train
    labels = np.array([_panel._is_convex(image > 0.5) for image in X[:600]])
    np.testing.assert_array_equal(labels, y[:600].astype(bool))
    counts = X.sum(axis=1)
    mean_convex, mean_other = counts[y == 1].mean(), counts[y == 0].mean()
    assert abs(mean_convex - mean_other) < 0.05 * max(mean_convex, mean_other)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="name must be one of"):
        load_panel("mnist-bogus")
    with pytest.raises(TypeError, match="random_state must be an int"):
        load_panel("wine", random_state=1.5)
    with pytest.raises(ValueError, match="test_size must be in"):
        load_panel("wine", test_size=0)
    with pytest.raises(TypeError, match="test_size must be a positive int"):
        load_panel("wine", test_size="all")
