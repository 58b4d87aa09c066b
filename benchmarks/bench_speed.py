"""All speed goals in one run: the CD-1 epoch and the MLP fine-tuning epoch, with their ratios.

    python benchmarks/bench_speed.py                    # full MNIST, numpy's default BLAS threads
    python benchmarks/bench_speed.py --threads 1        # one BLAS thread for every contender
    python benchmarks/bench_speed.py --n-samples 10000  # quicker

- CD-1 epoch (60000 x 784 -> 500, batch 100, float32): dbn against the bare GEMMs (target <= 1.2x),
  sklearn's BernoulliRBM (target: dbn >= 2x faster) and a PyTorch CPU loop.
- Fine-tuning epoch of 784-500-500-2000-10 (batch 100, SGD with momentum): dbn against PyTorch
  (target: dbn <= PyTorch).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_mlp  # noqa: E402
import bench_rbm  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=60000)
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--json", default=None, help="write the measurements to this file")
    args = parser.parse_args(argv)
    # Every contender runs in its own process (bench_rbm.run, bench_mlp.run); the cap is passed on.
    rbm = bench_rbm.run(
        args.n_samples, args.repeats, args.data_home, include_start=True, threads=args.threads
    )
    print(bench_rbm.format_table(rbm))
    print()
    try:
        mlp = bench_mlp.run(args.n_samples, n_threads=args.threads, repeat=args.repeats)
    except ImportError:
        mlp = None
        print("PyTorch is not installed: MLP comparison skipped (pip install torch).")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"rbm": rbm, "mlp": mlp}, handle, indent=2)


if __name__ == "__main__":
    main()
