"""Start-up: ``learnloop --help`` and ``import learnloop`` load none of the heavy libraries,
and typer's shell completion is on.

What is imported is checked, not how long it takes (a timing test would fail on a busy
machine); the times are measured in README's 'Start-up' section.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("numpy", "pandas", "sklearn", "scipy", "lightgbm", "optuna", "sqlalchemy", "pyarrow",
         "duckdb", "skrub", "implicit", "statsmodels")  # fmt: skip

_HELPS = (
    "import json, sys\n"
    "from typer.testing import CliRunner\n"
    "from learnloop.cli import COMMANDS, app\n"
    "codes = [CliRunner().invoke(app, ['--help']).exit_code]\n"
    "codes += [CliRunner().invoke(app, [name, '--help']).exit_code for name in COMMANDS]\n"
    "codes += [CliRunner().invoke(app, ['runs', sub, '--help']).exit_code\n"
    "          for sub in ('list', 'show', 'compare', 'delete', 'export')]\n"
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(sys.argv[1])))\n"
    "print(json.dumps({'codes': codes, 'heavy': heavy}))\n"
)


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_help_of_every_command_imports_no_heavy_library() -> None:
    """``--help`` of the app, of each command in ``cli.COMMANDS`` and of each ``runs``
    subcommand answers (exit 0) with none of pandas, scikit-learn, LightGBM, Optuna,
    SQLAlchemy (nor NumPy, SciPy, pyarrow) in ``sys.modules``."""
    out = json.loads(_python(_HELPS, json.dumps(HEAVY)))
    assert out["codes"] == [0] * len(out["codes"]) and len(out["codes"]) > 10
    assert out["heavy"] == []


def test_help_through_python_m_imports_no_heavy_library() -> None:
    """The command as installed runs it: ``python -m learnloop --help``, its modules listed
    at exit."""
    code = (
        "import atexit, json, sys, runpy\n"
        "atexit.register(lambda: print(json.dumps(sorted({m.split('.')[0] for m in "
        "sys.modules}))))\n"
        "sys.argv = ['learnloop', '--help']\n"
        "runpy.run_module('learnloop', run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Commands" in proc.stdout
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert "learnloop" in loaded and "typer" in loaded  # the check sees the imports
    assert loaded.isdisjoint(HEAVY)


def test_import_learnloop_imports_no_heavy_library() -> None:
    code = "import sys, learnloop; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = _python(code)
    assert "learnloop" in loaded
    assert not [name for name in HEAVY if f"'{name}'" in loaded]


def test_shell_completion_is_offered_and_completes_commands() -> None:
    """``--show-completion bash`` prints a script for the ``learnloop`` command, and the
    completion protocol it uses completes ``learnloop ru`` to ``runs`` and ``runs s`` to
    ``show``."""
    script = _python(
        "import sys\nfrom learnloop.cli import main\n"
        "sys.argv = ['learnloop', '--show-completion', 'bash']\nmain()\n"
    )
    assert "complete" in script and "_LEARNLOOP_COMPLETE=complete_bash" in script

    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "_LEARNLOOP_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        code = "import sys\nfrom learnloop.cli import main\nsys.argv = ['learnloop']\nmain()\n"
        return _python(code, env=env).split()

    assert complete("learnloop ru") == ["runs"]
    assert complete("learnloop runs s") == ["show"]


def test_the_readme_says_first_how_to_run_the_command_make_demo_installs() -> None:
    """The README's opening (before its first section) names ``.venv/bin/learnloop`` and
    ``source .venv/bin/activate``, and the Makefile's install is the one that puts the
    ``learnloop`` script there (the project's console script, with every extra's tests)."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    opening = (root / "README.md").read_text().split("\n## ", 1)[0]
    assert ".venv/bin/learnloop" in opening and "source .venv/bin/activate" in opening
    assert "make demo" in opening
    assert 'pip install --quiet -e ".[dev,serve]"' in (root / "Makefile").read_text()
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["learnloop"] == "learnloop.cli:main"
