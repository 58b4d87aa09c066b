"""Likelihood evaluation: exact log Z against brute force, AIS against exact log Z, the AIS kernels
against plain NumPy, and input validation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from dbn import BernoulliRBM, GaussianBernoulliRBM, NotFittedError
from dbn._kernels import ais as kernels
from dbn.evaluation import (
    AISResult,
    ais_log_partition,
    annealing_schedule,
    exact_log_partition,
    log_likelihood,
)

from . import naive
from .conftest import skip_without_mnist

REPO = Path(__file__).resolve().parents[1]
# Kernels and enumeration are compared in float64 at one tolerance.
TOL = dict(rtol=1e-10, atol=1e-10)
APPROX = dict(rel=1e-10, abs=1e-10)
# Accuracy asked of AIS on the trained models, in nats.
AIS_TOLERANCE = 0.3


def _random_model(cls, n_visible, n_hidden, seed, *, scale=1.0, **kw):
    """An initialised model with random parameters of roughly ``scale``."""
    rng = np.random.default_rng(seed)
    model = cls(n_hidden, random_state=0, **kw)
    model._initialize(rng.random((5, n_visible)))
    model.components_[...] = rng.normal(0, scale, model.components_.shape)
    model.intercept_hidden_[...] = rng.normal(0, 1.0, n_hidden)
    model.intercept_visible_[...] = rng.normal(0, 1.0, n_visible)
    if getattr(model, "log_variance_", None) is not None:
        model.log_variance_[...] = rng.normal(0, 0.5, n_visible)
    return model


def _naive_log_z(model):
    return naive.exact_log_partition(
        model.components_, model.intercept_hidden_, model.intercept_visible_
    )


# ----------------------------------------------------------------------------- exact log Z
@pytest.mark.parametrize(
    ("n_visible", "n_hidden"), [(7, 4), (4, 7), (5, 5), (1, 6)], ids=["H<V", "V<H", "V=H", "V=1"]
)
def test_exact_log_partition_matches_full_enumeration(n_visible, n_hidden):
    for seed in range(3):
        model = _random_model(BernoulliRBM, n_visible, n_hidden, seed, scale=1.5)
        expected = _naive_log_z(model)
        assert exact_log_partition(model) == pytest.approx(expected, **APPROX)
        # Chunking must not change the sum.
        assert exact_log_partition(model, chunk_size=3) == pytest.approx(expected, **APPROX)


def test_exact_log_partition_float32_model_is_summed_in_float64():
    model = _random_model(BernoulliRBM, 6, 5, 3, scale=2.0)
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        setattr(model, name, getattr(model, name).astype(np.float32))
    expected = naive.exact_log_partition(
        *(
            getattr(model, n).astype(np.float64)
            for n in ("components_", "intercept_hidden_", "intercept_visible_")
        )
    )
    assert exact_log_partition(model) == pytest.approx(expected, **APPROX)


def test_exact_log_partition_gaussian_hidden_enumerates_visible():
    model = _random_model(BernoulliRBM, 6, 3, 4, scale=0.5, hidden_unit="gaussian")
    # rbm.free_energy is checked against numerical integration over h in test_rbm.
    expected = logsumexp(-model.free_energy(naive.all_binary_states(6)))
    assert exact_log_partition(model) == pytest.approx(expected, **APPROX)


def _integrate_density(model, n_visible, half_width=12.0, n_points=1601):
    """``log int exp(-F(v)) dv`` on a grid (trapezoid rule), for one or two visible units."""
    sigma = model.sigma_
    axes = [
        np.linspace(b - half_width * s, b + half_width * s, n_points)
        for b, s in zip(model.intercept_visible_, sigma, strict=True)
    ]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, n_visible)
    minus_f = -model.free_energy(grid)
    peak = minus_f.max()
    density = np.exp(minus_f - peak).reshape((n_points,) * n_visible)
    for axis in reversed(axes):
        density = np.trapezoid(density, axis, axis=-1)
    return peak + math.log(density)


@pytest.mark.parametrize("n_visible", [1, 2])
def test_exact_log_partition_gaussian_visible_matches_numerical_integral(n_visible):
    model = _random_model(GaussianBernoulliRBM, n_visible, 4, 10 + n_visible, learn_variance=True)
    assert not np.allclose(model.sigma_, 1.0)  # the test must see sigma
    expected = _integrate_density(model, n_visible, n_points=1601 if n_visible == 1 else 701)
    assert exact_log_partition(model) == pytest.approx(expected, rel=0, abs=1e-7)


@pytest.mark.parametrize("n_visible", [1, 2])
def test_exact_log_partition_gaussian_gaussian_closed_form(n_visible):
    model = _random_model(
        GaussianBernoulliRBM,
        n_visible,
        3,
        20 + n_visible,
        scale=0.3,
        learn_variance=True,
        hidden_unit="gaussian",
    )
    assert np.linalg.norm(model.components_, 2) < 1
    expected = _integrate_density(
        model, n_visible, half_width=25.0, n_points=2001 if n_visible == 1 else 801
    )
    assert exact_log_partition(model) == pytest.approx(expected, rel=0, abs=1e-7)


def test_exact_log_partition_refuses_improper_gaussian_model():
    model = _random_model(GaussianBernoulliRBM, 3, 2, 0, hidden_unit="gaussian")
    model.components_[...] = [[1.5, 0, 0], [0, 0.2, 0]]
    with pytest.raises(ValueError, match="no finite partition function"):
        exact_log_partition(model)
    with pytest.raises(ValueError, match="no finite partition function"):
        ais_log_partition(model, n_betas=10, n_runs=2)


def test_exact_log_partition_refuses_large_models():
    def message(model, max_units):
        with pytest.raises(ValueError) as info:
            exact_log_partition(model, max_units=max_units)
        return str(info.value)

    model = _random_model(BernoulliRBM, 12, 11, 0)
    text = message(model, 10)
    for part in ("both layers", "n_visible=12", "n_hidden=11", "max_units=10", "ais_log_partition"):
        assert part in text, text
    assert np.isfinite(exact_log_partition(model, max_units=11))  # 2**11 hidden states
    # Only the binary layer can be enumerated when the other is continuous.
    text = message(_random_model(GaussianBernoulliRBM, 2, 9, 0), 8)
    for part in ("hidden layer, the only binary one", "n_hidden=9", "ais_log_partition"):
        assert part in text, text
    text = message(_random_model(BernoulliRBM, 9, 2, 0, hidden_unit="gaussian", scale=0.1), 8)
    for part in ("visible layer, the only binary one", "n_visible=9", "ais_log_partition"):
        assert part in text, text


# ----------------------------------------------------------------------------- AIS kernels
@pytest.mark.parametrize("scale", [2.0, 30.0], ids=["moderate", "extreme"])
def test_ais_visible_kernels_match_numpy(scale):
    # Moderate inputs make many samples depend on the exact probability; extreme ones exercise the
    # overflow guards.
    rng = np.random.default_rng(0)
    R, V = 60, 9
    pre = rng.normal(0, scale, (R, V))
    base, target, sigma = rng.normal(0, 3, V), rng.normal(0, 3, V), np.exp(rng.normal(0, 0.5, V))
    uniform, normal = rng.random((R, V)), rng.standard_normal((R, V))
    for beta in (0.0, 0.37, 1.0):
        out, term = np.empty((R, V)), np.empty(R)
        kernels.ais_visible_bernoulli(pre, base, target, beta, uniform, out, term)
        state = (uniform < expit((1 - beta) * base + beta * (target + pre))).astype(float)
        np.testing.assert_array_equal(out, state)
        np.testing.assert_allclose(term, state @ (target - base), **TOL)

        kernels.ais_visible_gaussian(pre, base, target, sigma, beta, normal, out, term)
        v = (1 - beta) * base + beta * target + beta * sigma * pre + sigma * normal
        np.testing.assert_allclose(out, v / sigma, **TOL)
        expected = np.sum(((v - base) ** 2 - (v - target) ** 2) / (2 * sigma**2), axis=1)
        np.testing.assert_allclose(term, expected, **TOL)


@pytest.mark.parametrize("scale", [2.0, 30.0], ids=["moderate", "extreme"])
def test_ais_hidden_kernels_match_numpy(scale):
    rng = np.random.default_rng(1)
    R, H = 60, 8
    pre, bias = rng.normal(0, scale, (R, H)), rng.normal(0, 2, H)
    term, uniform, normal = rng.normal(0, 5, R), rng.random((R, H)), rng.standard_normal((R, H))
    x = pre + bias
    for old, new in ((0.0, 0.001), (0.5, 0.5001), (0.99, 1.0)):
        log_weights, out = np.full(R, 2.0), np.empty((R, H))
        kernels.ais_hidden_bernoulli(pre, bias, old, new, term, uniform, out, log_weights)
        increment = (new - old) * term + np.sum(
            np.logaddexp(0, new * x) - np.logaddexp(0, old * x), axis=1
        )
        np.testing.assert_allclose(log_weights, 2.0 + increment, **TOL)
        np.testing.assert_array_equal(out, (uniform < expit(new * x)).astype(float))

        log_weights = np.full(R, 2.0)
        kernels.ais_hidden_gaussian(pre, bias, old, new, term, normal, out, log_weights)
        increment = (new - old) * term + 0.5 * (new**2 - old**2) * np.sum(x**2, axis=1)
        np.testing.assert_allclose(log_weights, 2.0 + increment, **TOL)
        np.testing.assert_allclose(out, new * x + normal, **TOL)
    # Without random numbers (the last step) the weights still move and nothing is sampled.
    log_weights, out = np.zeros(R), np.full((R, H), 7.0)
    kernels.ais_hidden_bernoulli(pre, bias, 0.9, 1.0, term, None, out, log_weights)
    assert np.all(out == 7.0) and np.all(log_weights != 0)


def test_annealing_schedule():
    betas = annealing_schedule(14501)
    steps = np.diff(betas)
    # Salakhutdinov & Murray (2008): 500 steps of 1e-3, 4,000 of 1e-4, 10,000 of 1e-5.
    np.testing.assert_allclose(steps[:500], 1e-3)
    np.testing.assert_allclose(steps[500:4500], 1e-4)
    np.testing.assert_allclose(steps[4500:], 1e-5)
    for n in (2, 5, 29, 30, 1000, 10000):
        betas = annealing_schedule(n)
        assert betas.shape == (n,) and betas[0] == 0 and betas[-1] == 1
        assert np.all(np.diff(betas) > 0)


# ----------------------------------------------------------------------------- AIS: exactness
def test_ais_single_step_is_importance_sampling_from_the_base_model():
    """With betas [0, 1], log w = -F(v) - log p*_A(v) for v drawn from the base-rate model."""
    model = _random_model(BernoulliRBM, 7, 5, 2)
    rate = np.linspace(0.1, 0.9, 7)
    result = ais_log_partition(model, n_betas=[0.0, 1.0], n_runs=50, base_rate=rate, random_state=3)
    v = (np.random.default_rng(3).random((50, 7)) < rate).astype(float)
    base_bias = np.log(rate / (1 - rate))
    log_p_base = v @ base_bias + 5 * math.log(2)
    np.testing.assert_allclose(result.log_weights, -model.free_energy(v) - log_p_base, **TOL)
    assert result.log_z_base == pytest.approx(np.sum(np.log1p(np.exp(base_bias))) + 5 * math.log(2))
    # From data, the base rate is the smoothed frequency (count + 1) / (n + 2) of each unit.
    data = np.zeros((8, 7))
    data[:, 0], data[:3, 1] = 1.0, 1.0
    p = (data.sum(0) + 1) / 10
    result = ais_log_partition(model, n_betas=[0.0, 1.0], n_runs=5, data=data, random_state=0)
    assert result.log_z_base == pytest.approx(-np.sum(np.log1p(-p)) + 5 * math.log(2))


UNIT_TYPES = {
    "bernoulli-bernoulli": (BernoulliRBM, {}),
    "bernoulli-gaussian": (BernoulliRBM, {"hidden_unit": "gaussian"}),
    "gaussian-bernoulli": (GaussianBernoulliRBM, {"learn_variance": True}),
    "gaussian-gaussian": (
        GaussianBernoulliRBM,
        {"learn_variance": True, "hidden_unit": "gaussian"},
    ),
}


@pytest.mark.parametrize("units", UNIT_TYPES)
def test_ais_is_unbiased_with_a_coarse_schedule(units):
    """Z_hat / Z has mean 1 for any schedule if each transition leaves its p_k invariant.

    With only 8 temperatures the estimate leans on the transitions: sampling at the wrong beta, or
    a wrong conditional, biases it far beyond the error bars of 20,000 runs.
    """
    cls, kw = UNIT_TYPES[units]
    gaussian_hidden = kw.get("hidden_unit") == "gaussian"
    model = _random_model(cls, 4, 3, 5, scale=0.35 if gaussian_hidden else 1.0, **kw)
    exact = exact_log_partition(model)
    result = ais_log_partition(model, n_betas=8, n_runs=20000, random_state=0)
    assert result.effective_sample_size > 1000  # the weights are not degenerate
    assert abs(result.log_z - exact) < 4 * result.log_z_std, (result, exact)


def _bars_and_stripes_model(side, n_hidden, **kw):
    data = naive.bars_and_stripes(side)
    model = BernoulliRBM(
        n_hidden,
        learning_rate=0.1,
        batch_size=len(data),
        n_iter=150,
        weight_decay=0.0,
        init_std=0.1,
        final_momentum=0.5,
        monitor_size=0,
        random_state=0,
        **kw,
    )
    return model.fit(np.repeat(data, 20, axis=0)), data


def _mnist_patch_model(side, n_hidden, dtype=np.float64, **kw):
    home = skip_without_mnist()  # DBN_DATA_HOME, the user cache, ../shared/data
    from dbn.datasets import load_mnist

    X, _ = load_mnist("test", data_home=home, as_float=True, download=False)
    lo = 14 - side // 2
    patches = X[:2000].reshape(-1, 28, 28)[:, lo : lo + side, lo : lo + side]
    data = (patches.reshape(2000, -1) > 0.5).astype(dtype)
    model = BernoulliRBM(
        n_hidden, learning_rate=0.05, batch_size=50, n_iter=20, monitor_size=0, random_state=0, **kw
    )
    return model.fit(data), data


TRAINED = {
    # 3x3 bars and stripes: 9 visible < 10 hidden units, exact log Z enumerates the visible layer.
    "bas3-cd1": lambda: _bars_and_stripes_model(3, 10),
    # 4x4: 16 visible > 10 or 12 hidden, exact log Z enumerates the hidden layer.
    "bas4-cd1": lambda: _bars_and_stripes_model(4, 10),
    "bas4-pcd": lambda: _bars_and_stripes_model(4, 12, persistent=True, n_chains=30),
    "mnist5x5-cd1": lambda: _mnist_patch_model(5, 10),
    "mnist4x4-cd3-float32": lambda: _mnist_patch_model(4, 18, np.float32, k=3),
}


@pytest.fixture(scope="module", params=list(TRAINED))
def trained(request):
    model, data = TRAINED[request.param]()
    return model, data, exact_log_partition(model)


def test_ais_matches_exact_log_partition_on_trained_models(trained):
    model, data, exact = trained
    data_before = data.copy()
    result = ais_log_partition(model, n_betas=3000, n_runs=100, data=data, random_state=0)
    np.testing.assert_array_equal(data, data_before)  # inputs are not mutated
    assert abs(result.log_z - exact) < AIS_TOLERANCE, (result, exact)
    assert result.lower <= exact <= result.upper, (result, exact)
    assert result.lower <= result.log_z <= result.upper
    assert result.n_runs == 100 and result.n_betas == 3000
    assert result.log_weights.shape == (100,) and result.log_weights.dtype == np.float64
    # The bounds carry over to the log-likelihood, in the reverse order.
    ll, ll_lower, ll_upper = log_likelihood(model, data, result, return_bounds=True)
    assert ll_lower <= log_likelihood(model, data, exact) <= ll_upper
    assert ll == pytest.approx(log_likelihood(model, data, result.log_z), abs=1e-12)


def test_ais_same_seed_same_estimate(trained):
    model, data, _ = trained
    run = lambda seed: ais_log_partition(  # noqa: E731
        model, n_betas=200, n_runs=20, data=data, random_state=seed
    )
    first, again, other = run(7), run(7), run(8)
    np.testing.assert_array_equal(first.log_weights, again.log_weights)
    assert first.log_z == again.log_z
    assert not np.array_equal(first.log_weights, other.log_weights)
    generator = ais_log_partition(
        model, n_betas=200, n_runs=20, data=data, random_state=np.random.default_rng(7)
    )
    np.testing.assert_array_equal(first.log_weights, generator.log_weights)


@pytest.mark.parametrize("case", ["bas3-cd1", "random"])
def test_log_likelihood_matches_enumeration(case):
    # The naive reference enumerates every joint state: 2**19 for the 9-10 bars-and-stripes model.
    if case == "random":
        model = _random_model(BernoulliRBM, 7, 6, 11, scale=1.5)
        data = naive.all_binary_states(7)[::3]
    else:
        model, data = TRAINED[case]()
    exact = exact_log_partition(model)
    expected = naive.exact_log_likelihood(
        data, model.components_, model.intercept_hidden_, model.intercept_visible_
    )
    assert log_likelihood(model, data, exact) == pytest.approx(expected, **APPROX)
    assert log_likelihood(model, data, np.float64(exact)) == pytest.approx(expected, **APPROX)


@pytest.mark.parametrize("units", UNIT_TYPES)
def test_log_likelihood_uses_the_model_free_energy(units):
    cls, kw = UNIT_TYPES[units]
    model = _random_model(cls, 5, 4, 9, scale=0.3, **kw)
    rng = np.random.default_rng(0)
    X = rng.random((20, 5)) < 0.5 if cls is BernoulliRBM else rng.normal(0, 2, (20, 5))
    X = X.astype(np.float64)
    expected = -model.free_energy(X).mean() - 1.25
    assert log_likelihood(model, X, 1.25) == pytest.approx(expected, **APPROX)


def test_log_likelihood_normalises_tiny_gaussian_model():
    """``log p`` of a Gaussian-visible model integrates to 1 (checks F and log Z together)."""
    model = _random_model(GaussianBernoulliRBM, 1, 3, 4, learn_variance=True)
    grid = np.linspace(-15, 15, 30001)[:, None] * model.sigma_ + model.intercept_visible_
    log_z = exact_log_partition(model)
    density = np.exp([log_likelihood(model, row[None, :], log_z) for row in grid[::10]])
    assert np.trapezoid(density, grid[::10, 0]) == pytest.approx(1.0, abs=1e-6)


def test_ais_result_summary_handles_spread_weights():
    from dbn.evaluation import _summarise

    # Weights exp(0) and exp(30): the mean is dominated by one run, mean - 3 se < 0.
    result = _summarise(np.array([0.0, 30.0]), 1.0, 10)
    assert result.lower == -math.inf and np.isfinite(result.upper)
    assert result.log_z == pytest.approx(1.0 + 30.0 + math.log((1 + math.exp(-30)) / 2))
    assert result.effective_sample_size == pytest.approx(1.0, rel=1e-9)
    single = _summarise(np.array([2.0]), 1.0, 10)
    assert single.log_z == 3.0 and math.isnan(single.log_z_std)
    assert (single.lower, single.upper) == (-math.inf, math.inf)
    assert float(single) == 3.0
    assert "log_weights" not in repr(single)


# ----------------------------------------------------------------------------- validation
@pytest.fixture(scope="module")
def small_model():
    return _random_model(BernoulliRBM, 6, 4, 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(n_runs=-1), ValueError, "n_runs"),
        (dict(n_runs=0), ValueError, "n_runs"),
        (dict(n_runs=2.5), TypeError, "n_runs"),
        (dict(n_betas=1), ValueError, "n_betas"),
        (dict(n_betas=True), TypeError, "n_betas"),
        (dict(n_betas="many"), TypeError, "n_betas"),
        (dict(n_betas=[0.0, 0.5]), ValueError, "n_betas"),
        (dict(n_betas=[0.0, 0.7, 0.5, 1.0]), ValueError, "non-decreasing"),
        (dict(n_betas=[[0.0, 1.0]]), TypeError, "n_betas"),
        (dict(base_rate=np.full(5, 0.5)), ValueError, "base_rate"),
        (dict(base_rate=np.full(6, 1.0)), ValueError, "base_rate"),
        (dict(base_rate=np.full(6, 0.5), data=np.zeros((3, 6))), ValueError, "either"),
        (dict(data=np.zeros((3, 5))), ValueError, "data has 5 features"),
        (dict(data=np.full((3, 6), 2.0)), ValueError, "data must lie in"),
        (dict(random_state="seed"), TypeError, "random_state"),
    ],
)
def test_ais_rejects_bad_arguments(small_model, kwargs, error, match):
    with pytest.raises(error, match=match):
        ais_log_partition(small_model, **{"n_betas": 10, "n_runs": 4, **kwargs})


def test_log_likelihood_rejects_bad_arguments(small_model):
    X = naive.all_binary_states(6)
    with pytest.raises(ValueError, match="X has 5 features"):
        log_likelihood(small_model, X[:, :5], 1.0)
    with pytest.raises(ValueError, match="binary"):
        log_likelihood(small_model, X * 0.5, 1.0)
    with pytest.raises(ValueError, match=r"X must lie in \[0.0, 1.0\]"):
        log_likelihood(small_model, X * 2, 1.0)
    with pytest.raises(TypeError, match="log_z"):
        log_likelihood(small_model, X, "1.0")
    with pytest.raises(ValueError, match="log_z must be finite"):
        log_likelihood(small_model, X, math.nan)
    with pytest.raises(ValueError, match="return_bounds"):
        log_likelihood(small_model, X, 1.0, return_bounds=True)


def test_functions_reject_unfitted_or_foreign_models(small_model):
    with pytest.raises(NotFittedError):
        exact_log_partition(BernoulliRBM(4))
    with pytest.raises(TypeError, match="rbm must be"):
        ais_log_partition(np.zeros((4, 6)))
    with pytest.raises(ValueError, match="max_units"):
        exact_log_partition(small_model, max_units=-1)
    with pytest.raises(TypeError, match="chunk_size"):
        exact_log_partition(small_model, chunk_size=2.0)
    broken = _random_model(BernoulliRBM, 6, 4, 0)
    broken.components_[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        exact_log_partition(broken)


def test_ais_result_is_exported():
    result = ais_log_partition(
        _random_model(BernoulliRBM, 3, 2, 0), n_betas=5, n_runs=3, random_state=0
    )
    assert isinstance(result, AISResult)
