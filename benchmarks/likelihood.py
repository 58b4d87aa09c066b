"""Test log-likelihood of 500-hidden-unit RBMs on binarised MNIST, by AIS and reverse AIS.

Trains one :class:`dbn.BernoulliRBM` each with CD-1, CD-k, PCD, centred PCD (Melchior et al. 2016)
and parallel tempering (Desjardins et al. 2010) on binarised MNIST, estimates each model's
``log Z`` with :func:`dbn.evaluation.ais_log_partition` (base rate from the
training data, Salakhutdinov & Murray's 14,501-temperature schedule, 100 runs) and reports the
average log-likelihood of the 10,000 test images with its AIS bounds and effective sample size,
next to the conservative reverse-AIS estimate of :func:`dbn.evaluation.raise_log_likelihood`
(Burda et al. 2015) on a random subset of the test images, and the published figures.

Usage::

    python benchmarks/likelihood.py                   # 15-30 minutes on 2 cores
    python benchmarks/likelihood.py --quick           # 1-2 minutes: 10k images, 2 epochs
    python benchmarks/likelihood.py --data-home ../shared/data --output benchmarks/out
    python benchmarks/likelihood.py --blas-threads 1  # on a busy machine (see main)

Binarisation (``--binarise``): ``threshold`` (the default) sets a pixel to 1 when ``pixel / 255 >
0.5``; ``sample`` draws each pixel once from Bernoulli(``pixel / 255``) with a fixed seed, as
Salakhutdinov & Murray (2008) did and as the published figures below assume. The two are different
data sets: thresholded digits have far less pixel noise, and the same models score 17-18 nats higher
on them (PCD, 50 epochs: -75.13 against -92.62; centred PCD, 100 epochs: -68.98 against -87.36;
``results/likelihood-wd`` and ``results/likelihood-sampled``), so only ``--binarise sample``
compares with the published column.

The data folder is ``--data-home``, else the loader's search order (``DBN_DATA_HOME``, the user
cache, ``../shared/data``: see :func:`dbn.datasets.data_homes`). Times are wall-clock seconds
measured in this run; the comparison with published numbers is indicative only (their models
trained far longer, with other schedules).

References
----------
Salakhutdinov, R., & Murray, I. (2008). On the quantitative analysis of deep belief networks. ICML.
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the likelihood
gradient. ICML.
Melchior, J., Fischer, A., & Wiskott, L. (2016). How to center deep Boltzmann machines. JMLR 17
(the centred RBMs of the PyDeep library).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

import dbn
from dbn import BernoulliRBM
from dbn.datasets import load_mnist
from dbn.evaluation import ais_log_partition, log_likelihood, raise_log_likelihood

# Average test log-likelihoods (nats) of 500-hidden-unit binary RBMs on MNIST, from AIS.
PUBLISHED = {
    "CD-1": ("about -125.5", "Salakhutdinov & Murray 2008, CD1(500)"),
    "CD-25": ("about -86.3", "Salakhutdinov & Murray 2008, CD25(500)"),
    "centred": ("about -84.9", "PyDeep centred RBM (Melchior et al. 2016)"),
    "centred PCD": (
        "-84.86 (AIS), -96.61 (reverse AIS)",
        "PyDeep centred RBM, PCD-1, 200 epochs (Melchior et al. 2016)",
    ),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-home", default=None, help="folder holding mnist/")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of CD-1 and PCD (50)")
    parser.add_argument("--epochs-cdk", type=int, default=None, help="epochs of CD-k (20)")
    parser.add_argument("--k", type=int, default=25, help="Gibbs steps of CD-k (25)")
    parser.add_argument("--n-hidden", type=int, default=500)
    parser.add_argument("--n-train", type=int, default=None, help="training images (60000)")
    parser.add_argument("--ais-runs", type=int, default=None, help="AIS runs (100)")
    parser.add_argument("--ais-betas", type=int, default=None, help="AIS temperatures (14501)")
    parser.add_argument(
        "--models",
        default="cd1,cdk,pcd,centred",
        help="comma-separated subset of cd1,cdk,pcd,centred,pt",
    )
    parser.add_argument(
        "--epochs-centred", type=int, default=None, help="epochs of centred PCD (100)"
    )
    parser.add_argument(
        "--centred-weight-decay",
        type=float,
        default=2e-4,
        help="weight decay of centred PCD and PT (2e-4; 0 gave a model AIS could not measure)",
    )
    parser.add_argument(
        "--raise-images", type=int, default=None, help="test images for RAISE (200)"
    )
    parser.add_argument(
        "--train-draws",
        type=int,
        default=1,
        help="with --binarise sample: train on this many independent draws of each training image "
        "(1; the test set is always the one fixed draw)",
    )
    parser.add_argument("--raise-runs", type=int, default=5, help="RAISE chains per image (5)")
    parser.add_argument("--raise-betas", type=int, default=None, help="RAISE temperatures (5000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--binarise",
        choices=("threshold", "sample"),
        default="threshold",
        help="pixel / 255 > 0.5, or one Bernoulli draw per pixel (the published figures' data)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="10k images, 2 epochs, k=5, 50 runs x 2000 betas"
    )
    parser.add_argument("--output", default=None, help="folder to write likelihood.json into")
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit numpy's BLAS threads (needs threadpoolctl); 1 is much faster on a busy machine",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "epochs": 2 if quick else 50,
        "epochs_cdk": 2 if quick else 20,
        "epochs_centred": 2 if quick else 100,
        "raise_images": 20 if quick else 200,
        "raise_betas": 500 if quick else 5000,
        "n_train": 10000 if quick else 60000,
        "ais_runs": 50 if quick else 100,
        "ais_betas": 2000 if quick else 14501,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if quick and args.k == 25:
        args.k = 5
    if args.train_draws < 1 or (args.train_draws > 1 and args.binarise != "sample"):
        parser.error(
            f"--train-draws: expected 1, or more with --binarise sample; got {args.train_draws} "
            f"with --binarise {args.binarise}"
        )
    return args


def sample_binarised(X_train, X_test, train_draws=1):
    """``(train, test)``: each pixel drawn once from Bernoulli(``pixel``) with a fixed seed
    (float32), the training images ``train_draws`` times, stacked.

    The further draws of the training images are data augmentation against the 3-nat gap between
    the training and test log-likelihood of one draw. They are drawn after the test set, so the
    first block and the test set are the single-draw data sets bit for bit, whatever
    ``train_draws`` is. ``benchmarks/dbm.py`` draws its data here too.
    """
    rng = np.random.default_rng(12345)
    train = (rng.random(X_train.shape) < X_train).astype(np.float32)
    test = (rng.random(X_test.shape) < X_test).astype(np.float32)
    extra = [
        (rng.random(X_train.shape) < X_train).astype(np.float32) for _ in range(train_draws - 1)
    ]
    return (np.concatenate([train, *extra]) if extra else train), test


def load_binarised(data_home, n_train, seed, binarise="threshold", train_draws=1):
    X_train, _ = load_mnist("train", data_home=data_home, as_float=True)
    X_test, _ = load_mnist("test", data_home=data_home, as_float=True)
    if n_train < X_train.shape[0]:
        rows = np.random.default_rng(seed).choice(X_train.shape[0], n_train, replace=False)
        X_train = X_train[np.sort(rows)]
    if binarise == "sample":
        return sample_binarised(X_train, X_test, train_draws)
    # Fixed binarisation at 0.5, float32 so that training runs in single precision.
    return (X_train > 0.5).astype(np.float32), (X_test > 0.5).astype(np.float32)


def make_models(args):
    common = dict(
        learning_rate=0.05,
        batch_size=100,
        momentum=0.5,
        final_momentum=0.9,
        momentum_switch_epoch=5,
        weight_decay=2e-4,
        monitor_size=0,
        random_state=args.seed,
    )
    models = {
        "cd1": ("CD-1", BernoulliRBM(args.n_hidden, k=1, n_iter=args.epochs, **common)),
        "cdk": (
            f"CD-{args.k}",
            BernoulliRBM(args.n_hidden, k=args.k, n_iter=args.epochs_cdk, **common),
        ),
        # Tieleman (2008): persistent chains with a learning rate decayed linearly to zero. Momentum
        # stays at 0.5: with 0.9 the persistent chains and the weights oscillated here (the
        # reconstruction error doubled within an epoch of the switch) and AIS then failed badly.
        "pcd": (
            "PCD",
            BernoulliRBM(
                args.n_hidden,
                persistent=True,
                n_chains=100,
                learning_rate_schedule="linear",
                n_iter=args.epochs,
                **{**common, "final_momentum": 0.5},
            ),
        ),
    }
    # Centred PCD (Melchior, Fischer & Wiskott 2016): the same persistent chains and linear decay,
    # following the centred gradient. Without weight decay (results/likelihood-centred) the
    # weights grew until log Z was 1179 and AIS's effective sample size was 2 of 100: no estimate
    # could be trusted. The other models' 2e-4 is the default now (--centred-weight-decay).
    models["centred"] = (
        "centred PCD",
        BernoulliRBM(
            args.n_hidden,
            persistent=True,
            n_chains=100,
            centering=True,
            learning_rate_schedule="linear",
            n_iter=args.epochs_centred,
            **{**common, "final_momentum": 0.5, "weight_decay": args.centred_weight_decay},
        ),
    )
    # Parallel tempering with 10 temperatures (Desjardins et al. 2010), centred too.
    models["pt"] = (
        "PT-10 (centred)",
        BernoulliRBM(
            args.n_hidden,
            persistent=True,
            n_chains=100,
            n_temperatures=10,
            centering=True,
            learning_rate_schedule="linear",
            n_iter=args.epochs,
            **{**common, "final_momentum": 0.5, "weight_decay": args.centred_weight_decay},
        ),
    )
    chosen = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(models))
    if unknown:
        raise SystemExit(f"--models: unknown {unknown}; choose from {sorted(models)}")
    return [models[name] for name in chosen]


def evaluate(label, rbm, X_train, X_test, args):
    start = time.perf_counter()
    rbm.fit(X_train)
    train_time = time.perf_counter() - start
    start = time.perf_counter()
    ais = ais_log_partition(
        rbm,
        n_betas=args.ais_betas,
        n_runs=args.ais_runs,
        data=X_train,
        random_state=args.seed,
    )
    ais_time = time.perf_counter() - start
    test_ll, test_lower, test_upper = log_likelihood(rbm, X_test, ais, return_bounds=True)
    train_ll = log_likelihood(rbm, X_train[: X_test.shape[0]], ais)
    # Reverse AIS on a random subset of the test set (its cost grows with the images); the AIS
    # figure on the same subset is reported beside it, so the two bracket the same quantity.
    rows = np.sort(
        np.random.default_rng(args.seed).choice(X_test.shape[0], args.raise_images, replace=False)
    )
    start = time.perf_counter()
    reverse = raise_log_likelihood(
        rbm,
        X_test[rows],
        n_betas=args.raise_betas,
        n_runs=args.raise_runs,
        data=X_train,
        random_state=args.seed,
    )
    raise_time = time.perf_counter() - start
    subset_ais_ll = log_likelihood(rbm, X_test[rows], ais)
    published = PUBLISHED.get(label, ("", ""))
    # A few runs dominating the weights, or no finite lower bound, mean log Z is likely
    # underestimated and the log-likelihood overstated (Salakhutdinov & Murray 2008).
    reliable = ais.effective_sample_size >= 0.1 * ais.n_runs and np.isfinite(ais.lower)
    return {
        "model": label,
        "epochs": rbm.n_iter_,
        "train_time_s": train_time,
        "ais_time_s": ais_time,
        "log_z": ais.log_z,
        "log_z_std": ais.log_z_std,
        "log_z_lower": ais.lower,
        "log_z_upper": ais.upper,
        "effective_sample_size": ais.effective_sample_size,
        "test_log_likelihood": test_ll,
        "test_log_likelihood_lower": test_lower,
        "test_log_likelihood_upper": test_upper,
        "train_log_likelihood": train_ll,
        "raise_images": int(args.raise_images),
        "raise_log_likelihood": reverse.log_likelihood,
        "raise_log_likelihood_std": reverse.log_likelihood_std,
        "ais_log_likelihood_on_raise_images": subset_ais_ll,
        "raise_time_s": raise_time,
        "ais_reliable": bool(reliable),
        "published": published[0],
        "published_source": published[1],
    }


def markdown(rows, binarise="sample"):
    lines = [
        "| model | epochs | train (s) | AIS (s) | log Z (± s.e.) | ESS | train LL | test LL "
        "[AIS bounds] | subset: AIS / RAISE (± s.e.) | published |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        flag = "" if r["ais_reliable"] else " (!)"
        lines.append(
            f"| {r['model']} | {r['epochs']} | {r['train_time_s']:.1f} | {r['ais_time_s']:.1f} | "
            f"{r['log_z']:.2f} ± {r['log_z_std']:.2f} | {r['effective_sample_size']:.0f} | "
            f"{r['train_log_likelihood']:.2f} | {r['test_log_likelihood']:.2f}{flag} "
            f"[{r['test_log_likelihood_lower']:.2f}, {r['test_log_likelihood_upper']:.2f}] | "
            f"{r['ais_log_likelihood_on_raise_images']:.2f} / {r['raise_log_likelihood']:.2f} "
            f"± {r['raise_log_likelihood_std']:.2f} ({r['raise_images']} images) | "
            f"{r['published']} |"
        )
    value, source = PUBLISHED["centred"]
    lines.append(f"| centred RBM | | | | | | | | | {value} ({source}) |")
    if binarise == "threshold":
        lines.append(
            "\nData binarised at pixel / 255 > 0.5; the published figures are for one Bernoulli "
            "draw per pixel, a noisier data set (--binarise sample): not comparable."
        )
    if not all(r["ais_reliable"] for r in rows):
        lines.append(
            "\n(!) AIS effective sample size below 10% of the runs, or no finite lower bound: "
            "log Z is probably underestimated and the log-likelihood too high; use more "
            "--ais-betas."
        )
    return "\n".join(lines)


def results_markdown(record, table):
    """``results.md``: the command's settings, then the table (as the docs include it)."""
    config = record["config"]
    draws = config.get("train_draws", 1)
    settings = (
        f"Binarisation `{config.get('binarise', 'threshold')}`"
        + (f", {draws} draws of each training image" if draws > 1 else "")
        + f"; {config['n_hidden']} hidden units; centred weight decay "
        f"{config.get('centred_weight_decay', 0.0)}; seed {config['seed']}; AIS {config['ais_runs']} "
        f"runs x {config['ais_betas']} temperatures; RAISE {config['raise_runs']} chains x "
        f"{config['raise_betas']} temperatures on {config['raise_images']} test images; "
        f"BLAS threads {record['environment']['blas_threads']}."
    )
    return f"{settings}\n\n{table}\n"


def _finite_or_none(value):
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return [(info["internal_api"], info["num_threads"]) for info in threadpool_info()]


def main(argv=None):
    args = parse_args(argv)
    if args.blas_threads is not None:
        # On a loaded 2-core machine, OpenBLAS threads that wait for a descheduled sibling made each
        # AIS step 5x slower than one thread (measured here); the GEMMs are small (100 x 784 x 500).
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    X_train, X_test = load_binarised(
        args.data_home, args.n_train, args.seed, args.binarise, args.train_draws
    )
    how = "at 0.5" if args.binarise == "threshold" else "by one Bernoulli draw per pixel"
    print(
        f"MNIST binarised {how}: {X_train.shape[0]} training, {X_test.shape[0]} test images; "
        f"{args.n_hidden} hidden units; AIS {args.ais_runs} runs x {args.ais_betas} betas"
        + (" (--quick)" if args.quick else ""),
        file=sys.stderr,
    )
    rows = []
    for label, rbm in make_models(args):
        print(f"{label}: training {rbm.n_iter} epochs, then AIS ...", file=sys.stderr, flush=True)
        rows.append(evaluate(label, rbm, X_train, X_test, args))
        r = rows[-1]
        print(
            f"{label}: test LL {r['test_log_likelihood']:.2f} nats "
            f"(train {r['train_time_s']:.1f} s, AIS {r['ais_time_s']:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    table = markdown(rows, args.binarise)
    print(table)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        record = {
            "benchmark": "likelihood",
            "config": vars(args),
            "results": rows,
            "environment": {
                "dbn": dbn.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "blas_threads": blas_threads(),
            },
        }
        path = out / "likelihood.json"
        # Strict JSON has no inf: an infinite AIS bound (see markdown) is written as null.
        path.write_text(json.dumps(_finite_or_none(record), indent=2, allow_nan=False))
        (out / "results.md").write_text(results_markdown(record, table))
        print(f"wrote {path} and results.md", file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
