"""The OpenAPI document, made true for the loaded model: what each path takes and answers.

FastAPI's generated document is the skeleton; this module fills in what it cannot know:

- ``/predict``'s body: for a table model the JSON forms generated from the training
  schema (``records``, ``dataframe_records`` and ``dataframe_split`` with the column
  names), for a picture model ``multipart/form-data`` files or one ``image/*`` body;
- the recommender's three paths, only for a recommender (other models answer 404 there);
- every status each path can answer, with the body's schema;
- security on each path that needs the token, none on ``/health`` and ``/ready``.
"""

# No ``from __future__ import annotations``: pydantic reads the TypedDicts' annotations,
# which name local variables, at run time.
from typing import Any

from learnloop.pictures.header import FORMATS
from learnloop.serving.arrow import ARROW_STREAM
from learnloop.serving.auth import OPEN_PATHS
from learnloop.serving.feedback import document_recording
from learnloop.serving.rows import RowValidator
from learnloop.serving.state import Serving

__all__ = ["document"]

_REF = "#/components/schemas/{model}"
_PROBLEM = {
    "type": "object",
    "properties": {
        "row": {"type": ["integer", "null"]},
        "column": {"type": ["string", "null"]},
        "message": {"type": "string"},
    },
    "required": ["row", "column", "message"],
    "additionalProperties": False,
}
_COMPONENTS = {
    "Problem": _PROBLEM,
    "Refusal": {
        "type": "object",
        "properties": {
            "detail": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}}
        },
        "required": ["detail"],
    },
    "Message": {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
}
_WHY = {
    400: "The body cannot be read (not JSON, a bad multipart body or picture).",
    401: "The bearer token is missing or wrong.",
    404: "The model is not a recommender.",
    408: "The body did not arrive in time; the connection is closed.",
    413: "The body, the batch or a picture is too large.",
    415: "The body's content type or a file's format is not one this path takes.",
    422: "The body does not match the schema; names the row and column.",
    503: "The model is not loaded yet.",
}
_ARRAY = {"type": "array"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _REF.format(model=name)}


def _responses(ok: dict[str, Any], statuses: tuple[int, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": "The answer.", "content": _json(ok)}}
    for status in statuses:
        body = "Message" if status in (401, 503) else "Refusal"
        out[str(status)] = {"description": _WHY[status], "content": _json(_ref(body))}
    return out


def _status_only(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(pairs), "required": [k for k, _ in pairs]}


def _probe_responses(operation: str, serving: Serving) -> dict[str, Any]:
    if operation == "/health":
        return _responses(_status_only(("status", {"const": "alive"})), ())
    if operation == "/ready":
        ready = _status_only(("status", {"const": "ready"}), ("task", {"type": "string"}))
        out = _responses(ready, ())
        loading = _status_only(("status", {"const": "loading"}))
        out["503"] = {"description": _WHY[503], "content": _json(loading)}
        return out
    return _responses({"type": "object"}, (503,))  # /metadata


def _rows_body(validator: RowValidator, max_rows: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON body of /predict for a table model, and its schemas' definitions."""
    from typing import Annotated

    from pydantic import ConfigDict, Field, TypeAdapter
    from typing_extensions import TypedDict

    row_type: Any = validator.row_type
    batch = Field(min_length=1, max_length=max_rows)
    forbid = ConfigDict(extra="forbid")  # the server refuses unknown keys at every level

    class RecordsRequest(TypedDict):
        __pydantic_config__ = forbid  # type: ignore[misc]
        records: Annotated[list[row_type], batch]

    class DataframeRecordsRequest(TypedDict):
        __pydantic_config__ = forbid  # type: ignore[misc]
        dataframe_records: Annotated[list[row_type], batch]

    adapter = TypeAdapter(RecordsRequest | DataframeRecordsRequest)
    body = adapter.json_schema(ref_template=_REF)
    defs = body.pop("$defs", {})
    split = _split_schema(validator, defs["Row"]["properties"], max_rows)
    body["anyOf"].insert(1, split)
    return body, defs


def _split_schema(
    validator: RowValidator, columns: dict[str, Any], max_rows: int
) -> dict[str, Any]:
    """MLflow's ``dataframe_split``, with the model's columns in the order listed here (the
    server takes them in any order, and also the training data's unused columns)."""
    names = validator.schema.feature_names
    n = len(names)

    def fixed(items: list[dict[str, Any]]) -> dict[str, Any]:
        return {"type": "array", "prefixItems": items, "items": False, "minItems": n, "maxItems": n}

    rows = fixed([columns[c] for c in names])
    data = {"type": "array", "items": rows, "minItems": 1, "maxItems": max_rows}
    inner: dict[str, Any] = {
        "type": "object",
        "properties": {
            "columns": fixed([{"const": c} for c in names]),
            "data": data,
            "index": {"description": "Row labels; ignored."},
        },
        "required": ["columns", "data"],
        "additionalProperties": False,
        "description": _split_schema.__doc__,
    }
    return {
        "type": "object",
        "title": "DataframeSplitRequest",
        "properties": {"dataframe_split": inner},
        "required": ["dataframe_split"],
        "additionalProperties": False,
    }


def _predictions(serving: Serving) -> dict[str, Any]:
    if serving.takes_pictures:
        rows = {"type": "array", "items": {"type": "object"}}
        return _status_only(("predictions", _ARRAY), ("rows", rows))
    out = _status_only(("predictions", _ARRAY))
    out["properties"]["classes"] = _ARRAY
    out["properties"]["probabilities"] = {"type": "array", "items": _ARRAY}
    return out


def _pictures_body(max_rows: int) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    files = {"type": "array", "items": binary, "minItems": 1, "maxItems": max_rows}
    form: dict[str, Any] = {
        "type": "object",
        "properties": {"file": files},
        "required": ["file"],
        "description": "Picture files under any field name; "
        + ", ".join(f.name for f in FORMATS)
        + " (told by their first bytes).",
    }
    content: dict[str, Any] = {"multipart/form-data": {"schema": form}}
    for fmt in FORMATS:
        content[fmt.media_type] = {"schema": binary}
    return {"required": True, "content": content}


def _predict(operation: dict[str, Any], serving: Serving, defs: dict[str, Any]) -> None:
    assert serving.validator is not None
    if serving.takes_pictures:
        operation["requestBody"] = _pictures_body(serving.max_rows)
    else:
        body, more = _rows_body(serving.validator, serving.max_rows)
        defs.update(more)
        names = serving.validator.schema.feature_names
        example = {"records": [dict.fromkeys(names, None)]}
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": body, "example": example},
                ARROW_STREAM: {"schema": _ARROW_BODY},
            },
        }
    operation["responses"] = _responses(_predictions(serving), (400, 408, 413, 415, 422, 503))
    if not serving.takes_pictures:
        operation["responses"]["200"]["content"][ARROW_STREAM] = {"schema": _ARROW_ANSWER}


_ARROW_BODY = {
    "type": "string",
    "format": "binary",
    "description": "The rows as an Apache Arrow IPC stream, one column per training column "
    "(the same names; numbers as integer or floating-point columns, null where missing).",
}
_ARROW_ANSWER = {
    "type": "string",
    "format": "binary",
    "description": "With `accept: application/vnd.apache.arrow.stream`: the answer as an "
    "Arrow IPC stream, a `predictions` column and one `probability_<class>` column per class.",
}


def _id(kind: str | None, what: str) -> dict[str, Any]:
    """A user or item id as the model takes it: whole numbers (or their text) where the
    training data's ids were whole numbers, else text or a whole number."""
    if kind == "integer":
        text = {"type": "string", "pattern": r"^\s*-?[0-9]+\s*$"}
        return {"anyOf": [{"type": "integer"}, text], "description": f"A {what} id."}
    return {"anyOf": [{"type": "string"}, {"type": "integer"}], "description": f"A {what} id."}


def _recommend(paths: dict[str, Any], serving: Serving, defs: dict[str, Any]) -> None:
    from learnloop.serving.recommend import BODIES

    for path, model in BODIES.items():
        if not serving.recommends or serving.model is None:
            paths.pop(path, None)
            continue
        schema = model.model_json_schema(ref_template=_REF)
        defs.update(schema.pop("$defs", {}))
        options = serving.model.schema.options
        for what in ("user", "item"):
            if what in schema["properties"]:
                schema["properties"][what] = _id(options.get(f"{what}_kind"), what)
        if "item" in schema["properties"]:
            schema["properties"]["item"]["description"] += " One the model never saw is a 422."
        operation = paths[path]["post"]
        operation["requestBody"] = {"required": True, "content": _json(schema)}
        scores = {"type": "array", "items": {"type": ["number", "null"]}}
        answer = {"type": "object", "properties": {"scores": scores}, "required": ["scores"]}
        operation["responses"] = _responses(answer, (400, 408, 413, 415, 422, 503))


def document(base: dict[str, Any], serving: Serving, token: bool) -> dict[str, Any]:
    """``base`` (FastAPI's document) made to say exactly what each path does."""
    paths = base.setdefault("paths", {})
    defs = base.setdefault("components", {}).setdefault("schemas", {})
    defs.update(_COMPONENTS)
    for probe in ("/health", "/ready", "/metadata"):
        paths[probe]["get"]["responses"] = _probe_responses(probe, serving)
    if serving.ready:
        _predict(paths["/predict"]["post"], serving, defs)
        _recommend(paths, serving, defs)
    document_recording(paths, serving)  # /feedback and /monitor, where predictions are recorded
    if token:
        base["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for path, item in paths.items():
        for operation in item.values():
            if token and path not in OPEN_PATHS:
                operation["security"] = [{"bearer": []}]
                operation["responses"]["401"] = {
                    "description": _WHY[401],
                    "content": _json(_ref("Message")),
                }
    return base
