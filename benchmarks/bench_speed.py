"""All speed goals in one run: the CD-1 epoch and the MLP fine-tuning epoch, with their ratios.

    python benchmarks/bench_speed.py --repeats 3        # full MNIST, numpy's default BLAS threads
    python benchmarks/bench_speed.py --threads 1        # one BLAS thread for every contender
    python benchmarks/bench_speed.py --n-samples 10000  # quicker

- CD-1 epoch (60000 x 784 -> 500, batch 100, float32): dbn against the bare GEMMs (target <= 1.15x),
  sklearn's BernoulliRBM (target: dbn >= 2x faster) and a PyTorch CPU loop.
- Start-up: the README's one-line tiny fit in a fresh process, with an empty Numba cache (target
  <= 2 s) and a full one (target <= 1 s), beside the imports of numpy, numba and sklearn alone.
- A whole ``fit(n_iter=1)`` at the defaults (monitoring included) against the GEMM floor, at 1 and
  2 BLAS threads (target <= 1.10x).
- The element-wise part with 1 and 2 threads (target: 2 threads <= 0.6x of 1), measured inside
  dbn's compiled epoch and as dbn - floor, with the scaling projection (``bench_scaling``).
- DBM joint epoch (``benchmarks/dbm.py``'s 784-500-1000 model) against its GEMMs alone (target
  <= 1.5x).
- Fine-tuning epoch of 784-500-500-2000-10 (batch 100, SGD with Nesterov momentum): dbn against
  PyTorch (target: dbn <= 0.9x PyTorch's time).

The report starts with the machine (CPU model, cores, BLAS and its threading layer) and the date,
and the load average, since every ratio is only as good as the machine it was measured on.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_mlp  # noqa: E402
import bench_rbm  # noqa: E402
import bench_scaling  # noqa: E402
from _report import machine_info  # noqa: E402


def machine_header():
    """The machine, the BLAS, the date and the load, as lines of text and a dict."""
    info = machine_info()
    info["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    blas = "; ".join(
        f"{p.get('internal_api')} {p.get('version')} ({p.get('threading_layer')}, "
        f"{p.get('num_threads')} threads, {p.get('architecture')} kernels)"
        for p in info.get("blas", [])
    )
    lines = [
        f"machine: {info.get('cpu', info['processor'])}, {info['cpu_count']} cores",
        f"BLAS: {blas or 'unknown (threadpoolctl missing)'}",
        f"numpy {info['numpy']}, numba {info.get('numba')}, dbn {info['dbn']}, "
        f"Python {info['python']}",
        f"date: {info['date']}, load average {info.get('load_average')}",
    ]
    return "\n".join(lines), info


def dbm_speed(n_rows=2000, repeats=3):
    """One joint DBM epoch (mean-field positive phase, persistent chains) of ``benchmarks/dbm.py``'s
    784-500-1000 model against its GEMMs alone, on ``n_rows`` rows (target <= 1.5x)."""
    import importlib.util

    import numpy as np

    # Loaded by path: as a plain import, "dbm" would be the standard library's module.
    spec = importlib.util.spec_from_file_location(
        "dbm_benchmark", Path(__file__).resolve().parent / "dbm.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.make_model(module.parse_args([]))
    model.set_params(verbose=0)
    # The epoch's cost does not depend on the pixel values: random binary images of MNIST's size.
    X = (np.random.default_rng(0).random((n_rows, 784)) < 0.13).astype(np.float32)
    return module.epoch_and_gemm_seconds(model, X, n_rows=n_rows, repeats=repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=60000)
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--no-elementwise", action="store_true", help="skip the 1 vs 2 threads run")
    parser.add_argument("--json", default=None, help="write the measurements to this file")
    args = parser.parse_args(argv)
    header, info = machine_header()
    print(header)
    print()
    # Every contender runs in its own process (bench_rbm.run, bench_mlp.run); the cap is passed on.
    rbm = bench_rbm.run(
        args.n_samples, args.repeats, args.data_home, include_start=True, threads=args.threads
    )
    print(bench_rbm.format_table(rbm))
    print()
    # The whole fit at its defaults, not only the epoch, at 1 and 2 BLAS threads.
    whole_fit = bench_rbm.time_whole_fit(args.n_samples, args.repeats, args.data_home)
    print(bench_rbm.format_whole_fit(whole_fit))
    print()
    elementwise = None
    if not args.no_elementwise:
        # The bare CD epoch against the bare GEMMs at 1 and 2 threads, with the time dbn's own
        # loop measures in its GEMMs, barriers and element-wise work, and the projection.
        elementwise = bench_scaling.run(args.n_samples, args.repeats, args.data_home)
        elementwise["ratios"] = bench_scaling.elementwise_ratios(elementwise)
        print(bench_scaling.format_table(elementwise))
        print()
    dbm = dbm_speed(repeats=max(args.repeats, 2))
    print(
        f"DBM joint epoch, 784-500-1000, {dbm['rows']} rows, batch 100, 10 mean-field and 5 Gibbs "
        f"sweeps, 100 chains: {dbm['epoch_seconds']:.3f} s against its GEMMs alone "
        f"{dbm['gemm_seconds']:.3f} s = {dbm['ratio']:.2f} (target <= 1.5: "
        f"{'met' if dbm['ratio'] <= 1.5 else 'missed'})"
    )
    print()
    try:
        mlp = bench_mlp.run(args.n_samples, n_threads=args.threads, repeat=args.repeats)
    except ImportError:
        mlp = None
        print("PyTorch is not installed: MLP comparison skipped (pip install torch).")
    if mlp is not None:
        print(f"MLP epoch dbn / torch = {mlp['ratio']:.2f} (target <= 0.9)")
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"load average at the end: {info['load_average_end']}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "machine": info,
                    "rbm": rbm,
                    "whole_fit": whole_fit,
                    "dbm": dbm,
                    "elementwise": elementwise,
                    "mlp": mlp,
                },
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
