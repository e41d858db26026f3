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
from learnloop.data import Schema, fingerprint, load_table, prepare_features, split_indices
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
) -> Dataset:
    """Read ``data``, decide the task and schema, check the metric, and split seeded.

    ``options`` are the task's own (recommendation: ``user``, ``item``, ``time``...).
    ``test_share`` rebuilds a recorded split; None decides it from the threshold and
    ``confidence`` (:func:`~learnloop.certify.split_share_for`).
    """
    named = source_task(data, task, options)  # the task named, or that the source says
    if named is None:  # the table's target decides
        frame = load_table(data)
        chosen_task = resolve_task(frame, "auto", target, labels)
    else:  # a task reads its own sources (a picture folder, ...)
        frame, target = named.read_data(data, target, options)
        chosen_task = named
    schema = chosen_task.read(frame, target, labels, options)
    chosen_metric = chosen_task.choose_metric(metric, schema)
    if threshold is not None:
        chosen_metric.check_threshold(float(threshold))
    notes: list[str] = []
    own = None
    if validation is None and test is None:
        own = chosen_task.split(frame, schema, seed)
    elif chosen_task.held_out != "rows":
        raise UsageError(f"{chosen_task.name} makes its own split; drop --validation and --test.")
    if own is not None:
        parts, dropped, notes = own
    else:
        usable = int(chosen_task.usable_rows(frame, schema).sum())
        if test_share is None and validation is None:
            test_share = split_share_for(chosen_metric, threshold, usable, confidence)
            if test_share != DEFAULT_TEST_SHARE:
                notes.append(
                    f"The test split is {test_share:.0%} of the rows (not "
                    f"{DEFAULT_TEST_SHARE:.0%}) so that a good model can certify "
                    f"{chosen_metric.name} >= {threshold:g}."
                )
        parts, dropped = _split(
            frame, schema, chosen_task, validation, test, seed, test_share or DEFAULT_TEST_SHARE
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
    )


def _given_features(table: pd.DataFrame, schema: Schema, name: str, source: Any) -> pd.DataFrame:
    """The features of a given table; a problem in the validation or test table says which."""
    if name == "train":
        return prepare_features(table, schema)
    try:
        return prepare_features(table, schema, strict=True)
    except SchemaMismatchError as e:
        where = f" ('{source}')" if isinstance(source, str | Path) else ""
        text = str(e).replace("that the model was trained on", "that the training data has")
        raise SchemaMismatchError(f"In the {name} data{where}: {text[0].lower()}{text[1:]}") from e


def _split(
    frame: pd.DataFrame,
    schema: Schema,
    task: Task,
    validation: Any,
    test: Any,
    seed: int,
    test_share: float = DEFAULT_TEST_SHARE,
) -> tuple[dict[str, Part], int]:
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
                _given_features(t, schema, name, validation if name == "validation" else test),
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
    X_all = prepare_features(usable, schema)
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
) -> Dataset:
    """The run's data read and split as ``settings`` say (the one place that turns a run's
    settings into :func:`prepare_dataset`'s arguments); ``validation`` and ``test`` default
    to the tables the settings name."""
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
    )
