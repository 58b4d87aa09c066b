"""Why pretraining does not pay on the panel's small real-valued sets, and what was tried.

    python benchmarks/small_sets.py                       # wine, breast-cancer, digits
    python benchmarks/small_sets.py --sets breast-cancer --epochs 5
    python benchmarks/small_sets.py --widths auto --output benchmarks/results/small-sets-auto-widths

On breast-cancer and wine the DBN-initialised net loses to Xavier by about half a test example
per seed (``benchmarks/panel_study.py --parts check``). This study looks at the nets at
initialisation, in the manner of Glorot & Bengio (2010): for each layer, how much its units vary
from one example to the next (the per-unit standard deviation over the examples, averaged over
the units: a unit that barely varies carries nothing to the layer above), the fraction of
saturated sigmoid outputs, and the spread of the back-propagated gradient ``dLoss/dZ``
(:func:`dbn.diagnostics.layer_statistics`). Then it fine-tunes each net and scores it on the
**validation** split, for the panel study's set-up (``DBN([500, 500], visible_unit="gaussian")``,
the chosen pretraining and ``to_mlp()``'s defaults, 100 epochs, 1,000 labels or the whole
split; ``--widths auto``: the library's default widths, for both nets) and for remedies of
:data:`VARIANTS`:

- ``centre layer 2``: the second RBM centred (Melchior et al. 2016), since its inputs, the
  Gaussian layer's features, vary little around 0.5;
- ``Gaussian rate 0.1x``: the Gaussian layer at 0.1 times the library's rate instead of 0.03
  (real-valued sets only);
- ``rescaled``: each pretrained layer's weights scaled, unit by unit, so that its
  pre-activation varies with a standard deviation of at least one over the data, the mean kept
  (in the spirit of LSUV, Mishkin & Matas 2016; scaling only up).

Seeds: the panel grid's (:func:`panel_study.grid_seeds`). Outputs in ``--output`` (default
``benchmarks/results/small-sets``): ``results.json`` and ``results.md``.

References
----------
Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
neural networks. AISTATS.
Melchior, J., Fischer, A. and Wiskott, L. (2016). How to center deep Boltzmann machines. JMLR 17.
Mishkin, D. and Matas, J. (2016). All you need is a good init. ICLR.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import panel_study  # noqa: E402
from _report import machine_info, write_report  # noqa: E402

from dbn import DBN, MLPClassifier  # noqa: E402
from dbn.diagnostics import layer_statistics  # noqa: E402
from dbn.stack import auto_layer_sizes  # noqa: E402

SETS = ("wine", "breast-cancer", "digits")
WIDTHS = [500, 500]


def widths_for(widths, n_features):
    """The hidden widths of both nets: ``widths``, or the library's ``"auto"`` for
    ``n_features`` inputs (:func:`dbn.stack.auto_layer_sizes`)."""
    return list(auto_layer_sizes(n_features)) if widths == "auto" else list(widths)


#: Remedies, as ``DBN`` keyword arguments (``rescaled``: the chosen pretraining, post-processed).
VARIANTS = {
    "chosen": {},
    "centre layer 2": dict(layer_params={1: dict(centering=True)}),
    "Gaussian rate 0.1x": dict(layer_params={0: dict(learning_rate=0.1 * DBN().learning_rate)}),
    "rescaled": {},
}


def rescale_to_unit_preactivation(layers, X):
    """``layers`` (``(W, b)`` pairs of a sigmoid net) with each unit's incoming weights scaled up
    so that its pre-activation has a standard deviation of at least 1 over ``X``; the bias moves
    so that the mean pre-activation stays where it was."""
    scaled, h = [], X
    for W, b in layers:
        z = h @ W + b
        k = np.maximum(1.0, 1.0 / np.maximum(z.std(axis=0), 1e-8))
        W_new = (W * k).astype(W.dtype)
        b_new = (z.mean(axis=0) * (1.0 - k) + k * b).astype(b.dtype)
        scaled.append((W_new, b_new))
        h = 1.0 / (1.0 + np.exp(-(h @ W_new + b_new)))
    return scaled


def unit_variation(net, X):
    """Per hidden layer: the standard deviation of each unit over the examples, averaged."""
    h, spread = X, []
    for W, b in zip(net.coefs_[:-1], net.intercepts_[:-1], strict=True):
        h = 1.0 / (1.0 + np.exp(-(h @ W + b)))
        spread.append(float(h.std(axis=0).mean()))
    return spread


def describe_init(net, X, y):
    """Statistics of ``net`` (initialised) on ``(X, y)``, one dict per hidden layer."""
    stats = layer_statistics(net, X, y)[:-1]
    return [
        dict(
            unit_std=spread,
            activation_mean=s.activation_mean,
            saturated=s.saturated_fraction,
            gradient_std=s.delta_std,
        )
        for s, spread in zip(stats, unit_variation(net, X), strict=True)
    ]


def run_set(name, epochs, log, widths=WIDTHS, split="validation", variants=tuple(VARIANTS)):
    """Every run of ``variants`` and Xavier on the set ``name``, scored on ``split``: the
    validation split with the grid's seeds, or the test split with the check's."""
    test = split == "test"
    d = panel_study.data(name, test=test)
    X_eval, y_eval = (d.X_test, d.y_test) if test else (d.X_val, d.y_val)
    seeds = panel_study.check_seeds(len(y_eval)) if test else panel_study.grid_seeds(len(y_eval))
    sizes = widths_for(widths, d.X_train.shape[1])
    stack_params = dict(hidden_layer_sizes=sizes, n_iter=epochs)
    knobs = panel_study.PRETRAIN_CANDIDATES[panel_study.ROUND5_PRETRAINING]
    fine = panel_study.FINETUNE_ROUND5["sgd 0.05 b20"]
    runs = []
    for seed in seeds:
        rows = panel_study.balanced_subset(d.y_train, panel_study.N_LABELS, seed)
        X, y = d.X_train[rows], d.y_train[rows]
        for variant in variants:
            extra = VARIANTS[variant]
            if variant == "Gaussian rate 0.1x" and d.visible_unit != "gaussian":
                continue  # it would slow a Bernoulli first layer instead
            start = time.perf_counter()
            stack, _, _ = panel_study.pretrain(d, knobs, seed, log, stack_params | extra)
            net = stack.to_mlp(max_iter=panel_study.FINETUNE_EPOCHS, random_state=seed, **fine)
            if variant == "rescaled":
                layers = rescale_to_unit_preactivation(net.pretrained_layers, X)
                net.set_params(pretrained_layers=layers)
            runs.append(finish(name, seed, variant, net, X, y, (X_eval, y_eval), start, log))
        net = MLPClassifier(
            sizes,
            init="xavier_uniform",
            max_iter=panel_study.FINETUNE_EPOCHS,
            random_state=seed,
        )
        start = time.perf_counter()
        runs.append(finish(name, seed, "Xavier", net, X, y, (X_eval, y_eval), start, log))
    return runs


def finish(name, seed, variant, net, X, y, evaluation, start, log):
    """Statistics of ``net`` at initialisation, then its error on ``evaluation`` (``(X, y)`` of
    the validation or the test split) after fine-tuning."""
    init = describe_init(net.initialize(X, y), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the panel study records convergence separately
        net.fit(X, y)
    run = dict(
        set=name,
        seed=seed,
        variant=variant,
        init=init,
        error=panel_study.error(net, *evaluation),
        seconds=time.perf_counter() - start,
    )
    log(
        f"{name} seed {seed} {variant}: error {100 * run['error']:.2f} %, "
        "unit std per layer " + ", ".join(f"{layer['unit_std']:.3f}" for layer in init)
    )
    return run


def markdown(runs, epochs, widths=WIDTHS, split="validation"):
    variants = [*VARIANTS, "Xavier"]
    options = ("" if widths == WIDTHS else f" --widths {widths}") + (
        " --split test --variants chosen" if split == "test" else ""
    )
    seeds = "the check's seeds" if split == "test" else "the panel grid's seeds"
    lines = [
        f"# Small real-valued sets: the nets at initialisation, and remedies ({split})"
        + ("" if widths == WIDTHS else f", widths {widths!r}"),
        "",
        f"`python benchmarks/small_sets.py --epochs {epochs}{options}`: "
        f"DBN({widths!r}, n_iter={epochs!r}) "
        "with the panel's chosen pretraining, `to_mlp()` defaults, 100 epochs; mean over "
        f"{seeds}. Unit std: the standard deviation of a hidden unit over the examples, "
        "averaged over the layer's units; saturated: sigmoid outputs below 0.01 or above 0.99; "
        "gradient: std of dLoss/dZ at initialisation.",
        "",
        f"| set | seeds | variant | {split} error (%) | unit std per layer | saturated per "
        "layer | gradient std per layer | s per run |",
        "|---|---:|---|---:|---|---|---|---:|",
    ]
    for name in dict.fromkeys(r["set"] for r in runs):
        for variant in variants:
            mine = [r for r in runs if r["set"] == name and r["variant"] == variant]
            if not mine:
                continue

            def per_layer(field, fmt, mine=mine):
                values = np.mean([[layer[field] for layer in r["init"]] for r in mine], axis=0)
                return " / ".join(format(v, fmt) for v in values)

            lines.append(
                f"| {name} | {len(mine)} | {variant} | "
                f"{100 * np.mean([r.get('error', r.get('val_error')) for r in mine]):.2f} | "
                f"{per_layer('unit_std', '.3f')} | {per_layer('saturated', '.2f')} | "
                f"{per_layer('gradient_std', '.2g')} | "
                f"{np.mean([r['seconds'] for r in mine]):.1f} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument(
        "--epochs",
        default="auto",
        type=lambda text: text if text == "auto" else int(text),
        help="pretraining epochs per layer ('auto': the library's default)",
    )
    parser.add_argument(
        "--widths",
        default=WIDTHS,
        type=lambda text: text if text == "auto" else [int(w) for w in text.split(",")],
        help="hidden widths of both nets, e.g. 500,500 (the panel's set-up), or 'auto': "
        "the library's default widths for the set's inputs",
    )
    parser.add_argument(
        "--split",
        choices=("validation", "test"),
        default="validation",
        help="where the nets are scored: 'test' measures, with the panel check's seeds, and "
        "should run the chosen pretraining only (--variants chosen): remedies are compared on "
        "validation",
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "small-sets"))
    args = parser.parse_args(argv)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)

    def log(message):
        print(message, flush=True)

    runs = []
    for name in args.sets.split(","):
        runs += run_set(name, args.epochs, log, args.widths, args.split, args.variants.split(","))
    results = dict(
        machine=machine_info(), epochs=args.epochs, widths=args.widths, split=args.split, runs=runs
    )
    write_report(output, results, markdown(runs, args.epochs, args.widths, args.split))


if __name__ == "__main__":
    main()
