"""``POST /predict``: JSON rows (or an Arrow stream) for a table model, uploaded pictures
for a picture model.

Reading the body is bounded (:mod:`learnloop.serving.body`); parsing, checking and
predicting then run in one trip to a worker thread, under the app's thread limiter.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from fastapi import APIRouter, Request
from starlette.responses import Response

from learnloop.serving.answers import PREDICTIONS, run_checked
from learnloop.serving.arrow import (
    ARROW_STREAM,
    arrow_answer,
    check_table,
    is_arrow,
    read_table,
    table_records,
    wants_arrow,
)
from learnloop.serving.body import ClientGone, read_body, require_json
from learnloop.serving.compiled import INLINE_BYTES
from learnloop.serving.problems import MODEL_REFUSALS, RequestProblem, problem, refuse, respond
from learnloop.serving.rows import answer_body
from learnloop.serving.state import Serving
from learnloop.store.model_files import LoadedModel

__all__ = ["predict_router"]

_log = logging.getLogger("learnloop.serve")


def predict_router(serving: Serving) -> APIRouter:
    """The /predict endpoint (its request body is documented by ``serving.openapi``)."""
    router = APIRouter()

    @router.post("/predict", summary="Predict a batch of rows (or uploaded pictures)")
    async def predict(request: Request) -> Any:
        model, validator = serving.model, serving.validator
        if model is None or validator is None:
            return respond({"detail": "The model is not loaded yet."}, 503)
        try:
            if serving.takes_pictures:
                result = await _pictures(serving, model, request)
            elif is_arrow(request.headers.get("content-type", "")):
                body = await read_body(request, serving.body)
                result, body = await run_checked(
                    serving, lambda: _table(serving, model, validator, body)
                )
            else:
                require_json(request)
                body = await read_body(request, serving.body)
                result = await _rows(serving, model, validator, body)
        except RequestProblem as p:
            return refuse(p)
        except ClientGone:
            return respond({"detail": "The client went away."}, 400)  # nobody reads it
        except MODEL_REFUSALS as e:
            # Rows passed validation, so this is data the model cannot take; say so.
            _log.warning("prediction refused: %s: %s", type(e).__name__, e)
            return respond({"detail": [problem(f"The model cannot predict: {e}")]}, 422)
        if serving.recorder is not None and not serving.takes_pictures:
            ids = serving.recorder.add(model, body, result)  # ids into the answer; writes later
            if serving.shadow is not None:
                serving.shadow.add(body, ids)  # the challenger predicts them off this path
        request.scope[PREDICTIONS] = result.get("predictions")  # for /metrics
        if wants_arrow(request.headers.get("accept", "")):
            return Response(arrow_answer(result), media_type=ARROW_STREAM)
        return respond(result)

    return router


async def _rows(serving: Serving, model: LoadedModel, validator: Any, body: bytes) -> Any:
    """The compiled path's answer (inline for a small body), else the normal path's."""
    compiled = serving.compiled
    if compiled is not None:
        if compiled.inline and len(body) <= INLINE_BYTES:
            result = compiled.answer(body)
        else:
            result = await anyio.to_thread.run_sync(compiled.answer, body, limiter=serving.limiter)
        if result is not None:
            return result
    return await anyio.to_thread.run_sync(
        answer_body, validator, model, body, limiter=serving.limiter
    )


def _table(
    serving: Serving, model: LoadedModel, validator: Any, body: bytes
) -> tuple[dict[str, Any], bytes]:
    """An Arrow body's answer (the compiled path's, else the normal path's on its rows),
    and the body as JSON rows where predictions are recorded (the recorder reads JSON)."""
    from learnloop.serving.answers import answer_rows
    from learnloop.serving.problems import dumps
    from learnloop.serving.rows import response_body

    table = read_table(body, serving.max_rows)
    check_table(table, model)
    compiled = serving.compiled
    answer = compiled.answer_table(table) if compiled is not None else None
    records = None
    if answer is None:
        records = table_records(table)
        answer, _ = answer_rows(validator, model, records)
    if serving.recorder is not None:
        body = dumps({"records": records if records is not None else table_records(table)})
    return response_body(answer, arrays=True), body


async def _pictures(serving: Serving, model: LoadedModel, request: Request) -> dict[str, Any]:
    from learnloop.serving.uploads import answer_upload, check_upload_type

    kind = request.headers.get("content-type", "")
    check_upload_type(kind)  # a 415 before the body is read
    async with serving.uploads:  # bodies wait in the socket, not in memory
        body = await read_body(request, serving.body)
        return await anyio.to_thread.run_sync(
            answer_upload, model, kind, body, serving.max_rows, limiter=serving.limiter
        )
