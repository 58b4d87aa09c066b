"""Layer statistics against a naive computation, Glorot & Bengio's observations, recorder, plots."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from dbn import init
from dbn._validation import NotFittedError
from dbn.diagnostics import DiagnosticsRecorder, LayerStatistics, format_table, layer_statistics
from dbn.mlp import MLPClassifier

from . import naive_mlp as naive


@pytest.fixture(scope="module")
def deep_batch():
    """Glorot & Bengio's setting, scaled down: random inputs and labels, 6 layers of 256 units."""
    rng = np.random.default_rng(0)
    return rng.random((500, 256)), rng.integers(0, 10, 500)


def _deep(X, y, init_, activation="sigmoid"):
    return MLPClassifier(
        (256,) * 6, activation=activation, init=init_, random_state=0, dtype=np.float64
    ).initialize(X, y)


def _hidden(stats, field):
    return np.array([getattr(s, field) for s in stats if s.name != "output"])


def test_statistics_match_naive():
    rng = np.random.default_rng(1)
    sizes = [6, 8, 7, 3]
    coefs = [rng.standard_normal((a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    intercepts = [rng.standard_normal(b) for b in sizes[1:]]
    X, y = rng.random((40, 6)), rng.integers(0, 3, 40)
    stats = layer_statistics((coefs, intercepts), X, y, activation="sigmoid")
    _, As = naive.forward(X, coefs, intercepts, "sigmoid", "softmax")
    deltas, grads, _ = naive.gradients(X, y, coefs, intercepts, "sigmoid", "softmax")
    assert [s.name for s in stats] == ["hidden 1", "hidden 2", "output"]
    for s, A, d, g, W in zip(stats, As[1:], deltas, grads, coefs, strict=True):
        assert s.activation_mean == pytest.approx(A.mean(), rel=1e-12)
        assert s.activation_std == pytest.approx(A.std(), rel=1e-12)
        assert s.delta_std == pytest.approx(d.std() * 40, rel=1e-10)
        assert s.weight_gradient_std == pytest.approx(g.std(), rel=1e-10)
        assert s.weight_std == pytest.approx(W.std(), rel=1e-12)
    for s, A in zip(stats[:2], As[1:3], strict=True):
        assert s.saturated_fraction == pytest.approx(np.mean((A < 0.01) | (A > 0.99)))
        assert np.isnan(s.dead_fraction)
    assert np.isnan(stats[-1].saturated_fraction)


def test_relu_dead_fraction_and_missing_targets():
    rng = np.random.default_rng(2)
    X = rng.random((50, 4))
    coefs = [rng.standard_normal((4, 30)), rng.standard_normal((30, 2))]
    intercepts = [np.r_[np.full(10, -100.0), np.zeros(20)], np.zeros(2)]
    stats = layer_statistics((coefs, intercepts), X, activation="relu")
    A = np.maximum(X @ coefs[0] + intercepts[0], 0)
    assert stats[0].dead_fraction == pytest.approx(np.mean(A == 0))
    assert stats[0].dead_fraction >= 10 / 30
    assert np.isnan(stats[0].delta_std) and np.isnan(stats[0].weight_gradient_std)


def test_backpropagated_gradients_vanish_with_standard_init(deep_batch):
    """Glorot & Bengio (2010, Sec. 4.2.2 and Fig. 7): with the standard initialisation
    U(+-1/sqrt(n)), the variance of the back-propagated gradients shrinks going down the net; the
    normalised (Xavier) initialisation keeps it much steadier. In a sigmoid net each layer multiplies
    it by about fan_in Var(W) E[sigmoid'^2] = 1/3 * 1/16, i.e. the std by ~7 (here 5 layers: ~1e-4)."""
    X, y = deep_batch
    standard = layer_statistics(_deep(X, y, "standard"), X, y)
    xavier = layer_statistics(_deep(X, y, "xavier_uniform"), X, y)
    d_standard = _hidden(standard, "delta_std")
    d_xavier = _hidden(xavier, "delta_std")
    assert np.all(np.diff(d_standard) > 0)  # shrinks at every step down
    assert d_standard[0] / d_standard[-1] < 1e-3
    assert d_xavier[0] / d_xavier[-1] > 3e-2
    assert d_xavier[0] / d_xavier[-1] > 100 * d_standard[0] / d_standard[-1]


def test_tanh_activations_shrink_with_standard_init(deep_batch):
    """Glorot & Bengio (2010, Fig. 6): in a tanh net with the standard initialisation the activation
    spread shrinks layer after layer; with the normalised one it stays of the same order."""
    X, y = deep_batch
    a_standard = _hidden(layer_statistics(_deep(X, y, "standard", "tanh"), X, y), "activation_std")
    a_xavier = _hidden(
        layer_statistics(_deep(X, y, "xavier_uniform", "tanh"), X, y), "activation_std"
    )
    assert np.all(np.diff(a_standard) < 0)
    assert a_standard[-1] / a_standard[0] < 0.15
    assert a_xavier[-1] / a_xavier[0] > 0.4


def test_large_init_saturates_and_small_init_vanishes(deep_batch):
    X, y = deep_batch
    large = layer_statistics(_deep(X, y, functools.partial(init.normal, std=1.0)), X, y)
    assert np.all(_hidden(large, "saturated_fraction") > 0.5)
    small = layer_statistics(_deep(X, y, functools.partial(init.normal, std=0.01)), X, y)
    assert np.all(_hidden(small, "saturated_fraction") == 0)
    d = _hidden(small, "delta_std")
    assert d[0] / d[-1] < 1e-5
    assert small[0].weight_gradient_std < 1e-6 * small[-1].weight_gradient_std


def test_recorder_records_each_epoch():
    rng = np.random.default_rng(3)
    X, y = rng.random((100, 5)), rng.integers(0, 2, 100)
    recorder = DiagnosticsRecorder(X[:50], y[:50], every=2)
    clf = MLPClassifier((6, 4), max_iter=5, random_state=0)
    clf.fit(X, y, callbacks=[recorder])
    assert recorder.epochs == [0, 2, 4]
    assert recorder.history("activation_std").shape == (3, 3)
    # The epoch-0 record is the initialisation: it differs from the trained net's statistics.
    assert not np.allclose(recorder.history("weight_std")[0], recorder.history("weight_std")[-1])
    with pytest.raises(ValueError, match="field must be one of"):
        recorder.history("mean")


def test_model_needs_weights():
    with pytest.raises(NotFittedError, match="initialize"):
        layer_statistics(MLPClassifier(), np.ones((2, 2)))


def test_format_table():
    rng = np.random.default_rng(4)
    X, y = rng.random((30, 3)), rng.integers(0, 2, 30)
    stats = layer_statistics(MLPClassifier((4,), random_state=0).initialize(X, y), X)
    table = format_table(stats, ["activation_std", "delta_std"])
    lines = table.splitlines()
    assert lines[0].split("|")[1].strip() == "layer"
    assert len(lines) == 2 + len(stats)
    assert "hidden 1" in lines[2] and lines[2].rstrip("| ").endswith("-")  # NaN delta shown as -
    assert isinstance(stats[0], LayerStatistics)


def test_plots(deep_batch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dbn import plot

    X, y = deep_batch
    model = MLPClassifier((16, 16), random_state=0).initialize(X[:100], y[:100])
    fig = plot.plot_activation_histograms(model, X[:100], y[:100])
    assert len(fig.axes) == 2
    stats = {"xavier": layer_statistics(model, X[:100], y[:100])}
    assert len(plot.plot_layer_statistics(stats).axes) == 2
    clf = MLPClassifier((8,), max_iter=3, random_state=0).fit(X[:100], y[:100])
    assert len(plot.plot_learning_curves(clf.history_).axes) == 2
    assert len(plot.plot_learning_curves({"a": clf.history_}, keys=["train_loss"]).axes) == 1
    # Against time, the abscissa is the seconds since the start (history_['time'] is per epoch).
    fig = plot.plot_learning_curves({"a": clf.history_}, keys=["train_loss"], x="time")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), np.cumsum(clf.history_["time"]))
    plt.close("all")
