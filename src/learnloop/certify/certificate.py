"""The certificate: one honest look at the held-out test split.

For metrics that are a share of rows judged right (accuracy) the bound is the exact
one-sided Clopper-Pearson bound; for every other metric a bound from resampling the test
rows, or from a jackknife (the silhouette, over every test row; adjusted Rand and NMI,
bias-corrected): ``learnloop.certify.bounds``. Looking at the test split more than once spends
the error rate ``alpha = 1 - confidence`` across looks (Bonferroni): look k uses
``alpha * LOOK_SHARES[k]``, and the shares sum to one, so the chance that *any* "met" claim
is wrong stays <= alpha. A run whose first look comes before the aim (a model just past the
threshold) plans one look more, decided before the test split is read: that first look
spends ``EARLY_SHARE`` of alpha, the three after it share the rest as before
(``EARLY_LOOK_SHARES``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from learnloop.certify.bounds import (
    BCA_MAX_ROWS,
    NORMAL_MIN_ROWS,
    bootstrap_bound,
    draw_scores,
    jackknife_estimate,
    resample_scorer,
)
from learnloop.metrics import Metric, Prediction

__all__ = [
    "Certificate",
    "LOOK_SHARES",
    "EARLY_SHARE",
    "EARLY_LOOK_SHARES",
    "look_alpha",
    "certify",
    "clopper_pearson_bound",
    "fewest_right_to_certify",
    "bootstrap_bound",
    "resample_scorer",
    "aim_margin",
    "validation_se",
    "best_possible_bound",
    "LookPolicy",
    "MAX_LOOKS",
    "split_share_for",
    "DEFAULT_TEST_SHARE",
    "MAX_TEST_SHARE",
]

LOOK_SHARES = (0.6, 0.25, 0.15)
MAX_LOOKS = len(LOOK_SHARES)
# a first look short of the aim spends this share of alpha; if it fails, the looks after it
# share the rest (a failed early look costs the look at the aim 30% of its alpha, not all of
# it): 0.015 / 0.021 / 0.00875 / 0.00525 at alpha 0.05
EARLY_SHARE = 0.3
EARLY_LOOK_SHARES = (EARLY_SHARE, *(share * (1.0 - EARLY_SHARE) for share in LOOK_SHARES))


@dataclass
class Certificate:
    """The test score of one model, its one-sided bound, and whether the threshold is met."""

    metric: str
    test_score: float
    test_bound: float
    confidence: float
    alpha_used: float
    look: int
    n_test: int
    method: str
    threshold: float | None
    met: bool | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def look_alpha(alpha: float, look: int, planned_looks: int) -> float:
    """The error rate spent on look number ``look`` (1-based) of ``planned_looks`` (one more
    than ``MAX_LOOKS``: the plan of a run whose first look came early)."""
    if planned_looks <= 1:
        return alpha
    if planned_looks == len(EARLY_LOOK_SHARES):
        return alpha * EARLY_LOOK_SHARES[look - 1]
    shares = LOOK_SHARES[:planned_looks]
    shares = tuple(s / sum(shares) for s in shares)
    return alpha * shares[look - 1]


def clopper_pearson_bound(successes: int, n: int, alpha: float) -> float:
    """Exact one-sided lower bound of a proportion at level 1 - alpha."""
    if successes <= 0:
        return 0.0
    return float(stats.beta.ppf(alpha, successes, n - successes + 1))


def fewest_right_to_certify(n: int, alpha: float, threshold: float) -> int | None:
    """The fewest right rows of ``n`` whose Clopper-Pearson bound reaches ``threshold``
    (None if even all ``n`` do not)."""
    right = np.arange(1, n + 1)
    clears = right[stats.beta.ppf(alpha, right, n - right + 1) >= threshold]
    return int(clears[0]) if len(clears) else None


def certify(  # noqa: PLR0913 -- the look's inputs, keyword but the data
    metric: Metric,
    y_test: np.ndarray,
    pred: Prediction,
    n_classes: int,
    threshold: float | None,
    confidence: float,
    look: int = 1,
    planned_looks: int = 1,
    seed: int = 0,
) -> Certificate:
    """Score ``pred`` on the test split and bound the score at the look's corrected level."""
    alpha = look_alpha(1.0 - confidence, look, planned_looks)
    n = len(y_test)
    jackknife = jackknife_estimate(metric, y_test, pred, seed)
    if jackknife is not None:  # silhouette on every test row; the table scores bias-corrected
        score, method = jackknife.score, "jackknife"
        bound = jackknife.bound(alpha, metric.greater_is_better)
    elif metric.proportion:
        score = metric.score(y_test, pred, n_classes)
        bound, method = clopper_pearson_bound(int(round(score * n)), n, alpha), "clopper-pearson"
    else:
        score = metric.score(y_test, pred, n_classes)
        bound = bootstrap_bound(metric, y_test, pred, n_classes, alpha, seed)
        method = (
            "bootstrap-bca"
            if n <= BCA_MAX_ROWS
            else "bootstrap-percentile"
            if n <= NORMAL_MIN_ROWS
            else "normal-bootstrap-se"
        )
    met = None if threshold is None else metric.meets(bound, threshold)
    return Certificate(
        metric.name, score, bound, confidence, alpha, look, n, method, threshold, met
    )


def validation_se(
    metric: Metric, y_val: np.ndarray, pred: Prediction, n_classes: int, seed: int = 0
) -> float:
    """Standard error of a validation score: binomial for proportions, bootstrap otherwise."""
    n_val = len(y_val)
    if metric.per_row is not None:  # every row's part, as the certificate will take them
        jackknife = jackknife_estimate(metric, y_val, pred, seed)
        se = jackknife.se if jackknife is not None else math.nan
        return se if math.isfinite(se) else 0.0
    if metric.proportion:
        p = min(max(metric.score(y_val, pred, n_classes), 0.5 / n_val), 1 - 0.5 / n_val)
        return math.sqrt(p * (1 - p) / n_val)
    statistic, vectorized = resample_scorer(metric, y_val, pred, n_classes)
    draws = draw_scores(statistic, vectorized, np.random.default_rng(seed), n_val, 100)
    return float(np.nanstd(draws))


def aim_margin(
    metric: Metric,
    y_val: np.ndarray,
    pred: Prediction,
    n_classes: int,
    n_test: int,
    alpha: float,
    seed: int = 0,
) -> tuple[float, float]:
    """How far past the threshold a validation score should be for the test bound to pass.

    The test bound sits about ``z * se_test`` on the pessimistic side of the test score;
    the validation score of a model stopped the first time it looked good enough is
    optimistic by up to a validation standard error. Returns (margin, se_val).
    """
    n_val = len(y_val)
    z = float(stats.norm.ppf(1.0 - alpha))
    se_val = validation_se(metric, y_val, pred, n_classes, seed)
    se_test = se_val * math.sqrt(n_val / max(n_test, 1))
    extra = 1.0 / max(n_test, 1) if metric.proportion else 0.0  # one row of discreteness
    return z * se_test + se_val + extra, se_val


def best_possible_bound(metric: Metric, n_test: int, alpha: float) -> float | None:
    """The bound a perfect test score would get, where it is known before any look."""
    if metric.proportion:
        return clopper_pearson_bound(n_test, n_test, alpha)
    return None


DEFAULT_TEST_SHARE = 0.2
MAX_TEST_SHARE = 0.35
MIN_TEST_ROWS = 100  # a test split this small gives a wide bound on a metric of many rows


def split_share_for(
    metric: Metric, threshold: float | None, n_rows: int, confidence: float = 0.95
) -> float:
    """The test split's share of the rows, decided from the requirement alone (the
    ``split`` lever; no row of any split is read).

    For a share-of-rows metric (accuracy) a small test split cannot certify a high
    threshold even when the model is good: 69 test rows certify at most 0.950 at the first
    look. The test split grows (up to 35% of the rows) until a test score halfway between
    the threshold and a perfect score would certify; if no share can do that, it takes the
    share that certifies the lowest test score (120 rows at 0.8: 24 test rows need 24 right,
    42 rows need 39, a score of 0.93).

    For other metrics (a silhouette, an rmse, an ROC AUC) the bound's width depends on rows
    not yet read, so the test split takes at least ``MIN_TEST_ROWS`` rows where a fifth of
    the rows would be fewer (up to 35%: 178 rows give 62 test rows, not 36); elsewhere a
    fifth of the rows.
    """
    from learnloop.core import levers

    if not levers.enabled("split"):
        return DEFAULT_TEST_SHARE
    if not metric.proportion:
        share = min(max(MIN_TEST_ROWS / max(n_rows, 1), DEFAULT_TEST_SHARE), MAX_TEST_SHARE)
        return round(share, 2)
    if threshold is None or not metric.greater_is_better or threshold >= 1.0:
        return DEFAULT_TEST_SHARE
    alpha = look_alpha(1.0 - confidence, 1, MAX_LOOKS)
    hoped = (threshold + 1.0) / 2.0

    def certifies(share: float, score: float) -> bool:
        n_test = max(int(round(share * n_rows)), 1)
        return clopper_pearson_bound(int(math.floor(score * n_test)), n_test, alpha) >= threshold

    def lowest_certified(share: float) -> float:
        """The lowest test score that certifies with this share (2 if none does)."""
        n_test = max(int(round(share * n_rows)), 1)
        needed = fewest_right_to_certify(n_test, alpha, threshold)
        return needed / n_test if needed is not None else 2.0

    shares = [
        round(float(s), 2) for s in np.arange(DEFAULT_TEST_SHARE, MAX_TEST_SHARE + 1e-9, 0.01)
    ]
    for share in shares:
        if certifies(share, hoped):
            return share
    lowest = {share: lowest_certified(share) for share in shares}
    best = min(shares, key=lambda share: lowest[share])  # the first of equals: fewest rows
    return best if lowest[best] < lowest[DEFAULT_TEST_SHARE] else DEFAULT_TEST_SHARE


class LookPolicy:
    """How many times the test split may be looked at, and the error rate each look spends.

    With a threshold: up to ``MAX_LOOKS`` looks sharing ``alpha`` (Bonferroni, 60/25/15%),
    or, planned before the run's first look when it comes short of the aim
    (:meth:`plan_early_look`), one look more: 30% for it, 70% shared as before; without a
    threshold: a single look at the full ``alpha``. A look is only worth spending where
    a perfect test score could still pass the threshold (``certifiable``).
    """

    def __init__(self, confidence: float, threshold: float | None, metric: Metric) -> None:
        self.alpha = 1.0 - confidence
        self.threshold = threshold
        self.metric = metric
        self.planned = MAX_LOOKS if threshold is not None else 1

    def alpha_at(self, look: int) -> float:
        """The error rate look number ``look`` (1-based) spends."""
        return look_alpha(self.alpha, look, self.planned)

    @property
    def early_alpha(self) -> float | None:
        """The error rate a first look short of the aim would spend (None: no such plan)."""
        if self.planned != MAX_LOOKS:
            return None
        return look_alpha(self.alpha, 1, len(EARLY_LOOK_SHARES))

    def plan_early_look(self) -> None:
        """Before the run's first look, made short of the aim: plan one look more, the first
        at ``EARLY_SHARE`` of alpha (the plan is recorded with every look, so a resumed
        run keeps it)."""
        if self.planned == MAX_LOOKS:
            self.planned = len(EARLY_LOOK_SHARES)

    def ceiling(self, look: int, n_test: int) -> float | None:
        """The bound a perfect test score would get at this look, where known beforehand."""
        return best_possible_bound(self.metric, n_test, self.alpha_at(look))

    def certifiable(self, look: int, n_test: int) -> bool:
        """Whether a perfect score could still be certified at this look (True if unknown)."""
        if self.threshold is None:
            return True
        if look > self.planned:
            return False
        ceiling = self.ceiling(look, n_test)
        return ceiling is None or self.metric.meets(ceiling, self.threshold)
