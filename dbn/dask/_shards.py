"""The cluster side of :mod:`dbn.dask`: the client, the shards (row blocks of the data kept on the
workers) and the rounds of parameter averaging that every trainer runs on them."""

from __future__ import annotations

import math
import numbers
import uuid
import zlib

import numpy as np

from .._drivers import float_dtype, warn_out_of_range
from .._validation import check_scalar, std_from_moments

__all__ = [
    "DaskTrainingError",
    "Shards",
    "as_dask_array",
    "average",
    "check_sync_every",
    "dense_block",
    "generator_from_state",
    "identity",
    "import_dask",
    "initial_shard_state",
    "per_shard_batch",
    "resolve_client",
    "round_plans",
    "rows_of_round",
    "shard_pairs",
    "shard_array",
    "start_epoch",
    "submit_rounds",
    "summarise",
    "training_error",
    "worker_slots",
]


class DaskTrainingError(RuntimeError):
    """Distributed training stopped on a failure dask could not recover from.

    The estimator keeps the parameters of the last completed epoch; with a ``checkpoint_dir``,
    calling the same function again with it resumes from the last checkpoint.
    """


def training_error(estimator, epoch, error):
    return DaskTrainingError(
        f"{type(estimator).__name__}: distributed training failed in epoch {epoch + 1} and dask "
        f"could not recover ({type(error).__name__}: {error}). The estimator keeps the parameters "
        f"of the last completed epoch ({epoch}); with a checkpoint_dir, call again with the same "
        f"checkpoint_dir to resume from the last checkpoint."
    )


def import_dask():
    try:
        import dask.array as da
        import distributed
    except ImportError as error:  # pragma: no cover - the test extra installs dask
        raise ImportError(
            "dbn.dask needs dask[array] and distributed: pip install 'deep-belief-nets[dask]' (or "
            "pip install 'dask[array]' distributed)."
        ) from error
    return da, distributed


def resolve_client(client):
    """``client``, or the current client when it is None."""
    _, distributed = import_dask()
    if client is None:
        try:
            return distributed.get_client()
        except ValueError as error:
            raise ValueError(
                "client is None and there is no current dask client: pass a distributed.Client, "
                "or create one first (distributed.Client(cluster_address) or LocalCluster())."
            ) from error
    if not isinstance(client, distributed.Client):
        raise TypeError(
            f"client must be a distributed.Client or None, got {type(client).__name__}."
        )
    return client


def as_dask_array(X, name):
    da, _ = import_dask()
    if isinstance(X, da.Array):
        arr = X
    elif hasattr(X, "shape") and hasattr(X, "dtype"):
        # In-memory input: four row blocks, which shard_array rechunks to one per shard anyway.
        arr = da.from_array(X, chunks=(max(1, -(-X.shape[0] // 4)),) + tuple(X.shape[1:]))
    else:
        raise TypeError(f"{name} must be a dask array or an array-like, got {type(X).__name__}.")
    return arr


class Shards:
    """Row blocks of an array held on the workers: one future and one preferred worker per shard.

    Attributes
    ----------
    futures : list of distributed.Future
    workers : list of str
        Address of the worker each shard was placed on (tasks on the shard prefer it; others may
        take over if it is lost).
    n_rows : list of int
    n_features : int
    dtype : numpy.dtype
    """

    def __init__(self, futures, workers, n_rows, n_features, dtype):
        self.futures = futures
        self.workers = workers
        self.n_rows = [int(n) for n in n_rows]
        self.n_features = int(n_features)
        self.dtype = np.dtype(dtype)

    def __len__(self):
        return len(self.futures)

    @property
    def n_samples(self):
        return sum(self.n_rows)

    def map(self, client, function, *args, key):
        """``function(shard, *args)`` on each shard's worker; the list of result futures."""
        futures = [
            client.submit(
                function,
                shard,
                *args,
                key=f"{key}-{i}",
                workers=[worker],
                allow_other_workers=True,
            )
            for i, (shard, worker) in enumerate(zip(self.futures, self.workers, strict=True))
        ]
        return futures


def worker_slots(client):
    """One address per worker thread, workers interleaved (shard i goes to slot i)."""
    import inspect

    # Recent distributed lists only the first few workers unless asked for all of them.
    everyone = "n_workers" in inspect.signature(client.scheduler_info).parameters
    info = client.scheduler_info(**({"n_workers": -1} if everyone else {}))["workers"]
    if not info:
        raise ValueError("the dask cluster has no workers; start some before training.")
    threads = {address: int(w.get("nthreads", 1)) for address, w in sorted(info.items())}
    slots = []
    for level in range(max(threads.values())):
        slots.extend(a for a, n in threads.items() if n > level)
    return slots


def dense_block(chunk, dtype):
    """A data block as a C-contiguous float array of ``dtype`` (dense)."""
    if hasattr(chunk, "toarray"):
        chunk = chunk.toarray()
    return np.ascontiguousarray(chunk, dtype=dtype)


def shard_array(client, X, n_shards, name="X"):
    """Split the dask array ``X`` into ``n_shards`` row blocks computed on the workers."""
    import dask

    X = as_dask_array(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}.")
    n, n_features = X.shape
    if any(math.isnan(s) for s in X.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes {X.chunks}; call {name}.compute_chunk_sizes() first."
        )
    slots = worker_slots(client)
    if n_shards is None:
        n_shards = len(slots)
    check_scalar(n_shards, "n_shards", kind=numbers.Integral, low=1)
    n_shards = min(int(n_shards), n)
    dtype = float_dtype(X.dtype)
    rows = math.ceil(n / n_shards)
    X = X.rechunk({0: rows, 1: -1})
    blocks = X.to_delayed().ravel()
    futures, workers, sizes = [], [], []
    token = uuid.uuid4().hex[:12]
    for i, block in enumerate(blocks):
        worker = slots[i % len(slots)]
        # The block is computed where its shard will train, and kept there.
        task = dask.delayed(dense_block)(block, dtype, dask_key_name=f"dbn-shard-{token}-{i}")
        future = client.compute(task, workers=[worker], allow_other_workers=True)
        futures.append(future)
        workers.append(worker)
        sizes.append(X.chunks[0][i])
    return Shards(futures, workers, sizes, n_features, dtype)


def _pair_block(X_block, y_block, dtype):
    return dense_block(X_block, dtype), np.asarray(y_block)


def shard_pairs(client, X, y, n_shards):
    """Row blocks of ``(X, y)``, each pair computed and kept on one worker."""
    import dask

    X, y = as_dask_array(X, "X"), as_dask_array(y, "y")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y must have the same number of rows, got {X.shape[0]} and {y.shape[0]}."
        )
    slots = worker_slots(client)
    n_shards = len(slots) if n_shards is None else n_shards
    check_scalar(n_shards, "n_shards", kind=numbers.Integral, low=1)
    rows = math.ceil(X.shape[0] / min(int(n_shards), X.shape[0]))
    X = X.rechunk({0: rows, 1: -1})
    y = y.rechunk({0: rows} if y.ndim == 1 else {0: rows, 1: -1})
    dtype = float_dtype(X.dtype)
    token = uuid.uuid4().hex[:12]
    futures, workers = [], []
    for i, (xb, yb) in enumerate(zip(X.to_delayed().ravel(), y.to_delayed().ravel(), strict=True)):
        task = dask.delayed(_pair_block)(xb, yb, dtype, dask_key_name=f"dbn-pairs-{token}-{i}")
        worker = slots[i % len(slots)]
        futures.append(client.compute(task, workers=[worker], allow_other_workers=True))
        workers.append(worker)
    return Shards(futures, workers, X.chunks[0], X.shape[1], dtype)


def _summary(block):
    """Column sums (and of squares), min, max and CRC-32 of a block: validation, initial biases,
    the features' scale, fingerprint."""
    finite = bool(np.isfinite(block).all())
    return {
        "sum": block.sum(axis=0, dtype=np.float64),
        "sum_squares": np.einsum("ij,ij->j", block, block, dtype=np.float64),
        "min": float(block.min()) if finite else float("nan"),
        "max": float(block.max()) if finite else float("nan"),
        "finite": finite,
        "crc": zlib.crc32(memoryview(np.ascontiguousarray(block)).cast("B")),
        "rows": block.shape[0],
    }


def summarise(client, shards, name, value_range):
    """Validate the shards on the workers; returns the column means, their standard deviations
    and a data fingerprint.

    Non-finite values are refused; values outside ``value_range`` are used as given, with the
    :class:`dbn.DataRangeWarning` of an in-process fit (one data-range policy on every path)."""
    summaries = client.gather(
        [client.submit(_summary, f, workers=[w], allow_other_workers=True) for f, w in
         zip(shards.futures, shards.workers, strict=True)]
    )  # fmt: skip
    if not all(s["finite"] for s in summaries):
        raise ValueError(f"{name} contains NaN or infinity.")
    low = min(s["min"] for s in summaries)
    high = max(s["max"] for s in summaries)
    if value_range is not None:
        warn_out_of_range(name, low, high, value_range)
    mean = sum(s["sum"] for s in summaries) / shards.n_samples
    std = std_from_moments(mean, sum(s["sum_squares"] for s in summaries) / shards.n_samples)
    crc = 0
    for s in summaries:
        crc = zlib.crc32(np.array([s["crc"], s["rows"]], np.int64).tobytes(), crc)
    fingerprint = [[shards.n_samples, shards.n_features], shards.dtype.str, crc]
    return mean, std, fingerprint


def check_sync_every(sync_every):
    check_scalar(sync_every, "sync_every", kind=numbers.Integral, low=1)
    return int(sync_every)


def per_shard_batch(batch_size, default, n_shards, shard_rows):
    if batch_size is None:
        batch = default // n_shards
        if batch < 1:
            raise ValueError(
                f"the estimator's batch_size={default} is smaller than the number of shards "
                f"({n_shards}); pass batch_size (the per-shard minibatch) or fewer shards."
            )
    else:
        check_scalar(batch_size, "batch_size", kind=numbers.Integral, low=1)
        batch = int(batch_size)
    if batch > min(shard_rows):
        raise ValueError(
            f"the per-shard minibatch ({batch}) is larger than the smallest shard "
            f"({min(shard_rows)} rows); use a smaller batch_size or fewer shards."
        )
    return batch


# Widest tree node of the parameter average: one task sums at most this many shards' parameters.
_FAN_IN = 8


def _weighted_sum(*parts):
    """Sum of ``weight * params`` over ``(params, weight)`` pairs, in float64; returns a pair."""
    total, weight = None, 0
    for params, w in parts:
        weight += w
        if w == 0:
            continue
        if total is None:
            total = {name: w * p.astype(np.float64) for name, p in params.items()}
        else:
            for name, p in params.items():
                total[name] += w * p
    if total is None:  # no shard trained this round: keep the parameters of the first
        params = parts[0][0]
        total = {name: p.astype(np.float64) for name, p in params.items()}
        return total, 0
    return total, weight


def average(*parts):
    """Row-weighted average of ``(params, weight)`` pairs, in the parameters' dtype and layout."""
    dtypes = {name: p.dtype for name, p in parts[0][0].items()}
    fortran = {name: p.flags.f_contiguous and p.ndim == 2 for name, p in parts[0][0].items()}
    total, weight = _weighted_sum(*parts)
    out = {}
    for name, s in total.items():
        value = s / weight if weight else s
        out[name] = np.array(value, dtype=dtypes[name], order="F" if fortran[name] else "C")
    return out


def _tree_average(client, parts, key):
    """Average the ``(params, weight)`` futures with a tree of tasks of fan-in ``_FAN_IN``."""
    level = 0
    while len(parts) > _FAN_IN:
        parts = [
            client.submit(_weighted_sum, *parts[i : i + _FAN_IN], key=f"{key}-sum{level}-{i}")
            for i in range(0, len(parts), _FAN_IN)
        ]
        level += 1
    return client.submit(average, *parts, key=f"{key}-avg")


def submit_rounds(client, shards, local_steps, states, params, spec, plans, plan, prefix):
    """Submit one epoch's rounds of parameter averaging (the same for the RBM and the MLP).

    Round ``r`` runs ``local_steps(state, params, shard, spec, round_plan)`` on every shard's
    worker (``round_plan`` is ``plan`` with the round's ``first_step`` and ``n_steps``), which
    returns ``(state, (params, rows))``; the shards' parameters are averaged into the next
    round's. Returns the futures of the averaged parameters after the last round and of the
    shards' outputs (their states).
    """
    for r, (first, n_steps) in enumerate(plans):
        round_plan = dict(plan, first_step=first, n_steps=n_steps)
        outputs = [
            client.submit(
                local_steps, states[i], params, shards.futures[i], spec, round_plan,
                key=f"{prefix}-r{r}-s{i}", workers=[shards.workers[i]], allow_other_workers=True,
            )
            for i in range(len(shards))
        ]  # fmt: skip
        parts = [
            client.submit(_second, out, key=f"{prefix}-r{r}-p{i}") for i, out in enumerate(outputs)
        ]
        states = outputs
        # Up to _FAN_IN shards average the parts in their next round (one task fewer on the
        # critical path); more, and the last round's, go through a tree of averaging tasks.
        if len(parts) <= _FAN_IN and r < len(plans) - 1:
            params = parts
        else:
            params = _tree_average(client, parts, f"{prefix}-r{r}")
    return params, states


def _second(pair):
    return pair[1]


def identity(value):
    return value


def round_plans(n_rows, batch, sync_every):
    """Per round: the first minibatch index and the number of steps of every shard this epoch."""
    steps = [math.ceil(n / batch) for n in n_rows]
    most = max(steps)
    plans = []
    for first in range(0, most, sync_every):
        plans.append((first, min(sync_every, most - first)))
    return plans


def initial_shard_state(seed):
    rng = np.random.default_rng(seed)
    return {"rng": rng.bit_generator.state, "cd": None, "order": None, "epoch": None}


def rows_of_round(state, n_rows, batch, first_step, n_steps):
    """Rows of the shard's shuffled order for minibatches ``first_step ...`` of this epoch.

    A shard with fewer rows than the largest wraps around its own order, so that every shard takes
    the same number of steps per round.
    """
    order = state["order"]
    start, stop = first_step * batch, (first_step + n_steps) * batch
    if stop <= n_rows:
        return order[start:stop]
    index = np.arange(start, stop) % n_rows
    return order[index]


def start_epoch(state, n_rows, epoch, shuffle, rng):
    if state.get("epoch") != epoch:
        state["order"] = rng.permutation(n_rows) if shuffle else np.arange(n_rows)
        state["epoch"] = epoch


def generator_from_state(state):
    rng = np.random.Generator(getattr(np.random, state["rng"]["bit_generator"])())
    rng.bit_generator.state = state["rng"]
    return rng
