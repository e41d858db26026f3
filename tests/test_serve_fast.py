"""The bare route for a small JSON ``POST /predict`` answers as the FastAPI route does.

A real breast-cancer LightGBM model served twice, with the bare route
(:mod:`learnloop.serving.fast`) and without it (``LEARNLOOP_SERVE_FAST_ROUTE=0``): the same
answers, the same refusals (a bad body goes on to the route, its body replayed), the model
version header, the bearer token and the metrics, in both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from serve_fixtures import TOKEN, train_models

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    root = tmp_path_factory.mktemp("fast")
    trained = train_models(root, only=("classifier",))
    return trained.classifier, trained.classifier_frame


def _client(path: Path, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    from fastapi.testclient import TestClient

    from learnloop.serving import create_app

    monkeypatch.setenv("LEARNLOOP_SERVE_FAST_ROUTE", "1" if fast else "0")
    app = create_app(path, token=TOKEN)
    return TestClient(app, headers={"authorization": f"Bearer {TOKEN}"})


def _exchange(client: Any, frame: Any) -> list[Any]:
    """What a client sees of a good body, a bad one, a large one and no token."""
    records = json.loads(frame.iloc[:3].to_json(orient="records"))
    good = client.post("/predict", json={"records": records})
    bad_rows = [dict(records[0], **{"mean radius": "wide"})]
    bad = client.post("/predict", json={"records": bad_rows})
    many = json.loads(frame.iloc[:200].to_json(orient="records"))
    large = client.post("/predict", json={"records": many})
    bare = client.post("/predict", json={"records": records}, headers={"authorization": ""})
    metrics = client.get("/metrics").text
    count = [
        line
        for line in metrics.splitlines()
        if line.startswith("learnloop_requests_total") and 'endpoint="/predict"' in line
    ]
    return [
        (good.status_code, good.json(), good.headers.get("x-model-version") is not None),
        (bad.status_code, bad.json()),
        (large.status_code, len(large.json()["predictions"])),
        (bare.status_code, bare.headers.get("x-model-version")),
        sorted(count),
    ]


def test_the_bare_route_answers_as_the_fastapi_route(
    model: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, frame = model
    with _client(path, True, monkeypatch) as client:
        fast = _exchange(client, frame)
    with _client(path, False, monkeypatch) as client:
        slow = _exchange(client, frame)
    assert fast == slow
    assert fast[0][0] == 200 and fast[0][2]  # answered, the version named
    assert fast[1][0] == 422 and fast[1][1]["detail"][0]["column"] == "mean radius"
    assert fast[3] == (401, None)  # no version told without the token
    assert any('status="200"' in line for line in fast[4])
