"""DBNClassifier: the three calls it wraps, the same net without pretraining, and its inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score

from dbn import DBN, DBNClassifier, MLPClassifier
from dbn.stack import REAL_VALUED_TO_MLP_DEFAULTS, TO_MLP_DEFAULTS


@pytest.fixture(scope="module")
def table():
    """Three standardised real-valued classes, 90 rows of 4 features."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 4)) * 2
    y = np.repeat(np.arange(3), 30)
    X = centres[y] + rng.standard_normal((90, 4))
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit()


SMALL = dict(hidden_layer_sizes=[16, 8], n_iter=3, visible_unit="gaussian", random_state=0)
FINETUNE = dict(max_iter=20)


def test_fit_is_pretrain_then_to_mlp_then_fit(table):
    X, y = table
    stack = DBN(**SMALL)
    clf = _quiet(lambda: DBNClassifier(stack, finetune=FINETUNE).fit(X, y))
    reference = _quiet(lambda: DBN(**SMALL).pretrain(X).to_mlp(**FINETUNE).fit(X, y))
    np.testing.assert_array_equal(clf.predict_proba(X), reference.predict_proba(X))
    np.testing.assert_array_equal(clf.predict(X), reference.predict(X))
    np.testing.assert_array_equal(clf.predict_log_proba(X), reference.predict_log_proba(X))
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_features_in_ == 4 and clf.score(X, y) == reference.score(X, y)
    # to_mlp's defaults for real-valued inputs, under the override.
    assert clf.mlp_.solver == REAL_VALUED_TO_MLP_DEFAULTS["solver"] and clf.mlp_.max_iter == 20
    assert not hasattr(stack, "layers_")  # the given stack is cloned, never fitted


def test_another_init_trains_the_same_net_from_its_weights(table):
    X, y = table
    clf = _quiet(
        lambda: DBNClassifier(DBN(**SMALL), init="xavier_uniform", finetune=FINETUNE).fit(X, y)
    )
    assert clf.stack_ is None
    reference = _quiet(
        lambda: MLPClassifier(
            [16, 8],
            init="xavier_uniform",
            random_state=0,
            **(REAL_VALUED_TO_MLP_DEFAULTS | FINETUNE),
        ).fit(X, y)
    )
    for W, W_ref in zip(clf.mlp_.coefs_, reference.coefs_, strict=True):
        np.testing.assert_array_equal(W, W_ref)
    # Binary inputs and widths "auto": TO_MLP_DEFAULTS and the widths the stack would build.
    X01 = (X > 0).astype(np.float64)
    auto = _quiet(
        lambda: DBNClassifier(DBN(random_state=1), init="he_normal", finetune=FINETUNE).fit(X01, y)
    )
    assert auto.mlp_.hidden_layer_sizes == (128, 128, 128)
    assert auto.mlp_.solver == TO_MLP_DEFAULTS["solver"] and auto.mlp_.init == "he_normal"
    # Fine-tuning parameters apply to both starts alike, the activation included.
    for init in ("pretrained", "he_normal"):
        tanh = DBNClassifier(DBN(**SMALL), init=init, finetune=dict(FINETUNE, activation="tanh"))
        assert _quiet(lambda tanh=tanh: tanh.fit(X, y)).mlp_.activation == "tanh"


def test_unlabelled_rows_join_the_pretraining_only(table):
    X, y = table
    extra = np.random.default_rng(5).standard_normal((40, 4))
    clf = _quiet(
        lambda: DBNClassifier(DBN(**SMALL), finetune=FINETUNE).fit(X, y, X_unlabelled=extra)
    )
    stack = _quiet(lambda: DBN(**SMALL).pretrain(np.vstack([X, extra])))
    np.testing.assert_array_equal(clf.stack_.layers_[0].components_, stack.layers_[0].components_)
    assert len(clf.mlp_.loss_curve_) == clf.mlp_.n_iter_
    with pytest.raises(ValueError, match="X_unlabelled has 3 features, but DBNClassifier is"):
        DBNClassifier(DBN(**SMALL)).fit(X, y, X_unlabelled=extra[:, :3])


def test_sparse_rows_are_stacked_as_sparse(table):
    X, y = table
    X01 = sp.csr_matrix((X > 0.5).astype(np.float64))
    extra = sp.csr_matrix(np.eye(4))
    small = dict(SMALL, visible_unit="bernoulli")
    clf = _quiet(
        lambda: DBNClassifier(DBN(**small), finetune=FINETUNE).fit(X01, y, X_unlabelled=extra)
    )
    stack = _quiet(lambda: DBN(**small).pretrain(sp.vstack([X01, extra]).toarray()))
    np.testing.assert_allclose(clf.stack_.layers_[0].components_, stack.layers_[0].components_)


def test_model_selection_pretrains_inside_each_fold(table):
    X, y = table
    clf = DBNClassifier(DBN(**SMALL), finetune=dict(max_iter=200))  # 40 rows per fold
    scores = _quiet(lambda: cross_val_score(clf, X, y, cv=3))
    assert scores.shape == (3,) and scores.min() > 0.6
    search = _quiet(
        lambda: GridSearchCV(clf, {"init": ["pretrained", "xavier_uniform"]}, cv=3).fit(X, y)
    )
    assert search.best_params_["init"] in ("pretrained", "xavier_uniform")
    assert clone(clf).get_params()["stack"].get_params() == DBN(**SMALL).get_params()


def test_auto_init_is_the_grid_search_over_init_it_replaces(table):
    """init="auto" chooses as GridSearchCV over init would on the same folds, and refits."""
    from sklearn.model_selection import StratifiedKFold

    X, y = table
    U = np.random.default_rng(5).standard_normal((30, 4))
    auto = DBNClassifier(DBN(**SMALL), init="auto", finetune=dict(max_iter=60))
    _quiet(lambda: auto.fit(X, y, X_unlabelled=U))
    search = GridSearchCV(
        DBNClassifier(DBN(**SMALL), finetune=dict(max_iter=60)),
        {"init": ["pretrained", "xavier_uniform"]},
        cv=StratifiedKFold(3, shuffle=True, random_state=SMALL["random_state"]),
    )
    _quiet(lambda: search.fit(X, y, X_unlabelled=U))
    assert list(auto.init_scores_) == ["pretrained", "xavier_uniform"]
    np.testing.assert_allclose(
        list(auto.init_scores_.values()), search.cv_results_["mean_test_score"]
    )
    assert auto.init_ == search.best_params_["init"]
    np.testing.assert_array_equal(auto.predict_proba(X), search.best_estimator_.predict_proba(X))
    assert (auto.stack_ is None) == (auto.init_ != "pretrained")
    assert auto.init == "auto"  # the parameter is kept; the choice is a fitted attribute


def test_auto_init_prefers_pretraining_on_a_tie_and_keeps_the_refits_warnings(table, monkeypatch):
    X, y = table
    with monkeypatch.context() as patch:
        tie = {"pretrained": 0.9, "xavier_uniform": 0.9}
        patch.setattr(DBNClassifier, "_cross_validated_inits", lambda *args: dict(tie))
        clf = _quiet(lambda: DBNClassifier(DBN(**SMALL), init="auto", finetune=FINETUNE).fit(X, y))
    assert clf.init_scores_ == tie and clf.init_ == "pretrained" and clf.stack_ is not None
    # The folds' fits are quiet; the refit warns as a plain fit of the chosen init would.
    short = dict(max_iter=2)
    with warnings.catch_warnings(record=True) as auto_caught:
        warnings.simplefilter("always")
        chosen = DBNClassifier(DBN(**SMALL), init="auto", finetune=short).fit(X, y).init_
    with warnings.catch_warnings(record=True) as plain_caught:
        warnings.simplefilter("always")
        DBNClassifier(DBN(**SMALL), init=chosen, finetune=short).fit(X, y)

    def messages(caught):
        return [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]

    assert messages(auto_caught) == messages(plain_caught) and messages(plain_caught)


def test_auto_init_needs_three_rows_per_class(table):
    X, y = table
    y = y.copy()
    y[:2] = 7  # a class of two rows
    with pytest.raises(ValueError, match=r'init="auto" .* the smallest with 2 \(n_samples=90\)'):
        DBNClassifier(DBN(**SMALL), init="auto").fit(X, y)


def test_unfitted_and_bad_parameters(table):
    X, y = table
    with pytest.raises(NotFittedError):
        DBNClassifier().predict(X)
    with pytest.raises(TypeError, match="stack must be a dbn.DBN or None, got MLPClassifier"):
        DBNClassifier(MLPClassifier()).fit(X, y)
    with pytest.raises(
        ValueError, match="init must be 'pretrained', 'auto' or an initialiser of dbn.init"
    ):
        DBNClassifier(init="glorot").fit(X, y)
    with pytest.raises(TypeError, match="finetune must be a dict of MLPClassifier parameters"):
        DBNClassifier(finetune=[("max_iter", 3)]).fit(X, y)
    with pytest.raises(ValueError, match="finetune must not set hidden_layer_sizes, init"):
        DBNClassifier(finetune=dict(init="he_normal", hidden_layer_sizes=[3])).fit(X, y)
    given = X.copy()
    clf = _quiet(lambda: DBNClassifier(DBN(**SMALL), finetune=FINETUNE).fit(given, y))
    np.testing.assert_array_equal(given, X)  # the caller's rows are not modified
    with pytest.raises(ValueError, match="X has 3 features, but DBNClassifier is expecting 4"):
        clf.predict(X[:, :3])


@pytest.mark.parametrize("init", ["pretrained", "xavier_uniform", "auto"])
@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_save_load_round_trip(table, tmp_path, init, suffix):
    import pandas as pd

    from dbn import io

    X, y = table
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    clf = DBNClassifier(DBN(**SMALL), init=init, finetune=FINETUNE, random_state=3)
    _quiet(lambda: clf.fit(frame, y))
    path = tmp_path / f"clf{suffix}"
    clf.save(path)
    loaded = DBNClassifier.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(frame), clf.predict_proba(frame))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert list(loaded.feature_names_in_) == ["f0", "f1", "f2", "f3"]
    assert loaded.get_params()["init"] == init and loaded.random_state == 3
    assert loaded.stack.get_params() == DBN(**dict(SMALL, hidden_layer_sizes=(16, 8))).get_params()
    np.testing.assert_equal(loaded.mlp_.history_, clf.mlp_.history_)  # NaN == NaN here
    assert loaded.init_ == clf.init_ and loaded.init_scores_ == clf.init_scores_
    assert (clf.init_scores_ is None) == (init != "auto")
    if clf.init_ == "pretrained":
        for a, b in zip(loaded.stack_.layers_, clf.stack_.layers_, strict=True):
            np.testing.assert_array_equal(a.components_, b.components_)
    else:
        assert loaded.stack_ is None
    # The loaded net trains on exactly as the saved one would.
    more = dict(warm_start=True, max_iter=3)
    a = _quiet(lambda: clf.mlp_.set_params(**more).fit(X, y))
    b = _quiet(lambda: loaded.mlp_.set_params(**more).fit(X, y))
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    # Another model's file is refused, and an unfitted classifier has nothing to save.
    other = tmp_path / f"dbn{suffix}"
    clf.stack_.save(other) if clf.stack_ is not None else DBN(**SMALL).pretrain(X).save(other)
    with pytest.raises(io.ModelFileError, match="DBN"):
        DBNClassifier.load(other)
    with pytest.raises(NotFittedError):
        DBNClassifier().save(tmp_path / "unfitted.safetensors")


def test_save_refuses_finetune_values_json_cannot_hold(table, tmp_path):
    X, y = table
    fitted = _quiet(lambda: DBNClassifier(DBN(**SMALL), finetune=FINETUNE).fit(X, y))
    fitted.finetune = dict(FINETUNE, tol=np.array([1e-4]))
    with pytest.raises(TypeError, match="finetune must hold JSON values"):
        fitted.save(tmp_path / "clf.safetensors")
