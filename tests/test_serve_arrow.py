"""``POST /predict`` with an Apache Arrow IPC stream answers as the JSON path does.

Real small LightGBM models: the breast-cancer classifier and the diabetes regressor
(numbers only, the compiled path), a classifier on numbers and categorical columns with
nulls and unknown categories (the compiled path's codes) and the mixed frame's classifier
(a date column: the normal path on the table's rows). Each answers the same rows sent as
JSON and as Arrow alike; bad Arrow bodies get a 400, 413 or 422 naming the column (and
the row, for a bad value); the answer comes back as Arrow on ``accept``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc
import pytest

import learnloop
from learnloop.serving.arrow import ARROW_STREAM, check_table
from learnloop.serving.compiled import compile_model
from learnloop.store.model_files import load_model
from serve_fixtures import train_models

pytestmark = pytest.mark.serve

ARROW = {"content-type": ARROW_STREAM}


def _categories_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.uniform(0, 100, size=n).round(2),
            "color": rng.choice(["red", "green", "blue", "teal"], size=n).astype(object),
            "size": rng.choice(["S", "M", "L"], size=n).astype(object),
        }
    )
    frame.loc[rng.random(n) < 0.1, "color"] = None
    score = frame["a"] + (frame["color"] == "red") * 1.5 + frame["b"] / 50
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan
    frame["y"] = np.where(score + rng.normal(size=n) > 1.5, "hi", "lo")
    return frame


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("arrow")
    trained = train_models(root)
    frame = _categories_frame(500)
    learnloop.train(
        frame.iloc[:400],
        "y",
        threshold=0.6,
        budget=10,
        candidates=["lightgbm"],
        out=root / "categories.skops",
        store=str(root / "s.db"),
        seed=0,
    )
    rows = frame.iloc[400:].drop(columns="y").reset_index(drop=True)
    rows.loc[0, "color"] = "purple"  # a category never seen in training
    rows.loc[1, "size"] = None
    return {
        "classifier": (trained.classifier, trained.classifier_frame.iloc[:200]),
        "regressor": (trained.regressor, trained.regressor_frame.iloc[:200]),
        "categories": (root / "categories.skops", rows),
        "mixed": (trained.mixed, trained.mixed_frame.iloc[:200]),
    }


def _stream(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pyarrow.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _client(path: Path, **options: Any) -> Any:
    from fastapi.testclient import TestClient

    from learnloop.serving import create_app

    return TestClient(create_app(path, **options))


def _same(arrow: dict[str, Any], plain: dict[str, Any]) -> None:
    assert arrow.keys() == plain.keys()
    if "probabilities" in plain:
        assert arrow["predictions"] == plain["predictions"]
        assert arrow["classes"] == plain["classes"]
        np.testing.assert_allclose(arrow["probabilities"], plain["probabilities"], atol=1e-9)
    else:
        np.testing.assert_allclose(arrow["predictions"], plain["predictions"], atol=1e-9)


@pytest.mark.parametrize("name", ["classifier", "regressor", "categories", "mixed"])
def test_an_arrow_body_answers_as_the_json_body(models: dict[str, Any], name: str) -> None:
    path, frame = models[name]
    records = json.loads(frame.to_json(orient="records"))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with _client(path) as client:
        plain = client.post("/predict", json={"records": records})
        arrow = client.post("/predict", content=_stream(table), headers=ARROW)
        assert plain.status_code == arrow.status_code == 200, arrow.text
        _same(arrow.json(), plain.json())
        back = client.post(
            "/predict", content=_stream(table), headers={**ARROW, "accept": ARROW_STREAM}
        )
    assert back.headers["content-type"] == ARROW_STREAM
    answer = pyarrow.ipc.open_stream(back.content).read_all()
    assert answer.column("predictions").to_pylist() == plain.json()["predictions"]
    if "classes" in plain.json():
        classes = json.loads(answer.schema.metadata[b"classes"])
        assert classes == plain.json()["classes"]
        proba = np.column_stack([answer.column(f"probability_{c}") for c in classes])
        np.testing.assert_allclose(proba, plain.json()["probabilities"], atol=1e-9)


def test_the_compiled_path_reads_the_columns(models: dict[str, Any]) -> None:
    """Numbers-only and categorical models are answered from the table's columns (not
    their rows); a dictionary-encoded column of categories is read alike."""
    for name in ("classifier", "categories"):
        path, frame = models[name]
        model = load_model(path)
        compiled = compile_model(model, 1_000)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if name == "categories":
            encoded = table.column("color").dictionary_encode()
            table = table.set_column(table.column_names.index("color"), "color", encoded)
        check_table(table, model)
        assert compiled.answer_table(table) is not None
    nan = table.set_column(0, "a", pa.array([np.nan] * table.num_rows))
    assert compiled.answer_table(nan) is None  # left to the normal path, which names it


def test_dates_may_come_as_timestamps(models: dict[str, Any]) -> None:
    path, frame = models["mixed"]
    records = json.loads(frame.to_json(orient="records"))
    stamps = frame.assign(signup=pd.to_datetime(frame["signup"]))
    table = pa.Table.from_pandas(stamps, preserve_index=False)
    with _client(path) as client:
        plain = client.post("/predict", json={"records": records}).json()
        arrow = client.post("/predict", content=_stream(table), headers=ARROW)
    assert arrow.status_code == 200, arrow.text
    _same(arrow.json(), plain)


def _refusal(path: Path, body: bytes, **options: Any) -> tuple[int, list[dict[str, Any]]]:
    with _client(path, **options) as client:
        r = client.post("/predict", content=body, headers=ARROW)
    assert r.headers["content-type"] == "application/json"
    return r.status_code, r.json()["detail"]


def test_bad_arrow_bodies_are_refused_naming_the_column(models: dict[str, Any]) -> None:
    path, frame = models["categories"]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    status, detail = _refusal(path, b"not an arrow stream at all")
    assert status == 400 and "Arrow IPC stream" in detail[0]["message"]
    status, _ = _refusal(path, _stream(table)[:-40])  # cut short
    assert status == 400
    text = table.set_column(0, "a", pa.array([str(v) for v in frame["a"]]))
    status, detail = _refusal(path, _stream(text))
    assert status == 422 and detail[0]["column"] == "a" and "string" in detail[0]["message"]
    extra = table.append_column("shoe", pa.array([1.0] * table.num_rows))
    status, detail = _refusal(path, _stream(extra))
    assert status == 422 and detail[0]["column"] == "shoe"
    status, detail = _refusal(path, _stream(table.drop_columns(["b"])))
    assert status == 422 and detail[0]["column"] == "b" and "missing" in detail[0]["message"]
    values = frame["b"].to_numpy().copy()
    values[3] = np.inf
    inf = table.set_column(1, "b", pa.array(values))
    status, detail = _refusal(path, _stream(inf))
    assert status == 422 and (detail[0]["row"], detail[0]["column"]) == (3, "b")
    status, detail = _refusal(path, _stream(table.slice(0, 0)))
    assert status == 422 and "empty" in detail[0]["message"]
    status, detail = _refusal(path, _stream(table), max_rows=10)
    assert status == 413 and "at most 10" in detail[0]["message"]


def test_the_openapi_document_offers_arrow(models: dict[str, Any]) -> None:
    with _client(models["classifier"][0]) as client:
        operation = client.get("/openapi.json").json()["paths"]["/predict"]["post"]
    assert ARROW_STREAM in operation["requestBody"]["content"]
    assert ARROW_STREAM in operation["responses"]["200"]["content"]


def test_kserve_tensors_take_the_compiled_path(models: dict[str, Any]) -> None:
    """The Open Inference Protocol's rows are answered by the compiled path, as the
    normal path answers them; a NaN (binary tensors carry it) is left to the normal path."""
    from learnloop.serving.answers import answer_rows
    from learnloop.serving.rows import RowValidator

    path, frame = models["categories"]
    model = load_model(path)
    rows = json.loads(frame.to_json(orient="records"))
    fast = compile_model(model, 1_000).answer_rows(rows)
    slow, _ = answer_rows(RowValidator(model, 1_000), model, rows)
    assert fast is not None and list(fast.predictions) == list(slow.predictions)
    np.testing.assert_allclose(fast.probabilities, slow.probabilities, atol=1e-9)
    rows[2]["b"] = float("nan")
    assert compile_model(model, 1_000).answer_rows(rows) is None
