"""Model families the loop can try, each able to train step by step."""

from __future__ import annotations

from learnloop.candidates._base import Candidate, FitContext, Monitor, predict_with
from learnloop.candidates.boosting import LightGBMCandidate
from learnloop.candidates.clustering import (
    GaussianMixtureCandidate,
    HDBSCANCandidate,
    KMeansCandidate,
)
from learnloop.candidates.forest import ExtraTreesCandidate, RandomForestCandidate
from learnloop.candidates.images import FACE_FAMILIES, IMAGE_FAMILIES
from learnloop.candidates.linear import LinearCandidate
from learnloop.candidates.neighbors import KNeighborsCandidate
from learnloop.candidates.neural import MLPCandidate
from learnloop.candidates.recommendation import (
    ALSCandidate,
    BPRCandidate,
    ItemKNNCandidate,
    PopularityCandidate,
)

__all__ = [
    "Candidate",
    "FitContext",
    "Monitor",
    "predict_with",
    "CANDIDATES",
    "get_candidate",
]

CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in [
        LightGBMCandidate(),
        LinearCandidate(),
        ExtraTreesCandidate(),
        RandomForestCandidate(),
        KNeighborsCandidate(),
        MLPCandidate(),
        KMeansCandidate(),
        GaussianMixtureCandidate(),
        HDBSCANCandidate(),
        PopularityCandidate(),
        ItemKNNCandidate(),
        ALSCandidate(),
        BPRCandidate(),
        *IMAGE_FAMILIES,
        *FACE_FAMILIES,
    ]
}


def get_candidate(name: str) -> Candidate:
    """The candidate family called ``name``."""
    return CANDIDATES[name]
