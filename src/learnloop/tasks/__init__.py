"""Kinds of learning: each is one :class:`Task` module behind ``tasks/_base.py``.

``TASKS`` is the registry (the ``--task`` choices, in the order they are listed).
``--task auto`` asks the tasks of ``AUTO_ORDER`` in turn whether the data is theirs: first
from the source alone (``Task.claims_source``: a folder is pictures, ``--user`` with
``--item`` are events to recommend from), then from the table and its target
(``Task.claims_table``: no target is clustering, labels are classification, any other
target regression). Everything task-specific is then asked of the chosen value, never
decided by comparing task names.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from learnloop.data import Schema, check_column
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
    "AUTO_ORDER",
    "get_task",
    "source_task",
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
# whom ``--task auto`` asks, in turn: what the source says before what a table's target says
_AUTO = ("image", "recommendation", "clustering", "classification", "regression")
AUTO_ORDER: tuple[Task, ...] = tuple(TASKS[name] for name in _AUTO)


def _is_auto(task: str) -> bool:
    return str(task).strip().lower() == "auto"


def get_task(name: str) -> Task:
    """The task called ``name``; UsageError naming the choices otherwise."""
    key = str(name).strip().lower()
    if key not in TASKS:
        raise UsageError(f"Unknown task '{name}'; choose auto, {', '.join(TASKS)}.")
    return TASKS[key]


def source_task(
    data: Any, task: str = "auto", options: dict[str, Any] | None = None
) -> Task | None:
    """The task ``--task`` names, or under ``auto`` the first that claims the source alone;
    None when the table must be read first (:func:`resolve_task` decides then)."""
    if not _is_auto(task):
        return get_task(task)
    return next((t for t in AUTO_ORDER if t.claims_source(data, options)), None)


def resolve_task(
    frame: pd.DataFrame, task: str = "auto", target: str | None = None, labels: str | None = None
) -> Task:
    """The task ``--task`` names; ``auto`` reads the target, and no target means clustering."""
    if not _is_auto(task):
        return get_task(task)
    if target is not None:
        check_column(frame, target, "target")
    for candidate in AUTO_ORDER:
        if candidate.claims_table(frame, target):
            return candidate
    raise UsageError(f"No task learns from this table; choose one with --task: {', '.join(TASKS)}.")


def infer_schema(
    frame: pd.DataFrame, target: str | None, task: str = "auto", labels: str | None = None
) -> Schema:
    """Resolve the task and read the table's schema for it."""
    chosen = resolve_task(frame, task, target, labels)
    return chosen.read_schema(frame, target, labels)
