"""The activation registry and the weight-scale gains: names, kernel codes, recommended gains.

Estimators, :mod:`dbn.init` and :mod:`dbn.diagnostics` all translate activation names here; the module
imports no estimator, so none of them import each other for it.

References
----------
Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward neural
networks. AISTATS, JMLR W&CP 9, 249-256.

He, K., Zhang, X., Ren, S. and Sun, J. (2015). Delving deep into rectifiers: surpassing human-level
performance on ImageNet classification. ICCV, 1026-1034.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_choice

__all__ = ["ACTIVATIONS", "SOFTMAX", "activation_code", "activation_name", "gain", "kinds_of"]

# The codes the element-wise kernels switch on (``dbn._kernels.mlp`` takes them from here). Plain
# ints in a pure-Python module, so that ``dbn.init`` can name activations without loading Numba.
IDENTITY = 0
SIGMOID = 1
TANH = 2
RELU = 3

#: Hidden (and output) activations by name, as the codes of the kernels in ``dbn._kernels.mlp``.
ACTIVATIONS = {
    "sigmoid": SIGMOID,
    "logistic": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "identity": IDENTITY,
}
#: Code of a softmax output layer. No element-wise kernel takes it: the softmax couples a row's units,
#: so :mod:`dbn._backprop` handles that layer itself.
SOFTMAX = -1

_GAINS = {
    "sigmoid": 4.0,
    "logistic": 4.0,
    "tanh": 1.0,
    "relu": float(np.sqrt(2.0)),
    "identity": 1.0,
    "linear": 1.0,
    "softmax": 1.0,
}


def activation_code(activation, name="activation"):
    """Kernel code of ``activation``; a ValueError naming ``name`` for an unknown one."""
    check_choice(activation, name, ACTIVATIONS)
    return ACTIVATIONS[activation]


def activation_name(code):
    """Canonical name of a kernel code (``'sigmoid'`` rather than ``'logistic'``)."""
    if code == SOFTMAX:
        return "softmax"
    for name, value in ACTIVATIONS.items():
        if value == code:
            return name
    raise ValueError(f"unknown activation code {code!r}")


def kinds_of(n_layers, activation, output):
    """Codes of the ``n_layers`` layers of a net with one hidden ``activation`` and an ``output``.

    Parameters
    ----------
    n_layers : int
        Weight layers, output layer included.
    activation : str
        Name of the hidden activation.
    output : str
        ``'softmax'`` or the name of an activation, for the last layer.

    Returns
    -------
    kinds : tuple of int
    """
    hidden = activation_code(activation)
    top = SOFTMAX if output == "softmax" else activation_code(output, "output")
    return (hidden,) * (n_layers - 1) + (top,)


def gain(activation):
    """Recommended weight scale for an activation, to multiply :func:`xavier_uniform` and friends.

    The inverse of the activation's slope at zero, so that in the linear regime a layer neither
    shrinks nor amplifies the variance: 4 for the sigmoid (slope 1/4; Glorot & Bengio, 2010, used with
    the sigmoid in the Theano deep-learning tutorials), 1 for tanh and the identity, ``sqrt(2)`` for
    the ReLU (He et al., 2015), 1 for the softmax output.

    Parameters
    ----------
    activation : {'sigmoid', 'logistic', 'tanh', 'relu', 'identity', 'linear', 'softmax'}

    Returns
    -------
    gain : float

    References
    ----------
    Glorot, X. and Bengio, Y. (2010). Understanding the difficulty of training deep feedforward
    neural networks. AISTATS, JMLR W&CP 9, 249-256.

    He, K., Zhang, X., Ren, S. and Sun, J. (2015). Delving deep into rectifiers: surpassing
    human-level performance on ImageNet classification. ICCV, 1026-1034.
    """
    check_choice(activation, "activation", _GAINS)
    return _GAINS[activation]
