"""The CD step object (dbn._cd) on its own: no estimator, statistics then apply, state, schedules."""

from __future__ import annotations

import numpy as np
import pytest

from dbn import BernoulliRBM, Callback, GaussianBernoulliRBM
from dbn._cd import OFFSET_ROWS, SHARED_STATE, ContrastiveDivergence, merge_states

from . import naive

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.default_rng(0)
    prototypes = (rng.random((4, 20)) < 0.5).astype(float)
    X = prototypes[rng.integers(0, 4, 240)]
    return np.abs(X - (rng.random(X.shape) < 0.05)).astype(np.float64)


def _initial_parameters(
    X, n_hidden, rng, *, init_std=0.01, visible="bernoulli", learn_variance=False
):
    """The estimators' initialisation, written out (Hinton 2010, section 8)."""
    W = np.asfortranarray(init_std * rng.standard_normal((n_hidden, X.shape[1])), dtype=X.dtype)
    mean = np.asarray(X.mean(axis=0), dtype=np.float64)
    if visible == "bernoulli":
        p = np.clip(mean, 1e-3, 1 - 1e-3)
        b = np.log(p / (1 - p))
    else:
        b = mean
    params = {
        "components_": W,
        "intercept_hidden_": np.zeros(n_hidden, X.dtype),
        "intercept_visible_": b.astype(X.dtype),
    }
    if learn_variance:
        params["log_variance_"] = np.zeros(X.shape[1], X.dtype)
    return params


def fit_without_estimator(X, n_hidden, learning_rates, momenta, *, seed, shuffle=True, **config):
    """Train with a bare ContrastiveDivergence and the same Generator use as the estimator's fit."""
    rng = np.random.default_rng(seed)
    visible = config.pop("visible_unit", "bernoulli")
    learn_variance = config.pop("learn_variance", False)
    params = _initial_parameters(X, n_hidden, rng, visible=visible, learn_variance=learn_variance)
    cd = ContrastiveDivergence(params, visible_unit=visible, **config)
    if cd.persistent:
        cd.start_chains(X, rng)
    for lr, momentum in zip(learning_rates, momenta, strict=True):
        order = rng.permutation(X.shape[0]) if shuffle else np.arange(X.shape[0])
        assert cd.run_epoch(X, order, lr, momentum, rng) == 0
    return params, cd


class _Record(Callback):
    """Records the learning rate and momentum of every epoch (1-based numbering)."""

    def __init__(self):
        self.epochs, self.learning_rates, self.momenta = [], [], []

    def on_epoch_end(self, estimator, epoch, logs):
        self.epochs.append(epoch)
        self.learning_rates.append(logs["learning_rate"])
        self.momenta.append(logs["momentum"])


# ----------------------------------------------------------------------------- no estimator
ESTIMATOR_CASES = {
    "cd1": dict(),
    "pcd-sparsity": dict(persistent=True, n_chains=13, k=2, sparsity_target=0.1, sparsity_cost=0.3),
    "sampled-no-shuffle": dict(positive_hidden="samples", sample_visible=True, shuffle=False),
    "gaussian-hidden": dict(hidden_unit="gaussian", learning_rate=0.001),
    "learned-variance": dict(visible="gaussian", learn_variance=True, learning_rate=0.01),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(ESTIMATOR_CASES))
def test_cd_without_estimator_reproduces_fit_bit_for_bit(binary_data, name, dtype):
    case = dict(ESTIMATOR_CASES[name])
    visible = case.pop("visible", "bernoulli")
    X = binary_data.astype(dtype)
    if visible == "gaussian":
        X = (np.random.default_rng(1).standard_normal(X.shape) * 2 + 1).astype(dtype)
        rbm = GaussianBernoulliRBM(
            9, learn_variance=case.pop("learn_variance"), n_iter=4, batch_size=25, random_state=5,
            momentum_switch_epoch=2, **case,
        )  # fmt: skip
    else:
        rbm = BernoulliRBM(
            9, n_iter=4, batch_size=25, random_state=5, momentum_switch_epoch=2, **case
        )
    rbm.fit(X)
    momenta = [rbm.momentum] * 2 + [rbm.final_momentum] * 2
    config = {
        key: getattr(rbm, key)
        for key in (
            "batch_size", "hidden_unit", "k", "persistent", "n_chains", "positive_hidden",
            "sample_visible", "weight_decay", "sparsity_target", "sparsity_cost",
            "sparsity_damping", "shuffle",
        )
    }  # fmt: skip
    params, cd = fit_without_estimator(
        X,
        9,
        [rbm.learning_rate] * 4,
        momenta,
        seed=5,
        visible_unit=visible,
        learn_variance=visible == "gaussian",
        **config,
    )
    for key, value in params.items():
        np.testing.assert_array_equal(getattr(rbm, key), value, err_msg=key)
        assert value.dtype == dtype
    state = rbm.training_state()[0]
    for key, value in cd.get_state().items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)


# ----------------------------------------------------------------------------- statistics, apply
STEP_CASES = {
    "cd1": dict(),
    "cd2-sampled": dict(k=2, positive_hidden="samples", sample_visible=True),
    "pcd-sparsity": dict(persistent=True, n_chains=7, sparsity_target=0.2, sparsity_cost=0.5),
    "gaussian-hidden": dict(hidden_unit="gaussian"),
    "learned-variance": dict(visible_unit="gaussian", learn_variance=True, k=2),
}


def _step_pair(case, dtype, seed=0, n_visible=11, n_hidden=6):
    """Two ContrastiveDivergence objects on equal copies of random parameters, and data."""
    case = dict(case)
    learn_variance = case.pop("learn_variance", False)
    rng = np.random.default_rng(seed)
    if case.get("visible_unit") == "gaussian":
        X = rng.standard_normal((40, n_visible)).astype(dtype)
    else:
        X = (rng.random((40, n_visible)) < 0.4).astype(dtype)
    params = _initial_parameters(
        X, n_hidden, rng, init_std=0.3, visible=case.get("visible_unit", "bernoulli"),
        learn_variance=learn_variance,
    )  # fmt: skip
    params["intercept_hidden_"][:] = rng.normal(0, 0.2, n_hidden)
    if learn_variance:
        params["log_variance_"][:] = rng.normal(0, 0.2, n_visible)
    pair = []
    for _ in range(2):
        copy = {key: value.copy(order="K") for key, value in params.items()}
        cd = ContrastiveDivergence(copy, batch_size=10, weight_decay=0.01, **case)
        if cd.persistent:
            cd.start_chains(X, np.random.default_rng(99))
        pair.append(cd)
    return pair, X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(STEP_CASES))
def test_statistics_then_apply_equals_the_fused_step(name, dtype):
    (fused, split), X = _step_pair(STEP_CASES[name], dtype)
    for step in range(4):  # momentum, chains and sparsity activity carry over between steps
        v0 = X[step * 10 : (step + 1) * 10]
        momentum = 0.5 if step < 2 else 0.9
        assert fused.step(v0, 0.05, momentum, np.random.default_rng(step))
        gradients = split.statistics(v0, np.random.default_rng(step))
        assert split.apply(gradients, 0.05, momentum)
    for key in fused.parameters:
        np.testing.assert_array_equal(split.parameters[key], fused.parameters[key], err_msg=key)
    split_state, fused_state = split.get_state(), fused.get_state()
    assert split_state.keys() == fused_state.keys()
    for key, value in fused_state.items():
        np.testing.assert_array_equal(split_state[key], value, err_msg=key)


@pytest.mark.parametrize("name", ["cd1", "cd2-sampled", "gaussian-hidden", "learned-variance"])
def test_statistics_are_the_naive_cd_gradient(name):
    """With learning rate 1, no momentum and no decay, the naive update's velocity is the gradient."""
    case = dict(STEP_CASES[name])
    (cd, _), X = _step_pair(case, np.float64)
    reference = {"W": "components_", "c": "intercept_hidden_", "b": "intercept_visible_"}
    reference["z"] = "log_variance_"
    params = {k: cd.parameters[v].copy() for k, v in reference.items() if v in cd.parameters}
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    v0 = X[:10]
    gradients = cd.statistics(v0, np.random.default_rng(7))
    naive.naive_cd_step(
        params,
        velocity,
        None,
        v0,
        np.random.default_rng(7),
        k=cd.k,
        lr=1.0,
        momentum=0.0,
        weight_decay=0.0,
        persistent=False,
        positive_hidden=cd.positive_hidden,
        sample_visible=cd.sample_visible,
        visible=cd.visible_unit,
        hidden=cd.hidden_unit,
        learn_variance=cd.learns_variance,
    )
    for short, key in reference.items():
        if key in gradients:
            np.testing.assert_allclose(gradients[key], velocity[short], **TOL[np.float64])


def test_averaged_statistics_of_two_shards_step_like_one_worker_would():
    """Two workers' statistics averaged equal the statistics of the same halves, in one place."""
    (cd, _), X = _step_pair(STEP_CASES["cd1"], np.float64)
    first = cd.statistics(X[:10], np.random.default_rng(1))
    second = cd.statistics(X[10:20], np.random.default_rng(2))
    # Fresh arrays: the second call did not overwrite the first result.
    again = cd.statistics(X[:10], np.random.default_rng(1))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    mean = {key: (first[key] + second[key]) / 2 for key in first}
    before = {key: value.copy() for key, value in cd.parameters.items()}
    assert cd.apply(mean, 0.1, 0.0)
    W = before["components_"] + 0.1 * (mean["components_"] - 0.01 * before["components_"])
    np.testing.assert_allclose(cd.parameters["components_"], W, rtol=1e-12)
    np.testing.assert_allclose(
        cd.parameters["intercept_visible_"],
        before["intercept_visible_"] + 0.1 * mean["intercept_visible_"],
        rtol=1e-12,
    )


def test_get_state_and_set_state_resume_bit_for_bit():
    (cd, twin), X = _step_pair(STEP_CASES["pcd-sparsity"], np.float32)
    rng = np.random.default_rng(3)
    for step in range(2):
        cd.step(X[step * 10 : (step + 1) * 10], 0.05, 0.5, rng)
    saved_params = {key: value.copy(order="K") for key, value in cd.parameters.items()}
    saved_state, saved_rng = cd.get_state(), rng.bit_generator.state
    for step in range(2, 4):
        cd.step(X[step * 10 : (step + 1) * 10], 0.05, 0.9, rng)
    # A fresh object (as after loading a checkpoint) continues exactly where cd was.
    for key, value in saved_params.items():
        twin.parameters[key][...] = value
    twin.set_state(saved_state)
    rng2 = np.random.default_rng()
    rng2.bit_generator.state = saved_rng
    for step in range(2, 4):
        twin.step(X[step * 10 : (step + 1) * 10], 0.05, 0.9, rng2)
    for key in cd.parameters:
        np.testing.assert_array_equal(twin.parameters[key], cd.parameters[key], err_msg=key)
    np.testing.assert_array_equal(twin.chains, cd.chains)
    np.testing.assert_array_equal(twin.running_activity, cd.running_activity)


def test_run_epoch_reports_the_diverging_minibatch():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5)) * 100
    params = _initial_parameters(X, 4, rng, visible="gaussian")
    cd = ContrastiveDivergence(params, batch_size=20, visible_unit="gaussian")
    diverged_at = 0
    for _ in range(50):
        diverged_at = cd.run_epoch(X, np.arange(60), 1e3, 0.9, rng)
        if diverged_at:
            break
    assert 1 <= diverged_at <= 3


def _parameters(n_hidden=3, n_visible=4, dtype=np.float64):
    return {
        "components_": np.zeros((n_hidden, n_visible), dtype, order="F"),
        "intercept_hidden_": np.zeros(n_hidden, dtype),
        "intercept_visible_": np.zeros(n_visible, dtype),
    }


@pytest.mark.parametrize(
    "change, match",
    [
        (
            lambda p: p.update(components_=np.zeros((3, 4))),
            r"components_'\] must be column-major \(np.asfortranarray\)",
        ),
        (
            lambda p: p.update(intercept_visible_=np.zeros(5)),
            r"intercept_visible_'\] must be an ndarray of shape \(4,\) and dtype float64, got "
            r"float64 of shape \(5,\)",
        ),
        (lambda p: p.pop("intercept_hidden_"), r"missing \['intercept_hidden_'\]"),
        (lambda p: p.update(bias=1), r"unknown \['bias'\]"),
        (
            lambda p: p.update(log_variance_=np.zeros(4)),
            "log_variance_'] .*needs visible_unit='gaussian', got visible_unit='bernoulli'",
        ),
    ],
)
def test_bad_parameters_are_refused_with_clear_messages(change, match):
    params = _parameters()
    change(params)
    with pytest.raises(ValueError, match=match):
        ContrastiveDivergence(params, batch_size=2)


def test_bad_calls_are_refused_with_clear_messages():
    cd = ContrastiveDivergence(_parameters(), batch_size=2)
    rng = np.random.default_rng(0)
    with pytest.raises(
        ValueError, match=r"v0 must be a minibatch of shape \(b, 4\).*got shape \(3, 4\)"
    ):
        cd.step(np.zeros((3, 4)), 0.1, 0.5, rng)
    with pytest.raises(TypeError, match="v0 has dtype float32, but the parameters are float64"):
        cd.step(np.zeros((2, 4), np.float32), 0.1, 0.5, rng)
    with pytest.raises(ValueError, match=r"missing \['intercept_visible_'\]"):
        cd.apply({"components_": np.zeros((3, 4)), "intercept_hidden_": np.zeros(3)}, 0.1, 0.5)
    with pytest.raises(
        ValueError, match=r"gradients\['intercept_hidden_'\] must have shape \(3,\)"
    ):
        cd.apply(
            {"components_": np.zeros((3, 4)), "intercept_hidden_": np.zeros(4),
             "intercept_visible_": np.zeros(4)}, 0.1, 0.5,
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"k must be in \[1, inf\], got 0"):
        ContrastiveDivergence(_parameters(), batch_size=2, k=0)
    pcd = ContrastiveDivergence(_parameters(), batch_size=2, persistent=True)
    with pytest.raises(RuntimeError, match=r"persistent chains are not started: call start_chains"):
        pcd.step(np.zeros((2, 4)), 0.1, 0.5, rng)


# ----------------------------------------------------------------------------- schedules
N_ITER = 4
SCHEDULES = {
    "constant": ("constant", [0.1] * N_ITER),
    "exponential": ("exponential", [0.1 * 0.5**e for e in range(N_ITER)]),
    "linear": ("linear", [0.1 * (1 - e / N_ITER) for e in range(N_ITER)]),
    "callable": (lambda epoch, lr: lr / (1 + epoch), [0.1 / (1 + e) for e in range(N_ITER)]),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_learning_rate_schedules_against_hand_computation(binary_data, name):
    schedule, expected = SCHEDULES[name]
    record = _Record()
    rbm = BernoulliRBM(
        8,
        learning_rate=0.1,
        learning_rate_schedule=schedule,
        learning_rate_decay=0.5,
        n_iter=N_ITER,
        batch_size=30,
        momentum_switch_epoch=100,
        random_state=2,
    ).fit(binary_data, callbacks=record)
    assert record.epochs == [1, 2, 3, 4]
    np.testing.assert_allclose(record.learning_rates, expected, rtol=1e-15)
    np.testing.assert_allclose(rbm.history_["learning_rate"], expected, rtol=1e-15)
    # The rates are the ones the updates used: a bare CD step with them gives the same weights.
    params, _ = fit_without_estimator(
        binary_data, 8, expected, [0.5] * N_ITER, seed=2, batch_size=30, weight_decay=0.0002
    )
    np.testing.assert_allclose(rbm.components_, params["components_"], rtol=1e-12, atol=1e-15)
    if name != "constant":  # the constant rate would give other weights: the check can fail
        params, _ = fit_without_estimator(
            binary_data, 8, [0.1] * N_ITER, [0.5] * N_ITER, seed=2, batch_size=30,
            weight_decay=0.0002,
        )  # fmt: skip
        assert not np.allclose(rbm.components_, params["components_"], rtol=1e-6, atol=0)


def test_one_parameter_schedule_keeps_its_old_meaning_with_a_deprecation_warning(binary_data):
    with pytest.warns(DeprecationWarning, match="learning_rate_schedule with one parameter"):
        rbm = BernoulliRBM(
            8, learning_rate_schedule=lambda epoch: 0.02 * (epoch + 1), n_iter=3, batch_size=30,
            random_state=0,
        ).fit(binary_data)  # fmt: skip
    np.testing.assert_allclose(rbm.history_["learning_rate"], [0.02, 0.04, 0.06], rtol=1e-15)


def test_momentum_switch_against_hand_computation(binary_data):
    record = _Record()
    rbm = BernoulliRBM(
        8,
        momentum=0.3,
        final_momentum=0.7,
        momentum_switch_epoch=2,
        n_iter=4,
        batch_size=30,
        random_state=4,
    ).fit(binary_data, callbacks=[record])
    assert record.momenta == [0.3, 0.3, 0.7, 0.7]
    assert rbm.history_["momentum"] == [0.3, 0.3, 0.7, 0.7]
    params, _ = fit_without_estimator(
        binary_data, 8, [0.1] * 4, [0.3, 0.3, 0.7, 0.7], seed=4, batch_size=30,
        weight_decay=0.0002,
    )  # fmt: skip
    np.testing.assert_array_equal(rbm.components_, params["components_"])
    # Switching one epoch later gives other weights: the test sees the switch epoch.
    late, _ = fit_without_estimator(
        binary_data, 8, [0.1] * 4, [0.3, 0.3, 0.3, 0.7], seed=4, batch_size=30,
        weight_decay=0.0002,
    )  # fmt: skip
    assert not np.allclose(rbm.components_, late["components_"], rtol=1e-6, atol=0)


def test_one_minibatch_step_is_the_momentum_update_formula():
    """``v = m v + lr (g - decay W)``, ``W += v`` with the statistics as ``g``, by hand."""
    (cd, twin), X = _step_pair(STEP_CASES["cd1"], np.float64)
    v0 = X[:10]
    for key, value in cd.velocity.items():  # a non-zero velocity, so momentum matters
        value[...] = np.random.default_rng(5).normal(0, 0.01, value.shape)
        twin.velocity[key][...] = value
    before = {key: value.copy() for key, value in cd.parameters.items()}
    velocity = {key: value.copy() for key, value in cd.velocity.items()}
    gradients = twin.statistics(v0, np.random.default_rng(6))
    assert cd.step(v0, 0.07, 0.6, np.random.default_rng(6))
    for key, param in cd.parameters.items():
        decay = 0.01 if key == "components_" else 0.0
        step = 0.6 * velocity[key] + 0.07 * (gradients[key] - decay * before[key])
        np.testing.assert_allclose(cd.velocity[key], step, rtol=1e-12, atol=1e-15, err_msg=key)
        np.testing.assert_allclose(param, before[key] + step, rtol=1e-12, atol=1e-15, err_msg=key)


# ---------------------------------------------------------------------------------- centring
def _centred_pair(dtype=np.float64, seed=3):
    rng = np.random.default_rng(seed)
    X = (rng.random((40, 9)) < 0.4).astype(dtype)
    params = _initial_parameters(X, 5, rng, init_std=0.3)
    params["intercept_hidden_"][...] = rng.normal(0, 0.5, 5)
    return X, params


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_centred_step_is_the_update_of_the_centred_parameters(dtype):
    """Written out in the centred parameters (W, b + W lambda, c + W^T mu), then mapped back."""
    X, params = _centred_pair(dtype)
    cd = ContrastiveDivergence(params, batch_size=20, weight_decay=0.01, centering=True)
    cd.start_offsets(X)
    mu, lam = cd.visible_offset.astype(np.float64), cd.hidden_offset.astype(np.float64)
    np.testing.assert_allclose(mu, X.mean(axis=0), rtol=1e-6)
    W0 = params["components_"].astype(np.float64).T  # (V, H)
    b0, c0 = (
        params["intercept_visible_"].astype(np.float64),
        params["intercept_hidden_"].astype(np.float64),
    )
    g = cd.statistics(X[:20], np.random.default_rng(0))
    G, gb, gc = (
        g[k].astype(np.float64) for k in ("components_", "intercept_visible_", "intercept_hidden_")
    )
    G = G.T
    lr = 0.05
    step_W = lr * (G - np.outer(mu, gc) - np.outer(gb, lam) - 0.01 * W0)
    W1 = W0 + step_W
    b1 = (b0 + W0 @ lam + lr * gb) - W1 @ lam
    c1 = (c0 + W0.T @ mu + lr * gc) - W1.T @ mu
    assert cd.apply(g, lr, 0.0)
    tol = TOL[dtype]
    np.testing.assert_allclose(params["components_"].T, W1, **tol)
    np.testing.assert_allclose(params["intercept_visible_"], b1, **tol)
    np.testing.assert_allclose(params["intercept_hidden_"], c1, **tol)
    # The offsets move towards the minibatch means by offset_rate.
    np.testing.assert_allclose(cd.visible_offset, mu + 0.01 * (g["data_mean_visible"] - mu), **tol)
    np.testing.assert_allclose(cd.hidden_offset, lam + 0.01 * (g["data_mean_hidden"] - lam), **tol)
    np.testing.assert_allclose(g["data_mean_visible"], X[:20].mean(axis=0), **tol)


def test_centred_statistics_then_apply_equals_the_fused_step_and_state_round_trips():
    X, params = _centred_pair()
    other = {k: v.copy(order="K") for k, v in params.items()}
    fused = ContrastiveDivergence(params, batch_size=20, centering=True)
    split = ContrastiveDivergence(other, batch_size=20, centering=True)
    fused.start_offsets(X)
    split.set_state(fused.get_state())
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    for rows in (slice(0, 20), slice(20, 40)):
        assert fused.step(X[rows], 0.1, 0.5, rng_a)
        gradients = split.statistics(X[rows], rng_b)
        before = {k: v.copy() for k, v in gradients.items()}
        assert split.apply(gradients, 0.1, 0.5)
        for k in gradients:  # the caller's arrays are not changed
            np.testing.assert_array_equal(gradients[k], before[k])
    for name in params:
        np.testing.assert_array_equal(params[name], other[name])
    state = fused.get_state()
    assert {"visible_offset_", "hidden_offset_"} <= set(state)
    np.testing.assert_array_equal(state["visible_offset_"], split.visible_offset)


def test_centring_is_refused_for_gaussian_units_and_needs_the_data_means():
    X, params = _centred_pair()
    with pytest.raises(ValueError, match="centering=True needs binary visible and hidden units"):
        ContrastiveDivergence(params, batch_size=20, centering=True, hidden_unit="gaussian")
    with pytest.raises(TypeError, match="centering must be True or False"):
        ContrastiveDivergence(params, batch_size=20, centering=1)
    cd = ContrastiveDivergence(params, batch_size=20, centering=True)
    g = cd.statistics(X[:20], np.random.default_rng(0))
    del g["data_mean_hidden"]
    with pytest.raises(ValueError, match="data_mean_hidden"):
        cd.apply(g, 0.1, 0.0)


def test_centred_training_learns_bars_and_stripes():
    """Exact log-likelihood: centring reaches at least what the plain gradient reaches."""
    from dbn.evaluation import exact_log_partition, log_likelihood

    data = np.repeat(naive.bars_and_stripes(3), 10, axis=0)
    results = {}
    for centering in (False, True):
        model = BernoulliRBM(
            8,
            learning_rate=0.1,
            batch_size=10,
            n_iter=60,
            weight_decay=0.0,
            monitor_size=0,
            random_state=0,
        )
        params = _initial_parameters(data, 8, np.random.default_rng(1), init_std=0.1)
        cd = ContrastiveDivergence(params, batch_size=10, centering=centering)
        if centering:
            cd.start_offsets(data)
        rng = np.random.default_rng(2)
        for _ in range(60):
            assert cd.run_epoch(data, rng.permutation(len(data)), 0.1, 0.5, rng) == 0
        model.components_ = params["components_"]
        model.intercept_hidden_ = params["intercept_hidden_"]
        model.intercept_visible_ = params["intercept_visible_"]
        model.n_features_in_ = data.shape[1]
        results[centering] = log_likelihood(model, data, exact_log_partition(model))
    uniform = -9 * np.log(2)
    assert results[True] > uniform + 1.0, results
    assert results[True] > results[False] - 0.3, results


# ---------------------------------------------------------------------------- parallel tempering
def _hidden_marginal(params, beta=1.0):
    """Exact ``p_beta(h)`` of a tiny binary RBM over every hidden state, by enumeration."""
    W = params["components_"].astype(np.float64)  # (H, V)
    b, c = params["intercept_visible_"], params["intercept_hidden_"]
    H = naive.all_binary_states(W.shape[0])
    log_p = beta * (H @ c) + np.logaddexp(0.0, beta * (H @ W + b)).sum(axis=1)
    p = np.exp(log_p - log_p.max())
    return H, p / p.sum()


def _state_histogram(H, states):
    index = {tuple(h): i for i, h in enumerate(H.astype(int))}
    counts = np.zeros(len(H))
    for h in states.astype(int):
        counts[index[tuple(h)]] += 1
    return counts / counts.sum()


class _AcceptEverySwap(np.random.Generator):
    """A Generator whose uniforms are all 0, so that the Metropolis test of every swap passes
    (``log 0 < log_ratio``): a wrong swap rule that accepts every swap. The keys of the Gibbs
    steps come from the bit generator as usual."""

    def random(self, size=None, dtype=np.float64, out=None):
        return np.zeros(size, dtype)


def _tempered_distances(generator=np.random.Generator):
    """Total-variation distance between each temperature's chains and its exact ``p_beta(h)``,
    the parameters held fixed, the chains driven by a ``generator`` over a seeded stream."""
    rng = np.random.default_rng(0)
    params = {
        "components_": np.asfortranarray(rng.normal(0, 2.0, (3, 5))),
        "intercept_hidden_": rng.normal(0, 1.0, 3),
        "intercept_visible_": rng.normal(0, 1.0, 5),
    }
    cd = ContrastiveDivergence(
        params, batch_size=4, persistent=True, n_chains=400, n_temperatures=4
    )
    X = (rng.random((50, 5)) < 0.5).astype(np.float64)
    cd.start_chains(X, rng)
    chain_rng = generator(rng.bit_generator)
    samples = {m: [] for m in range(4)}
    for step in range(120):
        cd.statistics(X[:4], chain_rng)  # advances the chains; the parameters stay as they are
        if step >= 20:
            samples[0].append(cd.chains.copy())
            for m in range(1, 4):
                samples[m].append(cd.tempered_chains[m - 1].copy())
    distances = []
    for m, beta in enumerate(cd.inverse_temperatures):
        H, exact = _hidden_marginal(params, beta)
        empirical = _state_histogram(H, np.concatenate(samples[m]))
        distances.append(0.5 * np.abs(empirical - exact).sum())
    return np.array(distances), cd.swap_counts


def test_parallel_tempering_chains_sample_their_tempered_distributions():
    """With the parameters held fixed, every temperature's chains reach ``p_beta(h)``.

    The model has strong weights, so plain Gibbs chains mix slowly; a wrong swap rule pulls the
    chains away from their distributions, far beyond the tolerance (the next test).
    """
    distances, swap_counts = _tempered_distances()
    assert (distances < 0.03).all(), distances
    accepted, proposed = swap_counts.T
    assert (proposed > 0).all() and (accepted > 0).all()


def test_a_wrong_swap_rule_fails_the_tempered_distribution_check():
    """The negative control of the test above: accepting every swap moves hot states into the
    cold chains, and the same check sees it at every temperature (distances 0.06 to 0.15
    measured, against the tolerance of 0.03)."""
    with np.errstate(divide="ignore"):  # log 0 in the Metropolis test
        distances, swap_counts = _tempered_distances(_AcceptEverySwap)
    assert (distances > 0.03).all(), distances
    accepted, proposed = swap_counts.T
    np.testing.assert_array_equal(accepted, proposed)


def test_parallel_tempering_state_round_trip_and_refusals():
    rng = np.random.default_rng(1)
    X = (rng.random((60, 6)) < 0.4).astype(np.float64)
    params = _initial_parameters(X, 4, rng, init_std=0.5)
    twin = {k: v.copy(order="K") for k, v in params.items()}
    a = ContrastiveDivergence(params, batch_size=10, persistent=True, n_temperatures=3)
    b = ContrastiveDivergence(twin, batch_size=10, persistent=True, n_temperatures=3)
    a.start_chains(X, rng)
    assert a.run_epoch(X, np.arange(60), 0.05, 0.5, rng) == 0
    for name in params:
        twin[name][...] = params[name]
    b.set_state(a.get_state())
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    for start in (0, 10, 20):
        assert a.step(X[start : start + 10], 0.05, 0.5, rng_a)
        assert b.step(X[start : start + 10], 0.05, 0.5, rng_b)
    for name in params:
        np.testing.assert_array_equal(params[name], twin[name])
    np.testing.assert_array_equal(a.tempered_chains, b.tempered_chains)
    with pytest.raises(ValueError, match="needs persistent=True"):
        ContrastiveDivergence(params, batch_size=10, n_temperatures=3)
    with pytest.raises(ValueError, match="n_temperatures"):
        ContrastiveDivergence(params, batch_size=10, persistent=True, n_temperatures=1)


def test_merge_states_combines_workers_as_one_in_process_state(binary_data):
    rng = np.random.default_rng(0)
    config = BernoulliRBM(6, batch_size=10, persistent=True, n_temperatures=3, centering=True)
    workers = []
    for block in (binary_data[:120], binary_data[120:]):
        cd = ContrastiveDivergence(
            _initial_parameters(binary_data, 6, np.random.default_rng(1)),
            **config.cd_config(batch_size=5),
        )
        cd.start_chains(block, rng)
        cd.start_offsets(block)
        cd.run_epoch(block, rng.permutation(len(block)), 0.1, 0.5, rng)
        workers.append(cd.get_state())
    merged = merge_states(workers, [1, 3])
    assert sorted(merged) == sorted(workers[0])
    np.testing.assert_allclose(
        merged["velocity_components_"],
        0.25 * workers[0]["velocity_components_"] + 0.75 * workers[1]["velocity_components_"],
    )
    assert merged["persistent_chains_"].shape == (10, 6)
    assert merged["tempered_chains_"].shape == (2, 10, 6)
    np.testing.assert_array_equal(
        merged["swap_counts_"], workers[0]["swap_counts_"] + workers[1]["swap_counts_"]
    )
    # The merged state is one a CD object of the combined minibatch takes as its own.
    whole = ContrastiveDivergence(
        _initial_parameters(binary_data, 6, np.random.default_rng(1)), **config.cd_config()
    )
    whole.set_state(merged)
    assert whole.n_chains == 10 and whole.tempered_chains.shape == (2, 10, 6)
    # Moving the offsets is the only shared state; a state entry merge_states does not know is
    # refused rather than dropped.
    assert set(SHARED_STATE) <= set(merged)
    with pytest.raises(ValueError, match="'new_state_'"):
        merge_states([dict(workers[0], new_state_=np.zeros(1))] * 2, [1, 1])


def test_start_offsets_from_the_first_rows_and_the_whole_datas_mean(binary_data):
    # A chunked driver reads only the first rows: the offsets must be those of the whole data.
    X = np.vstack([binary_data] * 4 + [1 - binary_data])  # 1200 rows, the last 200 unlike the rest
    params = _initial_parameters(X, 6, np.random.default_rng(1))
    whole = ContrastiveDivergence(params, batch_size=10, centering=True)
    whole.start_offsets(X)
    first = ContrastiveDivergence(params, batch_size=10, centering=True)
    first.start_offsets(X[:OFFSET_ROWS], visible_mean=X.mean(axis=0))
    np.testing.assert_array_equal(first.visible_offset, whole.visible_offset)
    np.testing.assert_array_equal(first.hidden_offset, whole.hidden_offset)
