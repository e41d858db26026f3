"""The schedule: which configuration to train next, on how many rows.

1. **Portfolio first.** Known-good configurations of each family, best bet first, so an
   easy threshold is met by the first fit or two: the order voted by the stored data sets
   nearest in meta-features (:mod:`learnloop.search.portfolio`), else the task's fixed order.
2. **Cheap before expensive.** On large tables every new configuration trains on a
   subsample (the lowest *rung*); asynchronous successive halving promotes the best of each
   rung at once, then its best third, to a four times larger sample, up to the full
   training split.
3. **Local search next.** Once the portfolio is spent, moves around the best configuration
   so far (:mod:`learnloop.search.local_search`), on the lowest rung, while they keep paying.
4. **Optuna samples the rest.** When the local search has converged, the study's sampler
   proposes configurations (``next_job`` returns a job without a family) until one beats the
   best.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from learnloop.core import levers
from learnloop.families import CANDIDATES, Candidate
from learnloop.metrics import Metric
from learnloop.search.local_search import LocalSearch
from learnloop.search.portfolio import learned_order
from learnloop.search.trials import TrialRecord, config_key
from learnloop.search.values import Job
from learnloop.tasks import Task

__all__ = ["Schedule", "rung_sizes", "MIN_RUNG_ROWS", "RUNG_GROWTH", "PROMOTE_FRACTION"]

MIN_RUNG_ROWS = 10_000
RUNG_GROWTH = 4
PROMOTE_FRACTION = 3  # promote the best 1/3 of each rung


def rung_sizes(n_rows: int, smallest: int = MIN_RUNG_ROWS) -> list[int]:
    """Training sample sizes of the successive-halving rungs, ending with all rows."""
    if n_rows <= 2 * smallest:
        return [n_rows]
    sizes, size = [], smallest
    while size * 2 < n_rows:
        sizes.append(size)
        size *= RUNG_GROWTH
    return [*sizes, n_rows]


class Schedule:
    """The portfolio queue, the rungs, and what was promoted or taken by other processes."""

    def __init__(
        self, task: Task, families: list[Candidate], n_train: int, meta: dict | None = None
    ) -> None:
        self.rungs = rung_sizes(n_train, task.min_sample_rows or MIN_RUNG_ROWS)
        self.promoted: set[int] = set()
        self.taken: set[str] = set()  # configurations other processes ran or are running
        per_family = {c.name: c.portfolio(task.output, n_train) for c in families}
        order: Sequence[tuple[str, int]] = task.portfolio_order
        if meta is not None and levers.enabled("portfolio"):  # voted by similar data sets
            order = learned_order(task, meta, per_family)
        self.queue: list[tuple[Candidate, dict[str, Any]]] = [
            (CANDIDATES[name], per_family[name][i])
            for name, i in order
            if name in per_family and i < len(per_family[name])
        ]
        self.local = LocalSearch(task.output, n_train)

    def rows_for(self, cand: Candidate, rung: int) -> int:
        """Training rows of a trial of ``cand`` at ``rung`` (capped by the family)."""
        n_rows = self.rungs[rung]
        return min(n_rows, cand.max_rows) if cand.max_rows is not None else n_rows

    def is_sample(self, rung: int) -> bool:
        """Whether ``rung`` trains on a subsample (not the top rung)."""
        return rung < len(self.rungs) - 1

    def next_job(self, trials: list[TrialRecord], metric: Metric) -> Job:
        """Promote before exploring: the best of a rung (and then its best third) moves up."""
        for rung in reversed(range(len(self.rungs) - 1)):
            done = [
                t
                for t in trials
                if t.rung == rung and t.status == "complete" and t.score is not None
            ]
            done.sort(key=lambda t: metric.to_loss(t.score))  # type: ignore[arg-type]
            for t in done[: max(1, len(done) // PROMOTE_FRACTION)]:
                cand = CANDIDATES[t.candidate]
                capped = cand.max_rows is not None and cand.max_rows <= self.rungs[rung]
                if t.number not in self.promoted and not capped:
                    self.promoted.add(t.number)
                    return Job(cand, t.params, rung + 1, t.number)
        while self.queue:
            cand, params = self.queue.pop(0)
            if config_key(cand.name, params, 0) not in self.taken:
                return Job(cand, params, 0)
        if levers.enabled("local"):
            move = self.local.propose(trials, metric, self.taken)
            if move is not None:
                return Job(move[0], move[1], 0)
        return Job(None, None, 0)  # the sampler chooses
