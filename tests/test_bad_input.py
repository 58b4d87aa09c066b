"""Bad input to every public entry point: clear errors, untouched data, layout-free results.

The contract, for ``BernoulliRBM``, ``GaussianBernoulliRBM``, ``DBN``, ``MLPClassifier``,
``MLPRegressor``, ``DeepAutoencoder`` and the functions of ``dbn.evaluation``, ``dbn.datasets`` and
``dbn.init``:

1. Bad input raises ``ValueError`` or ``TypeError`` -- never an ``IndexError``, a numpy broadcasting
   error or a silent wrong answer -- whose message names the parameter or array, what was expected
   and what was received. The estimators check shapes, sample and feature counts and dtype
   conversion with scikit-learn's ``validate_data`` and use its wording ("Expected 2D array", "Found
   array with 0 sample(s)", "X has 7 features, but BernoulliRBM is expecting 6"); data outside
   [0, 1] for Bernoulli units is accepted with a ``DataRangeWarning`` (issue 13); the functions of
   ``dbn.evaluation`` and ``dbn.init`` keep dbn's own messages and refuse such data.
2. The caller's arrays come back unmodified, whether the call succeeds or fails.
3. Memory layout is never an error: Fortran-ordered arrays and strided views give exactly the result
   of a C-contiguous array, and scipy.sparse input gives the dense result where it is supported
   (RBMs, DBN, ``dbn.evaluation``); elsewhere it is refused with a hint to call ``toarray()``.
4. One sample is enough wherever that makes sense (an RBM with ``batch_size=1``, a regressor, an
   autoencoder, every transform and prediction); where it is not (a single class, an early-stopping
   split, LSUV's variance) the error says why.

Other test modules check a few of these cases each; this one sweeps every entry point with one table
of bad arrays, and every numeric hyperparameter with invalid values drawn by hypothesis. The tests at
the end pin down checks that were once missing (arguments checked before training, ``score``'s
``y`` and ``sample_weight``, class labels), so that they stay.
"""

from __future__ import annotations

import copy
import math
import re
import warnings
from typing import NamedTuple

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from dbn import (
    DBN,
    BernoulliRBM,
    DataRangeWarning,
    DeepAutoencoder,
    GaussianBernoulliRBM,
    MLPClassifier,
    MLPRegressor,
    datasets,
    evaluation,
    init,
)

D = 6  # features of every data set here
FAST = settings(max_examples=20, deadline=None)


def _data(n=12):
    rng = np.random.default_rng(0)
    X = (rng.random((n, D)) < 0.4).astype(np.float64)
    X[:, 0] = np.arange(n) % 2
    return X


def _rows(X):
    """Number of rows of anything, so that labels match even a bad X."""
    try:
        return X.shape[0]
    except (AttributeError, IndexError):
        return len(X) if isinstance(X, list) else 4


def _labels(X):
    return np.arange(_rows(X)) % 2


def _targets(X):
    return np.linspace(0.0, 1.0, _rows(X))


def _snapshot(X):
    if isinstance(X, np.ndarray):
        return X.copy(order="K"), X.strides
    return X.copy() if sp.issparse(X) else copy.deepcopy(X)


def _assert_unchanged(X, before):
    if sp.issparse(X):
        assert X.format == before.format
        for attribute in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(X, attribute), getattr(before, attribute))
    elif isinstance(X, np.ndarray):
        values, strides = before
        assert (X.dtype, X.shape, X.strides) == (values.dtype, values.shape, strides)
        np.testing.assert_array_equal(X, values)
    else:
        assert X == before


_TINY_RBM = BernoulliRBM(3, batch_size=4, n_iter=1, random_state=0).fit(_data())
_TINY_DBN = DBN([3], batch_size=4, n_iter=1, random_state=0).pretrain(_data())


@pytest.fixture(scope="module")
def models():
    X = _data()
    return {
        "rbm": BernoulliRBM(3, batch_size=4, n_iter=1, random_state=0).fit(X),
        "grbm": GaussianBernoulliRBM(3, batch_size=4, n_iter=1, random_state=0).fit(X),
        "dbn": DBN([4, 3], batch_size=4, n_iter=1, random_state=0).pretrain(X),
        "clf": MLPClassifier((4,), max_iter=2, random_state=0).fit(X, _labels(X)),
        "reg": MLPRegressor((4,), max_iter=2, random_state=0).fit(X, _targets(X)),
        "ae": DeepAutoencoder((4, 2), solver="adam", max_iter=1, random_state=0).fit(X),
    }


# ----------------------------------------------------------------------------- entry points
class Entry(NamedTuple):
    call: object  # (models, X) -> result
    name: str  # the array's name in error messages
    n_features: int | None  # None for fit: any number of features goes
    flags: str = ""  # u: values must lie in [0, 1]; s: scipy.sparse accepted; o: None is valid


def _new(cls, *args, y=None, **kwargs):
    """Fit (or pretrain) a new estimator on ``X`` and, if given, ``y(X)``."""

    def call(m, X):
        model = cls(*args, random_state=0, **kwargs)
        fit = model.pretrain if cls is DBN else model.fit
        return fit(X) if y is None else fit(X, y(X))

    return call


def _fitted(key, method, y=None, fresh=False):
    """Call ``method`` of a fitted model (a copy of it if the call changes it)."""

    def call(m, X):
        model = copy.deepcopy(m[key]) if fresh else m[key]
        return getattr(model, method)(X) if y is None else getattr(model, method)(X, y(X))

    return call


def _sample(key):
    return lambda m, X: m[key].sample(n_steps=2, init=X, random_state=0)


def _ais(m, X):
    return evaluation.ais_log_partition(m["rbm"], n_betas=3, n_runs=2, data=X, random_state=0).log_z


# fmt: off
ENTRIES = {name: Entry(*row) for name, row in {
    "BernoulliRBM.fit": (_new(BernoulliRBM, 3, batch_size=1, n_iter=1), "X", None, "us"),
    "BernoulliRBM.partial_fit": (_fitted("rbm", "partial_fit", fresh=True), "X", D, "us"),
    "BernoulliRBM.transform": (_fitted("rbm", "transform"), "X", D, "us"),
    "BernoulliRBM.free_energy": (_fitted("rbm", "free_energy"), "X", D, "us"),
    "BernoulliRBM.score_samples": (_fitted("rbm", "score_samples"), "X", D, "us"),
    "BernoulliRBM.gibbs": (_fitted("rbm", "gibbs", fresh=True), "v", D, "us"),
    "BernoulliRBM.sample": (_sample("rbm"), "init", D, "uso"),
    "GaussianBernoulliRBM.fit": (_new(GaussianBernoulliRBM, 3, batch_size=1, n_iter=1), "X", None, "s"),
    "GaussianBernoulliRBM.transform": (_fitted("grbm", "transform"), "X", D, "s"),
    "GaussianBernoulliRBM.score_samples": (_fitted("grbm", "score_samples"), "X", D, "s"),
    "DBN.pretrain": (_new(DBN, [3, 2], batch_size=1, n_iter=1), "X", None, "us"),
    "DBN.transform": (_fitted("dbn", "transform"), "X", D, "us"),
    "DBN.sample": (_sample("dbn"), "init", D, "uso"),
    "MLPClassifier.fit": (_new(MLPClassifier, (3,), max_iter=1, y=_labels), "X", None, "s"),
    "MLPClassifier.partial_fit": (_fitted("clf", "partial_fit", _labels, fresh=True), "X", D, "s"),
    "MLPClassifier.predict": (_fitted("clf", "predict"), "X", D, "s"),
    "MLPClassifier.predict_proba": (_fitted("clf", "predict_proba"), "X", D, "s"),
    "MLPClassifier.score": (_fitted("clf", "score", _labels), "X", D, "s"),
    "MLPRegressor.fit": (_new(MLPRegressor, (3,), max_iter=1, y=_targets), "X", None, "s"),
    "MLPRegressor.predict": (_fitted("reg", "predict"), "X", D, "s"),
    "MLPRegressor.score": (_fitted("reg", "score", _targets), "X", D, "s"),
    "DeepAutoencoder.fit": (_new(DeepAutoencoder, (3,), solver="adam", max_iter=1), "X", None, "u"),
    "DeepAutoencoder.partial_fit": (_fitted("ae", "partial_fit", fresh=True), "X", D, "u"),
    "DeepAutoencoder.transform": (_fitted("ae", "transform"), "X", D, "u"),
    "DeepAutoencoder.score": (_fitted("ae", "score"), "X", D, "u"),
    "DeepAutoencoder.decode": (_fitted("ae", "decode"), "codes", 2),
    "evaluation.log_likelihood": (lambda m, X: evaluation.log_likelihood(m["rbm"], X, 0.0), "X", D, "us"),
    "evaluation.ais_log_partition": (_ais, "data", D, "uso"),
    "init.lsuv_init": (lambda m, X: init.lsuv_init([D, 3], X, random_state=0)[0][0], "X", D),
}.items()}
# fmt: on


def _result(out):
    """The array a call is judged by: the fitted weights, or what it returned."""
    if hasattr(out, "layers_"):
        return out.layers_[-1].components_
    if hasattr(out, "coefs_"):
        return out.coefs_[0]
    return np.asarray(getattr(out, "components_", out))


# ----------------------------------------------------------------------------- bad arrays
def _one(d, value):
    X = np.full((4, d), 0.5)
    X[1, -1] = value
    return X


class Case(NamedTuple):
    make: object  # n_features -> bad input
    error: type
    match: str  # regex; {name}, {d} and {d1} = d + 1 are filled in
    needs: str = ""  # entry flags the case applies to ("f": checks the feature count, "-s": not s)
    # What the estimators do instead, where scikit-learn's contract differs from dbn's functions:
    # (error, regex) in sklearn's wording, ("warn", regex) for a DataRangeWarning, or None when
    # the input is valid for them (an object array of numbers, as sklearn's checks require).
    estimators: tuple | None | str = "same"


def _is_estimator(entry):
    """The estimators' methods, as opposed to the functions of dbn.evaluation and dbn.init."""
    return not entry.startswith(("evaluation.", "init."))


def _expected(case, entry):
    """``(error, regex)`` of ``case`` for ``entry``: ``("warn", regex)`` for a warning, None if valid."""
    if _is_estimator(entry) and case.estimators != "same":
        return case.estimators
    return case.error, case.match


def _applies(case, entry):
    flags = entry.flags + ("f" if entry.n_features else "")
    return all(
        (need[1] not in flags) if need[0] == "-" else (need in flags) for need in case.needs.split()
    )


FINITE = "{name} must contain only finite values, got 1 NaN or inf"
TWO_D = r"{name} must be a 2-D array .*got "


def _dtype(kind):
    return f"{{name}} must have a real numeric dtype .*got {kind} dtype"


def _range(low, high):
    return rf"{{name}} must lie in \[0(\.0)?, 1(\.0)?\].* got values in \[{low}, {high}\]"


def _warns_range(low, high):
    return "warn", rf"{{name}} should lie in \[0, 1\].* got values in \[{low}, {high}\].*X / 255"


SK_2D = "Expected 2D array, got {got} array instead"

# fmt: off
CASES = {
    "nan": Case(lambda d: _one(d, np.nan), ValueError, FINITE),
    "-inf": Case(lambda d: _one(d, -np.inf), ValueError, FINITE),
    "1-D": Case(lambda d: np.full(d, 0.5), ValueError, TWO_D + r"1-D with shape \({d},\)", estimators=(ValueError, SK_2D.format(got="1D"))),
    "3-D": Case(lambda d: np.full((2, d, 1), 0.5), ValueError, TWO_D + "3-D", estimators=(ValueError, "Found array with dim 3")),
    "no samples": Case(lambda d: np.empty((0, d)), ValueError, r"{name} must have at least \d sample\(s\), got shape \(0, {d}\)", estimators=(ValueError, r"Found array with 0 sample\(s\) \(shape=\(0, {d}\)\) while a minimum of 1 is required")),
    "no features": Case(lambda d: np.empty((4, 0)), ValueError, r"{name} must have at least 1 feature, got shape \(4, 0\)", estimators=(ValueError, r"Found array with 0 feature\(s\) \(shape=\(4, 0\)\) while a minimum of 1 is required")),
    "wrong features": Case(lambda d: np.full((4, d + 1), 0.5), ValueError, "{name} has {d1} features, but .*{d}", "f"),
    "object": Case(lambda d: np.full((4, d), 0.5, dtype=object), TypeError, _dtype("object"), estimators=None),
    "string": Case(lambda d: np.full((4, d), "0.5"), TypeError, _dtype("string")),
    "complex": Case(lambda d: np.full((4, d), 0.5 + 0j), TypeError, _dtype("complex"), estimators=(ValueError, "Complex data not supported")),
    "boolean": Case(lambda d: np.ones((4, d), dtype=bool), TypeError, _dtype("boolean")),
    "ragged": Case(lambda d: [[0.5] * d, [0.5]], ValueError, "{name} could not be converted to an array"),
    "None": Case(lambda d: None, TypeError, _dtype("object"), "-o", estimators=(ValueError, SK_2D.format(got="scalar"))),
    "above 1": Case(lambda d: _one(d, 1.5), ValueError, _range(0.5, 1.5), "u", estimators=_warns_range(0.5, 1.5)),
    "below 0": Case(lambda d: _one(d, -0.5), ValueError, _range(-0.5, 0.5), "u", estimators=_warns_range(-0.5, 0.5)),
    "sparse": Case(lambda d: sp.csr_matrix(_one(d, 0.5)), TypeError, r"{name} must be a dense array; .*{name}\.toarray\(\)", "-s"),
    "sparse nan": Case(lambda d: sp.csr_matrix(_one(d, np.nan)), ValueError, FINITE, "s"),
    "sparse above 1": Case(lambda d: sp.csr_matrix(_one(d, 2.0)), ValueError, _range(0.5, 2), "s u", estimators=_warns_range(0.5, 2)),
}
# fmt: on


def _pairs(kind):
    """(entry, case) pairs whose expected outcome is an error, a warning or success."""
    pairs = []
    for e in ENTRIES:
        for c in CASES:
            if not _applies(CASES[c], ENTRIES[e]):
                continue
            expected = _expected(CASES[c], e)
            outcome = "ok" if expected is None else "warn" if expected[0] == "warn" else "error"
            if outcome == kind:
                pairs.append((e, c))
    return pairs


@pytest.mark.parametrize(("entry", "case"), _pairs("error"), ids=lambda value: value)
def test_bad_array_is_refused_with_a_clear_message(models, entry, case):
    spec, bad = ENTRIES[entry], CASES[case]
    d = spec.n_features or D
    X = bad.make(d)
    before = _snapshot(X)
    error, match = _expected(bad, entry)
    with pytest.raises(error, match=match.format(name=spec.name, d=d, d1=d + 1)):
        spec.call(models, X)
    _assert_unchanged(X, before)


@pytest.mark.parametrize(("entry", "case"), _pairs("warn"), ids=lambda value: value)
def test_data_outside_the_unit_interval_warns_once_and_says_how_to_scale(models, entry, case):
    """Bernoulli units given values outside [0, 1]: a ValueError until issue 13, now accepted (as
    scikit-learn's BernoulliRBM accepts them, and as its estimator checks require) with one
    DataRangeWarning per call that names the array, the range received and the remedy."""
    spec, bad = ENTRIES[entry], CASES[case]
    d = spec.n_features or D
    X = bad.make(d)
    before = _snapshot(X)
    _, match = _expected(bad, entry)
    with pytest.warns(DataRangeWarning, match=match.format(name=spec.name)) as record:
        out = spec.call(models, X)
    assert sum(issubclass(w.category, DataRangeWarning) for w in record) == 1
    assert np.isfinite(_result(out)).all()
    _assert_unchanged(X, before)


@pytest.mark.parametrize(("entry", "case"), _pairs("ok"), ids=lambda value: value)
def test_object_arrays_of_numbers_are_converted_as_sklearn_does(models, entry, case):
    spec = ENTRIES[entry]
    d = spec.n_features or D
    X = CASES[case].make(d)
    before = _snapshot(X)
    # Non-float input goes to float32 (dbn's dtype policy, as for integers).
    reference = _result(spec.call(models, X.astype(np.float32)))
    np.testing.assert_array_equal(_result(spec.call(models, X)), reference)
    _assert_unchanged(X, before)


@FAST
@given(
    entry=st.sampled_from(sorted(ENTRIES)),
    n_rows=st.integers(2, 5),
    dtype=st.sampled_from([np.float32, np.float64]),
    order=st.sampled_from("CF"),
    data=st.data(),
)
def test_non_finite_values_anywhere_are_counted(models, entry, n_rows, dtype, order, data):
    spec = ENTRIES[entry]
    d = spec.n_features or D
    cells = data.draw(
        st.sets(st.tuples(st.integers(0, n_rows - 1), st.integers(0, d - 1)), min_size=1)
    )
    X = np.full((n_rows, d), 0.5, dtype=dtype, order=order)
    for cell in cells:
        X[cell] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    before = _snapshot(X)
    with pytest.raises(
        ValueError, match=rf"{spec.name} must contain only finite values, got {len(cells)} NaN"
    ):
        spec.call(models, X)
    _assert_unchanged(X, before)


@FAST
@given(
    entry=st.sampled_from(sorted(ENTRIES)),
    shape=st.lists(st.integers(1, 3), max_size=4),
    dtype=st.sampled_from([np.float32, np.int64, bool, np.complex64, object, "U3", "S3"]),
)
def test_random_ndim_and_dtype_are_checked(models, entry, shape, dtype):
    spec = ENTRIES[entry]
    if len(shape) == 2 and np.dtype(dtype).kind in "fi":
        return  # a valid array
    X = np.zeros(shape, dtype=dtype)
    before = _snapshot(X)
    kind = np.dtype(dtype).kind
    if _is_estimator(entry) and kind == "O" and len(shape) == 2:
        return  # zeros as objects: valid for an estimator, as for sklearn's
    if _is_estimator(entry) and kind in "fiOc":  # sklearn's conversion, then its shape checks
        if kind == "c":
            match = "Complex data not supported"
        elif len(shape) < 2:
            match = "Expected 2D array, got (scalar|1D) array instead"
        else:
            match = f"Found array with dim {len(shape)}"
        error = ValueError
    elif kind not in "fi":  # the dtype is checked first
        error, match = TypeError, f"{spec.name} must have a real numeric dtype"
    else:
        error, match = ValueError, f"{spec.name} must be a 2-D array .*got {len(shape)}-D"
    with pytest.raises(error, match=match):
        spec.call(models, X)
    _assert_unchanged(X, before)


# ----------------------------------------------------------------------------- layouts, sparse
@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_fortran_and_strided_arrays_give_the_c_contiguous_result(models, entry):
    spec = ENTRIES[entry]
    X = _data(8)[:, : spec.n_features or D]
    reference = _result(spec.call(models, X))
    layouts = {
        "fortran": np.asfortranarray(X),
        "strided": np.repeat(X, 2, axis=1)[:, ::2],
        "negative strides": np.ascontiguousarray(X[::-1])[::-1],
    }
    for layout, variant in layouts.items():
        before = _snapshot(variant)
        np.testing.assert_array_equal(_result(spec.call(models, variant)), reference, layout)
        _assert_unchanged(variant, before)


def _unsorted_csr(X):
    """CSR with the column indices of each row reversed: valid, but not canonical."""
    A = sp.csr_matrix(X)
    indices, data = A.indices.copy(), A.data.copy()
    for start, stop in zip(A.indptr[:-1], A.indptr[1:], strict=True):
        indices[start:stop], data[start:stop] = indices[start:stop][::-1], data[start:stop][::-1]
    return sp.csr_matrix((data, indices, A.indptr.copy()), shape=A.shape)


@pytest.mark.parametrize("entry", sorted(e for e in ENTRIES if "s" in ENTRIES[e].flags))
def test_sparse_input_gives_the_dense_result(models, entry):
    spec = ENTRIES[entry]
    X = _data(8)
    reference = _result(spec.call(models, X))
    for variant in (sp.csr_matrix(X), sp.csc_matrix(X), sp.csr_array(X), _unsorted_csr(X)):
        before = _snapshot(variant)
        result = _result(spec.call(models, variant))
        np.testing.assert_allclose(result, reference, rtol=1e-10, atol=1e-12)
        _assert_unchanged(variant, before)


# ----------------------------------------------------------------------------- one sample
ONE_SAMPLE_REFUSED = {
    "init.lsuv_init": r"X must have at least 2 sample\(s\), got shape \(1, 6\)",
}


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_one_sample_works_or_says_why(models, entry):
    spec = ENTRIES[entry]
    X = _data(4)[1:2, : spec.n_features or D]
    if entry in ONE_SAMPLE_REFUSED:
        with pytest.raises(ValueError, match=ONE_SAMPLE_REFUSED[entry]):
            spec.call(models, X)
    else:
        assert np.isfinite(_result(spec.call(models, X))).all()


# fmt: off
TOO_FEW_FOR_THE_SETTINGS = [
    (lambda X: MLPRegressor(early_stopping=True).fit(X, [0.5]), "validation_fraction=0.1 leaves 0 of 1"),
    (lambda X: DeepAutoencoder((3,), early_stopping=True).fit(X), "validation_fraction=0.1 leaves 0 of 1"),
]
# fmt: on


@pytest.mark.parametrize(
    ("make", "match"),
    TOO_FEW_FOR_THE_SETTINGS,
    ids=["regressor-split", "autoencoder-split"],
)
def test_one_sample_with_settings_that_need_more_says_why(make, match):
    with pytest.raises(ValueError, match=match):
        make(_data(2)[:1])


# A batch_size larger than the data was a ValueError for the RBM and the DBN until issue 13; it
# is clipped to the data with a warning now, as scikit-learn's MLP does.
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda X: BernoulliRBM(3).fit(X),
            r"batch_size=100 of BernoulliRBM\(3\) is larger .*\(1\)",
        ),
        # The DBN's default minibatch is 10 (benchmarks/defaults_study.py), still more than 1 row.
        (lambda X: DBN([3]).pretrain(X), r"batch_size=10 of BernoulliRBM\(3\) is larger .*\(1\)"),
    ],
    ids=["rbm-batch", "dbn-batch"],
)
def test_one_sample_with_a_larger_batch_size_warns_and_trains(make, match):
    with pytest.warns(UserWarning, match=match):
        model = make(_data(2)[:1])
    assert np.isfinite(_result(model)).all()


# ----------------------------------------------------------------------------- labels
def _clf(m=None):
    """A new classifier, or a copy of the fitted one."""
    return MLPClassifier((3,), max_iter=1) if m is None else copy.deepcopy(m["clf"])


def _reg(m=None):
    return MLPRegressor((3,), max_iter=1) if m is None else copy.deepcopy(m["reg"])


# fmt: off
BAD_LABELS = [
    (lambda m, X, y: _clf().fit(X, np.c_[y, y + 2]), ValueError, r"y should be a 1d array, got an array of shape \(12, 2\)"),
    (lambda m, X, y: _clf().fit(X, _targets(X) + 0.01), ValueError, "Unknown label type: continuous"),
    (lambda m, X, y: _clf().fit(X, sp.csr_matrix(y)), TypeError, "y must be a 1-D array .*csr_matrix"),
    (lambda m, X, y: _clf().fit(X, np.where(y, np.inf, 0)), ValueError, "y must contain only finite"),
    (lambda m, X, y: _clf().fit(X, y, X_val=X, y_val=y[:3]), ValueError, "y_val has 3 samples but X has 12"),
    (lambda m, X, y: _clf(m).partial_fit(X, y[:-1]), ValueError, "y has 11 samples but X has 12"),
    (lambda m, X, y: _clf(m).partial_fit(X, y + 5), ValueError, r"labels \[5, 6\] not in classes_"),
    (lambda m, X, y: _reg().fit(X, y[:-1]), ValueError, "y has 11 samples but X has 12"),
    (lambda m, X, y: _reg().fit(X, np.where(y, np.nan, 0)), ValueError, "y must contain only finite .*got 6"),
    (lambda m, X, y: _reg().fit(X, y.astype(str)), TypeError, "y must have a real numeric dtype .*string"),
    (lambda m, X, y: _reg().fit(X, y[:, None, None]), ValueError, r"y must be 1-D or 2-D, .*\(12, 1, 1\)"),
    (lambda m, X, y: _reg().fit(X, 0.5), ValueError, r"y must be 1-D or 2-D, got shape \(\)"),
    (lambda m, X, y: _reg(m).partial_fit(X, np.c_[y, y]), ValueError, "y has 2 outputs, but .*fitted with 1"),
]
# fmt: on


@pytest.mark.parametrize(("call", "error", "match"), BAD_LABELS)
def test_bad_labels_are_refused(models, call, error, match):
    X, y = _data(), _labels(_data())
    before = y.copy()
    with pytest.raises(error, match=match):
        call(models, X, y)
    np.testing.assert_array_equal(y, before)


def test_non_contiguous_targets_give_the_contiguous_result():
    X = _data()
    Y = np.c_[_targets(X), 1 - _targets(X)]
    reference = MLPRegressor((3,), max_iter=2, random_state=0).fit(X, Y).coefs_[1]
    for variant in (np.asfortranarray(Y), np.repeat(Y, 2, axis=1)[:, ::2]):
        fitted = MLPRegressor((3,), max_iter=2, random_state=0).fit(X, variant)
        np.testing.assert_array_equal(fitted.coefs_[1], reference)
    strided_labels = np.repeat(_labels(X), 2)[::2]
    reference = MLPClassifier((3,), max_iter=2, random_state=0).fit(X, _labels(X)).coefs_[1]
    fitted = MLPClassifier((3,), max_iter=2, random_state=0).fit(X, strided_labels)
    np.testing.assert_array_equal(fitted.coefs_[1], reference)


# ----------------------------------------------------------------------------- hyperparameters
class Spec(NamedTuple):
    """A numeric hyperparameter: integer or real, and the bounds of its valid range."""

    name: str
    integer: bool
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True


def _int(name, low):
    return Spec(name, True, low)


def _pos(name, strict=False):
    return Spec(name, False, 0, None, not strict)


def _unit(name, low_inclusive=True, high_inclusive=False):
    return Spec(name, False, 0, 1, low_inclusive, high_inclusive)


RBM_SPECS = [
    _int("n_components", 1), _pos("learning_rate", strict=True), _int("batch_size", 1),
    _int("n_iter", 1), _int("k", 1), _int("n_chains", 1), _unit("momentum"),
    _unit("final_momentum"), _int("momentum_switch_epoch", 0), _pos("weight_decay"),
    _unit("sparsity_target", low_inclusive=False), _pos("sparsity_cost"),
    _unit("sparsity_damping"), _unit("learning_rate_decay", False, True), _pos("init_std"),
    _int("monitor_size", 0),
]  # fmt: skip
OPTIMISER_SPECS = [
    _pos("alpha"), _int("batch_size", 1), _pos("learning_rate_init", strict=True),
    _unit("lr_decay", False, True), _int("lr_step_size", 1), _int("max_iter", 1),
    _unit("momentum", high_inclusive=True), _unit("beta_1"), _unit("beta_2"),
    _pos("epsilon", strict=True), _unit("validation_fraction", low_inclusive=False),
    _int("n_iter_no_change", 1), _pos("tol"), _int("cg_batch_size", 1),
    _int("cg_max_line_searches", 1),
]  # fmt: skip
MLP_SPECS = [*OPTIMISER_SPECS, _unit("dropout_input"), _unit("dropout_hidden")]
MLP_SPECS.append(_int("cg_top_layer_epochs", 0))
FANS = [_int("fan_in", 1), _int("fan_out", 1)]


def _invalid(spec):
    """Strategy of ``(value, expected error)`` with values outside ``spec``."""
    wrong_type = st.sampled_from(["1", True, [1], 1j, b"1", None])
    if spec.integer:  # any float is the wrong type for an integer, even 2.0 or inf
        wrong_type = st.one_of(wrong_type, st.floats())
    options = [wrong_type.map(lambda v: (v, TypeError))]
    if not spec.integer:
        options.append(
            st.sampled_from([math.nan, math.inf, -math.inf]).map(lambda v: (v, ValueError))
        )
    if spec.low is not None:
        below = (
            st.integers(max_value=spec.low - 1)
            if spec.integer
            else st.floats(max_value=spec.low, exclude_max=spec.low_inclusive, allow_infinity=False)
        )
        options.append(below.map(lambda v: (v, ValueError)))
    if spec.high is not None:
        above = (
            st.integers(min_value=spec.high + 1)
            if spec.integer
            else st.floats(
                min_value=spec.high, exclude_min=spec.high_inclusive, allow_infinity=False
            )
        )
        options.append(above.map(lambda v: (v, ValueError)))
    return st.one_of(options)


def _fit(cls, with_labels=False):
    X = _data()
    if with_labels:
        return lambda **kw: cls(**kw).fit(X, _labels(X))
    return lambda **kw: getattr(cls(**kw), "pretrain" if cls is DBN else "fit")(X)


def _initialiser(function):
    return lambda **kw: function(**{"fan_in": 2, "fan_out": 2, **kw})


def _with_rbm(function, **fixed):
    return lambda **kw: function(_TINY_RBM, **fixed, **kw)


SAMPLING = [_int("n_samples", 1), _int("n_steps", 1)]

# fmt: off
HYPERPARAMETERS = {
    "BernoulliRBM": (_fit(BernoulliRBM), RBM_SPECS),
    "GaussianBernoulliRBM": (_fit(GaussianBernoulliRBM), RBM_SPECS[:6]),
    "DBN": (_fit(DBN), [s for s in RBM_SPECS if s.name in DBN._get_param_names()]),
    "MLPClassifier": (_fit(MLPClassifier, True), MLP_SPECS),
    "MLPRegressor": (_fit(MLPRegressor, True), MLP_SPECS[:6]),
    "DeepAutoencoder": (_fit(DeepAutoencoder), OPTIMISER_SPECS),
    "BernoulliRBM.sample": (_TINY_RBM.sample, SAMPLING),
    "DBN.sample": (_TINY_DBN.sample, SAMPLING),
    "init.normal": (_initialiser(init.normal), [*FANS, _pos("std")]),
    "init.uniform": (_initialiser(init.uniform), [*FANS, _pos("limit")]),
    "init.orthogonal": (_initialiser(init.orthogonal), [*FANS, _pos("gain", strict=True)]),
    "init.lsuv_init": (lambda **kw: init.lsuv_init([D, 2], _data(), **kw), [_pos("tol", True), _int("max_iter", 1)]),
    "evaluation.exact_log_partition": (
        _with_rbm(evaluation.exact_log_partition),
        [Spec("max_units", True, 0, 62), _int("chunk_size", 1)],
    ),
    "evaluation.ais_log_partition": (_with_rbm(evaluation.ais_log_partition, n_betas=3), [_int("n_runs", 1)]),
    "evaluation.annealing_schedule": (evaluation.annealing_schedule, [_int("n_betas", 2)]),
}
# fmt: on


@FAST
@pytest.mark.parametrize("target", sorted(HYPERPARAMETERS))
@given(data=st.data())
def test_invalid_hyperparameter_is_named_with_the_value_received(target, data):
    call, specs = HYPERPARAMETERS[target]
    spec = data.draw(st.sampled_from(specs), label="parameter")
    value, error = data.draw(_invalid(spec), label="value")
    if value is None and spec.name in ("n_chains", "sparsity_target", "chunk_size"):
        return  # None is the documented default of these
    with pytest.raises(error) as info:
        call(**{spec.name: value})
    message = str(info.value)
    assert spec.name in message and repr(value) in message, message
    if error is ValueError and math.isfinite(value):
        assert re.search(r"must be in [\[(].*, .*[\])]", message), message  # the valid range


# fmt: off
FLAGS = [
    (lambda v: BernoulliRBM(persistent=v).fit(_data()), "persistent"),
    (lambda v: GaussianBernoulliRBM(learn_variance=v).fit(_data()), "learn_variance"),
    (lambda v: MLPClassifier(nesterovs_momentum=v).fit(_data(), _labels(_data())), "nesterovs_momentum"),
    (lambda v: DeepAutoencoder(early_stopping=v).fit(_data()), "early_stopping"),
    (lambda v: DBN([3], verbose=v).pretrain(_data()), "verbose"),
    (lambda v: evaluation.log_likelihood(_TINY_RBM, _data(), 0.0, return_bounds=v), "return_bounds"),
    (lambda v: datasets.load_mnist(download=v), "download"),
    (lambda v: datasets.load_mnist(as_float=v, download=False), "as_float"),
]
# fmt: on


@pytest.mark.parametrize(("make", "name"), FLAGS)
@pytest.mark.parametrize("value", ["yes", [True], 0.5], ids=repr)
def test_flag_of_the_wrong_type_is_refused(make, name, value):
    with pytest.raises(TypeError, match=rf"{name} must be .*{re.escape(repr(value))}"):
        make(value)


# fmt: off
CHOICES = {
    "BernoulliRBM": (_fit(BernoulliRBM), ["learning_rate_schedule", "positive_hidden", "hidden_unit"]),
    "DBN": (_fit(DBN), ["visible_unit", "top_hidden_unit"]),
    "MLPClassifier": (_fit(MLPClassifier, True), ["activation", "solver", "learning_rate_schedule", "init"]),
    "DeepAutoencoder": (_fit(DeepAutoencoder), ["code_activation", "output_activation", "loss", "solver"]),
    "init.gain": (init.gain, ["activation"]),
    "DBN.to_mlp": (_TINY_DBN.to_mlp, ["task"]),
}
# fmt: on


@pytest.mark.parametrize(("target", "name"), [(t, n) for t, (_, ns) in CHOICES.items() for n in ns])
@pytest.mark.parametrize(
    "value",
    ["nonsense", "", None, 3, ["relu"], np.array(["sigmoid"]), np.array(["relu", "tanh"])],
    ids=["nonsense", "empty", "None", "int", "list", "array-of-one", "array"],
)
def test_unknown_choice_lists_the_valid_ones(target, name, value):
    call, _ = CHOICES[target]
    with pytest.raises(
        ValueError, match=rf"{name} must be .*one of .*got {re.escape(repr(value))}"
    ):
        call(**{name: value})


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (DBN, "hidden_layer_sizes must name at least one layer"),
        (DeepAutoencoder, "at least the code layer"),
    ],
)
def test_empty_layer_sizes_are_refused_where_a_layer_is_needed(make, match):
    with pytest.raises(ValueError, match=rf"{match}, got an empty sequence"):
        _fit(make)(**{"layer_sizes" if make is DeepAutoencoder else "hidden_layer_sizes": []})


def test_empty_hidden_layer_sizes_give_a_linear_model():
    X = _data()
    clf = MLPClassifier([], max_iter=2, random_state=0).fit(X, _labels(X))
    reg = MLPRegressor((), max_iter=2, random_state=0).fit(X, _targets(X))
    assert [W.shape for W in clf.coefs_] == [(D, 2)]
    assert reg.predict(X).shape == (len(X),)


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor, DBN, DeepAutoencoder])
@pytest.mark.parametrize(
    ("sizes", "error", "match"),
    [
        ((4, 0), ValueError, "positive integers, got (4, 0)"),
        ((-1,), ValueError, "positive integers, got (-1,)"),
        ((2.5,), ValueError, "positive integers, got (2.5,)"),
        ("3", ValueError, "positive integers, got '3'"),
        (None, TypeError, "got None"),
        (True, TypeError, "got True"),
    ],
)
def test_bad_layer_sizes_name_the_value(make, sizes, error, match):
    fit = _fit(make, with_labels=make in (MLPClassifier, MLPRegressor))
    with pytest.raises(error, match=rf"layer_sizes must .*{re.escape(match)}"):
        fit(**{"layer_sizes" if make is DeepAutoencoder else "hidden_layer_sizes": sizes})


# ----------------------------------------------------------------------------- files
@pytest.mark.parametrize("key", ["rbm", "grbm", "dbn", "ae"])
@pytest.mark.parametrize(
    ("path", "error", "match"),
    [
        (None, TypeError, "path must be a str or os.PathLike .*got None"),
        (123, TypeError, r"path must be a str or os.PathLike .*got 123 \(int\)"),
        (
            "model.pkl",
            ValueError,
            r"path must end in '\.safetensors' \(or '\.npz'.*got '.*model\.pkl'",
        ),
        ("missing/model.npz", FileNotFoundError, "the folder '.*missing' does not exist"),
    ],
)
def test_save_to_a_bad_path(models, tmp_path, key, path, error, match):
    with pytest.raises(error, match=match):
        models[key].save(tmp_path / path if isinstance(path, str) else path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM, DBN, DeepAutoencoder])
@pytest.mark.parametrize(
    ("path", "error", "match"),
    [
        (None, TypeError, "path must be a str or os.PathLike .*got None"),
        (b"model.npz", TypeError, r"path must be a str or os.PathLike .*\(bytes\)"),
        ("", IsADirectoryError, "is a folder, not a file"),
        ("missing.npz", FileNotFoundError, "model file '.*missing.npz' does not exist"),
    ],
)
def test_load_from_a_bad_path(tmp_path, cls, path, error, match):
    with pytest.raises(error, match=match):
        cls.load(tmp_path / path if isinstance(path, str) else path)


# fmt: off
BAD_LOADER_ARGUMENTS = [
    ({"split": ["train"]}, ValueError, r"split must be one of .*got \['train'\]"),
    ({"data_home": 7}, TypeError, "data_home must be a str or os.PathLike, got 7"),
    ({"timeout": 0}, ValueError, "timeout must be a positive, finite number of seconds, got 0"),
    ({"timeout": math.nan}, ValueError, "timeout must be a positive, finite .*got nan"),
    ({"timeout": "30"}, TypeError, "timeout must be a number of seconds, got '30'"),
    ({"return_X_y": None}, TypeError, "return_X_y must be True or False, got None"),
    ({"verbose": "no"}, TypeError, "verbose must be True, False or None, got 'no'"),
    ({"mirrors": 5}, TypeError, "mirrors must be a list of URL prefixes .*got 5"),
    ({"mirrors": [None]}, TypeError, r"mirrors must be a list of URL prefixes .*got \[None\]"),
]
# fmt: on


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_LOADER_ARGUMENTS)
@pytest.mark.parametrize("loader", [datasets.load_mnist, datasets.load_fashion_mnist])
def test_loaders_check_arguments_before_any_download(tmp_path, loader, kwargs, error, match):
    with pytest.raises(error, match=match):
        loader(**{"data_home": tmp_path, **kwargs})
    assert list(tmp_path.iterdir()) == []  # nothing created, nothing fetched


@pytest.mark.parametrize(("path", "match"), [(None, "got None"), (3, r"got 3 \(int\)")])
def test_load_idx_names_a_bad_path(path, match):
    with pytest.raises(TypeError, match=f"path must be a str or os.PathLike, {match}"):
        datasets.load_idx(path)


# ----------------------------------------------------------------------------- init, evaluation
@pytest.mark.parametrize("name", sorted(init.INITIALIZERS))
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"dtype": "nonsense"},
            TypeError,
            "dtype must be numpy.float32 or numpy.float64, got 'nonsense'",
        ),
        ({"dtype": None}, TypeError, "dtype must be numpy.float32 or numpy.float64, got None"),
        ({"dtype": np.int32}, ValueError, "dtype must be float32 or float64, got int32"),
        ({"dtype": np.complex64}, ValueError, "dtype must be float32 or float64, got complex64"),
        (
            {"random_state": "seed"},
            TypeError,
            "random_state must be None, an int or a numpy Generator, got 'seed'",
        ),
    ],
)
def test_initialisers_check_dtype_and_random_state(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        init.INITIALIZERS[name](3, 2, **kwargs)


# fmt: off
BAD_LSUV_ARGUMENTS = [
    ({"layer_sizes": 6}, TypeError, "layer_sizes must be a sequence of positive ints"),
    ({"layer_sizes": "62"}, TypeError, "layer_sizes must be a sequence of positive ints"),
    ({"layer_sizes": [6]}, ValueError, r"layer_sizes must hold at least 2 positive ints, got \[6\]"),
    ({"layer_sizes": [6, 2.5]}, ValueError, r"positive ints, got \[6, 2.5\]"),
    ({"layer_sizes": [6, True]}, ValueError, r"positive ints, got \[6, True\]"),
    ({"layer_sizes": [6, "2"]}, ValueError, r"positive ints, got \[6, '2'\]"),
    ({"layer_sizes": [5, 2]}, ValueError, r"X has 6 features, but layer_sizes\[0\] is 5"),
    ({"coefs": [None, None]}, ValueError, r"coefs must have one entry per layer \(1 for"),
    ({"coefs": np.ones((6, 2))}, TypeError, "coefs must be a list with one entry .*per layer"),
    ({"coefs": [np.ones((5, 2))]}, ValueError, r"coefs\[0\] must have shape \(6, 2\), got \(5, 2\)"),
    ({"coefs": [np.full((6, 2), np.nan)]}, ValueError, r"coefs\[0\] must contain only finite values"),
    ({"intercepts": [np.ones(3)]}, ValueError, r"intercepts\[0\] must have shape \(2,\), got \(3,\)"),
    ({"activation": "softplus"}, ValueError, "activation must be one of .*got 'softplus'"),
]
# fmt: on


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_LSUV_ARGUMENTS)
def test_lsuv_init_checks_its_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        init.lsuv_init(**{"layer_sizes": [D, 2], "X": _data(), **kwargs})


def test_lsuv_init_leaves_given_layers_alone():
    W, b = np.full((D, 2), 0.5), np.ones(2)
    init.lsuv_init([D, 2, 2], _data(), coefs=[W, None], intercepts=[b, None])
    np.testing.assert_array_equal(W, np.full((D, 2), 0.5))
    np.testing.assert_array_equal(b, np.ones(2))


# fmt: off
BAD_AIS_ARGUMENTS = [
    ({"base_rate": np.full(D, np.nan)}, ValueError, "base_rate must contain only finite values, got 6 NaN"),
    ({"base_rate": ["0.5"] * D}, TypeError, "base_rate must have a real numeric dtype .*string"),
    ({"base_rate": np.full(D, 0.5 + 0j)}, TypeError, "base_rate must have a real numeric dtype .*complex"),
    ({"base_rate": np.ones(D, bool)}, TypeError, "base_rate must have a real numeric dtype .*boolean"),
    ({"base_rate": sp.csr_matrix(np.full((1, D), 0.5))}, TypeError, "base_rate must be a dense array"),
    ({"base_rate": np.full((1, D), 0.5)}, ValueError, r"base_rate must be an array of shape \(6,\), got shape \(1, 6\)"),
    ({"base_rate": 0.5}, ValueError, r"base_rate must be an array of shape \(6,\), got shape \(\)"),
    ({"n_betas": np.array(["0", "1"])}, TypeError, "n_betas must have a real numeric dtype .*string"),
    ({"n_betas": [0, 0.5 + 0j, 1]}, TypeError, "n_betas must have a real numeric dtype .*complex"),
    ({"n_betas": [0.0, None, 1.0]}, TypeError, "n_betas must have a real numeric dtype .*object"),
    ({"n_betas": [0.0, np.nan, 1.0]}, ValueError, "n_betas as an array must be .* finite values"),
    ({"n_betas": []}, ValueError, "n_betas as an array must be .*at least 2"),
]
# fmt: on


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_AIS_ARGUMENTS)
def test_ais_checks_base_rate_and_schedule(kwargs, error, match):
    before = {key: _snapshot(value) for key, value in kwargs.items()}
    with pytest.raises(error, match=match):
        evaluation.ais_log_partition(_TINY_RBM, **{"n_betas": 3, "n_runs": 2, **kwargs})
    for key, value in kwargs.items():
        _assert_unchanged(value, before[key])


# fmt: off
BAD_LOG_LIKELIHOOD_ARGUMENTS = [
    (None, 0.0, TypeError, "rbm must be a fitted BernoulliRBM or GaussianBernoulliRBM, got NoneType"),
    ("model", 0.0, TypeError, "rbm must be a fitted .*got str"),
    (BernoulliRBM(3), 0.0, ValueError, "not fitted yet"),
    (_TINY_RBM, np.array([1.0]), TypeError, "log_z must be a float or an AISResult, got ndarray"),
    (_TINY_RBM, -math.inf, ValueError, "log_z must be finite, got -inf"),
]
# fmt: on


@pytest.mark.parametrize(("rbm", "log_z", "error", "match"), BAD_LOG_LIKELIHOOD_ARGUMENTS)
def test_log_likelihood_checks_the_model_and_log_z(rbm, log_z, error, match):
    with pytest.raises(error, match=match):
        evaluation.log_likelihood(rbm, _data(), log_z)


# ----------------------------------------------------------------------------- DBN arguments
# fmt: off
BAD_DBN_ARGUMENTS = [
    ({"layer_params": 5}, {}, TypeError, r"layer_params must be None, a list .*got 5 \(int\)"),
    ({"layer_params": "abc"}, {}, TypeError, "layer_params must be None, a list .*got 'abc'"),
    ({"layer_params": [1]}, {}, TypeError, r"layer_params\[0\] must be a dict .*got 1 \(int\)"),
    ({"layer_params": {True: {}}}, {}, ValueError, r"layer_params keys must be layer indices .*\[True\]"),
    ({"layer_params": {0: {"k": 0}}}, {}, ValueError, r"k must be in \[1, inf\], got 0"),
    ({"random_state": -1}, {}, ValueError, "random_state must be a non-negative integer, got -1"),
    ({"random_state": 2.5}, {}, TypeError, "random_state of a DBN must be None or an int, got 2.5"),
    ({}, {"callbacks": 1}, TypeError, "callbacks must be a callable, a dbn.Callback, or a list of them; got 1"),
    ({}, {"checkpoint_dir": 3}, TypeError, r"checkpoint_dir must be a str or os.PathLike .*got 3 \(int\)"),
    ({}, {"X_val": np.full((2, D), 0.5 + 0j)}, ValueError, "Complex data not supported"),
]
# fmt: on


@pytest.mark.parametrize(("params", "kwargs", "error", "match"), BAD_DBN_ARGUMENTS)
def test_dbn_checks_its_arguments(params, kwargs, error, match):
    with pytest.raises(error, match=match):
        DBN([3], batch_size=4, n_iter=1, **params).pretrain(_data(), **kwargs)


@pytest.mark.parametrize("key", ["hidden_layer_sizes", "pretrained_layers"])
def test_to_mlp_refuses_the_parameters_it_sets(key):
    with pytest.raises(TypeError, match=rf"to_mlp\(\) sets {key} from the DBN's layers"):
        _TINY_DBN.to_mlp(**{key: (5,)})


def test_to_mlp_dtype_can_be_overridden():
    mlp = _TINY_DBN.to_mlp(dtype=np.float32, max_iter=1).fit(_data(), _labels(_data()))
    assert mlp.coefs_[0].dtype == np.float32


# ----------------------------------------------------------------- checks that were once missing


def test_refit_on_wider_data_with_X_val():
    rbm = BernoulliRBM(3, batch_size=4, n_iter=1, random_state=0).fit(_data())
    wide = np.hstack([_data(), _data()])
    rbm.fit(wide, X_val=wide[:4])  # a refit checks X_val against the new X
    assert rbm.n_features_in_ == 2 * D


def test_rbm_partial_fit_casts_to_the_model_dtype_like_transform():
    rbm = BernoulliRBM(3, batch_size=4, random_state=0).partial_fit(_data().astype(np.float32))
    rbm.partial_fit(_data())  # float64 input is cast to the model's float32
    rbm.partial_fit(_data().astype(int).tolist())
    assert rbm.components_.dtype == np.float32


# fmt: off
RBM_UNCHECKED = [
    ({}, {"callbacks": [1]}, TypeError, r"callbacks must be a callable, .*got \[1\]"),
    ({}, {"callbacks": 1}, TypeError, "callbacks must be a callable, .*got 1"),
    ({"verbose": "yes"}, {}, TypeError, "verbose must be an int.*got 'yes'"),
    ({"shuffle": "no"}, {}, TypeError, "shuffle must be True or False, got 'no'"),
    ({"sample_visible": "no"}, {}, TypeError, "sample_visible must be True or False, got 'no'"),
    ({"learning_rate_schedule": lambda e: -1.0}, {}, ValueError, r"learning_rate_schedule\(0\) .*got -1.0"),
    ({"learning_rate_schedule": lambda e: math.nan}, {}, ValueError, r"learning_rate_schedule\(0\) .*got nan"),
]
# fmt: on


@pytest.mark.parametrize(("params", "kwargs", "error", "match"), RBM_UNCHECKED)
def test_rbm_checks_every_argument_before_training(params, kwargs, error, match):
    with pytest.raises(error, match=match):
        BernoulliRBM(3, batch_size=4, n_iter=1, **params).fit(_data(), **kwargs)


# fmt: off
MLP_SCORE_UNCHECKED = [
    ("clf", _labels(_data())[:-1], {}, "y has 11 samples but X has 12"),
    ("clf", _labels(_data())[:1], {}, "y has 1 samples but X has 12"),
    ("clf", _labels(_data()), {"sample_weight": np.ones(3)}, "sample_weight has 3 samples but X has 12"),
    ("reg", _targets(_data())[:-1], {}, "y has 11 samples but X has 12"),
    ("reg", np.full(12, np.nan), {}, "y must contain only finite values"),
    ("reg", _targets(_data()), {"sample_weight": np.ones(3)}, "sample_weight has 3 samples but X has 12"),
]
# fmt: on


@pytest.mark.parametrize(("key", "y", "kwargs", "match"), MLP_SCORE_UNCHECKED)
def test_mlp_score_checks_y_and_sample_weight(models, key, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        models[key].score(_data(), y, **kwargs)


# fmt: off
MLP_LABELS_UNCHECKED = [
    (lambda y: _clf().fit(_data(), np.array([None, 1] * 6, dtype=object)), TypeError, "y must .*got"),
    (lambda y: _clf().fit(_data(), np.array(["a", 1] * 6, dtype=object)), TypeError, "y must .*got"),
    (lambda y: _clf().fit(_data(), y + 0j), TypeError, "y must .*complex"),
    (lambda y: _clf().partial_fit(_data(), y, classes=[0, 1, np.nan]), ValueError, "classes must .*finite"),
    (lambda y: _reg().fit(_data(), np.zeros((12, 0))), ValueError, r"y must have at least 1 .*\(12, 0\)"),
]
# fmt: on


@pytest.mark.parametrize(("make", "error", "match"), MLP_LABELS_UNCHECKED)
def test_mlp_labels_are_checked(make, error, match):
    with pytest.raises(error, match=match):
        make(_labels(_data()))


@pytest.mark.parametrize(
    "make",
    [
        lambda: _clf().fit(_data(), _labels(_data()), callbacks=1),
        lambda: DeepAutoencoder((3,), max_iter=1).fit(_data(), callbacks=1),
    ],
    ids=["MLPClassifier", "DeepAutoencoder"],
)
def test_callbacks_that_are_neither_callable_nor_a_list(make):
    with pytest.raises(
        TypeError, match="callbacks must be a callable, a dbn.Callback, or a list of them; got 1"
    ):
        make()


@pytest.mark.parametrize("value", ["1", "Auto", ""])
def test_dbn_n_iter_string_other_than_auto_is_the_wrong_type(value):
    # A string is the wrong type for an epoch count, as for every integer hyperparameter; only
    # the word "auto" is a value. Found by the property test above drawing "1".
    with pytest.raises(TypeError, match=rf"n_iter must be a positive int or 'auto', got {value!r}"):
        DBN([3], n_iter=value).pretrain(_data())


def _unscaled(n=60):
    """Standard normal features, one of them on a raw scale (std 500, as a price column)."""
    X = np.random.default_rng(0).normal(size=(n, D))
    X[:, 3] *= 500.0
    return X


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_gaussian_visible_units_warn_once_on_unscaled_features_and_name_the_remedy():
    """Gaussian visible units of fixed unit variance warn when fit starts on features far off unit
    scale (naming the feature, StandardScaler and the learnt-variance option); standardised data,
    learnt variances and Bernoulli units do not warn; the data are not changed."""
    X = _unscaled()
    original = X.copy()
    with pytest.warns(
        DataRangeWarning, match=r"1 of the 6 features of X has .* \(feature 3: "
    ) as w:
        try:
            GaussianBernoulliRBM(4, n_iter=1, random_state=0).fit(X)
        except Exception:  # an unscaled fit may diverge: the warning came first
            pass
    scale_warnings = [x for x in w if "Standardise X first" in str(x.message)]
    assert len(scale_warnings) == 1 and "learn_variance=True" in str(scale_warnings[0].message)
    np.testing.assert_array_equal(X, original)
    with pytest.warns(DataRangeWarning, match=r"layer_params=\{0: \{'learn_variance': True\}\}"):
        try:
            DBN([4], visible_unit="gaussian", n_iter=1, random_state=0).pretrain(X)
        except Exception:
            pass
    standardised = (X - X.mean(axis=0)) / X.std(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataRangeWarning)
        GaussianBernoulliRBM(4, n_iter=1, random_state=0).fit(standardised)
        DBN([4], visible_unit="gaussian", n_iter=1, random_state=0).pretrain(standardised)
        # Learnt variances take the scale into the model.
        GaussianBernoulliRBM(
            4,
            n_iter=1,
            learn_variance=True,
            sample_visible=True,
            learning_rate=1e-6,
            random_state=0,
        ).fit(X)
        # transform of a fitted model does not re-check the scale
        GaussianBernoulliRBM(4, n_iter=1, random_state=0).fit(standardised).transform(X)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_dbns_default_learnt_sigma_still_warns_on_unscaled_features():
    # The DBN's Gaussian layer learns sigma by default, from 1 at a slow rate: it cannot reach
    # a scale of 500, so the warning stays, and it says that the default already learns sigma.
    # A sigma the user asks to learn (layer_params) is trusted, as for GaussianBernoulliRBM.
    X = _unscaled()
    with pytest.warns(DataRangeWarning, match="learns them by default, but from sigma = 1"):
        try:
            DBN([4], visible_unit="gaussian", n_iter=1, random_state=0).pretrain(X)
        except Exception:  # an unscaled fit may diverge: the warning came first
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataRangeWarning)
        DBN(
            [4],
            visible_unit="gaussian",
            n_iter=1,
            random_state=0,
            layer_params={0: {"learn_variance": True, "learning_rate": 1e-6}},
        ).pretrain(X)


def test_the_scale_check_reads_sparse_input_as_dense():
    from dbn._validation import warn_if_not_standardised

    X = _unscaled()
    X[np.abs(X) < 0.5] = 0.0
    for data in (X, sp.csr_matrix(X)):
        with pytest.warns(DataRangeWarning, match=r"feature 3: "):
            warn_if_not_standardised(GaussianBernoulliRBM(), data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataRangeWarning)
        warn_if_not_standardised(GaussianBernoulliRBM(), sp.csr_matrix(X[:, :3]))


def test_feature_std_sums_row_blocks_to_numpys_std_dense_and_sparse():
    from dbn._validation import feature_std

    X = np.random.default_rng(1).normal(3.0, 5.0, size=(1001, 4)).astype(np.float32)
    X[X < 0] = 0.0
    expected = X.astype(np.float64).std(axis=0)
    np.testing.assert_allclose(feature_std(X, block_rows=100), expected, rtol=1e-10)
    np.testing.assert_allclose(feature_std(sp.csr_matrix(X)), expected, rtol=1e-6)
