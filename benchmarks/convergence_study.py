"""How fine-tuning runs end: the measurements behind the oscillation sign of ``ConvergenceWarning``.

    python benchmarks/convergence_study.py                           # the panel's small sets
    python benchmarks/convergence_study.py --data-dir ../data-mass   # and the MASS tables

A fine-tuning run without a validation split keeps the weights of its last epoch. When the
``n_iter_no_change`` rule stops a loss that swings up and down, the last epoch can sit on a
swing, and the net is worse than it was a few epochs before. dbn reports such a run as
oscillating (:mod:`dbn._training.convergence`). This study measures, on every run of a panel of
small sets, how the run ended and what the swing cost on held-out rows:

- ``ratio``: the final training loss over the best epoch's (the sign's first threshold,
  :data:`~dbn._training.convergence.BACKPROP_OSCILLATION`);
- ``share``: the final loss less the best, as a fraction of the constant prediction's loss (the
  second, :data:`~dbn._training.convergence.BACKPROP_OSCILLATION_SHARE`);
- ``cost``: the held-out error of the final weights less the held-out error at the epoch of the
  best training loss, in points: what stopping on a swing lost.

Runs: ``DBN().pretrain(X).to_mlp(**arm).fit(X, y)`` on each fold of
:func:`panel_study.cv_folds` (first ``--folds`` of them) of the real-valued sets, through
``DBN(visible_unit="gaussian")`` (``wine``, ``breast-cancer``, and with ``--data-dir`` the MASS
tables of :mod:`heldout_tabular`), and on seeded splits of the binary ``digits`` and
``rectangles``. Arms: the library's defaults and explicit SGD 0.1 (the binary default, the
real-valued default before Adam). The held-out error is read after every epoch by a callback.

Outputs in ``--output`` (default ``benchmarks/results/convergence``): ``results.json`` (every
run's curves), ``results.md`` (the runs that stopped by the rule, and the thresholds' verdicts)
and ``log.txt``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_info, open_log  # noqa: E402
from heldout_tabular import load_table, standardised  # noqa: E402
from panel_study import cv_folds  # noqa: E402

from dbn import DBN  # noqa: E402
from dbn._training.convergence import (  # noqa: E402
    BACKPROP_OSCILLATION,
    BACKPROP_OSCILLATION_SHARE,
    constant_prediction_loss,
)
from dbn.datasets import load_panel  # noqa: E402
from dbn.stack import TO_MLP_DEFAULTS  # noqa: E402

ARMS = {"defaults": {}, "SGD 0.1": dict(TO_MLP_DEFAULTS)}

#: Binary sets: seeded splits of the training rows (their panel split sizes are small enough).
BINARY_SETS = ("digits", "rectangles")
REAL_SETS = ("wine", "breast-cancer")
#: Share of the digits' training labels replaced at random in a second, hard variant of the set:
#: the loss of a healthy run stays high there (the sign must not fire on it).
DIGITS_LABEL_NOISE = 0.5
#: Tables of :mod:`heldout_tabular` read with ``--data-dir``: the four MASS tables it had when
#: this study ran (diamonds is too large for folds; the tables added later are not in it).
MASS_TABLES = ("biopsy", "fgl", "Pima", "crabs")


#: An SGD run whose held-out error is this many points above Adam's on the same fold stalled.
STALL_MARGIN = 5.0


class HeldOutError:
    """Callback: the held-out error (%) after every epoch."""

    def __init__(self, X, y):
        self.X, self.y, self.errors = X, y, []

    def __call__(self, net, epoch, logs):
        self.errors.append(100.0 * (1.0 - net.score(self.X, self.y)))


def measure(net, callback, y_train):
    """The end of one run: how it stopped and what its last swing cost."""
    curve = np.asarray(net.loss_curve_)
    classes = np.unique(np.asarray(y_train), return_inverse=True)[1]
    chance, _ = constant_prediction_loss("softmax_cross_entropy", classes)
    best = int(np.argmin(curve))
    return dict(
        n_iter=int(net.n_iter_),
        stopped_by_rule=bool(net.n_iter_ < net.max_iter),
        ratio=float(curve[-1] / curve[best]),
        share=float((curve[-1] - curve[best]) / chance),
        final_over_chance=float(curve[-1] / chance),
        error_final=callback.errors[-1],
        error_at_best_loss=callback.errors[best],
        cost=callback.errors[-1] - callback.errors[best],
        loss_curve=curve.tolist(),
        errors=callback.errors,
    )


def study_sets(data_dir=None):
    """``(name, X, y, visible_unit, label_noise)`` of every set of the study: the panel's
    digits (and the digits with :data:`DIGITS_LABEL_NOISE` of the labels at random), rectangles,
    wine and breast-cancer (training and validation rows pooled), and with ``data_dir`` the
    MASS tables."""
    for name in (*BINARY_SETS, *REAL_SETS):
        d = load_panel(name)
        X = np.vstack([d.X_train, d.X_val])
        y = np.concatenate([d.y_train, d.y_val])
        yield name, X, y, d.visible_unit, 0.0
        if name == "digits":  # a hard problem whose loss cannot fall far: noisy labels
            noisy = f"digits, {100 * DIGITS_LABEL_NOISE:.0f} % labels at random"
            yield noisy, X, y, d.visible_unit, DIGITS_LABEL_NOISE
    if data_dir:
        for name in MASS_TABLES:
            yield (name, *load_table(data_dir, name), "gaussian", 0.0)


def study_folds(X, y, visible_unit, folds, label_noise=0.0):
    """``(fold, stack, X_train, y_train, X_test, y_test)`` on the first ``folds`` splits of
    :func:`panel_study.cv_folds`: ``stack`` is ``DBN()`` pretrained on the fold's training rows
    (standardised by their own statistics for real-valued inputs); with ``label_noise``, that
    share of the training labels is replaced by labels drawn at random (the held-out ones stay)."""
    for fold, (train, held_out) in enumerate(cv_folds(y)[:folds]):
        X_train, X_test = X[train], X[held_out]
        y_train = y[train].copy()
        if label_noise:
            rng = np.random.default_rng(fold)
            noisy = rng.random(len(y_train)) < label_noise
            y_train[noisy] = rng.choice(np.unique(y), size=int(noisy.sum()))
        if visible_unit == "gaussian":
            X_train, X_test = standardised(X_train, X_test)
        stack = DBN(visible_unit=visible_unit, random_state=fold)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stack.pretrain(X_train)
        yield fold, stack, X_train, y_train, X_test, y[held_out]


def runs_of(name, X, y, visible_unit, folds, log, label_noise=0.0):
    """Every arm on the first ``folds`` splits of ``(X, y)`` (:func:`study_folds`)."""
    out = []
    # For binary inputs the library's default is SGD 0.1 itself: one arm.
    arms = ARMS if visible_unit == "gaussian" else {"defaults": ARMS["defaults"]}
    splits = study_folds(X, y, visible_unit, folds, label_noise)
    for fold, stack, X_train, y_train, X_test, y_test in splits:
        for arm, knobs in arms.items():
            callback = HeldOutError(X_test, y_test)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                net = stack.to_mlp(random_state=fold, **knobs)
                net.fit(X_train, y_train, callbacks=callback)
            messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
            run = dict(set=name, fold=fold, arm=arm, warnings=messages)
            run.update(measure(net, callback, y_train))
            log(
                f"{name} fold {fold} {arm}: {run['n_iter']} epochs "
                f"({'rule' if run['stopped_by_rule'] else 'max_iter'}), ratio {run['ratio']:.3f}, "
                f"share {run['share']:.4f}, cost {run['cost']:+.2f} points, "
                f"{len(messages)} warning(s)"
            )
            out.append(run)
    return out


def verdicts(runs, ratio, share, cost):
    """The runs stopped by the rule that a sign at (``ratio``, ``share``) reports, and those
    whose swing cost at least ``cost`` points: (caught, missed, false alarms)."""
    reported = [r for r in runs if fires(r, ratio, share)]
    costly = [r for r in runs if r["stopped_by_rule"] and r["cost"] >= cost]
    caught = [r for r in costly if r in reported]
    return len(caught), len(costly) - len(caught), len([r for r in reported if r["cost"] < cost])


def stalled(runs, margin):
    """The SGD runs on real-valued sets whose held-out error is at least ``margin`` points above
    the library's default (Adam) on the same fold: SGD stopped before it had fitted."""
    adam = {(r["set"], r["fold"]): r["error_final"] for r in runs if r["arm"] == "defaults"}
    return [
        r
        for r in runs
        if r["arm"] == "SGD 0.1" and r["error_final"] >= adam[(r["set"], r["fold"])] + margin
    ]


def fires(run, ratio, share):
    """Whether the oscillation sign at (``ratio``, ``share``) reports ``run``."""
    return run["stopped_by_rule"] and run["ratio"] >= ratio and run["share"] >= share


def threshold_rows(counts):
    """Table rows ``| ratio | share | counts(ratio, share)... |`` over the thresholds tried."""
    return [
        f"| {ratio} | {share} | " + " | ".join(map(str, counts(ratio, share))) + " |"
        for ratio in (1.05, 1.1, 1.15, 1.2, 1.25)
        for share in (0.01, 0.02, 0.025, 0.03, 0.05)
    ]


def markdown(runs, settings, thresholds=(BACKPROP_OSCILLATION, BACKPROP_OSCILLATION_SHARE)):
    ruled = sorted(
        (r for r in runs if r["stopped_by_rule"]), key=lambda r: (-r["cost"], -r["ratio"])
    )
    lines = [
        "# How fine-tuning runs end: the oscillation sign measured",
        "",
        settings,
        "",
        f"{len(runs)} runs, {len(ruled)} stopped by the `n_iter_no_change` rule (the others ran "
        "to `max_iter`). Those, by what stopping on the last epoch cost:",
        "",
        "| set | fold | arm | epochs | final / best loss | (final - best) / chance | final / "
        "chance | held-out error, final | at the best loss's epoch | cost (points) | warned "
        f"(at {thresholds[0]:g} and {100 * thresholds[1]:g} %, the thresholds of the runs) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in ruled:
        warned = "; ".join(m.split(".")[0] for m in r["warnings"]) or "no"
        lines.append(
            f"| {r['set']} | {r['fold']} | {r['arm']} | {r['n_iter']} | {r['ratio']:.3f} | "
            f"{r['share']:.4f} | {r['final_over_chance']:.3f} | {r['error_final']:.2f} | "
            f"{r['error_at_best_loss']:.2f} | {r['cost']:+.2f} | {warned} |"
        )
    lines += [
        "",
        "Thresholds (final / best, share of chance) against runs whose swing cost at least 2 "
        "points of held-out error: caught / missed / reported although it cost less.",
        "",
        "| final / best | share | caught | missed | false alarms |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += threshold_rows(lambda ratio, share: verdicts(runs, ratio, share, 2.0))
    stuck = stalled(runs, STALL_MARGIN)
    lines += [
        "",
        f"Stalled runs: SGD 0.1 on a real-valued set whose final held-out error is at least "
        f"{STALL_MARGIN:g} points above the library's default (Adam) on the same fold, "
        f"{len(stuck)} of them: "
        + ", ".join(f"{r['set']} {r['fold']} ({r['error_final']:.1f} %)" for r in stuck)
        + ". Thresholds against them: stalled runs reported / not reported / other runs "
        "reported (of every run, binary sets and Adam included).",
        "",
        "| final / best | share | stalled, reported | stalled, not reported | others reported |",
        "|---:|---:|---:|---:|---:|",
    ]

    def against_stalled(ratio, share):
        hit = sum(fires(r, ratio, share) for r in stuck)
        return hit, len(stuck) - hit, sum(fires(r, ratio, share) for r in runs if r not in stuck)

    lines += threshold_rows(against_stalled)
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5, help="splits per set")
    parser.add_argument("--data-dir", help="folder of the MASS CSV files (see heldout_tabular)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "convergence"))
    args = parser.parse_args(argv)
    output = Path(args.output)
    log = open_log(output)  # creates the folder

    runs = []
    for name, X, y, visible_unit, label_noise in study_sets(args.data_dir):
        runs += runs_of(name, X, y, visible_unit, args.folds, log, label_noise)
    settings = (
        f"Folds: the first {args.folds} of `panel_study.cv_folds` per set; pretraining and "
        "fine-tuning at the library's defaults, or explicit SGD 0.1 (`TO_MLP_DEFAULTS`); no "
        "validation split. Held-out error after every epoch."
    )
    thresholds = (BACKPROP_OSCILLATION, BACKPROP_OSCILLATION_SHARE)
    payload = dict(machine=machine_info(), settings=settings, thresholds=thresholds, runs=runs)
    (output / "results.json").write_text(json.dumps(payload, indent=1))
    (output / "results.md").write_text(markdown(runs, settings, thresholds))
    log(f"results in {output}")


if __name__ == "__main__":
    main()
