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
    section = Section("The data")
    ds = inputs.dataset
    schema = ds.schema if ds is not None else (inputs.model.schema if inputs.model else None)
    if schema is None:
        section.add(Text("Neither the data nor a model file is available.", "note"))
        return section
    if ds is None:
        section.add(Text("The data was not read again: the columns below are the model "
                         "file's schema.", "note"))  # fmt: skip
        rows = [[c.name, "input", c.kind, "-", "-", "-"] for c in schema.features]
        rows += [[name, "dropped", reason, "-", "-", "-"] for name, reason in
                 schema.dropped.items()]  # fmt: skip
        section.add(Table(["column", "role", "type / reason", "missing", "p train~val",
                           "p train~test"], rows))  # fmt: skip
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
    section.add(
        Table(
            [
                "column",
                "role",
                "type / why dropped",
                "missing",
                "test",
                "p train~validation",
                "p train~test",
            ],  # fmt: skip
            table,
            "Drift: does each input column of the validation and test splits look like the "
            "training split? KS test for numbers and dates, chi-square for categories; a small "
            "p-value says the split differs.",
        )
    )
    if schema.dropped:
        section.add(Text("Dropped columns: " + "; ".join(
            f"'{k}' ({v})" for k, v in schema.dropped.items()) + "."))  # fmt: skip
    flagged = sorted(
        {k for k, (_, p) in to_val.items() if p < DRIFT_ALPHA}
        | {k for k, (_, p) in to_test.items() if p < DRIFT_ALPHA}
    )
    n_tests = len(to_val) + len(to_test)
    if flagged:
        section.add(Text(f"{len(flagged)} column(s) differ between splits at p < {DRIFT_ALPHA} "
                         f"({', '.join(flagged)}); with {n_tests} tests about "
                         f"{n_tests * DRIFT_ALPHA:.1f} would by chance alone.", "bad"))  # fmt: skip
    else:
        section.add(Text(f"No column differs between the splits at p < {DRIFT_ALPHA} "
                         f"({n_tests} tests): the splits look alike.", "good"))  # fmt: skip
    column = schema.target or schema.labels
    if column:
        values = frame[column].dropna()
        if schema.classes:
            counts = values.astype(object).value_counts()
            labels = [str(k) for k in counts.index[:30]]
            section.add(Figure(plots.bars(labels, counts.to_numpy()[:30], "rows"),
                               f"'{column}': rows per class (up to 30 classes)."))  # fmt: skip
        else:
            caption = f"'{column}': distribution of all {len(values)} values."
            section.add(Figure(plots.histogram(values.to_numpy(float), column), caption))
    return section


def _missing(frame: object, name: str) -> str:
    share = float(np.mean(frame[name].isna()))  # type: ignore[index]
    return "0" if share == 0 else f"{share:.1%}"
