"""The aim: the validation score the loop must pass for a test look to be worth spending.

A model that just passes the threshold on validation would usually fail the test bound, so
the loop aims past the threshold by a margin: ``z * se_test`` (how far the one-sided bound
sits from the test score) plus one validation standard error (the validation score of a
model stopped the first time it looks good enough is optimistic by up to that much). The
margin is estimated from the first model that passes the threshold on validation.

After a failed look the aim rises by the bound's shortfall, and while the search compares
many more candidates on the same validation split it also grows by
``se_val * sqrt(2 ln k)`` with the k trials compared since that look (the best of k noisy
scores is optimistic by about that much: the winner's curse).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from learnloop.certify import aim_margin
from learnloop.metrics import Metric, Prediction

__all__ = ["Aim"]


class Aim:
    """The threshold, the margin past it, and the score the loop is aiming at now."""

    def __init__(self, metric: Metric, threshold: float | None, alpha_first_look: float) -> None:
        self.metric = metric
        self.threshold = threshold
        self.alpha_first_look = alpha_first_look  # the alpha the margin is set at
        # the alpha of the look a model short of the aim gets, and whose z the margin holds
        self.alpha_look = alpha_first_look
        self.margin: float | None = None
        self.se_val = 0.0
        self.target: float | None = None  # threshold + margin, once the margin is known
        self.passable = True  # False once no test look could certify the threshold
        self.looks_failed = 0
        self.looked_best: float | None = None  # the best validation score a failed look had
        # a look at the first model past the threshold may still be made (``first_look``
        # lever; False once made, or when an earlier session of the run made a look)
        self.first_pass_look = True
        # the alpha of an early first look (``cheap_first_look``; None: no early look may be
        # made, as in a resumed session, a run with a single look, or once it was made)
        self.alpha_early: float | None = None
        self._trials_at_last_look = 0

    def after_early_look(self, looked_score: float, alpha_next: float) -> None:
        """A first look short of the aim failed: it was a side bet at its own share of
        alpha, so the run goes on as if it had not been made, at ``alpha_next``: the aim
        moves from the alpha it was set at to that one (a bound at a smaller alpha sits
        further from its score), a look short of the aim may still be timed by the rule,
        and a model is worth the next look only if it scores better than ``looked_score``
        on validation."""
        self.alpha_early = None
        self._note_looked(looked_score)
        if self.threshold is None or self.margin is None:
            self.alpha_look = alpha_next
            return
        z = stats.norm.ppf
        further = float(z(1.0 - alpha_next) - z(1.0 - self.alpha_look))
        self.margin += max(further, 0.0) * self.se_test  # the noise read at the old alpha
        self.alpha_look = alpha_next
        self.target = self._clip(self.metric.shift(self.threshold, self.margin))

    @property
    def se_test(self) -> float:
        """The test score's standard error the margin was set from (0 before it is known;
        the margin may be set in another process, so it is read back from it)."""
        if self.margin is None:
            return 0.0
        to_bound = max(self.margin - self.se_val, 0.0)  # z * se_test (and a row's steps)
        return to_bound / float(stats.norm.ppf(1.0 - self.alpha_look))

    def worth_a_look(self, score: float) -> bool:
        """Whether a model scoring ``score`` on validation may get a look: not if a look
        already failed on a model scoring as well (it would say the same)."""
        return self.looked_best is None or self.metric.better(score, self.looked_best)

    def note_pass(
        self, y_val: np.ndarray, prediction: Prediction, n_classes: int, n_test: int, seed: int
    ) -> None:
        """Set the margin from the first validation prediction that passes the threshold.

        A run that cannot be certified (``stop_aiming`` before any pass) never aims.
        """
        if self.threshold is None or self.margin is not None or not self.passable:
            return
        self.margin, self.se_val = aim_margin(
            self.metric, y_val, prediction, n_classes, n_test, self.alpha_first_look, seed
        )
        self.target = self._clip(self.metric.shift(self.threshold, self.margin))

    def raise_by(self, shortfall: float, n_trials: int, looked_score: float | None = None) -> None:
        """After a failed look, aim further past the threshold by ``shortfall``; a model is
        worth another look only if its validation score is strictly better than
        ``looked_score``, the validation score of the model that failed (one scoring the
        same, as a twin configuration does, would spend alpha to say the same)."""
        if looked_score is not None:
            self._note_looked(looked_score)
        if self.threshold is None or self.margin is None:
            return
        self.margin += max(shortfall, 0.0)
        self.target = self._clip(self.metric.shift(self.threshold, self.margin))
        self.looks_failed += 1
        self._trials_at_last_look = n_trials

    def _note_looked(self, looked_score: float) -> None:
        """Keep the best validation score a failed look had (a look must beat it)."""
        if self.metric.better(looked_score, self.looked_best):
            self.looked_best = looked_score

    def stop_aiming(self) -> None:
        """No test look could certify the threshold: search for the best model instead."""
        self.passable = False

    def current(self, n_trials: int) -> float | None:
        """The aim now: the target plus the winner's-curse allowance after a failed look."""
        if not self.passable:
            return None
        if self.target is None or self.looks_failed == 0:
            return self.target
        k = max(n_trials - self._trials_at_last_look, 1)
        allowance = self.se_val * math.sqrt(2.0 * math.log(k)) if k > 1 else 0.0
        return self._clip(self.metric.shift(self.target, allowance))

    def passed(self, score: float, n_trials: int) -> bool:
        """Whether ``score`` passes the aim now."""
        aim = self.current(n_trials)
        if not self.worth_a_look(score):
            return False
        return aim is not None and self.metric.meets(score, aim)

    def could_pass(self, score: float | None, stop_reason: str) -> bool:
        """Whether a trial another process finished may have passed the aim."""
        if score is None or self.threshold is None:
            return False
        if stop_reason == "target":
            return True
        aim = self.target if self.target is not None else self.threshold
        return self.metric.meets(score, aim)

    def _clip(self, target: float) -> float:
        """Keep the aim inside the metric's range (a perfect score is always a valid aim)."""
        return min(max(target, self.metric.low), self.metric.high)
