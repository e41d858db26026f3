"""The three estimators: classes, values and clusters, each one learnloop task."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, ClusterMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets

from learnloop.sklearn._base import LearnloopEstimator
from learnloop.tasks.clustering import Clustering
from learnloop.tasks.tabular import Classification, Regression

__all__ = ["Classifier", "Regressor", "Clusterer"]


class Classifier(ClassifierMixin, LearnloopEstimator):
    """Predicts classes (with probabilities), certified on held-out rows.

    ``score`` is accuracy, as for every scikit-learn classifier; the run itself searches
    and certifies ``metric`` (accuracy unless named). See :class:`LearnloopEstimator`.
    """

    task = Classification.name

    def fit(self, X: Any, y: Any) -> Classifier:
        """Run the loop on the rows of ``X`` and their classes ``y``; returns ``self``."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        check_classification_targets(y)
        self._run(X, y)
        self.classes_ = np.asarray(self.model_.classes)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The most likely class of each row."""
        answer = self._answer(X)
        return np.asarray(answer.predictions, dtype=self.classes_.dtype)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Each row's probability of each class, in the order of ``classes_``."""
        answer = self._answer(X)
        assert answer.probabilities is not None and answer.classes is not None
        order = [list(answer.classes).index(c) for c in self.model_.classes]
        return np.asarray(answer.probabilities)[:, order]


class Regressor(RegressorMixin, LearnloopEstimator):
    """Predicts values, certified on held-out rows.

    ``score`` is R², as for every scikit-learn regressor; the run itself searches and
    certifies ``metric``. See :class:`LearnloopEstimator`.
    """

    task = Regression.name

    def fit(self, X: Any, y: Any) -> Regressor:
        """Run the loop on the rows of ``X`` and their values ``y``; returns ``self``."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        values = np.asarray(y)
        if not np.issubdtype(values.dtype, np.number) or np.issubdtype(values.dtype, np.bool_):
            values = values.astype(np.float64)  # a ValueError names a value that is no number
        self._run(X, values)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The predicted value of each row."""
        return np.asarray(self._answer(X).predictions, dtype=np.float64)


class Clusterer(ClusterMixin, LearnloopEstimator):
    """Groups rows into clusters (the loop chooses the method and their number).

    ``y`` is ignored, as by every scikit-learn clusterer. ``labels_`` are the clusters of
    the rows given to ``fit``; ``predict`` assigns new rows. See :class:`LearnloopEstimator`.
    """

    task = Clustering.name

    def fit(self, X: Any, y: Any = None) -> Clusterer:
        """Run the loop on the rows of ``X``; returns ``self``."""
        self._run(X, None)
        self.labels_ = self.predict(X)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The cluster of each row."""
        return np.asarray(self._answer(X).predictions, dtype=np.int64)
