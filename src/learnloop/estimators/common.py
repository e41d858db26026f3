"""What the other estimator modules share: the fitted check, full class probabilities, and
two small estimators a pipeline may hold (the identity step, a rescaled regressor).

Every class here and in the sibling modules is re-exported by ``learnloop.estimators``, so a
model file saved when they all lived in one module (``learnloop.estimators.<Class>``) still
loads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin

from learnloop.exceptions import NotFittedError

__all__ = ["PassThrough", "ScaledTargetRegressor", "check_fitted", "full_proba"]


def check_fitted(est: Any, attr: str) -> None:
    """NotFittedError unless ``est`` has the fitted attribute ``attr``."""
    if not hasattr(est, attr):
        raise NotFittedError(f"This {type(est).__name__} is not fitted yet; call fit first.")


class ScaledTargetRegressor(RegressorMixin, BaseEstimator):
    """Wraps a regressor that was trained on a standardized target; predicts in target units."""

    def __init__(self, regressor: Any = None, y_mean: float = 0.0, y_scale: float = 1.0) -> None:
        self.regressor = regressor
        self.y_mean = y_mean
        self.y_scale = y_scale

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "fitted_")

    def fit(self, X: np.ndarray, y: np.ndarray) -> ScaledTargetRegressor:
        self.regressor.fit(X, (y - self.y_mean) / self.y_scale)
        self.fitted_ = True
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.regressor.predict(X)) * self.y_scale + self.y_mean


class PassThrough(TransformerMixin, BaseEstimator):
    """The identity step: rows go through unchanged (an ensemble's members encode their own).

    ``FunctionTransformer`` would do the same, but model files refuse it (it can hold any
    function); this one holds nothing.
    """

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X: Any, y: Any = None) -> PassThrough:
        return self

    def transform(self, X: Any) -> Any:
        return X


def full_proba(estimator: Any, X: Any, n_classes: int) -> np.ndarray:
    """``estimator``'s class probabilities with a column for each of ``n_classes`` classes,
    zero for classes it never saw in training (its ``classes_`` are class codes)."""
    proba = np.asarray(estimator.predict_proba(X), dtype=float)
    seen = getattr(estimator, "classes_", None)
    if seen is not None and n_classes > proba.shape[1]:
        full = np.zeros((len(proba), n_classes))
        full[:, np.asarray(seen, dtype=int)] = proba
        proba = full
    return proba
