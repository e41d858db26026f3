"""``GET /health`` (liveness), ``GET /ready`` (readiness) and ``GET /metadata``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from learnloop.serving.problems import respond
from learnloop.serving.state import Serving
from learnloop.store.model_files import LoadedModel

__all__ = ["probes_router", "public_metadata"]

_PUBLIC = (
    "task",
    "metric",
    "threshold",
    "status",
    "certificate",
    "baseline_score",
    "validation_score",
    "candidate",
    "run_id",
    "created_unix",
    "n_train_rows",
    "data_fingerprint",
    "schema",
    "versions",
)


def public_metadata(model: LoadedModel) -> dict[str, Any]:
    """What ``/metadata`` shows of a model file's metadata."""
    return {k: model.metadata.get(k) for k in _PUBLIC}


def probes_router(serving: Serving) -> APIRouter:
    """The three GET endpoints; ``/health`` and ``/ready`` stay open under a token."""
    router = APIRouter()

    @router.get("/health", summary="Liveness: the process answers")
    async def health() -> Any:
        return respond({"status": "alive"})

    @router.get("/ready", summary="Readiness: the model is loaded")
    async def ready() -> Any:
        if serving.model is None or not serving.ready:
            return respond({"status": "loading"}, 503)
        return respond({"status": "ready", "task": serving.model.task})

    @router.get("/metadata", summary="Task, metric, certificate, schema and versions")
    async def metadata() -> Any:
        if serving.model is None:
            return respond({"detail": "The model is not loaded yet."}, 503)
        return respond(public_metadata(serving.model))

    return router
