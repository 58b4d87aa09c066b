"""Greedy DBN stacking, export to an MLP, persistence and checkpoints."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from dbn import (
    DBN,
    BernoulliRBM,
    Callback,
    DataRangeWarning,
    GaussianBernoulliRBM,
    MLPClassifier,
    MLPRegressor,
)
from dbn.io import ModelFileError
from dbn.stack import (
    AUTO_WIDTHS,
    BINARY_INPUT_FINETUNING,
    GAUSSIAN_LAYER_DEFAULTS,
    GAUSSIAN_RATE_FACTOR,
    LINEAR_TOP_RATE_FACTOR,
    REAL_VALUED_TO_MLP_DEFAULTS,
    TO_MLP_DEFAULTS,
    auto_layer_sizes,
)

from . import naive


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
    # One history table, with the layer of each epoch; each layer's own history is the RBM's.
    history = dbn.history_
    assert history["layer"] == [0, 0, 0, 1, 1, 1] and history["epoch"] == [1, 2, 3, 1, 2, 3]
    assert history["reconstruction_error"] == (
        first.history_["reconstruction_error"] + second.history_["reconstruction_error"]
    )
    assert set(history) == {"layer", *second.history_}
    assert len(dbn.pretrain_time_) == 2


def test_engine_hooks_are_not_public_api():
    # help(dbn.DBN) and the API reference list what a user calls; the drivers' hooks stay private.
    from dbn import DeepAutoencoder, GaussianBernoulliRBM, MLPClassifier, MLPRegressor

    estimators = (DBN, BernoulliRBM, GaussianBernoulliRBM, MLPClassifier, MLPRegressor)
    for cls in (*estimators, DeepAutoencoder):
        for hook in ("header_params", "make_layers"):
            assert not hasattr(cls, hook), (cls.__name__, hook)
    assert callable(DBN._make_layers) and callable(DBN._header_params)


def test_pretraining_defaults_chosen_by_the_defaults_study_reach_every_layer():
    # benchmarks/panel_study.py: minibatches of 10, momentum 0.5 throughout, centring decided per
    # layer on its inputs ("auto"), initial weights at Glorot & Bengio's scale; the RBM keeps its
    # own defaults (Hinton's 100, 0.5 for five epochs rising to 0.9, and 0.01).
    assert DBN().centering == "auto"
    layers = DBN([6, 4])._make_layers(n_features=784)
    for rbm in layers:
        assert (rbm.batch_size, rbm.momentum, rbm.final_momentum) == (10, 0.5, 0.5)
        assert rbm._centering_auto and not rbm.centering  # until its inputs exist
        assert (rbm.learning_rate, rbm.k, rbm.persistent) == (0.1, 1, False)
        assert rbm.init_std == "xavier"  # ninth round
    assert (BernoulliRBM().batch_size, BernoulliRBM().momentum) == (100, 0.5)
    assert BernoulliRBM().init_std == 0.01


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
    # The linear top layer learns at LINEAR_TOP_RATE_FACTOR times the shared rate.
    assert rates == [0.05, 0.01, 0.05 * LINEAR_TOP_RATE_FACTOR]
    assert dbn.layers_[1].k == 2 and dbn.layers_[0].k == 1
    assert dbn.layers_[-1].hidden_unit == "gaussian"
    assert dbn.layers_[0].hidden_unit == "bernoulli"
    with pytest.raises(ValueError, match=r"layer_params\[0\] has unknown RBM parameters"):
        DBN([4], layer_params=[{"bogus": 1}]).pretrain(X)
    with pytest.raises(ValueError, match="one entry per layer"):
        DBN([4, 3], layer_params=[{}]).pretrain(X)


def test_linear_top_layer_learns_at_a_smaller_rate_unless_told(data):
    X, _ = data
    params = dict(n_iter=1, batch_size=50, learning_rate=0.1, random_state=0)
    top = DBN([6, 3], top_hidden_unit="gaussian", **params)._make_layers(X.shape[1])
    assert [rbm.learning_rate for rbm in top] == [0.1, 0.1 * LINEAR_TOP_RATE_FACTOR]
    pinned = DBN(
        [6, 3], top_hidden_unit="gaussian", layer_params={1: {"learning_rate": 0.02}}, **params
    )
    assert [rbm.learning_rate for rbm in pinned._make_layers(X.shape[1])] == [0.1, 0.02]
    # One layer with real-valued inputs and linear hidden units: both reasons apply.
    (both,) = DBN([3], visible_unit="gaussian", top_hidden_unit="gaussian", **params)._make_layers(
        X.shape[1]
    )
    assert both.learning_rate == pytest.approx(0.1 * GAUSSIAN_RATE_FACTOR * LINEAR_TOP_RATE_FACTOR)
    assert DBN([6, 3], **params)._make_layers(X.shape[1])[1].learning_rate == 0.1


def test_hinton_recipe_is_expressible():
    dbn = DBN.hinton_salakhutdinov_2006()
    assert dbn.hidden_layer_sizes == (500, 500, 2000)
    assert (dbn.n_iter, dbn.learning_rate, dbn.batch_size) == (50, 0.1, 100)
    assert (dbn.momentum, dbn.final_momentum, dbn.momentum_switch_epoch) == (0.5, 0.9, 5)
    assert (dbn.weight_decay, dbn.init_std, dbn.k) == (0.0002, 0.1, 1)
    layers = dbn._make_layers(n_features=784)
    assert all(rbm.init_std == 0.1 and rbm.n_iter == 50 for rbm in layers)


def test_auto_layer_sizes_scale_with_the_inputs(tmp_path):
    # Hinton's widths on MNIST-sized inputs; each width capped at max(128, 8 x inputs) below that
    # (benchmarks/panel_study.py, seventh round).
    assert DBN().hidden_layer_sizes == "auto"
    assert auto_layer_sizes(784) == AUTO_WIDTHS == (500, 500, 2000)
    assert auto_layer_sizes(200) == (500, 500, 1600)
    assert auto_layer_sizes(64) == (500, 500, 512)
    assert auto_layer_sizes(13) == (128, 128, 128)
    X = (np.random.default_rng(0).random((60, 20)) < 0.3).astype(np.float64)
    stack = DBN(n_iter=1, random_state=0).pretrain(X)
    assert [rbm.n_components for rbm in stack.layers_] == [160, 160, 160]
    assert stack.hidden_layer_sizes == "auto"  # the parameter is left as the user set it
    assert stack.to_mlp().hidden_layer_sizes == (160, 160, 160)
    stack.save(tmp_path / "auto.safetensors")
    loaded = DBN.load(tmp_path / "auto.safetensors")
    assert loaded.hidden_layer_sizes == "auto"
    np.testing.assert_array_equal(loaded.transform(X), stack.transform(X))
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must be 'auto' or a sequence"):
        DBN("big", n_iter=1).pretrain(X)


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


def test_gaussian_first_layer_learns_its_sigma_by_default_and_layer_params_can_fix_it():
    # The twenty-fourth panel round's default: a sigma per input, sampled reconstructions.
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 6)) * np.array([0.3, 0.5, 1.0, 1.0, 1.5, 2.0])
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    X[:, :2] += 0.6 * rng.standard_normal((300, 1))  # two noisy, correlated inputs
    learnt = DBN([5], visible_unit="gaussian", n_iter=20, random_state=0).pretrain(X)
    first = learnt.layers_[0]
    assert first.learn_variance and first.sample_visible
    assert first.get_params() | GAUSSIAN_LAYER_DEFAULTS == first.get_params()
    assert not np.allclose(first.sigma_, 1.0, atol=0.05)  # the sigmas moved away from 1
    fixed = DBN(
        [5],
        visible_unit="gaussian",
        n_iter=20,
        random_state=0,
        layer_params={0: {"learn_variance": False, "sample_visible": False}},
    ).pretrain(X)
    assert not fixed.layers_[0].learn_variance and not fixed.layers_[0].sample_visible
    np.testing.assert_array_equal(fixed.layers_[0].sigma_, np.ones(6))
    # Binary inputs: nothing of the Gaussian layer's defaults reaches a BernoulliRBM.
    binary = DBN([5], n_iter=1, random_state=0).pretrain((X > 0).astype(float))
    assert not binary.layers_[0].sample_visible


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


def test_to_mlp_of_a_real_valued_dbn_fine_tunes_by_adam_unless_told_otherwise():
    """A DBN on real-valued inputs gets the seventeenth and eighteenth panel rounds' fine-tuning
    (Adam 1e-3, minibatches of 32, at most 500 epochs); a binary one keeps SGD; user values win."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    gaussian = DBN([6], visible_unit="gaussian", n_iter=2, random_state=0).pretrain(X)
    params = gaussian.to_mlp().get_params()
    assert (params["solver"], params["learning_rate_init"]) == ("adam", 1e-3)
    assert (params["batch_size"], params["max_iter"]) == (32, 500)
    for name, value in REAL_VALUED_TO_MLP_DEFAULTS.items():
        assert params[name] == value, name
    # Only the solver's settings differ from a binary DBN's defaults.
    changed = {k for k in TO_MLP_DEFAULTS if TO_MLP_DEFAULTS[k] != REAL_VALUED_TO_MLP_DEFAULTS[k]}
    assert changed == {"solver", "learning_rate_init", "batch_size", "max_iter"}
    binary = DBN([6], n_iter=2, random_state=0).pretrain((X > 0).astype(float))
    assert binary.to_mlp().get_params()["solver"] == "sgd"
    params = gaussian.to_mlp(solver="sgd", learning_rate_init=0.1, max_iter=9).get_params()
    assert (params["solver"], params["learning_rate_init"], params["max_iter"]) == ("sgd", 0.1, 9)
    # At the library's defaults throughout (widths, epochs), the net learns the linear rule
    # without a convergence warning.
    defaults = DBN(visible_unit="gaussian", random_state=0).pretrain(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        mlp = defaults.to_mlp().fit(X, y)
    assert mlp.score(X, y) > 0.95 and mlp.n_iter_ < 500
    assert gaussian.to_mlp("regression").get_params()["solver"] == "adam"  # MLPRegressor's own


def test_to_mlp_applies_its_fine_tuning_defaults_and_user_parameters_override_them(
    data, monkeypatch
):
    X, y = data
    dbn = DBN([12, 6], n_iter=3, batch_size=50, random_state=0).pretrain(X)
    params = dbn.to_mlp().get_params()
    assert TO_MLP_DEFAULTS  # the defaults chosen by benchmarks/panel_study.py
    for name, value in TO_MLP_DEFAULTS.items():
        assert params[name] == value, name
    # They come from TO_MLP_DEFAULTS, not from the MLP's own defaults (which they may equal).
    monkeypatch.setitem(TO_MLP_DEFAULTS, "learning_rate_init", 0.0123)
    monkeypatch.setitem(TO_MLP_DEFAULTS, "batch_size", 7)
    params = dbn.to_mlp().get_params()
    assert (params["learning_rate_init"], params["batch_size"]) == (0.0123, 7)
    # Any parameter the user passes wins, the others keep to_mlp's defaults.
    overrides = {"solver": "adam", "learning_rate_init": 0.003, "max_iter": 7, "alpha": 0.5}
    params = dbn.to_mlp(**overrides).get_params()
    for name, value in overrides.items():
        assert params[name] == value, name
    for name in set(TO_MLP_DEFAULTS) - set(overrides):
        assert params[name] == TO_MLP_DEFAULTS[name], name
    # Regression keeps MLPRegressor's own defaults (the study covers classification only).
    regression = dbn.to_mlp("regression").get_params()
    assert {k: regression[k] for k in TO_MLP_DEFAULTS} == {
        k: MLPRegressor().get_params()[k] for k in TO_MLP_DEFAULTS
    }
    # The defaults fit on a small labelled set, and the untrained net holds the DBN's features.
    mlp = dbn.to_mlp(max_iter=5)
    np.testing.assert_array_equal(mlp.hidden_activations(X), dbn.transform(X))
    mlp.fit(X[:200], y[:200])
    assert mlp.n_iter_ <= 5


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
    assert resumed.layers_[1].n_iter_ == 4
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
    # Out-of-range data and a batch larger than the data are accepted with a warning that says
    # what to do (as sklearn does).
    with pytest.warns(DataRangeWarning, match=r"X should lie in \[0, 1\].*X / 255"):
        DBN([4], n_iter=1, batch_size=50).pretrain(X * 3)
    with pytest.warns(UserWarning, match=r"batch_size=1000 of BernoulliRBM\(4\) is larger"):
        DBN([4], n_iter=1, batch_size=1000).pretrain(X)
    dbn = DBN([4], n_iter=1, batch_size=50).pretrain(X)
    with pytest.raises(ValueError, match="X has 3 features, but DBN is expecting 30 features"):
        dbn.transform(X[:, :3])


# ----------------------------------------------------------------------------- beyond shapes
def test_samples_of_a_dbn_trained_on_bars_and_stripes_are_bars_or_stripes():
    patterns = naive.bars_and_stripes(4)  # 30 distinct 4x4 images of 16 pixels
    valid = {tuple(row) for row in patterns.astype(int)}
    dbn = DBN(
        [32, 32],
        n_iter=80,
        k=3,
        batch_size=20,
        learning_rate=0.05,
        final_momentum=0.5,
        weight_decay=0.0,
        init_std=0.1,
        monitor_size=0,
        random_state=0,
    ).pretrain(np.repeat(patterns, 20, axis=0))
    samples = dbn.sample(200, n_steps=300, return_probabilities=False, random_state=1)
    hits = [tuple(row) in valid for row in samples.astype(int)]
    # Uniform noise would hit one of the 30 patterns in 30 / 2**16 of the samples.
    assert np.mean(hits) > 0.6, np.mean(hits)
    # ...and the model has not collapsed onto a few of them.
    assert len({tuple(row) for row in samples.astype(int)} & valid) >= 15


def test_gaussian_dbn_exports_reproduce_its_features_with_sigma_folded_in():
    rng = np.random.default_rng(0)
    scale = np.array([0.5, 1.0, 2.0, 3.0, 0.7, 1.5])
    X = rng.standard_normal((400, 6)) * scale + rng.normal(0, 1, 6)
    dbn = DBN(
        [5, 3],
        visible_unit="gaussian",
        n_iter=15,
        batch_size=40,
        random_state=0,
        layer_params={0: {"learn_variance": True, "sample_visible": True, "learning_rate": 0.01}},
    ).pretrain(X)
    first, second = dbn.layers_
    sigma = first.sigma_
    assert np.abs(np.log(sigma)).max() > 0.3  # sigma is far from 1: folding it in matters
    features = dbn.transform(X)
    W1 = first.components_.T / sigma[:, None]
    # to_mlp: the first layer holds W^T / sigma, and the net's features are the DBN's.
    mlp = dbn.to_mlp("regression")
    np.testing.assert_allclose(mlp.pretrained_layers[0][0], W1, rtol=1e-14)
    np.testing.assert_allclose(mlp.hidden_activations(X), features, rtol=1e-10, atol=1e-12)
    unfolded = 1 / (1 + np.exp(-(X @ first.components_.T + first.intercept_hidden_)))
    assert not np.allclose(unfolded, first.transform(X), atol=1e-3)
    # to_autoencoder: the encoder gives the DBN's features, the decoder its top-down means
    # b + sigma * (h W) for the Gaussian layer (sigma folded into the decoder weights).
    ae = dbn.to_autoencoder()
    np.testing.assert_allclose(ae.encode(X), features, rtol=1e-10, atol=1e-12)
    h1 = 1 / (1 + np.exp(-(features @ second.components_ + second.intercept_visible_)))
    top_down = first.intercept_visible_ + sigma * (h1 @ first.components_)
    np.testing.assert_allclose(ae.reconstruct(X), top_down, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- callbacks
def test_callback_forms_numbering_and_stop(data):
    X, _ = data
    seen = []

    def plain(dbn, epoch, logs):  # the unified form, given alone (not in a list)
        seen.append(("plain", logs["layer"], epoch))
        return np.True_ if (logs["layer"], epoch) == (0, 2) else None  # truthy: stop layer 0

    dbn = DBN([8, 4], n_iter=3, batch_size=50, random_state=0).pretrain(X, callbacks=plain)
    assert seen == [
        ("plain", 0, 1),
        ("plain", 0, 2),
        ("plain", 1, 1),
        ("plain", 1, 2),
        ("plain", 1, 3),
    ]
    assert [rbm.n_iter_ for rbm in dbn.layers_] == [2, 3]  # the stop ended layer 0 only

    class Record(Callback):
        def __init__(self):
            self.calls, self.began, self.ended = [], 0, 0

        def on_train_begin(self, estimator):
            self.began += 1

        def on_epoch_end(self, estimator, epoch, logs):
            self.calls.append((logs["layer"], epoch, len(estimator.layers_)))

        def on_train_end(self, estimator):
            self.ended += 1

    record = Record()
    DBN([8, 4], n_iter=2, batch_size=50, random_state=0).pretrain(X, callbacks=[record])
    assert record.calls == [(0, 1, 1), (0, 2, 1), (1, 1, 2), (1, 2, 2)]
    assert (record.began, record.ended) == (1, 1)

    legacy = []

    def old_form(dbn, layer, rbm, epoch, record):
        legacy.append((layer, epoch, rbm is dbn.layers_[layer], "reconstruction_error" in record))

    with pytest.warns(DeprecationWarning, match="five parameters") as caught:
        DBN([8, 4], n_iter=2, batch_size=50, random_state=0).pretrain(X, callbacks=[old_form])
    assert caught[0].filename == __file__
    assert legacy == [
        (0, 0, True, True),
        (0, 1, True, True),
        (1, 0, True, True),
        (1, 1, True, True),
    ]
    with pytest.raises(TypeError, match=r"callbacks of a DBN must take \(dbn, epoch, logs\)"):
        DBN([4], n_iter=1, batch_size=50).pretrain(X, callbacks=lambda dbn, epoch: None)


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_refuses_other_data_of_the_same_width(tmp_path, data):
    X, _ = data
    params = dict(hidden_layer_sizes=[6], n_iter=2, batch_size=50, random_state=0)
    DBN(**params).pretrain(X, checkpoint_dir=tmp_path)
    other = X.copy()
    other[0, 0] = 1 - other[0, 0]  # one pixel differs, same shape and dtype
    with pytest.raises(ValueError, match="was written for other values of X"):
        DBN(**params).pretrain(other, checkpoint_dir=tmp_path)
    with pytest.raises(
        ValueError, match=r"was written for X of shape \(500, 30\), got \(400, 30\)"
    ):
        DBN(**params).pretrain(X[:400], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="was written without X_val"):
        DBN(**params).pretrain(X, X_val=X[:50], checkpoint_dir=tmp_path)
    # The same data resumes (here: finds the finished run) and cleans stale temporary files.
    stale = tmp_path / ".dbn-checkpoint.npz.1234.tmp"
    stale.write_bytes(b"torn")
    resumed = DBN(**params).pretrain(X, checkpoint_dir=tmp_path)
    assert not stale.exists()
    reference = DBN(**params).pretrain(X)
    np.testing.assert_array_equal(resumed.layers_[0].components_, reference.layers_[0].components_)


def test_auto_centering_centres_the_layers_whose_inputs_are_mostly_on(data, tmp_path):
    X, _ = data  # mean about 0.4: plain; 1 - X, about 0.6: centred
    params = dict(hidden_layer_sizes=[12, 6], n_iter=2, batch_size=20, random_state=0)
    sparse = DBN(centering="auto", **params).pretrain(X)
    dense = DBN(centering="auto", **params).pretrain(1 - X)
    assert not sparse.layers_[0].centering and dense.layers_[0].centering
    # Each layer decides on its own inputs, the features of the layer below.
    for stack in (sparse, dense):
        features = stack.layers_[0].transform(X if stack is sparse else 1 - X)
        assert stack.layers_[1].centering == (features.mean() > 0.5)
    # "auto" trains what the fixed choice trains, layer by layer.
    fixed = DBN(centering=True, **params).pretrain(1 - X)
    if all(layer.centering for layer in dense.layers_):
        np.testing.assert_array_equal(dense.transform(1 - X), fixed.transform(1 - X))
    # A linear top layer is never centred (centring needs binary hidden units).
    linear_top = DBN(centering="auto", top_hidden_unit="gaussian", **params).pretrain(1 - X)
    assert linear_top.layers_[0].centering and not linear_top.layers_[1].centering
    # A layer's own setting is kept; the DBN's parameter stays "auto" (clone, grid search).
    pinned = DBN(centering="auto", layer_params={0: {"centering": False}}, **params)
    assert not pinned.pretrain(1 - X).layers_[0].centering
    assert dense.get_params()["centering"] == "auto"
    # Model files and checkpoints keep each layer's choice.
    dense.save(tmp_path / "dense.safetensors")
    loaded = DBN.load(tmp_path / "dense.safetensors")
    assert [r.centering for r in loaded.layers_] == [r.centering for r in dense.layers_]
    np.testing.assert_array_equal(loaded.transform(1 - X), dense.transform(1 - X))
    with pytest.raises(ValueError, match="centering must be 'auto', True or False"):
        DBN(centering="yes", **params).pretrain(X)


def test_auto_centering_resumes_bit_for_bit(data, tmp_path):
    X, _ = data
    params = dict(hidden_layer_sizes=[12, 6], n_iter=3, batch_size=20, random_state=0)
    params["centering"] = "auto"
    reference = DBN(**params).pretrain(1 - X)
    assert reference.layers_[0].centering

    class Crash(Exception):
        pass

    def crash(dbn, epoch, logs):
        if logs["layer"] == 1 and epoch == 2:
            raise Crash

    with pytest.raises(Crash):
        DBN(**params).pretrain(1 - X, checkpoint_dir=tmp_path, callbacks=[crash])
    resumed = DBN(**params).pretrain(1 - X, checkpoint_dir=tmp_path)
    for a, b in zip(resumed.layers_, reference.layers_, strict=True):
        assert a.centering == b.centering
        np.testing.assert_array_equal(a.components_, b.components_)


def test_xavier_init_std_scales_each_layer_by_its_own_fans(data):
    """``DBN(init_std="xavier")``: every layer draws at sqrt(2 / (its inputs + its units)), as
    if each had been given that float."""
    data, _ = data
    sizes = [16, 8]
    by_name = DBN(sizes, init_std="xavier", n_iter=1, random_state=0)
    fans = [data.shape[1], *sizes]
    stds = {i: dict(init_std=float(np.sqrt(2.0 / (fans[i] + fans[i + 1])))) for i in range(2)}
    by_value = DBN(sizes, layer_params=stds, n_iter=1, random_state=0)
    for a, b in zip(by_name.pretrain(data).layers_, by_value.pretrain(data).layers_, strict=True):
        np.testing.assert_array_equal(a.components_, b.components_)
        assert a.init_std == "xavier"


def test_unpretrained_dbn_names_its_own_verb():
    # A newcomer's first mistake: to_mlp() before pretrain(). The message names pretrain, the
    # DBN's verb, not only scikit-learn's fit.
    with pytest.raises(NotFittedError, match=r"is not fitted yet: call pretrain\(X\) first"):
        DBN([4]).to_mlp()


def test_labels_passed_to_pretrain_say_where_they_go():
    X = np.random.default_rng(0).random((20, 6))
    with pytest.raises(TypeError, match=r"takes no labels.*to_mlp\(\)\.fit\(X, y\)"):
        DBN([4], n_iter=1).pretrain(X, np.zeros(20))
    # fit is scikit-learn's name for the same step and ignores y, as the transformer contract asks.
    DBN([4], n_iter=1, random_state=0).fit(X, np.zeros(20))


def test_to_mlp_centres_binary_inputs_only(data):
    # The twenty-third panel round: a DBN on binary inputs fine-tunes on centred inputs; one on
    # real-valued (standardised) inputs, a regression net and a DBM's net do not; the user's
    # value wins. The fitted net is stored for the raw inputs all the same.
    X, y = data
    stack = DBN([12], n_iter=2, batch_size=50, random_state=0).pretrain(X)
    assert BINARY_INPUT_FINETUNING == {"center_inputs": True}
    assert stack.to_mlp().center_inputs is True
    assert stack.to_mlp(center_inputs=False).center_inputs is False
    assert stack.to_mlp("regression").center_inputs is False
    rng = np.random.default_rng(0)
    gaussian = DBN([6], visible_unit="gaussian", n_iter=2, random_state=0)
    assert gaussian.pretrain(rng.normal(size=(60, 5))).to_mlp().center_inputs is False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = stack.to_mlp(max_iter=3).fit(X[:200], y[:200])
    np.testing.assert_allclose(mlp.input_offset_, X[:200].mean(axis=0), rtol=1e-5)
    raw = X[:5] @ mlp.coefs_[0] + mlp.intercepts_[0]
    np.testing.assert_allclose(
        mlp.hidden_activations(X[:5], layer=0), 1 / (1 + np.exp(-raw)), rtol=1e-5
    )
