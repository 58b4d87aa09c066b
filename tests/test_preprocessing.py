"""dbn.preprocessing.Whitening against an independent reference (scipy's matrix square root)."""

import numpy as np
import pytest
import scipy.linalg
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from dbn import DBN, DBNClassifier
from dbn.preprocessing import Whitening


def correlated(n=400, d=5, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ mixing + rng.normal(size=d)


def naive_whitening(X, epsilon):
    """(C + epsilon * trace(C) / d * I)^(-1/2) by scipy's matrix square root, row by row."""
    mean = X.sum(axis=0) / len(X)
    C = np.zeros((X.shape[1], X.shape[1]))
    for row in X:
        C += np.outer(row - mean, row - mean)
    C /= len(X) - 1
    shrink = epsilon * np.trace(C) / len(C)
    matrix = np.linalg.inv(np.real(scipy.linalg.sqrtm(C + shrink * np.eye(len(C)))))
    return np.array([(row - mean) @ matrix for row in X])


@pytest.mark.parametrize("epsilon", [0.0, 0.01, 0.1, 1.0])
def test_matches_the_naive_reference(epsilon):
    X = correlated()
    assert np.allclose(Whitening(epsilon=epsilon).fit_transform(X), naive_whitening(X, epsilon))


def test_epsilon_zero_gives_the_identity_covariance_and_a_symmetric_matrix():
    X = correlated(d=4)
    model = Whitening(epsilon=0).fit(X)
    Z = model.transform(X)
    assert np.allclose(np.cov(Z, rowvar=False), np.eye(4), atol=1e-10)
    assert np.allclose(Z.mean(axis=0), 0, atol=1e-10)
    assert np.allclose(model.whitening_, model.whitening_.T)
    assert np.all(np.diff(model.explained_variance_) <= 0)


def test_epsilon_shrinks_the_directions_of_least_variance():
    """A direction of variance epsilon * mean(lambda) comes out at variance 1/2, a large one near 1."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20000, 2)) * np.array([10.0, 0.1])  # variances 100 and 0.01
    Z = Whitening(epsilon=0.1).fit_transform(X)
    shrink = 0.1 * (100 + 0.01) / 2
    assert np.var(Z[:, 0]) == pytest.approx(100 / (100 + shrink), rel=0.03)
    assert np.var(Z[:, 1]) == pytest.approx(0.01 / (0.01 + shrink), rel=0.03)


def test_inverse_transform_round_trip():
    X = correlated()
    model = Whitening().fit(X)
    assert np.allclose(model.inverse_transform(model.transform(X)), X)


def test_float32_stays_float32_and_the_input_is_not_modified():
    X = correlated().astype(np.float32)
    before = X.copy()
    Z = Whitening().fit(X).transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_array_equal(X, before)
    assert np.allclose(Z, naive_whitening(X.astype(np.float64), 0.1), atol=1e-4)


def test_a_constant_column_needs_epsilon():
    X = correlated()
    X[:, 2] = 3.0
    Z = Whitening().fit_transform(X)
    assert np.all(np.isfinite(Z)) and np.allclose(Z[:, 2], 0.0)
    with pytest.raises(ValueError, match=r"epsilon=0.*1 direction\(s\) of zero variance"):
        Whitening(epsilon=0).fit(X)


@pytest.mark.parametrize(
    ("epsilon", "error", "match"),
    [(-0.1, ValueError, r"epsilon must be in \[0.0, inf\], got -0.1"),
     ("0.1", TypeError, "epsilon must be a real number, got"),
     (float("nan"), ValueError, "epsilon must be finite")],
)  # fmt: skip
def test_bad_epsilon_is_named(epsilon, error, match):
    with pytest.raises(error, match=match):
        Whitening(epsilon=epsilon).fit(correlated())


def test_bad_shapes_are_named():
    model = Whitening().fit(correlated(d=5))
    with pytest.raises(ValueError, match="X has 3 features, but Whitening is expecting 5"):
        model.transform(correlated(d=3))
    with pytest.raises(ValueError, match="at least 2 rows of X.*n_samples=1"):
        Whitening().fit(correlated(n=1))


def test_feature_names_pass_through():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(correlated(d=3), columns=["carat", "depth", "table"])
    model = Whitening().fit(frame)
    assert list(model.get_feature_names_out()) == ["carat", "depth", "table"]
    assert list(model.set_output(transform="pandas").transform(frame).columns) == [
        "carat",
        "depth",
        "table",
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # a tiny net's fit
def test_in_a_pipeline_before_a_dbn_classifier():
    X = correlated(n=200, d=4)
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    stack = DBN([8], n_iter=2, visible_unit="gaussian", random_state=0)
    model = make_pipeline(Whitening(), DBNClassifier(stack, finetune=dict(max_iter=30)))
    model.fit(X, y)
    assert model.predict(X).shape == (200,)
    # The classifier saw the whitened rows.
    whitened = Whitening().fit_transform(X)
    alone = DBNClassifier(stack, finetune=dict(max_iter=30)).fit(whitened, y)
    np.testing.assert_array_equal(model.predict_proba(X), alone.predict_proba(whitened))


@parametrize_with_checks([Whitening()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_save_load_round_trip(tmp_path, suffix):
    pandas = pytest.importorskip("pandas")
    from sklearn.exceptions import NotFittedError

    from dbn import io

    frame = pandas.DataFrame(correlated(d=3).astype(np.float32), columns=["a", "b", "c"])
    model = Whitening(epsilon=0.05).fit(frame)
    path = tmp_path / f"whitening{suffix}"
    model.save(path)
    loaded = Whitening.load(path)
    np.testing.assert_array_equal(loaded.transform(frame), model.transform(frame))
    np.testing.assert_array_equal(loaded.explained_variance_, model.explained_variance_)
    assert loaded.epsilon == 0.05 and loaded.whitening_.dtype == np.float32
    assert list(loaded.get_feature_names_out()) == ["a", "b", "c"]
    with pytest.raises(NotFittedError):
        Whitening().save(tmp_path / f"unfitted{suffix}")
    other = tmp_path / f"dbn{suffix}"
    DBN([2], n_iter=1, visible_unit="gaussian").pretrain(correlated(d=3)).save(other)
    with pytest.raises(io.ModelFileError, match="Whitening"):
        Whitening.load(other)


def test_load_refuses_arrays_that_do_not_fit(tmp_path):
    from dbn import io

    path = tmp_path / "bad.safetensors"
    arrays = {"mean_": np.zeros(3), "whitening_": np.eye(2), "explained_variance_": np.ones(3)}
    io.save_arrays(path, "Whitening", {"epsilon": 0.1}, arrays, {"n_features_in_": 3})
    with pytest.raises(
        io.ModelFileError, match=r"whitening_ has shape \(2, 2\), expected \(3, 3\)"
    ):
        Whitening.load(path)
