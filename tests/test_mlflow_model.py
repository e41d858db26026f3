"""A learnloop model logged as an MLflow pyfunc model answers as ``learnloop predict`` does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import learnloop
from learnloop.exceptions import UsageError
from learnloop.store import open_store
from learnloop.store.mlflow_export import export_mlflow
from learnloop.store.model_files import load_model

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("mlflow.pyfunc")


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], size=n),
        }
    )
    score = frame["a"] + (frame["color"] == "red") * 1.5 + rng.normal(size=n)
    frame["y"] = np.where(score > 0.7, "hi", "lo")
    return frame


def test_logged_model_answers_as_predict(tmp_path) -> None:
    store_url = f"sqlite:///{tmp_path / 'runs.db'}"
    frame = _table(400)
    model_path = tmp_path / "model.skops"
    result = learnloop.train(
        frame.iloc[:340],
        "y",
        budget=3,
        candidates=["lightgbm"],
        out=model_path,
        store=store_url,
        seed=0,
    )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = export_mlflow(open_store(store_url), result.run_id, uri, model_path=model_path)

    mlflow.set_tracking_uri(uri)
    loaded = mlflow.pyfunc.load_model(out["model_uri"])
    held_out = frame.iloc[340:].drop(columns="y")
    got = loaded.predict(held_out)
    expected = load_model(model_path).predict(held_out)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))

    signature = loaded.metadata.signature
    assert signature.inputs.input_names() == ["a", "color"]
    assert "proba_hi" in signature.outputs.input_names()
    run = mlflow.get_run(out["mlflow_run_id"])
    assert run.data.metrics["test_score"] == pytest.approx(result.test_score)
    assert run.data.metrics["test_bound"] == pytest.approx(result.test_bound)
    assert run.data.tags["learnloop.metric"] == result.metric


def test_another_runs_model_is_refused(tmp_path) -> None:
    store_url = f"sqlite:///{tmp_path / 'runs.db'}"
    model_path = tmp_path / "model.skops"
    learnloop.train(_table(200), "y", budget=2, candidates=["linear"], out=model_path, seed=0)
    other = open_store(store_url).create_run(task="classification")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(UsageError, match="give the run's own model"):
        export_mlflow(open_store(store_url), other, uri, model_path=model_path)
