"""Peak memory of training: an RBM on 60000 x 784 float32 stays within ~2x the data plus the weights.

    python benchmarks/bench_memory.py [--n-samples 60000] [--hidden 500]

Each case runs in a fresh subprocess and reports its peak resident set size (``ru_maxrss``) above the
same process's baseline (Python, numpy, numba and dbn imported, kernels compiled):

- ``array``: the data as an in-memory float32 array, then one CD-1 epoch;
- ``memmap``: the same data as a read-only ``np.memmap`` file, then one CD-1 epoch (the data stays on
  disk; only the pages touched are resident);
- ``dbn``: a two-layer DBN (500-500) pretrained for one epoch per layer on the in-memory array.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys
import numpy as np
from dbn import BernoulliRBM, DBN

case, n, hidden, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
BernoulliRBM(8, n_iter=1, batch_size=10, random_state=0).fit(
    (np.random.default_rng(0).random((50, 784)) < 0.5).astype(np.float32))  # compile kernels
baseline = peak_mb()
if case == "memmap":
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, 784))
else:
    # Made in chunks in memory: reading the file would leave its pages resident beside the array
    # and count the data twice.
    X = np.empty((n, 784), dtype=np.float32)
    rng = np.random.default_rng(0)
    for s in range(0, n, 5000):
        X[s : s + 5000] = rng.random((min(5000, n - s), 784), dtype=np.float32) < 0.13
data_mb = n * 784 * 4 / 2**20
after_data = peak_mb()
if case == "dbn":
    DBN([hidden, hidden], n_iter=1, batch_size=100, random_state=0).pretrain(X)
    weights_mb = (784 * hidden + hidden * hidden) * 4 / 2**20
else:
    BernoulliRBM(hidden, n_iter=1, batch_size=100, random_state=0).fit(X)
    weights_mb = 784 * hidden * 4 / 2**20
peak = peak_mb()
print(json.dumps(dict(case=case, data_mb=data_mb, weights_mb=weights_mb, baseline_mb=baseline,
                      after_data_mb=after_data, peak_mb=peak, training_mb=peak - baseline)))
"""


def run(n_samples=60000, hidden=500):
    rng_script = (
        "import numpy as np, sys; n=int(sys.argv[2]);"
        "X=np.memmap(sys.argv[1], dtype=np.float32, mode='w+', shape=(n, 784));"
        "rng=np.random.default_rng(0)\n"
        "for s in range(0, n, 10000): X[s:s+10000] = rng.random((min(10000, n-s), 784), "
        "dtype=np.float32) < 0.13\n"
        "X.flush()"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "X.f32")
        subprocess.run([sys.executable, "-c", rng_script, path, str(n_samples)], check=True)
        for case in ("array", "memmap", "dbn"):
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, case, str(n_samples), str(hidden), path],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=60000)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    results = run(args.n_samples, args.hidden)
    print(f"Peak RSS above the baseline process, {args.n_samples} x 784 float32 data")
    print()
    print("| case | data MB | weights MB | peak above baseline MB | x data |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        ratio = r["training_mb"] / r["data_mb"]
        print(
            f"| {r['case']} | {r['data_mb']:.0f} | {r['weights_mb']:.1f} | "
            f"{r['training_mb']:.0f} | {ratio:.2f} |"
        )
    print()
    print("'peak above baseline' includes the data itself (for memmap: the file pages read).")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
