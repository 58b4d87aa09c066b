"""Shared test set-up."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    # On the shared 2-core machine a second BLAS thread mostly waits for a busy core: the small
    # products of the tests run faster, and more steadily, on one. It also makes every test
    # deterministic to the bit; tests of multi-threaded behaviour raise the limit themselves.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a test dependency, but the tests do not need it
        yield
        return
    with threadpool_limits(1):
        yield
