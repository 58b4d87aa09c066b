"""The nets of the held-out tables at initialisation: what the pretraining hands the fine-tuning.

    python benchmarks/tabular_initialisation.py --data-dir DIR

:mod:`heldout_tabular` found the pretrained net behind Xavier's on small real-valued tables,
and, against the same net started from Xavier's weights, the pretraining helping on some tables
and hurting on others. This script looks at both nets *before* fine-tuning, on the first fold of
each table (the fold's training rows, standardised as there), with
:func:`dbn.diagnostics.layer_statistics` and one more measure, in the spirit of Glorot & Bengio
(2010): a good start keeps each layer's activations away from zero and from saturation, and
passes the input's variation and the gradient through every layer.

- ``row_std``: the standard deviation of each hidden unit's activation across the rows, averaged
  over the layer's units: how much of the input's variation the layer passes on (a unit that
  gives every row the same value passes none);
- ``saturated``: the fraction of sigmoid outputs below 0.01 or above 0.99;
- ``delta_std``: the standard deviation of the back-propagated gradient at the first hidden
  layer, per row: how much of the loss's signal reaches the bottom.

Beside them, the pretraining's share of the held-out error, read from
``benchmarks/results/heldout-tabular/results.json`` (the defaults' gain over Xavier less the
same net's from Xavier's weights, mean over the folds). Nothing is chosen here. Outputs in
``--output`` (default ``benchmarks/results/tabular-initialisation``): ``results.json``,
``results.md``.

References
----------
Glorot, X. & Bengio, Y. (2010). Understanding the difficulty of training deep feedforward neural
networks. AISTATS.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import command_line, machine_info  # noqa: E402
from heldout_tabular import ARMS, SETS, XAVIER_SAME_NET, evaluation_splits, load_table, standardised  # noqa: E402  # noqa: E402

from dbn import DBN, MLPClassifier  # noqa: E402
from dbn.diagnostics import layer_statistics, propagate  # noqa: E402
from dbn.stack import REAL_VALUED_TO_MLP_DEFAULTS  # noqa: E402

HELDOUT = Path(__file__).parent / "results" / "heldout-tabular" / "results.json"


def start_of(net, X, y):
    """Per hidden layer: (row_std, saturated), and the first layer's delta_std, of ``net``
    initialised on ``(X, y)``."""
    net.initialize(X, y)
    stats = layer_statistics(net, X, y)
    prop = propagate(net, X)[0]
    activations = prop.activations[1:-1]  # the hidden layers' outputs
    return dict(
        row_std=[float(np.mean(np.std(a, axis=0))) for a in activations],
        saturated=[float(s.saturated_fraction) for s in stats[:-1]],
        delta_std=float(stats[0].delta_std),
    )


def pretraining_share(name):
    """The defaults' held-out gain over Xavier less the same net's from Xavier's weights."""
    if not HELDOUT.exists():
        return None
    runs = json.loads(HELDOUT.read_text())["results"].get(name)
    if not runs or XAVIER_SAME_NET not in runs[0]:
        return None
    return float(np.mean([r[XAVIER_SAME_NET] - r["defaults"] for r in runs]))


def measure(name, X, y):
    seed, unlabelled, labelled, _ = next(iter(evaluation_splits(y)))
    X_unlabelled, X_train = standardised(X[unlabelled], X[labelled])
    y_train = y[labelled]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stack = DBN(visible_unit="gaussian", random_state=seed).pretrain(X_unlabelled)
    pretrained = stack.to_mlp(random_state=seed, **ARMS["defaults"])
    sizes = tuple(rbm.n_components for rbm in stack.layers_)
    xavier = MLPClassifier(
        sizes, init="xavier_uniform", random_state=seed, **REAL_VALUED_TO_MLP_DEFAULTS
    )
    return dict(
        set=name,
        features=int(X.shape[1]),
        widths=list(sizes),
        pretrained=start_of(pretrained, X_train, y_train),
        xavier=start_of(xavier, X_train, y_train),
        pretraining_share=pretraining_share(name),
    )


def markdown(rows, command):
    lines = [
        "# The held-out tables' nets at initialisation",
        "",
        f"`python {command}`; the first fold of each table. Per hidden layer, bottom first: the "
        "activations' standard deviation across rows (mean over units) and the fraction of "
        "saturated outputs; the first layer's back-propagated gradient (standard deviation per "
        'row). Pretrained: `DBN(visible_unit="gaussian").pretrain(X).to_mlp()`; Xavier: the '
        "same net from Xavier's weights. Share: the pretraining's held-out gain over the same "
        "net from Xavier's weights, in points (`heldout_tabular.py`; positive: it helps).",
        "",
        "| set | features | share (points) | row std, pretrained | row std, Xavier | "
        "saturated, pretrained | saturated, Xavier | gradient at layer 1, pretrained / Xavier |",
        "|---|---:|---:|---|---|---|---|---:|",
    ]

    def fmt(values):
        return " / ".join(f"{v:.3f}" for v in values)

    for r in sorted(
        rows, key=lambda r: -np.inf if r["pretraining_share"] is None else r["pretraining_share"]
    ):
        p, x = r["pretrained"], r["xavier"]
        share = "" if r["pretraining_share"] is None else f"{r['pretraining_share']:+.2f}"
        lines.append(
            f"| {r['set']} | {r['features']} | {share} | {fmt(p['row_std'])} | "
            f"{fmt(x['row_std'])} | {fmt(p['saturated'])} | {fmt(x['saturated'])} | "
            f"{p['delta_std']:.2e} / {x['delta_std']:.2e} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="as for heldout_tabular.py")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument(
        "--output", default=str(Path(__file__).parent / "results" / "tabular-initialisation")
    )
    args = parser.parse_args(argv)
    rows = []
    for name in args.sets.split(","):
        X, y = load_table(args.data_dir, name)
        rows.append(measure(name, X, y))
        print(name, rows[-1]["pretrained"], rows[-1]["xavier"], flush=True)
    command = command_line(__file__, argv)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    payload = dict(machine=machine_info(), command=command, rows=rows)
    (output / "results.json").write_text(json.dumps(payload, indent=1))
    (output / "results.md").write_text(markdown(rows, command))


if __name__ == "__main__":
    main()
