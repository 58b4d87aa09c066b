"""Where plain CD stops learning as the inputs' mean rises: a check of ``centering="auto"``'s 0.5.

    python benchmarks/centering_threshold.py [--seeds 0,1,2] [--n-pretrain 10000]

``DBN(centering="auto")`` centres a layer whose inputs have a mean above 0.5
(``dbn.stack.AUTO_CENTERING_MEAN``) and trains the others plain. The panel study chose that rule
on two mostly-on sets, inverted MNIST (mean 0.87) and mnist-back-rand (0.54), where plain CD
collapsed, and on sparse sets where centring cost accuracy. This script asks where between them
the crossing lies, on images of MNIST's digits made brighter in two ways no study used:

- ``offset o``: every pixel lifted, ``o + (1 - o) x`` (a grey background, the digits kept whole);
- ``noise c``: each background pixel replaced by uniform noise in ``[0, c]`` where it is brighter,
  ``max(x, u)``, as mnist-back-rand does with ``c = 1``.

For each variant, seed and ``centering`` in (False, True): ``DBN([500], n_iter=5)`` at every
other default, pretrained on the first ``--n-pretrain`` images of the panel's MNIST training split;
the collapse signs of :mod:`dbn._training.convergence` (reconstruction error over the mean image's,
share of constant hidden units, the library's warning); a logistic regression on the frozen
features of 1,000 class-balanced training labels, and ``to_mlp(max_iter=100)`` fine-tuned on
them, on the raw inputs and on inputs centred by their training mean (``center_inputs``); beside
them ``MLPClassifier([500], init="xavier_uniform", max_iter=100)`` on the same labels. Errors are on the panel's MNIST validation split (10,000 images): nothing here reads a test
image. Writes ``results.json`` and ``results.md`` into ``--output`` (default
``benchmarks/results/centering-threshold``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_info  # noqa: E402
from panel_study import balanced_subset  # noqa: E402

from dbn import DBN, MLPClassifier  # noqa: E402
from dbn.datasets import load_panel  # noqa: E402
from dbn.stack import AUTO_CENTERING_MEAN  # noqa: E402

OFFSETS = (0.0, 0.2, 0.35, 0.45, 0.55, 0.7, 0.85)
NOISE_LEVELS = (0.5, 0.7, 0.85, 1.0)
#: The hidden units' activation spread below which a unit counts as constant (the library's).
CONSTANT_STD = 1e-3


def brightened(X, kind, level, seed):
    """``X`` (pixels in [0, 1]) lifted by a grey offset or a noise background; a new array."""
    if kind == "offset":
        return (level + (1.0 - level) * X).astype(np.float32)
    noise = np.random.default_rng(10_000 + seed).random(X.shape, dtype=np.float32) * level
    return np.maximum(X, noise)


def variants():
    """``(name, kind, level)`` of every variant, darkest first within each kind."""
    return [(f"offset {o}", "offset", o) for o in OFFSETS] + [
        (f"noise {c}", "noise", c) for c in NOISE_LEVELS
    ]


def measure(splits, seed, centering, n_pretrain, labelled):
    """One pretraining and its two read-outs; a result row (errors in %)."""
    X_train, y_train, X_val, y_val = splits
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stack = DBN([500], n_iter=5, centering=centering, random_state=seed)
        stack.pretrain(X_train[:n_pretrain])
        rbm = stack.layers_[0]
        monitor = X_train[:1000]
        ratio = rbm.history_["reconstruction_error"][-1] / float(monitor.var(axis=0).sum())
        constant = float((rbm.transform(monitor).std(axis=0) < CONSTANT_STD).mean())
        X, y = X_train[labelled], y_train[labelled]
        probe = LogisticRegression(max_iter=1000).fit(stack.transform(X), y)
        frozen = 1.0 - probe.score(stack.transform(X_val), y_val)
        finetuned = {}
        for center_inputs in (False, True):
            net = stack.to_mlp(max_iter=100, random_state=seed, center_inputs=center_inputs)
            finetuned[center_inputs] = 1.0 - net.fit(X, y).score(X_val, y_val)
    collapsed = any("is not learning" in str(w.message) for w in caught)
    return dict(
        centering=centering,
        ratio=float(ratio),
        constant_units=constant,
        collapse_warning=collapsed,
        frozen_error=100 * float(frozen),
        finetuned_error=100 * float(finetuned[False]),
        finetuned_centred_inputs_error=100 * float(finetuned[True]),
        seconds=time.perf_counter() - start,
    )


def xavier_error(splits, seed, labelled):
    """Validation error (%) of ``MLPClassifier([500], init="xavier_uniform", max_iter=100)``, the
    same net without pretraining, at its other defaults (Adam 1e-3), on the same labels."""
    X_train, y_train, X_val, y_val = splits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = MLPClassifier([500], init="xavier_uniform", max_iter=100, random_state=seed)
        net.fit(X_train[labelled], y_train[labelled])
    return 100 * float(1.0 - net.score(X_val, y_val))


def summary(rows):
    """Per variant: mean input, and each arm's mean errors over seeds (the markdown table)."""
    lines = [
        "| variant | input mean | `auto` centres | frozen error, plain / centred | fine-tuned on "
        "raw inputs, plain / centred | fine-tuned on centred inputs, plain / centred | today's "
        "defaults (`auto`, centred inputs) | Xavier | plain: error ratio, constant units, warned "
        "(of seeds) | better RBM, fine-tuned on raw / centred inputs |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == name]
        plain = [r for r in mine if not r["centering"]]
        centred = [r for r in mine if r["centering"]]

        def mean(arm, key):
            return float(np.mean([r[key] for r in arm]))

        def better(key, plain=plain, centred=centred):
            return "plain" if mean(plain, key) < mean(centred, key) else "centred"

        auto = centred if mine[0]["input_mean"] > AUTO_CENTERING_MEAN else plain
        lines.append(
            f"| {name} | {mine[0]['input_mean']:.3f} | "
            f"{'yes' if auto is centred else 'no'} | "
            f"{mean(plain, 'frozen_error'):.2f} / {mean(centred, 'frozen_error'):.2f} | "
            f"{mean(plain, 'finetuned_error'):.2f} / {mean(centred, 'finetuned_error'):.2f} | "
            f"{mean(plain, 'finetuned_centred_inputs_error'):.2f} / "
            f"{mean(centred, 'finetuned_centred_inputs_error'):.2f} | "
            f"{mean(auto, 'finetuned_centred_inputs_error'):.2f} | "
            f"{mean(plain, 'xavier_error'):.2f} | "
            f"{mean(plain, 'ratio'):.2f}, {mean(plain, 'constant_units'):.2f}, "
            f"{sum(r['collapse_warning'] for r in plain)} of {len(plain)} | "
            f"{better('finetuned_error')} / {better('finetuned_centred_inputs_error')} |"
        )
    return lines


def write_markdown(output, record):
    """``results.md`` from the ``results.json`` record."""
    settings = record["settings"]
    seeds = ",".join(str(s) for s in settings["seeds"])
    n_pretrain = settings["n_pretrain"]
    lines = [
        "# Plain or centred CD as the inputs' mean rises",
        "",
        f"`python benchmarks/centering_threshold.py --seeds {seeds} --n-pretrain {n_pretrain}`: "
        f"`DBN([500], n_iter=5)` pretrained on {n_pretrain:,} brightened MNIST training images, "
        "read out with 1,000 labels; errors (%) on the 10,000 validation images, means over "
        f'seeds {seeds}. `centering="auto"` centres above a mean of {settings["threshold"]}.',
        "",
        *summary(record["rows"]),
    ]
    (output / "results.md").write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n-pretrain", type=int, default=10_000)
    parser.add_argument("--variants", nargs="*", help="names to run (default: all)")
    parser.add_argument(
        "--output", default=str(Path(__file__).parent / "results" / "centering-threshold")
    )
    parser.add_argument(
        "--render", action="store_true", help="only write results.md from results.json"
    )
    args = parser.parse_args(argv)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    if args.render:
        return write_markdown(output, json.loads((output / "results.json").read_text()))
    seeds = [int(s) for s in args.seeds.split(",")]
    mnist = load_panel("mnist")
    rows, started = [], time.perf_counter()
    for name, kind, level in variants():
        if args.variants and name not in args.variants:
            continue
        for seed in seeds:
            X_train = brightened(mnist.X_train, kind, level, seed)
            X_val = brightened(mnist.X_val, kind, level, seed + 100)
            splits = (X_train, mnist.y_train, X_val, mnist.y_val)
            labelled = balanced_subset(mnist.y_train, 1000, seed)
            xavier = xavier_error(splits, seed, labelled)
            for centering in (False, True):
                row = dict(variant=name, seed=seed, input_mean=float(X_train.mean()))
                row["xavier_error"] = xavier
                row |= measure(splits, seed, centering, args.n_pretrain, labelled)
                print(json.dumps(row), flush=True)
                rows.append(row)
    settings = dict(seeds=seeds, n_pretrain=args.n_pretrain, threshold=AUTO_CENTERING_MEAN)
    record = dict(machine=machine_info(), settings=settings, rows=rows)
    record["seconds"] = time.perf_counter() - started
    (output / "results.json").write_text(json.dumps(record, indent=1))
    write_markdown(output, record)


if __name__ == "__main__":
    main()
