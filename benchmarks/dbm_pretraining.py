"""Choose the DBM's pretraining learning rate on validation splits of the data panel.

    python benchmarks/dbm_pretraining.py            # every candidate on every set
    python benchmarks/dbm_pretraining.py --sets rectangles --rates 0.05,0.01

At ``pretrain_learning_rate=0.05`` (the paper's) with momentum 0.9, the top RBM of the greedy
pretraining, whose top-down input is doubled (Salakhutdinov & Hinton 2009, section 3.1), left
70 % of its 1,000 hidden units constant across 10,000 binarised MNIST images after 5 epochs and
93 % after 20 (a unit counts as dead when its mean-field posterior varies by less than 0.01 over
the validation rows); joint training kept 80-98 % of them dead (``benchmarks/results/dbm``). A
plain RBM with the same settings on the same inputs kept all of them alive.

Each cell trains ``DBM((500, 1000), pretrain_n_iter=10, n_iter=3)`` on the set's first 10,000
training rows (pixels in [0, 1], as probabilities), then measures on the validation split:

- the fraction of dead units per hidden layer;
- the error of ``to_mlp()`` fine-tuned for 20 epochs at its defaults on 1,000 class-balanced
  labels (``benchmarks/panel_study.py``'s protocol; all of them where the set has fewer).

A candidate's score is its worst ratio of validation error (averaged over the set's seeds) to
the best candidate's on that set, with the panel study's floor (one point or two validation
examples). Rectangles, whose validation split has 200 images, runs seeds 0-4 (``--seeds``), as
the panel study does; the other sets one. Test splits are not used.
Results go to ``benchmarks/results/dbm/pretraining-rate/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_info  # noqa: E402
from panel_study import N_LABELS, balanced_subset, ratio_floor  # noqa: E402

from dbn import DBM  # noqa: E402
from dbn.datasets import load_panel  # noqa: E402

SETS = ("mnist", "mnist-basic", "rectangles", "convex")
RATES = (0.05, 0.02, 0.01)
N_UNLABELLED = 10_000
FINETUNE_EPOCHS = 20
DEAD_STD = 0.01


def dead_fractions(dbm, X):
    """Per hidden layer, the fraction of units whose mean-field posterior has a standard
    deviation below ``DEAD_STD`` over the rows of ``X``."""
    return [float(np.mean(mu.std(axis=0) < DEAD_STD)) for mu in dbm.mean_field(X)]


def run_cell(d, rate, seed, centering=False):
    X = d.X_train[:N_UNLABELLED]
    start = time.perf_counter()
    dbm = DBM(
        (500, 1000),
        pretrain_n_iter=10,
        n_iter=3,
        pretrain_learning_rate=rate,
        centering=centering,
        random_state=seed,
    )
    dbm.pretrain(X)
    dead_pretrained = dead_fractions(dbm, d.X_val)
    dbm.fit(X)
    rows = balanced_subset(d.y_train, N_LABELS, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short fine-tuning warns; the error is what counts
        net = dbm.to_mlp(max_iter=FINETUNE_EPOCHS, random_state=seed)
        net.fit(dbm.augment(d.X_train[rows]), d.y_train[rows])
    error = float(1.0 - net.score(dbm.augment(d.X_val), d.y_val))
    return dict(
        rate=rate,
        centering=centering,
        seed=seed,
        dead_pretrained=dead_pretrained,
        dead_joint=dead_fractions(dbm, d.X_val),
        val_error=error,
        seconds=time.perf_counter() - start,
    )


def markdown(cells, sets, rates):
    lines = [
        "# DBM pretraining learning rate, on validation",
        "",
        "`DBM((500, 1000), pretrain_n_iter=10, n_iter=3, pretrain_learning_rate=r)` on the first "
        f"{N_UNLABELLED} training rows; `to_mlp()` fine-tuned {FINETUNE_EPOCHS} epochs on "
        f"{N_LABELS} labels (`benchmarks/dbm_pretraining.py`). Each cell: validation error (%), "
        "then the dead fraction of layers 1 and 2 after pretraining and after joint training.",
        "",
        "| candidate | " + " | ".join(sets) + " | worst ratio |",
        "|---|" + "---|" * len(sets) + "---:|",
    ]

    def key(c):
        return (c["rate"], c.get("centering", False))

    by = {}  # (set, candidate) -> cells over seeds
    for c in cells:
        by.setdefault((c["set"], key(c)), []).append(c)
    mean_error = {k: float(np.mean([c["val_error"] for c in cs])) for k, cs in by.items()}
    best = {s: min(e for (name, _), e in mean_error.items() if name == s) for s, _ in by}
    for rate in rates:
        name = f"{rate[0]:g}" + (", centred joint training" if rate[1] else "")
        row, ratios = [], []
        for s in sets:
            cs = by.get((s, rate))
            if not cs:
                row.append("")
                continue
            f = ratio_floor(cs[0]["n_val"])
            ratios.append((mean_error[s, rate] + f) / (best[s] + f))
            dp = np.mean([c["dead_pretrained"] for c in cs], axis=0)
            dj = np.mean([c["dead_joint"] for c in cs], axis=0)
            seeds = f" ({len(cs)} seeds)" if len(cs) > 1 else ""
            row.append(
                f"{100 * mean_error[s, rate]:.2f}{seeds}; dead {dp[0]:.2f}/{dp[1]:.2f} -> "
                f"{dj[0]:.2f}/{dj[1]:.2f}; {np.mean([c['seconds'] for c in cs]):.0f} s"
            )
        worst = f"{max(ratios):.3f}" if len(ratios) == len(sets) else ""
        lines.append(f"| {name} | " + " | ".join(row) + f" | {worst} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--rates", default=",".join(map(str, RATES)))
    parser.add_argument("--seeds", default="0", help="comma-separated")
    parser.add_argument("--centering", action="store_true", help="centred joint training")
    parser.add_argument(
        "--output",
        default=str(Path(__file__).parent / "results" / "dbm" / "pretraining-rate"),
    )
    args = parser.parse_args(argv)
    sets = [s for s in args.sets.split(",") if s]
    rates = [float(r) for r in args.rates.split(",")]
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / "results.json"
    cells = json.loads(path.read_text())["cells"] if path.exists() else []
    done = {(c["set"], c["rate"], c["seed"], c.get("centering", False)) for c in cells}
    for name in sets:
        d = load_panel(name, test_size=1)
        for rate, seed in [(r, int(s)) for r in rates for s in args.seeds.split(",")]:
            if (name, rate, seed, args.centering) in done:
                continue
            cell = dict(
                set=name, n_val=int(len(d.y_val)), **run_cell(d, rate, seed, args.centering)
            )
            print(
                f"{name} rate {rate:g}{' centred' if args.centering else ''}: validation error {100 * cell['val_error']:.2f} %, dead "
                f"{cell['dead_pretrained']} -> {cell['dead_joint']}, {cell['seconds']:.0f} s",
                flush=True,
            )
            cells.append(cell)
            path.write_text(json.dumps(dict(machine=machine_info(), cells=cells), indent=1) + "\n")
    all_sets = list(dict.fromkeys([*SETS, *sets]))
    all_rates = sorted({(c["rate"], c.get("centering", False)) for c in cells}, reverse=True)
    (output / "results.md").write_text(markdown(cells, all_sets, all_rates))


if __name__ == "__main__":
    main()
