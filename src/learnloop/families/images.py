"""Families for pictures: the tabular classifiers on features extracted from pictures.

The feature extractor is part of the searched configuration: each family is one
classifier (logistic regression, k-NN, MLP) on one extractor, named
``<classifier>_<extractor>``. The extractor is the family's ``preprocessing`` kind, so the
search extracts each kind of feature once per run and sample size (``search.fit.encoded``) and the
image task builds it (``Image.preprocessor``): ``hog`` (histogram of oriented gradients),
``pixels_pca`` (grey levels and PCA: eigenfaces) and, for faces, ``sface`` (the SFace
embedding of the face). The extractor is also what matches a family to its task: the
``image`` task builds ``hog`` and ``pixels_pca`` features, ``faces`` builds ``sface``.
"""

from __future__ import annotations

from learnloop.core import Output
from learnloop.families._base import Candidate
from learnloop.families.linear import LinearCandidate
from learnloop.families.neighbors import KNeighborsCandidate
from learnloop.families.neural import MLPCandidate

__all__ = ["IMAGE_FAMILIES", "FACE_FAMILIES"]

IMAGE_EXTRACTORS = ("hog", "pixels_pca")


def _on_pictures(base: type[Candidate], extractor: str) -> type[Candidate]:
    """``base``'s classifier on ``extractor`` features (classes only: pictures have no values)."""

    class Family(base):  # type: ignore[valid-type, misc]
        name = f"{base.name}_{extractor}"
        produces = frozenset({Output.CLASSES})
        preprocessing = extractor

    Family.__name__ = Family.__qualname__ = f"{base.__name__}On{extractor.title()}"
    return Family


_BASES = (LinearCandidate, KNeighborsCandidate, MLPCandidate)
IMAGE_FAMILIES: list[Candidate] = [_on_pictures(b, e)() for e in IMAGE_EXTRACTORS for b in _BASES]
FACE_FAMILIES: list[Candidate] = [
    _on_pictures(b, "sface")() for b in (KNeighborsCandidate, LinearCandidate)
]
