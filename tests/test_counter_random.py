"""The counter-based uniform stream of the sampling kernels against an independent NumPy SplitMix64."""

import numpy as np
import pytest
from scipy import stats

from dbn._kernels import counter_random

from . import naive


def test_first_number_matches_published_splitmix64():
    # SplitMix64 seeded with 0 first returns 0xE220A8397B1DCDAF (Vigna's reference splitmix64.c).
    assert int(naive.splitmix64(0, 1)[0]) == 0xE220A8397B1DCDAF
    assert int(counter_random.splitmix64(np.uint64(0), 0)) == 0xE220A8397B1DCDAF


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("key", [0, 1, 2**63 + 12345, 2**64 - 1])
def test_kernel_stream_equals_naive_reference(dtype, key):
    out = np.empty((37, 11), dtype)
    counter_random.fill_uniform(np.uint64(key), out)
    np.testing.assert_array_equal(out, naive.uniform_stream(key, out.shape, dtype))
    assert out.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniforms_are_uniform_and_in_range(dtype):
    out = np.empty(200_000, dtype)
    counter_random.fill_uniform(np.uint64(987654321), out)
    assert out.min() >= 0 and out.max() < 1
    counts = np.histogram(out, bins=64, range=(0, 1))[0]
    assert stats.chisquare(counts).pvalue > 1e-4
    # Neighbouring numbers are uncorrelated.
    assert abs(np.corrcoef(out[:-1], out[1:])[0, 1]) < 0.01


def test_streams_of_nearby_keys_are_unrelated():
    a, b = np.empty(100_000), np.empty(100_000)
    counter_random.fill_uniform(np.uint64(1), a)
    counter_random.fill_uniform(np.uint64(2), b)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02
    assert not np.array_equal(a, b)


def test_draw_key_advances_the_generator_deterministically():
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    keys = [counter_random.draw_key(r1) for _ in range(3)]
    assert keys == [counter_random.draw_key(r2) for _ in range(3)]
    assert len(set(keys)) == 3 and all(isinstance(k, np.uint64) for k in keys)
