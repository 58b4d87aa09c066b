"""Greedy DBN stacking, export to an MLP, persistence and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from dbn import DBN, BernoulliRBM, GaussianBernoulliRBM, MLPClassifier, MLPRegressor
from dbn.io import ModelFileError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    prototypes = (rng.random((5, 30)) < 0.4).astype(float)
    labels = rng.integers(0, 5, 500)
    X = np.abs(prototypes[labels] - (rng.random((500, 30)) < 0.05))
    return X.astype(np.float32), labels


def test_each_layer_is_trained_on_the_features_below(data):
    X, _ = data
    dbn = DBN([12, 6], n_iter=3, batch_size=50, random_state=0).pretrain(X)
    first, second = dbn.layers_
    assert first.components_.shape == (12, 30) and second.components_.shape == (6, 12)
    # Layer 2 is exactly an RBM trained on layer 1's hidden probabilities with its own seed.
    alone = BernoulliRBM(**second.get_params()).fit(first.transform(X))
    np.testing.assert_array_equal(alone.components_, second.components_)
    np.testing.assert_array_equal(dbn.transform(X), second.transform(first.transform(X)))
    assert len(dbn.history_) == 2 and len(dbn.history_[1]["reconstruction_error"]) == 3
    assert len(dbn.pretrain_time_) == 2


def test_shared_defaults_and_per_layer_overrides(data):
    X, _ = data
    dbn = DBN(
        [10, 8, 4],
        n_iter=2,
        batch_size=50,
        learning_rate=0.05,
        layer_params={1: {"learning_rate": 0.01, "k": 2}},
        top_hidden_unit="gaussian",
        random_state=0,
    ).pretrain(X)
    rates = [rbm.learning_rate for rbm in dbn.layers_]
    assert rates == [0.05, 0.01, 0.05]
    assert dbn.layers_[1].k == 2 and dbn.layers_[0].k == 1
    assert dbn.layers_[-1].hidden_unit == "gaussian"
    assert dbn.layers_[0].hidden_unit == "bernoulli"
    with pytest.raises(ValueError, match=r"layer_params\[0\] has unknown RBM parameters"):
        DBN([4], layer_params=[{"bogus": 1}]).pretrain(X)
    with pytest.raises(ValueError, match="one entry per layer"):
        DBN([4, 3], layer_params=[{}]).pretrain(X)


def test_hinton_recipe_is_expressible():
    dbn = DBN.hinton_salakhutdinov_2006()
    assert dbn.hidden_layer_sizes == (500, 500, 2000)
    assert (dbn.n_iter, dbn.learning_rate, dbn.batch_size) == (50, 0.1, 100)
    assert (dbn.momentum, dbn.final_momentum, dbn.momentum_switch_epoch) == (0.5, 0.9, 5)
    assert (dbn.weight_decay, dbn.init_std, dbn.k) == (0.0002, 0.1, 1)
    layers = dbn._make_layers()
    assert all(rbm.init_std == 0.1 and rbm.n_iter == 50 for rbm in layers)


def test_gaussian_first_layer_for_real_valued_data():
    X = np.random.default_rng(1).standard_normal((300, 8))
    dbn = DBN(
        [6, 3],
        visible_unit="gaussian",
        n_iter=2,
        batch_size=30,
        random_state=0,
        layer_params={0: {"learning_rate": 0.005}},
    ).pretrain(X)
    assert isinstance(dbn.layers_[0], GaussianBernoulliRBM)
    assert dbn.layers_[0].learning_rate == 0.005
    assert isinstance(dbn.layers_[1], BernoulliRBM)
    assert dbn.transform(X).shape == (300, 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_to_mlp_preserves_features(data, dtype):
    X, y = data
    X = X.astype(dtype)
    dbn = DBN([12, 6], n_iter=10, batch_size=20, random_state=0).pretrain(X)
    mlp = dbn.to_mlp(max_iter=30, solver="sgd", learning_rate_init=0.5, batch_size=20)
    assert isinstance(mlp, MLPClassifier)
    tol = 0  # one sigmoid kernel for RBM and MLP: bit-identical features
    np.testing.assert_allclose(mlp.hidden_activations(X), dbn.transform(X), rtol=0, atol=tol)
    for (W, b), rbm in zip(mlp.pretrained_layers, dbn.layers_, strict=True):
        np.testing.assert_array_equal(W, rbm.components_.T)
        np.testing.assert_array_equal(b, rbm.intercept_hidden_)
    mlp.fit(X, y)
    assert mlp.coefs_[-1].shape == (6, 5)
    assert mlp.score(X, y) > 0.9
    assert isinstance(dbn.to_mlp("regression"), MLPRegressor)


def test_save_load_round_trip(tmp_path, data):
    X, _ = data
    dbn = DBN(
        [12, 6], n_iter=2, batch_size=50, random_state=0, layer_params={1: {"k": 2}}
    ).pretrain(X)
    dbn.save(tmp_path / "dbn.npz")
    loaded = DBN.load(tmp_path / "dbn.npz")
    assert list(loaded.hidden_layer_sizes) == list(dbn.hidden_layer_sizes)
    loaded.hidden_layer_sizes = dbn.hidden_layer_sizes
    assert loaded.get_params() == dbn.get_params()
    for a, b in zip(loaded.layers_, dbn.layers_, strict=True):
        np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(loaded.transform(X), dbn.transform(X))
    with pytest.raises(ModelFileError, match="holds a 'DBN', expected BernoulliRBM"):
        BernoulliRBM.load(tmp_path / "dbn.npz")


def test_checkpoint_resume_gives_the_same_weights(tmp_path, data):
    X, _ = data
    params = dict(hidden_layer_sizes=[10, 6], n_iter=4, batch_size=50, random_state=3)
    reference = DBN(**params).pretrain(X)

    class Crash(Exception):
        pass

    def crash(dbn, layer, rbm, epoch, record):
        if layer == 1 and epoch == 1:
            raise Crash

    with pytest.raises(Crash):
        DBN(**params).pretrain(X, checkpoint_dir=tmp_path, callbacks=[crash])
    assert (tmp_path / "dbn-checkpoint.npz").exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]
    resumed = DBN(**params).pretrain(X, checkpoint_dir=tmp_path)
    assert resumed.layers_[1].n_epochs_ == 4
    for a, b in zip(resumed.layers_, reference.layers_, strict=True):
        np.testing.assert_array_equal(a.components_, b.components_)
        np.testing.assert_array_equal(a.intercept_visible_, b.intercept_visible_)
    with pytest.raises(ValueError, match="written by a DBN with other parameters"):
        DBN(**{**params, "n_iter": 5}).pretrain(X, checkpoint_dir=tmp_path)


def test_sample_returns_images_in_range(data):
    X, _ = data
    dbn = DBN([16, 8], n_iter=5, batch_size=50, random_state=0).pretrain(X)
    samples = dbn.sample(10, n_steps=50, random_state=0)
    assert samples.shape == (10, 30)
    assert 0 <= samples.min() and samples.max() <= 1
    binary = dbn.sample(5, n_steps=5, return_probabilities=False, init=X[:5])
    assert set(np.unique(binary)) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "sizes, error, match",
    [
        ([], ValueError, "at least one layer"),
        ([10, 0], ValueError, "positive integers"),
        ("abc", ValueError, "positive integers"),
        (None, TypeError, "sequence of positive ints"),
    ],
)
def test_bad_hidden_layer_sizes(data, sizes, error, match):
    with pytest.raises(error, match=match):
        DBN(sizes).pretrain(data[0])


def test_bad_input_to_pretrain_and_transform(data):
    X, _ = data
    with pytest.raises(ValueError, match=r"X must lie in \[0.0, 1.0\]"):
        DBN([4]).pretrain(X * 3)
    with pytest.raises(ValueError, match="batch_size=1000 of layer 0 is larger"):
        DBN([4], batch_size=1000).pretrain(X)
    dbn = DBN([4], n_iter=1, batch_size=50).pretrain(X)
    with pytest.raises(ValueError, match="X has 3 features, but the model was fitted with 30"):
        dbn.transform(X[:, :3])
