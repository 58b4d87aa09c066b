"""Tests of dbn.export.to_torch: the exported modules compute what the estimators compute.

Every comparison is against the estimator's own output on the same input; float32 nets agree to
float32 rounding (the float32 sigmoid and the BLAS round differently in the two libraries), float64
nets to float64 rounding.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the 'test' extra installs it; see test_import_error below

from dbn import DBN, DeepAutoencoder, MLPClassifier, MLPRegressor, NotFittedError  # noqa: E402
from dbn.export import to_torch  # noqa: E402
from dbn.preprocessing import Whitening  # noqa: E402

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def _data(n=120, d=12, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d)).astype(dtype)
    y = (X[:, :3].sum(axis=1) * 3).astype(int) % 3
    return X, y


def _run(module, X):
    with torch.no_grad():
        return module(torch.from_numpy(np.ascontiguousarray(X))).numpy()


def _quiet_fit(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits: convergence warnings are expected
        return estimator.fit(*args, **kwargs)


# --------------------------------------------------------------------------------- classifier


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "identity"])
def test_classifier_logits_and_probabilities(dtype, activation):
    X, y = _data(dtype=dtype)
    clf = _quiet_fit(
        MLPClassifier((9, 7), activation=activation, max_iter=5, dtype=dtype, random_state=0), X, y
    )
    logits = to_torch(clf)
    probabilities = to_torch(clf, probabilities=True)
    assert isinstance(logits, torch.nn.Sequential) and not logits.training
    assert {p.dtype for p in logits.parameters()} == {
        torch.float32 if dtype == np.float32 else torch.float64
    }
    np.testing.assert_allclose(_run(logits, X), clf.decision_function(X), **TOL[dtype])
    np.testing.assert_allclose(_run(probabilities, X), clf.predict_proba(X), **TOL[dtype])
    assert isinstance(probabilities[-1], torch.nn.Softmax)
    np.testing.assert_array_equal(clf.classes_[_run(logits, X).argmax(axis=1)], clf.predict(X))
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in logits)
    assert n_linear == len(clf.coefs_) == 3


def test_classifier_dropout_layers_are_placed_and_inactive_in_eval_mode():
    X, y = _data()
    clf = _quiet_fit(
        MLPClassifier((9, 7), dropout_input=0.2, dropout_hidden=0.5, max_iter=3, random_state=0),
        X,
        y,
    )
    module = to_torch(clf)
    kinds = [type(m).__name__ for m in module]
    assert kinds == [
        "Dropout", "Linear", "Sigmoid", "Dropout", "Linear", "Sigmoid", "Dropout", "Linear",
    ]  # fmt: skip
    assert [m.p for m in module if isinstance(m, torch.nn.Dropout)] == [0.2, 0.5, 0.5]
    np.testing.assert_allclose(_run(module, X), clf.decision_function(X), **TOL[np.float32])
    module.train()  # dropout on: the outputs change, so the layers really are there
    torch.manual_seed(0)
    assert not np.allclose(_run(module, X), clf.decision_function(X), atol=1e-3)

    plain = _quiet_fit(MLPClassifier((9,), max_iter=3, random_state=0), X, y)
    assert not any(isinstance(m, torch.nn.Dropout) for m in to_torch(plain))


# ---------------------------------------------------------------------------------- regressor


@pytest.mark.parametrize("two_d", [False, True])
def test_regressor_predictions(two_d):
    X, _ = _data()
    y = np.stack([X[:, 0] - X[:, 1], X[:, 2] * 2], axis=1)[:, : 2 if two_d else 1]
    y = y if two_d else y.ravel()
    reg = _quiet_fit(MLPRegressor((8,), activation="tanh", max_iter=5, random_state=0), X, y)
    out = _run(to_torch(reg), X)
    assert out.shape == (len(X), 2 if two_d else 1)
    np.testing.assert_allclose(out.reshape(reg.predict(X).shape), reg.predict(X), **TOL[np.float32])


# -------------------------------------------------------------------------------- autoencoder


@pytest.mark.parametrize(
    ("code_activation", "output_activation", "loss"),
    [("identity", "sigmoid", "cross_entropy"), ("sigmoid", "identity", "squared_error")],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_autoencoder_codes_and_reconstructions(code_activation, output_activation, loss, dtype):
    X, _ = _data(dtype=dtype)
    ae = _quiet_fit(
        DeepAutoencoder(
            (8, 5, 3),
            code_activation=code_activation,
            output_activation=output_activation,
            loss=loss,
            solver="adam",
            max_iter=4,
            dtype=dtype,
            random_state=0,
        ),
        X,
    )
    module = to_torch(ae)
    assert list(dict(module.named_children())) == ["encoder", "decoder"]
    np.testing.assert_allclose(_run(module.encoder, X), ae.encode(X), **TOL[dtype])
    np.testing.assert_allclose(_run(module, X), ae.reconstruct(X), **TOL[dtype])
    codes = ae.encode(X)
    np.testing.assert_allclose(_run(module.decoder, codes), ae.decode(codes), **TOL[dtype])
    assert isinstance(module.encoder[-1], torch.nn.Linear) == (code_activation == "identity")


# ------------------------------------------------------------------------------------------ DBN


def test_dbn_features():
    X, _ = _data()
    stack = DBN((10, 6), n_iter=3, batch_size=20, random_state=0).pretrain(X)
    module = to_torch(stack)
    assert [type(m).__name__ for m in module] == ["Linear", "Sigmoid", "Linear", "Sigmoid"]
    np.testing.assert_allclose(_run(module, X), stack.transform(X), **TOL[np.float32])


def test_dbn_gaussian_visible_with_learned_variance_and_linear_top():
    rng = np.random.default_rng(1)
    X = (rng.standard_normal((150, 8)) * [0.5, 1, 2, 1, 1, 3, 1, 0.7]).astype(np.float64)
    stack = DBN(
        (7, 4),
        visible_unit="gaussian",
        top_hidden_unit="gaussian",
        layer_params={
            0: {"learn_variance": True, "learning_rate": 0.005},
            1: {"learning_rate": 0.01},
        },
        n_iter=4,
        batch_size=25,
        random_state=0,
    ).pretrain(X)
    sigma = stack.layers_[0].sigma_
    assert not np.allclose(sigma, 1.0)  # otherwise folding sigma would go untested
    module = to_torch(stack)
    assert [type(m).__name__ for m in module] == ["Linear", "Sigmoid", "Linear"]
    np.testing.assert_allclose(_run(module, X), stack.transform(X), **TOL[np.float64])


def test_pretrained_fine_tuned_net_gives_the_same_predictions():
    """The issue's user story: pretrain, fine-tune, carry into torch, same predictions."""
    X, y = _data(n=200)
    stack = DBN((10, 6), n_iter=3, batch_size=20, random_state=0).pretrain(X)
    clf = _quiet_fit(stack.to_mlp(solver="sgd", learning_rate_init=0.5, max_iter=5), X, y)
    module = to_torch(clf, probabilities=True)
    probabilities = _run(module, X)
    np.testing.assert_allclose(probabilities, clf.predict_proba(X), **TOL[np.float32])
    np.testing.assert_array_equal(clf.classes_[probabilities.argmax(axis=1)], clf.predict(X))


# ----------------------------------------------------------------------- fine-tuning in torch


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_one_fine_tuning_step_in_torch_matches_dbn(task):
    """From the same pretrained weights, one full-batch SGD step (Nesterov momentum, L2) in torch
    and in dbn: same loss before, the same lower loss after, the same weights."""
    X, labels = _data(n=64, dtype=np.float64)
    stack = DBN((10, 6), n_iter=2, batch_size=16, random_state=0).pretrain(X.astype(np.float32))
    y = labels if task == "classification" else np.stack([X[:, 0], X[:, 1] - X[:, 2]], axis=1)
    lr = 0.5 if task == "classification" else 0.05
    momentum, alpha, n = 0.9, 1e-2, len(X)
    clf = stack.to_mlp(
        task,
        solver="sgd",
        learning_rate_init=lr,
        momentum=momentum,
        nesterovs_momentum=True,
        alpha=alpha,
        batch_size=n,
        dtype=np.float64,
        random_state=0,
    ).initialize(X, y)
    module = to_torch(clf).train()
    # to_mlp() trains a classifier of binary inputs on centred inputs (center_inputs): in torch,
    # the step is taken on X - m with the first bias at b + m W, and moved back afterwards.
    offset = X.mean(axis=0) if clf.center_inputs else np.zeros(X.shape[1])
    assert clf.center_inputs == (task == "classification")
    first = module[0]
    with torch.no_grad():
        first.bias += first.weight @ torch.from_numpy(offset)

    def torch_loss():
        out = module(torch.from_numpy(X - offset))
        if task == "classification":
            data_term = torch.nn.functional.cross_entropy(out, torch.from_numpy(labels))
        else:
            data_term = 0.5 * ((out - torch.from_numpy(y)) ** 2).sum(dim=1).mean()
        weights = [m.weight for m in module if isinstance(m, torch.nn.Linear)]
        # dbn's L2 term: 0.5 * alpha * sum(W**2) / batch_size, on weights only.
        return data_term + 0.5 * alpha / n * sum((W**2).sum() for W in weights)

    optimizer = torch.optim.SGD(module.parameters(), lr=lr, momentum=momentum, nesterov=True)
    objective = torch_loss()
    optimizer.zero_grad()
    objective.backward()
    optimizer.step()
    loss_before = float(objective.detach())
    with torch.no_grad():
        loss_after = float(torch_loss())
        first.bias -= first.weight @ torch.from_numpy(offset)

    clf.partial_fit(X, y)  # one epoch of one minibatch: one step
    assert clf.n_iter_ == 1
    assert clf.history_["train_loss"][0] == pytest.approx(loss_before, rel=1e-10)
    dbn_after = to_torch(clf)
    for mine, theirs in zip(dbn_after.parameters(), module.parameters(), strict=True):
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), atol=1e-12)
    assert loss_after < loss_before  # the step moved the loss down, in both libraries
    with torch.no_grad():
        module.eval()
        np.testing.assert_allclose(
            _run(module, X),
            clf.decision_function(X) if task == "classification" else clf.predict(X),
            rtol=1e-12,
            atol=1e-12,
        )


# ------------------------------------------------------------------------- no side effects


def test_export_copies_weights_and_leaves_torch_rng_alone():
    X, y = _data()
    clf = _quiet_fit(MLPClassifier((9,), max_iter=3, random_state=0), X, y)
    before = [W.copy() for W in clf.coefs_] + [b.copy() for b in clf.intercepts_]
    state = torch.get_rng_state()
    module = to_torch(clf)
    assert torch.equal(state, torch.get_rng_state())  # no random initialisation ran
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1.0)
    after = list(clf.coefs_) + list(clf.intercepts_)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


# -------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "estimator",
    [None, "MLPClassifier", np.zeros((3, 3))],
    ids=["none", "string", "array"],
)
def test_unsupported_estimator_is_a_type_error(estimator):
    with pytest.raises(TypeError, match=r"estimator must be a dbn MLPClassifier, .* got "):
        to_torch(estimator)


def test_other_estimator_classes_are_refused_by_name():
    from dbn import BernoulliRBM

    with pytest.raises(TypeError, match=r"got dbn\.rbm\.BernoulliRBM"):
        to_torch(BernoulliRBM(3))


@pytest.mark.parametrize(
    ("estimator", "attribute"),
    [
        (MLPClassifier((3,)), "coefs_"),
        (MLPRegressor((3,)), "coefs_"),
        (DeepAutoencoder((3,)), "coefs_"),
        (DBN((3,)), "layers_"),
        (Whitening(), "whitening_"),
    ],
)
def test_unfitted_estimator_raises_not_fitted(estimator, attribute):
    with pytest.raises(NotFittedError, match=rf"not fitted yet.*\({attribute}\)"):
        to_torch(estimator)


def test_probabilities_is_checked():
    X, y = _data()
    clf = _quiet_fit(MLPClassifier((4,), max_iter=2, random_state=0), X, y)
    with pytest.raises(TypeError, match=r"probabilities must be True or False, got 'yes'"):
        to_torch(clf, probabilities="yes")
    reg = _quiet_fit(MLPRegressor((4,), max_iter=2, random_state=0), X, X[:, 0])
    with pytest.raises(ValueError, match=r"MLPClassifier only, got a MLPRegressor"):
        to_torch(reg, probabilities=True)


def test_import_error_names_the_extra(monkeypatch):
    X, y = _data()
    clf = _quiet_fit(MLPClassifier((4,), max_iter=2, random_state=0), X, y)
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "deep-belief-nets\[torch\]"'):
        to_torch(clf)


def test_estimators_export_through_their_to_torch_methods():
    """``est.to_torch()`` is :func:`dbn.export.to_torch` on every estimator."""
    torch = pytest.importorskip("torch")
    from dbn import DBN, DBNClassifier

    rng = np.random.default_rng(0)
    X = (rng.random((60, 12)) < 0.4).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    stack = DBN((8, 4), n_iter=1, batch_size=20, random_state=0).pretrain(X)
    clf = stack.to_mlp(max_iter=2, random_state=0).fit(X, y)
    reg = stack.to_mlp("regression", max_iter=2, random_state=0).fit(X, X[:, :2])
    ae = stack.to_autoencoder(max_iter=1, random_state=0).fit(X)
    with torch.no_grad():
        x = torch.from_numpy(X)
        np.testing.assert_allclose(stack.to_torch()(x).numpy(), stack.transform(X), atol=1e-5)
        np.testing.assert_allclose(
            clf.to_torch(probabilities=True)(x).numpy(), clf.predict_proba(X), atol=1e-5
        )
        np.testing.assert_allclose(reg.to_torch()(x).numpy(), reg.predict(X), atol=1e-5)
        np.testing.assert_allclose(ae.to_torch()(x).numpy(), ae.reconstruct(X), atol=1e-5)
        wrapped = _quiet_fit(DBNClassifier(DBN((8, 4), n_iter=1, batch_size=20)), X, y)
        np.testing.assert_allclose(
            wrapped.to_torch(probabilities=True)(x).numpy(), wrapped.predict_proba(X), atol=1e-5
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_whitening_exports_as_a_linear_layer_in_front_of_the_net(dtype):
    """A pipeline Whitening -> DBNClassifier exports as nn.Sequential of the two modules."""
    torch = pytest.importorskip("torch")
    from sklearn.pipeline import make_pipeline

    from dbn import DBN, DBNClassifier

    rng = np.random.default_rng(3)
    X = (rng.standard_normal((80, 5)) @ rng.standard_normal((5, 5))).astype(dtype)
    y = (X[:, 0] > 0).astype(int)
    stack = DBN((6,), n_iter=2, visible_unit="gaussian", random_state=0)
    model = _quiet_fit(
        make_pipeline(Whitening(), DBNClassifier(stack, finetune=dict(max_iter=5))), X, y
    )
    whitening, classifier = model[0], model[-1]
    layer = whitening.to_torch()
    assert isinstance(layer, torch.nn.Linear) and layer.weight.dtype == getattr(
        torch, np.dtype(dtype).name
    )
    net = torch.nn.Sequential(layer, classifier.to_torch(probabilities=True))
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    with torch.no_grad():
        x = torch.from_numpy(X)
        np.testing.assert_allclose(layer(x).numpy(), whitening.transform(X), atol=tolerance)
        np.testing.assert_allclose(net(x).numpy(), model.predict_proba(X), atol=tolerance)
