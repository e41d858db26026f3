"""The finalist before its test look: refit on training + validation rows, and a better guess
of what the look will say than one validation split.

Two levers for time to a certified model (issue 11), both blind to the test split:

- **Refit** (:func:`refit_on_all`): the chosen configuration is trained again, for the same
  number of steps its trial kept, on the training *and* validation rows. More rows give a
  better model for the same configuration; the test split is still unseen, and the model
  that gets the test look is the one saved.
- **Cross-validated look decision** (:func:`cross_validate`, :func:`pass_probability`): a
  single validation split can sit far from the test split (and the best of many trials'
  validation scores is optimistic). The finalist's out-of-fold score over training +
  validation rows estimates the refitted model's score with about half the noise; the loop
  spends a test look when the chance that the bound passes is high enough.

- **Held-out estimate of a model trained on a sample** (:func:`held_out_estimate`, the
  ``early_look`` lever): on a large table the first models train on a sample of the
  training rows, and the training rows they never saw are a free second validation split,
  often larger than the validation split itself, that played no part in choosing them.
  Their score there says, at the cost of one prediction, whether a test look at that very
  model (it is looked at as trained: a sample's steps are not refitted) would pass.

None of them changes what a look certifies: the look policy (how many looks, the error rate
each spends) is the same whatever decides *when* to look, so the false-"met" rate stays
at most alpha.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from learnloop.certify import fewest_right_to_certify, validation_se
from learnloop.core import levers
from learnloop.estimators import EnsembleClassifier
from learnloop.families import CANDIDATES
from learnloop.metrics import Metric, Prediction
from learnloop.search.ensemble import assemble
from learnloop.search.fit import fit_for_steps, sample_rows
from learnloop.search.monitor import OutOfTime
from learnloop.search.values import FittedModel, Problem, predict_model

__all__ = [
    "Estimate",
    "all_rows",
    "held_out_estimate",
    "MIN_HELD_ROWS",
    "fold_rows",
    "refit_on_all",
    "refit_for_look",
    "refit_cost",
    "refit_reserve",
    "REFIT_RESERVE_SHARE",
    "cross_validate",
    "pass_probability",
    "LookAdvice",
    "LookAdvisor",
    "CV_FOLDS",
]

CV_FOLDS = 5


@dataclass(frozen=True)
class Estimate:
    """An out-of-fold score of one configuration and its standard error."""

    score: float
    se: float
    n_rows: int
    seconds: float


def all_rows(problem: Problem) -> tuple[pd.DataFrame, np.ndarray]:
    """Training + validation rows and what the metric compares with, in that order."""
    assert problem.y_train is not None
    own = problem.scored_train_rows  # training rows among the scored ones: not twice
    X = pd.concat([problem.X_train, problem.X_val.iloc[own:]], ignore_index=True)
    return X, np.concatenate([problem.y_train, problem.y_val[own:]])


MIN_HELD_ROWS = 1000  # fewer unseen training rows than this: no held-out estimate


def held_out_estimate(problem: Problem, model: FittedModel) -> Estimate | None:
    """``model``'s score on the training rows its sample left out, and its standard error.

    None where the model saw every training row (or is an ensemble or a refit), or where
    fewer than ``MIN_HELD_ROWS`` rows were left out. No row of the test split is read, and
    the rows scored were neither trained on nor used to choose the model.
    """
    if problem.y_train is None or model.members is not None or model.refit:
        return None
    if model.n_rows >= problem.n_train:
        return None
    started = time.monotonic()
    unseen = np.setdiff1d(np.arange(problem.n_train), sample_rows(problem, model.n_rows))
    if len(unseen) < MIN_HELD_ROWS:
        return None
    y = problem.y_train[unseen]
    pred = predict_model(model, problem.X_train.iloc[unseen], problem.task, problem.n_classes)
    metric, n_classes = problem.metric, problem.n_classes
    score = metric.score(y, pred, n_classes)
    se = validation_se(metric, y, pred, n_classes, problem.seed)
    return Estimate(score, se, len(unseen), time.monotonic() - started)


def refit_on_all(
    problem: Problem, model: FittedModel, steps: int, n_jobs: int, deadline: float
) -> FittedModel | None:
    """``model``'s configuration trained on training + validation rows (None if out of time).

    The returned model keeps ``model``'s validation score (the score that chose it; the
    refitted model has seen the validation rows, so it has no validation score of its own).
    """
    X, y = all_rows(problem)
    try:
        pre, estimator = fit_for_steps(
            problem, model.candidate, model.params, steps, X, y, n_jobs, deadline
        )
    except OutOfTime:
        return None
    return FittedModel(
        model.trial,
        model.candidate,
        model.params,
        len(X),
        pre,
        estimator,
        model.score,
        refit=True,
    )


REFIT_SHARE = 0.5  # a refit may use at most this share of the budget left
# a search to the budget keeps at most this share of the budget free to refit its best model
REFIT_RESERVE_SHARE = 0.3


def refit_for_look(problem: Problem, model: FittedModel, n_jobs: int, end: float) -> FittedModel:
    """The model to spend a test look on: ``model`` refitted on training + validation rows
    when the ``refit`` lever is on, the task allows it, and it fits in the time left before
    ``end`` (time.monotonic); otherwise ``model`` itself. An ensemble is refitted member by
    member and keeps its weights."""
    if not (levers.enabled("refit") and _can_refit(problem, model)):
        return model
    cost = refit_cost(problem, model)
    left = end - time.monotonic()
    if cost > REFIT_SHARE * left:
        return model
    deadline = min(end, time.monotonic() + 3 * cost + 1)
    refitted = []
    for member in _members(model):
        again = refit_on_all(problem, member, member.steps, n_jobs, deadline)
        if again is None:
            return model
        refitted.append(again)
    if model.members is None:
        return refitted[0]
    classes = problem.n_classes if isinstance(model.estimator, EnsembleClassifier) else None
    return assemble(
        refitted,
        list(model.params["weights"]),
        classes,
        trial=model.trial,
        score=model.score,
        refit=True,
    )


def refit_cost(problem: Problem, model: FittedModel) -> float:
    """Seconds refitting ``model`` (each member of an ensemble) on training + validation rows
    should take: its trials' fit seconds grown by the share of rows added."""
    return sum(m.seconds for m in _members(model)) * problem.n_train_and_val / problem.n_train


def refit_reserve(problem: Problem, model: FittedModel, most: float) -> float:
    """Seconds a search to the budget keeps free at its end so that :func:`refit_for_look`
    can refit ``model`` before the last look (it refits only within ``REFIT_SHARE`` of the
    time left): none where the lever is off, the model cannot be refitted, or the reserve
    would pass ``most`` (a refit that does not fit is not worth its search time)."""
    if not (levers.enabled("end_refit") and levers.enabled("refit")):
        return 0.0
    if not _can_refit(problem, model):
        return 0.0
    # and a second for what overruns the search's deadline (a trial drained, the ensemble)
    need = refit_cost(problem, model) / REFIT_SHARE + 1.0
    return need if need <= most else 0.0


def _members(model: FittedModel) -> list[FittedModel]:
    """An ensemble's members, or the model itself."""
    return model.members if model.members is not None else [model]


def _can_refit(problem: Problem, model: FittedModel) -> bool:
    """Whether ``model`` (every member of an ensemble) can be refitted on training +
    validation rows: the task allows it, it was not refitted already, and it is not the
    baseline or a model trained on a sample (its steps tuned for fewer rows)."""
    if not problem.task.refits_on_validation or problem.y_train is None or model.refit:
        return False
    return all(_refittable(problem, m) for m in _members(model))


def _refittable(problem: Problem, model: FittedModel) -> bool:
    """A trial's model trained on the whole training split, with the steps it kept."""
    return (
        model.candidate in CANDIDATES
        and model.members is None
        and model.n_rows >= problem.n_train
        and model.steps > 0
    )


def fold_rows(problem: Problem, X: pd.DataFrame, y: np.ndarray, folds: int) -> list[Any]:
    """Seeded k-fold splits (fit rows, held rows) of ``X``, stratified where the task is."""
    from sklearn.model_selection import KFold, StratifiedKFold

    strata = problem.task.stratify_by(y)
    if strata is not None and np.min(np.unique(strata, return_counts=True)[1]) >= folds:
        splitter: Any = StratifiedKFold(folds, shuffle=True, random_state=problem.seed)
        return list(splitter.split(X, strata))
    return list(KFold(folds, shuffle=True, random_state=problem.seed).split(X))


def cross_validate(
    problem: Problem,
    candidate: str,
    params: dict[str, Any],
    steps: int,
    n_jobs: int,
    deadline: float,
    folds: int = CV_FOLDS,
) -> Estimate | None:
    """Out-of-fold score of a configuration over training + validation rows (None if late).

    Each fold trains the configuration for ``steps`` steps on the other folds; the
    out-of-fold predictions are scored together and their standard error is the metric's
    validation standard error on all those rows.
    """
    started = time.monotonic()
    X, y = all_rows(problem)
    task, metric, n_classes = problem.task, problem.metric, problem.n_classes
    parts = fold_rows(problem, X, y, folds)
    values = np.zeros(len(X))
    proba: np.ndarray | None = None
    for fit_rows, held_rows in parts:
        try:
            pre, est = fit_for_steps(
                problem, candidate, params, steps, X.iloc[fit_rows], y[fit_rows], n_jobs, deadline
            )
        except OutOfTime:
            return None
        pred = task.predict(est, pre.transform(X.iloc[held_rows]), n_classes)
        values[held_rows] = pred.values
        if pred.proba is not None:
            if proba is None:
                proba = np.zeros((len(X), pred.proba.shape[1]))
            proba[held_rows] = pred.proba
    oof = Prediction(values, proba)
    score = metric.score(y, oof, n_classes)
    se = validation_se(metric, y, oof, n_classes, problem.seed)
    return Estimate(score, se, len(X), time.monotonic() - started)


def pass_probability(
    metric: Metric, estimate: Estimate, threshold: float, n_test: int, alpha: float
) -> float:
    """The chance that a test look at error rate ``alpha`` certifies ``threshold``.

    The look passes when the test score clears the threshold by ``z * se_test``. The test
    score of the refitted model is taken as normal around the out-of-fold score, with the
    test split's noise and the estimate's own; a proportion's exact bound gets an exact chance.
    """
    if not math.isfinite(estimate.score):
        return 0.0
    if metric.proportion:  # an exact bound on a count: an exact chance, not a normal one
        return _proportion_pass_probability(estimate, threshold, n_test, alpha)
    z = float(stats.norm.ppf(1.0 - alpha))
    se_test = estimate.se * math.sqrt(estimate.n_rows / max(n_test, 1))
    needed = metric.shift(threshold, z * se_test)
    room = metric.to_loss(needed) - metric.to_loss(estimate.score)  # > 0: past what is needed
    spread = math.hypot(se_test, estimate.se)
    if spread <= 0:
        return 1.0 if room >= 0 else 0.0
    return float(stats.norm.cdf(room / spread))


def _proportion_pass_probability(
    estimate: Estimate, threshold: float, n_test: int, alpha: float
) -> float:
    """The chance that the Clopper-Pearson bound of ``n_test`` rows clears ``threshold``.

    The look needs at least the fewest right rows whose bound clears it; the count is
    binomial, its rate uncertain around the out-of-fold estimate (a beta distribution with
    the estimate's mean and standard error). On 24 test rows at an estimated 0.969 the
    normal approximation said 94% where the chance of the 24 of 24 needed is about 51%.
    """
    n = max(int(n_test), 1)
    needed = fewest_right_to_certify(n, alpha, threshold)
    if needed is None:
        return 0.0
    rate = min(max(float(estimate.score), 1e-9), 1 - 1e-9)
    spread = rate * (1 - rate) / estimate.se**2 - 1 if estimate.se > 0 else math.inf
    if not math.isfinite(spread) or spread <= 0:  # no (or too much) uncertainty: plain count
        return float(stats.binom.sf(needed - 1, n, rate))
    return float(stats.betabinom.sf(needed - 1, n, rate * spread, (1 - rate) * spread))


CV_SHARE = 0.25  # cross-validation may use at most this share of the budget left
P_LOOK = 0.6  # the chance of passing a test look that makes it worth spending


@dataclass
class LookAdvice:
    """Why a finalist was sent to its test look early: its out-of-fold estimate, or its
    score on the training rows its sample left out (``held_out``)."""

    trial: int
    estimate: Estimate
    probability: float
    held_out: bool = False


class LookAdvisor:
    """Decides, from a cross-validated estimate, whether a finalist short of the aim is
    worth a test look now (the ``cv_look`` lever).

    Asked about each new best model trained on the whole training split that passes the
    threshold on validation but not the aim. Only before the first look (later looks spend
    a smaller error rate; the raised aim then decides), only for tasks that refit on
    validation rows, and only while cross-validation stays cheap against the budget left.
    With the ``early_look`` lever a model trained on a sample is asked about too, on the
    training rows its sample left out (:func:`held_out_estimate`: one prediction, no fit).
    """

    def __init__(self, problem: Problem, threshold: float | None, alpha: float) -> None:
        self.problem = problem
        self.threshold = threshold
        self.alpha = alpha
        self.advice: list[LookAdvice] = []  # every estimate made, in order
        self._asked: set[tuple[str, str]] = set()
        self.seconds = 0.0

    @property
    def usable(self) -> bool:
        """The lever is on and the task's rows can be cross-validated."""
        task = self.problem.task
        return (
            levers.enabled("cv_look")
            and task.refits_on_validation
            and self.problem.y_train is not None
            and self.threshold is not None
        )

    def says_look(self, model: FittedModel, n_jobs: int, deadline: float) -> bool:
        """Whether ``model`` should get a test look now although it is short of the aim."""
        p, metric, threshold = self.problem, self.problem.metric, self.threshold
        if threshold is None or not metric.meets(model.score, threshold):
            return False
        if model.refit:
            return False
        if model.n_rows < p.n_train:  # looked at as trained: its steps are not refitted
            return self._held_out_says_look(model, threshold)
        if not model.steps:
            return False
        key = (model.candidate, repr(sorted(model.params.items())))
        if key in self._asked:
            return False
        left = deadline - time.monotonic()
        growth = (1 - 1 / CV_FOLDS) * p.n_train_and_val / p.n_train
        cost = CV_FOLDS * model.seconds * growth
        if cost > CV_SHARE * left:
            return False
        self._asked.add(key)
        until = min(deadline, time.monotonic() + 3 * cost + 1)
        estimate = cross_validate(p, model.candidate, model.params, model.steps, n_jobs, until)
        if estimate is None:
            return False
        self.seconds += estimate.seconds
        chance = pass_probability(metric, estimate, threshold, p.n_test, self.alpha)
        self.advice.append(LookAdvice(model.trial, estimate, chance))
        return chance >= P_LOOK

    def _held_out_says_look(self, model: FittedModel, threshold: float) -> bool:
        """A model trained on a sample: its score on the training rows the sample left out."""
        if not levers.enabled("early_look"):
            return False
        estimate = held_out_estimate(self.problem, model)
        if estimate is None:
            return False
        self.seconds += estimate.seconds
        p = self.problem
        chance = pass_probability(p.metric, estimate, threshold, p.n_test, self.alpha)
        self.advice.append(LookAdvice(model.trial, estimate, chance, held_out=True))
        return chance >= P_LOOK
