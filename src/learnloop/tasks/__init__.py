"""Kinds of learning: each is one :class:`Task` module behind ``tasks/_base.py``.

``resolve_task`` turns the ``--task`` option (``auto`` included) into a task; everything
task-specific is then asked of that value, never decided by comparing task names.
"""

from __future__ import annotations

import pandas as pd

from learnloop.data import Schema, check_column, infer_task
from learnloop.exceptions import UsageError
from learnloop.tasks._base import Answer, Part, Task
from learnloop.tasks.clustering import Clustering
from learnloop.tasks.images import Faces, Image
from learnloop.tasks.recommendation import Recommendation
from learnloop.tasks.tabular import Classification, Regression

__all__ = [
    "Answer",
    "Part",
    "Task",
    "TASKS",
    "get_task",
    "resolve_task",
    "infer_schema",
    "Classification",
    "Regression",
    "Clustering",
    "Recommendation",
    "Image",
    "Faces",
]

TASKS: dict[str, Task] = {
    t.name: t
    for t in (Classification(), Regression(), Clustering(), Recommendation(), Image(), Faces())
}


def get_task(name: str) -> Task:
    """The task called ``name``; UsageError naming the choices otherwise."""
    key = str(name).strip().lower()
    if key not in TASKS:
        raise UsageError(f"Unknown task '{name}'; choose auto, {', '.join(TASKS)}.")
    return TASKS[key]


def resolve_task(
    frame: pd.DataFrame, task: str = "auto", target: str | None = None, labels: str | None = None
) -> Task:
    """The task ``--task`` names; ``auto`` reads the target, and no target means clustering."""
    if str(task).strip().lower() != "auto":
        return get_task(task)
    if target is None:
        return TASKS["clustering"]
    check_column(frame, target, "target")
    return TASKS[infer_task(frame[target])]


def infer_schema(
    frame: pd.DataFrame, target: str | None, task: str = "auto", labels: str | None = None
) -> Schema:
    """Resolve the task and read the table's schema for it."""
    chosen = resolve_task(frame, task, target, labels)
    return chosen.read_schema(frame, target, labels)
