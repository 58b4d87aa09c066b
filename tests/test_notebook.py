"""notebooks/walkthrough.ipynb: it runs end to end (quick mode), uses only the public API, and is
committed with the outputs of a full-size run."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .conftest import skip_without_mnist

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "walkthrough.ipynb"

nbformat = pytest.importorskip("nbformat")


def _read():
    return nbformat.read(NOTEBOOK, as_version=4)


def _code(nb):
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def test_uses_only_the_public_api():
    for source in _code(_read()):
        # Private modules (dbn._kernels) or attributes (model._rng); dunders (dbn.__version__) are public.
        match = re.search(r"\bdbn\._(?!_)|import\s+_(?!_)|\._(?!_)\w", source)
        assert match is None, f"private name {match.group()!r} in:\n{source}"


def test_first_code_cell_reads_quick_mode_and_data_home():
    first = _code(_read())[0]
    assert "DBN_NOTEBOOK_QUICK" in first and "DBN_DATA_HOME" in first


def test_committed_with_full_size_outputs():
    """Readers on GitHub see the figures of a full-size run, in a file of reasonable size."""
    nb = _read()
    assert NOTEBOOK.stat().st_size < 2_000_000
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells), "not fully executed"
    for cell in code_cells:
        for output in cell.outputs:
            assert output.output_type != "error", output
    first = "".join(o.get("text", "") for o in code_cells[0].outputs)
    assert "quick mode: False" in first, "the saved outputs come from a quick-mode run"
    n_png = sum("image/png" in o.get("data", {}) for cell in code_cells for o in cell.outputs)
    assert n_png >= 15


@pytest.mark.slow
def test_runs_in_quick_mode():
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    from nbclient import NotebookClient

    data_home = skip_without_mnist()  # DBN_DATA_HOME, the user cache, ../shared/data
    nb = _read()  # executed in memory: the committed file keeps its full-size outputs
    env = dict(os.environ, DBN_NOTEBOOK_QUICK="1", DBN_DATA_HOME=str(data_home))
    # The kernel is a separate process, out of reach of conftest's threadpool limit: one BLAS
    # thread, as for the rest of the suite (on a busy 2-core machine two threads run many times
    # slower), unless the caller chose otherwise.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute(env=env)  # raises CellExecutionError on the first failing cell
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert "quick mode: True" in "".join(o.get("text", "") for o in first.outputs)
