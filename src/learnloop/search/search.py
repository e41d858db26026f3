"""The search's front door: what it is given, what it knows so far, and ``run``.

A :class:`Search` is built once per process on one run's study: the problem (training and
validation parts; the test split is never here), the aim, the families, an executor and the
:class:`Hooks` through which the run talks to it. :meth:`Search.run` hands it to the one
driver (:func:`learnloop.search.driver.drive`), which runs trials until one passes the aim or
the deadline comes, whatever the executor.

What to train next is the :class:`~learnloop.search.schedule.Schedule`'s decision (portfolio,
rungs, local search, the sampler); what to aim at is the :class:`~learnloop.search.aim.Aim`'s;
how trials are written to and read from the study is :class:`~learnloop.search.trials.StudyBook`'s;
fitting a configuration is :mod:`learnloop.search.fit`'s. The search keeps what they leave:
the trials, the best model and the best score, and takes in trials other processes finished
(``learnloop worker`` processes, a killed run being resumed).
"""

from __future__ import annotations

import copy
import math
import os
import socket
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from learnloop.core import levers
from learnloop.families import CANDIDATES, Candidate, families_for
from learnloop.search.aim import Aim
from learnloop.search.driver import Reserve, drive
from learnloop.search.executors import Executor, InProcess
from learnloop.search.finalist import LookAdvisor
from learnloop.search.fit import train_trial
from learnloop.search.look_rule import LookCall
from learnloop.search.portfolio import meta_features
from learnloop.search.schedule import Schedule
from learnloop.search.trials import StudyBook, TrialRecord, config_key
from learnloop.search.values import FittedModel, Outcome, Problem, TrialSpec
from learnloop.tasks import Task

__all__ = ["Search", "Hooks", "SAMPLE_TRIAL_SHARE"]

SAMPLE_TRIAL_SHARE = 0.1  # a trial on a sample (not the top rung) gets at most this of the budget


def _never() -> bool:
    return False


def _anyone(key: str, worker: str) -> bool:
    return True


@dataclass
class Hooks:
    """How the run that owns a search talks to it; every hook is optional.

    ``keep_going`` is asked before each trial starts (False: start none now; the search ends
    once nothing runs); ``should_stop``
    between steps (True: stop what runs now, by hand); ``claim(key, worker)`` takes a named
    configuration for this process (False: another process on the run has it);
    ``finish_seconds(model)`` is what finishing with ``model`` would take after the search
    (its test look, saving), which the search keeps free of its deadline; ``on_trial`` hears
    of every trial told to the study.
    """

    on_trial: Callable[[TrialRecord, Search], None] | None = None
    keep_going: Callable[[], bool] | None = None
    should_stop: Callable[[], bool] = _never
    claim: Callable[[str, str], bool] = _anyone
    finish_seconds: Callable[[FittedModel], float] | None = None


def serving(task: Task, names: list[str] | None) -> list[Candidate]:
    """The families named (all that serve the task if None)."""
    return [CANDIDATES[n] for n in names] if names else families_for(task)


class Search:
    """Runs trials until the aim is passed or the deadline passes; can be resumed.

    Not thread-safe: one search owns one study book. ``joined`` makes it a worker on another
    process's run: that process refits, ensembles and certifies, so this one adopts no trial
    another process passed the aim with and makes no ensembles, and its local moves follow
    its own random directions (processes reading the same trials do not all propose the same).
    """

    def __init__(
        self,
        problem: Problem,
        study: optuna.Study,
        aim: Aim,
        *,
        candidates: list[str] | None = None,
        n_jobs: int = 1,
        executor: Executor | None = None,
        hooks: Hooks | None = None,
        joined: bool = False,
    ) -> None:
        self.problem, self.aim, self.n_jobs = problem, aim, n_jobs
        self.families = serving(problem.task, candidates)
        self.hooks = hooks or Hooks()
        self.executor = executor or InProcess(n_jobs)
        self.advisor = LookAdvisor(problem, aim.threshold, aim.alpha_first_look)
        meta = (  # only the learned portfolio order reads them (off by default)
            meta_features(problem.X_train, problem.y_train, problem.n_classes)
            if levers.enabled("portfolio")
            else None
        )
        self.schedule = Schedule(problem.task, self.families, problem.n_train, meta)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.book = StudyBook(study, self.worker)
        self.joined = joined
        if joined:
            self.schedule.local.stream = 1 + zlib.crc32(self.worker.encode()) % 1_000_000
        self.trials: list[TrialRecord] = []
        self.best: FittedModel | None = None
        self.best_single: FittedModel | None = None  # the best trial's model (no ensemble)
        self.best_score: float | None = None
        # the model of the task's first guess, for a final pick that keeps it unless
        # beaten beyond the scored rows' noise (``Task.first_guess``)
        self.first_guess: FittedModel | None = None
        self.first_guess_key = first_guess_key(problem)
        self.time_to_threshold: float | None = None
        self.started: float | None = None  # the first run's start (time.monotonic)
        self.deadline = math.inf
        self.reserve = Reserve()  # seconds kept free of the deadline to finish in
        self.elsewhere: TrialRecord | None = None  # best trial finished by another process
        self.pool: Any = None  # the ensemble pool (learnloop.search.ensemble), made on first use
        self.look_call: LookCall | None = None  # the first-look rule's latest decision
        # the model sent to an early first look at its smaller share of alpha, if one was
        self.early_look: FittedModel | None = None

    # ------------------------------------------------------------------ the aim
    @property
    def threshold(self) -> float | None:
        return self.aim.threshold

    @property
    def target(self) -> float | None:
        """The aim past the threshold (threshold + margin), once the margin is known."""
        return self.aim.target

    def effective_target(self) -> float | None:
        """The aim now, with the winner's-curse allowance after a failed look."""
        return self.aim.current(len(self.trials))

    def raise_target(self, shortfall: float, looked_score: float | None = None) -> None:
        """After a failed certificate, aim further past the threshold by ``shortfall`` and
        past ``looked_score``, the validation score of the model that failed."""
        self.aim.raise_by(shortfall, len(self.trials), looked_score)

    def after_early_look(self, looked_score: float, alpha_next: float) -> None:
        """After a failed early look (a side bet at its own share of alpha): the aim stays
        where it was, moved to the next look's smaller alpha, and the next look needs a
        model better than ``looked_score`` on validation."""
        self.aim.after_early_look(looked_score, alpha_next)
        self.advisor.alpha = alpha_next

    def search_to_budget(self) -> None:
        """Stop aiming: no test look could certify the threshold, so search for the best model."""
        self.aim.stop_aiming()

    # -------------------------------------------------------------------- run
    def run(self, deadline: float) -> FittedModel | None:
        """Run trials until one passes the aim or ``deadline`` (time.monotonic) passes.

        Returns the model to spend a test look on (it passed the aim, or a cross-validated
        estimate says a look would pass), or None once the deadline or a stop came first
        (:meth:`best_model` then gives the best model seen).
        """
        if self.started is None:
            self.started = time.monotonic()
        return drive(self, deadline)

    def stop_requested(self) -> bool:
        """Whether the run asked running trials to stop (by hand: Ctrl-C, SIGTERM)."""
        return self.hooks.should_stop()

    def best_model(self) -> FittedModel | None:
        """The best model seen, refitting a better trial another process finished."""
        other = self.elsewhere
        if other is not None and self.problem.metric.better(
            other.score,  # type: ignore[arg-type]
            self.best.score if self.best else None,
        ):
            self.refit(other)
        return self.best

    # ----------------------------------------------------------- what it knows
    def spec(self, record: TrialRecord) -> TrialSpec:
        """``record``'s trial as the driver sends it: its configuration and a snapshot of
        the search (a copy of the aim, its finished peers, the time left)."""
        now, started = time.monotonic(), self.started if self.started is not None else 0.0
        sample = self.schedule.is_sample(record.rung)
        return TrialSpec(
            number=record.number,
            candidate=record.candidate,
            params=record.params,
            rung=record.rung,
            n_rows=record.n_rows,
            aim=copy.deepcopy(self.aim),
            n_trials=len(self.trials),
            peers=self.peer_curves(record),
            sample_cap_s=max(2.0, SAMPLE_TRIAL_SHARE * (self.deadline - started))
            if sample
            else None,
            seconds_left=self.deadline - now,
            elapsed_s=now - started,
        )

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

    def note(self, outcome: Outcome) -> None:
        """Take in what a trial taught the search: its score, the aim's margin if it set it,
        when it first passed the threshold."""
        metric, record = self.problem.metric, outcome.record
        if outcome.margin is not None and self.aim.margin is None:
            self.aim.margin, self.aim.se_val, self.aim.target = outcome.margin
        ttt = outcome.time_to_threshold
        if ttt is not None and (self.time_to_threshold is None or ttt < self.time_to_threshold):
            self.time_to_threshold = ttt
        if record is not None and record.score is not None:
            if metric.better(record.score, self.best_score):
                self.best_score = record.score

    def note_ensemble(self, ensemble: FittedModel) -> None:
        """An ensemble's validation score counts as a trial's does: for the best score, the
        time to threshold and the aim's margin (when it is the first past the threshold)."""
        p, metric, threshold = self.problem, self.problem.metric, self.aim.threshold
        if metric.better(ensemble.score, self.best_score):
            self.best_score = ensemble.score
        if threshold is None or not metric.meets(ensemble.score, threshold):
            return
        if self.time_to_threshold is None and self.started is not None:
            self.time_to_threshold = time.monotonic() - self.started
        assert ensemble.val_prediction is not None
        self.aim.note_pass(p.y_val, ensemble.val_prediction, p.n_classes, p.n_test, p.seed)

    def keep_if_best(self, model: FittedModel | None) -> None:
        """Keep ``model`` as the best (and as the best single model if it is no ensemble)."""
        if model is None:
            return
        better = self.problem.metric.better
        if model.members is None and better(model.score, _score(self.best_single)):
            self.best_single = model
        if better(model.score, _score(self.best)):
            self.best = model

    def keep_if_first_guess(self, record: TrialRecord, model: FittedModel | None) -> None:
        """Keep ``model`` if it is the first complete trial of the task's first guess (a
        portfolio entry) on the whole training split (none where the task names none)."""
        if model is None or self.first_guess is not None or self.first_guess_key is None:
            return
        if record.status != "complete" or model.members is not None:
            return
        if model.n_rows < self.problem.n_train:
            return
        if config_key(record.candidate, record.params, 0) == self.first_guess_key:
            self.first_guess = model

    # ------------------------------------------------- trials of other processes
    def refit(self, record: TrialRecord) -> FittedModel | None:
        """Fit a finished trial's configuration again here, outside the study (same rows,
        same seed): models are not kept in the store."""
        n_rows = (
            record.n_rows or self.schedule.rungs[min(record.rung, len(self.schedule.rungs) - 1)]
        )
        shadow = TrialRecord(record.number, record.candidate, record.params, record.rung, n_rows)
        outcome = train_trial(
            self.problem, self.spec(shadow), n_jobs=self.n_jobs, should_stop=self.stop_requested
        )
        self.note(outcome)
        self.keep_if_best(outcome.model)
        if self.elsewhere is not None and self.elsewhere.number == record.number:
            self.elsewhere = None
        return outcome.model

    def sync(self) -> FittedModel | None:
        """Take in the trials other processes finished in this study (workers, a killed run).

        Their configurations leave the queue and count for promotion, so nothing finished
        is run again. A trial that passed the aim is refitted here (models are not in the
        store) and returned if the refit passes too.
        """
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
            if self.elsewhere is None or metric.better(record.score, self.elsewhere.score):
                self.elsewhere = record
            if self.aim.could_pass(record.score, record.stop_reason) and (
                passed is None or metric.better(record.score, passed.score)
            ):
                passed = record
        if passed is None or self.joined:
            return None
        model = self.refit(passed)
        if model is not None and self.aim.passed(model.score, len(self.trials)):
            return model
        return None


def first_guess_key(problem: Problem) -> str | None:
    """The configuration key of the portfolio entry the task's final pick prefers
    (``Task.first_guess``); None where it prefers none."""
    task = problem.task
    if task.first_guess is None:
        return None
    family, index = task.first_guess
    candidate = CANDIDATES.get(family)
    if candidate is None:
        return None
    guesses = candidate.portfolio(task.output, problem.n_train)
    if index >= len(guesses):
        return None
    return config_key(family, guesses[index], 0)


def _score(model: FittedModel | None) -> float | None:
    return model.score if model is not None else None
