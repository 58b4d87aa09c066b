"""Every Python example of the README and the user guide runs, as a newcomer would paste it.

The examples are the first code a newcomer runs; one that names a renamed parameter or a removed
function costs them their first hour. Each page's ``python`` blocks run in order in one namespace
(a later block may use an earlier one's names), in a temporary folder, on small stand-in data:

- ``load_mnist`` returns 200 training and 100 test rows of random grey levels with 10 classes,
  so the examples written for MNIST's shape run in seconds (their figures are not checked);
- names a page uses without defining them (``X``, ``y``, ``X_test``, a fitted ``rbm`` or ``clf``)
  come from :data:`PRELUDES`, the set-up the page's text describes;
- a few arguments that only set a budget (AIS's 20,000 temperatures) or a place (a cluster's
  address, a zarr store) are replaced as :data:`SUBSTITUTIONS` lists; each replaced text must
  still be in the page, so an edited example is noticed here.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs_mnist

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/index.md"] + sorted(
    str(path.relative_to(ROOT)) for path in (ROOT / "docs" / "guide").glob("*.md")
)
BLOCK = re.compile(r"```python\n(.*?)```", re.S)

#: Set-up a page's examples assume, run before its first block (the text around them says so).
PRELUDES = {
    "docs/guide/evaluation.md": "rbm = dbn.BernoulliRBM(16, n_iter=2, random_state=0).fit(X)",
    "docs/guide/interop.md": (
        "clf = dbn.DBN([32, 16], n_iter=2, random_state=0).pretrain(X)"
        ".to_mlp(max_iter=3, dropout_hidden=0.2, random_state=0).fit(X, y)"
    ),
    "docs/guide/scaling.md": "from distributed import LocalCluster",
}

#: ``{page: [(text in the page, what runs instead), ...]}``: budgets and places only.
SUBSTITUTIONS = {
    # The stand-in X has MNIST's 784 columns: "auto" widths would train 500-500-2000 per fold.
    "docs/guide/dbn.md": [
        (
            'dbn.DBNClassifier(dbn.DBN(visible_unit="gaussian"))',
            'dbn.DBNClassifier(dbn.DBN([16], n_iter=2, visible_unit="gaussian"))',
        ),
    ],
    "docs/guide/dbm.md": [
        (
            "DBM((500, 1000), pretrain_n_iter=10, n_iter=10,",
            "DBM((32, 16), pretrain_n_iter=2, n_iter=2,",
        ),
        ("n_betas=20000, n_runs=100", "n_betas=200, n_runs=10"),
        ("n_betas=20000, data=X_train", "n_betas=200, data=X_train"),
    ],
    "docs/guide/scaling.md": [
        ('Client("scheduler-address:8786")', "Client(LocalCluster(n_workers=2, processes=False))"),
        ('da.from_zarr("mnist8m.zarr")', "da.from_array(X, chunks=100)"),
        ('da.from_zarr("labels.zarr")', "da.from_array(y, chunks=100)"),
        ("dbn.DBN([500, 500, 2000], n_iter=10)", "dbn.DBN([32, 16], n_iter=2)"),
    ],
}

#: Pages whose examples load the data panel, which is generated from MNIST itself.
NEEDS_MNIST = {"docs/guide/panel.md"}


def blocks(page):
    return BLOCK.findall((ROOT / page).read_text())


def small_mnist(split="train", *, as_float=False, **_):
    """MNIST's shape and dtypes: 200 training / 100 test rows, each a noisy copy of one of 10
    random class templates, so that an RBM has something to learn."""
    templates = np.random.default_rng(0).random((10, 784)) ** 3
    rng = np.random.default_rng(1 if split == "train" else 2)
    n = 200 if split == "train" else 100
    y = np.arange(n) % 10
    X = np.clip(templates[y] + 0.1 * rng.normal(size=(n, 784)), 0.0, 1.0).astype(np.float32)
    return (X, y) if as_float else (np.round(X * 255).astype(np.uint8), y)


def own_data_files(folder):
    """The README's "your own data" example reads features.csv and labels.csv."""
    rng = np.random.default_rng(2)
    features = rng.normal(size=(120, 6)) * [1, 10, 100, 1, 1, 5]
    np.savetxt(folder / "features.csv", features, delimiter=",")
    np.savetxt(folder / "labels.csv", (features[:, 0] > 0).astype(int), fmt="%d")


def pages_with_examples():
    params = []
    for page in PAGES:
        if not blocks(page):
            continue
        marks = [needs_mnist] if page in NEEDS_MNIST else []
        params.append(pytest.param(page, marks=marks, id=page))
    return params


@pytest.mark.parametrize("page", pages_with_examples())
def test_page_examples_run(page, tmp_path, monkeypatch):
    import dbn
    import dbn.datasets

    if page not in NEEDS_MNIST:
        monkeypatch.setattr(dbn.datasets, "load_mnist", small_mnist)
    monkeypatch.chdir(tmp_path)
    own_data_files(tmp_path)
    X, y = small_mnist("train", as_float=True)
    X_test, y_test = small_mnist("test", as_float=True)
    namespace = dict(
        __name__="__docs_example__",
        dbn=dbn,
        X=X,
        y=y,
        X_train=X,
        X_test=X_test,
        y_test=y_test,
        X_test_binary=(X_test > 0.5).astype(np.float32),
    )
    code = "\n".join(blocks(page))
    for original, replacement in SUBSTITUTIONS.get(page, []):
        assert original in code, f"{page} no longer contains {original!r}: update SUBSTITUTIONS"
        code = code.replace(original, replacement)
    if page in PRELUDES:
        exec(compile(PRELUDES[page], f"<set-up for {page}>", "exec"), namespace)
    try:
        exec(compile(code, f"<examples of {page}>", "exec"), namespace)
    finally:
        client = namespace.get("client")
        if client is not None:
            client.close()


def test_every_page_with_examples_is_run():
    pages = {param.values[0] for param in pages_with_examples()}
    assert {"README.md", "docs/index.md", "docs/guide/dbn.md", "docs/guide/dbm.md"} <= pages
    for page in SUBSTITUTIONS.keys() | PRELUDES.keys() | NEEDS_MNIST:
        assert page in pages, f"{page} has set-up here but no example"
