"""Trials in the driver's own process, one at a time: the default executor.

Each trial trains when the driver collects it, in the driver's thread, with all the run's
cores, under the same monitor as a trial on a Dask worker. Encoded samples are shared with
the driver's own refits (:func:`learnloop.search.fit.encoded` keeps them per problem).
"""

from __future__ import annotations

from collections.abc import Callable

from learnloop.search.executors._base import Executor
from learnloop.search.fit import train_trial
from learnloop.search.values import Outcome, Problem, TrialSpec

__all__ = ["InProcess"]


def _never() -> bool:
    return False


class InProcess(Executor):
    """Trains each submitted trial here when it is collected; one slot."""

    where = "in process"

    def __init__(self, n_jobs: int = 1) -> None:
        self.n_jobs = n_jobs
        self._problem: Problem | None = None
        self._should_stop: Callable[[], bool] = _never
        self._queue: list[TrialSpec] = []

    def begin(self, problem: Problem, should_stop: Callable[[], bool]) -> None:
        self._problem, self._should_stop = problem, should_stop

    def submit(self, spec: TrialSpec) -> None:
        if self._problem is None:
            raise RuntimeError("InProcess.submit before begin: no problem to train on")
        self._queue.append(spec)

    def collect(self, timeout: float) -> list[Outcome]:
        out = []
        while self._queue:
            spec = self._queue.pop(0)
            assert self._problem is not None
            out.append(
                train_trial(self._problem, spec, n_jobs=self.n_jobs, should_stop=self._should_stop)
            )
        return out

    @property
    def running(self) -> int:
        return len(self._queue)

    def forget(self) -> None:
        self._queue.clear()
