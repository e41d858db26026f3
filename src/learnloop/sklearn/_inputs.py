"""What an estimator's ``fit`` and ``predict`` turn their inputs into, and where runs go.

``X`` becomes a pandas DataFrame through :func:`learnloop.data.tables.as_table` (numpy
columns named ``x0``, ``x1``, ...); other array-likes (lists, sparse matrices are refused)
go through numpy first, as scikit-learn's estimators take them. The target becomes a
column of that frame under a name no feature has.

A run needs an experiment store. An estimator without ``store=`` records its runs in a
SQLite file in a temporary folder of this process (removed at exit), so fitting in a
notebook, ``cross_val_score`` or a grid search writes nothing into the working folder.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from learnloop.data.tables import as_table

__all__ = ["frame_of", "target_name", "temporary_store"]

_TEMPORARY: dict[int, str] = {}  # process id -> its store (a forked child makes its own)


def frame_of(X: Any) -> pd.DataFrame:
    """``X`` as a DataFrame with string column names (a copy where it was converted)."""
    if sparse.issparse(X):
        raise TypeError(
            "learnloop estimators take dense tables; convert the sparse matrix with .toarray()."
        )
    if isinstance(X, list | tuple) or (
        not isinstance(X, np.ndarray | pd.DataFrame) and hasattr(X, "__array__")
    ):
        X = np.asarray(X)  # scikit-learn's array-likes
    if isinstance(X, np.ndarray) and X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array, got an array of shape {X.shape}. Reshape your data either "
            "using array.reshape(-1, 1) if your data has a single feature or "
            "array.reshape(1, -1) if it contains a single sample."
        )
    frame = as_table(X)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"learnloop estimators take tables, not a file path; got {X!r}.")
    if any(pd.api.types.is_complex_dtype(t) for t in frame.dtypes):
        raise ValueError("Complex data not supported: learnloop learns from real numbers.")
    if not all(isinstance(c, str) for c in frame.columns):
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    return frame


def target_name(frame: pd.DataFrame) -> str:
    """A column name for the target that no feature has."""
    name = "y"
    while name in frame.columns:
        name = f"_{name}"
    return name


def temporary_store() -> str:
    """The SQLite store of this process's estimator runs, in a folder removed at exit."""
    pid = os.getpid()
    if pid not in _TEMPORARY:
        folder = tempfile.mkdtemp(prefix="learnloop-estimators-")
        atexit.register(_remove, folder, pid)
        _TEMPORARY[pid] = str(Path(folder) / "runs.db")
    return _TEMPORARY[pid]


def _remove(folder: str, pid: int) -> None:
    if os.getpid() == pid:  # only the process that made it
        shutil.rmtree(folder, ignore_errors=True)
