"""The shared base of the error functions: :class:`Metric` and the helpers of batch forms.

A metric scores one kind of output (``Metric.scores``: classes, values, clusters or
rankings); a task offers the metrics that score the output it needs, so no metric names a
task. Scorers take what the task encodes (class indices 0..k-1, values, known group codes or
input rows, held-out items per user) and a :class:`Prediction`, and return the metric in its
natural units (accuracy in [0, 1], rmse in target units). Direction says whether larger is
better, so a threshold reads naturally: ``rmse <= 4.0`` and ``accuracy >= 0.9``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from learnloop.core import Output, Prediction
from learnloop.exceptions import UsageError

__all__ = ["Metric", "Prediction", "INF", "ratio", "per_resample_counts"]

INF = math.inf


@dataclass(frozen=True)
class Metric:
    """One error function and the facts the loop and the certificate need about it.

    ``reference`` says what the ``y`` handed to the scorer (and to ``per_row``) holds:

    - ``"targets"`` (every supervised metric, and adjusted_rand / nmi): the encoded known
      targets of the rows (class indices, values, or known group codes with -1 for
      unknown);
    - ``"inputs"`` (internal clustering metrics: silhouette, davies_bouldin,
      calinski_harabasz): the encoded, scaled input rows themselves, a 2-D float array
      with one row per predicted label.
    """

    name: str
    scores: Output  # the kind of output it scores (a task offers the metrics of its own)
    greater_is_better: bool
    low: float
    high: float
    needs_proba: bool
    proportion: bool  # score is a share of rows judged right: exact binomial bound applies
    scorer: Callable[[np.ndarray, Prediction, int], float]
    # the score as a mean of per-row values that depend on each other (silhouette): runs
    # compare pairs these values, and the certificate uses a jackknife (not a bootstrap)
    per_row: Callable[[np.ndarray, Prediction, int], np.ndarray] | None = None
    # what ``y`` holds: "targets" (encoded known targets) or "inputs" (encoded input rows)
    reference: str = "targets"
    # ranking metrics: how many of each user's top items are scored (the k of ``ndcg@k``)
    k: int | None = None
    # the scores of many bootstrap resamples at once, ``rows`` (resamples x draws) holding
    # each one's drawn row indices; equal to ``score`` on each. None, or a None answer
    # (multiclass AUC), means no such form: resamples are scored one by one
    resampled: Callable[[np.ndarray, Prediction, int, np.ndarray], np.ndarray | None] | None = None

    def score(self, y_true: np.ndarray, pred: Prediction, n_classes: int = 0) -> float:
        """Compute the metric of ``pred`` against ``y_true``."""
        return float(self.scorer(np.asarray(y_true), pred, n_classes))

    def meets(self, score: float, threshold: float) -> bool:
        """Whether ``score`` is on the good side of ``threshold`` (ties count as met)."""
        if score is None or math.isnan(score):
            return False
        return score >= threshold if self.greater_is_better else score <= threshold

    def better(self, a: float, b: float | None) -> bool:
        """Whether score ``a`` is strictly better than ``b`` (None counts as worst)."""
        if b is None or math.isnan(b):
            return not math.isnan(a)
        if math.isnan(a):
            return False
        return a > b if self.greater_is_better else a < b

    def to_loss(self, score: float) -> float:
        """Map a score to a value where smaller is always better (for the optimizer)."""
        return -score if self.greater_is_better else score

    def shift(self, threshold: float, margin: float) -> float:
        """Move ``threshold`` by ``margin`` towards the good side (to aim past it)."""
        return threshold + margin if self.greater_is_better else threshold - margin

    def check_threshold(self, threshold: float) -> None:
        """Raise UsageError if ``threshold`` is outside what the metric can take."""
        if not math.isfinite(threshold) or not (self.low <= threshold <= self.high):
            raise UsageError(
                f"The threshold {threshold:g} is outside the range of {self.name}, "
                f"which is {_range_text(self.low, self.high)}."
            )


def _range_text(low: float, high: float) -> str:
    lo = "-inf" if math.isinf(low) else f"{low:g}"
    hi = "inf" if math.isinf(high) else f"{high:g}"
    return f"[{lo}, {hi}]"


# --- resampled forms: one score per row of ``rows`` (resamples x draws, row indices) --------
# Exact rewrites of the scorers over a batch of bootstrap resamples at once, so a
# certificate's thousand resamples cost a few array operations instead of a thousand calls.


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def per_resample_counts(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """How often each code in ``range(n_codes)`` occurs in each row of ``codes``."""
    offsets = np.arange(len(codes), dtype=np.int64)[:, None] * n_codes
    counts = np.bincount((codes + offsets).ravel(), minlength=len(codes) * n_codes)
    return counts.reshape(len(codes), n_codes)  # integers: a float copy cost as much again
