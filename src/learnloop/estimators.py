"""Small scikit-learn-compatible estimators that learnloop's candidates produce.

They exist so that every model file holds only scikit-learn, LightGBM and these types,
which the artifact loader trusts by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClusterMixin,
    RegressorMixin,
    TransformerMixin,
)

from learnloop.exceptions import NotFittedError

__all__ = [
    "BoosterClassifier",
    "FaceEmbedding",
    "ImageFeatures",
    "OpenSetIdentifier",
    "BoosterRegressor",
    "HDBSCANClusterer",
    "ScaledTargetRegressor",
]


def _check_fitted(est: Any, attr: str) -> None:
    if not hasattr(est, attr):
        raise NotFittedError(f"This {type(est).__name__} is not fitted yet; call fit first.")


def _train_default(X: np.ndarray, y: np.ndarray, objective: dict[str, Any]) -> Any:
    import lightgbm as lgb

    params = {**objective, "verbosity": -1, "deterministic": True, "seed": 0}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=100)


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
        _check_fitted(self, "booster_")
        raw = self.booster_.predict(X, num_iteration=self.best_iteration_)
        if raw.ndim == 1:
            return np.column_stack([1.0 - raw, raw])
        return raw

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)


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
        _check_fitted(self, "booster_")
        return self.booster_.predict(X, num_iteration=self.best_iteration_)


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
        _check_fitted(self, "assigner_")
        return np.asarray(self.assigner_.predict(np.asarray(X, dtype=float)), dtype=int)


# ------------------------------------------------------------------------ pictures
class ImageFeatures(TransformerMixin, BaseEstimator):
    """Features of the pictures named in ``column``: ``pixels`` (grey levels, scaled to
    0..1) or ``hog`` (scikit-image's histogram of oriented gradients), each picture resized
    to ``side`` x ``side`` first. Stateless: it keeps no pictures, only its settings."""

    def __init__(self, column: str = "image", extractor: str = "hog", side: int = 64) -> None:
        self.column = column
        self.extractor = extractor
        self.side = side

    def fit(self, X: Any, y: Any = None) -> ImageFeatures:
        if self.extractor not in ("pixels", "hog"):
            raise ValueError(
                f"The 'extractor' parameter of ImageFeatures must be 'pixels' or 'hog'. "
                f"Got {self.extractor!r} instead."
            )
        self.n_features_out_ = self.transform(X.iloc[:1]).shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        from learnloop.vision import gray

        paths = X[self.column].tolist()
        rows = [self._one(gray(p, self.side)) for p in paths]
        if not rows:
            return np.zeros((0, getattr(self, "n_features_out_", 0)))
        return np.vstack(rows)

    def _one(self, g: np.ndarray) -> np.ndarray:
        if self.extractor == "pixels":
            return g.ravel().astype(np.float32) / 255.0
        from skimage.feature import hog

        return np.asarray(
            hog(g, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)),
            dtype=np.float32,
        )


class FaceEmbedding(TransformerMixin, BaseEstimator):
    """The SFace embedding (128 numbers, L2-normalised) of the largest face in each picture
    named in ``column``; a picture without a face gives a row of zeros."""

    def __init__(self, column: str = "image") -> None:
        self.column = column

    def fit(self, X: Any, y: Any = None) -> FaceEmbedding:
        self.n_features_out_ = 128
        return self

    def transform(self, X: Any) -> np.ndarray:
        from learnloop.vision import picture_faces

        out = np.zeros((len(X), 128))
        for i, path in enumerate(X[self.column].tolist()):
            faces = picture_faces(path)
            if faces:
                out[i] = faces[0].embedding
        return out


class OpenSetIdentifier(ClassifierMixin, BaseEstimator):
    """Who is who among the people on file, and "unknown" past a distance threshold.

    ``classifier`` names the person; the distance is the cosine distance from the face to
    the nearest face on file (``gallery_``) of that person. ``threshold_`` is learned on
    validation faces (see ``learnloop.tasks.images.Faces.finish_model``).
    """

    def __init__(self, classifier: Any = None, threshold: float = 0.637) -> None:
        self.classifier = classifier
        self.threshold = threshold

    def fit(self, X: np.ndarray, y: np.ndarray) -> OpenSetIdentifier:
        from sklearn.base import clone
        from sklearn.neighbors import KNeighborsClassifier

        base = self.classifier if self.classifier is not None else KNeighborsClassifier(1)
        return self.set_gallery(clone(base).fit(X, y), X, y, float(self.threshold))

    def set_gallery(
        self, fitted: Any, X: np.ndarray, y: np.ndarray, threshold: float
    ) -> OpenSetIdentifier:
        """Use an already fitted classifier with the faces ``X`` of people ``y`` on file."""
        self.classifier_ = fitted
        self.classes_ = np.asarray(fitted.classes_)
        self.gallery_ = np.asarray(X, dtype=np.float64)
        self.gallery_labels_ = np.asarray(y)
        self.threshold_ = float(threshold)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        _check_fitted(self, "classifier_")
        return np.asarray(self.classifier_.predict_proba(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])

    def distances(self, X: np.ndarray, people: np.ndarray) -> np.ndarray:
        """Cosine distance from each face to the nearest face on file of ``people[i]``."""
        _check_fitted(self, "gallery_")
        d = 1.0 - np.asarray(X, dtype=np.float64) @ self.gallery_.T
        same = self.gallery_labels_[None, :] == np.asarray(people)[:, None]
        return np.where(same, d, np.inf).min(axis=1)
