"""The score per period, for runs split by time (``--time``).

The certificate of a time split covers the latest rows; one score over a few months can
hide a model that decays within them. The test rows are grouped by calendar month where
they span at least two months, else into ``BINS`` time bins of equal rows, and the saved
model is scored on each group (it never saw the test rows; the look is already spent, so
these figures are descriptive, not certified).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from learnloop.core import Prediction
from learnloop.report import plots
from learnloop.report._doc import Figure, Section, Table, Text, fmt
from learnloop.report._inputs import ReportInputs

__all__ = ["periods_section", "period_groups"]

BINS = 5
MAX_MONTHS = 36  # more months than this are shown as equal-row bins


def periods_section(inputs: ReportInputs) -> Section | None:
    """The period the certificate covers and the model's test score per period; None for a
    run whose rows were not split by time."""
    ds, model = inputs.dataset, inputs.model
    if ds is None or ds.test_times is None or ds.test_period is None:
        return None
    period = ds.test_period
    section = Section("The period the certificate covers")
    section.add(
        Text(
            f"The rows were split by '{period['column']}': trained on the earliest, validated on "
            f"the next, certified on the latest {len(ds.test)} rows, from {period['from']} to "
            f"{period['to']}. The certificate is a promise about that period, the closest one "
            "to the future the data holds."
        )
    )
    if model is None or ds.test.y is None:
        section.add(Text("The score per period is left out: no model file to score.", "note"))
        return section
    task = model.task_kind
    metric = task.metric(model.metadata["metric"])
    n = task.n_outputs(model.schema)
    pred = task.predict(model.pipeline, ds.test.X, n)
    labels, names = period_groups(ds.test_times)
    rows: list[list[Any]] = []
    for code, name in enumerate(names):
        idx = np.flatnonzero(labels == code)
        rows.append([name, len(idx), _score(metric, ds.test.y, pred, idx, n)])
    section.add(
        Table(
            ["period", "test rows", metric.name],
            rows,
            "The saved model's score on the test rows of each period (descriptive: the "
            "certificate's bound is for the whole test period).",
        )
    )
    shown = [(r[0], r[2]) for r in rows if r[2] is not None]
    if shown:
        svg = plots.bars([s[0] for s in shown], [s[1] for s in shown], metric.name)
        section.add(Figure(svg, f"{metric.name} per period of the test rows, earliest on top."))
    return section


def period_groups(times: pd.Series) -> tuple[np.ndarray, list[str]]:
    """A group code per row and the groups' names in time order: calendar months where the
    dates span 2 to ``MAX_MONTHS`` of them, else ``BINS`` bins of equal rows."""
    if pd.api.types.is_datetime64_any_dtype(times):
        months = times.dt.to_period("M")
        distinct = sorted(months.unique())
        if 2 <= len(distinct) <= MAX_MONTHS:
            lookup = {m: i for i, m in enumerate(distinct)}
            return months.map(lookup).to_numpy(dtype=int), [str(m) for m in distinct]
    order = np.argsort(times.to_numpy(), kind="stable")
    bins = min(BINS, len(times))
    labels = np.empty(len(times), dtype=int)
    names = []
    for code, chunk in enumerate(np.array_split(order, bins)):
        labels[chunk] = code
        lo, hi = times.iloc[chunk].min(), times.iloc[chunk].max()
        names.append(f"{_when(lo)} to {_when(hi)}")
    return labels, names


def _when(value: Any) -> str:
    return value.isoformat() if isinstance(value, pd.Timestamp) else fmt(float(value))


def _score(metric: Any, y: Any, pred: Prediction, idx: np.ndarray, n: int) -> float | None:
    """The metric on some rows; None where it is not defined there (one class only, ...)."""
    if len(idx) == 0:
        return None
    part = Prediction(pred.values[idx], None if pred.proba is None else pred.proba[idx])
    try:
        return float(metric.score(np.asarray(y)[idx], part, n))
    except ValueError:
        return None
