"""HTTP prediction service: a model file becomes a FastAPI app served by uvicorn.

``create_app`` builds the app; its lifespan loads the model once (from the safe format,
with the trusted-types list of :mod:`learnloop.artifacts`) and generates the request
validator from the model's training schema. Endpoints:

- ``POST /predict``  ``{"records": [{col: value}, ...]}`` or MLflow's
  ``{"dataframe_split": {"columns": [...], "data": [[...]]}}``; answers
  ``{"predictions": [...]}`` (plus ``classes`` and ``probabilities`` for classifiers).
  Bad rows get a 422 naming the row and the column; oversized batches get a 413.
- ``POST /recommend``, ``/similar``, ``/audience`` on a recommender (``recommend_api``).
- ``GET /health`` (alive), ``GET /ready`` (model loaded), ``GET /metadata``, ``GET /docs``.

With a token every path except ``/health`` and ``/ready`` needs ``Authorization: Bearer``.
FastAPI, uvicorn and pydantic come from the ``serve`` extra and are imported lazily.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at
# run time, and they name types imported inside ``create_app``.
import hmac
import logging
import math
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from learnloop.artifacts import LoadedModel, load_model
from learnloop.exceptions import LearnloopError, UsageError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "create_app",
    "answer_body",
    "RowValidator",
    "app_from_env",
    "read_token",
    "require_serve_extra",
    "run_server",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_MAX_BODY_BYTES",
]

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_REPORTED_ERRORS = 50
OPEN_PATHS = frozenset({"/health", "/ready"})
_ENV_MODEL = "LEARNLOOP_SERVE_MODEL"
_ENV_TOKEN_FILE = "LEARNLOOP_SERVE_TOKEN_FILE"
_ENV_MAX_ROWS = "LEARNLOOP_SERVE_MAX_ROWS"
_EXPECTED = {
    "numeric": "a finite number or null",
    "categorical": "a string, a finite number, true/false or null",
    "datetime": "a date or date-time string (e.g. 2024-05-01T12:30:00) or null",
}
_log = logging.getLogger("learnloop.serve")


def require_serve_extra() -> None:
    """Raise a UsageError naming the ``serve`` extra if FastAPI or uvicorn is missing."""
    for module in ("fastapi", "uvicorn", "pydantic"):
        try:
            __import__(module)
        except ImportError as e:
            raise UsageError(
                f"Serving needs the '{module}' package, which is not installed; "
                "install the serving extra with: pip install 'learnloop[serve]'"
            ) from e


def read_token(path: str | Path) -> str:
    """The bearer token stored in ``path`` (surrounding whitespace removed)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"The token file '{path}' does not exist.")
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"The token file '{path}' cannot be read ({type(e).__name__}).") from e
    if not token:
        raise UsageError(f"The token file '{path}' is empty; put the token on its first line.")
    if any(ch.isspace() for ch in token) or not token.isprintable():
        raise UsageError(f"The token in '{path}' must be one line of printable characters.")
    return token


# --------------------------------------------------------------------------- JSON


def _json_dumps() -> Callable[[Any], bytes]:
    try:
        import orjson

        def dumps(obj: Any) -> bytes:
            return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY, default=str)

    except ImportError:  # orjson is in the serve extra, but plain json still works
        import json

        def dumps(obj: Any) -> bytes:
            return json.dumps(obj, default=str, allow_nan=False).encode()

    return dumps


_dumps = _json_dumps()


# --------------------------------------------------------------------------- requests


class RequestProblem(Exception):
    """A request that cannot be answered: an HTTP status and error entries for the body."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else str(status))
        self.status = status
        self.errors = errors


def _problem(message: str, row: int | None = None, column: str | None = None) -> dict[str, Any]:
    return {"row": row, "column": column, "message": message}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class RowValidator:
    """Checks a batch of JSON rows against a training schema and turns it into a DataFrame.

    The per-row type is a pydantic TypedDict generated from the schema that forbids unknown
    columns: numeric columns take finite numbers (or null, which the pipeline imputes),
    categorical columns take strings, finite numbers, booleans or null, datetime columns
    take date strings or null. Columns the training data had but the model does not use
    (identifiers, constants) are accepted and ignored.
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
            raise RequestProblem(400, [_problem(f"The body is not valid JSON: {e}")]) from None
        if not isinstance(payload, dict):
            raise RequestProblem(
                422,
                [
                    _problem(
                        "The body must be a JSON object with 'records' "
                        "or 'dataframe_split'; got " + type(payload).__name__ + "."
                    )
                ],
            )
        keys = set(payload)
        known = {"records", "dataframe_records", "dataframe_split"}
        unknown = sorted(keys - known)
        if unknown or len(keys) != 1:
            what = f"unknown key '{unknown[0]}'" if unknown else f"keys {sorted(keys)}"
            raise RequestProblem(
                422,
                [
                    _problem(
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
                    422, [_problem("'records' must be a list of objects, one per row.")]
                )
        self._check_size(len(rows))
        return self.validate(rows)

    def _check_size(self, n: int) -> None:
        if n == 0:
            raise RequestProblem(422, [_problem("The batch is empty; send at least one row.")])
        if n > self.max_rows:
            raise RequestProblem(
                413,
                [
                    _problem(
                        f"The batch has {n} rows; at most {self.max_rows} are allowed per "
                        "request. Split it into smaller batches."
                    )
                ],
            )

    def _split_rows(self, split: Any) -> list[Any]:
        if not isinstance(split, dict):
            raise RequestProblem(
                422, [_problem("'dataframe_split' must be an object with 'columns' and 'data'.")]
            )
        extra = sorted(set(split) - {"columns", "data", "index"})
        if extra:
            raise RequestProblem(
                422, [_problem(f"'dataframe_split' has the unknown key '{extra[0]}'.")]
            )
        columns, data = split.get("columns"), split.get("data")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise RequestProblem(
                422, [_problem("'dataframe_split.columns' must be a list of column names.")]
            )
        if len(set(columns)) != len(columns):
            dup = next(c for c in columns if columns.count(c) > 1)
            raise RequestProblem(
                422, [_problem(f"The column '{dup}' is listed more than once.", column=dup)]
            )
        if not isinstance(data, list):
            raise RequestProblem(
                422, [_problem("'dataframe_split.data' must be a list of rows (lists).")]
            )
        self._check_size(len(data))
        width = len(columns)
        rows: list[Any] = []
        problems: list[dict[str, Any]] = []
        for i, values in enumerate(data):
            if not isinstance(values, list) or len(values) != width:
                problems.append(
                    _problem(f"The row must be a list of {width} values, one per column.", row=i)
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
            out.append(_problem(self._message(err, column), row=row, column=column))
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
            return f"The column '{column}' is not one the model was trained on."
        expected = _EXPECTED.get(self.kinds.get(column, ""), "a valid value")
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
            elif spec.kind == "categorical":
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
            _problem(
                f"The column '{name}' must be {_EXPECTED['datetime']}; "
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
    answer = model.answer(frame)
    predictions = [
        None if isinstance(v, float) and not math.isfinite(v) else v for v in answer.predictions
    ]
    body: dict[str, Any] = {"predictions": predictions}
    if answer.probabilities is not None:
        body["classes"] = answer.classes
        body["probabilities"] = answer.probabilities.tolist()
    return body


# --------------------------------------------------------------------------- app


class _BearerAuth:
    """ASGI middleware: every path but the probes needs ``Authorization: Bearer <token>``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            if not self._authorized(scope["headers"]):
                body = _dumps({"detail": "A valid bearer token is required."})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="learnloop"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _authorized(self, headers: list[tuple[bytes, bytes]]) -> bool:
        for key, value in headers:
            if key == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    given.strip(), self.token
                )
        return False


def create_app(
    model_path: str | Path,
    token: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    *,
    model: LoadedModel | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> "FastAPI":
    """The prediction app for the model file at ``model_path``.

    The model is loaded once, when the app starts (or ``model`` is used if it was already
    loaded from that path). ``token`` turns on bearer-token auth; ``max_rows`` and
    ``max_body_bytes`` bound a request (larger ones get a 413).
    """
    require_serve_extra()
    import anyio
    from fastapi import FastAPI, Request
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import Response

    if max_rows < 1:
        raise UsageError(f"max_rows must be at least 1; got {max_rows}.")
    path = Path(model_path)
    state: dict[str, Any] = {"model": model, "validator": None}

    @asynccontextmanager
    async def lifespan(app: "FastAPI") -> AsyncIterator[None]:
        loaded = state["model"] or await anyio.to_thread.run_sync(load_model, path)
        state["validator"] = RowValidator(loaded, max_rows)
        state["limiter"] = anyio.CapacityLimiter(max(1, os.cpu_count() or 1))
        state["model"] = loaded
        state["pictures"] = getattr(loaded.task_kind, "takes_pictures", False)
        app.openapi_schema = None
        _log.info("learnloop model %s loaded (%s)", path, loaded.task)
        yield

    app = FastAPI(
        title="learnloop prediction service",
        version=_version(),
        description=f"Predictions from the learnloop model file `{path.name}`.",
        lifespan=lifespan,
    )
    if token:
        app.add_middleware(_BearerAuth, token=token)

    def json_response(body: Any, status: int = 200) -> Response:
        return Response(_dumps(body), status_code=status, media_type="application/json")

    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> Response:
        return json_response({"status": "alive"})

    @app.get("/ready", summary="Readiness: the model is loaded")
    async def ready() -> Response:
        if state["validator"] is None:
            return json_response({"status": "loading"}, 503)
        return json_response({"status": "ready", "task": state["model"].task})

    @app.get("/metadata", summary="Task, metric, certificate, schema and versions")
    async def metadata() -> Response:
        if state["model"] is None:
            return json_response({"detail": "The model is not loaded yet."}, 503)
        return json_response(_public_metadata(state["model"]))

    @app.post(
        "/predict",
        summary="Predict a batch of rows",
        responses={
            200: {"description": "One prediction per row (and class probabilities)."},
            400: {"description": "The body is not JSON."},
            401: {"description": "The bearer token is missing or wrong."},
            413: {"description": "The batch has too many rows or bytes."},
            415: {"description": "An upload is not a picture (models that take pictures)."},
            422: {"description": "A row does not match the schema; names the row and column."},
        },
    )
    async def predict(request: Request) -> Response:
        validator: RowValidator | None = state["validator"]
        if validator is None:
            return json_response({"detail": "The model is not loaded yet."}, 503)
        try:
            body = await _read_body(request, max_body_bytes)
            # Parsing, checking and predicting all run in one trip to a worker thread.
            if state["pictures"]:  # uploaded pictures (learnloop.uploads)
                from learnloop.uploads import answer_upload

                kind = request.headers.get("content-type", "")
                result = await anyio.to_thread.run_sync(
                    answer_upload, state["model"], kind, body, max_rows, limiter=state["limiter"]
                )
            else:
                result = await anyio.to_thread.run_sync(
                    answer_body, validator, state["model"], body, limiter=state["limiter"]
                )
        except RequestProblem as p:
            return json_response({"detail": p.errors}, p.status)
        except (LearnloopError, ValueError, TypeError, KeyError, IndexError) as e:
            # Rows passed validation, so this is data the model cannot take; say so.
            _log.warning("prediction refused: %s: %s", type(e).__name__, e)
            return json_response({"detail": [_problem(f"The model cannot predict: {e}")]}, 422)
        return json_response(result)

    from learnloop.recommend_api import add_recommend_routes

    add_recommend_routes(app, state, json_response, _read_body)  # POST /recommend, ...

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            if state["validator"] is not None:
                _document_predict(schema, state["validator"], max_rows)
            if token:
                components = schema.setdefault("components", {})
                components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
                schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _read_body(request: Any, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise RequestProblem(413, [_problem(f"The body is larger than {limit} bytes.")])
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestProblem(413, [_problem(f"The body is larger than {limit} bytes.")])
        chunks.append(chunk)
    return b"".join(chunks)


def _document_predict(schema: dict[str, Any], validator: RowValidator, max_rows: int) -> None:
    from typing import Annotated, NotRequired

    from pydantic import Field, TypeAdapter
    from typing_extensions import TypedDict

    row_type: Any = validator.row_type
    batch = Field(min_length=1, max_length=max_rows)

    class RecordsRequest(TypedDict):
        records: Annotated[list[row_type], batch]

    class DataframeSplit(TypedDict):
        columns: list[str]
        data: Annotated[list[list[Any]], batch]
        index: NotRequired[list[Any]]

    class DataframeSplitRequest(TypedDict):
        dataframe_split: DataframeSplit

    adapter = TypeAdapter(RecordsRequest | DataframeSplitRequest)
    body = adapter.json_schema(ref_template="#/components/schemas/{model}")
    defs = body.pop("$defs", {})
    schema.setdefault("components", {}).setdefault("schemas", {}).update(defs)
    names = validator.schema.feature_names
    example = {"records": [dict.fromkeys(names, None)]}
    operation = schema["paths"]["/predict"]["post"]
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": body, "example": example}},
    }


def _public_metadata(model: LoadedModel) -> dict[str, Any]:
    meta = model.metadata
    keys = (
        "task",
        "metric",
        "threshold",
        "status",
        "certificate",
        "baseline_score",
        "validation_score",
        "candidate",
        "run_id",
        "created_unix",
        "n_train_rows",
        "data_fingerprint",
        "schema",
        "versions",
    )
    return {k: meta.get(k) for k in keys}


def _version() -> str:
    from learnloop import __version__

    return __version__


# --------------------------------------------------------------------------- running


def app_from_env() -> "FastAPI":
    """App factory for uvicorn workers: reads the model path and token file from the env."""
    path = os.environ.get(_ENV_MODEL)
    if not path:
        raise UsageError(f"{_ENV_MODEL} is not set; start the service with `learnloop serve`.")
    token_file = os.environ.get(_ENV_TOKEN_FILE)
    return create_app(
        path,
        token=read_token(token_file) if token_file else None,
        max_rows=int(os.environ.get(_ENV_MAX_ROWS, DEFAULT_MAX_ROWS)),
    )


def run_server(
    model_path: str | Path,
    *,
    model: LoadedModel | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    token_file: str | Path | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve the model with uvicorn until interrupted (``workers`` > 1 uses processes)."""
    require_serve_extra()
    import uvicorn

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "server_header": False,
    }
    if workers > 1:
        os.environ[_ENV_MODEL] = str(Path(model_path).resolve())
        os.environ[_ENV_MAX_ROWS] = str(max_rows)
        if token_file is not None:
            os.environ[_ENV_TOKEN_FILE] = str(Path(token_file).resolve())
        else:
            os.environ.pop(_ENV_TOKEN_FILE, None)
        uvicorn.run("learnloop.serve:app_from_env", factory=True, workers=workers, **options)
        return
    token = read_token(token_file) if token_file is not None else None
    app = create_app(model_path, token=token, max_rows=max_rows, model=model)
    uvicorn.run(app, **options)
