"""Parallel tempering of the DBM's persistent chains: the beta = 1 chains sample the exact Boltzmann
distribution of a tiny DBM (and broken swap rules fail that test), the energies and the swap rule
against naive formulas, exact resume and persistence of the tempered chains (and of centring)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp

import dbn.dbm as dbm_module
from dbn import DBM

SIZES = (4, 3, 2)  # visible, hidden 1, hidden 2: 2**9 = 512 joint states


def _states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def _naive_energy(layers, W, b):
    """``E(x) = -sum_l b_l . x_l - sum_l x_l W_l x_(l-1)`` of each row, written out."""
    value = sum(x @ c for x, c in zip(layers, b, strict=True))
    value = value + sum(
        np.einsum("ri,ij,rj->r", layers[i + 1], W[i], layers[i]) for i in range(len(W))
    )
    return -value


def _tiny_tempered(n_chains=400, n_temperatures=4, seed=1, scale=2.0):
    """A 4-3-2 DBM with strong random parameters and freshly started tempered chains."""
    X = (np.random.default_rng(0).random((40, SIZES[0])) < 0.5).astype(float)
    dbm = DBM(
        SIZES[1:],
        n_iter=0,
        pretrain_n_iter=1,
        batch_size=10,
        n_chains=n_chains,
        k=1,
        n_temperatures=n_temperatures,
        random_state=0,
    ).fit(X)
    rng = np.random.default_rng(seed)
    dbm.components_ = [scale * rng.standard_normal(w.shape) for w in dbm.components_]
    dbm.intercepts_ = [rng.standard_normal(b.shape) for b in dbm.intercepts_]
    dbm._start_joint(X)
    return dbm


def _exact_distribution(dbm):
    joint = _states(sum(SIZES))  # bit order v, h1, h2, most significant first
    layers = np.split(joint, np.cumsum(SIZES)[:-1], axis=1)
    log_p = -_naive_energy(layers, dbm.components_, dbm.intercepts_)
    return np.exp(log_p - logsumexp(log_p))


def _total_variation(dbm, n_sweeps=2100, burn_in=100):
    """Total variation between the beta = 1 chains' joint states over the sweeps after
    ``burn_in`` and the exact distribution (states coded in the enumeration's order)."""
    p = _exact_distribution(dbm)
    weights = 2 ** np.arange(sum(SIZES))[::-1]
    counts = np.zeros(p.size)
    for sweep in range(n_sweeps):
        dbm._negative_phase()
        if sweep >= burn_in:
            codes = np.hstack(dbm.persistent_chains_).astype(np.int64) @ weights
            counts += np.bincount(codes, minlength=p.size)
    return 0.5 * np.abs(counts / counts.sum() - p).sum()


# Measured (seeds 1 and 2 of the parameters): 0.004 with the Metropolis rule; about 0.2 when every
# swap is accepted, 0.25 with the energy difference's sign flipped and 0.04-0.07 when only the
# visible layer is swapped (test_broken_swap_rules_fail). 800,000 correlated samples of 512 states
# leave a sampling error of a few thousandths.
TV_BOUND = 0.015


def test_beta_one_chains_sample_the_exact_distribution():
    dbm = _tiny_tempered()
    assert _total_variation(dbm) < TV_BOUND
    rates = dbm.swap_counts_[:, 0] / dbm.swap_counts_[:, 1]
    assert np.all((rates > 0.2) & (rates < 0.95))  # swaps happen, and are not all accepted


@pytest.mark.parametrize("broken", ["accept_all", "flipped_sign", "visible_only"])
def test_broken_swap_rules_fail(monkeypatch, broken):
    """The distribution test has the power to catch a wrong swap: accepting every swap, the
    Metropolis ratio's sign flipped, or swapping the visible layer alone."""
    right = dbm_module.swap_round

    def wrong(states, energy, betas, parity, uniform, swap_counts):
        if broken == "accept_all":
            uniform = np.full_like(uniform, -1.0)
        elif broken == "flipped_sign":
            energy = -energy
        elif broken == "visible_only":
            states = states[:1]
        return right(states, energy, betas, parity, uniform, swap_counts)

    monkeypatch.setattr(dbm_module, "swap_round", wrong)
    assert _total_variation(_tiny_tempered()) > 2 * TV_BOUND


def test_tempered_sweep_returns_the_naive_energies_and_scales_the_conditionals():
    dbm = _tiny_tempered(n_chains=5)
    W, b = dbm.components_, dbm.intercepts_
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    rng = np.random.default_rng(3)
    n = 20000
    for beta in (0.0, 0.4, 1.0):
        states = [(rng.random((n, k)) < 0.5).astype(float) for k in SIZES]
        v, h2 = states[0].copy(), states[2].copy()
        energy = dbm.tempered_sweep(states, np.full(n, beta), rng)
        np.testing.assert_allclose(energy, _naive_energy(states, W, b), rtol=1e-12, atol=1e-12)
        # Odd half-sweep: h1 given the old v and h2; even: v and h2 given the new h1, all in
        # the model scaled by beta. The samples minus their probabilities average to zero.
        h1 = states[1]
        for sample, probability in [
            (h1, sigmoid(beta * (v @ W[0].T + h2 @ W[1] + b[1]))),
            (states[0], sigmoid(beta * (h1 @ W[0] + b[0]))),
            (states[2], sigmoid(beta * (h1 @ W[1].T + b[2]))),
        ]:
            assert np.abs((sample - probability).mean(axis=0)).max() < 0.02


def test_swap_round_matches_a_naive_metropolis_rule():
    M, C = 5, 200
    betas = np.linspace(1.0, 0.0, M)
    rng = np.random.default_rng(0)
    dbm = _tiny_tempered(n_chains=C, n_temperatures=M)
    W, b = dbm.components_, dbm.intercepts_
    states = [(rng.random((M * C, n)) < 0.5).astype(float) for n in SIZES]
    energy = _naive_energy(states, W, b)
    uniform = rng.random((M - 1, C))
    for parity in (0, 1):
        before = [s.copy() for s in states]
        counts = np.zeros((M - 1, 2), dtype=np.int64)
        swapped = [s.copy() for s in states]
        assert dbm_module.swap_round(swapped, energy.copy(), betas, parity, uniform, counts) == (
            1 - parity
        )
        expected = [s.copy() for s in before]
        for m in range(M - 1):
            if (m - parity) % 2:
                assert counts[m, 1] == 0
                continue
            for i in range(C):
                lo, hi = m * C + i, (m + 1) * C + i
                e_lo, e_hi = energy[lo], energy[hi]
                # p_beta(x) ~ exp(-beta E(x)): new pair over old pair.
                ratio = np.exp(
                    -betas[m] * e_hi - betas[m + 1] * e_lo + betas[m] * e_lo + betas[m + 1] * e_hi
                )
                if uniform[m, i] < min(1.0, ratio):
                    for s in expected:
                        s[[lo, hi]] = s[[hi, lo]]
            assert counts[m, 1] == C
        for got, want in zip(swapped, expected, strict=True):
            np.testing.assert_array_equal(got, want)
        changed = sum(int((g != w).any(axis=1).sum()) for g, w in zip(swapped, before, strict=True))
        assert changed > 0 and counts[:, 0].sum() > 0


def test_negative_statistics_come_from_the_beta_one_chains():
    dbm = _tiny_tempered(n_chains=7, n_temperatures=3)
    assert [c.shape for c in dbm.persistent_chains_] == [(7, n) for n in SIZES]
    assert [t.shape for t in dbm.tempered_chains_] == [(2, 7, n) for n in SIZES]
    dbm._tempering_states[0][:7] = 1.0
    assert np.all(dbm.persistent_chains_[0] == 1.0)  # views of the tempered block
    np.testing.assert_array_equal(dbm.inverse_temperatures_, [1.0, 0.5, 0.0])


# ------------------------------------------------------------------------------ training state
SMALL = dict(n_iter=3, pretrain_n_iter=2, batch_size=10, n_chains=6, k=2, random_state=0)
OPTIONS = [{"n_temperatures": 3}, {"centering": True}, {"n_temperatures": 4, "centering": True}]


def _data():
    return (np.random.default_rng(0).random((60, 6)) < 0.3).astype(np.float64)


def _arrays(dbm):
    arrays = [*dbm.components_, *dbm.intercepts_, *dbm.persistent_chains_, *dbm.velocities_]
    if dbm.n_temperatures is not None:
        arrays += [*dbm.tempered_chains_, dbm.swap_counts_, np.array(dbm._swap_parity)]
    if dbm.centering:
        arrays += dbm.offsets_
    return arrays


def _assert_same(a, b):
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        np.testing.assert_array_equal(x, y)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("options", OPTIONS)
def test_options_change_training_and_are_reproducible(options):
    X = _data()
    plain = DBM((4, 3), **SMALL, centering=False).fit(X)  # plain: centring is the default
    first = DBM((4, 3), **SMALL, **options).fit(X)
    _assert_same(first, DBM((4, 3), **SMALL, **options).fit(X))
    assert not np.array_equal(first.components_[0], plain.components_[0])
    # Pretraining is the same.
    for a, b in zip(plain.pretrain_history_, first.pretrain_history_, strict=True):
        assert a["reconstruction_error"] == b["reconstruction_error"]


@pytest.mark.parametrize("options", OPTIONS)
def test_resume_with_options_is_bit_for_bit(tmp_path, options):
    X = _data()
    reference = DBM((4, 3), **SMALL, **options).fit(X)

    def interrupt(dbm, completed, logs):
        if "layer" not in logs and completed == 2:
            raise _Stop

    with pytest.raises(_Stop):
        DBM((4, 3), **SMALL, **options).fit(X, callbacks=interrupt, checkpoint_dir=tmp_path)
    resumed = DBM((4, 3), **SMALL, **options).fit(X, checkpoint_dir=tmp_path)
    _assert_same(reference, resumed)
    assert resumed.history_["epoch"] == [1, 2, 3]


@pytest.mark.parametrize("options", OPTIONS)
def test_save_load_round_trip_with_options(tmp_path, options):
    X = _data()
    dbm = DBM((4, 3), **SMALL, **options).fit(X)
    dbm.save(tmp_path / "dbm.safetensors")
    loaded = DBM.load(tmp_path / "dbm.safetensors")
    _assert_same(dbm, loaded)
    assert loaded.get_params() == dbm.get_params() | {"hidden_layer_sizes": (4, 3)}


def test_divergence_restores_the_tempered_state():
    """The epoch's snapshot covers the tempered chains, swap counts and offsets."""
    X = _data()
    dbm = DBM((4, 3), **SMALL, n_temperatures=3, centering=True).fit(X)
    from dbn.dbm import _JointTrainer

    trainer = _JointTrainer(dbm, X)
    before = [a.copy() for a in _arrays(dbm)]
    snapshot = trainer.snapshot()
    trainer.run_epoch(0)
    assert any(not np.array_equal(a, b) for a, b in zip(_arrays(dbm), before, strict=True))
    trainer.restore(snapshot)
    for a, b in zip(_arrays(dbm), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_float32_tempering():
    X = _data().astype(np.float32)
    dbm = DBM((4, 3), **SMALL, n_temperatures=3, centering=True).fit(X)
    assert all(t.dtype == np.float32 for t in dbm.tempered_chains_)
    assert all(o.dtype == np.float32 for o in dbm.offsets_)
    assert dbm.components_[0].dtype == np.float32


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_temperatures": 1}, r"n_temperatures must be >= 2, got 1|n_temperatures.*1"),
        ({"n_temperatures": 2.5}, r"n_temperatures must be an integer"),
        ({"centering": "yes"}, r"centering must be a bool .*got 'yes' \(str\)"),
    ],
)
def test_bad_options_are_named(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        DBM((4, 3), **SMALL, **params).fit(_data())
