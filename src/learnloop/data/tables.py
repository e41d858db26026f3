"""In-memory tables as pandas DataFrames: the one door for pandas, pyarrow, polars and numpy.

Everywhere learnloop takes a table (``learnloop.train``, its validation and test tables,
``LoadedModel.predict``) it takes a path or one of these; :func:`as_table` turns the
in-memory ones into a DataFrame before anything reads them, so no later step mistakes a
table for a file name. A numpy array has no column names: its columns are named ``x0``,
``x1``, ... (as scikit-learn names unnamed features), so a model trained on an array
predicts on an array of the same width. pyarrow and polars are recognised without being
imported: an object can only be one of their tables if its library is loaded already.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pandas as pd

from learnloop.exceptions import DataError

__all__ = ["as_table", "array_column_names", "TABLE_KINDS"]

TABLE_KINDS = "a file path, a pandas or polars DataFrame, a pyarrow Table or a 2-D numpy array"


def array_column_names(width: int) -> list[str]:
    """The names an array's columns get: ``x0`` .. ``x{width-1}``."""
    return [f"x{i}" for i in range(width)]


def as_table(source: Any) -> Any:
    """``source`` as a DataFrame if it is an in-memory table; a path is returned unchanged.

    Raises TypeError naming the type for anything else, and DataError for an array that
    is not 2-D.
    """
    if isinstance(source, str | os.PathLike | pd.DataFrame):
        return source
    if isinstance(source, np.ndarray):
        if source.ndim != 2:
            raise DataError(
                f"A numpy array of data must be 2-D (rows x columns); got shape {source.shape}."
            )
        return pd.DataFrame(source, columns=array_column_names(source.shape[1]))
    arrow = sys.modules.get("pyarrow")
    if arrow is not None and isinstance(source, arrow.Table | arrow.RecordBatch):
        return source.to_pandas()
    polars = sys.modules.get("polars")
    if polars is not None and isinstance(source, polars.LazyFrame):
        source = source.collect()
    if polars is not None and isinstance(source, polars.DataFrame):
        return source.to_pandas()
    kind = type(source)
    raise TypeError(f"learnloop reads {TABLE_KINDS}; got {kind.__module__}.{kind.__qualname__}.")
