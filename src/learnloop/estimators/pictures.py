"""Estimators of pictures: features extracted from pictures, and who is who among faces.

They read pictures through :mod:`learnloop.pictures.vision`, imported inside the methods that read,
so that loading a table model never imports the pictures stack.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from learnloop.estimators.common import check_fitted

__all__ = ["FaceEmbedding", "ImageFeatures", "OpenSetIdentifier"]


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
        from learnloop.pictures.vision import gray

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
        from learnloop.pictures.vision import picture_faces

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
        check_fitted(self, "classifier_")
        return np.asarray(self.classifier_.predict_proba(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])

    def distances(self, X: np.ndarray, people: np.ndarray) -> np.ndarray:
        """Cosine distance from each face to the nearest face on file of ``people[i]``."""
        check_fitted(self, "gallery_")
        d = 1.0 - np.asarray(X, dtype=np.float64) @ self.gallery_.T
        same = self.gallery_labels_[None, :] == np.asarray(people)[:, None]
        return np.where(same, d, np.inf).min(axis=1)
