"""The prediction app: a model file becomes a FastAPI app built from routers.

The lifespan loads the model once (from the safe format, with the trusted-types list of
:mod:`learnloop.store.model_files`, unless it was loaded already) and builds the request
validator from its training schema; until then the paths answer 503 and ``/ready`` says
``loading``. The routers: probes (``/health``, ``/ready``, ``/metadata``), ``/predict``
and the recommender's three paths, and ``/admin/reload`` with ``/admin/model``: the served
model is swapped while the server runs, without dropping a request
(:mod:`learnloop.serving.swap`). ``/openapi.json`` is written for the loaded model
(:mod:`learnloop.serving.openapi`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learnloop.exceptions import UsageError
from learnloop.serving.autoretrain import Retrainer, RetrainOptions
from learnloop.serving.body import BodyLimits
from learnloop.serving.deps import require_serve_extra
from learnloop.serving.shadow import ChallengerSource, shadowing
from learnloop.serving.state import Serving
from learnloop.serving.swap import FileSource, PinModel, Source, Swapper
from learnloop.store.model_files import LoadedModel

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_ROWS", "create_app"]

DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_BODY_BYTES = BodyLimits().max_bytes
_log = logging.getLogger("learnloop.serve")


def create_app(  # noqa: PLR0913 -- the server's options
    model_path: str | Path,
    token: str | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    *,
    model: LoadedModel | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_limits: BodyLimits | None = None,
    record: str | None = None,
    source: Source | None = None,
    poll_s: float = 0.0,
    retrain: RetrainOptions | None = None,
    shadow: ChallengerSource | None = None,
) -> FastAPI:
    """The prediction app for the model file at ``model_path``.

    The model is loaded once, when the app starts (or ``model`` is used if it was already
    loaded from that path). ``token`` turns on bearer-token auth; ``max_rows`` and
    ``max_body_bytes`` bound a request (larger ones get a 413), ``body_limits`` also how
    slowly its body may arrive (408). ``record`` is a store URL: each prediction is
    recorded there (:mod:`learnloop.serving.recording`), and ``/feedback`` and
    ``/monitor`` answer. ``source`` is where the model comes from (default:
    the file at ``model_path``); it is checked every ``poll_s`` seconds (0: only on
    ``POST /admin/reload`` and SIGHUP) and the model swapped when it names another.
    ``retrain`` (with ``record`` and a registered model's source) retrains in the background
    when the live claim fails (:mod:`learnloop.serving.autoretrain`). ``shadow`` (with
    ``record``): the challenger predicts every request's rows off the request path, recorded
    beside the champion's (:mod:`learnloop.serving.shadow`).
    """
    require_serve_extra()
    from fastapi import FastAPI

    from learnloop._version import __version__

    if max_rows < 1:
        raise UsageError(f"max_rows must be at least 1; got {max_rows}.")
    path = Path(model_path)
    serving = Serving(max_rows, body_limits or BodyLimits(max_bytes=max_body_bytes), model)
    swapper = Swapper(serving, source or FileSource(path), poll_s)

    app = FastAPI(
        title="learnloop prediction service",
        version=__version__,
        description=f"Predictions from the learnloop model file `{path.name}`.",
        lifespan=_lifespan(serving, swapper, record, shadow, poll_s, retrain),
    )
    _route(app, serving, swapper, token, path.stem)
    return app


def _lifespan(  # noqa: PLR0913 -- what runs beside the app
    serving: Serving,
    swapper: Swapper,
    record: str | None,
    shadow: ChallengerSource | None,
    poll_s: float,
    retrain: RetrainOptions | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: load the model, then record, shadow and retrain while it serves."""
    from learnloop.serving.recording import recording

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _load(serving, swapper)
        app.openapi_schema = None
        _log.info(
            "learnloop model %s loaded (%s)", swapper.version, serving.model and serving.model.task
        )
        async with (
            recording(serving, record),
            shadowing(serving, shadow, poll_s),
            _retraining(serving, swapper, retrain),
        ):
            yield  # the recorder's queue is written out on the way out
        await swapper.stop()

    return lifespan


@asynccontextmanager
async def _retraining(
    serving: Serving, swapper: Swapper, retrain: RetrainOptions | None
) -> AsyncIterator[None]:
    """The background retrainer while the app runs (with ``retrain`` and a recorder)."""
    if retrain is not None and serving.recorder is not None:
        serving.retrainer = Retrainer(serving, swapper, retrain)
        await serving.retrainer.start()
    try:
        yield
    finally:
        if serving.retrainer is not None:
            await serving.retrainer.stop()


def _route(app: FastAPI, serving: Serving, swapper: Swapper, token: str | None, name: str) -> None:
    """The app's middleware (the model pinned per request, the token) and every endpoint."""
    from learnloop.serving.admin import admin_router
    from learnloop.serving.auth import BearerAuth
    from learnloop.serving.fast import FastPredict, fast_route_on
    from learnloop.serving.feedback import feedback_router
    from learnloop.serving.monitor import monitor_router
    from learnloop.serving.predict import predict_router
    from learnloop.serving.probes import probes_router
    from learnloop.serving.protocols import add_protocols
    from learnloop.serving.recommend import recommend_router

    if fast_route_on():
        app.add_middleware(FastPredict, serving=serving)  # inside all the others
    app.add_middleware(PinModel, serving=serving)  # inside the auth: no version told on a 401
    if token:
        app.add_middleware(BearerAuth, token=token)
    routers = (probes_router, predict_router, recommend_router, feedback_router, monitor_router)
    for router in (*(make(serving) for make in routers), admin_router(swapper)):
        app.include_router(router)
    add_protocols(app, serving, name)  # /invocations, /v2 (KServe), /metrics
    app.openapi = _openapi(app, serving, bool(token))  # type: ignore[method-assign]


async def _load(serving: Serving, swapper: Swapper) -> None:
    import anyio

    threads = max(1, os.cpu_count() or 1)
    serving.limiter = anyio.CapacityLimiter(threads)
    # each upload's body (up to max_body_bytes) and its parts are held until it is answered
    serving.uploads = anyio.Semaphore(2 * threads)
    await swapper.start()  # the model, its validator, a warm-up; then polling and SIGHUP


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
