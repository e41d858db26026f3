"""Several processes on one run: a ``train`` owner and two ``learnloop worker`` processes."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from learnloop.store import open_store
from store_backends import popen, wait_while_running


@pytest.mark.slow
def test_two_workers_lose_no_trial_and_run_none_twice(
    backend_url: str, data_dir: Path, tmp_path: Path
) -> None:
    data, out = str(data_dir / "cancer.csv"), str(tmp_path / "model.skops")
    owner = popen(
        "train",
        data,
        "--target",
        "target",
        "--threshold",
        "0.999",
        "--budget",
        "300",  # more than a loaded machine needs to start the workers; ended by hand below
        "--candidates",
        "linear,knn",
        "--store",
        backend_url,
        "--out",
        out,
        "--json",
    )
    store = open_store(backend_url)
    deadline = time.monotonic() + 60
    while not store.list_runs():
        assert time.monotonic() < deadline and owner.poll() is None, owner.communicate()
        time.sleep(0.2)
    run_id = store.list_runs()[0]["run_id"]
    workers = [popen("worker", run_id, "--store", backend_url, "--json") for _ in range(2)]

    def all_three_ran_a_trial() -> bool:
        return len({t.user_attrs.get("worker") for t in store.trials(run_id)} - {None}) >= 3

    wait_while_running(
        all_three_ran_a_trial, owner, "the owner and both workers never all ran a trial"
    )
    owner.send_signal(signal.SIGTERM)  # the run ends as a spent budget would; the workers leave
    outputs = [p.communicate(timeout=180) for p in (owner, *workers)]
    assert owner.returncode == 3, outputs[0][1]
    for w, (_stdout, stderr) in zip(workers, outputs[1:], strict=True):
        assert w.returncode == 0, stderr
    reports = [json.loads(stdout) for stdout, _ in outputs[1:]]

    trials = store.trials(run_id)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials)))  # unique, none missing
    assert all(t.state.is_finished() for t in trials), "a trial was left running"
    assert {t.state.name for t in trials} <= {"COMPLETE", "FAIL", "PRUNED"}
    by_process = Counter(t.user_attrs["worker"] for t in trials)
    assert len(by_process) == 3, by_process  # the owner and both workers ran trials
    for report in reports:
        assert report["run_id"] == run_id and report["trials"]
        mine = {t.number for t in trials if t.user_attrs["worker"] == report["worker"]}
        assert set(report["trials"]) == mine  # every trial a worker ran is recorded as its own
    ran = [n for r in reports for n in r["trials"]]
    # numbers are unique by construction; the work is not: no portfolio configuration (family,
    # parameters, rung) was run by two processes. Portfolio entries are enqueued trials (TPE
    # may sample a portfolio configuration again; that is not a lost or doubled trial)
    portfolio = [t for t in trials if "fixed_params" in t.system_attrs]
    keys = [
        (t.user_attrs["candidate"], json.dumps(t.params, sort_keys=True), t.user_attrs["rung"])
        for t in portfolio
    ]
    assert len(keys) == len(set(keys)), keys
    assert {k[0] for k in keys} == {"linear", "knn"}  # each portfolio entry ran, once
    assert len(ran) == len(set(ran))  # no trial run by both workers
    assert store.get_run(run_id)["status"] == "interrupted"
