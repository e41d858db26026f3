"""Error functions: name -> scorer, direction, valid range, and how to bound it.

Scorers take encoded targets (class indices 0..k-1 for classification) and a
:class:`Prediction`; they return the metric in its natural units (accuracy in [0, 1],
rmse in target units). Direction says whether larger is better, so a threshold reads
naturally: ``rmse <= 4.0`` and ``accuracy >= 0.9``.

Clustering metrics (the last section) score predicted cluster labels either against the
rows themselves (``Metric.reference == "inputs"``: silhouette, Davies-Bouldin,
Calinski-Harabasz) or against known group codes (``"targets"``: adjusted Rand, NMI).

Ranking metrics (recommendation: ``recall@k``, ``ndcg@k``, ``map@k``, ``precision@k``,
``hit_rate@k`` for any positive ``k``) score each user's top-k items against the items that
user went on to interact with, and average a per-user value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from learnloop.exceptions import UsageError

__all__ = [
    "Metric",
    "Prediction",
    "METRICS",
    "SILHOUETTE_MAX_ROWS",
    "get_metric",
    "metrics_for_task",
    "ranking_metric",
    "ranking_per_user",
    "RANKING_METRICS",
]


@dataclass(frozen=True)
class Prediction:
    """A model's output on some rows: labels or values, and class probabilities if any."""

    values: np.ndarray
    proba: np.ndarray | None = None


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
    tasks: tuple[str, ...]
    greater_is_better: bool
    low: float
    high: float
    needs_proba: bool
    proportion: bool  # score is a share of rows judged right: exact binomial bound applies
    scorer: Callable[[np.ndarray, Prediction, int], float]
    # the score as a mean of per-row values that depend on each other (silhouette): runs
    # compare pairs these values, and the certificate uses a grouped jackknife (not a bootstrap)
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


def _rmse(y: np.ndarray, p: Prediction, k: int) -> float:
    return float(np.sqrt(np.mean((np.asarray(p.values, float) - y) ** 2)))


def _mae(y: np.ndarray, p: Prediction, k: int) -> float:
    return float(np.mean(np.abs(np.asarray(p.values, float) - y)))


def _r2(y: np.ndarray, p: Prediction, k: int) -> float:
    y = np.asarray(y, float)
    ss_res = float(np.sum((y - np.asarray(p.values, float)) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


# --- resampled forms: one score per row of ``rows`` (resamples x draws, row indices) --------
# Exact rewrites of the scorers above over a batch of bootstrap resamples at once, so a
# certificate's thousand resamples cost a few array operations instead of a thousand calls.


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _per_resample_counts(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """How often each code in ``range(n_codes)`` occurs in each row of ``codes``."""
    offsets = np.arange(len(codes), dtype=np.int64)[:, None] * n_codes
    counts = np.bincount((codes + offsets).ravel(), minlength=len(codes) * n_codes)
    return counts.reshape(len(codes), n_codes)  # integers: a float copy cost as much again


def _r_accuracy(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    return (p.values == y)[rows].mean(axis=1)


def _r_rmse(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    return np.sqrt(((np.asarray(p.values, float) - y) ** 2)[rows].mean(axis=1))


def _r_mae(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    return np.abs(np.asarray(p.values, float) - y)[rows].mean(axis=1)


def _r_r2(y: np.ndarray, p: Prediction, k: int, rows: np.ndarray) -> np.ndarray:
    y = np.asarray(y, float)
    ss_res = ((y - np.asarray(p.values, float)) ** 2)[rows].sum(axis=1)
    drawn = y[rows]
    ss_tot = ((drawn - drawn.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - ss_res / np.where(ss_tot == 0.0, 1.0, ss_tot)
    return np.where(ss_tot == 0.0, np.where(ss_res == 0.0, 1.0, 0.0), r2)


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
    drawn = _per_resample_counts(code[rows], 2 * n_groups).reshape(len(rows), n_groups, 2)
    neg, pos = drawn[:, :, 0], drawn[:, :, 1]
    below = np.cumsum(neg, axis=1) - neg  # negatives in lower groups
    return _ratio(np.sum(pos * (below + 0.5 * neg), axis=1), pos.sum(axis=1) * neg.sum(axis=1))


def _r_confusion(
    y: np.ndarray, p: Prediction, k: int, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: drawn true positives, predicted and true counts (resamples x classes)."""
    code = k * y.astype(np.int64) + np.asarray(p.values).astype(np.int64)  # (truth, said)
    drawn = _per_resample_counts(code[rows], k * k).reshape(len(rows), k, k)
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


_INF = math.inf
_CLS = ("classification", "image", "faces")
_REG = ("regression",)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", _CLS, True, 0.0, 1.0, False, True, _accuracy, resampled=_r_accuracy),
        Metric(
            "balanced_accuracy",
            _CLS,
            True,
            0.0,
            1.0,
            False,
            False,
            _balanced_accuracy,
            resampled=_r_balanced_accuracy,
        ),
        Metric("f1", _CLS, True, 0.0, 1.0, False, False, _f1, resampled=_r_f1),
        Metric("f1_macro", _CLS, True, 0.0, 1.0, False, False, _f1_macro, resampled=_r_f1_macro),
        Metric("roc_auc", _CLS, True, 0.0, 1.0, True, False, _roc_auc, resampled=_r_binary_auc),
        Metric("log_loss", _CLS, False, 0.0, _INF, True, False, _log_loss, resampled=_r_log_loss),
        Metric("rmse", _REG, False, 0.0, _INF, False, False, _rmse, resampled=_r_rmse),
        Metric("mae", _REG, False, 0.0, _INF, False, False, _mae, resampled=_r_mae),
        Metric("r2", _REG, True, -_INF, 1.0, False, False, _r2, resampled=_r_r2),
    ]
}


def get_metric(name: str, task: str | None = None) -> Metric:
    """Look up a metric by name, checking that it suits ``task`` when given.

    Ranking metrics take any positive ``k`` after an ``@`` (``recall@20``, ``ndcg@5``).
    """
    key = str(name).strip().lower()
    if "@" in key:
        metric = _parse_ranking(name, key)
    elif key not in METRICS:
        raise UsageError(f"Unknown metric '{name}'; choose one of: {', '.join(sorted(METRICS))}.")
    else:
        metric = METRICS[key]
    if task is not None and task not in metric.tasks:
        suitable = ", ".join(metrics_for_task(task)) or "none"
        raise UsageError(
            f"The metric '{metric.name}' does not apply to {task}; use one of: {suitable}."
        )
    return metric


def metrics_for_task(task: str) -> list[str]:
    """Names of the metrics that apply to ``task``."""
    return [m.name for m in METRICS.values() if task in m.tasks]


# --- Clustering --------------------------------------------------------------------------
#
# Predictions are integer cluster labels. The noise label -1 (HDBSCAN) counts as one more
# cluster for the internal metrics (silhouette, davies_bouldin, calinski_harabasz): noise
# rows are scored like any other group, so a model that calls much of the data noise pays
# for it. A labelling is degenerate when it has fewer than 2 distinct labels or as many
# labels as rows; internal metrics then return their worst value instead of raising.
# adjusted_rand and nmi ignore rows whose known group code is -1 (unknown).

SILHOUETTE_MAX_ROWS = 2000
_CLU = ("clustering",)


def _labels(p: Prediction) -> np.ndarray:
    return np.asarray(p.values).astype(int, copy=False).ravel()


def _inputs(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if len(X) != len(labels):
        raise ValueError(
            f"A clustering metric got {len(X)} input rows for {len(labels)} predicted labels."
        )
    return X


def _degenerate(labels: np.ndarray) -> bool:
    n_labels = len(np.unique(labels))
    return n_labels < 2 or n_labels >= len(labels)


def _silhouette_rows(X: np.ndarray, p: Prediction, k: int) -> np.ndarray:
    """Silhouette of each row, on a seeded sample of SILHOUETTE_MAX_ROWS rows when larger."""
    labels = _labels(p)
    X = _inputs(X, labels)
    if len(labels) > SILHOUETTE_MAX_ROWS:
        rows = np.random.default_rng(0).choice(len(labels), SILHOUETTE_MAX_ROWS, replace=False)
        rows.sort()
        X, labels = X[rows], labels[rows]
    if _degenerate(labels):
        return np.full(len(labels), -1.0)
    return np.asarray(skm.silhouette_samples(X, labels), dtype=float)


def _silhouette(X: np.ndarray, p: Prediction, k: int) -> float:
    values = _silhouette_rows(X, p, k)
    return float(np.mean(values)) if len(values) else -1.0


def _davies_bouldin(X: np.ndarray, p: Prediction, k: int) -> float:
    labels = _labels(p)
    X = _inputs(X, labels)
    if _degenerate(labels):
        return math.inf
    return float(skm.davies_bouldin_score(X, labels))


def _calinski_harabasz(X: np.ndarray, p: Prediction, k: int) -> float:
    labels = _labels(p)
    X = _inputs(X, labels)
    if _degenerate(labels):
        return 0.0
    return float(skm.calinski_harabasz_score(X, labels))


def _known(y: np.ndarray, p: Prediction) -> tuple[np.ndarray, np.ndarray]:
    """Known group codes and the predicted labels of the rows whose group is known."""
    codes = np.asarray(y).ravel()
    labels = _labels(p)
    known = codes >= 0
    return codes[known].astype(int), labels[known]


def _adjusted_rand(y: np.ndarray, p: Prediction, k: int) -> float:
    codes, labels = _known(y, p)
    if len(codes) == 0:  # no row with a known group: nothing to agree with
        return -0.5
    return float(skm.adjusted_rand_score(codes, labels))


def _nmi(y: np.ndarray, p: Prediction, k: int) -> float:
    codes, labels = _known(y, p)
    if len(codes) == 0:
        return 0.0
    return float(skm.normalized_mutual_info_score(codes, labels))


METRICS.update(
    {
        m.name: m
        for m in [
            Metric(
                "silhouette",
                _CLU,
                True,
                -1.0,
                1.0,
                False,
                False,
                _silhouette,
                per_row=_silhouette_rows,
                reference="inputs",
            ),
            Metric(
                "davies_bouldin",
                _CLU,
                False,
                0.0,
                _INF,
                False,
                False,
                _davies_bouldin,
                reference="inputs",
            ),
            Metric(
                "calinski_harabasz",
                _CLU,
                True,
                0.0,
                _INF,
                False,
                False,
                _calinski_harabasz,
                reference="inputs",
            ),
            Metric("adjusted_rand", _CLU, True, -0.5, 1.0, False, False, _adjusted_rand),
            Metric("nmi", _CLU, True, 0.0, 1.0, False, False, _nmi),
        ]
    }
)


# --- Recommendation ----------------------------------------------------------------------
#
# ``y`` is an object array with one entry per evaluated user: the array of items that user
# interacted with in the held-out period (never empty). A Prediction's ``values`` is a 2-D
# array (one row per user) of item ids, best first; only the first k columns are scored.
# recall@k = hits / held-out items; precision@k = hits / k; hit_rate@k = 1 if any hit;
# ndcg@k = DCG of the hits / the DCG of min(held-out, k) hits at the top; map@k = the mean of
# precision@i over the ranks i of the hits / min(held-out, k).

RANKING_METRICS = ("ndcg", "recall", "map", "precision", "hit_rate")
_REC = ("recommendation",)


def _parse_ranking(name: str, key: str) -> Metric:
    base, _, k_text = key.partition("@")
    if base not in RANKING_METRICS:
        raise UsageError(
            f"Unknown metric '{name}'; ranking metrics are {', '.join(RANKING_METRICS)} "
            "followed by @k (e.g. ndcg@10)."
        )
    if not k_text.isdigit() or int(k_text) <= 0:
        raise UsageError(
            f"The k of '{name}' must be a positive whole number of items (e.g. {base}@10)."
        )
    return ranking_metric(base, int(k_text))


def _hits(y: np.ndarray, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(hits, held-out counts): hits[u, j] says whether user u's j-th item was held out."""
    vals = np.asarray(values)
    if vals.ndim == 1:
        vals = np.asarray([np.asarray(v) for v in vals])
    n = len(y)
    vals = vals.reshape(n, -1)[:, :k]
    width = vals.shape[1]
    rows = [np.asarray(r).ravel() for r in y]
    lens = np.fromiter((len(r) for r in rows), dtype=np.int64, count=n)
    if n == 0 or width == 0:
        return np.zeros((n, width), dtype=bool), lens
    flat = np.concatenate(rows)
    a, b = _common_codes(flat, vals.ravel())
    span = int(max(a.max(initial=0), b.max(initial=0))) + 1
    key_y = np.repeat(np.arange(n, dtype=np.int64), lens) * span + a
    key_p = np.repeat(np.arange(n, dtype=np.int64), width) * span + b
    return np.isin(key_p, key_y).reshape(n, width), lens


def _common_codes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative integer codes of two arrays of item ids, equal where the ids are."""
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and len(a) and len(b):
        low = min(int(a.min()), int(b.min()))
        high = max(int(a.max()), int(b.max()))
        if high - low < 2**31:
            return a.astype(np.int64) - low, b.astype(np.int64) - low
    import pandas as pd

    both = np.concatenate([a.astype(str), b.astype(str)])
    codes = pd.factorize(both)[0].astype(np.int64)
    return codes[: len(a)], codes[len(a) :]


def ranking_per_user(base: str, y: np.ndarray, p: Prediction, k: int) -> np.ndarray:
    """Each user's value of the ranking metric ``base`` (ndcg, recall, ...) at ``k``."""
    hits, lens = _hits(y, p.values, k)
    h = hits.astype(float)
    if base == "hit_rate":
        return h.max(axis=1, initial=0.0)
    if base == "precision":
        return h.sum(axis=1) / k
    if base == "recall":
        return h.sum(axis=1) / np.maximum(lens, 1)
    best = np.minimum(np.maximum(lens, 1), k)
    if base == "map":
        ranks = np.arange(1, h.shape[1] + 1)
        return (np.cumsum(h, axis=1) / ranks * h).sum(axis=1) / best
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (h * discounts[: h.shape[1]]).sum(axis=1)
    return dcg / np.cumsum(discounts)[best - 1]


def ranking_metric(base: str, k: int) -> Metric:
    """The ranking metric ``base@k`` (a share of users judged right for hit_rate)."""

    def scorer(y: np.ndarray, p: Prediction, n: int) -> float:
        values = ranking_per_user(base, y, p, k)
        return float(values.mean()) if len(values) else math.nan

    return Metric(
        f"{base}@{k}",
        _REC,
        True,
        0.0,
        1.0,
        False,
        base == "hit_rate",
        scorer,
        k=k,
    )


METRICS.update({f"{base}@10": ranking_metric(base, 10) for base in RANKING_METRICS})
