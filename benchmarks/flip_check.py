"""MNIST and inverted MNIST (``1 - X``) under the previous and the current DBN defaults.

    python benchmarks/flip_check.py [--seeds 0]

The set-up of a new user: ``DBN([500, 500], n_iter=5, random_state=s).pretrain(X[:30000])``, then
a logistic regression on the frozen features of 1,000 class-balanced labels (the features'
quality) and ``to_mlp(max_iter=100)`` fine-tuned on the same labels; test error on the 10,000 test
images, and each layer's last reconstruction error. "previous" is the defaults before the data
panel study (minibatch 10, momentum 0.9, no centring, fine-tuning by SGD 0.1 with Nesterov 0.9);
"current" is the library's defaults when the script runs. Writes ``flip.json`` and ``flip.md``
into ``--output`` (default ``benchmarks/results/panel``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_info  # noqa: E402
from panel_study import balanced_subset  # noqa: E402

from dbn import DBN  # noqa: E402
from dbn.datasets import load_panel  # noqa: E402

PREVIOUS = (
    dict(centering=False, init_std=0.01),
    dict(solver="sgd", learning_rate_init=0.1, momentum=0.9),
)
CURRENT = ({}, {})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "panel"))
    args = parser.parse_args(argv)
    output = Path(args.output)
    rows = []
    for name in ("mnist", "mnist-inverted"):
        d = load_panel(name)
        for seed in [int(s) for s in args.seeds.split(",")]:
            labelled = balanced_subset(d.y_train, 1000, seed)
            X, y = d.X_train[labelled], d.y_train[labelled]
            for arm, (pre, fine) in (("previous", PREVIOUS), ("current", CURRENT)):
                start = time.perf_counter()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    stack = DBN([500, 500], n_iter=5, random_state=seed, **pre)
                    stack.pretrain(d.X_train[:30_000])
                    features = LogisticRegression(max_iter=1000).fit(stack.transform(X), y)
                    frozen = 1.0 - features.score(stack.transform(d.X_test), d.y_test)
                    net = stack.to_mlp(max_iter=100, random_state=seed, **fine).fit(X, y)
                row = dict(
                    set=name,
                    seed=seed,
                    arm=arm,
                    frozen_error=float(frozen),
                    finetuned_error=float(1.0 - net.score(d.X_test, d.y_test)),
                    reconstruction_errors=[
                        float(layer.history_["reconstruction_error"][-1]) for layer in stack.layers_
                    ],
                    warnings=sorted({str(w.message)[:80] for w in caught}),
                    seconds=time.perf_counter() - start,
                )
                print(row, flush=True)
                rows.append(row)
    (output / "flip.json").write_text(json.dumps(dict(machine=machine_info(), rows=rows), indent=1))
    lines = [
        "# MNIST and inverted MNIST, previous and current DBN defaults",
        "",
        "`python benchmarks/flip_check.py`: `DBN([500, 500], n_iter=5).pretrain(X[:30000])`, "
        "1,000 labels, test errors (%) on the 10,000 test images.",
        "",
        "| set | seed | defaults | frozen features + logistic regression | fine-tuned "
        "(`to_mlp(max_iter=100)`) | reconstruction error, layer 1 / 2 | warned |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for r in rows:
        recon = " / ".join(f"{e:.2f}" for e in r["reconstruction_errors"])
        lines.append(
            f"| {r['set']} | {r['seed']} | {r['arm']} | {100 * r['frozen_error']:.2f} | "
            f"{100 * r['finetuned_error']:.2f} | {recon} | {'yes' if r['warnings'] else 'no'} |"
        )
    (output / "flip.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
