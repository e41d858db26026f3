"""Predictions recorded by a real server, feedback, and the live monitor, end to end.

The server runs as ``learnloop serve MODEL --record --store URL`` in its own process; the
store is SQLite or PostgreSQL (``backend_url``) where the flow touches it.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from learnloop.serving.recording import FLUSH_S
from learnloop.store import open_store
from learnloop.store.predictions import PredictionLog
from serve_fixtures import Models, Server, start_server, stop_server, train_models
from store_backends import learnloop

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    return train_models(tmp_path_factory.mktemp("monitor-models"), only=("classifier", "regressor"))


@pytest.fixture
def recording(models: Models, backend_url: str, tmp_path: Path) -> Iterator[Server]:
    """The breast-cancer classifier, recording into a fresh store."""
    server = start_server(
        models.classifier, tmp_path / "server.log", "--record", "--store", backend_url
    )
    yield server
    stop_server(server)


def _records(frame: pd.DataFrame, start: int = 0, n: int | None = None) -> list[dict[str, Any]]:
    part = frame.iloc[start:] if n is None else frame.iloc[start : start + n]
    return json.loads(part.to_json(orient="records"))


def _truth() -> list[int]:
    from sklearn.datasets import load_breast_cancer

    return [int(v) for v in load_breast_cancer().target]


def test_the_loop_on_a_recording_server(
    recording: Server, models: Models, backend_url: str, tmp_path: Path
) -> None:
    client = recording.client()
    frame, truth = models.classifier_frame, _truth()
    answer = client.post("/predict", json={"records": _records(frame)}).json()
    ids = answer["prediction_ids"]
    assert len(ids) == len(set(ids)) == len(frame) == len(answer["predictions"])

    before = client.get("/monitor").json()  # flushes what waits, then reads the store
    assert before["predictions_recorded"] == len(frame) and before["labels_seen"] == 0
    assert before["status"] == "no_labels" and before["claim_holds"]
    assert 0.8 < before["estimate"]["value"] <= 1 and before["estimate"]["rows"] == len(frame)
    assert len(before["drift"]) == frame.shape[1]  # every input column, judged
    assert sum(d["drifted"] for d in before["drift"].values()) == 0  # the training rows

    first = [{"prediction_id": i, "label": y} for i, y in zip(ids[:200], truth[:200], strict=True)]
    assert client.post("/feedback", json=first).json() == {"accepted": 200}
    good = client.get("/monitor").json()
    assert good["labels_seen"] == 200 and good["live_score"] > 0.9
    assert good["status"] == "holds" and good["bound_side"] == "upper"
    assert good["interval"][0] <= good["live_score"] <= good["bound"]

    # the rest arrive later in bulk, and every one is wrong: the claim no longer holds
    labels = tmp_path / "labels.csv"
    flipped = [1 - (p if isinstance(p, int) else int(p)) for p in answer["predictions"][200:]]
    pd.DataFrame({"prediction_id": ids[200:], "label": flipped}).to_csv(labels, index=False)
    done = learnloop("feedback", str(models.classifier), str(labels), "--store", backend_url)
    assert done.returncode == 0, done.stderr
    watched = learnloop("monitor", str(models.classifier), "--store", backend_url, "--json")
    assert watched.returncode == 3, watched.stderr
    report = json.loads(watched.stdout)
    assert report["status"] == "alarm" and not report["claim_holds"]
    assert report["labels_seen"] == len(frame) and report["bound"] < report["threshold"] == 0.9
    assert report["predictions_recorded"] == len(frame)
    text = learnloop("monitor", str(models.classifier), "--store", backend_url)
    assert text.returncode == 3 and "status: alarm" in text.stdout


def test_feedback_is_refused_naming_the_id_or_the_value(
    recording: Server, models: Models, backend_url: str, tmp_path: Path
) -> None:
    client = recording.client()
    ids = client.post("/predict", json={"records": _records(models.classifier_frame, 0, 3)})
    ids = ids.json()["prediction_ids"]
    unknown = client.post("/feedback", json={"prediction_id": "no-such-id", "label": 1})
    assert unknown.status_code == 404 and "'no-such-id'" in unknown.json()["detail"][0]["message"]
    bad = client.post(
        "/feedback",
        json=[{"prediction_id": ids[0], "label": 1}, {"prediction_id": ids[1], "label": "cat"}],
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["row"] == 1 and "'cat'" in bad.json()["detail"][0]["message"]
    shape = client.post("/feedback", json={"id": ids[0]})
    assert shape.status_code == 422
    assert (
        client.post(
            "/feedback", content=b"{nope", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert client.get("/monitor").json()["labels_seen"] == 0  # nothing of a refused batch kept

    csv = tmp_path / "labels.csv"
    csv.write_text(f"prediction_id,label\n{ids[0]},1\nmissing-id,0\n")
    run = learnloop("feedback", str(models.classifier), str(csv), "--store", backend_url)
    assert run.returncode == 2 and "'missing-id'" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    csv.write_text(f"prediction_id,label\n{ids[0]},1\n{ids[1]},maybe\n")
    run = learnloop("feedback", str(models.classifier), str(csv), "--store", backend_url)
    assert run.returncode == 2 and "Line 3" in run.stderr and "'maybe'" in run.stderr
    csv.write_text(f"id,label\n{ids[0]},1\n")
    run = learnloop("feedback", str(models.classifier), str(csv), "--store", backend_url)
    assert run.returncode == 2 and "prediction_id" in run.stderr


def test_nothing_acknowledged_before_the_flush_interval_is_lost_to_sigkill(
    models: Models, backend_url: str, tmp_path: Path
) -> None:
    store = backend_url
    server = start_server(models.classifier, tmp_path / "kill.log", "--record", "--store", store)
    rows = _records(models.classifier_frame, 0, 5)
    acknowledged: list[str] = []
    try:
        with server.client() as client:
            for _ in range(40):
                acknowledged += client.post("/predict", json={"records": rows}).json()[
                    "prediction_ids"
                ]
            time.sleep(FLUSH_S + 2.0)  # the bound: one flush interval and one write
            late = client.post("/predict", json={"records": rows}).json()["prediction_ids"]
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
    finally:
        stop_server(server)
    log = PredictionLog(open_store(store))
    kept = log.known(acknowledged + late)
    assert set(acknowledged) <= set(kept)  # every one acknowledged before the interval
    assert len(kept) <= len(acknowledged) + len(late)


def test_shutdown_writes_out_what_waits(models: Models, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'term.db'}"
    server = start_server(models.classifier, tmp_path / "term.log", "--record", "--store", store)
    with server.client() as client:
        ids = client.post("/predict", json={"records": _records(models.classifier_frame)}).json()
    stop_server(server)  # SIGTERM at once: the queue is written on the way out
    assert len(PredictionLog(open_store(store)).known(ids["prediction_ids"])) == 569


def test_a_regressor_takes_numbers_and_reports_its_metric_without_a_bound(
    models: Models, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path / 'reg.db'}"
    server = start_server(models.regressor, tmp_path / "reg.log", "--record", "--store", store)
    try:
        client = server.client()
        frame = models.regressor_frame
        ids = client.post("/predict", json={"records": _records(frame, 0, 100)}).json()
        ids = ids["prediction_ids"]
        wrong = client.post("/feedback", json={"prediction_id": ids[0], "label": "tall"})
        assert wrong.status_code == 422 and "not a finite number" in wrong.text
        from sklearn.datasets import load_diabetes

        y = load_diabetes().target[:100]
        sent = [{"prediction_id": i, "label": float(v)} for i, v in zip(ids, y, strict=True)]
        assert client.post("/feedback", json=sent).status_code == 200
        report = client.get("/monitor").json()
    finally:
        stop_server(server)
    assert report["metric"] == "r2" and report["labels_seen"] == 100
    assert report["status"] == "no_bound" and report["bound"] is None and report["claim_holds"]
    assert 0 < report["live_score"] < 1 and report["estimate"] is None


def test_a_server_that_records_nothing_says_so(models: Models, tmp_path: Path) -> None:
    server = start_server(models.classifier, tmp_path / "plain.log")
    try:
        client = server.client()
        answer = client.post("/predict", json={"records": _records(models.classifier_frame, 0, 2)})
        assert "prediction_ids" not in answer.json()
        for response in (
            client.post("/feedback", json={"prediction_id": "x", "label": 1}),
            client.get("/monitor"),
        ):
            assert response.status_code == 409 and "--record" in response.text
    finally:
        stop_server(server)
    csv = tmp_path / "labels.csv"
    csv.write_text("prediction_id,label\nx,1\n")
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    run = learnloop("feedback", str(models.classifier), str(csv), "--store", empty)
    assert run.returncode == 2 and "no recorded predictions" in run.stderr
    watched = learnloop("monitor", str(models.classifier), "--store", empty, "--json")
    assert watched.returncode == 0 and json.loads(watched.stdout)["status"] == "no_labels"
    alone = learnloop("serve", str(models.classifier), "--store", empty)
    assert alone.returncode == 2 and "--record" in alone.stderr
    bad = learnloop("monitor", str(models.classifier), "--confidence", "2", "--json")
    assert bad.returncode == 2 and json.loads(bad.stdout)["status"] == "error"


def test_drift_is_flagged_for_a_shifted_column(models: Models, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'drift.db'}"
    server = start_server(models.classifier, tmp_path / "drift.log", "--record", "--store", store)
    try:
        shifted = models.classifier_frame.assign(**{"mean radius": lambda f: f["mean radius"] * 2})
        client = server.client()
        client.post("/predict", json={"records": _records(shifted)})
        report = client.get("/monitor").json()
    finally:
        stop_server(server)
    assert report["drifted"] == ["mean radius"]
    entry = report["drift"]["mean radius"]
    assert entry["psi"] > 0.2 and entry["limit"] == 0.2 and entry["ks_p_value"] < 1e-6


def test_the_recording_servers_document_is_true(models: Models, tmp_path: Path) -> None:
    """schemathesis on /feedback and /monitor of a recording server, from its own document:
    no 5xx, no answer the document does not list, schema-valid labels never refused."""
    import subprocess
    import sys

    pytest.importorskip("schemathesis")
    store = f"sqlite:///{tmp_path / 'fuzz.db'}"
    server = start_server(models.classifier, tmp_path / "fuzz.log", "--record", "--store", store)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[checks.negative_data_rejection]\n"
        "expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422]\n"
    )
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config),
        "run", f"{server.url}/openapi.json", "--checks", "all", "--max-examples", "15",
        "--seed", "20251203", "--workers", "1", "--generation-database", "none",
        "--include-path-regex", "^/(feedback|monitor)$",
    ]  # fmt: skip
    try:
        run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    finally:
        stop_server(server)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Traceback" not in server.log.read_text()


def test_a_model_file_without_a_reference_profile_reports_no_drift(
    models: Models, tmp_path: Path
) -> None:
    from learnloop.runs.live import monitor
    from learnloop.store.model_files import load_model

    model = load_model(models.classifier)
    assert set(model.metadata["reference"]) == set(models.classifier_frame.columns)
    model.metadata.pop("reference")  # as a model file from before profiles
    report = monitor(model, PredictionLog(open_store(f"sqlite:///{tmp_path / 'old.db'}")))
    assert report["drift"] is None and report["drifted"] == [] and report["status"] == "no_labels"
