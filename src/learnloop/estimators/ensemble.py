"""Weighted ensembles of fitted member pipelines: averaged probabilities, or values."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from learnloop.estimators.common import check_fitted, full_proba

__all__ = ["EnsembleClassifier", "EnsembleRegressor", "weighted_mean"]


def weighted_mean(parts: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """``sum_i weights[i] * parts[i]`` with the weights normalised to sum to one."""
    w = np.asarray(weights, dtype=float)
    return np.tensordot(w / w.sum(), np.stack([np.asarray(p, dtype=float) for p in parts]), 1)


class _Ensemble(BaseEstimator):
    """Fitted member pipelines (each its own preprocessor + estimator) and their weights.

    Built from members that are already fitted (like ``cv="prefit"``): ``fit`` only checks
    them and normalises the weights, so ``X`` and ``y`` are ignored.
    """

    def __init__(self, members: list[Any] | None = None, weights: list[float] | None = None):
        self.members = members
        self.weights = weights

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "weights_")

    def fit(self, X: Any = None, y: Any = None) -> _Ensemble:
        members, weights = list(self.members or []), list(self.weights or [])
        if not members or len(weights) != len(members):
            raise ValueError(
                f"The 'weights' parameter of {type(self).__name__} must have one entry per "
                f"member; got {len(weights)} weights for {len(members)} members instead."
            )
        w = np.asarray(weights, dtype=float)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                f"The 'weights' parameter of {type(self).__name__} must be non-negative with "
                f"a positive sum; got {weights!r} instead."
            )
        self.weights_ = w / w.sum()
        return self


class EnsembleClassifier(ClassifierMixin, _Ensemble):
    """The weighted average of member pipelines' class probabilities over classes 0..k-1."""

    def __init__(
        self,
        members: list[Any] | None = None,
        weights: list[float] | None = None,
        n_classes: int = 2,
    ) -> None:
        super().__init__(members, weights)
        self.n_classes = n_classes

    def fit(self, X: Any = None, y: Any = None) -> EnsembleClassifier:
        super().fit(X, y)
        self.classes_ = np.arange(self.n_classes)
        return self

    def _member_proba(self, member: Any, X: Any) -> np.ndarray:
        """A member's probabilities with a column per class, even for classes it never saw."""
        return full_proba(member, X, self.n_classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_fitted(self, "weights_")
        return weighted_mean([self._member_proba(m, X) for m in self.members or []], self.weights_)

    def predict(self, X: Any) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)


class EnsembleRegressor(RegressorMixin, _Ensemble):
    """The weighted average of member pipelines' predicted values."""

    def predict(self, X: Any) -> np.ndarray:
        check_fitted(self, "weights_")
        return weighted_mean([m.predict(X) for m in self.members or []], self.weights_)
