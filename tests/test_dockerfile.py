"""The Dockerfile, checked without a Docker daemon: what it copies exists and is not
ignored, it runs as a non-root user on a slim Python that the package supports, and its
ENTRYPOINT + CMD and HEALTHCHECK are a real `learnloop serve` and a real readiness check
(both run here against a trained model)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from serve_fixtures import free_port, train_models

ROOT = Path(__file__).resolve().parents[1]


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "a continued line never ends"
    return out


def arguments(args: str) -> list[str]:
    """Exec form (a JSON list) or shell form."""
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def all_of(keyword: str) -> list[str]:
    return [args for k, args in instructions() if k == keyword]


def last(keyword: str) -> str:
    found = all_of(keyword)
    assert found, f"the Dockerfile has no {keyword}"
    return found[-1]


def _glob(pattern: str) -> str:
    """A .dockerignore pattern as a regex: ``**`` any path, ``*`` and ``?`` within a part."""
    out = []
    for piece in re.split(r"(\*\*/?|\*|\?)", pattern):
        if piece.startswith("**"):
            out.append("(?:.*/)?" if piece.endswith("/") else ".*")
        elif piece == "*":
            out.append("[^/]*")
        elif piece == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(piece))
    return "".join(out)


def ignored(path: str) -> bool:
    """Whether .dockerignore leaves ``path`` out of the build context (Docker's rule: the
    last pattern that matches the path or one of its parents decides)."""
    patterns = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        regex = _glob(pattern)
        if any(re.fullmatch(regex, c) for c in candidates):
            out = not negated
    return out


def test_every_copied_source_exists_and_is_in_the_context() -> None:
    copies = [(k, args) for k, args in instructions() if k in ("COPY", "ADD")]
    assert copies
    checked = 0
    for keyword, args in copies:
        words = arguments(args)
        if any(w.startswith("--from=") for w in words):
            continue  # from a build stage, not the context
        sources = [w for w in words if not w.startswith("--")][:-1]
        assert keyword == "COPY", "ADD fetches and unpacks; COPY says what it does"
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            assert not ignored(source), f"COPY {source}: .dockerignore leaves it out"
            checked += 1
    assert checked >= 3
    # what pip needs to build the package is in the context; tests and the VCS are not
    for needed in (
        "pyproject.toml",
        "README.md",
        "src/learnloop/__init__.py",
        "src/learnloop/store/_mlflow_pyfunc.py",
        "src/learnloop/py.typed",
    ):
        assert (ROOT / needed).exists() and not ignored(needed), needed
    for left_out in (".git/config", "tests/test_serve.py", "bench/serve_bench.py", "model.skops"):
        assert ignored(left_out), left_out


def test_slim_python_the_package_supports_and_a_non_root_user() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floor = re.fullmatch(r">=(\d+)\.(\d+)", project["requires-python"])
    assert floor
    for base in all_of("FROM"):
        image = base.split()[0]
        match = re.fullmatch(r"python:(\d+)\.(\d+)-slim", image)
        assert match, f"FROM {image}: expected python:X.Y-slim"
        assert tuple(map(int, match.groups())) >= tuple(map(int, floor.groups()))
    installs = " ".join(a for a in all_of("RUN") if "pip install" in a)
    extras = re.findall(r'"\.\[([a-z,]+)\]"', installs)
    assert extras and "serve" in extras[0].split(",")
    assert "serve" in project["optional-dependencies"]
    user = last("USER")
    assert user not in ("root", "0") and user in " ".join(all_of("RUN"))


def served_command() -> list[str]:
    return arguments(last("ENTRYPOINT")) + arguments(last("CMD"))


def test_the_command_is_learnloop_serve_on_the_exposed_port() -> None:
    command = served_command()
    assert command[:2] == ["learnloop", "serve"]
    port = command[command.index("--port") + 1]
    assert port in last("EXPOSE").split()
    health = last("HEALTHCHECK")
    assert f"127.0.0.1:{port}/ready" in health  # readiness, not liveness
    assert last("STOPSIGNAL") == "SIGTERM"


@pytest.mark.serve
def test_the_command_and_healthcheck_run(tmp_path: Path) -> None:
    """The image's command line, with a real model and a free loopback port, serves; its
    HEALTHCHECK command then passes (and fails once the server is gone)."""
    model = train_models(tmp_path, only=("regressor",)).regressor
    port = str(free_port())
    command = served_command()
    assert command[2].startswith("/models/")
    args: list[Any] = [sys.executable, "-m", "learnloop", "serve", str(model), *command[3:]]
    args[args.index("--port") + 1] = port
    args[args.index("--host") + 1] = "127.0.0.1"  # loopback only in tests
    health = arguments(last("HEALTHCHECK").split(" CMD ", 1)[1])
    health = [sys.executable if w == "python" else w.replace(":8000/", f":{port}/") for w in health]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(600):  # until ready or exited; the cap only ends a hung start
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            if subprocess.run(health, capture_output=True).returncode == 0:
                break
        else:
            pytest.fail("the HEALTHCHECK never passed")
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
        log.close()
    assert subprocess.run(health, capture_output=True).returncode != 0
