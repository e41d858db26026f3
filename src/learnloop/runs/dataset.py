"""A data set ready for the loop: read, its schema and task decided, split, and encoded.

``prepare_dataset`` is the first arrow of the data flow (source -> Dataset); everything
after it (loop, certificate, model file, store) reads the :class:`Dataset` value. The same
inputs and seed always give the same splits, which is how a worker or a resumed run
rebuilds exactly the data its run started with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from learnloop.certify import DEFAULT_TEST_SHARE, split_share_for
from learnloop.core.settings import RunSettings
from learnloop.data import (
    ENCODING,
    Schema,
    cells,
    fingerprint,
    load_table,
    prepare_features,
    read_features,
    split_indices,
)
from learnloop.data.timesplit import (
    TIME_DROPPED,
    date_columns,
    parse_times,
    period_of,
    time_split_indices,
)
from learnloop.exceptions import DataError, SchemaMismatchError, UsageError
from learnloop.metrics import Metric
from learnloop.tasks import Part, Task, resolve_task, source_task

__all__ = ["dataset_for", "Dataset", "prepare_dataset"]


@dataclass
class Dataset:
    """One run's data: the table as read, its schema, task, metric and three splits."""

    frame: pd.DataFrame
    schema: Schema
    task: Task
    metric: Metric
    train: Part
    validation: Part
    test: Part
    dropped_rows: int  # rows left out because they cannot be learned from (no target)
    notes: list[str] = field(default_factory=list)  # what the task's split has to say
    # the test split's share of the usable rows, where learnloop split them (recorded with
    # the run so workers, resumes and reports rebuild the same split)
    test_share: float | None = None
    # with --time: each split's period ({"column", "from", "to"}) and the test rows' times
    # (in the test part's order), for the certificate and the report's score per period
    periods: dict[str, dict[str, Any]] | None = None
    test_times: pd.Series | None = None

    @property
    def test_period(self) -> dict[str, Any] | None:
        """The period the test split (and so the certificate) covers; None for a random split."""
        return None if self.periods is None else self.periods["test"]

    @property
    def n_outputs(self) -> int:
        return self.task.n_outputs(self.schema)

    @property
    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }

    def fingerprint(self) -> str:
        """The table's fingerprint (hashes every value: call it once per run)."""
        return fingerprint(self.frame)


def prepare_dataset(  # noqa: PLR0913 -- dataset_for builds these from RunSettings; tests call it directly
    data: str | Path | pd.DataFrame,
    target: str | None = None,
    task: str = "auto",
    metric: str | None = None,
    threshold: float | None = None,
    seed: int = 0,
    validation: Any = None,
    test: Any = None,
    labels: str | None = None,
    options: dict[str, Any] | None = None,
    *,
    confidence: float = 0.95,
    test_share: float | None = None,
    run_fingerprint: str | None = None,
) -> Dataset:
    """Read ``data``, decide the task and schema, check the metric, and split seeded.

    ``options`` are the task's own (recommendation: ``user``, ``item``, ``time``...).
    ``test_share`` rebuilds a recorded split; None decides it from the threshold and
    ``confidence`` (:func:`~learnloop.certify.split_share_for`). ``run_fingerprint``,
    a recorded run's, is compared with the table's as soon as it is read (DataError).
    """
    options = dict(options or {})
    frame, target, chosen_task = _read(data, task, target, labels, options, run_fingerprint)
    # where rows are held out, --time is the row split's (a task holding out users takes it)
    time_column = options.pop("time", None) if chosen_task.held_out == "rows" else None
    schema = chosen_task.read(frame, target, labels, options or None)
    chosen_metric = chosen_task.choose_metric(metric, schema)
    if threshold is not None:
        chosen_metric.check_threshold(float(threshold))
    times = None
    if time_column is not None:
        times = _time_column(frame, schema, str(time_column), validation, test)
    notes: list[str] = []
    own = None
    if validation is None and test is None and times is None:  # --time is the split asked
        own = chosen_task.split(frame, schema, seed)
    elif chosen_task.held_out != "rows":
        raise UsageError(f"{chosen_task.name} makes its own split; drop --validation and --test.")
    dated = date_columns(schema)
    if own is None and times is None and validation is None and dated:
        notes.append(
            f"The column '{dated[0]}' holds dates but the rows are split at random, so the "
            "test rows are contemporaries of the training rows; add --time "
            f"{dated[0]} to certify on the latest rows."
        )
    periods, test_times = None, None
    if own is not None:
        parts, dropped, own_notes = own
        notes += own_notes
    else:
        usable = int(chosen_task.usable_rows(frame, schema).sum())
        if test_share is None and validation is None:
            test_share = split_share_for(chosen_metric, threshold, usable, confidence)
            if test_share != DEFAULT_TEST_SHARE:
                why = (
                    f"a good model can certify {chosen_metric.name} >= {threshold:g}"
                    if chosen_metric.proportion
                    else f"its bound rests on about {round(test_share * usable)} rows"
                )
                notes.append(
                    f"The test split is {test_share:.0%} of the rows (not "
                    f"{DEFAULT_TEST_SHARE:.0%}) so that {why}."
                )
        share = test_share or DEFAULT_TEST_SHARE
        if times is None:
            parts, dropped = _split(
                frame, schema, chosen_task, (validation, test), seed, share, notes
            )
        else:
            parts, dropped, periods, test_times = _time_split(
                frame, schema, chosen_task, times, share, notes
            )
    parts = chosen_task.finish(parts, chosen_metric)
    return Dataset(
        frame,
        schema,
        chosen_task,
        chosen_metric,
        parts["train"],
        parts["validation"],
        parts["test"],
        dropped,
        notes,
        test_share if own is None and validation is None else None,
        periods,
        test_times,
    )


def _read(  # noqa: PLR0913 -- prepare_dataset's reading inputs
    data: Any,
    task: str,
    target: str | None,
    labels: str | None,
    options: dict[str, Any],
    run_fingerprint: str | None,
) -> tuple[pd.DataFrame, str | None, Task]:
    """The table, its target and its task; a recorded run's fingerprint is checked as soon
    as the table is read, before its columns are."""
    named = source_task(data, task, options or None)  # the task named, or that the source says
    if named is None:  # the table's target decides
        frame = load_table(data)
    else:  # a task reads its own sources (a picture folder, ...)
        frame, target = named.read_data(data, target, options or None)
    if run_fingerprint:
        _check_fingerprint(frame, run_fingerprint)
    chosen = named if named is not None else resolve_task(frame, "auto", target, labels)
    return frame, target, chosen


def _check_fingerprint(frame: pd.DataFrame, recorded: str) -> None:
    """DataError unless ``frame`` is the table a run was recorded with (its fingerprint)."""
    read = fingerprint(frame)
    if read != recorded:
        raise DataError(
            f"The data differs from the run's: fingerprint {read} vs {recorded} recorded; "
            "resume on the data the run started with."
        )


def _time_column(
    frame: pd.DataFrame, schema: Schema, column: str, validation: Any, test: Any
) -> pd.Series:
    """The rows' times (``--time``), checked; the column leaves the inputs (the schema says
    why), since a model that learned the calendar of the past has nothing to read later."""
    if validation is not None or test is not None:
        raise UsageError("--time splits the data by time; drop --validation and --test.")
    if column in (schema.target, schema.labels):
        raise UsageError(f"--time names the column '{column}' that is learned to predict.")
    times = parse_times(frame, column).rename(column)
    schema.features = [c for c in schema.features if c.name != column]
    if not schema.features:
        raise DataError(f"No input column is left besides the time column '{column}'.")
    schema.dropped[column] = TIME_DROPPED
    return times


def _time_split(  # noqa: PLR0913 -- the split's inputs and the notes it adds to
    frame: pd.DataFrame,
    schema: Schema,
    task: Task,
    times: pd.Series,
    test_share: float,
    notes: list[str],
) -> tuple[dict[str, Part], int, dict[str, dict[str, Any]], pd.Series]:
    """The earliest usable rows to train, the next to validate, the latest to test."""
    learnable = task.usable_rows(frame, schema)
    dated = times.notna().to_numpy()
    dropped = int((~learnable).sum())
    if (learnable & ~dated).any():
        notes.append(
            f"{int((learnable & ~dated).sum())} rows with no value in the time column "
            f"'{times.name}' were left out."
        )
    usable = frame[learnable & dated]
    when = pd.Series(times.to_numpy()[learnable & dated])
    y_all = task.encode(usable, schema, "training")
    X_all = _training_features(usable, schema, notes)
    names = ("train", "validation", "test")
    split = dict(zip(names, time_split_indices(when, test_share), strict=True))
    parts = {
        name: Part(X_all.iloc[idx].reset_index(drop=True), None if y_all is None else y_all[idx])
        for name, idx in split.items()
    }
    column = str(times.name)
    periods = {name: period_of(when.iloc[idx], column) for name, idx in split.items()}
    test = periods["test"]
    notes.append(
        f"Split by '{column}': training rows up to {periods['train']['to']}, validation "
        f"to {periods['validation']['to']}, the test (certificate) from {test['from']} "
        f"to {test['to']}."
    )
    return parts, dropped, periods, when.iloc[split["test"]].reset_index(drop=True)


def _training_features(usable: pd.DataFrame, schema: Schema, notes: list[str]) -> pd.DataFrame:
    """The training rows' features; cells read as missing are counted in the schema (the
    model file keeps the count) and said per column (data/cells.py)."""
    X, masks = read_features(usable, schema)
    schema.unreadable = cells.counts(masks)
    notes += cells.training_notes(usable, masks)
    return X


def _given_features(
    table: pd.DataFrame, schema: Schema, name: str, source: Any, notes: list[str]
) -> pd.DataFrame:
    """The features of a given table; a problem in the validation or test table says which."""
    if name == "train":
        return _training_features(table, schema, notes)
    try:
        return prepare_features(table, schema, strict=True)
    except SchemaMismatchError as e:
        where = f" ('{source}')" if isinstance(source, str | Path) else ""
        text = str(e).replace("that the model was trained on", "that the training data has")
        raise SchemaMismatchError(f"In the {name} data{where}: {text[0].lower()}{text[1:]}") from e


def _split(  # noqa: PLR0913 -- the split's inputs and the notes it adds to
    frame: pd.DataFrame,
    schema: Schema,
    task: Task,
    given: tuple[Any, Any],
    seed: int,
    test_share: float,
    notes: list[str],
) -> tuple[dict[str, Part], int]:
    validation, test = given
    usable = frame[task.usable_rows(frame, schema)]
    dropped = len(frame) - len(usable)
    if (validation is None) != (test is None):
        raise UsageError("Give both a validation and a test table, or neither.")
    if validation is not None:
        tables = {"train": usable}
        for name, source in (("validation", validation), ("test", test)):
            t = load_table(source)
            if schema.target is not None and schema.target not in t.columns:
                raise DataError(f"The {name} data has no target column '{schema.target}'.")
            tables[name] = t[task.usable_rows(t, schema)]
            if tables[name].equals(usable):
                raise DataError(
                    f"The {name} data is the training data; scores on it would prove nothing."
                )
        return {
            name: Part(
                _given_features(
                    t, schema, name, validation if name == "validation" else test, notes
                ),
                task.encode(t, schema, "training" if name == "train" else name),
            )
            for name, t in tables.items()
        }, dropped
    y_all = task.encode(usable, schema, "training")
    strata = task.stratify_by(y_all)
    rows = strata if strata is not None else np.zeros(len(usable))
    train_idx, val_idx, test_idx = split_indices(
        rows, seed, stratify=strata is not None, test_share=test_share
    )
    X_all = _training_features(usable, schema, notes)
    parts = {
        name: Part(X_all.iloc[idx].reset_index(drop=True), None if y_all is None else y_all[idx])
        for name, idx in (("train", train_idx), ("validation", val_idx), ("test", test_idx))
    }
    return parts, dropped


def dataset_for(
    source: str | Path | pd.DataFrame,
    settings: RunSettings,
    validation: Any = None,
    test: Any = None,
    *,
    run_fingerprint: str | None = None,
) -> Dataset:
    """The run's data read and split as ``settings`` say (the one place that turns a run's
    settings into :func:`prepare_dataset`'s arguments); ``validation`` and ``test`` default
    to the tables the settings name. CSV and TSV files are read in the settings' encoding.
    ``run_fingerprint`` (a recorded run's) is checked as soon as the table is read, before its
    columns are: another file is "data differs", not a missing target."""
    token = ENCODING.set(settings.encoding)
    try:
        return prepare_dataset(
            source,
            settings.target,
            settings.task,
            settings.metric,
            settings.threshold,
            settings.seed,
            settings.validation if validation is None else validation,
            settings.test if test is None else test,
            settings.labels,
            dict(settings.task_options) or None,
            confidence=settings.confidence,
            test_share=settings.test_share,
            run_fingerprint=run_fingerprint,
        )
    finally:
        ENCODING.reset(token)
