"""Families for pictures: the tabular classifiers on features extracted from pictures.

The feature extractor is part of the searched configuration: each family is one
classifier (logistic regression, k-NN, MLP) on one extractor, named
``<classifier>_<extractor>``. The extractor is the family's ``preprocessing`` kind, so the
search extracts each kind of feature once per run and sample size (``search.fit.encoded``) and the
image task builds it (``Image.preprocessor``): ``hog`` (histogram of oriented gradients),
``pixels_pca`` (grey levels and PCA: eigenfaces) and, for faces, ``sface`` (the SFace
embedding of the face).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from learnloop.candidates._base import Candidate, FitContext
from learnloop.candidates.linear import LinearCandidate
from learnloop.candidates.neighbors import KNeighborsCandidate
from learnloop.candidates.neural import MLPCandidate

__all__ = ["IMAGE_FAMILIES", "FACE_FAMILIES"]

IMAGE_EXTRACTORS = ("hog", "pixels_pca")


def _on_pictures(base: type[Candidate], extractor: str, tasks: tuple[str, ...]) -> type[Candidate]:
    """``base``'s classifier on ``extractor`` features, for ``tasks``."""

    class Family(base):  # type: ignore[valid-type, misc]
        name = f"{base.name}_{extractor}"
        preprocessing = extractor

        def portfolio(self, task: str, n_rows: int) -> list[dict[str, Any]]:
            return super().portfolio("classification", n_rows)

        def search_space(self, trial: Any, task: str, n_rows: int) -> dict[str, Any]:
            return super().search_space(trial, "classification", n_rows)

        def fit(
            self,
            params: dict[str, Any],
            X: np.ndarray,
            y: np.ndarray | None,
            X_val: np.ndarray,
            ctx: FitContext,
        ) -> Any:
            # a picture task is classification whose inputs are pictures
            return super().fit(params, X, y, X_val, replace(ctx, task="classification"))

    Family.tasks = tasks
    Family.__name__ = Family.__qualname__ = f"{base.__name__}On{extractor.title()}"
    return Family


_BASES = (LinearCandidate, KNeighborsCandidate, MLPCandidate)
IMAGE_FAMILIES: list[Candidate] = [
    _on_pictures(b, e, ("image",))() for e in IMAGE_EXTRACTORS for b in _BASES
]
FACE_FAMILIES: list[Candidate] = [
    _on_pictures(b, "sface", ("faces",))() for b in (KNeighborsCandidate, LinearCandidate)
]
