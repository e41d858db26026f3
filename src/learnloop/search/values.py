"""The search's plain values: what it is given, what it sends out, what comes back.

:class:`Problem` is the training and validation parts of one task (never the test split);
:class:`FittedModel` a fitted preprocessor + estimator and its validation score; :class:`Job`
the schedule's next decision; :class:`TrialSpec` one trial as the driver hands it to an
executor, and :class:`Outcome` what the executor hands back. Every module of the search
reads these; this one imports nothing of the search above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from learnloop.families import Candidate
from learnloop.metrics import Metric, Prediction
from learnloop.search.trials import TrialRecord
from learnloop.tasks import Task

if TYPE_CHECKING:
    from learnloop.search.aim import Aim

__all__ = ["Problem", "FittedModel", "Job", "TrialSpec", "Outcome", "predict_model"]


@dataclass(eq=False)  # compared and hashed by identity: fit.py keeps its encodings per problem
class Problem:
    """Prepared training and validation data for one task; the test split is not here.

    ``y_train`` and ``y_val`` are what the task's error function compares with (targets,
    known groups, or the encoded inputs); unsupervised tasks may have no ``y_train``.
    """

    task: Task
    metric: Metric
    n_classes: int
    X_train: pd.DataFrame
    y_train: np.ndarray | None
    X_val: pd.DataFrame
    y_val: np.ndarray
    n_test: int
    seed: int = 0
    # how many of the scored rows (the first of ``X_val``) are training rows the task adds
    # to the validation rows (``Task.scored_part``); a refit or cross-validation leaves them
    scored_train_rows: int = 0

    @property
    def n_train(self) -> int:
        return len(self.X_train)

    @property
    def n_train_and_val(self) -> int:
        """Rows a refit or a cross-validation on training + validation rows learns from."""
        return self.n_train + len(self.y_val) - self.scored_train_rows


@dataclass
class FittedModel:
    """A fitted preprocessor + estimator pair and its validation score."""

    trial: int
    candidate: str
    params: dict[str, Any]
    n_rows: int
    preprocessor: Any
    estimator: Any
    score: float
    steps: int = 0  # the step the trial kept (boosting rounds, trees, epochs)
    seconds: float = 0.0  # how long the trial trained
    refit: bool = False  # trained again on training + validation rows (see finalist.py)
    val_prediction: Prediction | None = None  # set when it enters the ensemble pool
    members: list[FittedModel] | None = None  # an ensemble's member models, in weight order


@dataclass(frozen=True)
class Job:
    """What the schedule says to train next: a family's configuration on a rung's rows.

    ``candidate`` None leaves the family and its parameters to the study's sampler.
    """

    candidate: Candidate | None
    params: dict[str, Any] | None
    rung: int
    source: int | None = None  # the trial it is promoted from

    @property
    def sampled(self) -> bool:
        """Whether the sampler chooses the configuration."""
        return self.candidate is None or self.params is None


@dataclass
class TrialSpec:
    """One trial as the driver sends it: the configuration and a snapshot of the search.

    It is all a trial's monitor reads, wherever the trial runs: the aim now (a copy; the
    trial may set its margin), the finished peers' curves (median stopping), the seconds
    left of the search and the cap of a trial on a sample.
    """

    number: int
    candidate: str
    params: dict[str, Any]
    rung: int
    n_rows: int
    aim: Aim  # a copy: the aim now (its margin may still be unknown)
    n_trials: int  # trials so far (the aim's winner's-curse allowance counts them)
    peers: list[list[tuple[int, float, float]]] = field(default_factory=list)
    sample_cap_s: float | None = None  # a trial on a sample stops after this long
    seconds_left: float = float("inf")  # of the search, when sent
    elapsed_s: float = 0.0  # since the search started, when sent (curves keep its clock)
    run_key: str = ""  # the run's key on a cluster (the stop signal, the start notes)
    epoch: int = 0  # which stop signal this trial obeys
    retry_of: int | None = None


@dataclass
class Outcome:
    """What came back of one trial: its record, model, and what it taught the aim."""

    number: int
    record: TrialRecord | None  # None: the trial was lost (worker died, cancelled)
    model: FittedModel | None = None
    worker: str | None = None  # where it ran, when not in the driver's process
    traceback: str = ""
    margin: tuple[float, float, float | None] | None = None  # (margin, se_val, target) if set
    time_to_threshold: float | None = None  # on the search's clock
    error: str = ""  # why it was lost
    retry: bool = True  # a lost trial may be tried once more


def predict_model(model: FittedModel, X: pd.DataFrame, task: Task, n_classes: int) -> Prediction:
    """Predictions of a fitted model on prepared (not yet preprocessed) features."""
    return task.predict(model.estimator, model.preprocessor.transform(X), n_classes)
