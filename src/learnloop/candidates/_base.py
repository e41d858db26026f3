"""The contract every model family (candidate) follows.

A candidate proposes configurations (a portfolio of known-good ones, and an Optuna search
space) and fits one configuration *step by step* (boosting rounds, trees, epochs,
solver iterations), handing its validation predictions to a :class:`Monitor` after the
steps the monitor asks to see. The monitor (owned by the loop) scores them, records the
learning curve and answers whether to go on: that is how the loop stops a candidate the
moment it is good enough, clearly hopeless, or out of time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from learnloop.metrics import Prediction

__all__ = ["Candidate", "FitContext", "Monitor", "predict_with"]


class Monitor(Protocol):
    """What a candidate sees of the loop while it trains."""

    def wants(self, step: int) -> bool:
        """Whether the loop wants to score the model after ``step`` (cheap to call)."""
        ...

    def __call__(self, step: int, prediction: Prediction) -> bool:
        """Score validation predictions after ``step``; return False to stop training."""
        ...

    @property
    def best_step(self) -> int:
        """The step with the best validation score so far (the one to keep)."""
        ...

    def seconds_left(self) -> float:
        """Seconds left in the whole run's budget."""
        ...


@dataclass
class FitContext:
    """Everything a candidate needs besides its configuration and data."""

    task: str
    n_classes: int
    seed: int
    n_jobs: int
    categorical: list[int]
    monitor: Monitor
    # the task's decisions of a fitted estimator on encoded rows (labels and probabilities,
    # values, cluster ids): what the monitor scores
    predict: Callable[[Any, np.ndarray], Prediction] | None = None

    def decisions(self, estimator: Any, X: np.ndarray) -> Prediction:
        """The task's Prediction of ``estimator`` on ``X`` (for the monitor)."""
        if self.predict is not None:
            return self.predict(estimator, X)
        return predict_with(estimator, X, self.task, self.n_classes)


class Candidate(ABC):
    """One model family. Stateless: configurations are plain dicts of parameters."""

    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]] = ("classification", "regression")  # tasks it serves
    preprocessing: ClassVar[str]  # "tree", "dense", "cluster" or "interactions"
    max_rows: ClassVar[int | None] = None  # cap on training rows (e.g. k-NN)
    # plateau rule: stop after max(min_steps, fraction * last gain step) steps without gain
    patience: ClassVar[tuple[int, float]] = (10, 0.2)

    @abstractmethod
    def portfolio(self, task: str, n_rows: int) -> list[dict[str, Any]]:
        """Known-good configurations, best bet first."""

    @abstractmethod
    def search_space(self, trial: Any, task: str, n_rows: int) -> dict[str, Any]:
        """Sample a configuration from an Optuna trial (parameter names prefixed by family)."""

    @abstractmethod
    def fit(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        """Train step by step under ``ctx.monitor``; return the fitted estimator.

        ``y`` is None for tasks without targets (clustering).
        """

    def targets(self, y: np.ndarray | None) -> np.ndarray:
        """``y`` for a family that learns from targets (ValueError if there are none)."""
        if y is None:
            raise ValueError(f"The {self.name} family learns from a target; there is none.")
        return y

    def key(self, param: str) -> str:
        """The Optuna parameter name of one of this family's parameters."""
        return f"{self.name}.{param}"

    def strip(self, params: dict[str, Any]) -> dict[str, Any]:
        """This family's parameters without the prefix."""
        prefix = f"{self.name}."
        return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def predict_with(estimator: Any, X: np.ndarray, task: str, n_classes: int = 0) -> Prediction:
    """The decisions of a fitted estimator for the task called ``task`` (see Task.predict)."""
    from learnloop.tasks import get_task

    return get_task(task).predict(estimator, X, n_classes)
