"""``POST /feedback``: the true label (or value) of recorded predictions, sent later.

The body is ``{"prediction_id": ID, "label": VALUE}`` or a list of them. Every id must be
a recorded prediction (404 naming the first unknown ones) and every label of the kind the
model predicts (422 naming the row and value); either refuses the whole request, so a
batch is taken whole or not at all. A server started without ``--record`` answers 409.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request

from learnloop.serving.body import ClientGone, read_body, require_json
from learnloop.serving.problems import RequestProblem, client_text, problem, refuse, respond
from learnloop.serving.state import Serving

__all__ = ["feedback_router", "NOT_RECORDING"]

NOT_RECORDING = (
    "This server does not record predictions, so it takes no feedback; start it with "
    "`learnloop serve MODEL --record`."
)
_NAMED = 5


def _pairs(body: bytes) -> list[tuple[Any, Any]]:
    import pydantic_core

    try:
        payload = pydantic_core.from_json(body)
    except ValueError as e:
        raise RequestProblem.one(400, f"The body is not valid JSON: {e}") from None
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise RequestProblem.one(422, "The list is empty; send at least one label.")
    pairs = []
    for row, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"prediction_id", "label"}:
            raise RequestProblem(
                422,
                [problem('Each item must be {"prediction_id": ..., "label": ...}.', row=row)],
            )
        pairs.append((item["prediction_id"], item["label"]))
    return pairs


def take_feedback(serving: Serving, body: bytes) -> dict[str, Any]:
    """The work of POST /feedback without HTTP (run in a worker thread)."""
    from learnloop.runs.live import LabelProblem, check_labels

    recorder, model = serving.recorder, serving.model
    assert recorder is not None and model is not None
    try:
        labels = check_labels(model, _pairs(body))
    except LabelProblem as e:
        raise RequestProblem(422, [problem(str(e), row=e.row, column="label")]) from None
    ids = [pid for pid, _ in labels]
    known = recorder.log.known(ids)
    if len(known) < len(set(ids)):
        recorder.flush()  # a prediction answered a moment ago may still be queued
        known = recorder.log.known(ids)
    unknown = [pid for pid in dict.fromkeys(ids) if pid not in known]
    if unknown:
        named = ", ".join(f"'{client_text(p)}'" for p in unknown[:_NAMED])
        more = f" (and {len(unknown) - _NAMED} more)" if len(unknown) > _NAMED else ""
        raise RequestProblem.one(404, f"Unknown prediction id {named}{more}.")
    recorder.log.add_feedback(labels)
    return {"accepted": len(labels)}


def feedback_router(serving: Serving) -> APIRouter:
    """The /feedback endpoint."""
    router = APIRouter()

    @router.post("/feedback", summary="The true label or value of recorded predictions")
    async def feedback(request: Request) -> Any:
        if serving.model is None:
            return respond({"detail": "The model is not loaded yet."}, 503)
        if serving.recorder is None:
            return respond({"detail": [problem(NOT_RECORDING)]}, 409)
        try:
            require_json(request)
            body = await read_body(request, serving.body)
            result = await anyio.to_thread.run_sync(
                take_feedback, serving, body, limiter=serving.limiter
            )
        except RequestProblem as p:
            return refuse(p)
        except ClientGone:
            return respond({"detail": "The client went away."}, 400)
        return respond(result)

    return router


def _label(serving: Serving) -> dict[str, Any]:
    """One item of /feedback's body: the label is one of the model's classes, or a number."""
    from learnloop.core import Output

    model = serving.model
    assert model is not None
    if model.task_kind.output is Output.CLASSES:
        label: dict[str, Any] = {"enum": list(model.classes), "description": "The true class."}
    else:
        label = {"type": "number", "description": "The true value (a finite number)."}
    ident = {"type": "string", "minLength": 1, "description": "An id from `prediction_ids`."}
    return {
        "type": "object",
        "properties": {"prediction_id": ident, "label": label},
        "required": ["prediction_id", "label"],
        "additionalProperties": False,
    }


def document_recording(paths: dict[str, Any], serving: Serving) -> None:
    """Say in the OpenAPI document what /feedback and /monitor take and answer; leave
    them out where the server does not record (they answer 409 there)."""
    if serving.recorder is None or serving.model is None:
        paths.pop("/feedback", None)
        paths.pop("/monitor", None)
        return

    def refusal(why: str) -> dict[str, Any]:
        ref = {"$ref": "#/components/schemas/Refusal"}
        return {"description": why, "content": {"application/json": {"schema": ref}}}

    item = _label(serving)
    body = {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]}
    accepted = {"type": "object", "properties": {"accepted": {"type": "integer"}}}
    if "/feedback" in paths:
        paths["/feedback"]["post"]["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
        paths["/feedback"]["post"]["responses"] = {
            "200": {"description": "Taken.", "content": {"application/json": {"schema": accepted}}},
            "400": refusal("The body is not JSON."),
            "404": refusal("A prediction id is unknown; names it."),
            "408": refusal("The body did not arrive in time."),
            "413": refusal("The body is too large."),
            "415": refusal("The body is not sent as application/json."),
            "422": refusal("A label is not of the kind the model predicts; names row and value."),
        }
    if "/monitor" in paths:
        paths["/monitor"]["get"]["responses"] = {
            "200": {
                "description": "Live score, bound, threshold, labels, drift per column.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        }
