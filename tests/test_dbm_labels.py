"""Supervised DBMs: label units on the top layer (``DBM(supervised=True)``), as in Salakhutdinov's
code for the DBM paper's MNIST classification result.

Checked against naive code written from the energy ``E(v, h, y) = -sum_l x_l^T W_l x_(l-1) -
y^T U h_L - sum_l b_l . x_l - d . y``: the mean field with clamped labels (a unit-by-unit loop),
the data term of the gradient (finite differences of the bound on ``log p*(v, y)``), the persistent
chains (their label and top-layer marginals against exact enumeration), the pretraining step with
labels, the centred step; then exact resume, persistence and the errors.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from scipy.special import expit, logsumexp, softmax

from dbn import DBM
from dbn.dbm import cd1_step, softmax_units
from dbn.evaluation import dbm_exact_log_partition, dbm_variational_bound

from .naive import draw_uniform, naive_dbm_mean_field

TOL = 1e-10
N_CLASSES = 3
SMALL = dict(n_iter=3, pretrain_n_iter=2, batch_size=10, n_chains=6, k=2, random_state=0)


def _data(n=60, n_features=6, seed=0):
    """Binary rows whose class turns its own pixels on more often."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % N_CLASSES
    own = np.arange(n_features)[None, :] % N_CLASSES == y[:, None]
    X = (rng.random((n, n_features)) < np.where(own, 0.8, 0.1)).astype(np.float64)
    return X, y


def _one_hot(y):
    return np.eye(N_CLASSES)[y]


def _fitted(sizes=(3, 4), seed=0, scale=1.0, **params):
    """A briefly trained supervised DBM whose parameters are then set at random."""
    X, y = _data()
    dbm = DBM(sizes, supervised=True, **(SMALL | params)).fit(X, y)
    rng = np.random.default_rng(seed)
    dbm.components_ = [scale * rng.standard_normal(w.shape) for w in dbm.components_]
    dbm.intercepts_ = [0.5 * rng.standard_normal(b.shape) for b in dbm.intercepts_]
    dbm.label_components_ = scale * rng.standard_normal(dbm.label_components_.shape)
    dbm.label_intercept_ = 0.5 * rng.standard_normal(N_CLASSES)
    return dbm


def _naive_mean_field(dbm, v, y, n_iter):
    """Unit-by-unit sweeps over the layers, the labels clamped on the top layer's input."""
    W, b, U = dbm.components_, dbm.intercepts_, dbm.label_components_
    return naive_dbm_mean_field(W, b, v, n_iter, U, y)


def _naive_bound(dbm, v, y, mu):
    """The variational bound on ``log p*(v, y)`` (unnormalised) of each row, from the energy."""
    W, b, U, d = dbm.components_, dbm.intercepts_, dbm.label_components_, dbm.label_intercept_
    x = [v, *mu]
    value = sum(np.einsum("ri,ij,rj->r", x[i + 1], W[i], x[i]) for i in range(len(W)))
    value = value + sum(xl @ bl for xl, bl in zip(x, b, strict=True))
    value = value + np.einsum("ri,ij,rj->r", y, U, x[-1]) + y @ d
    for m in mu:
        m = np.clip(m, 1e-300, 1 - 1e-16)
        value = value - np.sum(m * np.log(m) + (1 - m) * np.log1p(-m), axis=1)
    return value


def _exact_joint(dbm):
    """Every joint state ``(v, h1, ..., hL, y)`` of a tiny supervised DBM and its probability."""
    W, b, U, d = dbm.components_, dbm.intercepts_, dbm.label_components_, dbm.label_intercept_
    sizes = [W[0].shape[1], *(w.shape[0] for w in W)]
    binary = [np.array(list(itertools.product([0.0, 1.0], repeat=n))) for n in sizes]
    rows, log_p = [], []
    for layers in itertools.product(*binary, np.eye(N_CLASSES)):
        value = sum(x @ c for x, c in zip(layers, [*b, d], strict=True))
        value += sum(layers[i + 1] @ w @ layers[i] for i, w in enumerate([*W, U]))
        rows.append(layers)
        log_p.append(value)
    log_p = np.array(log_p)
    return rows, np.exp(log_p - logsumexp(log_p))


# ------------------------------------------------------------------------------ inference
@pytest.mark.parametrize("sizes", [(3, 4), (2, 3, 2)])
def test_mean_field_with_clamped_labels_matches_a_naive_loop(sizes):
    dbm = _fitted(sizes)
    X, y = _data()
    v, Y = X[:7], _one_hot(y[:7])
    got = dbm.mean_field(v, 5, y=Y)
    for got_layer, want in zip(got, _naive_mean_field(dbm, v, Y, 5), strict=True):
        np.testing.assert_allclose(got_layer, want, rtol=0, atol=TOL)
    # Without labels the top layer loses their input: the labels reach the features.
    assert not np.allclose(dbm.mean_field(v, 5)[-1], got[-1])


def test_predict_proba_is_a_mean_field_fixed_point_with_free_labels():
    dbm = _fitted()
    dbm.n_mean_field = 300
    v = _data()[0][:9]
    q = dbm.predict_proba(v)
    np.testing.assert_allclose(q.sum(axis=1), 1.0, atol=1e-12)
    mu = dbm.mean_field(v, 300, tol=1e-14, y=q)
    U, d = dbm.label_components_, dbm.label_intercept_
    np.testing.assert_allclose(q, softmax(mu[-1] @ U.T + d, axis=1), atol=1e-8)
    np.testing.assert_array_equal(dbm.predict(v), dbm.classes_[np.argmax(q, axis=1)])


# ------------------------------------------------------------------------------ gradients
def test_data_term_of_the_gradient_is_the_bound_s_with_labels():
    """With zero chains, ``gradient(v, mu, chains, y)`` is the gradient of the mean bound on
    ``log p*(v, y)`` with respect to every parameter, the labels' included (mean field at its
    fixed point, so ``mu`` need not be differentiated)."""
    dbm = _fitted()
    X, y = _data()
    v, Y = X[:8], _one_hot(y[:8])

    def bound():
        mu = dbm.mean_field(v, 300, tol=1e-14, y=Y)
        return _naive_bound(dbm, v, Y, mu).mean()

    mu = dbm.mean_field(v, 300, tol=1e-14, y=Y)
    zeros = [np.zeros((1, n)) for n in (6, 3, 4, N_CLASSES)]
    analytic = dbm.gradient(v, mu, zeros, Y)
    weights, biases = dbm._chain_params()
    params = [*weights, *biases]
    assert len(analytic) == len(params) == 7
    eps = 1e-6
    for p, g in zip(params, analytic, strict=True):
        for index in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
            saved = p[index]
            p[index] = saved + eps
            up = bound()
            p[index] = saved - eps
            down = bound()
            p[index] = saved
            assert g[index] == pytest.approx((up - down) / (2 * eps), abs=1e-6)


def test_persistent_chains_sample_the_labelled_model():
    """After many sweeps, the chains' joint frequencies of (top layer, label) are the exact
    distribution's (total variation)."""
    dbm = _fitted(sizes=(2, 3), scale=0.8, n_chains=4000, k=1)
    dbm.label_components_ *= 2.5  # labels that matter to the top layer
    dbm._rng = np.random.default_rng(5)
    rows, p = _exact_joint(dbm)
    n_top = 3
    weights = 2 ** np.arange(n_top)

    def codes(top, labels):
        return (top @ weights).astype(np.int64) * N_CLASSES + np.argmax(labels, axis=1)

    exact = np.zeros(2**n_top * N_CLASSES)
    np.add.at(exact, codes(np.array([r[-2] for r in rows]), np.array([r[-1] for r in rows])), p)
    counts = np.zeros_like(exact)
    for sweep in range(120):
        dbm._negative_phase()
        if sweep >= 20:
            top, labels = dbm.persistent_chains_[-2:]
            assert set(labels.sum(axis=1)) == {1.0}  # one-hot states
            counts += np.bincount(codes(top, labels), minlength=exact.size)
    # Measured 0.003; with the top layer deaf to the labels in the sweep, above 0.02.
    assert 0.5 * np.abs(counts / counts.sum() - exact).sum() < 0.02


def test_softmax_units_draw_each_class_at_its_probability():
    rng = np.random.default_rng(0)
    pre = np.tile(np.array([[0.0, 1.0, -1.0]]), (200_000, 1))
    bias = np.array([0.5, 0.0, 0.0])
    p = softmax(pre[0] + bias)
    np.testing.assert_allclose(softmax_units(pre, bias, None, None)[0], p, atol=1e-15)
    out = np.empty_like(pre)
    softmax_units(pre, bias, rng, out)
    assert set(out.sum(axis=1)) == {1.0}
    np.testing.assert_allclose(out.mean(axis=0), p, atol=0.005)


# ------------------------------------------------------------------------------ training
@pytest.mark.parametrize("up, down", [(1.0, 2.0), (1.0, 1.0)])
def test_cd1_step_with_labels_matches_a_naive_step(up, down):
    rng = np.random.default_rng(3)
    v0 = (rng.random((5, 6)) < 0.4).astype(float)
    y0 = _one_hot(np.array([0, 2, 1, 1, 0]))
    rbm = {"W": 0.3 * rng.standard_normal((4, 6)), "c": rng.standard_normal(4)}
    rbm["b"] = rng.standard_normal(6)
    rbm["U"] = 0.5 * rng.standard_normal((N_CLASSES, 4))
    rbm["d"] = rng.standard_normal(N_CLASSES)
    for name in ("W", "c", "b", "U", "d"):
        rbm["v" + name] = 0.1 * rng.standard_normal(rbm[name].shape)
    naive = {k: v.copy() for k, v in rbm.items()}
    error, finite = cd1_step(rbm, v0, up, down, 0.1, 0.5, 0.01, np.random.default_rng(7), y0=y0)

    W, c, b, U, d = (naive[k] for k in ("W", "c", "b", "U", "d"))
    h0 = expit(up * v0 @ W.T + y0 @ U + c)
    h0_state = (draw_uniform(np.random.default_rng(7), h0.shape, np.float64) < h0).astype(float)
    v1 = expit(down * h0_state @ W + b)
    y1 = softmax(h0_state @ U.T + d, axis=1)
    h1 = expit(up * v1 @ W.T + y1 @ U + c)
    grads = {
        "W": (h0.T @ v0 - h1.T @ v1) / 5,
        "c": (h0 - h1).mean(0),
        "b": (v0 - v1).mean(0),
        "U": (y0.T @ h0 - y1.T @ h1) / 5,
        "d": (y0 - y1).mean(0),
    }
    for name, decay in (("W", 0.01), ("c", 0.0), ("b", 0.0), ("U", 0.01), ("d", 0.0)):
        velocity = 0.5 * naive["v" + name] + 0.1 * (grads[name] - decay * naive[name])
        np.testing.assert_allclose(rbm["v" + name], velocity, atol=TOL)
        np.testing.assert_allclose(rbm[name], naive[name] + velocity, atol=TOL)
    assert finite and error == pytest.approx(np.sum((v0 - v1) ** 2))


def test_pretraining_puts_the_top_rbm_s_labels_on_the_top_layer():
    X, y = _data()
    dbm = DBM((4, 3), supervised=True, **SMALL).pretrain(X, y)
    assert dbm.label_components_.shape == (N_CLASSES, 3)
    assert dbm.label_intercept_.shape == (N_CLASSES,)
    np.testing.assert_array_equal(dbm.classes_, [0, 1, 2])
    rbms = [
        {"W": np.full((4, 6), 0.1), "c": np.zeros(4), "b": np.zeros(6)},
        {"W": np.full((3, 4), 0.2), "c": np.ones(3), "b": np.ones(4)},
    ]
    rbms[1]["U"], rbms[1]["d"] = np.arange(9.0).reshape(3, 3), np.array([1.0, 2.0, 3.0])
    dbm._compose(rbms, np.float64)
    np.testing.assert_array_equal(dbm.label_components_, rbms[1]["U"])
    np.testing.assert_array_equal(dbm.label_intercept_, rbms[1]["d"])
    del rbms[1]["U"], rbms[1]["d"]
    dbm._compose(rbms, np.float64)  # without labels: none left from before
    assert not hasattr(dbm, "label_components_")


@pytest.mark.parametrize("sizes", [(3, 4), (4, 3, 2)])
def test_centred_step_with_labels_matches_a_naive_centred_step(sizes):
    """The labels are one more layer of the centred chain, with fixed offsets (the class
    frequencies): the step in the centred parameters ``(W, c)`` folded back into ``b``."""
    dbm = _fitted(sizes, weight_decay=0.01)
    for velocity in dbm.velocities_:
        velocity[...] = 0
    rng = np.random.default_rng(1)
    dbm.offsets_ = [rng.uniform(0.1, 0.9, b.shape) for b in dbm._chain_params()[1]]
    X, y = _data()
    v, Y = X[:10], _one_hot(y[:10])
    twin = copy.deepcopy(dbm)
    mu = twin.mean_field(v, y=Y)
    twin._negative_phase()  # the same draws as the step's
    chains = twin.persistent_chains_
    weights, biases = dbm._chain_params()
    W, b, o = (copy.deepcopy(a) for a in (weights, biases, dbm.offsets_))
    lr, decay = 0.1, 0.01
    dbm._joint_step(v, lr, Y)

    data = [v, *mu, Y]
    top = len(W)
    c = [
        b[l] + (W[l - 1] @ o[l - 1] if l > 0 else 0) + (W[l].T @ o[l + 1] if l < top else 0)
        for l in range(top + 1)
    ]
    new_W = []
    for l in range(top):

        def centred(x, l=l):
            pairs = zip(x[l + 1], x[l], strict=True)
            return np.mean([np.outer(a - o[l + 1], z - o[l]) for a, z in pairs], axis=0)

        new_W.append(W[l] + lr * (centred(data) - centred(chains) - decay * W[l]))
    new_c = [c[l] + lr * (data[l].mean(0) - chains[l].mean(0)) for l in range(top + 1)]
    new_b = [
        new_c[l]
        - (new_W[l - 1] @ o[l - 1] if l > 0 else 0)
        - (new_W[l].T @ o[l + 1] if l < top else 0)
        for l in range(top + 1)
    ]
    got_W, got_b = dbm._chain_params()
    for got, want in zip((*got_W, *got_b), (*new_W, *new_b), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_array_equal(dbm.offsets_[-1], o[-1])  # the labels' offsets stay


def test_supervised_training_learns_the_labels():
    X, y = _data(600, 12)
    X_test, y_test = _data(300, 12, seed=1)
    params = dict(n_iter=10, pretrain_n_iter=10, batch_size=20, n_chains=20, random_state=0)
    dbm = DBM((16, 8), supervised=True, learning_rate=0.05, **params).fit(X, y)
    assert np.mean(dbm.predict(X_test) == y_test) > 0.8
    proba = dbm.predict_proba(X_test)
    assert proba.shape == (300, N_CLASSES)
    # The net of to_mlp() takes the augmented input, without labels.
    assert dbm.to_mlp().hidden_layer_sizes == (16, 8)
    assert dbm.augment(X_test).shape == (300, 12 + 8)


def test_without_supervised_y_is_ignored():
    X, y = _data()
    a, b = DBM((4, 3), **SMALL).fit(X, y), DBM((4, 3), **SMALL).fit(X)
    pairs = zip((*a.components_, *a.intercepts_), (*b.components_, *b.intercepts_), strict=True)
    for p, q in pairs:
        np.testing.assert_array_equal(p, q)
    assert not hasattr(a, "label_components_") and not hasattr(a, "predict")


# ------------------------------------------------------------------------------ persistence
def _state(dbm):
    weights, biases = dbm._chain_params()
    return [*weights, *biases, *dbm.persistent_chains_, *dbm.velocities_, *dbm.offsets_]


def _assert_same(a, b):
    for x, y in zip(_state(a), _state(b), strict=True):
        np.testing.assert_array_equal(x, y)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("layer, epoch", [(1, 1), (None, 2)])
def test_supervised_resume_is_bit_for_bit(tmp_path, layer, epoch):
    X, y = _data()
    reference = DBM((4, 3), supervised=True, **SMALL).fit(X, y)
    assert len(reference.persistent_chains_) == 4 and len(reference.offsets_) == 4

    def interrupt(dbm, completed, logs):
        if logs.get("layer") == layer and completed == epoch:
            raise _Stop

    with pytest.raises(_Stop):
        DBM((4, 3), supervised=True, **SMALL).fit(
            X, y, callbacks=interrupt, checkpoint_dir=tmp_path
        )
    resumed = DBM((4, 3), supervised=True, **SMALL).fit(X, y, checkpoint_dir=tmp_path)
    _assert_same(reference, resumed)
    # Other labels are other data: the checkpoint is not resumed for them.
    with pytest.raises(ValueError, match="y"):
        DBM((4, 3), supervised=True, **SMALL).fit(X, y[::-1], checkpoint_dir=tmp_path)


def test_supervised_save_load_round_trip_keeps_string_classes(tmp_path):
    X, y = _data()
    names = np.array(["one", "two", "three"])[y]
    dbm = DBM((4, 3), supervised=True, **SMALL).fit(X, names)
    path = tmp_path / "dbm.safetensors"
    dbm.save(path)
    loaded = DBM.load(path)
    _assert_same(dbm, loaded)
    np.testing.assert_array_equal(loaded.classes_, dbm.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(X), dbm.predict_proba(X))
    assert set(loaded.predict(X)) <= {"one", "two", "three"}


# ------------------------------------------------------------------------------ errors
def test_supervised_errors_are_named():
    X, y = _data()
    with pytest.raises(ValueError, match="requires y"):
        DBM((4, 3), supervised=True, **SMALL).fit(X)
    with pytest.raises(ValueError, match="y has 59 samples but X has 60"):
        DBM((4, 3), supervised=True, **SMALL).fit(X, y[:59])
    with pytest.raises(ValueError, match="at least 2 classes"):
        DBM((4, 3), supervised=True, **SMALL).fit(X, np.zeros(60))
    with pytest.raises(ValueError, match="n_temperatures"):
        DBM((4, 3), supervised=True, n_temperatures=3, **SMALL).fit(X, y)
    with pytest.raises(TypeError, match="supervised must be a bool"):
        DBM((4, 3), supervised="yes", **SMALL).fit(X, y)
    dbm = DBM((4, 3), supervised=True, **SMALL).fit(X, y)
    for estimate in (dbm_exact_log_partition, lambda m: dbm_variational_bound(m, X)):
        with pytest.raises(ValueError, match="label units"):
            estimate(dbm)
