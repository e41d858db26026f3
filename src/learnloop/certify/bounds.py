"""How far a score on test rows may sit from the model's true score: bounds and intervals.

Most metrics (a share of rows judged right aside, which ``certify`` bounds exactly) are
bounded by resampling the test rows: SciPy's BCa bootstrap up to ``BCA_MAX_ROWS`` rows,
where its jackknife is affordable and the percentile method's skew bias is largest; the
percentile bootstrap beyond; and over ``NORMAL_MIN_ROWS`` rows, where the score is near
normal, score -/+ z bootstrap standard errors (200 resamples instead of 1000 keep a
100k-row certificate fast).

Two kinds of clustering score get a jackknife instead (``jackknife_estimate``):

* the silhouette, whose per-row parts depend on each other (``Metric.per_row``): a
  resample puts copies of a row beside it; ``learnloop.certify.silhouette`` leaves each row
  out instead, on every test row;
* the adjusted Rand index and NMI, scores of the (known group x cluster) table: their
  small-sample bias (NMI: +0.02 on 200 rows of ``bench/bounds.py``'s population) put the
  BCa bound above the true value 10% of the time. The delete-one jackknife corrects the
  bias and, on an arcsine-square-root scale of the metric's range (where the score is
  nearer normal), covered 95.2% over 20,300 simulations on 200 to 20,000 rows
  (``bench/BOUNDS_RESULTS.md``).

Score -/+ t(df) jackknife standard errors is the bound. The one-sided bound is the
certificate's; the two-sided interval is what ``runs compare`` shows beside it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from learnloop.certify import silhouette
from learnloop.metrics import Metric, Prediction
from learnloop.metrics.clusters_resampled import CLUSTER_RESAMPLED, TABLE_SCORES, leave_one_out

__all__ = [
    "bootstrap_bound",
    "bootstrap_interval",
    "mean_interval",
    "resample_scorer",
    "draw_scores",
    "Jackknife",
    "jackknife_estimate",
    "BOOTSTRAP_RESAMPLES",
    "BCA_MAX_ROWS",
    "NORMAL_MIN_ROWS",
]

BOOTSTRAP_RESAMPLES = 1000
BCA_MAX_ROWS = 2000
NORMAL_MIN_ROWS = 20_000
NORMAL_RESAMPLES = 200
RESAMPLE_CELLS = 4_000_000  # resamples x rows scored in one batch (32 MB of weights)


def bootstrap_bound(
    metric: Metric,
    y: np.ndarray,
    pred: Prediction,
    n_classes: int,
    alpha: float,
    seed: int = 0,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> float:
    """One-sided bound at level ``1 - alpha`` on the pessimistic side of the metric."""
    jackknife = jackknife_estimate(metric, y, pred, seed)
    if jackknife is not None:
        return jackknife.bound(alpha, metric.greater_is_better)
    side = "greater" if metric.greater_is_better else "less"
    low, high = _resampled(metric, y, pred, n_classes, (1.0 - alpha, side), seed, resamples)
    return low if metric.greater_is_better else high


def bootstrap_interval(
    metric: Metric,
    y: np.ndarray,
    pred: Prediction,
    n_classes: int,
    confidence: float,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Two-sided interval of the metric at ``confidence`` (None if no resample scores)."""
    jackknife = jackknife_estimate(metric, y, pred, seed)
    if jackknife is not None:
        return jackknife.interval(confidence)
    levels = (confidence, "two-sided")
    return _finite(*_resampled(metric, y, pred, n_classes, levels, seed, BOOTSTRAP_RESAMPLES))


def mean_interval(
    values: np.ndarray, confidence: float, seed: int = 0
) -> tuple[float, float] | None:
    """Two-sided bootstrap interval of the mean of independent per-row values (a ranking
    metric's per-user values; the silhouette's jackknife pseudo-values)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0])
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=BOOTSTRAP_RESAMPLES,
        batch=_batch_size(len(values)),
        confidence_level=confidence,
        method="BCa" if len(values) <= BCA_MAX_ROWS else "percentile",
        random_state=seed,
    )
    return _finite(result.confidence_interval.low, result.confidence_interval.high)


def _finite(low: float, high: float) -> tuple[float, float] | None:
    return (float(low), float(high)) if math.isfinite(low) and math.isfinite(high) else None


def _resampled(
    metric: Metric,
    y: np.ndarray,
    pred: Prediction,
    n_classes: int,
    levels: tuple[float, str],
    seed: int,
    resamples: int,
) -> tuple[float, float]:
    """(low, high) of a bootstrap interval at ``levels`` = (confidence, SciPy alternative):
    BCa, percentile or normal by the number of rows, as the module says."""
    n = len(y)
    level, side = levels
    statistic, vectorized = resample_scorer(metric, y, pred, n_classes)
    if n > NORMAL_MIN_ROWS:  # large splits: the score is close to normal; bootstrap its spread
        draws = draw_scores(statistic, vectorized, np.random.default_rng(seed), n, NORMAL_RESAMPLES)
        tail = 1.0 - level if side != "two-sided" else (1.0 - level) / 2
        half = float(stats.norm.ppf(1.0 - tail)) * float(np.nanstd(draws, ddof=1))
        score = metric.score(y, pred, n_classes)
        return (
            score - half if side != "less" else -math.inf,
            score + half if side != "greater" else math.inf,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate resamples (one class) warn and give NaN
        result = stats.bootstrap(
            (np.arange(n, dtype=np.int64 if vectorized else float),),
            statistic,
            vectorized=vectorized,
            batch=_batch_size(n) if vectorized else None,
            n_resamples=resamples,
            confidence_level=level,
            alternative=side,
            method="BCa" if n <= BCA_MAX_ROWS else "percentile",
            random_state=seed,
        )
    low, high = result.confidence_interval.low, result.confidence_interval.high
    wanted = [v for v, other in ((low, "less"), (high, "greater")) if side != other]
    if not all(math.isfinite(v) for v in wanted):  # BCa fails on degenerate data: percentile
        values = result.bootstrap_distribution
        values = values[np.isfinite(values)]
        if len(values) == 0:
            return math.nan, math.nan
        tail = 1.0 - level if side != "two-sided" else (1.0 - level) / 2
        q_low, q_high = np.quantile(values, [tail, 1.0 - tail])
        low = q_low if side != "less" else -math.inf
        high = q_high if side != "greater" else math.inf
    return float(low), float(high)


def _batch_size(n: int) -> int:
    return max(1, RESAMPLE_CELLS // max(n, 1))


def resample_scorer(
    metric: Metric, y: np.ndarray, pred: Prediction, n_classes: int
) -> tuple[Callable[..., Any], bool]:
    """The score of resampled row indices, and whether it takes a batch of them at once.

    Metrics with a resampled form (``Metric.resampled``, or the clustering metrics' in
    ``learnloop.metrics.clusters_resampled``) score a batch of resamples (rows of an index array)
    in a few array operations; the others one by one.
    """
    n = len(y)
    resampled = metric.resampled or CLUSTER_RESAMPLED.get(metric.name)
    if resampled is not None and resampled(y, pred, n_classes, np.zeros((1, n), int)) is None:
        resampled = None
    if resampled is not None:
        batched = resampled

        def batch(idx: np.ndarray, axis: int = -1) -> np.ndarray:
            rows = np.asarray(idx).astype(np.int64, copy=False)
            flat = rows.reshape(-1, rows.shape[-1])
            scores = batched(y, pred, n_classes, flat)
            return np.asarray(scores, float).reshape(rows.shape[:-1])

        return batch, True

    def one(idx: np.ndarray) -> float:
        rows = idx.astype(int)
        proba = pred.proba[rows] if pred.proba is not None else None
        return metric.score(y[rows], Prediction(pred.values[rows], proba), n_classes)

    return one, False


def draw_scores(
    statistic: Callable[..., Any], vectorized: bool, rng: np.random.Generator, n: int, draws: int
) -> np.ndarray:
    """Scores of ``draws`` bootstrap resamples of ``n`` rows."""
    if not vectorized:
        return np.array([statistic(rng.integers(0, n, n)) for _ in range(draws)], float)
    size = _batch_size(n)
    parts = [
        statistic(rng.integers(0, n, (min(size, draws - start), n)))
        for start in range(0, draws, size)
    ]
    return np.concatenate(parts)


@dataclass(frozen=True)
class Jackknife:
    """A score; its bias-corrected value and standard error on a working scale, where the
    score is nearer normal (arcsine-square-root of its place in ``[low, high]``, or the
    score itself where ``low`` is None); the t distribution's degrees of freedom."""

    score: float
    center: float
    se: float
    df: int
    low: float | None = None
    high: float | None = None

    def _back(self, z: float) -> float:
        if self.low is None or self.high is None:
            return z
        return self.low + (self.high - self.low) * math.sin(min(max(z, 0.0), math.pi / 2)) ** 2

    def bound(self, alpha: float, greater_is_better: bool) -> float:
        """One-sided bound at level ``1 - alpha`` on the pessimistic side."""
        if not math.isfinite(self.se):
            return math.nan
        step = float(stats.t.ppf(1.0 - alpha, self.df)) * self.se
        if greater_is_better:  # never past the score itself, whatever the bias correction
            return min(self._back(self.center - step), self.score)
        return max(self._back(self.center + step), self.score)

    def interval(self, confidence: float) -> tuple[float, float] | None:
        half = float(stats.t.ppf(0.5 + confidence / 2, self.df)) * self.se
        return _finite(self._back(self.center - half), self._back(self.center + half))


def _to_working(x: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.arcsin(np.sqrt(np.clip((np.asarray(x, float) - low) / (high - low), 0.0, 1.0)))


def jackknife_estimate(
    metric: Metric, y: np.ndarray, pred: Prediction, seed: int = 0
) -> Jackknife | None:
    """The jackknife of the metrics the module names (None for the others)."""
    if metric.per_row is not None:
        if metric.reference != "inputs":
            raise ValueError(f"No jackknife is written for the per-row parts of {metric.name}.")
        est = silhouette.estimate(y, pred.values, seed)
        return Jackknife(est.score, est.score, est.se, est.df)
    if metric.name not in TABLE_SCORES:
        return None
    score, left_out, counts = leave_one_out(metric.name, y, pred)
    n = float(counts.sum())
    if n < 2:
        return Jackknife(score, math.nan, math.nan, 1)
    low, high = metric.low, metric.high
    whole, parts = _to_working(np.array([score]), low, high)[0], _to_working(left_out, low, high)
    pseudo = n * whole - (n - 1) * parts  # one pseudo-value per cell, held by ``counts`` rows
    center = float(np.sum(counts * pseudo) / n)
    var = float(np.sum(counts * (pseudo - center) ** 2) / (n - 1) / n)
    return Jackknife(score, center, math.sqrt(var), int(n) - 1, low, high)
