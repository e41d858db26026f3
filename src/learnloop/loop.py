"""The decision -> error -> optimize loop and its scheduler.

Scheduling, in the order it spends the budget:

1. **Portfolio first.** Known-good configurations of each family, best bet first (a
   LightGBM default, a linear model, extra trees, ...), so an easy threshold is met by the
   first fit or two.
2. **Cheap before expensive.** On large tables every new configuration trains on a
   subsample (the lowest *rung*); asynchronous successive halving promotes the best of each
   rung at once, then its best third, to a four times larger sample, up to the full
   training split.
3. **Optuna samples the rest.** Once the portfolio is spent, a TPE sampler over all
   families proposes configurations; every trial is an Optuna trial in the run's study.
4. **Stop at the threshold.** Every candidate trains step by step under a monitor that
   scores validation predictions and stops it the moment it passes the target (the
   threshold plus the certificate's margin), when its learning curve has gone flat, when it
   is behind the median of its finished peers at the same step (median stopping), or when
   the budget runs out. The whole loop returns as soon as one candidate passes.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd

from learnloop.candidates import CANDIDATES, Candidate, FitContext
from learnloop.certify import aim_margin
from learnloop.features import build_preprocessor, categorical_indices
from learnloop.metrics import Metric, Prediction
from learnloop.tasks import Task

__all__ = ["Problem", "TrialRecord", "FittedModel", "Loop", "rung_sizes"]

MIN_RUNG_ROWS = 10_000
RUNG_GROWTH = 4
PROMOTE_FRACTION = 3  # promote the best 1/3 of each rung
EVALS_PER_DOUBLING = 50
FINISH_MIN_STEPS = 10  # steps trained on past the aim, at least, unless the curve turns
MIN_PEERS = 4  # finished same-family trials needed before median stopping applies
MIN_DELTA = 1e-4  # relative gain that counts as progress for the plateau rule
SAMPLE_TRIAL_SHARE = 0.1  # a trial on a sample (not the top rung) gets at most this of the budget
SYNC_EVERY_S = 1.0  # how often the loop reads trials other processes finished


@dataclass
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

    @property
    def n_train(self) -> int:
        return len(self.X_train)


@dataclass
class TrialRecord:
    """What one trial did: configuration, data size, learning curve, outcome."""

    number: int
    candidate: str
    params: dict[str, Any]
    rung: int
    n_rows: int
    status: str = "running"  # complete | pruned | failed | running
    score: float | None = None
    best_step: int = 0
    steps: int = 0
    stop_reason: str = ""
    seconds: float = 0.0
    curve: list[tuple[int, float, float]] = field(default_factory=list)
    error: str | None = None
    first_step_s: float | None = None  # time to the first scored step, data preparation included


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


def rung_sizes(n_rows: int) -> list[int]:
    """Training sample sizes of the successive-halving rungs, ending with all rows."""
    if n_rows <= 2 * MIN_RUNG_ROWS:
        return [n_rows]
    sizes, size = [], MIN_RUNG_ROWS
    while size * 2 < n_rows:
        sizes.append(size)
        size *= RUNG_GROWTH
    return [*sizes, n_rows]


class _TrialMonitor:
    """Scores validation predictions for one trial and decides whether it goes on."""

    def __init__(self, loop: Loop, record: TrialRecord, patience: tuple[int, float]) -> None:
        self.loop = loop
        self.record = record
        self.patience_min, self.patience_frac = patience
        self._best_step = 0
        self._best_score: float | None = None
        self.started = time.monotonic()
        self.peers = loop.peer_curves(record)
        self._finish_by: int | None = None
        self._last_gain_step = 0

    @property
    def best_step(self) -> int:
        return self._best_step

    def seconds_left(self) -> float:
        return self.loop.deadline - time.monotonic()

    def wants(self, step: int) -> bool:
        every = max(1, math.ceil(step / EVALS_PER_DOUBLING))
        return step % every == 0

    def __call__(self, step: int, prediction: Prediction) -> bool:
        loop, metric = self.loop, self.loop.problem.metric
        score = metric.score(loop.problem.y_val, prediction, loop.problem.n_classes)
        now = time.monotonic()
        if self.record.first_step_s is None:
            self.record.first_step_s = now - self.started
        self.record.curve.append((step, score, round(now - loop.started, 4)))
        self.record.steps = step
        if self._best_score is None or metric.better(
            score, metric.shift(self._best_score, MIN_DELTA * max(abs(self._best_score), 1.0))
        ):
            self._last_gain_step = step  # a real gain, not a creep of a few rows
        if metric.better(score, self._best_score):
            self._best_score, self._best_step = score, step
            self.record.score, self.record.best_step = score, step
        loop.note_score(score, prediction)
        aim = loop.effective_target()
        if self._finish_by is None and aim is not None and metric.meets(score, aim):
            # past the aim: train on a little (up to twice the steps) while it still improves,
            # so the model kept is not just the luckiest early step
            self._finish_by = max(2 * step, step + FINISH_MIN_STEPS)
        if self._finish_by is not None and (
            step >= self._finish_by or step - self._best_step >= FINISH_MIN_STEPS
        ):
            self.record.stop_reason = "target"
            return False
        if now >= loop.deadline:
            self.record.stop_reason = "budget"
            return False
        gain_step = self._last_gain_step
        if step - gain_step > max(self.patience_min, self.patience_frac * gain_step):
            self.record.stop_reason = "plateau"
            return False
        if self.record.rung < len(loop.rungs) - 1 and now - self.started > loop.rung_trial_cap():
            self.record.stop_reason = "rung time"  # a sample is for a quick look, not a long fit
            return False
        if self._behind_peers(step):
            self.record.stop_reason = "behind"
            return False
        return True

    def _behind_peers(self, step: int) -> bool:
        """Median stopping: worse at this step than the median finished peer was by then.

        Peers are finished trials of the same family on the same sample size; with fewer
        than ``MIN_PEERS`` of them, or before a quarter of their typical length, never stop.
        """
        if len(self.peers) < MIN_PEERS or self._best_score is None:
            return False
        typical = float(np.median([c[-1][0] for c in self.peers]))
        if step < 0.25 * typical:
            return False
        metric = self.loop.problem.metric
        at_step = []
        for curve in self.peers:
            seen = [score for s, score, _ in curve if s <= step]
            if seen:
                at_step.append(min(seen, key=metric.to_loss))
        if len(at_step) < MIN_PEERS:
            return False
        median = float(np.median(at_step))
        return metric.better(median, self._best_score)


class Loop:
    """Runs trials until the target is met or the deadline passes; can be resumed."""

    def __init__(
        self,
        problem: Problem,
        study: optuna.Study,
        *,
        threshold: float | None,
        alpha_first_look: float,
        n_jobs: int = 1,
        candidates: list[str] | None = None,
        on_trial: Callable[[TrialRecord, Loop], None] | None = None,
    ) -> None:
        self.problem = problem
        self.study = study
        self.threshold = threshold
        self.alpha_first_look = alpha_first_look
        self.n_jobs = n_jobs
        names = candidates or [n for n, c in CANDIDATES.items() if problem.task.name in c.tasks]
        self.families: list[Candidate] = [CANDIDATES[c] for c in names]
        self.on_trial = on_trial
        self.rungs = rung_sizes(problem.n_train)
        self.trials: list[TrialRecord] = []
        self.best: FittedModel | None = None
        self.target: float | None = None
        self.margin: float | None = None
        self.se_val = 0.0
        self.passable = True  # False once no test look could certify the threshold
        self.looks_failed = 0
        self._trials_at_last_look = 0
        self.time_to_threshold: float | None = None
        self.best_score: float | None = None
        self.excluded: set[int] = set()  # trials whose model was already certified
        self.started = time.monotonic()
        self.deadline = math.inf
        self._cache: dict[
            tuple[str, int], tuple[Any, np.ndarray, np.ndarray | None, np.ndarray]
        ] = {}
        self._queue = self._portfolio()
        self._promoted: set[int] = set()
        self._taken: set[str] = set()  # configurations other processes ran or are running
        self._elsewhere: TrialRecord | None = None  # best trial finished by another process
        self.keep_going: Callable[[], bool] | None = None  # checked between trials
        self.adopt_passed = True  # refit another process's trial that passed the target
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._traceback = ""
        self._synced = -math.inf

    # ----------------------------------------------------------------- public
    def run(self, deadline: float) -> FittedModel | None:
        """Run trials until one passes the target or ``deadline`` (time.monotonic) passes.

        Returns the model that passed the target, or None if the deadline came first
        (``self.best`` then holds the best model seen).
        """
        self.deadline = deadline
        while time.monotonic() < deadline:
            if self.keep_going is not None and not self.keep_going():
                break
            if time.monotonic() - self._synced >= SYNC_EVERY_S:
                passed = self.sync()
                if passed is not None:
                    return passed
            job = self._next_job()
            if self._expected_first_step(job[0], job[2]) > deadline - time.monotonic():
                break  # not even its first step would finish in time
            model = self._run_trial(*job)
            if model is not None and self._passes_target(model.score):
                return model
        return None

    def sync(self) -> FittedModel | None:
        """Take in the trials other processes finished in this study (workers, a killed run).

        Their configurations leave the queue and count for promotion, so nothing finished
        is run again. A trial that passed the target is refitted here (models are not in
        the store) and returned if the refit passes too.
        """
        self._synced = time.monotonic()
        known = {t.number for t in self.trials}
        metric = self.problem.metric
        passed: TrialRecord | None = None
        for ft in self.study.get_trials(deepcopy=False):
            if ft.number in known:
                continue
            if "promoted_from" in ft.user_attrs:
                self._promoted.add(ft.user_attrs["promoted_from"])
            if not ft.state.is_finished():
                if ft.state == optuna.trial.TrialState.RUNNING:
                    self._taken.add(_trial_key(ft))
                continue
            record = _record_from(ft)
            self.trials.append(record)
            if record.stop_reason != "interrupted":
                self._taken.add(_trial_key(ft))
            if record.status != "complete" or record.score is None:
                continue
            if metric.better(record.score, self.best_score):
                self.best_score = record.score
            best = self._elsewhere
            if best is None or metric.better(record.score, best.score):
                self._elsewhere = record
            if self._could_pass(record) and (
                passed is None or metric.better(record.score, passed.score)
            ):
                passed = record
        if passed is None or not self.adopt_passed:
            return None
        model = self.refit(passed)
        if model is not None and self._passes_target(model.score):
            return model
        return None

    def refit(self, record: TrialRecord) -> FittedModel | None:
        """Fit a finished trial's configuration again, outside the study (same data, seed)."""
        n_rows = record.n_rows or self.rungs[min(record.rung, len(self.rungs) - 1)]
        shadow = TrialRecord(record.number, record.candidate, record.params, record.rung, n_rows)
        model = self._fit(CANDIDATES[record.candidate], record.params, n_rows, shadow)
        if model is not None and self.problem.metric.better(
            model.score, self.best.score if self.best else None
        ):
            self.best = model
        if self._elsewhere is not None and self._elsewhere.number == record.number:
            self._elsewhere = None
        return model

    def best_model(self) -> FittedModel | None:
        """The best model seen, refitting a better trial another process finished."""
        other = self._elsewhere
        if other is not None and self.problem.metric.better(
            other.score,  # type: ignore[arg-type]
            self.best.score if self.best else None,
        ):
            self.refit(other)
        return self.best

    def _could_pass(self, record: TrialRecord) -> bool:
        metric, score = self.problem.metric, record.score
        if score is None or self.threshold is None:
            return False
        if record.stop_reason == "target":
            return True
        aim = self.target if self.target is not None else self.threshold
        return metric.meets(score, aim)

    def peer_curves(self, record: TrialRecord) -> list[list[tuple[int, float, float]]]:
        """Learning curves of finished trials like ``record`` (same family and sample size)."""
        return [
            t.curve
            for t in self.trials
            if t.candidate == record.candidate
            and t.n_rows == record.n_rows
            and t.status in ("complete", "pruned")
            and t.curve
            and t.number != record.number
        ]

    def _expected_first_step(self, cand: Candidate | None, rung: int) -> float:
        """Seconds the first step of a trial like this took before (0 if never seen)."""
        seen = [
            t.first_step_s
            for t in self.trials
            if t.rung == rung
            and t.first_step_s is not None
            and (cand is None or t.candidate == cand.name)
        ]
        return min(seen) if seen else 0.0

    def raise_target(self, shortfall: float) -> None:
        """After a failed certificate, aim further past the threshold by ``shortfall``."""
        if self.threshold is None or self.margin is None:
            return
        self.margin += max(shortfall, 0.0)
        self.target = self._clip(self.problem.metric.shift(self.threshold, self.margin))
        self.looks_failed += 1
        self._trials_at_last_look = len(self.trials)

    def rung_trial_cap(self) -> float:
        """Seconds a trial on a subsample may take: a share of the whole budget, at least 2 s."""
        return max(2.0, SAMPLE_TRIAL_SHARE * (self.deadline - self.started))

    def search_to_budget(self) -> None:
        """Stop aiming: no test look could certify the threshold, so search for the best model."""
        self.passable = False

    def note_score(self, score: float, prediction: Prediction) -> None:
        """Track the run-wide best score, time to threshold, and set the aim on first pass."""
        metric = self.problem.metric
        if metric.better(score, self.best_score):
            self.best_score = score
        if self.threshold is None or not metric.meets(score, self.threshold):
            return
        if self.time_to_threshold is None:
            self.time_to_threshold = time.monotonic() - self.started
        if self.margin is None:
            p = self.problem
            self.margin, self.se_val = aim_margin(
                metric, p.y_val, prediction, p.n_classes, p.n_test, self.alpha_first_look, p.seed
            )
            self.target = self._clip(metric.shift(self.threshold, self.margin))

    def effective_target(self) -> float | None:
        """The aim, plus an allowance for the winner's curse once a test look has failed.

        After a failed look the search compares many more candidates on the same validation
        split, and the best of k noisy scores is optimistic by about se_val * sqrt(2 ln k);
        the aim grows with the number of trials compared since the last look.
        """
        if not self.passable:
            return None
        if self.target is None or self.looks_failed == 0:
            return self.target
        k = max(len(self.trials) - self._trials_at_last_look, 1)
        allowance = self.se_val * math.sqrt(2.0 * math.log(k)) if k > 1 else 0.0
        return self._clip(self.problem.metric.shift(self.target, allowance))

    def _clip(self, target: float) -> float:
        """Keep the aim inside the metric's range (a perfect score is always a valid aim)."""
        metric = self.problem.metric
        return min(max(target, metric.low), metric.high)

    # --------------------------------------------------------------- schedule
    def _portfolio(self) -> list[tuple[Candidate, dict[str, Any]]]:
        task, n = self.problem.task, self.problem.n_train
        per_family = {c.name: c.portfolio(task.name, n) for c in self.families}
        queue = []
        for name, i in task.portfolio_order:
            if name in per_family and i < len(per_family[name]):
                queue.append((CANDIDATES[name], per_family[name][i]))
        return queue

    def _next_job(self) -> tuple[Candidate | None, dict[str, Any] | None, int, int | None]:
        """Promote before exploring: the best of a rung (and then its best third) moves up."""
        metric = self.problem.metric
        for rung in reversed(range(len(self.rungs) - 1)):
            done = [
                t
                for t in self.trials
                if t.rung == rung and t.status == "complete" and t.score is not None
            ]
            done.sort(key=lambda t: metric.to_loss(t.score))  # type: ignore[arg-type]
            for t in done[: max(1, len(done) // PROMOTE_FRACTION)]:
                cand = CANDIDATES[t.candidate]
                capped = cand.max_rows is not None and cand.max_rows <= self.rungs[rung]
                if t.number not in self._promoted and not capped:
                    self._promoted.add(t.number)
                    return cand, t.params, rung + 1, t.number
        while self._queue:
            cand, params = self._queue.pop(0)
            if _config_key(cand.name, params, 0) not in self._taken:
                return cand, params, 0, None
        return None, None, 0, None  # Optuna's sampler chooses

    # ------------------------------------------------------------------ trial
    def _ask(
        self, cand: Candidate | None, params: dict[str, Any] | None, rung: int, source: int | None
    ) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if cand is not None and params is not None:
                fixed = {"family": cand.name, **{cand.key(k): v for k, v in params.items()}}
                self.study.enqueue_trial(fixed, skip_if_exists=False)
            trial = self.study.ask()
            family = trial.suggest_categorical("family", [c.name for c in self.families])
            chosen = CANDIDATES[family]
            sampled = chosen.search_space(trial, self.problem.task.name, self.problem.n_train)
        trial.set_user_attr("rung", rung)
        trial.set_user_attr("worker", self.worker)
        if source is not None:
            trial.set_user_attr("promoted_from", source)
        return trial, chosen, sampled

    def _run_trial(
        self,
        cand: Candidate | None,
        params: dict[str, Any] | None,
        rung: int,
        source: int | None = None,
    ) -> FittedModel | None:
        trial, cand, params = self._ask(cand, params, rung, source)
        n_rows = self.rungs[rung]
        if cand.max_rows is not None:
            n_rows = min(n_rows, cand.max_rows)
        record = TrialRecord(trial.number, cand.name, params, rung, n_rows)
        self.trials.append(record)
        model = self._fit(cand, params, n_rows, record)
        if record.status == "failed":
            trial.set_user_attr("traceback", self._traceback)
        self._tell(trial, record)
        if model is not None and self.problem.metric.better(
            model.score, self.best.score if self.best else None
        ):
            self.best = model
        if self.on_trial is not None:
            self.on_trial(record, self)
        return model

    def _fit(
        self, cand: Candidate, params: dict[str, Any], n_rows: int, record: TrialRecord
    ) -> FittedModel | None:
        """Train one configuration under a monitor, filling in ``record``."""
        monitor = _TrialMonitor(self, record, cand.patience)
        started = time.monotonic()
        model = None
        try:
            pre, X, y, X_val, cat = self._data(cand.preprocessing, n_rows)
            task = self.problem.task
            ctx = FitContext(
                task.name,
                self.problem.n_classes,
                self.problem.seed,
                self.n_jobs,
                cat,
                monitor,
                predict=lambda est, X_: task.predict(est, X_, self.problem.n_classes),
            )
            estimator = cand.fit(params, X, y, X_val, ctx)
            if record.score is None:
                raise RuntimeError("the candidate finished without a validation score")
            record.status = "pruned" if record.stop_reason == "behind" else "complete"
            record.stop_reason = record.stop_reason or "converged"
            model = FittedModel(
                record.number, cand.name, params, n_rows, pre, estimator, record.score
            )
        except Exception as e:  # a failing configuration must not end the run
            record.status = "failed"
            record.error = f"{type(e).__name__}: {e}"
            record.stop_reason = "error"
            self._traceback = traceback.format_exc(limit=5)
        record.seconds = time.monotonic() - started
        return model

    def _tell(self, trial: Any, record: TrialRecord) -> None:
        for key, value in (
            ("candidate", record.candidate),
            ("n_rows", record.n_rows),
            ("steps", record.steps),
            ("best_step", record.best_step),
            ("stop_reason", record.stop_reason),
            ("seconds", round(record.seconds, 4)),
            ("curve", record.curve),
            ("score", record.score),
            ("error", record.error),
        ):
            trial.set_user_attr(key, value)
        if record.status == "failed":
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif record.status == "pruned":
            trial.report(self.problem.metric.to_loss(record.score), record.steps)  # type: ignore[arg-type]
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, self.problem.metric.to_loss(record.score))  # type: ignore[arg-type]

    def _passes_target(self, score: float) -> bool:
        aim = self.effective_target()
        return aim is not None and self.problem.metric.meets(score, aim)

    # ------------------------------------------------------------------- data
    def _data(
        self, kind: str, n_rows: int
    ) -> tuple[Any, np.ndarray, np.ndarray | None, np.ndarray, list]:
        key = (kind, n_rows)
        if key not in self._cache:
            p = self.problem
            rows = self._sample(n_rows)
            X_raw = p.X_train.iloc[rows]
            pre = build_preprocessor(kind, X_raw)
            X = pre.fit_transform(X_raw)
            X_val = pre.transform(p.X_val)
            y = p.y_train[rows] if p.y_train is not None else None
            self._cache[key] = (pre, X, y, X_val)
        pre, X, y, X_val = self._cache[key]
        cat = categorical_indices(kind, self.problem.X_train)
        return pre, X, y, X_val, cat

    def _sample(self, n_rows: int) -> np.ndarray:
        n = self.problem.n_train
        if n_rows >= n:
            return np.arange(n)
        rng = np.random.default_rng(self.problem.seed + n_rows)
        rows = np.sort(rng.choice(n, size=n_rows, replace=False))
        return self.problem.task.subsample(self.problem.y_train, rows)


def _config_key(candidate: str, params: dict[str, Any], rung: int) -> str:
    """One configuration at one rung, the same however its numbers were stored."""
    plain = {
        k: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        for k, v in params.items()
    }
    return json.dumps([candidate, plain, rung], sort_keys=True, default=str)


def _trial_params(ft: optuna.trial.FrozenTrial) -> tuple[str, dict[str, Any]]:
    family = ft.user_attrs.get("candidate") or ft.params.get("family", "")
    prefix = f"{family}."
    return family, {k[len(prefix) :]: v for k, v in ft.params.items() if k.startswith(prefix)}


def _trial_key(ft: optuna.trial.FrozenTrial) -> str:
    family, params = _trial_params(ft)
    return _config_key(family, params, ft.user_attrs.get("rung", 0))


def _record_from(ft: optuna.trial.FrozenTrial) -> TrialRecord:
    """A finished Optuna trial of the study as the loop's own record."""
    a = ft.user_attrs
    family, params = _trial_params(ft)
    states = {
        optuna.trial.TrialState.COMPLETE: "complete",
        optuna.trial.TrialState.PRUNED: "pruned",
    }
    return TrialRecord(
        number=ft.number,
        candidate=family,
        params=params,
        rung=a.get("rung", 0),
        n_rows=a.get("n_rows", 0),
        status=states.get(ft.state, "failed"),
        score=a.get("score"),
        best_step=a.get("best_step", 0),
        steps=a.get("steps", 0),
        stop_reason=a.get("stop_reason", ""),
        seconds=a.get("seconds", 0.0),
        curve=[tuple(c) for c in a.get("curve") or []],
        error=a.get("error"),
    )


def predict_model(model: FittedModel, X: pd.DataFrame, task: Task, n_classes: int) -> Prediction:
    """Predictions of a fitted model on prepared (not yet preprocessed) features."""
    return task.predict(model.estimator, model.preprocessor.transform(X), n_classes)
