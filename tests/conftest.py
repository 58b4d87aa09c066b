"""Shared test set-up: one BLAS thread, where the tests find MNIST, and CI's rule on skips.

Where MNIST is looked for is the loader's own search order (:func:`dbn.datasets.data_homes`; the
first folder holding all four ``mnist/`` files wins): the ``DBN_DATA_HOME`` environment variable,
the user cache (``~/.cache/dbn`` on Linux, where ``python benchmarks/mnist.py`` downloads it), and
``../shared/data`` beside the repository (CI's copy). The tests never download.

In CI (``CI=true``, or ``DBN_CI_EXTRAS`` set by ``.ci/run``) a test skipped because MNIST is
missing, or because a module of a distribution that CI installed is missing, fails instead: a
green run then means that every such test ran.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import pytest

MNIST_NOT_FOUND = "MNIST not found"


def data_homes() -> list[Path]:
    """The loader's own search order (:func:`dbn.datasets.data_homes`): DBN_DATA_HOME, the user
    cache, ../shared/data beside the checkout."""
    from dbn.datasets import data_homes as loader_homes

    return loader_homes()


@functools.cache
def mnist_home() -> Path | None:
    """The first folder of :func:`data_homes` that holds all four MNIST files, or None."""
    from dbn.datasets import find_data_home

    return find_data_home("mnist")


def mnist_missing_reason() -> str:
    """The skip reason when :func:`mnist_home` finds nothing; CI turns it into a failure."""
    searched = ", ".join(str(home) for home in data_homes())
    return (
        f"{MNIST_NOT_FOUND} (searched {searched}): run `python benchmarks/mnist.py` once, which "
        "downloads it to the user cache, or set DBN_DATA_HOME to a folder holding mnist/"
    )


def skip_without_mnist() -> Path:
    """:func:`mnist_home`, or skip the calling test."""
    home = mnist_home()
    if home is None:
        pytest.skip(mnist_missing_reason())
    return home


needs_mnist = pytest.mark.skipif(mnist_home() is None, reason=mnist_missing_reason())


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


# ------------------------------------------------------------------------------ CI: no silent skips


def _ci_extras() -> tuple[str, ...] | None:
    """The extras CI installed (``DBN_CI_EXTRAS``, comma-separated; ``test`` when only
    ``CI=true`` is set), or None outside CI."""
    extras = os.environ.get("DBN_CI_EXTRAS", "").strip()
    if extras:
        return tuple(extra.strip() for extra in extras.split(",") if extra.strip())
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        return ("test",)
    return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.cache
def _installed_by_ci(extras: tuple[str, ...]) -> frozenset[str]:
    """Canonical names of the distributions that ``pip install -e ".[extras]"`` installs directly:
    the dependencies and those of each extra."""
    from importlib import metadata

    from packaging.requirements import Requirement

    names = set()
    for line in metadata.requires("deep-belief-nets") or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras):
            names.add(_canonical(requirement.name))
    return frozenset(names)


def _missing_module(reason: str) -> str | None:
    """The top-level module a skip reason from ``pytest.importorskip`` names as missing."""
    match = re.search(r"No module named '([^']+)'", reason) or re.search(
        r"could not import '([^']+)'", reason
    )
    return match.group(1).split(".")[0] if match else None


def _forbidden_in_ci(reason: str, extras: tuple[str, ...]) -> bool:
    if MNIST_NOT_FOUND in reason or re.search(r"\b(MNIST|data)\b.*\bnot found\b", reason, re.I):
        return True
    module = _missing_module(reason)
    if module is None:
        return False
    from importlib import metadata

    installed = _installed_by_ci(extras)
    distributions = metadata.packages_distributions().get(module, [])
    return _canonical(module) in installed or any(_canonical(d) in installed for d in distributions)


def _fail_forbidden_skip(report) -> None:
    extras = _ci_extras()
    if extras is None or not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    if _forbidden_in_ci(reason, extras):
        report.outcome = "failed"
        report.longrepr = (
            f"CI (extras {','.join(extras)}) does not allow this skip: the data or module it "
            f"needs must be present.\n{reason}"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_forbidden_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_forbidden_skip(outcome.get_result())
