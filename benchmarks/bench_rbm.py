"""Speed of one CD-1 epoch on MNIST: dbn against the bare GEMMs, sklearn and PyTorch, in one run.

    python benchmarks/bench_rbm.py                 # 60000 x 784 -> 500, batch 100, float32
    python benchmarks/bench_rbm.py --n-samples 10000 --repeats 1

Prints seconds per epoch and the ratios; the targets are dbn <= 1.15 x the GEMM floor and >= 2x
faster than sklearn's BernoulliRBM. Each contender is timed in its own process (see ``run``). Also
measures the cold (compiling) and warm (cached) start of the Numba kernels in fresh subprocesses.
The element-wise part at 1 and 2 threads is ``bench_scaling.py``'s (``bench_speed.py`` runs both).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import blas_info, limit_threads

N_HIDDEN = 500
BATCH = 100


def load_data(n_samples, data_home=None):
    """MNIST training images as float32 in [0, 1]; synthetic digits-like data if MNIST is absent."""
    try:
        from dbn.datasets import load_mnist

        X, _ = load_mnist("train", data_home=data_home, as_float=True, download=False)
        return np.ascontiguousarray(X[:n_samples]), "MNIST"
    except (FileNotFoundError, OSError):
        rng = np.random.default_rng(0)
        return (rng.random((n_samples, 784)) < 0.13).astype(np.float32), "synthetic"


def seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def dbn_epoch(X):
    from dbn import BernoulliRBM

    def run():
        BernoulliRBM(
            N_HIDDEN, batch_size=BATCH, n_iter=1, learning_rate=0.1, monitor_size=0, random_state=0
        ).fit(X)

    _compile_the_epoch(X)
    return run


def dbn_whole_fit(X):
    """A whole ``fit(n_iter=1)`` at the estimator's defaults (validation, range checks, copies,
    initialisation and monitoring included), batch 100 like the floor."""
    from dbn import BernoulliRBM

    def run():
        BernoulliRBM(N_HIDDEN, batch_size=BATCH, n_iter=1, random_state=0).fit(X)

    _compile_the_epoch(X)
    return run


def _compile_the_epoch(X):
    """Compile (or load from Numba's cache) the whole-epoch kernel on a slice, untimed. By default
    dbn compiles it only once a process has run enough minibatches to pay for the compile
    (``dbn._cd.parallel``); once compiled here, the timed fit takes it at its defaults."""
    from dbn import BernoulliRBM
    from dbn._cd import ContrastiveDivergence

    ContrastiveDivergence.compiled_epoch = True
    try:
        BernoulliRBM(N_HIDDEN, batch_size=BATCH, n_iter=1, monitor_size=0).fit(X[:1000])
    finally:
        ContrastiveDivergence.compiled_epoch = "auto"


def gemm_floor_epoch(X):
    """The four GEMMs of dbn's CD-1 step, same shapes and memory layouts, outputs preallocated."""
    rng = np.random.default_rng(0)
    V = X.shape[1]
    # dbn keeps components_ column-major, so its transpose W_t (V x H) is C-contiguous.
    W_t = (0.01 * rng.standard_normal((V, N_HIDDEN))).astype(np.float32)
    h = np.empty((BATCH, N_HIDDEN), np.float32)
    v = np.empty((BATCH, V), np.float32)
    stacked_h = rng.random((2 * BATCH, N_HIDDEN), dtype=np.float32)
    stacked_v = rng.random((2 * BATCH, V), dtype=np.float32)
    grad_t = np.empty((V, N_HIDDEN), np.float32)

    def run():
        for start in range(0, X.shape[0], BATCH):
            v0 = X[start : start + BATCH]
            if v0.shape[0] != BATCH:
                continue
            np.matmul(v0, W_t, out=h)  # positive hidden
            np.matmul(h, W_t.T, out=v)  # reconstruction
            np.matmul(v, W_t, out=h)  # negative hidden
            np.matmul(stacked_v.T, stacked_h, out=grad_t)  # weight gradient, data and model

    return run


def sklearn_epoch(X):
    try:
        from sklearn.neural_network import BernoulliRBM
    except ImportError:
        return None

    def run():
        BernoulliRBM(
            n_components=N_HIDDEN, batch_size=BATCH, n_iter=1, learning_rate=0.1, random_state=0
        ).fit(X)

    return run


def torch_epoch(X):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    data = torch.from_numpy(X)
    W = 0.01 * torch.randn(N_HIDDEN, X.shape[1])
    b = torch.zeros(X.shape[1])
    c = torch.zeros(N_HIDDEN)
    vel_W, vel_b, vel_c = torch.zeros_like(W), torch.zeros_like(b), torch.zeros_like(c)
    lr, momentum = 0.1, 0.5

    @torch.no_grad()
    def run():
        perm = torch.randperm(data.shape[0])
        for start in range(0, data.shape[0], BATCH):
            v0 = data[perm[start : start + BATCH]]
            h0 = torch.sigmoid(v0 @ W.T + c)
            h_state = torch.bernoulli(h0)
            v1 = torch.sigmoid(h_state @ W + b)
            h1 = torch.sigmoid(v1 @ W.T + c)
            n = v0.shape[0]
            grad_W = (h0.T @ v0 - h1.T @ v1) / n
            vel_W.mul_(momentum).add_(lr * (grad_W - 2e-4 * W))
            vel_b.mul_(momentum).add_(lr * (v0 - v1).mean(0))
            vel_c.mul_(momentum).add_(lr * (h0 - h1).mean(0))
            W.add_(vel_W)
            b.add_(vel_b)
            c.add_(vel_c)

    return run


# The start-up command of the README and of issue 24, timed from outside (what a user waits for)
# and from inside (the part before the interpreter's exit).
START_COMMAND = (
    "import dbn, numpy as np; dbn.BernoulliRBM(16, n_iter=1).fit(np.random.rand(200, 20))"
)
_START_SCRIPT = f"""
import time, warnings
start = time.perf_counter()
warnings.simplefilter("ignore")  # uniform noise: the collapse warning is expected
{START_COMMAND.replace("; ", chr(10))}
print(time.perf_counter() - start)
"""
# The imports alone: the floor that dbn's dependencies set.
_IMPORTS_SCRIPT = """
import time
start = time.perf_counter()
import numpy, numba, sklearn.base
print(time.perf_counter() - start)
"""


CONTENDERS = {
    "dbn": "dbn_epoch",
    "dbn_fit": "dbn_whole_fit",
    "gemm_floor": "gemm_floor_epoch",
    "sklearn": "sklearn_epoch",
    "torch": "torch_epoch",
}


def _time_in_subprocess(name, n_samples, data_home, threads=None):
    """Seconds of one epoch of ``name`` in a fresh process (None if its library is missing)."""
    command = [sys.executable, __file__, "--contender", name, "--n-samples", str(n_samples)]
    if data_home:
        command += ["--data-home", data_home]
    if threads:
        command += ["--threads", str(threads)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    return None if out[-1] == "none" else float(out[-1])


def _time_one(name, n_samples, data_home, threads=None):
    X, _ = load_data(n_samples, data_home)
    epoch = globals()[CONTENDERS[name]](X)
    if epoch is None:
        return None
    # Capped after the contender's imports, so the pools its libraries load are capped too.
    limits = limit_threads(threads) if threads else None  # noqa: F841 (kept alive while timing)
    if name != "dbn":
        epoch()  # warm-up, as dbn_epoch compiles its kernels on a slice before timing
    return seconds(epoch)


def time_cold_warm_start():
    """The start-up command in fresh processes with an empty, then a full Numba cache: wall seconds
    and in-process seconds (the rest is the interpreter's start and exit), beside the imports of
    numpy, numba and sklearn.base alone."""

    def timed(script, env):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout
        return time.perf_counter() - start, float(out.split()[-1])

    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        cold, cold_inside = timed(_START_SCRIPT, env)
        warm, warm_inside = timed(_START_SCRIPT, env)
        imports, imports_inside = timed(_IMPORTS_SCRIPT, env)
    return {
        "command": START_COMMAND,
        "cold_start": cold,
        "cold_start_in_process": cold_inside,
        "warm_start": warm,
        "warm_start_in_process": warm_inside,
        "imports_only": imports,
        "imports_only_in_process": imports_inside,
    }


def time_whole_fit(n_samples=60000, repeats=2, data_home=None, thread_counts=(1, 2)):
    """A whole ``fit(n_iter=1)`` at the defaults against the GEMM floor, per BLAS thread count:
    seconds (fastest of ``repeats``, interleaved) and the ratio (target <= 1.10)."""
    rows = {}
    for threads in thread_counts:
        times = {"dbn_fit": [], "gemm_floor": []}
        for _ in range(repeats):
            for name in times:
                times[name].append(_time_in_subprocess(name, n_samples, data_home, threads))
        fit, floor = min(times["dbn_fit"]), min(times["gemm_floor"])
        rows[threads] = {"whole_fit": fit, "gemm_floor": floor, "ratio": fit / floor}
    return rows


def format_whole_fit(rows):
    lines = [
        "Whole BernoulliRBM(500, batch_size=100).fit(X, n_iter=1) at its defaults (monitoring on) "
        "against the GEMM floor",
        "",
        "| BLAS threads | whole fit | GEMM floor | fit / floor (target <= 1.10) |",
        "|---:|---:|---:|---:|",
    ]
    for threads, row in rows.items():
        lines.append(
            f"| {threads} | {row['whole_fit']:.3f} s | {row['gemm_floor']:.3f} s | "
            f"{row['ratio']:.3f} ({'met' if row['ratio'] <= 1.10 else 'missed'}) |"
        )
    return "\n".join(lines)


def run(n_samples=60000, repeats=2, data_home=None, include_start=True, threads=None):
    """Time every contender; returns a dict of seconds per epoch and ratios.

    ``threads`` caps the BLAS (and torch) threads of every contender; None keeps the defaults.
    """
    X, source = load_data(n_samples, data_home)
    results = {
        "data": source,
        "n_samples": int(X.shape[0]),
        "n_hidden": N_HIDDEN,
        "batch": BATCH,
        "threads": threads or "default",
    }
    del X
    # Each contender runs in its own process: once sklearn has run, the thread pools it leaves behind
    # (scipy's second OpenBLAS, OpenMP) were measured to slow every later contender by 30-60 %.
    # Rounds are interleaved, fastest of each kept, so every contender sees the same machine load.
    names = ["dbn", "gemm_floor", "sklearn", "torch"]
    times = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            seconds_taken = _time_in_subprocess(name, n_samples, data_home, threads)
            if seconds_taken is not None:
                times[name].append(seconds_taken)
    for name in names:
        results[name] = min(times[name]) if times[name] else None
    results["all_times"] = {name: t for name, t in times.items() if t}
    results["dbn_over_floor"] = results["dbn"] / results["gemm_floor"]
    if results["sklearn"]:
        results["sklearn_over_dbn"] = results["sklearn"] / results["dbn"]
    if results["torch"]:
        results["torch_over_dbn"] = results["torch"] / results["dbn"]
    if include_start:
        results.update(time_cold_warm_start())
    results["blas"] = blas_info()
    return results


def format_table(results):
    rows = [
        ("dbn BernoulliRBM (CD-1)", results["dbn"]),
        ("bare GEMMs (floor)", results["gemm_floor"]),
        ("sklearn BernoulliRBM", results["sklearn"]),
        ("PyTorch CPU CD-1 loop", results["torch"]),
    ]
    lines = [
        f"CD-1 epoch, {results['data']} {results['n_samples']}x784 -> {N_HIDDEN}, batch {BATCH}, "
        "float32",
        "",
        "| contender | s / epoch | x dbn |",
        "|---|---:|---:|",
    ]
    for name, seconds in rows:
        if seconds is None:
            lines.append(f"| {name} | n/a | n/a |")
        else:
            lines.append(f"| {name} | {seconds:.3f} | {seconds / results['dbn']:.2f} |")
    lines.append("")
    lines.append(f"dbn / floor = {results['dbn_over_floor']:.3f} (target <= 1.15)")
    if "sklearn_over_dbn" in results:
        lines.append(f"sklearn / dbn = {results['sklearn_over_dbn']:.2f} (target >= 2)")
    if "torch_over_dbn" in results:
        lines.append(f"torch / dbn = {results['torch_over_dbn']:.2f}")
    if "cold_start" in results:
        r = results
        lines += [
            "",
            f'start-up, `python -c "{r.get("command", "import + tiny fit")}"` in a fresh process:',
            f"- cold (empty Numba cache): {r['cold_start']:.2f} s "
            f"({'met' if r['cold_start'] <= 2 else 'missed'}, target <= 2 s)",
            f"- warm (cached): {r['warm_start']:.2f} s "
            f"({'met' if r['warm_start'] <= 1 else 'missed'}, target <= 1 s)",
        ]
        if "imports_only" in r:
            lines += [
                f"- in the process: cold {r['cold_start_in_process']:.2f} s, warm "
                f"{r['warm_start_in_process']:.2f} s; the rest is the interpreter's start and exit",
                f"- importing numpy, numba and sklearn.base alone: {r['imports_only']:.2f} s "
                f"({r['imports_only_in_process']:.2f} s in the process)",
            ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads")
    parser.add_argument("--no-start", action="store_true", help="skip the cold/warm start timing")
    parser.add_argument(
        "--start-only", action="store_true", help="only the cold/warm start, in this interpreter"
    )
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    parser.add_argument("--contender", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.contender:  # child process of run(): time one epoch and print the seconds
        seconds_taken = _time_one(args.contender, args.n_samples, args.data_home, args.threads)
        print("none" if seconds_taken is None else f"{seconds_taken:.6f}")
        return
    if args.start_only:  # e.g. from a venv with dbn's core dependencies alone
        import datetime
        import platform

        from _report import machine_info

        results = {
            "python": sys.executable,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu": machine_info().get("cpu", platform.processor()),
            "load_average": os.getloadavg(),
            **time_cold_warm_start(),
        }
        print(json.dumps(results, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        return
    results = run(args.n_samples, args.repeats, args.data_home, not args.no_start, args.threads)
    print(format_table(results))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
