"""The one training engine under every dbn estimator.

- :mod:`.loop`: the epoch loop (timing, ``history_``, callbacks, progress bar, early-stopping hook,
  rollback to the last good epoch on divergence or ``KeyboardInterrupt``, per-epoch checkpoints).
- :mod:`.callbacks`: the callback contract and :class:`Callback`.
- :mod:`.schedules`: the learning-rate and momentum schedule contract.
- :mod:`.checkpoint`: atomic checkpoint files that know which data they belong to.
- :mod:`.optimizers`: SGD (Nesterov momentum), Adam and CG as small objects (backprop nets).
- :mod:`.verbose`: what ``verbose`` prints (scikit-learn's per-epoch line; a bar on a terminal).
- :mod:`.convergence`: the checks and messages of the ``ConvergenceWarning`` of every path.

The per-minibatch arithmetic lives elsewhere: the CD step in :mod:`dbn._cd`, backprop in
:mod:`dbn._backprop`; this package only drives them.
"""
