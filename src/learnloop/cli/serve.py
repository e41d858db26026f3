"""``learnloop serve``: the command that turns a model file into an HTTP service."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

__all__ = ["serve"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    model: Annotated[str, typer.Argument(help="Model file written by `learnloop train`.")],
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
) -> None:
    """Serve MODEL over HTTP: POST /predict, GET /health, /ready, /metadata and /docs;
    MLflow's POST /invocations, KServe v2 under /v2, Prometheus' GET /metrics."""
    from learnloop.cli._common import fail, run_guarded
    from learnloop.exceptions import UsageError

    def check() -> tuple[object, str | None]:
        from learnloop.serving import read_token, require_serve_extra
        from learnloop.store.model_files import load_model

        require_serve_extra()
        if not 0 <= port <= 65535:
            raise UsageError(f"The port must be between 0 and 65535; got {port}.")
        if workers < 1:
            raise UsageError(f"--workers must be at least 1; got {workers}.")
        if max_rows < 1:
            raise UsageError(f"--max-rows must be at least 1; got {max_rows}.")
        if log_level.lower() not in ("critical", "error", "warning", "info", "debug", "trace"):
            raise UsageError(f"Unknown log level '{log_level}'; use warning, info or debug.")
        token = read_token(token_file) if token_file is not None else None
        return load_model(model), token

    # Every loading error (missing, tampered, untrusted types) stops here, before binding.
    loaded, token = run_guarded(check)
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
            model,
            model=loaded,
            host=host,
            port=port,
            workers=workers,
            token_file=token_file,
            max_rows=max_rows,
            log_level=log_level.lower(),
            access_log=access_log,
        )
    except SystemExit as e:  # uvicorn exits 1 when it cannot bind the port
        if e.code not in (0, None):
            fail(f"the server on {host}:{port} stopped (is the port in use?).")
        raise
