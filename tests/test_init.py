"""Initialisers: the variance each formula promises, orthogonality, seeding, LSUV, gain and look-up."""

import numpy as np
import pytest

from dbn import init

FAN_IN, FAN_OUT = 400, 300  # 120000 draws: the sample variance is within ~1 % of its expectation


def _expected_variance(name, fan_in, fan_out):
    return {
        "normal": 0.01**2,
        "uniform": 0.05**2 / 3,
        "standard": 1 / (3 * fan_in),
        "xavier_uniform": 2 / (fan_in + fan_out),
        "xavier_normal": 2 / (fan_in + fan_out),
        "he_uniform": 2 / fan_in,
        "he_normal": 2 / fan_in,
        "orthogonal": 1 / max(fan_in, fan_out),
        "lsuv": 1 / max(fan_in, fan_out),
    }[name]


RANDOM = [n for n in init.INITIALIZERS if n != "zeros"]


@pytest.mark.parametrize("name", RANDOM)
def test_variance_matches_formula(name):
    W = init.get_initializer(name)(FAN_IN, FAN_OUT, random_state=0, dtype=np.float64)
    assert W.shape == (FAN_IN, FAN_OUT)
    expected = _expected_variance(name, FAN_IN, FAN_OUT)
    # Relative standard error of a variance estimate is about sqrt(2 / N) (~0.4 % here); 3 % is
    # loose enough for any seed and tight enough to catch a wrong constant (sqrt(2), 3, fan_out...).
    assert np.var(W) == pytest.approx(expected, rel=0.03)
    assert abs(np.mean(W)) < 4 * np.sqrt(expected / W.size)


@pytest.mark.parametrize("name", ["xavier_uniform", "xavier_normal", "orthogonal"])
def test_gain_scales_the_standard_deviation(name):
    f = init.get_initializer(name)
    W1 = f(FAN_IN, FAN_OUT, random_state=3, dtype=np.float64)
    W4 = f(FAN_IN, FAN_OUT, random_state=3, dtype=np.float64, gain=4.0)
    np.testing.assert_allclose(W4, 4.0 * W1, rtol=1e-12)


@pytest.mark.parametrize("name", ["uniform", "standard", "xavier_uniform", "he_uniform"])
def test_uniform_initialisers_respect_their_bounds(name):
    W = init.get_initializer(name)(FAN_IN, FAN_OUT, random_state=0, dtype=np.float64)
    limit = np.sqrt(3 * _expected_variance(name, FAN_IN, FAN_OUT))
    assert np.abs(W).max() <= limit
    assert np.abs(W).max() > 0.99 * limit


@pytest.mark.parametrize("shape", [(64, 64), (200, 50), (50, 200), (1, 7), (7, 1)])
def test_orthogonal_is_orthogonal(shape):
    W = init.orthogonal(*shape, random_state=0, dtype=np.float64, gain=2.0)
    fan_in, fan_out = shape
    if fan_in >= fan_out:
        np.testing.assert_allclose(W.T @ W, 4.0 * np.eye(fan_out), atol=1e-12)
    else:
        np.testing.assert_allclose(W @ W.T, 4.0 * np.eye(fan_in), atol=1e-12)


def test_orthogonal_sign_correction_gives_unbiased_diagonal():
    # Without multiplying by sign(diag(R)), numpy's QR makes the diagonal of R positive and Q's
    # distribution is not Haar: E[Q_00] would be clearly positive.
    diag = [init.orthogonal(3, 3, random_state=s, dtype=np.float64)[0, 0] for s in range(400)]
    assert abs(np.mean(diag)) < 0.1


@pytest.mark.parametrize("name", list(init.INITIALIZERS))
def test_same_seed_same_weights(name):
    f = init.get_initializer(name)
    a = f(30, 20, random_state=42)
    b = f(30, 20, random_state=42)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    if name != "zeros":
        assert not np.array_equal(a, f(30, 20, random_state=43))
    # Draws are made in float64: float32 weights are the rounded float64 ones.
    np.testing.assert_array_equal(
        a, f(30, 20, random_state=42, dtype=np.float64).astype(np.float32)
    )


def test_generator_is_consumed():
    rng = np.random.default_rng(0)
    a = init.xavier_uniform(5, 5, random_state=rng)
    b = init.xavier_uniform(5, 5, random_state=rng)
    assert not np.array_equal(a, b)


def test_zeros():
    W = init.zeros(3, 4, dtype=np.float64)
    assert W.shape == (3, 4) and W.dtype == np.float64 and not W.any()


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_lsuv_gives_unit_output_variance(activation):
    rng = np.random.default_rng(0)
    X = rng.random((300, 40))
    sizes = [40, 64, 32, 16, 5]
    coefs, intercepts = init.lsuv_init(
        sizes, X, activation, random_state=0, dtype=np.float64, tol=0.01
    )
    from tests.naive_mlp import activate

    A = X
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        assert W.shape == (sizes[i], sizes[i + 1])
        Z = A @ W + b
        assert np.var(Z) == pytest.approx(1.0, abs=0.011)
        A = activate(Z, activation)


def test_lsuv_keeps_given_layers():
    rng = np.random.default_rng(1)
    X = rng.random((100, 10))
    fixed = rng.standard_normal((10, 8))
    coefs, _ = init.lsuv_init([10, 8, 3], X, "tanh", coefs=[fixed.copy(), None], dtype=np.float64)
    np.testing.assert_array_equal(coefs[0], fixed)
    assert np.var(np.tanh(X @ fixed) @ coefs[1]) == pytest.approx(1.0, abs=0.06)


def _naive_rescale(coefs, intercepts, X, activation):
    """Unit by unit, row by row: each layer's factor from the mean over units of the spread."""
    from tests.naive_mlp import activate

    A, out_W, out_b = X, [], []
    for W, b in zip(coefs, intercepts, strict=True):
        n_rows, n_units = A.shape[0], W.shape[1]
        signal = np.array([[sum(A[r, k] * W[k, j] for k in range(W.shape[0])) for j in range(n_units)]
                           for r in range(n_rows)])  # fmt: skip
        spreads = [
            np.sqrt(np.mean((signal[:, j] - signal[:, j].mean()) ** 2)) for j in range(n_units)
        ]
        factor = 1.0 / np.mean(spreads)
        new_W = W * factor
        new_b = np.array([b[j] + (1.0 - factor) * signal[:, j].mean() for j in range(n_units)])
        out_W.append(new_W)
        out_b.append(new_b)
        A = activate(A @ new_W + new_b, activation)
    return out_W, out_b


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_rescale_to_unit_variance_matches_a_naive_loop(activation):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 4))
    coefs = [0.05 * rng.standard_normal((4, 6)), 0.3 * rng.standard_normal((6, 5))]
    intercepts = [rng.standard_normal(6), rng.standard_normal(5)]
    given = [c.copy() for c in coefs], [b.copy() for b in intercepts]
    W, b = init.rescale_to_unit_variance(coefs, intercepts, X, activation)
    W_ref, b_ref = _naive_rescale(coefs, intercepts, X, activation)
    for got, ref in zip([*W, *b], [*W_ref, *b_ref], strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
    # The inputs are not modified.
    for got, ref in zip([*coefs, *intercepts], [*given[0], *given[1]], strict=True):
        np.testing.assert_array_equal(got, ref)


def test_rescale_to_unit_variance_targets_the_spread_and_keeps_the_means():
    from tests.naive_mlp import activate

    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 2))
    coefs = [0.1 * rng.standard_normal((2, 16)), 0.1 * rng.standard_normal((16, 8))]
    intercepts = [np.zeros(16), -0.3 * np.ones(8)]
    W, b = init.rescale_to_unit_variance(coefs, intercepts, X, "sigmoid")
    A_old = A_new = X
    for i in range(2):
        Z_old, Z_new = A_old @ coefs[i] + intercepts[i], A_new @ W[i] + b[i]
        assert Z_new.std(axis=0).mean() == pytest.approx(1.0)
        assert Z_old.std(axis=0).mean() < 0.5  # the small scale the rescaling is for
        if i == 0:  # same inputs: every unit keeps its mean input and its direction
            np.testing.assert_allclose(Z_new.mean(axis=0), Z_old.mean(axis=0), atol=1e-12)
            np.testing.assert_allclose(
                W[0] / np.linalg.norm(W[0]), coefs[0] / np.linalg.norm(coefs[0])
            )
        A_old, A_new = activate(Z_old, "sigmoid"), activate(Z_new, "sigmoid")


def test_rescale_to_unit_variance_keeps_a_constant_layer_and_dtypes():
    X = np.ones((5, 3))
    W, b = np.full((3, 2), 0.5, dtype=np.float32), np.zeros(2, dtype=np.float32)
    (W2,), (b2,) = init.rescale_to_unit_variance([W], [b], X)
    np.testing.assert_array_equal(W2, W)
    np.testing.assert_array_equal(b2, b)
    assert W2.dtype == np.float32 and b2.dtype == np.float32


def test_rescale_to_unit_variance_refuses_layers_that_do_not_chain():
    X = np.random.default_rng(0).standard_normal((5, 3))
    with pytest.raises(ValueError, match=r"coefs\[1\] of shape \(4, 2\).*do not chain from 2"):
        init.rescale_to_unit_variance(
            [np.ones((3, 2)), np.ones((4, 2))], [np.zeros(2), np.zeros(2)], X
        )
    with pytest.raises(ValueError, match="one array per layer, got 1 and 0"):
        init.rescale_to_unit_variance([np.ones((3, 2))], [], X)


def test_gain_values():
    assert init.gain("sigmoid") == init.gain("logistic") == 4.0
    assert init.gain("tanh") == 1.0
    assert init.gain("relu") == pytest.approx(np.sqrt(2))
    assert init.gain("identity") == 1.0
    with pytest.raises(ValueError, match="activation"):
        init.gain("softplus")


def test_get_initializer_errors_list_valid_names():
    with pytest.raises(ValueError, match="xavier_uniform") as info:
        init.get_initializer("glorot")
    assert "'glorot'" in str(info.value)

    def custom(fan_in, fan_out, *, random_state=None, dtype=np.float32):
        return np.ones((fan_in, fan_out), dtype)

    assert init.get_initializer(custom) is custom


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fan_in": 0, "fan_out": 3}, ValueError, "fan_in"),
        ({"fan_in": 2.5, "fan_out": 3}, TypeError, "fan_in"),
        ({"fan_in": 3, "fan_out": 3, "dtype": np.int32}, ValueError, "dtype"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        init.xavier_uniform(**kwargs)


def test_negative_std_refused():
    with pytest.raises(ValueError, match="std"):
        init.normal(3, 3, std=-1.0)


@pytest.mark.parametrize("fans", [(784, 500), (13, 128), (500, 2000)])
def test_xavier_std_is_the_standard_deviation_of_xavier_normal(fans):
    fan_in, fan_out = fans
    assert init.xavier_std(fan_in, fan_out) == np.sqrt(2.0 / (fan_in + fan_out))
    W = init.xavier_normal(fan_in, fan_out, random_state=0, dtype=np.float64)
    scaled = init.normal(fan_in, fan_out, random_state=0, dtype=np.float64, std=1.0)
    np.testing.assert_allclose(W, init.xavier_std(fan_in, fan_out) * scaled, rtol=1e-12)
