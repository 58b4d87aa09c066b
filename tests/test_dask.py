"""dbn.dask on a real LocalCluster (2 worker processes of 1 thread, on 127.0.0.1), and out-of-core
pretraining in a process whose address space is capped below the size of its data."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("dask.array")
pytest.importorskip("distributed")

import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import dbn  # noqa: E402
import dbn.dask  # noqa: E402
from dbn._cd import ContrastiveDivergence  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,
    )
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.default_rng(0)
    # Two prototypes with noise: structure for an RBM to learn, so quality differences show.
    prototypes = rng.random((4, 48)) < 0.4
    labels = rng.integers(0, 4, 1200)
    flips = rng.random((1200, 48)) < 0.08
    return (prototypes[labels] ^ flips).astype(np.float64), labels


def _simulate(rbm_params, X, n_shards, shard_batch, n_epochs, seeds, n_chains=None):
    """In-process simulation of synchronous data-parallel CD (sync_every=1): each shard computes
    the statistics of its minibatch with its own random stream (and its own persistent chains,
    started as the cluster starts them); their mean is applied by one central momentum step,
    centred on one set of offsets started from the whole data. The cluster instead averages the
    shards' parameters (and offsets) after one local momentum step each, with velocities kept per
    shard: equal by linearity. Every CD option comes from the RBM's own ``cd_config``; the
    per-shard ``n_chains`` is given. Returns the central CD object."""
    rbm = dbn.BernoulliRBM(**rbm_params).initialize(X)
    names = ("components_", "intercept_hidden_", "intercept_visible_")
    config = dict(rbm.cd_config(batch_size=shard_batch), n_chains=n_chains)
    central = ContrastiveDivergence({n: getattr(rbm, n).copy(order="K") for n in names}, **config)
    if central.centering:
        central.start_offsets(X)
    rows = -(-X.shape[0] // n_shards)
    blocks = [X[i * rows : (i + 1) * rows] for i in range(n_shards)]
    rngs = [np.random.default_rng(seed) for seed in seeds]
    shards = [ContrastiveDivergence(central.parameters, **config) for _ in range(n_shards)]
    if central.persistent:
        for block, rng, cd in zip(blocks, rngs, shards, strict=True):
            cd.start_chains(block, rng)
    for epoch in range(n_epochs):
        lr = rbm.learning_rate
        momentum = rbm.momentum if epoch < rbm.momentum_switch_epoch else rbm.final_momentum
        orders = [rng.permutation(len(b)) for rng, b in zip(rngs, blocks, strict=True)]
        for step in range(len(blocks[0]) // shard_batch):
            statistics = []
            for block, order, rng, cd in zip(blocks, orders, rngs, shards, strict=True):
                v0 = block[order[step * shard_batch : (step + 1) * shard_batch]]
                statistics.append(cd.statistics(np.ascontiguousarray(v0), rng))
            mean = {n: sum(s[n] for s in statistics) / n_shards for n in statistics[0]}
            assert central.apply(mean, lr, momentum)
    return central


def test_sync_every_1_equals_one_step_on_the_combined_minibatch(client, binary_data):
    X = binary_data[0]
    params = dict(
        n_components=16,
        batch_size=40,
        n_iter=2,
        learning_rate=0.05,
        momentum=0.5,
        final_momentum=0.9,
        momentum_switch_epoch=1,
        weight_decay=1e-3,
        monitor_size=0,
        random_state=3,
    )
    rbm = dbn.BernoulliRBM(**params)
    out = dbn.dask.fit_rbm(client, rbm, da.from_array(X, chunks=300), sync_every=1, n_shards=2)
    assert out is rbm and rbm.n_iter_ == 2
    # 600 rows per shard, 20 rows per shard minibatch: 30 rounds per epoch.
    assert rbm.dask_rounds_ == 60
    seeds = dbn.dask._shard_seeds(3, 2)
    expected = _simulate(params, X, 2, 20, 2, seeds).parameters
    for name, value in expected.items():
        np.testing.assert_allclose(getattr(rbm, name), value, rtol=1e-9, atol=1e-12)
    # And the cluster's parameters moved: the comparison is not between two initialisations.
    initial = dbn.BernoulliRBM(**params).initialize(X)
    assert np.abs(rbm.components_ - initial.components_).max() > 0.05


# Options of the CD step that change the model or its training state, each trained on the cluster
# against the simulation of synchronous data-parallel CD (per-shard chains as the cluster splits
# them: n_chains // 2, or each shard's minibatch).
_CD_OPTIONS = {
    "centering": (dict(centering=True), None),
    "tempering": (dict(persistent=True, n_temperatures=3, k=2), None),
    "centred tempered sparse chains": (
        dict(
            centering=True,
            persistent=True,
            n_chains=30,
            n_temperatures=2,
            sparsity_target=0.1,
            sparsity_cost=0.1,
        ),
        15,
    ),
}


@pytest.mark.parametrize("case", list(_CD_OPTIONS))
def test_cd_options_on_the_cluster_match_the_in_process_model(client, binary_data, case, tmp_path):
    # fit_rbm used to restate the CD settings and leave out centering and n_temperatures: it
    # trained a plain RBM in silence. Now every option reaches the shards, and the fitted model
    # holds the state an in-process fit leaves (offsets, persistent and tempered chains).
    X = binary_data[0]
    options, shard_chains = _CD_OPTIONS[case]
    params = dict(
        n_components=16, batch_size=40, n_iter=2, learning_rate=0.05, momentum_switch_epoch=1,
        monitor_size=0, random_state=3, **options,
    )  # fmt: skip
    rbm = dbn.dask.fit_rbm(
        client, dbn.BernoulliRBM(**params), da.from_array(X, chunks=300), n_shards=2
    )
    expected = _simulate(params, X, 2, 20, 2, dbn.dask._shard_seeds(3, 2), shard_chains)
    for name, value in expected.parameters.items():
        np.testing.assert_allclose(getattr(rbm, name), value, rtol=1e-9, atol=1e-12)
    local = dbn.BernoulliRBM(**params).fit(X)
    arrays, theirs = rbm.training_state()[0], local.training_state()[0]
    assert sorted(arrays) == sorted(theirs)
    for name in ("persistent_chains_", "tempered_chains_", "swap_counts_"):
        if name in theirs:
            assert arrays[name].shape == theirs[name].shape, name
    if rbm.centering:
        np.testing.assert_allclose(arrays["visible_offset_"], expected.visible_offset, rtol=1e-9)
        np.testing.assert_allclose(arrays["hidden_offset_"], expected.hidden_offset, rtol=1e-9)
        # A model saved afterwards keeps them.
        rbm.save(tmp_path / "centred.safetensors")
        loaded = dbn.BernoulliRBM.load(tmp_path / "centred.safetensors").training_state()[0]
        np.testing.assert_array_equal(loaded["hidden_offset_"], arrays["hidden_offset_"])
    if rbm.n_temperatures:
        assert arrays["swap_counts_"][:, 1].min() > 0  # the tempered chains swapped on the shards


def test_pretrain_paths_keep_every_layers_cd_options(client, binary_data, tmp_path):
    X = binary_data[0]
    layer_params = {0: dict(centering=True), 1: dict(persistent=True, n_temperatures=2)}
    # The momentum is pinned so that the offsets' tolerance below does not follow the library's
    # defaults: a running mean lags the model by more when the model is still moving.
    settings = dict(
        n_iter=2,
        batch_size=20,
        momentum=0.9,
        final_momentum=0.9,
        random_state=0,
        layer_params=layer_params,
    )
    in_process = dbn.DBN([16, 8], **settings).pretrain(X)
    cluster = dbn.dask.pretrain(client, dbn.DBN([16, 8], **settings), da.from_array(X, chunks=300))
    out_of_core = dbn.dask.pretrain_out_of_core(dbn.DBN([16, 8], **settings), X, chunk_size=400)
    for stack in (cluster, out_of_core):
        for ours, theirs in zip(stack.layers_, in_process.layers_, strict=True):
            assert sorted(ours.training_state()[0]) == sorted(theirs.training_state()[0])
        state = stack.layers_[0].training_state()[0]
        # The offsets mean what they mean in process: running means of the data and of the
        # hidden units given the data.
        np.testing.assert_allclose(state["visible_offset_"], X.mean(axis=0), atol=0.05)
        hidden = stack.layers_[0].transform(X).mean(axis=0)
        np.testing.assert_allclose(state["hidden_offset_"], hidden, atol=0.1)
        assert stack.layers_[1].training_state()[0]["tempered_chains_"].shape[0] == 1


def test_pretrain_paths_decide_auto_centering_as_in_process(client, binary_data):
    # centering="auto" is decided per layer on its inputs' mean, on every path: mostly-on data
    # (1 - X) centre layer 1, sparse data do not.
    X = binary_data[0]
    settings = dict(n_iter=2, batch_size=20, random_state=0, centering="auto")
    for data in (X, 1 - X):
        in_process = dbn.DBN([16, 8], **settings).pretrain(data)
        chunks = da.from_array(data, chunks=300)
        cluster = dbn.dask.pretrain(client, dbn.DBN([16, 8], **settings), chunks)
        out_of_core = dbn.dask.pretrain_out_of_core(dbn.DBN([16, 8], **settings), data)
        expected = [layer.centering for layer in in_process.layers_]
        assert expected[0] == (data.mean() > 0.5)
        for stack in (cluster, out_of_core):
            assert [layer.centering for layer in stack.layers_] == expected
            for ours, theirs in zip(stack.layers_, in_process.layers_, strict=True):
                assert sorted(ours.training_state()[0]) == sorted(theirs.training_state()[0])


# A valid value, away from its default, of every option of the RBMs; a new option fails the walk
# below until it is given one here, and is honoured by dbn.dask or refused by name.
_OPTION_VALUES = dict(
    n_components=4, learn_variance=True, learning_rate=0.05, batch_size=7, n_iter=3, k=2,
    persistent=True, n_chains=6, momentum=0.3, final_momentum=0.8, momentum_switch_epoch=2,
    weight_decay=1e-3, sparsity_target=0.1, sparsity_cost=0.2, sparsity_damping=0.8,
    learning_rate_schedule="linear", learning_rate_decay=0.9, shuffle=False,
    positive_hidden="samples", sample_visible=True, hidden_unit="gaussian", init_std=0.02,
    monitor_size=10, centering=True, n_temperatures=3, verbose=1, random_state=5,
)  # fmt: skip


@pytest.mark.parametrize("path", ["cluster", "out of core"])
@pytest.mark.parametrize("cls", [dbn.BernoulliRBM, dbn.GaussianBernoulliRBM])
def test_every_rbm_option_is_honoured_or_refused_by_name(cls, path):
    base = cls(8, batch_size=10)
    base_config = dbn.dask._rbm_config(base, 10, 1, path=path)
    for name in cls._get_param_names():
        assert name in _OPTION_VALUES, f"give the new option {name} a value in _OPTION_VALUES"
        options = {name: _OPTION_VALUES[name]}
        if name == "n_temperatures":
            options["persistent"] = True
        rbm = cls(8, batch_size=10).set_params(**options)
        if name in dbn.dask._REFUSED and path in dbn.dask._REFUSED[name]:
            with pytest.raises(ValueError, match=name):
                dbn.dask._rbm_config(rbm, 10, 1, path=path)
            continue
        config = dbn.dask._rbm_config(rbm, 10, 1, path=path)
        # The paths build the CD step from the estimator's one source, whatever the option.
        assert config == rbm.cd_config(batch_size=10)
        if config == base_config:  # not a CD setting: then the driver reads it itself
            assert name in dbn.dask._DRIVER_PARAMS, f"{name} is neither honoured nor refused"


def test_an_option_a_path_cannot_honour_is_refused_by_name(client, binary_data, monkeypatch):
    Xd = da.from_array(binary_data[0], chunks=300)

    class WithNewOption(dbn.BernoulliRBM):
        def __init__(self, n_components=8, *, batch_size=10, new_option=False):
            super().__init__(n_components, batch_size=batch_size)
            self.new_option = new_option

    # An option dbn.dask does not know is refused once set (at its default it changes nothing).
    with pytest.raises(ValueError, match=r"new_option=True.*dbn\.dask\.fit_rbm"):
        dbn.dask.fit_rbm(client, WithNewOption(new_option=True), Xd)
    dbn.dask._check_options(WithNewOption(), "cluster")
    # An option in the refuse list names the option, the path and the remedy, on every path.
    monkeypatch.setitem(dbn.dask._REFUSED, "n_temperatures", {"out of core": "use fit()."})
    stack = dbn.DBN([8], batch_size=10, persistent=True, layer_params=[dict(n_temperatures=2)])
    with pytest.raises(ValueError, match=r"n_temperatures=2.*pretrain_out_of_core: use fit\(\)"):
        dbn.dask.pretrain_out_of_core(stack, binary_data[0])
    # Persistent chains are split over the shards like the minibatch; too few to split is refused.
    with pytest.raises(ValueError, match="n_chains=1"):
        dbn.dask.fit_rbm(client, dbn.BernoulliRBM(8, persistent=True, n_chains=1), Xd, n_shards=2)


def test_local_steps_quality_and_blockwise_outputs(client, binary_data):
    X = binary_data[0].astype(np.float32)
    Xd = da.from_array(X, chunks=400)
    params = dict(n_components=16, batch_size=20, n_iter=4, random_state=0)
    local = dbn.BernoulliRBM(**params).fit(X)
    rbm = dbn.dask.fit_rbm(client, dbn.BernoulliRBM(**params), Xd, sync_every=10)
    assert (
        rbm.components_.dtype == np.float32 and rbm.dask_rounds_ == 4 * 6
    )  # 60 steps of 10 rows per shard and epoch
    ours, theirs = rbm.history_["reconstruction_error"], local.history_["reconstruction_error"]
    assert len(ours) == 4 and ours[-1] < ours[0]
    assert ours[-1] < 1.15 * theirs[-1]
    features = dbn.dask.transform(rbm, Xd)
    assert isinstance(features, da.Array) and features.shape == (1200, 16)
    np.testing.assert_allclose(features.compute(), rbm.transform(X), rtol=1e-5, atol=1e-6)
    score = dbn.dask.score(rbm, Xd)
    assert isinstance(score, da.Array) and np.isfinite(score.compute())


def test_gaussian_rbm_with_learned_variances(client):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((800, 12)) * np.linspace(0.5, 2.0, 12)
    rbm = dbn.GaussianBernoulliRBM(
        8, learn_variance=True, n_iter=3, batch_size=20, learning_rate=0.005, random_state=0
    )
    dbn.dask.fit_rbm(client, rbm, da.from_array(X, chunks=200), sync_every=4)
    assert rbm.n_iter_ == 3 and np.isfinite(rbm.history_["reconstruction_error"]).all()
    # The variances were learned on the shards and averaged (they start at 1).
    assert np.ptp(rbm.log_variance_) > 0.05
    np.testing.assert_allclose(X.mean(axis=0), rbm.intercept_visible_, atol=0.5)


def test_pretrain_keeps_layers_on_the_workers(client, binary_data):
    X = binary_data[0]
    stack = dbn.DBN([24, 8], n_iter=2, batch_size=20, random_state=0)
    seen = []
    dbn.dask.pretrain(
        client,
        stack,
        da.from_array(X, chunks=300),
        sync_every=5,
        callbacks=lambda model, epoch, logs: seen.append((logs["layer"], epoch)),
    )
    assert seen == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert [rbm.n_components for rbm in stack.layers_] == [24, 8]
    assert stack.layers_[1].n_features_in_ == 24
    top = dbn.dask.transform(stack, da.from_array(X, chunks=500))
    np.testing.assert_allclose(top.compute(), stack.transform(X), rtol=1e-10)
    # Layer 2 learned from layer 1's features (computed on the workers): its error fell.
    errors = stack.layers_[1].history_["reconstruction_error"]
    assert errors[-1] < errors[0]


def test_fit_mlp_sgd_matches_in_process_and_predicts_blockwise(client):
    rng = np.random.default_rng(1)
    prototypes = rng.random((4, 48)) < 0.4
    y = rng.integers(0, 4, 1200)
    X = (prototypes[y] ^ (rng.random((1200, 48)) < 0.2)).astype(np.float32)
    Xd, yd = da.from_array(X, chunks=300), da.from_array(y, chunks=300)
    params = dict(hidden_layer_sizes=(16,), solver="sgd", max_iter=5, batch_size=40, random_state=0)
    local = dbn.MLPClassifier(learning_rate_init=0.05, **params).fit(X, y)
    mlp = dbn.dask.fit_mlp(
        client, dbn.MLPClassifier(learning_rate_init=0.05, **params), Xd, yd, sync_every=3
    )
    assert mlp.n_iter_ == 5 and len(mlp.history_["train_loss"]) == 5
    assert mlp.history_["train_loss"][-1] < 1.2 * local.history_["train_loss"][-1]
    proba = dbn.dask.predict_proba(mlp, Xd)
    assert isinstance(proba, da.Array) and proba.shape == (1200, 4)
    np.testing.assert_allclose(proba.compute(), mlp.predict_proba(X), rtol=1e-5)
    np.testing.assert_array_equal(dbn.dask.predict(mlp, Xd).compute(), mlp.predict(X))
    accuracy = dbn.dask.score(mlp, Xd, yd)
    assert isinstance(accuracy, da.Array)
    assert accuracy.compute() == pytest.approx(mlp.score(X, y))
    assert accuracy.compute() > local.score(X, y) - 0.03
    with pytest.raises(ValueError, match="solver='sgd' or 'adam'"):
        dbn.dask.fit_mlp(client, dbn.MLPClassifier(solver="cg"), Xd, yd)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_fit_mlp_resumes_from_its_checkpoint_to_the_uninterrupted_weights(client, solver, tmp_path):
    rng = np.random.default_rng(2)
    prototypes = rng.random((3, 24)) < 0.4
    y = rng.integers(0, 3, 600)
    X = (prototypes[y] ^ (rng.random((600, 24)) < 0.1)).astype(np.float32)
    Xd, yd = da.from_array(X, chunks=300), da.from_array(y, chunks=300)
    params = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=4, batch_size=40, random_state=0)
    reference = dbn.dask.fit_mlp(client, dbn.MLPClassifier(**params), Xd, yd, sync_every=2)

    first = dbn.MLPClassifier(**params)
    with pytest.raises(_Crash):
        dbn.dask.fit_mlp(
            client, first, Xd, yd, sync_every=2, checkpoint_dir=tmp_path, callbacks=_CrashAfter(2)
        )
    assert first.n_iter_ == 2
    resumed = dbn.dask.fit_mlp(
        client, dbn.MLPClassifier(**params), Xd, yd, sync_every=2, checkpoint_dir=tmp_path
    )
    assert resumed.n_iter_ == 4 and len(resumed.history_["train_loss"]) == 4
    assert resumed.history_["train_loss"] == reference.history_["train_loss"]
    # fit's history contract, across the resume: completed epochs from 1, each epoch's seconds.
    assert set(resumed.history_) == set(dbn.MLPClassifier(**params).fit(X, y).history_)
    assert resumed.history_["epoch"] == [1, 2, 3, 4]
    assert all(type(epoch) is int for epoch in resumed.history_["epoch"])
    assert all(t > 0 for t in resumed.history_["time"])
    for mine, theirs in zip(resumed.coefs_, reference.coefs_, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    with pytest.raises(ValueError, match="other values of X, y"):
        dbn.dask.fit_mlp(
            client, dbn.MLPClassifier(**params), Xd, yd[::-1], sync_every=2,
            checkpoint_dir=tmp_path,
        )  # fmt: skip
    with pytest.raises(ValueError, match="other parameters"):
        dbn.dask.fit_mlp(
            client, dbn.MLPClassifier(**params), Xd, yd, sync_every=1, checkpoint_dir=tmp_path
        )


def _threshold_task(n, d, *, chunks, hidden, learning_rate):
    """Uniform inputs labelled by their first feature, as numpy and dask arrays, and SGD settings."""
    X = np.random.default_rng(2).random((n, d)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    Xd, yd = da.from_array(X, chunks=chunks), da.from_array(y, chunks=chunks)
    params = dict(hidden_layer_sizes=(hidden,), solver="sgd", max_iter=3, batch_size=40,
                  learning_rate_init=learning_rate, random_state=0)  # fmt: skip
    return X, y, Xd, yd, params


def test_fit_mlp_honours_shuffle_and_refuses_what_it_cannot_train(client):
    from sklearn.exceptions import ConvergenceWarning

    X, y, Xd, yd, params = _threshold_task(240, 10, chunks=240, hidden=6, learning_rate=0.1)
    # One shard, one step a round: the rows in order give fit's own minibatches, bit for bit;
    # shuffled, the shard's stream orders them otherwise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for shuffle in (False, True):
            local = dbn.MLPClassifier(shuffle=shuffle, **params).fit(X, y)
            mlp = dbn.dask.fit_mlp(
                client, dbn.MLPClassifier(shuffle=shuffle, **params), Xd, yd, n_shards=1
            )
            same = all(np.array_equal(a, b) for a, b in zip(mlp.coefs_, local.coefs_, strict=True))
            assert same is not shuffle
    with pytest.raises(ValueError, match="warm_start=False only, got warm_start=True"):
        dbn.dask.fit_mlp(client, dbn.MLPClassifier(warm_start=True, **params), Xd, yd)
    Y = da.from_array(np.stack([y, 1 - y], axis=1), chunks=240)
    with pytest.raises(ValueError, match=r"multilabel .* got y of shape \(240, 2\)"):
        dbn.dask.fit_mlp(client, dbn.MLPClassifier(**params), Xd, Y)


def test_fit_mlp_centres_the_inputs_as_fit_does(client, tmp_path):
    from sklearn.exceptions import ConvergenceWarning

    X, y, Xd, yd, params = _threshold_task(240, 10, chunks=120, hidden=6, learning_rate=0.1)
    X = X + np.float32(2.0)  # far from zero, where centring changes the path
    Xd = da.from_array(X, chunks=120)
    params |= dict(shuffle=False, center_inputs=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = dbn.MLPClassifier(**params).fit(X, y)
        mlp = dbn.dask.fit_mlp(client, dbn.MLPClassifier(**params), Xd, yd, n_shards=1)
        raw = dbn.dask.fit_mlp(
            client, dbn.MLPClassifier(**params | {"center_inputs": False}), Xd, yd, n_shards=1
        )
        # Resumed from a checkpoint of the centred run, it ends where the run in one go did.
        with pytest.raises(_Crash):
            dbn.dask.fit_mlp(
                client, dbn.MLPClassifier(**params), Xd, yd, n_shards=1,
                checkpoint_dir=tmp_path, callbacks=_CrashAfter(2),
            )  # fmt: skip
        resumed = dbn.dask.fit_mlp(
            client, dbn.MLPClassifier(**params), Xd, yd, n_shards=1, checkpoint_dir=tmp_path
        )
    np.testing.assert_allclose(mlp.input_offset_, X.mean(axis=0), rtol=1e-6)
    # One shard, rows in order: fit's own path, up to float32 rounding (the mean is summed in
    # another order, and fit moves the bias between the forms every epoch, the cluster once),
    # in the raw form fit hands out.
    for ours, theirs in zip(
        mlp.coefs_ + mlp.intercepts_, local.coefs_ + local.intercepts_, strict=True
    ):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mlp.predict_proba(X), local.predict_proba(X), rtol=1e-4, atol=1e-5)
    assert not np.allclose(raw.coefs_[0], mlp.coefs_[0])  # the centring changed the path
    for ours, theirs in zip(
        resumed.coefs_ + resumed.intercepts_, mlp.coefs_ + mlp.intercepts_, strict=True
    ):
        np.testing.assert_array_equal(ours, theirs)


def test_fit_mlp_applies_max_norm_on_every_shard(client):
    # Each shard clips after each step; an average of vectors with norms <= c has norm <= c.
    _, _, Xd, yd, params = _threshold_task(600, 20, chunks=300, hidden=12, learning_rate=2.0)
    free = dbn.dask.fit_mlp(client, dbn.MLPClassifier(**params), Xd, yd, sync_every=2)
    assert np.linalg.norm(free.coefs_[0], axis=0).max() > 0.6  # the bound below binds
    mlp = dbn.dask.fit_mlp(client, dbn.MLPClassifier(max_norm=0.5, **params), Xd, yd, sync_every=2)
    assert np.linalg.norm(mlp.coefs_[0], axis=0).max() <= 0.5 * (1 + 1e-5)


def _worker_pids(client):
    return client.run(os.getpid)


def test_killed_worker_is_recomputed_and_training_completes(client, binary_data):
    X = binary_data[0]
    params = dict(n_components=16, batch_size=40, n_iter=4, persistent=True, random_state=5)
    Xd = da.from_array(X, chunks=300)
    reference = dbn.dask.fit_rbm(client, dbn.BernoulliRBM(**params), Xd, sync_every=3)
    killed = []

    def kill_a_worker(model, epoch, logs):
        if epoch == 2:
            address, pid = sorted(_worker_pids(client).items())[0]
            os.kill(pid, signal.SIGKILL)  # a real worker process, mid-training
            killed.append(address)

    rbm = dbn.dask.fit_rbm(
        client, dbn.BernoulliRBM(**params), Xd, sync_every=3, callbacks=_Hook(kill_a_worker)
    )
    assert killed and rbm.n_iter_ == 4
    assert killed[0] not in _worker_pids(client)  # the nanny started a new process
    # Everything dask lost (the shard's block, its chains and velocities, the averages) was
    # recomputed from the task graph: the same weights as without the fault.
    np.testing.assert_array_equal(rbm.components_, reference.components_)
    client.wait_for_workers(2, timeout=60)


def _executing(dask_worker):
    """Keys of the tasks a worker is running now (through ``client.run``)."""
    return [str(ts.key) for ts in dask_worker.state.executing]


class _Crash(Exception):
    pass


class _Hook(dbn.Callback):
    """A test's ``function(model, epoch, logs)`` as a :class:`dbn.Callback`, whose ``epoch``
    counts completed epochs from 1."""

    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, model, epoch, logs):
        return self.function(model, epoch, logs)


class _CrashAfter(dbn.Callback):
    """Raises once ``epoch`` epochs are complete, as when the client goes away."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, model, epoch, logs):
        if epoch == self.epoch:
            raise _Crash("the client went away")


class _Recorder(dbn.Callback):
    def __init__(self):
        self.events = []

    def on_train_begin(self, model):
        self.events.append(("begin", type(model).__name__))

    def on_epoch_end(self, model, epoch, logs):
        self.events.append(("epoch", epoch, logs.get("layer")))

    def on_train_end(self, model):
        self.events.append(("end", type(model).__name__))


def test_callbacks_follow_the_in_process_contract(client, binary_data):
    X = binary_data[0]
    params = dict(n_components=8, batch_size=40, n_iter=2, random_state=0)
    Xd = da.from_array(X, chunks=300)
    # A plain function gets the 0-based epoch index on the cluster as from fit, with the same
    # DeprecationWarning; a dbn.Callback the number of completed epochs, from 1.
    for train in (
        lambda rbm, callbacks: rbm.fit(X, callbacks=callbacks),
        lambda rbm, callbacks: dbn.dask.fit_rbm(client, rbm, Xd, callbacks=callbacks),
    ):
        seen, recorder = [], _Recorder()
        with pytest.warns(DeprecationWarning, match="0-based epoch index"):
            train(
                dbn.BernoulliRBM(**params), [lambda m, e, logs, seen=seen: seen.append(e), recorder]
            )
        assert seen == [0, 1]
        assert recorder.events == [
            ("begin", "BernoulliRBM"), ("epoch", 1, None), ("epoch", 2, None),
            ("end", "BernoulliRBM"),
        ]  # fmt: skip
    # DBN pretraining on the cluster: begin and end once, around every layer's epochs.
    recorder = _Recorder()
    stack = dbn.DBN([8, 4], batch_size=40, n_iter=2, random_state=0)
    dbn.dask.pretrain(client, stack, Xd, callbacks=recorder)
    assert recorder.events == [
        ("begin", "DBN"), ("epoch", 1, 0), ("epoch", 2, 0), ("epoch", 1, 1), ("epoch", 2, 1),
        ("end", "DBN"),
    ]  # fmt: skip


def test_verbose_lines_on_the_cluster_and_out_of_core(client, binary_data, tmp_path, capsys):
    X = binary_data[0]
    line = r"\[{}\] Iteration {}, reconstruction error = \d+\.\d\d, time = \d+\.\d\ds$"
    rbm = dbn.BernoulliRBM(8, batch_size=40, n_iter=2, random_state=0, verbose=1)
    dbn.dask.fit_rbm(client, rbm, da.from_array(X, chunks=300))
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    for epoch, text in enumerate(out, 1):
        assert re.match(line.format("BernoulliRBM", epoch), text), text
    stack = dbn.DBN([8], batch_size=40, n_iter=1, random_state=0, verbose=1)
    dbn.dask.pretrain(client, stack, da.from_array(X, chunks=300))
    np.save(tmp_path / "X.npy", X)
    dbn.out_of_core.pretrain_out_of_core(stack, tmp_path / "X.npy")
    out = capsys.readouterr().out.splitlines()
    assert [text for text in out if not re.match(line.format("DBN layer 1/1", 1), text)] == []
    assert len(out) == 2


def test_a_model_that_learnt_nothing_warns_on_every_path(client, tmp_path):
    from sklearn.exceptions import ConvergenceWarning

    # Independent random bits: no RBM beats the mean (convergence.py's measurement), and every
    # path says so as an in-process fit does.
    X = (np.random.default_rng(3).random((300, 20)) < 0.5).astype(np.float64)
    # init_std=0.01 (the RBM's default, the DBN's until the ninth panel round): from weights at
    # Glorot & Bengio's scale, 8 units fit some of the noise of 300 rows in 2 epochs.
    params = dict(batch_size=20, n_iter=2, random_state=0, init_std=0.01)
    match = r"is not learning after 2 epochs.*error of reconstructing every row by the mean"
    with pytest.warns(ConvergenceWarning, match=match):
        dbn.BernoulliRBM(8, **params).fit(X)
    with pytest.warns(ConvergenceWarning, match=match):
        dbn.dask.fit_rbm(client, dbn.BernoulliRBM(8, **params), da.from_array(X, chunks=150))
    layer = r"DBN layer 1 of 1 \(BernoulliRBM\(8\)\) " + match
    with pytest.warns(ConvergenceWarning, match=layer):
        dbn.dask.pretrain(client, dbn.DBN([8], **params), da.from_array(X, chunks=150))
    np.save(tmp_path / "X.npy", X)
    with pytest.warns(ConvergenceWarning, match=layer):
        dbn.out_of_core.pretrain_out_of_core(dbn.DBN([8], **params), tmp_path / "X.npy")


def test_structured_data_train_without_a_collapse_warning(client, binary_data):
    # The negative control of the test above: data an RBM can learn give no warning on the
    # cluster either.
    from sklearn.exceptions import ConvergenceWarning

    Xd = da.from_array(binary_data[0], chunks=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        dbn.dask.fit_rbm(client, dbn.BernoulliRBM(16, batch_size=20, n_iter=5, random_state=0), Xd)


def test_stop_on_error_then_resume_from_checkpoint_loses_nothing(client, binary_data, tmp_path):
    X = binary_data[0]
    params = dict(n_components=16, batch_size=40, n_iter=4, persistent=True, random_state=7)
    Xd = da.from_array(X, chunks=300)
    reference = dbn.dask.fit_rbm(client, dbn.BernoulliRBM(**params), Xd, sync_every=4)

    first = dbn.BernoulliRBM(**params)
    with pytest.raises(_Crash):
        dbn.dask.fit_rbm(
            client, first, Xd, sync_every=4, checkpoint_dir=tmp_path, callbacks=_CrashAfter(2)
        )
    assert first.n_iter_ == 2
    resumed = dbn.dask.fit_rbm(
        client, dbn.BernoulliRBM(**params), Xd, sync_every=4, checkpoint_dir=tmp_path
    )
    assert resumed.n_iter_ == 4 and len(resumed.history_["epoch"]) == 4
    np.testing.assert_array_equal(resumed.components_, reference.components_)
    # A checkpoint written for other data is refused, with the reason.
    with pytest.raises(ValueError, match="other values of X"):
        dbn.dask.fit_rbm(
            client, dbn.BernoulliRBM(**params), Xd[::-1], sync_every=4, checkpoint_dir=tmp_path
        )


def test_resume_keeps_the_checkpoints_shards_whatever_the_workers_now(
    client, binary_data, tmp_path
):
    # Three shards on two workers: the default count (one per worker thread) would be two, as
    # after a worker died and the cluster shrank. Resuming exactly needs the checkpoint's split.
    X = binary_data[0]
    params = dict(n_components=16, batch_size=30, n_iter=4, random_state=3)
    Xd = da.from_array(X, chunks=300)
    reference = dbn.dask.fit_rbm(client, dbn.BernoulliRBM(**params), Xd, n_shards=3)
    with pytest.raises(_Crash):
        dbn.dask.fit_rbm(
            client,
            dbn.BernoulliRBM(**params),
            Xd,
            n_shards=3,
            checkpoint_dir=tmp_path,
            callbacks=_CrashAfter(2),
        )
    resumed = dbn.dask.fit_rbm(client, dbn.BernoulliRBM(**params), Xd, checkpoint_dir=tmp_path)
    assert resumed.n_iter_ == 4
    np.testing.assert_array_equal(resumed.components_, reference.components_)
    # An explicit count that differs from the checkpoint's is still refused, with the reason.
    with pytest.raises(ValueError, match="n_shards=3"):
        dbn.dask.fit_rbm(
            client, dbn.BernoulliRBM(**params), Xd, n_shards=2, checkpoint_dir=tmp_path
        )


class _CrashInLayer(dbn.Callback):
    """Raises after epoch ``epoch`` of the DBN's layer ``layer`` (0-based)."""

    def __init__(self, layer, epoch):
        self.layer, self.epoch = layer, epoch

    def on_epoch_end(self, model, epoch, logs):
        if logs["layer"] == self.layer and epoch == self.epoch:
            raise _Crash("the client went away")


def test_pretrain_resumes_on_the_checkpoints_shards(client, binary_data, tmp_path):
    X = binary_data[0]
    settings = dict(n_iter=2, batch_size=30, random_state=5)
    Xd = da.from_array(X, chunks=300)
    reference = dbn.dask.pretrain(client, dbn.DBN([12, 6], **settings), Xd, n_shards=3)
    with pytest.raises(_Crash):
        dbn.dask.pretrain(
            client,
            dbn.DBN([12, 6], **settings),
            Xd,
            n_shards=3,
            checkpoint_dir=tmp_path,
            callbacks=_CrashInLayer(1, 1),
        )
    resumed = dbn.dask.pretrain(client, dbn.DBN([12, 6], **settings), Xd, checkpoint_dir=tmp_path)
    for mine, theirs in zip(resumed.layers_, reference.layers_, strict=True):
        np.testing.assert_array_equal(mine.components_, theirs.components_)


def test_unrecoverable_failure_stops_with_a_clear_error_then_resumes(client, tmp_path):
    # With allowed-failures=0 the scheduler gives up on a task whose worker dies while running
    # it (KilledWorker): training must stop with DaskTrainingError and resume exactly.
    rng = np.random.default_rng(4)
    X = (rng.random((16_000, 64)) < 0.3).astype(np.float32)
    Xd = da.from_array(X, chunks=4000)
    # CD-5: each epoch is one round of about a second per shard, a wide window for the kill.
    params = dict(n_components=64, batch_size=20, k=5, n_iter=2, monitor_size=0, random_state=1)
    reference = dbn.dask.fit_rbm(client, dbn.BernoulliRBM(**params), Xd, sync_every=10_000)
    scheduler = client.cluster.scheduler
    killed = []

    def kill_while_running(model, epoch, logs):
        if epoch != 1:
            return

        def run():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not killed:
                running = client.run(_executing)
                for address, keys in running.items():
                    if any("-e1-r0-s" in key for key in keys):
                        os.kill(_worker_pids(client)[address], signal.SIGKILL)
                        killed.append(address)
                        return
                time.sleep(0.01)

        threading.Thread(target=run, daemon=True).start()

    allowed, scheduler.allowed_failures = scheduler.allowed_failures, 0
    first = dbn.BernoulliRBM(**params)
    try:
        with pytest.raises(dbn.dask.DaskTrainingError, match="resume from the last checkpoint"):
            dbn.dask.fit_rbm(
                client,
                first,
                Xd,
                sync_every=10_000,
                checkpoint_dir=tmp_path,
                callbacks=_Hook(kill_while_running),
            )
    finally:
        scheduler.allowed_failures = allowed
    assert killed and first.n_iter_ == 1
    client.wait_for_workers(2, timeout=60)
    resumed = dbn.dask.fit_rbm(
        client, dbn.BernoulliRBM(**params), Xd, sync_every=10_000, checkpoint_dir=tmp_path
    )
    assert resumed.n_iter_ == 2
    np.testing.assert_array_equal(resumed.components_, reference.components_)


def test_dask_ml_incremental_matches_an_in_memory_fit(client, binary_data):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X = binary_data[0].astype(np.float32)
    params = dict(n_components=16, batch_size=20, random_state=0)
    incremental = wrappers.Incremental(dbn.BernoulliRBM(**params))
    Xd = da.from_array(X, chunks=200)
    incremental.fit(Xd)
    incremental.partial_fit(Xd)  # a second pass over the blocks
    streamed = incremental.estimator_
    in_memory = dbn.BernoulliRBM(n_iter=2, **params).fit(X)
    error = np.mean((X - _reconstruct(streamed, X)) ** 2)
    reference = np.mean((X - _reconstruct(in_memory, X)) ** 2)
    assert error < 1.05 * reference


def _reconstruct(rbm, X):
    hidden = rbm.transform(X)
    return 1 / (1 + np.exp(-(hidden @ rbm.components_ + rbm.intercept_visible_)))


def test_bad_arguments_name_the_parameter(client, binary_data):
    Xd = da.from_array(binary_data[0], chunks=300)
    with pytest.raises(ValueError, match="sync_every"):
        dbn.dask.fit_rbm(client, dbn.BernoulliRBM(8), Xd, sync_every=0)
    with pytest.raises(TypeError, match="rbm must be a dbn.BernoulliRBM"):
        dbn.dask.fit_rbm(client, dbn.DBN([8]), Xd)
    with pytest.raises(ValueError, match="per-shard minibatch"):
        dbn.dask.fit_rbm(client, dbn.BernoulliRBM(8), Xd, batch_size=10_000)


def test_out_of_range_data_warn_as_in_process(client, binary_data, tmp_path):
    # One data-range policy on every path: the values are used as given, with the warning (and
    # its advice) of an in-process fit.
    X = binary_data[0] * 2
    match = r"X should lie in \[0, 1\] for Bernoulli visible units, got values in \[0, 2\]"
    params = dict(batch_size=10, n_iter=1, random_state=0)
    with pytest.warns(dbn.DataRangeWarning, match=match):
        dbn.BernoulliRBM(8, **params).fit(X)
    with pytest.warns(dbn.DataRangeWarning, match=match) as cluster:
        dbn.dask.fit_rbm(client, dbn.BernoulliRBM(8, **params), da.from_array(X, chunks=300))
    np.save(tmp_path / "X.npy", X)
    with pytest.warns(dbn.DataRangeWarning, match=match) as out_of_core:
        dbn.out_of_core.pretrain_out_of_core(dbn.DBN([8], **params), tmp_path / "X.npy")
    for record in (cluster, out_of_core):  # one warning per call, as in process
        assert sum(issubclass(w.category, dbn.DataRangeWarning) for w in record) == 1


def test_unscaled_gaussian_data_warn_as_in_process(client, tmp_path):
    # The scale check of Gaussian visible units of unit variance, from the cluster's and the
    # out-of-core pass over the data: the in-process warning, once per call.
    X = np.random.default_rng(0).normal(size=(600, 5))
    X[:, 2] *= 300.0
    match = r"1 of the 5 features of X has a standard deviation above 10 \(feature 2: 2\d\d\.\d"
    params = dict(batch_size=10, n_iter=1, learning_rate=1e-7, random_state=0)
    with pytest.warns(dbn.DataRangeWarning, match=match):
        dbn.GaussianBernoulliRBM(4, **params).fit(X)
    with pytest.warns(dbn.DataRangeWarning, match=match) as cluster:
        dbn.dask.fit_rbm(
            client, dbn.GaussianBernoulliRBM(4, **params), da.from_array(X, chunks=200)
        )
    np.save(tmp_path / "X.npy", X)
    stack = dbn.DBN([4], visible_unit="gaussian", layer_params={0: params}, n_iter=1)
    with pytest.warns(dbn.DataRangeWarning, match=match) as ooc:
        dbn.out_of_core.pretrain_out_of_core(stack, tmp_path / "X.npy")
    for record in (cluster, ooc):
        assert sum("Standardise" in str(w.message) for w in record) == 1
    # A DBN's first layer is named as DBN.pretrain names it, with the DBN's variance option.
    assert any(
        str(w.message).startswith("DBN's Gaussian") and "layer_params" in str(w.message)
        for w in ooc
    )
    standardised = (X - X.mean(axis=0)) / X.std(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", dbn.DataRangeWarning)
        dbn.dask.fit_rbm(
            client, dbn.GaussianBernoulliRBM(4, **params), da.from_array(standardised, chunks=200)
        )


_CAPPED = """
import resource, sys
cap = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
# scikit-learn imports pandas (and pyarrow) when they are installed, as dask-ml's test extra does:
# about 200 MiB of address space that dbn never uses; without them sklearn runs as usual.
sys.modules["pandas"] = sys.modules["pyarrow"] = None
import numpy as np
import dbn, dbn.dask
try:
    np.ones(cap // 8, dtype=np.float64)  # the data could not be loaded whole
except MemoryError:
    print("whole-load refused")
stack = dbn.DBN([16, 4], n_iter=1, batch_size=500, monitor_size=200, random_state=0)
dbn.dask.pretrain_out_of_core(stack, sys.argv[1], chunk_size=20_000)
print("dask imported", "dask" in sys.modules)
# VmHWM, not ru_maxrss: the latter starts from the parent's peak after fork and exec.
peak = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print("peak_rss", int(peak) * 1024)
print("error", stack.layers_[0].history_["reconstruction_error"][-1])
"""


def test_out_of_core_pretraining_in_a_capped_address_space(tmp_path):
    # 1 GiB of float32 on disk; the child's address space is capped at 640 MiB, of which numpy,
    # scipy, scikit-learn, Numba and the BLAS take about 500 MiB before any data is read.
    n_rows, n_features = 1_048_576, 256
    rng = np.random.default_rng(0)
    path = tmp_path / "big.npy"
    prototypes = (rng.random((8, n_features)) < 0.3).astype(np.float32)
    with open(path, "wb") as handle:  # written block by block, so this process stays small too
        header = {"descr": "<f4", "fortran_order": False, "shape": (n_rows, n_features)}
        np.lib.format.write_array_header_2_0(handle, header)
        for _ in range(0, n_rows, 65_536):
            prototypes[rng.integers(0, 8, 65_536)].tofile(handle)
    data_bytes = path.stat().st_size
    cap = 640 * 2**20
    assert data_bytes > 1.6 * cap
    # Compile (or load) the kernels here, so the capped child only loads them from the cache.
    dbn.dask.pretrain_out_of_core(
        dbn.DBN([4, 2], n_iter=1, batch_size=10), np.load(path, mmap_mode="r")[:100]
    )
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CAPPED), str(path), str(cap)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert "whole-load" in lines
    assert lines["dask"] == "imported False"
    peak = int(lines["peak_rss"])
    # Bounded by the chunks (20 000 rows: 20 MB) and the libraries, not by the 1 GiB of data.
    assert peak < 400 * 2**20
    # The prototypes are easy to reconstruct: training happened, on the real data.
    assert float(lines["error"]) < 0.25 * n_features * 0.3


def test_dbn_dask_needs_no_dask_until_called(tmp_path):
    np.save(tmp_path / "x.npy", (np.random.default_rng(0).random((300, 12)) < 0.5).astype(float))
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ImportError("no dask here")
sys.meta_path.insert(0, Block())
import numpy as np, dbn, dbn.dask
X = np.load({str(tmp_path / "x.npy")!r})
dbn.BernoulliRBM(4, n_iter=1, batch_size=10).fit(X)
stack = dbn.dask.pretrain_out_of_core(dbn.DBN([4], n_iter=1, batch_size=10), {str(tmp_path / "x.npy")!r})
print(stack.layers_[0].components_.dtype)
try:
    dbn.dask.fit_rbm(None, dbn.BernoulliRBM(4), X)
except ImportError as error:
    print(error)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "float64" in result.stdout
    assert "pip install 'deep-belief-nets[dask]'" in result.stdout


def test_cluster_pretraining_raises_on_a_blow_up_with_finite_weights(client):
    # As in process (tests/test_rbm.py): a Gaussian layer at rate 0.3 on standardised wine has a
    # reconstruction error of about 1e30 after one epoch while its weights are still finite.
    from sklearn.datasets import load_wine

    data = load_wine().data
    X = (data - data.mean(axis=0)) / data.std(axis=0)
    # The layer of that case has sigma fixed at 1 (the DBN's default before it learnt sigma):
    # with a learnt sigma the same rate makes the weights themselves NaN, another path.
    fixed_sigma = dict(learning_rate=0.3, learn_variance=False, sample_visible=False)
    stack = dbn.DBN(
        [32, 16], visible_unit="gaussian", n_iter=5, layer_params={0: fixed_sigma},
        random_state=0,
    )  # fmt: skip
    with pytest.raises(dbn.DivergenceError, match=r"epoch 1 on the cluster: its reconstruction"):
        dbn.dask.pretrain(client, stack, da.from_array(X, chunks=60))
