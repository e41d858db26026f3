"""One small real example per registered task, shared by the task and family contract suites.

A new kind of learning adds its example here (``EXAMPLES``, keyed by the task's name); the
contract suites then run every check of the output it needs on it, and every family that
serves it is fitted on it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, load_iris, load_wine

import picture_data
from learnloop.runs.dataset import Dataset, prepare_dataset


def _iris() -> tuple[pd.DataFrame, dict]:
    frame = load_iris(as_frame=True).frame
    names = np.array(["setosa", "versicolor", "virginica"])
    return frame.assign(target=names[frame["target"].to_numpy()]), {"target": "target"}


def _diabetes() -> tuple[pd.DataFrame, dict]:
    return load_diabetes(as_frame=True).frame, {"target": "target"}


def _wine() -> tuple[pd.DataFrame, dict]:
    frame = load_wine(as_frame=True).frame
    return frame.assign(target=frame["target"].map({0: "a", 1: "b", 2: "c"})), {"labels": "target"}


def _shop() -> tuple[pd.DataFrame, dict]:
    from shop_events import shop_events

    options = {"task": "recommendation", "user": "user", "item": "item", "event": "event"}
    return shop_events(n_users=150, n_items=60), {**options, "time": "time"}


EXAMPLES: dict[str, Callable[[], tuple[pd.DataFrame, dict]]] = {
    "classification": _iris,
    "regression": _diabetes,
    "clustering": _wine,
    "recommendation": _shop,
    "image": lambda: picture_data.example_frame("image"),
    "faces": lambda: picture_data.example_frame("faces"),
}
SHARED = ("target", "labels", "task")  # options every task's data set takes


def own(options: dict) -> dict:
    """The task's own options (recommendation's user, item, ...)."""
    return {k: v for k, v in options.items() if k not in SHARED}


def prepare(frame: pd.DataFrame, options: dict, seed: int, **extra: object) -> Dataset:
    """The example prepared as a run prepares its data (``extra``: metric, ...)."""
    shared = {k: v for k, v in options.items() if k in SHARED}
    return prepare_dataset(frame, seed=seed, options=own(options) or None, **shared, **extra)  # type: ignore[arg-type]


@cache
def prepared(task: str, seed: int = 0) -> Dataset:
    """The example of ``task`` prepared once per test session (treat it as read-only)."""
    frame, options = EXAMPLES[task]()
    return prepare(frame, options, seed)
