"""The decision -> error -> optimize loop: trials under a monitor until the aim is passed.

Every candidate trains step by step under a :class:`_TrialMonitor` that scores validation
predictions and stops it the moment it passes the aim (after training on a little while the
curve still rises), when its learning curve has gone flat, when it is behind the median of
its finished peers at the same step (median stopping), when a trial on a sample has used
its share of the budget, or when the budget runs out. The whole loop returns as soon as one
candidate passes.

What to train next is the :class:`~learnloop.schedule.Schedule`'s decision (portfolio,
rungs, the sampler); what to aim at is the :class:`~learnloop.aim.Aim`'s; how trials are
written to and read from the study is :class:`~learnloop.trials.StudyBook`'s. The loop
ties them together, owns the fitted models and the data cache, and takes in trials other
processes finished (workers, a killed run being resumed). Where trials train is an
executor's business (:mod:`learnloop.executors`): in this process by default, or on a Dask
cluster, with this loop still the one owner of the study and the aim.
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import pandas as pd

from learnloop import levers
from learnloop.aim import Aim
from learnloop.candidates import CANDIDATES, Candidate, FitContext, families_for
from learnloop.features import categorical_indices
from learnloop.finalist import LookAdvisor
from learnloop.metrics import Metric, Prediction
from learnloop.portfolio import meta_features
from learnloop.schedule import MIN_RUNG_ROWS, Job, Schedule, rung_sizes
from learnloop.tasks import Task
from learnloop.trials import StudyBook, TrialRecord, config_key

if TYPE_CHECKING:
    from learnloop.executors import Executor

__all__ = [
    "Problem",
    "TrialRecord",
    "FittedModel",
    "Loop",
    "rung_sizes",
    "MIN_RUNG_ROWS",
    "predict_model",
]

EVALS_PER_DOUBLING = 50
FINISH_MIN_STEPS = 10  # steps trained on past the aim, at least, unless the curve turns
MIN_PEERS = 4  # finished same-family trials needed before median stopping applies
MIN_DELTA = 1e-4  # relative gain that counts as progress for the plateau rule
SAMPLE_TRIAL_SHARE = 0.1  # a trial on a sample (not the top rung) gets at most this of the budget
SYNC_EVERY_S = 1.0  # how often the loop reads trials other processes finished
MAX_CLAIMS = 64  # named configurations skipped as taken before the sampler chooses


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

    @property
    def n_train_and_val(self) -> int:
        """Rows a refit or a cross-validation on training + validation rows learns from."""
        return self.n_train + len(self.y_val)

    def fit_context(self, cand: Candidate, n_jobs: int, monitor: Any) -> FitContext:
        """What a family's ``fit`` needs besides its data: task, classes, seed, cores, the
        categorical columns of its preprocessing kind, the monitor and the task's decisions."""
        task, n_classes = self.task, self.n_classes
        return FitContext(
            task.output,
            n_classes,
            self.seed,
            n_jobs,
            categorical_indices(cand.preprocessing, self.X_train),
            monitor,
            predict=lambda est, rows: task.predict(est, rows, n_classes),
        )


# a training sample encoded for one preprocessing kind: (preprocessor, X, y, X_val)
_Encoded = tuple[Any, np.ndarray, np.ndarray | None, np.ndarray]


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
        if loop.stop_requested():
            # by hand (Ctrl-C, SIGTERM), or on a cluster because another trial passed the aim:
            # keep the best step so far
            self.record.stop_reason = "stopped"
            return False
        gain_step = self._last_gain_step
        if step - gain_step > max(self.patience_min, self.patience_frac * gain_step):
            self.record.stop_reason = "plateau"
            return False
        if loop.schedule.is_sample(self.record.rung) and now - self.started > loop.rung_trial_cap():
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
    """Runs trials until the aim is passed or the deadline passes; can be resumed."""

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
        executor: Executor | None = None,
    ) -> None:
        self.problem = problem
        self.n_jobs = n_jobs
        self.executor = executor  # None: trials train here, one at a time
        names = candidates or [c.name for c in families_for(problem.task)]
        self.families: list[Candidate] = [CANDIDATES[c] for c in names]
        self.on_trial = on_trial
        self.aim = Aim(problem.metric, threshold, alpha_first_look)
        self.advisor = LookAdvisor(problem, threshold, alpha_first_look)
        meta = (  # only the learned portfolio order reads them (off by default)
            meta_features(problem.X_train, problem.y_train, problem.n_classes)
            if levers.enabled("portfolio")
            else None
        )
        self.schedule = Schedule(problem.task, self.families, problem.n_train, meta)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.book = StudyBook(study, self.worker)
        self.trials: list[TrialRecord] = []
        self.best: FittedModel | None = None
        self.best_single: FittedModel | None = None  # the best trial's model (no ensemble)
        self.time_to_threshold: float | None = None
        self.best_score: float | None = None
        self.started = time.monotonic()
        self.deadline = math.inf
        self._cache: dict[
            tuple[str, int], tuple[Any, np.ndarray, np.ndarray | None, np.ndarray]
        ] = {}
        self._elsewhere: TrialRecord | None = None  # best trial finished by another process
        self.keep_going: Callable[[], bool] | None = None  # checked between trials
        # a stop asked for by hand (Ctrl-C, SIGTERM): checked between trials and steps
        self.hand_stop: Callable[[], bool] = lambda: False
        self.adopt_passed = True  # refit another process's trial that passed the target
        self._traceback = ""
        self._synced = -math.inf
        self._pool: Any = None  # the ensemble pool (learnloop.ensemble), made on first use
        self.make_ensembles = True  # off in workers: the run's owner cannot refit an ensemble
        # takes a named configuration for this process (False: another process has it);
        # the store's atomic claim once ``claim_in`` names the run
        self.claim: Callable[[str], bool] = lambda key: True
        # seconds past ``run``'s deadline that finishing with a model needs (its test look,
        # saving); the search stops that much earlier for the best model so far (``train``)
        self.finish_seconds: Callable[[FittedModel], float] | None = None
        self._finish_for: FittedModel | None = None
        self._finish_s = 0.0
        self._ensemble_s = 0.0  # the latest ensemble selection's seconds (one more may follow)

    # -------------------------------------------------------------- the aim
    @property
    def threshold(self) -> float | None:
        return self.aim.threshold

    @property
    def target(self) -> float | None:
        """The aim past the threshold (threshold + margin), once the margin is known."""
        return self.aim.target

    @property
    def rungs(self) -> list[int]:
        return self.schedule.rungs

    def effective_target(self) -> float | None:
        """The aim now, with the winner's-curse allowance after a failed look."""
        return self.aim.current(len(self.trials))

    def raise_target(self, shortfall: float) -> None:
        """After a failed certificate, aim further past the threshold by ``shortfall``."""
        self.aim.raise_by(shortfall, len(self.trials))

    def search_to_budget(self) -> None:
        """Stop aiming: no test look could certify the threshold, so search for the best model."""
        self.aim.stop_aiming()

    def note_score(self, score: float, prediction: Prediction) -> None:
        """Track the run-wide best score, time to threshold, and set the aim on first pass."""
        metric, threshold = self.problem.metric, self.aim.threshold
        if metric.better(score, self.best_score):
            self.best_score = score
        if threshold is None or not metric.meets(score, threshold):
            return
        if self.time_to_threshold is None:
            self.time_to_threshold = time.monotonic() - self.started
        p = self.problem
        self.aim.note_pass(p.y_val, prediction, p.n_classes, p.n_test, p.seed)

    def rung_trial_cap(self) -> float:
        """Seconds a trial on a subsample may take: a share of the whole budget, at least 2 s."""
        return max(2.0, SAMPLE_TRIAL_SHARE * (self.deadline - self.started))

    # --------------------------------------------------------------- public
    def run(self, deadline: float) -> FittedModel | None:
        """Run trials until one passes the aim or ``deadline`` (time.monotonic) passes.

        Returns the model that passed the aim, or None if the deadline came first
        (``self.best`` then holds the best model seen).
        """
        if self.executor is not None and self.executor.remote:
            return self.executor.drive(self, deadline)
        self.deadline = deadline
        self._keep_time_to_finish(deadline)
        while time.monotonic() < self.deadline:
            if self.stop_requested():
                break
            if self.keep_going is not None and not self.keep_going():
                break
            if time.monotonic() - self._synced >= SYNC_EVERY_S:
                passed = self.sync()
                if passed is not None:
                    return passed
            job = self._next_job()
            if self._expected_first_step(job[0], job[2]) > self.deadline - time.monotonic():
                break  # not even its first step would finish in time
            model = self._run_trial(*job)
            if model is not None and self.aim.passed(model.score, len(self.trials)):
                return model
            selecting = time.monotonic()
            ensemble = self._ensemble(model)
            self._ensemble_s = time.monotonic() - selecting
            self._keep_time_to_finish(deadline)
            if ensemble is not None and self.aim.passed(ensemble.score, len(self.trials)):
                return ensemble
            if model is not None and model is self.best_single and self._worth_a_look(model):
                return model
        return None

    def _keep_time_to_finish(self, deadline: float) -> None:
        """Bring the search's deadline forward from ``deadline`` by what finishing with the
        best model so far would take (and one more ensemble selection after the last trial),
        so that the whole run ends within its budget."""
        best = self.best_model()
        if self.finish_seconds is None or best is None:
            return
        if best is not self._finish_for:
            self._finish_for, self._finish_s = best, self.finish_seconds(best)
        self.deadline = min(self.deadline, deadline - self._finish_s - self._ensemble_s)

    def claim_in(self, store: Any, run_id: str) -> None:
        """Claim named configurations in ``store`` (``Store.claim``): other processes
        (``learnloop worker``) may join run ``run_id``."""
        self.claim = lambda key: bool(store.claim(run_id, key, self.worker))

    def join_as_worker(self) -> None:
        """Run as a worker on another process's run: it refits, ensembles and certifies.

        Local moves follow this process's own random directions, so processes that read
        the same trials do not all propose the same move.
        """
        self.adopt_passed = False  # the run's owner refits and certifies; a worker just stops
        self.make_ensembles = False  # an ensemble is not a trial the owner could refit
        self.schedule.local.stream = 1 + zlib.crc32(self.worker.encode()) % 1_000_000

    def _next_job(self) -> Job:
        """The schedule's next job, claimed: one no other process on the run has taken.

        A configuration the schedule names (portfolio entry, promotion, local move) is
        claimed in the store before it starts (``claim``: an atomic insert), so processes
        that read the same trials never train it twice; one another process holds is
        skipped and the schedule asked again.
        """
        metric = self.problem.metric
        for _ in range(MAX_CLAIMS):
            job = self.schedule.next_job(self.trials, metric)
            cand, params, rung, _source = job
            if cand is None or params is None:
                return job
            key = config_key(cand.name, params, rung)
            if key not in self.schedule.taken and self.claim(key):
                return job
            self.schedule.taken.add(key)
        return None, None, 0, None  # the sampler chooses

    def _worth_a_look(self, model: FittedModel) -> bool:
        """Short of the aim, but a cross-validated estimate says a test look would pass."""
        if not (self.advisor.usable and self.aim.passable and self.aim.looks_failed == 0):
            return False
        return self.advisor.says_look(model, self.n_jobs, self.deadline)

    def sync(self) -> FittedModel | None:
        """Take in the trials other processes finished in this study (workers, a killed run).

        Their configurations leave the queue and count for promotion, so nothing finished
        is run again. A trial that passed the aim is refitted here (models are not in the
        store) and returned if the refit passes too.
        """
        self._synced = time.monotonic()
        metric = self.problem.metric
        passed: TrialRecord | None = None
        for seen in self.book.seen({t.number for t in self.trials}):
            if seen.promoted_from is not None:
                self.schedule.promoted.add(seen.promoted_from)
            record = seen.record
            if record is None:
                if seen.running:
                    self.schedule.taken.add(seen.key)
                continue
            self.trials.append(record)
            if record.stop_reason != "interrupted":
                self.schedule.taken.add(seen.key)
            if record.status != "complete" or record.score is None:
                continue
            if metric.better(record.score, self.best_score):
                self.best_score = record.score
            best = self._elsewhere
            if best is None or metric.better(record.score, best.score):
                self._elsewhere = record
            if self.aim.could_pass(record.score, record.stop_reason) and (
                passed is None or metric.better(record.score, passed.score)
            ):
                passed = record
        if passed is None or not self.adopt_passed:
            return None
        model = self.refit(passed)
        if model is not None and self.aim.passed(model.score, len(self.trials)):
            return model
        return None

    def refit(self, record: TrialRecord) -> FittedModel | None:
        """Fit a finished trial's configuration again, outside the study (same data, seed)."""
        n_rows = record.n_rows or self.rungs[min(record.rung, len(self.rungs) - 1)]
        shadow = TrialRecord(record.number, record.candidate, record.params, record.rung, n_rows)
        model = self._fit(CANDIDATES[record.candidate], record.params, n_rows, shadow)
        self._keep_if_best(model)
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

    def stop_requested(self) -> bool:
        """Whether the run asked running trials to stop (by hand; on a cluster, also when
        another trial passed the aim — remote trials read that from the scheduler)."""
        return self.hand_stop()

    # ------------------------------------------------------------- ensemble
    def _ensemble(self, model: FittedModel | None) -> FittedModel | None:
        """Offer a complete trial's model to the ensemble pool; a better ensemble, if any.

        Greedy ensemble selection (:mod:`learnloop.ensemble`), for tasks whose predictions
        average and while the ``ensemble`` lever is on. The ensemble is scored, kept and
        aimed like a trial's model. Only trials trained here take part: the remote (Dask)
        path, trials adopted from other processes and workers (``make_ensembles``) make none.
        """
        if model is None or not self.make_ensembles or not self.problem.task.ensembles:
            return None
        if not levers.enabled("ensemble"):
            return None
        record = next((t for t in reversed(self.trials) if t.number == model.trial), None)
        if record is None or record.status != "complete":
            return None
        from learnloop.ensemble import Pool

        if self._pool is None:
            self._pool = Pool(self.problem)
        if not self._pool.offer(model):
            return None
        ensemble = self._pool.build()
        if ensemble is None:
            return None
        assert ensemble.val_prediction is not None
        self.note_score(ensemble.score, ensemble.val_prediction)
        self._keep_if_best(ensemble)
        return ensemble

    # ---------------------------------------------------------------- trial
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

    def _run_trial(
        self,
        cand: Candidate | None,
        params: dict[str, Any] | None,
        rung: int,
        source: int | None = None,
    ) -> FittedModel | None:
        trial, cand, record = self._start_trial(cand, params, rung, source)
        model = self._fit(cand, record.params, record.n_rows, record)
        failed = record.status == "failed"
        self._finish_trial(trial, record, model, self._traceback if failed else "")
        return model

    def _start_trial(
        self,
        cand: Candidate | None,
        params: dict[str, Any] | None,
        rung: int,
        source: int | None = None,
        retry_of: int | None = None,
    ) -> tuple[Any, Candidate, TrialRecord]:
        """Ask the study for the trial (the sampler fills in a missing configuration)."""
        fixed = (cand, params) if cand is not None and params is not None else None
        trial, cand, params = self.book.ask(
            self.families,
            fixed,
            rung,
            source,
            self.problem.task.output,
            self.problem.n_train,
            retry_of=retry_of,
        )
        n_rows = self.schedule.rows_for(cand, rung)
        record = TrialRecord(trial.number, cand.name, params, rung, n_rows)
        self.trials.append(record)
        return trial, cand, record

    def _finish_trial(
        self,
        trial: Any,
        record: TrialRecord,
        model: FittedModel | None,
        traceback: str,
        worker: str | None = None,
    ) -> None:
        """Tell the study how the trial ended; keep its model if it is the best."""
        self.book.tell(trial, record, self.problem.metric, traceback, worker=worker)
        self._keep_if_best(model)
        if self.on_trial is not None:
            self.on_trial(record, self)

    def _keep_if_best(self, model: FittedModel | None) -> None:
        if model is None:
            return
        better = self.problem.metric.better
        if model.members is None and better(model.score, _score(self.best_single)):
            self.best_single = model
        if better(model.score, _score(self.best)):
            self.best = model

    def _fit(
        self, cand: Candidate, params: dict[str, Any], n_rows: int, record: TrialRecord
    ) -> FittedModel | None:
        """Train one configuration under a monitor, filling in ``record``."""
        monitor = _TrialMonitor(self, record, cand.patience)
        started = time.monotonic()
        model = None
        try:
            pre, X, y, X_val = self._data(cand.preprocessing, n_rows)
            ctx = self.problem.fit_context(cand, self.n_jobs, monitor)
            estimator = cand.fit(params, X, y, X_val, ctx)
            if record.score is None:
                raise RuntimeError("the candidate finished without a validation score")
            record.status = "pruned" if record.stop_reason == "behind" else "complete"
            record.stop_reason = record.stop_reason or "converged"
            model = FittedModel(
                record.number,
                cand.name,
                params,
                n_rows,
                pre,
                estimator,
                record.score,
                steps=record.best_step or record.steps,
            )
        except Exception as e:  # a failing configuration must not end the run
            record.status = "failed"
            record.error = f"{type(e).__name__}: {e}"
            record.stop_reason = "error"
            self._traceback = traceback.format_exc(limit=5)
        record.seconds = time.monotonic() - started
        if model is not None:
            model.seconds = record.seconds
        return model

    # ----------------------------------------------------------------- data
    def _data(
        self, kind: str, n_rows: int
    ) -> tuple[Any, np.ndarray, np.ndarray | None, np.ndarray]:
        key = (kind, n_rows)
        if key not in self._cache:
            p = self.problem
            rows = self._sample(n_rows)
            X_raw = p.X_train.iloc[rows]
            pre = p.task.preprocessor(kind, X_raw)
            X = pre.fit_transform(X_raw)
            X_val = pre.transform(p.X_val)
            y = p.y_train[rows] if p.y_train is not None else None
            self._cache[key] = (pre, X, y, X_val)
        return self._cache[key]

    def _sample(self, n_rows: int) -> np.ndarray:
        n = self.problem.n_train
        if n_rows >= n:
            return np.arange(n)
        rng = np.random.default_rng(self.problem.seed + n_rows)
        rows = np.sort(rng.choice(n, size=n_rows, replace=False))
        return self.problem.task.subsample(self.problem.y_train, rows)


def _score(model: FittedModel | None) -> float | None:
    return model.score if model is not None else None


def predict_model(model: FittedModel, X: pd.DataFrame, task: Task, n_classes: int) -> Prediction:
    """Predictions of a fitted model on prepared (not yet preprocessed) features."""
    return task.predict(model.estimator, model.preprocessor.transform(X), n_classes)
