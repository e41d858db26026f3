"""The names the command line shows before it imports anything heavy: tasks and metrics.

``learnloop --help`` lists the ``--task`` choices and the ``--metric`` names; reading them
from the registries (``tasks.TASKS``, ``metrics.METRICS``) would import scikit-learn and
pandas for a help page (1.6 s of its 1.8 s). These plain tuples hold the same names in the
registries' order, and ``tests/test_names.py`` holds them equal to the registries, so a task
or metric added on one side only fails the tests instead of drifting out of the help text.
"""

from __future__ import annotations

__all__ = ["TASK_NAMES", "METRIC_NAMES", "RANKING_NAMES", "DEFAULT_METRICS", "metric_help"]

# ``tasks.TASKS``'s keys, in its order
TASK_NAMES: tuple[str, ...] = (
    "classification",
    "regression",
    "clustering",
    "recommendation",
    "image",
    "faces",
)

# ``metrics.metrics_for(Output(key))`` for each kind of output but rankings
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "classes": ("accuracy", "balanced_accuracy", "f1", "f1_macro", "roc_auc", "log_loss"),
    "values": ("rmse", "mae", "r2"),
    "clusters": ("silhouette", "davies_bouldin", "calinski_harabasz", "adjusted_rand", "nmi"),
}
# ``metrics.RANKING_METRICS``: each takes a cut-off, ``ndcg@10``
RANKING_NAMES: tuple[str, ...] = ("ndcg", "recall", "map", "precision", "hit_rate")

# the tasks' ``default_metric``s, each once, in ``TASK_NAMES``'s order
DEFAULT_METRICS: tuple[str, ...] = ("accuracy", "r2", "silhouette", "ndcg@10")


def metric_help() -> str:
    """``--metric``'s help text: every metric name, grouped by what it scores."""
    return (
        f"Error function: {', '.join(METRIC_NAMES['classes'] + METRIC_NAMES['values'])}; "
        f"clustering: {', '.join(METRIC_NAMES['clusters'])}; "
        f"recommendation: {', '.join(f'{name}@K' for name in RANKING_NAMES)} "
        f"(default: {', '.join(DEFAULT_METRICS)})."
    )
