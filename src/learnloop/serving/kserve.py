"""The Open Inference Protocol (KServe v2) over HTTP/REST, for a table model.

``GET /v2`` (server metadata), ``/v2/health/live``, ``/v2/health/ready``,
``GET /v2/models/{name}`` (the model's inputs and outputs as tensors),
``/v2/models/{name}/ready`` and ``POST /v2/models/{name}/infer``; each model path also
under ``/versions/1``. The model's name is its file's stem. A request carries one tensor
per column, named as the column, of shape ``[n]`` or ``[n, 1]``, or one 2-D tensor of
shape ``[n, columns]`` in the order ``GET /v2/models/{name}`` lists them; tensors come as
JSON ``data`` or in the binary extension (``Inference-Header-Content-Length``). The answer
is ``predictions`` and, where the model gives them, ``probabilities`` (``[n, classes]``)
and ``classes``. A malformed tensor is a 400 naming it; rows then go through
``/predict``'s checks (a 422 naming row and column). Refusals are ``{"error": message}``
as the protocol says, with ``/predict``'s ``detail`` list beside it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
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

__all__ = ["kserve_router"]

VERSION = "1"
_NUMBERS = {
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
_TYPES = {*_NUMBERS, "BOOL", "BYTES"}
_INPUT_TYPE = {"numeric": "FP64"}  # the rest (categories, dates, text) are BYTES
_HEADER = "inference-header-content-length"


def kserve_router(serving: Serving, name: str) -> APIRouter:
    """The protocol's paths for the model served under ``name``."""
    router = APIRouter(include_in_schema=False)
    paths = _Paths(serving, name)
    router.add_api_route("/v2", paths.server, methods=["GET"])
    router.add_api_route("/v2/health/live", paths.live, methods=["GET"])
    router.add_api_route("/v2/health/ready", paths.ready, methods=["GET"])
    for base in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        router.add_api_route(base, paths.metadata, methods=["GET"])
        router.add_api_route(base + "/ready", paths.model_ready, methods=["GET"])
        router.add_api_route(base + "/infer", paths.infer, methods=["POST"])
    return router


class _Paths:
    """The endpoints, for one served model."""

    def __init__(self, serving: Serving, name: str) -> None:
        self.serving = serving
        self.name = name
        self._metadata: tuple[LoadedModel, dict[str, Any]] | None = None

    async def server(self) -> Any:
        from learnloop._version import __version__

        extensions = ["binary_tensor_data"]
        return respond({"name": "learnloop", "version": __version__, "extensions": extensions})

    async def live(self) -> Any:
        return respond({"live": True})

    async def ready(self) -> Any:
        ready = self.serving.ready
        return respond({"ready": ready}, 200 if ready else 503)

    async def model_ready(self, name: str, version: str = VERSION) -> Any:
        try:
            self._check_name(name, version)
        except RequestProblem as p:
            return _refuse(p)
        ready = self.serving.ready
        return respond({"name": name, "ready": ready}, 200 if ready else 503)

    async def metadata(self, name: str, version: str = VERSION) -> Any:
        try:
            model, _ = self._check(name, version)
        except RequestProblem as p:
            return _refuse(p)
        if self._metadata is None or self._metadata[0] is not model:
            self._metadata = (model, _metadata(model, self.name))  # a prediction: once
        return respond(self._metadata[1])

    async def infer(self, request: Request, name: str, version: str = VERSION) -> Any:
        try:
            model, validator = self._check(name, version)
            header = request.headers.get(_HEADER)
            body = await read_body(request, self.serving.body)
            result, predictions = await run_checked(
                self.serving, lambda: _infer(validator, model, body, header, self.name)
            )
        except RequestProblem as p:
            return _refuse(p)
        except ClientGone:
            return respond({"error": "The client went away."}, 400)  # nobody reads it
        request.scope[PREDICTIONS] = predictions
        return respond(result)

    def _check_name(self, asked: str, version: str) -> None:
        if asked != self.name:
            message = f"There is no model '{client_text(asked)}'; this server has '{self.name}'."
            raise RequestProblem.one(404, message)
        if version != VERSION:
            message = f"'{self.name}' has only version {VERSION}; got '{client_text(version)}'."
            raise RequestProblem.one(404, message)

    def _check(self, asked: str, version: str) -> tuple[LoadedModel, RowValidator]:
        """The model and its validator, or RequestProblem (404, 503, 422)."""
        self._check_name(asked, version)
        model, validator = self.serving.model, self.serving.validator
        if model is None or validator is None:
            raise RequestProblem.one(503, "The model is not loaded yet.")
        check_table_model(self.serving, "the Open Inference Protocol")
        return model, validator


def _refuse(p: RequestProblem) -> Any:
    return respond({"error": str(p), "detail": p.errors}, p.status, p.headers)


# --------------------------------------------------------------------------- metadata


def _metadata(model: LoadedModel, name: str) -> dict[str, Any]:
    """Inputs: one tensor per column (FP64 for numbers, BYTES for the rest); outputs as
    the model answers a made-up row."""
    inputs = [
        {"name": spec.name, "datatype": _INPUT_TYPE.get(spec.kind, "BYTES"), "shape": [-1]}
        for spec in model.schema.features
    ]
    return {
        "name": name,
        "versions": [VERSION],
        "platform": "learnloop",
        "inputs": inputs,
        "outputs": _output_specs(model),
    }


def _output_specs(model: LoadedModel) -> list[dict[str, Any]]:
    from learnloop.store.mlflow_model import input_example

    try:
        answer = model.answer(input_example(model, 1))
    except Exception:  # noqa: BLE001 -- a made-up row the model refuses: say the least
        return [{"name": "predictions", "datatype": "BYTES", "shape": [-1]}]
    specs = [{"name": "predictions", "datatype": _datatype(answer.predictions)[0], "shape": [-1]}]
    if answer.probabilities is not None and answer.classes is not None:
        k = len(answer.classes)
        specs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, k]})
        specs.append({"name": "classes", "datatype": _datatype(answer.classes)[0], "shape": [k]})
    return specs


def _datatype(values: list[Any]) -> tuple[str, list[Any]]:
    """The protocol's datatype for ``values`` and the values as JSON carries them."""
    kind = np.asarray(values).dtype.kind
    if kind == "b":
        return "BOOL", [bool(v) for v in values]
    if kind in "iu":
        return "INT64", [int(v) for v in values]
    if kind == "f":
        return "FP64", [float(v) if math.isfinite(v) else None for v in values]
    return "BYTES", [None if v is None else str(v) for v in values]


# --------------------------------------------------------------------------- inference


def _infer(
    validator: RowValidator, model: LoadedModel, body: bytes, header: str | None, name: str
) -> tuple[dict[str, Any], list[Any]]:
    request, blobs = _split_binary(body, header)
    if not isinstance(request, dict):
        raise RequestProblem.one(400, "The body must be a JSON object with 'inputs'.")
    tensors = request.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise RequestProblem.one(400, "'inputs' must be a list of tensors (at least one).")
    columns = [_tensor(t, i, blobs) for i, t in enumerate(tensors)]
    rows = _rows(validator, columns)
    answer, _ = answer_rows(validator, model, rows)
    outputs = _outputs(answer, request.get("outputs"))
    out: dict[str, Any] = {"model_name": name, "model_version": VERSION, "outputs": outputs}
    if isinstance(request.get("id"), str):
        out["id"] = request["id"]
    return out, answer.predictions


def _split_binary(body: bytes, header: str | None) -> tuple[Any, _Blobs]:
    """The JSON part of the body, and the binary tensor data after it (if any)."""
    if header is None:
        return json_payload(body), _Blobs(memoryview(b""))
    if not header.strip().isdigit() or int(header) > len(body):
        raise RequestProblem.one(
            400,
            f"Inference-Header-Content-Length must be the JSON part's length in bytes "
            f"(at most {len(body)}); got '{client_text(header)}'.",
        )
    n = int(header)
    return json_payload(body[:n]), _Blobs(memoryview(body)[n:])


class _Tensor:
    """One input tensor: its name, shape and values (row-major, flat)."""

    def __init__(self, name: str, shape: list[int], values: list[Any]) -> None:
        self.name, self.shape, self.values = name, shape, values


def _tensor(spec: Any, i: int, blobs: _Blobs) -> _Tensor:
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
    if not isinstance(datatype, str) or datatype not in _TYPES:
        raise RequestProblem.one(
            400,
            f"{label} has the datatype '{client_text(str(datatype))}'; "
            f"use one of {', '.join(sorted(_TYPES))}.",
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
    return _Tensor(name, shape, values)


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


class _Blobs:
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
    dtype = np.dtype("?" if datatype == "BOOL" else _NUMBERS[datatype])
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


def _rows(validator: RowValidator, tensors: list[_Tensor]) -> list[dict[str, Any]]:
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


def _outputs(answer: Any, asked: Any) -> list[dict[str, Any]]:
    n = len(answer.predictions)
    datatype, values = _datatype(answer.predictions)
    outputs: list[dict[str, Any]] = [
        {"name": "predictions", "datatype": datatype, "shape": [n], "data": values}
    ]
    if answer.probabilities is not None and answer.classes is not None:
        k = len(answer.classes)
        probabilities = np.asarray(answer.probabilities, dtype=float).ravel().tolist()
        outputs.append(
            {"name": "probabilities", "datatype": "FP64", "shape": [n, k], "data": probabilities}
        )
        kind, classes = _datatype(answer.classes)
        outputs.append({"name": "classes", "datatype": kind, "shape": [k], "data": classes})
    if asked is None:
        return outputs
    if not isinstance(asked, list) or not all(isinstance(o, dict) for o in asked):
        raise RequestProblem.one(400, "'outputs' must be a list of objects with a 'name'.")
    by_name: dict[str, dict[str, Any]] = {o["name"]: o for o in outputs}
    wanted = [str(o.get("name")) for o in asked]
    for w in wanted:
        if w not in by_name:
            raise RequestProblem.one(
                400,
                f"There is no output '{client_text(str(w))}'; the model gives "
                f"{', '.join(by_name)}.",
            )
    return [by_name[w] for w in wanted]
