"""Input transforms for real-valued data before a Gaussian-Bernoulli RBM.

A Gaussian visible layer (``DBN(visible_unit="gaussian")``) treats its inputs as independent
given the hidden units, so strongly correlated features (a diamond's carat, price and three
lengths) are left for the hidden units to explain, and the first layer spends itself on the one
direction of largest variance. Whitening the inputs first is the usual remedy for Gaussian RBMs
(Krizhevsky 2009; Coates & Ng 2011 for the regularised form).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

from ._validation import check_is_fitted, check_scalar, validate_input

__all__ = ["Whitening"]


class Whitening(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Regularised ZCA whitening: centred inputs with unit, uncorrelated directions.

    ``transform(X) = (X - mean_) @ whitening_``, with ``whitening_ = V diag((lambda +
    epsilon * mean(lambda)) ** -1/2) V^T`` from the eigendecomposition ``V diag(lambda) V^T``
    of the training rows' covariance. ZCA rotates the whitened directions back onto the input
    axes, so each output stays nearest its own input feature (Bell & Sejnowski 1997), and the
    feature names pass through. ``epsilon`` shrinks the directions of least variance instead of
    blowing them up: with ``epsilon=0`` the outputs' covariance is the identity, and a
    direction of variance ``epsilon * mean(lambda)`` comes out with variance 1/2.

    Parameters
    ----------
    epsilon : float, default=0.1
        Added to every eigenvalue, relative to their mean (the features' mean variance, 1 on
        standardised inputs). Must be >= 0; with 0 the covariance must be of full rank.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    whitening_ : ndarray of shape (n_features, n_features)
        Symmetric.
    explained_variance_ : ndarray of shape (n_features,)
        Eigenvalues of the covariance, largest first.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when ``X`` had string column names

    References
    ----------
    Bell, A. J. & Sejnowski, T. J. (1997). The "independent components" of natural scenes are
    edge filters. Vision Research 37(23), 3327-3338.
    Krizhevsky, A. (2009). Learning multiple layers of features from tiny images. Tech. report,
    University of Toronto.
    Coates, A. & Ng, A. Y. (2011). The importance of encoding versus training with sparse coding
    and vector quantization. ICML.
    """

    def __init__(self, epsilon=0.1):
        self.epsilon = epsilon

    def fit(self, X, y=None):
        """Learn the mean and the whitening matrix of ``X`` (rows: samples)."""
        epsilon = check_scalar(self.epsilon, "epsilon", low=0.0)
        X = validate_input(self, X, reset=True)
        if X.shape[0] < 2:
            # sklearn's wording ("n_samples=1"), so that its estimator checks recognise it.
            raise ValueError(
                f"Whitening needs at least 2 rows of X to estimate a covariance; got n_samples="
                f"{X.shape[0]}."
            )
        work = X.astype(np.float64)  # the eigendecomposition in double precision, whatever X is
        mean = work.mean(axis=0)
        covariance = np.cov(work - mean, rowvar=False).reshape(X.shape[1], X.shape[1])
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        # Directions of rounding-error size (tiny, or negative) have no variance.
        noise = max(eigenvalues.max(), 0.0) * len(eigenvalues) * np.finfo(np.float64).eps
        eigenvalues = np.where(eigenvalues > noise, eigenvalues, 0.0)
        shrunk = eigenvalues + epsilon * eigenvalues.mean()
        if not np.all(shrunk > 0):
            raise ValueError(
                "Whitening(epsilon=0) needs a covariance of full rank; X has "
                f"{int(np.sum(eigenvalues <= 0))} direction(s) of zero variance. "
                "Pass epsilon > 0 (the default is 0.1) or drop the constant or dependent columns."
            )
        self.mean_ = mean.astype(X.dtype)
        self.whitening_ = ((eigenvectors / np.sqrt(shrunk)) @ eigenvectors.T).astype(X.dtype)
        self.explained_variance_ = eigenvalues[::-1].astype(X.dtype)
        return self

    def transform(self, X):
        """``(X - mean_) @ whitening_``, in ``X``'s float dtype; ``X`` is not modified."""
        check_is_fitted(self, "whitening_")
        X = validate_input(self, X, reset=False)
        return (X - self.mean_.astype(X.dtype)) @ self.whitening_.astype(X.dtype)

    def inverse_transform(self, X):
        """The inputs that :meth:`transform` maps to ``X``."""
        check_is_fitted(self, "whitening_")
        X = validate_input(self, X, reset=False)
        unwhitening = np.linalg.inv(self.whitening_.astype(np.float64))
        return (X @ unwhitening.astype(X.dtype)) + self.mean_.astype(X.dtype)

    def save(self, path):
        """Save the fitted whitening to a model file (``.safetensors`` or ``.npz``, see
        :mod:`dbn.io`), atomically; :meth:`load` reads it back exactly."""
        from . import io

        check_is_fitted(self, "whitening_")
        arrays = {
            "mean_": self.mean_,
            "whitening_": self.whitening_,
            "explained_variance_": self.explained_variance_,
        }
        extra = {"n_features_in_": int(self.n_features_in_)}
        extra |= io.feature_names_extra(self)
        io.save_arrays(path, type(self).__name__, {"epsilon": float(self.epsilon)}, arrays, extra)

    @classmethod
    def load(cls, path):
        """A whitening saved by :meth:`save`.

        Raises
        ------
        dbn.io.ModelFileError
            When the file holds another model, or its arrays do not fit together.
        """
        from . import io

        header, arrays = io.load_arrays(path, kind=cls.__name__)
        extra = header.get("extra", {})
        try:
            model = cls(epsilon=header["params"]["epsilon"])
            n = int(extra["n_features_in_"])
            shapes = {"mean_": (n,), "whitening_": (n, n), "explained_variance_": (n,)}
            for name, shape in shapes.items():
                if arrays[name].shape != shape:
                    raise ValueError(f"{name} has shape {arrays[name].shape}, expected {shape}")
                setattr(model, name, arrays[name])
        except (KeyError, TypeError, ValueError) as exc:
            raise io.ModelFileError(f"{path}: invalid Whitening ({exc}).") from exc
        model.n_features_in_ = n
        io.restore_feature_names(model, extra)
        return model

    def to_torch(self):
        """The fitted whitening as a ``torch.nn.Linear`` layer (:func:`dbn.export.to_torch`), to
        put in front of a net trained on the whitened inputs."""
        from .export import to_torch

        return to_torch(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
