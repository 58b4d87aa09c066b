"""Optimisers of backprop nets as small objects: SGD with (Nesterov) momentum, Adam, and CG.

In the manner of scikit-learn's ``_stochastic_optimizers`` and optax, each optimiser has

- ``init(params)``: allocate its state for a flat parameter vector (kept if it already fits);
- ``step(params, grads, learning_rate, l2)``: one update of ``params`` in place;
- ``state``: a dict of what it carries between steps, under the names model files and checkpoints
  store (``optimizer/velocity``; ``optimizer/m``, ``optimizer/v`` and ``optimizer_t``).

They work on the one flat vector ``[W1, b1, W2, b2, ...]`` of :mod:`dbn._backprop`, through the fused
kernels of ``dbn._kernels.mlp`` (one pass over memory for decay, moments and update). A step can be
split by layer: ``begin(learning_rate, l2)`` once per minibatch, then ``update(params, grads, rows)``
for each layer as soon as back-propagation has finished its gradient, while it is still in cache.
:class:`ConjugateGradient` instead minimises a whole minibatch objective through scipy.

References
----------
Sutskever, I., Martens, J., Dahl, G. and Hinton, G. (2013). On the importance of initialization and
momentum in deep learning. ICML, 1139-1147.

Kingma, D. P. and Ba, J. (2015). Adam: a method for stochastic optimization. ICLR.

Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the dimensionality of data with neural
networks. Science, 313(5786), 504-507.
"""

from __future__ import annotations

import numpy as np

from .._kernels import mlp as _k

__all__ = ["SGD", "Adam", "ConjugateGradient", "make_optimizer"]


def _all_rows(params):
    """One segment covering ``params``, without weight decay."""
    return np.array([[0, params.shape[0], 0]], dtype=np.int64)


class _FirstOrder:
    """Shared plumbing of :class:`SGD` and :class:`Adam`."""

    _STATE_ARRAYS = ()

    def __init__(self, state=None):
        # The caller may hand in its own dict (an estimator's stored state): it is updated in place.
        self.state = {} if state is None else state
        self._args = None

    def init(self, params):
        """Allocate the state for ``params`` (zeros), unless the stored state already fits.

        State of another shape (a net of other sizes) is discarded whole.

        Returns
        -------
        state : dict
        """
        state = self.state
        if any(np.shape(v) != params.shape for v in state.values() if isinstance(v, np.ndarray)):
            state.clear()
        self._init_missing(params)
        return state

    def step(self, params, grads, learning_rate, l2=0.0, rows=None):
        """One step on the whole vector.

        Parameters
        ----------
        params, grads : ndarray of shape (n_params,)
        learning_rate : float
        l2 : float, default=0.0
            Weight decay ``l2 * params`` added to the gradient of the rows marked as weights.
        rows : ndarray of shape (n_segments, 3), int64, optional
            ``(start, stop, is_weight)`` segments (:func:`dbn._backprop.segments`); default: the
            whole vector, without decay.
        """
        self.begin(learning_rate, l2)
        self.update(params, grads, _all_rows(params) if rows is None else rows)


class SGD(_FirstOrder):
    """Minibatch SGD with classical or Nesterov momentum and L2 weight decay.

    ``v = momentum * v - learning_rate * g`` then ``theta += v`` (classical) or
    ``theta += momentum * v - learning_rate * g`` (Nesterov, in the form of Sutskever et al., 2013),
    with ``g = grads + l2 * theta`` on weights.

    Parameters
    ----------
    momentum : float, default=0.9
    nesterov : bool, default=True
    state : dict, optional
        Holds ``'velocity'``; a new dict by default.
    """

    def __init__(self, momentum=0.9, nesterov=True, state=None):
        super().__init__(state)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _init_missing(self, params):
        if "velocity" not in self.state:
            self.state["velocity"] = np.zeros_like(params)

    def begin(self, learning_rate, l2=0.0):
        """Fix the learning rate and decay of the step that the next :meth:`update` calls make."""
        self._args = (learning_rate, self.momentum, self.nesterov, l2)

    def update(self, params, grads, rows):
        """Apply the current step to the segments ``rows`` of ``params`` (in place)."""
        _k.sgd_step_(params, grads, self.state["velocity"], rows, *self._args)


class Adam(_FirstOrder):
    """Adam (Kingma & Ba, 2015) with L2 weight decay added to the gradient.

    Each :meth:`begin` counts one step ``t`` and sets the bias-corrected step size
    ``learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)``.

    Parameters
    ----------
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
    state : dict, optional
        Holds ``'m'``, ``'v'`` and the step count ``'t'``; a new dict by default.
    """

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8, state=None):
        super().__init__(state)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)

    def _init_missing(self, params):
        if "m" not in self.state:
            self.state.update(m=np.zeros_like(params), v=np.zeros_like(params), t=0)

    def begin(self, learning_rate, l2=0.0):
        """Count a step and fix its size and decay for the next :meth:`update` calls."""
        self.state["t"] += 1
        t = self.state["t"]
        step = learning_rate * np.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        self._args = (float(step), self.beta_1, self.beta_2, self.epsilon, l2)

    def update(self, params, grads, rows):
        """Apply the current step to the segments ``rows`` of ``params`` (in place)."""
        state = self.state
        _k.adam_step_(params, grads, state["m"], state["v"], rows, *self._args)


class ConjugateGradient:
    """Nonlinear conjugate gradient (Polak-Ribiere, scipy) on one minibatch objective at a time.

    Hinton & Salakhutdinov (2006) fine-tune with three line searches on minibatches of 1000. The
    optimiser carries nothing between minibatches, so its :attr:`state` is empty.

    Parameters
    ----------
    max_line_searches : int, default=3
        Iterations of ``scipy.optimize.minimize(method='CG')`` per call, one line search each.
    """

    def __init__(self, max_line_searches=3):
        self.max_line_searches = int(max_line_searches)
        self.state = {}

    def init(self, params):
        """Nothing to allocate; returns the (empty) state."""
        return self.state

    def minimize(self, objective, params):
        """Minimise ``objective`` from ``params``, left at the accepted point.

        Parameters
        ----------
        objective : callable
            ``objective(x) -> (loss, gradient)`` for ``x`` of float64; it may write ``x`` into
            ``params`` (the line search then leaves a trial point there, overwritten on return).
        params : ndarray of shape (n_params,)
            Start, updated in place.

        Returns
        -------
        loss : float
            The objective at the accepted point.
        """
        from scipy.optimize import minimize

        result = minimize(
            objective,
            params.astype(np.float64),
            jac=True,
            method="CG",
            options={"maxiter": self.max_line_searches},
        )
        params[...] = result.x
        return float(result.fun)

    def step(self, params, objective):
        """Same as :meth:`minimize` (the optimiser interface's name)."""
        return self.minimize(objective, params)


def make_optimizer(solver, params, state):
    """The optimiser of ``solver`` for an estimator's hyperparameters, sharing its ``state`` dict.

    Parameters
    ----------
    solver : {'sgd', 'adam', 'cg'}
    params : object
        Has ``momentum``, ``nesterovs_momentum``, ``beta_1``, ``beta_2``, ``epsilon`` and
        ``cg_max_line_searches`` (the estimator).
    state : dict
        The estimator's stored optimiser state, updated in place.
    """
    if solver == "sgd":
        return SGD(params.momentum, params.nesterovs_momentum, state)
    if solver == "adam":
        return Adam(params.beta_1, params.beta_2, params.epsilon, state)
    return ConjugateGradient(params.cg_max_line_searches)
