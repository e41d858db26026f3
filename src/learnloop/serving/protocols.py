"""The protocols other tools speak, added to the app beside learnloop's own paths:
MLflow's scoring protocol (:mod:`~learnloop.serving.invocations`), the Open Inference
Protocol (:mod:`~learnloop.serving.kserve`) and Prometheus metrics
(:mod:`~learnloop.serving.metrics`, with the live monitor's figures:
:mod:`~learnloop.serving.live_metrics`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from learnloop.serving.state import Serving

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["add_protocols"]


def add_protocols(app: FastAPI, serving: Serving, name: str) -> None:
    """Add the protocols' routers to ``app``; ``name`` is the model's name in KServe paths."""
    from learnloop.serving.invocations import invocations_router
    from learnloop.serving.kserve import kserve_router
    from learnloop.serving.live_metrics import LiveFigures
    from learnloop.serving.metrics import MetricsMiddleware, Recorder, metrics_router

    recorder = Recorder()
    live = LiveFigures(serving)  # the monitor's figures, where predictions are recorded
    recorder.registry.register(live)
    app.include_router(invocations_router(serving))
    app.include_router(kserve_router(serving, name))
    app.include_router(metrics_router(recorder, live.refresh))
    paths = frozenset(_paths(app.routes))
    app.add_middleware(MetricsMiddleware, recorder=recorder, paths=paths)  # outermost


def _paths(routes: Any) -> set[str]:
    """Every route's path, those of included routers too (FastAPI keeps an included router
    as one route, its own routes inside; learnloop's routers have no prefix)."""
    out: set[str] = set()
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            out.add(path)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            out |= _paths(inner.routes)
    return out
