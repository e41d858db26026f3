"""``GET /monitor``: the live score, its anytime-valid bound, drift per column (JSON).

The same object as ``learnloop monitor MODEL --json`` (:func:`learnloop.runs.live.monitor`),
plus the version that answers (``version``), what this server dropped unrecorded, with
``serve --retrain`` the outcome of its last retrain (``last_retrain``) and whether one runs
(``retrain``), and with ``serve --shadow`` the challenger's own figures (``challenger``: its
live score and bound on the same labels, and ``shadow``: rows predicted, errors, skipped).
A server started without ``--record`` answers 409.

The last figures computed are kept (:func:`figures`): ``/metrics`` shows them as gauges
(:mod:`learnloop.serving.live_metrics`) and recomputes them at most every ``max_age``
seconds, so a scrape costs no store query.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter

from learnloop.serving.feedback import NOT_RECORDING
from learnloop.serving.problems import problem, respond
from learnloop.serving.state import Serving

__all__ = ["figures", "monitor_router"]


def monitor_router(serving: Serving) -> APIRouter:
    """The /monitor endpoint."""
    router = APIRouter()

    @router.get("/monitor", summary="Live score, its anytime-valid bound, drift per column")
    async def monitor() -> Any:
        if serving.model is None:
            return respond({"detail": "The model is not loaded yet."}, 503)
        if serving.recorder is None:
            return respond({"detail": [problem(NOT_RECORDING)]}, 409)
        return respond(await figures(serving))

    return router


async def figures(serving: Serving, max_age: float = 0.0) -> dict[str, Any]:
    """The monitor's figures: those kept if younger than ``max_age`` seconds, else computed
    now (what waits to be recorded written first) and kept."""
    kept = serving.figures
    if kept is not None and time.monotonic() - kept[0] < max_age:
        return dict(kept[1])
    from learnloop.runs.live import monitor as live_monitor

    live, recorder, shadow = serving.current, serving.recorder, serving.shadow
    assert live is not None and recorder is not None
    if shadow is not None:
        await anyio.to_thread.run_sync(shadow.flush)
    await anyio.to_thread.run_sync(recorder.flush)
    body = await anyio.to_thread.run_sync(
        lambda: live_monitor(live.model, recorder.log), limiter=serving.limiter
    )
    body["version"] = live.version
    body["not_recorded"] = recorder.dropped
    retrainer = serving.retrainer
    body["last_retrain"] = None if retrainer is None else retrainer.last
    body["retrain"] = None if retrainer is None else retrainer.state()
    body["challenger"] = None
    challenger = None if shadow is None else shadow.active
    if shadow is not None and challenger is not None:
        theirs = await anyio.to_thread.run_sync(
            lambda: live_monitor(challenger.model, recorder.log), limiter=serving.limiter
        )
        body["challenger"] = {**theirs, "version": challenger.version}
    if shadow is not None:
        body["shadow"] = shadow.state()
    serving.figures = (time.monotonic(), body)
    return dict(body)
