"""Data-parallel CD-k / PCD on a dask cluster: :func:`fit_rbm` for one RBM, :func:`pretrain` for
the layers of a DBN (see :mod:`dbn.dask` for the algorithm)."""

from __future__ import annotations

import math
import os
import time
import uuid
from pathlib import Path

import numpy as np

from .. import io
from .._cd import OFFSET_ROWS, SHARED_STATE, ContrastiveDivergence, merge_states
from .._drivers import (
    LayerCallbacks,
    Publishing,
    check_options,
    gaussian_visible,
    initial_rbm_parameters,
    parameter_names,
    rbm_config,
    rbm_features,
    rbm_monitor,
    set_rbm,
    shard_seeds,
    warn_if_unscaled,
)
from .._rbm_trainer import raise_if_blown_up, report_epoch, warn_if_collapsed
from .._training.callbacks import CallbackList, zero_based_adapter
from .._training.checkpoint import CheckpointFile, as_json
from .._training.loop import EpochTrainer, run_epochs
from .._validation import DivergenceError
from ._shards import (
    Shards,
    average,
    check_sync_every,
    generator_from_state,
    identity,
    initial_shard_state,
    per_shard_batch,
    resolve_client,
    round_plans,
    rows_of_round,
    shard_array,
    start_epoch,
    submit_rounds,
    summarise,
    training_error,
)

__all__ = ["fit_rbm", "pretrain"]


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
        Bernoulli visible units; other values are used as given, with the
        :class:`dbn.DataRangeWarning` of an in-process fit.
    sync_every : int, default=1
        Local minibatch steps each shard takes between two parameter averages. 1 is exactly
        synchronous data-parallel CD (one round = one step on the combined minibatch); larger
        values trade model quality for less per-round overhead.
    batch_size : int, optional
        Rows of each shard's minibatch; default ``rbm.batch_size // n_shards``, so that the combined
        minibatch equals the in-process one.
    n_shards : int, optional
        Number of row blocks trained in parallel; default one per worker thread, or, when
        ``checkpoint_dir`` holds a checkpoint to resume, the checkpoint's (a cluster that lost a
        worker since still resumes exactly: shards share the workers left).
    callbacks : callable, dbn.Callback or list of them, optional
        Called after every epoch, as by ``rbm.fit``: ``Callback.on_epoch_end(rbm, epoch, logs)``
        with ``epoch`` counted from 1, a plain function ``callback(rbm, epoch, logs)`` with the
        0-based epoch index (deprecated, with a DeprecationWarning); ``on_train_begin`` and
        ``on_train_end`` around the training. A truthy return stops training.
    checkpoint_dir : str or os.PathLike, optional
        Write the full training state (parameters and every shard's chains, velocities, random
        stream and shuffled order) there after every epoch; calling again with the same folder
        resumes from it and gives the same weights as an uninterrupted run.

    Returns
    -------
    rbm
        Fitted: ``components_``, ``intercept_hidden_``, ``intercept_visible_``, ``history_`` (one
        row per epoch, reconstruction error on ``monitor_size`` rows spread over the shards),
        ``n_iter_``; and ``dask_rounds_``, the number of rounds run. At the end it holds the
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
    client = resolve_client(client)
    sync_every = check_sync_every(sync_every)
    _check_rbm(rbm, "rbm")
    rbm.validate_params()
    check_options(rbm, "cluster")
    callbacks = CallbackList(callbacks, adapt_function=zero_based_adapter(type(rbm).__name__))
    if n_shards is None and checkpoint_dir is not None:
        n_shards = _checkpointed_shards(checkpoint_dir)
    shards = shard_array(client, X, n_shards)
    callbacks.on_train_begin(rbm)
    try:
        run = _train_rbm(client, rbm, shards, sync_every, batch_size, callbacks, checkpoint_dir)
    finally:
        callbacks.on_train_end(rbm)
    _warn_if_collapsed(client, rbm, shards, run)
    return rbm


#: The file ``fit_rbm`` checkpoints to, in ``checkpoint_dir``.
RBM_CHECKPOINT = "dask-rbm-checkpoint.safetensors"


def layer_checkpoint_dir(checkpoint_dir, layer):
    """The folder of :func:`pretrain`'s checkpoint of the 0-based ``layer``."""
    return Path(checkpoint_dir) / f"layer{layer}"


def _checkpointed_shards(checkpoint_dir, layer=None):
    """The shard count of the checkpoint ``fit_rbm`` would resume from ``checkpoint_dir`` (with
    ``layer``, that of :func:`pretrain`'s layer ``layer``, whose layers share one split); None
    when there is none. Resuming exactly needs the same split of the rows, while the default
    count follows the workers alive now: after a worker died, the cluster can be smaller until
    its nanny restarts it. The checkpoint's own checks (its kind, parameters and data) come
    later, when the run loads it."""
    if not isinstance(checkpoint_dir, str | os.PathLike):
        return None  # CheckpointFile names the bad argument
    folder = Path(checkpoint_dir) if layer is None else layer_checkpoint_dir(checkpoint_dir, layer)
    path = folder / RBM_CHECKPOINT
    if not path.exists():
        return None
    return io.load_header(path)["params"].get("n_shards")


def _check_rbm(rbm, name):
    from ..rbm import BernoulliRBM, GaussianBernoulliRBM

    if not isinstance(rbm, BernoulliRBM | GaussianBernoulliRBM):
        raise TypeError(
            f"{name} must be a dbn.BernoulliRBM or dbn.GaussianBernoulliRBM, got "
            f"{type(rbm).__name__}."
        )


def _train_rbm(
    client, rbm, shards, sync_every, batch_size, callbacks, checkpoint_dir, name="X", label=None
):
    """Train ``rbm`` on ``shards``; returns the loop's result (None when a finished checkpoint
    left nothing to train) and the epoch it started from. The caller calls the callbacks' ``on_train_begin`` / ``on_train_end``
    (a DBN's once around its layers)."""
    gaussian = gaussian_visible(rbm)
    mean, std, fingerprint = summarise(client, shards, name, None if gaussian else (0.0, 1.0))
    warn_if_unscaled(rbm, std, name, in_dbn=label is not None)
    from ..stack import resolve_auto_centering, resolve_auto_epochs  # (stack imports us)

    resolve_auto_centering(rbm, mean)  # a DBN layer with centering="auto"
    resolve_auto_epochs(rbm, shards.n_rows)  # and n_iter="auto"
    batch = per_shard_batch(batch_size, rbm.batch_size, len(shards), shards.n_rows)
    config = rbm_config(rbm, batch, len(shards))
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = CheckpointFile(
            checkpoint_dir,
            RBM_CHECKPOINT,
            f"dask-{type(rbm).__name__}-checkpoint",
            {},
        )
        checkpoint.data = {name: fingerprint}
    run_params = dict(
        rbm._header_params(),
        sync_every=sync_every,
        shard_batch_size=batch,
        n_shards=len(shards),
    )
    params = initial_rbm_parameters(rbm, mean, shards.dtype)
    if config["centering"]:
        params.update(_initial_offsets(client, shards, params, mean))
    states = [initial_shard_state(seed) for seed in shard_seeds(rbm.random_state, len(shards))]
    history = {key: [] for key in rbm.history_keys}
    start_epoch = 0
    if checkpoint is not None and checkpoint.load(as_json(run_params), owner=type(rbm).__name__):
        arrays, extra = checkpoint.arrays, checkpoint.extra
        params = {n: np.array(arrays[n], order="F" if arrays[n].ndim == 2 else "C") for n in params}
        states = _states_from_arrays(arrays, extra["shards"])
        history = {key: list(extra["history_"].get(key, [])) for key in history}
        # Checkpoints written before n_iter_ (dbn 0.2) store the count as n_epochs_.
        start_epoch = int(extra.get("n_iter_", extra.get("n_epochs_", 0)))
    # The shard states start as plain values in the task graph: recomputable if a worker dies.
    token = uuid.uuid4().hex[:12]
    state_futures = [
        client.submit(identity, state, key=f"dbn-rbm-{token}-state-{i}", workers=[w],
                      allow_other_workers=True)
        for i, (state, w) in enumerate(zip(states, shards.workers, strict=True))
    ]  # fmt: skip
    trainer = _DistributedRBM(client, rbm, shards, config, sync_every, params, state_futures, token)
    trainer.label = type(rbm).__name__ if label is None else label

    def publish(n_epochs, state=None):
        arrays = dict(trainer.params)
        set_rbm(rbm, arrays, shards.n_features, n_epochs, history, state)
        rbm.dask_rounds_ = trainer.rounds

    def save_checkpoint(finished):
        arrays, shard_extra = _state_arrays(trainer.shard_states())
        arrays.update(trainer.params)
        extra = {"n_iter_": len(history["epoch"]), "history_": history, "shards": shard_extra}
        checkpoint.write(as_json(run_params), arrays, extra, finished=finished)

    publish(start_epoch)
    if start_epoch >= rbm.n_iter:
        publish(start_epoch, _merged_state(trainer))
        return None, start_epoch
    state = None
    try:
        result = run_epochs(
            rbm,
            Publishing(trainer, publish),
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
    return result, start_epoch


def _head(block, n_rows):
    return block[:n_rows]


def _warn_if_collapsed(client, rbm, shards, run, *, layer=None, n_layers=None):
    """The collapse check of an in-process fit (:func:`dbn._rbm_trainer.warn_if_collapsed`), on
    the rows the cluster monitored: the first ``monitor_size / n_shards`` of each shard, gathered
    (a few hundred kilobytes). Skipped after an interrupt or when nothing was trained."""
    result, start_epoch = run
    if result is None or result.interrupted or result.completed <= start_epoch:
        return
    n_monitor = math.ceil(rbm.monitor_size / len(shards)) if rbm.monitor_size else 0
    X_monitor, mean_error = None, 0.0
    if n_monitor:
        blocks = client.gather(
            [client.submit(_head, f, n_monitor, workers=[w], allow_other_workers=True)
             for f, w in zip(shards.futures, shards.workers, strict=True)]
        )  # fmt: skip
        X_monitor = np.ascontiguousarray(np.concatenate(blocks), dtype=rbm.components_.dtype)
        mean_error = float(X_monitor.var(axis=0, dtype=np.float64).sum())
    warn_if_collapsed(rbm, X_monitor, mean_error, layer=layer, n_layers=n_layers)


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
        own = average(*params)
    else:
        own = {
            name: np.array(p, order="F" if p.ndim == 2 else "C", copy=True)
            for name, p in params.items()
        }
    # The centring offsets travel (and are averaged) with the parameters: every shard's update
    # must be centred on the same offsets for the average to be the combined minibatch's step.
    shared = {name: own.pop(name) for name in SHARED_STATE if name in own}
    cd = ContrastiveDivergence(own, **config)
    rng = generator_from_state(state)
    if state.get("cd") is not None:
        cd.set_state(state["cd"])
    elif cd.persistent:
        # A new shard, or one whose state was lost with no way to recompute it: chains from data.
        cd.start_chains(block, rng)
    cd.set_shared_state(shared)
    n_rows = block.shape[0]
    start_epoch(state, n_rows, plan["epoch"], plan["shuffle"], rng)
    n_steps = plan["n_steps"]
    rows = rows_of_round(state, n_rows, cd.batch_size, plan["first_step"], n_steps)
    diverged = 0
    if n_steps:
        diverged = cd.run_epoch(block, rows, plan["learning_rate"], plan["momentum"], rng)
    state["cd"] = cd.get_state()
    state["rng"] = rng.bit_generator.state
    state["diverged"] = state.get("diverged") or diverged
    return state, ({**own, **cd.shared_state()}, len(rows))


def _hidden_sum(block, params, n_rows):
    """Column sums (float64) of the hidden means of the block's first ``n_rows`` rows."""
    return rbm_features(block[:n_rows], params, "bernoulli").sum(axis=0, dtype=np.float64)


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
        self.params_future = client.submit(identity, params, key=f"dbn-rbm-{token}-start")
        self.states = states
        self.token = token
        self.plans = round_plans(shards.n_rows, config["batch_size"], sync_every)
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
        params, states = submit_rounds(
            client, shards, _rbm_round, states, params, self.config, self.plans, plan, prefix
        )
        monitors = []
        if self.n_monitor:
            monitors = [
                client.submit(
                    rbm_monitor,
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
            raise training_error(self.rbm, epoch, error) from error
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
            count = max(sum(m[1] for m in monitored), 1)
            logs["reconstruction_error"] = total / count
            squares = sum(m[2] for m in monitored) / count
            raise_if_blown_up(self.label, total / count, squares, epoch, lr, " on the cluster")
        return logs

    def report(self, completed, logs):
        report_epoch(self.label, self.rbm.verbose, logs)

    def snapshot(self):
        return self.params, self.params_future, list(self.states)

    def restore(self, snapshot):
        self.params, self.params_future, self.states = snapshot[0], snapshot[1], list(snapshot[2])

    def shard_states(self):
        """Gather every shard's state (for a checkpoint)."""
        states = self.client.gather(self.states)
        return [s[0] if isinstance(s, tuple) else s for s in states]


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


def _merged_state(trainer):
    """The shards' CD states merged into one (``dbn._cd.merge_states``): the velocities,
    persistent and tempered chains and sparsity activity an in-process fit would leave in the
    model. The centring offsets come with the averaged parameters."""
    states = [s.get("cd") for s in trainer.shard_states()]
    if any(state is None for state in states):
        return None  # no round ran on some shard (a finished checkpoint from before this state)
    merged = merge_states(states, [1] * len(states))
    return {name: value for name, value in merged.items() if name not in SHARED_STATE}


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
        Called as ``callback(dbn, epoch, logs)`` after every epoch of every layer, ``epoch``
        counting the layer's completed epochs from 1 and ``logs["layer"]`` the 0-based layer
        index, as by ``DBN.pretrain``; a truthy return ends the current layer.
        ``on_train_begin(dbn)`` and ``on_train_end(dbn)`` are called once, around all layers.
    checkpoint_dir : str or os.PathLike, optional
        One checkpoint per layer (``layer<i>/``); calling again resumes: finished layers are loaded,
        the unfinished one continues from its last epoch, on the checkpoint's shards unless
        ``n_shards`` says otherwise.

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
    from ..stack import DBN

    if not isinstance(dbn, DBN):
        raise TypeError(f"dbn must be a dbn.DBN, got {type(dbn).__name__}.")
    client = resolve_client(client)
    sync_every = check_sync_every(sync_every)
    callbacks = CallbackList(callbacks)
    if n_shards is None and checkpoint_dir is not None:
        n_shards = _checkpointed_shards(checkpoint_dir, layer=0)  # as fit_rbm
    shards = shard_array(client, X, n_shards)
    layers = dbn._make_layers(shards.n_features)
    for rbm in layers:  # every layer's options, before the first trains
        check_options(rbm, "cluster")
    dbn.n_features_in_ = shards.n_features
    dbn.layers_, dbn.pretrain_time_ = [], []
    callbacks.on_train_begin(dbn)
    try:
        _pretrain_layers(
            client, dbn, layers, shards, sync_every, batch_size, callbacks, checkpoint_dir
        )
    finally:
        callbacks.on_train_end(dbn)
    return dbn


def _pretrain_layers(
    client, dbn, layers, shards, sync_every, batch_size, callbacks, checkpoint_dir
):
    data = shards
    for i, rbm in enumerate(layers):
        start = time.perf_counter()
        folder = None if checkpoint_dir is None else layer_checkpoint_dir(checkpoint_dir, i)
        layer_callback = LayerCallbacks(dbn, i, callbacks)
        run = _train_rbm(
            client,
            rbm,
            data,
            sync_every,
            batch_size,
            CallbackList([layer_callback]),
            folder,
            name="X" if i == 0 else f"the features of layer {i}",
            label=f"DBN layer {i + 1}/{len(layers)}",
        )
        dbn.layers_.append(rbm)
        dbn.pretrain_time_.append(time.perf_counter() - start)
        if rbm.n_iter_ < rbm.n_iter and not layer_callback.stopped:
            break
        # A collapsed layer warns by its number: the layers above learn from its features.
        _warn_if_collapsed(client, rbm, data, run, layer=i, n_layers=len(layers))
        if i + 1 < len(layers):
            params = {name: getattr(rbm, name) for name in parameter_names(rbm)}
            params_future = client.submit(identity, params, key=f"dbn-layer{i}-{uuid.uuid4().hex}")
            futures = data.map(
                client, rbm_features, params_future, rbm.hidden_unit,
                key=f"dbn-features{i + 1}-{uuid.uuid4().hex[:12]}",
            )  # fmt: skip
            # The previous layer's data are released when ``data`` is replaced (dask frees them).
            data = Shards(futures, data.workers, data.n_rows, rbm.n_components, data.dtype)
