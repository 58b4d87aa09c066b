"""What turns the CD statistics into a parameter update: momentum and weight decay, the sparsity
penalty and the centred gradient, each a small object in the manner of optax.

Each transform is stateless configuration with ``init`` (its starting state) and ``update`` (one
minibatch's work on the gradients and parameters, returning the new state), and ``get_state`` /
``set_state`` that read and write its entries of :meth:`ContrastiveDivergence.get_state
<dbn._cd.ContrastiveDivergence.get_state>`. The state itself is held by the CD step
(:attr:`~dbn._cd.ContrastiveDivergence.velocity`, ``running_activity``, ``visible_offset`` and
``hidden_offset``). Unlike optax's, the updates work in place on the arrays they are given: the
momentum step is one fused kernel per parameter, and nothing is allocated per minibatch.

- :class:`Momentum`: ``velocity = momentum * velocity + lr * (gradient - decay * W)``, then
  ``parameter += velocity``; weight decay on the weights only (Hinton 2010, sections 9 and 10).
- :class:`Sparsity`: the penalty that pulls each hidden unit's running mean activity towards a
  target (Hinton 2010, section 11); part of the statistics, before any averaging across workers.
- :class:`Centring`: the gradient of the centred RBM, whose offsets follow running means of the
  data and of the hidden units (Montavon & Müller 2012; Melchior, Fischer & Wiskott 2016).

References
----------
Hinton, G. E. (2010). A practical guide to training restricted Boltzmann machines. UTML TR 2010-003.
Montavon, G., & Müller, K.-R. (2012). Deep Boltzmann machines and the centering trick. Neural
Networks: Tricks of the Trade, LNCS 7700.
Melchior, J., Fischer, A., & Wiskott, L. (2016). How to center deep Boltzmann machines. JMLR
17(99).
"""

from __future__ import annotations

import numpy as np

from .._kernels import rbm as kernels
from .samplers import dense_rows, hidden_units

__all__ = ["OFFSET_ROWS", "SHARED_STATE", "Centring", "Momentum", "Sparsity"]

#: Rows of the data whose mean hidden activation starts the hidden offset of the centred form.
OFFSET_ROWS = 1000

#: Entries of :meth:`ContrastiveDivergence.get_state` that data-parallel workers must share: the
#: direction of every update depends on them (the centred gradient), so a driver averages them with
#: the parameters after every round (:meth:`ContrastiveDivergence.shared_state`).
SHARED_STATE = ("visible_offset_", "hidden_offset_")


class Momentum:
    """Momentum ascent with L2 weight decay on the weights, not the biases.

    State: the velocity of each parameter, a dict keyed, shaped and laid out like the parameters.

    Parameters
    ----------
    weight_decay : float, default=0.0
    """

    def __init__(self, weight_decay=0.0):
        self.weight_decay = weight_decay

    def init(self, parameters):
        return {name: np.zeros_like(p) for name, p in parameters.items()}

    def update(self, velocity, parameters, gradients, learning_rate, momentum):
        """One momentum step of every parameter, in place; returns whether all stayed finite.

        ``gradients`` holds ``"components_"`` transposed (``(n_visible, n_hidden)``, as
        ``parameters["components_"].T``), ``"intercept_hidden_"``, ``"intercept_visible_"`` and,
        for learned variances, ``"log_variance_"``.
        """
        finite = kernels.momentum_step(
            parameters["components_"].T,
            velocity["components_"].T,
            gradients["components_"],
            learning_rate,
            momentum,
            self.weight_decay,
        )
        # Biases are not decayed (Hinton 2010, section 10).
        for name in ("intercept_hidden_", "intercept_visible_", "log_variance_"):
            if gradients.get(name) is not None:
                finite &= kernels.momentum_step(
                    parameters[name], velocity[name], gradients[name], learning_rate, momentum, 0.0
                )
        return finite

    def get_state(self, velocity):
        return {"velocity_" + name: v.copy(order="K") for name, v in velocity.items()}

    def set_state(self, velocity, state):
        """Copy the velocities of ``state`` into ``velocity``; missing ones count as zero."""
        for name, v in velocity.items():
            value = state.get("velocity_" + name)
            if value is None:
                v[...] = 0
            elif np.shape(value) != v.shape:
                raise ValueError(
                    f"state['velocity_{name}'] must have shape {v.shape}, got {np.shape(value)}."
                )
            else:
                v[...] = value


class Sparsity:
    """The sparsity penalty: a running estimate ``q`` of each hidden unit's mean activity, and the
    gradient of ``cost * cross_entropy(target, q)`` added to the hidden biases and the weights.

    State: ``q``, of shape ``(n_hidden,)``, or None without a target.

    Parameters
    ----------
    target : float or None
        Target mean activity; None turns the penalty off.
    cost, damping : float
        Weight of the penalty, and decay of the running estimate.
    """

    def __init__(self, target=None, cost=0.0, damping=0.9):
        self.target, self.cost, self.damping = target, cost, damping

    @property
    def active(self):
        """Whether :meth:`update` changes anything (a target and a positive cost)."""
        return self.target is not None and self.cost > 0

    def init(self, n_hidden, dtype):
        return None if self.target is None else np.full(n_hidden, self.target, dtype)

    def update(self, activity, hidden_mean, visible_in, gradients, buffer):
        """Move ``activity`` towards the minibatch's ``hidden_mean`` and subtract the penalty's
        gradient from ``gradients["intercept_hidden_"]`` and ``gradients["components_"]``
        (transposed, as in :meth:`Momentum.update`), in place; ``buffer`` is ``(n_hidden,)`` work
        space. Returns ``activity``."""
        kernels.sparsity_gradient(hidden_mean, activity, self.damping, self.target, buffer)
        gradients["intercept_hidden_"] -= self.cost * buffer
        kernels.subtract_outer_sparsity(
            gradients["components_"], visible_in.mean(axis=0), buffer, self.cost
        )
        return activity

    def get_state(self, activity):
        return {} if activity is None else {"running_activity_": activity.copy()}

    def set_state(self, state, n_hidden, dtype):
        activity = state.get("running_activity_")
        if activity is not None:
            return np.array(activity, dtype=dtype)
        return self.init(n_hidden, dtype)


class Centring:
    """The centred gradient: the update of the parameters of
    ``E(v, h) = -(v - mu)^T W^T (h - lambda) - b^T v - c^T h``, expressed in the usual biases.

    State: the offsets ``(mu, lambda)`` of shapes ``(n_visible,)`` and ``(n_hidden,)``, or
    ``(None, None)`` before they start. The model itself is unchanged (the offsets fold into the
    biases); only the direction of each update differs.

    Parameters
    ----------
    offset_rate : float, default=0.01
        Weight of each minibatch's means in the running offsets (the sliding average of Melchior
        et al. 2016).
    """

    def __init__(self, offset_rate=0.01):
        self.offset_rate = float(offset_rate)

    def init(self):
        return None, None

    def start(self, X, parameters, *, visible_mean=None):
        """Offsets from data: ``mu`` the mean of ``X`` (or ``visible_mean``), ``lambda`` the mean
        hidden activation of its first :data:`OFFSET_ROWS` rows under ``parameters``."""
        dtype = parameters["components_"].dtype
        if visible_mean is None:
            visible_mean = X.mean(axis=0)
        mean = np.asarray(visible_mean, dtype=np.float64).ravel()
        v = dense_rows(X, np.arange(min(X.shape[0], OFFSET_ROWS)), dtype)
        pre = v @ np.ascontiguousarray(parameters["components_"].T)
        hidden_units(
            pre, parameters["intercept_hidden_"], "bernoulli", None, pre, pre, sample=False
        )
        return mean.astype(dtype), pre.mean(axis=0).astype(dtype)

    def centre(self, offsets, data_means, gradients):
        """Turn ``gradients`` (the CD statistics, weights transposed) into the centred direction,
        in place. Offsets that have not started start from the minibatch's ``data_means`` (the
        visible and hidden means of the data); returns the offsets."""
        if offsets[0] is None:
            offsets = data_means[0].copy(), data_means[1].copy()
        kernels.centre_weight_gradient(
            gradients["components_"],
            offsets[0],
            gradients["intercept_hidden_"],
            gradients["intercept_visible_"],
            offsets[1],
        )
        return offsets

    def update(self, offsets, parameters, velocity, data_means):
        """After the momentum step of the centred parameters: fold it back into the usual biases
        and move the offsets towards ``data_means``, in place; returns whether the biases stayed
        finite."""
        visible_offset, hidden_offset = offsets
        # The step was taken in the centred parameters (W, b + W lambda, c + W^T mu); back in
        # the usual biases it is db - dW lambda and dc - dW^T mu, dW being the weight step.
        step_W_t = velocity["components_"].T
        parameters["intercept_visible_"] -= step_W_t @ hidden_offset
        parameters["intercept_hidden_"] -= step_W_t.T @ visible_offset
        # Moving the offsets changes the parametrisation, not the model: nothing to fold.
        rate = parameters["components_"].dtype.type(self.offset_rate)
        visible_offset += rate * (data_means[0] - visible_offset)
        hidden_offset += rate * (data_means[1] - hidden_offset)
        return bool(
            np.isfinite(parameters["intercept_visible_"]).all()
            and np.isfinite(parameters["intercept_hidden_"]).all()
        )

    def get_state(self, offsets):
        """The :data:`SHARED_STATE` entries (copies), none before the offsets start."""
        if offsets[0] is None:
            return {}
        return {"visible_offset_": offsets[0].copy(), "hidden_offset_": offsets[1].copy()}

    def set_state(self, state, offsets, shape, dtype):
        """The offsets of ``state`` (checked against ``shape``, ``(n_visible, n_hidden)``), or
        ``offsets`` unchanged when it holds none."""
        visible, hidden = state.get("visible_offset_"), state.get("hidden_offset_")
        if visible is None or hidden is None:
            return offsets
        V, H = shape
        if np.shape(visible) != (V,) or np.shape(hidden) != (H,):
            raise ValueError(
                f"state['visible_offset_'] and state['hidden_offset_'] must have shapes ({V},) "
                f"and ({H},), got {np.shape(visible)} and {np.shape(hidden)}."
            )
        return np.array(visible, dtype=dtype), np.array(hidden, dtype=dtype)
