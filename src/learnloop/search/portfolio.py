"""The portfolio order learned from data sets' meta-features (FLAML's zero-shot defaults).

``portfolio.json`` (shipped in the package, written by ``python -m bench.portfolio``) holds,
per benchmark data set, its task kind, its meta-features and the ranking of the task's
portfolio configurations ``(family, index)`` by score per cost: the configurations that
came within a hair of the best validation score, fastest first, then the rest by score.

A new table's order is voted by its nearest stored data sets of the same task kind
(standardised meta-feature distance, the three nearest, a weighted Borda count; an exact
match decides alone). Entries of families that do not serve the task or are not in the
run are dropped, and every entry of the task's fixed ``portfolio_order`` still appears,
after the learned ones. With nothing stored for the task the fixed order is kept.

``$LEARNLOOP_PORTFOLIO_HOLDOUT`` (comma-separated data set names) is for the benchmark:
it leaves those stored entries out, so a data set is never ranked by its own fits.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from learnloop.families import CANDIDATES
from learnloop.tasks import Task

__all__ = ["META_FEATURES", "HOLDOUT_ENV", "meta_features", "learned_order", "load_entries"]

META_FEATURES = (
    "log_rows",
    "log_columns",
    "categorical_share",
    "classes",
    "imbalance",
    "missing_share",
)
HOLDOUT_ENV = "LEARNLOOP_PORTFOLIO_HOLDOUT"
NEIGHBOURS = 3
DISTANCE_SOFTENING = 0.25  # a neighbour's vote weighs 1 / (distance + this)

Pair = tuple[str, int]


def meta_features(X: pd.DataFrame, y: np.ndarray | None, n_classes: int) -> dict[str, float]:
    """Cheap descriptors of a training table (``n_classes`` 0 where there are no classes).

    ``imbalance`` is the rarest class's count over the commonest's (1 balanced, 0 without
    classes); ``categorical_share`` counts columns that are not numeric or boolean.
    """
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X).reshape(len(X), -1))
    n_rows, n_cols = X.shape
    categorical = sum(
        1
        for col in X.columns
        if not (pd.api.types.is_numeric_dtype(X[col]) or pd.api.types.is_bool_dtype(X[col]))
    )
    imbalance = 0.0
    if n_classes > 0 and y is not None and len(y):
        try:
            counts = pd.Series(np.asarray(y)).value_counts()
            imbalance = float(counts.min() / counts.max())
        except TypeError:  # targets that are not labels (a task's own encoding)
            imbalance = 0.0
    cells = n_rows * n_cols
    return {
        "log_rows": math.log10(max(n_rows, 1)),
        "log_columns": math.log10(max(n_cols, 1)),
        "categorical_share": categorical / n_cols if n_cols else 0.0,
        "classes": float(n_classes),
        "imbalance": imbalance,
        "missing_share": float(X.isna().to_numpy().sum() / cells) if cells else 0.0,
    }


@lru_cache(maxsize=1)
def _shipped() -> tuple[dict[str, Any], ...]:
    try:
        text = resources.files("learnloop.search").joinpath("portfolio.json").read_text("utf-8")
    except FileNotFoundError:
        return ()
    return tuple(json.loads(text)["datasets"])


def load_entries() -> list[dict[str, Any]]:
    """The shipped data sets' entries (``name``, ``task``, ``meta``, ``ranking``)."""
    return list(_shipped())


def _holdout() -> set[str]:
    return {n.strip() for n in os.environ.get(HOLDOUT_ENV, "").split(",") if n.strip()}


def learned_order(
    task: Task,
    meta: dict[str, float],
    families: Iterable[str] | None = None,
    *,
    entries: list[dict[str, Any]] | None = None,
) -> list[Pair]:
    """The portfolio order for a table with ``meta``: the neighbours' vote, then the rest.

    ``families`` are the run's candidate families (all that serve the task if None);
    ``entries`` replace the shipped ones (tests).
    """
    allowed = set(families) if families is not None else set(CANDIDATES)

    def usable(pair: Pair) -> bool:
        cand = CANDIDATES.get(pair[0])
        return cand is not None and cand.serves(task) and pair[0] in allowed

    fixed = [(str(f), int(i)) for f, i in task.portfolio_order]
    held = _holdout()
    pool = [
        e
        for e in (load_entries() if entries is None else entries)
        if e.get("task") == task.name and e.get("name") not in held and e.get("ranking")
    ]
    voted = _vote(pool, meta) if pool else []
    order = [p for p in voted if usable(p)]
    order += [p for p in fixed if p not in order and p[0] in allowed]
    return order


def _vote(pool: list[dict[str, Any]], meta: dict[str, float]) -> list[Pair]:
    """Weighted Borda count of the nearest entries' rankings (an exact match decides)."""
    table = np.array([[float(e["meta"].get(k, 0.0)) for k in META_FEATURES] for e in pool])
    query = np.array([float(meta.get(k, 0.0)) for k in META_FEATURES])
    std = table.std(axis=0)
    std[std == 0] = 1.0
    dist = np.linalg.norm((table - query) / std, axis=1)
    nearest = np.argsort(dist, kind="stable")[:NEIGHBOURS]
    rankings = [[(str(f), int(i)) for f, i in pool[j]["ranking"]] for j in nearest]
    if dist[nearest[0]] < 1e-9:
        return rankings[0]
    points: dict[Pair, float] = {}
    first_seen: dict[Pair, int] = {}
    for j, ranking in zip(nearest, rankings, strict=True):
        weight = 1.0 / (dist[j] + DISTANCE_SOFTENING)
        for pos, pair in enumerate(ranking):
            points[pair] = points.get(pair, 0.0) + weight * (len(ranking) - pos)
            first_seen.setdefault(pair, len(first_seen))
    return sorted(points, key=lambda p: (-points[p], first_seen[p]))
