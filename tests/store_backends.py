"""Store backends every store test runs on (SQLite, PostgreSQL), data files, CLI helpers.

Test modules import the fixtures they use from here (main conftest.py stays as it is)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

POSTGRES_ENV = "LEARNLOOP_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _postgres_base() -> str:
    base = os.environ.get(POSTGRES_ENV)
    if not base and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {POSTGRES_ENV} is not set: the PostgreSQL tests cannot run")
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (.ci/run starts a server and sets it)")
    return base


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store: a SQLite file, or a new schema on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    from learnloop.store import resolve_store_url

    base = resolve_store_url(_postgres_base())
    schema = f"test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """breast_cancer (classification) and diabetes (regression) as CSV files."""
    from sklearn.datasets import load_breast_cancer, load_diabetes

    folder = tmp_path_factory.mktemp("data")
    load_breast_cancer(as_frame=True).frame.to_csv(folder / "cancer.csv", index=False)
    load_diabetes(as_frame=True).frame.to_csv(folder / "diabetes.csv", index=False)
    return folder


def learnloop(
    *args: str, cwd: Path | None = None, timeout: float = 300, pythonpath: Path | None = None
) -> subprocess.CompletedProcess:
    """Run the ``learnloop`` command in a fresh interpreter (``pythonpath`` goes first)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "learnloop", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def popen(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    """Start the ``learnloop`` command in the background (stdout and stderr piped)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(
        [sys.executable, "-m", "learnloop", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
