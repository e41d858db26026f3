"""Fitting one configuration: the one home, callable without a search.

A configuration is fitted on a *sample* of the training rows (a rung's size, drawn with the
problem's seed, so every process draws the same rows), encoded by the family's kind of
preprocessing. Encoded samples are kept per problem (:func:`encoded`), so trials of the same
kind on the same rows encode once, in the driver's process and on each Dask worker alike.

- :func:`train_trial` trains one trial as its :class:`~learnloop.search.values.TrialSpec`
  says, under a :class:`~learnloop.search.monitor.TrialMonitor`, and hands back its
  :class:`~learnloop.search.values.Outcome`: what every executor runs, here or on a worker.
- :func:`fit_configuration` fits one configuration outside any search, stopped by the same
  monitor rules without a threshold (the report's comparison, the portfolio benchmark).
- :func:`fit_for_steps` fits exactly ``steps`` steps on given rows (the finalist's refit and
  cross-validation).
"""

from __future__ import annotations

import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from learnloop.data.features import categorical_indices
from learnloop.families import CANDIDATES, Candidate, FitContext, Monitor
from learnloop.search.aim import Aim
from learnloop.search.monitor import FixedSteps, TrialMonitor
from learnloop.search.trials import TrialRecord
from learnloop.search.values import FittedModel, Outcome, Problem, TrialSpec

__all__ = [
    "Encoded",
    "encoded",
    "sample_rows",
    "fit_context",
    "train_trial",
    "fit_configuration",
    "fit_for_steps",
    "MONITOR_ROWS",
]

MONITOR_ROWS = 2  # rows a fixed-steps fit shows its monitor: it never scores them


class Encoded(NamedTuple):
    """A training sample encoded for one kind of preprocessing, and the validation rows."""

    preprocessor: Any
    X: np.ndarray
    y: np.ndarray | None
    X_val: np.ndarray


# problem -> (kind, rows) -> its encoding; an entry lives as long as its problem does
_ENCODED: weakref.WeakKeyDictionary[Problem, dict[tuple[str, int], Encoded]] = (
    weakref.WeakKeyDictionary()
)


def sample_rows(problem: Problem, n_rows: int) -> np.ndarray:
    """The training rows a fit on ``n_rows`` rows uses: all, or a seeded sample of them."""
    n = problem.n_train
    if n_rows >= n:
        return np.arange(n)
    rng = np.random.default_rng(problem.seed + n_rows)
    rows = np.sort(rng.choice(n, size=n_rows, replace=False))
    return problem.task.subsample(problem.y_train, rows)


def encoded(problem: Problem, kind: str, n_rows: int) -> Encoded:
    """``n_rows`` training rows and the validation rows, encoded for ``kind`` (cached)."""
    cache = _ENCODED.setdefault(problem, {})
    key = (kind, n_rows)
    if key not in cache:
        rows = sample_rows(problem, n_rows)
        X_raw = problem.X_train.iloc[rows]
        pre = problem.task.preprocessor(kind, X_raw)
        X = pre.fit_transform(X_raw)
        y = problem.y_train[rows] if problem.y_train is not None else None
        cache[key] = Encoded(pre, X, y, pre.transform(problem.X_val))
    return cache[key]


def fit_context(problem: Problem, cand: Candidate, n_jobs: int, monitor: Monitor) -> FitContext:
    """What a family's ``fit`` needs besides its data: task, classes, seed, cores, the
    categorical columns of its preprocessing kind, the monitor and the task's decisions."""
    task, n_classes = problem.task, problem.n_classes
    return FitContext(
        task.output,
        n_classes,
        problem.seed,
        n_jobs,
        categorical_indices(cand.preprocessing, problem.X_train),
        monitor,
        predict=lambda est, rows: task.predict(est, rows, n_classes),
    )


def fit_for_steps(
    problem: Problem,
    candidate: str,
    params: dict[str, Any],
    steps: int,
    X_rows: pd.DataFrame,
    y_rows: np.ndarray,
    n_jobs: int,
    deadline: float,
) -> tuple[Any, Any]:
    """Fit one configuration for exactly ``steps`` steps on the given rows; (preprocessor,
    estimator). Past ``deadline`` (time.monotonic) it raises :class:`~.monitor.OutOfTime`."""
    cand = CANDIDATES[candidate]
    pre = problem.task.preprocessor(cand.preprocessing, X_rows)
    X = pre.fit_transform(X_rows)
    ctx = fit_context(problem, cand, n_jobs, FixedSteps(steps, deadline))
    return pre, cand.fit(params, X, y_rows, X[:MONITOR_ROWS], ctx)


def _never() -> bool:
    return False


def train_trial(
    problem: Problem,
    spec: TrialSpec,
    *,
    n_jobs: int = 1,
    should_stop: Callable[[], bool] = _never,
) -> Outcome:
    """Train the trial ``spec`` describes under its monitor; its record, model and notes.

    A configuration that fails is a failed record with its error and traceback, never an
    exception: one bad configuration must not end a search. ``should_stop`` is read between
    steps (a stop asked for by hand, or a cluster's stop signal).
    """
    cand = CANDIDATES[spec.candidate]
    record = TrialRecord(spec.number, spec.candidate, spec.params, spec.rung, spec.n_rows)
    had_margin = spec.aim.margin is not None
    monitor = TrialMonitor(problem, spec, record, cand.patience, should_stop)
    model, trace = None, ""
    try:
        pre, X, y, X_val = encoded(problem, cand.preprocessing, spec.n_rows)
        estimator = cand.fit(spec.params, X, y, X_val, fit_context(problem, cand, n_jobs, monitor))
        if record.score is None:
            raise RuntimeError("the candidate finished without a validation score")
        record.status = "pruned" if record.stop_reason == "behind" else "complete"
        record.stop_reason = record.stop_reason or "converged"
        steps = record.best_step or record.steps
        model = FittedModel(
            record.number, cand.name, spec.params, spec.n_rows, pre, estimator, record.score, steps
        )
    except Exception as e:  # a failing configuration must not end the run
        record.status, record.stop_reason = "failed", "error"
        record.error = f"{type(e).__name__}: {e}"
        trace = traceback.format_exc(limit=5)
    record.seconds = time.monotonic() - monitor.started
    if model is not None:
        model.seconds = record.seconds
    aim, margin = spec.aim, None
    if not had_margin and aim.margin is not None:  # this trial set the aim's margin
        margin = (aim.margin, aim.se_val, aim.target)
    return Outcome(
        spec.number,
        record,
        model,
        traceback=trace,
        margin=margin,
        time_to_threshold=monitor.time_to_threshold,
    )


def fit_configuration(
    problem: Problem,
    candidate: str,
    params: dict[str, Any],
    n_rows: int | None = None,
    *,
    seconds: float,
    n_jobs: int = 1,
) -> Outcome:
    """Fit one configuration on ``n_rows`` training rows (all if None) outside any search:
    no threshold, no peers, stopped by its own curve or after ``seconds``."""
    rows = problem.n_train if not n_rows else min(n_rows, problem.n_train)
    spec = TrialSpec(
        number=-1,
        candidate=candidate,
        params=params,
        rung=0,
        n_rows=rows,
        aim=Aim(problem.metric, None, 1.0),
        n_trials=0,
        seconds_left=seconds,
    )
    return train_trial(problem, spec, n_jobs=n_jobs)
