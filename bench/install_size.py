"""Install size: what ``pip install learnloop`` puts in a fresh virtual environment.

Creates a venv (or reuses ``--venv DIR`` if it already holds an install), installs the
project at PATH (with ``--extras``) from the package index pip is configured with, and
prints the size of its site-packages and its largest packages (MB, as ``du`` counts them).

    python3 -m bench.install_size /work/main --venv /tmp/core-venv-before
    python3 -m bench.install_size . --venv /tmp/core-venv
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise SystemExit(f"no site-packages under {venv}")
    return found[0]


def install(project: Path, venv: Path, extras: str | None) -> None:
    """A fresh venv at ``venv`` with ``project`` (and its ``extras``) installed, not editable."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    target = f"{project.resolve()}[{extras}]" if extras else str(project.resolve())
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", target], check=True)


def sizes(venv: Path) -> tuple[float, list[tuple[float, str]]]:
    """site-packages' size in MB, and each top-level entry's, largest first."""
    site = _site_packages(venv)
    total = _megabytes(site)
    entries = [(_megabytes(p), p.name) for p in site.iterdir()]
    return total, sorted(entries, reverse=True)


def _megabytes(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path, help="the folder holding pyproject.toml")
    parser.add_argument("--venv", type=Path, required=True, help="the venv to create or read")
    parser.add_argument("--extras", help="extras to install too, comma-separated")
    parser.add_argument("--top", type=int, default=12, help="largest packages to list")
    opts = parser.parse_args()
    if not list(opts.venv.glob("lib/python3*/site-packages/learnloop")):
        install(opts.project, opts.venv, opts.extras)
    total, entries = sizes(opts.venv)
    print(f"site-packages: {total:.0f} MB")
    print(", ".join(f"{name} {mb:.0f}" for mb, name in entries[: opts.top]))


if __name__ == "__main__":
    main()
