"""How early stopping ends fine-tuning on small sets: the measurements behind its warning.

    python benchmarks/early_stopping_study.py                           # the panel's small sets
    python benchmarks/early_stopping_study.py --data-dir ../data-mass   # and the MASS tables

``early_stopping=True`` holds out a stratified ``validation_fraction`` of the labels and stops
once the validation accuracy has not improved by ``tol`` for ``n_iter_no_change`` epochs, keeping
the best epoch's weights (scikit-learn's rule, which dbn follows). The eighteenth panel round
(``panel_study.py --parts realvalued-stopping``) found it stopping within a few epochs on small
sets: on a validation split of a dozen rows the accuracy does not move in ten epochs of one or
two updates each, although the net is still learning. This study measures, fold by fold, how
such runs end against healthy ones, and what a sign that tells them apart would report:

- ``error``: the held-out error of the weights kept, and ``reference``: the held-out error of
  the same pretrained net fine-tuned without a validation split (the library's defaults);
- ``kept_over_chance``: the training loss of the epoch whose weights were kept, as a fraction of
  the constant prediction's (:func:`dbn._training.convergence.constant_prediction_loss`);
- ``validation_drop``: the validation loss at the kept epoch less at the last epoch, as a
  fraction of the constant prediction's loss: how much the net still improved on the validation
  rows after the epoch kept, which their score did not show (the sign's measure,
  :data:`~dbn._training.convergence.EARLY_STOP_STILL_LEARNING`);
- ``drop``: the same for the training loss (a first candidate measure: it also grows when a net
  goes on to memorise noisy labels, which the validation loss does not reward);
- ``fall``: how much the training loss fell over the last ``n_iter_no_change`` epochs (another
  first candidate: a net that reached a small loss quickly falls far too);
- ``updates``: minibatch updates until the stop.

A run is *cut short* when its held-out error is at least :data:`CUT_SHORT_MARGIN` points above
the reference's on the same fold. Runs: ``DBN().pretrain(X).to_mlp(early_stopping=True,
**arm).fit(X, y)`` on the first ``--folds`` folds of :func:`panel_study.cv_folds` of the sets
of :mod:`convergence_study` (digits, digits with half the labels at random, rectangles, wine,
breast-cancer and, with ``--data-dir``, four MASS tables), arms :data:`ARMS`.

Outputs in ``--output`` (default ``benchmarks/results/early-stopping``): ``results.json``,
``results.md`` and ``log.txt``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import command_line, machine_info, open_log  # noqa: E402
from convergence_study import DIGITS_LABEL_NOISE, study_folds, study_sets  # noqa: E402

from dbn._training.convergence import (  # noqa: E402
    BACKPROP_HIGH_LOSS,
    EARLY_STOP_STILL_LEARNING,
    constant_prediction_loss,
)

#: ``to_mlp()`` settings of the early-stopping arms, on top of the library's defaults.
ARMS = {
    "10 % held out": dict(early_stopping=True, validation_fraction=0.1),
    "20 % held out": dict(early_stopping=True, validation_fraction=0.2),
    # The warning's first remedy: five times the patience.
    "10 % held out, n_iter_no_change=50": dict(
        early_stopping=True, validation_fraction=0.1, n_iter_no_change=50
    ),
}
#: A run whose held-out error is this many points above the reference's was cut short.
CUT_SHORT_MARGIN = 5.0
#: Thresholds of the sign scored in the report (validation drop from the kept epoch / chance).
THRESHOLDS = (0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.3)
#: Sets whose runs learn well or cannot learn more (half the labels at random): none cut short.
HEALTHY_SETS = (
    "digits",
    f"digits, {100 * DIGITS_LABEL_NOISE:.0f} % labels at random",
    "rectangles",
)


def end_of(net, y_train):
    """How an early-stopped run ended: the kept epoch, its training loss and the last fall."""
    curve = np.asarray(net.loss_curve_)
    classes = np.unique(np.asarray(y_train), return_inverse=True)[1]
    chance, _ = constant_prediction_loss("softmax_cross_entropy", classes)
    kept = int(np.argmax(net.validation_scores_))
    validation_loss = np.asarray(net.history_["val_loss"], dtype=float)
    window = min(int(net.n_iter_no_change), len(curve) - 1)
    return dict(
        n_iter=int(net.n_iter_),
        kept_epoch=kept + 1,
        kept_over_chance=float(curve[kept] / chance),
        drop=float((curve[kept] - curve[-1]) / chance),
        validation_drop=float((validation_loss[kept] - validation_loss[-1]) / chance),
        validation_loss=validation_loss.tolist(),
        last_over_chance=float(curve[-1] / chance),
        fall=float((curve[-1 - window] - curve[-1]) / chance) if window > 0 else 0.0,
        best_validation_score=float(net.best_validation_score_),
        loss_curve=curve.tolist(),
        validation_scores=[float(v) for v in net.validation_scores_],
    )


def runs_of(name, X, y, visible_unit, folds, log, label_noise=0.0):
    """Every arm and the reference on the first ``folds`` splits of ``(X, y)``; with
    ``label_noise``, that share of the training labels is replaced at random."""
    out = []
    splits = study_folds(X, y, visible_unit, folds, label_noise)
    for fold, stack, X_train, y_train, X_test, y_test in splits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference = stack.to_mlp(random_state=fold).fit(X_train, y_train)
        reference_error = 100.0 * (1.0 - reference.score(X_test, y_test))
        for arm, knobs in ARMS.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                net = stack.to_mlp(random_state=fold, **knobs).fit(X_train, y_train)
            n_validation = int(round(knobs["validation_fraction"] * len(y_train)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # its clipping warning was caught by the fit
                batch = net.minibatch_size(len(y_train) - n_validation)
            run = dict(
                set=name,
                fold=fold,
                arm=arm,
                n_train=len(y_train),
                n_validation=n_validation,
                batch_size=int(batch),
                error=100.0 * (1.0 - net.score(X_test, y_test)),
                reference=reference_error,
                warnings=[str(w.message) for w in caught if w.category is ConvergenceWarning],
            )
            run.update(end_of(net, y_train))
            run["updates"] = run["n_iter"] * -(-(run["n_train"] - run["n_validation"]) // batch)
            log(
                f"{name} fold {fold} {arm}: {run['n_iter']} epochs ({run['updates']} updates), "
                f"kept {run['kept_epoch']}, loss {run['kept_over_chance']:.3f} of chance, "
                f"validation drop {run['validation_drop']:.3f}; error {run['error']:.2f} % "
                f"against {reference_error:.2f} %"
            )
            out.append(run)
    return out


def cut_short(run):
    return run["error"] - run["reference"] >= CUT_SHORT_MARGIN


def high_loss(run):
    """Whether the high-loss sign reports the run (its last loss at 90 % of chance or more)."""
    return run["last_over_chance"] >= BACKPROP_HIGH_LOSS


def markdown(runs, settings):
    lines = [
        "# How early stopping ends fine-tuning on small sets",
        "",
        settings,
        "",
        "Per set and arm: runs, runs cut short (held-out error at least "
        f"{CUT_SHORT_MARGIN:g} points above the same net without a validation split), median "
        "epochs and updates to the stop, the ranges of the kept epoch's training loss and of the "
        "validation loss's drop from the kept epoch to the last (both as fractions of the "
        "constant prediction's loss), and the runs the library warned about (any "
        "ConvergenceWarning).",
        "",
        "| set | arm | runs | cut short | error (%) | reference (%) | epochs | updates | "
        "kept loss / chance | validation drop / chance | warned |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    keys = list(dict.fromkeys((r["set"], r["arm"]) for r in runs))
    for name, arm in keys:
        rs = [r for r in runs if (r["set"], r["arm"]) == (name, arm)]
        kept = [r["kept_over_chance"] for r in rs]
        drop = [r["validation_drop"] for r in rs]
        lines.append(
            f"| {name} | {arm} | {len(rs)} | {sum(map(cut_short, rs))} | "
            f"{np.mean([r['error'] for r in rs]):.2f} | "
            f"{np.mean([r['reference'] for r in rs]):.2f} | "
            f"{np.median([r['n_iter'] for r in rs]):.0f} | "
            f"{np.median([r['updates'] for r in rs]):.0f} | "
            f"{min(kept):.3f}-{max(kept):.3f} | {min(drop):.3f}-{max(drop):.3f} | "
            f"{sum(bool(r['warnings']) for r in rs)} |"
        )
    short = [r for r in runs if cut_short(r)]
    rest = [r for r in runs if not cut_short(r)]
    lines += [
        "",
        "## Thresholds of the sign",
        "",
        "A run is reported by the sign when its validation loss at the kept epoch is above the "
        "last epoch's by at least the threshold times the constant prediction's loss "
        "(`dbn._training.convergence.EARLY_STOP_STILL_LEARNING`, now "
        f"{EARLY_STOP_STILL_LEARNING:g}); the counts add the runs that the high-loss sign "
        "(a final loss of at least 90 % of the constant prediction's) reports, whatever the "
        "threshold. Healthy: the runs on digits, digits with half the labels at random and "
        "rectangles, none cut short.",
        "",
        "| threshold | cut short, reported | cut short, not reported | others reported | "
        "healthy runs reported |",
        "|---:|---:|---:|---:|---:|",
    ]
    for threshold in THRESHOLDS:
        fires = [r for r in runs if r["validation_drop"] >= threshold or high_loss(r)]
        lines.append(
            f"| {threshold:g} | {sum(map(cut_short, fires))} | "
            f"{sum(cut_short(r) for r in runs if r not in fires)} | "
            f"{sum(not cut_short(r) for r in fires)} | "
            f"{sum(r['set'] in HEALTHY_SETS for r in fires)} |"
        )
    lines += ["", "## The runs cut short and the others", ""]
    for label, group in (("cut short", short), ("the others", rest)):
        if group:
            lines.append(
                f"- {label}: {len(group)} runs; kept loss / chance "
                f"{min(r['kept_over_chance'] for r in group):.3f}-"
                f"{max(r['kept_over_chance'] for r in group):.3f}, validation drop / chance "
                f"{min(r['validation_drop'] for r in group):.3f}-"
                f"{max(r['validation_drop'] for r in group):.3f}, "
                f"updates {min(r['updates'] for r in group)}-{max(r['updates'] for r in group)}"
            )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5, help="splits per set")
    parser.add_argument("--data-dir", help="folder of the MASS CSV files (see heldout_tabular)")
    parser.add_argument(
        "--output", default=str(Path(__file__).parent / "results" / "early-stopping")
    )
    parser.add_argument(
        "--report", action="store_true", help="only rewrite results.md from results.json"
    )
    args = parser.parse_args(argv)
    output = Path(args.output)
    if args.report:
        payload = json.loads((output / "results.json").read_text())
        (output / "results.md").write_text(markdown(payload["runs"], payload["settings"]))
        return
    log = open_log(output)  # creates the folder

    runs = []
    for name, X, y, visible_unit, label_noise in study_sets(args.data_dir):
        runs += runs_of(name, X, y, visible_unit, args.folds, log, label_noise)
    machine = machine_info()
    command = command_line(__file__, argv)
    settings = (
        f"Run on {machine.get('cpu', '?')} ({machine['cpu_count']} cores), "
        f"{time.strftime('%Y-%m-%d')}: `python {command}`. "
        f"Folds: the first {args.folds} of `panel_study.cv_folds` per set; pretraining and "
        "fine-tuning at the library's defaults, with `early_stopping=True` and the arm's "
        "`validation_fraction`; the reference is the same pretrained net fine-tuned without a "
        "validation split."
    )
    payload = dict(machine=machine, settings=settings, runs=runs)
    (output / "results.json").write_text(json.dumps(payload, indent=1))
    (output / "results.md").write_text(markdown(runs, settings))
    log(f"results in {output}")


if __name__ == "__main__":
    main()
