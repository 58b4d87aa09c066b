"""Export fitted dbn networks to PyTorch.

:func:`to_torch` turns a fitted :class:`~dbn.MLPClassifier`, :class:`~dbn.MLPRegressor`,
:class:`~dbn.DeepAutoencoder` or pretrained :class:`~dbn.DBN` into a :class:`torch.nn.Module` that
computes what the estimator computes, so a net pretrained and fine-tuned with dbn can be fine-tuned
further, served or combined with other modules in PyTorch.

Only the estimators' public fitted attributes are read (``coefs_``, ``intercepts_``, ``layers_``,
``components_``, ...); the weights are copied, so training the torch module never changes the
estimator. PyTorch is an optional dependency (the ``torch`` extra); importing this module does not
import it.

References
----------
Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science, 313(5786), 504-507.

Paszke, A. et al. (2019). PyTorch: an imperative style, high-performance deep learning library.
NeurIPS 32, 8024-8035.

Srivastava, N., Hinton, G., Krizhevsky, A., Sutskever, I. and Salakhutdinov, R. (2014). Dropout: a
simple way to prevent neural networks from overfitting. JMLR, 15, 1929-1958.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

__all__ = ["to_torch"]

#: The distribution name, for the install hint of the error raised when PyTorch is missing.
DISTRIBUTION = "deep-belief-nets"

_SUPPORTED = ("MLPClassifier", "MLPRegressor", "DeepAutoencoder", "DBN", "Whitening")


def _import_torch():
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        raise ImportError(
            "to_torch() needs PyTorch, an optional dependency of dbn that is not installed "
            f'({exc}). Install it with: pip install "{DISTRIBUTION}[torch]"'
        ) from exc
    return torch, nn


def to_torch(estimator, *, probabilities=False):
    """A :class:`torch.nn.Module` that computes what a fitted dbn network computes.

    The module holds copies of the estimator's weights as float32 or float64 parameters (the
    estimator's dtype) and is returned in evaluation mode: its dropout layers, where the estimator
    was trained with dropout, are inactive until ``module.train()``. Its outputs equal the
    estimator's within the rounding of that dtype (the matrix products and the float32 sigmoid
    round differently in the two libraries).

    ============================ ========================================================
    estimator                    module
    ============================ ========================================================
    ``MLPClassifier``            ``nn.Sequential``: ``[Dropout,] Linear, act, [Dropout,]
                                 ... Linear``; outputs the logits
                                 (:meth:`~dbn.MLPClassifier.decision_function`), or the
                                 class probabilities with ``probabilities=True``
                                 (a final ``Softmax(dim=1)``)
    ``MLPRegressor``             the same with a linear output: :meth:`~dbn.MLPRegressor.predict`,
                                 always of shape ``(n_samples, n_outputs)``
    ``DeepAutoencoder``          ``nn.Sequential`` of two ``nn.Sequential`` named
                                 ``encoder`` and ``decoder``: ``module(x)`` is the
                                 reconstruction, ``module.encoder(x)`` the code
    ``DBN``                      ``nn.Sequential`` of ``Linear, Sigmoid`` per RBM (no
                                 sigmoid after linear hidden units): the features of
                                 :meth:`~dbn.DBN.transform`
    ``Whitening``                one ``Linear`` layer: :meth:`~dbn.Whitening.transform`,
                                 to put in front of a net trained on whitened inputs
                                 (``nn.Sequential(whitening.to_torch(), net.to_torch())``)
    ============================ ========================================================

    Parameters
    ----------
    estimator : MLPClassifier, MLPRegressor, DeepAutoencoder, DBN or Whitening
        A fitted network (a DBN after ``pretrain``), or a fitted whitening. It is not modified.
    probabilities : bool, default=False
        For an ``MLPClassifier`` only: end the module with a softmax, so that it outputs
        :meth:`~dbn.MLPClassifier.predict_proba` instead of the logits. Keep the logits to train
        with :class:`torch.nn.CrossEntropyLoss`.

    Returns
    -------
    module : torch.nn.Module
        In evaluation mode, with ``requires_grad=True`` parameters on the CPU.

    Raises
    ------
    ImportError
        If PyTorch is not installed; the message gives the install command.
    TypeError
        If ``estimator`` is not one of the supported estimators, or ``probabilities`` is not a
        bool.
    ValueError
        If ``probabilities=True`` for an estimator other than ``MLPClassifier``.
    dbn.NotFittedError
        If the estimator has not been fitted.

    Notes
    -----
    A Gaussian-visible RBM that learned its variances (``log_variance_``) feeds its hidden units
    ``(v / sigma) W^T``; the exported first layer folds ``1 / sigma`` into the weights, as
    :meth:`dbn.DBN.to_mlp` does. Linear hidden units (``hidden_unit="gaussian"``) export as a bare
    ``Linear`` layer: their mean is the pre-activation.

    References
    ----------
    Paszke, A. et al. (2019). PyTorch: an imperative style, high-performance deep learning
    library. NeurIPS 32, 8024-8035.

    Examples
    --------
    >>> import numpy as np, torch
    >>> import dbn
    >>> from dbn.export import to_torch
    >>> X = np.random.default_rng(0).random((100, 6)).astype(np.float32)
    >>> y = (X[:, 0] > 0.5).astype(int)
    >>> clf = dbn.MLPClassifier((4,), max_iter=5, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> net = to_torch(clf)  # doctest: +SKIP
    >>> np.allclose(net(torch.from_numpy(X)).detach().numpy(), clf.decision_function(X),
    ...             atol=1e-5)  # doctest: +SKIP
    True
    """
    kind = _kind(estimator)
    if not isinstance(probabilities, bool | np.bool_):
        raise TypeError(f"probabilities must be True or False, got {probabilities!r}.")
    if probabilities and kind != "MLPClassifier":
        raise ValueError(
            f"probabilities=True applies to an MLPClassifier only, got a {type(estimator).__name__}."
        )
    fitted_attribute = {"DBN": "layers_", "Whitening": "whitening_"}.get(kind, "coefs_")
    _check_fitted(estimator, fitted_attribute)
    torch, nn = _import_torch()
    if kind == "Whitening":
        # (x - mean) W = x W - mean W; W is symmetric, so it is its own (out, in) matrix.
        W = estimator.whitening_
        module = _linear(torch, nn, W.T, -(estimator.mean_ @ W))
    elif kind == "DBN":
        module = _dbn_module(torch, nn, estimator)
    elif kind == "DeepAutoencoder":
        module = _autoencoder_module(torch, nn, estimator)
    else:
        module = _mlp_module(torch, nn, estimator, probabilities)
    return module.eval()


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------


def _kind(estimator):
    """The name of the supported class ``estimator`` is an instance of; a TypeError otherwise."""
    import dbn

    for name in _SUPPORTED:
        if isinstance(estimator, getattr(dbn, name)):
            return name
    raise TypeError(
        "estimator must be a dbn MLPClassifier, MLPRegressor, DeepAutoencoder, DBN or Whitening, "
        "got "
        f"{type(estimator).__module__}.{type(estimator).__name__}."
    )


def _check_fitted(estimator, attribute):
    from . import NotFittedError

    if getattr(estimator, attribute, None) is None:
        action = "pretrain" if attribute == "layers_" else "fit"
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet: to_torch() exports "
            f"fitted weights ({attribute}). Call '{action}' first."
        )


# --------------------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------------------


def _linear(torch, nn, weight, bias):
    """``nn.Linear`` holding copies of ``weight`` (out, in) and ``bias`` (out,).

    Built on the meta device and given its parameters afterwards, so that no random
    initialisation runs: exporting does not advance torch's global random number generator.
    """
    weight = np.array(weight, order="C", copy=True)
    bias = np.array(bias, order="C", copy=True)
    n_out, n_in = weight.shape
    if bias.shape != (n_out,):
        raise ValueError(
            f"a layer's bias has shape {bias.shape}, expected ({n_out},) to match weights of "
            f"shape {weight.shape}."
        )
    layer = nn.Linear(n_in, n_out, device="meta", dtype=_torch_dtype(torch, weight.dtype))
    layer.weight = nn.Parameter(torch.from_numpy(weight))
    layer.bias = nn.Parameter(torch.from_numpy(bias))
    return layer


def _torch_dtype(torch, dtype):
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[dtype]


def _activation(nn, name):
    """The torch module of a dbn activation name; None for the identity."""
    modules = {"sigmoid": nn.Sigmoid, "logistic": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
    if name == "identity":
        return None
    if name not in modules:
        raise ValueError(f"cannot export the activation {name!r} to torch.")
    return modules[name]()


def _dense_layers(torch, nn, coefs, intercepts, activations, dropouts=None):
    """``[Dropout(p_i),] Linear_i, activation_i`` for each layer; dbn stores ``W`` as (in, out)."""
    layers = []
    dropouts = dropouts or [0.0] * len(coefs)
    for W, b, activation, p in zip(coefs, intercepts, activations, dropouts, strict=True):
        if p > 0:
            layers.append(nn.Dropout(float(p)))
        layers.append(_linear(torch, nn, np.asarray(W).T, b))
        module = _activation(nn, activation)
        if module is not None:
            layers.append(module)
    return layers


def _mlp_module(torch, nn, mlp, probabilities):
    n_layers = len(mlp.coefs_)
    activations = [mlp.activation] * (n_layers - 1)
    output = mlp.out_activation_
    # The classifier's module ends at the logits unless probabilities were asked for.
    activations.append("identity" if output == "softmax" else output)
    dropouts = [float(mlp.dropout_input)] + [float(mlp.dropout_hidden)] * (n_layers - 1)
    layers = _dense_layers(torch, nn, mlp.coefs_, mlp.intercepts_, activations, dropouts)
    if probabilities:
        layers.append(nn.Softmax(dim=1))
    return nn.Sequential(*layers)


def _autoencoder_module(torch, nn, ae):
    k = len(ae.coefs_) // 2
    encoder = ["sigmoid"] * (k - 1) + [ae.code_activation]
    decoder = ["sigmoid"] * (k - 1) + [ae.output_activation]
    return nn.Sequential(
        OrderedDict(
            encoder=nn.Sequential(
                *_dense_layers(torch, nn, ae.coefs_[:k], ae.intercepts_[:k], encoder)
            ),
            decoder=nn.Sequential(
                *_dense_layers(torch, nn, ae.coefs_[k:], ae.intercepts_[k:], decoder)
            ),
        )
    )


def _dbn_module(torch, nn, stack):
    layers = []
    for rbm in stack.layers_:
        W = rbm.components_  # (n_components, n_features): torch's (out, in) already
        if getattr(rbm, "log_variance_", None) is not None:
            # The hidden input is (v / sigma) W^T: fold 1 / sigma into the weights (as DBN.to_mlp).
            W = W / rbm.sigma_[None, :]
        layers.append(_linear(torch, nn, W, rbm.intercept_hidden_))
        if rbm.hidden_unit == "bernoulli":
            layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)
