"""The report's "In production" section, from predictions recorded in a real store (SQLite
and PostgreSQL): the live score and its confidence sequence, the alarm, drift per column;
no section for a model with nothing recorded."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import learnloop as ll
from learnloop.report import build_run_report, write_report
from learnloop.report._doc import Figure, Table, Text
from learnloop.store import open_store
from learnloop.store.model_files import load_model
from learnloop.store.predictions import PredictionLog, Recorded, model_digest


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_breast_cancer

    root = tmp_path_factory.mktemp("report-monitor")
    out = root / "cancer.skops"
    frame = load_breast_cancer(as_frame=True).frame
    ll.train(
        frame, target="target", threshold=0.85, budget=6, out=out,
        store=str(root / "s.db"), candidates=["lightgbm"],
    )  # fmt: skip
    return out


def _record(store: str, path: Path, wrong_after: int) -> int:
    """Every cancer row recorded with the model's own prediction; labels true for the first
    ``wrong_after`` rows, then the opposite of the prediction (the world changed). The
    second half of the rows have 'mean radius' doubled (drift). Rows recorded."""
    from sklearn.datasets import load_breast_cancer

    loaded = load_model(path)
    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    frame.loc[frame.index[len(frame) // 2 :], "mean radius"] *= 2
    predicted = loaded.predict(frame)["prediction"].tolist()
    truth = load_breast_cancer().target.tolist()
    log = PredictionLog(open_store(store))
    digest, now = model_digest(loaded.metadata), time.time()
    rows = json.loads(frame.to_json(orient="records"))
    ids = [f"r{i:04d}" for i in range(len(rows))]
    log.record(
        [
            Recorded(pid, now + i * 1e-3, digest, row, {"prediction": p}, 0.9)
            for i, (pid, row, p) in enumerate(zip(ids, rows, predicted, strict=True))
        ]
    )
    labels = [
        t if i < wrong_after else 1 - int(p)
        for i, (t, p) in enumerate(zip(truth, predicted, strict=True))
    ]
    for start in range(0, len(ids), 100):  # labels arrive in batches
        log.add_feedback(list(zip(ids, labels, strict=True))[start : start + 100])
    return len(rows)


def test_the_report_shows_the_model_in_production(
    model: Path, backend_url: str, tmp_path: Path
) -> None:
    n = _record(backend_url, model, wrong_after=300)
    doc = build_run_report(str(model), store=backend_url)
    titles = [s.title for s in doc.sections]
    assert "In production" in titles
    section = doc.sections[titles.index("In production")]
    first = section.blocks[0]
    assert isinstance(first, Text) and first.tone == "bad"
    assert f"{n} predictions" in first.text and f"{n} with their true label" in first.text
    figure = next(b for b in section.blocks if isinstance(b, Figure))
    assert figure.svg.startswith("<svg") and "threshold" in figure.svg
    tables = [b for b in section.blocks if isinstance(b, Table)]
    figures = dict(tables[0].rows)
    assert figures["labels seen"] == str(n)
    alarm = int(figures["alarm"].split()[1])  # "after K labels, at ..."
    assert 300 < alarm <= n  # after the labels turned wrong, not before
    drift = {row[0]: row[-1] for row in tables[1].rows}
    assert drift["mean radius"] == "DRIFTED" and tables[1].rows[0][0] == "mean radius"
    out = write_report(doc, tmp_path / "r.html")
    assert "In production" in out.read_text()


def test_no_section_when_nothing_is_recorded(model: Path, backend_url: str) -> None:
    PredictionLog(open_store(backend_url))  # the tables exist, empty of this model
    doc = build_run_report(str(model), store=backend_url)
    assert "In production" not in [s.title for s in doc.sections]


def test_reading_a_store_that_never_recorded_makes_no_table(model: Path, tmp_path: Path) -> None:
    import sqlalchemy as sa

    store = f"sqlite:///{tmp_path / 'fresh.db'}"
    doc = build_run_report(str(model), store=store)
    assert "In production" not in [s.title for s in doc.sections]
    with sa.create_engine(store).connect() as conn:
        assert not sa.inspect(conn).has_table("learnloop_predictions")
