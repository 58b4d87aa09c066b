"""dbn: greedy layer-wise pretraining of RBMs and Deep Belief Networks.

The data flow is ``X -> RBM kernels -> DBN stack -> MLP``:

- :class:`BernoulliRBM`, :class:`GaussianBernoulliRBM` (``dbn.rbm``): CD-k / PCD training with Numba kernels.
- :class:`DBN` (``dbn.stack``): greedy stacking, ``pretrain(X).to_mlp()``, ``to_autoencoder()``.
- :class:`DBM` (``dbn.dbm``): Deep Boltzmann Machines, pretrained with doubled RBMs, trained jointly.
- :class:`MLPClassifier`, :class:`MLPRegressor` (``dbn.mlp``): backprop fine-tuning.
- :class:`DBNClassifier` (``dbn.classifier``): pretraining and fine-tuning in one ``fit``, for
  scikit-learn's model selection (or the same net from another initialiser, to compare).
- ``dbn.init``, ``dbn.diagnostics``: initialisation schemes and per-layer statistics.
- ``dbn.preprocessing``: :class:`Whitening`, decorrelated real-valued inputs for a Gaussian RBM.
- ``dbn.evaluation``, ``dbn.datasets``, ``dbn.io``, ``dbn.plot``.
- ``dbn.out_of_core``, ``dbn.dask``: pretraining from disk, and training on a dask cluster.
- ``dbn.export``: :func:`~dbn.export.to_torch`, the fitted networks as PyTorch modules.

Every estimator is a scikit-learn estimator (``clone``, ``Pipeline``, ``GridSearchCV``,
``set_output``); ``dbn.NotFittedError`` is :class:`sklearn.exceptions.NotFittedError`.

Submodules load on first use, so ``import dbn`` stays fast (it imports neither scikit-learn nor Numba)
and the Numba kernels compile lazily.
"""

from __future__ import annotations

import importlib

# The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]).
__version__ = "0.1.0"

_ATTRIBUTES = {
    "BernoulliRBM": "dbn.rbm",
    "Callback": "dbn._training.callbacks",
    "GaussianBernoulliRBM": "dbn.rbm",
    "DBN": "dbn.stack",
    "DBNClassifier": "dbn.classifier",
    "DBM": "dbn.dbm",
    "DeepAutoencoder": "dbn.autoencoder",
    "MLPClassifier": "dbn.mlp",
    "MLPRegressor": "dbn.mlp",
    "Whitening": "dbn.preprocessing",
    "DataRangeWarning": "dbn._validation",
    "DivergenceError": "dbn._validation",
    # scikit-learn's own class, so that except clauses and sklearn's tools agree.
    "NotFittedError": "sklearn.exceptions",
}
_SUBMODULES = {
    "rbm",
    "stack",
    "dbm",
    "mlp",
    "classifier",
    "init",
    "preprocessing",
    "diagnostics",
    "evaluation",
    "datasets",
    "io",
    "plot",
    "autoencoder",
    "export",
    "out_of_core",
    "dask",  # imports dask only when one of its functions is called
}

__all__ = sorted(_ATTRIBUTES) + sorted(_SUBMODULES)


def __getattr__(name):
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"dbn.{name}")
    raise AttributeError(f"module 'dbn' has no attribute {name!r}")


def __dir__():
    return __all__
