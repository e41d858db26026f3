"""Error functions of classes: accuracy, balanced accuracy, F1, ROC AUC and log loss.

``y`` holds class indices 0..k-1; a :class:`Prediction` holds the predicted indices and,
for ``roc_auc`` and ``log_loss``, a probability per class. Accuracy is a share of rows
judged right, so its certificate is an exact binomial bound. Each has a batch form over
bootstrap resamples (``Metric.resampled``), equal to the scorer on every resample.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from learnloop.core import Output
from learnloop.metrics._base import INF, Metric, Prediction, per_resample_counts, ratio

__all__ = ["CLASS_METRICS"]


def _accuracy(y: np.ndarray, p: Prediction, k: int) -> float:
    return float(np.mean(p.values == y)) if len(y) else math.nan


def _balanced_accuracy(y: np.ndarray, p: Prediction, k: int) -> float:
    return float(skm.balanced_accuracy_score(y, p.values))


def _f1(y: np.ndarray, p: Prediction, k: int) -> float:
    if k <= 2:
        return float(skm.f1_score(y, p.values, pos_label=1, average="binary", zero_division=0))
    return _f1_macro(y, p, k)


def _f1_macro(y: np.ndarray, p: Prediction, k: int) -> float:
    labels = list(range(max(k, 2)))
    return float(skm.f1_score(y, p.values, labels=labels, average="macro", zero_division=0))


def _roc_auc(y: np.ndarray, p: Prediction, k: int) -> float:
    proba = _require_proba(p)
    if k <= 2:
        return _binary_auc(y, proba[:, 1])  # NaN unless both classes are present
    present = np.unique(y)
    if len(present) < 2:
        return math.nan
    if len(present) < k:  # ovr macro over the classes present in this sample
        sub = proba[:, present]
        sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-15, None)
        remap = np.searchsorted(present, y)
        if len(present) == 2:
            return float(skm.roc_auc_score(remap, sub[:, 1]))
        return float(skm.roc_auc_score(remap, sub, multi_class="ovr", average="macro"))
    return float(skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))


def _binary_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (ties count half).

    One unstable sort and a few linear passes: each positive is credited with the negatives
    below its tie group plus half of those in it. SciPy's ``rankdata`` (a stable sort) took
    four times as long, and a search scores a large validation split hundreds of times.
    """
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(score)
    ranked, positive = score[order], positive[order]
    negatives_upto = np.cumsum(~positive)  # negatives at or below each position
    tied = ranked[1:] == ranked[:-1]
    if not tied.any():
        return float(negatives_upto[positive].sum() / (n_pos * n_neg))
    starts = np.flatnonzero(np.append(True, ~tied))  # each tie group's first position
    ends = np.flatnonzero(np.append(~tied, True))  # ... and last
    below = np.where(starts > 0, negatives_upto[starts - 1], 0)
    credit = below + 0.5 * (negatives_upto[ends] - below)
    group = np.repeat(np.arange(len(starts)), ends - starts + 1)
    return float(credit[group][positive].sum() / (n_pos * n_neg))


def _log_loss(y: np.ndarray, p: Prediction, k: int) -> float:
    proba = np.clip(_require_proba(p), 1e-15, 1.0)
    picked = proba[np.arange(len(y)), y.astype(int)]
    return float(-np.mean(np.log(picked)))


def _r_accuracy(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    return (p.values == y)[rows].mean(axis=1)


def _r_log_loss(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    proba = np.clip(_require_proba(p), 1e-15, 1.0)
    return (-np.log(proba[np.arange(len(y)), y.astype(int)]))[rows].mean(axis=1)


def _r_binary_auc(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray | None:
    """Mann-Whitney with ties counted half: positives' weight times negatives ranked below."""
    if k > 2:
        return None  # one-vs-rest over the classes each resample holds: scored one by one
    score = _require_proba(p)[:, 1]
    _values, group = np.unique(score, return_inverse=True)  # tied scores share a group
    n_groups = len(_values)
    code = 2 * group.ravel() + (y == 1)  # (score group, positive?) of every row
    drawn = per_resample_counts(code[rows], 2 * n_groups).reshape(len(rows), n_groups, 2)
    neg, pos = drawn[:, :, 0], drawn[:, :, 1]
    below = np.cumsum(neg, axis=1) - neg  # negatives in lower groups
    return ratio(np.sum(pos * (below + 0.5 * neg), axis=1), pos.sum(axis=1) * neg.sum(axis=1))


def _r_confusion(
    y: np.ndarray, p: Prediction, k: int, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: drawn true positives, predicted and true counts (resamples x classes)."""
    code = k * y.astype(np.int64) + np.asarray(p.values).astype(np.int64)  # (truth, said)
    drawn = per_resample_counts(code[rows], k * k).reshape(len(rows), k, k)
    return np.diagonal(drawn, axis1=1, axis2=2), drawn.sum(axis=1), drawn.sum(axis=2)


def _r_f1_per_class(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    tp, said, true = _r_confusion(y, p, max(k, 2), rows)
    den = said + true
    return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)  # zero_division=0


def _r_f1(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    if k > 2:
        return _r_f1_macro(y, p, k, rows)
    return _r_f1_per_class(y, p, k, rows)[:, 1]


def _r_f1_macro(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    return _r_f1_per_class(y, p, k, rows).mean(axis=1)


def _r_balanced_accuracy(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present in the resample (as scikit-learn's)."""
    labels = int(max(np.max(y), np.max(p.values))) + 1 if len(y) else 2
    tp, _said, true = _r_confusion(y, p, max(k, labels, 2), rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(true > 0, tp / np.where(true > 0, true, 1), np.nan)
        return np.nanmean(recall, axis=1)


def _require_proba(p: Prediction) -> np.ndarray:
    if p.proba is None:
        raise ValueError("This metric needs class probabilities.")
    return p.proba


_C = Output.CLASSES
CLASS_METRICS: list[Metric] = [
    Metric("accuracy", _C, True, 0.0, 1.0, False, True, _accuracy, resampled=_r_accuracy),
    Metric(
        "balanced_accuracy",
        _C,
        True,
        0.0,
        1.0,
        False,
        False,
        _balanced_accuracy,
        resampled=_r_balanced_accuracy,
    ),
    Metric("f1", _C, True, 0.0, 1.0, False, False, _f1, resampled=_r_f1),
    Metric("f1_macro", _C, True, 0.0, 1.0, False, False, _f1_macro, resampled=_r_f1_macro),
    Metric("roc_auc", _C, True, 0.0, 1.0, True, False, _roc_auc, resampled=_r_binary_auc),
    Metric("log_loss", _C, False, 0.0, INF, True, False, _log_loss, resampled=_r_log_loss),
]
