"""Data-parallel backprop fine-tuning on a dask cluster: :func:`fit_mlp` (see :mod:`dbn.dask`)."""

from __future__ import annotations

import uuid
import zlib

import numpy as np

from .._backprop_trainer import shift_first_bias
from .._drivers import shard_seeds
from .._network_state import history_from_json
from .._training.callbacks import CallbackList
from .._training.checkpoint import CheckpointFile, as_json
from .._training.loop import EpochTrainer, run_epochs
from .._validation import DivergenceError
from ..io import ModelFileError
from ._shards import (
    average,
    check_sync_every,
    generator_from_state,
    identity,
    initial_shard_state,
    per_shard_batch,
    resolve_client,
    round_plans,
    rows_of_round,
    shard_pairs,
    start_epoch,
    submit_rounds,
    training_error,
)

__all__ = ["fit_mlp"]


def fit_mlp(
    client,
    mlp,
    X,
    y,
    *,
    sync_every=1,
    batch_size=None,
    n_shards=None,
    callbacks=None,
    checkpoint_dir=None,
):
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
        by ``fit``; ``shuffle=False`` makes every shard visit its rows in order. With
        ``center_inputs=True`` (``DBN.to_mlp()``'s default on binary inputs) the shards train on
        their rows minus the mean of all rows, the whole run in the centred form, and the fitted
        estimator holds the raw form, as ``fit`` leaves it. Early
        stopping, validation sets, CG and L-BFGS are not distributed, nor are ``warm_start=True``
        and multilabel targets: each is refused with a ValueError.
    X : dask.array.Array of shape (n_samples, n_features)
    y : dask.array.Array of shape (n_samples,) or (n_samples, n_outputs)
        Labels (classifier) or targets (regressor), chunked or not like ``X``.
    sync_every, batch_size, n_shards, callbacks
        As for :func:`fit_rbm`; ``batch_size`` defaults to ``mlp.batch_size // n_shards``.
    checkpoint_dir : str or os.PathLike, optional
        Write the full training state (the parameters, every shard's optimiser state, random
        stream and shuffled order, the history) there after every epoch, with a fingerprint of
        the shards of ``X`` and ``y``; calling again with the same folder, data and settings
        resumes from it and gives the same weights as an uninterrupted run. Other data or other
        hyperparameters are refused with a ValueError.

    Returns
    -------
    mlp
        Fitted (``coefs_``, ``intercepts_``, ``classes_``, ``history_`` with ``epoch``,
        ``train_loss`` and ``time`` as ``fit`` keeps them, ``n_iter_``), plus ``dask_rounds_``.
        Only a small sample (a few hundred rows) reaches the client, for the estimator's
        data-dependent initialisation (``init="lsuv"``...).

    References
    ----------
    Dean, J. et al. (2012). Large scale distributed deep networks.
    Lin, T. et al. (2020). Don't use large mini-batches, use local SGD.
    """
    from ..mlp import MLPClassifier, MLPRegressor

    if not isinstance(mlp, MLPClassifier | MLPRegressor):
        raise TypeError(
            f"mlp must be a dbn.MLPClassifier or MLPRegressor, got {type(mlp).__name__}."
        )
    client = resolve_client(client)
    sync_every = check_sync_every(sync_every)
    P = mlp.network_spec()
    if P["solver"] not in ("sgd", "adam"):
        raise ValueError(
            f"fit_mlp runs solver='sgd' or 'adam' on the shards, got solver={P['solver']!r} "
            "(conjugate gradient needs the whole minibatch objective in one place)."
        )
    if mlp.early_stopping:
        raise ValueError("early_stopping=True needs a validation split; fit_mlp does not make one.")
    if mlp.warm_start:
        # Every call starts from the estimator's initialisation (or its pretrained_layers).
        raise ValueError(
            "fit_mlp starts from new weights and supports warm_start=False only, got "
            "warm_start=True; continue from fitted weights with MLPClassifier.fit / partial_fit."
        )
    y_shape = getattr(y, "shape", np.shape(y))
    if isinstance(mlp, MLPClassifier) and len(y_shape) == 2 and y_shape[1] > 1:
        raise ValueError(
            "fit_mlp trains a classifier on one label per sample (y of shape (n_samples,)); "
            f"multilabel indicator targets are not supported, got y of shape {tuple(y_shape)}. "
            "Train a multilabel MLPClassifier with fit."
        )
    callbacks = CallbackList(callbacks)
    shards = shard_pairs(client, X, y, n_shards)
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
    from .._backprop import pack, views

    flat, _, _ = pack(mlp.coefs_, mlp.intercepts_, P["dtype"])
    sizes = (mlp.coefs_[0].shape[0], *(W.shape[1] for W in mlp.coefs_))
    batch = per_shard_batch(batch_size, mlp.minibatch_size(shards.n_samples), len(shards),
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
    # center_inputs: the shards hold their rows minus the mean of all rows, and the run stays in
    # the centred form (first bias b + m W) from here to publish(), which hands out the raw form.
    offset = None
    if mlp.center_inputs:
        sums = client.gather(
            [client.submit(_column_sum, f, workers=[w], allow_other_workers=True)
             for f, w in zip(shards.futures, shards.workers, strict=True)]
        )  # fmt: skip
        total = np.sum([s for s, _ in sums], axis=0)
        offset = (total / sum(n for _, n in sums)).astype(P["dtype"])
        shards.futures = [
            client.submit(_centred, f, offset, workers=[w], allow_other_workers=True)
            for f, w in zip(shards.futures, shards.workers, strict=True)
        ]
        coefs, intercepts = views(flat, sizes)
        intercepts[0] += offset @ coefs[0]
    mlp.input_offset_ = offset
    token = uuid.uuid4().hex[:12]
    seeds = shard_seeds(mlp.random_state, len(shards))
    states = [dict(initial_shard_state(seed), optimizer={}) for seed in seeds]
    start, checkpoint = 0, None
    if checkpoint_dir is not None:
        run_params = as_json(
            dict(mlp._header_params(), sync_every=sync_every, shard_batch_size=batch,
                 n_shards=len(shards))
        )  # fmt: skip
        checkpoint = CheckpointFile(
            checkpoint_dir, "dask-mlp-checkpoint.safetensors",
            f"dask-{type(mlp).__name__}-checkpoint", {},
        )  # fmt: skip
        checkpoint.data = {"X, y": _fingerprint(client, shards)}
        if checkpoint.load(run_params, owner=type(mlp).__name__):
            flat = np.array(checkpoint.arrays["flat"])
            states = _states_from_checkpoint(checkpoint.arrays, checkpoint.extra["shards"])
            start = int(checkpoint.extra["n_iter_"])

            def fail(message):
                raise ModelFileError(f"{checkpoint.path}: {message}")

            history = history_from_json(
                checkpoint.extra["history_"], tuple(mlp.history_), start, fail
            )
            for key, values in mlp.history_.items():  # in place: loss_curve_ is one of them
                values[:] = history[key]
            mlp.n_iter_ = start
    # The shard states start as plain values in the task graph: recomputable if a worker dies.
    states = [
        client.submit(identity, state, key=f"dbn-mlp-{token}-state-{i}", workers=[w],
                      allow_other_workers=True)
        for i, (state, w) in enumerate(zip(states, shards.workers, strict=True))
    ]  # fmt: skip
    trainer = _DistributedMLP(client, mlp, shards, spec, sync_every, flat, states, token)
    save = None
    if checkpoint is not None:

        def save(finished):
            arrays, extra = _checkpoint_state(trainer)
            extra.update(n_iter_=mlp.n_iter_, history_=mlp.history_)
            checkpoint.write(run_params, arrays, extra, finished=finished)

    trainer.publish()
    callbacks.on_train_begin(mlp)
    try:
        run_epochs(
            mlp,
            trainer,
            range(start, mlp.max_iter),
            history=mlp.history_,
            callbacks=callbacks,
            save_checkpoint=save,
        )
    finally:
        trainer.publish()
        callbacks.on_train_end(mlp)
    return mlp


def _pair_crc(pair):
    X_block, y_block = pair
    crc = zlib.crc32(memoryview(np.ascontiguousarray(X_block)).cast("B"))
    return zlib.crc32(memoryview(np.ascontiguousarray(y_block)).cast("B"), crc)


def _fingerprint(client, shards):
    """Shape, dtype and CRC-32 of the shards' (X, encoded y) pairs, computed on the workers."""
    crcs = client.gather(
        [client.submit(_pair_crc, f, workers=[w], allow_other_workers=True)
         for f, w in zip(shards.futures, shards.workers, strict=True)]
    )  # fmt: skip
    crc = 0
    for value, rows in zip(crcs, shards.n_rows, strict=True):
        crc = zlib.crc32(np.array([value, rows], np.int64).tobytes(), crc)
    return [[shards.n_samples, shards.n_features], shards.dtype.str, crc]


def _checkpoint_state(trainer):
    """The averaged parameters and every shard's state as checkpoint arrays and JSON extra."""
    arrays, shards = {"flat": trainer.flat}, []
    for i, state in enumerate(trainer.shard_states()):
        if state.get("order") is not None:
            arrays[f"shard{i}/order"] = np.asarray(state["order"], np.int64)
        scalars = {}
        for name, value in state["optimizer"].items():
            if isinstance(value, np.ndarray):
                arrays[f"shard{i}/optimizer/{name}"] = value
            else:  # a step count: JSON in the header
                scalars[name] = value.item() if isinstance(value, np.generic) else value
        shards.append(
            {
                "rng": state["rng"],
                "epoch": state.get("epoch"),
                "optimizer": scalars,
                "loss_sum": float(state.get("loss_sum", 0.0)),
                "loss_rows": int(state.get("loss_rows", 0)),
            }
        )
    return arrays, {"shards": shards}


def _states_from_checkpoint(arrays, shards):
    states = []
    for i, meta in enumerate(shards):
        prefix = f"shard{i}/optimizer/"
        optimizer = dict(meta["optimizer"])
        optimizer.update({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
        states.append(
            {
                "rng": meta["rng"],
                "cd": None,
                "epoch": meta["epoch"],
                "order": arrays.get(f"shard{i}/order"),
                "optimizer": optimizer,
                "loss_sum": meta["loss_sum"],
                "loss_rows": meta["loss_rows"],
            }
        )
    return states


def _labels_and_sample(pair, n_sample, classify):
    """The block's labels (classifiers) and its first ``n_sample`` rows, for the initialisation."""
    X_block, y_block = pair
    return (np.unique(y_block) if classify else None), (X_block[:n_sample], y_block[:n_sample])


def _column_sum(pair):
    """The block's column sums (float64) and row count, for the mean of all rows."""
    X_block, _ = pair
    return np.asarray(X_block).sum(axis=0, dtype=np.float64), len(X_block)


def _centred(pair, offset):
    """The block with ``offset`` taken from each row of ``X`` (a new array, in its dtype)."""
    X_block, y_block = pair
    return (X_block - offset).astype(X_block.dtype, copy=False), y_block


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


def _mlp_round(previous, params, pair, spec, plan):
    """``plan["n_steps"]`` minibatch steps of SGD or Adam on a shard; returns ``(state, parts)``.

    Pure, like the RBM's rounds (:func:`dbn.dask._rbm._rbm_round`): the shard's optimiser state
    (velocity, or Adam's moments and step count), random stream and shuffled order travel in
    ``state``.
    """
    from types import SimpleNamespace

    from .._backprop import Net, Propagation, minibatch_epoch, views
    from .._training.optimizers import make_optimizer

    state = dict(previous[0] if isinstance(previous, tuple) else previous)
    flat = average(*params)["flat"] if isinstance(params, list) else params["flat"].copy()
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
    rng = generator_from_state(state)
    n_rows = X.shape[0]
    if state.get("epoch") != plan["epoch"]:
        state["loss_sum"], state["loss_rows"] = 0.0, 0
    start_epoch(state, n_rows, plan["epoch"], plan["shuffle"], rng)
    batch = spec["batch_size"]
    rows = rows_of_round(state, n_rows, batch, plan["first_step"], plan["n_steps"])
    if len(rows):
        prop = Propagation(
            sizes, batch, flat.dtype, dropout_input=spec["dropout"][0],
            dropout_hidden=spec["dropout"][1],
        )  # fmt: skip
        X_batch = np.empty((batch, X.shape[1]), flat.dtype)
        y_batch = np.empty((batch, *y.shape[1:]), y.dtype)
        # The round's rows, shuffled again inside by minibatch_epoch unless shuffle=False.
        loss = minibatch_epoch(
            net, X[rows], y[rows], prop, X_batch, y_batch, rng, optimizer, plan["learning_rate"],
            max_norm=spec.get("max_norm"), shuffle=plan["shuffle"],
        )  # fmt: skip
        state["loss_sum"] += float(loss) * len(rows)
        state["loss_rows"] += len(rows)
    state["optimizer"] = optimizer_state
    state["rng"] = rng.bit_generator.state
    return state, ({"flat": flat}, len(rows))


def _epoch_loss(output):
    state = output[0] if isinstance(output, tuple) else output
    return state.get("loss_sum", 0.0), state.get("loss_rows", 0)


class _DistributedMLP(EpochTrainer):
    """Epochs of data-parallel SGD / Adam, as :func:`run_epochs` drives them."""

    def __init__(self, client, mlp, shards, spec, sync_every, flat, states, token):
        self.client, self.mlp, self.shards, self.spec = client, mlp, shards, spec
        self.flat = flat
        self.params_future = client.submit(identity, {"flat": flat}, key=f"dbn-mlp-{token}-start")
        self.states, self.token = states, token
        self.plans = round_plans(shards.n_rows, spec["batch_size"], sync_every)
        self.rounds = 0
        # shuffle=False: every shard visits its rows in order, as fit does with the whole data.
        self.shuffle = mlp.shuffle

    def run_epoch(self, epoch):
        client, shards = self.client, self.shards
        lr = self.mlp.learning_rate_at(epoch)
        params, states = self.params_future, list(self.states)
        prefix = f"dbn-mlp-{self.token}-e{epoch}"
        plan = dict(epoch=epoch, learning_rate=lr, shuffle=self.shuffle)
        params, states = submit_rounds(
            client, shards, _mlp_round, states, params, self.spec, self.plans, plan, prefix
        )
        losses = [client.submit(_epoch_loss, s, key=f"{prefix}-loss-{i}") for i, s in
                  enumerate(states)]  # fmt: skip
        try:
            values, losses = client.gather([params, losses])
        except Exception as error:  # noqa: BLE001 - any failure dask could not recover from
            raise training_error(self.mlp, epoch, error) from error
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

    def shard_states(self):
        """Gather every shard's state (for a checkpoint)."""
        states = self.client.gather(self.states)
        return [s[0] if isinstance(s, tuple) else s for s in states]

    def publish(self):
        from .._backprop import pack, views

        coefs, intercepts = views(self.flat, self.spec["sizes"])
        _, self.mlp.coefs_, self.mlp.intercepts_ = pack(coefs, intercepts, self.flat.dtype)
        # The run's centred form, handed out raw (b = b' - m W), as fit leaves it.
        shift_first_bias(self.mlp, self.mlp.input_offset_, -1)
        self.mlp.dask_rounds_ = self.rounds
