"""Why pretraining does not pay on the panel's small real-valued sets, and what was tried.

    python benchmarks/small_sets.py                       # wine, breast-cancer, digits
    python benchmarks/small_sets.py --sets breast-cancer --epochs 5
    python benchmarks/small_sets.py --widths auto --output benchmarks/results/small-sets-auto-widths
    python benchmarks/small_sets.py --widths auto --split cv --variants 'chosen,xavier init'

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
  (in the spirit of LSUV, Mishkin & Matas 2016; scaling only up);
- ``xavier init``: each RBM starts from weights at Glorot & Bengio's scale,
  ``sqrt(2 / (n_visible + n_hidden))``, instead of 0.01 (``init_std="xavier"``): the ninth panel
  round's choice; ``xavier init + SGD 0.1``: the same fine-tuned by SGD 0.1 instead of 0.05, the
  tenth round's choice and the library's defaults since. ``chosen`` is the fifth round's
  pretraining and fine-tuning, the defaults when this study was written;
- ``defaults + ...``: the library's defaults with one knob changed: the Gaussian layer's rate
  (0.1x or 0.01x ``learning_rate`` instead of 0.03x) or minibatch (100 instead of 10), or 10
  epochs per layer instead of ``n_iter="auto"``'s floor of 2,000 updates, or fine-tuning as the
  Xavier net's (Adam 1e-3 on minibatches of ``min(200, n)``, ``MLPClassifier``'s defaults) or
  by SGD at a fifth of the rate (0.02, the eleventh panel round's candidate);
- ``Xavier net + SGD 0.1``: no pretraining, the Xavier net fine-tuned by the library's recipe
  instead of its own, to tell what the pretraining costs from what the recipe costs.

Seeds: the panel grid's (:func:`panel_study.grid_seeds`). ``--split cv`` scores on held-out folds
of the training and validation rows pooled instead (:func:`cv_folds`: about 1,000 held-out
predictions, against wine's 36 validation examples, where every variant scores 0.00 %); the
test split stays untouched. Outputs in ``--output`` (default
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
import shlex
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
    # The ninth panel round's pretraining: each RBM's initial weights at Glorot & Bengio's scale
    # instead of 0.01; with the tenth round's fine-tuning (SGD 0.1), the library's defaults.
    "xavier init": dict(init_std="xavier"),
    "xavier init + SGD 0.1": dict(
        init_std="xavier", finetune=panel_study.FINETUNE_ROUND5["sgd 0.1 b20"]
    ),
}
#: The library's defaults since the tenth round, and knobs of their Gaussian first layer tried
#: on top of them (real-valued sets only).
DEFAULTS = VARIANTS["xavier init + SGD 0.1"]
VARIANTS |= {
    "defaults + Gaussian rate 0.1x": DEFAULTS
    | dict(layer_params={0: dict(learning_rate=0.1 * DBN().learning_rate)}),
    "defaults + Gaussian rate 0.01x": DEFAULTS
    | dict(layer_params={0: dict(learning_rate=0.01 * DBN().learning_rate)}),
    "defaults + Gaussian minibatch 100": DEFAULTS | dict(layer_params={0: dict(batch_size=100)}),
    "defaults + 10 epochs": DEFAULTS | dict(n_iter=10),
    # Fine-tuned as the Xavier net is (MLPClassifier's defaults): Adam 1e-3, minibatches of
    # min(200, n).
    "defaults + Adam": DEFAULTS
    | dict(finetune=dict(solver="adam", learning_rate_init=1e-3, batch_size="auto")),
    # The eleventh panel round's other fine-tuning candidate: SGD at a fifth of the rate.
    "defaults + SGD 0.02": DEFAULTS | dict(finetune=panel_study.FINETUNE_ROUND11["sgd 0.02 b20"]),
    # No pretraining: the Xavier net fine-tuned by the DBN's recipe instead of its own (Adam),
    # to tell what the pretraining costs from what the recipe costs.
    "Xavier net + SGD 0.1": dict(xavier_net=True, finetune=DEFAULTS["finetune"]),
}
#: What runs without ``--variants``: the study's first remedies.
DEFAULT_VARIANTS = ("chosen", "centre layer 2", "Gaussian rate 0.1x", "rescaled")
GAUSSIAN_ONLY = (
    "Gaussian rate 0.1x",
    *(v for v in VARIANTS if v.startswith("defaults + Gaussian")),
)


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


#: ``--split cv``: folds of the training and validation splits pooled, repeated until about
#: this many held-out predictions (at most ``CV_MAX_REPEATS`` repeats).
#: Scored on held-out folds with ``--split cv`` (the panel study's, one definition for both).
cv_folds = panel_study.cv_folds
runs_of = panel_study.evaluation_runs


def xavier_net(sizes, seed, **finetune):
    """The reference net: Xavier's initialisation, fine-tuned by ``MLPClassifier``'s own recipe
    or by the knobs of ``finetune``."""
    return MLPClassifier(
        sizes,
        init="xavier_uniform",
        max_iter=panel_study.FINETUNE_EPOCHS,
        random_state=seed,
        **finetune,
    )


def run_set(name, epochs, log, widths=WIDTHS, split="validation", variants=DEFAULT_VARIANTS):
    """Every run of ``variants`` and Xavier on the set ``name``, scored on ``split``: the
    validation split with the grid's seeds, the test split with the check's, or held-out folds
    of the training and validation splits pooled (:func:`cv_folds`)."""
    d = panel_study.data(name, test=split == "test")
    sizes = widths_for(widths, d.X_train.shape[1])
    stack_params = dict(hidden_layer_sizes=sizes, n_iter=epochs)
    knobs = panel_study.PRETRAIN_CANDIDATES[panel_study.ROUND5_PRETRAINING]
    fine = panel_study.FINETUNE_ROUND5[panel_study.ROUND5_FINETUNING]
    runs = []
    for seed, d_train, X, y, X_eval, y_eval in runs_of(d, split):
        for variant in variants:
            extra = VARIANTS[variant]
            if variant in GAUSSIAN_ONLY and d.visible_unit != "gaussian":
                continue  # it would change a Bernoulli first layer instead
            start = time.perf_counter()
            if extra.get("xavier_net"):
                net = xavier_net(sizes, seed, **extra["finetune"])
                runs.append(finish(name, seed, variant, net, X, y, (X_eval, y_eval), start, log))
                continue
            # A variant's pretraining knobs replace the chosen ones; the rest go to the DBN.
            # "finetune" replaces the fine-tuning knobs.
            pre = knobs | {k: v for k, v in extra.items() if k in knobs}
            rest = {k: v for k, v in extra.items() if k not in knobs and k != "finetune"}
            stack, _, _ = panel_study.pretrain(d_train, pre, seed, log, stack_params | rest)
            net = stack.to_mlp(
                max_iter=panel_study.FINETUNE_EPOCHS,
                random_state=seed,
                **extra.get("finetune", fine),
            )
            if variant == "rescaled":
                layers = rescale_to_unit_preactivation(net.pretrained_layers, X)
                net.set_params(pretrained_layers=layers)
            runs.append(finish(name, seed, variant, net, X, y, (X_eval, y_eval), start, log))
        net = xavier_net(sizes, seed)
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


def run_error(run):
    # Runs stored before the split was recorded carry their validation error as val_error.
    return run.get("error", run.get("val_error"))


def paired_gain(runs, name, variant):
    """Xavier's error less ``variant``'s on the set ``name``, seed by seed: mean ± standard
    error in points, or "" for Xavier itself."""
    if variant == "Xavier":
        return ""
    xavier = {
        r["seed"]: run_error(r) for r in runs if r["set"] == name and r["variant"] == "Xavier"
    }
    gains = [
        100 * (xavier[r["seed"]] - run_error(r))
        for r in runs
        if r["set"] == name and r["variant"] == variant and r["seed"] in xavier
    ]
    if len(gains) < 2:
        return ""
    return f"{np.mean(gains):+.2f} ± {np.std(gains, ddof=1) / np.sqrt(len(gains)):.2f}"


def markdown(runs, epochs, widths=WIDTHS, split="validation"):
    variants = [*VARIANTS, "Xavier"]
    ran = [v for v in VARIANTS if any(r["variant"] == v for r in runs)]
    options = (
        ("" if widths == WIDTHS else f" --widths {widths}")
        + ("" if split == "validation" else f" --split {split}")
        + ("" if ran == list(DEFAULT_VARIANTS) else f" --variants {shlex.quote(','.join(ran))}")
    )
    seeds = {
        "test": "the check's seeds",
        "validation": "the panel grid's seeds",
        "cv": f"repeated stratified {panel_study.CV_FOLDS}-fold splits of the training and validation rows "
        "pooled (each fold's training rows pretrain and fine-tune, its held-out rows score)",
    }[split]
    lines = [
        f"# Small real-valued sets: the nets at initialisation, and remedies ({split})"
        + ("" if widths == WIDTHS else f", widths {widths!r}"),
        "",
        f"`python benchmarks/small_sets.py --epochs {epochs}{options}`: "
        f"DBN({widths!r}, n_iter={epochs!r}) "
        "with each variant's pretraining and fine-tuning (chosen: the fifth panel round's), "
        "100 fine-tuning epochs; mean over "
        f"{seeds}. Unit std: the standard deviation of a hidden unit over the examples, "
        "averaged over the layer's units; saturated: sigmoid outputs below 0.01 or above 0.99; "
        "gradient: std of dLoss/dZ at initialisation. Gain: Xavier's error less the "
        "variant's, run by run (same seed and data), mean ± standard error over the runs.",
        "",
        f"| set | seeds | variant | {split} error (%) | unit std per layer | saturated per "
        "layer | gradient std per layer | s per run | gain over Xavier (points) |",
        "|---|---:|---|---:|---|---|---|---:|---:|",
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
                f"{100 * np.mean([run_error(r) for r in mine]):.2f} | "
                f"{per_layer('unit_std', '.3f')} | {per_layer('saturated', '.2f')} | "
                f"{per_layer('gradient_std', '.2g')} | "
                f"{np.mean([r['seconds'] for r in mine]):.1f} | "
                f"{paired_gain(runs, name, variant)} |"
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
        choices=("validation", "test", "cv"),
        default="validation",
        help="where the nets are scored: 'test' measures, with the panel check's seeds, and "
        "should run the chosen pretraining only (--variants chosen): remedies are compared on "
        "validation; 'cv': held-out folds of the training and validation rows pooled, for "
        "splits too small to rank candidates (wine's 36 validation examples)",
    )
    parser.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated, of: {'; '.join(VARIANTS)}",
    )
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
