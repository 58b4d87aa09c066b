"""Data-parallel CD on dask.distributed against in-process training, and out-of-core memory.

    python benchmarks/bench_dask.py [--quick] [--output benchmarks/results/dask]

Measured in one run, on this machine:

1. **Epoch time.** A CD-1 epoch of a 784 -> 500 RBM (minibatch 100, float32) on MNIST (60000 rows)
   and on a synthetic set ``--factor`` times larger (MNIST rows repeated with 5 % of the pixels
   flipped), for: in-process with 1 and 2 BLAS threads; a LocalCluster of 1 worker x 1 thread; a
   LocalCluster of 2 workers x 1 thread. The second epoch is timed (``history_["time"]``): the
   first pays for the JIT load and the placement of the shards.
2. **Per-round overhead.** 2 x 1 epochs on MNIST for several ``sync_every``; a least-squares line
   of epoch time against the number of rounds gives the seconds per round (scheduling plus
   parameter traffic), the rest is compute.
3. **Quality.** After the same number of epochs: reconstruction error and AIS test
   log-likelihood (``dbn.evaluation``) of the in-process model and of 2 x 1 models at each
   ``sync_every``.
4. **Out-of-core.** ``dbn.dask.pretrain_out_of_core`` of a 784-500-500 DBN from a ``.npy`` file of
   the synthetic set, in a child process whose address space is capped below the file's size, for
   two chunk sizes: its peak resident memory (VmHWM) against the chunk size and the data size.
5. **Scaling model.** Epoch time ``T(N) = C / N + R (a + b N')`` fitted on the 1- and 2-worker
   runs and projected to 8, 32 and 128 workers (written into results.md with its assumptions).

Other jobs on the machine slow everything down and make the cluster's scheduler share the CPU;
the load average before and after the run is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _report  # noqa: E402

import dbn  # noqa: E402
import dbn.dask  # noqa: E402
from dbn.datasets import load_mnist  # noqa: E402
from dbn.evaluation import ais_log_partition, log_likelihood  # noqa: E402

HIDDEN, BATCH = 500, 100
RBM = dict(n_components=HIDDEN, batch_size=BATCH, learning_rate=0.1, momentum=0.5,
           final_momentum=0.9, momentum_switch_epoch=5, weight_decay=2e-4, monitor_size=1000,
           random_state=0)  # fmt: skip


CHUNK = 10_000


def _flip(block, copy, block_id=None):
    """Flip 5 % of a block's pixels, from a stream of its own (same data in-process and on dask)."""
    index = 0 if block_id is None else block_id[0]
    rng = np.random.default_rng([copy, index])
    flips = rng.random(block.shape, dtype=np.float32) < 0.05
    return np.where(flips, 1.0 - block, block).astype(np.float32)


def synthetic(X, factor):
    """``factor`` copies of ``X`` with 5 % of the pixels of each copy flipped (float32)."""
    return np.concatenate([
        _flip(X[start : start + CHUNK], copy, (start // CHUNK, 0))
        for copy in range(factor) for start in range(0, len(X), CHUNK)
    ])  # fmt: skip


def _mnist_block(start, stop):
    # Runs on a worker, which reads the file itself (about 0.2 s per block).
    from dbn.datasets import load_mnist

    return load_mnist("train", as_float=True)[0][start:stop]


def mnist_dask():
    """MNIST as a dask array whose blocks each worker reads from disk itself (nothing is sent)."""
    import dask
    import dask.array as da

    blocks = [
        da.from_delayed(dask.delayed(_mnist_block)(start, start + CHUNK), (CHUNK, 784), np.float32)
        for start in range(0, 60000, CHUNK)
    ]
    return da.concatenate(blocks)


def synthetic_dask(factor):
    """The same set as :func:`synthetic`, generated blockwise on the workers."""
    import dask.array as da

    Xd = mnist_dask()
    return da.concatenate([Xd.map_blocks(_flip, copy, dtype=np.float32) for copy in range(factor)])


def cluster(n_workers):
    from distributed import Client, LocalCluster

    c = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                     host="127.0.0.1", dashboard_address=None, silence_logs=40)  # fmt: skip
    return c, Client(c)


def in_process_epoch(X, threads, n_iter=2):
    limiter = _report.limit_threads(threads)
    rbm = dbn.BernoulliRBM(n_iter=n_iter, **RBM).fit(X)
    del limiter
    return rbm.history_["time"][-1], rbm


def dask_epoch(client, X, sync_every, n_iter=2):
    rbm = dbn.BernoulliRBM(n_iter=n_iter, **RBM)
    dbn.dask.fit_rbm(client, rbm, X, sync_every=sync_every)
    return rbm.history_["time"][-1], rbm


def quality(rbm, X_train, X_test, n_betas, n_runs):
    ais = ais_log_partition(rbm, n_betas=n_betas, n_runs=n_runs, data=X_train, random_state=0)
    hidden = rbm.transform(X_test)
    recon = 1 / (1 + np.exp(-(hidden @ rbm.components_ + rbm.intercept_visible_)))
    return {
        "reconstruction_error": float(np.sum((X_test - recon) ** 2) / len(X_test)),
        "test_log_likelihood": float(log_likelihood(rbm, X_test, ais)),
    }


_CAPPED = """
import resource, sys, time
cap = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
import dbn, dbn.dask
start = time.perf_counter()
stack = dbn.DBN([500, 500], n_iter=1, batch_size=100, random_state=0)
dbn.dask.pretrain_out_of_core(stack, sys.argv[1], chunk_size=int(sys.argv[3]))
peak = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(int(peak) * 1024, time.perf_counter() - start)
"""


def out_of_core(path, cap, chunk_rows):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(_CAPPED), str(path), str(cap),
                             str(chunk_rows)], capture_output=True, text=True, env=env)  # fmt: skip
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    peak, seconds = result.stdout.split()
    return int(peak), float(seconds)


def load():
    return os.getloadavg()[0]


def checkpoint(output, results):
    """Results so far, so that a long run stopped part-way leaves its measurements behind."""
    with open(output / "partial.json", "w") as handle:
        json.dump(results, handle, indent=1, default=str)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller synthetic set and AIS")
    parser.add_argument("--factor", type=int, default=None, help="synthetic set = factor x MNIST")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/dask"))
    args = parser.parse_args()
    factor = args.factor or (3 if args.quick else 10)
    n_betas, n_runs = (1000, 32) if args.quick else (3000, 100)
    quality_epochs = 2 if args.quick else 5
    sweep = (10, 50, 200) if args.quick else (1, 10, 50, 200)
    args.output.mkdir(parents=True, exist_ok=True)
    results = {"machine": _report.machine_info(), "load_before": load(), "factor": factor}
    results["timing"] = timing = {}
    X, _ = load_mnist("train", as_float=True)
    X_test, _ = load_mnist("test", as_float=True)
    # Binarised, as p(v) of binary units is defined for binary vectors (Salakhutdinov & Murray 2008).
    X_test = (X_test[:2000] > 0.5).astype(np.float32)
    big = synthetic(X, factor)
    sets = {"mnist": X, f"synthetic_{factor}x": big}

    for name, data in sets.items():
        timing[name] = {
            "in-process 1 thread": in_process_epoch(data, 1)[0],
            "in-process 2 threads": in_process_epoch(data, 2)[0],
        }

    dask_sets = {"mnist": mnist_dask(), f"synthetic_{factor}x": synthetic_dask(factor)}
    for n_workers in (1, 2):
        local_cluster, client = cluster(n_workers)
        try:
            for name, data in dask_sets.items():
                timing[name][f"LocalCluster {n_workers} x 1"] = dask_epoch(client, data, 50)[0]
            checkpoint(args.output, results)
            if n_workers == 2:
                rounds, seconds = [], []
                for s in sweep:
                    t, rbm = dask_epoch(client, dask_sets["mnist"], s)
                    rounds.append(rbm.dask_rounds_ / 2)
                    seconds.append(t)
                slope, intercept = np.polyfit(rounds, seconds, 1)
                results["round_overhead"] = {
                    "sync_every": list(sweep), "rounds_per_epoch": rounds, "epoch_seconds": seconds,
                    "seconds_per_round": float(slope), "compute_seconds": float(intercept),
                }  # fmt: skip
                models = {}
                for s in sweep:
                    _, models[f"2 x 1, sync_every={s}"] = dask_epoch(
                        client, dask_sets["mnist"], s, quality_epochs
                    )
        finally:
            client.close()
            local_cluster.close()
    limiter = _report.limit_threads(2)
    models["in-process"] = dbn.BernoulliRBM(n_iter=quality_epochs, **RBM).fit(X)
    results["quality"] = {
        k: quality(m, X[:5000], X_test, n_betas, n_runs) for k, m in models.items()
    }
    checkpoint(args.output, results)
    del limiter

    with tempfile.TemporaryDirectory(prefix="bench-dask-", dir=args.output) as folder:
        path = Path(folder) / "big.npy"
        np.save(path, big)
        data_bytes = path.stat().st_size
        cap = int(min(data_bytes * 0.6, 1536 * 2**20))
        del big
        results["out_of_core"] = {"data_bytes": data_bytes, "address_space_cap": cap, "runs": []}
        for chunk_rows in (5_000, 20_000):
            peak, seconds = out_of_core(path, cap, chunk_rows)
            results["out_of_core"]["runs"].append({
                "chunk_rows": chunk_rows, "chunk_bytes": chunk_rows * 784 * 4,
                "peak_rss": peak, "seconds": seconds,
            })  # fmt: skip
            checkpoint(args.output, results)
    results["load_after"] = load()
    _report.write_report(args.output, results, table(results))
    (args.output / "partial.json").unlink(missing_ok=True)


def scaling(results):
    """Fit ``T(N) = C / N + R s_round(N)`` and project it (see the notes in results.md)."""
    over = results["round_overhead"]
    per_round = over["seconds_per_round"]
    rows = {}
    for name, t in results["timing"].items():
        C = t["LocalCluster 1 x 1"] - 0  # compute of one worker (rounds at sync_every=50 included)
        n = 60000 * (1 if name == "mnist" else results["factor"])
        rounds = n / (BATCH * 50)
        compute = max(C - rounds * per_round, 1e-9)
        projection = {}
        for N in (1, 2, 8, 32, 128):
            # Per-shard minibatch 100 // N until it reaches 1 row; beyond 100 workers the combined
            # minibatch must grow (lr scaled), so the rounds per epoch shrink by N / 100.
            r = rounds if N <= BATCH else rounds * BATCH / N
            levels = 1 if N <= 8 else int(np.ceil(np.log(N) / np.log(8)))
            projection[N] = compute / N + r * per_round * levels
        rows[name] = projection
    return rows


def table(results):
    lines = ["# dbn.dask: data-parallel CD-1 on dask.distributed", ""]
    m = results["machine"]
    lines.append(
        f"{m.get('cpu', '?')}, {m['cpu_count']} cores; load average {results['load_before']:.1f} "
        f"before, {results['load_after']:.1f} after"
        + (
            " (other jobs were sharing the machine)."
            if results["load_before"] > 0.75 * m["cpu_count"]
            else " (the benchmark's own processes count in the load after)."
        )
    )
    lines += ["", "## CD-1 epoch, 784 -> 500, minibatch 100 (seconds, second epoch)", ""]
    names = list(results["timing"])
    setups = list(results["timing"][names[0]])
    lines.append("| setup | " + " | ".join(names) + " | ratio to in-process 2 threads |")
    lines.append("|---|" + "---:|" * (len(names) + 1))
    for setup in setups:
        values = [results["timing"][n][setup] for n in names]
        ratios = [results["timing"][n][setup] / results["timing"][n]["in-process 2 threads"]
                  for n in names]  # fmt: skip
        lines.append(
            f"| {setup} | " + " | ".join(f"{v:.2f}" for v in values) + " | "
            + ", ".join(f"{r:.2f}x" for r in ratios) + " |"
        )  # fmt: skip
    over = results["round_overhead"]
    lines += ["", "## Rounds on MNIST, 2 workers x 1 thread", "",
              "| sync_every | rounds per epoch | epoch seconds |", "|---:|---:|---:|"]  # fmt: skip
    for s, r, t in zip(over["sync_every"], over["rounds_per_epoch"], over["epoch_seconds"],
                       strict=True):  # fmt: skip
        lines.append(f"| {s} | {r:.0f} | {t:.2f} |")
    lines += ["", f"Least-squares fit: {over['seconds_per_round'] * 1000:.1f} ms per round "
              f"(scheduling + parameter traffic), {over['compute_seconds']:.2f} s of compute.", ""]  # fmt: skip
    lines += ["## Quality at equal epochs (MNIST test, 2000 images)", "",
              "| model | reconstruction error | AIS test log-likelihood (nats) |",
              "|---|---:|---:|"]  # fmt: skip
    for name, q in results["quality"].items():
        lines.append(
            f"| {name} | {q['reconstruction_error']:.2f} | {q['test_log_likelihood']:.2f} |"
        )
    ooc = results["out_of_core"]
    lines += ["", "## Out-of-core 784-500-500 pretraining (1 epoch per layer)", "",
              f"Data {ooc['data_bytes'] / 2**30:.2f} GiB on disk; address space capped at "
              f"{ooc['address_space_cap'] / 2**30:.2f} GiB.", "",
              "| chunk rows | chunk MiB | peak RSS MiB | seconds |", "|---:|---:|---:|---:|"]  # fmt: skip
    for run in ooc["runs"]:
        lines.append(
            f"| {run['chunk_rows']} | {run['chunk_bytes'] / 2**20:.1f} | "
            f"{run['peak_rss'] / 2**20:.0f} | {run['seconds']:.1f} |"
        )
    lines += ["", "## Scaling model", "", SCALING_NOTE, "",
              "| data | 1 | 2 | 8 | 32 | 128 workers |", "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, p in scaling(results).items():
        lines.append(f"| {name} | " + " | ".join(f"{p[N]:.2f}" for N in (1, 2, 8, 32, 128)) + " |")
    return "\n".join(lines)


SCALING_NOTE = textwrap.dedent("""\
    Epoch time with N workers, sync_every = s, n rows, per-shard minibatch b = 100 / N:
    `T(N) = C / N + R(N) * t_round * L(N)`, where C is the compute of one worker on all the data
    (measured: the 1 x 1 epoch minus its rounds), R = n / (100 s) rounds per epoch (independent of
    N while b >= 1; beyond 100 workers b stays 1, the combined minibatch grows and R shrinks as
    100 / N), t_round the measured per-round cost on 2 workers (scheduler latency of the two
    dependent task hops plus sending the 784 x 500 float32 parameters, 1.6 MB, between workers),
    and L(N) = ceil(log_8 N) levels of the averaging tree (1 up to 8 workers, where each shard
    averages the others' parameters itself). Assumptions: the parameter traffic of a level
    overlaps across workers (switched network at least as fast as loopback), the central
    scheduler's per-task cost stays small next to t_round (about 3N tasks per round), and the
    shards' compute is perfectly balanced. Projections at s = 50.""")


if __name__ == "__main__":
    main()
