"""A run killed with SIGKILL mid-way is resumed without redoing its finished trials."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import make_classification

from learnloop.store import open_store
from store_backends import learnloop, popen


def _wait_for_trials(backend_url: str, n: int, proc: subprocess.Popen, timeout: float = 240) -> str:
    """Poll the store until the only run has ``n`` finished trials; its id."""
    store = open_store(backend_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        runs = store.list_runs()
        if runs:
            trials = store.trials(runs[0]["run_id"])
            done = [t for t in trials if t.state.is_finished()]
            running = [t for t in trials if t.state.name == "RUNNING"]
            if len(done) >= n and running:  # killed mid-trial, not between trials
                return runs[0]["run_id"]
        time.sleep(0.2)
    raise AssertionError(f"no run reached {n} finished trials in {timeout}s")


def _noisy_table(folder: Path) -> Path:
    """8,000 rows, 40 features, 10% flipped labels: LightGBM trials take a second or so,
    so a kill lands in a trial (a breast-cancer trial takes ~10 ms, the gap between two ~8)."""
    X, y = make_classification(8000, n_features=40, n_informative=20, flip_y=0.1, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(target=y)
    frame.to_csv(folder / "noisy.csv", index=False)
    return folder / "noisy.csv"


@pytest.mark.slow
def test_sigkill_then_resume_keeps_finished_trials(backend_url: str, tmp_path: Path) -> None:
    data, out = str(_noisy_table(tmp_path)), str(tmp_path / "model.skops")
    # an unreachable threshold: the run searches its whole budget unless killed
    args = ["train", data, "--target", "target", "--threshold", "0.999"]
    args += ["--candidates", "lightgbm,linear"]  # portfolio: lightgbm, linear, lightgbm, lightgbm
    args += ["--store", backend_url, "--out", out, "--json"]
    proc = popen(*args, "--budget", "20")
    try:
        run_id = _wait_for_trials(backend_url, 4, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    store = open_store(backend_url)
    assert store.get_run(run_id)["status"] == "running"  # the killed process could not say
    before = {t.number: t for t in store.trials(run_id)}
    kept = {n: t for n, t in before.items() if t.state.is_finished()}
    interrupted = {n for n, t in before.items() if not t.state.is_finished()}
    assert len(kept) >= 4
    assert interrupted, "the killed run had no trial in progress"

    # the budget bounds the resumed session only (it may change on resume): a few trials' worth
    resumed = learnloop(*args, "--budget", "8", "--resume", run_id)
    assert resumed.returncode == 3, resumed.stderr  # budget spent, threshold not met
    result = json.loads(resumed.stdout)
    assert result["run_id"] == run_id and result["status"] == "not_met"
    assert f"{len(kept)} finished trials kept" in resumed.stderr
    assert Path(out).exists()

    after = {t.number: t for t in store.trials(run_id)}
    for n, t in kept.items():  # finished trials untouched
        assert after[n].state == t.state and after[n].params == t.params
        assert after[n].user_attrs == t.user_attrs
    for n in interrupted:  # no trial stays "running" for ever
        assert after[n].state.name == "FAIL" and after[n].user_attrs["stop_reason"] == "interrupted"
    assert all(t.state.is_finished() for t in after.values())
    new = [t for n, t in after.items() if n not in before]
    assert new, "the resumed run ran no trial"
    done_configs = [t.params for t in kept.values() if t.state.name == "COMPLETE"]
    assert all(t.params not in done_configs for t in new), "a finished trial was run again"
    run = store.get_run(run_id)
    assert run["status"] == "not_met" and run["result"]["test_score"] is not None
    assert run["model_path"] == result["model_path"]


def test_resume_of_a_finished_or_unknown_run_exits_2(
    backend_url: str, data_dir: Path, tmp_path: Path
) -> None:
    store = open_store(backend_url)
    run_id = store.create_run(task="classification")
    store.finish_run(run_id, "met")
    data = str(data_dir / "cancer.csv")
    out = tmp_path / "model.skops"
    before = sorted(tmp_path.iterdir())
    for rid, message in ((run_id, "already finished"), ("nope", "No run starts with 'nope'")):
        proc = learnloop(
            "train",
            data,
            "--target",
            "target",
            "--store",
            backend_url,
            "--resume",
            rid,
            "--out",
            str(out),
            cwd=tmp_path,
        )
        assert proc.returncode == 2 and message in proc.stderr
        assert proc.stderr.strip().count("\n") == 0
        assert not out.exists() and sorted(tmp_path.iterdir()) == before  # no model file
        runs = store.list_runs()
        assert [r["run_id"] for r in runs] == [run_id]  # no new run row
        assert runs[0]["status"] == "met"
