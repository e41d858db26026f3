"""Tensors of the Open Inference Protocol read into rows for the row validator.

A request's JSON part (and, with the binary extension, the bytes after it) becomes
:class:`Tensor` objects, each checked alone (name, shape, datatype, its elements' types and
count: a 400 naming it); :func:`tensor_rows` makes rows of them, one tensor per column or
one 2-D tensor of all the columns, for the same checks as ``/predict``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from learnloop.serving.answers import json_payload
from learnloop.serving.problems import RequestProblem, client_text, problem
from learnloop.serving.rows import RowValidator

__all__ = ["NUMBERS", "TYPES", "Blobs", "Tensor", "parse_body", "read_tensor", "tensor_rows"]

NUMBERS = {
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
TYPES = {*NUMBERS, "BOOL", "BYTES"}


def parse_body(body: bytes, header: str | None) -> tuple[Any, Blobs]:
    """The JSON part of the body, and the binary tensor data after it (if any)."""
    if header is None:
        return json_payload(body), Blobs(memoryview(b""))
    if not header.strip().isdigit() or int(header) > len(body):
        raise RequestProblem.one(
            400,
            f"Inference-Header-Content-Length must be the JSON part's length in bytes "
            f"(at most {len(body)}); got '{client_text(header)}'.",
        )
    n = int(header)
    return json_payload(body[:n]), Blobs(memoryview(body)[n:])


class Tensor:
    """One input tensor: its name, shape and values (row-major, flat)."""

    def __init__(self, name: str, shape: list[int], values: list[Any]) -> None:
        self.name, self.shape, self.values = name, shape, values


def read_tensor(spec: Any, i: int, blobs: Blobs) -> Tensor:
    if not isinstance(spec, dict):
        raise RequestProblem.one(400, f"Input {i} must be an object with name, shape, datatype.")
    name = spec.get("name")
    if not isinstance(name, str):
        raise RequestProblem.one(400, f"Input {i} has no 'name'.")
    label = f"The input '{client_text(name)}'"
    shape: Any = spec.get("shape")
    ok = isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)
    if not ok or not 1 <= len(shape) <= 2:
        raise RequestProblem.one(400, f"{label} must have a shape of [rows] or [rows, columns].")
    datatype = spec.get("datatype")
    if not isinstance(datatype, str) or datatype not in TYPES:
        raise RequestProblem.one(
            400,
            f"{label} has the datatype '{client_text(str(datatype))}'; "
            f"use one of {', '.join(sorted(TYPES))}.",
        )
    size = math.prod(shape)
    params = spec.get("parameters") or {}
    if isinstance(params, dict) and "binary_data_size" in params:
        raw = blobs.take(label, params["binary_data_size"])
        values = _binary(label, datatype, raw, size)
    else:
        values = _flat(label, spec.get("data"))
    if len(values) != size:
        raise RequestProblem.one(
            400, f"{label} has shape {shape} ({size} values) but carries {len(values)} values."
        )
    _check_type(label, datatype, values)
    return Tensor(name, shape, values)


def _flat(label: str, data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise RequestProblem.one(400, f"{label} has no 'data' list (nor binary data).")
    if any(isinstance(v, list) for v in data):
        out: list[Any] = []
        stack = [iter(data)]
        while stack:
            for v in stack[-1]:
                if isinstance(v, list):
                    stack.append(iter(v))
                    break
                out.append(v)
            else:
                stack.pop()
        return out
    return data


class Blobs:
    """The binary tensor data after the JSON part: each binary input takes its bytes in turn."""

    def __init__(self, data: memoryview) -> None:
        self.data = data

    def take(self, label: str, size: Any) -> bytes:
        if type(size) is not int or size < 0 or size > len(self.data):
            raise RequestProblem.one(
                400, f"{label} says binary_data_size {size!r}, but fewer bytes follow."
            )
        raw, self.data = self.data[:size].tobytes(), self.data[size:]
        return raw


def _binary(label: str, datatype: str, raw: bytes, count: int) -> list[Any]:
    """Values from the binary extension (little-endian; BYTES as length-prefixed items)."""
    if datatype == "BYTES":
        return _bytes_elements(label, raw)
    dtype = np.dtype("?" if datatype == "BOOL" else NUMBERS[datatype])
    if len(raw) != count * dtype.itemsize:
        need = count * dtype.itemsize
        raise RequestProblem.one(
            400, f"{label} has {len(raw)} bytes of {datatype}; its shape needs {need}."
        )
    return np.frombuffer(raw, dtype=dtype).tolist()


def _bytes_elements(label: str, raw: bytes) -> list[Any]:
    out: list[Any] = []
    at = 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise RequestProblem.one(400, f"{label}'s BYTES data ends inside a length prefix.")
        n = int.from_bytes(raw[at : at + 4], "little")
        at += 4
        if at + n > len(raw):
            raise RequestProblem.one(400, f"{label}'s BYTES data ends inside an element.")
        try:
            out.append(raw[at : at + n].decode("utf-8"))
        except UnicodeDecodeError:
            raise RequestProblem.one(
                400, f"{label} has an element that is not UTF-8 text."
            ) from None
        at += n
    return out


def _check_type(label: str, datatype: str, values: list[Any]) -> None:
    """Each element as its datatype says (null is a missing value in any of them)."""
    ok: tuple[type, ...]
    if datatype == "BYTES":
        ok = (str,)
    elif datatype == "BOOL":
        ok = (bool,)
    else:
        ok = (int, float)
    for j, v in enumerate(values):
        if v is not None and (not isinstance(v, ok) or (ok != (bool,) and isinstance(v, bool))):
            raise RequestProblem(
                400, [problem(f"{label} is {datatype} but element {j} is {v!r:.40}.", row=j)]
            )


def tensor_rows(validator: RowValidator, tensors: list[Tensor]) -> list[dict[str, Any]]:
    """Rows from one tensor per column, or from one 2-D tensor of all the columns."""
    names = validator.schema.feature_names
    known = set(names) | set(validator.schema.dropped)
    if len(tensors) == 1 and tensors[0].name not in known and len(tensors[0].shape) == 2:
        t = tensors[0]
        n, width = t.shape
        if width != len(names):
            raise RequestProblem.one(
                400,
                f"The input '{client_text(t.name)}' has {width} columns; the model takes "
                f"{len(names)}: {', '.join(names)}.",
            )
        v = t.values
        return [dict(zip(names, v[i * width : (i + 1) * width], strict=True)) for i in range(n)]
    for t in tensors:
        if t.name not in known:
            raise RequestProblem(
                400,
                [
                    problem(
                        f"The input '{client_text(t.name)}' is not one of the model's "
                        f"columns ({', '.join(names)}).",
                        column=t.name,
                    )
                ],
            )
        if len(t.shape) == 2 and t.shape[1] != 1:
            raise RequestProblem(
                400,
                [
                    problem(
                        f"The input '{t.name}' is one column: shape [rows] or [rows, 1]; "
                        f"got {t.shape}.",
                        column=t.name,
                    )
                ],
            )
    given = [t.name for t in tensors]
    if len(set(given)) != len(given):
        dup = next(g for g in given if given.count(g) > 1)
        raise RequestProblem(400, [problem(f"The input '{dup}' is given twice.", column=dup)])
    missing = [c for c in names if c not in given]
    if missing:
        raise RequestProblem(
            400,
            [
                problem(f"The input '{c}' is missing; the model takes it.", column=c)
                for c in missing
            ],
        )
    lengths = {t.shape[0] for t in tensors}
    if len(lengths) != 1:
        raise RequestProblem.one(
            400, f"The inputs have different numbers of rows: {sorted(lengths)}."
        )
    n = lengths.pop()
    return [{t.name: t.values[i] for t in tensors} for i in range(n)]
