"""The report's statistics: drift between splits, intervals, tests between models.

* **Drift.** Each input column of the validation and test splits against the training
  split: Kolmogorov-Smirnov for numbers (and dates), chi-square on the category counts for
  categories, Kolmogorov-Smirnov on the number of words for free text. Many columns mean
  many tests: the table flags p < 0.01 and says so.
* **Intervals.** A percentile bootstrap of the rows, or, for silhouette, adjusted Rand and
  NMI, the certificate's jackknife (``learnloop.certify.bounds``).
* **Models on one split.** Two models: McNemar's test (labels) or Wilcoxon's signed-rank
  test on per-row errors (values, per-row scores), the same tests ``runs compare`` uses.
  Several: Friedman's test on the per-row losses, then every pair by the two-model test
  with Holm's correction for multiple comparisons.
* **Ranks across data sets** (the benchmark): Friedman's test and the Nemenyi critical
  difference of Demšar (2006).
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from learnloop.certify import jackknife_estimate
from learnloop.metrics import Metric, Prediction

__all__ = [
    "drift",
    "bootstrap_interval",
    "metric_interval",
    "compare_on_split",
    "row_losses",
    "reading",
    "friedman_ranks",
]

BOOTSTRAP = 300
DRIFT_ALPHA = 0.01


def drift(train: pd.DataFrame, other: pd.DataFrame) -> dict[str, tuple[str, float]]:
    """Per column of both: (test name, p-value) of ``other`` coming from the same law."""
    from scipy.stats import chi2_contingency, ks_2samp

    out: dict[str, tuple[str, float]] = {}
    for col in train.columns:
        if col not in other.columns:  # recommendation's held-out parts hold only the users
            continue
        a, b = train[col], other[col]
        if pd.api.types.is_datetime64_any_dtype(a):
            a, b = a.astype("int64"), b.astype("int64")
        if isinstance(a.dtype, pd.StringDtype):  # free text: each row's number of words
            a, b = a.str.split().str.len(), b.str.split().str.len()
        if pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a):
            x, y = a.dropna().to_numpy(float), b.dropna().to_numpy(float)
            if len(x) and len(y):
                out[col] = ("KS", float(ks_2samp(x, y).pvalue))
            continue
        table = pd.crosstab(
            pd.concat([a.astype(str), b.astype(str)], ignore_index=True),
            np.r_[np.zeros(len(a)), np.ones(len(b))],
        )
        table = table[(table.sum(axis=1) > 0)]
        if len(table) < 2:
            out[col] = ("chi-square", 1.0)
            continue
        out[col] = ("chi-square", float(chi2_contingency(table.to_numpy()).pvalue))
    return out


def bootstrap_interval(
    score: Any, n: int, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``score(rows)`` over ``n`` rows resampled."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(BOOTSTRAP):
        v = score(rng.integers(0, n, n))
        if v is not None and math.isfinite(v):
            values.append(v)
    if len(values) < BOOTSTRAP // 2:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def metric_interval(
    metric: Metric, y: np.ndarray, pred: Prediction, n_classes: int, confidence: float = 0.95
) -> tuple[float, float] | None:
    """An interval of ``metric`` on these rows: the certificate's jackknife where the metric
    has one (silhouette, adjusted Rand, NMI), else a percentile bootstrap of the rows."""
    jackknife = jackknife_estimate(metric, y, pred)
    if jackknife is not None:
        return jackknife.interval(confidence)

    def score(rows: np.ndarray) -> float:
        proba = None if pred.proba is None else pred.proba[rows]
        return metric.score(y[rows], Prediction(pred.values[rows], proba), n_classes)

    return bootstrap_interval(score, len(y), confidence)


def row_losses(outcomes: dict[str, Any]) -> np.ndarray:
    """Per-row losses from a task's outcomes: 0/1 errors, absolute errors, minus scores."""
    kind = outcomes["kind"]
    if kind == "labels":
        return (np.asarray(outcomes["y"]) != np.asarray(outcomes["pred"])).astype(float)
    if kind == "values":
        return np.abs(np.asarray(outcomes["y"]) - np.asarray(outcomes["pred"]))
    if kind == "scores":
        return -np.asarray(outcomes["scores"], dtype=float)
    raise ValueError(f"Outcomes of kind {kind!r} have no per-row loss.")


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p times
    (m - i), made non-decreasing, at most 1 (statsmodels' ``multipletests(method="holm")``)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    steps = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(steps, 1.0)
    return [float(x) for x in adjusted]


def compare_on_split(names: list[str], outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Friedman over all models (when more than two) and each pair's test, Holm-corrected."""
    from learnloop.store.experiments import paired_test

    omnibus = None
    if len(names) > 2:
        from scipy.stats import friedmanchisquare

        losses = [row_losses(o) for o in outcomes]
        if all(np.allclose(losses[0], x) for x in losses[1:]):
            omnibus = {"name": "Friedman", "statistic": 0.0, "p_value": 1.0}
        else:
            res = friedmanchisquare(*losses)
            omnibus = {"name": "Friedman", "statistic": float(res.statistic),
                       "p_value": float(res.pvalue)}  # fmt: skip
    pairs = []
    for (i, a), (j, b) in combinations(enumerate(names), 2):
        pairs.append({**paired_test(outcomes[i], outcomes[j], [a, b])})
    ps = [p["p_value"] for p in pairs if p["p_value"] is not None]
    if len(ps) > 1:
        adjusted = iter(holm(ps))
        for p in pairs:
            if p["p_value"] is not None:
                p["p_holm"] = float(next(adjusted))
    else:
        for p in pairs:
            p["p_holm"] = p["p_value"]
    return {"omnibus": omnibus, "pairs": pairs}


def reading(p: float | None, a: str, b: str, better: str | None, alpha: float = 0.05) -> str:
    """One line in plain words for a test of ``a`` against ``b``."""
    if p is None:
        return "No test: the outcomes do not pair up."
    if p < alpha:
        lead = f"{better} is better" if better else "they differ"
        return f"{a} and {b} differ beyond chance (p = {p:.3g} < {alpha}): {lead}."
    return (
        f"No evidence that {a} and {b} differ (p = {p:.3g} ≥ {alpha}); "
        "the difference may be chance."
    )


def friedman_ranks(scores: pd.DataFrame, greater_is_better: bool, alpha: float = 0.05) -> dict:
    """Systems (columns) ranked on data sets (rows): mean ranks, Friedman p, Nemenyi CD."""
    from scipy.stats import friedmanchisquare, studentized_range

    ranks = (-scores if greater_is_better else scores).rank(axis=1, method="average")
    n, k = scores.shape
    p = None
    if k > 2 and n > 1:
        p = float(friedmanchisquare(*[scores[c].to_numpy() for c in scores.columns]).pvalue)
    q = float(studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    cd = q * math.sqrt(k * (k + 1) / (6.0 * n))
    return {"avg_ranks": ranks.mean().to_dict(), "p_value": p, "cd": cd, "n": n, "k": k}
