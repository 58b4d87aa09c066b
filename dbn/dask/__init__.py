"""Scaling out: data-parallel training on a dask.distributed cluster.

In the manner of ``xgboost.dask`` and ``lightgbm.dask``, this package holds functions that take a
``distributed.Client`` (or find the current one), an ordinary dbn estimator and a dask array, and
return the same estimator, fitted: afterwards it is an in-memory model like any other (``save``,
``transform``, ``to_mlp``...).

- :func:`fit_rbm`, :func:`pretrain`: data-parallel CD-k / PCD for :class:`dbn.BernoulliRBM`,
  :class:`dbn.GaussianBernoulliRBM` and the layers of a :class:`dbn.DBN`;
- :func:`fit_mlp`: data-parallel backprop fine-tuning of :class:`dbn.MLPClassifier` and
  :class:`dbn.MLPRegressor` (SGD with momentum, Adam);
- :func:`transform`, :func:`predict`, :func:`predict_proba`, :func:`score`: blockwise, on the
  workers, returning dask arrays.

Why separate functions rather than dask input to ``fit``: the estimators stay exactly what they are
for numpy input (no dask import, no hidden cluster logic, same numbers); the distributed parameters
that have no in-process meaning (``sync_every``, the client, the per-worker minibatch) are explicit
arguments; and the scaling code lives in one package that imports dask only when it is called:
:mod:`._shards` (the client, the shards and the rounds of parameter averaging), :mod:`._rbm` (the
RBM and DBN trainers), :mod:`._mlp` (the MLP trainer) and :mod:`._blockwise` (blockwise outputs).
Pretraining from disk on one machine, with no cluster, is
:func:`dbn.out_of_core.pretrain_out_of_core` (also importable from here).

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

# The option policy the cluster and out-of-core paths share, under dbn.dask's names for it
# (tests/test_dask.py walks them); and pretrain_out_of_core, now in dbn.out_of_core.
from .._drivers import DRIVER_PARAMS as _DRIVER_PARAMS  # noqa: F401
from .._drivers import REFUSED as _REFUSED  # noqa: F401
from .._drivers import check_options as _check_options  # noqa: F401
from .._drivers import rbm_config as _rbm_config  # noqa: F401
from .._drivers import shard_seeds as _shard_seeds  # noqa: F401
from ..out_of_core import pretrain_out_of_core  # noqa: F401
from ._blockwise import predict, predict_proba, score, transform
from ._mlp import fit_mlp
from ._rbm import fit_rbm, pretrain
from ._shards import DaskTrainingError

__all__ = [
    "DaskTrainingError",
    "fit_rbm",
    "pretrain",
    "fit_mlp",
    "transform",
    "predict",
    "predict_proba",
    "score",
]
