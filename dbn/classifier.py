"""``DBNClassifier``: pretraining and fine-tuning in one ``fit``, as one scikit-learn classifier.

``DBN(...).pretrain(X).to_mlp().fit(X, y)`` is three calls on two objects, which scikit-learn's
model selection cannot see as one model: a cross-validation that pretrains once on all the rows
and then scores the fine-tuned nets fold by fold lets the pretraining see the held-out rows.
:class:`DBNClassifier` wraps the three calls, so that ``cross_val_score``, ``GridSearchCV`` and
``Pipeline`` pretrain on each fold's training rows only; and its ``init`` builds the same net
without pretraining, so that the same tools tell whether pretraining pays on the data at hand.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from ._validation import check_is_fitted, validate_input

__all__ = ["DBNClassifier"]

#: ``init``: the DBN's weights, or one of :mod:`dbn.init`'s initialisers for the same net.
PRETRAINED = "pretrained"
#: ``init="auto"``: whichever of :data:`AUTO_CANDIDATES` a stratified :data:`AUTO_FOLDS`-fold
#: cross-validation on the training rows scores best (the first on a tie), then refitted on
#: them all: the "chosen by 3-fold CV" arm of ``benchmarks/heldout_tabular.py``.
AUTO = "auto"
AUTO_CANDIDATES = (PRETRAINED, "xavier_uniform")
AUTO_FOLDS = 3


class DBNClassifier(ClassifierMixin, BaseEstimator):
    """A DBN pretrained on the training rows, then fine-tuned on their labels, in one ``fit``.

    ``DBNClassifier(stack).fit(X, y)`` is ``clone(stack).pretrain(X).to_mlp(**finetune).fit(X,
    y)``. As one estimator, it lets scikit-learn's model selection pretrain on each fold's
    training rows only. With another ``init`` it trains the same net (the widths ``stack`` would
    build for ``X``, and ``to_mlp()``'s fine-tuning) from that initialiser instead of pretrained
    weights: pretraining's own share, the comparison the data panel makes
    (``benchmarks/heldout_tabular.py``'s ``Xavier init same net``). Pretraining does not always
    pay: on small tables of a few real-valued features it lost to Xavier's weights on 5 of 11
    tables no study used (6 with the Gaussian layer's sigma fixed at 1; ``docs/guide/panel.md``),
    so choose between them on validation folds:
    ``init="auto"`` does it inside ``fit`` (measured on those tables, with the Gaussian layer's
    sigma fixed at 1 as it was before the panel's twenty-fourth round: mean gain over Xavier's
    net +0.44 points against -0.14 always pretrained, worst table -2.12 against -2.88; on the
    panel's 13 real-valued sets +0.35 against +0.25, worst -2.64 against -1.59), and
    ``GridSearchCV`` over ``init`` does it with any other grid::

        clf = DBNClassifier(DBN(visible_unit="gaussian"), init="auto").fit(X, y)
        clf.init_, clf.init_scores_

    Parameters
    ----------
    stack : DBN, optional
        The pretraining's settings and the net's widths; cloned by :meth:`fit`, never fitted
        itself. None: ``DBN()`` (binary inputs; pass ``DBN(visible_unit="gaussian")`` for
        standardised real-valued ones).
    init : str, default="pretrained"
        ``"pretrained"``: the DBN's weights. Or the name of an initialiser of :mod:`dbn.init`
        (``"xavier_uniform"``, ``"he_normal"``, ``"lsuv"``, ...) for the same net trained without
        pretraining: then nothing is pretrained and ``stack_`` is None. Or ``"auto"``:
        ``"pretrained"`` or ``"xavier_uniform"``, whichever scores the better mean accuracy in a
        stratified 3-fold cross-validation on the training rows (pretrained on a tie; the folds
        shuffled by ``random_state``, or the stack's), then refitted on all of them: seven fits
        in all. Every class needs at least 3 rows.
    finetune : dict, optional
        Parameters of the fine-tuned :class:`dbn.MLPClassifier` (``max_iter``, ``solver``,
        ``learning_rate_init``, ``alpha``, ...), which override ``to_mlp()``'s defaults for the
        stack's inputs (:meth:`dbn.DBN.finetune_params`); the same for every ``init``.

    Attributes
    ----------
    init_ : str
        The init the fitted net started from: ``init``, or what ``"auto"`` chose.
    init_scores_ : dict or None
        With ``init="auto"``: each candidate's mean cross-validated accuracy; else None.
    stack_ : DBN or None
        The pretrained stack (None when ``init_`` is not ``"pretrained"``).
    mlp_ : MLPClassifier
        The fine-tuned net, whose ``history_``, ``loss_curve_`` and ``n_iter_`` tell how the
        fine-tuning went.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Only when ``X`` has string column names.

    See Also
    --------
    dbn.DBN.to_mlp : the same fine-tuning from a stack pretrained once (for instance on more
        unlabelled rows than any fold holds).

    References
    ----------
    Hinton, G. E., Osindero, S. and Teh, Y.-W. (2006). A fast learning algorithm for deep belief
    nets. Neural Computation, 18(7), 1527-1554.

    Erhan, D., Bengio, Y., Courville, A., Manzagol, P.-A., Vincent, P. and Bengio, S. (2010).
    Why does unsupervised pre-training help deep learning? JMLR 11, 625-660.
    """

    def __init__(self, stack=None, *, init=PRETRAINED, finetune=None, random_state=None):
        self.stack = stack
        self.init = init
        self.finetune = finetune
        self.random_state = random_state

    def _checked_params(self):
        """``(stack, finetune)``: a fresh clone of ``stack`` (``DBN()`` for None) and a copy of
        ``finetune``, after checking every parameter."""
        from . import init as initialisers
        from .stack import DBN

        if self.stack is None:
            stack = DBN()
        elif isinstance(self.stack, DBN):
            stack = clone(self.stack)
        else:
            raise TypeError(f"stack must be a dbn.DBN or None, got {type(self.stack).__name__}.")
        if self.random_state is not None:
            stack.set_params(random_state=self.random_state)
        if self.init not in (PRETRAINED, AUTO):
            if not isinstance(self.init, str) or self.init not in initialisers.INITIALIZERS:
                raise ValueError(
                    f"init must be {PRETRAINED!r}, {AUTO!r} or an initialiser of dbn.init "
                    f"({', '.join(sorted(initialisers.INITIALIZERS))}), got {self.init!r}."
                )
        finetune = {} if self.finetune is None else self.finetune
        if not isinstance(finetune, dict):
            raise TypeError(
                f"finetune must be a dict of MLPClassifier parameters or None, got "
                f"{type(finetune).__name__}."
            )
        fixed = sorted({"hidden_layer_sizes", "pretrained_layers", "init"} & set(finetune))
        if fixed:
            raise ValueError(
                f"finetune must not set {', '.join(fixed)}: the stack sets the widths and "
                "DBNClassifier's init the starting weights."
            )
        return stack, dict(finetune)

    def fit(self, X, y, *, X_unlabelled=None):
        """Pretrain on ``X`` (and ``X_unlabelled``), then fine-tune on ``(X, y)``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        X_unlabelled : array-like of shape (n_unlabelled, n_features), optional
            More rows for the pretraining only (ignored when ``init`` is not
            ``"pretrained"``). In a cross-validation, pass it through ``params``: rows of
            another length than ``X`` reach every fold whole.

        Returns
        -------
        self
        """
        from .mlp import MLPClassifier

        stack, finetune = self._checked_params()
        X = validate_input(self, X, "X", reset=True, accept_sparse=True)
        extra = None
        if X_unlabelled is not None:
            extra = validate_input(
                self, X_unlabelled, "X_unlabelled", accept_sparse=True, n_features=X.shape[1]
            )
        init, self.init_scores_ = self.init, None
        if init == AUTO:
            self.init_scores_ = self._cross_validated_inits(X, y, extra, stack)
            init = max(AUTO_CANDIDATES, key=self.init_scores_.get)  # the first on a tie
        self.init_ = init
        if init == PRETRAINED:
            rows = X if extra is None else _stacked(X, extra)
            self.stack_ = stack.pretrain(rows)
            mlp = self.stack_.to_mlp(**finetune)
        else:
            self.stack_ = None
            params = stack.finetune_params(**finetune)
            params.setdefault("activation", "sigmoid")  # to_mlp()'s default
            mlp = MLPClassifier(stack._sizes(X.shape[1]), init=init, **params)
        self.mlp_ = mlp.fit(X, y)
        self.classes_ = self.mlp_.classes_
        return self

    def _cross_validated_inits(self, X, y, X_unlabelled, stack):
        """``init="auto"``: each of :data:`AUTO_CANDIDATES`' mean accuracy over the same
        stratified folds of ``(X, y)``; ``X_unlabelled`` joins every fold's pretraining."""
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import StratifiedKFold, cross_val_score
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(y)  # the net's own message, before the folds need classes
        _, counts = np.unique(np.asarray(y), return_counts=True)
        if counts.min() < AUTO_FOLDS:
            raise ValueError(
                f'init="auto" cross-validates on {AUTO_FOLDS} stratified folds: every class of '
                f"y needs at least {AUTO_FOLDS} rows; got {len(counts)} class(es), the smallest "
                f"with {counts.min()} (n_samples={len(y)})."
            )
        seed = self.random_state if self.random_state is not None else stack.random_state
        if isinstance(seed, np.random.Generator):
            seed = int(seed.integers(2**31))  # StratifiedKFold takes ints, not Generators
        folds = StratifiedKFold(AUTO_FOLDS, shuffle=True, random_state=seed)
        params = None if X_unlabelled is None else {"X_unlabelled": X_unlabelled}
        scores = {}
        with warnings.catch_warnings():
            # The folds' nets are scored, not kept: the refit's warnings are the ones that count.
            warnings.simplefilter("ignore", ConvergenceWarning)
            for candidate in AUTO_CANDIDATES:
                model = clone(self).set_params(init=candidate)
                scores[candidate] = float(
                    cross_val_score(model, X, y, cv=folds, params=params).mean()
                )
        return scores

    def _checked_X(self, X):
        """``X`` checked against the fit; called before ``self.mlp_`` is looked up, so that an
        unfitted classifier raises NotFittedError, not AttributeError."""
        check_is_fitted(self, "mlp_")
        return validate_input(self, X, "X", accept_sparse=True)

    def predict(self, X):
        """The most probable class of each row."""
        X = self._checked_X(X)
        return self.mlp_.predict(X)

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        X = self._checked_X(X)
        return self.mlp_.predict_proba(X)

    def predict_log_proba(self, X):
        """Logarithms of :meth:`predict_proba`."""
        X = self._checked_X(X)
        return self.mlp_.predict_log_proba(X)

    def to_torch(self, *, probabilities=False):
        """The fine-tuned net as a ``torch.nn.Module`` (:meth:`dbn.MLPClassifier.to_torch`):
        logits, or with ``probabilities=True`` the softmax of :meth:`predict_proba`."""
        check_is_fitted(self, "mlp_")
        return self.mlp_.to_torch(probabilities=probabilities)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save the fitted classifier, net and stack, to one model file, atomically.

        :meth:`load` reads it back exactly: the net predicts and trains on as this one would
        (:meth:`dbn.MLPClassifier.save`), and ``stack_`` holds the pretrained layers
        (:meth:`dbn.DBN.save`). ``finetune`` must hold what JSON can (numbers, strings, lists);
        a Generator ``random_state`` is stored as None, as the other models store it.

        Parameters
        ----------
        path : str or Path
            Ends in ``.safetensors`` or ``.npz`` (see :mod:`dbn.io`).
        """
        import json

        from . import io

        check_is_fitted(self, "mlp_")
        mlp_arrays, mlp_extra = self.mlp_._state_arrays()
        arrays = {f"mlp/{name}": value for name, value in mlp_arrays.items()}
        extra = {
            "mlp": {"params": self.mlp_._header_params(), "extra": mlp_extra},
            "stack": None,
            "n_features_in_": int(self.n_features_in_),
            "init_": self.init_,
            "init_scores_": self.init_scores_,
        }
        extra |= io.feature_names_extra(self)
        stack = self.stack_
        if stack is not None:
            stack_arrays, stack_extra = stack._layer_arrays()
            arrays.update({f"stack/{name}": value for name, value in stack_arrays.items()})
            extra["stack"] = {"params": stack._header_params(), "extra": stack_extra}
        seed = self.random_state
        params = {
            # The stack as given (None, or its parameters: a DBN is rebuilt from them on load).
            "stack": None if self.stack is None else self.stack._header_params(),
            "init": self.init,
            "finetune": self.finetune,
            "random_state": seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        }
        try:
            json.dumps(params["finetune"])
        except TypeError as exc:
            raise TypeError(
                f"finetune must hold JSON values (numbers, strings, lists) to be saved: {exc}."
            ) from None
        io.save_arrays(path, type(self).__name__, params, arrays, extra)

    @classmethod
    def load(cls, path):
        """Load a classifier written by :meth:`save`; the round trip is exact.

        Raises
        ------
        dbn.io.ModelFileError
            When the file is not a ``DBNClassifier``, is damaged, or its parts do not fit.
        """
        from . import io
        from .mlp import MLPClassifier
        from .stack import DBN, _params_from_json

        header, arrays = io.load_arrays(path, kind=cls.__name__)
        params, extra = header["params"], header.get("extra", {})

        def part(prefix):
            return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

        try:
            stack = params["stack"]
            model = cls(
                None if stack is None else DBN(**_params_from_json(stack)),
                init=params["init"],
                finetune=params["finetune"],
                random_state=params["random_state"],
            )
            mlp_saved, stack_saved = extra["mlp"], extra["stack"]
            n_features = int(extra["n_features_in_"])
        except (KeyError, TypeError, ValueError) as exc:
            raise io.ModelFileError(f"{path}: invalid stored parameters ({exc}).") from exc
        source = f"{path} (the net)"
        model.mlp_ = MLPClassifier._from_saved(
            mlp_saved["params"], mlp_saved["extra"], part("mlp/"), source
        )
        model.stack_ = None
        if stack_saved is not None:
            model.stack_ = DBN._from_saved(
                stack_saved["params"], stack_saved["extra"], part("stack/"), f"{path} (the stack)"
            )
        if model.mlp_.n_features_in_ != n_features:
            raise io.ModelFileError(
                f"{path}: the net expects {model.mlp_.n_features_in_} features, the classifier "
                f"{n_features}."
            )
        model.n_features_in_ = n_features
        model.init_ = extra.get("init_", model.init)  # files from before "auto": the init itself
        model.init_scores_ = extra.get("init_scores_")
        io.restore_feature_names(model, extra)
        model.classes_ = model.mlp_.classes_
        return model

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _stacked(X, extra):
    """The rows of ``X`` then those of ``extra`` (sparse if either is)."""
    import scipy.sparse as sp

    if sp.issparse(X) or sp.issparse(extra):
        return sp.vstack([sp.csr_matrix(X), sp.csr_matrix(extra)]).tocsr()
    return np.vstack([X, extra.astype(X.dtype, copy=False)])
