"""Deep autoencoder: kernels and gradient against naive references, unrolling a DBN, training, I/O."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import dbn
from dbn import DBN
from dbn._backprop import pack as _pack
from dbn._kernels import autoencoder as KA
from dbn._validation import DivergenceError, NotFittedError
from dbn.autoencoder import DeepAutoencoder, backward, forward, layer_kinds
from dbn.io import ModelFileError
from dbn.mlp import Propagation

from .conftest import mnist_home, needs_mnist

RTOL64 = 1e-10
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # On the shared 2-core machine a second BLAS thread mostly waits for a busy core.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1):
        yield


# DBN_DATA_HOME, the user cache, ../shared/data: the first that holds MNIST (conftest.py).
MNIST_HOME = mnist_home()


@pytest.fixture(scope="module")
def binary():
    """Noisy copies of 5 binary prototypes: structure an autoencoder can compress."""
    rng = np.random.default_rng(0)
    prototypes = (rng.random((5, 20)) < 0.4).astype(float)
    X = np.abs(prototypes[rng.integers(0, 5, 300)] - (rng.random((300, 20)) < 0.05))
    return X


# ------------------------------------------------------------------------------ naive reference


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def naive_loss(X, coefs, intercepts, code, output, loss, alpha=0.0):
    """Mean reconstruction loss of the unrolled net, written plainly from the definitions."""
    k = len(coefs) // 2
    A = X
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        Z = A @ W + b
        linear = (i == k - 1 and code == "identity") or (i == 2 * k - 1 and output == "identity")
        A = Z if linear else _sigmoid(Z)
    if loss == "cross_entropy":
        per_example = -np.sum(X * np.log(A) + (1 - X) * np.log(1 - A), axis=1)
    else:
        per_example = np.sum((A - X) ** 2, axis=1)
    penalty = 0.5 * alpha * sum(np.sum(W**2) for W in coefs) / len(X)
    return per_example.mean() + penalty


# ------------------------------------------------------------------------------------- kernels


def test_output_kernels_match_naive():
    rng = np.random.default_rng(0)
    Z = 4 * rng.standard_normal((6, 5))
    b = rng.standard_normal(5)
    X = rng.random((6, 5))
    logits, P = Z.copy(), np.empty_like(Z)
    KA.bias_sigmoid_(logits, b, P)
    np.testing.assert_allclose(logits, Z + b, rtol=RTOL64)
    np.testing.assert_allclose(P, _sigmoid(Z + b), rtol=RTOL64)

    delta = np.empty_like(Z)
    ce = KA.sigmoid_cross_entropy_(logits, P, X, delta, 0.25)
    expected = -np.sum(X * np.log(P) + (1 - X) * np.log(1 - P))
    np.testing.assert_allclose(ce, expected, rtol=RTOL64)
    np.testing.assert_allclose(delta, 0.25 * (P - X), rtol=RTOL64)
    assert KA.sigmoid_cross_entropy_(logits, P, X, None, 0.25) == ce

    se = KA.sigmoid_squared_error_(P, X, delta, 0.25)
    np.testing.assert_allclose(se, np.sum((P - X) ** 2), rtol=RTOL64)
    np.testing.assert_allclose(delta, 0.5 * (P - X) * P * (1 - P), rtol=RTOL64)


def test_cross_entropy_is_finite_where_the_sigmoid_saturates():
    # In float32 sigmoid(+-100) rounds to 1 / 0, so log(p) or log(1 - p) would be -inf.
    logits = np.array([[100.0, -100.0, 100.0, -100.0, 0.0]], dtype=np.float32)
    X = np.array([[0.0, 1.0, 0.5, 0.5, 1.0]], dtype=np.float32)
    P = np.empty_like(logits)
    KA.bias_sigmoid_(logits, np.zeros(5, np.float32), P)
    delta = np.empty_like(P)
    loss = KA.sigmoid_cross_entropy_(logits, P, X, delta, 1.0)
    z = logits.astype(np.float64)
    expected = np.sum(np.logaddexp(0.0, z) - X * z)  # softplus(z) - x z
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    assert np.isfinite(delta).all()


# ------------------------------------------------------------------------------------- gradient


@pytest.mark.parametrize(
    ("loss", "code", "output", "alpha"),
    [
        ("cross_entropy", "identity", "sigmoid", 0.0),
        ("cross_entropy", "identity", "sigmoid", 0.3),
        ("squared_error", "identity", "sigmoid", 0.0),
        ("squared_error", "identity", "identity", 0.0),
        ("cross_entropy", "sigmoid", "sigmoid", 0.0),
    ],
)
def test_gradient_of_the_unrolled_net_matches_finite_differences(loss, code, output, alpha):
    rng = np.random.default_rng(1)
    X = rng.random((9, 7))
    ae = DeepAutoencoder(
        (6, 4, 3),
        code_activation=code,
        output_activation=output,
        loss=loss,
        alpha=alpha,
        init="normal",  # N(0, 0.01) weights would make a weak test: scale them up below
        dtype=np.float64,
        random_state=0,
    ).initialize(X)
    flat, coefs, intercepts = _pack(ae.coefs_, ae.intercepts_, np.float64)
    flat[...] = rng.standard_normal(flat.shape)  # activations away from the linear regime
    kinds = layer_kinds(3, code, output)
    prop = Propagation((7, 6, 4, 3, 4, 6, 7), len(X), np.float64)

    def analytic(x):
        flat[...] = x
        forward(X, coefs, intercepts, kinds, prop)
        backward(prop, X, coefs, kinds, loss, alpha=alpha)
        return prop.loss, prop.grad.copy()

    def reference(x):
        flat[...] = x
        return naive_loss(X, coefs, intercepts, code, output, loss, alpha)

    x0 = flat.copy()
    value, grad = analytic(x0)
    np.testing.assert_allclose(value, reference(x0), rtol=RTOL64)
    h = 1e-6
    numeric = np.empty_like(x0)
    for i in range(x0.size):
        step = np.zeros_like(x0)
        step[i] = h
        numeric[i] = (reference(x0 + step) - reference(x0 - step)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8 * np.abs(numeric).max())


# ------------------------------------------------------------------------------ unrolling a DBN


@pytest.mark.parametrize("top", ["bernoulli", "gaussian"])
def test_from_dbn_encoder_is_the_upward_pass(binary, top):
    X = binary  # float64, so the DBN and the net are float64
    dbn = DBN(
        [12, 8, 3],
        n_iter=3,
        batch_size=50,
        top_hidden_unit=top,
        layer_params={2: {"learning_rate": 0.01}},
        random_state=0,
    ).pretrain(X)
    ae = DeepAutoencoder.from_dbn(dbn, solver="adam")
    assert ae.code_activation == ("identity" if top == "gaussian" else "sigmoid")
    assert ae.layer_sizes == (12, 8, 3) and ae.dtype == np.float64 and ae.solver == "adam"
    # Before fine-tuning the encoder is the DBN's upward pass: the top RBM's hidden means, which are
    # the linear input itself for Gaussian hidden units.
    codes = ae.encode(X)
    np.testing.assert_allclose(codes, dbn.transform(X), rtol=RTOL64, atol=1e-14)
    below = dbn.layers_[1].transform(dbn.layers_[0].transform(X))
    top_rbm = dbn.layers_[-1]
    linear = below @ top_rbm.components_.T + top_rbm.intercept_hidden_
    expected = linear if top == "gaussian" else _sigmoid(linear)
    np.testing.assert_allclose(codes, expected, rtol=RTOL64, atol=1e-14)
    # ... and the decoder is its top-down pass: the RBMs' visible means with transposed weights.
    top_down = codes
    for rbm in reversed(dbn.layers_):
        top_down = rbm._visible_mean(top_down)
    np.testing.assert_allclose(ae.reconstruct(X), top_down, rtol=RTOL64, atol=1e-14)
    ae.initialize(X)
    k = len(dbn.layers_)
    for i, rbm in enumerate(dbn.layers_):
        np.testing.assert_array_equal(ae.coefs_[i], rbm.components_.T)
        np.testing.assert_array_equal(ae.coefs_[2 * k - 1 - i], rbm.components_)
        np.testing.assert_array_equal(ae.intercepts_[i], rbm.intercept_hidden_)
        np.testing.assert_array_equal(ae.intercepts_[2 * k - 1 - i], rbm.intercept_visible_)


def test_from_dbn_float32_and_overrides(binary):
    X = binary.astype(np.float32)
    dbn = DBN([10, 4], n_iter=2, batch_size=50, random_state=0).pretrain(X)
    ae = DeepAutoencoder.from_dbn(dbn, code_activation="identity", max_iter=1)
    assert ae.dtype == np.float32 and ae.random_state == 0
    codes = ae.encode(X)
    assert codes.dtype == np.float32
    # The override makes the code linear: the pre-sigmoid of the DBN's top features.
    p = dbn.transform(X).astype(np.float64)
    np.testing.assert_allclose(codes, np.log(p / (1 - p)), rtol=1e-4, atol=1e-4)
    with pytest.raises(TypeError, match="sets pretrained_layers"):
        DeepAutoencoder.from_dbn(dbn, pretrained_layers=[])
    with pytest.raises(NotFittedError):
        DeepAutoencoder.from_dbn(DBN([4]))


def test_from_dbn_with_gaussian_visible_units():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6))
    dbn = DBN([5, 2], visible_unit="gaussian", n_iter=2, batch_size=50, random_state=0)
    dbn.pretrain(X)
    ae = DeepAutoencoder.from_dbn(dbn, solver="adam", max_iter=2)
    assert (ae.output_activation, ae.loss) == ("identity", "squared_error")
    top_down = ae.encode(X)
    for rbm in reversed(dbn.layers_):
        top_down = rbm._visible_mean(top_down)
    np.testing.assert_allclose(ae.reconstruct(X), top_down, rtol=RTOL64, atol=1e-14)
    assert np.isfinite(ae.fit(X).history_["train_loss"]).all()


# ---------------------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def mnist():
    from dbn.datasets import load_mnist

    X, _ = load_mnist("train", data_home=MNIST_HOME, as_float=True, download=False)
    rng = np.random.default_rng(0)
    rows = rng.choice(len(X), 2500, replace=False)
    return X[rows[:2000]], X[rows[2000:]]


@pytest.fixture(scope="module")
def mnist_dbn(mnist):
    X, _ = mnist
    return DBN(
        [200, 50, 10],
        top_hidden_unit="gaussian",
        n_iter=4,
        layer_params={2: {"learning_rate": 0.001}},
        random_state=0,
    ).pretrain(X)


@pytest.mark.slow
@needs_mnist
@pytest.mark.parametrize(
    ("solver", "params"),
    [("cg", {"cg_batch_size": 500}), ("adam", {"learning_rate_init": 3e-3})],
)
def test_fine_tuning_lowers_the_error_and_pretraining_helps(mnist, mnist_dbn, solver, params):
    X, X_val = mnist
    budget = dict(solver=solver, max_iter=3, n_iter_no_change=100, **params)
    pretrained = DeepAutoencoder.from_dbn(mnist_dbn, **budget)
    before = pretrained.reconstruction_error(X_val)
    pretrained.fit(X, X_val=X_val)
    after = pretrained.history_["val_mse"]
    assert len(after) == 3 and after[-1] == pytest.approx(pretrained.reconstruction_error(X_val))
    # Measured: 53.5 -> about 32 (cg) / 40 (adam); the mean image alone gives about 52.
    assert after[-1] < before - 8
    assert pretrained.history_["train_loss"][-1] < pretrained.history_["train_loss"][0]
    scratch = DeepAutoencoder((200, 50, 10), random_state=0, **budget).fit(X, X_val=X_val)
    # Measured: random initialisation stays near the mean image (about 51 / 47) at this budget.
    assert after[-1] < scratch.history_["val_mse"][-1] - 3


def test_training_history_dtype_and_seed(binary):
    X = binary.astype(np.float32)
    params = dict(solver="adam", learning_rate_init=1e-2, max_iter=4, random_state=3)
    ae = DeepAutoencoder((8, 3), **params).fit(X[:250], X_val=X[250:])
    assert ae.n_iter_ == 4 and ae.n_layers_ == 5 and ae.n_features_in_ == 20
    keys = {"epoch", "train_loss", "val_loss", "val_mse", "learning_rate", "time"}
    assert set(ae.history_) == keys
    assert ae.history_["epoch"] == [1, 2, 3, 4] and all(t > 0 for t in ae.history_["time"])
    assert all(len(v) == 4 for v in ae.history_.values())
    assert np.isfinite(ae.history_["val_mse"]).all()
    assert ae.history_["train_loss"][-1] < ae.history_["train_loss"][0]
    assert ae.encode(X).dtype == np.float32 and ae.reconstruct(X).shape == X.shape
    assert ae.score(X) == -ae.reconstruction_error(X)
    np.testing.assert_array_equal(ae.transform(X), ae.encode(X))
    again = DeepAutoencoder((8, 3), **params).fit(X[:250], X_val=X[250:])
    for W, W2 in zip(ae.coefs_, again.coefs_, strict=True):
        np.testing.assert_array_equal(W, W2)
    ae64 = DeepAutoencoder((8, 3), **{**params, "dtype": np.float64}).fit(X)
    assert ae64.encode(X).dtype == np.float64 and ae64.coefs_[0].dtype == np.float64


@pytest.mark.parametrize("solver", ["sgd", "cg"])
def test_other_solvers_train(binary, solver):
    X = binary
    ae = DeepAutoencoder(
        (8, 3), solver=solver, learning_rate_init=0.1, cg_batch_size=100, max_iter=3, random_state=0
    )
    ae.fit(X)
    losses = ae.history_["train_loss"]
    assert losses[-1] < losses[0]
    assert np.isnan(ae.history_["val_mse"]).all()
    assert np.isnan(ae.history_["learning_rate"]).all() == (solver == "cg")


def test_early_stopping_restores_the_best_weights(binary):
    X = binary
    ae = DeepAutoencoder(
        (8, 3),
        solver="adam",
        learning_rate_init=0.05,
        early_stopping=True,
        n_iter_no_change=2,
        max_iter=60,
        random_state=0,
    ).fit(X[:200], X_val=X[200:])
    assert len(ae.validation_scores_) == ae.n_iter_
    assert ae.best_validation_score_ == max(ae.validation_scores_)
    assert ae.score(X[200:]) == pytest.approx(ae.best_validation_score_, rel=1e-12)
    # Without X_val a random validation_fraction is held out.
    held = DeepAutoencoder((4,), solver="adam", early_stopping=True, max_iter=2, random_state=0)
    assert len(held.fit(X).validation_scores_) == 2


def test_partial_fit_continues_training(binary):
    X = binary
    ae = DeepAutoencoder((8, 3), solver="sgd", learning_rate_init=0.1, random_state=0)
    for _ in range(3):
        ae.partial_fit(X)
    assert ae.n_iter_ == 3 and len(ae.history_["train_loss"]) == 3
    assert ae.t_ == 3 * len(X)


def test_keyboard_interrupt_keeps_the_last_epoch(binary):
    X = binary
    seen = {}

    def interrupt(est, epoch, logs):
        seen[epoch] = [W.copy() for W in est.coefs_]
        if epoch == 2:
            raise KeyboardInterrupt

    ae = DeepAutoencoder((8, 3), solver="adam", max_iter=10, random_state=0)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        assert ae.fit(X, callbacks=[interrupt]) is ae
    assert ae.n_iter_ == 2
    for W, W2 in zip(ae.coefs_, seen[2], strict=True):
        np.testing.assert_array_equal(W, W2)
    assert ae.reconstruct(X).shape == X.shape


def test_truthy_callback_stops_and_interrupt_warning_points_at_the_caller(binary):
    X = binary
    ae = DeepAutoencoder((8, 3), solver="adam", max_iter=10, random_state=0)
    ae.fit(X, callbacks=lambda est, epoch, logs: np.True_ if epoch == 2 else None)
    assert ae.n_iter_ == 2

    def interrupt(est, epoch, logs):
        raise KeyboardInterrupt

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ae.fit(X, callbacks=[interrupt])
    [warning] = [w for w in record if issubclass(w.category, RuntimeWarning)]
    assert warning.filename == __file__ and ae.n_iter_ == 1


def test_divergence_raises_and_keeps_finite_weights():
    rng = np.random.default_rng(0)
    X = 100 * rng.standard_normal((64, 5))
    params = dict(
        output_activation="identity",
        loss="squared_error",
        solver="sgd",
        learning_rate_init=1e3,
        max_iter=20,
        random_state=0,
    )
    ae = DeepAutoencoder((4, 2), **params)
    with pytest.raises(DivergenceError, match=r"epoch \d+.*learning_rate_init") as info:
        ae.fit(X)
    epoch = int(str(info.value).split("epoch ")[1].split(":")[0])
    assert ae.n_iter_ == epoch - 1
    assert all(np.isfinite(W).all() for W in ae.coefs_ + ae.intercepts_)
    if epoch == 1:  # nothing completed: the initial weights are kept
        start = DeepAutoencoder((4, 2), **params).initialize(X)
        for W, W0 in zip(ae.coefs_, start.coefs_, strict=True):
            np.testing.assert_array_equal(W, W0)


# ------------------------------------------------------------------------------ persistence, API


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_save_load_round_trip_is_exact(tmp_path, binary, solver):
    X = binary.astype(np.float32)
    dbn = DBN([8, 3], n_iter=2, batch_size=50, top_hidden_unit="gaussian", random_state=0)
    ae = DeepAutoencoder.from_dbn(dbn.pretrain(X), solver=solver, max_iter=2, random_state=5)
    ae.fit(X[:250], X_val=X[250:])
    path = tmp_path / "ae.npz"
    ae.save(path)
    loaded = DeepAutoencoder.load(path)
    assert repr(loaded) == repr(ae)
    for name, value in ae.get_params().items():
        if name != "pretrained_layers":
            assert getattr(loaded, name) == value, name
    for mine, theirs in zip(ae.pretrained_layers, loaded.pretrained_layers, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(ae.coefs_ + ae.intercepts_, loaded.coefs_ + loaded.intercepts_, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_equal(loaded.history_, ae.history_)
    assert (loaded.n_iter_, loaded.t_, loaded.n_features_in_) == (ae.n_iter_, ae.t_, 20)
    np.testing.assert_array_equal(loaded.encode(X), ae.encode(X))
    # The optimiser state and the random stream travel too: training on gives the same weights.
    ae.partial_fit(X)
    loaded.partial_fit(X)
    for a, b in zip(ae.coefs_, loaded.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_refuses_other_files(tmp_path, binary):
    dbn = DBN([4], n_iter=1, batch_size=50, random_state=0).pretrain(binary)
    dbn.save(tmp_path / "dbn.npz")
    with pytest.raises(ModelFileError, match="expected DeepAutoencoder"):
        DeepAutoencoder.load(tmp_path / "dbn.npz")
    with pytest.raises(NotFittedError):
        DeepAutoencoder((4,)).save(tmp_path / "x.npz")


def test_inputs_are_not_mutated(binary):
    X = binary.astype(np.float32)
    X_copy = X.copy()
    dbn = DBN([8, 3], n_iter=1, batch_size=50, random_state=0).pretrain(X)
    ae = DeepAutoencoder.from_dbn(dbn, solver="adam", max_iter=2, learning_rate_init=0.05)
    layers = [tuple(a.copy() for a in layer) for layer in ae.pretrained_layers]
    ae.fit(X, X_val=X[:50])
    ae.reconstruct(X)
    np.testing.assert_array_equal(X, X_copy)
    for layer, copy in zip(ae.pretrained_layers, layers, strict=True):
        for a, b in zip(layer, copy, strict=True):
            np.testing.assert_array_equal(a, b)
    # Fine-tuning moved the net's weights, not the DBN's.
    assert not np.array_equal(ae.coefs_[0], dbn.layers_[0].components_.T)
    np.testing.assert_array_equal(ae.pretrained_layers[0][0], dbn.layers_[0].components_.T)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"layer_sizes": (5, 0)}, ValueError, "layer_sizes must contain positive integers"),
        ({"layer_sizes": ()}, ValueError, "at least the code layer"),
        ({"loss": "mae"}, ValueError, r"loss must be one of .*'mae'"),
        ({"code_activation": "relu"}, ValueError, "code_activation must be one of"),
        ({"output_activation": "identity"}, ValueError, "needs output_activation='sigmoid'"),
        ({"solver": "lbfgs"}, ValueError, "solver must be one of"),
        ({"learning_rate_init": 0.0}, ValueError, r"learning_rate_init must be in \(0, inf\]"),
        ({"max_iter": 2.5}, TypeError, "max_iter must be an integer"),
        ({"init": "lsuv"}, ValueError, "lsuv"),
        ({"dtype": np.int32}, ValueError, "dtype must be numpy.float32 or numpy.float64"),
        ({"pretrained_layers": [(np.zeros((20, 5)), np.zeros(5))]}, ValueError, "3 or 4 entries"),
        (
            {"pretrained_layers": [(np.zeros((20, 4)), np.zeros(4), np.zeros(20))]},
            ValueError,
            r"expected 5 columns to match layer_sizes\[0\]=5",
        ),
        (
            {"pretrained_layers": [(np.zeros((20, 5)), np.zeros(5), np.zeros(19))]},
            ValueError,
            r"b_visible of shape \(19,\): expected \(20,\)",
        ),
        (
            {"pretrained_layers": [(np.zeros((19, 5)), np.zeros(5), np.zeros(19))]},
            ValueError,
            "expected 20 rows to match the 20 features of X",
        ),
    ],
)
def test_bad_parameters(binary, params, error, match):
    ae = DeepAutoencoder(**{"layer_sizes": (5, 2), **params})
    with pytest.raises(error, match=match):
        ae.fit(binary)


def test_bad_inputs(binary):
    X = binary
    # Accepted with a warning that says what to do (issue 13: scikit-learn's checks feed such data).
    with pytest.warns(
        dbn.DataRangeWarning, match=r"X should lie in \[0, 1\] for output_activation='sigmoid'"
    ):
        DeepAutoencoder((4,), max_iter=1).fit(X * 2)
    with pytest.raises(ValueError, match="finite"):
        DeepAutoencoder((4,)).fit(np.where(X > 0.5, np.nan, X))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        DeepAutoencoder((4,)).fit(X[0])
    with pytest.raises(NotFittedError, match="not fitted"):
        DeepAutoencoder((4,)).encode(X)
    ae = DeepAutoencoder((6, 2), solver="adam", max_iter=1, random_state=0).fit(X)
    with pytest.raises(
        ValueError, match="X has 19 features, but DeepAutoencoder is expecting 20 features"
    ):
        ae.encode(X[:, :19])
    with pytest.raises(
        ValueError, match="codes has 3 features, but DeepAutoencoder is expecting 2 features"
    ):
        ae.decode(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="X_val has 19 features"):
        DeepAutoencoder((4,), max_iter=1).fit(X, X_val=X[:, :19])
    with pytest.raises(
        TypeError,
        match=r"callbacks must be a callable, a dbn.Callback, or a list of them; got \[1\]",
    ):
        DeepAutoencoder((4,), max_iter=1).fit(X, callbacks=[1])


def test_sklearn_contract(binary):
    from sklearn.base import clone

    dbn = DBN([6, 2], n_iter=1, batch_size=50, random_state=0).pretrain(binary)
    ae = DeepAutoencoder.from_dbn(dbn, max_iter=1)
    twin = clone(ae)
    assert twin.get_params()["layer_sizes"] == (6, 2)
    assert "(20, 6)" in repr(ae) and "array" not in repr(ae)
    assert ae.set_params(solver="adam") is ae and ae.solver == "adam"
    with pytest.raises(ValueError, match="Invalid parameter 'hidden_layer_sizes'"):
        ae.set_params(hidden_layer_sizes=(3,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=1 does not converge
        codes = ae.fit_transform(binary)
    assert codes.shape == (len(binary), 2)
    np.testing.assert_allclose(ae.inverse_transform(codes), ae.reconstruct(binary))
