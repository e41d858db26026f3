"""Apache Arrow bodies for ``POST /predict``: a batch of rows as one IPC stream.

A JSON body of 10,000 rows is 300,000 numbers to parse, which alone takes longer than the
whole prediction; an Arrow stream (``application/vnd.apache.arrow.stream``) is read
without copying. :func:`read_table` reads the stream (a 400 if it is not one) and bounds
its rows (413); :func:`check_table` checks its columns against the training schema (an
unknown, missing or repeated column, or one of a type its kind cannot take, is a 422
naming it). The compiled path then reads the columns straight into its float matrix
(:meth:`~learnloop.serving.compiled.CompiledModel.answer_table`); where it cannot (its
model does not compile, a value is NaN), :func:`table_records` makes the rows the normal
path checks, naming the row and column of a bad value. :func:`arrow_answer` writes the
answer back as a stream when the client asks for one (``accept``).
"""

from __future__ import annotations

from typing import Any

from learnloop.serving.problems import RequestProblem, client_text, problem
from learnloop.store.model_files import LoadedModel

__all__ = [
    "ARROW_STREAM",
    "arrow_answer",
    "check_table",
    "is_arrow",
    "read_table",
    "table_records",
    "wants_arrow",
]

ARROW_STREAM = "application/vnd.apache.arrow.stream"

# what each kind of column takes, as Arrow types (a test on the type) and in words
_TAKES = {
    "numeric": "integer or floating-point numbers",
    "categorical": "strings (or dictionary-encoded strings), integers, numbers or booleans",
    "datetime": "timestamps, dates or date strings",
    "text": "strings",
}


def _media(value: str) -> str:
    return value.split(";")[0].strip().lower()


def is_arrow(content_type: str) -> bool:
    """Whether a request's content type is an Arrow IPC stream."""
    return _media(content_type) == ARROW_STREAM


def wants_arrow(accept: str) -> bool:
    """Whether the client's ``accept`` header asks for an Arrow stream back."""
    return any(_media(part) == ARROW_STREAM for part in accept.split(","))


def read_table(body: bytes, max_rows: int) -> Any:
    """The body's Arrow stream as a pyarrow Table, or RequestProblem (400, 413, 422)."""
    import pyarrow as pa
    import pyarrow.ipc

    try:
        table = pyarrow.ipc.open_stream(pa.py_buffer(body)).read_all()
        table.validate(full=True)  # offsets and lengths in bounds, text UTF-8: safe to read
    except (pa.ArrowException, OSError, ValueError) as e:
        message = f"The body is not an Arrow IPC stream ({ARROW_STREAM}): {client_text(str(e))}"
        raise RequestProblem(400, [problem(message)]) from None
    n = table.num_rows
    if n == 0:
        raise RequestProblem.one(422, "The batch is empty; send at least one row.")
    if n > max_rows:
        raise RequestProblem.one(
            413,
            f"The batch has {n} rows; at most {max_rows} are allowed per request. "
            "Split it into smaller batches.",
        )
    return table


def check_table(table: Any, model: LoadedModel) -> None:
    """RequestProblem(422) naming each column that is unknown, missing, given twice or of
    an Arrow type its kind cannot take; the training data's unused columns are ignored."""
    schema = model.schema
    kinds = {spec.name: spec for spec in schema.features}
    names = [str(n) for n in table.column_names]
    problems: list[dict[str, Any]] = []
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(problem(f"The column '{client_text(name)}' is given twice.", column=name))
    for name in names:
        if name in kinds or name in schema.dropped:
            continue
        if name == schema.target:
            message = f"The column '{name}' is the target the model predicts; leave it out."
        else:
            message = f"The column '{client_text(name)}' is not one the model was trained on."
        problems.append(problem(message, column=name))
    for name, spec in kinds.items():
        if name not in names:
            message = f"The column '{name}' is missing; the model was trained on it."
            problems.append(problem(message, column=name))
        elif not _takes(spec, table.schema.field(name).type):
            got = client_text(str(table.schema.field(name).type))
            message = f"The column '{name}' must hold {_TAKES[spec.kind]}; got Arrow type {got}."
            problems.append(problem(message, column=name))
    if problems:
        raise RequestProblem(422, problems)


def _takes(spec: Any, kind: Any) -> bool:
    """Whether a column of Arrow type ``kind`` can hold values of the column ``spec``."""
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(kind):
        kind = kind.value_type
    if t.is_null(kind):
        return True
    text = t.is_string(kind) or t.is_large_string(kind)
    if spec.kind == "numeric":
        as_text = spec.dtype in ("object", "str", "string")  # numbers stored as text
        return t.is_integer(kind) or t.is_floating(kind) or (as_text and text)
    if spec.kind == "categorical":
        return text or t.is_integer(kind) or t.is_floating(kind) or t.is_boolean(kind)
    if spec.kind == "datetime":
        return text or t.is_timestamp(kind) or t.is_date(kind)
    return text


def table_records(table: Any) -> list[dict[str, Any]]:
    """The table's rows as the JSON path's row objects (timestamps and dates as ISO
    text), for the normal path's checks and model."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        kind = col.type
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            col = pc.strftime(col, format="%Y-%m-%dT%H:%M:%S") if col.null_count < len(col) else col
        columns[name] = col
    return pa.table(columns).to_pylist()


def arrow_answer(body: dict[str, Any]) -> bytes:
    """A /predict answer as an Arrow stream: a ``predictions`` column and, for a
    classifier, one ``probability_<class>`` column per class (the classes, in order, also
    in the schema's metadata under ``classes``)."""
    import json

    import numpy as np
    import pyarrow as pa
    import pyarrow.ipc

    columns: dict[str, Any] = {"predictions": pa.array(body["predictions"])}
    metadata: dict[str, str] = {}
    if body.get("probabilities") is not None:
        classes = list(body["classes"])
        proba = np.asarray(body["probabilities"], dtype=np.float64)
        for j, c in enumerate(classes):
            columns[f"probability_{c}"] = pa.array(proba[:, j])
        metadata["classes"] = json.dumps([_plain(c) for c in classes])
    if body.get("prediction_ids") is not None:
        columns["prediction_ids"] = pa.array(body["prediction_ids"], type=pa.string())
    table = pa.table(columns, metadata=metadata or None)
    sink = pa.BufferOutputStream()
    with pyarrow.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
