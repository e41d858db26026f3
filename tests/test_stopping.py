"""Stopping by hand: the first Ctrl-C or SIGTERM keeps the best model; a second aborts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import learnloop
from conftest import write

pytestmark = pytest.mark.slow


def _start(tmp_path: Path, cancer: pd.DataFrame) -> subprocess.Popen:
    data = write(cancer, tmp_path / "cancer.csv")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "learnloop",
            "train",
            str(data),
            "--target",
            "target",
            "--threshold",
            "0.999",  # out of reach: the search would run the whole budget
            "--budget",
            "120",
            "--json",
            "--out",
            str(tmp_path / "m.skops"),
            "--store",
            str(tmp_path / "s.db"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_trials(proc: subprocess.Popen, n: int = 2, timeout: float = 90.0) -> list[str]:
    """Read progress lines until ``n`` trial lines have appeared (the search is running)."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if sum(" trial " in x for x in lines) >= n:
            return lines
    raise AssertionError("the search never started: " + "".join(lines))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_keeps_the_best_model(
    tmp_path: Path, cancer: pd.DataFrame, sig: signal.Signals
) -> None:
    proc = _start(tmp_path, cancer)
    _wait_for_trials(proc)
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - sent < 30  # ended well before the 120 s budget
    assert proc.returncode == 3, err  # not met: 0.999 is out of reach
    assert f"{sig.name}: ending the search" in err
    result = json.loads(out)
    assert result["interrupted"] is True and result["status"] == "not_met"
    assert result["certificate"]["look"] >= 1  # the best model got its test look
    model = learnloop.load(tmp_path / "m.skops")  # ... and was saved
    assert model.metadata["certificate"]["test_score"] == pytest.approx(result["test_score"])
    listed = subprocess.run(
        [sys.executable, "-m", "learnloop", "runs", "show", result["run_id"]]
        + ["--store", str(tmp_path / "s.db"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(listed.stdout)["status"] == "interrupted"


def test_second_signal_aborts_at_once() -> None:
    """In the block, the first signal sets the request and the second raises at once."""
    import os

    from learnloop.runs.stopping import stop_on_signals

    heard: list[str] = []
    with pytest.raises(KeyboardInterrupt), stop_on_signals(heard.append) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # let the handler run
        assert stop.requested and stop.signal_name == "SIGTERM" and heard == ["SIGTERM"]
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        raise AssertionError("the second signal did not abort")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_the_cli_maps_an_abort_to_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer import Exit

    from learnloop.cli._common import run_guarded

    def abort() -> None:
        raise KeyboardInterrupt

    with pytest.raises(Exit) as exc:
        run_guarded(abort)
    assert exc.value.exit_code == 130


def test_api_outside_the_main_thread_is_not_stopped_by_signals(
    tmp_path: Path, cancer: pd.DataFrame
) -> None:
    """Handlers are only installed in the main thread; a run in a thread still works."""
    import threading

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the tests run in the background
    results: list[learnloop.Result] = []
    thread = threading.Thread(
        target=lambda: results.append(
            learnloop.train(
                cancer,
                target="target",
                threshold=0.9,
                budget=20,
                out=None,
                store=str(tmp_path / "t.db"),
            )
        )
    )
    thread.start()
    thread.join(timeout=120)
    assert results and results[0].interrupted is False
    assert results[0].status in ("met", "not_met") and results[0].certificate is not None
    assert signal.getsignal(signal.SIGINT) is before
