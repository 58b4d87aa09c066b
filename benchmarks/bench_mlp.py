"""Time one fine-tuning epoch of a 784-500-500-2000-10 sigmoid net: dbn against PyTorch on the CPU.

The setting of Hinton & Salakhutdinov (2006) / Hinton et al. (2006) on MNIST: minibatches of 100,
float32, SGD with Nesterov momentum 0.9, no weight decay. Both libraries start from the same weights,
see the same batches in the same order and use the same number of threads; the epoch's mean training
loss of each is printed as a check that they computed the same thing.

Data: real MNIST when a folder of the loader's search order holds it
(:func:`dbn.datasets.find_data_home`: ``DBN_DATA_HOME``, the user cache, ``../shared/data``),
otherwise synthetic MNIST-like data (noisy class prototypes in [0, 1]); nothing is downloaded.

Usage::

    python benchmarks/bench_mlp.py                 # 60000 samples
    python benchmarks/bench_mlp.py --n-samples 10000 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time

import numpy as np
from _report import limit_threads

LAYERS = (784, 500, 500, 2000, 10)


def load_data(n_samples, seed=0):
    """(X float32 in [0, 1], y int64, source name)."""
    from dbn.datasets import find_data_home, load_mnist

    home = find_data_home("mnist")
    if home is not None:
        try:
            X, y = load_mnist("train", data_home=home, download=False, as_float=True)
            return (
                np.ascontiguousarray(X[:n_samples], dtype=np.float32),
                np.asarray(y[:n_samples], dtype=np.int64),
                "MNIST",
            )
        except Exception as exc:  # any failure falls back to synthetic data
            print(f"MNIST unavailable ({exc}); using synthetic data")
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((10, LAYERS[0])) < 0.2).astype(np.float32)
    y = rng.integers(0, 10, n_samples)
    X = prototypes[y] + 0.3 * rng.standard_normal((n_samples, LAYERS[0]), dtype=np.float32)
    np.clip(X, 0, 1, out=X)
    return X, y.astype(np.int64), "synthetic"


def _initial_net(X, y, learning_rate, seed):
    """The dbn net at initialisation and the sample order its first epoch will use."""
    from dbn.mlp import MLPClassifier

    kwargs = dict(
        solver="sgd",
        batch_size=100,
        learning_rate_init=learning_rate,
        momentum=0.9,
        nesterovs_momentum=True,
        alpha=0.0,
        activation="sigmoid",
        random_state=seed,
    )
    template = MLPClassifier(LAYERS[1:-1], **kwargs).initialize(X, y)
    # The permutation partial_fit is about to draw, so that PyTorch sees the same batches.
    order = copy.deepcopy(template._rng).permutation(len(X))
    return template, order


def _dbn_epoch(template, X, y):
    """A function running one timed epoch of ``template`` (a copy of it each time)."""
    # Warm-up: loads (or compiles) the Numba kernels.
    warm = copy.deepcopy(template).set_params(max_iter=1)
    warm.fit(X[:300], y[:300])

    def epoch():
        clf = copy.deepcopy(template)
        start = time.perf_counter()
        clf.partial_fit(X, y)
        return time.perf_counter() - start, clf.loss_curve_[-1]

    return epoch


def _torch_epoch(X, y, coefs, intercepts, order, learning_rate):
    """The same net in PyTorch (nn.Sequential, SGD with Nesterov momentum) and its epoch function."""
    import torch

    layers = []
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        linear = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(coefs) - 1:
            layers.append(torch.nn.Sigmoid())
    model = torch.nn.Sequential(*layers)
    initial = copy.deepcopy(model.state_dict())
    loss_fn = torch.nn.CrossEntropyLoss()
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    order_t = torch.from_numpy(order)

    def run_epoch(indices):
        model.load_state_dict(initial)
        optimizer = torch.optim.SGD(
            model.parameters(), lr=learning_rate, momentum=0.9, nesterov=True
        )
        start = time.perf_counter()
        total = 0.0
        for first in range(0, len(indices), 100):
            idx = indices[first : first + 100]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X_t[idx]), y_t[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        return time.perf_counter() - start, total / len(indices)

    run_epoch(order_t[:300])  # warm-up
    return lambda: run_epoch(order_t)


def _epoch_in_subprocess(name, n_samples, n_threads, learning_rate, seed):
    """(seconds, mean loss) of one epoch of ``name`` ("dbn" or "torch") in a fresh process."""
    command = [
        sys.executable,
        __file__,
        "--contender",
        name,
        "--n-samples",
        str(n_samples),
        "--threads",
        str(n_threads),
        "--learning-rate",
        str(learning_rate),
        "--seed",
        str(seed),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return result["seconds"], result["loss"], result["data"]


def _run_contender(name, n_samples, n_threads, learning_rate, seed):
    """Child process: one timed epoch of ``name``, printed as JSON."""
    import torch  # noqa: F401 (loaded before the cap, so its pool is capped too)

    X, y, source = load_data(n_samples, seed)
    template, order = _initial_net(X, y, learning_rate, seed)
    limits = limit_threads(n_threads)  # noqa: F841 (kept alive while timing)
    if name == "dbn":
        epoch = _dbn_epoch(template, X, y)
    else:
        epoch = _torch_epoch(X, y, template.coefs_, template.intercepts_, order, learning_rate)
    seconds, loss = epoch()
    print(json.dumps({"seconds": seconds, "loss": float(loss), "data": source}))


def run(n_samples=60000, n_threads=None, learning_rate=0.01, seed=0, repeat=3, verbose=True):
    """Time epochs of each library, alternating them; returns a dict of the measurements.

    Each epoch runs in a fresh process: after PyTorch's first epoch its OpenMP threads, still spinning,
    were measured to slow dbn's next epochs in the same process from 5.0 to 9.1-9.5 s.

    Parameters
    ----------
    n_samples : int, default=60000
    n_threads : int, optional
        Threads of numpy's BLAS and of PyTorch (default: PyTorch's current count).
    learning_rate : float, default=0.01
    seed : int, default=0
    repeat : int, default=3
        Epochs timed per library, each from the same initial weights, in alternating processes;
        the fastest is reported (on a shared machine the others measure the neighbours).
    verbose : bool, default=True
        Print the results.

    Returns
    -------
    result : dict
        ``dbn_seconds``, ``torch_seconds`` (fastest epoch), ``ratio`` (dbn / torch),
        ``dbn_all``, ``torch_all`` (every epoch), ``dbn_loss``, ``torch_loss`` (mean training loss
        of the epoch), ``n_samples``, ``n_threads``, ``data``.
    """
    import torch

    n_threads = int(n_threads or torch.get_num_threads())
    runs = {"dbn": [], "torch": []}
    for _ in range(repeat):
        for name in runs:
            runs[name].append(_epoch_in_subprocess(name, n_samples, n_threads, learning_rate, seed))
    dbn_runs, torch_runs = runs["dbn"], runs["torch"]
    dbn_seconds = min(t for t, _, _ in dbn_runs)
    torch_seconds = min(t for t, _, _ in torch_runs)
    result = {
        "n_samples": n_samples,
        "n_threads": n_threads,
        "data": dbn_runs[0][2],
        "dbn_seconds": dbn_seconds,
        "torch_seconds": torch_seconds,
        "ratio": dbn_seconds / torch_seconds,
        "dbn_all": [t for t, _, _ in dbn_runs],
        "torch_all": [t for t, _, _ in torch_runs],
        "dbn_loss": dbn_runs[0][1],
        "torch_loss": torch_runs[0][1],
    }
    if verbose:
        print(
            f"{'-'.join(map(str, LAYERS))} sigmoid, batch 100, float32, {n_samples} "
            f"{result['data']} samples, {n_threads} thread(s), fastest of {repeat} epochs, each in "
            f"its own process\n"
            f"  dbn    {dbn_seconds:7.3f} s/epoch  (mean loss {result['dbn_loss']:.4f}; all "
            f"{', '.join(f'{t:.2f}' for t in result['dbn_all'])})\n"
            f"  torch  {torch_seconds:7.3f} s/epoch  (mean loss {result['torch_loss']:.4f}; all "
            f"{', '.join(f'{t:.2f}' for t in result['torch_all'])})\n"
            f"  ratio dbn/torch = {result['ratio']:.2f}"
        )
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=60000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--contender", choices=["dbn", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:  # child process of run()
        _run_contender(args.contender, args.n_samples, args.threads, args.learning_rate, args.seed)
        return
    run(args.n_samples, args.threads, args.learning_rate, args.seed, args.repeat)


if __name__ == "__main__":
    main()
