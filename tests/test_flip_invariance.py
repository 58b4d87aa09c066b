"""Which value of a binary unit is called "on" must not matter: the centred RBM's exact invariance,
and DBN defaults that learn features of the same quality on data and on its flip (1 - X)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from dbn import DBN, BernoulliRBM


@pytest.fixture(scope="module")
def binary_digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0 > 0.5).astype(np.float64), y


def _flipped_twin(rbm, X_flipped, **params):
    """An RBM for ``1 - X`` whose state is ``rbm``'s with the visible units flipped.

    With ``v' = 1 - v``: ``W' = -W``, visible biases ``b' = -b``, hidden biases
    ``c' = c + W 1`` (so that ``W' v' + c' = W v + c``), visible offsets ``mu' = 1 - mu`` and the
    same hidden offsets; velocities are zero at the start in both.
    """
    arrays, extra = rbm.training_state()
    arrays = {name: np.array(value) for name, value in arrays.items()}
    W = arrays["components_"]
    arrays["intercept_hidden_"] = arrays["intercept_hidden_"] + W.sum(axis=1)
    arrays["components_"] = -W
    arrays["intercept_visible_"] = -arrays["intercept_visible_"]
    if "visible_offset_" in arrays:
        arrays["visible_offset_"] = 1.0 - arrays["visible_offset_"]
    twin = BernoulliRBM(**params).initialize(X_flipped)
    twin.restore_training_state(arrays, extra)
    return twin


@pytest.mark.parametrize("centering", [True, False])
def test_centred_rbm_is_invariant_to_flipping_the_visible_units(binary_digits, centering):
    X, _ = binary_digits
    X_flipped = 1.0 - X
    params = dict(
        n_components=32, batch_size=20, learning_rate=0.05, centering=centering, random_state=0
    )
    rbm = BernoulliRBM(**params).initialize(X)
    twin = _flipped_twin(rbm, X_flipped, **params)
    np.testing.assert_allclose(twin.transform(X_flipped), rbm.transform(X), atol=1e-14)
    for _ in range(4):  # same random numbers: same shuffles and hidden samples in both
        rbm.partial_fit(X)
        twin.partial_fit(X_flipped)
    gap = np.abs(twin.transform(X_flipped) - rbm.transform(X)).max()
    if centering:
        assert gap < 1e-10
        np.testing.assert_allclose(twin.components_, -rbm.components_, atol=1e-10)
    else:
        # The plain RBM's update depends on which value is "on": the same construction drifts
        # apart at once. This is the control that shows the check above can fail.
        assert gap > 1e-2


def _frozen_feature_error(stack, X_train, y_train, X_test, y_test):
    classifier = LogisticRegression(max_iter=2000).fit(stack.transform(X_train), y_train)
    return 1.0 - classifier.score(stack.transform(X_test), y_test)


def test_dbn_defaults_learn_as_well_on_the_flipped_data(binary_digits):
    """A linear classifier on the frozen features of ``DBN`` at its defaults (small layers, few
    epochs) scores within 3 points on the digits and on their flip."""
    X, y = binary_digits
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1200], order[1200:]
    errors = {}
    for name, data in (("plain", X), ("flipped", 1.0 - X)):
        stack = DBN([100, 100], n_iter=5, random_state=0).pretrain(data[train])
        errors[name] = _frozen_feature_error(stack, data[train], y[train], data[test], y[test])
    assert errors["plain"] < 0.15, errors  # the features are worth something
    assert abs(errors["flipped"] - errors["plain"]) < 0.03, errors
