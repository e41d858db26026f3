"""``learnloop report``: one run or model file as an HTML page or a Markdown summary."""

from __future__ import annotations

from typing import Annotated

import typer

from learnloop.cli._common import run_guarded

__all__ = ["report"]


def report(
    source: Annotated[
        str, typer.Argument(help="A run id (or its first characters), or a model file (.skops).")
    ],
    out: Annotated[str, typer.Option(help="The report file to write.")] = "report.html",
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="html (one self-contained page) or md (Markdown); default: from --out's "
            "extension (.html, .md).",
        ),
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Experiment store URL or SQLite path ($LEARNLOOP_STORE).")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(help="Data to rebuild the splits from (default: the run's recorded path)."),
    ] = None,
) -> None:
    """Write the statistical analysis of a run: verdict, loop, data, model, candidates."""
    from learnloop.report import format_of, report_run

    path = run_guarded(report_run, source, out, run_guarded(format_of, out, fmt), store, data)
    typer.echo(f"wrote {path}", err=True)
