"""MNIST deep autoencoder: reproduce Hinton & Salakhutdinov (2006), Figures 2 and 3.

    python benchmarks/autoencoder.py --quick   # smoke run: 3,000 images, under 3 minutes on 2 cores
    python benchmarks/autoencoder.py           # default: 20,000 images, about 15-20 minutes
    python benchmarks/autoencoder.py --full    # paper-length (estimated ~20 hours on 2 cores)
    python benchmarks/autoencoder.py --parts pca,pretrained --seed 1 --threads 1 --output out/ae

On a machine whose cores other jobs also use, ``--threads 1`` is much faster: a second BLAS thread
mostly waits for a busy core (measured here: a forward-backward pass 2.3x slower with 2 threads than
with 1 under load, an SVD 20x slower).

Parts:

- ``pca``: PCA with 30 (and 2) components fitted on the training images (numpy SVD).
- ``pretrained``: a 784-1000-500-250-30 DBN pretrained greedily with the paper's recipe (CD-1, batch
  100, momentum 0.5 -> 0.9, weight cost 2e-4, learning rate 0.1, and 0.001 for the top RBM whose
  hidden units are linear), unrolled into an autoencoder and fine-tuned on the cross-entropy with
  conjugate gradient (3 line searches on minibatches of 1000), as in the paper.
- ``random``: the same autoencoder from a random initialisation (Xavier, gain 4 for the logistic
  layers) with the same fine-tuning budget: the paper's "without pretraining" comparison.
- ``code2d``: a 784-1000-500-250-2 autoencoder (the lower three RBMs reused, a new linear 250-2 top
  RBM) and the scatter plot of its test codes coloured by digit, beside the first two principal
  components (the paper's Figure 3).

The error is the paper's: the squared reconstruction error of an image, summed over its 784 pixels
(in [0, 1]), averaged over the 10,000 test images. The paper reports 3.00 for the pretrained
784-1000-500-250-30 autoencoder (200 epochs of fine-tuning on 60,000 images) and 13.87 for PCA
with 30 components.

Estimated ``--full`` cost, extrapolated from rates measured on one core of the 2-core machine (one
forward-backward pass of a 1000-image minibatch through 784-1000-500-250-30-250-500-1000-784 takes
about 0.27 s; scipy's CG makes 7 of them per minibatch with 3 line searches, so about 1.9 s; one
pretraining epoch of the whole stack on 60,000 images about 17 s): pretraining 50 epochs per layer,
about 15 minutes; fine-tuning 200 epochs x 60 minibatches, about 6-7 hours per autoencoder, so
about 20 hours for the pretrained, random and 2-D nets together (``--parts`` drops some).

Outputs: a Markdown table on stdout and in ``results.md``, ``results.json`` (with machine
information) and PNG plots in ``--output``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _report import machine_info, write_report  # noqa: E402

from dbn import DBN, BernoulliRBM  # noqa: E402
from dbn.autoencoder import DeepAutoencoder  # noqa: E402
from dbn.datasets import load_mnist  # noqa: E402

ENCODER = (1000, 500, 250, 30)
PAPER = {"autoencoder_30": 3.00, "pca_30": 13.87}
PARTS = ("pca", "pretrained", "random", "code2d")

# Budgets per mode: training images (taken from the first 50,000 of the training file), validation
# images (from the last 10,000; 0 for none), pretraining epochs per layer, fine-tuning epochs of the
# 30-D and 2-D autoencoders.
MODES = {
    "quick": dict(n_train=3000, n_val=1000, pretrain_epochs=3, finetune_epochs=2, code2d_epochs=2),
    "default": dict(
        n_train=20000, n_val=5000, pretrain_epochs=10, finetune_epochs=6, code2d_epochs=4
    ),
    "full": dict(
        n_train=60000, n_val=0, pretrain_epochs=50, finetune_epochs=200, code2d_epochs=200
    ),
}


def load_splits(cfg, data_home=None):
    """Training and validation images (disjoint) and the 10,000 test images with labels."""
    X, _ = load_mnist("train", data_home=data_home, as_float=True)
    X_test, y_test = load_mnist("test", data_home=data_home, as_float=True)
    if cfg["n_val"]:
        # Validation from the end of the file, training from the start: never the same image.
        train, val = X[: min(cfg["n_train"], 50000)], X[50000 : 50000 + cfg["n_val"]]
    else:
        train, val = X[: cfg["n_train"]], None
    return {"train": train, "val": val, "test": (X_test, y_test)}


def mse(X, X_hat):
    """Squared error summed over pixels, averaged over images (the paper's measure)."""
    diff = np.asarray(X, np.float64) - np.asarray(X_hat, np.float64)
    return float(np.mean(np.sum(diff**2, axis=1)))


def part_pca(splits):
    start = time.perf_counter()
    X = np.asarray(splits["train"], np.float64)
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    X_test = np.asarray(splits["test"][0], np.float64)
    out = {}
    for k in (30, 2):
        V = Vt[:k].T
        codes = (X_test - mean) @ V
        out[f"test_mse_{k}"] = mse(X_test, codes @ V.T + mean)
        if k == 2:
            out["codes_2"] = codes
    out["seconds"] = time.perf_counter() - start
    return out


def pretrain(splits, cfg, seed, verbose):
    start = time.perf_counter()
    model = DBN.hinton_salakhutdinov_2006(
        ENCODER,
        n_iter=cfg["pretrain_epochs"],
        top_hidden_unit="gaussian",
        # Linear hidden units need a smaller step (rbmhidlinear.m of the paper's code: 0.001).
        layer_params={len(ENCODER) - 1: {"learning_rate": 0.001}},
        random_state=seed,
        verbose=verbose,
    )
    model.pretrain(splits["train"])
    return model, time.perf_counter() - start


def finetune_params(epochs, seed, verbose):
    # The paper's recipe: cross-entropy, CG with 3 line searches on minibatches of 1000, no weight
    # decay; a fixed number of epochs (no early stopping), so budgets are equal across runs.
    return dict(
        loss="cross_entropy",
        solver="cg",
        cg_batch_size=1000,
        cg_max_line_searches=3,
        alpha=0.0,
        max_iter=epochs,
        n_iter_no_change=epochs + 1,
        random_state=seed,
        verbose=bool(verbose),
    )


def finetune(model, splits):
    X_test = splits["test"][0]
    # The weights fit() starts from (it draws them again from the same seed).
    before = model.initialize(splits["train"]).reconstruction_error(X_test)
    start = time.perf_counter()
    model.fit(splits["train"], X_val=splits["val"])
    seconds = time.perf_counter() - start
    return {
        "test_mse_before": float(before),
        "test_mse": float(model.reconstruction_error(X_test)),
        "train_mse": float(model.reconstruction_error(splits["train"])),
        "epochs": int(model.n_iter_),
        "seconds": seconds,
        "history": model.history_,
    }


def part_code2d(splits, dbn30, cfg, args):
    """784-1000-500-250-2: the 30-D stack's lower RBMs and a new linear 250-2 top RBM."""
    start = time.perf_counter()
    lower = dbn30.layers_[:-1]
    features = splits["train"]
    for rbm in lower:
        features = rbm.transform(features)
    params = dbn30.layers_[-1].get_params()
    params.update(n_components=2, random_state=args.seed + 1)
    top = BernoulliRBM(**params).fit(features)
    pretrain_seconds = time.perf_counter() - start
    layers = [
        (rbm.components_.T, rbm.intercept_hidden_, rbm.intercept_visible_) for rbm in [*lower, top]
    ]
    model = DeepAutoencoder(
        (*ENCODER[:-1], 2),
        code_activation="identity",
        pretrained_layers=layers,
        **finetune_params(cfg["code2d_epochs"], args.seed, args.verbose),
    )
    result = finetune(model, splits)
    result["pretrain_top_seconds"] = pretrain_seconds
    result["codes"] = model.encode(splits["test"][0])
    return result


def plots(results, splits, output):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    y_test = splits["test"][1]
    # 500 test digits of each class, as in the paper's Figure 3.
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.permutation(np.flatnonzero(y_test == c))[:500] for c in range(10)])
    rows = rng.permutation(rows)
    panels = []
    if "pca" in results:
        panels.append(("PCA: first two principal components", results["pca"]["codes_2"]))
    if "code2d" in results:
        panels.append(("784-1000-500-250-2 autoencoder codes", results["code2d"]["codes"]))
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5.5), squeeze=False)
        for ax, (title, codes) in zip(axes.flat, panels, strict=True):
            points = ax.scatter(
                codes[rows, 0],
                codes[rows, 1],
                c=y_test[rows],
                cmap="tab10",
                s=3,
                vmin=-0.5,
                vmax=9.5,
            )
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(points, ax=axes.ravel().tolist(), ticks=range(10), label="digit")
        fig.savefig(output / "autoencoder_codes_2d.png", dpi=110)
        plt.close(fig)
        written.append("autoencoder_codes_2d.png")
    curves = {
        name: results[name]["history"]
        for name in ("pretrained", "random")
        if name in results and np.isfinite(results[name]["history"]["val_mse"]).any()
    }
    if curves:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, history in curves.items():
            ax.plot(np.arange(1, len(history["val_mse"]) + 1), history["val_mse"], label=name)
        if "pca" in results:
            ax.axhline(results["pca"]["test_mse_30"], color="gray", ls="--", label="PCA 30 (test)")
        ax.set_xlabel("fine-tuning epoch")
        ax.set_ylabel("validation squared error per image")
        ax.legend()
        fig.tight_layout()
        fig.savefig(output / "autoencoder_learning_curves.png", dpi=110)
        plt.close(fig)
        written.append("autoencoder_learning_curves.png")
    return written


def markdown(results):
    cfg = results["config"]
    lines = [
        f"## dbn deep autoencoder on MNIST ({results['mode']} mode, seed {results['seed']})",
        "",
        f"Training on {results['n_train']} images, test on 10,000. Error: squared error per image, "
        "summed over the 784 pixels in [0, 1], averaged over test images.",
        "",
    ]
    if "pretrain_seconds" in results:
        lines += [
            f"Pretraining 784-{'-'.join(map(str, ENCODER))} (linear top units): "
            f"{cfg['pretrain_epochs']} epochs per layer, {results['pretrain_seconds']:.0f} s.",
            "",
        ]
    lines += [
        "| model | init | fine-tuning | test error | before fine-tuning | train error | s |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    if "pca" in results:
        p = results["pca"]
        lines.append(
            f"| PCA, 30 components | - | - | {p['test_mse_30']:.2f} | - | - | {p['seconds']:.0f} |"
        )
    for name, init in (("pretrained", "DBN pretraining"), ("random", "random (Xavier)")):
        if name in results:
            r = results[name]
            lines.append(
                f"| 784-1000-500-250-30 autoencoder | {init} | CG, {r['epochs']} epochs | "
                f"**{r['test_mse']:.2f}** | {r['test_mse_before']:.2f} | {r['train_mse']:.2f} | "
                f"{r['seconds']:.0f} |"
            )
    if "pca" in results:
        lines.append(
            f"| PCA, 2 components | - | - | {results['pca']['test_mse_2']:.2f} | - | - | - |"
        )
    if "code2d" in results:
        r = results["code2d"]
        lines.append(
            f"| 784-1000-500-250-2 autoencoder | DBN pretraining | CG, {r['epochs']} epochs | "
            f"{r['test_mse']:.2f} | {r['test_mse_before']:.2f} | {r['train_mse']:.2f} | "
            f"{r['seconds']:.0f} |"
        )
    lines += [
        f"| paper: 784-1000-500-250-30 autoencoder | RBM pretraining | CG, 200 epochs | "
        f"{PAPER['autoencoder_30']:.2f} | | | |",
        f"| paper: PCA, 30 components | | | {PAPER['pca_30']:.2f} | | | |",
        "",
        f"Wall time {results['wall_seconds']:.0f} s.",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smoke run, under 3 minutes")
    mode.add_argument("--full", action="store_true", help="paper-length reproduction (~20 h)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(HERE / "out" / "autoencoder"))
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="BLAS threads (default: the library's choice)"
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(args.threads):
            return run(args, parser)
    return run(args, parser)


def run(args, parser):
    mode_name = "quick" if args.quick else "full" if args.full else "default"
    cfg = MODES[mode_name]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    splits = load_splits(cfg, args.data_home)
    results = {
        "mode": mode_name,
        "seed": args.seed,
        "config": cfg,
        "n_train": len(splits["train"]),
        "paper": PAPER,
        "error_definition": "sum over 784 pixels of (x - x_hat)^2, mean over test images",
        "machine": machine_info(),
        "threads": args.threads,
    }
    if "pca" in parts:
        results["pca"] = part_pca(splits)
        print(f"[{mode_name}] PCA-30 test error {results['pca']['test_mse_30']:.2f}", flush=True)
    dbn30 = None
    if {"pretrained", "code2d"} & set(parts):
        print(
            f"[{mode_name}] pretraining 784-1000-500-250-30 on {results['n_train']} images",
            flush=True,
        )
        dbn30, results["pretrain_seconds"] = pretrain(splits, cfg, args.seed, args.verbose)
    budget = finetune_params(cfg["finetune_epochs"], args.seed, args.verbose)
    if "pretrained" in parts:
        print(f"[{mode_name}] fine-tuning the pretrained autoencoder", flush=True)
        results["pretrained"] = finetune(DeepAutoencoder.from_dbn(dbn30, **budget), splits)
        print(f"  test error {results['pretrained']['test_mse']:.2f}", flush=True)
    if "random" in parts:
        print(f"[{mode_name}] training the autoencoder from a random initialisation", flush=True)
        results["random"] = finetune(DeepAutoencoder(ENCODER, **budget), splits)
        print(f"  test error {results['random']['test_mse']:.2f}", flush=True)
    if "code2d" in parts:
        print(f"[{mode_name}] 784-1000-500-250-2 autoencoder", flush=True)
        results["code2d"] = part_code2d(splits, dbn30, cfg, args)
        print(f"  test error {results['code2d']['test_mse']:.2f}", flush=True)
    results["wall_seconds"] = time.perf_counter() - start
    results["plots"] = plots(results, splits, output)
    for name in ("pca", "code2d"):  # the codes went into the plot, not into the JSON
        if name in results:
            results[name].pop("codes_2" if name == "pca" else "codes", None)
    table = markdown(results)
    write_report(output, results, table)
    return results


if __name__ == "__main__":
    main()
