"""MLflow's scoring protocol: ``POST /invocations`` and ``GET /ping``, so that a client
written for ``mlflow models serve`` works unchanged against ``learnloop serve``.

The body is JSON with exactly one of ``dataframe_split``, ``dataframe_records``,
``instances`` or ``inputs`` (and optionally ``params``, which the model takes none of), or a
CSV table sent as ``text/csv``. The answer is MLflow's for the learnloop model logged as a
pyfunc (:mod:`learnloop.store.mlflow_model`): ``{"predictions": [{"prediction": ...,
"proba_<class>": ...}, ...]}``, one object per row. Rows go through ``/predict``'s checks;
a refusal carries MLflow's ``error_code`` and ``message`` and ``/predict``'s ``detail``
list naming each bad row and column.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request

from learnloop.serving.answers import (
    PREDICTIONS,
    answer_rows,
    check_table_model,
    json_payload,
    run_checked,
)
from learnloop.serving.body import ClientGone, read_body
from learnloop.serving.problems import RequestProblem, client_text, problem, respond
from learnloop.serving.rows import RowValidator
from learnloop.serving.state import Serving
from learnloop.store.model_files import LoadedModel

__all__ = ["FORMATS", "invocations_router", "mlflow_rows"]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_CODES = {400: "BAD_REQUEST", 413: "RESOURCE_LIMIT_EXCEEDED", 503: "TEMPORARILY_UNAVAILABLE"}


def invocations_router(serving: Serving) -> APIRouter:
    """``POST /invocations`` and ``GET /ping`` (MLflow's readiness probe)."""
    router = APIRouter()

    @router.get("/ping", include_in_schema=False)
    async def ping() -> Any:
        if not serving.ready:
            return respond({"status": "loading"}, 503)
        return respond({"status": "ready"})

    @router.post("/invocations", include_in_schema=False)
    async def invocations(request: Request) -> Any:
        model, validator = serving.model, serving.validator
        if model is None or validator is None:
            return _refuse(RequestProblem.one(503, "The model is not loaded yet."))
        try:
            check_table_model(serving, "/invocations")
            kind = _content_type(request)
            body = await read_body(request, serving.body)
            result, predictions = await run_checked(
                serving, lambda: _answer(validator, model, body, kind)
            )
        except RequestProblem as p:
            return _refuse(p)
        except ClientGone:
            return respond({"detail": "The client went away."}, 400)  # nobody reads it
        request.scope[PREDICTIONS] = predictions
        return respond(result)

    return router


def _refuse(p: RequestProblem) -> Any:
    code = _CODES.get(p.status, "INVALID_PARAMETER_VALUE")
    body = {"error_code": code, "message": str(p), "detail": p.errors}
    return respond(body, p.status, p.headers)


def _content_type(request: Request) -> str:
    """``json`` or ``csv``, from the content type (UTF-8 only, as MLflow's server), else 415."""
    kind, *params = (
        part.strip().lower() for part in request.headers.get("content-type", "").split(";")
    )
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() != "charset" or value.strip().strip('"') not in ("utf-8", "utf8"):
            raise RequestProblem.one(
                415, f"Only UTF-8 bodies are taken; got the parameter '{client_text(param)}'."
            )
    if kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json")):
        return "json"
    if kind == "text/csv":
        return "csv"
    shown = f"'{client_text(kind)}'" if kind else "none"
    raise RequestProblem.one(415, f"Send the body as application/json or text/csv (got {shown}).")


def _answer(
    validator: RowValidator, model: LoadedModel, body: bytes, kind: str
) -> tuple[dict[str, Any], list[Any]]:
    rows = _csv_rows(body) if kind == "csv" else mlflow_rows(validator, json_payload(body))
    answer, frame = answer_rows(validator, model, rows)
    out = model.task_kind.answer_frame(answer, frame.index)
    records = out.to_dict(orient="records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, float) and not math.isfinite(value):
                record[key] = None
    return {"predictions": records}, answer.predictions


def mlflow_rows(validator: RowValidator, payload: Any) -> list[Any]:
    """The rows of an MLflow scoring request (one object per row, not yet validated)."""
    if not isinstance(payload, dict):
        raise RequestProblem.one(
            422, f"The body must be a JSON object with one of {', '.join(FORMATS)}."
        )
    keys = [k for k in payload if k != "params"]
    if len(keys) != 1 or keys[0] not in FORMATS:
        what = ", ".join(f"'{client_text(k)}'" for k in keys) or "none"
        raise RequestProblem.one(
            422, f"The body must have exactly one of {', '.join(FORMATS)}; it has {what}."
        )
    key = keys[0]
    value = payload[key]
    if key == "dataframe_split":
        return validator._split_rows(value)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise RequestProblem.one(422, "'dataframe_records' must be a list of objects.")
        return value
    if key == "inputs" and isinstance(value, dict):
        return _columns_rows(value)
    if not isinstance(value, list):
        raise RequestProblem.one(
            422, f"'{key}' must be a list of rows, or for 'inputs' an object of columns."
        )
    return _instances_rows(validator, key, value)


def _columns_rows(columns: dict[str, Any]) -> list[Any]:
    """``{"inputs": {col: [values]}}``: one list per column, all as long."""
    lengths = {len(v) if isinstance(v, list) else None for v in columns.values()}
    if None in lengths or len(lengths) != 1:
        raise RequestProblem.one(
            422, "'inputs' as an object must map each column to a list of values, all as long."
        )
    n: Any = lengths.pop()
    return [{c: values[i] for c, values in columns.items()} for i in range(n)]


def _instances_rows(validator: RowValidator, key: str, items: list[Any]) -> list[Any]:
    """Rows as objects, or as lists of values in the schema's column order."""
    if not items or all(isinstance(item, dict) for item in items):
        return items
    names = validator.schema.feature_names
    rows: list[Any] = []
    problems = []
    for i, item in enumerate(items):
        values = item if isinstance(item, list) else [item]
        if len(values) != len(names):
            message = f"A row in '{key}' must be an object, or a list of {len(names)} values in "
            problems.append(problem(message + "the order of the model's columns.", row=i))
            continue
        rows.append(dict(zip(names, values, strict=True)))
    if problems:
        raise RequestProblem(422, problems[:50])
    return rows


def _csv_rows(body: bytes) -> list[Any]:
    """A CSV table's rows, its cells read as pandas reads them (numbers as numbers)."""
    import io

    import pandas as pd

    try:
        table = pd.read_csv(io.BytesIO(body), encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        message = f"The body is not a CSV table: {client_text(str(e))}"
        raise RequestProblem(400, [problem(message)]) from None
    table = table.astype(object).where(table.notna(), None)
    return table.to_dict(orient="records")
