"""Choosing the model to look at by cross-validation where the validation split is tiny.

On a small table the validation split is a few dozen rows: after hundreds of trials the best
validation score is mostly the luck of those rows (wine, 178 rows: adjusted Rand 0.936 on 36
validation rows, 0.740 on the test rows). Where the validation split has fewer than
``TINY_VALIDATION_ROWS`` rows, the best few configurations (by validation score, trained on
the whole training split) are scored again by k-fold cross-validation over training +
validation rows, each fold scored on its own held rows and the folds averaged (clusters are
numbered apart in each fold, so their out-of-fold labels cannot be pooled), and the best
mean is the one the last test look is spent on, when the budget ends with no model past the
aim (a model past the aim, which allows for the validation split's noise, keeps its look).

Where the task names a first guess (``Task.first_guess``: scikit-learn's KMeans at each k,
EASE at its published penalty), the model looked at is that guess unless the best model
leads it on the scored rows by more than :func:`first_guess_bar` paired standard errors of
their per-row scores (``Task.row_scores``): after hundreds of trials the best one leads a
fixed good model by a standard error or more by chance (MovieLens: lambda ~100 over 500 by
1.04 on 335 validation users, the other way on test; crabs: HDBSCAN over k-means k=2).

Either rule changes which model is looked at, never what a look certifies: the test split
stays unseen, and the look policy spends the same error rate whatever chose the model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from learnloop.core import levers
from learnloop.search.finalist import all_rows, fold_rows
from learnloop.search.fit import fit_for_steps
from learnloop.search.monitor import OutOfTime
from learnloop.search.trials import TrialRecord, config_key
from learnloop.search.values import FittedModel, Problem, predict_model

__all__ = [
    "TINY_VALIDATION_ROWS",
    "FINALISTS",
    "FOLDS",
    "FoldScore",
    "validation_is_tiny",
    "finalists",
    "fold_score",
    "choose",
    "Selection",
    "pick",
    "selection_seconds",
    "FirstGuess",
    "paired_gain",
    "paired_lead",
    "prefer_first_guess",
    "first_guess_bar",
]

TINY_VALIDATION_ROWS = 100  # below this many validation rows, selection cross-validates
FINALISTS = 5  # configurations scored again by cross-validation
FOLDS = 5


@dataclass(frozen=True)
class FoldScore:
    """One configuration's mean score over the folds, their spread, and what it cost."""

    trial: int
    candidate: str
    validation_score: float
    score: float
    se: float
    folds: int
    seconds: float
    # what ranks the finalists: the fold mean and the model's own validation score,
    # weighed by their rows (set by ``choose``)
    estimate: float = math.nan


def validation_is_tiny(problem: Problem) -> bool:
    """Whether the validation split is too small to choose among many trials by itself."""
    return (
        levers.enabled("cv_select")
        and problem.task.held_out == "rows"  # rows can be dealt into folds
        and len(problem.y_val) < TINY_VALIDATION_ROWS
    )


def finalists(
    problem: Problem, trials: list[TrialRecord], count: int = FINALISTS
) -> list[TrialRecord]:
    """The best ``count`` distinct configurations by validation score among the complete
    trials trained on the whole training split, best first."""
    metric = problem.metric
    full = [
        t
        for t in trials
        if t.status == "complete"
        and t.score is not None
        and math.isfinite(t.score)
        and t.n_rows >= problem.n_train
        and (t.best_step or t.steps) > 0
    ]
    full.sort(key=lambda t: metric.to_loss(float(t.score)))  # type: ignore[arg-type]
    chosen: list[TrialRecord] = []
    keys: set[str] = set()
    for t in full:
        key = config_key(t.candidate, t.params, 0)
        if key not in keys:
            keys.add(key)
            chosen.append(t)
        if len(chosen) == count:
            break
    return chosen


def fold_score(
    problem: Problem,
    record: TrialRecord,
    n_jobs: int,
    deadline: float,
    folds: int = FOLDS,
) -> FoldScore | None:
    """``record``'s configuration trained on each fold's other rows for the steps it kept,
    scored on the fold's held rows; the mean and its standard error (None if late)."""
    started = time.monotonic()
    X, y = all_rows(problem)
    task, metric, n_classes = problem.task, problem.metric, problem.n_classes
    steps = record.best_step or record.steps
    scores = []
    for fit_rows, held_rows in fold_rows(problem, X, y, folds):
        try:
            pre, est = fit_for_steps(
                problem,
                record.candidate,
                record.params,
                steps,
                X.iloc[fit_rows],
                y[fit_rows],
                n_jobs,
                deadline,
            )
        except OutOfTime:
            return None
        pred = task.predict(est, pre.transform(X.iloc[held_rows]), n_classes)
        scores.append(float(metric.score(y[held_rows], pred, n_classes)))
    values = np.asarray(scores)
    if not np.all(np.isfinite(values)):  # a fold with a degenerate score: no fair mean
        return None
    se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.inf
    assert record.score is not None
    return FoldScore(
        record.number,
        record.candidate,
        float(record.score),
        float(values.mean()),
        se,
        len(values),
        time.monotonic() - started,
    )


def choose(
    problem: Problem, trials: list[TrialRecord], n_jobs: int, deadline: float
) -> list[FoldScore]:
    """The finalists' cross-validated scores, best first (those that finished in time)."""
    if problem.y_train is None:
        return []
    scored: list[FoldScore] = []
    keep = 0.0  # time kept for fitting the chosen one: twice the slowest fold so far
    for record in finalists(problem, trials):
        if scored and time.monotonic() + scored[-1].seconds + keep > deadline:
            break  # another finalist would leave no time to fit the chosen one
        result = fold_score(problem, record, n_jobs, deadline - keep)
        if result is None:
            break
        scored.append(result)
        keep = max(keep, 2 * result.seconds / result.folds)
    metric, n_val, n_cv = problem.metric, len(problem.y_val), problem.n_train_and_val

    # the model looked at is one fit: its own validation score (on rows it never saw) says
    # how that fit did, the folds how its configuration does; weighed by their rows
    weighed = [
        replace(s, estimate=(n_cv * s.score + n_val * s.validation_score) / (n_cv + n_val))
        for s in scored
    ]
    return sorted(weighed, key=lambda s: metric.to_loss(s.estimate))


@dataclass(frozen=True)
class Selection:
    """The model chosen for the test look by cross-validation, and the scores that chose it."""

    model: FittedModel
    scores: list[FoldScore]

    def to_dict(self) -> dict[str, Any]:
        """What the model file records of the choice (plain values)."""
        return {
            "by": "cross_validation",
            "folds": self.scores[0].folds,
            "finalists": [
                {
                    "trial": s.trial,
                    "candidate": s.candidate,
                    "validation_score": s.validation_score,
                    "cross_validated_score": s.score,
                    "se": s.se,
                    "estimate": s.estimate,
                }
                for s in self.scores
            ],
        }

    def describe(self, problem: Problem) -> str:
        """One sentence for the run's progress: what was chosen, on how many rows, and why."""
        best = self.scores[0]
        return (
            f"The validation split has only {len(problem.y_val)} rows: the model looked at is "
            f"the {best.candidate} configuration of trial {best.trial}, the best of "
            f"{len(self.scores)} finalists by {best.folds}-fold cross-validation over "
            f"{problem.n_train_and_val} training + validation rows ({problem.metric.name} "
            f"{best.score:.4f} ± {best.se:.4f}; its validation score {best.validation_score:.4f})."
        )


def selection_seconds(problem: Problem, model: FittedModel) -> float:
    """What choosing by cross-validation will take (0 where the validation split decides):
    the finalists' fits on each fold, priced at ``model``'s training time scaled by rows."""
    if not validation_is_tiny(problem):
        return 0.0
    growth = (1 - 1 / FOLDS) * problem.n_train_and_val / max(problem.n_train, 1)
    seconds = max([model.seconds] + [m.seconds for m in model.members or []])
    return FINALISTS * FOLDS * seconds * growth


def pick(
    problem: Problem,
    trials: list[TrialRecord],
    model: FittedModel,
    n_jobs: int,
    deadline: float,
) -> Selection | None:
    """Where the validation split is tiny, the finalist with the best cross-validated score,
    fitted as its trial was (the whole training split, the steps it kept) and keeping its
    validation score; None where the validation split decides (not tiny, or nothing scored
    in time)."""
    if not validation_is_tiny(problem):
        return None
    scores = choose(problem, trials, n_jobs, deadline)
    if not scores:
        return None
    best = scores[0]
    if model.trial == best.trial and model.members is None and not model.refit:
        return Selection(model, scores)
    record = next(t for t in trials if t.number == best.trial)
    steps = record.best_step or record.steps
    assert problem.y_train is not None and record.score is not None
    try:
        pre, estimator = fit_for_steps(
            problem,
            record.candidate,
            record.params,
            steps,
            problem.X_train,
            problem.y_train,
            n_jobs,
            deadline,
        )
    except OutOfTime:
        return None
    chosen = FittedModel(
        record.number,
        record.candidate,
        record.params,
        problem.n_train,
        pre,
        estimator,
        float(record.score),
        steps,
        seconds=record.seconds,
    )
    return Selection(chosen, scores)


@dataclass(frozen=True)
class FirstGuess:
    """The final pick between the best model and the task's first guess, by the
    paired per-row differences of their scores on the scored rows (``Task.first_guess_margin``).

    ``gain`` is the best model's mean lead over the first guess (positive: better, whatever
    the metric's direction), ``se`` its paired standard error; the first guess is kept unless
    ``gain > margin * se``.
    """

    model: FittedModel
    best: FittedModel
    first: FittedModel
    gain: float
    se: float
    margin: float
    rows: int

    @property
    def kept_first(self) -> bool:
        return self.model is self.first

    def to_dict(self) -> dict[str, Any]:
        """What the model file records of the choice (plain values)."""
        return {
            "by": "first_guess_within_noise",
            "first_guess_trial": self.first.trial,
            "best_trial": self.best.trial,
            "gain": self.gain,
            "se": self.se,
            "margin_se": self.margin,
            "rows": self.rows,
            "kept_first_guess": self.kept_first,
        }

    def describe(self, problem: Problem) -> str:
        """One sentence for the run's progress: which model was kept and why."""
        lead = (
            f"the {self.best.candidate} model of trial {self.best.trial} leads the first guess "
            f"({self.first.candidate}, trial {self.first.trial}) by {self.gain:.4f} ± "
            f"{self.se:.4f} ({problem.metric.name}, paired over {self.rows} scored rows)"
        )
        if self.kept_first:
            return (
                f"Within the scored rows' noise, {lead}, not more than {self.margin:.1f} standard "
                "errors: the first guess is the model looked at."
            )
        return f"Beyond the scored rows' noise, {lead}: it is the model looked at."


def paired_gain(
    problem: Problem, best: FittedModel, first: FittedModel
) -> tuple[float, float] | None:
    """``best``'s mean per-row lead over ``first`` on the scored rows and its paired standard
    error (None where the task's metric is no mean of per-row values)."""
    task, metric, y = problem.task, problem.metric, problem.y_val
    values = []
    for model in (best, first):
        pred = model.val_prediction
        if pred is None:
            pred = predict_model(model, problem.X_val, task, problem.n_classes)
        rows = task.row_scores(metric, y, pred)
        if rows is None:
            return None
        values.append(np.asarray(rows, dtype=float))
    return paired_lead(values[0], values[1], metric.greater_is_better)


def paired_lead(
    best: np.ndarray, first: np.ndarray, greater_is_better: bool = True
) -> tuple[float, float] | None:
    """The mean per-row lead of ``best`` over ``first`` (positive: better) and its paired
    standard error; None with fewer than two rows where both are finite."""
    diff = np.asarray(best, dtype=float) - np.asarray(first, dtype=float)
    if not greater_is_better:
        diff = -diff
    diff = diff[np.isfinite(diff)]
    if len(diff) < 2:
        return None
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff)))


def prefer_first_guess(
    problem: Problem, best: FittedModel, first: FittedModel | None, compared: int = 1
) -> FirstGuess | None:
    """Where the task asks for it, its first guess (a portfolio entry) unless ``best``, the best of
    ``compared`` scored trials, beats it by more than :func:`first_guess_bar` paired standard
    errors on the scored rows; None where no such rule applies (no margin, no first guess,
    the same model, a refit)."""
    margin = problem.task.first_guess_margin
    if (
        problem.task.first_guess is None
        or first is None
        or best is first
        or best.trial == first.trial
    ):
        return None
    if best.refit or first.refit:  # a refit saw the validation rows: no fair pairing
        return None
    gain = paired_gain(problem, best, first)
    if gain is None:
        return None
    lead, se = gain
    bar = first_guess_bar(margin, compared)
    chosen = best if lead > bar * se else first
    return FirstGuess(chosen, best, first, lead, se, bar, len(problem.y_val))


def first_guess_bar(margin: float, compared: int) -> float:
    """How many paired standard errors the best of ``compared`` trials must lead the first
    guess by: the task's ``margin`` for one comparison, widened to ``sqrt(2 ln compared)``,
    about the largest of that many standard normal draws (the lead the best of many equally
    good models has by chance; on crabs an unconverged Lloyd step of k-means k=2 led the
    converged k=2 by 2.1 standard errors on the scored rows and trailed it on test)."""
    return max(margin, math.sqrt(2.0 * math.log(max(compared, 1))))
