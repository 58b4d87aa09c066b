"""scikit-learn's own MLP tests, run on dbn's MLPClassifier and MLPRegressor.

The file ``sklearn/neural_network/tests/test_mlp.py`` of the installed scikit-learn is read, its one
import of ``MLPClassifier, MLPRegressor`` is pointed at :mod:`dbn.mlp`, and its test functions are
collected here, so that every test sklearn runs on its own MLPs runs on dbn's. The tests listed in
``EXEMPT`` check sklearn's internals (private attributes, its random streams, its initialisation),
which dbn does not share: each is an expected failure with its reason, strict, so that one that
starts passing is taken off the list.
"""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import numpy as np
import pytest

SKLEARN_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
DBN_IMPORT = "from dbn.mlp import MLPClassifier, MLPRegressor"

# Tests of scikit-learn's internals, which dbn does not share: name -> why, in one line.
EXEMPT = {
    "test_fit": (
        "sets sklearn's private training state by hand (_coef_grads, velocities) for a one-unit "
        "logistic output of two classes; dbn's binary net is a two-unit softmax"
    ),
    "test_gradient": "calls sklearn's private _loss_grad_lbfgs (dbn's gradients: tests/test_mlp.py)",
    "test_early_stopping_stratified": (
        "expects the class named 'True', an artifact of sklearn's LabelBinarizer; dbn's message "
        "names the user's label, 1"
    ),
    "test_nonfinite_params": (
        "dbn computes in float32 by default: X beyond float32's range is refused before "
        "training, by a ValueError that says so, not as non-finite weights after it"
    ),
    "test_lbfgs_regression_maxfun": (
        "from dbn's initialisation the linear (identity) net converges (scipy status 0) within "
        "max_fun=10 evaluations, so no ConvergenceWarning is due; sklearn's init needs more"
    ),
}
# The same, for some parameters of a parametrized test: (name, argument, value) -> why.
EXEMPT_PARAMS = {
    ("test_mlp_param_dtypes", "dtype", np.float64): (
        "dbn computes in its dtype parameter (float32 by default, dtype=np.float64 on request), "
        "not in the input's dtype; predictions do follow the input's dtype"
    ),
}


def _load_sklearn_tests():
    spec = importlib.util.find_spec("sklearn.neural_network.tests.test_mlp")
    if spec is None or spec.origin is None:
        pytest.skip("scikit-learn's test_mlp.py is not installed", allow_module_level=True)
    source = Path(spec.origin).read_text()
    if source.count(SKLEARN_IMPORT) != 1:
        raise RuntimeError(
            f"{spec.origin} no longer imports the MLPs as {SKLEARN_IMPORT!r}; update this loader."
        )
    module = types.ModuleType("sklearn_test_mlp_on_dbn")
    module.__file__ = spec.origin
    code = compile(source.replace(SKLEARN_IMPORT, DBN_IMPORT), spec.origin, "exec")
    exec(code, module.__dict__)
    return module


def _exempt_parameter(function, argname, value, reason):
    """Mark one value of ``function``'s parametrize over ``argname`` as an expected failure."""
    marks = []
    for mark in function.pytestmark:
        if mark.name == "parametrize" and mark.args[0] == argname:
            values = [
                pytest.param(v, marks=pytest.mark.xfail(reason=reason, strict=True))
                if v is value
                else v
                for v in mark.args[1]
            ]
            mark = pytest.mark.parametrize(argname, values, **mark.kwargs).mark
        marks.append(mark)
    function.pytestmark = marks


_SKLEARN = _load_sklearn_tests()
SKLEARN_TESTS = sorted(name for name in vars(_SKLEARN) if name.startswith("test_"))
for _name, _reason in EXEMPT.items():
    pytest.mark.xfail(reason=_reason, strict=True)(getattr(_SKLEARN, _name))
for (_name, _argname, _value), _reason in EXEMPT_PARAMS.items():
    _exempt_parameter(getattr(_SKLEARN, _name), _argname, _value, _reason)
globals().update({name: getattr(_SKLEARN, name) for name in SKLEARN_TESTS})


@pytest.fixture
def global_random_seed():
    """sklearn's conftest fixture, at its default seed."""
    return 42


def test_the_tests_are_sklearns_and_run_on_dbn():
    import dbn.mlp

    assert len(SKLEARN_TESTS) > 30
    assert _SKLEARN.MLPClassifier is dbn.mlp.MLPClassifier
    assert _SKLEARN.MLPRegressor is dbn.mlp.MLPRegressor
    assert set(EXEMPT) <= set(SKLEARN_TESTS)
    assert {name for name, _, _ in EXEMPT_PARAMS} <= set(SKLEARN_TESTS)


# Checks that compare two float32 computations at rtol=1e-7: they pass or fail by float32 rounding
# (they pass with dtype=np.float64; tests/test_sklearn.py lists them per configuration).
FLOAT32_ROUNDING_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
    "check_methods_subset_invariance",
}


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_check_estimator_at_the_defaults(name):
    """sklearn's whole estimator check on the MLPs as shipped: at most float32 rounding fails
    (check_regressors_train, which needs R² > 0.5 from the default fit, is among those passing)."""
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    import dbn.mlp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(getattr(dbn.mlp, name)(), on_fail=None)
    failed = {r["check_name"] for r in results if r["status"] == "failed"}
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert failed <= FLOAT32_ROUNDING_CHECKS
    fits = "check_regressors_train" if name == "MLPRegressor" else "check_classifiers_train"
    assert fits in passed
