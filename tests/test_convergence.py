"""Training that cannot fail silently: ConvergenceWarning for fine-tuning and for RBM collapse.

The stuck and healthy cases are small versions of measured ones (see
:mod:`dbn._training.convergence` for the measurements behind the thresholds). Every estimator gets
its parameters explicitly, so that a change of defaults does not change what is tested.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning

from dbn import (
    DBN,
    BernoulliRBM,
    DeepAutoencoder,
    GaussianBernoulliRBM,
    MLPClassifier,
    MLPRegressor,
)
from dbn._training.convergence import (
    BACKPROP_HIGH_LOSS,
    EARLY_STOP_STILL_LEARNING,
    RBM_WEIGHT_LIMIT,
    backprop_convergence_message,
    constant_prediction_loss,
    rbm_collapse_signs,
)

# The settings of the known collapse, on the digits: minibatches of 10 at momentum 0.9 and a
# learning rate of 0.2 saturate every hidden unit of a 200-unit RBM on the flipped digits (mostly
# ones) within the first epoch; on the digits as they are, or centred, it learns.
# init_std=0.01: the RBM's default and, until the ninth panel round, the DBN's; from weights at
# Glorot & Bengio's scale (the DBN's default since) this recipe did not collapse on these data.
COLLAPSE = dict(
    batch_size=10,
    momentum=0.9,
    final_momentum=0.9,
    learning_rate=0.2,
    n_iter=2,
    k=1,
    init_std=0.01,
)


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return (data.data / 16).astype(np.float32), data.target


@pytest.fixture(scope="module")
def binary_digits():
    return (load_digits().data > 8).astype(np.float64)


def _convergence_messages(fit):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit()
    return [str(w.message) for w in record if issubclass(w.category, ConvergenceWarning)]


# ------------------------------------------------------------------------------ fine-tuning


def _sgd(**params):
    base = dict(
        hidden_layer_sizes=(32,),
        solver="sgd",
        learning_rate_init=0.1,
        momentum=0.9,
        nesterovs_momentum=True,
        batch_size="auto",
        alpha=1e-4,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        random_state=0,
    )
    return MLPClassifier(**{**base, **params})


def test_sgd_stopped_by_max_iter_warns_with_the_remedy(digits):
    X, y = digits
    clf = _sgd(max_iter=5)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(5\) reached") as record:
        clf.fit(X[:500], y[:500])
    message = str(record[0].message)
    assert message.startswith("MLPClassifier:")
    assert f"training loss {clf.loss_curve_[-1]:.4g}" in message
    assert "increase max_iter" in message and "solver='adam'" in message
    assert "learning_rate_init (now 0.1)" in message
    assert record[0].filename == __file__


def test_sgd_whose_loss_oscillates_above_chance_warns_that_it_has_not_learnt(digits):
    X, y = digits
    # A learning rate of 10 throws the loss far above chance; the n_iter_no_change rule then stops.
    clf = _sgd(learning_rate_init=10.0, max_iter=200)
    messages = _convergence_messages(lambda: clf.fit(X[:500], y[:500]))
    assert clf.n_iter_ < clf.max_iter
    assert len(messages) == 1
    assert "training stopped after" in messages[0] and "has not learnt" in messages[0]
    assert "class frequencies" in messages[0] and "learning_rate_init (now 10)" in messages[0]


def test_healthy_fit_that_converges_does_not_warn(digits):
    X, y = digits
    clf = MLPClassifier(
        (32,),
        solver="adam",
        learning_rate_init=0.01,
        alpha=1e-4,
        batch_size="auto",
        max_iter=300,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        random_state=0,
    )
    assert _convergence_messages(lambda: clf.fit(X[:500], y[:500])) == []
    assert clf.n_iter_ < clf.max_iter  # stopped by the n_iter_no_change rule
    assert clf.score(X[:500], y[:500]) > 0.99


def test_mlp_fine_tuned_from_a_collapsed_dbn_warns(binary_digits, digits):
    _, y = digits
    X = 1 - binary_digits
    with pytest.warns(ConvergenceWarning, match="DBN layer 1 of 1"):
        stack = DBN([200], centering=False, random_state=0, **COLLAPSE).pretrain(X)
    mlp = stack.to_mlp(solver="sgd", learning_rate_init=0.1, momentum=0.9, max_iter=20)
    messages = _convergence_messages(lambda: mlp.fit(X[:500], y[:500]))
    assert len(messages) == 1 and messages[0].startswith("MLPClassifier:")


def test_no_warning_for_partial_fit_a_callbacks_stop_or_a_finished_checkpoint(digits, tmp_path):
    X, y = digits
    X, y = X[:300], y[:300]
    assert (
        _convergence_messages(lambda: _sgd(max_iter=2).partial_fit(X, y, classes=range(10))) == []
    )
    stuck = _sgd(learning_rate_init=10.0, max_iter=30)
    assert _convergence_messages(lambda: stuck.fit(X, y, callbacks=lambda *a: True)) == []
    assert stuck.n_iter_ == 1
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        _sgd(max_iter=3).fit(X, y, checkpoint_dir=tmp_path)
    resumed = _sgd(max_iter=3)
    assert _convergence_messages(lambda: resumed.fit(X, y, checkpoint_dir=tmp_path)) == []
    assert resumed.n_iter_ == 3


def test_regressor_and_autoencoder_name_themselves(digits):
    X, _ = digits
    rng = np.random.default_rng(0)
    Xr = rng.standard_normal((200, 5))
    yr = Xr @ np.arange(1.0, 6.0)
    regressor = MLPRegressor(
        (8,), solver="adam", learning_rate_init=1e-3, max_iter=3, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match=r"^MLPRegressor: Stochastic Optimizer: Maximum"):
        regressor.fit(Xr, yr)
    autoencoder = DeepAutoencoder((16, 4), solver="cg", max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"^DeepAutoencoder: Maximum iterations \(2\)"):
        autoencoder.fit(X[:200])


def test_constant_prediction_loss_is_that_of_the_best_constant():
    y = np.repeat(np.arange(4), 25)
    assert constant_prediction_loss("softmax_cross_entropy", y) == pytest.approx((np.log(4), 0.0))
    t = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    baseline, floor = constant_prediction_loss("half_squared_error", t)
    assert baseline == pytest.approx(0.5 * (t.var(axis=0).sum())) and floor == 0
    assert constant_prediction_loss("squared_error", t)[0] == pytest.approx(t.var(axis=0).sum())
    # Cross-entropy of probabilities: the mean image's loss, counted above the data's own entropy.
    X = np.array([[0.5, 1.0], [0.5, 0.0]])
    baseline, floor = constant_prediction_loss("sigmoid_cross_entropy", X)
    assert baseline == pytest.approx(2 * np.log(2)) and floor == pytest.approx(np.log(2))


def _message_params(**params):
    """backprop_convergence_message's arguments for a run the stopping rule ended."""
    return (
        dict(
            n_iter=30,
            max_iter=200,
            reached_max_iter=False,
            baseline=2.0,
            floor=0.0,
            solver="adam",
            learning_rate_init=1e-3,
            alpha=1e-4,
            tol=1e-4,
            n_iter_no_change=10,
            loss="softmax_cross_entropy",
        )
        | params
    )


def test_high_loss_threshold_is_measured_from_the_constant_prediction():
    common = _message_params()
    below = (BACKPROP_HIGH_LOSS - 0.01) * 2.0
    assert backprop_convergence_message("M", final_loss=below, **common) is None
    message = backprop_convergence_message("M", final_loss=2.0, **common)
    assert "100 % of the loss" in message and "learning_rate_init" in message
    assert "alpha" not in message  # alpha=1e-4 cannot hold the loss up


def test_oscillation_is_measured_against_the_best_epoch_and_the_constant_prediction():
    common = _message_params(
        n_iter=35, baseline=2.3, solver="sgd", learning_rate_init=0.1, momentum=0.9
    )
    # The Fashion-MNIST case: 0.197 at the end against a best epoch of 0.128.
    message = backprop_convergence_message("M", final_loss=0.197, best_loss=0.128, **common)
    assert "1.54 times its best epoch's (0.128): the loss oscillates" in message
    assert "lower learning_rate_init (now 0.1) or momentum (now 0.9)" in message
    assert "pass X_val and y_val" in message
    # Within the ratio, or a large ratio of tiny losses, or a validation split: no warning.
    for final, best in ((0.15, 0.128), (0.014, 0.010)):
        assert backprop_convergence_message("M", final_loss=final, best_loss=best, **common) is None
    assert backprop_convergence_message("M", final_loss=0.197, best_loss=None, **common) is None


def test_sgd_stalled_in_a_swing_on_a_small_table_warns():
    """The case the former thresholds (1.25 times the best, 2 % of chance) left silent: SGD 0.1
    from a DBN on the crabs table (4 balanced classes, chance ln 4) stopped by the rule at 0.337
    of chance, 1.23 times its best epoch, with 30 % held-out error against Adam's 2.5 %
    (``benchmarks/convergence_study.py``, fold 4)."""
    chance = float(np.log(4))
    common = _message_params(
        n_iter=53, baseline=chance, solver="sgd", learning_rate_init=0.1, momentum=0.9
    )
    final = 0.337 * chance
    message = backprop_convergence_message(
        "MLPClassifier", final_loss=final, best_loss=final / 1.23, **common
    )
    assert message is not None and "1.23 times its best epoch's" in message
    assert "the loss oscillates" in message and "use solver='adam'" in message
    # A swing of that ratio whose size is below 2.5 % of chance (crabs fold 8, 1.47 times a
    # small loss, held-out error 0 %), or a large swing within 1.1 of the best, stays silent.
    small = 0.07 * chance
    assert (
        backprop_convergence_message("M", final_loss=small, best_loss=small / 1.47, **common)
        is None
    )
    assert (
        backprop_convergence_message(
            "M", final_loss=0.70 * chance, best_loss=0.70 * chance / 1.047, **common
        )
        is None
    )  # Pima fold 7: share 0.032 of chance at 1.047 times the best
    # Adam's remedy names no solver change.
    adam = _message_params(n_iter=53, baseline=chance)
    message = backprop_convergence_message("M", final_loss=final, best_loss=final / 1.23, **adam)
    assert "the loss oscillates" in message and "solver=" not in message


def test_early_stopping_cut_short_is_measured_from_the_constant_prediction():
    """The "cut short" sign: early stopping after which the validation loss still fell, from the
    kept epoch to the last, by EARLY_STOP_STILL_LEARNING of the constant prediction's loss. Its
    message names the kept epoch, the validation rows and the remedies."""
    common = _message_params(baseline=2.0, validation_rows=12, kept_epoch=7, final_loss=0.4)
    drop = EARLY_STOP_STILL_LEARNING * 2.0
    below = dict(kept_validation_loss=0.5 + 0.99 * drop, final_validation_loss=0.5)
    assert backprop_convergence_message("M", **below, **common) is None
    above = dict(kept_validation_loss=0.9, final_validation_loss=0.5)
    message = backprop_convergence_message("M", **above, **common)
    assert "kept the weights of epoch 7, its best validation score on 12 rows" in message
    assert "falling after it, from 0.9 to 0.5 (20 % of the loss of always predicting" in message
    assert "hold out more rows for validation" in message and "early_stopping=False" in message
    # A validation loss that rose after the kept epoch (overfitting) is what early stopping is
    # for; and max_iter has its own message.
    rose = dict(kept_validation_loss=0.5, final_validation_loss=0.9)
    assert backprop_convergence_message("M", **rose, **common) is None
    at_max = common | dict(reached_max_iter=True, n_iter=200)
    message = backprop_convergence_message("M", **above, **at_max)
    assert "early stopping" not in message and "Maximum iterations" in message


def test_early_stopping_on_a_few_rows_that_keeps_an_early_epoch_warns():
    """The eighteenth panel round's case: wine, early stopping on a tenth of its rows (18) with
    one Adam update per epoch. The validation accuracy reaches its best early and cannot improve
    on 18 rows for 10 epochs while the validation loss still falls, and the weights of that early
    epoch are kept (``benchmarks/early_stopping_study.py``). Without early stopping, the remedy,
    nothing is reported and the net fits better."""
    X, y = load_wine(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    stack = DBN(visible_unit="gaussian", random_state=0).pretrain(X)

    def fit(**params):
        net = stack.to_mlp(random_state=0, batch_size="auto", **params)
        return net, _convergence_messages(lambda: net.fit(X, y))

    net, messages = fit(early_stopping=True)
    (message,) = messages
    assert "early stopping ended training" in message and "on 18 rows" in message
    kept = int(np.argmax(net.validation_scores_))
    losses = net.history_["val_loss"]
    assert losses[kept] - losses[-1] >= EARLY_STOP_STILL_LEARNING * np.log(3)
    trained, messages = fit(early_stopping=False)
    assert messages == [] and trained.score(X, y) > net.score(X, y)


def test_healthy_early_stopping_does_not_warn(digits):
    """Early stopping on the digits with the binary defaults' SGD: the validation accuracy stops
    improving once the net has learnt, the epoch kept is near the end, and nothing is reported."""
    X, y = digits
    net = MLPClassifier(
        (32,), solver="sgd", learning_rate_init=0.1, batch_size=20, early_stopping=True,
        random_state=0,
    )  # fmt: skip
    assert _convergence_messages(lambda: net.fit(X, y)) == []
    assert net.n_iter_ < net.max_iter and net.score(X, y) > 0.95


def test_sgd_whose_loss_swings_up_when_it_stops_warns():
    X, y = load_digits(return_X_y=True)
    X, y = X[:500] / 16.0, y[:500]
    params = dict(solver="sgd", learning_rate_init=1.0, momentum=0.95, batch_size=20)
    net = MLPClassifier((64,), random_state=0, **params)
    messages = _convergence_messages(lambda: net.fit(X, y))
    assert net.loss_curve_[-1] > 1.25 * min(net.loss_curve_)  # the case, not a converged run
    assert len(messages) == 1 and "the loss oscillates" in messages[0]
    # With a validation split the best epoch is kept, and the swing is not reported.
    monitored = MLPClassifier((64,), random_state=0, early_stopping=True, **params)
    messages = _convergence_messages(lambda: monitored.fit(X, y, X_val=X[:100], y_val=y[:100]))
    assert not any("oscillates" in m for m in messages)


# ------------------------------------------------------------------------------ RBM collapse


def _rbm(**params):
    return BernoulliRBM(200, random_state=0, **{**COLLAPSE, **params})


def test_collapsed_rbm_warns_and_names_the_remedy(binary_digits):
    messages = _convergence_messages(lambda: _rbm(centering=False).fit(1 - binary_digits))
    assert len(messages) == 1
    message = messages[0]
    assert message.startswith("BernoulliRBM(200) is not learning after 2 epochs")
    assert "hidden units are constant" in message and "mean of the data" in message
    assert "centering=True" in message and "learning_rate (now 0.2)" in message
    assert "batch_size (now 10)" in message


@pytest.mark.parametrize("flip, centering", [(False, False), (True, True), (False, True)])
def test_healthy_rbm_does_not_warn(binary_digits, flip, centering):
    X = 1 - binary_digits if flip else binary_digits
    rbm = _rbm(centering=centering)
    assert _convergence_messages(lambda: rbm.fit(X)) == []
    errors = rbm.history_["reconstruction_error"]
    assert errors[-1] < 0.6 * X[:1000].var(axis=0).sum()


def test_gaussian_rbm_healthy_and_exploding(binary_digits):
    data = load_digits().data
    X = (data - data.mean(axis=0)) / np.maximum(data.std(axis=0), 1e-8)
    healthy = GaussianBernoulliRBM(
        100, learning_rate=0.01, batch_size=10, momentum=0.9, n_iter=1, random_state=0
    )
    assert _convergence_messages(lambda: healthy.fit(X)) == []
    signs = rbm_collapse_signs(
        reconstruction_error=1e32,
        baseline=62.7,
        hidden_std=np.full(100, 0.3),
        max_abs_weight=8e13,
    )
    assert len(signs) == 2 and "weights grew to 8e+13" in signs[0]
    assert (
        rbm_collapse_signs(
            reconstruction_error=10.0,
            baseline=60.0,
            hidden_std=np.full(100, 0.3),
            max_abs_weight=RBM_WEIGHT_LIMIT / 2,
        )
        == []
    )


def test_a_quiet_layer_below_is_not_said_to_have_warned():
    # Two standardised features (a table like MASS's synth): the Gaussian first layer passes
    # its checks, but its features and the second layer's hardly vary, so only layer 3 warns.
    from sklearn.datasets import make_classification

    X, _ = make_classification(
        n_samples=150, n_features=2, n_informative=2, n_redundant=0, class_sep=0.5,
        random_state=2026,
    )  # fmt: skip
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    messages = _convergence_messages(
        lambda: DBN(visible_unit="gaussian", random_state=0).pretrain(X)
    )
    assert [m.split(" (")[0] for m in messages] == ["DBN layer 3 of 3"]
    assert "Fix layer 2 first: its own warning, if it gave one" in messages[0]
    assert "with none, it learnt too little to pass on" in messages[0]
    assert "dbn.DBNClassifier(init='xavier_uniform')" in messages[0]


def test_dbn_collapse_names_the_layer(binary_digits):
    flipped = _convergence_messages(
        lambda: DBN([200, 50], centering=False, random_state=0, **COLLAPSE).pretrain(
            1 - binary_digits
        )
    )
    assert [m.split(" (")[0] for m in flipped] == ["DBN layer 1 of 2", "DBN layer 2 of 2"]
    assert "inputs, the features of the layer below, hardly vary" in flipped[1]
    assert "Fix layer 1 first" in flipped[1]
    # A healthy first layer, a second whose learning rate is too large: only layer 2 warns.
    shared = dict(COLLAPSE, learning_rate=0.1)
    stack = DBN(
        [100, 200],
        centering=False,
        layer_params={1: {"learning_rate": 0.5}},
        random_state=0,
        **shared,
    )
    messages = _convergence_messages(lambda: stack.pretrain(binary_digits))
    assert len(messages) == 1
    assert messages[0].startswith("DBN layer 2 of 2 (BernoulliRBM(200)) is not learning")
    assert "learning_rate (now 0.5 in this layer)" in messages[0]
    healthy = DBN([100, 50], centering=False, random_state=0, **shared)
    assert _convergence_messages(lambda: healthy.pretrain(binary_digits)) == []


def test_rbm_no_warning_for_partial_fit_or_a_finished_checkpoint(binary_digits, tmp_path):
    X = 1 - binary_digits
    assert _convergence_messages(lambda: _rbm(centering=False).partial_fit(X)) == []
    stack = DBN([200], centering=False, random_state=0, **COLLAPSE)
    with pytest.warns(ConvergenceWarning, match="DBN layer 1 of 1"):
        stack.pretrain(X, checkpoint_dir=tmp_path)
    again = DBN([200], centering=False, random_state=0, **COLLAPSE)
    assert _convergence_messages(lambda: again.pretrain(X, checkpoint_dir=tmp_path)) == []
