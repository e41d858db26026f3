"""The shape of the package: every module imports on its own, and functions stay short.

The layers themselves (which package may import which) are import-linter's contract in
pyproject.toml, run by ``make test`` and CI (``lint-imports``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import learnloop

PACKAGE = Path(learnloop.__file__).parent
MAX_BODY_LINES = 60  # a function's lines, its docstring left out

# Longer on purpose, each for a reason that splitting would not serve.
LONG_FUNCTIONS: dict[str, str] = {
    "learnloop.cli.train.train": "typer: one parameter per option, each with its help text",
    "learnloop.cli.serve.serve": "typer: one parameter per option, each with its help text",
    "learnloop.cli.retrain.retrain": "typer: one parameter per option, each with its help text",
    "learnloop.cli.runs.show": "typer command: the run's fields, trials and certificates",
    "learnloop.cli.runs.compare": "typer command: tables of runs and their tests",
    "learnloop.runs.train.train": "the front door: settings, store, search, record; to split next",
    "learnloop.runs.train._search_and_certify": "the last hub: looks, refit, save; to split next",
    "learnloop.runs.dataset.prepare_dataset": "read, check, split in one pass",
    "learnloop.report._decisions.classification_sections": "one figure after another",
    "learnloop.report._decisions.clustering_sections": "one figure after another",
    "learnloop.tasks._events.hold_out": "one pass over the events, commented step by step",
    "learnloop.serving.video.watch_video": "one pass over the frames",
}


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] != "__main__":  # runs the CLI when imported
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_module_imports_on_its_own() -> None:
    """Imported first in a fresh set of learnloop modules, each module loads: no import
    circle hides behind the order in which modules happen to be imported elsewhere."""
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        f"for name in {_modules()!r}:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] == 'learnloop']:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as e:\n"
        "        failed.append(f'{name}: {type(e).__name__}: {e}')\n"
        "print('\\n'.join(failed))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=True
    )
    assert out.stdout.strip() == ""


def _long_functions() -> dict[str, int]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body = body[1:]
            if not body:
                continue
            start = min(getattr(d, "lineno", node.lineno) for d in node.decorator_list + [node])
            header = body[0].lineno - start  # the signature
            lines = (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1 + header
            if lines > MAX_BODY_LINES:
                found[f"{module}.{node.name}"] = lines
    return found


def test_functions_stay_short() -> None:
    """No function runs past a screen, but the few named in LONG_FUNCTIONS."""
    too_long = {k: v for k, v in _long_functions().items() if k not in LONG_FUNCTIONS}
    assert too_long == {}


def test_the_list_of_long_functions_is_current() -> None:
    """A function named in LONG_FUNCTIONS that became short (or went) leaves the list."""
    assert set(LONG_FUNCTIONS) <= set(_long_functions())
