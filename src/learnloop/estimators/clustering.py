"""Clusterers with a ``predict`` for new rows."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from learnloop.estimators.common import check_fitted

__all__ = ["HDBSCANClusterer"]


class HDBSCANClusterer(ClusterMixin, BaseEstimator):
    """scikit-learn's HDBSCAN with a ``predict`` for new rows.

    ``fit`` runs :class:`sklearn.cluster.HDBSCAN` and keeps its training labels in
    ``labels_`` (-1 marks noise). ``predict`` gives a new row the cluster of its nearest
    non-noise training point (Euclidean distance, one neighbour), so it never returns
    -1. When HDBSCAN finds only noise, everything is one cluster: every row, in training
    and after, gets label 0.

    The nearest-point rule keeps the non-noise training rows inside ``assigner_`` (a fitted
    :class:`~sklearn.neighbors.KNeighborsClassifier`), so a model file holds them.
    """

    def __init__(
        self,
        min_cluster_size: int = 5,
        min_samples: int | None = None,
        cluster_selection_epsilon: float = 0.0,
        n_jobs: int | None = None,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.n_jobs = n_jobs

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "assigner_")

    def fit(self, X: np.ndarray, y: Any = None) -> HDBSCANClusterer:
        """Cluster ``X`` (``y`` is ignored) and prepare the nearest-point assigner."""
        from sklearn.cluster import HDBSCAN

        X = np.asarray(X, dtype=float)
        min_cluster_size = int(max(2, min(self.min_cluster_size, len(X))))
        min_samples = None if self.min_samples is None else int(min(self.min_samples, len(X)))
        model = HDBSCAN(
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            cluster_selection_epsilon=float(self.cluster_selection_epsilon),
            n_jobs=self.n_jobs,
            copy=True,  # never write into the caller's array
        )
        labels = np.asarray(model.fit_predict(X), dtype=int) if len(X) > 1 else np.zeros(1, int)
        return self.set_labels(X, labels)

    def set_labels(self, X: np.ndarray, labels: np.ndarray) -> HDBSCANClusterer:
        """Fit the assigner from training rows and their labels (-1 = noise)."""
        from sklearn.neighbors import KNeighborsClassifier

        X = np.asarray(X, dtype=float)
        labels = np.asarray(labels, dtype=int)
        clustered = labels >= 0
        if not clustered.any():  # only noise: one cluster holding everything
            labels = np.zeros(len(labels), dtype=int)
            points, point_labels = X[:1], labels[:1]
        else:
            points, point_labels = X[clustered], labels[clustered]
        self.labels_ = labels
        self.n_clusters_ = int(len(np.unique(point_labels)))
        self.n_features_in_ = int(X.shape[1])
        self.assigner_ = KNeighborsClassifier(
            n_neighbors=1, algorithm="brute", n_jobs=self.n_jobs
        ).fit(points, point_labels)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The cluster of each row's nearest non-noise training point."""
        check_fitted(self, "assigner_")
        return np.asarray(self.assigner_.predict(np.asarray(X, dtype=float)), dtype=int)
