"""Error functions of rankings: ``recall@k``, ``ndcg@k``, ``map@k``, ``precision@k``,
``hit_rate@k`` for any positive ``k``.

``y`` is an object array with one entry per evaluated user: the array of items that user
interacted with in the held-out period (never empty). A Prediction's ``values`` is a 2-D
array (one row per user) of item ids, best first; only the first k columns are scored.
recall@k = hits / held-out items; precision@k = hits / k; hit_rate@k = 1 if any hit;
ndcg@k = DCG of the hits / the DCG of min(held-out, k) hits at the top; map@k = the mean of
precision@i over the ranks i of the hits / min(held-out, k). Each metric averages a per-user
value (``ranking_per_user``), so a bootstrap resample of users is the mean of their values,
found once (``Metric.resampled``) rather than once per resample.
"""

from __future__ import annotations

import math

import numpy as np

from learnloop.core import Output
from learnloop.exceptions import UsageError
from learnloop.metrics._base import Metric, Prediction

__all__ = ["RANKING_METRICS", "parse_ranking", "ranking_metric", "ranking_per_user"]

RANKING_METRICS = ("ndcg", "recall", "map", "precision", "hit_rate")


def parse_ranking(name: str, key: str) -> Metric:
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

    def resampled(y: np.ndarray, p: Prediction, n: int, rows: np.ndarray) -> np.ndarray:
        # a resample of users is the mean of their fixed per-user values: hits found once
        if rows.shape[-1] == 0:
            return np.full(rows.shape[:-1], math.nan)
        return ranking_per_user(base, y, p, k)[rows].mean(axis=-1)

    return Metric(
        f"{base}@{k}",
        Output.RANKINGS,
        True,
        0.0,
        1.0,
        False,
        base == "hit_rate",
        scorer,
        k=k,
        resampled=resampled,
    )
