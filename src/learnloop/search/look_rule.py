"""When the run's first test look goes to the best model short of the aim (``first_look``).

Near the threshold the aim can stay out of reach on one noisy validation split all run while
the best model past the threshold would already certify; elsewhere a few more trials reach
the aim, and a look spent on a model just past the threshold fails and leaves the later
looks less alpha. At the first pass the two cases look alike (on breast cancer at 0.9 and on
a churn table at 0.945 the first model past the threshold has the same predicted chance,
about 50%); what tells them apart is how long the aim would take. So, after every finished
trial until the run's first look, the rule weighs, from what the run knows before looking:

- the **chance that the look passes** (:func:`pass_chance`): the test score of a model
  scoring ``s`` on validation is about ``s`` give or take the validation noise and the test
  split's own; the look passes when it is past the threshold by the bound's margin
  (``z * se_test`` at the alpha the look spends). The aim sits one validation standard error
  further, a chance of about 75%;
- the **expected wait for the aim** (:func:`wait_for_aim`): seconds per finished trial over
  the chance that the next trial passes the aim, read from the spread of the better half of
  the trial scores (at least the validation noise: one trial has no spread), and at most
  ``1 / (1 + k)`` after ``k`` trials past the threshold that did not reach it (the longer the
  best stalls, the less likely the next trial is to jump).

It looks when the chance is at least ``P_MIN`` (a look that would likely fail is not worth
look 1's alpha), at least ``MIN_AFTER`` trial has finished since the first pass (one trial's
news of how fast the best still improves: on breast cancer at 0.9 the trial after the first
pass reaches the aim, whatever the load makes of the clock), and the wait is more than
``WAIT_SHARE`` of the time left (the aim, if it comes soon, gets look 1 with a better
chance). Every input comes from the training and
validation rows and the clock, never the test split, and the look spends the alpha of its
number as at the aim, so the false-"met" rate stays at most alpha.

With the ``cheap_first_look`` lever (on by default) the wait goes: the first look short of
the aim spends a planned smaller share of alpha (``certify.EARLY_SHARE``; the looks after
it share the rest), so it is made at once, at the first model past the threshold whose
predicted chance of passing *at that alpha* is at least ``P_EARLY`` (:func:`early_call`).
A failed early look costs the look at the aim part of its alpha, not all of it, which is
what made waiting worth it. Until a model's chance at the early alpha is fair, and at a better
model after a failed early look, the rule above still times a look at the plan's next share
(``Aim.alpha_look``).
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from learnloop.certify import fewest_right_to_certify
from learnloop.search.aim import Aim

__all__ = [
    "P_MIN",
    "P_EARLY",
    "WAIT_SHARE",
    "MIN_AFTER",
    "LookCall",
    "pass_chance",
    "wait_for_aim",
    "call",
    "early_call",
]

P_MIN = 0.25  # the least predicted chance of passing worth look 1's alpha short of the aim
WAIT_SHARE = 0.1  # wait for the aim while it is expected within this share of the time left
MIN_AFTER = 1  # trials finished since the first pass before a look short of the aim
P_EARLY = 0.25  # the least predicted chance worth an early look's share of alpha


@dataclass(frozen=True)
class LookCall:
    """One decision of the rule: the predicted chance, the expected wait, the time left."""

    trial: int  # the trial whose model it was about
    score: float
    chance: float
    wait_s: float
    left_s: float
    since_pass: int  # trials finished since the first past the threshold
    early_alpha: float | None = None  # an early look's alpha (``cheap_first_look``)

    @property
    def look(self) -> bool:
        if self.early_alpha is not None:
            return self.chance >= P_EARLY
        if self.since_pass < MIN_AFTER or self.chance < P_MIN:
            return False
        return self.wait_s > WAIT_SHARE * self.left_s


def pass_chance(
    aim: Aim, score: float, n_test: int | None = None, alpha: float | None = None
) -> float | None:
    """The predicted chance that a test look at a model scoring ``score`` on validation
    passes, at ``alpha`` (the alpha of the look a model short of the aim would get unless
    given; None before the aim's margin is known).

    The test score is taken as ``score`` give or take the validation and test noise; the
    look passes past ``threshold`` plus the bound's margin, or, for a share of rows right
    on ``n_test`` rows, from the fewest right rows whose exact bound certifies."""
    if aim.threshold is None or aim.margin is None:
        return None
    alpha = aim.alpha_look if alpha is None else alpha
    se_test = aim.se_test
    sign = 1.0 if aim.metric.greater_is_better else -1.0
    ahead = sign * (score - aim.threshold) - float(stats.norm.ppf(1.0 - alpha)) * se_test
    if aim.metric.proportion and aim.metric.greater_is_better and n_test:
        right = _fewest_right(n_test, alpha, aim.threshold)
        if right is None:
            return 0.0
        p = min(max(score, 0.5 / n_test), 1.0 - 0.5 / n_test)
        se_test = math.sqrt(p * (1.0 - p) / n_test)
        ahead = score - (right - 0.5) / n_test
    spread = math.hypot(aim.se_val, se_test)
    if spread <= 0.0:
        return 1.0 if ahead >= 0.0 else 0.0
    return float(stats.norm.cdf(ahead / spread))


@functools.lru_cache(maxsize=64)
def _fewest_right(n_test: int, alpha: float, threshold: float) -> int | None:
    return fewest_right_to_certify(n_test, alpha, threshold)


def wait_for_aim(
    aim_score: float,
    scores: Sequence[float],
    se_val: float,
    since_pass: int,
    per_trial_s: float,
    greater_is_better: bool,
) -> float:
    """Expected seconds until a trial passes ``aim_score``: seconds per trial over the chance
    that one does (normal over the better half of ``scores``, its spread at least
    ``se_val``; at most ``1 / (1 + since_pass)``)."""
    sign = 1.0 if greater_is_better else -1.0
    ranked = sorted((sign * s for s in scores), reverse=True)
    upper = ranked[: max((len(ranked) + 1) // 2, 1)]
    if not upper:
        return math.inf
    mean = statistics.fmean(upper)
    sd = max(statistics.pstdev(upper) if len(upper) > 1 else 0.0, se_val)
    gap = sign * aim_score - mean
    chance = float(stats.norm.sf(gap / sd)) if sd > 0.0 else float(gap <= 0.0)
    chance = min(chance, 1.0 / (1.0 + since_pass))
    return per_trial_s / chance if chance > 0.0 else math.inf


def call(
    aim: Aim,
    trial: int,
    score: float,
    finished: Sequence[float | None],
    elapsed_s: float,
    left_s: float,
    n_test: int | None = None,
) -> LookCall | None:
    """The rule's decision on the best model so far (trial ``trial``, validation ``score``),
    from the validation scores of the trials finished so far in the order they started
    (None: no score), the seconds the search has run, the seconds left and the test rows
    the look will score (None before the aim is known)."""
    aim_score = aim.current(len(finished))
    chance = pass_chance(aim, score, n_test)
    if aim_score is None or chance is None or aim.threshold is None:
        return None
    scores = [s for s in finished if s is not None and math.isfinite(s)]
    metric = aim.metric
    since_pass = _since_pass(aim, finished)
    per_trial = elapsed_s / max(len(finished), 1)
    wait = wait_for_aim(
        aim_score, scores, aim.se_val, since_pass, per_trial, metric.greater_is_better
    )
    return LookCall(trial, score, chance, wait, left_s, since_pass)


def early_call(
    aim: Aim, trial: int, score: float, finished: Sequence[float | None], n_test: int | None
) -> LookCall | None:
    """The ``cheap_first_look`` decision on the best model so far: its predicted chance of
    passing a look at the early alpha (``aim.alpha_early``; None where no early look may be
    made). Made at once: no wait, no clock."""
    if aim.alpha_early is None or aim.threshold is None:
        return None
    chance = pass_chance(aim, score, n_test, aim.alpha_early)
    if chance is None:
        return None
    return LookCall(trial, score, chance, 0.0, 0.0, _since_pass(aim, finished), aim.alpha_early)


def _since_pass(aim: Aim, finished: Sequence[float | None]) -> int:
    """Trials finished since the first past the threshold (0 if none is)."""
    threshold = aim.threshold
    if threshold is None:
        return 0
    past = [i for i, s in enumerate(finished) if s is not None and aim.metric.meets(s, threshold)]
    return len(finished) - past[0] - 1 if past else 0
