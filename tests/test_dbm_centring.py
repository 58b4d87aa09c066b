"""Centred joint training of the DBM (Montavon & Müller 2012): the centred parametrisation describes
the same model whatever the offsets (exact enumeration), moving the offsets changes no parameter,
the centred step at zero offsets is the usual one, the step against a naive centred step, and the
centred direction against finite differences of the bound in centred coordinates."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from scipy.special import logsumexp

import dbn.dbm as dbm_module
from dbn import DBM
from dbn.evaluation import dbm_exact_log_partition, dbm_variational_bound

SMALL = dict(n_iter=3, pretrain_n_iter=2, batch_size=10, n_chains=6, k=2, random_state=0)


def _data(n=60, n_features=6, seed=0):
    return (np.random.default_rng(seed).random((n, n_features)) < 0.3).astype(np.float64)


def _centred(sizes=(3, 4), seed=0, **params):
    """A centred DBM briefly trained, then given random parameters and offsets."""
    dbm = DBM(sizes, **(SMALL | params | {"centering": True})).fit(_data())
    rng = np.random.default_rng(seed)
    dbm.components_ = [rng.standard_normal(w.shape) for w in dbm.components_]
    dbm.intercepts_ = [0.5 * rng.standard_normal(b.shape) for b in dbm.intercepts_]
    dbm.offsets_ = [rng.uniform(0.1, 0.9, b.shape) for b in dbm.intercepts_]
    return dbm


def _joint_states(sizes):
    joint = np.array(list(itertools.product([0.0, 1.0], repeat=sum(sizes))))
    return np.split(joint, np.cumsum(sizes)[:-1], axis=1)


def _centred_biases(W, b, o):
    """``c_l = b_l + W_l o_(l-1) + W_(l+1)^T o_(l+1)``: the biases of the centred form."""
    L = len(W)
    return [
        b[l] + (W[l - 1] @ o[l - 1] if l > 0 else 0) + (W[l].T @ o[l + 1] if l < L else 0)
        for l in range(L + 1)
    ]


def _usual_biases(W, c, o):
    L = len(W)
    return [
        c[l] - (W[l - 1] @ o[l - 1] if l > 0 else 0) - (W[l].T @ o[l + 1] if l < L else 0)
        for l in range(L + 1)
    ]


def _energy(layers, W, b, o=None):
    """Energy of every row, centred on ``o`` when given (naive, written from the formula)."""
    x = layers if o is None else [x - off for x, off in zip(layers, o, strict=True)]
    value = sum(xl @ bl for xl, bl in zip(x, b, strict=True))
    value = value + sum(np.einsum("ri,ij,rj->r", x[i + 1], W[i], x[i]) for i in range(len(W)))
    return -value


def _sizes(dbm):
    return [dbm.components_[0].shape[1], *(w.shape[0] for w in dbm.components_)]


def test_centred_form_is_the_same_model_whatever_the_offsets():
    dbm = _centred(sizes=(3, 2), n_iter=1)
    W, b = dbm.components_, dbm.intercepts_
    layers = _joint_states(_sizes(dbm))
    usual = -_energy(layers, W, b)
    log_p = usual - logsumexp(usual)
    rng = np.random.default_rng(5)
    for _ in range(3):
        o = [rng.uniform(0, 1, n) for n in _sizes(dbm)]
        centred = -_energy(layers, W, _centred_biases(W, b, o), o)
        np.testing.assert_allclose(centred - logsumexp(centred), log_p, atol=1e-12)
        difference = centred - usual  # a constant: the offsets' own terms
        np.testing.assert_allclose(difference, difference[0], atol=1e-12)
        for back, bias in zip(_usual_biases(W, _centred_biases(W, b, o), o), b, strict=True):
            np.testing.assert_allclose(back, bias, atol=1e-12)


def test_moving_the_offsets_changes_no_parameter():
    """Re-centring (the offsets' update with no step) leaves the model exactly as it was."""
    dbm = _centred(sizes=(3, 2), n_iter=1)
    for velocity in dbm.velocities_:
        velocity[...] = 0
    before = [p.copy() for p in (*dbm.components_, *dbm.intercepts_)]
    log_z = dbm_exact_log_partition(dbm)
    offsets = [o.copy() for o in dbm.offsets_]
    mu = dbm.mean_field(_data()[:10])
    assert dbm._fold_offsets(mu)
    assert not np.allclose(dbm.offsets_[1], offsets[1])
    np.testing.assert_array_equal(dbm.offsets_[0], offsets[0])  # the data's mean stays
    for p, saved in zip((*dbm.components_, *dbm.intercepts_), before, strict=True):
        np.testing.assert_array_equal(p, saved)
    assert dbm_exact_log_partition(dbm) == log_z


def test_centred_training_at_zero_offsets_is_the_usual_training(monkeypatch):
    X = _data()
    usual = DBM((4, 3), **SMALL, centering=False).fit(X)  # plain: centring is the default
    monkeypatch.setattr(
        DBM, "_start_offsets", lambda self, X, Y=None: [np.zeros_like(b) for b in self.intercepts_]
    )
    monkeypatch.setattr(dbm_module, "_OFFSET_RATE", 0.0)
    centred = DBM((4, 3), **SMALL, centering=True).fit(X)
    assert all(not o.any() for o in centred.offsets_)
    for a, b in zip(
        (*usual.components_, *usual.intercepts_, *usual.velocities_),
        (*centred.components_, *centred.intercepts_, *centred.velocities_),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sizes", [(3, 4), (4, 3, 2)])
def test_centred_step_matches_a_naive_centred_step(sizes):
    dbm = _centred(sizes=sizes, weight_decay=0.01)
    for velocity in dbm.velocities_:
        velocity[...] = 0
    v = _data()[:10]
    twin = copy.deepcopy(dbm)
    mu = twin.mean_field(v)
    twin._negative_phase()  # the same draws as the step's
    chains = twin.persistent_chains_
    W, b, o = (copy.deepcopy(a) for a in (dbm.components_, dbm.intercepts_, dbm.offsets_))
    lr, decay = 0.1, 0.01
    dbm._joint_step(v, lr)

    data = [v, *mu]
    c = _centred_biases(W, b, o)
    new_W = []
    for l in range(len(W)):
        positive = np.mean(
            [
                np.outer(up - o[l + 1], low - o[l])
                for up, low in zip(data[l + 1], data[l], strict=True)
            ],
            axis=0,
        )
        negative = np.mean(
            [
                np.outer(up - o[l + 1], low - o[l])
                for up, low in zip(chains[l + 1], chains[l], strict=True)
            ],
            axis=0,
        )
        new_W.append(W[l] + lr * (positive - negative - decay * W[l]))
    new_c = [c[l] + lr * (data[l].mean(0) - chains[l].mean(0)) for l in range(len(c))]
    new_b = _usual_biases(new_W, new_c, o)
    for got, want in zip((*dbm.components_, *dbm.intercepts_), (*new_W, *new_b), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-12)
    for l in range(1, len(o)):
        np.testing.assert_allclose(
            dbm.offsets_[l], o[l] + 0.01 * (mu[l - 1].mean(0) - o[l]), atol=1e-14
        )


def test_centred_direction_is_the_gradient_in_centred_coordinates():
    """With exact model expectations, ``centre_gradient`` equals finite differences of the mean
    bound minus log Z as a function of ``(W, c)``, the biases ``b`` following from ``c``."""
    dbm = _centred(sizes=(3, 4), n_iter=1)
    v = _data()[:8]
    mu = dbm.mean_field(v, 300, tol=1e-14)
    sizes = _sizes(dbm)
    gradient = dbm.gradient(v, mu, [np.zeros((1, n)) for n in sizes])  # the data term alone
    layers = _joint_states(sizes)
    log_p = -_energy(layers, dbm.components_, dbm.intercepts_)
    p = np.exp(log_p - logsumexp(log_p))
    for l in range(len(dbm.components_)):
        gradient[l] -= np.einsum("r,ri,rj->ij", p, layers[l + 1], layers[l])
    for l in range(len(sizes)):
        gradient[len(dbm.components_) + l] -= p @ layers[l]
    centred = dbm.centre_gradient([g.copy() for g in gradient], dbm.offsets_)

    W0 = [w.copy() for w in dbm.components_]
    o = dbm.offsets_
    c0 = _centred_biases(W0, dbm.intercepts_, o)

    def objective(W, c):
        dbm.components_ = W
        dbm.intercepts_ = _usual_biases(W, c, o)
        bound = dbm_variational_bound(dbm, v, n_mean_field=300, tol=1e-14).mean()
        return bound - dbm_exact_log_partition(dbm)

    eps = 1e-6
    for l in range(len(W0)):
        for index in [(0, 0), (2, 1), (W0[l].shape[0] - 1, W0[l].shape[1] - 1)]:
            up, down = [w.copy() for w in W0], [w.copy() for w in W0]
            up[l][index] += eps
            down[l][index] -= eps
            numeric = (objective(up, c0) - objective(down, c0)) / (2 * eps)
            assert centred[l][index] == pytest.approx(numeric, abs=1e-6)
            # ... and not the usual direction (the offsets are far from zero).
            assert abs(gradient[l][index] - numeric) > 1e-4 or abs(numeric) < 1e-4
    for l in range(len(c0)):
        up, down = [x.copy() for x in c0], [x.copy() for x in c0]
        up[l][0] += eps
        down[l][0] -= eps
        numeric = (objective(W0, up) - objective(W0, down)) / (2 * eps)
        assert centred[len(W0) + l][0] == pytest.approx(numeric, abs=1e-6)


def test_offsets_start_from_the_data():
    X = _data()
    dbm = DBM((4, 3), **SMALL, centering=True)
    dbm.pretrain(X)
    offsets = dbm._start_offsets(X)
    np.testing.assert_allclose(offsets[0], X.mean(0))
    for offset, mean in zip(offsets[1:], dbm.mean_field(X), strict=True):
        np.testing.assert_allclose(offset, mean.mean(0))
