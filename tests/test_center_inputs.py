"""``center_inputs=True``: backprop on inputs centred by their training mean, the model kept raw.

The reference is the definition: a plain net trained on ``X - m`` whose first bias starts at
``b + m W`` follows the same optimiser path, and ``x W + (b' - m W)`` is the raw-input form of
what it learnt.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from dbn import DBN, MLPClassifier, MLPRegressor


def _lifted(n=120, d=10, seed=0):
    """Inputs far from zero (in [0.6, 1]), the case centring is for."""
    rng = np.random.default_rng(seed)
    X = 0.6 + 0.4 * rng.random((n, d))
    score = X[:, :3].sum(axis=1)
    return X, (score > np.median(score)).astype(int)


def _pretrained(d=10, h=6, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.3, (d, h)), rng.normal(0, 0.1, h)


@pytest.mark.parametrize("solver", ["sgd", "adam", "cg", "lbfgs"])
def test_training_is_that_of_the_centred_inputs_reported_in_raw_form(solver):
    X, y = _lifted()
    W, b = _pretrained()
    m = X.mean(axis=0)
    common = dict(
        hidden_layer_sizes=(6,),
        solver=solver,
        max_iter=8,
        batch_size=20,
        cg_batch_size=40,
        learning_rate_init=0.05,
        dtype=np.float64,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        centred = MLPClassifier(center_inputs=True, pretrained_layers=[(W, b)], **common)
        centred.fit(X, y)
        reference = MLPClassifier(pretrained_layers=[(W, b + m @ W)], **common).fit(X - m, y)
    np.testing.assert_allclose(centred.input_offset_, m, rtol=1e-12)
    # The two differ by the rounding of moving the bias between forms (1e-16); CG's line
    # searches, on weights that grow to 20, magnify it to 1e-9.
    tol = dict(rtol=1e-6 if solver == "cg" else 1e-9, atol=1e-12)
    for ours, theirs in zip(centred.coefs_, reference.coefs_, strict=True):
        np.testing.assert_allclose(ours, theirs, **tol)
    raw_bias = reference.intercepts_[0] - m @ reference.coefs_[0]
    np.testing.assert_allclose(centred.intercepts_[0], raw_bias, **tol)
    np.testing.assert_allclose(centred.intercepts_[1], reference.intercepts_[1], **tol)
    np.testing.assert_allclose(centred.loss_curve_, reference.loss_curve_, **tol)
    np.testing.assert_allclose(centred.predict_proba(X), reference.predict_proba(X - m), **tol)
    # The start was the same function as the pretrained raw net: the first epoch's loss on the
    # raw inputs is the reference's on the centred ones, so centring changed the path only.
    assert reference.loss_curve_[0] == pytest.approx(centred.loss_curve_[0], rel=1e-12)


def test_validation_is_measured_on_the_raw_model():
    X, y = _lifted(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net = MLPClassifier((6,), center_inputs=True, max_iter=5, random_state=0).fit(
            X[:150], y[:150], X_val=X[150:], y_val=y[150:]
        )
    # The last epoch's validation error is that of the fitted (raw) model on the raw inputs.
    assert net.history_["val_error"][-1] == pytest.approx(1 - net.score(X[150:], y[150:]))


def test_the_offset_is_kept_by_warm_start_partial_fit_and_model_files(tmp_path):
    X, y = _lifted(seed=0)
    X2, y2 = _lifted(seed=1)
    X2 = X2 - 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net = MLPClassifier((5,), center_inputs=True, max_iter=3, random_state=0).fit(X, y)
        first = net.input_offset_.copy()
        np.testing.assert_allclose(first, X.mean(axis=0), rtol=1e-6)
        net.partial_fit(X2, y2)
        np.testing.assert_array_equal(net.input_offset_, first)
        net.set_params(warm_start=True).fit(X2, y2)
        np.testing.assert_array_equal(net.input_offset_, first)
        net.save(tmp_path / "net.safetensors")
        loaded = MLPClassifier.load(tmp_path / "net.safetensors")
        np.testing.assert_array_equal(loaded.input_offset_, first)
        np.testing.assert_array_equal(loaded.predict_proba(X2), net.predict_proba(X2))
        # New weights, new mean.
        net.set_params(warm_start=False).fit(X2, y2)
        np.testing.assert_allclose(net.input_offset_, X2.mean(axis=0), rtol=1e-6)
        plain = MLPRegressor((4,), max_iter=3, random_state=0).fit(X, X[:, 0])
    assert plain.input_offset_ is None


def test_center_inputs_must_be_a_bool():
    X, y = _lifted()
    with pytest.raises(TypeError, match="center_inputs must be a bool"):
        MLPClassifier(center_inputs="yes").fit(X, y)


def test_centring_lets_sgd_fine_tune_a_dbn_on_brightened_digits():
    # scikit-learn's digits lifted onto a bright background (every pixel 0.85 + 0.15 x): the
    # inputs' mean dominates every first-layer gradient, and SGD 0.1 (to_mlp()'s rate) stalls;
    # on the centred inputs the same net fits. On the digits as they are, centring changes little.
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    results = {}
    for lift in (0.0, 0.85):
        lifted = (lift + (1 - lift) * X).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stack = DBN([100], n_iter=10, random_state=0).pretrain(lifted[:1000])
            for centred in (False, True):
                net = stack.to_mlp(max_iter=50, random_state=0, center_inputs=centred)
                net.fit(lifted[:1000], y[:1000])
                results[lift, centred] = (net.loss_curve_[-1], net.score(lifted[1000:], y[1000:]))
    assert results[0.85, True][0] < 0.5 * results[0.85, False][0]
    assert results[0.85, True][1] > results[0.85, False][1] + 0.03
    assert abs(results[0.0, True][1] - results[0.0, False][1]) < 0.02
