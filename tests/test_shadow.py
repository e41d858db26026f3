"""A challenger shadowing the champion on live traffic, in a real server (``serve --name NAME
--record --shadow``): its answers recorded against its version, never returned; the same
labels score both; a challenger that fails on every row fails no champion answer. The
monitor's figures as Prometheus gauges on /metrics. Both store backends where the store is
touched."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import learnloop as ll
from learnloop.runs.retrain import register_model
from learnloop.store import open_store
from learnloop.store.model_files import load_model
from learnloop.store.predictions import PredictionLog
from learnloop.store.versions import Registry
from serve_fixtures import Server, free_port, stop_server
from serve_fixtures import _start as start_command
from store_backends import learnloop

pytestmark = pytest.mark.serve


@dataclass
class Trio:
    """Champion and challenger on breast cancer, and a champion that reads 'mean radius'
    as text (its clients send words there, which the others refuse)."""

    champion: Path
    challenger: Path
    worded: Path
    frame: pd.DataFrame


def _worded(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["mean radius"] = (out["mean radius"] > 14).map({True: "large", False: "small"})
    return out


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Trio:
    from sklearn.datasets import load_breast_cancer

    root = tmp_path_factory.mktemp("shadow-models")
    cancer = load_breast_cancer(as_frame=True).frame
    paths = {}
    for name, frame in (
        ("champion", cancer.iloc[:300]),
        ("challenger", cancer),
        ("worded", _worded(cancer)),
    ):
        paths[name] = root / f"{name}.skops"
        ll.train(
            frame, target="target", threshold=0.85, budget=6, out=paths[name],
            store=str(root / "s.db"), candidates=["lightgbm"],
        )  # fmt: skip
    return Trio(paths["champion"], paths["challenger"], paths["worded"], cancer)


def _serve(store: str, log: Path, name: str = "cancer") -> Server:
    port = free_port()
    command = [
        sys.executable, "-m", "learnloop", "serve", "--name", name, "--store", store,
        "--record", "--shadow", "--poll", "0.5", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    return start_command(command, port, log, 90.0)


@pytest.fixture
def shadowed(trio: Trio, backend_url: str, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """cancer v1 champion, v2 challenger, served with --shadow."""
    registry = Registry(open_store(backend_url))
    register_model(registry, trio.champion, name="cancer")
    register_model(registry, trio.challenger, name="cancer")
    registry.set_alias("cancer", "champion", 1)
    registry.set_alias("cancer", "challenger", 2)
    server = _serve(backend_url, tmp_path / "server.log")
    yield server, backend_url
    stop_server(server)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.drop(columns="target").to_json(orient="records"))


def test_the_challenger_is_scored_on_the_champions_labels(
    shadowed: tuple[Server, str], trio: Trio
) -> None:
    server, store = shadowed
    client = server.client()
    ids: list[str] = []
    for start in range(0, 569, 200):  # three requests
        answer = client.post("/predict", json={"records": _records(trio.frame[start:][:200])})
        assert answer.status_code == 200 and answer.headers["x-model-version"] == "cancer/1"
        assert set(answer.json()) >= {"predictions", "prediction_ids"}  # the champion's only
        ids += answer.json()["prediction_ids"]
    truth = [int(y) for y in trio.frame["target"]]
    labels = [{"prediction_id": i, "label": y} for i, y in zip(ids[:400], truth, strict=False)]
    assert client.post("/feedback", json=labels).json() == {"accepted": 400}

    body = client.get("/monitor").json()
    assert body["version"] == "cancer/1"
    assert (body["predictions_recorded"], body["labels_seen"]) == (569, 400)
    theirs = body["challenger"]
    assert theirs["version"] == "cancer/2" and theirs["model_digest"] != body["model_digest"]
    assert (theirs["predictions_recorded"], theirs["labels_seen"]) == (569, 400)
    assert body["shadow"] == {
        "version": "cancer/2", "rows": 569, "errors": 0, "skipped": 0, "last_error": None,
    }  # fmt: skip
    # the challenger's live score is its own accuracy on those 400 rows
    predicted = load_model(trio.challenger).predict(trio.frame.drop(columns="target")[:400])
    right = sum(str(p) == str(y) for p, y in zip(predicted["prediction"], truth, strict=False))
    assert theirs["live_score"] == pytest.approx(right / 400)
    assert theirs["interval"][0] <= theirs["live_score"] <= theirs["interval"][1]
    log = PredictionLog(open_store(store))  # both recorded as JSON numbers, not text
    outputs = [o for d in (body, theirs) for o, _ in log.labelled(d["model_digest"])]
    assert len(outputs) == 800
    assert all(isinstance(p, float) for o in outputs for p in o["probabilities"])

    watched = learnloop("monitor", "cancer", "--store", store, "--json")
    assert watched.returncode == 0, watched.stderr
    report = json.loads(watched.stdout)
    assert report["version"] == "cancer/1" and report["challenger"]["version"] == "cancer/2"
    assert report["challenger"]["labels_seen"] == 400
    assert report["challenger"]["live_score"] == theirs["live_score"]
    from learnloop.cli.monitor import _text  # the command's text form of the same object

    assert "challenger: cancer/2" in _text(report) and "champion: cancer/1" in _text(report)

    # the figures as gauges, per version and role, on /metrics (read back as Prometheus does)
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    labelled = {
        (s.labels["role"], s.labels["version"]): s.value
        for s in families["learnloop_live_labels"].samples
    }
    assert labelled == {("champion", "cancer/1"): 400, ("challenger", "cancer/2"): 400}
    score = {s.labels["role"]: s.value for s in families["learnloop_live_score"].samples}
    assert score["challenger"] == pytest.approx(theirs["live_score"])
    lower = {s.labels["role"]: s.value for s in families["learnloop_live_lower_bound"].samples}
    assert lower["champion"] == pytest.approx(body["interval"][0])
    threshold = families["learnloop_live_threshold"].samples
    assert {s.value for s in threshold} == {0.85}
    alarm = {s.labels["role"]: s.value for s in families["learnloop_live_alarm"].samples}
    assert alarm == {"champion": 0.0, "challenger": 0.0}
    psi = [s for s in families["learnloop_drift_psi"].samples if s.labels["role"] == "champion"]
    assert {s.labels["column"] for s in psi} == set(body["drift"])
    assert all(s.value == pytest.approx(body["drift"][s.labels["column"]]["psi"]) for s in psi)

    # promoted: the server swaps to cancer/2, which keeps its shadow history and stops
    # shadowing itself (its alias still says challenger)
    Registry(open_store(store)).set_alias("cancer", "champion", 2)
    deadline = time.monotonic() + 30
    while client.get("/admin/model").json()["version"] != "cancer/2":
        assert time.monotonic() < deadline, "the promoted challenger was not swapped in"
        time.sleep(0.2)
    answer = client.post("/predict", json={"records": _records(trio.frame[:10])})
    assert answer.headers["x-model-version"] == "cancer/2"
    after = client.get("/monitor").json()
    assert after["version"] == "cancer/2" and after["challenger"] is None
    assert (after["predictions_recorded"], after["labels_seen"]) == (579, 400)
    assert after["live_score"] == theirs["live_score"]


def test_a_challenger_failing_on_every_row_fails_no_answer(trio: Trio, tmp_path: Path) -> None:
    """The champion reads 'mean radius' as words; the challenger (a number there) refuses
    every row its clients send. Every answer is the champion's 200; each failure is counted
    and logged once; nothing of the challenger is recorded."""
    store = f"sqlite:///{tmp_path / 's.db'}"
    registry = Registry(open_store(store))
    register_model(registry, trio.worded, name="worded")
    register_model(registry, trio.challenger, name="worded")
    registry.set_alias("worded", "champion", 1)
    registry.set_alias("worded", "challenger", 2)
    server = _serve(store, tmp_path / "server.log", name="worded")
    try:
        client = server.client()
        rows = _records(_worded(trio.frame))
        statuses = [
            client.post("/predict", json={"records": rows[i : i + 50]}).status_code
            for i in range(0, 400, 50)
        ]
        body = client.get("/monitor").json()
    finally:
        stop_server(server)
    assert statuses == [200] * 8
    assert body["predictions_recorded"] == 400
    shadow = body["shadow"]
    assert (shadow["version"], shadow["errors"], shadow["rows"]) == ("worded/2", 8, 0)
    assert "mean radius" in shadow["last_error"]
    assert body["challenger"]["predictions_recorded"] == 0
    log = (tmp_path / "server.log").read_text()
    assert log.count("the challenger worded/2 failed") == 1, log


def test_shadow_needs_a_name_and_recording(trio: Trio) -> None:
    alone = learnloop("serve", str(trio.champion), "--shadow")
    assert alone.returncode == 2 and "--shadow needs --name" in alone.stderr
