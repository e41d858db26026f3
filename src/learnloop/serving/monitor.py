"""``GET /monitor``: the live score, its anytime-valid bound, drift per column (JSON).

The same object as ``learnloop monitor MODEL --json`` (:func:`learnloop.runs.live.monitor`),
plus what this server dropped unrecorded and, with ``serve --retrain``, the outcome of its
last retrain (``last_retrain``) and whether one runs (``retrain``). A server started
without ``--record`` answers 409.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter

from learnloop.serving.feedback import NOT_RECORDING
from learnloop.serving.problems import problem, respond
from learnloop.serving.state import Serving

__all__ = ["monitor_router"]


def monitor_router(serving: Serving) -> APIRouter:
    """The /monitor endpoint."""
    router = APIRouter()

    @router.get("/monitor", summary="Live score, its anytime-valid bound, drift per column")
    async def monitor() -> Any:
        from learnloop.runs.live import monitor as live_monitor

        model, recorder = serving.model, serving.recorder
        if model is None:
            return respond({"detail": "The model is not loaded yet."}, 503)
        if recorder is None:
            return respond({"detail": [problem(NOT_RECORDING)]}, 409)
        await anyio.to_thread.run_sync(recorder.flush)
        body = await anyio.to_thread.run_sync(
            lambda: live_monitor(model, recorder.log), limiter=serving.limiter
        )
        body["not_recorded"] = recorder.dropped
        retrainer = serving.retrainer
        body["last_retrain"] = None if retrainer is None else retrainer.last
        body["retrain"] = None if retrainer is None else retrainer.state()
        return respond(body)

    return router
