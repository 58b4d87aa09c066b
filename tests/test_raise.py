"""Reverse AIS (RAISE): exact on enumerable models, conservative where AIS is optimistic."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from dbn import BernoulliRBM
from dbn.evaluation import (
    RAISEResult,
    exact_log_partition,
    log_likelihood,
    raise_log_likelihood,
)

from . import naive
from .test_evaluation import TRAINED, _random_model


def _annealing_model_one_step(model, base_logits):
    """``p_ann(v) = sum_x0 p_A(x0) T(v | x0)`` by enumeration, for the two-temperature schedule.

    ``p_A`` is the base-rate model (independent visible units with ``base_logits``) and ``T`` one
    Gibbs step ``v -> h -> v'`` of the target RBM: the distribution of forward AIS's final state,
    whose probabilities RAISE estimates without bias.
    """
    W = model.components_.astype(np.float64)
    c, b = model.intercept_hidden_.astype(np.float64), model.intercept_visible_.astype(np.float64)
    V = naive.all_binary_states(W.shape[1])
    H = naive.all_binary_states(W.shape[0])
    p_base = np.exp(V @ base_logits - np.sum(np.logaddexp(0, base_logits)))
    p_h = expit(V @ W.T + c)  # p(h_j = 1 | v) per visible state
    p_h_given_v = np.prod(np.where(H[None] == 1, p_h[:, None], 1 - p_h[:, None]), axis=2)
    p_v = expit(H @ W + b)
    p_v_given_h = np.prod(np.where(V[None] == 1, p_v[:, None], 1 - p_v[:, None]), axis=2)
    transition = p_h_given_v @ p_v_given_h  # (from v, to v')
    return V, p_base @ transition


def test_raise_is_unbiased_for_the_annealing_model_it_defines():
    """With betas (0, 1), mean(w) of each test vector equals p_ann(v), computed by enumeration.

    A wrong sign, a weight taken at the wrong temperature or a transition at the wrong beta moves
    the estimate far outside the error bars of 20,000 runs.
    """
    model = _random_model(BernoulliRBM, 4, 3, 2, scale=1.0)
    base_rate = np.array([0.3, 0.6, 0.5, 0.2])
    V, p_ann = _annealing_model_one_step(model, np.log(base_rate) - np.log1p(-base_rate))
    X = V[[0, 5, 9, 15]]
    result = raise_log_likelihood(
        model, X, n_betas=[0.0, 1.0], n_runs=20000, base_rate=base_rate, random_state=0
    )
    expected = np.log(p_ann[[0, 5, 9, 15]])
    np.testing.assert_allclose(result.log_probabilities, expected, atol=0.03)


@pytest.fixture(scope="module", params=list(TRAINED))
def trained_model(request):
    model, data = TRAINED[request.param]()
    # 100 test vectors keep the chains few; the exact value is computed on the same vectors.
    data = (np.asarray(data)[:100] > 0.5).astype(np.float64)
    return request.param, model, data, log_likelihood(model, data, exact_log_partition(model))


def test_raise_agrees_with_the_exact_log_likelihood_as_the_schedule_gets_finer(trained_model):
    """RAISE estimates the annealing model, which approaches the RBM as the betas get finer.

    Where annealing mixes (the CD-1 models), 3000 betas bring it within 0.1 nat of the exact value.
    On the PCD bars-and-stripes model, whose 30 separated modes annealing crosses poorly, the
    annealing model puts more mass on the data than the RBM does, so RAISE is optimistic there
    (measured: +3.4 nats at 300 betas, +0.9 at 3000, +0.14 at 20000); the error must shrink with
    the schedule.
    """
    name, model, data, exact = trained_model
    data_before = data.copy()
    fine = raise_log_likelihood(model, data, n_betas=3000, n_runs=10, data=data, random_state=0)
    np.testing.assert_array_equal(data, data_before)
    assert isinstance(fine, RAISEResult) and fine.log_probabilities.shape == (len(data),)
    assert fine.n_betas == 3000 and fine.n_runs == 10
    if name != "bas4-pcd":
        assert abs(fine.log_likelihood - exact) < 0.1, (fine, exact)
    else:
        coarse = raise_log_likelihood(
            model, data, n_betas=300, n_runs=10, data=data, random_state=0
        )
        assert abs(fine.log_likelihood - exact) < 0.5 * abs(coarse.log_likelihood - exact)
    # The implied log Z is mean(-F) - the estimate.
    mean_negative_free_energy = float(np.mean(-model.free_energy(data)))
    assert fine.log_z == pytest.approx(mean_negative_free_energy - fine.log_likelihood, abs=1e-3)


def test_raise_per_vector_estimates_match_enumeration_on_a_small_model():
    model = _random_model(BernoulliRBM, 6, 5, 3, scale=0.8)
    X = naive.all_binary_states(6)[::7]
    exact_log_z = exact_log_partition(model)
    exact = (
        -naive.exact_free_energy(
            X, model.components_, model.intercept_hidden_, model.intercept_visible_
        )
        - exact_log_z
    )
    result = raise_log_likelihood(model, X, n_betas=2000, n_runs=20, random_state=1)
    np.testing.assert_allclose(result.log_probabilities, exact, atol=0.15)
    assert float(result) == result.log_likelihood


def test_raise_same_seed_same_estimate_and_chunking_does_not_change_the_model():
    model = _random_model(BernoulliRBM, 5, 4, 4)
    X = naive.all_binary_states(5)[:12]
    first = raise_log_likelihood(model, X, n_betas=50, n_runs=4, random_state=7)
    again = raise_log_likelihood(model, X, n_betas=50, n_runs=4, random_state=7)
    np.testing.assert_array_equal(first.log_probabilities, again.log_probabilities)
    chunked = raise_log_likelihood(
        model, X, n_betas=2000, n_runs=50, chunk_size=100, random_state=1
    )
    whole = raise_log_likelihood(model, X, n_betas=2000, n_runs=50, random_state=2)
    np.testing.assert_allclose(chunked.log_probabilities, whole.log_probabilities, atol=0.1)
    assert logsumexp(whole.log_probabilities) < 0  # probabilities of distinct vectors sum below 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_runs": 0}, ValueError, "n_runs"),
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"n_betas": [0.0, 0.5]}, ValueError, "from exactly 0 to exactly 1"),
    ],
)
def test_raise_rejects_bad_arguments(kwargs, error, match):
    model = _random_model(BernoulliRBM, 5, 4, 4)
    X = naive.all_binary_states(5)[:3]
    with pytest.raises(error, match=match):
        raise_log_likelihood(model, X, **{"n_betas": 10, "n_runs": 2, **kwargs})
    with pytest.raises(ValueError, match="binary"):
        raise_log_likelihood(model, X * 0.5, n_betas=10, n_runs=2)
