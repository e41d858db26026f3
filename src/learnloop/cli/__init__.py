"""The ``learnloop`` command: one module per subcommand group, assembled here.

Exit codes: 0 threshold met and certified; 3 budget spent without meeting it (the best
model is still saved); 2 bad usage or bad input (one line naming the problem); 1 internal
error.
"""

from __future__ import annotations

import gc

import typer

from learnloop._version import __version__
from learnloop.cli._common import (
    EXIT_INTERNAL,
    EXIT_MET,
    EXIT_NOT_MET,
    EXIT_USAGE,
    fail,
    parse_budget,
    run_guarded,
)
from learnloop.cli.export import export
from learnloop.cli.recommend import recommend
from learnloop.cli.report import report
from learnloop.cli.runs import runs_app, worker
from learnloop.cli.serve import serve
from learnloop.cli.train import predict, train
from learnloop.cli.watch import watch

__all__ = [
    "app",
    "main",
    "fail",
    "run_guarded",
    "parse_budget",
    "EXIT_MET",
    "EXIT_INTERNAL",
    "EXIT_USAGE",
    "EXIT_NOT_MET",
]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train to the accuracy you need, prove it on held-out data, ship a safe model.",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"learnloop {__version__}")
        raise typer.Exit(EXIT_MET)


@app.callback()
def _options(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print learnloop's version and exit.",
    ),
) -> None:
    """Train to the accuracy you need, prove it on held-out data, ship a safe model."""


app.command()(train)
app.command()(predict)
app.command()(recommend)
app.command()(report)
app.command("serve")(serve)
app.add_typer(runs_app, name="runs")
app.command()(worker)
app.command()(watch)
app.command()(export)


def main() -> None:
    """Entry point of the ``learnloop`` command."""
    # The imports leave millions of long-lived objects; frozen, the collector stops scanning
    # them during the run and at exit (a quarter of a second of a short run's shutdown).
    gc.freeze()
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()
