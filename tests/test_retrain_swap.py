"""Retrain on real data, and swap models in a real running server under 32 concurrent
clients with no failed request; rollback restores the previous model. Both store backends."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import learnloop as ll
from learnloop.runs.retrain import retrain, rollback
from learnloop.store import open_store
from learnloop.store.model_files import load_model
from learnloop.store.versions import Registry, file_digest
from serve_fixtures import TOKEN, Server, free_port, start_server, stop_server
from serve_fixtures import _start as start_command
from store_backends import learnloop

pytestmark = pytest.mark.serve

CLIENTS = 32


def _cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def _train_old(root: Path, store: str, rows: int = 350) -> Path:
    """Version 1: the first ``rows`` rows of breast cancer."""
    out = root / "cancer.skops"
    ll.train(
        _cancer().iloc[:rows], target="target", threshold=0.85, budget=10, out=out,
        store=store, candidates=["lightgbm"],
    )  # fmt: skip
    return out


def test_retrain_registers_a_certified_version_with_its_parent(
    backend_url: str, tmp_path: Path
) -> None:
    """The old model learned the first 350 rows; retrain on all 569 (350 + 219 newer)
    runs the same loop to the same threshold, writes cancer.v2.skops beside it (the old
    file untouched), registers version 2 with version 1 as parent, and makes it champion."""
    old = _train_old(tmp_path, backend_url)
    before = file_digest(old)
    data = tmp_path / "recent.csv"
    _cancer().to_csv(data, index=False)
    done = retrain(old, str(data), store=backend_url, budget=20)
    assert done.result.met, done.result.to_dict()
    assert (done.name, done.version, done.parent, done.alias) == ("cancer", 2, 1, "champion")
    assert done.rows == 569 and sum(done.result.splits.values()) == 569
    new_path = Path(done.result.model_path or "")
    assert new_path == (tmp_path / "cancer.v2.skops").resolve() and file_digest(old) == before
    reg = Registry(open_store(backend_url))
    v1, v2 = reg.get("cancer", 1), reg.get("cancer", 2)
    assert v2["parent"] == 1 and v2["status"] == "met" and v2["digest"] == file_digest(new_path)
    assert v2["certificate"]["met"] and v2["certificate"]["threshold"] == 0.85
    assert v2["certificate"]["n_test"] == done.result.splits["test"]
    assert v2["window"]["rows"] == 569 and v2["window"]["fingerprint"]
    assert v1["window"]["n_train_rows"] < v2["window"]["n_train_rows"]
    assert reg.aliases("cancer") == {"champion": 2}
    # the same settings: task, metric, threshold, confidence, families as the old model's
    new_meta, old_meta = load_model(new_path).metadata, load_model(old).metadata
    for key in ("task", "metric", "threshold"):
        assert new_meta[key] == old_meta[key]
    assert new_meta["settings"]["candidates"] == ["lightgbm"]
    assert new_meta["settings"]["confidence"] == old_meta["settings"]["confidence"]
    # rollback: the champion goes back to the parent
    assert rollback("cancer", store=backend_url)["champion"] == 1
    assert reg.aliases("cancer") == {"champion": 1}


def test_retrain_by_time_certifies_on_the_newest_rows(tmp_path: Path) -> None:
    """A model trained with --time: the retrain splits by the same column, its certificate
    covers the newest rows of the new data, and a window of days keeps only recent rows."""
    from serve_fixtures import mixed_frame

    frame = mixed_frame(900, seed=3).sort_values("signup", kind="stable")
    old_rows, store = frame.iloc[:600], str(tmp_path / "s.db")
    out = tmp_path / "shop.skops"
    first = ll.train(
        old_rows, target="target", threshold=0.6, budget=10, out=out, store=store,
        candidates=["lightgbm"], time="signup",
    )  # fmt: skip
    assert first.test_period is not None
    done = retrain(out, frame, store=store, budget=15, window="500d")
    period = done.result.test_period
    assert period is not None and period["column"] == "signup"
    assert period["to"] >= frame["signup"].max()
    kept = pd.to_datetime(frame["signup"]) >= pd.to_datetime(frame["signup"]).max() - pd.Timedelta(
        days=500
    )
    assert done.rows == int(kept.sum()) < len(frame)


def test_a_retrain_that_is_not_certified_leaves_the_champion(tmp_path: Path) -> None:
    """Newer rows whose labels are noise: the loop cannot certify the threshold again; the
    version is registered (not_met), the champion stays, and the command exits 3. The
    model is named by its registered name: its champion's file is the one retrained."""
    from learnloop.runs.retrain import register_model

    store = str(tmp_path / "s.db")
    old = _train_old(tmp_path, store)
    assert register_model(Registry(open_store(store)), old) == ("cancer", 1)
    noisy = _cancer()
    rng = np.random.default_rng(0)
    noisy["target"] = rng.integers(0, 2, len(noisy))
    data = tmp_path / "noisy.csv"
    noisy.to_csv(data, index=False)
    proc = learnloop(
        "retrain", "cancer", "--data", str(data), "--store", store, "--budget", "4", "--json"
    )
    assert proc.returncode == 3, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["status"], out["version"], out["parent"], out["alias"]) == ("not_met", 2, 1, None)
    reg = Registry(open_store(store))
    assert reg.aliases("cancer") == {"champion": 1}
    assert reg.get("cancer", 2)["status"] == "not_met"
    assert reg.get("cancer", 2)["path"] == str(tmp_path.resolve() / "cancer.v2.skops")


# --------------------------------------------------------------------- swap under load
@dataclass
class Clients:
    """``CLIENTS`` threads, each with one keep-alive httpx client, sending /predict
    continuously; every answer's status and X-Model-Version kept in order per client."""

    url: str
    rows: list[dict[str, Any]]
    token: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    seen: dict[int, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for i in range(CLIENTS):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, i: int) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with httpx.Client(base_url=self.url, headers=headers, timeout=60) as c:
            k = 0
            while not self.stop.is_set():
                body = {"records": self.rows[k % len(self.rows) : k % len(self.rows) + 3]}
                k += 1
                try:
                    r = c.post("/predict", json=body)
                    ok = r.status_code == 200 and len(r.json()["predictions"]) == len(
                        body["records"]
                    )
                    self.seen[i].append((r.status_code if ok else -1, r.headers["x-model-version"]))
                except Exception as e:  # a dropped connection, a timeout: a failed request
                    self.errors.append(f"{type(e).__name__}: {e}")

    def wait_for(self, version: str, timeout: float = 120) -> None:
        """Until every client's latest answer came from ``version``."""
        deadline = time.monotonic() + timeout
        while not all(self.seen[i] and self.seen[i][-1][1] == version for i in range(CLIENTS)):
            assert time.monotonic() < deadline, f"not every client saw {version}"
            assert not self.errors, self.errors[:3]
            time.sleep(0.2)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def total(self) -> int:
        return sum(len(s) for s in self.seen.values())


def _versions_in_order(answers: list[tuple[int, str]]) -> list[str]:
    """The distinct versions one client saw, in the order it saw them."""
    runs: list[str] = []
    for _, version in answers:
        if not runs or runs[-1] != version:
            runs.append(version)
    return runs


def test_32_clients_see_no_failed_request_across_a_swap_and_a_rollback(
    backend_url: str, tmp_path: Path
) -> None:
    """serve --name follows the champion: a retrain (as challenger) is promoted with
    `models alias`, then rolled back with `rollback`, while 32 keep-alive clients send
    requests without pause. No request fails; each client sees v1, then v2, then v1
    again, never back and forth (each request answers from one model, in order)."""
    old = _train_old(tmp_path, backend_url)
    data = tmp_path / "recent.csv"
    _cancer().to_csv(data, index=False)
    retrained = learnloop(
        "retrain", str(old), "--data", str(data), "--store", backend_url, "--challenger",
        "--budget", "20", "--json",
    )  # fmt: skip
    assert retrained.returncode == 0, retrained.stderr
    assert json.loads(retrained.stdout)["alias"] == "challenger"
    token_file = tmp_path / "token.txt"
    token_file.write_text(TOKEN)
    port = free_port()
    command = [
        sys.executable, "-m", "learnloop", "serve", "--name", "cancer", "--store", backend_url,
        "--poll", "0.5", "--port", str(port), "--log-level", "info",
        "--token-file", str(token_file),
    ]  # fmt: skip
    server = start_command(command, port, tmp_path / "serve.log", 90)
    rows = json.loads(_cancer().drop(columns="target").head(60).to_json(orient="records"))
    clients = Clients(server.url, rows, token=TOKEN)
    try:
        with server.client(TOKEN) as c:
            assert c.get("/admin/model").json()["version"] == "cancer/1"
            unauthorized = httpx.post(f"{server.url}/admin/reload")  # behind the token
            assert unauthorized.status_code == 401
            assert "x-model-version" not in unauthorized.headers  # nothing told without it
        clients.start()
        clients.wait_for("cancer/1")
        promoted = learnloop("models", "alias", "cancer", "champion", "2", "--store", backend_url)
        assert promoted.returncode == 0, promoted.stderr
        clients.wait_for("cancer/2")
        back = learnloop("rollback", "cancer", "--store", backend_url, "--json")
        assert back.returncode == 0, back.stderr
        assert json.loads(back.stdout)["champion"] == 1
        clients.wait_for("cancer/1")
        # once more through the admin endpoint: nothing moved, nothing swapped
        with server.client(TOKEN) as c:
            again = c.post("/admin/reload").json()
            state = c.get("/admin/model").json()
    finally:
        clients.finish()
        stop_server(server)
    assert not clients.errors, clients.errors[:5]
    statuses = {s for answers in clients.seen.values() for s, _ in answers}
    assert statuses == {200}
    for i in range(CLIENTS):
        assert _versions_in_order(clients.seen[i]) == ["cancer/1", "cancer/2", "cancer/1"], i
    assert again == {"swapped": False, "version": "cancer/1"}
    assert state["swaps"] == 2 and state["last_error"] is None
    log = server.log.read_text()
    assert "swapped the model: cancer/1 -> cancer/2" in log
    assert "swapped the model: cancer/2 -> cancer/1" in log
    assert clients.total() > 3 * CLIENTS


def test_a_file_server_swaps_on_sighup_and_reload_and_refuses_a_bad_file(tmp_path: Path) -> None:
    """serve MODEL: the file replaced (os.replace) and SIGHUP sent: the new model answers.
    A tampered file put there: POST /admin/reload answers 409 naming it, and the old
    model keeps answering; a model of another task is refused the same way."""
    import os
    import shutil
    import signal

    store = str(tmp_path / "s.db")
    first = _train_old(tmp_path, store)  # 350 rows: met on its first trial (300 spend 10 s)
    second = tmp_path / "second.skops"
    ll.train(
        _cancer(), target="target", threshold=0.85, budget=10, out=second, store=store,
        candidates=["lightgbm"],
    )  # fmt: skip
    served = tmp_path / "served.skops"
    shutil.copy(first, served)
    server: Server = start_server(served, tmp_path / "file.log")
    rows = json.loads(_cancer().drop(columns="target").head(5).to_json(orient="records"))
    try:
        with server.client() as c:
            v1 = c.post("/predict", json={"records": rows}).headers["x-model-version"]
            assert v1 == f"served.skops@{file_digest(first)[:12]}"
            shutil.copy(second, tmp_path / "next.skops")
            os.replace(tmp_path / "next.skops", served)
            os.kill(server.process.pid, signal.SIGHUP)
            v2 = f"served.skops@{file_digest(second)[:12]}"
            deadline = time.monotonic() + 60
            while c.get("/admin/model").json()["version"] != v2:
                assert time.monotonic() < deadline, server.log.read_text()
                time.sleep(0.2)
            assert c.post("/predict", json={"records": rows}).headers["x-model-version"] == v2
            raw = bytearray(first.read_bytes())
            raw[len(raw) // 2] ^= 0xFF
            (tmp_path / "bad.skops").write_bytes(bytes(raw))
            os.replace(tmp_path / "bad.skops", served)
            refused = c.post("/admin/reload")
            assert refused.status_code == 409
            assert "served.skops" in refused.json()["detail"][0]["message"]
            assert refused.json()["version"] == v2
            after = c.post("/predict", json={"records": rows})
            assert after.status_code == 200 and after.headers["x-model-version"] == v2
            regressor = tmp_path / "diabetes.skops"
            from sklearn.datasets import load_diabetes

            ll.train(
                load_diabetes(as_frame=True).frame, target="target", budget=4, out=regressor,
                store=store, candidates=["lightgbm"],
            )  # fmt: skip
            shutil.copy(regressor, tmp_path / "next.skops")
            os.replace(tmp_path / "next.skops", served)
            other = c.post("/admin/reload")
            assert other.status_code == 409 and "task" in other.json()["detail"][0]["message"]
            assert c.get("/admin/model").json()["version"] == v2
    finally:
        stop_server(server)
