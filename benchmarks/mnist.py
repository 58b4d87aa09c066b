"""MNIST benchmark: reproduce Hinton & Salakhutdinov (2006), compare initialisations, low-label study.

    python benchmarks/mnist.py              # default run, about 10 minutes on 2 cores
    python benchmarks/mnist.py --quick      # smoke run, a few minutes
    python benchmarks/mnist.py --full       # paper-length reproduction (wall time: docs/benchmarks.md)
    python benchmarks/mnist.py --record     # the strongest permutation-invariant DBN run
    python benchmarks/mnist.py --record --parts retrain --retrain-epochs 148  # then on 60k labels
    python benchmarks/mnist.py --record --parts reproduce,retrain --retrain-epochs best  # both
    python benchmarks/mnist.py --record --override dropout=0.5 --override lr_decay=0.99  # a variant
    python benchmarks/mnist.py --parts reproduce,inits --seed 1 --output benchmarks/out

Parts:

- ``reproduce``: 784-500-500-2000-10 sigmoid net, pixels / 255. Greedy CD-1 pretraining with the
  paper's recipe (lr 0.1, momentum 0.5 -> 0.9, weight cost 2e-4, batch 100) on all 60,000 training
  images without labels, then backprop fine-tuning on 50,000 labelled images, with the other 10,000 as
  the validation split for early stopping and model choice. Test error on the 10,000 test images.
  ``--finetune cg`` uses their conjugate-gradient recipe, ``--finetune sgd`` (default) SGD with
  momentum and dropout.
- ``inits``: the same net and fine-tuning budget from zeros, small normal, standard uniform, Xavier,
  He (ReLU), orthogonal, LSUV and DBN pretraining: test error, epochs and seconds to 2 % validation
  error, and the per-layer activation / gradient statistics at initialisation (``dbn.diagnostics``).
- ``lowlabel``: fine-tuning on 100, 1,000 and 10,000 labels (pretraining still sees all 60,000
  images), DBN against Xavier initialisation, mean +- std over 3 seeds. Each arm's learning rate is
  chosen per label size on the validation split (first seed's subset); the update budget per label
  size is fixed in advance by the mode.

``--record`` runs ``reproduce`` only, with dropout fine-tuning in the manner of Srivastava et al.
(2014): dropout on the inputs and hidden units, a max-norm constraint on each hidden unit's
incoming weights, Nesterov momentum and an exponentially decaying learning rate (the rates, and
how they were chosen, are in ``MODES["record"]``). Protocol:
pretraining sees the 60,000 training images without labels; fine-tuning trains on the first 50,000
labelled images and keeps the weights of the epoch with the lowest error on the other 10,000 (the
validation split); that model is evaluated once on the test set. The part ``retrain`` then repeats
the fine-tuning on all 60,000 labelled images for the number of epochs the validation split chose
(``--retrain-epochs``, from the ``reproduce`` run's results), and tests its last weights.

Every choice is made on the validation split; the test set is only evaluated.
Outputs: a Markdown table on stdout, ``results.json`` (with machine information) and PNG plots in
``--output``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _report import machine_info, write_report  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from dbn import DBN, Callback, MLPClassifier  # noqa: E402
from dbn.datasets import find_data_home, get_data_home, load_mnist  # noqa: E402

HIDDEN = (500, 500, 2000)

# What each mode's test error (in percent) is held against at the end of a run: the reproduction
# and, in the record mode, its retraining on all 60,000 labels. The full mode also has a stretch
# goal. Printed only; nothing in a run depends on them.
TARGETS = {"quick": 2.5, "default": 1.6, "full": 1.2, "record": 0.95}
STRETCH_TARGETS = {"full": 1.1}

# Budgets per mode: pretraining epochs per layer, fine-tuning epochs, init-comparison epochs and
# training-set size, low-label updates, learning-rate grid and seeds. The low-label update budgets
# (200 / 600 / 3000 minibatch updates per label size) are fixed in advance: kept as they were set
# for each mode's time budget, and not tuned on validation or test data by this script; the
# learning rate is chosen per arm and label size on the validation split.
MODES = {
    "quick": dict(
        pretrain_epochs=3,
        pretrain_samples=60000,
        finetune_epochs=5,
        init_epochs=1,
        init_samples=10000,
        lowlabel_sizes=(100, 1000),
        lowlabel_updates=200,
        lowlabel_lrs=(0.03, 0.1),
        lowlabel_seeds=(0, 1),
        dropout=0.0,
        lr_decay=0.9,
    ),
    "default": dict(
        pretrain_epochs=6,
        pretrain_samples=60000,
        # Chosen from validation data alone (issue 16): the epoch of the lowest validation error in
        # the recorded 25-epoch run (results/default/results.json, seed 0), epoch 22 (1.39 %). The
        # curve is flat from epoch 20 (1.39-1.42 %), with the learning rate decayed to 0.016; a
        # longer run to confirm it did not fit on the loaded machine. The first 22 epochs of a run
        # do not depend on max_iter, so this budget keeps the model the 25-epoch run kept (its
        # test error, 1.60 %, follows; not re-run).
        finetune_epochs=22,
        init_epochs=2,
        init_samples=50000,
        lowlabel_sizes=(100, 1000, 10000),
        lowlabel_updates=600,
        lowlabel_lrs=(0.01, 0.03, 0.1, 0.3),
        lowlabel_seeds=(0, 1, 2),
        dropout=0.2,
        lr_decay=0.93,
    ),
    # Dropout fine-tuning with a max-norm constraint in the manner of Srivastava et al. (2014). Their
    # rates (0.2 on the inputs, 0.5 on the hidden units, momentum 0.95, 30 pretraining and 150
    # fine-tuning epochs, lr decay 0.98) were tried first (results/record-dropout05, seed 0): the
    # net underfitted in the budget (training loss still 0.056 at epoch 150, the validation error
    # flat at 1.23-1.35 % from epoch 50; best 1.19 %, test 1.29 %). From that validation curve,
    # and the full mode's (dropout 0.3, best validation 1.06 %), the second choice keeps 0.3 on the
    # hidden units, 0.1 on the inputs and the max-norm, with the full mode's 50 pretraining epochs
    # and a slower decay over 200 epochs: what fits about 30 minutes on 2 cores (best validation
    # 0.87 %, test 1.06 %; retrained on 60,000 labels, 1.01 %). A third try (results/record-v3,
    # session 5) went back to 0.5 / 0.2 and momentum 0.95 with a slower decay (0.99) over 300
    # epochs: still underfitted (best validation 1.09 % at epoch 297, test 1.20 %, retrained
    # 1.12 %), so this mode keeps the second choice.
    "record": dict(
        pretrain_epochs=50,
        pretrain_samples=60000,
        finetune_epochs=200,
        init_epochs=0,
        init_samples=0,
        lowlabel_sizes=(),
        lowlabel_updates=0,
        lowlabel_seeds=(),
        dropout=0.3,
        dropout_input=0.1,
        max_norm=4.0,
        momentum=0.9,
        lr_decay=0.985,
    ),
    "full": dict(
        pretrain_epochs=50,
        pretrain_samples=60000,
        finetune_epochs=100,
        init_epochs=10,
        init_samples=50000,
        lowlabel_sizes=(100, 1000, 10000),
        lowlabel_updates=3000,
        lowlabel_lrs=(0.01, 0.03, 0.1, 0.3),
        lowlabel_seeds=(0, 1, 2),
        dropout=0.3,
        lr_decay=0.97,
    ),
}

INITS = [
    # name, MLP init, hidden activation
    ("zeros", "zeros", "sigmoid"),
    ("small normal (0.01)", "normal", "sigmoid"),
    ("standard U(+-1/sqrt(n))", "standard", "sigmoid"),
    ("xavier (gain 4)", "xavier_uniform", "sigmoid"),
    ("he (relu)", "he_normal", "relu"),
    ("orthogonal", "orthogonal", "sigmoid"),
    ("lsuv", "lsuv", "sigmoid"),
    ("dbn pretrained", "dbn", "sigmoid"),
]


def load_splits(data_home=None):
    """Train (50k), validation (10k, the last of the training file) and test, pixels / 255."""
    X, y = load_mnist("train", data_home=data_home, as_float=True)
    X_test, y_test = load_mnist("test", data_home=data_home, as_float=True)
    return {
        "all": X,
        "all_labels": y,
        "train": (X[:50000], y[:50000]),
        "val": (X[50000:], y[50000:]),
        "test": (X_test, y_test),
    }


def percent(fraction):
    """An error rate as the step lines and the summary show it, e.g. ``1.60 %``."""
    return f"{100 * fraction:.2f} %"


class EpochLines(Callback):
    """One line per epoch, so that a long stage shows it is moving: the epoch, the figure the
    stage watches (errors in percent) and the seconds since the stage began. Prints only; it
    never stops training."""

    def __init__(self, n_epochs, n_layers=None):
        self.n_epochs, self.n_layers = n_epochs, n_layers
        self.start = time.perf_counter()

    def on_epoch_end(self, estimator, epoch, logs):
        where = f"epoch {epoch}/{self.n_epochs}"
        if "layer" in logs:  # DBN pretraining: logs["layer"] counts from 0
            where = f"layer {logs['layer'] + 1}/{self.n_layers}, {where}"
            figure = f"reconstruction error {logs['reconstruction_error']:.2f}"
        elif np.isfinite(logs.get("val_error", np.nan)):
            figure = f"validation error {percent(logs['val_error'])}"
        else:
            figure = f"training loss {logs['train_loss']:.4f}"
        elapsed = time.perf_counter() - self.start
        print(f"      {where}: {figure} ({elapsed:.0f} s)", flush=True)


def pretrain(splits, cfg, seed, verbose):
    start = time.perf_counter()
    model = DBN.hinton_salakhutdinov_2006(
        HIDDEN, n_iter=cfg["pretrain_epochs"], random_state=seed, verbose=verbose
    )
    # All 60,000 training images, without labels, as in the paper.
    model.pretrain(
        splits["all"][: cfg["pretrain_samples"]],
        callbacks=EpochLines(cfg["pretrain_epochs"], len(HIDDEN)),
    )
    seconds = time.perf_counter() - start
    recon = [layer.history_["reconstruction_error"][-1] for layer in model.layers_]
    return model, seconds, recon


def finetune_params(mode_cfg, method, epochs, dropout):
    if method == "cg":
        # Hinton & Salakhutdinov (2006): CG with 3 line searches on minibatches of 1000, the top
        # layer alone for the first epochs.
        return dict(
            solver="cg",
            max_iter=epochs,
            cg_batch_size=1000,
            cg_max_line_searches=3,
            cg_top_layer_epochs=min(6, max(epochs // 5, 1)),
            alpha=0.0,
        )
    return dict(
        solver="sgd",
        learning_rate_init=0.1,
        momentum=0.9,
        nesterovs_momentum=True,
        batch_size=100,
        max_iter=epochs,
        alpha=1e-5,
        learning_rate_schedule="exponential",
        lr_decay=mode_cfg["lr_decay"],
        dropout_hidden=dropout,
        dropout_input=mode_cfg.get("dropout_input", 0.0),
        max_norm=mode_cfg.get("max_norm"),
        early_stopping=True,
        n_iter_no_change=max(epochs, 1),  # the validation split picks the best epoch
    ) | ({"momentum": mode_cfg["momentum"]} if "momentum" in mode_cfg else {})


def build_mlp(init, activation, dbn_model, params, seed):
    if init == "dbn":
        # Every initialisation trains on the raw inputs, as the committed records did.
        return dbn_model.to_mlp(random_state=seed, center_inputs=False, **params)
    return MLPClassifier(HIDDEN, activation=activation, init=init, random_state=seed, **params)


def evaluate(mlp, splits):
    X_test, y_test = splits["test"]
    return float(1.0 - mlp.score(X_test, y_test))


def time_to_target(history, target=0.02):
    for i, error in enumerate(history["val_error"]):
        if error <= target:
            return i + 1, float(np.sum(history["time"][: i + 1]))  # per-epoch seconds
    return None, None


def fit_noting_convergence(mlp, *args, **kwargs):
    """``mlp.fit(*args, **kwargs)``, returning its ``ConvergenceWarning`` messages instead of
    printing them; any other warning is shown as usual.

    Every fit here runs a budget fixed in advance (a mode's epochs, or a number of updates), so
    "still improving at ``max_iter``" is what the comparison intends, and a dozen copies of the
    remedy would bury the results. The messages are kept in ``results.json``, and the printed
    line says what they found (:func:`convergence_note`).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mlp.fit(*args, **kwargs)
    notes = []
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return notes


def convergence_note(notes):
    """What the ``ConvergenceWarning`` messages of some fits say, for a printed line: ``""``
    when there were none."""
    if not notes:
        return ""
    if any("has not learnt" in note for note in notes):
        return "; has not learnt (ConvergenceWarning)"
    return "; still improving at its fixed budget (ConvergenceWarning)"


def part_reproduce(splits, dbn_model, cfg, args):
    X, y = splits["train"]
    X_val, y_val = splits["val"]
    params = finetune_params(cfg, args.finetune, cfg["finetune_epochs"], cfg["dropout"])
    mlp = dbn_model.to_mlp(random_state=args.seed, center_inputs=False, **params)
    start = time.perf_counter()
    notes = fit_noting_convergence(
        mlp, X, y, X_val=X_val, y_val=y_val, callbacks=EpochLines(cfg["finetune_epochs"])
    )
    seconds = time.perf_counter() - start
    if notes:
        print(f"      fine-tuning{convergence_note(notes)}", flush=True)
    return {
        "finetune": args.finetune,
        "finetune_epochs": mlp.n_iter_,
        "finetune_seconds": seconds,
        "best_val_error": float(min(mlp.history_["val_error"])),
        "test_error": evaluate(mlp, splits),
        "history": mlp.history_,
        "convergence_warnings": notes,
    }


def part_retrain(splits, dbn_model, cfg, args):
    """Fine-tune on all 60,000 labelled images for ``--retrain-epochs`` epochs, then test once.

    The second half of the usual protocol (Srivastava et al. 2014): the number of epochs is the
    one the validation split chose in a ``reproduce`` run with the same mode and seed (so the same
    pretrained stack); there is no validation data left to stop on, so the run goes the full
    length and the last weights are tested.
    """
    X, y = splits["all"], splits["all_labels"]
    epochs = args.retrain_epochs
    params = finetune_params(cfg, args.finetune, epochs, cfg["dropout"])
    params.update(early_stopping=False, n_iter_no_change=epochs + 1)
    mlp = dbn_model.to_mlp(random_state=args.seed, center_inputs=False, **params)
    start = time.perf_counter()
    notes = fit_noting_convergence(mlp, X, y, callbacks=EpochLines(epochs))
    if notes:
        print(f"      retraining{convergence_note(notes)}", flush=True)
    return {
        "finetune": args.finetune,
        "finetune_epochs": mlp.n_iter_,
        "finetune_seconds": time.perf_counter() - start,
        "test_error": evaluate(mlp, splits),
        "history": mlp.history_,
        "convergence_warnings": notes,
    }


def part_inits(splits, dbn_model, cfg, args):
    from dbn.diagnostics import layer_statistics

    n = cfg["init_samples"]
    X, y = splits["train"][0][:n], splits["train"][1][:n]
    X_val, y_val = splits["val"]
    batch = slice(0, 500)
    results = {}
    for name, init, activation in INITS:
        params = finetune_params(cfg, "sgd", cfg["init_epochs"], 0.0)
        mlp = build_mlp(init, activation, dbn_model, params, args.seed)
        mlp.initialize(X[batch], y[batch])
        stats = layer_statistics(mlp, X[batch], y[batch])
        start = time.perf_counter()
        notes = fit_noting_convergence(mlp, X, y, X_val=X_val, y_val=y_val)
        seconds = time.perf_counter() - start
        epochs, secs = time_to_target(mlp.history_)
        results[name] = {
            "init": init,
            "activation": activation,
            "test_error": evaluate(mlp, splits),
            "best_val_error": float(min(mlp.history_["val_error"])),
            "epochs_to_2pct": epochs,
            "seconds_to_2pct": secs,
            "seconds": seconds,
            "history": mlp.history_,
            "stats_at_init": [s.__dict__ for s in stats],
            "convergence_warnings": notes,
        }
        print(
            f"      {name:26s} test error {percent(results[name]['test_error'])}, best validation "
            f"{percent(results[name]['best_val_error'])} ({seconds:.0f} s"
            f"{convergence_note(notes)})",
            flush=True,
        )
    return results


def part_lowlabel(splits, dbn_model, cfg, args):
    """Fine-tuning on few labels, DBN against Xavier, each arm's learning rate chosen on validation.

    For each label size and arm, every learning rate of ``lowlabel_lrs`` is tried on the first
    seed's labelled subset and scored on the validation split (the last 10,000 training images);
    the rate with the lowest validation error is then used for every seed, and only that model is
    evaluated on the test set. The update budget per label size (``lowlabel_updates`` minibatch
    updates, the same for both arms) is fixed in advance by the mode, not tuned; neither is
    dropout. The test set plays no part in any choice.
    """
    X_all, y_all = splits["train"]
    X_val, y_val = splits["val"]
    learning_rates = cfg.get("lowlabel_lrs", (0.1,))
    results = {}
    for n_labels in cfg["lowlabel_sizes"]:
        batch = min(100, n_labels)
        epochs = max(cfg["lowlabel_updates"] * batch // n_labels, 1)
        params = finetune_params(cfg, "sgd", epochs, cfg["dropout"])
        # A fixed budget of updates, no early stopping: with 100 labels an epoch is one
        # minibatch, and a validation pass per epoch would cost more than the training.
        params.update(
            batch_size=batch,
            lr_decay=0.95 ** (50 / max(epochs, 50)),
            early_stopping=False,
            n_iter_no_change=epochs + 1,
        )
        for name, init in (("dbn pretrained", "dbn"), ("xavier", "xavier_uniform")):
            val_errors, models, notes = {}, {}, []
            for lr in learning_rates:
                seed = cfg["lowlabel_seeds"][0]
                mlp = build_mlp(
                    init, "sigmoid", dbn_model, params | {"learning_rate_init": lr}, seed
                )
                notes += fit_noting_convergence(
                    mlp, *_labelled_subset(X_all, y_all, n_labels, seed)
                )
                val_errors[lr] = float(1.0 - mlp.score(X_val, y_val))
                models[lr] = mlp
            best_lr = min(val_errors, key=val_errors.get)
            errors = [evaluate(models[best_lr], splits)]
            for seed in cfg["lowlabel_seeds"][1:]:
                mlp = build_mlp(
                    init, "sigmoid", dbn_model, params | {"learning_rate_init": best_lr}, seed
                )
                notes += fit_noting_convergence(
                    mlp, *_labelled_subset(X_all, y_all, n_labels, seed)
                )
                errors.append(evaluate(mlp, splits))
            results[f"{n_labels}/{name}"] = {
                "n_labels": n_labels,
                "init": name,
                "epochs": epochs,
                "learning_rate": best_lr,
                "val_error_by_learning_rate": {str(k): v for k, v in val_errors.items()},
                "test_errors": errors,
                "mean": float(np.mean(errors)),
                "std": float(np.std(errors)),
                "convergence_warnings": notes,
            }
            print(
                f"      {n_labels:6d} labels, {name:15s}: lr {best_lr:g} (validation "
                + ", ".join(f"{k:g}: {percent(v)}" for k, v in val_errors.items())
                + f"), test {percent(np.mean(errors))} +- {percent(np.std(errors))}"
                + f" over {len(errors)} seeds"
                + (f"; {len(notes)} of its fits still improving at the budget" if notes else ""),
                flush=True,
            )
    return results


def _labelled_subset(X, y, n_labels, seed):
    """A class-balanced labelled subset: ``n_labels / 10`` images of each digit."""
    rng = np.random.default_rng(1000 + seed)
    idx = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), n_labels // 10, replace=False) for c in range(10)]
    )
    return X[idx], y[idx]


def markdown(results):
    lines = [f"## dbn MNIST benchmark ({results['mode']} mode, seed {results['seed']})", ""]
    pre = results.get("pretrain")
    if pre:
        lines += [
            f"Pretraining 784-{'-'.join(map(str, HIDDEN))}: {pre['epochs']} epochs per layer, "
            f"{pre['seconds']:.0f} s; final reconstruction errors "
            + ", ".join(f"{r:.2f}" for r in pre["reconstruction_error"]),
            "",
        ]
    rep = results.get("reproduce")
    if rep:
        lines += [
            "| reproduction | fine-tuning | epochs | val error | test error | fine-tune s |",
            "|---|---|---:|---:|---:|---:|",
            f"| 784-500-500-2000-10 DBN | {rep['finetune']} | {rep['finetune_epochs']} | "
            f"{100 * rep['best_val_error']:.2f} % | **{100 * rep['test_error']:.2f} %** | "
            f"{rep['finetune_seconds']:.0f} |",
            "",
        ]
    inits = results.get("inits")
    if inits:
        lines += [
            "| initialisation | test error | best val error | epochs to 2 % | s to 2 % | "
            "act. std (layers 1-3) | saturated / dead (layer 3) | grad std ratio L1/L3 |",
            "|---|---:|---:|---:|---:|---|---:|---:|",
        ]
        for name, r in inits.items():
            s = r["stats_at_init"]
            act = ", ".join(f"{layer['activation_std']:.3f}" for layer in s[:3])
            sat = s[2]["dead_fraction"] if r["activation"] == "relu" else s[2]["saturated_fraction"]
            g1, g3 = s[0]["delta_std"], s[2]["delta_std"]
            ratio = g1 / g3 if g3 else float("nan")
            ep = r["epochs_to_2pct"] if r["epochs_to_2pct"] is not None else "-"
            sec = f"{r['seconds_to_2pct']:.0f}" if r["seconds_to_2pct"] is not None else "-"
            lines.append(
                f"| {name} | {100 * r['test_error']:.2f} % | {100 * r['best_val_error']:.2f} % | "
                f"{ep} | {sec} | {act} | {sat:.2f} | {ratio:.3g} |"
            )
        lines.append("")
    re = results.get("retrain")
    if re:
        lines += [
            "| retrained on all 60,000 labels | fine-tuning | epochs (chosen on validation) | "
            "test error | fine-tune s |",
            "|---|---|---:|---:|---:|",
            f"| 784-500-500-2000-10 DBN | {re['finetune']} | {re['finetune_epochs']} | "
            f"**{100 * re['test_error']:.2f} %** | {re['finetune_seconds']:.0f} |",
            "",
        ]
    low = results.get("lowlabel")
    if low:
        lines += [
            "| labels | DBN pretrained | Xavier | learning rate (DBN / Xavier, on validation) |",
            "|---:|---:|---:|---|",
        ]
        for n in sorted({r["n_labels"] for r in low.values()}):
            d, x = low[f"{n}/dbn pretrained"], low[f"{n}/xavier"]
            lines.append(
                f"| {n} | {100 * d['mean']:.2f} +- {100 * d['std']:.2f} % | "
                f"{100 * x['mean']:.2f} +- {100 * x['std']:.2f} % | "
                f"{d.get('learning_rate', '-')} / {x.get('learning_rate', '-')} |"
            )
        lines.append("")
    lines.append(f"Total wall time: {results['wall_seconds']:.0f} s")
    return "\n".join(lines)


def plots(results, output):
    try:
        import matplotlib

        matplotlib.use("Agg")
        from dbn.plot import plot_layer_statistics, plot_learning_curves
    except ImportError:
        return []
    written = []
    curves = {}
    if "reproduce" in results:
        curves["dbn (reproduction)"] = results["reproduce"]["history"]
    for name, r in results.get("inits", {}).items():
        curves[name] = r["history"]
    if curves:
        ax = plot_learning_curves(curves, keys=("val_error",))
        fig = ax.figure if hasattr(ax, "figure") else ax
        fig.savefig(output / "learning_curves.png", dpi=90)
        written.append("learning_curves.png")
    if "inits" in results:
        from dbn.diagnostics import LayerStatistics

        stats = {
            name: [LayerStatistics(**layer) for layer in r["stats_at_init"]]
            for name, r in results["inits"].items()
        }
        ax = plot_layer_statistics(stats, fields=("activation_std", "delta_std"))
        fig = ax.figure if hasattr(ax, "figure") else ax
        fig.savefig(output / "layer_statistics_at_init.png", dpi=90)
        written.append("layer_statistics_at_init.png")
    return written


def apply_overrides(cfg, overrides, parser):
    """The mode's settings with ``KEY=VALUE`` changes (values read as numbers where they are)."""
    cfg = dict(cfg)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in cfg:
            parser.error(
                f"--override: expected KEY=VALUE with KEY one of {sorted(cfg)}; got {item!r}"
            )
        try:
            value = int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            value = None if text == "None" else text
        cfg[key] = value
    return cfg


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smoke run of a few minutes")
    mode.add_argument("--full", action="store_true", help="paper-length reproduction")
    mode.add_argument(
        "--record", action="store_true", help="dropout + max-norm fine-tuning, reproduce only"
    )
    parser.add_argument("--parts", default=None, help="default: reproduce,inits,lowlabel")
    parser.add_argument("--finetune", choices=("sgd", "cg"), default="sgd")
    parser.add_argument(
        "--retrain-epochs",
        default=None,
        help="part 'retrain': fine-tune on all 60,000 labels for this many epochs (the best "
        "epoch of a reproduce run's validation curve, same mode and seed), or 'best': the best "
        "epoch of this run's own reproduce part",
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one setting of the mode (e.g. dropout=0.5); recorded in results.json",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(HERE / "out"))
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    mode_name = (
        "quick" if args.quick else "full" if args.full else "record" if args.record else "default"
    )
    cfg = MODES[mode_name]
    if args.parts is None:
        args.parts = "reproduce" if args.record else "reproduce,inits,lowlabel"
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - {"reproduce", "retrain", "inits", "lowlabel"}
    if unknown:
        parser.error(
            f"unknown parts {sorted(unknown)}; choose from reproduce, retrain, inits, lowlabel"
        )
    if ("retrain" in parts) != (args.retrain_epochs is not None):
        parser.error("the part 'retrain' and --retrain-epochs N go together")
    if args.retrain_epochs is not None:
        if args.retrain_epochs == "best":
            if "reproduce" not in parts:
                parser.error("--retrain-epochs best needs the part 'reproduce' in the same run")
        elif not args.retrain_epochs.isdigit() or int(args.retrain_epochs) < 1:
            parser.error(
                f"--retrain-epochs: expected a positive integer or 'best'; got {args.retrain_epochs!r}"
            )
        else:
            args.retrain_epochs = int(args.retrain_epochs)
    cfg = apply_overrides(cfg, args.override, parser)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    results = {"mode": mode_name, "seed": args.seed, "config": cfg, "machine": machine_info()}
    stages = ["load", "pretrain"] + [
        p for p in ("reproduce", "retrain", "inits", "lowlabel") if p in parts
    ]

    def stage(name, text):
        print(f"[{mode_name} {stages.index(name) + 1}/{len(stages)}] {text}", flush=True)

    print(
        f"dbn MNIST benchmark, {mode_name} mode, seed {args.seed}: {', '.join(parts)}; "
        f"results go to {output.resolve()}",
        flush=True,
    )
    home = find_data_home("mnist", args.data_home)
    stage(
        "load",
        f"MNIST from {home / 'mnist'}"
        if home is not None
        else f"MNIST downloading into {get_data_home(args.data_home) / 'mnist'} (about 11 MB)",
    )
    splits = load_splits(args.data_home)
    stage(
        "pretrain",
        f"pretraining 784-{'-'.join(map(str, HIDDEN))} by CD-1 on "
        f"{len(splits['all'][: cfg['pretrain_samples']])} images without "
        f"labels, {cfg['pretrain_epochs']} epochs per layer",
    )
    dbn_model, seconds, recon = pretrain(splits, cfg, args.seed, args.verbose)
    results["pretrain"] = {
        "epochs": cfg["pretrain_epochs"],
        "seconds": seconds,
        "reconstruction_error": recon,
    }
    if "reproduce" in parts:
        stage(
            "reproduce",
            f"fine-tuning the pretrained net ({args.finetune}), up to {cfg['finetune_epochs']} "
            f"epochs on {len(splits['train'][1])} labels; the epoch with the lowest error on the "
            f"other {len(splits['val'][1])} is kept",
        )
        results["reproduce"] = part_reproduce(splits, dbn_model, cfg, args)
        reproduced = results["reproduce"]
        print(
            f"      test error {percent(reproduced['test_error'])} (best validation "
            f"{percent(reproduced['best_val_error'])}, {reproduced['finetune_seconds']:.0f} s)",
            flush=True,
        )
    if "retrain" in parts:
        if args.retrain_epochs == "best":
            # The epoch the validation split chose (1-based), as the protocol above says.
            curve = results["reproduce"]["history"]["val_error"]
            args.retrain_epochs = int(np.argmin(curve)) + 1
            results["retrain_epochs_chosen"] = args.retrain_epochs
        stage(
            "retrain",
            f"fine-tuning again on all {len(splits['all_labels'])} labels for "
            f"{args.retrain_epochs} epochs (the "
            "validation split's choice), then testing the last weights",
        )
        results["retrain"] = part_retrain(splits, dbn_model, cfg, args)
        print(f"      test error {percent(results['retrain']['test_error'])}", flush=True)
    if "inits" in parts:
        stage("inits", f"initialisation comparison: {inits_budget(cfg)}")
        results["inits"] = part_inits(splits, dbn_model, cfg, args)
    if "lowlabel" in parts:
        sizes = ", ".join(map(str, cfg["lowlabel_sizes"]))
        stage(
            "lowlabel",
            f"low-label study: {sizes} labels, DBN against Xavier, learning rate chosen on "
            f"validation, {len(cfg['lowlabel_seeds'])} seeds",
        )
        results["lowlabel"] = part_lowlabel(splits, dbn_model, cfg, args)
    results["wall_seconds"] = time.perf_counter() - start
    results["plots"] = plots(results, output)
    table = markdown(results)
    write_report(output, results, table)
    print("\n" + "\n".join(summary(results, mode_name, output)), flush=True)
    return results


def short_inits_budget(cfg):
    """Whether the initialisation comparison runs on fewer epochs than the full mode's."""
    return cfg["init_epochs"] < MODES["full"]["init_epochs"]


def inits_budget(cfg):
    """The initialisation comparison's budget, in words."""
    text = (
        f"{len(INITS)} initialisations, {cfg['init_epochs']} epoch(s) of SGD each on "
        f"{cfg['init_samples']} labels"
    )
    if short_inits_budget(cfg):
        text += (
            f"; a short budget (the full mode gives {MODES['full']['init_epochs']} epochs): "
            "the errors are far from converged and the ranking can change with a longer run"
        )
    return text


def summary(results, mode_name, output):
    """The closing lines: each result against its target, then where the results were written."""
    lines = [f"Results ({mode_name} mode, {results['wall_seconds']:.0f} s in all):"]
    target = TARGETS[mode_name]
    stretch = STRETCH_TARGETS.get(mode_name)
    for part, what in (
        ("reproduce", "test error"),
        ("retrain", "test error after retraining on every label"),
    ):
        if part not in results:
            continue
        error = round(100 * results[part]["test_error"], 2)  # k / 10000 images: exact in 0.01 %
        text = f"  {what} {error:.2f} % (target <= {target:g} %): "
        text += "met" if error <= target else "missed"
        if stretch is not None:
            text += f"; stretch <= {stretch:g} %: " + ("met" if error <= stretch else "missed")
        lines.append(text)
    inits = results.get("inits")
    if inits:
        ranked = sorted(inits, key=lambda name: inits[name]["test_error"])
        best_other = next(name for name in ranked if name != "dbn pretrained")
        lines.append(
            f"  initialisations: dbn pretrained {percent(inits['dbn pretrained']['test_error'])}, "
            f"best of the others {best_other} {percent(inits[best_other]['test_error'])}, worst "
            f"{ranked[-1]} {percent(inits[ranked[-1]]['test_error'])} (no target; "
            + ("short budget)" if short_inits_budget(results["config"]) else "full budget)")
        )
    low = results.get("lowlabel")
    if low:
        cells = [
            f"{n} labels {percent(low[f'{n}/dbn pretrained']['mean'])} against "
            f"{percent(low[f'{n}/xavier']['mean'])}"
            for n in sorted({r["n_labels"] for r in low.values()})
        ]
        lines.append(f"  low labels, DBN against Xavier: {'; '.join(cells)} (no target)")
    files = ["results.md", "results.json", *results["plots"]]
    lines.append(f"Results written to {output.resolve()}: {', '.join(files)}")
    return lines


if __name__ == "__main__":
    main()
