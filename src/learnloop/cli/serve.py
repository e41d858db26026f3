"""``learnloop serve``: the command that turns a model file into an HTTP service."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

import typer

__all__ = ["serve"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(  # noqa: PLR0913 -- typer: one parameter per option
    model: Annotated[
        str | None,
        typer.Argument(help="Model file written by `learnloop train` (or give --name)."),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind (loopback by default; 0.0.0.0 for all).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes, each with the model.")] = 1,
    token_file: Annotated[
        str | None,
        typer.Option(help="File holding a bearer token that requests must send."),
    ] = None,
    max_rows: Annotated[int, typer.Option(help="Most rows per request (more get a 413).")] = (
        10_000
    ),
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info, debug.")] = (
        "info"
    ),
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    record: Annotated[
        bool,
        typer.Option(
            help="Record each prediction (id, time, input row, output) in the store, for "
            "POST /feedback and GET /monitor."
        ),
    ] = False,
    name: Annotated[
        str | None,
        typer.Option(
            help="Serve this registered model's champion, and swap when the champion moves."
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="Experiment store of --name and of --record: URL or SQLite path "
            "($LEARNLOOP_STORE or learnloop.db)."
        ),
    ] = None,
    poll: Annotated[
        float | None,
        typer.Option(
            help="Seconds between checks for a new model (--name: default 2; a file: "
            "default 0, only on POST /admin/reload or SIGHUP)."
        ),
    ] = None,
    shadow: Annotated[
        bool,
        typer.Option(
            help="With --name and --record: the challenger alias's version predicts every "
            "request's rows off the request path; recorded, never returned (GET /monitor)."
        ),
    ] = False,
    retrain: Annotated[
        bool,
        typer.Option(
            help="With --name and --record: when the live claim fails (bound past the "
            "threshold, or --drift-limit), run `learnloop retrain NAME` in the background "
            "on --retrain-data plus the labelled feedback, and swap to a certified result."
        ),
    ] = False,
    retrain_data: Annotated[
        str | None,
        typer.Option(help="--retrain: the table to learn from (default: the model's own)."),
    ] = None,
    window: Annotated[
        str | None, typer.Option(help="--retrain: keep the newest rows (5000, 90d).")
    ] = None,
    retrain_budget: Annotated[
        str | None, typer.Option(help="--retrain: time budget (default: the model's).")
    ] = None,
    retrain_check: Annotated[
        float, typer.Option(help="--retrain: seconds between checks of the live claim.")
    ] = 30.0,
    retrain_labels: Annotated[
        int, typer.Option(help="--retrain: new labels needed before the same model is retried.")
    ] = 100,
    drift_limit: Annotated[
        float | None,
        typer.Option(help="--retrain: also retrain when a column's PSI passes this (0.2)."),
    ] = None,
) -> None:
    """Serve MODEL over HTTP: POST /predict, GET /health, /ready, /metadata and /docs;
    MLflow's POST /invocations, KServe v2 under /v2, Prometheus' GET /metrics.

    The model is swapped while serving, with no request failed or dropped, on SIGHUP,
    POST /admin/reload, or (with --name) when the champion moves."""
    from learnloop.cli._common import fail, run_guarded
    from learnloop.exceptions import UsageError

    def check() -> tuple[object, str | None, str | None, str, Any]:
        from learnloop.serving import read_token, require_serve_extra
        from learnloop.store.model_files import load_model

        require_serve_extra()
        if (model is None) == (name is None):
            raise UsageError("Give a model file or --name NAME (a registered model), not both.")
        if poll is not None and poll < 0:
            raise UsageError(f"--poll must be zero or more seconds; got {poll}.")
        if not 0 <= port <= 65535:
            raise UsageError(f"The port must be between 0 and 65535; got {port}.")
        if workers < 1:
            raise UsageError(f"--workers must be at least 1; got {workers}.")
        if max_rows < 1:
            raise UsageError(f"--max-rows must be at least 1; got {max_rows}.")
        if log_level.lower() not in ("critical", "error", "warning", "info", "debug", "trace"):
            raise UsageError(f"Unknown log level '{log_level}'; use warning, info or debug.")
        token = read_token(token_file) if token_file is not None else None
        url = _record_url(record, store, name, shadow)
        path = model
        if name is not None:
            from learnloop.serving.swap import ChampionSource

            path = str(ChampionSource(store, name).target().path)
        assert path is not None
        loaded = load_model(path)
        options = _retrain_options(
            retrain, name, url, workers, loaded, retrain_data, window, retrain_budget,
            retrain_check, retrain_labels, drift_limit,
        )  # fmt: skip
        return loaded, token, url, path, options

    # Every loading error (missing, tampered, untrusted types) stops here, before binding.
    loaded, token, record_url, path, retrain_options = run_guarded(check)
    follow = None if name is None else {"name": name, "store": store, "poll_s": _poll(poll)}
    follow = follow and {**follow, "shadow": shadow}
    if not _is_loopback(host) and token is None:
        typer.echo(
            f"warning: serving on {host} without --token-file; anyone who can reach this "
            "address can use the model.",
            err=True,
        )
    from learnloop.serving import run_server

    try:
        run_guarded(
            run_server,
            path,
            model=None if name is not None else loaded,
            follow=follow,
            poll_s=poll or 0.0,
            host=host,
            port=port,
            workers=workers,
            token_file=token_file,
            max_rows=max_rows,
            log_level=log_level.lower(),
            access_log=access_log,
            record=record_url,
            retrain=retrain_options,
        )
    except SystemExit as e:  # uvicorn exits 1 when it cannot bind the port
        if e.code not in (0, None):
            fail(f"the server on {host}:{port} stopped (is the port in use?).")
        raise


def _record_url(record: bool, store: str | None, name: str | None, shadow: bool) -> str | None:
    """The URL of the store predictions are recorded in, if any (a bad or unreachable store
    fails here)."""
    from learnloop.exceptions import UsageError
    from learnloop.store import open_store
    from learnloop.store.predictions import PredictionLog

    if shadow and (name is None or not record):
        raise UsageError("--shadow needs --name NAME (a registered model) and --record.")
    if not record:
        if store is not None and name is None:
            raise UsageError(
                "--store is where --record records or --name is registered; give one with it."
            )
        return None
    opened = open_store(store)
    PredictionLog(opened)
    return opened.url


def _retrain_options(  # noqa: PLR0913 -- serve's --retrain options, checked together
    on: bool,
    name: str | None,
    store_url: str | None,
    workers: int,
    loaded: Any,
    data: str | None,
    window: str | None,
    budget: str | None,
    check_s: float,
    min_labels: int,
    drift_limit: float | None,
) -> Any:
    """serve --retrain's options (serving.autoretrain.RetrainOptions), or None without it;
    UsageError (one line) for an option that cannot work."""
    from pathlib import Path

    from learnloop.exceptions import UsageError

    if not on:
        return None
    if name is None or store_url is None:
        raise UsageError("--retrain needs --name NAME (a registered model) and --record.")
    if workers != 1:
        raise UsageError("--retrain runs in one server process; leave --workers at 1.")
    if check_s <= 0 or min_labels < 1 or (drift_limit is not None and drift_limit <= 0):
        raise UsageError(
            "--retrain-check and --drift-limit must be above 0, --retrain-labels at least 1."
        )
    data = data or (loaded.metadata.get("settings") or {}).get("data")
    if not data or not Path(data).is_file():
        raise UsageError(
            f"--retrain needs the table to learn from: give --retrain-data PATH"
            f"{f' (the model was trained on {data}, which is not a file here)' if data else ''}."
        )
    from learnloop.serving.autoretrain import RetrainOptions

    return RetrainOptions(
        name=name,
        store=store_url,
        data=str(Path(data).resolve()),
        window=window,
        budget=budget,
        check_s=check_s,
        drift_limit=drift_limit,
        min_labels=min_labels,
    )


def _poll(seconds: float | None) -> float:
    from learnloop.serving.swap import DEFAULT_POLL_S

    return DEFAULT_POLL_S if seconds is None else seconds
