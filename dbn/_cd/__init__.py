"""The CD-k / PCD step of an RBM without an estimator around it, one job per module.

- :mod:`.step`: :class:`ContrastiveDivergence`, the single-threaded minibatch update (``step``,
  ``statistics`` then ``apply``, ``run_epoch``) and its state (``get_state`` / ``set_state``,
  :func:`merge_states` for data-parallel workers);
- :mod:`.samplers`: the unit conditionals, CD-k and PCD chains, parallel tempering;
- :mod:`.transforms`: momentum and weight decay, the sparsity penalty and centring, as small
  init / update objects whose state feeds ``get_state``;
- :mod:`.parallel`: the row-partitioned epoch, compiled per thread (or a Python thread team where
  the platform lacks what the compiled one needs).

The element-wise work is in :mod:`dbn._kernels.rbm`; the GEMMs go through numpy's BLAS.
"""

from __future__ import annotations

from .samplers import dense_rows, hidden_units, visible_units
from .step import PARAMETER_NAMES, ContrastiveDivergence, merge_states
from .transforms import OFFSET_ROWS, SHARED_STATE

__all__ = [
    "OFFSET_ROWS",
    "PARAMETER_NAMES",
    "SHARED_STATE",
    "ContrastiveDivergence",
    "dense_rows",
    "hidden_units",
    "merge_states",
    "visible_units",
]
