"""Smoke checks of RBM learning on small slices of the real MNIST (skipped when it is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from dbn import BernoulliRBM

from .conftest import skip_without_mnist


@pytest.fixture(scope="module")
def mnist():
    home = skip_without_mnist()  # DBN_DATA_HOME, the user cache, ../shared/data
    from dbn.datasets import load_mnist

    X, y = load_mnist("train", data_home=home, as_float=True, download=False)
    return X[:3000], y[:3000]


def test_reconstruction_error_falls_clearly(mnist):
    X, _ = mnist
    mean_image_error = float(((X - X.mean(0)) ** 2).sum(1).mean())
    rbm = BernoulliRBM(200, n_iter=5, batch_size=20, learning_rate=0.05, random_state=0).fit(X)
    errors = rbm.history_["reconstruction_error"]
    assert errors[-1] < 0.8 * errors[0], errors
    # The untrained model reconstructs the mean image; the trained one does far better.
    assert errors[-1] < 0.4 * mean_image_error, (errors, mean_image_error)
    assert rbm.history_["pseudo_likelihood"][-1] > rbm.history_["pseudo_likelihood"][0]


def _nearest_distance(samples, X):
    d2 = (samples**2).sum(1)[:, None] - 2 * samples @ X.T + (X**2).sum(1)[None, :]
    return np.sqrt(np.maximum(d2.min(1), 0))


@pytest.mark.parametrize(
    "params",
    [dict(k=10), dict(persistent=True, n_chains=100, final_momentum=0.5)],
    ids=["cd10", "pcd"],
)
def test_gibbs_chains_produce_digit_like_samples(mnist, params):
    """Samples from noise end near real digits, unlike noise with the same pixel means."""
    X, _ = mnist
    rbm = BernoulliRBM(
        200, n_iter=8, batch_size=20, learning_rate=0.05, random_state=0, **params
    ).fit(X)
    samples = rbm.sample(100, n_steps=500, return_probabilities=True, random_state=1)
    rng = np.random.default_rng(2)
    noise = (rng.random((100, 784)) < X.mean(0)).astype(np.float32)
    d_samples = _nearest_distance(samples, X).mean()
    d_noise = _nearest_distance(noise, X).mean()
    # Over seeds 0-2 the ratio was 0.30-0.61 after this short training (0.50 typical for CD-10).
    assert d_samples < 0.7 * d_noise, (d_samples, d_noise)
    # Ink: the chains neither die out nor fill the image.
    ink, data_ink = samples.mean(), X.mean()
    assert 0.5 * data_ink < ink < 2.0 * data_ink, (ink, data_ink)
