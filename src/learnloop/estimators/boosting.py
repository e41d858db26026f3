"""LightGBM boosters as scikit-learn estimators: classes 0..k-1, or values.

The loop builds a booster step by step (``candidates/boosting.py``) and hands it over with
``set_booster``; ``fit`` trains a default booster for use outside the loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from learnloop.estimators.common import check_fitted

__all__ = ["BoosterClassifier", "BoosterRegressor", "ONE_THREAD_ROWS"]


def _train_default(X: np.ndarray, y: np.ndarray, objective: dict[str, Any]) -> Any:
    import lightgbm as lgb

    params = {**objective, "verbosity": -1, "deterministic": True, "seed": 0}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=100)


# Below this many rows a booster predicts in one thread: a team of OpenMP threads costs more
# than it saves there, and its idle threads would spin on cores that a server's request
# parsing needs (a 20-row prediction beside a busy core: 3x slower with a team of two).
ONE_THREAD_ROWS = 2000


def _booster_predict(booster: Any, X: np.ndarray, best_iteration: int) -> np.ndarray:
    """The booster's raw predictions for ``X``, in one thread for small batches."""
    threads = {"num_threads": 1} if len(X) < ONE_THREAD_ROWS else {}
    return booster.predict(X, num_iteration=best_iteration, **threads)


def _booster_contributions(booster: Any, X: np.ndarray, best_iteration: int) -> np.ndarray:
    """Each row's exact contributions (TreeSHAP, LightGBM's ``pred_contrib``) to the raw
    score, shaped (rows, outputs, columns + 1): the last entry of each output is the
    expected value, and the entries of an output sum to its raw score (log-odds for two
    classes, the softmax input of each class for more, the value for regression)."""
    threads = {"num_threads": 1} if len(X) < ONE_THREAD_ROWS else {}
    out = booster.predict(X, num_iteration=best_iteration, pred_contrib=True, **threads)
    out = np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=float)
    return out.reshape(len(X), -1, np.shape(X)[1] + 1)


class BoosterClassifier(ClassifierMixin, BaseEstimator):
    """A trained LightGBM booster used as a classifier over classes 0..k-1."""

    def __init__(self, n_classes: int = 2) -> None:
        self.n_classes = n_classes

    def fit(self, X: np.ndarray, y: np.ndarray) -> BoosterClassifier:
        """Train a default booster (the loop normally builds one step by step instead)."""
        objective = (
            {"objective": "binary"}
            if self.n_classes <= 2
            else {"objective": "multiclass", "num_class": self.n_classes}
        )
        booster = _train_default(X, y, objective)
        return self.set_booster(booster, booster.current_iteration())

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "booster_")

    def set_booster(self, booster: Any, best_iteration: int) -> BoosterClassifier:
        self.booster_ = booster
        self.best_iteration_ = int(best_iteration)
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        check_fitted(self, "booster_")
        raw = _booster_predict(self.booster_, X, self.best_iteration_)
        if raw.ndim == 1:
            return np.column_stack([1.0 - raw, raw])
        return raw

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Exact per-row contributions to the raw score: see ``_booster_contributions``."""
        check_fitted(self, "booster_")
        return _booster_contributions(self.booster_, X, self.best_iteration_)


class BoosterRegressor(RegressorMixin, BaseEstimator):
    """A trained LightGBM booster used as a regressor."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> BoosterRegressor:
        """Train a default booster (the loop normally builds one step by step instead)."""
        booster = _train_default(X, y, {"objective": "regression"})
        return self.set_booster(booster, booster.current_iteration())

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "booster_")

    def set_booster(self, booster: Any, best_iteration: int) -> BoosterRegressor:
        self.booster_ = booster
        self.best_iteration_ = int(best_iteration)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_fitted(self, "booster_")
        return _booster_predict(self.booster_, X, self.best_iteration_)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Exact per-row contributions to the value: see ``_booster_contributions``."""
        check_fitted(self, "booster_")
        return _booster_contributions(self.booster_, X, self.best_iteration_)
