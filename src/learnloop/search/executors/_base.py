"""The executor seam: where a trial runs, and nothing else.

The driver (:mod:`learnloop.search.driver`) decides everything about a search: what to train,
when to stop, what to keep, when to look. An executor only takes a trial's
:class:`~learnloop.search.values.TrialSpec`, trains it somewhere, and hands back its
:class:`~learnloop.search.values.Outcome`: in this process (:class:`InProcess`, the default),
or on the workers of a Dask cluster (:class:`~learnloop.search.executors.dask.DaskExecutor`).
A new executor implements ``submit`` and ``collect`` (and ``stop`` if its trials run while
the driver waits); the driver is the same for all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from learnloop.search.values import Outcome, Problem, TrialSpec

__all__ = ["Executor"]


class Executor(ABC):
    """Where trials run. One driver uses one executor at a time; not thread-safe.

    Contract:

    - ``begin(problem, should_stop)`` comes before the first ``submit`` of every ``drive``
      (once per run is enough to act on): the run's training and validation parts, and the
      check of a stop asked for by hand.
    - ``submit(spec)`` starts one trial and never waits for it; the driver submits only
      while ``running < slots()``.
    - ``collect(timeout)`` returns the trials that finished, in any order, waiting up to
      about ``timeout`` seconds for the first (an executor that trains in the driver's
      thread trains them here). A trial lost with its worker comes back with ``record``
      None and says why in ``error``; a lost cluster raises
      :class:`~learnloop.exceptions.ClusterError`.
    - ``stop()`` asks every running trial to stop at its next step (trials submitted
      afterwards are not affected); ``forget()`` drops trials the driver gave up on.
    - ``close()`` releases what the executor holds; it is idempotent.
    """

    where: str = ""  # for messages: "in process", "the Dask scheduler at tcp://..."
    run_id: str = ""  # the run it serves (named in the message if a cluster goes away)

    def begin(self, problem: Problem, should_stop: Callable[[], bool]) -> None:  # noqa: B027
        """Take the run's parts and the hand-stop check (nothing to do by default)."""

    @abstractmethod
    def submit(self, spec: TrialSpec) -> None:
        """Start the trial ``spec`` describes."""

    @abstractmethod
    def collect(self, timeout: float) -> list[Outcome]:
        """The trials that finished since the last call."""

    @property
    @abstractmethod
    def running(self) -> int:
        """Trials submitted and not yet collected."""

    def slots(self) -> int:
        """Trials that may run at once now."""
        return 1

    def stop(self) -> None:  # noqa: B027 - nothing runs while the driver waits by default
        """Ask every running trial to stop at its next step."""

    def forget(self) -> None:  # noqa: B027 - nothing to drop by default
        """Drop trials that were given up on (they no longer report)."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release the workers (idempotent)."""
