"""Rows of a request body checked against the model's training schema, then predicted.

The body is ``{"records": [{col: value}, ...]}`` or MLflow's ``{"dataframe_split":
{"columns": [...], "data": [[...]]}}``. :class:`RowValidator` checks it with a pydantic
type generated from the schema (unknown columns refused, each value of its column's kind)
and names every bad row and column (up to ``MAX_REPORTED_ERRORS``); :func:`answer_body`
is the whole of ``POST /predict`` without HTTP.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from learnloop.serving.problems import (
    MAX_REPORTED_ERRORS,
    RequestProblem,
    client_text,
    problem,
)
from learnloop.store.model_files import LoadedModel

__all__ = ["RowValidator", "answer_body", "predict_rows", "response_body", "EXPECTED"]

EXPECTED = {
    "numeric": "a finite number or null",
    "categorical": "a string, a finite number, true/false or null",
    "datetime": "a date or date-time string (e.g. 2024-05-01T12:30:00) or null",
    "text": "a string (free text) or null",
}


def _said(spec: Any) -> str:
    if spec.kind == "numeric" and spec.dtype in ("object", "str", "string"):
        return "a finite number (or its text) or null"
    if spec.kind == "datetime":
        return EXPECTED["datetime"] + "; one that does not parse gets a 422 naming the row"
    return EXPECTED.get(spec.kind, "a valid value")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class RowValidator:
    """Checks a batch of JSON rows against a training schema and turns it into a DataFrame.

    The per-row type is a pydantic TypedDict generated from the schema that forbids unknown
    columns: numeric columns take finite numbers (or null, which the pipeline imputes),
    categorical columns take strings, finite numbers, booleans or null, datetime columns
    take date strings or null, free-text columns strings or null. Columns the training
    data had but the model does not use (identifiers, constants) are accepted and ignored.
    """

    def __init__(self, model: LoadedModel, max_rows: int) -> None:
        from typing import Annotated, NotRequired

        from pydantic import ConfigDict, Field, Strict, TypeAdapter
        from typing_extensions import TypedDict

        self.schema = model.schema
        self.max_rows = max_rows
        self.kinds = {c.name: c.kind for c in self.schema.features}
        finite = Field(allow_inf_nan=False)
        strict_number = Annotated[float, Strict(), finite]
        fields: dict[str, Any] = {}
        for spec in self.schema.features:
            if spec.kind == "numeric":
                # Numbers stored as text in the training data may also come as text.
                text = spec.dtype in ("object", "str", "string")
                number = Annotated[float, finite] if text else strict_number
                fields[spec.name] = number | None
            elif spec.kind == "categorical":
                fields[spec.name] = (
                    Annotated[str, Strict()]
                    | Annotated[bool, Strict()]
                    | Annotated[int, Strict()]
                    | strict_number
                    | None
                )
            else:
                fields[spec.name] = Annotated[str, Strict()] | None
            # said in the OpenAPI document: what the column takes, in the words of a 422
            fields[spec.name] = Annotated[fields[spec.name], Field(description=_said(spec))]
        for name in self.schema.dropped:
            fields.setdefault(name, NotRequired[Any])
        row_type = TypedDict("Row", fields)  # type: ignore[misc]
        row_type.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
        self.row_type = row_type
        self._rows: Any = TypeAdapter(list[row_type])

    # -- parsing

    def parse(self, body: bytes) -> list[dict[str, Any]]:
        """Validated rows from a request body, or RequestProblem (400, 413 or 422)."""
        import pydantic_core

        try:
            payload = pydantic_core.from_json(body, allow_inf_nan=True)
        except ValueError as e:
            raise RequestProblem(400, [problem(f"The body is not valid JSON: {e}")]) from None
        if not isinstance(payload, dict):
            raise RequestProblem(
                422,
                [
                    problem(
                        "The body must be a JSON object with 'records' "
                        "or 'dataframe_split'; got " + type(payload).__name__ + "."
                    )
                ],
            )
        keys = set(payload)
        known = {"records", "dataframe_records", "dataframe_split"}
        unknown = sorted(keys - known)
        if unknown or len(keys) != 1:
            what = f"unknown key '{client_text(unknown[0])}'" if unknown else f"keys {sorted(keys)}"
            raise RequestProblem(
                422,
                [
                    problem(
                        "The body must have exactly one of 'records' or 'dataframe_split'; "
                        f"it has {what}."
                    )
                ],
            )
        rows: Any
        if "dataframe_split" in payload:
            rows = self._split_rows(payload["dataframe_split"])
        else:
            rows = payload.get("records", payload.get("dataframe_records"))
            if not isinstance(rows, list):
                raise RequestProblem(
                    422, [problem("'records' must be a list of objects, one per row.")]
                )
        self._check_size(len(rows))
        return self.validate(rows)

    def _check_size(self, n: int) -> None:
        if n == 0:
            raise RequestProblem(422, [problem("The batch is empty; send at least one row.")])
        if n > self.max_rows:
            raise RequestProblem(
                413,
                [
                    problem(
                        f"The batch has {n} rows; at most {self.max_rows} are allowed per "
                        "request. Split it into smaller batches."
                    )
                ],
            )

    def _split_rows(self, split: Any) -> list[Any]:
        if not isinstance(split, dict):
            raise RequestProblem(
                422, [problem("'dataframe_split' must be an object with 'columns' and 'data'.")]
            )
        extra = sorted(set(split) - {"columns", "data", "index"})
        if extra:
            raise RequestProblem(
                422, [problem(f"'dataframe_split' has the unknown key '{client_text(extra[0])}'.")]
            )
        columns, data = split.get("columns"), split.get("data")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise RequestProblem(
                422, [problem("'dataframe_split.columns' must be a list of column names.")]
            )
        if len(set(columns)) != len(columns):
            dup = next(c for c in columns if columns.count(c) > 1)
            message = f"The column '{client_text(dup)}' is listed more than once."
            raise RequestProblem(422, [problem(message, column=dup)])
        if not isinstance(data, list):
            raise RequestProblem(
                422, [problem("'dataframe_split.data' must be a list of rows (lists).")]
            )
        self._check_size(len(data))
        width = len(columns)
        rows: list[Any] = []
        problems: list[dict[str, Any]] = []
        for i, values in enumerate(data):
            if not isinstance(values, list) or len(values) != width:
                problems.append(
                    problem(f"The row must be a list of {width} values, one per column.", row=i)
                )
                if len(problems) >= MAX_REPORTED_ERRORS:
                    break
                continue
            rows.append(dict(zip(columns, values, strict=True)))
        if problems:
            raise RequestProblem(422, problems)
        return rows

    # -- validation

    def validate(self, rows: list[Any]) -> list[dict[str, Any]]:
        """Rows checked against the schema, or RequestProblem(422) naming rows and columns."""
        from pydantic import ValidationError

        try:
            return self._rows.validate_python(rows)
        except ValidationError as e:
            raise RequestProblem(422, self._explain(e.errors(include_url=False))) from None

    def _explain(self, errors: list[Any]) -> list[dict[str, Any]]:
        seen: set[tuple[Any, Any]] = set()
        out: list[dict[str, Any]] = []
        for err in errors:
            loc = err["loc"]
            row = loc[0] if loc and isinstance(loc[0], int) else None
            column = str(loc[1]) if len(loc) > 1 else None
            if (row, column) in seen:
                continue  # a union reports one error per alternative; keep the first
            seen.add((row, column))
            out.append(problem(self._message(err, column), row=row, column=column))
            if len(out) >= MAX_REPORTED_ERRORS:
                break
        return out

    def _message(self, err: Any, column: str | None) -> str:
        kind = err["type"]
        if column is None:
            if kind == "dict_type":
                return "The row must be an object mapping column names to values."
            return "The rows must be a list of objects, one per row."
        if kind == "missing":
            return f"The column '{column}' is missing; the model was trained on it."
        if kind == "extra_forbidden":
            if column == self.schema.target:
                return f"The column '{column}' is the target the model predicts; leave it out."
            return f"The column '{client_text(column)}' is not one the model was trained on."
        expected = EXPECTED.get(self.kinds.get(column, ""), "a valid value")
        return f"The column '{column}' must be {expected}; got {_short(err.get('input'))}."

    # -- frames

    def frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        """The validated rows as a DataFrame with the schema's columns and types."""
        nan = math.nan
        columns: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        for spec in self.schema.features:
            name = spec.name
            values = [r[name] for r in rows]
            if spec.kind == "numeric":
                columns[name] = np.array([nan if v is None else v for v in values], dtype=float)
            elif spec.kind in ("categorical", "text"):
                arr = np.empty(len(values), dtype=object)
                arr[:] = values
                columns[name] = arr
            else:
                columns[name] = _parse_dates(name, values, problems)
        if problems:
            raise RequestProblem(422, problems[:MAX_REPORTED_ERRORS])
        return pd.DataFrame(columns, copy=False)


def _parse_dates(name: str, values: list[Any], problems: list[dict[str, Any]]) -> pd.Series:
    import warnings

    text = pd.Series(values, dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
        except (ValueError, TypeError, OverflowError):
            parsed = pd.Series([_parse_one(v) for v in values], dtype="datetime64[us, UTC]")
    bad = np.flatnonzero((parsed.isna() & text.notna()).to_numpy())
    for i in bad[:MAX_REPORTED_ERRORS]:
        problems.append(
            problem(
                f"The column '{name}' must be {EXPECTED['datetime']}; "
                f"got {_short(values[int(i)])}.",
                row=int(i),
                column=name,
            )
        )
    return parsed.dt.tz_convert(None)


def _parse_one(value: Any) -> Any:
    if value is None:
        return pd.NaT
    try:
        return pd.to_datetime(value, format="mixed", utc=True)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


def answer_body(validator: RowValidator, model: LoadedModel, body: bytes) -> dict[str, Any]:
    """The work of POST /predict without HTTP: parse, check and predict one request body."""
    return predict_rows(model, validator.frame(validator.parse(body)))


def predict_rows(model: LoadedModel, frame: pd.DataFrame) -> dict[str, Any]:
    """The response body for a prepared frame: predictions, and probabilities for classifiers.

    Runs the same steps as ``LoadedModel.predict`` without building an output DataFrame.
    """
    return response_body(model.answer(frame))


def response_body(answer: Any, *, arrays: bool = False) -> dict[str, Any]:
    """The response body for a model's :class:`~learnloop.tasks.Answer`: predictions (a
    non-finite value as null), and classes and probabilities for classifiers (as a numpy
    array with ``arrays``, which :func:`~learnloop.serving.problems.dumps` writes faster)."""
    predictions = [
        None if isinstance(v, float) and not math.isfinite(v) else v for v in answer.predictions
    ]
    body: dict[str, Any] = {"predictions": predictions}
    if answer.probabilities is not None:
        body["classes"] = answer.classes
        proba = answer.probabilities
        body["probabilities"] = proba if arrays and np.isfinite(proba).all() else proba.tolist()
    return body
