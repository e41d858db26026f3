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


def admin_router(swapper: Swapper) -> APIRouter:
    """The two admin endpoints of one server."""
    router = APIRouter()

    @router.post("/admin/reload", summary="Swap to the model the server's source names now")
    async def reload() -> Any:
        if swapper.version is None:
            return respond({"detail": "The model is not loaded yet."}, 503)
        try:
            return respond(await swapper.check())
        except LearnloopError as e:
            detail = f"Not swapped; still serving {swapper.version}: {e}"
            return respond({"detail": [problem(detail)], "version": swapper.version}, 409)

    @router.get("/admin/model", summary="The version served, swaps made, the last failure")
    async def model() -> Any:
        return respond(swapper.state())

    return router
