"""What the drivers that train RBMs outside ``fit`` share: on a dask cluster (:mod:`dbn.dask`) and
out of core (:mod:`dbn.out_of_core`).

- the option policy: every RBM hyperparameter is honoured by a path (``rbm.cd_config()``, the
  estimator's one source of its CD step, or :data:`DRIVER_PARAMS`) or refused by name
  (:data:`REFUSED`, and any option no path knows), :func:`check_options` and :func:`rbm_config`;
- the estimator's own initialisation from the data's column means, and the random streams;
- the data-range policy of an in-process fit (:func:`warn_out_of_range`);
- handing the trained parameters and CD state back to the estimator (:func:`set_rbm`), the
  reconstruction error and features of a block, and the per-layer callbacks of a DBN.

Nothing here imports dask.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._rbm_math import hidden_mean, visible_mean
from ._training.loop import EpochTrainer
from ._validation import check_values, warn_on_feature_scale

__all__ = [
    "DBN_VARIANCE_OPTION",
    "DRIVER_PARAMS",
    "REFUSED",
    "LayerCallbacks",
    "Publishing",
    "check_options",
    "float_dtype",
    "gaussian_visible",
    "initial_rbm_parameters",
    "parameter_names",
    "rbm_config",
    "rbm_features",
    "rbm_monitor",
    "scale_warning_applies",
    "set_rbm",
    "shard_seeds",
    "warn_if_unscaled",
    "warn_out_of_range",
]


# Where the cluster and out-of-core paths honour each RBM hyperparameter. Those of
# ``rbm.cd_config()`` (the estimator's one source of its CD step) reach every shard's CD object;
# the drivers read the ones below themselves; an option in REFUSED is refused by name on the paths
# it lists. Any other option set away from its default is refused too, so that an option added to
# the estimator cannot be dropped here in silence (tests/test_dask.py walks _get_param_names()).
DRIVER_PARAMS = {
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
    "verbose": "the per-epoch lines and progress bar of run_epochs (dbn._training.verbose)",
    "random_state": "the shards' random streams (shard_seeds)",
}
# option -> {path: what to do instead}; the paths are "cluster" and "out of core".
REFUSED = {}
_PATH_NAMES = {
    "cluster": "the cluster path (dbn.dask.fit_rbm, dbn.dask.pretrain)",
    "out of core": "dbn.out_of_core.pretrain_out_of_core",
}


def check_options(rbm, path):
    """Refuse, by name, an option of ``rbm`` set away from its default that ``path`` cannot
    honour: one in :data:`REFUSED` for this path, or one that no path knows."""
    import inspect

    defaults = {
        name: p.default for name, p in inspect.signature(type(rbm).__init__).parameters.items()
    }
    honoured = set(rbm.cd_config()) | set(DRIVER_PARAMS)
    for name, value in rbm.get_params(deep=False).items():
        remedy = REFUSED.get(name, {}).get(path)
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


def rbm_config(rbm, batch_size, n_shards=1, path="cluster"):
    """The CD configuration of one of ``n_shards`` shards: ``rbm.cd_config`` with the per-shard
    minibatch, and ``n_chains`` persistent chains in all split over the shards like the minibatch
    (each shard's default chains are its minibatch, so the total is the combined minibatch)."""
    check_options(rbm, path)
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


def initial_rbm_parameters(rbm, mean, dtype):
    """The estimator's own initialisation (Hinton 2010, section 8: small random weights, zero hidden
    biases, visible biases from the data's means), from the column means alone: ``initialize`` of
    the one-row array of the means gives the same parameters as ``initialize`` of the whole data."""
    # The data were checked (and a DataRangeWarning given) already: no second check of the means.
    rbm.initialize(np.ascontiguousarray(np.asarray(mean, dtype=dtype)[None, :]), check_input=False)
    return {name: getattr(rbm, name).copy(order="K") for name in parameter_names(rbm)}


def parameter_names(rbm):
    """Names of the fitted ``rbm``'s parameters (``log_variance_`` if it learns variances)."""
    names = ["components_", "intercept_hidden_", "intercept_visible_"]
    if getattr(rbm, "log_variance_", None) is not None:
        names.append("log_variance_")
    return names


def shard_seeds(random_state, n_shards):
    """Independent streams for the shards (one for out-of-core training), reproducible from an
    integer ``random_state``."""
    if isinstance(random_state, numbers.Integral):
        entropy = [int(random_state), 0xDA5C]
    elif isinstance(random_state, np.random.Generator):
        entropy = int(random_state.integers(2**63))
    else:
        entropy = None
    return np.random.SeedSequence(entropy).spawn(n_shards)


def warn_out_of_range(name, low, high, value_range):
    """The :class:`dbn.DataRangeWarning` an in-process fit gives (``dbn._validation.check_values``,
    the one data-range policy) for data whose extremes, ``low`` and ``high``, were measured a block
    at a time: out-of-range values are used as given, with the advice to scale them."""
    check_values(np.array([low, high]), name, value_range=value_range)


def float_dtype(dtype):
    """``dtype`` if it is float32 or float64, else float64: the dtype of a model of such data."""
    return np.dtype(dtype) if np.dtype(dtype) in (np.float32, np.float64) else np.dtype(np.float64)


#: How a DBN learns its first layer's variances, named in the scale warning of a DBN's layer.
DBN_VARIANCE_OPTION = (
    "layer_params={0: {'learn_variance': True}} with a learning_rate to match: the DBN's "
    "Gaussian layer learns them by default, but from sigma = 1 and at 0.03 times the DBN's rate"
)


def scale_warning_applies(rbm):
    """Whether ``rbm`` should warn on features far off unit scale: Gaussian visible units whose
    sigma is fixed at 1, or learnt only because a DBN's default asked for it (from sigma = 1, at
    the Gaussian layer's slow rate, it cannot reach a scale of thousands); a sigma the user
    asked to learn is trusted."""
    return gaussian_visible(rbm) and (
        not rbm._learns_variance() or getattr(rbm, "_variance_by_default", False)
    )


def warn_if_unscaled(rbm, std, name, in_dbn=False):
    """The in-process fit's scale warning (:func:`dbn._validation.warn_if_not_standardised`)
    for ``rbm`` on data whose features have the standard deviations ``std``, on the paths that
    compute them in their own pass over the data (cluster, out of core); ``in_dbn``: ``rbm`` is
    a DBN's first layer, and the warning names the DBN, as ``DBN.pretrain`` does."""
    if scale_warning_applies(rbm):
        if in_dbn:
            warn_on_feature_scale("DBN", std, DBN_VARIANCE_OPTION, name=name)
        else:
            warn_on_feature_scale(type(rbm).__name__, std, name=name)


def gaussian_visible(rbm):
    """Whether ``rbm`` has Gaussian visible units (its data need not lie in [0, 1])."""
    from .rbm import GaussianBernoulliRBM

    return isinstance(rbm, GaussianBernoulliRBM)


def rbm_monitor(params, block, config, n_monitor):
    """Summed squared reconstruction error of the first ``n_monitor`` rows of ``block``, their
    count, and their summed squared norm (the scale :func:`dbn._rbm_trainer.raise_if_blown_up`
    compares the error with)."""
    v = block[:n_monitor]
    if v.shape[0] == 0:
        return 0.0, 0, 0.0
    W, sigma = params["components_"], _sigma(params)
    hidden = hidden_mean(v, W, params["intercept_hidden_"], config["hidden_unit"], sigma)
    top = visible_mean(hidden, W, params["intercept_visible_"], config["visible_unit"], sigma)
    error = float(np.sum((v - top) ** 2, dtype=np.float64))
    return error, int(v.shape[0]), float(np.sum(np.square(v, dtype=np.float64)))


def rbm_features(block, params, hidden_unit):
    """Hidden means of a block (the next layer's data), computed on the block's worker."""
    return hidden_mean(
        block, params["components_"], params["intercept_hidden_"], hidden_unit, _sigma(params)
    )


def _sigma(params):
    """The visible standard deviations of learnt variances, else None (unit variance)."""
    log_var = params.get("log_variance_")
    return None if log_var is None else np.exp(0.5 * log_var)


def set_rbm(rbm, params, n_features, n_epochs, history, state=None):
    """Put trained parameters (and optionally a CD state) into the estimator, as ``load`` does."""
    arrays = {name: np.array(p, order="F" if p.ndim == 2 else "C") for name, p in params.items()}
    if state:
        arrays.update(state)
    extra = {
        "n_features_in_": int(n_features),
        "n_iter_": int(n_epochs),
        "history_": {k: list(v) for k, v in history.items()},
    }
    rbm.restore_training_state(arrays, extra)


class Publishing(EpochTrainer):
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

    def report(self, completed, logs):
        self.trainer.report(completed, logs)


class LayerCallbacks:
    """A layer's callback: the DBN's callbacks with ``logs["layer"]``, as ``DBN.pretrain`` does."""

    def __init__(self, dbn, layer, callbacks):
        self.dbn, self.layer, self.callbacks = dbn, layer, callbacks
        self.stopped = False

    def __call__(self, rbm, epoch, logs):
        stop = self.callbacks.on_epoch_end(self.dbn, epoch, dict(logs, layer=self.layer))
        self.stopped = self.stopped or bool(stop)
        return stop
