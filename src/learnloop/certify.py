"""The certificate: one honest look at the held-out test split.

For metrics that are a share of rows judged right (accuracy) the bound is the exact
one-sided Clopper-Pearson bound; for every other metric it is a one-sided bootstrap bound
(BCa on small test splits, percentile on larger, normal with a bootstrap
standard error on the largest). Looking at the test split more than
once spends the error rate ``alpha = 1 - confidence`` across looks (Bonferroni): look k
uses ``alpha * LOOK_SHARES[k]``, and the shares sum to one, so the chance that *any* "met"
claim is wrong stays <= alpha.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from learnloop.metrics import Metric, Prediction

__all__ = [
    "Certificate",
    "LOOK_SHARES",
    "look_alpha",
    "certify",
    "clopper_pearson_bound",
    "bootstrap_bound",
    "aim_margin",
]

LOOK_SHARES = (0.6, 0.25, 0.15)
BOOTSTRAP_RESAMPLES = 1000
BCA_MAX_ROWS = 2000
NORMAL_MIN_ROWS = 20_000
NORMAL_RESAMPLES = 200


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
    """The error rate spent on look number ``look`` (1-based) of ``planned_looks``."""
    if planned_looks <= 1:
        return alpha
    shares = LOOK_SHARES[:planned_looks]
    shares = tuple(s / sum(shares) for s in shares)
    return alpha * shares[look - 1]


def clopper_pearson_bound(successes: int, n: int, alpha: float) -> float:
    """Exact one-sided lower bound of a proportion at level 1 - alpha."""
    if successes <= 0:
        return 0.0
    return float(stats.beta.ppf(alpha, successes, n - successes + 1))


def bootstrap_bound(
    metric: Metric,
    y: np.ndarray,
    pred: Prediction,
    n_classes: int,
    alpha: float,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> float:
    """One-sided bootstrap bound on the pessimistic side of the metric (SciPy's bootstrap).

    BCa (bias-corrected and accelerated) on up to ``BCA_MAX_ROWS`` rows, where its jackknife
    is affordable and the percentile method's skew bias is largest; percentile beyond; and
    over ``NORMAL_MIN_ROWS`` rows, where the score is near normal, score -/+ z * bootstrap
    standard error (200 resamples instead of 1000 keep a 100k-row certificate fast).
    """
    n = len(y)

    def statistic(idx: np.ndarray) -> float:
        idx = idx.astype(int)
        proba = pred.proba[idx] if pred.proba is not None else None
        return metric.score(y[idx], Prediction(pred.values[idx], proba), n_classes)

    if n > NORMAL_MIN_ROWS:  # large splits: the score is close to normal; bootstrap its spread
        rng = np.random.default_rng(seed)
        draws = [statistic(rng.integers(0, n, n)) for _ in range(NORMAL_RESAMPLES)]
        se = float(np.nanstd(draws, ddof=1))
        z = float(stats.norm.ppf(1.0 - alpha))
        score = metric.score(y, pred, n_classes)
        return score - z * se if metric.greater_is_better else score + z * se

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples (one class) warn and give NaN
        result = stats.bootstrap(
            (np.arange(n, dtype=float),),
            statistic,
            vectorized=False,
            n_resamples=resamples,
            confidence_level=1.0 - alpha,
            alternative="greater" if metric.greater_is_better else "less",
            method="BCa" if n <= BCA_MAX_ROWS else "percentile",
            random_state=seed,
        )
    ci = result.confidence_interval
    bound = ci.low if metric.greater_is_better else ci.high
    if not math.isfinite(bound):  # BCa fails on degenerate data; fall back to percentile
        values = result.bootstrap_distribution
        values = values[np.isfinite(values)]
        if len(values) == 0:
            return math.nan
        bound = float(np.quantile(values, alpha if metric.greater_is_better else 1 - alpha))
    return float(bound)


def certify(
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
    score = metric.score(y_test, pred, n_classes)
    n = len(y_test)
    if metric.proportion:
        correct = int(round(score * n))
        bound, method = clopper_pearson_bound(correct, n, alpha), "clopper-pearson"
    else:
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


def aim_margin(
    metric: Metric,
    y_val: np.ndarray,
    pred: Prediction,
    n_classes: int,
    n_test: int,
    alpha: float,
    seed: int = 0,
) -> float:
    """How far past the threshold a validation score should be for the test bound to pass.

    The test bound sits about ``z * se_test`` on the pessimistic side of the test score;
    the validation score of a model stopped the first time it looked good enough is
    optimistic by up to a validation standard error. The sum is the margin to aim by.
    """
    n_val = len(y_val)
    z = float(stats.norm.ppf(1.0 - alpha))
    if metric.proportion:
        p = min(max(metric.score(y_val, pred, n_classes), 0.5 / n_val), 1 - 0.5 / n_val)
        se_val = math.sqrt(p * (1 - p) / n_val)
        se_test = math.sqrt(p * (1 - p) / max(n_test, 1))
        return z * se_test + se_val + 1.0 / max(n_test, 1)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(100):
        idx = rng.integers(0, n_val, n_val)
        proba = pred.proba[idx] if pred.proba is not None else None
        draws.append(metric.score(y_val[idx], Prediction(pred.values[idx], proba), n_classes))
    se_val = float(np.nanstd(draws))
    se_test = se_val * math.sqrt(n_val / max(n_test, 1))
    return z * se_test + se_val
