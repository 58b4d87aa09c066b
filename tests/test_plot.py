"""The image, RBM-monitoring and embedding helpers of dbn.plot: figures, axes and image shapes."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dbn import DBN, BernoulliRBM, MLPClassifier, plot  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def images():
    """40 random 4x6 'images' in [0, 1], flattened."""
    return np.random.default_rng(0).random((40, 24)).astype(np.float32)


@pytest.fixture(scope="module")
def rbm(images):
    return BernoulliRBM(5, n_iter=2, batch_size=10, random_state=0).fit(images, X_val=images[:10])


def _image(fig, index=0):
    """The array drawn by the ``index``-th Axes of ``fig``."""
    return np.asarray(fig.axes[index].images[0].get_array())


def test_tile_images_grid_shape_and_padding(images):
    fig = plot.tile_images(images[:7], shape=(4, 6), n_cols=3, padding=1, pad_value=0.25)
    assert len(fig.axes) == 1
    grid = _image(fig)
    # 3 rows and 3 columns of 4x6 images, one pixel of padding around each.
    assert grid.shape == (3 * 5 + 1, 3 * 7 + 1)
    assert grid[0, 0] == 0.25
    np.testing.assert_allclose(grid[1:5, 1:7], images[0].reshape(4, 6), rtol=1e-6)
    # The two empty cells of the last row keep the padding value.
    assert np.all(grid[11:15, 8:] == 0.25)


def test_tile_images_defaults_and_layouts(images):
    grid = _image(plot.tile_images(images[:10], shape=(4, 6)))
    assert grid.shape == (3 * 5 + 1, 4 * 7 + 1)  # ceil(sqrt(10)) = 4 columns
    # 3-D input, no padding, more columns than images.
    cube = images[:3].reshape(3, 4, 6)
    grid = _image(plot.tile_images(cube, shape=(4, 6), n_cols=10, padding=0))
    assert grid.shape == (4, 18)
    np.testing.assert_allclose(grid[:, 6:12], cube[1], rtol=1e-6)
    # A single flat image.
    assert _image(plot.tile_images(images[0], shape=(4, 6), padding=0)).shape == (4, 6)


def test_tile_images_scales(images):
    weights = 3.0 * images[:4] - 1.0  # outside [0, 1], like filters
    each = _image(plot.tile_images(weights, shape=(4, 6), n_cols=4, padding=0, scale="each"))
    for i in range(4):
        cell = each[:, 6 * i : 6 * (i + 1)]
        assert cell.min() == pytest.approx(0.0) and cell.max() == pytest.approx(1.0)
    joint = _image(plot.tile_images(weights, shape=(4, 6), n_cols=4, padding=0, scale="all"))
    assert joint.min() == pytest.approx(0.0) and joint.max() == pytest.approx(1.0)
    clipped = _image(plot.tile_images(weights, shape=(4, 6), n_cols=4, padding=0))
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    # A constant image does not divide by zero.
    flat = _image(plot.tile_images(np.ones((2, 24)), shape=(4, 6), padding=0, scale="each"))
    assert np.isfinite(flat).all()


def test_tile_images_into_given_axes(images):
    fig, ax = plt.subplots()
    assert plot.tile_images(images[:4], shape=(4, 6), ax=ax, title="four") is fig
    assert ax.get_title() == "four" and len(ax.images) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"shape": (5, 5)}, "cannot be shown as images of shape"),
        ({"shape": (4, 6), "n_cols": 0}, "n_cols must be a positive integer"),
        ({"shape": (4, 6), "scale": "sideways"}, "scale must be one of"),
        ({"shape": (4, 6), "padding": -1}, "padding must be a non-negative integer"),
    ],
)
def test_tile_images_rejects_bad_arguments(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot.tile_images(images[:4], **kwargs)


def test_tile_images_rejects_empty_and_misshapen():
    with pytest.raises(ValueError, match="empty"):
        plot.tile_images(np.empty((0, 24)), shape=(4, 6))
    with pytest.raises(ValueError, match="must have shape"):
        plot.tile_images(np.zeros((2, 5, 5)), shape=(4, 6))


def test_plot_filters_from_rbm_and_weights(rbm):
    fig = plot.plot_filters(rbm, n=3, shape=(4, 6), n_cols=3)
    assert _image(fig).shape == (5 + 1, 3 * 7 + 1)
    # n larger than the number of hidden units draws them all; raw weights give the same image.
    from_model = _image(plot.plot_filters(rbm, n=50, shape=(4, 6)))
    from_weights = _image(plot.plot_filters(rbm.components_, n=50, shape=(4, 6)))
    assert from_model.shape == (2 * 5 + 1, 3 * 7 + 1)  # 5 filters, ceil(sqrt(5)) = 3 columns
    np.testing.assert_array_equal(from_model, from_weights)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        plot.plot_filters(rbm, n=0, shape=(4, 6))
    with pytest.raises(ValueError, match="weights of shape"):
        plot.plot_filters(np.zeros(24), shape=(4, 6))


def test_plot_filters_of_higher_dbn_layers(images):
    stack = DBN([6, 4], n_iter=2, batch_size=10, random_state=0).pretrain(images)
    W1, W2 = (layer.components_.astype(np.float64) for layer in stack.layers_)
    top = _image(plot.plot_filters(stack, layer=1, shape=(4, 6), n_cols=4))
    assert top.shape == (5 + 1, 4 * 7 + 1)
    np.testing.assert_allclose(
        top, _image(plot.plot_filters(W2 @ W1, shape=(4, 6), n_cols=4)), atol=1e-6
    )
    np.testing.assert_array_equal(
        _image(plot.plot_filters(stack, layer=-1, shape=(4, 6), n_cols=4)), top
    )
    bottom = _image(plot.plot_filters(stack, layer=0, shape=(4, 6), n_cols=6))
    assert bottom.shape == (5 + 1, 6 * 7 + 1)
    with pytest.raises(ValueError, match="layer must be in"):
        plot.plot_filters(stack, layer=2, shape=(4, 6))


def test_plot_samples_panels(images):
    fig = plot.plot_samples(
        {"data": images[:5], "reconstruction": images[5:10], "long": images[:12]},
        shape=(4, 6),
        n_cols=5,
    )
    assert [ax.get_title() for ax in fig.axes] == ["data", "reconstruction", "long"]
    assert _image(fig, 0).shape == (5 + 1, 5 * 7 + 1)
    assert _image(fig, 2).shape == (3 * 5 + 1, 5 * 7 + 1)
    single = plot.plot_samples(images[:3], shape=(4, 6))
    assert len(single.axes) == 1 and single.axes[0].get_title() == ""
    assert _image(single).shape == (5 + 1, 3 * 7 + 1)
    fig, axes = plt.subplots(2, 1)
    assert plot.plot_samples({"a": images[:2], "b": images[2:4]}, shape=(4, 6), ax=axes) is fig
    with pytest.raises(ValueError, match="one Axes per panel"):
        plot.plot_samples({"a": images[:2]}, shape=(4, 6), ax=axes)
    with pytest.raises(ValueError, match="empty dict"):
        plot.plot_samples({}, shape=(4, 6))


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def test_plot_rbm_history_one_model(rbm):
    fig = plot.plot_rbm_history(rbm.history_)
    assert len(fig.axes) == 3
    reconstruction, pseudo_likelihood, free_energy = fig.axes
    (line,) = reconstruction.get_lines()
    np.testing.assert_allclose(line.get_ydata(), rbm.history_["reconstruction_error"])
    np.testing.assert_array_equal(line.get_xdata(), [1, 2])
    assert len(pseudo_likelihood.get_lines()) == 1
    # Training (solid) and validation (dashed) free energies.
    lines = _lines(free_energy)
    assert set(lines) == {"train", "validation"}
    assert lines["validation"].get_linestyle() == "--"
    np.testing.assert_allclose(lines["train"].get_ydata(), rbm.history_["free_energy_train"])


def test_plot_rbm_history_compares_runs_and_layers(rbm, images):
    no_val = BernoulliRBM(5, n_iter=3, batch_size=10, random_state=1).fit(images)
    fig = plot.plot_rbm_history(
        {"with X_val": rbm.history_, "without": no_val.history_},
        keys=("free_energy", "free_energy_gap"),
    )
    free_energy, gap = fig.axes
    # Without X_val there is no validation curve and no gap, and the run is left out there.
    assert set(_lines(free_energy)) == {
        "with X_val train",
        "with X_val validation",
        "without train",
    }
    assert set(_lines(gap)) == {"with X_val"}
    stack = DBN([6, 4], n_iter=2, batch_size=10, random_state=0).pretrain(images)
    fig = plot.plot_rbm_history(stack.history_, keys=["reconstruction_error"])
    assert set(_lines(fig.axes[0])) == {"layer 1", "layer 2"}
    fig, axes = plt.subplots(1, 2)
    assert (
        plot.plot_rbm_history(rbm.history_, keys=("free_energy", "reconstruction_error"), ax=axes)
        is fig
    )
    with pytest.raises(ValueError, match="keys must be among"):
        plot.plot_rbm_history(rbm.history_, keys=("loss",))
    with pytest.raises(ValueError, match="one Axes per key"):
        plot.plot_rbm_history(rbm.history_, ax=axes)
    with pytest.raises(TypeError, match="history must be"):
        plot.plot_rbm_history(42)


def test_plot_embedding():
    rng = np.random.default_rng(0)
    points, labels = rng.standard_normal((300, 2)), rng.integers(0, 3, 300)
    fig = plot.plot_embedding(points, labels, title="pca")
    ax = fig.axes[0]
    assert ax.get_title() == "pca"
    assert len(ax.collections) == 3  # one scatter per class
    assert sum(len(c.get_offsets()) for c in ax.collections) == 300
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2"]
    thinned = plot.plot_embedding(points, labels, max_points=50).axes[0]
    assert sum(len(c.get_offsets()) for c in thinned.collections) == 50
    unlabelled = plot.plot_embedding(points).axes[0]
    assert len(unlabelled.collections) == 1 and unlabelled.get_legend() is None
    with pytest.raises(ValueError, match=r"shape \(n_samples, 2\)"):
        plot.plot_embedding(rng.standard_normal((10, 3)))
    with pytest.raises(ValueError, match="labels has 5 entries"):
        plot.plot_embedding(points, labels[:5])


def test_plot_activation_histograms_grid():
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 12)), rng.integers(0, 3, 60)
    models = {
        name: MLPClassifier((8, 8), activation=act, init=name, random_state=0).initialize(X, y)
        for name, act in (("standard", "tanh"), ("xavier_uniform", "tanh"), ("he_normal", "relu"))
    }
    fig = plot.plot_activation_histograms_grid(models, X, y)
    assert len(fig.axes) == 6
    assert fig.axes[0].get_title().startswith("standard: activation")
    assert fig.axes[5].get_title().startswith("he_normal: back-propagated gradient")
    assert len(plot.plot_activation_histograms_grid(models, X).axes) == 3
    with pytest.raises(ValueError, match="non-empty dict"):
        plot.plot_activation_histograms_grid({}, X, y)
