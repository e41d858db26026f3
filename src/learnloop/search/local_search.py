"""Cost-frugal local search around the best configuration (after FLAML's CFO / FLOW2).

Once the portfolio is spent, the schedule asks :class:`LocalSearch` for a move before it
lets Optuna's sampler choose. A move is a randomized direction search in the family's
search space normalized to the unit cube (log scale where the space is log):

1. **Around the incumbent** (the best finished configuration on the lowest rung): try
   ``x + step * u`` and then ``x - step * u`` for a random unit direction ``u``.
2. **Follow a gain.** A move that beat the incumbent becomes the incumbent, and the next
   move goes the same way again, with the step that worked (grow the leaves further, lower
   the learning rate further, as long as it pays).
3. **Shrink on a stall.** After ``tries_per_step(d)`` moves without a gain the step is
   halved; below ``STEP_FLOOR`` of the first step the search has converged and returns
   nothing: the sampler takes over (global exploration). If the sampler later finds a
   better configuration, the local search starts again around it.

The search keeps no state of its own: everything (incumbent, its parent and so the kept
direction, the moves tried since) is read from the trial list, and the random directions
are seeded by the incumbent's configuration, so a resumed run (which reads the finished
trials back from the store) proposes what the killed one would have. A worker process adds
its own stream to the seed, so processes sharing a run try different directions.

Only families whose fit takes several steps (boosting rounds, trees, epochs, solver
iterations) and that have a numeric parameter are searched: a one-step fit (k-NN, ridge)
is cheap for the sampler too, and its one or two parameters are what TPE does well.
Categorical parameters keep the incumbent's value.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import FloatDistribution, IntDistribution

from learnloop.core import Output
from learnloop.families import CANDIDATES, Candidate
from learnloop.metrics import Metric
from learnloop.search.trials import TrialRecord, config_key

__all__ = ["LocalSearch", "numeric_space", "FIRST_STEP", "STEP_FLOOR", "SHRINK"]

FIRST_STEP = 0.1  # times sqrt(dimensions): about a tenth of each range per coordinate
SHRINK = 0.5  # the step after a stall
STEP_FLOOR = 0.2  # converged below this fraction of the first step (three halvings)
LOCAL_SLACK = 1.5  # a move this much longer than the first step (integers rounded) is local
MAX_SKIPS = 64  # moves that repeat a configuration already run, skipped before giving up


def tries_per_step(dims: int) -> int:
    """Moves without a gain before the step shrinks: a +/- pair per dimension, at least 2."""
    return max(4, 2 * dims)


@dataclass(frozen=True)
class _Dim:
    name: str
    dist: FloatDistribution | IntDistribution

    def _f(self, v: float) -> float:
        return math.log(v) if self.dist.log else v

    def to_unit(self, value: float) -> float:
        lo, hi = self._f(self.dist.low), self._f(self.dist.high)
        return (self._f(value) - lo) / (hi - lo)

    def from_unit(self, u: float) -> float | int:
        d = self.dist
        lo, hi = self._f(d.low), self._f(d.high)
        x = lo + min(max(u, 0.0), 1.0) * (hi - lo)
        v = math.exp(x) if d.log else x
        if d.step is not None:
            v = d.low + round((v - d.low) / d.step) * d.step
        if isinstance(d, IntDistribution):
            return int(min(max(round(v), d.low), d.high))
        return float(min(max(float(f"{v:.6g}"), d.low), d.high))


def numeric_space(
    cand: Candidate, params: dict[str, Any], output: Output, n_rows: int
) -> list[_Dim] | None:
    """The numeric dimensions of ``cand``'s search space at ``params`` (None if outside).

    Read from the family's own ``search_space`` through a fixed trial, so the bounds are
    written once; a conditional space yields the dimensions ``params`` takes.
    """
    fixed = optuna.trial.FixedTrial({cand.key(k): v for k, v in params.items()})
    try:
        cand.search_space(fixed, output, n_rows)
    except (ValueError, KeyError):
        return None  # not a configuration of this space (or of this version of it)
    prefix = f"{cand.name}."
    return [
        _Dim(name[len(prefix) :], dist)
        for name, dist in fixed.distributions.items()
        if isinstance(dist, FloatDistribution | IntDistribution) and dist.low < dist.high
    ]


class LocalSearch:
    """Proposes the next local move from the trials so far, or None when it has converged."""

    def __init__(self, output: Output, n_rows: int, stream: int = 0) -> None:
        self.output = output
        self.n_rows = n_rows
        # 0 for a run's owner (so a resumed run proposes the same moves); another number
        # per worker process, so processes that read the same trials try other directions
        self.stream = stream

    def propose(
        self, trials: list[TrialRecord], metric: Metric, taken: set[str]
    ) -> tuple[Candidate, dict[str, Any]] | None:
        inc = _incumbent(trials, metric, upto=None)
        if inc is None or inc.steps <= 1 or inc.candidate not in CANDIDATES:
            return None  # nothing finished yet, or a one-step fit: the sampler's business
        cand = CANDIDATES[inc.candidate]
        dims = numeric_space(cand, inc.params, self.output, self.n_rows)
        if not dims:
            return None
        x = np.array([d.to_unit(inc.params[d.name]) for d in dims])
        first = FIRST_STEP * math.sqrt(len(dims))
        step, kept = first, None
        parent = _incumbent(trials, metric, upto=inc.number)
        if parent is not None and parent.candidate == inc.candidate:
            delta = self._delta(dims, cand, parent, inc, x)
            norm = float(np.linalg.norm(delta)) if delta is not None else 0.0
            if 0 < norm <= LOCAL_SLACK * first:  # inc was a local move: keep its way
                step, kept = norm, delta
        since = [t for t in trials if t.rung == 0 and t.candidate == cand.name]
        k = sum(t.number > inc.number for t in since)
        seen = {config_key(t.candidate, t.params, t.rung) for t in trials} | taken
        seed = zlib.crc32(config_key(cand.name, inc.params, 0).encode())
        for index in range(k, k + MAX_SKIPS):
            move = self._move(index, x, step, first, kept, seed)
            if move is None:
                return None  # converged: below the step floor
            params = dict(inc.params)
            params.update({d.name: d.from_unit(float(u)) for d, u in zip(dims, move, strict=True)})
            if config_key(cand.name, params, 0) not in seen:
                return cand, params
        return None

    def _delta(
        self, dims: list[_Dim], cand: Candidate, parent: TrialRecord, inc: TrialRecord, x: Any
    ) -> np.ndarray | None:
        """The move from ``parent`` to ``inc`` in the unit cube (None if not a local move)."""
        fixed = {k: v for k, v in inc.params.items() if k not in {d.name for d in dims}}
        if any(parent.params.get(k) != v for k, v in fixed.items()):
            return None  # a categorical parameter changed: not a local move
        try:
            return x - np.array([d.to_unit(parent.params[d.name]) for d in dims])
        except (KeyError, TypeError, ValueError):
            return None

    def _move(
        self,
        index: int,
        x: np.ndarray,
        step: float,
        first: float,
        kept: np.ndarray | None,
        seed: int,
    ) -> np.ndarray | None:
        """The ``index``-th move around ``x`` (None once the step is below the floor)."""
        if kept is not None:
            if index == 0:
                return x + kept  # the way that just paid, once more
            index -= 1
        level, j = divmod(index, tries_per_step(len(x)))
        size = step * SHRINK**level
        if size < STEP_FLOOR * first:
            return None
        entropy = [seed, level, j // 2] if self.stream == 0 else [seed, self.stream, level, j // 2]
        rng = np.random.default_rng(entropy)
        u = rng.standard_normal(len(x))
        u /= np.linalg.norm(u) or 1.0
        return x + (size if j % 2 == 0 else -size) * u


def _incumbent(trials: list[TrialRecord], metric: Metric, upto: int | None) -> TrialRecord | None:
    """The best finished trial on the lowest rung (only trials numbered below ``upto``)."""
    best = None
    for t in trials:
        if t.rung != 0 or t.status != "complete" or t.score is None:
            continue
        if upto is not None and t.number >= upto:
            continue
        if best is None or metric.better(t.score, best.score):
            best = t
    return best
