"""Error functions: name -> scorer, direction, valid range, the output it scores, its bound.

One module per kind of output: :mod:`~learnloop.metrics.classes`,
:mod:`~learnloop.metrics.values`, :mod:`~learnloop.metrics.clusters` and
:mod:`~learnloop.metrics.rankings`, on the shared :class:`Metric` of ``_base``. Each metric
says which output it scores (``Metric.scores``); a task offers :func:`metrics_for` its own
output and refuses the others (``Task.metric``), so nothing here knows a task's name.
"""

from __future__ import annotations

from learnloop.core import Output
from learnloop.exceptions import UsageError
from learnloop.metrics._base import Metric, Prediction
from learnloop.metrics.classes import CLASS_METRICS
from learnloop.metrics.clusters import CLUSTER_METRICS, SILHOUETTE_MAX_ROWS
from learnloop.metrics.rankings import (
    RANKING_METRICS,
    parse_ranking,
    ranking_metric,
    ranking_per_user,
)
from learnloop.metrics.values import VALUE_METRICS

__all__ = [
    "Metric",
    "Prediction",
    "METRICS",
    "SILHOUETTE_MAX_ROWS",
    "get_metric",
    "metrics_for",
    "ranking_metric",
    "ranking_per_user",
    "RANKING_METRICS",
]

METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        *CLASS_METRICS,
        *VALUE_METRICS,
        *CLUSTER_METRICS,
        *(ranking_metric(base, 10) for base in RANKING_METRICS),
    ]
}


def get_metric(name: str) -> Metric:
    """The metric called ``name`` (UsageError naming the choices if there is none).

    Ranking metrics take any positive ``k`` after an ``@`` (``recall@20``, ``ndcg@5``).
    Whether it suits a task is the task's to say (``Task.metric``).
    """
    key = str(name).strip().lower()
    if "@" in key:
        return parse_ranking(name, key)
    if key not in METRICS:
        raise UsageError(f"Unknown metric '{name}'; choose one of: {', '.join(sorted(METRICS))}.")
    return METRICS[key]


def metrics_for(output: Output) -> list[str]:
    """Names of the metrics that score ``output`` (ranking ones at k = 10)."""
    return [m.name for m in METRICS.values() if m.scores is output]
