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
    run_checked,
)
from learnloop.serving.body import ClientGone, read_body
from learnloop.serving.problems import RequestProblem, client_text, respond
from learnloop.serving.rows import RowValidator
from learnloop.serving.state import Serving
from learnloop.serving.tensors import parse_body, read_tensor, tensor_rows
from learnloop.store.model_files import LoadedModel

__all__ = ["kserve_router"]

VERSION = "1"
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
            compiled = self.serving.compiled  # the pinned model's
            result, predictions = await run_checked(
                self.serving, lambda: _infer(validator, model, body, header, self.name, compiled)
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


def _infer(  # noqa: PLR0913 -- the request and what answers it
    validator: RowValidator,
    model: LoadedModel,
    body: bytes,
    header: str | None,
    name: str,
    compiled: Any = None,
) -> tuple[dict[str, Any], list[Any]]:
    """The answer to one infer request: the compiled path's on the tensors' rows where it
    takes them (``compiled``), else the normal path's, which names what is wrong."""
    request, blobs = parse_body(body, header)
    if not isinstance(request, dict):
        raise RequestProblem.one(400, "The body must be a JSON object with 'inputs'.")
    tensors = request.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise RequestProblem.one(400, "'inputs' must be a list of tensors (at least one).")
    columns = [read_tensor(t, i, blobs) for i, t in enumerate(tensors)]
    rows = tensor_rows(validator, columns)
    answer = compiled.answer_rows(rows) if compiled is not None else None
    if answer is None:
        answer, _ = answer_rows(validator, model, rows)
    outputs = _outputs(answer, request.get("outputs"))
    out: dict[str, Any] = {"model_name": name, "model_version": VERSION, "outputs": outputs}
    if isinstance(request.get("id"), str):
        out["id"] = request["id"]
    return out, answer.predictions


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
