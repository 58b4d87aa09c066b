"""Deep Boltzmann Machines: exact likelihoods of tiny models against AIS and the bound, the mean
field against a naive loop, gradients against finite differences, the doubled pretraining
against a naive step, exact resume, persistence and the scikit-learn contract."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import expit, logsumexp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from dbn import DBM
from dbn._dbm_likelihood import _log_marginal
from dbn.dbm import DBM_FINETUNE_RATE, cd1_step, layer_factors
from dbn.evaluation import (
    dbm_ais_log_partition,
    dbm_exact_log_partition,
    dbm_exact_log_probability,
    dbm_reverse_ais_log_partition,
    dbm_variational_bound,
)

from .naive import draw_uniform, naive_dbm_mean_field

TOL = 1e-10


def _data(n=60, n_features=6, seed=0):
    return (np.random.default_rng(seed).random((n, n_features)) < 0.3).astype(np.float64)


def _grey(n=60, n_features=3, seed=1):
    """Grey levels: pixel probabilities for dynamic_binarization."""
    return np.random.default_rng(seed).uniform(0.1, 0.9, (n, n_features))


def _fitted(sizes=(3, 4), seed=0, scale=1.0, **params):
    """A briefly trained DBM whose parameters are then set at random (so they are not tiny)."""
    X = _data()
    settings = dict(n_iter=1, pretrain_n_iter=1, batch_size=20, n_chains=8, random_state=0)
    dbm = DBM(sizes, **(settings | params)).fit(X)
    rng = np.random.default_rng(seed)
    dbm.components_ = [scale * rng.standard_normal(w.shape) for w in dbm.components_]
    dbm.intercepts_ = [0.5 * rng.standard_normal(b.shape) for b in dbm.intercepts_]
    return dbm


def _states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def _naive_log_joint(dbm):
    """``-E(x)`` of every joint state of a tiny DBM, written out from the energy."""
    W, b = dbm.components_, dbm.intercepts_
    sizes = [W[0].shape[1], *(w.shape[0] for w in W)]
    rows = []
    for layers in itertools.product(*(_states(n) for n in sizes)):
        value = sum(x @ c for x, c in zip(layers, b, strict=True))
        value += sum(layers[i + 1] @ W[i] @ layers[i] for i in range(len(W)))
        rows.append((layers, value))
    return rows


@pytest.fixture(scope="module")
def tiny():
    return _fitted()


# ------------------------------------------------------------------------------ exact values
@pytest.mark.parametrize("sizes", [(3, 4), (2, 3, 2)])
def test_exact_log_partition_matches_brute_force(sizes):
    dbm = _fitted(sizes)
    rows = _naive_log_joint(dbm)
    assert dbm_exact_log_partition(dbm) == pytest.approx(logsumexp([r[1] for r in rows]), abs=TOL)


def test_exact_log_probability_matches_brute_force_and_normalises(tiny):
    rows = _naive_log_joint(tiny)
    log_z = logsumexp([r[1] for r in rows])
    X = _data()[:5]
    for v, got in zip(X, dbm_exact_log_probability(tiny, X), strict=True):
        want = logsumexp([value for layers, value in rows if np.array_equal(layers[0], v)])
        assert got == pytest.approx(want - log_z, abs=TOL)
    assert np.exp(logsumexp(dbm_exact_log_probability(tiny, _states(6)))) == pytest.approx(1.0)


def test_bound_is_below_the_exact_log_probability(tiny):
    X = _states(6)
    exact = dbm_exact_log_probability(tiny, X)
    bound = dbm_variational_bound(tiny, X, dbm_exact_log_partition(tiny))
    assert np.all(bound <= exact + 1e-12)
    assert np.max(exact - bound) > 1e-3  # the hidden layers interact: the bound is not tight


def test_bound_is_tight_when_the_posterior_factorises(tiny):
    dbm = clone(tiny)
    dbm.__dict__.update({k: v for k, v in tiny.__dict__.items() if k.endswith("_")})
    dbm.components_ = [tiny.components_[0].copy(), np.zeros_like(tiny.components_[1])]
    X = _states(6)
    bound = dbm_variational_bound(dbm, X, dbm_exact_log_partition(dbm))
    np.testing.assert_allclose(bound, dbm_exact_log_probability(dbm, X), atol=1e-9)


@pytest.mark.parametrize("state_layers", ["odd", "even"])
def test_ais_agrees_with_the_exact_log_partition(tiny, state_layers):
    exact = dbm_exact_log_partition(tiny)
    result = dbm_ais_log_partition(
        tiny, n_betas=2000, n_runs=100, data=_data(), state_layers=state_layers, random_state=0
    )
    assert abs(result.log_z - exact) < max(4 * result.log_z_std, 0.02)
    assert result.lower <= exact + 0.02 and exact - 0.02 <= result.upper
    assert result.effective_sample_size > 50


@pytest.mark.parametrize("state_layers", ["odd", "even"])
def test_ais_of_a_three_layer_dbm(state_layers):
    dbm = _fitted((2, 3, 2), scale=0.7)
    exact = dbm_exact_log_partition(dbm)
    result = dbm_ais_log_partition(
        dbm, n_betas=2000, n_runs=100, state_layers=state_layers, random_state=1
    )
    assert abs(result.log_z - exact) < max(4 * result.log_z_std, 0.02)


def _exact_samples(dbm, n, seed):
    """Exact samples of every layer of a 2-layer DBM: ``h1`` from its marginal (enumerated, ``v``
    and ``h2`` summed out), then ``v`` and ``h2`` given ``h1``."""
    W, b = dbm.components_, dbm.intercepts_
    H1 = _states(W[0].shape[0])
    log_p = _log_marginal(W, b, [None, H1, None])
    rng = np.random.default_rng(seed)
    h1 = H1[rng.choice(len(H1), size=n, p=np.exp(log_p - logsumexp(log_p)))]
    v = (rng.random((n, W[0].shape[1])) < expit(b[0] + h1 @ W[0])).astype(float)
    h2 = (rng.random((n, W[1].shape[0])) < expit(b[2] + h1 @ W[1].T)).astype(float)
    return [v, h1, h2]


@pytest.mark.parametrize("state_layers", ["odd", "even"])
def test_reverse_ais_weights_are_unbiased_for_z_a_over_z_from_exact_samples(tiny, state_layers):
    # One step from the model to the base model: E[exp(w)] = E_p[p*_A(s) / p*(s)] = Z_A / Z.
    exact = dbm_exact_log_partition(tiny)
    result = dbm_reverse_ais_log_partition(
        tiny, _exact_samples(tiny, 20000, 1), n_betas=np.array([0.0, 1.0]), n_gibbs_sweeps=0,
        state_layers=state_layers, random_state=0,
    )  # fmt: skip
    w = np.exp(result.log_weights)
    assert result.direction == "reverse" and result.n_runs == 20000
    assert abs(w.mean() - np.exp(result.log_z_base - exact)) < 4 * w.std(ddof=1) / np.sqrt(w.size)
    assert result.log_z == pytest.approx(result.log_z_base - np.log(w.mean()), abs=1e-12)
    assert result.lower <= result.log_z <= result.upper


def test_forward_and_reverse_ais_bracket_log_z_in_expectation():
    """A short schedule on strong weights: forward AIS errs low, reverse AIS from exact samples
    errs high, each by several standard errors over 40 repetitions (bidirectional Monte Carlo)."""
    dbm = _fitted((10, 12), scale=2.0)
    exact = dbm_exact_log_partition(dbm)
    forward, reverse = [], []
    for seed in range(40):
        forward.append(dbm_ais_log_partition(dbm, n_betas=30, n_runs=20, random_state=seed).log_z)
        reverse.append(
            dbm_reverse_ais_log_partition(
                dbm, _exact_samples(dbm, 20, 100 + seed), n_betas=30, n_gibbs_sweeps=0,
                random_state=seed,
            ).log_z
        )  # fmt: skip
    forward, reverse = np.array(forward) - exact, np.array(reverse) - exact
    assert forward.mean() + 3 * forward.std() / np.sqrt(40) < 0
    assert reverse.mean() - 3 * reverse.std() / np.sqrt(40) > 0
    # With a long schedule both agree with the exact value.
    long = dict(n_betas=2000, random_state=0)
    assert dbm_ais_log_partition(dbm, n_runs=200, **long).log_z == pytest.approx(exact, abs=0.1)
    reverse_long = dbm_reverse_ais_log_partition(
        dbm, _exact_samples(dbm, 200, 7), n_gibbs_sweeps=0, **long
    )
    assert reverse_long.log_z == pytest.approx(exact, abs=0.1)


def test_reverse_ais_starts_from_the_persistent_chains_and_leaves_them(tiny):
    chains = [c.copy() for c in tiny.persistent_chains_]
    result = dbm_reverse_ais_log_partition(tiny, n_betas=500, n_gibbs_sweeps=50, random_state=0)
    assert result.n_runs == tiny.n_chains and np.isfinite(result.log_z)
    assert abs(result.log_z - dbm_exact_log_partition(tiny)) < 0.5
    for before, after in zip(chains, tiny.persistent_chains_, strict=True):
        np.testing.assert_array_equal(before, after)
    given = _exact_samples(tiny, 30, 0)
    copies = [g.copy() for g in given]
    dbm_reverse_ais_log_partition(tiny, given, n_betas=10, random_state=0)
    for before, after in zip(copies, given, strict=True):
        np.testing.assert_array_equal(before, after)


def test_reverse_ais_names_bad_initial_states(tiny):
    v, h1, h2 = _exact_samples(tiny, 5, 0)
    with pytest.raises(ValueError, match=r"list of 3 arrays"):
        dbm_reverse_ais_log_partition(tiny, [v, h1], n_betas=10)
    with pytest.raises(ValueError, match=r"initial_states\[1\] must have shape \(n_runs, 3\)"):
        dbm_reverse_ais_log_partition(tiny, [v, h1[:, :2], h2], n_betas=10)
    with pytest.raises(ValueError, match=r"initial_states\[2\] must hold binary states"):
        dbm_reverse_ais_log_partition(tiny, [v, h1, h2 * 0.5], n_betas=10)
    with pytest.raises(ValueError, match="n_gibbs_sweeps"):
        dbm_reverse_ais_log_partition(tiny, [v, h1, h2], n_betas=10, n_gibbs_sweeps=-1)
    untrained = clone(tiny)
    untrained.__dict__.update({k: v for k, v in tiny.__dict__.items() if k.endswith("_")})
    del untrained.persistent_chains_
    with pytest.raises(ValueError, match="no persistent_chains_"):
        dbm_reverse_ais_log_partition(untrained, n_betas=10)


# ------------------------------------------------------------------------------ mean field
def _naive_mean_field(dbm, v, n_iter):
    """Unit-by-unit Gauss-Seidel over layers, from the doubled bottom-up pass."""
    return naive_dbm_mean_field(dbm.components_, dbm.intercepts_, v, n_iter)


@pytest.mark.parametrize("sizes", [(3, 4), (2, 3, 2)])
def test_mean_field_matches_a_naive_loop(sizes):
    dbm = _fitted(sizes)
    v = _data()[:7]
    for got, want in zip(dbm.mean_field(v, 5), _naive_mean_field(dbm, v, 5), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_mean_field_converges_to_a_fixed_point_and_raises_the_bound(tiny):
    v = _data()[:10]
    W, b = tiny.components_, tiny.intercepts_
    mu1, mu2 = tiny.mean_field(v, 200, tol=1e-13)
    np.testing.assert_allclose(mu1, expit(v @ W[0].T + mu2 @ W[1] + b[1]), atol=1e-10)
    np.testing.assert_allclose(mu2, expit(mu1 @ W[1].T + b[2]), atol=1e-10)
    bounds = []
    for n in range(1, 6):
        tiny_bound = dbm_variational_bound(tiny, v, n_mean_field=n, tol=0.0)
        bounds.append(tiny_bound)
    assert all(np.all(later >= earlier - 1e-12) for earlier, later in itertools.pairwise(bounds))


# ------------------------------------------------------------------------------ gradients
def test_data_term_of_the_gradient_is_the_bound_s(tiny):
    """With zero chains, ``gradient`` is the gradient of the mean bound on log p*(v) (mean field
    at its fixed point, so ``mu`` need not be differentiated: envelope theorem)."""
    v = _data()[:8]
    mu = tiny.mean_field(v, 300, tol=1e-14)
    zeros = [np.zeros((1, n)) for n in (6, 3, 4)]
    analytic = tiny.gradient(v, mu, zeros)
    params = [*tiny.components_, *tiny.intercepts_]
    eps = 1e-6
    for p, g in zip(params, analytic, strict=True):
        for index in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
            saved = p[index]
            p[index] = saved + eps
            up = dbm_variational_bound(tiny, v, n_mean_field=300, tol=1e-14).mean()
            p[index] = saved - eps
            down = dbm_variational_bound(tiny, v, n_mean_field=300, tol=1e-14).mean()
            p[index] = saved
            assert g[index] == pytest.approx((up - down) / (2 * eps), abs=1e-6)


def test_model_term_is_the_gradient_of_log_z(tiny):
    """The chains' statistics estimate d log Z: with the exact model expectations (brute force)
    in place of the chains' averages, they equal finite differences of the exact log Z."""
    rows = _naive_log_joint(tiny)
    log_p = np.array([r[1] for r in rows])
    p = np.exp(log_p - logsumexp(log_p))
    W = tiny.components_
    expected = [
        sum(w * np.outer(r[0][i + 1], r[0][i]) for w, r in zip(p, rows, strict=True))
        for i in range(2)
    ]
    eps = 1e-6
    for layer in range(2):
        for index in [(0, 0), (1, 2)]:
            saved = W[layer][index]
            W[layer][index] = saved + eps
            up = dbm_exact_log_partition(tiny)
            W[layer][index] = saved - eps
            down = dbm_exact_log_partition(tiny)
            W[layer][index] = saved
            assert expected[layer][index] == pytest.approx((up - down) / (2 * eps), abs=1e-6)


def test_gradient_uses_chain_averages(tiny):
    v = _data()[:4]
    mu = tiny.mean_field(v)
    rng = np.random.default_rng(0)
    chains = [(rng.random((9, n)) < 0.5).astype(float) for n in (6, 3, 4)]
    gradient = tiny.gradient(v, mu, chains)
    np.testing.assert_allclose(
        gradient[1], mu[1].T @ mu[0] / 4 - chains[2].T @ chains[1] / 9, atol=TOL
    )
    np.testing.assert_allclose(gradient[2], v.mean(0) - chains[0].mean(0), atol=TOL)


# ------------------------------------------------------------------------------ pretraining
def test_layer_factors_double_the_missing_input():
    assert layer_factors(0, 1) == (1.0, 1.0)
    assert [layer_factors(i, 2) for i in range(2)] == [(2.0, 1.0), (1.0, 2.0)]
    assert [layer_factors(i, 3) for i in range(3)] == [(2.0, 1.0), (2.0, 2.0), (1.0, 2.0)]


@pytest.mark.parametrize("up, down", [(2.0, 1.0), (1.0, 2.0), (2.0, 2.0)])
def test_doubled_cd1_step_matches_a_naive_step(up, down):
    rng = np.random.default_rng(3)
    v0 = (rng.random((5, 6)) < 0.4).astype(float)
    rbm = {"W": 0.3 * rng.standard_normal((4, 6)), "c": rng.standard_normal(4)}
    rbm["b"] = rng.standard_normal(6)
    for name in ("W", "c", "b"):
        rbm["v" + name] = 0.1 * rng.standard_normal(rbm[name].shape)
    naive = {k: v.copy() for k, v in rbm.items()}
    error, finite = cd1_step(rbm, v0, up, down, 0.1, 0.5, 0.01, np.random.default_rng(7))

    W, c, b = naive["W"], naive["c"], naive["b"]
    h0 = expit(up * v0 @ W.T + c)
    h0_state = (draw_uniform(np.random.default_rng(7), h0.shape, np.float64) < h0).astype(float)
    v1 = expit(down * h0_state @ W + b)
    h1 = expit(up * v1 @ W.T + c)
    grads = {"W": (h0.T @ v0 - h1.T @ v1) / 5, "c": (h0 - h1).mean(0), "b": (v0 - v1).mean(0)}
    for name, decay in (("W", 0.01), ("c", 0.0), ("b", 0.0)):
        velocity = 0.5 * naive["v" + name] + 0.1 * (grads[name] - decay * naive[name])
        np.testing.assert_allclose(rbm["v" + name], velocity, atol=TOL)
        np.testing.assert_allclose(rbm[name], naive[name] + velocity, atol=TOL)
    assert finite and error == pytest.approx(np.sum((v0 - v1) ** 2))


def test_pretraining_composes_the_rbms():
    """Composed weights: bottom and top as trained, intermediate halved; shared layers take the
    mean of the two RBMs' biases. Checked through the conditionals of a freshly pretrained DBM."""
    X = _data(80, 6)
    # The rate is pinned: the naive rerun below uses it (it was the default before 0.02).
    dbm = DBM(
        (4, 3, 2), pretrain_n_iter=3, n_iter=0, batch_size=20, pretrain_learning_rate=0.05,
        random_state=0,
    ).pretrain(X)  # fmt: skip
    W0, W1, W2 = dbm.components_
    # Rerun pretraining naively, layer by layer, with the same stream of random numbers.
    rng = np.random.default_rng(0)
    data, rbms = X, []
    for layer, (n_in, n_out) in enumerate([(6, 4), (4, 3), (3, 2)]):
        up, down = layer_factors(layer, 3)
        rbm = {"W": 0.01 * rng.standard_normal((n_out, n_in))}
        p = np.clip(data.mean(axis=0), 1e-3, 1 - 1e-3)
        rbm.update(c=np.zeros(n_out), b=np.log(p / (1 - p)))
        rbm.update({"v" + k: np.zeros_like(rbm[k]) for k in ("W", "c", "b")})
        for _ in range(3):
            order = rng.permutation(data.shape[0])
            for start in range(0, data.shape[0], 20):
                v0 = np.ascontiguousarray(data[order[start : start + 20]])
                cd1_step(rbm, v0, up, down, 0.05, 0.9, 0.0002, rng)
        rbms.append(rbm)
        data = expit(up * data @ rbm["W"].T + rbm["c"])
    np.testing.assert_allclose(W0, rbms[0]["W"], atol=TOL)
    np.testing.assert_allclose(W1, 0.5 * rbms[1]["W"], atol=TOL)
    np.testing.assert_allclose(W2, rbms[2]["W"], atol=TOL)
    np.testing.assert_allclose(dbm.intercepts_[0], rbms[0]["b"], atol=TOL)
    np.testing.assert_allclose(dbm.intercepts_[1], (rbms[0]["c"] + rbms[1]["b"]) / 2, atol=TOL)
    np.testing.assert_allclose(dbm.intercepts_[2], (rbms[1]["c"] + rbms[2]["b"]) / 2, atol=TOL)
    np.testing.assert_allclose(dbm.intercepts_[3], rbms[2]["c"], atol=TOL)


# ------------------------------------------------------------------------------ training
SMALL = dict(n_iter=3, pretrain_n_iter=2, batch_size=10, n_chains=6, k=2, random_state=0)


def _params(dbm):
    return [*dbm.components_, *dbm.intercepts_, *dbm.persistent_chains_, *dbm.velocities_]


def _assert_same(a, b):
    for x, y in zip(_params(a), _params(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_fit_equals_pretrain_then_fit_and_is_reproducible():
    X = _data()
    reference = DBM((4, 3), **SMALL).fit(X)
    _assert_same(reference, DBM((4, 3), **SMALL).pretrain(X).fit(X))
    again = DBM((4, 3), **SMALL).fit(X)
    _assert_same(reference, again.fit(X))  # fit twice: starts from scratch each time
    assert len(reference.history_["epoch"]) == 3
    assert [len(h["epoch"]) for h in reference.pretrain_history_] == [2, 2]
    assert reference.history_["learning_rate"][0] == pytest.approx(0.005)


def test_joint_training_moves_towards_the_data():
    """Joint training raises the exact likelihood of a tiny DBM pretrained briefly."""
    X = np.repeat(_data(6, 6, seed=4), 20, axis=0)
    params = dict(batch_size=10, n_chains=20, k=1, random_state=0, pretrain_n_iter=5)
    start = DBM((3, 2), n_iter=0, **params).fit(X)
    trained = DBM((3, 2), n_iter=30, learning_rate=0.05, **params).fit(X)
    before = dbm_exact_log_probability(start, X).mean()
    after = dbm_exact_log_probability(trained, X).mean()
    assert after > before + 0.1


class _Stop(Exception):
    pass


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("layer, epoch", [(1, 1), (None, 2)])
def test_resume_is_bit_for_bit(tmp_path, layer, epoch, dynamic):
    # dynamic_binarization: on grey levels, each minibatch drawn anew from the checkpointed rng.
    X = _grey(n_features=6) if dynamic else _data()
    settings = SMALL | {"dynamic_binarization": dynamic}
    reference = DBM((4, 3), **settings).fit(X)

    def interrupt(dbm, completed, logs):
        if logs.get("layer") == layer and completed == epoch:
            raise _Stop

    with pytest.raises(_Stop):
        DBM((4, 3), **settings).fit(X, callbacks=interrupt, checkpoint_dir=tmp_path)
    resumed = DBM((4, 3), **settings).fit(X, checkpoint_dir=tmp_path)
    _assert_same(reference, resumed)
    assert resumed.history_["epoch"] == [1, 2, 3]
    assert resumed.pretrain_history_[0]["epoch"] == [1, 2]


def test_pretrain_epochs_per_layer():
    """One count per layer (the paper's code: 100 and 200 epochs): each RBM runs its own count,
    and equal counts are the single count exactly."""
    X = _data()
    per_layer = DBM((4, 3), **(SMALL | {"pretrain_n_iter": (1, 3), "n_iter": 0})).pretrain(X)
    assert [h["epoch"] for h in per_layer.pretrain_history_] == [[1], [1, 2, 3]]
    same = DBM((4, 3), **(SMALL | {"pretrain_n_iter": [2, 2]})).fit(X)
    _assert_same(DBM((4, 3), **SMALL).fit(X), same)


def test_resume_with_pretrain_epochs_per_layer_is_bit_for_bit(tmp_path):
    X = _data()
    settings = SMALL | {"pretrain_n_iter": (1, 3)}
    reference = DBM((4, 3), **settings).fit(X)

    def interrupt(dbm, completed, logs):
        if logs.get("layer") == 1 and completed == 2:
            raise _Stop

    with pytest.raises(_Stop):
        DBM((4, 3), **settings).fit(X, callbacks=interrupt, checkpoint_dir=tmp_path)
    resumed = DBM((4, 3), **settings).fit(X, checkpoint_dir=tmp_path)
    _assert_same(reference, resumed)
    assert [h["epoch"] for h in resumed.pretrain_history_] == [[1], [1, 2, 3]]
    with pytest.raises(ValueError, match="pretrain_n_iter"):
        DBM((4, 3), **(settings | {"pretrain_n_iter": (2, 3)})).fit(X, checkpoint_dir=tmp_path)
    path = tmp_path / "dbm.safetensors"
    reference.save(path)
    assert DBM.load(path).get_params() == reference.get_params()


# ------------------------------------------------------------------------------ dynamic binarisation
def test_dynamic_binarization_trains_the_first_rbm_and_joint_training_on_fresh_draws(
    monkeypatch,
):
    """Every minibatch the first RBM and joint training see is a binary draw of its rows of X,
    fresh each time: over the epochs each pixel is on as often as its probability says."""
    import dbn.dbm as module

    X = _grey()
    seen = {"pretrain": [], "joint": []}
    cd1, joint = module.cd1_step, DBM._joint_step

    def spy_cd1(rbm, v0, *args, **kwargs):
        if rbm["W"].shape[1] == X.shape[1]:  # the first RBM
            seen["pretrain"].append(v0.copy())
        return cd1(rbm, v0, *args, **kwargs)

    def spy_joint(self, v, lr, y=None):
        seen["joint"].append(v.copy())
        return joint(self, v, lr, y)

    monkeypatch.setattr(module, "cd1_step", spy_cd1)
    monkeypatch.setattr(DBM, "_joint_step", spy_joint)
    settings = dict(pretrain_n_iter=40, n_iter=40, batch_size=60, n_chains=6, random_state=0)
    DBM((4, 3), dynamic_binarization=True, **settings).fit(X)
    for stage in ("pretrain", "joint"):
        draws = np.array(seen[stage])  # (epochs, 60 rows in an epoch's order, 3)
        assert draws.shape == (40, 60, 3) and set(np.unique(draws)) == {0.0, 1.0}
        # Each epoch permutes the rows: the mean over rows and epochs of a column is X's.
        np.testing.assert_allclose(draws.mean(axis=(0, 1)), X.mean(axis=0), atol=0.03)
        assert not np.array_equal(draws[0], draws[1])
    seen = {"pretrain": [], "joint": []}
    DBM((4, 3), **settings).fit(X)  # without: X as given
    assert np.isin(seen["joint"][0], X).all() and not set(np.unique(seen["joint"][0])) <= {0, 1}


def test_dynamic_binarization_passes_each_draw_up_to_the_higher_rbms(monkeypatch):
    """The second RBM's data are the bottom-up means (doubled input) of binary draws through the
    finished first RBM: each row is one of the 2^3 such means."""
    import dbn.dbm as module

    X = _grey()
    calls = []
    cd1 = module.cd1_step

    def spy(rbm, v0, *args, **kwargs):
        calls.append((rbm, v0.copy()))
        return cd1(rbm, v0, *args, **kwargs)

    monkeypatch.setattr(module, "cd1_step", spy)
    DBM((4, 3), dynamic_binarization=True, pretrain_n_iter=3, n_iter=0, batch_size=20,
        random_state=0).pretrain(X)  # fmt: skip
    first = calls[0][0]
    upper = np.concatenate([v0 for rbm, v0 in calls if rbm is not first])
    assert upper.shape == (3 * 60, 4)
    up = layer_factors(0, 2)[0]
    candidates = expit(up * _states(3) @ first["W"].T + first["c"])
    distance = np.abs(upper[:, None, :] - candidates[None]).max(axis=2)
    assert distance.min(axis=1).max() < 1e-12
    assert len(np.unique(distance.argmin(axis=1))) > 1


def test_checkpoint_refuses_other_parameters(tmp_path):
    X = _data()
    DBM((4, 3), **SMALL).fit(X, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="n_chains"):
        DBM((4, 3), **(SMALL | {"n_chains": 7})).fit(X, checkpoint_dir=tmp_path)


def test_save_load_round_trip(tmp_path):
    X = _data()
    dbm = DBM((4, 3), **SMALL).fit(X)
    path = tmp_path / "dbm.safetensors"
    dbm.save(path)
    loaded = DBM.load(path)
    _assert_same(dbm, loaded)
    assert loaded.get_params() == dbm.get_params() | {"hidden_layer_sizes": (4, 3)}
    np.testing.assert_array_equal(loaded.transform(X), dbm.transform(X))
    assert loaded.history_ == dbm.history_


def test_float32_in_float32_out():
    X = _data().astype(np.float32)
    dbm = DBM((4, 3), **SMALL).fit(X)
    assert dbm.components_[0].dtype == np.float32
    assert all(m.dtype == np.float32 for m in dbm.transform(X, layers="all"))


def test_sample_shapes_and_range(tiny):
    V = tiny.sample(5, 20, random_state=0)
    assert V.shape == (5, 6) and np.all((V >= 0) & (V <= 1))
    S = tiny.sample(5, 20, return_probabilities=False, random_state=0)
    assert set(np.unique(S)) <= {0.0, 1.0}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_to_mlp_reproduces_the_mean_field_posteriors():
    X = _data()
    dbm = DBM((4, 3), **SMALL).fit(X)
    mlp = dbm.to_mlp(max_iter=2)
    (W0, b0), (W1, b1) = mlp.pretrained_layers
    augmented = dbm.augment(X)
    assert augmented.shape == (60, 6 + 3)
    h1 = expit(augmented @ W0 + b0)
    h2 = expit(h1 @ W1 + b1)
    mu1, mu2 = dbm.mean_field(X, 500, tol=1e-14)
    # augment() uses n_mean_field sweeps; at a fixed point the net's features are the posteriors.
    dbm.n_mean_field = 500
    h1 = expit(dbm.augment(X) @ W0 + b0)
    np.testing.assert_allclose(h1, mu1, atol=1e-8)
    np.testing.assert_allclose(expit(h1 @ W1 + b1), mu2, atol=1e-8)
    y = (X[:, 0] > 0).astype(int)
    assert mlp.fit(augmented, y).predict(augmented).shape == (60,)
    assert h2.shape == (60, 3)


def test_to_mlp_fine_tunes_with_the_dbn_defaults_at_the_dbm_s_measured_rate():
    from dbn.stack import TO_MLP_DEFAULTS

    dbm = DBM((4, 3), **SMALL).fit(_data())
    params = dbm.to_mlp().get_params()
    assert params["learning_rate_init"] == DBM_FINETUNE_RATE == 0.05
    for name, value in TO_MLP_DEFAULTS.items():
        if name != "learning_rate_init":
            assert params[name] == value, name
    assert dbm.to_mlp(learning_rate_init=0.2).get_params()["learning_rate_init"] == 0.2
    # The DBM's nets were measured on the raw inputs; a DBN's centres binary inputs.
    assert params["center_inputs"] is False


def test_xavier_init_std_draws_each_pretraining_rbm_at_its_own_scale():
    X = _data()
    sizes = (4, 3)
    fans = [X.shape[1], *sizes]
    by_name = DBM(sizes, **(SMALL | dict(init_std="xavier", pretrain_n_iter=0, n_iter=0)))
    by_name.fit(X)
    first = DBM(sizes, **(SMALL | dict(init_std=float(np.sqrt(2.0 / (fans[0] + fans[1]))))))
    first.set_params(pretrain_n_iter=0, n_iter=0).fit(X)
    # With no training the first layer's weights are the initial draw.
    np.testing.assert_array_equal(by_name.components_[0], first.components_[0])
    with pytest.raises(TypeError, match="init_std must be a float >= 0 or 'xavier'"):
        DBM(sizes, init_std="he").fit(X)


def test_to_torch_computes_transform():
    torch = pytest.importorskip("torch")
    X = _data()
    dbm = DBM((4, 3), **SMALL).fit(X)
    module = dbm.to_torch()
    with torch.no_grad():
        got = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, dbm.transform(X), atol=1e-12)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes"),
        ({"n_chains": 0}, "n_chains"),
        ({"k": 0}, "k must be"),
        ({"n_mean_field": 0}, "n_mean_field"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"momentum": 1.0}, "momentum"),
        ({"learning_rate_schedule": "cosine"}, "learning_rate_schedule"),
        ({"pretrain_n_iter": -1}, "pretrain_n_iter"),
        ({"pretrain_n_iter": 2.5}, "pretrain_n_iter"),
        ({"pretrain_n_iter": (2, 2, 2)}, "one epoch count per hidden layer .2., got 3"),
        ({"pretrain_n_iter": (2, -1)}, "pretrain_n_iter"),
        ({"pretrain_n_iter": (2, 1.5)}, "pretrain_n_iter"),
        ({"dynamic_binarization": "yes"}, "dynamic_binarization must be a bool"),
    ],
)
def test_bad_parameters_are_named(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        DBM(**(SMALL | params)).fit(_data())


def test_bad_input_is_named(tiny):
    with pytest.raises(NotFittedError, match=r"call fit\(X\) first .* or pretrain\(X\)"):
        DBM().transform(_data())
    with pytest.raises(ValueError, match="features"):
        tiny.transform(_data(n_features=5))
    with pytest.raises(ValueError, match="binary"):
        dbm_variational_bound(tiny, _data() * 0.5)
    with pytest.raises(ValueError, match="max_units"):
        dbm_exact_log_partition(tiny, max_units=2)
    with pytest.raises(ValueError, match="layers"):
        tiny.transform(_data(), layers="bottom")
    with pytest.raises(ValueError, match="state_layers"):
        dbm_ais_log_partition(tiny, n_betas=10, state_layers="visible")


@pytest.mark.filterwarnings("ignore::dbn.DataRangeWarning")
@parametrize_with_checks([DBM((3, 2), n_iter=2, pretrain_n_iter=2, batch_size=10, n_chains=5)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_default_pretraining_keeps_the_top_layer_alive():
    """At the paper's rate 0.05 (momentum 0.9) the top RBM, whose top-down input is doubled,
    left almost all of its hidden units constant across the rectangles set
    (benchmarks/dbm_pretraining.py); at the default 0.02 nearly all of them vary."""
    from dbn.datasets import load_panel

    d = load_panel("rectangles", test_size=1)
    X = d.X_train[:500]

    def dead(dbm):
        return [float(np.mean(mu.std(axis=0) < 0.01)) for mu in dbm.mean_field(d.X_val)]

    settings = dict(hidden_layer_sizes=(500, 1000), pretrain_n_iter=10, random_state=0)
    assert DBM().pretrain_learning_rate == 0.02 and DBM().centering is True
    healthy = dead(DBM(**settings).pretrain(X))
    assert healthy[0] == 0.0 and healthy[1] < 0.1
    assert dead(DBM(**settings, pretrain_learning_rate=0.05).pretrain(X))[1] > 0.5
