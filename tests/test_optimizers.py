"""Optimiser objects (dbn._training.optimizers) against hand computations of their update rules."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from dbn._backprop import segments
from dbn._training.optimizers import SGD, Adam, ConjugateGradient

# A net 3-2-1: rows (0, 6, weight), (6, 8, bias), (8, 10, weight), (10, 11, bias).
SIZES = (3, 2, 1)
ROWS = segments(SIZES)
N_PARAMS = 11
IS_WEIGHT = np.zeros(N_PARAMS, dtype=bool)
IS_WEIGHT[0:6] = IS_WEIGHT[8:10] = True


def _vectors(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=N_PARAMS), rng.normal(size=(3, N_PARAMS))


@pytest.mark.parametrize("nesterov", [True, False])
def test_sgd_follows_the_momentum_rule(nesterov):
    params, grads = _vectors()
    lr, mu, l2 = 0.1, 0.9, 0.01
    opt = SGD(momentum=mu, nesterov=nesterov)
    state = opt.init(params)
    assert set(state) == {"velocity"}  # the name model files store: optimizer/velocity
    p, v = params.copy(), np.zeros(N_PARAMS)
    for g in grads:
        opt.step(params, g, lr, l2, ROWS)
        # By hand: decay on weights only, v = mu v - lr g, then the classical or Nesterov update.
        g = g + l2 * p * IS_WEIGHT
        v = mu * v - lr * g
        p = p + (mu * v - lr * g if nesterov else v)
    np.testing.assert_allclose(params, p, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(state["velocity"], v, rtol=1e-13, atol=1e-15)


def test_adam_follows_kingma_and_ba():
    params, grads = _vectors(1)
    lr, b1, b2, eps, l2 = 0.01, 0.9, 0.999, 1e-8, 0.05
    opt = Adam(beta_1=b1, beta_2=b2, epsilon=eps)
    state = opt.init(params)
    assert set(state) == {"m", "v", "t"}  # optimizer/m, optimizer/v and optimizer_t in files
    p, m, v = params.copy(), np.zeros(N_PARAMS), np.zeros(N_PARAMS)
    for t, g in enumerate(grads, start=1):
        opt.step(params, g, lr, l2, ROWS)
        g = g + l2 * p * IS_WEIGHT
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        # The kernel folds the bias corrections into the step size, so epsilon is scaled by
        # sqrt(1 - b2**t): the form of Kingma & Ba's section 2 (and scikit-learn's).
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps / np.sqrt(1 - b2**t))
    assert state["t"] == len(grads)
    np.testing.assert_allclose(params, p, rtol=1e-12)
    np.testing.assert_allclose(state["m"], m, rtol=1e-13)
    np.testing.assert_allclose(state["v"], v, rtol=1e-13)


@pytest.mark.parametrize("make", [lambda: SGD(0.9, True), lambda: Adam()])
def test_a_step_split_by_layer_equals_one_step(make):
    params, grads = _vectors(2)
    whole, split = make(), make()
    a, b = params.astype(np.float32), params.astype(np.float32)
    whole.init(a)
    split.init(b)
    for g in grads.astype(np.float32):
        whole.step(a, g, 0.05, 0.01, ROWS)
        # As back-propagation does: begin once per minibatch, then the top layer first.
        split.begin(0.05, 0.01)
        for i in (1, 0):
            split.update(b, g, ROWS[2 * i : 2 * i + 2])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_equal(whole.state, split.state)


def test_init_keeps_fitting_state_and_replaces_the_rest():
    params = np.ones(N_PARAMS)
    stored = {"velocity": np.full(N_PARAMS, 2.0)}
    opt = SGD(state=stored)
    assert opt.init(params) is stored  # the estimator's dict, updated in place
    np.testing.assert_array_equal(stored["velocity"], 2.0)  # a resumed velocity is kept
    stored["velocity"] = np.ones(4)  # another net's
    opt.init(params)
    np.testing.assert_array_equal(stored["velocity"], np.zeros(N_PARAMS))
    adam_state = {"velocity": np.ones(N_PARAMS)}
    Adam(state=adam_state).init(params)
    # Switching solver keeps the other optimiser's state (partial_fit after set_params).
    assert set(adam_state) == {"velocity", "m", "v", "t"} and adam_state["t"] == 0


def test_conjugate_gradient_is_scipy_cg_in_place():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])

    def objective(x):
        return 0.5 * x @ A @ x - b @ x, A @ x - b

    params = np.zeros(2, dtype=np.float32)
    opt = ConjugateGradient(max_line_searches=2)
    assert opt.init(params) == {}  # nothing carried between minibatches
    loss = opt.minimize(objective, params)
    expected = minimize(objective, np.zeros(2), jac=True, method="CG", options={"maxiter": 2})
    assert loss == float(expected.fun)
    np.testing.assert_array_equal(params, expected.x.astype(np.float32))
    assert loss < objective(np.zeros(2))[0]
    # Given enough line searches it reaches the minimum of the quadratic.
    ConjugateGradient(max_line_searches=50).minimize(objective, params)
    np.testing.assert_allclose(params, np.linalg.solve(A, b), rtol=1e-5)
