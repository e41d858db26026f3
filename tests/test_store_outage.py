"""The store going away mid-run: a PostgreSQL restart is ridden out, a longer outage ends the
run with exit 1 and the exact --resume command, and a full store says so."""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from optuna.trial import TrialState

from learnloop.exceptions import StoreFull, StoreUnavailable
from learnloop.store import open_store
from learnloop.store.experiments import resume_command, store_interrupted
from store_backends import Outage, learnloop, popen, wait_while_running

# Seconds: more than any loaded machine spends before the store fails; the runs end by the
# failure or by hand (SIGTERM) once they have shown what they must. Cancer trials take ~10 ms,
# so the store is written all the time.
BUDGET = "300"


def _first_trial(url: str, proc: subprocess.Popen, timeout: float = 120) -> str:
    """Wait until the run has a finished trial; its id."""
    store = open_store(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        runs = store.list_runs()
        if runs and any(t.state.is_finished() for t in store.trials(runs[0]["run_id"])):
            return runs[0]["run_id"]
        time.sleep(0.1)
    raise AssertionError(f"the run finished no trial in {timeout} s")


def _train_args(data: Path, url: str, out: Path) -> list[str]:
    """A run that spends its budget (the threshold is out of reach) writing trials."""
    return ["train", str(data), "--target", "target", "--threshold", "0.999"] + [
        "--budget", BUDGET, "--store", url, "--out", str(out), "--json",
    ]  # fmt: skip


def _trial_finished_after(url: str, run_id: str, when: datetime, proc: subprocess.Popen) -> None:
    """Wait until the run records a trial completed after ``when`` (not one marked failed)."""
    store = open_store(url)

    def recorded() -> bool:
        return any(
            t.state == TrialState.COMPLETE and t.datetime_complete > when
            for t in store.trials(run_id)
        )

    wait_while_running(recorded, proc, "no trial was recorded after the restart", timeout=120)


def _resume_until_a_new_trial(command: str, url: str, run_id: str) -> tuple[str, str]:
    """Run the printed --resume command until it completes a new trial, then end it by hand
    (SIGTERM: the best model is still tested and saved); its stdout and stderr."""
    resumed = popen(*shlex.split(command)[1:])
    try:
        _trial_finished_after(url, run_id, datetime.now(), resumed)
        resumed.send_signal(signal.SIGTERM)
        stdout, stderr = resumed.communicate(timeout=180)
    finally:
        resumed.kill()
    assert resumed.returncode == 3, stderr  # an unreachable threshold: not met
    return stdout, stderr


@pytest.mark.postgres
def test_a_restart_mid_run_goes_unnoticed(outage: Outage, data_dir: Path, tmp_path: Path) -> None:
    """The run outlasts the restart (a budget no loaded machine spends during one), records a
    trial after it, and is then ended by hand so the test does not wait out the budget."""
    out = tmp_path / "model.skops"
    proc = popen(*_train_args(data_dir / "cancer.csv", outage.url, out))
    try:
        run_id = _first_trial(outage.url, proc)
        outage.run("restart")  # fast shutdown: every connection is cut, then refused
        back = datetime.now()  # naive local time, as Optuna records a trial's times
        _trial_finished_after(outage.url, run_id, back, proc)
        proc.send_signal(signal.SIGTERM)  # ends the search as a spent budget would
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 3, stderr  # an unreachable threshold: not met
    assert "error:" not in stderr and "did not answer" not in stderr
    result = json.loads(stdout)
    store = open_store(outage.url)
    run = store.get_run(run_id)
    assert result["run_id"] == run_id and result["interrupted"] is True
    assert run["status"] == "interrupted"
    trials = store.trials(run_id)
    assert all(t.state.is_finished() for t in trials)  # none left running
    assert len(trials) == result["n_trials"]  # every trial the run made is recorded
    assert out.exists() and run["model_path"] == result["model_path"]


@pytest.mark.postgres
def test_a_long_outage_ends_with_exit_1_and_the_resume_command(
    outage: Outage, data_dir: Path, tmp_path: Path
) -> None:
    """A budget no loaded machine spends before the outage; the resumed run is ended by hand
    once it has added a trial, so the test does not wait out the budget."""
    out = tmp_path / "model.skops"
    args = _train_args(data_dir / "cancer.csv", outage.url, out)
    proc = popen(*args, env={"LEARNLOOP_STORE_RETRY_S": "2"})  # the default is 30 s
    try:
        run_id = _first_trial(outage.url, proc)
        outage.run("stop")
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    last = stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr, stderr
    assert json.loads(stdout) == {"status": "error", "exit_code": 1, "error": last[7:]}  # --json
    assert last.startswith("error: The store postgresql+psycopg://learnloop:***@"), stderr
    assert "did not answer for" in last and f"Run {run_id} keeps its finished trials" in last
    command = last.split("resume it: ", 1)[1]
    assert command == shlex.join(["learnloop", *args, "--resume", run_id])
    assert not out.exists()  # the run had not got as far as its model

    outage.run("start")
    store = open_store(outage.url)
    assert store.get_run(run_id)["status"] == "running"  # the store could not be told
    kept = [t.number for t in store.trials(run_id) if t.state.is_finished()]
    stdout, stderr = _resume_until_a_new_trial(command, outage.url, run_id)
    assert f"Resuming run {run_id}: {len(kept)} finished trials kept" in stderr
    result = json.loads(stdout)
    assert result["run_id"] == run_id and out.exists()
    assert store.get_run(run_id)["status"] == "interrupted"
    assert all(t.state.is_finished() for t in store.trials(run_id))


@pytest.mark.postgres
def test_store_calls_ride_out_a_restart(outage: Outage, caplog: pytest.LogCaptureFixture) -> None:
    """Runs and trials written without pause while the server restarts: none fails, none is
    lost, and the log shows the retries that carried them over."""
    store = open_store(outage.url)
    run_id = store.create_run(task="classification")
    study = store.study(run_id)
    caplog.set_level(logging.DEBUG, logger="learnloop.store")
    restart = outage.begin("restart")
    told = 0
    try:
        while restart.poll() is None or told < 5:
            trial = study.ask()
            trial.set_user_attr("candidate", "linear")
            study.tell(trial, float(told))
            store.update_run(run_id, threshold=float(told))
            told += 1
    finally:
        restart.wait(timeout=120)
    assert restart.returncode == 0
    assert any("retrying" in r.getMessage() for r in caplog.records), "no outage was met"
    trials = store.trials(run_id)
    assert [t.value for t in trials] == [float(i) for i in range(told)]
    assert store.get_run(run_id)["threshold"] == float(told - 1)


def test_resume_command_replaces_an_earlier_resume() -> None:
    cmd = "learnloop train 'my data.csv' --resume old --store x.db"
    assert resume_command(cmd, "new") == ("learnloop train 'my data.csv' --store x.db --resume new")
    assert resume_command("learnloop train d.csv --resume=old", "n") == (
        "learnloop train d.csv --resume n"
    )
    assert resume_command(None, "n") == "learnloop.train(..., resume='n')"


def test_the_message_names_a_model_the_run_already_saved(tmp_path: Path) -> None:
    away = StoreUnavailable("The store S did not answer for 30 s (refused).")
    model = tmp_path / "model.skops"
    model.write_bytes(b"old")
    os.utime(model, (time.time() - 3600, time.time() - 3600))  # from an earlier run
    told = store_interrupted(away, "r1", "learnloop train d.csv", model, seconds_ago=60)
    assert isinstance(told, StoreUnavailable)
    assert str(told) == (
        "The store S did not answer for 30 s (refused). Run r1 keeps its finished trials; "
        "once the store is back, resume it: learnloop train d.csv --resume r1"
    )
    model.write_bytes(b"new")  # this run got as far as saving its model
    told = store_interrupted(away, "r1", "learnloop train d.csv", model, seconds_ago=60)
    assert str(told).endswith(
        f"Run r1 had finished and saved its model to {model}; the store still lists it as running."
    )


def test_a_full_sqlite_store_says_so_in_one_line(tmp_path: Path) -> None:
    """SQLite's own cap on the file's pages gives the error a full disk gives."""
    path = tmp_path / "store.db"
    store = open_store(str(path))
    with store.engine.connect() as conn:
        pages = conn.execute(sa.text("PRAGMA page_count")).scalar()

    @sa.event.listens_for(store.engine, "connect")
    def _small(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 10}")

    store.engine.dispose()
    with pytest.raises(StoreFull) as info:
        for _ in range(100):
            store.create_run(task="classification", data="x" * 20_000)  # 5 pages each
    message = str(info.value)
    assert message.startswith(f"The store sqlite:///{path} is full (database or disk is full)")
    assert "\n" not in message
    assert 1 <= len(store.list_runs()) < 100  # what fitted is kept and readable


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs (root only): a real disk that fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system for the full-disk test needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_store_on_a_full_disk_ends_the_run_with_one_line_and_resumes(
    tiny_disk: Path, data_dir: Path, tmp_path: Path
) -> None:
    db = tiny_disk / "store.db"
    open_store(str(db))  # the tables; then the disk filled but for 512 kB
    filler = tiny_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:  # the disk is full
        os.ftruncate(fd, os.fstat(fd).st_size - 512 * 1024)
    finally:
        os.close(fd)
    out = tmp_path / "model.skops"
    proc = learnloop(*_train_args(data_dir / "cancer.csv", str(db), out))
    assert proc.returncode == 2, proc.stderr  # each trial grows SQLite's log: it fills up
    last = proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr and not out.exists()
    assert last.startswith(
        f"error: The store sqlite:///{db} is full (database or disk is full): free space on"
    )
    run_id = open_store(str(db)).list_runs()[0]["run_id"]
    assert f"Run {run_id} keeps its finished trials; once the store has room again" in last

    filler.unlink()
    command = last.split("resume it: ", 1)[1]
    stdout, _ = _resume_until_a_new_trial(command, str(db), run_id)
    assert json.loads(stdout)["run_id"] == run_id and out.exists()
    assert open_store(str(db)).get_run(run_id)["status"] == "interrupted"


@pytest.mark.postgres
def test_a_full_postgresql_store_says_so_in_one_line(outage: Outage) -> None:
    """The store's tables in a tablespace on a 4 MB disk: PostgreSQL's own disk-full error."""
    if os.geteuid() != 0:
        pytest.skip("a tablespace on a small mounted disk needs root")
    import shutil
    import tempfile

    disk = Path(tempfile.mkdtemp(prefix="learnloop-pgfull-"))  # /tmp: the server can reach it
    url = sa.engine.make_url(outage.url)
    psql = ["su", "postgres", "-c"]
    sql = f"psql -qAt -p {url.port} -d {url.database} -c"
    tablespace = f"full_{disk.name[-8:].replace('-', '_')}"
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        shutil.chown(disk, "postgres", "postgres")
        for statement in (
            f"CREATE TABLESPACE {tablespace} LOCATION '{disk}'",
            f"GRANT CREATE ON TABLESPACE {tablespace} TO {url.username}",
        ):
            subprocess.run([*psql, f'{sql} "{statement}"'], check=True, capture_output=True)
        store = open_store(f"{outage.url}%20-cdefault_tablespace%3D{tablespace}")
        with pytest.raises(StoreFull) as info:
            for _ in range(1000):
                store.create_run(task="classification", data=os.urandom(50_000).hex())
        message = str(info.value)
        assert message.startswith(f"The store {store.shown_url} is full (could not extend file")
        assert "No space left on device): free space on its disk." in message
        assert "\n" not in message and "learnloop:learnloop@" not in message
        assert 1 <= len(store.list_runs()) < 1000  # what fitted is kept and readable
        store.engine.dispose()
        store.optuna_storage.engine.dispose()  # type: ignore[attr-defined]
    finally:  # empty the tablespace (every table of the test's schema), then drop it
        engine = sa.create_engine(outage.url)
        with engine.begin() as conn:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE; CREATE SCHEMA {schema}"))
        engine.dispose()
        dropped = f'{sql} "DROP TABLESPACE IF EXISTS {tablespace}"'
        subprocess.run([*psql, dropped], check=True, capture_output=True)
        subprocess.run(["umount", str(disk)], check=True)
        disk.rmdir()


def test_a_connection_dropped_mid_transaction_is_retried() -> None:
    """Optuna's error from SQLAlchemy's PendingRollbackError (a connection the server dropped,
    met again before its rollback: the CI flake of a restart mid-query) is retried like a lost
    connection, and any other Optuna storage error is not."""
    import optuna

    from learnloop.exceptions import StoreError
    from learnloop.store.reconnect import with_retries

    def dropped() -> optuna.exceptions.StorageInternalError:
        try:
            raise sa.exc.PendingRollbackError(
                "Can't reconnect until invalid transaction is rolled back"
            )
        except sa.exc.PendingRollbackError as e:
            try:
                raise optuna.exceptions.StorageInternalError("during the commit") from e
            except optuna.exceptions.StorageInternalError as wrapped:
                return wrapped

    calls = iter([dropped(), "answered"])

    def operation() -> str:
        answer = next(calls)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    assert with_retries("postgresql://store", "postgresql", operation) == "answered"

    def refused() -> str:
        try:
            raise sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
        except sa.exc.IntegrityError as e:
            raise optuna.exceptions.StorageInternalError("during the commit") from e

    with pytest.raises(StoreError, match="The store postgresql://store failed"):
        with_retries("postgresql://store", "postgresql", refused)
