"""The MLPs' scikit-learn dialect, checked on dbn's own terms: the maths of the weighted and Poisson
losses, L-BFGS, the schedules, shuffle, warm start, multilabel and one-class targets.

scikit-learn's own test file runs on dbn's MLPs in ``test_sklearn_mlp_suite.py``; these tests check
what that file cannot see (exact equalities, gradients, persistence of the new state).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

import dbn._backprop as bp
from dbn._activations import kinds_of
from dbn.mlp import MLPClassifier, MLPRegressor, backward, forward


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.random((40, 5))
    y = (X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 2] > 0.5)
    return X, y


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit()


# ------------------------------------------------------------------------------- the losses


def _finite_difference_check(loss, kinds, X, target, coefs, intercepts, sample_weight, alpha):
    sizes = (X.shape[1], *(W.shape[1] for W in coefs))
    flat, coefs, intercepts = bp.pack(coefs, intercepts, np.float64)
    prop = bp.Propagation(sizes, len(X), np.float64)

    def loss_and_grad():
        bp.forward(X, coefs, intercepts, kinds, prop, keep_logits=True)
        bp.backward(prop, target, coefs, kinds, loss, alpha=alpha, sample_weight=sample_weight)
        return prop.loss, prop.grad.copy()

    _, grad = loss_and_grad()
    h, numeric = 1e-6, np.empty_like(flat)
    for i in range(len(flat)):
        flat[i] += h
        up, _ = loss_and_grad()
        flat[i] -= 2 * h
        down, _ = loss_and_grad()
        flat[i] += h
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    ("loss", "output"),
    [
        ("softmax_cross_entropy", "softmax"),
        ("half_squared_error", "identity"),
        ("sigmoid_cross_entropy", "logistic"),
        ("poisson", "identity"),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_losses_match_finite_differences(loss, output, weighted):
    rng = np.random.default_rng(1)
    X = rng.random((7, 4))
    coefs = [rng.standard_normal((4, 5)) / 2, rng.standard_normal((5, 3)) / 2]
    intercepts = [0.1 * rng.standard_normal(5), 0.1 * rng.standard_normal(3)]
    target = {
        "softmax_cross_entropy": rng.integers(0, 3, 7),
        "half_squared_error": rng.standard_normal((7, 3)),
        "sigmoid_cross_entropy": (rng.random((7, 3)) < 0.5).astype(float),
        "poisson": rng.poisson(2.0, (7, 3)).astype(float),
    }[loss]
    weights = rng.random(7) * 3 if weighted else None
    kinds = kinds_of(2, "tanh", output)
    _finite_difference_check(loss, kinds, X, target, coefs, intercepts, weights, alpha=0.3)


def test_poisson_loss_is_the_half_deviance():
    rng = np.random.default_rng(5)
    log_mean, y = rng.standard_normal((6, 2)), rng.poisson(2.0, (6, 2)).astype(float)
    mu = np.exp(log_mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(y > 0, y * np.log(y / mu), 0.0) - y + mu
    np.testing.assert_allclose(bp._poisson_rows(log_mean, y), expected.sum(axis=1), rtol=1e-12)


def _propagated(X, coefs, intercepts):
    """A forward pass of a sigmoid / softmax net into buffers with gradients."""
    sizes = (X.shape[1], *(W.shape[1] for W in coefs))
    prop = bp.Propagation(sizes, len(X), np.float64)
    return forward(X, coefs, intercepts, "sigmoid", "softmax", out=prop)


def test_weighted_loss_is_the_loss_of_repeated_samples():
    rng = np.random.default_rng(2)
    X, y = rng.random((6, 3)), rng.integers(0, 2, 6)
    coefs = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))]
    intercepts = [np.zeros(4), np.zeros(2)]
    counts = np.array([1, 0, 3, 2, 1, 1])
    weighted = _propagated(X, coefs, intercepts)
    kinds = kinds_of(2, "sigmoid", "softmax")
    bp.backward(
        weighted, y, coefs, kinds, "softmax_cross_entropy", alpha=0.5, sample_weight=counts * 1.0
    )
    repeated = _propagated(np.repeat(X, counts, axis=0), coefs, intercepts)
    backward(repeated, np.repeat(y, counts), coefs, "sigmoid", "softmax", alpha=0.5)
    assert weighted.loss == pytest.approx(repeated.loss, rel=1e-12)
    np.testing.assert_allclose(weighted.grad, repeated.grad, rtol=1e-10, atol=1e-14)


# ------------------------------------------------------------------------------- sample_weight


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_integer_weights_train_as_repeated_samples(data, solver):
    X, y = data
    counts = np.arange(len(X)) % 3  # zeros remove rows
    params = dict(
        hidden_layer_sizes=(6,),
        solver=solver,
        batch_size=200,  # one minibatch holds every row, weighted or repeated
        max_iter=15,
        dtype=np.float64,
        random_state=0,
    )
    weighted = _quiet(lambda: MLPClassifier(**params).fit(X, y, sample_weight=counts))
    repeated = _quiet(
        lambda: MLPClassifier(**params).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts))
    )
    for a, b in zip(weighted.coefs_, repeated.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_unit_weights_are_no_weights_and_weights_are_not_mutated(data):
    X, y = data
    weights = np.ones(len(X))
    before = weights.copy()
    a = _quiet(lambda: MLPRegressor((4,), max_iter=5, random_state=0).fit(X, y, weights))
    b = _quiet(lambda: MLPRegressor((4,), max_iter=5, random_state=0).fit(X, y))
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    np.testing.assert_array_equal(weights, before)


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (-np.ones(40), "sample_weight must hold weights >= 0, got -1.0"),
        (np.zeros(40), "sample_weight must have a positive sum"),
        (np.ones(39), "sample_weight has 39 samples but X has 40"),
    ],
)
def test_bad_sample_weight_is_refused(data, weights, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        MLPClassifier((3,), max_iter=1).fit(X, y, sample_weight=weights)


# ------------------------------------------------------------------------------------- L-BFGS


def test_lbfgs_reaches_a_stationary_point_and_saves(data, tmp_path):
    X, y = data
    clf = MLPClassifier((5,), solver="lbfgs", tol=1e-7, max_iter=2000, alpha=0.1)
    clf.set_params(dtype=np.float64, random_state=0, activation="tanh").fit(X, y)
    prop = bp.Propagation((X.shape[1], 5, 3), len(X), np.float64)
    forward(X, clf.coefs_, clf.intercepts_, "tanh", "softmax", out=prop)
    backward(prop, np.searchsorted(clf.classes_, y), clf.coefs_, "tanh", "softmax", alpha=0.1)
    # scipy also stops on a relative loss change of 2.2e-9: near, not exactly at, zero gradient.
    assert np.abs(prop.grad).max() < 1e-4
    assert prop.loss == pytest.approx(clf.loss_curve_[-1], rel=1e-9)
    assert len(clf.history_["train_loss"]) == clf.n_iter_ > 1
    assert clf.best_loss_ == min(clf.loss_curve_)
    clf.save(tmp_path / "lbfgs.npz")
    loaded = MLPClassifier.load(tmp_path / "lbfgs.npz")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_lbfgs_max_fun_and_max_iter_bound_the_work(data):
    X, y = data
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        clf = MLPClassifier((20,), solver="lbfgs", max_fun=7, random_state=0).fit(X, y)
    assert clf.n_iter_ <= 7
    with pytest.warns(ConvergenceWarning, match="ITERATIONS REACHED LIMIT"):
        clf = MLPClassifier((20,), solver="lbfgs", max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3
    assert not hasattr(clf, "partial_fit")
    with pytest.raises(ValueError, match="solver='lbfgs' has no epochs"):
        MLPClassifier(solver="lbfgs").fit(X, y, checkpoint_dir="unused")


# ---------------------------------------------------------------------- schedules and shuffle


def test_invscaling_follows_samples_seen(data):
    X, y = data
    clf = MLPClassifier((4,), solver="sgd", learning_rate="invscaling", power_t=0.25)
    _quiet(lambda: clf.set_params(max_iter=4, batch_size=10).fit(X, y))
    n = len(X)
    expected = [1e-3 / (epoch * n + 1) ** 0.25 for epoch in range(4)]
    np.testing.assert_allclose(clf.history_["learning_rate"], expected, rtol=1e-12)
    assert clf.t_ == 4 * n
    with pytest.raises(ValueError, match="depends on the training state"):
        clf.learning_rate_at(0)  # a driver asking by epoch could not honour it


def test_adaptive_divides_by_five_until_below_1e_6(data):
    X, y = data
    clf = MLPClassifier((4,), solver="sgd", learning_rate="adaptive", tol=10.0, max_iter=500)
    clf.set_params(n_iter_no_change=2, random_state=0).fit(X, y)
    rates = sorted(set(clf.history_["learning_rate"]), reverse=True)
    np.testing.assert_allclose(rates, [1e-3 / 5**k for k in range(len(rates))], rtol=1e-12)
    assert rates[-1] <= 1e-6 < rates[-2]
    # The first epoch improves on best_loss_=inf; then each rate runs n_iter_no_change + 1 epochs.
    assert clf.n_iter_ == 1 + 3 * len(rates)


def test_shuffle_false_visits_rows_in_order(data):
    X, y = data
    params = dict(hidden_layer_sizes=(4,), batch_size=20, shuffle=False, random_state=0)
    whole = MLPClassifier(**params).partial_fit(X, y, classes=[0, 1, 2])
    halves = MLPClassifier(**params).partial_fit(X[:20], y[:20], classes=[0, 1, 2])
    halves.partial_fit(X[20:], y[20:])
    np.testing.assert_array_equal(whole.coefs_[0], halves.coefs_[0])
    shuffled = MLPClassifier(**{**params, "shuffle": True}).partial_fit(X, y, classes=[0, 1, 2])
    assert not np.array_equal(whole.coefs_[0], shuffled.coefs_[0])


def test_n_iter_no_change_inf_runs_max_iter(data):
    X, y = data
    clf = MLPClassifier((3,), tol=1e9, n_iter_no_change=np.inf, max_iter=30)
    _quiet(lambda: clf.fit(X, y))
    assert clf.n_iter_ == 30 and clf._no_improvement_count == 29


def test_verbose_prints_sklearns_lines(data, capsys):
    X, y = data
    _quiet(lambda: MLPClassifier((3,), max_iter=2, verbose=1).fit(X, y))
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["Iteration 1", "Iteration 2"]
    assert lines[0].startswith("Iteration 1, loss = ")


# ----------------------------------------------------------------------------------- warm start


class _RecordStart:
    """Callback keeping the weights each fit starts from."""

    def __init__(self):
        self.starts = []

    def on_train_begin(self, estimator):
        self.starts.append([W.copy() for W in estimator.coefs_])

    def __call__(self, estimator, epoch, logs):
        return False


def test_warm_start_continues_from_the_fitted_weights(data):
    X, y = data
    record = _RecordStart()
    clf = MLPClassifier((4,), max_iter=3, warm_start=True, random_state=0)
    _quiet(lambda: clf.fit(X, y, callbacks=record))
    fitted = [W.copy() for W in clf.coefs_]
    _quiet(lambda: clf.fit(X, y, callbacks=record))
    for a, b in zip(record.starts[1], fitted, strict=True):
        np.testing.assert_array_equal(a, b)
    assert clf.n_iter_ == 3 and clf.t_ == 6 * len(X)
    cold = MLPClassifier((4,), max_iter=3, random_state=0)
    _quiet(lambda: cold.fit(X, y, callbacks=record))  # cold starts where the first fit started
    np.testing.assert_array_equal(record.starts[2][0], record.starts[0][0])
    with pytest.raises(ValueError, match=r"warm_start can only be used where `y` has the same"):
        clf.fit(X, y % 2)
    with pytest.raises(ValueError, match="warm_start=True continues from the fitted weights"):
        clf.set_params(hidden_layer_sizes=(5,)).fit(X, y)


# ------------------------------------------------------------------------ targets sklearn takes


def test_one_class_is_predicted_everywhere(data, tmp_path):
    X, _ = data
    clf = _quiet(lambda: MLPClassifier((3,), max_iter=3).fit(X, np.full(len(X), "only")))
    assert clf.classes_.tolist() == ["only"]
    assert (clf.predict(X) == "only").all()
    np.testing.assert_allclose(clf.predict_proba(X), 1.0)
    clf.save(tmp_path / "one.npz")
    assert (MLPClassifier.load(tmp_path / "one.npz").predict(X) == "only").all()


def test_multilabel_targets_train_one_sigmoid_per_label(data, tmp_path):
    X, _ = data
    Y = np.c_[X[:, 0] > 0.5, X[:, 1] > 0.5, X[:, 0] + X[:, 1] > 1].astype(int)
    clf = MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.classes_.tolist() == [0, 1, 2]
    assert clf.predict(X).shape == Y.shape and clf.score(X, Y) > 0.9
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    assert not np.allclose(proba.sum(axis=1), 1.0)
    clf.save(tmp_path / "multilabel.npz")
    loaded = MLPClassifier.load(tmp_path / "multilabel.npz")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_sparse_input_gives_the_dense_weights(data):
    X, y = data
    dense = _quiet(lambda: MLPClassifier((4,), max_iter=3, random_state=0).fit(X, y))
    sparse = MLPClassifier((4,), max_iter=3, random_state=0)
    _quiet(lambda: sparse.fit(sp.csr_matrix(X), y))
    np.testing.assert_array_equal(dense.coefs_[0], sparse.coefs_[0])


def test_poisson_regressor_predicts_positive_means_and_refuses_negative_counts(data):
    X, _ = data
    y = np.random.default_rng(3).poisson(np.exp(X[:, 0] + 1))
    reg = MLPRegressor((1,), loss="poisson", activation="identity", solver="lbfgs", random_state=0)
    reg.fit(X, y)
    assert reg.out_activation_ == "exp" and (reg.predict(X) > 0).all()
    with pytest.raises(ValueError, match="negative which is not allowed for Poisson"):
        MLPRegressor(loss="poisson").fit(X, y - 5.0)
    with pytest.raises(ValueError, match="loss must be one of"):
        MLPRegressor(loss="huber").fit(X, y)


def test_regressor_signature_is_the_classifiers_and_loss():
    import inspect

    classifier = inspect.signature(MLPClassifier.__init__).parameters
    regressor = dict(inspect.signature(MLPRegressor.__init__).parameters)
    assert regressor.pop("loss").default == "squared_error"
    assert list(regressor) == list(classifier)
    # Equal, not identical: the two signatures live in different modules (dbn._mlp_base and
    # dbn.mlp), whose float and tuple constants are distinct objects.
    assert all(regressor[name].default == classifier[name].default for name in classifier)


def test_regressor_predicts_in_sklearns_dtype(data):
    X, y = data
    reg = _quiet(lambda: MLPRegressor((3,), max_iter=2).fit(X, np.c_[y, y]))
    assert reg.predict(X).dtype == np.float64
    assert reg.predict(X.astype(np.float32)).dtype == np.float32
    assert reg.predict(X.tolist()).dtype == np.float64


# ----------------------------------------------------------------------- early stopping state


def test_early_stopping_attributes_follow_sklearn(data):
    X, y = data
    stopping = MLPClassifier((3,), max_iter=3, early_stopping=True)
    _quiet(lambda: stopping.fit(X, y))
    assert stopping.best_loss_ is None and len(stopping.validation_scores_) == 3
    plain = _quiet(lambda: MLPClassifier((3,), max_iter=3).fit(X, y))
    assert plain.validation_scores_ is None and plain.best_validation_score_ is None
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        stopping.partial_fit(X, y)
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPRegressor(early_stopping=True).fit(X[:5], y[:5])


def test_divergence_with_early_stopping_keeps_the_best_weights():
    rng = np.random.default_rng(4)
    X = 10 * rng.random((60, 4))
    y = X @ rng.random(4)
    reg = MLPRegressor((20,), activation="identity", solver="sgd", learning_rate_init=1.0)
    reg.set_params(early_stopping=True, max_iter=30, random_state=0)
    with pytest.warns(ConvergenceWarning, match="training diverged at epoch"):
        reg.fit(X, y)
    assert np.isnan(reg.validation_scores_[-1])
    assert all(np.isfinite(W).all() for W in reg.coefs_ + reg.intercepts_)
    assert np.isfinite(reg.predict(X)).all()


# ------------------------------------------------------------------ weights set by hand, sklearn


def test_partial_fit_trains_weights_set_by_hand_one_sgd_step():
    # scikit-learn's set-up (its test_fit): assign coefs_ / intercepts_, then partial_fit.
    X = np.array([[0.6, 0.8, 0.7], [0.1, 0.2, 0.9]])
    y = np.array(["b", "a"])
    coefs = [np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0.0]]), np.array([[0.1, -0.2], [0.2, 0.4]])]
    intercepts = [np.array([0.1, 0.1]), np.array([1.0, -1.0])]
    clf = MLPClassifier(2, solver="sgd", learning_rate_init=0.1, alpha=0.1, momentum=0.0)
    clf.set_params(activation="logistic", dtype=np.float64)
    clf.coefs_ = [W.copy() for W in coefs]
    clf.intercepts_ = [b.copy() for b in intercepts]
    clf.partial_fit(X, y, classes=["a", "b"])
    assert clf.classes_.tolist() == ["a", "b"] and clf.n_iter_ == 1
    # The expected step: W <- W - lr * (dW + alpha / n * W), b <- b - lr * db.
    prop = bp.Propagation((3, 2, 2), 2, np.float64)
    forward(X, coefs, intercepts, "logistic", "softmax", out=prop)
    backward(prop, np.array([1, 0]), coefs, "logistic", "softmax")
    for i in range(2):
        expected_W = coefs[i] - 0.1 * (prop.coef_grads[i] + 0.1 / 2 * coefs[i])
        np.testing.assert_allclose(clf.coefs_[i], expected_W, rtol=1e-12)
        np.testing.assert_allclose(
            clf.intercepts_[i], intercepts[i] - 0.1 * prop.intercept_grads[i]
        )
    clf.coefs_, clf.intercepts_ = [W.copy() for W in coefs], [b.copy() for b in intercepts]
    del clf.history_, clf.classes_
    with pytest.raises(ValueError, match="classes holds 3 labels but the given weights have 2"):
        clf.partial_fit(X, y, classes=["a", "b", "c"])
    clf = MLPClassifier((4,))
    clf.coefs_, clf.intercepts_ = coefs, intercepts
    with pytest.raises(ValueError, match=r"coefs_ set before partial_fit have shapes"):
        clf.partial_fit(X, y, classes=["a", "b"])
