"""Trials on a Dask cluster: a real scheduler and two worker processes on 127.0.0.1.

The shared cluster comes from LEARNLOOP_TEST_DASK_URL (``.ci/start-dask``); without it a
test session starts its own (under CI=true a missing URL fails the tests). The fault tests
start a private cluster whose workers have no nanny, so a killed worker stays dead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import learnloop
from learnloop.store import open_store
from store_backends import learnloop as run_learnloop
from store_backends import popen, wait_while_running

distributed = pytest.importorskip("distributed")  # the dev extra installs it

pytestmark = pytest.mark.dask
DASK_ENV = "LEARNLOOP_TEST_DASK_URL"
SRC = str(Path(learnloop.__file__).resolve().parents[1])  # the tree under test, for workers


class Cluster:
    """A scheduler and worker processes started here (killed at the end)."""

    def __init__(self, folder: Path, n_workers: int = 2, nanny: bool = False) -> None:
        env = {**os.environ, "PYTHONPATH": SRC, "PYTHONWARNINGS": "ignore"}
        file = folder / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1"]
                + ["--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.1)
        self.address = json.loads(file.read_text())["address"]
        for _ in range(n_workers):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", self.address]
                    + ["--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
                    + ["--nanny" if nanny else "--no-nanny", "--death-timeout", "30"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        with distributed.Client(self.address, timeout=30) as client:
            client.wait_for_workers(n_workers, timeout=60)

    @property
    def scheduler(self) -> subprocess.Popen:
        return self.procs[0]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="session")
def dask_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get(DASK_ENV)
    if url:
        yield url
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {DASK_ENV} is not set: the Dask cluster tests cannot run")
    cluster = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        yield cluster.address
    finally:
        cluster.close()


@pytest.fixture()
def private_cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def cancer_csv(data_dir: Path) -> str:
    return str(data_dir / "cancer.csv")


@pytest.fixture(scope="module")
def slow_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Generated rows on which a random-forest trial takes a few seconds."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=8000, n_features=30, n_informative=12, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(target=y)
    path = tmp_path_factory.mktemp("slow") / "slow.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _check_trials(store_url: str, run_id: str, n_trials: int) -> list:
    trials = open_store(store_url).trials(run_id)
    assert sorted(t.number for t in trials) == list(range(len(trials)))  # none lost or doubled
    assert len(trials) == n_trials
    assert all(t.state.is_finished() for t in trials), "a trial was left running"
    return trials


@pytest.mark.slow
def test_threshold_run_on_the_cluster_is_certified_and_recorded(
    dask_url: str, cancer_csv: str, tmp_path: Path
) -> None:
    store, out = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "model.skops"
    proc = run_learnloop(
        "train", cancer_csv, "--target", "target", "--threshold", "0.85", "--budget", "60",
        "--cluster", dask_url, "--store", store, "--out", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "met" and result["certificate"]["met"]
    assert result["test_bound"] >= 0.85 and out.exists()
    run = open_store(store).get_run(result["run_id"])
    assert run["status"] == "met" and run["model_path"] == result["model_path"]
    trials = _check_trials(store, result["run_id"], result["n_trials"])
    with distributed.Client(dask_url, timeout=10) as client:
        workers = set(client.scheduler_info(n_workers=-1)["workers"])
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert done and all(t.user_attrs["worker"] in workers for t in done)  # where it ran
    shown = run_learnloop("runs", "show", result["run_id"], "--store", store, "--json")
    assert {t["worker"] for t in json.loads(shown.stdout)["trials"]} <= workers


@pytest.mark.slow
def test_local_cluster_of_two_workers(cancer_csv: str, tmp_path: Path) -> None:
    store, out = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "model.skops"
    proc = run_learnloop(
        "train", cancer_csv, "--target", "target", "--threshold", "0.85", "--budget", "60",
        "--cluster", "local:2", "--store", store, "--out", str(out), "--json",
        pythonpath=Path(SRC),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "met" and out.exists()
    trials = _check_trials(store, result["run_id"], result["n_trials"])
    assert all(t.user_attrs["worker"].startswith("tcp://127.0.0.1:") for t in trials)


@pytest.mark.parametrize(
    ("cluster", "message"),
    [("tcp://127.0.0.1:9", "Cannot use the Dask scheduler at tcp://127.0.0.1:9"),
     ("my-laptop", "neither a Dask scheduler address")],
)  # fmt: skip
def test_wrong_or_unreachable_scheduler_exits_2_without_a_run(
    cluster: str, message: str, cancer_csv: str, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(store)  # an existing, empty store
    proc = run_learnloop(
        "train", cancer_csv, "--target", "target", "--cluster", cluster, "--store", store,
        "--out", str(tmp_path / "model.skops"),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert proc.stderr.strip().count("\n") == 0  # one sentence, no traceback
    assert open_store(store).list_runs() == []
    assert not (tmp_path / "model.skops").exists()


def _wait_for_run(store_url: str, proc: subprocess.Popen, finished: int) -> str:
    store = open_store(store_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        runs = store.list_runs()
        if runs and sum(t.state.is_finished() for t in store.trials(runs[0]["run_id"])) >= finished:
            return str(runs[0]["run_id"])
        time.sleep(0.1)
    raise AssertionError(f"the run did not finish {finished} trials in time")


@pytest.mark.slow
def test_a_worker_killed_mid_trial_loses_only_that_trial(
    private_cluster: Cluster, slow_csv: str, tmp_path: Path
) -> None:
    store, out = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "model.skops"
    owner = popen(
        "train", slow_csv, "--target", "target", "--threshold", "0.999", "--budget", "300",
        "--candidates", "random_forest,extra_trees", "--cluster", private_cluster.address,
        "--store", store, "--out", str(out), "--json",
    )  # fmt: skip
    try:
        with distributed.Client(private_cluster.address, timeout=10) as client:
            pids = client.run(os.getpid)
            run_id = _wait_for_run(store, owner, 2)
            killed, seen, since = None, {}, time.monotonic()
            deadline = time.monotonic() + 60
            while killed is None:
                assert time.monotonic() < deadline, "no worker was busy with a trial"
                busy = {w: set(keys) for w, keys in client.processing().items() if keys}
                if busy != seen:
                    seen, since = busy, time.monotonic()
                elif len(busy) == 2 and time.monotonic() - since >= 1.0:
                    # both on the same trials for a second: mid-trial (a task just handed
                    # to a worker may not have started, and would simply run elsewhere)
                    killed = sorted(busy)[0]
                    os.kill(pids[killed], signal.SIGKILL)
                time.sleep(0.05)

        def retried() -> bool:  # the lost trial and its retry on the survivor are recorded
            return any("retry_of" in t.user_attrs for t in open_store(store).trials(run_id))

        wait_while_running(retried, owner, "the lost trial was not tried again")
        owner.send_signal(signal.SIGTERM)  # ends the run as a spent budget would
        stdout, stderr = owner.communicate(timeout=180)
    finally:
        if owner.poll() is None:
            owner.kill()
    assert owner.returncode == 3, stderr  # the run went on with one worker until ended by hand
    result = json.loads(stdout)
    assert result["run_id"] == run_id and out.exists()
    trials = _check_trials(store, run_id, result["n_trials"])
    lost = [t for t in trials if t.user_attrs.get("stop_reason") == "lost"]
    assert len(lost) == 1, [t.user_attrs for t in trials if t.state.name == "FAIL"]
    assert lost[0].state.name == "FAIL" and lost[0].user_attrs["worker"] == killed
    assert "worker lost" in lost[0].user_attrs["error"]
    retries = [t for t in trials if t.user_attrs.get("retry_of") == lost[0].number]
    assert len(retries) == 1 and retries[0].params == lost[0].params  # tried once more
    assert retries[0].user_attrs["worker"] != killed
    after = [t for t in trials if t.datetime_start > lost[0].datetime_start]
    assert after and all(t.user_attrs["worker"] != killed for t in after if t is not lost[0])
    assert open_store(store).get_run(run_id)["status"] == "interrupted"


@pytest.mark.slow
def test_a_lost_scheduler_ends_the_run_and_it_can_be_resumed(
    private_cluster: Cluster, cancer_csv: str, tmp_path: Path
) -> None:
    store, out = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "model.skops"
    args = ["train", cancer_csv, "--target", "target", "--threshold", "0.999"]
    # a budget no loaded machine spends connecting; the resumed run is ended by hand
    args += ["--budget", "300", "--store", store, "--out", str(out), "--json"]
    owner = popen(*args, "--cluster", private_cluster.address)
    try:
        run_id = _wait_for_run(store, owner, 3)
        private_cluster.scheduler.send_signal(signal.SIGKILL)
        _, stderr = owner.communicate(timeout=120)
    finally:
        if owner.poll() is None:
            owner.kill()
    assert owner.returncode == 1, stderr
    last = stderr.strip().splitlines()[-1]  # the progress lines, then one line that says why
    assert last.startswith("error: Lost the Dask scheduler at") and f"--resume {run_id}" in last
    st = open_store(store)
    assert st.get_run(run_id)["status"] == "failed"
    kept = [t.number for t in st.trials(run_id) if t.state.name == "COMPLETE"]
    resumed = popen(*args, "--resume", run_id)  # in process, without the lost scheduler

    def a_new_trial() -> bool:
        return any(t.number not in kept and t.state.name == "COMPLETE" for t in st.trials(run_id))

    wait_while_running(a_new_trial, resumed, "the resumed run finished no trial")
    resumed.send_signal(signal.SIGTERM)
    stdout, stderr = resumed.communicate(timeout=180)
    assert resumed.returncode == 3, stderr
    assert json.loads(stdout)["run_id"] == run_id
    after = {t.number: t for t in st.trials(run_id)}
    assert all(after[n].state.name == "COMPLETE" for n in kept)
    assert all(t.state.is_finished() for t in after.values())


def test_without_distributed_the_core_works_and_cluster_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "import learnloop.runs.train\n"
        "from learnloop.search.executors import open_executor\n"
        "assert open_executor(None) is None\n"
        "open_executor('local:2')\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert "pip install 'learnloop[dask]'" in proc.stderr
