"""The part every learnloop estimator shares: its parameters, ``fit`` running the loop, and
the fitted model answering on new rows.

scikit-learn's contract (sklearn/base.py): ``__init__`` only stores its keyword arguments;
``fit`` checks them once, by building the run's :class:`~learnloop.core.settings.RunSettings`
(the one place run settings are checked), and returns ``self``; what was fitted lives in
attributes ending in ``_``; the other methods first check the estimator is fitted.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import Tags
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from learnloop.core.settings import DEFAULT_BUDGET_S, RunSettings
from learnloop.data.tables import array_column_names
from learnloop.runs.train import train
from learnloop.sklearn._inputs import frame_of, target_name, temporary_store
from learnloop.tasks import Answer

__all__ = ["LearnloopEstimator"]


class LearnloopEstimator(BaseEstimator):
    """A scikit-learn estimator whose ``fit`` is one learnloop run.

    ``fit`` searches until the validation ``metric`` passes ``threshold`` (or ``budget``
    seconds end), then certifies the chosen model once on a held-out test split of the rows
    given to ``fit``, with a one-sided bound at ``confidence``. The fitted estimator keeps
    ``certificate_`` (``met``, ``test_score``, ``test_bound``), ``run_id_``, ``result_``
    (the run: ``result_.leaderboard()``) and ``model_`` (the certified model).

    ``store`` is the experiment store to record runs in (a SQLite path or a database URL);
    None records them in a temporary SQLite file of this process, removed at exit, so
    estimators write nothing to the working folder. No model file is written; pickle the
    estimator, or use ``learnloop.train(..., out=...)`` for a safe model file.
    """

    task: ClassVar[str]  # the learnloop task each subclass runs

    def __init__(  # noqa: PLR0913 -- scikit-learn estimators take one keyword per setting
        self,
        *,
        metric: str | None = None,
        threshold: float | None = None,
        budget: float = DEFAULT_BUDGET_S,
        confidence: float = 0.95,
        seed: int = 0,
        candidates: list[str] | None = None,
        store: str | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.metric = metric
        self.threshold = threshold
        self.budget = budget
        self.confidence = confidence
        self.seed = seed
        self.candidates = candidates
        self.store = store
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are learned from, not refused
        return tags

    def settings(self) -> RunSettings:
        """The run settings these parameters ask for (UsageError, a ValueError, if one is
        out of range)."""
        return RunSettings(
            task=self.task,
            metric=self.metric,
            threshold=self.threshold,
            budget=self.budget,
            confidence=self.confidence,
            seed=self.seed,
            candidates=list(self.candidates) if self.candidates is not None else None,
        )

    def _run(self, X: Any, y: Any) -> LearnloopEstimator:
        """Validate ``X`` (and ``y``), run the loop, keep the run's result."""
        settings = self.settings()
        frame = self._checked(X, reset=True)
        target = None
        if y is not None:
            target = target_name(frame)
            values = column_or_1d(y, warn=True)  # a column vector is raveled, with a warning
            check_consistent_length(frame, values)
            frame = frame.assign(**{target: values})
        result = train(
            frame,
            target,
            task=settings.task,
            metric=settings.metric,
            threshold=settings.threshold,
            budget=settings.budget,
            confidence=settings.confidence,
            seed=settings.seed,
            candidates=settings.candidates,
            out=None,
            store=self.store or temporary_store(),
            n_jobs=self.n_jobs,
            progress=False,  # quiet as scikit-learn's estimators are (cross_val_score fits many)
        )
        self.result_ = result
        self.model_ = result.model
        self.certificate_ = result.certificate
        self.run_id_ = result.run_id
        return self

    def _checked(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """``X`` as a DataFrame, its width and names recorded (``reset``) or checked."""
        frame = frame_of(X)
        validate_data(self, X, reset=reset, skip_check_array=True)
        if not hasattr(self, "feature_names_in_"):  # unnamed columns go by position
            frame = frame.set_axis(array_column_names(frame.shape[1]), axis=1)
        if frame.shape[1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={frame.shape}) while a minimum of 1 is "
                "required."
            )
        if len(frame) == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={frame.shape}).")
        if reset and len(frame) == 1:
            raise ValueError(
                "Found 1 sample: learnloop splits the rows given to fit into training, "
                "validation and test rows, so it needs many."
            )
        return frame

    def _answer(self, X: Any) -> Answer:
        """The certified model's answer on the rows of ``X``."""
        check_is_fitted(self, "model_")
        frame = self._checked(X, reset=False)
        return self.model_.answer(frame)
