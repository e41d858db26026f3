"""What a model outputs: its kind (:class:`Output`) and its values (:class:`Prediction`).

The kind is the capability that joins the parts without naming a task: a model family
declares the outputs it produces (``Candidate.produces``), a task the one it needs
(``Task.output``), and an error function the one it scores (``Metric.scores``). A family
serves a task when it produces the task's output from features the task builds
(:class:`Needs`), so a new kind of learning or a new family is one module, never a branch on
a task's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

__all__ = ["Needs", "Output", "Prediction"]


class Output(Enum):
    """The kind of decision a model makes for each row (or, for rankings, each user)."""

    CLASSES = "classes"  # a class per row, with a probability per class
    VALUES = "values"  # a number per row
    CLUSTERS = "clusters"  # a group per row, learned without a target
    RANKINGS = "rankings"  # items ranked best first, per user


@dataclass(frozen=True)
class Prediction:
    """A model's output on some rows: labels or values, and class probabilities if any."""

    values: np.ndarray
    proba: np.ndarray | None = None


class Needs(Protocol):
    """What a kind of learning asks of a model family (every ``Task`` is one)."""

    @property
    def output(self) -> Output:
        """The output the family must produce."""
        ...

    @property
    def feature_kinds(self) -> tuple[str, ...]:
        """The kinds of features the task builds (a family consumes one of them)."""
        ...
