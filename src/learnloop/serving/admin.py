"""``POST /admin/reload`` (swap to the model the source names now) and ``GET /admin/model``.

Both sit behind the bearer token where the server has one. Neither takes a path: a reload
only re-reads the server's own source (its model file, or its registered model's champion),
so calling it can make the server serve nothing it was not started to serve.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from learnloop.exceptions import LearnloopError
from learnloop.serving.problems import problem, respond
from learnloop.serving.swap import Swapper

__all__ = ["admin_router"]

_TEXT = {"type": "string"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_SWAP = {
    "type": "object",
    "properties": {"swapped": {"type": "boolean"}, "version": _TEXT, "previous": _MAYBE_TEXT},
    "required": ["swapped", "version"],
}
_REFUSED = {
    "type": "object",
    "properties": {
        "detail": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
        "version": _TEXT,
    },
    "required": ["detail", "version"],
}
_STATE = {
    "type": "object",
    "properties": {
        "version": _MAYBE_TEXT,
        "digest": _MAYBE_TEXT,
        "swaps": {"type": "integer"},
        "poll_s": {"type": ["number", "null"]},
        "last_error": _MAYBE_TEXT,
    },
    "required": ["version", "swaps"],
}
_LOADING = {"$ref": "#/components/schemas/Message"}


def _json(schema: dict[str, Any], why: str) -> dict[str, Any]:
    return {"description": why, "content": {"application/json": {"schema": schema}}}


def admin_router(swapper: Swapper) -> APIRouter:
    """The two admin endpoints of one server."""
    router = APIRouter()

    @router.post(
        "/admin/reload",
        summary="Swap to the model the server's source names now",
        responses={
            200: _json(_SWAP, "Swapped, or already serving the model the source names"),
            409: _json(_REFUSED, "The new model was refused; the old one still serves"),
            503: _json(_LOADING, "The model is not loaded yet"),
        },
    )
    async def reload() -> Any:
        if swapper.version is None:
            return respond({"detail": "The model is not loaded yet."}, 503)  # a Message
        try:
            return respond(await swapper.check())
        except LearnloopError as e:
            detail = f"Not swapped; still serving {swapper.version}: {e}"
            return respond({"detail": [problem(detail)], "version": swapper.version}, 409)

    @router.get(
        "/admin/model",
        summary="The version served, swaps made, the last failure",
        responses={200: _json(_STATE, "The model served")},
    )
    async def model() -> Any:
        return respond(swapper.state())

    return router
