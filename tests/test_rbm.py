"""Correctness of the RBM estimators: kernels against a naive reference, exact enumeration, learning."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit

from dbn import (
    DBN,
    BernoulliRBM,
    Callback,
    DataRangeWarning,
    DivergenceError,
    GaussianBernoulliRBM,
    NotFittedError,
)
from dbn._cd import ContrastiveDivergence
from dbn._kernels import activations
from dbn._kernels import rbm as kernels
from dbn.out_of_core import pretrain_out_of_core

from . import naive

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.default_rng(0)
    prototypes = (rng.random((4, 24)) < 0.5).astype(float)
    X = prototypes[rng.integers(0, 4, 400)]
    flips = rng.random(X.shape) < 0.05
    return np.abs(X - flips).astype(np.float64)


# ----------------------------------------------------------------------------- kernels
def test_sigmoid_and_softplus_extremes():
    for x in (-1000.0, -50.0, -1e-8, 0.0, 1e-8, 50.0, 1000.0):
        assert np.isfinite(activations.sigmoid(x))
        assert activations.sigmoid(x) == pytest.approx(expit(x), rel=1e-12, abs=1e-300)
        s32 = activations.sigmoid_f32(np.float32(x))
        assert np.isfinite(s32) and s32 == pytest.approx(expit(x), rel=5e-7, abs=1e-38)
        assert kernels.stable_softplus(x) == pytest.approx(np.logaddexp(0, x), rel=1e-12)
    assert kernels.stable_softplus(-1000.0) == 0.0
    assert kernels.stable_softplus(1000.0) == 1000.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bernoulli_units_kernel(dtype):
    rng = np.random.default_rng(1)
    pre = rng.normal(0, 30, (7, 5)).astype(dtype)
    bias = rng.normal(size=5).astype(dtype)
    key = np.uint64(rng.bit_generator.random_raw())
    uniform = naive.uniform_stream(key, (7, 5), dtype)
    mean, sample = np.empty_like(pre), np.empty_like(pre)
    kernels.bernoulli_units(pre, bias, key, mean, sample)
    expected = expit(pre.astype(np.float64) + bias)
    np.testing.assert_allclose(mean, expected, **TOL[dtype])
    np.testing.assert_array_equal(sample, (uniform < mean).astype(dtype))

    # Means written over the pre-activations (the DBM's Gibbs sweeps; a kernel of its own, which
    # LLVM vectorises): the same bits as into a separate array.
    in_place, in_place_sample = pre.copy(), np.empty_like(pre)
    kernels.bernoulli_units(in_place, bias, key, in_place, in_place_sample)
    np.testing.assert_array_equal(in_place, mean)
    np.testing.assert_array_equal(in_place_sample, sample)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sample", [True, False])
@pytest.mark.parametrize("statistic_is_sample", [True, False])
def test_bernoulli_units_with_statistics_kernel(dtype, sample, statistic_is_sample):
    rng = np.random.default_rng(2)
    pre = rng.normal(0, 3, (6, 9)).astype(dtype)
    bias = rng.normal(size=9).astype(dtype)
    key = np.uint64(rng.bit_generator.random_raw())
    column_sum = rng.normal(size=9).astype(dtype)
    before = column_sum.copy()
    mean, state, stat = (np.full_like(pre, np.nan) for _ in range(3))
    kernels.bernoulli_units_with_statistics(
        pre,
        bias,
        key,
        sample,
        statistic_is_sample,
        mean,
        state,
        dtype(0.25),
        stat,
        dtype(-0.5),
        column_sum,
    )
    expected_mean = expit(pre.astype(np.float64) + bias)
    np.testing.assert_allclose(mean, expected_mean, **TOL[dtype])
    expected_state = (naive.uniform_stream(key, pre.shape, dtype) < mean).astype(dtype)
    if sample:
        np.testing.assert_array_equal(state, expected_state)
    else:
        assert np.isnan(state).all()  # not written
    used = expected_state if sample and statistic_is_sample else mean
    np.testing.assert_allclose(stat, 0.25 * used, **TOL[dtype])
    np.testing.assert_allclose(column_sum, before - 0.5 * used.sum(axis=0), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gather_rows_with_column_mean_kernel(dtype):
    X = np.random.default_rng(3).random((20, 7)).astype(dtype)
    rows = np.array([4, 0, 19, 4, 7])
    out, mean = np.empty((5, 7), dtype), np.empty(7, dtype)
    kernels.gather_rows_with_column_mean(X, rows, out, mean)
    np.testing.assert_array_equal(out, X[rows])
    np.testing.assert_allclose(mean, X[rows].mean(axis=0), **TOL[dtype])


def test_momentum_step_reports_non_finite():
    p, v, g = np.ones(4), np.zeros(4), np.array([1.0, np.inf, 0.0, 0.0])
    assert not kernels.momentum_step(p, v, g, 0.1, 0.5, 0.0)
    p, v, g = np.ones(4), np.full(4, 0.2), np.full(4, 2.0)
    assert kernels.momentum_step(p, v, g, 0.1, 0.5, 0.01)
    np.testing.assert_allclose(v, 0.5 * 0.2 + 0.1 * (2.0 - 0.01))
    np.testing.assert_allclose(p, 1 + v)


# ----------------------------------------------------------------------------- CD step
CASES = {
    "cd1": dict(),
    "cd3": dict(k=3),
    "cd2-sampled": dict(k=2, positive_hidden="samples", sample_visible=True),
    "pcd": dict(persistent=True, k=1),
    "pcd5": dict(persistent=True, k=5),
    "gaussian-hidden": dict(hidden_unit="gaussian"),
    "gaussian-visible": dict(visible="gaussian"),
    "gaussian-visible-learned-variance": dict(visible="gaussian", learn_variance=True, k=2),
}


def _model_for(case, dtype, n_visible=12, n_hidden=7):
    case = dict(case)
    visible = case.pop("visible", "bernoulli")
    learn_variance = case.pop("learn_variance", False)
    common = dict(
        n_components=n_hidden,
        batch_size=10,
        learning_rate=0.05,
        weight_decay=0.001,
        momentum=0.5,
        random_state=3,
        **case,
    )
    if visible == "gaussian":
        model = GaussianBernoulliRBM(learn_variance=learn_variance, **common)
    else:
        model = BernoulliRBM(**common)
    rng = np.random.default_rng(11)
    if visible == "gaussian":
        X = rng.standard_normal((30, n_visible)).astype(dtype)
    else:
        X = (rng.random((30, n_visible)) < 0.4).astype(dtype)
    model._validate_params()
    model._initialize(X)
    model.components_[...] = rng.normal(0, 0.3, model.components_.shape)
    model.intercept_hidden_[...] = rng.normal(0, 0.2, n_hidden)
    model.intercept_visible_[...] = rng.normal(0, 0.2, n_visible)
    if learn_variance:
        model.log_variance_[...] = rng.normal(0, 0.2, n_visible)
    for vel in model._contrastive_divergence().velocity.values():
        vel[...] = rng.normal(0, 0.01, vel.shape)
    return model, X, visible, learn_variance


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(CASES))
def test_cd_step_matches_naive_reference(name, dtype):
    case = CASES[name]
    model, X, visible, learn_variance = _model_for(case, dtype)
    key = {
        "components_": "W",
        "intercept_hidden_": "c",
        "intercept_visible_": "b",
        "log_variance_": "z",
    }
    # The estimator's CD step object, bound to the model's parameter arrays.
    cd = model._contrastive_divergence()
    assert all(cd.parameters[n] is getattr(model, n) for n in model._parameter_names())
    params = {key[n]: getattr(model, n).copy() for n in model._parameter_names()}
    velocity = {key[n]: v.copy() for n, v in cd.velocity.items()}
    chain = None if cd.chains is None else cd.chains.copy()
    for step in range(3):  # several steps, so momentum and persistent chains are exercised
        v0 = X[step * 10 : (step + 1) * 10]
        assert cd.step(v0.copy(), 0.05, 0.5, np.random.default_rng(100 + step))
        chain = naive.naive_cd_step(
            params,
            velocity,
            chain,
            v0,
            np.random.default_rng(100 + step),
            k=model.k,
            lr=0.05,
            momentum=0.5,
            weight_decay=0.001,
            persistent=model.persistent,
            positive_hidden=model.positive_hidden,
            sample_visible=model.sample_visible,
            visible=visible,
            hidden=model.hidden_unit,
            learn_variance=learn_variance,
        )
    for n in model._parameter_names():
        np.testing.assert_allclose(getattr(model, n), params[key[n]], **TOL[dtype], err_msg=n)
        assert getattr(model, n).dtype == dtype
    if model.persistent:
        np.testing.assert_array_equal(cd.chains, chain)


def test_sparsity_penalty_pushes_activity_to_target(binary_data):
    free = BernoulliRBM(32, n_iter=15, batch_size=20, random_state=0).fit(binary_data)
    sparse = BernoulliRBM(
        32, n_iter=15, batch_size=20, random_state=0, sparsity_target=0.05, sparsity_cost=1.0
    ).fit(binary_data)
    a_free = free.transform(binary_data).mean()
    a_sparse = sparse.transform(binary_data).mean()
    assert a_sparse < 0.5 * a_free
    assert abs(a_sparse - 0.05) < 0.05


# ----------------------------------------------------------------------------- exact maths
def _random_binary_model(rng, n_visible=6, n_hidden=4, **kw):
    model = BernoulliRBM(n_hidden, random_state=0, **kw)
    X = (rng.random((5, n_visible)) < 0.5).astype(np.float64)
    model._initialize(X)
    model.components_[...] = rng.normal(0, 1.0, model.components_.shape)
    model.intercept_hidden_[...] = rng.normal(0, 1.0, n_hidden)
    model.intercept_visible_[...] = rng.normal(0, 1.0, n_visible)
    return model


def test_free_energy_matches_enumeration():
    rng = np.random.default_rng(5)
    model = _random_binary_model(rng)
    V = naive.all_binary_states(6)
    expected = naive.exact_free_energy(
        V, model.components_, model.intercept_hidden_, model.intercept_visible_
    )
    np.testing.assert_allclose(model.free_energy(V), expected, rtol=1e-12)


def test_marginals_match_enumeration():
    rng = np.random.default_rng(6)
    model = _random_binary_model(rng)
    W, c, b = model.components_, model.intercept_hidden_, model.intercept_visible_
    V = naive.all_binary_states(6)
    H = naive.all_binary_states(4)
    joint = np.exp(-naive.energy(V, H, W, c, b))
    joint /= joint.sum()
    # p(v) from the free energy and log Z equals the brute-force marginal.
    log_z = naive.exact_log_partition(W, c, b)
    np.testing.assert_allclose(np.exp(-model.free_energy(V) - log_z), joint.sum(1), rtol=1e-10)
    # p(h_j = 1 | v) from transform equals the brute-force conditional.
    conditional = (joint / joint.sum(1, keepdims=True)) @ H
    np.testing.assert_allclose(model.transform(V), conditional, rtol=1e-10)


def test_score_samples_is_the_naive_pseudo_likelihood():
    rng = np.random.default_rng(9)
    model = _random_binary_model(rng)  # random_state=0 draws the flipped features
    X = (rng.random((40, 6)) < 0.5).astype(np.float64)
    flip = np.random.default_rng(0).integers(0, 6, 40)
    expected = naive.pseudo_log_likelihood(
        X, model.components_, model.intercept_hidden_, model.intercept_visible_, flip
    )
    np.testing.assert_allclose(model.score_samples(X), expected, rtol=1e-10)
    assert model.score(X) == pytest.approx(expected.mean(), rel=1e-10)


def test_gaussian_hidden_free_energy_matches_numerical_integral():
    rng = np.random.default_rng(7)
    model = _random_binary_model(rng, n_visible=3, n_hidden=1, hidden_unit="gaussian")
    W, c, b = model.components_, model.intercept_hidden_, model.intercept_visible_
    V = naive.all_binary_states(3)
    h = np.linspace(-40, 40, 400001)
    x = V @ W.T + c  # (8, 1)
    integrand = np.exp(V @ b[:, None] + x * h[None, :] - 0.5 * h[None, :] ** 2)
    expected = -np.log(np.trapezoid(integrand, h, axis=1))
    np.testing.assert_allclose(model.free_energy(V), expected, rtol=1e-8)


def test_gaussian_visible_statistics_are_free_energy_gradients():
    """Data statistics of b and log sigma^2 equal -dF/dtheta (finite differences)."""
    rng = np.random.default_rng(8)
    model = GaussianBernoulliRBM(3, learn_variance=True, random_state=0)
    X = rng.standard_normal((4, 5))
    model._initialize(X)
    model.components_[...] = rng.normal(0, 0.5, (3, 5))
    model.intercept_visible_[...] = rng.normal(0, 0.5, 5)
    model.log_variance_[...] = rng.normal(0, 0.3, 5)
    sigma = model.sigma_
    h_mean = model.transform(X)
    grad_b, grad_z = np.zeros(5), np.zeros(5)
    kernels.gaussian_visible_statistics(
        X, model.intercept_visible_, sigma, h_mean @ model.components_, grad_b, grad_z, 1.0
    )
    eps = 1e-6
    for name, grad in (("intercept_visible_", grad_b), ("log_variance_", grad_z)):
        numeric = np.zeros(5)
        for i in range(5):
            param = getattr(model, name)
            old = param[i]
            param[i] = old + eps
            up = model.free_energy(X).mean()
            param[i] = old - eps
            down = model.free_energy(X).mean()
            param[i] = old
            numeric[i] = -(up - down) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(k=3), dict(persistent=True, n_chains=100)],
    ids=["cd1", "cd3", "pcd"],
)
def test_exact_log_likelihood_rises_on_bars_and_stripes(kw):
    data = naive.bars_and_stripes(3)  # 9 visible units: 14 distinct patterns
    X = np.repeat(data, 20, axis=0)
    lls = []

    def record(model, epoch, _):
        if epoch % 20 == 0 or epoch == model.n_iter - 1:
            lls.append(
                naive.exact_log_likelihood(
                    data, model.components_, model.intercept_hidden_, model.intercept_visible_
                )
            )

    # Momentum stays at 0.5: CD on bars-and-stripes is known to drift away from the maximum
    # likelihood with aggressive steps (Fischer & Igel 2010).
    model = BernoulliRBM(
        8,
        learning_rate=0.1,
        batch_size=14,
        n_iter=120,
        weight_decay=0.0,
        random_state=0,
        init_std=0.1,
        final_momentum=0.5,
        **kw,
    )
    model.fit(X, callbacks=[record])
    uniform = -np.log(len(data))  # the best any model can do on this data
    assert lls[-1] > lls[0] + 1.5, lls
    assert lls[-1] > uniform - 1.5, (lls, uniform)


def test_learned_variance_recovers_the_variance_of_each_feature():
    rng = np.random.default_rng(0)
    std = np.array([0.5, 1.0, 2.0, 3.0, 0.8, 1.5])
    X = rng.standard_normal((2000, 6)) * std + np.array([1.0, -2.0, 0.0, 3.0, 0.5, 0.0])
    # Sampled reconstructions: with mean-field ones the model term of the variance statistic
    # misses the visible noise, and sigma grows far beyond the data's (about 7x in 30 epochs).
    model = GaussianBernoulliRBM(
        4,
        learn_variance=True,
        sample_visible=True,
        learning_rate=0.01,
        n_iter=30,
        batch_size=50,
        monitor_size=0,
        random_state=0,
    ).fit(X)
    np.testing.assert_allclose(model.sigma_, X.std(axis=0), rtol=0.06)
    # The model's own samples have the data's spread and centre.
    samples = model.sample(2000, n_steps=50, random_state=1)
    np.testing.assert_allclose(samples.std(axis=0), X.std(axis=0), rtol=0.1)
    assert np.all(np.abs(samples.mean(axis=0) - X.mean(axis=0)) < 0.15 * std)


def test_callback_numbering_and_stop_rule(binary_data):
    seen = []

    class Record(Callback):
        def on_epoch_end(self, model, epoch, logs):
            seen.append(("new", epoch, logs["epoch"], model.n_iter_))
            return np.True_ if epoch == 3 else None  # any truthy value stops

    def old(model, epoch, logs):
        seen.append(("old", epoch))

    with pytest.warns(DeprecationWarning, match="0-based epoch index") as caught:
        rbm = BernoulliRBM(4, n_iter=5, batch_size=50, random_state=0)
        rbm.fit(binary_data, callbacks=[Record(), old])
    assert caught[0].filename == __file__  # the warning names the caller's line
    assert seen == [
        ("new", 1, 1, 1), ("old", 0), ("new", 2, 2, 2), ("old", 1), ("new", 3, 3, 3), ("old", 2)
    ]  # fmt: skip
    assert rbm.n_iter_ == 3 and len(rbm.history_["epoch"]) == 3


# ----------------------------------------------------------------------------- estimator contract
def test_fit_transform_shapes_and_dtypes(binary_data):
    for dtype in (np.float32, np.float64):
        X = binary_data.astype(dtype)
        rbm = BernoulliRBM(10, n_iter=2, batch_size=50, random_state=0).fit(X)
        assert rbm.components_.shape == (10, 24) and rbm.components_.dtype == dtype
        assert rbm.intercept_hidden_.shape == (10,) and rbm.intercept_visible_.shape == (24,)
        H = rbm.transform(X)
        assert H.shape == (400, 10) and H.dtype == dtype
        assert rbm.free_energy(X).shape == (400,)
        assert set(rbm.history_) >= {"reconstruction_error", "pseudo_likelihood", "time"}
        assert len(rbm.history_["reconstruction_error"]) == 2


def test_same_seed_same_weights_and_inputs_untouched(binary_data):
    X = binary_data.copy()
    a = BernoulliRBM(10, n_iter=3, batch_size=40, random_state=42).fit(X)
    b = BernoulliRBM(10, n_iter=3, batch_size=40, random_state=42).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(X, binary_data)
    c = BernoulliRBM(10, n_iter=3, batch_size=40, random_state=43).fit(X)
    assert not np.array_equal(a.components_, c.components_)


def test_sparse_input_matches_dense(binary_data):
    dense = BernoulliRBM(8, n_iter=2, batch_size=50, random_state=1).fit(binary_data)
    sparse = BernoulliRBM(8, n_iter=2, batch_size=50, random_state=1).fit(
        sp.csr_matrix(binary_data)
    )
    np.testing.assert_allclose(sparse.components_, dense.components_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        sparse.transform(sp.csr_matrix(binary_data)), dense.transform(binary_data), rtol=1e-10
    )


def test_partial_fit_on_minibatches_equals_one_unshuffled_epoch(binary_data):
    fit = BernoulliRBM(8, n_iter=1, batch_size=50, shuffle=False, random_state=3).fit(binary_data)
    part = BernoulliRBM(8, batch_size=50, shuffle=False, random_state=3)
    # fit draws its monitoring subset from a separate stream, so the training streams agree.
    part._validate_params()
    part._initialize(binary_data)
    for start in range(0, 400, 50):
        part.partial_fit(binary_data[start : start + 50])
    np.testing.assert_allclose(part.components_, fit.components_, rtol=1e-12)


def test_partial_fit_from_scratch_learns(binary_data):
    rbm = BernoulliRBM(8, batch_size=50, random_state=3)
    for _ in range(5):
        for start in range(0, 400, 50):
            rbm.partial_fit(binary_data[start : start + 50])
    assert rbm.components_.shape == (8, 24)
    assert np.abs(rbm.components_).max() > 0.1


def test_sklearn_pipeline_clone_and_grid_search():
    pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rbm = BernoulliRBM(32, n_iter=10, batch_size=20, learning_rate=0.05, random_state=0)
    assert clone(rbm).get_params() == rbm.get_params()
    rbm.set_params(n_components=100)
    assert rbm.n_components == 100
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        rbm.set_params(bogus=1)
    pipe = Pipeline([("rbm", rbm), ("clf", LogisticRegression(max_iter=1000, C=100))])
    pipe.fit(X[:1200], y[:1200])
    assert pipe.score(X[1200:], y[1200:]) > 0.88
    pipe.set_params(rbm__n_components=16, rbm__n_iter=2)
    search = GridSearchCV(pipe, {"rbm__learning_rate": [0.01, 0.05]}, cv=2).fit(X[:600], y[:600])
    # Every cloned pipeline trained and scored well above chance (10 classes: 0.1).
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and scores.min() > 0.5
    g = GaussianBernoulliRBM(5, learn_variance=True)
    assert clone(g).get_params()["learn_variance"] is True


def test_save_load_round_trip_is_exact(tmp_path, binary_data):
    rbm = BernoulliRBM(8, n_iter=2, batch_size=50, random_state=0, persistent=True).fit(binary_data)
    rbm.save(tmp_path / "rbm.npz")
    loaded = BernoulliRBM.load(tmp_path / "rbm.npz")
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(rbm, name))
    assert loaded.get_params() == rbm.get_params()
    np.testing.assert_equal(loaded.history_, rbm.history_)  # NaN-aware
    np.testing.assert_array_equal(loaded.transform(binary_data), rbm.transform(binary_data))
    g = GaussianBernoulliRBM(4, learn_variance=True, n_iter=1, batch_size=50, random_state=0)
    g.fit(np.random.default_rng(0).standard_normal((100, 6)))
    g.save(tmp_path / "g.npz")
    np.testing.assert_array_equal(GaussianBernoulliRBM.load(tmp_path / "g.npz").sigma_, g.sigma_)


def test_sample_from_noise_and_data(binary_data):
    rbm = BernoulliRBM(16, n_iter=10, batch_size=20, random_state=0).fit(binary_data)
    samples = rbm.sample(50, n_steps=200, random_state=1)
    assert samples.shape == (50, 24) and set(np.unique(samples)) <= {0.0, 1.0}
    probs = rbm.sample(init=binary_data[:5], n_steps=3, return_probabilities=True)
    assert probs.shape == (5, 24) and 0 <= probs.min() and probs.max() <= 1
    # Samples from the model resemble the 4 noisy prototypes: close to some data row.
    dist = ((samples[:, None, :] - binary_data[None]) ** 2).sum(-1).min(1)
    noise = (np.random.default_rng(2).random((50, 24)) < binary_data.mean()).astype(float)
    dist_noise = ((noise[:, None, :] - binary_data[None]) ** 2).sum(-1).min(1)
    assert dist.mean() < 0.5 * dist_noise.mean()


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0.0, np.nan], [1.0, 0.0]]), "X must contain only finite values"),
        (np.array([[0.0, np.inf], [1.0, 0.0]]), "X must contain only finite values"),
        (np.array([0.0, 1.0]), "Expected 2D array, got 1D array instead"),
        (np.empty((0, 3)), r"Found array with 0 sample\(s\) \(shape=\(0, 3\)\)"),
        (np.array([["a", "b"]]), "X must have a real numeric dtype.*string"),
        (np.array([[1 + 1j, 0]]), "Complex data not supported"),
        (np.array([[True, False]]), "boolean"),
    ],
)
def test_bad_input_messages(X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        BernoulliRBM(2, batch_size=1).fit(X)


def test_data_outside_the_unit_interval_warns_and_says_how_to_scale():
    # Used as given, with a DataRangeWarning that says how to scale, as sklearn's BernoulliRBM
    # accepts such data (and its estimator checks feed them).
    X = np.array([[0.0, 2.0], [1.0, 0.0]])
    with pytest.warns(DataRangeWarning, match=r"X should lie in \[0, 1\].*got values in \[0, 2\]"):
        BernoulliRBM(2, batch_size=1, n_iter=1, random_state=0).fit(X)


def test_batch_size_larger_than_the_data_is_clipped_with_a_warning(binary_data):
    # Clipped to the data with a warning, as sklearn's MLP clips batch_size.
    with pytest.warns(UserWarning, match=r"batch_size=1000 .*larger than the number of samples"):
        BernoulliRBM(4, batch_size=1000, n_iter=1, random_state=0).fit(binary_data)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(learning_rate=-0.1), r"learning_rate must be in \(0, inf\], got -0.1"),
        (dict(k=0), r"k must be in \[1, inf\], got 0"),
        (dict(n_components=0), "n_components must be in"),
        (dict(n_iter=2.5), "n_iter must be an integer"),
        (dict(momentum=1.5), "momentum must be in"),
        (dict(learning_rate_schedule="cosine"), "learning_rate_schedule must be one of"),
        (dict(hidden_unit="relu"), "hidden_unit must be one of"),
    ],
)
def test_bad_hyperparameters(binary_data, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        BernoulliRBM(**{"n_components": 4, **params}).fit(binary_data)


def test_transform_checks_features_and_fitted(binary_data):
    with pytest.raises(NotFittedError, match="not fitted"):
        BernoulliRBM(4).transform(binary_data)
    rbm = BernoulliRBM(4, n_iter=1, batch_size=50).fit(binary_data)
    with pytest.raises(ValueError, match="X has 5 features, but BernoulliRBM is expecting 24"):
        rbm.transform(binary_data[:, :5])


def test_divergence_stops_with_error_and_keeps_finite_parameters():
    X = np.random.default_rng(0).standard_normal((200, 10)) * 100
    model = GaussianBernoulliRBM(20, learning_rate=1e3, n_iter=50, batch_size=20, random_state=0)
    with pytest.raises(DivergenceError, match=r"diverged in epoch \d+.*smaller learning_rate"):
        model.fit(X)
    assert np.isfinite(model.components_).all()
    assert np.isfinite(model.intercept_visible_).all()


def _wine_standardised():
    from sklearn.datasets import load_wine

    data = load_wine().data
    return (data - data.mean(axis=0)) / data.std(axis=0)


def test_blow_up_with_finite_weights_is_a_divergence():
    """At learning rate 0.3 a Gaussian RBM's weights grow geometrically on wine (reconstruction
    error 4e30 after one epoch, 1e283 after nine) and stay finite for nine epochs: the epoch
    whose reconstruction error is that far above the data's size raises, and the model keeps the
    epoch before it (here the initial one), instead of training on to 1e296 with a warning."""
    X = _wine_standardised()
    settings = dict(learning_rate=0.3, momentum=0.5, final_momentum=0.5, batch_size=10)
    model = GaussianBernoulliRBM(64, n_iter=19, random_state=0, **settings)
    with pytest.raises(DivergenceError, match=r"diverged in epoch 1: its reconstruction error "
                       r"reached 4\.\d+e\+30 \(.* times the rows' mean squared norm\)"):  # fmt: skip
        model.fit(X)
    start = GaussianBernoulliRBM(64, n_iter=19, random_state=0, **settings).initialize(X)
    assert model.n_iter_ == 0 and model.history_["epoch"] == []
    np.testing.assert_array_equal(model.components_, start.components_)
    # A healthy run is far below the threshold: reconstruction error below the data's variance.
    settings["learning_rate"] = 0.1
    healthy = GaussianBernoulliRBM(64, n_iter=10, random_state=0, **settings).fit(X)
    assert max(healthy.history_["reconstruction_error"]) < 2 * X.shape[1]
    assert healthy.history_["reconstruction_error"][-1] < 0.5 * X.shape[1]


def test_blow_up_is_a_divergence_in_a_dbn_and_out_of_core(tmp_path):
    X = _wine_standardised()
    # Sigma fixed at 1, as the DBN's Gaussian layer had it when this case was measured: with a
    # learnt sigma the weights themselves become NaN (the other divergence path).
    layer = {0: dict(learning_rate=0.3, learn_variance=False, sample_visible=False)}
    stack = DBN([32, 16], visible_unit="gaussian", n_iter=5, layer_params=layer, random_state=0)
    with pytest.raises(DivergenceError, match="diverged in epoch 1: its reconstruction error"):
        stack.pretrain(X)
    path = tmp_path / "wine.npy"
    np.save(path, X)
    stack = DBN([32, 16], visible_unit="gaussian", n_iter=5, layer_params=layer, random_state=0)
    with pytest.raises(DivergenceError, match=r"diverged in epoch 1 \(out of core\): its recon"):
        pretrain_out_of_core(stack, np.load(path, mmap_mode="r"), chunk_size=64)


def test_keyboard_interrupt_keeps_last_completed_epoch(binary_data, monkeypatch):
    after_epoch = []

    class Record(Callback):
        def on_epoch_end(self, model, epoch, logs):
            state = model.training_state()[0]
            after_epoch.append(
                ({k: v.copy() for k, v in state.items()}, model._rng.bit_generator.state)
            )

    original = ContrastiveDivergence.run_epoch
    calls = {"n": 0}

    def run_epoch(self, X, order, *args):
        calls["n"] += 1
        if calls["n"] == 3:  # half of epoch 3 changes the weights, then Ctrl-C
            original(self, X, order[: len(order) // 2], *args)
            raise KeyboardInterrupt
        return original(self, X, order, *args)

    monkeypatch.setattr(ContrastiveDivergence, "run_epoch", run_epoch)
    rbm = BernoulliRBM(6, n_iter=5, batch_size=50, random_state=0)
    with pytest.warns(RuntimeWarning, match="interrupted during epoch 3") as caught:
        rbm.fit(binary_data, callbacks=[Record()])
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert rbm.n_iter_ == 2 and rbm.history_["epoch"] == [1, 2]
    # Parameters, velocities and the random stream are those after epoch 2.
    state, rng_state = after_epoch[-1]
    for name, value in rbm.training_state()[0].items():
        np.testing.assert_array_equal(value, state[name], err_msg=name)
    assert rbm._rng.bit_generator.state == rng_state
    assert rbm.transform(binary_data).shape == (400, 6)


def test_keyboard_interrupt_in_a_callback_keeps_the_finished_epoch(binary_data):
    class Interrupt(Callback):
        def on_epoch_end(self, model, epoch, logs):
            if epoch == 2:
                raise KeyboardInterrupt

    rbm = BernoulliRBM(6, n_iter=5, batch_size=50, random_state=0)
    with pytest.warns(RuntimeWarning, match="interrupted during epoch 2"):
        rbm.fit(binary_data, callbacks=Interrupt())
    assert rbm.n_iter_ == 2 and len(rbm.history_["reconstruction_error"]) == 2
    reference = BernoulliRBM(6, n_iter=2, batch_size=50, random_state=0).fit(binary_data)
    np.testing.assert_array_equal(rbm.components_, reference.components_)


# ------------------------------------------------------------------ centring and parallel tempering
@pytest.mark.parametrize(
    "options",
    [
        {"centering": True},
        {"persistent": True, "n_temperatures": 3},
        {"centering": True, "persistent": True, "n_temperatures": 4},
    ],
    ids=["centred", "tempered", "centred-tempered"],
)
def test_centred_and_tempered_rbms_train_save_and_resume_exactly(binary_data, tmp_path, options):
    params = dict(n_components=6, batch_size=20, n_iter=4, random_state=0, **options)
    model = BernoulliRBM(**params).fit(binary_data)
    assert model.history_["reconstruction_error"][-1] < model.history_["reconstruction_error"][0]
    path = tmp_path / "rbm.safetensors"
    model.save(path)
    loaded = BernoulliRBM.load(path)
    for name in ("components_", "intercept_hidden_", "intercept_visible_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    # Both continue identically: offsets, tempered chains and swap parity were saved.
    model.partial_fit(binary_data)
    loaded.partial_fit(binary_data)
    np.testing.assert_array_equal(loaded.components_, model.components_)
    # Same seed, same weights.
    again = BernoulliRBM(**params).fit(binary_data)
    np.testing.assert_array_equal(
        again.components_, BernoulliRBM(**params).fit(binary_data).components_
    )


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"centering": "yes"}, TypeError, "centering must be True or False"),
        ({"n_temperatures": 3}, ValueError, "needs persistent=True"),
        ({"persistent": True, "n_temperatures": 1}, ValueError, "n_temperatures"),
        ({"centering": True, "hidden_unit": "gaussian"}, ValueError, "binary hidden units"),
    ],
)
def test_centring_and_tempering_options_are_checked(binary_data, options, error, match):
    with pytest.raises(error, match=match):
        BernoulliRBM(4, batch_size=20, n_iter=1, **options).fit(binary_data)


@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM])
def test_xavier_init_std_is_glorot_scale_for_the_layer(cls, binary_data):
    """``init_std="xavier"`` draws the same weights as the float sqrt(2 / (visible + hidden))."""
    n_hidden = 37
    X = binary_data.astype(np.float64)
    by_name = cls(n_hidden, init_std="xavier", random_state=3).initialize(X)
    std = np.sqrt(2.0 / (X.shape[1] + n_hidden))
    by_value = cls(n_hidden, init_std=std, random_state=3).initialize(X)
    np.testing.assert_array_equal(by_name.components_, by_value.components_)
    assert by_name.init_std == "xavier"  # the parameter is kept as given (sklearn's contract)


@pytest.mark.parametrize("value", ["he", "Xavier", "0.1"])
def test_init_std_names_the_one_accepted_string(value, binary_data):
    with pytest.raises(TypeError, match=r"init_std must be a float >= 0 or 'xavier', got"):
        BernoulliRBM(4, init_std=value).fit(binary_data)
