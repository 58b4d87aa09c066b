"""The Deep Boltzmann Machine of Salakhutdinov & Hinton (2009) on MNIST, re-measured.

Trains a :class:`dbn.DBM` (784-500-1000 by default) on MNIST binarised by sampling (each pixel drawn
once from Bernoulli(pixel / 255) with a fixed seed, as the published likelihoods assume; the same
draws as ``benchmarks/likelihood.py --binarise sample`` for the same ``--n-train`` and seed;
``--train-draws k`` trains on k independent draws of each training image, as that script's option
does, while the test set stays the one draw), then reports:

- the test log-likelihood bound: the mean-field variational lower bound of each test image minus an
  AIS estimate of ``log Z`` (:func:`dbn.evaluation.dbm_ais_log_partition`, base rate from the
  training images), with the bounds implied by AIS's three-standard-error interval and its effective
  sample size. AIS's ``log Z`` errs low, so this figure errs high by AIS's error; the bound itself is
  below the true log-likelihood by the mean-field gap;
- the classification error of the fine-tuned net (:meth:`dbn.DBM.to_mlp`: input augmented with the
  mean-field posterior of the second layer), without and with dropout;
- the speed of joint training: seconds per epoch against the seconds of the same GEMMs alone;
- with ``--stages record`` (not run by default: about 30 minutes on 2 cores), the MNIST record's
  fine-tuning protocol on the DBM's net (:func:`finetune_record`).

``--supervised`` trains the DBM with label units joined to its top layer (``DBM(supervised=True)``),
as Salakhutdinov's code for the paper's classification result does; its likelihood stages do not
apply (the model is of ``p(v, y)``), and the train stage adds the test error of the DBM's own
mean-field labels (:meth:`dbn.DBM.predict`).

Usage::

    python benchmarks/dbm.py --quick                  # a few minutes on 2 cores: 5,000 images
    python benchmarks/dbm.py --output benchmarks/results/dbm/full   # the long run, resumable

The long run is resumable: training writes a checkpoint after every epoch under
``<output>/checkpoint`` and the trained model to ``<output>/dbm.safetensors``; running the same
command again carries on from there, and ``results.json`` is rewritten after every stage.

Published (Salakhutdinov & Hinton 2009, MNIST, 784-500-1000): test log-likelihood -84.62 nats (AIS
estimate of the variational bound), 0.95 % test error after fine-tuning; 3-layer 784-500-500-1000:
-85.18 nats, 1.01 %. Their training: 300,000 weight updates (500 epochs of 60,000 images in batches
of 100), 100 fantasy particles; this script's budgets are stated in each result file.

References
----------
Salakhutdinov, R., & Hinton, G. E. (2009). Deep Boltzmann machines. AISTATS.
Srivastava, N., Hinton, G., Krizhevsky, A., Sutskever, I., & Salakhutdinov, R. (2014). Dropout: a
simple way to prevent neural networks from overfitting. JMLR 15.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_info  # noqa: E402

from dbn import DBM  # noqa: E402
from dbn.datasets import load_mnist  # noqa: E402
from dbn.evaluation import (  # noqa: E402
    dbm_ais_log_partition,
    dbm_reverse_ais_log_partition,
    dbm_variational_bound,
)

PUBLISHED = {
    "log_likelihood": -84.62,
    "error_percent": 0.95,
    "error_percent_dropout": 0.79,  # Srivastava et al. 2014, DBM + dropout fine-tuning
}

STAGES = ("train", "likelihood", "reverse", "finetune")
QUICK = dict(
    n_train=5000,
    pretrain_epochs=3,
    epochs=3,
    n_test=1000,
    ais_runs=100,
    ais_betas=1000,
    finetune_epochs=10,
)
FULL = dict(
    n_train=60000,
    pretrain_epochs=100,
    epochs=500,
    n_test=10000,
    ais_runs=100,
    ais_betas=20000,
    finetune_epochs=100,
)


# Salakhutdinov & Hinton (2009) fine-tuned the DBM's net for 100 epochs of CG (their backprop.m).
CG_RECORD_EPOCHS = 100


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the few-minute budget")
    parser.add_argument("--data-home", default=None, help="folder holding mnist/")
    parser.add_argument("--hidden", type=int, nargs="+", default=[500, 1000])
    for name in FULL:
        if name == "pretrain_epochs":
            parser.add_argument(
                "--pretrain-epochs",
                type=int,
                nargs="+",
                default=None,
                help="CD-1 epochs per pretraining RBM, or one count per layer (the paper's code: "
                "100 200)",
            )
        else:
            parser.add_argument("--" + name.replace("_", "-"), type=int, default=None)
    parser.add_argument("--n-mean-field", type=int, default=10)
    parser.add_argument("--n-chains", type=int, default=100)
    parser.add_argument("--k", type=int, default=5, help="Gibbs sweeps per update (5)")
    parser.add_argument(
        "--n-temperatures",
        type=int,
        default=None,
        help="parallel tempering of the persistent chains with this many temperatures",
    )
    parser.add_argument(
        "--centering", action="store_true", help="joint training of the centred DBM"
    )
    parser.add_argument(
        "--supervised",
        action="store_true",
        help="label units on the top layer (DBM(supervised=True)); stages train, finetune and "
        "record only",
    )
    parser.add_argument("--learning-rate", type=float, default=0.005)
    parser.add_argument("--pretrain-learning-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-draws",
        type=int,
        default=1,
        help="train on this many independent binarisations of each training image (the test "
        "set stays one draw; as benchmarks/likelihood.py --train-draws)",
    )
    parser.add_argument(
        "--dynamic-binarization",
        action="store_true",
        help="train the DBM on the grey levels, binarised anew in every minibatch "
        "(DBM(dynamic_binarization=True), as Salakhutdinov's code does); the test set, the "
        "likelihood's training figures and the finetune stage keep the one sampled draw",
    )
    parser.add_argument("--no-dropout", action="store_true", help="skip the dropout fine-tuning")
    parser.add_argument("--output", default=None, help="results folder")
    parser.add_argument(
        "--stages",
        nargs="+",
        choices=(*STAGES, "record"),
        default=list(STAGES),
        help="what to run (all but record by default); the trained model is loaded when it "
        "exists. record: the DBN record's fine-tuning protocol (finetune_record), about 30 "
        "minutes on 2 cores",
    )
    parser.add_argument(
        "--record-dropout",
        type=float,
        nargs=2,
        metavar=("HIDDEN", "INPUT"),
        default=None,
        help="stage record with these dropout rates instead of the record mode's (0.3, 0.1); "
        "stored beside the record as a variant",
    )
    parser.add_argument(
        "--record-validation-only",
        action="store_true",
        help="with --record-dropout or --record-solver cg: only the validation run, no "
        "retraining or test",
    )
    parser.add_argument(
        "--record-solver",
        choices=("sgd", "cg"),
        default="sgd",
        help="stage record's solver: sgd, the DBN record's dropout protocol; cg, the DBM paper's "
        f"(conjugate gradient, no dropout, at most {CG_RECORD_EPOCHS} epochs), stored as a variant",
    )
    parser.add_argument(
        "--ais-state", choices=("auto", "odd", "even"), default="auto", help="AIS state layers"
    )
    parser.add_argument(
        "--reverse-gibbs-sweeps",
        type=int,
        default=1000,
        help="Gibbs sweeps from the persistent chains before reverse AIS (stage 'reverse')",
    )
    args = parser.parse_args(argv)
    if args.dynamic_binarization and args.train_draws != 1:
        parser.error("--dynamic-binarization draws anew every epoch: --train-draws must be 1")
    if args.supervised:
        likelihood_stages = sorted({"likelihood", "reverse"} & set(args.stages))
        if likelihood_stages and "--stages" in (sys.argv[1:] if argv is None else argv):
            parser.error(
                f"--supervised: stages {likelihood_stages} measure p(v) of a DBM without labels"
            )
        args.stages = [s for s in args.stages if s not in ("likelihood", "reverse")]
    budget = QUICK if args.quick else FULL
    for name, value in budget.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if isinstance(args.pretrain_epochs, list):
        if len(args.pretrain_epochs) not in (1, len(args.hidden)):
            parser.error(
                f"--pretrain-epochs takes one count or one per layer of --hidden "
                f"({len(args.hidden)}), got {args.pretrain_epochs}"
            )
        # One count stays an int, as the runs recorded before per-layer counts store it.
        if len(args.pretrain_epochs) == 1:
            args.pretrain_epochs = args.pretrain_epochs[0]
    if args.output is None:
        here = Path(__file__).resolve().parent / "results" / "dbm"
        args.output = str(here / ("quick" if args.quick else "full"))
    return args


def grey_training_images(data_home, n_train, seed):
    """The grey levels (pixels / 255) of the ``n_train`` training images the run uses, and their
    labels."""
    X_train, y_train = load_mnist("train", data_home=data_home, as_float=True)
    if n_train < X_train.shape[0]:
        rows = np.sort(np.random.default_rng(seed).choice(X_train.shape[0], n_train, replace=False))
        X_train, y_train = X_train[rows], y_train[rows]
    return X_train, y_train


def load_data(data_home, n_train, seed, train_draws=1):
    """Sampled-binarised MNIST: training subset (with labels) and the 10,000 test images, drawn as
    ``benchmarks/likelihood.py --binarise sample`` draws them; with ``train_draws`` > 1 the
    training images are stacked that many times, each an independent draw (the first block is
    the single-draw set, and ``y_train`` labels it)."""
    from likelihood import sample_binarised

    X_train, y_train = grey_training_images(data_home, n_train, seed)
    X_test, y_test = load_mnist("test", data_home=data_home, as_float=True)
    train, test = sample_binarised(X_train, X_test, train_draws)
    return train, y_train, test, y_test


def make_model(args):
    return DBM(
        tuple(args.hidden),
        learning_rate=args.learning_rate,
        pretrain_learning_rate=args.pretrain_learning_rate,
        batch_size=100,
        n_iter=args.epochs,
        pretrain_n_iter=args.pretrain_epochs,
        n_mean_field=args.n_mean_field,
        n_chains=args.n_chains,
        k=args.k,
        n_temperatures=args.n_temperatures,
        centering=args.centering,
        supervised=args.supervised,
        dynamic_binarization=args.dynamic_binarization,
        verbose=1,
        random_state=args.seed,
    )


def gemm_seconds(dbm, n_rows, repeats=1):
    """Seconds of the GEMMs alone of one joint epoch over ``n_rows`` rows (same shapes, same
    order: recognition pass, mean-field sweeps, Gibbs sweeps, gradient, reconstruction)."""
    rng = np.random.default_rng(0)
    dtype = dbm.components_[0].dtype
    W = dbm.components_
    sizes = [W[0].shape[1], *(w.shape[0] for w in W)]
    # Tempered chains: one GEMM over every temperature's chains.
    L, B, M = len(W), dbm.batch_size, dbm.n_chains * (dbm.n_temperatures or 1)
    data = [rng.random((B, n)).astype(dtype) for n in sizes]
    chains = [rng.random((M, n)).astype(dtype) for n in sizes]
    n_batches = -(-n_rows // B)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(n_batches):
            for layer in range(L):
                data[layer] @ W[layer].T
            for _ in range(dbm.n_mean_field):
                for layer in range(L):
                    data[layer] @ W[layer].T
                    if layer < L - 1:
                        data[layer + 2] @ W[layer + 1]
            for _ in range(dbm.k):
                for layer in range(L + 1):
                    if layer > 0:
                        chains[layer - 1] @ W[layer - 1].T
                    if layer < L:
                        chains[layer + 1] @ W[layer]
            for layer in range(L):
                data[layer + 1].T @ data[layer]
                chains[layer + 1].T @ chains[layer]
            data[1] @ W[0]
        best = min(best, time.perf_counter() - start)
    return best


def epoch_and_gemm_seconds(dbm, X, n_rows=2000, repeats=3, y=None):
    """Best of ``repeats`` of one joint epoch over ``n_rows`` rows and of its GEMMs alone, run in
    turn so that both see the same load on a shared machine (``y``: a supervised DBM's labels,
    whose small products count in the epoch but not in the GEMMs)."""
    params = dbm.get_params() | {"pretrain_n_iter": 0, "n_iter": 1, "verbose": 0}
    epoch = gemm = np.inf
    for _ in range(repeats):
        model = DBM(**params).fit(
            X[:n_rows], None if y is None else y[:n_rows]
        )  # same shapes; the weights do not matter
        epoch = min(epoch, model.history_["time"][0])
        gemm = min(gemm, gemm_seconds(model, n_rows))
    return {"rows": n_rows, "epoch_seconds": epoch, "gemm_seconds": gemm, "ratio": epoch / gemm}


def train(args, X, output, y=None):
    """The trained DBM: loaded when a previous run finished, else trained (resuming); ``y``
    labels ``X`` for a supervised DBM."""
    path = output / "dbm.safetensors"
    dbm = make_model(args)
    if path.exists():
        saved = DBM.load(path)
        same = saved.get_params(deep=False) | {"verbose": 1} == dbm.get_params(deep=False)
        # A model saved before all its epochs ran (an interrupted run, before this check) is
        # not the trained one: train again, resuming from the checkpoint.
        if same and saved.n_iter_ >= saved.n_iter:
            print(f"loaded the trained model from {path}")
            return saved, None
    start = time.perf_counter()
    dbm.fit(X, y, checkpoint_dir=output / "checkpoint")
    seconds = time.perf_counter() - start
    if dbm.n_iter_ < dbm.n_iter:  # Ctrl-C in joint training: fit keeps the last whole epoch
        raise SystemExit(
            f"training interrupted after {dbm.n_iter_} of {dbm.n_iter} joint epochs; nothing "
            f"was saved but the checkpoint: the same command resumes from {output / 'checkpoint'}"
        )
    dbm.save(path)
    return dbm, seconds


def evaluate(args, dbm, X_train, X_test):
    start = time.perf_counter()
    ais = dbm_ais_log_partition(
        dbm,
        n_betas=args.ais_betas,
        n_runs=args.ais_runs,
        data=X_train,
        state_layers=args.ais_state,
        random_state=args.seed,
    )
    ais_seconds = time.perf_counter() - start
    test = X_test[: args.n_test].astype(np.float64)
    bound_unnormalised = dbm_variational_bound(dbm, test, n_mean_field=100, tol=1e-6)
    train_bound = dbm_variational_bound(dbm, X_train[: args.n_test].astype(np.float64))
    mean = float(bound_unnormalised.mean())
    return {
        "log_z": ais.log_z,
        "log_z_std": ais.log_z_std,
        "log_z_lower": ais.lower,
        "log_z_upper": ais.upper,
        "effective_sample_size": ais.effective_sample_size,
        "ais_runs": ais.n_runs,
        "ais_state": args.ais_state,
        "ais_betas": ais.n_betas,
        "ais_seconds": ais_seconds,
        "test_images": int(test.shape[0]),
        "test_log_likelihood_bound": mean - ais.log_z,
        "test_bound_interval": [mean - ais.upper, mean - ais.lower],
        "test_bound_std_error": float(bound_unnormalised.std(ddof=1) / np.sqrt(test.shape[0])),
        "train_log_likelihood_bound": float(train_bound.mean()) - ais.log_z,
    }


def evaluate_reverse(args, dbm, X_train, likelihood):
    """Reverse AIS from the DBM's persistent chains (after ``--reverse-gibbs-sweeps`` more Gibbs
    sweeps), same betas, base model and state as the forward runs: a log Z that errs high, so a
    test bound that errs low, beside the forward figure that errs high."""
    start = time.perf_counter()
    reverse = dbm_reverse_ais_log_partition(
        dbm,
        n_betas=args.ais_betas,
        n_gibbs_sweeps=args.reverse_gibbs_sweeps,
        data=X_train,
        state_layers=args.ais_state,
        random_state=args.seed + 1,
    )
    # The mean unnormalised bound of the test images, from the forward stage's figures.
    mean = likelihood["test_log_likelihood_bound"] + likelihood["log_z"]
    return {
        "log_z": reverse.log_z,
        "log_z_std": reverse.log_z_std,
        "log_z_lower": reverse.lower,
        "log_z_upper": reverse.upper,
        "effective_sample_size": reverse.effective_sample_size,
        "runs": reverse.n_runs,
        "betas": reverse.n_betas,
        "gibbs_sweeps": args.reverse_gibbs_sweeps,
        "seconds": time.perf_counter() - start,
        "test_log_likelihood_bound": mean - reverse.log_z,
        "test_bound_interval": [mean - reverse.upper, mean - reverse.lower],
    }


def finetune(args, dbm, X_train, y_train, X_test, y_test, dropout):
    params = dict(max_iter=args.finetune_epochs, random_state=args.seed)
    if dropout:
        params.update(dropout_hidden=0.5, dropout_input=0.2)
    mlp = dbm.to_mlp(**params)
    start = time.perf_counter()
    mlp.fit(dbm.augment(X_train), y_train)
    error = float(np.mean(mlp.predict(dbm.augment(X_test)) != y_test) * 100)
    return {
        "dropout": dropout,
        "epochs": int(mlp.n_iter_),
        "error_percent": error,
        "seconds": time.perf_counter() - start,
    }


def finetune_record(args, dbm, dropout=None, dropout_input=None, retrain=True, solver="sgd"):
    """The MNIST record's fine-tuning protocol (``benchmarks/mnist.py --record``, whose settings
    it imports) on the DBM's net: dropout 0.3 on the hidden units and 0.1 on the inputs, max-norm
    4, SGD 0.1 with momentum 0.9 decayed by 0.985 per epoch, minibatches of 100. The epochs are
    chosen on the last 10,000 training images while fine-tuning on the first 50,000 (at most the
    record mode's 200); the net is then retrained on all 60,000 for that many epochs and tested
    once. As in the DBN record, the net sees the grey-level images (pixels / 255), which the
    DBM's mean field takes as probabilities; the DBM itself was trained on binarised ones.

    ``dropout`` and ``dropout_input`` replace the record mode's rates (a variant); without
    ``retrain`` only the validation run is made, and the test set is not touched. With
    ``solver='cg'`` the net is fine-tuned as Salakhutdinov & Hinton (2009) did, by
    ``benchmarks/mnist.py``'s CG protocol (minibatches of 1000, 3 line searches, the top layer
    alone first, no dropout or weight decay) for at most :data:`CG_RECORD_EPOCHS` epochs, chosen
    on validation in the same way."""
    import mnist as record_protocol

    cfg = dict(record_protocol.MODES["record"])
    if dropout is not None:
        cfg["dropout"] = dropout
    if dropout_input is not None:
        cfg["dropout_input"] = dropout_input
    splits = record_protocol.load_splits(args.data_home)
    X_train, y_train = splits["train"]
    X_val, y_val = splits["val"]
    X_test, y_test = splits["test"]
    A_train, A_val, A_test = (dbm.augment(X) for X in (X_train, X_val, X_test))
    if solver == "cg":
        cfg.update(dropout=0.0, dropout_input=0.0)
    epochs = CG_RECORD_EPOCHS if solver == "cg" else cfg["finetune_epochs"]
    # Every epoch runs: the validation error picks the best one afterwards.
    params = record_protocol.finetune_params(cfg, solver, epochs, cfg["dropout"])
    params.update(n_iter_no_change=epochs + 1)
    mlp = dbm.to_mlp(**params | dict(random_state=args.seed))
    start = time.perf_counter()
    mlp.fit(A_train, y_train, X_val=A_val, y_val=y_val,
            callbacks=record_protocol.EpochLines(epochs))  # fmt: skip
    chosen = int(np.argmin(mlp.history_["val_error"])) + 1
    result = {
        "protocol": "benchmarks/mnist.py --record fine-tuning"
        if solver == "sgd"
        else "benchmarks/mnist.py's CG fine-tuning (Salakhutdinov & Hinton 2009)",
        "solver": solver,
        "dropout_hidden": cfg["dropout"],
        "dropout_input": cfg["dropout_input"],
        "validation_epochs": int(mlp.n_iter_),
        "chosen_epochs": chosen,
        "best_val_error_percent": 100 * float(min(mlp.history_["val_error"])),
        "validation_seconds": time.perf_counter() - start,
    }
    print(f"validation run: {result}", flush=True)
    if not retrain:
        return result
    result["test_error_50k_percent"] = 100 * float(1.0 - mlp.score(A_test, y_test))
    params = record_protocol.finetune_params(cfg, solver, chosen, cfg["dropout"])
    params.update(early_stopping=False, n_iter_no_change=chosen + 1)
    mlp = dbm.to_mlp(**params | dict(random_state=args.seed))
    start = time.perf_counter()
    A_all = np.vstack([A_train, A_val])
    mlp.fit(A_all, np.concatenate([y_train, y_val]), callbacks=record_protocol.EpochLines(chosen))
    result["retrain_seconds"] = time.perf_counter() - start
    result["test_error_percent"] = 100 * float(1.0 - mlp.score(A_test, y_test))
    return result


def markdown(record):
    c, e = record["config"], record.get("likelihood", {})
    lines = [
        f"# DBM {'-'.join(map(str, [784, *c['hidden']]))} on sampled-binarised MNIST",
        "",
        f"Last run {record['date']} on {record['machine'].get('cpu', '?')} "
        f"({record['machine']['cpu_count']} cores); commands, in order: "
        + "; ".join(f"`{c}`" for c in record["commands"])
        + ".",
        f"Budget: {c['n_train']} training images, {pretrain_epochs_text(c['pretrain_epochs'])} "
        f"CD-1 epochs per pretraining RBM, {c['epochs']} joint epochs (batch 100, "
        f"{c['n_mean_field']} mean-field sweeps, {c['n_chains']} chains, {c['k']} Gibbs sweeps per update, learning rate "
        f"{c['learning_rate']} decayed linearly to 0), seed {c['seed']}"
        + (
            f"; parallel tempering over {c['n_temperatures']} temperatures"
            if c.get("n_temperatures")
            else ""
        )
        + ("; centred joint training" if c.get("centering") else "")
        + ("; label units on the top layer (supervised)" if c.get("supervised") else "")
        + (
            f"; trained on {c['train_draws']} independent binarisations of each training image "
            "(the test set is one draw)"
            if c.get("train_draws", 1) > 1
            else ""
        )
        + (
            "; trained on the grey levels, binarised anew in every minibatch (dynamic "
            "binarisation; the test set is one draw)"
            if c.get("dynamic_binarization")
            else ""
        )
        + ".",
        training_time_text(record),
        "",
        "| measure | this run | published |",
        "| --- | --- | --- |",
    ]
    if e:
        lo, hi = e["test_bound_interval"]
        lines += [
            f"| test log-likelihood bound, nats ({e['test_images']} images) | "
            f"{e['test_log_likelihood_bound']:.2f} (AIS interval [{lo:.2f}, {hi:.2f}]) | "
            f"{PUBLISHED['log_likelihood']} |",
            f"| train log-likelihood bound, nats | {e['train_log_likelihood_bound']:.2f} | |",
            f"| AIS ({e.get('ais_state', 'even')} state): log Z, runs x betas, ESS | "
            f"{e['log_z']:.2f} +- {e['log_z_std']:.3f}, {e['ais_runs']} x {e['ais_betas']}, "
            f"{e['effective_sample_size']:.1f} | |",
        ]
        r = record.get("reverse")
        if r:
            lo, hi = r["test_bound_interval"]
            lines += [
                f"| the same bound with reverse AIS's log Z (errs low; interval [{lo:.2f}, "
                f"{hi:.2f}]) | {r['test_log_likelihood_bound']:.2f} | |",
                f"| reverse AIS from the persistent chains (+{r['gibbs_sweeps']} Gibbs sweeps): "
                f"log Z, runs x betas, ESS | {r['log_z']:.2f} +- {r['log_z_std']:.3f}, "
                f"{r['runs']} x {r['betas']}, {r['effective_sample_size']:.1f} | |",
            ]
        note = None
        if e["effective_sample_size"] < 0.1 * e["ais_runs"]:
            note = (
                f"AIS is not to be trusted here: its effective sample size "
                f"({e['effective_sample_size']:.1f}) is below 10 % of the runs, so log Z is "
                "likely underestimated and the bound overstated; use more betas."
            )
    if "dbm_predict_error_percent" in record:
        lines.append(
            "| test error, % (the supervised DBM's own mean-field labels, binarised test "
            f"images) | {record['dbm_predict_error_percent']:.2f} | |"
        )
    for f in record.get("finetune", []):
        published = PUBLISHED["error_percent_dropout" if f["dropout"] else "error_percent"]
        lines.append(
            f"| test error, % ({'dropout' if f['dropout'] else 'no dropout'}, {f['epochs']} "
            f"epochs) | {f['error_percent']:.2f} | {published} |"
        )
    f = record.get("finetune_record")
    if f:
        lines.append(
            f"| test error, % (the MNIST record's dropout fine-tuning on grey levels, "
            f"{f['chosen_epochs']} epochs chosen on validation ({f['best_val_error_percent']:.2f} "
            f"%), retrained on 60,000) | {f['test_error_percent']:.2f} | "
            f"{PUBLISHED['error_percent']} / {PUBLISHED['error_percent_dropout']} |"
        )
    for rates, v in record.get("finetune_record_variants", {}).items():
        test = f"{v['test_error_percent']:.2f}" if "test_error_percent" in v else "not run"
        protocol = (
            "the paper's CG fine-tuning, no dropout"
            if rates == "cg"
            else f"the same protocol with dropout {rates} (hidden/input)"
        )
        lines.append(
            f"| {protocol}: validation error, % "
            f"({v['chosen_epochs']} of {v['validation_epochs']} epochs); test error after "
            f"retraining | {v['best_val_error_percent']:.2f}; {test} | |"
        )
    if record.get("swap_acceptance"):
        rates = ", ".join(f"{r:.3f}" for r in record["swap_acceptance"])
        lines.append(f"| swap acceptance, neighbouring temperatures from beta = 1 | {rates} | |")
    s = record.get("speed")
    if s:
        lines.append(
            f"| joint epoch / its GEMMs alone ({s['rows']} rows, best of 3) | "
            f"{s['epoch_seconds']:.2f} s / {s['gemm_seconds']:.2f} s = {s['ratio']:.2f} | "
            "target <= 1.5 |"
        )
    if e and note is not None:
        lines += ["", note]
    for stages, seconds in record.get("stage_seconds", {}).items():
        lines += ["", f"Stages {stages}: {seconds:.0f} s wall time (data loading included)."]
    return "\n".join(lines) + "\n"


def training_time_text(record):
    """The training time of the last run of stage train and, where the joint epochs were
    resumed from a checkpoint across runs, what the history's epochs add up to."""
    seconds = record.get("train_seconds")
    if not seconds:
        return "Training time: not measured (the trained model was loaded)."
    text = f"Training time: {seconds} s"
    epoch_seconds = record.get("history", {}).get("time", [])
    joint = float(np.sum(epoch_seconds))
    # Uninterrupted, the pretraining makes the run longer than its joint epochs; shorter, it
    # resumed from the checkpoint after epochs that earlier runs trained.
    if joint > seconds:
        text += (
            f" in the last run of stage train, which resumed from the checkpoint; the "
            f"{len(epoch_seconds)} joint epochs of the history add up to {joint:.0f} s, any "
            "pauses between runs or while stopped included"
        )
    return text + "."


def pretrain_epochs_text(epochs):
    """``100`` or ``100 / 200`` (one count per layer)."""
    return " / ".join(map(str, epochs)) if isinstance(epochs, list) else str(epochs)


def same_config(recorded, config):
    """Whether a recorded run's settings are ``config``'s. A setting added to this script after
    the run was recorded counts as its default, so that a staged rerun keeps the record."""
    if recorded is None:
        return False
    defaults = {k: v for k, v in vars(parse_args([])).items() if k in config}
    return all(recorded.get(k, defaults.get(k)) == v for k, v in config.items()) and set(
        recorded
    ) <= set(config)


def main(argv=None):
    args = parse_args(argv)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    config = {
        k: v
        for k, v in vars(args).items()
        # Settings of single stages, not of the model: a rerun of that stage keeps the others.
        if k
        not in (
            "output",
            "data_home",
            "stages",
            "quick",
            "reverse_gibbs_sweeps",
            "record_dropout",
            "record_validation_only",
            "record_solver",
        )
    }
    # A rerun with the same settings keeps the stages it does not run (a resumed or staged run).
    path = output / "results.json"
    record = json.loads(path.read_text()) if path.exists() else {}
    if not same_config(record.get("config"), config):
        record = {}
    command = "python benchmarks/dbm.py " + " ".join(sys.argv[1:] if argv is None else argv)
    record.update(
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine_info(),
        config=config,
        published=PUBLISHED,
    )
    record.setdefault("commands", []).append(command)

    def write():
        path.write_text(json.dumps(record, indent=1) + "\n")
        (output / "results.md").write_text(markdown(record))

    start = time.perf_counter()
    X_train, y_train, X_test, y_test = load_data(
        args.data_home, args.n_train, args.seed, args.train_draws
    )
    # With several draws of each training image, each block of rows carries the same labels.
    y_draws = np.tile(y_train, args.train_draws) if args.supervised else None
    # With dynamic binarisation the DBM gets the grey levels and draws every minibatch itself.
    X_fit = X_train
    if args.dynamic_binarization:
        X_fit = grey_training_images(args.data_home, args.n_train, args.seed)[0]
    dbm, seconds = train(args, X_fit, output, y_draws)
    if "train" in args.stages:
        if seconds is not None:
            record["train_seconds"] = round(seconds, 1)
        if args.supervised:  # the DBM's own labels, by mean field, on the binarised test set
            test = X_test[: args.n_test]
            record["dbm_predict_error_percent"] = float(
                100 * np.mean(dbm.predict(test) != y_test[: args.n_test])
            )
        record["pretrain_history"] = dbm.pretrain_history_
        record["history"] = dbm.history_
        if dbm.n_temperatures is not None:
            accepted, proposed = np.asarray(dbm.swap_counts_, dtype=float).T
            record["swap_acceptance"] = (accepted / proposed).round(4).tolist()
        record["speed"] = epoch_and_gemm_seconds(dbm, X_fit, y=y_draws)
        write()
    if "likelihood" in args.stages:
        record["likelihood"] = evaluate(args, dbm, X_train, X_test)
        write()
    if "reverse" in args.stages and "likelihood" in record:
        record["reverse"] = evaluate_reverse(args, dbm, X_train, record["likelihood"])
        write()
    if "finetune" in args.stages:
        record["finetune"] = []
        for dropout in (False,) if args.no_dropout else (False, True):
            # One draw of each training image, the one its label goes with.
            result = finetune(args, dbm, X_train[: len(y_train)], y_train, X_test, y_test, dropout)
            record["finetune"].append(result)
            write()
    stages = " ".join(args.stages)
    if "record" in args.stages and args.record_solver == "cg":
        variant = finetune_record(args, dbm, retrain=not args.record_validation_only, solver="cg")
        record.setdefault("finetune_record_variants", {})["cg"] = variant
        stages += " (cg)"
        write()
    elif "record" in args.stages and args.record_dropout is None:
        record["finetune_record"] = finetune_record(args, dbm)
        write()
    elif "record" in args.stages:
        hidden, inputs = args.record_dropout
        rates = f"{hidden:g}/{inputs:g}"
        variant = finetune_record(
            args, dbm, hidden, inputs, retrain=not args.record_validation_only
        )
        record.setdefault("finetune_record_variants", {})[rates] = variant
        stages += f" (dropout {rates})"  # its time beside the record's, not over it
        write()
    record.setdefault("stage_seconds", {})[stages] = time.perf_counter() - start
    write()
    print(markdown(record))


if __name__ == "__main__":
    main()
