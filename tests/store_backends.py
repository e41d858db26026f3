"""Store backends every store test runs on (SQLite, PostgreSQL), data files, CLI helpers.

Test modules import the fixtures they use from here (main conftest.py stays as it is)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
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


def popen(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start the ``learnloop`` command in the background (stdout and stderr piped); ``env``
    is added to the environment."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "learnloop", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )


def wait_while_running(
    condition: Callable[[], bool], proc: subprocess.Popen, what: str, timeout: float = 180
) -> None:
    """Wait until ``condition()`` holds; fail with ``what`` after ``timeout`` seconds, or with
    the process's output if it ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)


OUTAGE_URL_ENV = "LEARNLOOP_TEST_POSTGRES_OUTAGE_URL"
OUTAGE_CTL_ENV = "LEARNLOOP_TEST_POSTGRES_CTL"


class Outage:
    """A PostgreSQL server of the tests' own that they may restart and stop (``ctl`` is its
    control command, e.g. ``pg_ctlcluster 15 outage``); ``url`` is a fresh schema on it."""

    def __init__(self, url: str, ctl: str) -> None:
        self.url, self.ctl = url, ctl

    def run(self, action: str) -> None:
        """restart, stop or start the server, waiting until it is done."""
        subprocess.run([*self.ctl.split(), action], check=True, capture_output=True, timeout=120)

    def begin(self, action: str) -> subprocess.Popen:
        """The same, in the background."""
        return subprocess.Popen([*self.ctl.split(), action], stdout=subprocess.DEVNULL)

    def is_up(self) -> bool:
        url = sa.engine.make_url(self.url)
        return (
            subprocess.run(
                ["pg_isready", "-q", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)],
                check=False,
            ).returncode
            == 0
        )


@pytest.fixture
def outage() -> Iterator[Outage]:
    """The outage server (.ci/run starts it: .ci/start-postgres outage 5433), a new schema on
    it, and the server up again afterwards whatever the test did to it."""
    base, ctl = os.environ.get(OUTAGE_URL_ENV), os.environ.get(OUTAGE_CTL_ENV)
    if not base or not ctl:
        missing = f"{OUTAGE_URL_ENV} and {OUTAGE_CTL_ENV}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {missing} are not set: the store outage tests cannot run")
        pytest.skip(f"store outage tests need {missing} (.ci/run starts a server to restart)")
    from learnloop.store import resolve_store_url

    base = resolve_store_url(base)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base, pool_pre_ping=True)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    server = Outage(f"{base}{sep}options=-csearch_path%3D{schema}", ctl)
    try:
        yield server
    finally:
        if not server.is_up():
            server.run("start")
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()
