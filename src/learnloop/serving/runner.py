"""Running the app with uvicorn: one process, or ``workers`` processes built from the env.

uvicorn is set for a service facing clients it does not know: idle connections are
closed after ``KEEP_ALIVE_S``, no ``Server`` header is sent, and the access log is off
unless asked for. Bodies are bounded in time by the app (:mod:`learnloop.serving.body`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learnloop.exceptions import UsageError
from learnloop.serving.app import DEFAULT_MAX_ROWS, create_app
from learnloop.serving.auth import read_token
from learnloop.serving.deps import require_serve_extra
from learnloop.serving.shutdown import GRACE_S, exit_cleanly_on_sigterm
from learnloop.store.model_files import LoadedModel

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["app_from_env", "run_server"]

KEEP_ALIVE_S = 5
_ENV_MODEL = "LEARNLOOP_SERVE_MODEL"
_ENV_TOKEN_FILE = "LEARNLOOP_SERVE_TOKEN_FILE"
_ENV_MAX_ROWS = "LEARNLOOP_SERVE_MAX_ROWS"
_ENV_RECORD = "LEARNLOOP_SERVE_RECORD"  # the store URL predictions are recorded in
_ENV_FOLLOW = "LEARNLOOP_SERVE_FOLLOW"  # JSON: {"name", "store", "poll_s"} of serve --name


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging set-up, with learnloop's own lines (``learnloop.serve``) written
    the same way and at the same level (one line per event)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["learnloop"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers: reads the model path and token file from the env."""
    path = os.environ.get(_ENV_MODEL)
    if not path:
        raise UsageError(f"{_ENV_MODEL} is not set; start the service with `learnloop serve`.")
    token_file = os.environ.get(_ENV_TOKEN_FILE)
    follow = json.loads(os.environ.get(_ENV_FOLLOW) or "{}")
    return create_app(
        path,
        token=read_token(token_file) if token_file else None,
        max_rows=int(os.environ.get(_ENV_MAX_ROWS, DEFAULT_MAX_ROWS)),
        record=os.environ.get(_ENV_RECORD) or None,
        **_sources(follow),
    )


def _sources(follow: dict[str, Any]) -> dict[str, Any]:
    """create_app's ``source`` and ``poll_s``: a registered model's champion (``name``,
    ``store``) or the model file, polled every ``poll_s`` seconds (0: never); with
    ``shadow``, also its challenger as ``shadow``."""
    poll_s = float(follow.get("poll_s") or 0.0)
    if not follow.get("name"):
        return {"poll_s": poll_s}
    from learnloop.serving.shadow import ChallengerSource
    from learnloop.serving.swap import ChampionSource

    out: dict[str, Any] = {"source": ChampionSource(follow.get("store"), follow["name"])}
    if follow.get("shadow"):
        out["shadow"] = ChallengerSource(follow.get("store"), follow["name"])
    return {**out, "poll_s": poll_s}


def run_server(  # noqa: PLR0913 -- uvicorn's options, keyword only
    model_path: str | Path,
    *,
    model: LoadedModel | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    token_file: str | Path | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    log_level: str = "info",
    access_log: bool = False,
    record: str | None = None,
    follow: dict[str, Any] | None = None,
    poll_s: float = 0.0,
    retrain: Any = None,
) -> None:
    """Serve the model with uvicorn until interrupted (``workers`` > 1 uses processes).
    With ``record`` (a store URL) each prediction is recorded there. ``follow``
    (``{"name", "store", "poll_s"}``) serves a registered model's champion and swaps when it
    moves; else ``poll_s`` > 0 re-reads the model file that often. ``retrain``
    (serving.autoretrain.RetrainOptions; one process only) retrains when the claim fails."""
    require_serve_extra()
    import uvicorn

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "server_header": False,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "log_config": log_config(log_level),
        "timeout_graceful_shutdown": GRACE_S,
    }
    if workers > 1:
        if retrain is not None:
            raise UsageError("--retrain runs in one server process; leave --workers at 1.")
        _settings_to_env(model_path, max_rows, record, token_file, follow or {"poll_s": poll_s})
        target = "learnloop.serving.runner:app_from_env"
        with exit_cleanly_on_sigterm():
            uvicorn.run(target, factory=True, workers=workers, **options)
        return
    token = read_token(token_file) if token_file is not None else None
    sources = _sources(follow or {"poll_s": poll_s})
    app = create_app(model_path, token, max_rows, model=model, record=record, retrain=retrain,
                     **sources)  # fmt: skip
    with exit_cleanly_on_sigterm():
        uvicorn.run(app, **options)


def _settings_to_env(
    model_path: str | Path,
    max_rows: int,
    record: str | None,
    token_file: str | Path | None,
    follow: dict[str, Any],
) -> None:
    """What each worker process's app_from_env reads back (workers > 1)."""
    os.environ[_ENV_MODEL] = str(Path(model_path).resolve())
    os.environ[_ENV_MAX_ROWS] = str(max_rows)
    os.environ[_ENV_RECORD] = record or ""
    if token_file is not None:
        os.environ[_ENV_TOKEN_FILE] = str(Path(token_file).resolve())
    else:
        os.environ.pop(_ENV_TOKEN_FILE, None)
    os.environ[_ENV_FOLLOW] = json.dumps(follow)
