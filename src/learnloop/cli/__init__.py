"""The ``learnloop`` command: one module per subcommand group, assembled here.

Exit codes: 0 threshold met and certified; 3 budget spent without meeting it (the best
model is still saved); 2 bad usage or bad input (one line naming the problem); 1 internal
error.

Start-up: ``learnloop --help`` imports every module named in :data:`COMMANDS` (typer reads
each command's signature), so a command module imports only typer, rich and light parts of
learnloop (``core.names``, ``cli._common``) at its top, and everything heavy (pandas,
scikit-learn, the store, serving) inside its function. ``tests/test_cli_startup.py`` checks
that ``--help`` loads none of them. A new command is one module of that shape and one line
in :data:`COMMANDS`.
"""

from __future__ import annotations

import gc
import importlib

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
    "COMMANDS",
]

# command name -> (module, function or typer.Typer of subcommands), in the order --help lists
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("learnloop.cli.train", "train"),
    "predict": ("learnloop.cli.train", "predict"),
    "explain": ("learnloop.cli.explain", "explain"),
    "export": ("learnloop.cli.export", "export"),
    "recommend": ("learnloop.cli.recommend", "recommend"),
    "report": ("learnloop.cli.report", "report"),
    "serve": ("learnloop.cli.serve", "serve"),
    "feedback": ("learnloop.cli.feedback", "feedback"),
    "monitor": ("learnloop.cli.monitor", "monitor"),
    "retrain": ("learnloop.cli.retrain", "retrain"),
    "rollback": ("learnloop.cli.retrain", "rollback"),
    "models": ("learnloop.cli.models", "models_app"),
    "runs": ("learnloop.cli.runs", "runs_app"),
    "worker": ("learnloop.cli.runs", "worker"),
    "watch": ("learnloop.cli.watch", "watch"),
}

app = typer.Typer(
    add_completion=True,  # --install-completion and --show-completion (bash, zsh, fish, pwsh)
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


def _register(target: typer.Typer) -> None:
    """Add every command of :data:`COMMANDS` to ``target`` (a sub-app as a group)."""
    for name, (module, attribute) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        if isinstance(command, typer.Typer):
            target.add_typer(command, name=name)
        else:
            target.command(name)(command)


_register(app)


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
