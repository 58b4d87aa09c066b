"""The defaults on a set that no study used: Fashion-MNIST, test split only, after the fact.

    python benchmarks/heldout.py --npz fashion.npz          # about 6 minutes on 2 cores
    python benchmarks/heldout.py --npz fashion.npz --seeds 0,1,2 --arms issue,defaults

Every default of dbn was chosen on the validation splits of the data panel
(``benchmarks/panel_study.py``). This script checks the choice on a set outside the panel, which
no study has looked at, so its figures say how the defaults carry over; nothing is chosen here.

The data: any ``.npz`` with ``X`` (uint8 grey levels, 784 columns) and ``y`` (labels), for
instance Fashion-MNIST (Xiao, Rasul & Vollgraf 2017). The last 10,000 rows are the test split,
the first 60,000 the training split. The set-up is the one issue 22 measured a loss on:

- ``issue``: ``DBN([500, 500], n_iter=5, random_state=s).pretrain(X[:30000]).to_mlp(max_iter=100)``
  fine-tuned on 1,000 class-balanced labels, against ``MLPClassifier([500, 500],
  init="xavier_uniform", max_iter=100)`` on the same labels;
- ``defaults``: ``DBN().pretrain(X[:30000]).to_mlp()`` with every setting at its default, against
  the same Xavier net;
- each also on the inverted images (``1 - X``), where most inputs are on, and on the images
  lifted onto a grey background (``--images grey``: ``0.7 + 0.3 X``, bright and of little
  contrast);
- ``issue-raw``: the issue's set-up fine-tuned on the raw inputs (``center_inputs=False``), as
  ``to_mlp()`` did before the twenty-third panel round.

Outputs in ``--output`` (default ``benchmarks/results/heldout``): ``results.json`` and
``results.md``, with machine information.

References
----------
Xiao, H., Rasul, K., & Vollgraf, R. (2017). Fashion-MNIST: a novel image dataset for
benchmarking machine learning algorithms. arXiv:1708.07747.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_info, write_report  # noqa: E402
from panel_study import N_LABELS, UNLABELLED_ROWS, balanced_subset  # noqa: E402

from dbn import DBN, MLPClassifier  # noqa: E402

N_TEST = 10_000
STACK = dict(hidden_layer_sizes=[500, 500], n_iter=5)
FINETUNE_EPOCHS = 100

#: ``name: (DBN parameters, to_mlp parameters)``.
ARMS = {
    "issue": (STACK, dict(max_iter=FINETUNE_EPOCHS)),
    "defaults": ({}, {}),
    # The set-up fine-tuned on the raw inputs, as to_mlp() did before the twenty-third
    # panel round made it centre binary inputs.
    "issue-raw": (STACK, dict(max_iter=FINETUNE_EPOCHS, center_inputs=False)),
}
#: ``--images``: the grey levels as they are, inverted (most inputs on), or lifted onto a grey
#: background (``0.7 + 0.3 x``: bright and of little contrast, as a scan may be).
IMAGES = {
    "plain": lambda X: X,
    "inverted": lambda X: 1.0 - X,
    "grey": lambda X: (0.7 + 0.3 * X).astype(np.float32),
}


def load_npz(path):
    """Grey levels in [0, 1] and labels, split into (train, test) as the module says."""
    with np.load(path) as f:
        X, y = f["X"], f["y"]
    if X.ndim != 2 or X.shape[1] != 784:
        raise ValueError(f"X in {path} must have shape (n, 784); got {X.shape}")
    if len(X) <= N_TEST:
        raise ValueError(f"{path} must hold more than {N_TEST} rows; got {len(X)}")
    X = X.astype(np.float32) / 255.0
    return (X[:-N_TEST], y[:-N_TEST]), (X[-N_TEST:], y[-N_TEST:])


def run_arm(arm, train, test, seed):
    """Test errors (%) of the pretrained net and of Xavier's, with seconds and warnings."""
    (X, y), (X_test, y_test) = train, test
    rows = balanced_subset(y, N_LABELS, seed)
    stack_params, mlp_params = ARMS[arm]
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stack = DBN(**stack_params, random_state=seed).pretrain(X[:UNLABELLED_ROWS])
        net = stack.to_mlp(**mlp_params, random_state=seed).fit(X[rows], y[rows])
    dbn_seconds = time.perf_counter() - start
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xavier = MLPClassifier(
            STACK["hidden_layer_sizes"],
            init="xavier_uniform",
            max_iter=FINETUNE_EPOCHS,
            random_state=seed,
        ).fit(X[rows], y[rows])
    return dict(
        seed=seed,
        widths=[layer.n_components for layer in stack.layers_],
        dbn=100 * (1.0 - net.score(X_test, y_test)),
        xavier=100 * (1.0 - xavier.score(X_test, y_test)),
        dbn_seconds=dbn_seconds,
        xavier_seconds=time.perf_counter() - start,
        warnings=sorted({str(w.message)[:160] for w in caught}),
    )


def markdown(results, source):
    lines = [
        "# The defaults on a set no study used (test split)",
        "",
        f"Data: `{source}`; 1,000 class-balanced labels of the first 60,000 rows, unlabelled "
        "data their first 30,000, test on the last 10,000. Gain: Xavier's error minus the "
        "pretrained net's (positive: pretraining helps). `benchmarks/heldout.py`.",
        "",
        "| images | arm | seeds | DBN (%) | Xavier (%) | gain (mean ± std) | worst gain | "
        "s DBN / Xavier | warnings |",
        "|---|---|---|---:|---:|---:|---:|---|---|",
    ]
    for key, runs in results.items():
        images, arm = key.split("/")
        gains = np.array([r["xavier"] - r["dbn"] for r in runs])
        warned = sorted({w for r in runs for w in r["warnings"]})
        lines.append(
            f"| {images} | {arm} | {','.join(str(r['seed']) for r in runs)} | "
            f"{np.mean([r['dbn'] for r in runs]):.2f} | {np.mean([r['xavier'] for r in runs]):.2f} | "
            f"{gains.mean():+.2f} ± {gains.std():.2f} | {gains.min():+.2f} | "
            f"{np.mean([r['dbn_seconds'] for r in runs]):.0f} / "
            f"{np.mean([r['xavier_seconds'] for r in runs]):.0f} | {len(warned) or 'none'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npz", required=True, help="X (n, 784) uint8 and y, e.g. Fashion-MNIST")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--arms", default="issue,defaults")
    parser.add_argument("--images", default="plain,inverted")
    parser.add_argument("--output", default="benchmarks/results/heldout")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    arms = args.arms.split(",")
    images = args.images.split(",")
    for name, allowed in (("--arms", ARMS), ("--images", IMAGES)):
        unknown = set(arms if name == "--arms" else images) - set(allowed)
        if unknown:
            raise SystemExit(f"{name}: unknown {sorted(unknown)}; expected some of {list(allowed)}")
    train, test = load_npz(args.npz)
    results = {}
    for kind in images:
        train_k = (IMAGES[kind](train[0]), train[1])
        test_k = (IMAGES[kind](test[0]), test[1])
        for arm in arms:
            runs = results.setdefault(f"{kind}/{arm}", [])
            for seed in seeds:
                run = run_arm(arm, train_k, test_k, seed)
                runs.append(run)
                print(
                    f"{kind} {arm} seed {seed}: DBN {run['dbn']:.2f} %, Xavier {run['xavier']:.2f} %"
                    f", gain {run['xavier'] - run['dbn']:+.2f} ({run['dbn_seconds']:.0f} s)",
                    flush=True,
                )
    source = Path(args.npz).name
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    write_report(
        output,
        dict(machine=machine_info(), source=source, results=results),
        markdown(results, source),
    )


if __name__ == "__main__":
    main()
