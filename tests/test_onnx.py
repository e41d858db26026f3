"""ONNX export: the exported graph, run by onnxruntime, answers as the model file does.

Tiny real models (budget 3 s) of the tabular families with converters (single models and
the ensembles the loop builds of them), on a table with categorical columns and missing
cells in a number and a category column, and a clustering model that has none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import learnloop
from learnloop.exceptions import UsageError
from learnloop.store.model_files import load_model
from learnloop.store.onnx_export import export_onnx, onnx_feed

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxmltools")

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _table(n: int, regression: bool, seed: int = 0) -> pd.DataFrame:
    """Numbers and two categorical columns (one with missing cells) driving the target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.uniform(0, 100, size=n),
            "color": rng.choice(["red", "green", "blue", "teal"], size=n).astype(object),
            "size": rng.choice(["S", "M", "L"], size=n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "color"] = None
    score = frame["a"].copy()
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan  # indicators (dense), routing (trees)
    score = score + (frame["color"] == "red") * 1.5 + frame["b"] / 50
    noise = rng.normal(size=n)
    frame["y"] = (
        score * 10 + 100 + noise if regression else np.where(score + noise > 1.5, "hi", "lo")
    )
    return frame


def _session(path: Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _trained(tmp_path: Path, candidate: str, regression: bool) -> tuple[Path, pd.DataFrame]:
    frame = _table(560, regression)
    out = tmp_path / f"{candidate}.skops"
    learnloop.train(frame.iloc[:480], "y", budget=3, candidates=[candidate], out=out, seed=0)
    return out, frame.iloc[480:].drop(columns="y")


@pytest.mark.parametrize(
    ("candidate", "regression"),
    [
        ("lightgbm", False),
        ("lightgbm", True),
        ("linear", False),
        ("linear", True),
        ("extra_trees", False),
        ("random_forest", True),
    ],
)
def test_onnx_answers_as_the_model_file(tmp_path: Path, candidate: str, regression: bool) -> None:
    model_path, held_out = _trained(tmp_path, candidate, regression)
    model = load_model(model_path)
    out = tmp_path / "model.onnx"
    written = export_onnx(model, out)
    session = _session(out)
    got = session.run(None, onnx_feed(held_out, model.schema, written["inputs"]))
    expected = model.predict(held_out)
    if regression:
        values = got[0].ravel()
        np.testing.assert_allclose(values, expected["prediction"].to_numpy(), rtol=1e-5)
    else:
        proba = got[-1]
        columns = [f"proba_{c}" for c in model.classes]
        np.testing.assert_allclose(proba, expected[columns].to_numpy(), atol=1e-5)
        labels = [model.classes[i] for i in got[0]]
        assert labels == expected["prediction"].tolist()


def test_a_mixed_ensemble_answers_as_its_members_average(tmp_path: Path) -> None:
    """An ensemble of a LightGBM and a linear pipeline (float and double answers), built
    here so that the test does not depend on the loop choosing one."""
    from sklearn.pipeline import Pipeline

    from learnloop.estimators import EnsembleClassifier, PassThrough
    from learnloop.store.model_files import LoadedModel

    boosted_path, held_out = _trained(tmp_path, "lightgbm", regression=False)
    linear_path, _ = _trained(tmp_path, "linear", regression=False)
    boosted, linear = load_model(boosted_path), load_model(linear_path)
    ensemble = EnsembleClassifier(
        members=[boosted.pipeline, linear.pipeline], weights=[0.3, 0.7], n_classes=2
    ).fit()
    pipeline = Pipeline([("features", PassThrough()), ("model", ensemble)])
    model = LoadedModel(pipeline, boosted.metadata)
    out = tmp_path / "ensemble.onnx"
    written = export_onnx(model, out)
    label, proba = _session(out).run(None, onnx_feed(held_out, model.schema, written["inputs"]))
    expected = model.predict(held_out)
    np.testing.assert_allclose(proba, expected[["proba_hi", "proba_lo"]].to_numpy(), atol=1e-5)
    assert [model.classes[i] for i in label] == expected["prediction"].tolist()


def test_onnx_metadata_carries_the_certificate(tmp_path: Path) -> None:
    import onnx

    model_path, _ = _trained(tmp_path, "lightgbm", regression=False)
    model = load_model(model_path)
    out = tmp_path / "model.onnx"
    export_onnx(model, out)
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    cert = model.metadata["certificate"]
    assert props["learnloop.run_id"] == model.metadata["run_id"]
    assert props["learnloop.metric"] == cert["metric"]
    assert float(props["learnloop.test_score"]) == pytest.approx(cert["test_score"])
    assert float(props["learnloop.test_bound"]) == pytest.approx(cert["test_bound"])
    assert json.loads(props["learnloop.classes"]) == model.classes


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-m", "learnloop", *args], capture_output=True, text=True, env=env
    )


def test_cli_refuses_a_family_without_converter_and_leaves_nothing(tmp_path: Path) -> None:
    frame = _table(300, regression=False).drop(columns=["y", "color", "size"]).fillna(0.0)
    model_path = tmp_path / "clusters.skops"
    learnloop.train(frame, task="clustering", budget=3, out=model_path, seed=0)
    out = tmp_path / "clusters.onnx"
    proc = _cli("export", str(model_path), "--onnx", str(out))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no ONNX converter" in lines[0], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["clusters.skops", "clusters.skops.sha256"]
    )
    with pytest.raises(UsageError, match="no ONNX converter"):
        export_onnx(load_model(model_path), out)


def test_cli_writes_the_onnx_file(tmp_path: Path) -> None:
    model_path, held_out = _trained(tmp_path, "lightgbm", regression=True)
    out = tmp_path / "model.onnx"
    proc = _cli("export", str(model_path), "--onnx", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    written = json.loads(proc.stdout)
    session = _session(out)
    assert [i.name for i in session.get_inputs()] == written["inputs"]
    assert written["outputs"] == ["values"]


@pytest.mark.parametrize("regression", [False, True])
def test_the_baseline_converts(tmp_path: Path, regression: bool) -> None:
    """The trivial model learnloop saves when nothing beats it (prior, mean) exports too."""
    from learnloop.data import prepare_features
    from learnloop.store.model_files import LoadedModel
    from learnloop.tasks import get_task

    frame = _table(300, regression)
    task = get_task("regression" if regression else "classification")
    schema = task.read_schema(frame, "y", None)
    X = prepare_features(frame, schema)
    y = frame["y"].to_numpy() if regression else task.encode(frame, schema, "training")
    metadata = {"schema": schema.to_dict(), "candidate": "baseline", "certificate": {}}
    model = LoadedModel(task.baseline(X, y, 0), metadata)
    out = tmp_path / "baseline.onnx"
    written = export_onnx(model, out)
    rows = frame.drop(columns="y")
    got = _session(out).run(None, onnx_feed(rows, schema, written["inputs"]))[-1]
    expected = model.predict(rows)
    columns = ["prediction"] if regression else [f"proba_{c}" for c in model.classes]
    np.testing.assert_allclose(got, expected[columns].to_numpy(dtype=float), atol=1e-12)
