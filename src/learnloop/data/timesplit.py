"""Splitting dated rows by time: train on the earliest, validate on the next, test the latest.

A random split of dated rows (flights by day, sales by week) puts test rows beside training
rows of the same days, so the certificate promises a score on a past the model has already
seen around. ``--time COL`` orders the rows by ``COL`` instead: the certificate then covers
the latest period, which is the closest honest stand-in for the next one. The split's
sizes are those of the random split (:func:`~learnloop.data.split_sizes`); ties keep the
table's own order.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from learnloop.data import Schema, check_column, split_sizes
from learnloop.exceptions import DataError

__all__ = ["parse_times", "time_split_indices", "period_of", "date_columns", "TIME_DROPPED"]

TIME_DROPPED = "the time column (--time): rows are split by it, not learned from"


def parse_times(frame: pd.DataFrame, column: str) -> pd.Series:
    """``column`` as numbers or as naive UTC timestamps (missing stays missing).

    DataError (one sentence naming the column) where the column is not there or a value
    reads neither as a date nor as a number.
    """
    check_column(frame, column, "time")
    col = frame[column]
    if pd.api.types.is_bool_dtype(col):
        raise DataError(
            f"The time column '{column}' holds true/false values, not dates or numbers."
        )
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.dt.tz_convert(None) if getattr(col.dt, "tz", None) is not None else col
    if pd.api.types.is_numeric_dtype(col):
        values = col.astype("float64")
        if np.isinf(values.to_numpy()).any():
            raise DataError(f"The time column '{column}' holds infinite values.")
        return values
    present = col.notna()
    numbers = pd.to_numeric(col, errors="coerce")
    if numbers[present].notna().all():
        return numbers.astype("float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stamps = pd.to_datetime(col, errors="coerce", format="mixed", utc=True)
    bad = stamps.isna() & present
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"The time column '{column}' must hold dates or numbers, but row {row} holds "
            f"{col.iloc[row]!r}."
        )
    return stamps.dt.tz_convert(None)


def time_split_indices(
    times: pd.Series, test_share: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / validation / test row positions: the earliest rows, the next, the latest.

    ``times`` has no missing value; the sizes are those of the random split.
    """
    n = len(times)
    if n < 10:
        raise DataError(f"The data has only {n} usable rows; at least 10 are needed to learn.")
    n_val, n_test = split_sizes(n, test_share)
    order = np.argsort(times.to_numpy(), kind="stable")
    n_train = n - n_val - n_test
    train, val, test = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    return np.sort(train), np.sort(val), np.sort(test)


def period_of(times: pd.Series, column: str) -> dict[str, Any]:
    """``{"column", "from", "to"}``: the first and last time of some rows, as JSON values
    (dates as ISO 8601 text, numbers as numbers)."""
    lo, hi = times.min(), times.max()
    return {"column": column, "from": _plain(lo), "to": _plain(hi)}


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    number = float(value)
    return int(number) if number.is_integer() else number


def date_columns(schema: Schema) -> list[str]:
    """The input columns read as dates (a notice suggests --time for the first)."""
    return [c.name for c in schema.features if c.kind == "datetime"]
