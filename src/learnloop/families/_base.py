"""The contract every model family (candidate) follows.

A candidate proposes configurations (a portfolio of known-good ones, and an Optuna search
space) and fits one configuration *step by step* (boosting rounds, trees, epochs,
solver iterations), handing its validation predictions to a :class:`Monitor` after the
steps the monitor asks to see. The monitor (owned by the loop) scores them, records the
learning curve and answers whether to go on: that is how the loop stops a candidate the
moment it is good enough, clearly hopeless, or out of time.

A family declares what it produces (``produces``: classes with probabilities, values,
clusters, rankings) and the kind of features it consumes (``preprocessing``); it serves
every task that needs one of those outputs and builds that kind of features
(:meth:`Candidate.serves`), never a task by its name. Its ``fit`` learns the output
``ctx.output`` asks for. A new family is one module registered in ``candidates/__init__``;
``tests/test_candidate_contract.py`` runs the checks of every output it produces.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from learnloop.core import Needs, Output, Prediction

__all__ = ["Candidate", "FitContext", "Monitor"]


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

    output: Output  # what to learn: one of the family's ``produces``
    n_classes: int  # classes of the target (0 where there are none)
    seed: int
    n_jobs: int
    categorical: list[int]
    monitor: Monitor
    # the task's decisions of a fitted estimator on encoded rows (labels and probabilities,
    # values, cluster ids, rankings): what the monitor scores
    predict: Callable[[Any, np.ndarray], Prediction]

    def decisions(self, estimator: Any, X: np.ndarray) -> Prediction:
        """The task's Prediction of ``estimator`` on ``X`` (for the monitor)."""
        return self.predict(estimator, X)


class Candidate(ABC):
    """One model family. Stateless: configurations are plain dicts of parameters."""

    name: ClassVar[str]
    produces: ClassVar[frozenset[Output]]  # the outputs it can learn
    # the kind of features it consumes, built by the task: "tree", "dense", "cluster",
    # "interactions", or a picture extractor ("hog", "pixels_pca", "sface")
    preprocessing: ClassVar[str]
    max_rows: ClassVar[int | None] = None  # cap on training rows (e.g. k-NN)
    # plateau rule: stop after max(min_steps, fraction * last gain step) steps without gain
    patience: ClassVar[tuple[int, float]] = (10, 0.2)

    def serves(self, task: Needs) -> bool:
        """Whether this family learns ``task``: it produces the output the task needs, from
        a kind of features the task builds."""
        return task.output in self.produces and self.preprocessing in task.feature_kinds

    def check_output(self, output: Output) -> Output:
        """``output`` if this family produces it; ValueError otherwise."""
        if output not in self.produces:
            made = " or ".join(sorted(o.value for o in self.produces))
            asked = getattr(output, "value", output)
            raise ValueError(f"The {self.name} family produces {made}, not {asked!r}.")
        return output

    @abstractmethod
    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        """Known-good configurations for learning ``output``, best bet first."""

    @abstractmethod
    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
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
        """Learn ``ctx.output`` step by step under ``ctx.monitor``; return the fitted estimator.

        ``y`` is None for outputs learned without targets (clusters).
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
