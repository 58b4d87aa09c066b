"""A scaling model of the CD-1 epoch: GEMM and element-wise time, 1 and 2 threads, projected.

    python benchmarks/bench_scaling.py --repeats 3        # MNIST 60000 x 784 -> 500, batch 100
    python benchmarks/bench_scaling.py --n-samples 10000

For each thread count (1 and 2 by default) it times, each in its own process and in interleaved
rounds (fastest kept):

- the GEMM floor: the four GEMMs of dbn's CD-1 step with the same shapes and layouts, on numpy's
  BLAS with that many threads (``bench_rbm.gemm_floor_epoch``);
- dbn's epoch: ``ContrastiveDivergence.run_epoch`` (no estimator around it), whose team of threads
  follows the BLAS thread count.

The element-wise time is dbn minus the floor. Each part's parallel efficiency at ``T`` threads is
``t_1 / (T t_T)``; the epoch time at ``P`` cores is projected two ways:

- *constant efficiency* (the issue's model): each part runs at ``t_1 / (P e)``, ``e`` its measured
  efficiency at the largest thread count;
- *Amdahl fit*: each part is ``s + p / P`` with ``s`` and ``p`` fitted to the 1- and 2-thread
  times (more pessimistic: whatever did not halve is taken as serial).

dbn's team splits a minibatch of 100 rows into blocks of at least 8 rows, so it uses at most 12
threads; the projection caps the element-wise part there (the GEMM floor is not capped). Memory
bandwidth, NUMA and the BLAS's own efficiency on thin blocks are not modelled: the projection is
what the 2-core measurements imply, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_rbm  # noqa: E402
from _report import limit_threads, machine_info  # noqa: E402

PROJECT_TO = (8, 16, 64)


def dbn_cd_epoch(X):
    """One CD-1 epoch of the bare CD step (what ``fit`` runs, without its checks and init)."""
    from dbn._cd import ContrastiveDivergence

    rng = np.random.default_rng(0)
    H, V = bench_rbm.N_HIDDEN, X.shape[1]
    params = {
        "components_": np.asfortranarray(0.01 * rng.standard_normal((H, V)), np.float32),
        "intercept_hidden_": np.zeros(H, np.float32),
        "intercept_visible_": np.zeros(V, np.float32),
    }
    cd = ContrastiveDivergence(params, batch_size=bench_rbm.BATCH, weight_decay=2e-4)

    def run():
        cd.run_epoch(X, rng.permutation(X.shape[0]), 0.1, 0.5, rng)

    return run


CONTENDERS = {"dbn": dbn_cd_epoch, "floor": bench_rbm.gemm_floor_epoch}


def _child(name, n_samples, data_home, threads):
    X, _ = bench_rbm.load_data(n_samples, data_home)
    epoch = CONTENDERS[name](X)
    limits = limit_threads(threads)  # noqa: F841 (kept alive while timing)
    epoch()  # warm-up: compiles, faults the buffers in
    start = time.perf_counter()
    epoch()
    return time.perf_counter() - start


def _time(name, n_samples, data_home, threads):
    command = [sys.executable, __file__, "--child", name, "--n-samples", str(n_samples)]
    command += ["--threads", str(threads)] + (["--data-home", data_home] if data_home else [])
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def amdahl(t1, tn, n):
    """``(serial, parallel)`` seconds of ``t(P) = serial + parallel / P`` through both points."""
    parallel = max(0.0, (t1 - tn) / (1 - 1 / n))
    return max(0.0, t1 - parallel), parallel


def run(n_samples=60000, repeats=3, data_home=None, thread_counts=(1, 2), project_to=PROJECT_TO):
    times = {(name, t): [] for name in CONTENDERS for t in thread_counts}
    for _ in range(repeats):
        for t in thread_counts:
            for name in CONTENDERS:
                times[name, t].append(_time(name, n_samples, data_home, t))
    best = {key: min(value) for key, value in times.items()}
    n = thread_counts[-1]
    parts = {}
    for part in ("gemm", "elementwise"):
        t = {
            c: best["floor", c] if part == "gemm" else best["dbn", c] - best["floor", c]
            for c in thread_counts
        }
        efficiency = t[1] / (n * t[n]) if t[n] > 0 else float("nan")
        parts[part] = {"seconds": t, "efficiency": efficiency, "amdahl": amdahl(t[1], t[n], n)}
    team_cap = bench_rbm.BATCH // 8
    projection = []
    for cores in (*thread_counts, *project_to):
        row = {"cores": cores}
        for model in ("constant_efficiency", "amdahl"):
            total = 0.0
            for part, info in parts.items():
                p = min(cores, team_cap) if part == "elementwise" else cores
                if model == "constant_efficiency":
                    e = 1.0 if p == 1 else info["efficiency"]
                    total += info["seconds"][1] / (p * e)
                else:
                    serial, parallel = info["amdahl"]
                    total += serial + parallel / p
            row[model] = total
        row["gemm_constant_efficiency"] = parts["gemm"]["seconds"][1] / (
            cores * (1.0 if cores == 1 else parts["gemm"]["efficiency"])
        )
        projection.append(row)
    return {
        "n_samples": n_samples,
        "thread_counts": list(thread_counts),
        "all_times": {f"{name}_{t}": v for (name, t), v in times.items()},
        "best": {f"{name}_{t}": v for (name, t), v in best.items()},
        "parts": parts,
        "projection": projection,
        "team_cap": team_cap,
        "machine": machine_info(),
    }


def format_table(result):
    counts = result["thread_counts"]
    parts = result["parts"]
    lines = [
        f"CD-1 epoch, {result['n_samples']}x784 -> 500, batch 100, float32 "
        f"({result['machine'].get('cpu')}, {result['machine']['cpu_count']} cores)",
        "",
        "| part | " + " | ".join(f"{c} thread{'s' * (c > 1)}" for c in counts) + " | efficiency |",
        "|---|" + "---:|" * (len(counts) + 1),
    ]
    for part, label in (("gemm", "GEMMs (floor)"), ("elementwise", "element-wise (dbn - floor)")):
        seconds = parts[part]["seconds"]
        lines.append(
            f"| {label} | "
            + " | ".join(f"{seconds[c]:.3f} s" for c in counts)
            + f" | {parts[part]['efficiency']:.2f} |"
        )
    lines += [
        "",
        "| cores | epoch, constant efficiency | epoch, Amdahl fit | GEMMs alone | epoch / GEMMs |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in result["projection"]:
        measured = "" if row["cores"] > counts[-1] else " (measured)"
        gemm = row["gemm_constant_efficiency"]
        lines.append(
            f"| {row['cores']}{measured} | {row['constant_efficiency']:.3f} s | "
            f"{row['amdahl']:.3f} s | {gemm:.3f} s | {row['constant_efficiency'] / gemm:.2f} |"
        )
    lines.append("")
    lines.append(
        f"(the element-wise part is capped at dbn's team of {result['team_cap']} threads for "
        "batch 100)"
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=sorted(CONTENDERS), help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.child:
        print(f"{_child(args.child, args.n_samples, args.data_home, args.threads):.6f}")
        return
    result = run(args.n_samples, args.repeats, args.data_home)
    print(format_table(result))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1, default=str)


if __name__ == "__main__":
    main()
