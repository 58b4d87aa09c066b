"""MLP: kernels and passes against a naive reference, finite differences, training, sklearn contract."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from dbn import init
from dbn._kernels import mlp as K
from dbn._validation import DivergenceError, NotFittedError
from dbn.mlp import MLPClassifier, MLPRegressor, Propagation, backward, forward

from . import naive_mlp as naive

RTOL64 = 1e-10
ACTS = ["sigmoid", "tanh", "relu"]
CODES = {"identity": K.IDENTITY, "sigmoid": K.SIGMOID, "tanh": K.TANH, "relu": K.RELU}


def _net(sizes, seed=0, dtype=np.float64, scale=1.0):
    rng = np.random.default_rng(seed)
    coefs = [
        (scale * rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    intercepts = [(0.1 * rng.standard_normal(b)).astype(dtype) for b in sizes[1:]]
    return coefs, intercepts


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train, test = order[:1300], order[1300:]
    return X[train], y[train], X[test], y[test]


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(1)
    X = rng.random((120, 6))
    y = (X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 2] > 0.5)
    return X, y


# ------------------------------------------------------------------------------------ kernels


@pytest.mark.parametrize("activation", ["identity", *ACTS])
def test_bias_activation_matches_naive(activation):
    rng = np.random.default_rng(0)
    Z = 3 * rng.standard_normal((7, 5))
    b = rng.standard_normal(5)
    out = Z.copy()
    K.bias_activation_(out, b, CODES[activation])
    np.testing.assert_allclose(out, naive.activate(Z + b, activation), rtol=RTOL64, atol=1e-300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_softmax_are_stable_for_extreme_inputs(dtype):
    Z = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = Z.copy()
        K.bias_activation_(s, np.zeros(5, dtype), K.SIGMOID)
        logits = Z.copy()
        P = np.empty_like(Z)
        K.softmax_(logits, np.zeros(5, dtype), P)
        delta = np.empty_like(Z)
        loss = K.softmax_cross_entropy_(logits, P, np.array([0]), delta, 1.0)
    assert np.all(np.isfinite(s)) and s[0, 0] == 0 and s[0, -1] == 1 and s[0, 2] == 0.5
    np.testing.assert_allclose(P, [[0, 0, 0, 0, 1]])
    # -log softmax(z)_0 = 1e4 - (-1e4): exact in the log-sum-exp form although P[0, 0] underflows.
    assert loss == pytest.approx(2e4)
    assert np.all(np.isfinite(delta))


def test_float32_sigmoid_is_accurate():
    # The float32 sigmoid has its own vectorised exp: check it against float64 libm over the whole
    # range, special values included.
    x = np.concatenate([np.linspace(-100, 100, 400_001), [0, -0.0, np.inf, -np.inf, np.nan]])
    Z = x.astype(np.float32)[None, :].copy()
    K.bias_activation_(Z, np.zeros(Z.shape[1], np.float32), K.SIGMOID)
    ref = 1 / (1 + np.exp(-x.astype(np.float32).astype(np.float64)))
    normal = ref > 1e-37
    rel = np.abs(Z[0, normal] - ref[normal]) / ref[normal]
    assert rel.max() < 5e-7  # a few float32 ulps
    assert np.all(Z[0, ~normal & np.isfinite(x)] < 1e-37)
    np.testing.assert_array_equal(Z[0, -5:-1], [0.5, 0.5, 1.0, 0.0])
    assert np.isnan(Z[0, -1])


def test_softmax_cross_entropy_matches_naive():
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((9, 4))
    b = rng.standard_normal(4)
    y = rng.integers(0, 4, 9)
    logits, P, delta = Z.copy(), np.empty_like(Z), np.empty_like(Z)
    K.softmax_(logits, b, P)
    loss = K.softmax_cross_entropy_(logits, P, y, delta, 1 / 9)
    ref = naive.softmax(Z + b)
    np.testing.assert_allclose(P, ref, rtol=RTOL64)
    assert loss == pytest.approx(-np.log(ref[np.arange(9), y]).sum(), rel=RTOL64)
    T = np.eye(4)[y]
    np.testing.assert_allclose(delta, (ref - T) / 9, rtol=RTOL64, atol=1e-15)


def test_dropout_and_activation_backward_match_naive():
    rng = np.random.default_rng(3)
    A = rng.random((6, 8))
    U = rng.random((6, 8))
    p = 0.3
    out = np.empty_like(A)
    K.dropout_(A, U, p, out)
    mask = (U >= p) / (1 - p)
    np.testing.assert_allclose(out, A * mask, rtol=RTOL64)
    delta = rng.standard_normal((6, 8))
    d = delta.copy()
    K.activation_backward_(d, A, K.SIGMOID, U, p)
    np.testing.assert_allclose(d, delta * A * (1 - A) * mask, rtol=RTOL64)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_step_matches_naive(nesterov, dtype):
    rng = np.random.default_rng(4)
    params, grads, velocity = (rng.standard_normal(20) for _ in range(3))
    segments = np.array([[0, 12, 1], [12, 15, 0], [15, 18, 1], [18, 20, 0]], dtype=np.int64)
    mask = np.zeros(20)
    mask[0:12] = mask[15:18] = 1
    ref_p, ref_v = naive.sgd_step(params, grads, velocity, mask, 0.1, 0.9, nesterov, 0.01)
    p, v = params.astype(dtype), velocity.astype(dtype)
    K.sgd_step_(p, grads.astype(dtype), v, segments, 0.1, 0.9, nesterov, 0.01)
    rtol = RTOL64 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(p, ref_p, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(v, ref_v, rtol=rtol, atol=rtol)


def test_adam_step_matches_naive():
    rng = np.random.default_rng(5)
    params, grads = rng.standard_normal(10), rng.standard_normal(10)
    m, v = rng.standard_normal(10), rng.random(10)
    segments = np.array([[0, 7, 1], [7, 10, 0]], dtype=np.int64)
    mask = np.r_[np.ones(7), np.zeros(3)]
    t, lr, b1, b2, eps = 3, 0.01, 0.9, 0.999, 1e-8
    ref = naive.adam_step(params, grads, m, v, mask, lr, t, b1, b2, eps, 0.02)
    for dtype, rtol in ((np.float64, 1e-9), (np.float32, 2e-5)):
        p, m2, v2 = params.astype(dtype), m.astype(dtype), v.astype(dtype)
        step = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        K.adam_step_(p, grads.astype(dtype), m2, v2, segments, step, b1, b2, eps, 0.02)
        for got, want in zip((p, m2, v2), ref, strict=True):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


# ---------------------------------------------------------------------- forward and backward


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("output", ["softmax", "identity"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_matches_naive(activation, output, dtype):
    sizes = [5, 7, 6, 3]
    coefs, intercepts = _net(sizes, seed=6, dtype=dtype)
    X = np.random.default_rng(7).random((11, 5)).astype(dtype)
    prop = forward(X, coefs, intercepts, activation, output)
    c64 = [W.astype(np.float64) for W in coefs]
    b64 = [b.astype(np.float64) for b in intercepts]
    _, ref = naive.forward(X.astype(np.float64), c64, b64, activation, output)
    rtol = RTOL64 if dtype == np.float64 else 2e-5
    for got, want in zip(prop.activations, ref, strict=True):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6 if dtype == np.float32 else 0)


def _check_relu_kinks(X, coefs, intercepts, activation, margin):
    if activation != "relu":
        return
    Zs, _ = naive.forward(X, coefs, intercepts, activation, "identity")
    assert min(np.abs(Z).min() for Z in Zs[:-1]) > margin, "a pre-activation sits on the ReLU kink"


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("output", ["softmax", "identity"])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_backprop_matches_finite_differences(activation, output, alpha):
    sizes = [4, 5, 3, 3]
    coefs, intercepts = _net(sizes, seed=8)
    rng = np.random.default_rng(9)
    X = rng.random((6, 4))
    y = rng.integers(0, 3, 6) if output == "softmax" else rng.standard_normal((6, 3))
    h = 1e-6
    _check_relu_kinks(X, coefs, intercepts, activation, margin=10 * h)
    prop = Propagation(sizes, 6, np.float64)
    forward(X, coefs, intercepts, activation, output, out=prop)
    backward(prop, y, coefs, activation, output, alpha=alpha)
    assert prop.loss == pytest.approx(
        naive.loss(X, y, coefs, intercepts, activation, output, alpha), rel=1e-12
    )
    for params, grads in ((coefs, prop.coef_grads), (intercepts, prop.intercept_grads)):
        for P, G in zip(params, grads, strict=True):
            numeric = np.empty_like(P)
            for idx in np.ndindex(P.shape):
                old = P[idx]
                P[idx] = old + h
                up = naive.loss(X, y, coefs, intercepts, activation, output, alpha)
                P[idx] = old - h
                down = naive.loss(X, y, coefs, intercepts, activation, output, alpha)
                P[idx] = old
                numeric[idx] = (up - down) / (2 * h)
            np.testing.assert_allclose(G, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("activation", ACTS)
def test_backward_matches_naive_recursion(activation):
    sizes = [8, 16, 12, 4]
    coefs, intercepts = _net(sizes, seed=10)
    rng = np.random.default_rng(11)
    X = rng.random((20, 8))
    y = rng.integers(0, 4, 20)
    prop = Propagation(sizes, 32, np.float64)  # capacity larger than the batch
    forward(X, coefs, intercepts, activation, "softmax", out=prop)
    backward(prop, y, coefs, activation, "softmax", alpha=0.1)
    deltas, cg, ig = naive.gradients(X, y, coefs, intercepts, activation, "softmax", alpha=0.1)
    for got, want in zip(
        prop.deltas + prop.coef_grads + prop.intercept_grads, deltas + cg + ig, strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=RTOL64, atol=1e-15)


def test_dropout_gradient_matches_finite_differences_with_a_fixed_mask():
    sizes = [4, 6, 5, 3]
    coefs, intercepts = _net(sizes, seed=12)
    rng = np.random.default_rng(13)
    X, y = rng.random((5, 4)), rng.integers(0, 3, 5)
    prop = Propagation(sizes, 5, np.float64, dropout_input=0.2, dropout_hidden=0.5)
    prop.draw_noise(np.random.default_rng(14), 5)

    def loss():
        forward(X, coefs, intercepts, "tanh", "softmax", out=prop)
        return backward(prop, y, coefs, "tanh", "softmax").loss

    loss()
    grads = [g.copy() for g in prop.coef_grads]
    assert any((n[:5] < 0.5).any() for n in prop._noise[1:])  # some hidden units were dropped
    h = 1e-6
    for W, G in zip(coefs, grads, strict=True):
        numeric = np.empty_like(W)
        for idx in np.ndindex(W.shape):
            old = W[idx]
            W[idx] = old + h
            up = loss()
            W[idx] = old - h
            down = loss()
            W[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(G, numeric, rtol=1e-6, atol=1e-10)


def test_one_full_batch_sgd_epoch_equals_naive_step(small):
    X, y = small
    clf = MLPClassifier(
        (5, 4),
        solver="sgd",
        batch_size=len(X),
        learning_rate_init=0.5,
        momentum=0.0,
        alpha=0.2,
        dtype=np.float64,
        random_state=0,
    )
    clf.initialize(X, y)
    before_c = [W.copy() for W in clf.coefs_]
    before_b = [b.copy() for b in clf.intercepts_]
    clf.partial_fit(X, y)
    _, cg, ig = naive.gradients(X, y, before_c, before_b, "sigmoid", "softmax", alpha=0.2)
    for W, W0, G in zip(clf.coefs_, before_c, cg, strict=True):
        np.testing.assert_allclose(W, W0 - 0.5 * G, rtol=1e-9, atol=1e-12)
    for b, b0, G in zip(clf.intercepts_, before_b, ig, strict=True):
        np.testing.assert_allclose(b, b0 - 0.5 * G, rtol=1e-9, atol=1e-12)
    assert clf.loss_curve_[0] == pytest.approx(
        naive.loss(X, y, before_c, before_b, "sigmoid", "softmax", 0.2), rel=1e-10
    )


# ------------------------------------------------------------------------------------ learning


@pytest.mark.parametrize(
    ("solver", "kwargs"),
    [
        ("sgd", {"learning_rate_init": 0.2, "max_iter": 20}),
        ("adam", {"learning_rate_init": 0.003, "max_iter": 20}),
        ("cg", {"cg_batch_size": 650, "max_iter": 12, "cg_top_layer_epochs": 2}),
    ],
)
def test_learns_digits(digits, solver, kwargs):
    Xtr, ytr, Xte, yte = digits
    clf = MLPClassifier((64,), solver=solver, random_state=0, **kwargs).fit(Xtr, ytr)
    assert clf.score(Xte, yte) > 0.9
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    proba = clf.predict_proba(Xte)
    assert proba.dtype == np.float32 and proba.shape == (len(Xte), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(clf.predict(Xte), clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(Xte)), proba, rtol=1e-4, atol=1e-6)


def test_dropout_and_schedule_train(digits):
    Xtr, ytr, Xte, yte = digits
    clf = MLPClassifier(
        (64,),
        solver="sgd",
        learning_rate_init=0.3,
        learning_rate_schedule="exponential",
        lr_decay=0.9,
        dropout_input=0.1,
        dropout_hidden=0.3,
        max_iter=15,
        random_state=0,
    ).fit(Xtr, ytr)
    assert clf.score(Xte, yte) > 0.9
    np.testing.assert_allclose(clf.history_["learning_rate"], 0.3 * 0.9 ** np.arange(15))


def test_learning_rate_schedules():
    clf = MLPClassifier(
        learning_rate_init=1.0, learning_rate_schedule="step", lr_decay=0.5, lr_step_size=3
    )
    assert [clf.learning_rate_at(e) for e in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    clf.set_params(learning_rate_schedule=lambda e: 1 / (1 + e))
    assert clf.learning_rate_at(3) == 0.25


def test_callable_schedules_old_factor_form_is_deprecated_new_form_returns_the_rate(small):
    X, y = small
    params = dict(
        hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=0.2, max_iter=3, random_state=0
    )
    # The unified contract: schedule(epoch, learning_rate) returns the learning rate.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=3 does not converge
        clf = MLPClassifier(**params, learning_rate_schedule=lambda e, lr: lr * 0.5**e).fit(X, y)
    assert clf.history_["learning_rate"] == [0.2, 0.1, 0.05]
    # The MLP's old form, one parameter returning a factor, keeps its meaning with a warning.
    with pytest.warns(DeprecationWarning, match="one parameter .* a factor") as record:
        old = MLPClassifier(**params, learning_rate_schedule=lambda e: 0.5**e).fit(X, y)
    assert record[0].filename == __file__
    assert old.history_["learning_rate"] == clf.history_["learning_rate"]
    for W, W2 in zip(old.coefs_, clf.coefs_, strict=True):
        np.testing.assert_array_equal(W, W2)


@pytest.mark.parametrize("stop", [True, np.True_, 1, "yes"])
def test_any_truthy_callback_return_stops_training(small, stop):
    X, y = small
    seen = []

    def callback(estimator, epoch, logs):
        seen.append(epoch)
        return stop if epoch == 2 else None

    clf = MLPClassifier((4,), solver="adam", max_iter=10, random_state=0)
    clf.fit(X, y, callbacks=callback)
    assert seen == [1, 2] and clf.n_iter_ == 2


def test_keyboard_interrupt_warning_points_at_the_caller(small):
    X, y = small

    def interrupt(estimator, epoch, logs):
        raise KeyboardInterrupt

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        MLPClassifier((4,), max_iter=5, random_state=0).fit(X, y, callbacks=[interrupt])
    [warning] = [w for w in record if issubclass(w.category, RuntimeWarning)]
    assert "interrupted during epoch 1" in str(warning.message)
    assert warning.filename == __file__  # the line that called fit, not a line of dbn


def test_regressor_fits_smooth_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, (400, 1))
    y = np.sin(2 * X[:, 0])
    reg = MLPRegressor(
        (32,),
        activation="tanh",
        solver="adam",
        learning_rate_init=0.02,
        max_iter=200,
        random_state=0,
        batch_size=50,
    ).fit(X, y)
    assert reg.predict(X).shape == (400,)
    assert reg.score(X, y) > 0.98
    Xt = rng.uniform(-2, 2, (100, 1))
    assert reg.score(Xt, np.sin(2 * Xt[:, 0])) > 0.97
    # 2-D targets give 2-D predictions.
    reg2 = MLPRegressor((8,), max_iter=3, random_state=0).fit(X, np.c_[y, -y])
    assert reg2.predict(X).shape == (400, 2)


def test_early_stopping_restores_best_weights(digits):
    Xtr, ytr, _, _ = digits
    snapshots = []
    clf = MLPClassifier(
        (32,),
        solver="sgd",
        learning_rate_init=0.5,
        early_stopping=True,
        n_iter_no_change=3,
        max_iter=60,
        random_state=0,
    )
    clf.fit(
        Xtr,
        ytr,
        callbacks=[lambda est, epoch, logs: snapshots.append([W.copy() for W in est.coefs_])],
    )
    scores = clf.validation_scores_
    assert len(scores) == clf.n_iter_ == len(snapshots) < 60
    best = int(np.argmax(scores))  # first epoch reaching the maximum, as the rule keeps it
    assert clf.best_validation_score_ == scores[best]
    assert best < clf.n_iter_ - 1  # it did train past the best epoch
    for W, W_best in zip(clf.coefs_, snapshots[best], strict=True):
        np.testing.assert_array_equal(W, W_best)
    assert np.nanmin(clf.history_["val_error"]) == pytest.approx(1 - scores[best])


def test_explicit_validation_set_is_recorded(digits):
    Xtr, ytr, Xte, yte = digits
    clf = MLPClassifier((16,), max_iter=3, random_state=0, learning_rate_init=0.01)
    clf.fit(Xtr, ytr, X_val=Xte, y_val=yte)
    assert len(clf.history_["val_loss"]) == 3
    assert 1 - clf.history_["val_error"][-1] == pytest.approx(clf.score(Xte, yte))
    keys = {"epoch", "train_loss", "val_loss", "val_error", "learning_rate", "time"}
    assert set(clf.history_) == keys
    # The contract of every dbn estimator: completed epochs from 1, each epoch's own seconds.
    assert clf.history_["epoch"] == [1, 2, 3]
    assert all(type(epoch) is int for epoch in clf.history_["epoch"])
    assert len(clf.history_["time"]) == 3 and all(t > 0 for t in clf.history_["time"])


@pytest.mark.parametrize("solver", ["sgd", "adam", "cg", "lbfgs"])
def test_history_counts_epochs_and_each_epochs_seconds(small, solver):
    X, y = small
    clf = MLPClassifier((5,), solver=solver, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        if solver != "lbfgs":  # partial_fit trains the minibatch solvers only
            clf.partial_fit(X, y)
    n = clf.n_iter_
    assert clf.history_["epoch"] == list(range(1, n + 1))
    assert all(type(epoch) is int for epoch in clf.history_["epoch"])
    assert all(len(values) == n for values in clf.history_.values())
    assert all(t > 0 for t in clf.history_["time"])


def test_zero_init_never_breaks_symmetry(small):
    X, y = small
    clf = MLPClassifier(
        (6, 5),
        init="zeros",
        solver="sgd",
        learning_rate_init=0.5,
        max_iter=20,
        random_state=0,
        dtype=np.float64,
    ).fit(X, y)
    W_out = clf.coefs_[-1]
    assert np.abs(W_out).max() > 1e-3  # it did train
    for W in clf.coefs_[:-1]:
        np.testing.assert_allclose(W, W[:, :1].repeat(W.shape[1], axis=1), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(W_out, W_out[:1].repeat(W_out.shape[0], axis=0), rtol=1e-12)


def test_cg_top_layer_epochs_freeze_hidden_layers(small):
    X, y = small
    clf = MLPClassifier((5,), solver="cg", cg_top_layer_epochs=2, max_iter=2, random_state=0)
    clf.initialize(X, y)
    W0 = clf.coefs_[0].copy()
    top0 = clf.coefs_[1].copy()
    clf.partial_fit(X, y)
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], W0)
    assert not np.array_equal(clf.coefs_[1], top0)
    clf.partial_fit(X, y)  # epoch 3: every layer moves
    assert not np.array_equal(clf.coefs_[0], W0)


def test_lsuv_init_in_estimator(small):
    X, y = small
    clf = MLPClassifier((16, 8), init="lsuv", random_state=0, dtype=np.float64).initialize(X, y)
    prop = forward(X, clf.coefs_, clf.intercepts_, "sigmoid", "softmax")
    for A, W in zip(prop.inputs, clf.coefs_, strict=True):
        assert np.var(A @ W) == pytest.approx(1.0, abs=0.15)


def test_partial_fit_continues(small):
    X, y = small
    clf = MLPClassifier((8,), solver="sgd", learning_rate_init=0.5, random_state=0)
    clf.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and list(clf.classes_) == [0, 1, 2]
    for _ in range(30):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 31 and len(clf.loss_curve_) == 31
    assert clf.loss_curve_[-1] < clf.loss_curve_[1]
    with pytest.raises(ValueError, match=r"labels \[7\] not in classes_"):
        clf.partial_fit(X[:3], [0, 1, 7])


# ---------------------------------------------------------------------- determinism, inputs


def test_same_seed_same_weights(small):
    X, y = small
    kw = dict(solver="adam", max_iter=5, random_state=42, dropout_hidden=0.2)
    a = MLPClassifier((7, 5), **kw).fit(X, y)
    b = MLPClassifier((7, 5), **kw).fit(X, y)
    c = MLPClassifier((7, 5), **{**kw, "random_state": 43}).fit(X, y)
    for Wa, Wb, Wc in zip(a.coefs_, b.coefs_, c.coefs_, strict=True):
        np.testing.assert_array_equal(Wa, Wb)
        assert not np.array_equal(Wa, Wc)


def test_inputs_not_mutated_and_layouts_agree(small):
    X, y = small
    pre = [(np.random.default_rng(0).standard_normal((6, 5)), np.zeros(5))]
    X_copy, y_copy, pre_copy = X.copy(), y.copy(), [(W.copy(), b.copy()) for W, b in pre]
    kw = dict(max_iter=4, random_state=0, pretrained_layers=pre, dtype=np.float64)
    ref = MLPClassifier((5, 3), **kw).fit(X, y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(pre[0][0], pre_copy[0][0])
    X_f = np.asfortranarray(X)
    X_strided = np.repeat(X, 2, axis=1)[:, ::2]
    assert not X_strided.flags.c_contiguous
    for Xv in (X_f, X_strided, X.tolist(), X.astype(np.float32)):
        other = MLPClassifier((5, 3), **kw).fit(Xv, y)
        for W1, W2 in zip(ref.coefs_, other.coefs_, strict=True):
            np.testing.assert_allclose(W1, W2, rtol=1e-5 if Xv is not X_f else 0)
        np.testing.assert_allclose(ref.predict_proba(X_f), ref.predict_proba(X), rtol=1e-12)


def test_float64_dtype(small):
    X, y = small
    clf = MLPClassifier((4,), dtype=np.float64, max_iter=2, random_state=0).fit(
        X.astype(np.float32), y
    )
    assert all(W.dtype == np.float64 for W in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X).dtype == np.float64


def test_string_labels(small):
    X, y = small
    labels = np.array(["a", "b", "c"])[y]
    clf = MLPClassifier((8,), max_iter=5, random_state=0).fit(X, labels)
    assert set(clf.predict(X)) <= {"a", "b", "c"}


# ------------------------------------------------------------------------------ pretrained


def test_hidden_activations_before_fit_equal_naive_forward():
    rng = np.random.default_rng(0)
    pre = [
        (rng.standard_normal((6, 5)), rng.standard_normal(5)),
        (rng.standard_normal((5, 4)), rng.standard_normal(4)),
    ]
    X = rng.random((9, 6))
    clf = MLPClassifier((5, 4), pretrained_layers=pre, dtype=np.float64)
    _, ref = naive.forward(X, [W for W, _ in pre], [b for _, b in pre], "sigmoid", "sigmoid")
    np.testing.assert_allclose(clf.hidden_activations(X), ref[-1], rtol=RTOL64)
    np.testing.assert_allclose(clf.hidden_activations(X, layer=0), ref[1], rtol=RTOL64)
    assert not hasattr(clf, "coefs_")
    assert "pretrained_layers=[((6, 5), (5,)), ((5, 4), (4,))]" in repr(clf)
    # After fit the pretrained weights are the starting point, and they get fine-tuned.
    y = rng.integers(0, 2, 9)
    clf.set_params(max_iter=1, solver="sgd", learning_rate_init=0.1).initialize(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], pre[0][0])
    np.testing.assert_allclose(clf.hidden_activations(X), ref[-1], rtol=RTOL64)


def test_hidden_activations_needs_weights():
    with pytest.raises(NotFittedError, match="not fitted"):
        MLPClassifier((3,)).hidden_activations(np.ones((2, 2)))


@pytest.mark.parametrize(
    ("pre", "match"),
    [
        ([(np.ones((6, 4)), np.zeros(4))], r"expected 5 columns to match hidden_layer_sizes\[0\]"),
        ([(np.ones((6, 5)), np.zeros(5)), (np.ones((4, 3)), np.zeros(3))], "expected 5 rows"),
        ([(np.ones((6, 5)), np.zeros(4))], r"b of shape \(4,\): expected \(5,\)"),
        ([(np.ones((7, 5)), np.zeros(5))], "expected 6 rows to match the 6 features"),
        ([(np.ones((6, 5)), np.zeros(5))] * 3, "has 3 layers but"),
    ],
)
def test_pretrained_layers_are_validated(small, pre, match):
    X, y = small
    with pytest.raises(ValueError, match=match):
        MLPClassifier((5, 3), pretrained_layers=pre).fit(X, y)


def test_pretrained_scale_unit_variance_rescales_on_the_training_rows(small):
    from dbn.init import rescale_to_unit_variance

    X, y = small
    rng = np.random.default_rng(2)
    pre = [
        (0.05 * rng.standard_normal((6, 5)), np.zeros(5)),
        (0.05 * rng.standard_normal((5, 4)), np.zeros(4)),
    ]
    given = [(W.copy(), b.copy()) for W, b in pre]
    as_trained = MLPClassifier((5, 4), pretrained_layers=pre, dtype=np.float64, random_state=0)
    scaled = clone(as_trained).set_params(pretrained_scale="unit_variance")
    as_trained.initialize(X, y)
    scaled.initialize(X, y)
    np.testing.assert_array_equal(as_trained.coefs_[0], pre[0][0])
    # At most 512 rows: all of the 120 here (in order), so the reference sees the same rows.
    W, b = rescale_to_unit_variance([W for W, _ in pre], [b for _, b in pre], X)
    for i in range(2):
        np.testing.assert_allclose(scaled.coefs_[i], W[i], rtol=1e-12)
        np.testing.assert_allclose(scaled.intercepts_[i], b[i], rtol=1e-12, atol=1e-14)
    # The output layer is drawn as without rescaling; the pretrained arrays are not modified.
    np.testing.assert_array_equal(scaled.coefs_[2].shape, as_trained.coefs_[2].shape)
    for (W, b), (W0, b0) in zip(pre, given, strict=True):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        scaled.set_params(max_iter=3).fit(X, y)
    assert scaled.n_iter_ == 3


def test_pretrained_scale_is_validated(small):
    X, y = small
    pre = [(np.ones((6, 5)), np.zeros(5))]
    with pytest.raises(
        ValueError,
        match=r"pretrained_scale must be one of \['as_trained', 'unit_variance'\], got 'unit'",
    ):
        MLPClassifier((5,), pretrained_layers=pre, pretrained_scale="unit").fit(X, y)


# ----------------------------------------------------------------------------- robustness


def test_keyboard_interrupt_keeps_last_completed_epoch(small):
    X, y = small
    seen = {}

    def interrupt(est, epoch, logs):
        seen[epoch] = [W.copy() for W in est.coefs_]
        if epoch == 3:
            raise KeyboardInterrupt

    clf = MLPClassifier((6,), solver="sgd", learning_rate_init=0.5, max_iter=10, random_state=0)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        assert clf.fit(X, y, callbacks=[interrupt]) is clf
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    for W, W3 in zip(clf.coefs_, seen[3], strict=True):
        np.testing.assert_array_equal(W, W3)
    assert clf.predict(X).shape == (len(X),)


def test_divergence_raises_and_keeps_finite_weights():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4))
    y = X @ rng.standard_normal(4) * 100
    reg = MLPRegressor(
        (16, 16),
        activation="relu",
        solver="sgd",
        learning_rate_init=1e3,
        momentum=0.9,
        max_iter=50,
        random_state=0,
    )
    with pytest.raises(DivergenceError, match=r"epoch \d+.*learning_rate_init") as info:
        reg.fit(X, y)
    epoch = int(str(info.value).split("epoch ")[1].split(":")[0])
    assert reg.n_iter_ == epoch - 1
    assert all(np.isfinite(W).all() for W in reg.coefs_ + reg.intercepts_)


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"hidden_layer_sizes": (5, 0)}, ValueError, "hidden_layer_sizes"),
        ({"activation": "softplus"}, ValueError, r"activation must be one of .*'softplus'"),
        ({"solver": "newton"}, ValueError, "solver must be one of"),
        ({"learning_rate": "cosine"}, ValueError, r"learning_rate must be one of .*'cosine'"),
        ({"power_t": -0.5}, ValueError, r"power_t must be in \[0, inf\], got -0.5"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be a bool"),
        ({"warm_start": 1}, TypeError, "warm_start must be a bool"),
        ({"max_fun": 0}, ValueError, "max_fun"),
        ({"n_iter_no_change": 0}, ValueError, "n_iter_no_change"),
        ({"n_iter_no_change": 2.5}, TypeError, "n_iter_no_change must be an integer"),
        (
            {"learning_rate": "invscaling", "learning_rate_schedule": "step"},
            ValueError,
            "both set the learning rate's schedule",
        ),
        ({"solver": "lbfgs", "dropout_hidden": 0.5}, ValueError, "solver='lbfgs' minimises"),
        ({"alpha": -1.0}, ValueError, r"alpha must be in \[0, inf\], got -1.0"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"learning_rate_init": 0.0}, ValueError, r"learning_rate_init must be in \(0, inf\]"),
        ({"max_iter": 2.5}, TypeError, "max_iter must be an integer"),
        ({"momentum": 1.5}, ValueError, "momentum"),
        ({"nesterovs_momentum": "yes"}, TypeError, "nesterovs_momentum must be a bool"),
        ({"validation_fraction": 1.0}, ValueError, "validation_fraction"),
        ({"dropout_hidden": 1.0}, ValueError, "dropout_hidden"),
        ({"init": "glorot"}, ValueError, r"init must be a callable or one of .*'glorot'"),
        ({"learning_rate_schedule": "cosine"}, ValueError, "learning_rate_schedule"),
        ({"dtype": np.int32}, ValueError, "dtype"),
        ({"random_state": "seed"}, TypeError, "random_state"),
        ({"pretrained_layers": np.ones((2, 2))}, TypeError, "pretrained_layers"),
    ],
)
def test_bad_hyperparameters(small, params, error, match):
    X, y = small
    with pytest.raises(error, match=match):
        MLPClassifier(**{"max_iter": 1, **params}).fit(X, y)


def test_bad_data(small):
    X, y = small
    clf = MLPClassifier((4,), max_iter=1)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="X must contain only finite values"):
        clf.fit(X_nan, y)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        clf.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="y has 119 samples but X has 120"):
        clf.fit(X, y[:-1])
    with pytest.raises(NotFittedError):
        clf.predict(X)
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but MLPClassifier is expecting 6"):
        clf.predict(X[:, :5])
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        clf.fit(X, y, X_val=X)
    with pytest.raises(TypeError, match="must be a bool"):
        MLPClassifier(early_stopping=1).fit(X, y)
    with pytest.raises(ValueError, match="y_val has 3 samples but X has 4"):
        clf.fit(X, y, X_val=X[:4], y_val=y[:3])


def test_init_callable_with_wrong_shape(small):
    X, y = small
    with pytest.raises(ValueError, match=r"init returned an array of shape \(2, 2\)"):
        MLPClassifier((4,), init=lambda i, o, **kw: np.ones((2, 2))).fit(X, y)
    # A callable without gain works, and functools.partial of a named initialiser too.
    MLPClassifier((4,), init=functools.partial(init.normal, std=0.1), max_iter=1).fit(X, y)


# ------------------------------------------------------------------------------- sklearn API


def test_sklearn_compatibility(digits):
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    Xtr, ytr, Xte, yte = digits
    clf = MLPClassifier((16,), max_iter=10, random_state=0, learning_rate_init=0.02)
    assert is_classifier(clf) and is_regressor(MLPRegressor())
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and twin is not clf
    assert "hidden_layer_sizes=(16,)" in repr(clf)
    with pytest.raises(ValueError, match="Invalid parameter 'hidden'"):
        clf.set_params(hidden=3)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", clf)]).fit(Xtr[:400], ytr[:400])
    assert pipe.score(Xte, yte) > 0.5
    grid = GridSearchCV(twin, {"alpha": [1e-4, 1e-2]}, cv=2).fit(Xtr[:300], ytr[:300])
    assert grid.best_params_["alpha"] in (1e-4, 1e-2)
    assert not hasattr(twin, "coefs_")  # the search fitted clones
    assert grid.best_estimator_.score(Xte, yte) > 0.5


def test_pickle_round_trip(small):
    import pickle

    X, y = small
    clf = MLPClassifier((5,), max_iter=3, random_state=0).fit(X, y)
    other = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(other.predict_proba(X), clf.predict_proba(X))
    other.partial_fit(X, y)
    assert other.n_iter_ == 4


# ------------------------------------------------------------------------------------- max-norm
def test_clip_column_norms_matches_a_naive_renormalisation():
    from dbn._backprop import clip_column_norms

    rng = np.random.default_rng(0)
    W = rng.normal(0, 1.0, (30, 8)).astype(np.float32)
    expected = W.astype(np.float64).copy()
    for j in range(8):
        norm = np.linalg.norm(expected[:, j])
        if norm > 4.0:
            expected[:, j] *= 4.0 / norm
    clip_column_norms(W, 4.0)
    np.testing.assert_allclose(W, expected, rtol=1e-6)
    assert (np.linalg.norm(expected, axis=0) <= 4.0 + 1e-9).all()
    assert (np.linalg.norm(W, axis=0) < 4.0).any()  # columns below the limit are untouched


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_max_norm_bounds_every_hidden_units_incoming_weights(solver):
    rng = np.random.default_rng(1)
    X = rng.random((200, 12)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    params = dict(
        hidden_layer_sizes=(16, 8),
        solver=solver,
        learning_rate_init=0.5 if solver == "sgd" else 0.05,
        max_iter=5,
        batch_size=20,
        random_state=0,
    )
    free = MLPClassifier(**params).fit(X, y)
    limit = 0.5 * min(np.linalg.norm(W, axis=0).max() for W in free.coefs_[:-1])
    clipped = MLPClassifier(max_norm=limit, **params).fit(X, y)
    for W in clipped.coefs_[:-1]:
        assert np.linalg.norm(W.astype(np.float64), axis=0).max() <= limit * (1 + 1e-5)
    # The output layer is not constrained, and the constraint changed the hidden weights.
    assert not np.allclose(clipped.coefs_[0], free.coefs_[0])
    with pytest.raises(ValueError, match="max_norm"):
        MLPClassifier(max_norm=0.0, max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="does not apply to solver='cg'"):
        MLPClassifier(max_norm=3.0, solver="cg", max_iter=1).fit(X, y)


def test_engine_level_hooks_for_external_drivers():
    # What dbn.dask.fit_mlp drives the backprop engine with, instead of private names.
    X = np.random.default_rng(0).random((30, 5))
    y = np.arange(30) % 3
    clf = MLPClassifier((4,), dropout_hidden=0.25, max_norm=2.0, dtype=np.float32)
    spec = clf.network_spec()
    assert spec["solver"] == "adam" and spec["dtype"] == np.float32
    assert spec["dropout"] == (0.0, 0.25) and spec["max_norm"] == 2.0
    assert len(spec["kinds"]) == 2
    # A sample lacking class 3 still gets every class of the whole data.
    clf.initialize(X, y, classes=[0, 1, 2, 3])
    assert clf.classes_.tolist() == [0, 1, 2, 3] and clf.coefs_[-1].shape == (4, 4)
    assert clf.minibatch_size(1000) == 200 and clf.minibatch_size(50) == 50
    with pytest.raises(ValueError, match="classes applies to classifiers"):
        MLPRegressor((4,)).initialize(X, y.astype(float), classes=[0, 1])
    with pytest.raises(ValueError, match="max_norm"):
        MLPClassifier(max_norm=-1.0).network_spec()
