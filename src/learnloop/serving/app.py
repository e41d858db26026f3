"""The prediction app: a model file becomes a FastAPI app built from routers.

The lifespan loads the model once (from the safe format, with the trusted-types list of
:mod:`learnloop.store.model_files`, unless it was loaded already) and builds the request
validator from its training schema; until then the paths answer 503 and ``/ready`` says
``loading``. The routers: probes (``/health``, ``/ready``, ``/metadata``), ``/predict``
and the recommender's three paths. ``/openapi.json`` is written for the loaded model
(:mod:`learnloop.serving.openapi`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learnloop.exceptions import UsageError
from learnloop.serving.body import BodyLimits
from learnloop.serving.deps import require_serve_extra
from learnloop.serving.rows import RowValidator
from learnloop.serving.state import Serving
from learnloop.store.model_files import LoadedModel, load_model

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_ROWS", "create_app"]

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_BODY_BYTES = BodyLimits().max_bytes
_log = logging.getLogger("learnloop.serve")


def create_app(
    model_path: str | Path,
    token: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    *,
    model: LoadedModel | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_limits: BodyLimits | None = None,
) -> FastAPI:
    """The prediction app for the model file at ``model_path``.

    The model is loaded once, when the app starts (or ``model`` is used if it was already
    loaded from that path). ``token`` turns on bearer-token auth; ``max_rows`` and
    ``max_body_bytes`` bound a request (larger ones get a 413), ``body_limits`` also how
    slowly its body may arrive (408).
    """
    require_serve_extra()
    from fastapi import FastAPI

    from learnloop._version import __version__
    from learnloop.serving.auth import BearerAuth
    from learnloop.serving.predict import predict_router
    from learnloop.serving.probes import probes_router
    from learnloop.serving.protocols import add_protocols
    from learnloop.serving.recommend import recommend_router

    if max_rows < 1:
        raise UsageError(f"max_rows must be at least 1; got {max_rows}.")
    path = Path(model_path)
    limits = body_limits or BodyLimits(max_bytes=max_body_bytes)
    serving = Serving(max_rows=max_rows, body=limits, model=model)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _load(serving, path)
        app.openapi_schema = None
        _log.info("learnloop model %s loaded (%s)", path, serving.model and serving.model.task)
        yield

    app = FastAPI(
        title="learnloop prediction service",
        version=__version__,
        description=f"Predictions from the learnloop model file `{path.name}`.",
        lifespan=lifespan,
    )
    if token:
        app.add_middleware(BearerAuth, token=token)
    for router in (probes_router(serving), predict_router(serving), recommend_router(serving)):
        app.include_router(router)
    add_protocols(app, serving, path.stem)  # /invocations, /v2 (KServe), /metrics
    app.openapi = _openapi(app, serving, bool(token))  # type: ignore[method-assign]
    return app


async def _load(serving: Serving, path: Path) -> None:
    import anyio

    loaded = serving.model
    if loaded is None:
        loaded = await anyio.to_thread.run_sync(load_model, path)
    threads = max(1, os.cpu_count() or 1)
    serving.limiter = anyio.CapacityLimiter(threads)
    # each upload's body (up to max_body_bytes) and its parts are held until it is answered
    serving.uploads = anyio.Semaphore(2 * threads)
    serving.validator = RowValidator(loaded, serving.max_rows)
    serving.model = loaded


def _openapi(app: FastAPI, serving: Serving, token: bool) -> Any:
    from fastapi.openapi.utils import get_openapi

    from learnloop.serving.openapi import document

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            base = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = document(base, serving, token)
        return app.openapi_schema

    return openapi
