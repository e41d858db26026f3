"""A learnloop model logged as an MLflow pyfunc model answers as ``learnloop predict`` does:
loaded back with ``mlflow.pyfunc.load_model``, and served by ``mlflow models serve``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"a": rng.normal(size=n), "color": rng.choice(["red", "green", "blue"], size=n)}
    )
    score = frame["a"] + (frame["color"] == "red") * 1.5 + rng.normal(size=n)
    frame["y"] = np.where(score > 0.7, "hi", "lo")
    return frame


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny LightGBM run, its model logged to an MLflow SQLite store."""
    root = tmp_path_factory.mktemp("mlflow_model")
    store_url = f"sqlite:///{root / 'runs.db'}"
    frame = _table(400)
    model_path = root / "model.skops"
    result = learnloop.train(
        frame.iloc[:340],
        "y",
        budget=3,
        candidates=["lightgbm"],
        out=model_path,
        store=store_url,
        seed=0,
    )
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)  # artifacts in the temporary folder, not ./mlruns
    mlflow.create_experiment("learnloop", artifact_location=(root / "artifacts").as_uri())
    out = export_mlflow(
        open_store(store_url), result.run_id, uri, model_path=model_path, register="churn"
    )
    held_out = frame.iloc[340:].drop(columns="y").reset_index(drop=True)
    return {
        "root": root,
        "uri": uri,
        "out": out,
        "result": result,
        "held_out": held_out,
        "expected": load_model(model_path).predict(held_out),
        "store": store_url,
        "model_path": model_path,
    }


def test_logged_model_answers_as_predict(logged: dict[str, Any]) -> None:
    mlflow.set_tracking_uri(logged["uri"])
    loaded = mlflow.pyfunc.load_model(logged["out"]["model_uri"])
    got = loaded.predict(logged["held_out"])
    pd.testing.assert_frame_equal(got.reset_index(drop=True), logged["expected"])

    signature = loaded.metadata.signature
    assert signature.inputs.input_names() == ["a", "color"]
    assert "proba_hi" in signature.outputs.input_names()
    result = logged["result"]
    run = mlflow.get_run(logged["out"]["mlflow_run_id"])
    assert run.data.metrics["test_score"] == pytest.approx(result.test_score)
    assert run.data.metrics["test_bound"] == pytest.approx(result.test_bound)
    assert run.data.tags["learnloop.metric"] == result.metric
    assert run.data.tags["learnloop.run_id"] == result.run_id
    registered = mlflow.pyfunc.load_model("models:/churn/1").predict(logged["held_out"])
    pd.testing.assert_frame_equal(registered.reset_index(drop=True), logged["expected"])


def test_another_runs_model_is_refused(logged: dict[str, Any]) -> None:
    other = open_store(logged["store"]).create_run(task="classification")
    with pytest.raises(UsageError, match="add --model"):
        export_mlflow(open_store(logged["store"]), other, logged["uri"], register="churn")
    with pytest.raises(UsageError, match="give the run's own model"):
        export_mlflow(
            open_store(logged["store"]), other, logged["uri"], model_path=logged["model_path"]
        )


@pytest.fixture
def mlflow_server(logged: dict[str, Any]) -> Iterator[str]:
    """``mlflow models serve`` of the logged model on a free loopback port (its own
    process group, ended as a group: mlflow starts uvicorn as a child)."""
    import socket

    import httpx

    pytest.importorskip("uvicorn")  # mlflow's scoring server runs under uvicorn
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": logged["uri"],
        "PYTHONPATH": SRC,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }
    command = [str(Path(bin_dir) / "mlflow"), "models", "serve", "-m", logged["out"]["model_uri"]]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    log = (logged["root"] / "serve.log").open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # until it answers or exits; the cap only ends a hung start
            if process.poll() is not None:
                pytest.fail((logged["root"] / "serve.log").read_text())
            try:
                if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


@pytest.mark.serve
def test_mlflow_models_serve_answers_as_predict(logged: dict[str, Any], mlflow_server: str) -> None:
    import httpx

    held_out = logged["held_out"]
    body = {"dataframe_split": held_out.to_dict(orient="split", index=False)}
    response = httpx.post(f"{mlflow_server}/invocations", json=body, timeout=60)
    assert response.status_code == 200, response.text
    got = pd.DataFrame(response.json()["predictions"])
    expected = logged["expected"]
    assert got["prediction"].tolist() == expected["prediction"].tolist()
    np.testing.assert_allclose(got[["proba_hi", "proba_lo"]], expected[["proba_hi", "proba_lo"]])
