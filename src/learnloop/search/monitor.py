"""Monitors: what a family's fit reports each step to, and what answers whether it goes on.

A trial trains step by step under a :class:`TrialMonitor`, which scores the validation
predictions and stops it the moment it passes the aim (after training on a little while the
curve still rises), when its learning curve has gone flat, when it is behind the median of
its finished peers at the same step (median stopping), when a trial on a sample has used its
share of the budget, when it is asked to stop, or at the search's deadline: a step that would
end past the deadline (as long as the last stretch between scored steps took, the first one
included) is not waited for, and past the deadline the monitor asks to see the very next
step, so that it can stop it there.

The monitor reads only its :class:`~learnloop.search.values.TrialSpec` (a snapshot of the
search) and the stop check it is given, so a trial behaves the same in the driver's process
and on a Dask worker. What the trial taught the aim (its margin, set by the first score past
the threshold) stays on the spec's copy of the aim, for the driver to take in.

:class:`FixedSteps` trains a configuration for exactly the steps its trial kept and scores
nothing (the finalist's refit and cross-validation).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from learnloop.metrics import Prediction
from learnloop.search.trials import TrialRecord
from learnloop.search.values import Problem, TrialSpec

__all__ = ["TrialMonitor", "FixedSteps", "OutOfTime", "EVALS_PER_DOUBLING", "FINISH_MIN_STEPS"]

EVALS_PER_DOUBLING = 50
FINISH_MIN_STEPS = 10  # steps trained on past the aim, at least, unless the curve turns
MIN_PEERS = 4  # finished same-family trials needed before median stopping applies
MIN_DELTA = 1e-4  # relative gain that counts as progress for the plateau rule


class TrialMonitor:
    """Scores one trial's validation predictions and decides whether it goes on."""

    def __init__(
        self,
        problem: Problem,
        spec: TrialSpec,
        record: TrialRecord,
        patience: tuple[int, float],
        should_stop: Callable[[], bool],
    ) -> None:
        self.problem, self.spec, self.record = problem, spec, record
        self.patience_min, self.patience_frac = patience
        self.should_stop = should_stop
        self.started = time.monotonic()
        self.origin = self.started - spec.elapsed_s  # the search's start, on this clock
        self.deadline = self.started + spec.seconds_left
        self.time_to_threshold: float | None = None
        self._best_step = 0
        self._best_score: float | None = None
        self._finish_by: int | None = None
        self._last_gain_step = 0
        self._last_call = self.started
        self._call_s = 0.0  # how long the last stretch between two scored steps took

    @property
    def best_step(self) -> int:
        return self._best_step

    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def wants(self, step: int) -> bool:
        if time.monotonic() >= self.deadline:
            return True  # past the deadline: see this step, to stop the trial at it
        every = max(1, math.ceil(step / EVALS_PER_DOUBLING))
        return step % every == 0

    def __call__(self, step: int, prediction: Prediction) -> bool:
        problem, metric, record = self.problem, self.problem.metric, self.record
        score = metric.score(problem.y_val, prediction, problem.n_classes)
        now = time.monotonic()
        # how long the stretch to the next scored step may take: the last one, or the
        # first (data preparation included) until there is a last one
        self._call_s = now - self._last_call
        if record.first_step_s is None:
            record.first_step_s = self._call_s
        self._last_call = now
        record.curve.append((step, score, round(now - self.origin, 4)))
        record.steps = step
        if self._best_score is None or metric.better(
            score, metric.shift(self._best_score, MIN_DELTA * max(abs(self._best_score), 1.0))
        ):
            self._last_gain_step = step  # a real gain, not a creep of a few rows
        if metric.better(score, self._best_score):
            self._best_score, self._best_step = score, step
            record.score, record.best_step = score, step
        self._note(score, prediction, now)
        reason = self._stop_reason(step, score, now)
        if reason:
            record.stop_reason = reason
            return False
        return True

    def _note(self, score: float, prediction: Prediction, now: float) -> None:
        """The first score past the threshold: the time it took, and the aim's margin."""
        aim, p = self.spec.aim, self.problem
        if aim.threshold is None or not p.metric.meets(score, aim.threshold):
            return
        if self.time_to_threshold is None:
            self.time_to_threshold = now - self.origin
        aim.note_pass(p.y_val, prediction, p.n_classes, p.n_test, p.seed)

    def _stop_reason(self, step: int, score: float, now: float) -> str:
        """Why the trial stops after ``step`` ("" if it goes on)."""
        aim = self.spec.aim.current(self.spec.n_trials)
        if self._finish_by is None and aim is not None and self.problem.metric.meets(score, aim):
            # past the aim: train on a little (up to twice the steps) while it still improves,
            # so the model kept is not just the luckiest early step
            self._finish_by = max(2 * step, step + FINISH_MIN_STEPS)
        if self._finish_by is not None and (
            step >= self._finish_by or step - self._best_step >= FINISH_MIN_STEPS
        ):
            return "target"
        if now + self._call_s >= self.deadline:
            return "budget"  # the deadline has passed, or would before the next scored step
        if self.should_stop():
            # by hand (Ctrl-C, SIGTERM), or on a cluster because another trial passed the aim:
            # keep the best step so far
            return "stopped"
        gain_step = self._last_gain_step
        if step - gain_step > max(self.patience_min, self.patience_frac * gain_step):
            return "plateau"
        cap = self.spec.sample_cap_s
        if cap is not None and now - self.started > cap:
            return "rung time"  # a sample is for a quick look, not a long fit
        if self._behind_peers(step):
            return "behind"
        return ""

    def _behind_peers(self, step: int) -> bool:
        """Median stopping: worse at this step than the median finished peer was by then.

        Peers are finished trials of the same family on the same sample size; with fewer
        than ``MIN_PEERS`` of them, or before a quarter of their typical length, never stop.
        """
        peers = self.spec.peers
        if len(peers) < MIN_PEERS or self._best_score is None:
            return False
        typical = float(np.median([c[-1][0] for c in peers]))
        if step < 0.25 * typical:
            return False
        metric = self.problem.metric
        at_step = []
        for curve in peers:
            seen = [score for s, score, _ in curve if s <= step]
            if seen:
                at_step.append(min(seen, key=metric.to_loss))
        if len(at_step) < MIN_PEERS:
            return False
        median = float(np.median(at_step))
        return metric.better(median, self._best_score)


class OutOfTime(RuntimeError):
    """A refit or cross-validation fit would end after its deadline."""


class FixedSteps:
    """A monitor that trains exactly ``steps`` steps (the trial's best) and scores nothing.

    Past ``deadline`` it raises :class:`OutOfTime`: a refit cut short would be a different,
    weaker model than the one chosen, so the caller keeps the original instead.
    """

    def __init__(self, steps: int, deadline: float) -> None:
        self.steps = max(int(steps), 1)
        self.deadline = deadline
        self._last = 0

    def wants(self, step: int) -> bool:
        return step >= self.steps

    def __call__(self, step: int, prediction: Prediction) -> bool:
        if time.monotonic() > self.deadline:
            raise OutOfTime("the fit ran past its deadline")
        self._last = min(step, self.steps)
        return step < self.steps

    @property
    def best_step(self) -> int:
        return self._last

    def seconds_left(self) -> float:
        # never a reason to stop early: a shorter fit would not be the chosen configuration
        return math.inf
