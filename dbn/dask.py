"""Scaling out: data-parallel training on a dask.distributed cluster, and out-of-core pretraining.

In the manner of ``xgboost.dask`` and ``lightgbm.dask``, this module holds functions that take a
``distributed.Client`` (or find the current one), an ordinary dbn estimator and a dask array, and
return the same estimator, fitted: afterwards it is an in-memory model like any other (``save``,
``transform``, ``to_mlp``...).

- :func:`fit_rbm`, :func:`pretrain`: data-parallel CD-k / PCD for :class:`dbn.BernoulliRBM`,
  :class:`dbn.GaussianBernoulliRBM` and the layers of a :class:`dbn.DBN`;
- :func:`fit_mlp`: data-parallel backprop fine-tuning of :class:`dbn.MLPClassifier` and
  :class:`dbn.MLPRegressor` (SGD with momentum, Adam);
- :func:`transform`, :func:`predict`, :func:`predict_proba`, :func:`score`: blockwise, on the
  workers, returning dask arrays;
- :func:`pretrain_out_of_core`: one machine, no cluster and no dask needed: a DBN pretrained from an
  on-disk array (``.npy`` file, ``np.memmap``, or a dask array over zarr, HDF5...) read one chunk at
  a time, with each layer's features written to disk in chunks, never held whole.

Why separate functions rather than dask input to ``fit``: the estimators stay exactly what they are
for numpy input (no dask import, no hidden cluster logic, same numbers); the distributed parameters
that have no in-process meaning (``sync_every``, the client, the per-worker minibatch) are explicit
arguments; and the scaling code lives in one module that imports dask only when it is called.

**The algorithm.** The data are split into ``n_shards`` row blocks of (nearly) equal size, one per worker thread,
computed on the workers and kept there (``Client.compute`` with a worker per shard); nothing of the
data is ever gathered to the client. Training runs in rounds:

1. the current parameters are broadcast (a future the shard tasks depend on);
2. each shard runs ``sync_every`` minibatch steps of its own optimiser (CD-k / PCD momentum
   steps, :class:`dbn._cd.ContrastiveDivergence`, or SGD / Adam, :mod:`dbn._training.optimizers`) on
   its rows, from its own state: momentum velocities, persistent chains, running sparsity activity,
   random stream and position in its shuffled rows;
3. the shards' parameters are averaged, weighted by the rows each used (a tree of tasks on the
   workers for many shards), and that average starts the next round. With ``centering=True`` the
   centring offsets are averaged with them, so that every shard centres its updates alike.

This is parameter averaging (Zhang & Chen 2014; local SGD in the sense of Lin et al. 2020). With
``sync_every=1`` and equal shards it is exactly one step with the combined minibatch: the CD
statistics are means over rows, and the momentum update is linear in them, so the average of the
shards' ``W + momentum * v_i + lr * (g_i - decay * W)`` is ``W + momentum * mean(v) + lr *
(mean(g) - decay * W)``, one momentum step with the averaged statistics (the test suite checks this
against an in-process simulation with the same random numbers, to rounding). With ``sync_every > 1``
each shard moves on its own for several steps between averages, which cuts the per-round overhead
(scheduling and parameter traffic) by ``sync_every`` at some cost in quality, measured in
``benchmarks/bench_dask.py``. Adam is not linear in the gradient, so for it the equivalence holds only
to first order.

By default each shard's minibatch is ``batch_size // n_shards`` rows, so that the combined minibatch,
the learning rate and the number of updates per epoch are those of the in-process fit (the
``batch_size`` argument overrides the per-shard minibatch, for example to keep it at ``batch_size``
on many workers and scale the learning rate, as in Goyal et al. 2017).

Rounds are submitted one epoch at a time: the scheduler runs them with no round trip to the client,
which gathers only the averaged parameters at the end of each epoch (for the history, callbacks and
checkpoints). The shards' states are futures as well, so every task is a pure function of its
inputs: when a worker dies, dask recomputes what it held (the data blocks from their source, and
the rounds from their inputs) and training completes with the same numbers as without the fault.
If recomputation is impossible (the scheduler is gone, or a task kills three workers), training
stops with a :class:`DaskTrainingError` that names the last checkpoint; calling again with the same
``checkpoint_dir`` resumes from it exactly (parameters, every shard's chains, velocities and random
stream).

Layers stay distributed: layer ``k + 1`` of a DBN trains on ``layer_k.transform`` applied to each
shard on its worker.

References
----------
Hinton, G. E. (2002). Training products of experts by minimizing contrastive divergence. Neural
Computation 14(8).
Tieleman, T. (2008). Training restricted Boltzmann machines using approximations to the likelihood
gradient. ICML.
Zhang, K., & Chen, X.-W. (2014). Large-scale deep belief nets with MapReduce. IEEE Access 2,
395-403.
Dean, J. et al. (2012). Large scale distributed deep networks. NIPS.
Goyal, P. et al. (2017). Accurate, large minibatch SGD: training ImageNet in 1 hour. arXiv:1706.02677.
Lin, T., Stich, S. U., Patel, K. K., & Jaggi, M. (2020). Don't use large mini-batches, use local SGD.
ICLR.
Rocklin, M. (2015). Dask: parallel computation with blocked algorithms and task scheduling. SciPy.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
import time
import uuid
import zlib
from pathlib import Path

import numpy as np

from ._cd import (
    OFFSET_ROWS,
    SHARED_STATE,
    ContrastiveDivergence,
    hidden_units,
    merge_states,
    visible_units,
)
from ._training.callbacks import CallbackList
from ._training.checkpoint import CheckpointFile, as_json
from ._training.loop import EpochTrainer, run_epochs
from ._validation import DivergenceError, check_is_fitted, check_scalar

__all__ = [
    "DaskTrainingError",
    "fit_rbm",
    "pretrain",
    "fit_mlp",
    "transform",
    "predict",
    "predict_proba",
    "score",
    "pretrain_out_of_core",
]

# Widest tree node of the parameter average: one task sums at most this many shards' parameters.
_FAN_IN = 8


class DaskTrainingError(RuntimeError):
    """Distributed training stopped on a failure dask could not recover from.

    The estimator keeps the parameters of the last completed epoch; with a ``checkpoint_dir``,
    calling the same function again with it resumes from the last checkpoint.
    """


# --------------------------------------------------------------------------------------------------
# dask, imported on use
# --------------------------------------------------------------------------------------------------


def _dask():
    try:
        import dask.array as da
        import distributed
    except ImportError as error:  # pragma: no cover - the test extra installs dask
        raise ImportError(
            "dbn.dask needs dask[array] and distributed: pip install 'deep-belief-nets[dask]' (or "
            "pip install 'dask[array]' distributed)."
        ) from error
    return da, distributed


def _client(client):
    """``client``, or the current client when it is None."""
    _, distributed = _dask()
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


def _as_dask_array(X, name):
    da, _ = _dask()
    if isinstance(X, da.Array):
        arr = X
    elif hasattr(X, "shape") and hasattr(X, "dtype"):
        # In-memory input: four row blocks, which _shard rechunks to one per shard anyway.
        arr = da.from_array(X, chunks=(max(1, -(-X.shape[0] // 4)),) + tuple(X.shape[1:]))
    else:
        raise TypeError(f"{name} must be a dask array or an array-like, got {type(X).__name__}.")
    return arr


# --------------------------------------------------------------------------------------------------
# Shards: row blocks of the data kept on the workers
# --------------------------------------------------------------------------------------------------


class _Shards:
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


def _worker_slots(client):
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


def _float_dtype(dtype):
    return np.dtype(dtype) if np.dtype(dtype) in (np.float32, np.float64) else np.dtype(np.float64)


def _block(chunk, dtype):
    """A data block as a C-contiguous float array of ``dtype`` (dense)."""
    if hasattr(chunk, "toarray"):
        chunk = chunk.toarray()
    return np.ascontiguousarray(chunk, dtype=dtype)


def _shard(client, X, n_shards, name="X"):
    """Split the dask array ``X`` into ``n_shards`` row blocks computed on the workers."""
    import dask

    X = _as_dask_array(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}.")
    n, n_features = X.shape
    if any(math.isnan(s) for s in X.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes {X.chunks}; call {name}.compute_chunk_sizes() first."
        )
    slots = _worker_slots(client)
    if n_shards is None:
        n_shards = len(slots)
    check_scalar(n_shards, "n_shards", kind=numbers.Integral, low=1)
    n_shards = min(int(n_shards), n)
    dtype = _float_dtype(X.dtype)
    rows = math.ceil(n / n_shards)
    X = X.rechunk({0: rows, 1: -1})
    blocks = X.to_delayed().ravel()
    futures, workers, sizes = [], [], []
    token = uuid.uuid4().hex[:12]
    for i, block in enumerate(blocks):
        worker = slots[i % len(slots)]
        # The block is computed where its shard will train, and kept there.
        task = dask.delayed(_block)(block, dtype, dask_key_name=f"dbn-shard-{token}-{i}")
        future = client.compute(task, workers=[worker], allow_other_workers=True)
        futures.append(future)
        workers.append(worker)
        sizes.append(X.chunks[0][i])
    return _Shards(futures, workers, sizes, n_features, dtype)


def _summary(block):
    """Column sums, min, max and CRC-32 of a block: validation, initial biases, fingerprint."""
    finite = bool(np.isfinite(block).all())
    return {
        "sum": block.sum(axis=0, dtype=np.float64),
        "min": float(block.min()) if finite else float("nan"),
        "max": float(block.max()) if finite else float("nan"),
        "finite": finite,
        "crc": zlib.crc32(memoryview(np.ascontiguousarray(block)).cast("B")),
        "rows": block.shape[0],
    }


def _summarise(client, shards, name, value_range):
    """Validate the shards on the workers; returns the column means and a data fingerprint."""
    summaries = client.gather(
        [client.submit(_summary, f, workers=[w], allow_other_workers=True) for f, w in
         zip(shards.futures, shards.workers, strict=True)]
    )  # fmt: skip
    if not all(s["finite"] for s in summaries):
        raise ValueError(f"{name} contains NaN or infinity.")
    low = min(s["min"] for s in summaries)
    high = max(s["max"] for s in summaries)
    if value_range is not None and (low < value_range[0] or high > value_range[1]):
        raise ValueError(
            f"{name} must lie in [{value_range[0]:g}, {value_range[1]:g}] for Bernoulli visible "
            f"units, got values in [{low:g}, {high:g}]."
        )
    mean = sum(s["sum"] for s in summaries) / shards.n_samples
    crc = 0
    for s in summaries:
        crc = zlib.crc32(np.array([s["crc"], s["rows"]], np.int64).tobytes(), crc)
    fingerprint = [[shards.n_samples, shards.n_features], shards.dtype.str, crc]
    return mean, fingerprint


# --------------------------------------------------------------------------------------------------
# Parameter averaging (runs on the workers)
# --------------------------------------------------------------------------------------------------


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


def _average(*parts):
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
    return client.submit(_average, *parts, key=f"{key}-avg")


def _submit_rounds(client, shards, local_steps, states, params, spec, plans, plan, prefix):
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


def _identity(value):
    return value


def _rows_of_round(state, n_rows, batch, first_step, n_steps):
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


def _start_epoch(state, n_rows, epoch, shuffle, rng):
    if state.get("epoch") != epoch:
        state["order"] = rng.permutation(n_rows) if shuffle else np.arange(n_rows)
        state["epoch"] = epoch


def _generator(state):
    rng = np.random.Generator(getattr(np.random, state["rng"]["bit_generator"])())
    rng.bit_generator.state = state["rng"]
    return rng


# --------------------------------------------------------------------------------------------------
# The RBM's local steps (run on the workers)
# --------------------------------------------------------------------------------------------------


def _rbm_round(previous, params, block, config, plan):
    """``plan["n_steps"]`` CD / PCD steps on a shard; returns ``(state, (params, rows))``.

    A pure function of its inputs: ``previous`` (the shard's state, or the output of its previous
    round), the averaged ``params``, the shard's ``block`` and the round's ``plan``. Nothing is
    modified in place, so dask may recompute any round after a worker is lost.
    """
    state = dict(previous[0] if isinstance(previous, tuple) else previous)
    if isinstance(params, list):
        # The previous round's (params, rows) of every shard: each shard averages them itself,
        # which saves the latency of a separate averaging task on small clusters.
        own = _average(*params)
    else:
        own = {
            name: np.array(p, order="F" if p.ndim == 2 else "C", copy=True)
            for name, p in params.items()
        }
    # The centring offsets travel (and are averaged) with the parameters: every shard's update
    # must be centred on the same offsets for the average to be the combined minibatch's step.
    shared = {name: own.pop(name) for name in SHARED_STATE if name in own}
    cd = ContrastiveDivergence(own, **config)
    rng = _generator(state)
    if state.get("cd") is not None:
        cd.set_state(state["cd"])
    elif cd.persistent:
        # A new shard, or one whose state was lost with no way to recompute it: chains from data.
        cd.start_chains(block, rng)
    cd.set_shared_state(shared)
    n_rows = block.shape[0]
    _start_epoch(state, n_rows, plan["epoch"], plan["shuffle"], rng)
    n_steps = plan["n_steps"]
    rows = _rows_of_round(state, n_rows, cd.batch_size, plan["first_step"], n_steps)
    diverged = 0
    if n_steps:
        diverged = cd.run_epoch(block, rows, plan["learning_rate"], plan["momentum"], rng)
    state["cd"] = cd.get_state()
    state["rng"] = rng.bit_generator.state
    state["diverged"] = state.get("diverged") or diverged
    return state, ({**own, **cd.shared_state()}, len(rows))


def _rbm_monitor(params, block, config, n_monitor):
    """Summed squared reconstruction error of the shard's first ``n_monitor`` rows, and the count."""
    v = block[:n_monitor]
    if v.shape[0] == 0:
        return 0.0, 0
    W = params["components_"]
    log_var = params.get("log_variance_")
    sigma = None if log_var is None else np.exp(0.5 * log_var)
    v_in = v if sigma is None else v / sigma
    pre = v_in @ np.ascontiguousarray(W.T)
    hidden_units(
        pre, params["intercept_hidden_"], config["hidden_unit"], None, pre, pre, sample=False
    )
    top = pre @ W
    if sigma is None and config["visible_unit"] == "gaussian":
        sigma = np.ones(W.shape[1], W.dtype)
    visible_units(
        top, params["intercept_visible_"], sigma, config["visible_unit"], None, top, top,
        sample=False,
    )  # fmt: skip
    return float(np.sum((v - top) ** 2, dtype=np.float64)), int(v.shape[0])


def _initial_shard_state(seed):
    rng = np.random.default_rng(seed)
    return {"rng": rng.bit_generator.state, "cd": None, "order": None, "epoch": None}


# Where the cluster and out-of-core paths honour each RBM hyperparameter. Those of
# ``rbm.cd_config()`` (the estimator's one source of its CD step) reach every shard's CD object;
# the drivers read the ones below themselves; an option in _REFUSED is refused by name on the paths
# it lists. Any other option set away from its default is refused too, so that an option added to
# the estimator cannot be dropped here in silence (tests/test_dask.py walks _get_param_names()).
_DRIVER_PARAMS = {
    "n_components": "the initial parameters (rbm.initialize)",
    "init_std": "the initial parameters (rbm.initialize)",
    "learn_variance": "the initial parameters: log_variance_ is averaged with the others",
    "batch_size": "split over the shards (fit_rbm's batch_size)",
    "n_iter": "the number of epochs",
    "learning_rate": "rbm.schedule",
    "learning_rate_schedule": "rbm.schedule",
    "learning_rate_decay": "rbm.schedule",
    "momentum": "rbm.schedule",
    "final_momentum": "rbm.schedule",
    "momentum_switch_epoch": "rbm.schedule",
    "shuffle": "each shard's order (cluster); the chunks' and rows' order (out of core)",
    "monitor_size": "the reconstruction error, on rows spread over the shards",
    "verbose": "the progress bar of run_epochs",
    "random_state": "the shards' random streams (_shard_seeds)",
}
# option -> {path: what to do instead}; the paths are "cluster" and "out of core".
_REFUSED = {}
_PATH_NAMES = {
    "cluster": "the cluster path (dbn.dask.fit_rbm, dbn.dask.pretrain)",
    "out of core": "dbn.dask.pretrain_out_of_core",
}


def _check_options(rbm, path):
    """Refuse, by name, an option of ``rbm`` set away from its default that ``path`` cannot
    honour: one in ``_REFUSED`` for this path, or one this module does not know."""
    import inspect

    defaults = {
        name: p.default for name, p in inspect.signature(type(rbm).__init__).parameters.items()
    }
    honoured = set(rbm.cd_config()) | set(_DRIVER_PARAMS)
    for name, value in rbm.get_params(deep=False).items():
        remedy = _REFUSED.get(name, {}).get(path)
        if (remedy is None and name in honoured) or _is_default(value, defaults.get(name)):
            continue
        if remedy is None:
            remedy = (
                f"{name} is an option this path does not know. Train in process with fit(), or "
                "leave it at its default."
            )
        raise ValueError(
            f"{type(rbm).__name__}({name}={value!r}) is not supported by {_PATH_NAMES[path]}: "
            f"{remedy}"
        )


def _is_default(value, default):
    if value is default:
        return True
    try:
        return type(value) is type(default) and bool(value == default)
    except (TypeError, ValueError):  # arrays and other values without a plain ==
        return False


def _rbm_config(rbm, batch_size, n_shards=1, path="cluster"):
    """The CD configuration of one of ``n_shards`` shards: ``rbm.cd_config`` with the per-shard
    minibatch, and ``n_chains`` persistent chains in all split over the shards like the minibatch
    (each shard's default chains are its minibatch, so the total is the combined minibatch)."""
    _check_options(rbm, path)
    config = rbm.cd_config(batch_size=batch_size)
    if config["n_chains"] is not None and n_shards > 1:
        chains = config["n_chains"] // n_shards
        if chains < 1:
            raise ValueError(
                f"n_chains={config['n_chains']} persistent chains cannot be split over {n_shards} "
                f"shards; use n_chains >= {n_shards} or fewer shards."
            )
        config["n_chains"] = chains
    return config


def _hidden_sum(block, params, n_rows):
    """Column sums (float64) of the hidden means of the block's first ``n_rows`` rows."""
    return _rbm_features(block[:n_rows], params, "bernoulli").sum(axis=0, dtype=np.float64)


def _initial_offsets(client, shards, params, mean):
    """The centring offsets an in-process fit starts from (``ContrastiveDivergence.start_offsets``
    of the whole data): ``mu`` the data's column means, ``lambda`` the mean hidden activation of
    its first ``OFFSET_ROWS`` rows, summed on the shards that hold them."""
    starts = np.cumsum([0, *shards.n_rows[:-1]])
    counts = [
        int(np.clip(OFFSET_ROWS - s, 0, n)) for s, n in zip(starts, shards.n_rows, strict=True)
    ]
    sums = client.gather(
        [client.submit(_hidden_sum, f, params, c, workers=[w], allow_other_workers=True)
         for f, w, c in zip(shards.futures, shards.workers, counts, strict=True) if c]
    )  # fmt: skip
    dtype = params["components_"].dtype
    return {
        "visible_offset_": np.asarray(mean, dtype=dtype),
        "hidden_offset_": np.asarray(sum(sums) / sum(counts), dtype=dtype),
    }


def _initial_rbm_parameters(rbm, mean, dtype):
    """The estimator's own initialisation (Hinton 2010, section 8: small random weights, zero hidden
    biases, visible biases from the data's means), from the column means alone: ``initialize`` of
    the one-row array of the means gives the same parameters as ``initialize`` of the whole data."""
    rbm.initialize(np.asarray(mean, dtype=dtype)[None, :])
    return {name: getattr(rbm, name).copy(order="K") for name in _parameter_names(rbm)}


def _shard_seeds(random_state, n_shards):
    """Independent streams for the shards, reproducible from an integer ``random_state``."""
    if isinstance(random_state, numbers.Integral):
        entropy = [int(random_state), 0xDA5C]
    elif isinstance(random_state, np.random.Generator):
        entropy = int(random_state.integers(2**63))
    else:
        entropy = None
    return np.random.SeedSequence(entropy).spawn(n_shards)


def _round_plans(n_rows, batch, sync_every):
    """Per round: the first minibatch index and the number of steps of every shard this epoch."""
    steps = [math.ceil(n / batch) for n in n_rows]
    most = max(steps)
    plans = []
    for first in range(0, most, sync_every):
        plans.append((first, min(sync_every, most - first)))
    return plans


class _DistributedRBM(EpochTrainer):
    """The epochs of data-parallel CD on a cluster, as :func:`dbn._training.loop.run_epochs` runs
    them. Holds futures of the averaged parameters and of every shard's state."""

    def __init__(self, client, rbm, shards, config, sync_every, params, states, token):
        self.client = client
        self.rbm = rbm
        self.shards = shards
        self.config = config
        self.sync_every = sync_every
        self.params = params  # numpy, the last gathered average
        self.params_future = client.submit(_identity, params, key=f"dbn-rbm-{token}-start")
        self.states = states
        self.token = token
        self.plans = _round_plans(shards.n_rows, config["batch_size"], sync_every)
        self.n_monitor = math.ceil(rbm.monitor_size / len(shards)) if rbm.monitor_size else 0
        self.rounds = 0

    def run_epoch(self, epoch):
        client, shards = self.client, self.shards
        lr, momentum = self.rbm.schedule(epoch)
        params, states = self.params_future, list(self.states)
        prefix = f"dbn-rbm-{self.token}-e{epoch}"
        plan = dict(
            epoch=epoch, learning_rate=lr, momentum=momentum, shuffle=bool(self.rbm.shuffle)
        )
        params, states = _submit_rounds(
            client, shards, _rbm_round, states, params, self.config, self.plans, plan, prefix
        )
        monitors = []
        if self.n_monitor:
            monitors = [
                client.submit(
                    _rbm_monitor,
                    params,
                    shards.futures[i],
                    self.config,
                    self.n_monitor,
                    key=f"{prefix}-monitor-{i}",
                    workers=[shards.workers[i]],
                    allow_other_workers=True,
                )
                for i in range(len(shards))
            ]
        try:
            values, monitored = client.gather([params, monitors])
        except Exception as error:  # noqa: BLE001 - any failure dask could not recover from
            raise _training_error(self.rbm, epoch, error) from error
        if not all(np.isfinite(p).all() for p in values.values()):
            raise DivergenceError(
                f"{type(self.rbm).__name__} diverged in epoch {epoch + 1} on the cluster: the "
                f"averaged weights became NaN or inf. Use a smaller learning_rate (got {lr:g}) or "
                f"momentum; the model keeps the parameters of the last completed epoch ({epoch})."
            )
        self.params, self.params_future, self.states = values, params, states
        self.rounds += len(self.plans)
        logs = {"learning_rate": lr, "momentum": momentum}
        if monitored:
            total = sum(m[0] for m in monitored)
            count = sum(m[1] for m in monitored)
            logs["reconstruction_error"] = total / max(count, 1)
        return logs

    def snapshot(self):
        return self.params, self.params_future, list(self.states)

    def restore(self, snapshot):
        self.params, self.params_future, self.states = snapshot[0], snapshot[1], list(snapshot[2])

    def shard_states(self):
        """Gather every shard's state (for a checkpoint)."""
        states = self.client.gather(self.states)
        return [s[0] if isinstance(s, tuple) else s for s in states]


def _training_error(estimator, epoch, error):
    return DaskTrainingError(
        f"{type(estimator).__name__}: distributed training failed in epoch {epoch + 1} and dask "
        f"could not recover ({type(error).__name__}: {error}). The estimator keeps the parameters "
        f"of the last completed epoch ({epoch}); with a checkpoint_dir, call again with the same "
        f"checkpoint_dir to resume from the last checkpoint."
    )


# Names of a shard's state in checkpoint files: shard<i>/<name>.
def _state_arrays(states):
    arrays, extra = {}, []
    for i, state in enumerate(states):
        for name, value in (state.get("cd") or {}).items():
            arrays[f"shard{i}/{name}"] = value
        if state.get("order") is not None:
            arrays[f"shard{i}/order"] = np.asarray(state["order"], np.int64)
        extra.append(
            {
                "rng": state["rng"],
                "epoch": state.get("epoch"),
                "has_cd": state.get("cd") is not None,
            }
        )
    return arrays, extra


def _states_from_arrays(arrays, extra):
    states = []
    for i, meta in enumerate(extra):
        prefix = f"shard{i}/"
        cd = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        order = cd.pop("order", None)
        states.append(
            {
                "rng": meta["rng"],
                "epoch": meta["epoch"],
                "order": order,
                "cd": cd if meta["has_cd"] else None,
            }
        )
    return states


def _check_sync_every(sync_every):
    check_scalar(sync_every, "sync_every", kind=numbers.Integral, low=1)
    return int(sync_every)


def _per_shard_batch(batch_size, default, n_shards, shard_rows):
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


def fit_rbm(
    client,
    rbm,
    X,
    *,
    sync_every=1,
    batch_size=None,
    n_shards=None,
    callbacks=None,
    checkpoint_dir=None,
):
    """Train an RBM on a dask array with data-parallel CD-k / PCD on a dask.distributed cluster.

    Parameters
    ----------
    client : distributed.Client or None
        The cluster to run on; None uses the current client.
    rbm : dbn.BernoulliRBM or dbn.GaussianBernoulliRBM
        Its hyperparameters define the training (``n_iter`` epochs, schedules, momentum, weight
        decay, sparsity, ``k``, ``persistent``...); it is fitted in place, as by ``fit``. Every
        shard's CD step is built from ``rbm.cd_config()``, the one the estimator's ``fit`` uses:
        with ``centering=True`` the offsets are averaged with the parameters after every round
        (all shards centre on the same offsets, so a round is still one centred step on the
        combined minibatch); persistent chains, tempered ones with ``n_temperatures``, run on
        every shard, ``n_chains`` of them in all split over the shards like the minibatch. An
        option this module cannot honour is refused with a ValueError that names it.
    X : dask.array.Array or array-like of shape (n_samples, n_features)
        Training data; the blocks are computed on the workers and stay there. In [0, 1] for
        Bernoulli visible units.
    sync_every : int, default=1
        Local minibatch steps each shard takes between two parameter averages. 1 is exactly
        synchronous data-parallel CD (one round = one step on the combined minibatch); larger
        values trade model quality for less per-round overhead.
    batch_size : int, optional
        Rows of each shard's minibatch; default ``rbm.batch_size // n_shards``, so that the combined
        minibatch equals the in-process one.
    n_shards : int, optional
        Number of row blocks trained in parallel; default one per worker thread.
    callbacks : callable, dbn.Callback or list of them, optional
        Called after every epoch as ``callback(rbm, epoch, logs)`` (``epoch`` counted from 1); a
        truthy return stops training.
    checkpoint_dir : str or os.PathLike, optional
        Write the full training state (parameters and every shard's chains, velocities, random
        stream and shuffled order) there after every epoch; calling again with the same folder
        resumes from it and gives the same weights as an uninterrupted run.

    Returns
    -------
    rbm
        Fitted: ``components_``, ``intercept_hidden_``, ``intercept_visible_``, ``history_`` (one
        row per epoch, reconstruction error on ``monitor_size`` rows spread over the shards),
        ``n_epochs_``; and ``dask_rounds_``, the number of rounds run. At the end it holds the
        training state an in-process fit would (``dbn._cd.merge_states`` of the shards':
        velocities, centring offsets, persistent and tempered chains), so ``save`` and
        ``partial_fit`` carry on from it.

    Raises
    ------
    DaskTrainingError
        When the cluster fails in a way dask cannot recover from.
    dbn.DivergenceError
        When the averaged parameters become NaN or inf (the last completed epoch is kept).

    References
    ----------
    Zhang, K., & Chen, X.-W. (2014). Large-scale deep belief nets with MapReduce.
    Lin, T. et al. (2020). Don't use large mini-batches, use local SGD.
    """
    client = _client(client)
    sync_every = _check_sync_every(sync_every)
    _check_rbm(rbm, "rbm")
    rbm.validate_params()
    _check_options(rbm, "cluster")
    shards = _shard(client, X, n_shards)
    _train_rbm(client, rbm, shards, sync_every, batch_size, CallbackList(callbacks), checkpoint_dir)
    return rbm


def _gaussian_visible(rbm):
    from .rbm import GaussianBernoulliRBM

    return isinstance(rbm, GaussianBernoulliRBM)


def _check_rbm(rbm, name):
    from .rbm import BernoulliRBM, GaussianBernoulliRBM

    if not isinstance(rbm, BernoulliRBM | GaussianBernoulliRBM):
        raise TypeError(
            f"{name} must be a dbn.BernoulliRBM or dbn.GaussianBernoulliRBM, got "
            f"{type(rbm).__name__}."
        )


def _train_rbm(client, rbm, shards, sync_every, batch_size, callbacks, checkpoint_dir, name="X"):
    gaussian = _gaussian_visible(rbm)
    mean, fingerprint = _summarise(client, shards, name, None if gaussian else (0.0, 1.0))
    batch = _per_shard_batch(batch_size, rbm.batch_size, len(shards), shards.n_rows)
    config = _rbm_config(rbm, batch, len(shards))
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = CheckpointFile(
            checkpoint_dir,
            "dask-rbm-checkpoint.safetensors",
            f"dask-{type(rbm).__name__}-checkpoint",
            {},
        )
        checkpoint.data = {name: fingerprint}
    run_params = dict(
        rbm.header_params(),
        sync_every=sync_every,
        shard_batch_size=batch,
        n_shards=len(shards),
    )
    params = _initial_rbm_parameters(rbm, mean, shards.dtype)
    if config["centering"]:
        params.update(_initial_offsets(client, shards, params, mean))
    states = [_initial_shard_state(seed) for seed in _shard_seeds(rbm.random_state, len(shards))]
    history = {key: [] for key in rbm.history_keys}
    start_epoch = 0
    if checkpoint is not None and checkpoint.load(as_json(run_params), owner=type(rbm).__name__):
        arrays, extra = checkpoint.arrays, checkpoint.extra
        params = {n: np.array(arrays[n], order="F" if arrays[n].ndim == 2 else "C") for n in params}
        states = _states_from_arrays(arrays, extra["shards"])
        history = {key: list(extra["history_"].get(key, [])) for key in history}
        start_epoch = int(extra["n_epochs_"])
    # The shard states start as plain values in the task graph: recomputable if a worker dies.
    token = uuid.uuid4().hex[:12]
    state_futures = [
        client.submit(_identity, state, key=f"dbn-rbm-{token}-state-{i}", workers=[w],
                      allow_other_workers=True)
        for i, (state, w) in enumerate(zip(states, shards.workers, strict=True))
    ]  # fmt: skip
    trainer = _DistributedRBM(client, rbm, shards, config, sync_every, params, state_futures, token)

    def publish(n_epochs, state=None):
        arrays = dict(trainer.params)
        _set_rbm(rbm, arrays, shards.n_features, n_epochs, history, state)
        rbm.dask_rounds_ = trainer.rounds

    def save_checkpoint(finished):
        arrays, shard_extra = _state_arrays(trainer.shard_states())
        arrays.update(trainer.params)
        extra = {"n_epochs_": len(history["epoch"]), "history_": history, "shards": shard_extra}
        checkpoint.write(as_json(run_params), arrays, extra, finished=finished)

    publish(start_epoch)
    if start_epoch >= rbm.n_iter:
        publish(start_epoch, _merged_state(trainer))
        return rbm
    callbacks.on_train_begin(rbm)
    state = None
    try:
        run_epochs(
            rbm,
            _Publishing(trainer, publish),
            range(start_epoch, rbm.n_iter),
            history=history,
            callbacks=callbacks,
            save_checkpoint=save_checkpoint if checkpoint is not None else None,
            progress=f"{type(rbm).__name__}({rbm.n_components}) on dask",
            progress_key="reconstruction_error",
            verbose=rbm.verbose,
        )
        state = _merged_state(trainer)
    finally:
        publish(len(history["epoch"]), state)
        callbacks.on_train_end(rbm)
    return rbm


def _merged_state(trainer):
    """The shards' CD states merged into one (``dbn._cd.merge_states``): the velocities,
    persistent and tempered chains and sparsity activity an in-process fit would leave in the
    model. The centring offsets come with the averaged parameters."""
    states = [s.get("cd") for s in trainer.shard_states()]
    if any(state is None for state in states):
        return None  # no round ran on some shard (a finished checkpoint from before this state)
    merged = merge_states(states, [1] * len(states))
    return {name: value for name, value in merged.items() if name not in SHARED_STATE}


class _Publishing(EpochTrainer):
    """Wraps a trainer so that the estimator holds each epoch's parameters before the callbacks."""

    def __init__(self, trainer, publish):
        self.trainer, self.publish = trainer, publish

    def run_epoch(self, epoch):
        return self.trainer.run_epoch(epoch)

    def snapshot(self):
        return self.trainer.snapshot()

    def restore(self, snapshot):
        self.trainer.restore(snapshot)

    def epoch_completed(self, completed, logs):
        self.publish(completed)


def _set_rbm(rbm, params, n_features, n_epochs, history, state=None):
    """Put trained parameters (and optionally a CD state) into the estimator, as ``load`` does."""
    arrays = {name: np.array(p, order="F" if p.ndim == 2 else "C") for name, p in params.items()}
    if state:
        arrays.update(state)
    extra = {
        "n_features_in_": int(n_features),
        "n_epochs_": int(n_epochs),
        "history_": {k: list(v) for k, v in history.items()},
    }
    rbm.restore_training_state(arrays, extra)


# --------------------------------------------------------------------------------------------------
# DBN pretraining on the cluster
# --------------------------------------------------------------------------------------------------


def _rbm_features(block, params, hidden_unit):
    """Hidden means of a block (the next layer's data), computed on the block's worker."""
    W = params["components_"]
    log_var = params.get("log_variance_")
    v = block if log_var is None else block / np.exp(0.5 * log_var)
    pre = v @ np.ascontiguousarray(W.T)
    hidden_units(pre, params["intercept_hidden_"], hidden_unit, None, pre, pre, sample=False)
    return pre


def pretrain(
    client,
    dbn,
    X,
    *,
    sync_every=1,
    batch_size=None,
    n_shards=None,
    callbacks=None,
    checkpoint_dir=None,
):
    """Pretrain a DBN greedily on a dask cluster: every layer with :func:`fit_rbm`'s algorithm.

    Layer 1 trains on the shards of ``X``; layer ``k + 1`` on ``layer_k.transform`` of each shard,
    computed on the shard's worker and never collected. The features of a finished layer are
    released once the next layer's are computed.

    Parameters
    ----------
    client : distributed.Client or None
    dbn : dbn.DBN
        Its layers' hyperparameters define the training; fitted in place.
    X : dask.array.Array or array-like of shape (n_samples, n_features)
    sync_every, batch_size, n_shards
        As for :func:`fit_rbm` (``batch_size`` is the per-shard minibatch of every layer).
    callbacks : callable, dbn.Callback or list of them, optional
        Called as ``callback(dbn, epoch, logs)`` after every epoch of every layer, ``logs["layer"]``
        the 0-based layer index; a truthy return ends the current layer.
    checkpoint_dir : str or os.PathLike, optional
        One checkpoint per layer (``layer<i>/``); calling again resumes: finished layers are loaded,
        the unfinished one continues from its last epoch.

    Returns
    -------
    dbn
        With ``layers_``, ``n_features_in_`` and ``pretrain_time_``, as after ``pretrain``.

    References
    ----------
    Hinton, G. E., Osindero, S., & Teh, Y.-W. (2006). A fast learning algorithm for deep belief
    nets. Neural Computation 18(7).
    Zhang, K., & Chen, X.-W. (2014). Large-scale deep belief nets with MapReduce.
    """
    from .stack import DBN

    if not isinstance(dbn, DBN):
        raise TypeError(f"dbn must be a dbn.DBN, got {type(dbn).__name__}.")
    client = _client(client)
    sync_every = _check_sync_every(sync_every)
    callbacks = CallbackList(callbacks)
    layers = dbn.make_layers()
    for rbm in layers:  # every layer's options, before the first trains
        _check_options(rbm, "cluster")
    shards = _shard(client, X, n_shards)
    dbn.n_features_in_ = shards.n_features
    dbn.layers_, dbn.pretrain_time_ = [], []
    data = shards
    for i, rbm in enumerate(layers):
        start = time.perf_counter()
        folder = None if checkpoint_dir is None else Path(checkpoint_dir) / f"layer{i}"
        layer_callback = _LayerCallbacks(dbn, i, callbacks)
        _train_rbm(
            client,
            rbm,
            data,
            sync_every,
            batch_size,
            CallbackList([layer_callback]),
            folder,
            name="X" if i == 0 else f"the features of layer {i}",
        )
        dbn.layers_.append(rbm)
        dbn.pretrain_time_.append(time.perf_counter() - start)
        if rbm.n_epochs_ < rbm.n_iter and not layer_callback.stopped:
            break
        if i + 1 < len(layers):
            params = {name: getattr(rbm, name) for name in _parameter_names(rbm)}
            params_future = client.submit(_identity, params, key=f"dbn-layer{i}-{uuid.uuid4().hex}")
            futures = data.map(
                client, _rbm_features, params_future, rbm.hidden_unit,
                key=f"dbn-features{i + 1}-{uuid.uuid4().hex[:12]}",
            )  # fmt: skip
            # The previous layer's data are released when ``data`` is replaced (dask frees them).
            data = _Shards(futures, data.workers, data.n_rows, rbm.n_components, data.dtype)
    return dbn


def _parameter_names(rbm):
    names = ["components_", "intercept_hidden_", "intercept_visible_"]
    if getattr(rbm, "log_variance_", None) is not None:
        names.append("log_variance_")
    return names


class _LayerCallbacks:
    """A layer's callback: the DBN's callbacks with ``logs["layer"]``, as ``DBN.pretrain`` does."""

    def __init__(self, dbn, layer, callbacks):
        self.dbn, self.layer, self.callbacks = dbn, layer, callbacks
        self.stopped = False

    def __call__(self, rbm, epoch, logs):
        stop = self.callbacks.on_epoch_end(self.dbn, epoch, dict(logs, layer=self.layer))
        self.stopped = self.stopped or bool(stop)
        return stop


# --------------------------------------------------------------------------------------------------
# Blockwise outputs
# --------------------------------------------------------------------------------------------------


def _blockwise(model, X, method, n_out, dtype, name):
    da, _ = _dask()
    import dask

    X = _as_dask_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    X = X.rechunk({1: -1})
    # One copy of the model in the graph, shared by every block's task.
    model_key = dask.delayed(model, pure=True)

    def apply(block, model):
        return getattr(model, method)(block)

    # ``meta`` spares dask a trial call of the model on an empty block.
    if n_out is None:
        meta = np.empty((0,), dtype)
        return X.map_blocks(apply, model_key, drop_axis=1, dtype=dtype, meta=meta, token=name)
    meta = np.empty((0, n_out), dtype)
    chunks = (X.chunks[0], (n_out,))
    return X.map_blocks(apply, model_key, chunks=chunks, dtype=dtype, meta=meta, token=name)


def _model_dtype(model):
    for attribute in ("components_", "coefs_", "layers_"):
        value = getattr(model, attribute, None)
        if value is None:
            continue
        if attribute == "layers_":
            return value[0].components_.dtype
        if attribute == "coefs_":
            return value[0].dtype
        return value.dtype
    return np.dtype(np.float64)


def transform(model, X):
    """``model.transform`` of each block of ``X``, on the workers; a lazy dask array.

    Parameters
    ----------
    model : fitted dbn.BernoulliRBM, dbn.GaussianBernoulliRBM or dbn.DBN (anything with
        ``transform`` and ``n_components`` or ``layers_``)
    X : dask.array.Array of shape (n_samples, n_features)

    Returns
    -------
    dask.array.Array of shape (n_samples, n_components)
    """
    if hasattr(model, "layers_"):
        n_out = model.layers_[-1].n_components
    else:
        check_is_fitted(model, "components_")
        n_out = model.n_components
    return _blockwise(model, X, "transform", n_out, _model_dtype(model), "dbn-transform")


def predict(model, X):
    """``model.predict`` of each block of ``X`` on the workers; a lazy 1-D (or 2-D) dask array."""
    check_is_fitted(model, "coefs_")
    n_outputs = getattr(model, "n_outputs_", 1)
    if hasattr(model, "classes_"):
        return _blockwise(model, X, "predict", None, model.classes_.dtype, "dbn-predict")
    if n_outputs == 1:
        return _blockwise(model, X, "predict", None, _model_dtype(model), "dbn-predict")
    return _blockwise(model, X, "predict", n_outputs, _model_dtype(model), "dbn-predict")


def predict_proba(model, X):
    """``model.predict_proba`` of each block of ``X`` on the workers; a lazy dask array."""
    check_is_fitted(model, "classes_")
    return _blockwise(
        model, X, "predict_proba", len(model.classes_), _model_dtype(model), "dbn-predict-proba"
    )


def score(model, X, y=None):
    """The model's score on dask input, reduced on the workers; a 0-d dask array.

    - classifiers: accuracy (mean of ``predict(X) == y``);
    - regressors: the coefficient of determination R^2 (one pass for the sums);
    - RBMs: the mean pseudo-log-likelihood of the rows (``score_samples``).
    """
    da, _ = _dask()
    if hasattr(model, "coefs_"):
        if y is None:
            raise ValueError("y is required to score a classifier or regressor, got None.")
        y = _as_dask_array(y, "y")
        X = _as_dask_array(X, "X")
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X and y must have the same number of rows, got {X.shape[0]} and {y.shape[0]}."
            )
        y = y.rechunk({0: X.chunks[0]})
        y_pred = predict(model, X)
        if hasattr(model, "classes_"):
            return (y_pred == y).mean()
        y = y.astype(np.float64)
        residual = ((y - y_pred) ** 2).sum()
        total = ((y - y.mean(axis=0)) ** 2).sum()
        return 1.0 - residual / total
    check_is_fitted(model, "components_")
    return _blockwise(
        model, X, "score_samples", None, _model_dtype(model), "dbn-score-samples"
    ).mean()


# --------------------------------------------------------------------------------------------------
# Out-of-core pretraining on one machine
# --------------------------------------------------------------------------------------------------

# Bytes of input per chunk when ``chunk_size`` is not given: small next to any machine's memory, large
# enough that reading a chunk costs little next to training on it.
_CHUNK_BYTES = 32 * 2**20


class _RowSource:
    """Rows of a 2-D array read one block at a time, without holding (or mapping) the whole array.

    ``.npy`` files, and ``np.memmap`` arrays over a whole file, are read with plain file reads, so
    that neither the resident memory nor the address space of the process grows with the data;
    dask arrays are computed block by block with the synchronous scheduler; anything else that
    slices like an array (an ndarray, a zarr or h5py array) is sliced.
    """

    def __init__(self, X, name):
        self.name = name
        self.path = self.offset = self.array = None
        self.is_dask = False
        if isinstance(X, str | os.PathLike):
            self._open_npy(Path(X))
        elif isinstance(X, np.memmap) and _whole_file_memmap(X):
            self.path, self.offset = Path(X.filename), int(X.offset)
            self.shape, self.stored_dtype = tuple(X.shape), X.dtype
        elif hasattr(X, "shape") and hasattr(X, "dtype") and hasattr(X, "__getitem__"):
            self.array = X
            self.shape, self.stored_dtype = tuple(X.shape), np.dtype(X.dtype)
            self.is_dask = type(X).__module__.startswith("dask.")
        else:
            raise TypeError(
                f"{name} must be a path to a .npy file, an np.memmap, a dask array or an array "
                f"that slices by rows (zarr, h5py, ndarray), got {type(X).__name__}."
            )
        if len(self.shape) != 2 or self.shape[0] < 1:
            raise ValueError(
                f"{name} must be 2-D (n_samples, n_features) with at least one row, got shape "
                f"{self.shape}."
            )
        if not np.issubdtype(self.stored_dtype, np.number):
            raise TypeError(f"{name} must hold numbers, got dtype {self.stored_dtype}.")

    def _open_npy(self, path):
        if path.suffix != ".npy" or not path.is_file():
            raise ValueError(f"X must name an existing .npy file, got {str(path)!r}.")
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(handle)
            offset = handle.tell()
        if fortran:
            raise ValueError(
                f"{path} stores a Fortran-ordered array; rows cannot be read one block at a time. "
                "Save it C-ordered (np.ascontiguousarray)."
            )
        self.path, self.offset = path, offset
        self.shape, self.stored_dtype = tuple(shape), np.dtype(dtype)

    @property
    def n_rows(self):
        return self.shape[0]

    def read(self, start, stop, dtype):
        """Rows ``start:stop`` as a new C-contiguous array of ``dtype``."""
        if self.path is not None:
            n_features = self.shape[1]
            with open(self.path, "rb") as handle:
                handle.seek(self.offset + start * n_features * self.stored_dtype.itemsize)
                block = np.fromfile(handle, self.stored_dtype, (stop - start) * n_features)
            block = block.reshape(stop - start, n_features)
        elif self.is_dask:
            block = np.asarray(self.array[start:stop].compute(scheduler="synchronous"))
        else:
            block = np.asarray(self.array[start:stop])
        if hasattr(block, "toarray"):
            block = block.toarray()
        return np.ascontiguousarray(block, dtype=dtype)


def _whole_file_memmap(X):
    import mmap

    return (
        X.filename is not None
        and isinstance(X.base, mmap.mmap)
        and X.flags.c_contiguous
        and X.ndim == 2
    )


class _NpyWriter:
    """Append row blocks to a new ``.npy`` file (the header first; the file is never mapped)."""

    def __init__(self, path, shape, dtype):
        self.path = Path(path)
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.rows = 0
        self.handle = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        np.lib.format.write_array_header_2_0(self.handle, header)

    def write(self, block):
        block = np.ascontiguousarray(block, dtype=self.dtype)
        self.handle.write(memoryview(block).cast("B"))
        self.rows += block.shape[0]

    def close(self):
        self.handle.close()
        if self.rows != self.shape[0]:
            raise RuntimeError(f"{self.path}: wrote {self.rows} rows, expected {self.shape[0]}.")


def _chunk_starts(n_rows, chunk_rows):
    return list(range(0, n_rows, chunk_rows))


def _stream_summary(source, chunk_rows, dtype, value_range):
    """One pass over the chunks: column means, and the checks ``check_array`` does in memory."""
    total = np.zeros(source.shape[1], np.float64)
    low, high = np.inf, -np.inf
    for start in _chunk_starts(source.n_rows, chunk_rows):
        block = source.read(start, min(start + chunk_rows, source.n_rows), dtype)
        if not np.isfinite(block).all():
            raise ValueError(f"{source.name} contains NaN or infinity (rows {start} onwards).")
        low, high = min(low, float(block.min())), max(high, float(block.max()))
        total += block.sum(axis=0, dtype=np.float64)
    if value_range is not None and (low < value_range[0] or high > value_range[1]):
        raise ValueError(
            f"{source.name} must lie in [{value_range[0]:g}, {value_range[1]:g}] for Bernoulli "
            f"visible units, got values in [{low:g}, {high:g}]."
        )
    return total / source.n_rows


class _OutOfCoreRBM(EpochTrainer):
    """Epochs of CD over a :class:`_RowSource`, one chunk in memory at a time.

    Each epoch visits the chunks in a random order and the rows of each chunk in a random order
    (the whole data set is never shuffled at once: a standard approximation of a full shuffle for
    data on disk, exact when there is one chunk).
    """

    def __init__(self, rbm, source, chunk_rows, dtype, params, mean, rng):
        self.rbm, self.source, self.chunk_rows, self.dtype = rbm, source, chunk_rows, dtype
        self.config = _rbm_config(rbm, rbm.batch_size, path="out of core")
        self.cd = ContrastiveDivergence(params, **self.config)
        self.rng = rng
        n_monitor = min(rbm.monitor_size, source.n_rows)
        self.monitor = source.read(0, n_monitor, dtype) if n_monitor else None
        if self.cd.persistent:
            first = source.read(0, min(chunk_rows, source.n_rows), dtype)
            self.cd.start_chains(first, rng)
        if self.cd.centering:
            # The offsets an in-process fit starts from: the data's mean, and the hidden means of
            # its first rows.
            first = source.read(0, min(OFFSET_ROWS, source.n_rows), dtype)
            self.cd.start_offsets(first, visible_mean=mean)

    def run_epoch(self, epoch):
        rbm, cd, rng = self.rbm, self.cd, self.rng
        lr, momentum = rbm.schedule(epoch)
        starts = _chunk_starts(self.source.n_rows, self.chunk_rows)
        if rbm.shuffle:
            starts = [starts[i] for i in rng.permutation(len(starts))]
        for start in starts:
            block = self.source.read(start, min(start + self.chunk_rows, self.source.n_rows),
                                     self.dtype)  # fmt: skip
            order = rng.permutation(block.shape[0]) if rbm.shuffle else np.arange(block.shape[0])
            diverged = cd.run_epoch(block, order, lr, momentum, rng)
            del block
            if diverged:
                raise DivergenceError(
                    f"{type(rbm).__name__} diverged in epoch {epoch + 1} (rows {start} onwards): "
                    f"the weights became NaN or inf. Use a smaller learning_rate (got {lr:g}) or "
                    f"momentum; the model keeps the parameters of the last completed epoch "
                    f"({epoch})."
                )
        logs = {"learning_rate": lr, "momentum": momentum}
        if self.monitor is not None:
            error, count = _rbm_monitor(cd.parameters, self.monitor, self.config, len(self.monitor))
            logs["reconstruction_error"] = error / count
        return logs

    def snapshot(self):
        params = {name: p.copy(order="K") for name, p in self.cd.parameters.items()}
        return params, self.cd.get_state(), self.rng.bit_generator.state

    def restore(self, snapshot):
        params, state, rng_state = snapshot
        for name, value in params.items():
            self.cd.parameters[name][...] = value
        self.cd.set_state(state)
        self.rng.bit_generator.state = rng_state


def pretrain_out_of_core(dbn, X, *, chunk_size=None, feature_dir=None, dtype=None, callbacks=None):
    """Pretrain a DBN on an on-disk array larger than memory, one chunk of rows at a time.

    Every layer trains with its own CD step (:class:`dbn._cd.ContrastiveDivergence` built from the
    layer's ``cd_config()``, every option honoured as by ``fit``) over chunks of
    ``chunk_size`` rows read from disk (chunks in a random order each epoch, rows shuffled within
    each chunk); the features of layer ``k`` are computed chunk by chunk and appended to a ``.npy``
    file, from which layer ``k + 1`` reads in turn. Neither the data nor any layer's features are
    ever held whole, and ``.npy`` files and whole-file ``np.memmap`` arrays are read with plain file
    reads, so the process's memory (and even its address space) is bounded by the chunk size and
    the model, not by the data: ``benchmarks/bench_dask.py`` and the test suite run it in a process
    whose address space is capped below the size of its data.

    Needs neither dask nor a cluster (a dask array input is computed chunk by chunk in this
    process).

    Parameters
    ----------
    dbn : dbn.DBN
        Its layers' hyperparameters define the training; fitted in place.
    X : str or os.PathLike (a ``.npy`` file), np.memmap, dask.array.Array, or an array that slices
        by rows (zarr, h5py, ndarray) of shape (n_samples, n_features)
        In [0, 1] for Bernoulli visible units; never modified.
    chunk_size : int, optional
        Rows per chunk; by default about 32 MiB of the widest layer input, a multiple of the
        largest ``batch_size``.
    feature_dir : str or os.PathLike, optional
        Folder for the layers' feature files (``layer<k>.npy``, kept); by default a temporary
        folder, removed at the end. Needs ``n_samples * n_hidden * itemsize`` bytes per layer.
    dtype : {numpy.float32, numpy.float64}, optional
        Dtype of the model; by default that of ``X`` if it is a float, else float64.
    callbacks : callable, dbn.Callback or list of them, optional
        Called as ``callback(dbn, epoch, logs)`` after every epoch of every layer, with
        ``logs["layer"]``; a truthy return ends the current layer.

    Returns
    -------
    dbn
        With ``layers_``, ``n_features_in_`` and ``pretrain_time_``.

    References
    ----------
    Hinton, G. E., Osindero, S., & Teh, Y.-W. (2006). A fast learning algorithm for deep belief
    nets. Neural Computation 18(7).
    Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines.
    """
    from .stack import DBN

    if not isinstance(dbn, DBN):
        raise TypeError(f"dbn must be a dbn.DBN, got {type(dbn).__name__}.")
    source = _RowSource(X, "X")
    if dtype is None:
        dtype = _float_dtype(source.stored_dtype)
    elif np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}.")
    dtype = np.dtype(dtype)
    layers = dbn.make_layers()
    for rbm in layers:  # every layer's options, before the first trains
        _check_options(rbm, "out of core")
    widest = max([source.shape[1]] + [rbm.n_components for rbm in layers[:-1]])
    batch = max(rbm.batch_size for rbm in layers)
    if chunk_size is None:
        chunk_rows = max(1, _CHUNK_BYTES // (widest * dtype.itemsize) // batch) * batch
    else:
        check_scalar(chunk_size, "chunk_size", kind=numbers.Integral, low=1)
        chunk_rows = int(chunk_size)
    chunk_rows = min(chunk_rows, source.n_rows)
    callbacks = CallbackList(callbacks)
    temporary = None
    if feature_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="dbn-features-")
        folder = Path(temporary.name)
    else:
        if not isinstance(feature_dir, str | os.PathLike):
            raise TypeError(
                f"feature_dir must be a str or os.PathLike naming a folder, got "
                f"{type(feature_dir).__name__}."
            )
        folder = Path(feature_dir)
        folder.mkdir(parents=True, exist_ok=True)
    dbn.n_features_in_ = source.shape[1]
    dbn.layers_, dbn.pretrain_time_ = [], []
    try:
        for i, rbm in enumerate(layers):
            start = time.perf_counter()
            if rbm.batch_size > source.n_rows:
                raise ValueError(
                    f"batch_size={rbm.batch_size} of layer {i} is larger than the number of "
                    f"samples ({source.n_rows})."
                )
            gaussian = _gaussian_visible(rbm)
            mean = _stream_summary(source, chunk_rows, dtype, None if gaussian else (0.0, 1.0))
            params = _initial_rbm_parameters(rbm, mean, dtype)
            rng = np.random.default_rng(_shard_seeds(rbm.random_state, 1)[0])
            trainer = _OutOfCoreRBM(rbm, source, chunk_rows, dtype, params, mean, rng)
            history = {key: [] for key in rbm.history_keys}
            layer_callback = _LayerCallbacks(dbn, i, callbacks)
            if i == 0:
                callbacks.on_train_begin(dbn)

            def publish(n_epochs, trainer=trainer, history=history, rbm=rbm, n=source.shape[1]):
                _set_rbm(
                    rbm, trainer.cd.parameters, n, n_epochs, history,
                    trainer.cd.get_state(),
                )  # fmt: skip

            run_epochs(
                rbm,
                _Publishing(trainer, publish),
                range(rbm.n_iter),
                history=history,
                callbacks=CallbackList([layer_callback]),
                progress=f"{type(rbm).__name__}({rbm.n_components}) out of core",
                progress_key="reconstruction_error",
                verbose=rbm.verbose,
            )
            publish(len(history["epoch"]))
            del trainer
            dbn.layers_.append(rbm)
            dbn.pretrain_time_.append(time.perf_counter() - start)
            if rbm.n_epochs_ < rbm.n_iter and not layer_callback.stopped:
                break  # interrupted: the loop has warned; the finished layers are kept
            if i + 1 < len(layers):
                source = _write_features(
                    rbm, source, chunk_rows, dtype, folder / f"layer{i + 1}.npy"
                )
    finally:
        callbacks.on_train_end(dbn)
        if temporary is not None:
            temporary.cleanup()
    return dbn


def _write_features(rbm, source, chunk_rows, dtype, path):
    """``rbm``'s hidden means of every row of ``source``, appended to ``path`` chunk by chunk."""
    params = {name: getattr(rbm, name) for name in _parameter_names(rbm)}
    writer = _NpyWriter(path, (source.n_rows, rbm.n_components), dtype)
    try:
        for start in _chunk_starts(source.n_rows, chunk_rows):
            block = source.read(start, min(start + chunk_rows, source.n_rows), dtype)
            writer.write(_rbm_features(block, params, rbm.hidden_unit))
    finally:
        writer.close()
    previous = source.path
    new = _RowSource(path, f"the features of layer {path.stem[len('layer') :]}")
    if (
        previous is not None
        and previous.parent == path.parent
        and previous.name.startswith("layer")
    ):
        previous.unlink(missing_ok=True)  # the layer below is trained: its input is not needed
    return new


# --------------------------------------------------------------------------------------------------
# MLP fine-tuning on the cluster
# --------------------------------------------------------------------------------------------------


def _pair_block(X_block, y_block, dtype):
    return _block(X_block, dtype), np.asarray(y_block)


def _shard_pairs(client, X, y, n_shards):
    """Row blocks of ``(X, y)``, each pair computed and kept on one worker."""
    import dask

    X, y = _as_dask_array(X, "X"), _as_dask_array(y, "y")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and y must have the same number of rows, got {X.shape[0]} and {y.shape[0]}."
        )
    slots = _worker_slots(client)
    n_shards = len(slots) if n_shards is None else n_shards
    check_scalar(n_shards, "n_shards", kind=numbers.Integral, low=1)
    rows = math.ceil(X.shape[0] / min(int(n_shards), X.shape[0]))
    X = X.rechunk({0: rows, 1: -1})
    y = y.rechunk({0: rows} if y.ndim == 1 else {0: rows, 1: -1})
    dtype = _float_dtype(X.dtype)
    token = uuid.uuid4().hex[:12]
    futures, workers = [], []
    for i, (xb, yb) in enumerate(zip(X.to_delayed().ravel(), y.to_delayed().ravel(), strict=True)):
        task = dask.delayed(_pair_block)(xb, yb, dtype, dask_key_name=f"dbn-pairs-{token}-{i}")
        worker = slots[i % len(slots)]
        futures.append(client.compute(task, workers=[worker], allow_other_workers=True))
        workers.append(worker)
    return _Shards(futures, workers, X.chunks[0], X.shape[1], dtype)


def _labels_and_sample(pair, n_sample, classify):
    """The block's labels (classifiers) and its first ``n_sample`` rows, for the initialisation."""
    X_block, y_block = pair
    return (np.unique(y_block) if classify else None), (X_block[:n_sample], y_block[:n_sample])


def _mlp_round(previous, params, pair, spec, plan):
    """``plan["n_steps"]`` minibatch steps of SGD or Adam on a shard; returns ``(state, parts)``.

    Pure, like :func:`_rbm_round`: the shard's optimiser state (velocity, or Adam's moments and
    step count), random stream and shuffled order travel in ``state``.
    """
    from types import SimpleNamespace

    from ._backprop import Net, Propagation, minibatch_epoch, views
    from ._training.optimizers import make_optimizer

    state = dict(previous[0] if isinstance(previous, tuple) else previous)
    flat = _average(*params)["flat"] if isinstance(params, list) else params["flat"].copy()
    X, y = pair
    sizes = spec["sizes"]
    coefs, intercepts = views(flat, sizes)
    net = Net(flat, coefs, intercepts, spec["kinds"], spec["loss"], spec["alpha"])
    optimizer_state = {
        k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state["optimizer"].items()
    }
    optimizer = make_optimizer(
        spec["solver"], SimpleNamespace(**spec["optimizer"]), optimizer_state
    )
    optimizer.init(flat)
    rng = _generator(state)
    n_rows = X.shape[0]
    if state.get("epoch") != plan["epoch"]:
        state["loss_sum"], state["loss_rows"] = 0.0, 0
    _start_epoch(state, n_rows, plan["epoch"], plan["shuffle"], rng)
    batch = spec["batch_size"]
    rows = _rows_of_round(state, n_rows, batch, plan["first_step"], plan["n_steps"])
    if len(rows):
        prop = Propagation(
            sizes, batch, flat.dtype, dropout_input=spec["dropout"][0],
            dropout_hidden=spec["dropout"][1],
        )  # fmt: skip
        X_batch = np.empty((batch, X.shape[1]), flat.dtype)
        y_batch = np.empty((batch, *y.shape[1:]), y.dtype)
        # The round's rows, shuffled again inside by minibatch_epoch (which permutes its input).
        loss = minibatch_epoch(
            net, X[rows], y[rows], prop, X_batch, y_batch, rng, optimizer, plan["learning_rate"],
            max_norm=spec.get("max_norm"),
        )  # fmt: skip
        state["loss_sum"] += float(loss) * len(rows)
        state["loss_rows"] += len(rows)
    state["optimizer"] = optimizer_state
    state["rng"] = rng.bit_generator.state
    return state, ({"flat": flat}, len(rows))


def _epoch_loss(output):
    state = output[0] if isinstance(output, tuple) else output
    return state.get("loss_sum", 0.0), state.get("loss_rows", 0)


def fit_mlp(client, mlp, X, y, *, sync_every=1, batch_size=None, n_shards=None, callbacks=None):
    """Fine-tune an MLP on dask arrays with data-parallel SGD or Adam on a dask.distributed cluster.

    The rounds are those of :func:`fit_rbm`: each shard runs ``sync_every`` minibatch steps of the
    estimator's optimiser (SGD with classical or Nesterov momentum, or Adam) with its own optimiser
    state, and the flat parameter vectors are averaged. With SGD and ``sync_every=1`` a round is
    one step with the combined minibatch (the update is linear in the gradient); Adam's is not, so
    averaging local Adam steps matches it only to first order.

    Parameters
    ----------
    client : distributed.Client or None
    mlp : dbn.MLPClassifier or dbn.MLPRegressor
        With ``solver="sgd"`` or ``"adam"``; ``max_iter`` epochs, the learning-rate schedule,
        ``alpha``, dropout and ``pretrained_layers`` (for example from ``DBN.to_mlp``) are used as
        by ``fit``. Early stopping, validation sets and CG are not distributed.
    X : dask.array.Array of shape (n_samples, n_features)
    y : dask.array.Array of shape (n_samples,) or (n_samples, n_outputs)
        Labels (classifier) or targets (regressor), chunked or not like ``X``.
    sync_every, batch_size, n_shards, callbacks
        As for :func:`fit_rbm`; ``batch_size`` defaults to ``mlp.batch_size // n_shards``.

    Returns
    -------
    mlp
        Fitted (``coefs_``, ``intercepts_``, ``classes_``, ``history_`` with ``train_loss``,
        ``n_iter_``), plus ``dask_rounds_``. Only a small sample (a few hundred rows) reaches the
        client, for the estimator's data-dependent initialisation (``init="lsuv"``...).

    References
    ----------
    Dean, J. et al. (2012). Large scale distributed deep networks.
    Lin, T. et al. (2020). Don't use large mini-batches, use local SGD.
    """
    from .mlp import MLPClassifier, MLPRegressor

    if not isinstance(mlp, MLPClassifier | MLPRegressor):
        raise TypeError(
            f"mlp must be a dbn.MLPClassifier or MLPRegressor, got {type(mlp).__name__}."
        )
    client = _client(client)
    sync_every = _check_sync_every(sync_every)
    P = mlp.network_spec()
    if P["solver"] not in ("sgd", "adam"):
        raise ValueError(
            f"fit_mlp runs solver='sgd' or 'adam' on the shards, got solver={P['solver']!r} "
            "(conjugate gradient needs the whole minibatch objective in one place)."
        )
    if mlp.early_stopping:
        raise ValueError("early_stopping=True needs a validation split; fit_mlp does not make one.")
    callbacks = CallbackList(callbacks)
    shards = _shard_pairs(client, X, y, n_shards)
    n_sample = max(1, 512 // len(shards))
    classify = isinstance(mlp, MLPClassifier)
    found = client.gather(
        [client.submit(_labels_and_sample, f, n_sample, classify, workers=[w],
                       allow_other_workers=True)
         for f, w in zip(shards.futures, shards.workers, strict=True)]
    )  # fmt: skip
    X_sample = np.concatenate([s[1][0] for s in found])
    y_sample = np.concatenate([s[1][1] for s in found])
    classes = None
    if isinstance(mlp, MLPClassifier):
        classes = np.unique(np.concatenate([s[0] for s in found]))
    # The estimator's own initialisation, on a sample, with the classes of the whole data.
    mlp.initialize(X_sample, y_sample, classes=classes)
    from ._backprop import pack

    flat, _, _ = pack(mlp.coefs_, mlp.intercepts_, P["dtype"])
    sizes = (mlp.coefs_[0].shape[0], *(W.shape[1] for W in mlp.coefs_))
    batch = _per_shard_batch(batch_size, mlp.minibatch_size(shards.n_samples), len(shards),
                             shards.n_rows)  # fmt: skip
    spec = dict(
        sizes=sizes,
        kinds=P["kinds"],
        loss=P["loss"],
        alpha=float(mlp.alpha),
        solver=P["solver"],
        optimizer=dict(
            momentum=mlp.momentum,
            nesterovs_momentum=mlp.nesterovs_momentum,
            beta_1=mlp.beta_1,
            beta_2=mlp.beta_2,
            epsilon=mlp.epsilon,
            cg_max_line_searches=1,
        ),
        batch_size=batch,
        dropout=P["dropout"],
        max_norm=P["max_norm"],
    )
    # Labels as the estimator encodes them (class indices, or float targets), on the workers.
    encode = _label_encoder(mlp, P)
    shards.futures = [
        client.submit(encode, f, workers=[w], allow_other_workers=True)
        for f, w in zip(shards.futures, shards.workers, strict=True)
    ]
    token = uuid.uuid4().hex[:12]
    seeds = _shard_seeds(mlp.random_state, len(shards))
    states = [
        client.submit(_identity, dict(_initial_shard_state(seed), optimizer={}),
                      key=f"dbn-mlp-{token}-state-{i}", workers=[w], allow_other_workers=True)
        for i, (seed, w) in enumerate(zip(seeds, shards.workers, strict=True))
    ]  # fmt: skip
    trainer = _DistributedMLP(client, mlp, shards, spec, sync_every, flat, states, token)
    callbacks.on_train_begin(mlp)
    try:
        run_epochs(
            mlp,
            trainer,
            range(0, mlp.max_iter),
            history=mlp.history_,
            callbacks=callbacks,
            cumulative_time=True,
        )
    finally:
        trainer.publish()
        callbacks.on_train_end(mlp)
    return mlp


def _label_encoder(mlp, P):
    classes = getattr(mlp, "classes_", None)
    dtype = P["dtype"]

    def encode(pair):
        X_block, y_block = pair
        if classes is not None:
            return X_block, np.searchsorted(classes, y_block).astype(np.int64)
        y_block = np.asarray(y_block, dtype=dtype)
        return X_block, y_block.reshape(len(y_block), -1)

    return encode


class _DistributedMLP(EpochTrainer):
    """Epochs of data-parallel SGD / Adam, as :func:`run_epochs` drives them."""

    def __init__(self, client, mlp, shards, spec, sync_every, flat, states, token):
        self.client, self.mlp, self.shards, self.spec = client, mlp, shards, spec
        self.flat = flat
        self.params_future = client.submit(_identity, {"flat": flat}, key=f"dbn-mlp-{token}-start")
        self.states, self.token = states, token
        self.plans = _round_plans(shards.n_rows, spec["batch_size"], sync_every)
        self.rounds = 0

    def run_epoch(self, epoch):
        client, shards = self.client, self.shards
        lr = self.mlp.learning_rate_at(epoch)
        params, states = self.params_future, list(self.states)
        prefix = f"dbn-mlp-{self.token}-e{epoch}"
        plan = dict(epoch=epoch, learning_rate=lr, shuffle=True)
        params, states = _submit_rounds(
            client, shards, _mlp_round, states, params, self.spec, self.plans, plan, prefix
        )
        losses = [client.submit(_epoch_loss, s, key=f"{prefix}-loss-{i}") for i, s in
                  enumerate(states)]  # fmt: skip
        try:
            values, losses = client.gather([params, losses])
        except Exception as error:  # noqa: BLE001 - any failure dask could not recover from
            raise _training_error(self.mlp, epoch, error) from error
        loss = sum(s for s, _ in losses) / max(sum(n for _, n in losses), 1)
        if not np.isfinite(loss) or not np.isfinite(values["flat"]).all():
            raise DivergenceError(
                f"{type(self.mlp).__name__} diverged in epoch {epoch + 1} on the cluster. Try a "
                f"smaller learning_rate_init (currently {self.mlp.learning_rate_init!r})."
            )
        self.flat, self.params_future, self.states = values["flat"], params, states
        self.rounds += len(self.plans)
        return {"train_loss": float(loss), "learning_rate": lr}

    def snapshot(self):
        return self.flat, self.params_future, list(self.states)

    def restore(self, snapshot):
        self.flat, self.params_future, self.states = snapshot[0], snapshot[1], list(snapshot[2])

    def epoch_completed(self, completed, logs):
        self.mlp.n_iter_ = completed
        self.publish()

    def publish(self):
        from ._backprop import pack, views

        coefs, intercepts = views(self.flat, self.spec["sizes"])
        _, self.mlp.coefs_, self.mlp.intercepts_ = pack(coefs, intercepts, self.flat.dtype)
        self.mlp.dask_rounds_ = self.rounds
