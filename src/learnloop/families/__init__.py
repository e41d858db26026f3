"""Model families the loop can try, each able to train step by step.

A family serves a task by capability (:meth:`Candidate.serves`: it produces the output the
task needs from features the task builds); :func:`families_for` lists them in registry order.
"""

from __future__ import annotations

from learnloop.core import Needs
from learnloop.families._base import Candidate, FitContext, Monitor
from learnloop.families.boosting import LightGBMCandidate
from learnloop.families.clustering import (
    GaussianMixtureCandidate,
    HDBSCANCandidate,
    KMeansCandidate,
    KMeansSweepCandidate,
)
from learnloop.families.ease import EASECandidate
from learnloop.families.forest import ExtraTreesCandidate, RandomForestCandidate
from learnloop.families.images import FACE_FAMILIES, IMAGE_FAMILIES
from learnloop.families.linear import LinearCandidate
from learnloop.families.neighbors import KNeighborsCandidate
from learnloop.families.neural import MLPCandidate
from learnloop.families.recommendation import (
    ALSCandidate,
    BPRCandidate,
    ItemKNNCandidate,
    PopularityCandidate,
)
from learnloop.families.rp3beta import RP3betaCandidate

__all__ = [
    "Candidate",
    "FitContext",
    "Monitor",
    "CANDIDATES",
    "families_for",
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
        KMeansSweepCandidate(),
        KMeansCandidate(),
        GaussianMixtureCandidate(),
        HDBSCANCandidate(),
        PopularityCandidate(),
        ItemKNNCandidate(),
        ALSCandidate(),
        BPRCandidate(),
        EASECandidate(),
        RP3betaCandidate(),
        *IMAGE_FAMILIES,
        *FACE_FAMILIES,
    ]
}


def get_candidate(name: str) -> Candidate:
    """The candidate family called ``name``."""
    return CANDIDATES[name]


def families_for(task: Needs) -> list[Candidate]:
    """The registered families that serve ``task`` (by what they produce and consume)."""
    return [c for c in CANDIDATES.values() if c.serves(task)]
