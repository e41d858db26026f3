"""What every ``learnloop`` subcommand shares: exit codes, one-line errors, durations."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer

from learnloop.core.printable import printable
from learnloop.exceptions import LearnloopError, UsageError

__all__ = [
    "EXIT_MET",
    "EXIT_INTERNAL",
    "EXIT_USAGE",
    "EXIT_NOT_MET",
    "parse_budget",
    "fail",
    "run_guarded",
    "write_table",
    "use_encoding",
    "json_errors",
]

EXIT_MET, EXIT_INTERNAL, EXIT_USAGE, EXIT_NOT_MET = 0, 1, 2, 3
_JSON_ERRORS = {"on": False}  # set by a command given --json (one command per process)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|m|min|h)?\s*$", re.I)


def parse_budget(text: str) -> float:
    """Seconds from '90', '90s', '5m' or '1h'."""
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"The budget '{text}' is not a duration; write e.g. 120, 90s, 5m or 1h.")
    value = float(match.group(1))
    unit = (match.group(2) or "s").lower()
    seconds = value * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[unit]
    if seconds <= 0:
        raise UsageError(f"The budget must be more than zero seconds; got '{text}'.")
    return seconds


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one line to stderr and exit with ``code``.

    The message may quote the data (a column name, a value, a path), so its control
    characters and line breaks are written as escapes: one line that cannot move the
    terminal's cursor or change its colours.
    """
    typer.echo(f"error: {printable(message, newlines=False)}", err=True)
    if _JSON_ERRORS["on"]:
        typer.echo(json.dumps({"status": "error", "exit_code": code, "error": message}))
    raise typer.Exit(code)


def json_errors(on: bool) -> None:
    """With ``on`` (``--json``), a failing command also prints one JSON object on stdout,
    ``{"status": "error", "exit_code": N, "error": "..."}``, for scripts to read."""
    _JSON_ERRORS["on"] = on


def run_guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Turn learnloop's errors into one-line messages and the contract's exit codes."""
    try:
        return fn(*args, **kwargs)
    except typer.Exit:
        raise
    except LearnloopError as e:
        fail(str(e), EXIT_USAGE if isinstance(e, UsageError) else EXIT_INTERNAL)
    except KeyboardInterrupt:
        fail("interrupted.", 130)
    except MemoryError:
        fail("out of memory; try a smaller budget of rows or a larger machine.", EXIT_INTERNAL)
    except Exception as e:  # the last line of defence: no tracebacks for users
        fail(f"internal error: {type(e).__name__}: {e}", EXIT_INTERNAL)


def write_table(frame: Any, path: Path) -> None:
    import os
    import tempfile

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".jsonl"):
        raise UsageError(f"Cannot write '{path}'; use a .csv, .parquet or .jsonl file name.")
    if not path.parent.exists():
        raise UsageError(f"The folder of '{path}' does not exist.")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def use_encoding(name: str | None) -> None:
    """Read CSV and TSV files in the encoding ``name`` (``--encoding``); None detects it."""
    import codecs

    from learnloop.data import ENCODING

    if name is not None:
        try:
            codecs.lookup(name)
        except LookupError:
            fail(f"The encoding '{name}' is unknown; write e.g. utf-8, latin-1 or cp1252.")
    ENCODING.set(name)
