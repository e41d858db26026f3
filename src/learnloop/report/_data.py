"""The data: rows, columns and their roles, dropped columns, missing values, the target's
distribution, and whether the three splits look alike (a drift test per column)."""

from __future__ import annotations

from typing import Any

import numpy as np

from learnloop.report import plots
from learnloop.report._doc import Figure, Section, Table, Text
from learnloop.report._inputs import ReportInputs
from learnloop.report.stats import DRIFT_ALPHA, drift

__all__ = ["data_section"]


def data_section(inputs: ReportInputs) -> Section:
    """Rows, columns and their roles, drift between the splits, and the target's shape; only
    the model file's schema where the data was not read again."""
    section = Section("The data")
    ds = inputs.dataset
    schema = ds.schema if ds is not None else (inputs.model.schema if inputs.model else None)
    if schema is None:
        section.add(Text("Neither the data nor a model file is available.", "note"))
        return section
    if ds is None:
        section.add(*_schema_only(schema))
        return section
    frame = ds.frame
    sizes = ds.sizes
    section.add(
        Text(
            f"{len(frame)} rows and {frame.shape[1]} columns read from "
            f"{(inputs.run or {}).get('data') or 'the data'}; {ds.dropped_rows} rows left out "
            f"(no target); split {sizes['train']} train / {sizes['validation']} validation / "
            f"{sizes['test']} test."
        )
    )
    to_val = drift(ds.train.X, ds.validation.X)
    to_test = drift(ds.train.X, ds.test.X)
    section.add(_column_table(frame, schema, to_val, to_test))
    if schema.dropped:
        section.add(Text("Dropped columns: " + "; ".join(
            f"'{k}' ({v})" for k, v in schema.dropped.items()) + "."))  # fmt: skip
    section.add(_drift_verdict(to_val, to_test))
    column = schema.target or schema.labels
    if column:
        section.add(_distribution(frame[column].dropna(), column, bool(schema.classes)))
    return section


def _schema_only(schema: Any) -> list[Text | Table]:
    """The model file's columns, where the data itself was not read again."""
    rows = [[c.name, "input", c.kind, "-", "-", "-"] for c in schema.features]
    rows += [[name, "dropped", reason, "-", "-", "-"] for name, reason in schema.dropped.items()]
    return [
        Text(
            "The data was not read again: the columns below are the model file's schema.", "note"
        ),  # fmt: skip
        Table(
            ["column", "role", "type / reason", "missing", "p train~val", "p train~test"], rows
        ),  # fmt: skip
    ]


_COLUMN_HEADER = [
    "column", "role", "type / why dropped", "missing", "test", "p train~validation",
    "p train~test",
]  # fmt: skip


def _column_table(frame: Any, schema: Any, to_val: dict, to_test: dict) -> Table:
    """One row per column: its role, type, missing share and drift p-values."""
    table: list[list[Any]] = []
    for c in schema.features:
        test, p_val = to_val.get(c.name, ("-", None))
        p_test = to_test.get(c.name, ("-", None))[1]
        table.append([c.name, "input", c.kind, _missing(frame, c.name), test, p_val, p_test])
    for role, name in (("target", schema.target), ("known groups", schema.labels)):
        if name:
            table.append([name, role, str(frame[name].dtype), _missing(frame, name), "-", None,
                         None])  # fmt: skip
    for name, reason in schema.dropped.items():
        table.append([name, "dropped", reason, _missing(frame, name), "-", None, None])
    return Table(
        _COLUMN_HEADER,
        table,
        "Drift: does each input column of the validation and test splits look like the "
        "training split? KS test for numbers and dates (and words per row of free text), "
        "chi-square for categories; a small "
        "p-value says the split differs.",
    )


def _drift_verdict(to_val: dict, to_test: dict) -> Text:
    """Which columns differ between splits, against how many would by chance."""
    flagged = sorted(
        {k for k, (_, p) in to_val.items() if p < DRIFT_ALPHA}
        | {k for k, (_, p) in to_test.items() if p < DRIFT_ALPHA}
    )
    n_tests = len(to_val) + len(to_test)
    if flagged:
        return Text(f"{len(flagged)} column(s) differ between splits at p < {DRIFT_ALPHA} "
                    f"({', '.join(flagged)}); with {n_tests} tests about "
                    f"{n_tests * DRIFT_ALPHA:.1f} would by chance alone.", "bad")  # fmt: skip
    return Text(f"No column differs between the splits at p < {DRIFT_ALPHA} "
                f"({n_tests} tests): the splits look alike.", "good")  # fmt: skip


def _distribution(values: Any, column: str, is_classes: bool) -> Figure:
    """Rows per class (up to 30), or a histogram of the values."""
    if is_classes:
        counts = values.astype(object).value_counts()
        labels = [str(k) for k in counts.index[:30]]
        return Figure(plots.bars(labels, counts.to_numpy()[:30], "rows"),
                      f"'{column}': rows per class (up to 30 classes).")  # fmt: skip
    caption = f"'{column}': distribution of all {len(values)} values."
    return Figure(plots.histogram(values.to_numpy(float), column), caption)


def _missing(frame: object, name: str) -> str:
    share = float(np.mean(frame[name].isna()))  # type: ignore[index]
    return "0" if share == 0 else f"{share:.1%}"
