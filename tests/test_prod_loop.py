"""The loop closed in production: feedback rows go into a retrain, and a server run with
``--retrain`` retrains, registers and swaps by itself when the live claim fails."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import learnloop as ll
from learnloop.runs.feedback_rows import feedback_rows
from learnloop.runs.retrain import register_model, retrain
from learnloop.store import open_store
from learnloop.store.model_files import load_model
from learnloop.store.predictions import PredictionLog, Recorded, model_digest
from learnloop.store.versions import Registry
from serve_fixtures import Server, free_port, stop_server
from serve_fixtures import _start as start_command
from store_backends import learnloop as learnloop_cli

pytestmark = pytest.mark.serve


def _cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def _train(root: Path, store: str, frame: pd.DataFrame) -> Path:
    out = root / "cancer.skops"
    ll.train(
        frame, target="target", threshold=0.85, budget=4, out=out, store=store,
        candidates=["lightgbm"],
    )  # fmt: skip
    return out


def _record(store: str, model: Path, rows: pd.DataFrame, labels: list[int]) -> list[str]:
    """Record ``rows`` as predictions of ``model`` (as a server does) with ``labels`` as
    their feedback; the prediction ids."""
    log = PredictionLog(open_store(store))
    digest = model_digest(load_model(model).metadata)
    records = json.loads(rows.drop(columns="target").to_json(orient="records"))
    now = time.time()
    ids = [f"p{i:04d}" for i in range(len(records))]
    log.record(
        [
            Recorded(pid, now + i * 1e-3, digest, row, {"prediction": 0})
            for i, (pid, row) in enumerate(zip(ids, records, strict=True))
        ]
    )
    log.add_feedback(list(zip(ids, labels, strict=True)))
    return ids


def test_retrain_learns_from_the_labelled_recorded_predictions(
    backend_url: str, tmp_path: Path
) -> None:
    """The old model learned rows 0-299; rows 300-568 were served and recorded, and 200 of
    them got feedback. A retrain on the old rows takes those 200 as training rows with the
    labels sent (in the target column), oldest first; --no-feedback leaves them out."""
    cancer = _cancer()
    old = _train(tmp_path, backend_url, cancer.iloc[:300])
    served = cancer.iloc[300:]
    labelled = served.iloc[:200]
    _record(backend_url, old, labelled, [int(v) for v in labelled["target"]])
    PredictionLog(open_store(backend_url)).record(  # served, never labelled: not a row
        [Recorded("unlabelled", time.time(), model_digest(load_model(old).metadata), {}, {})]
    )
    digest = model_digest(load_model(old).metadata)
    rows = feedback_rows(open_store(backend_url), "target", [digest])
    assert len(rows) == 200 and list(rows["target"]) == list(labelled["target"])
    assert rows["mean radius"].tolist() == pytest.approx(labelled["mean radius"].tolist())
    assert len(feedback_rows(open_store(backend_url), "target", ["another-model"])) == 0

    data = tmp_path / "old.csv"
    cancer.iloc[:300].to_csv(data, index=False)
    done = retrain(old, str(data), store=backend_url, budget=4)
    assert done.feedback == 200 and done.rows == 500
    assert sum(done.result.splits.values()) == 500
    window = Registry(open_store(backend_url)).get("cancer", done.version)["window"]
    assert window["feedback_rows"] == 200
    # a window of the newest 150 rows keeps only feedback rows (they come last)
    windowed = retrain(old, str(data), store=backend_url, budget=4, window="150")
    assert windowed.rows == 150 and windowed.feedback == 200
    # the command: --no-feedback leaves them out
    run = learnloop_cli(
        "retrain", str(old), "--data", str(data), "--store", backend_url, "--budget", "4",
        "--no-feedback", "--json",
    )  # fmt: skip
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["feedback_rows"] == 0 and summary["rows"] == 300, run.stderr


def test_feedback_of_every_registered_version_counts(tmp_path: Path) -> None:
    """Feedback sent to version 1 still trains version 3, retrained from version 2."""
    store = f"sqlite:///{tmp_path / 's.db'}"
    cancer = _cancer()
    old = _train(tmp_path, store, cancer.iloc[:300])
    registry = Registry(open_store(store))
    register_model(registry, old, name="cancer")
    _record(store, old, cancer.iloc[300:360], [int(v) for v in cancer["target"].iloc[300:360]])
    data = tmp_path / "old.csv"
    cancer.iloc[:300].to_csv(data, index=False)
    second = retrain(old, str(data), store=store, budget=4, feedback=False, name="cancer")
    assert second.feedback == 0 and second.parent == 1
    newer = str(second.result.model_path)
    third = retrain(newer, str(data), store=store, budget=4, name="cancer")
    assert third.parent == second.version and third.feedback == 60 and third.rows == 360


def _hammer(server: Server, stop: threading.Event, seen: list[tuple[int, str]]) -> None:
    """One client sending one row at a time until ``stop``: (status, X-Model-Version)."""
    row = json.loads(_cancer().drop(columns="target").iloc[:1].to_json(orient="records"))
    with server.client() as client:
        while not stop.is_set():
            try:
                r = client.post("/predict", json={"records": row})
                seen.append((r.status_code, r.headers.get("x-model-version", "")))
            except httpx.HTTPError as e:
                seen.append((0, type(e).__name__))


def test_serve_retrain_registers_and_swaps_when_the_claim_fails(tmp_path: Path) -> None:
    """A server with --record --retrain serves cancer v1. The labels that come back are the
    opposite of the truth (the world flipped): the live accuracy's bound falls below 0.85,
    the server retrains on the newest 450 rows (the labelled feedback), registers v2,
    certified, and swaps to it; a client sending all along sees no failed request."""
    store = f"sqlite:///{tmp_path / 's.db'}"
    cancer = _cancer()
    old = _train(tmp_path, store, cancer)
    register_model(Registry(open_store(store)), old, name="cancer")
    data = tmp_path / "data.csv"
    cancer.to_csv(data, index=False)
    port = free_port()
    command = [
        sys.executable, "-m", "learnloop", "serve", "--name", "cancer", "--store", store,
        "--record", "--retrain", "--retrain-data", str(data), "--window", "450",
        "--retrain-check", "0.5", "--retrain-labels", "50", "--retrain-budget", "20",
        "--poll", "0.5", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    server = start_command(command, port, tmp_path / "server.log", 90.0)
    stop, seen = threading.Event(), []
    hammer = threading.Thread(target=_hammer, args=(server, stop, seen))
    hammer.start()
    try:
        client = server.client()
        served = cancer.iloc[:450]
        records = json.loads(served.drop(columns="target").to_json(orient="records"))
        ids = client.post("/predict", json={"records": records}).json()["prediction_ids"]
        flipped = [1 - int(y) for y in served["target"]]
        feedback = [{"prediction_id": i, "label": y} for i, y in zip(ids, flipped, strict=True)]
        assert client.post("/feedback", json=feedback).status_code == 200
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if client.get("/admin/model").json()["version"] == "cancer/2":
                break
            time.sleep(0.5)
        time.sleep(1.0)  # the client keeps sending on the new model
        monitor: dict[str, Any] = client.get("/monitor").json()
    finally:
        stop.set()
        hammer.join()
        stop_server(server)
    last = monitor["last_retrain"]
    assert last is not None, (tmp_path / "server.log").read_text()
    assert last["reason"].startswith("alarm") and last["labels_seen"] >= 50
    assert last["live_bound"] < 0.85
    assert (last["status"], last["version"], last["champion"]) == ("met", 2, 2), last
    assert last["feedback_rows"] == 450 and last["rows"] == 450
    assert last["test_bound"] >= 0.85 and last["swap"]["version"] == "cancer/2"
    assert Registry(open_store(store)).aliases("cancer") == {"champion": 2}
    failed = [s for s in seen if s[0] != 200]
    assert not failed, failed[:5]
    versions = [v for _, v in seen]
    assert versions[0] == "cancer/1" and versions[-1] == "cancer/2"
    assert "cancer/1" not in versions[versions.index("cancer/2") :]  # one switch, no way back


def test_serve_retrain_refuses_what_cannot_work(tmp_path: Path) -> None:
    """--retrain without --name or --record, or without a table to learn from: one line,
    exit 2, before the server binds."""
    store = f"sqlite:///{tmp_path / 's.db'}"
    old = _train(tmp_path, store, _cancer())
    register_model(Registry(open_store(store)), old, name="cancer")
    alone = learnloop_cli("serve", str(old), "--retrain")
    assert alone.returncode == 2 and "--name" in alone.stderr
    no_data = learnloop_cli("serve", "--name", "cancer", "--store", store, "--record", "--retrain")
    assert no_data.returncode == 2 and "--retrain-data" in no_data.stderr
    two = learnloop_cli(
        "serve", "--name", "cancer", "--store", store, "--record", "--retrain",
        "--retrain-data", str(old), "--workers", "2",
    )  # fmt: skip
    assert two.returncode == 2 and "--workers" in two.stderr
