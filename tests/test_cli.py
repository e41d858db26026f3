"""The `learnloop` command as a user runs it: a subprocess, its exit code, stdout and stderr."""

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run, write

JSON_KEYS = {
    "status",
    "task",
    "metric",
    "threshold",
    "validation_score",
    "test_score",
    "test_bound",
    "confidence",
    "baseline_score",
    "model_path",
    "run_id",
    "elapsed_s",
    "time_to_threshold_s",
}


@pytest.fixture()
def cancer_csv(tmp_path: Path, cancer: pd.DataFrame) -> Path:
    return write(cancer, tmp_path / "cancer.csv")


def test_train_met_prints_one_json_object(tmp_path: Path, cancer_csv: Path) -> None:
    model = tmp_path / "m.skops"
    proc = run(
        "train",
        str(cancer_csv),
        "--target",
        "target",
        "--threshold",
        "0.85",
        "--budget",
        "1m",
        "--out",
        str(model),
        "--store",
        str(tmp_path / "s.db"),
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # exactly one JSON object, nothing else on stdout
    assert JSON_KEYS <= set(out)
    assert out["status"] == "met" and out["test_bound"] >= 0.85
    assert out["model_path"] == str(model.resolve()) and model.exists()
    assert out["confidence"] == 0.95 and out["task"] == "classification"


def test_train_on_fixed_validation_and_test_files(tmp_path: Path, cancer: pd.DataFrame) -> None:
    """--validation/--test: the given tables are the splits (what the benchmark runs)."""
    rows = cancer.sample(frac=1.0, random_state=0)
    parts = [rows.iloc[:340], rows.iloc[340:455], rows.iloc[455:]]
    names = ("train.parquet", "val.parquet", "test.parquet")
    paths = [write(part, tmp_path / name) for part, name in zip(parts, names, strict=True)]
    args = ["train", str(paths[0]), "--target", "target", "--validation", str(paths[1])]
    args += ["--test", str(paths[2]), "--threshold", "0.85", "--budget", "1m", "--n-jobs", "1"]
    args += ["--out", str(tmp_path / "m.skops"), "--store", str(tmp_path / "s.db"), "--json"]
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "met" and out["aim"] >= 0.85
    assert out["certificate"]["n_test"] == len(parts[2])
    alone = run(*args[:6], "--threshold", "0.85", "--budget", "5", "--json", cwd=tmp_path)
    assert alone.returncode == 2 and "both a validation and a test" in alone.stderr


def test_unreachable_threshold_exits_3_and_still_saves(tmp_path: Path, cancer_csv: Path) -> None:
    model = tmp_path / "m.skops"
    proc = run(
        "train",
        str(cancer_csv),
        "--target",
        "target",
        "--threshold",
        "0.9999",
        "--budget",
        "4",
        "--out",
        str(model),
        "--store",
        str(tmp_path / "s.db"),
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 3, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "not_met" and model.exists()
    assert 2.5 <= out["elapsed_s"] <= 8.0  # the budget spent, less the reserve for the end


def test_predict_round_trip(tmp_path: Path, mixed: pd.DataFrame) -> None:
    data = write(mixed, tmp_path / "mixed.parquet")
    model = tmp_path / "m.skops"
    proc = run(
        "train",
        str(data),
        "--target",
        "churned",
        "--budget",
        "3",
        "--out",
        str(model),
        "--store",
        str(tmp_path / "s.db"),
        cwd=tmp_path,
    )
    # exit 3 where a loaded machine finished no trial in 3 s: the trivial model is saved, and
    # the round trip below holds for it as for any model
    assert proc.returncode in (0, 3), proc.stderr
    rows = write(mixed.drop(columns="churned").head(20), tmp_path / "rows.jsonl")
    out = tmp_path / "pred.csv"
    proc = run("predict", str(model), str(rows), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pred = pd.read_csv(out)
    assert len(pred) == 20
    assert set(pred["prediction"]) <= {"yes", "no"}
    assert ((pred["proba_yes"] + pred["proba_no"]).round(6) == 1).all()
    import learnloop

    expected = learnloop.load(model).predict(mixed.drop(columns="churned").head(20))
    assert list(pred["prediction"]) == list(expected["prediction"])
    for c in ("proba_yes", "proba_no"):
        assert np.allclose(pred[c].to_numpy(), expected[c].to_numpy(), atol=1e-9)


def _assert_one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], proc.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["missing.csv", "--target", "target"], "does not exist"),
        (["{csv}", "--target", "nope"], "'nope' is not in the data"),
        (["{csv}", "--target", "target", "--metric", "accurcy"], "Unknown metric 'accurcy'"),
        (["{csv}", "--target", "target", "--threshold", "1.5"], "outside the range"),
        (["{csv}", "--target", "target", "--budget", "0"], "more than zero"),
        (["{csv}", "--target", "target", "--budget", "soon"], "not a duration"),
        (["{csv}", "--target", "target", "--metric", "rmse"], "does not apply to classification"),
        (["{one_class}", "--target", "target"], "'target' is constant"),
        (["{empty}", "--target", "target"], "no rows"),
        (["{garbage}", "--target", "target"], "Could not read"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_model(
    tmp_path: Path, cancer: pd.DataFrame, args: list[str], needle: str
) -> None:
    paths = {
        "csv": write(cancer, tmp_path / "cancer.csv"),
        "one_class": write(cancer.assign(target=1), tmp_path / "one.csv"),
        "garbage": tmp_path / "garbage.parquet",
        "empty": tmp_path / "empty.csv",
    }
    paths["garbage"].write_bytes(b"\x00\x01 not parquet")
    paths["empty"].write_text("a,b,target\n")
    model = tmp_path / "m.skops"
    filled = [a.format(**paths) for a in args]
    proc = run(
        "train", *filled, "--out", str(model), "--store", str(tmp_path / "s.db"), cwd=tmp_path
    )
    _assert_one_line_error(proc, needle)
    assert not model.exists()
    assert not list(tmp_path.glob("*.tmp"))
    assert not (tmp_path / "s.db").exists()  # no empty store left behind either


def test_predict_bad_input(tmp_path: Path, mixed: pd.DataFrame) -> None:
    data = write(mixed, tmp_path / "mixed.csv")
    model = tmp_path / "m.skops"
    trained = run(
        "train", str(data), "--target", "churned", "--budget", "2", "--out", str(model),
        "--store", str(tmp_path / "s.db"), "--candidates", "lightgbm", cwd=tmp_path,
    )  # fmt: skip
    # exit 3 where a loaded machine finished no trial in 2 s: the trivial model is saved then,
    # with the same schema, and this test is about predict's errors
    assert trained.returncode in (0, 3) and model.exists()
    missing = write(mixed.drop(columns=["churned", "plan"]), tmp_path / "missing.csv")
    _assert_one_line_error(run("predict", str(model), str(missing), cwd=tmp_path), "plan")
    wrong = mixed.drop(columns="churned").astype({"age": object})
    wrong.loc[5, "age"] = "forty"
    wrong_path = write(wrong, tmp_path / "wrong.csv")
    _assert_one_line_error(  # --strict refuses an unreadable cell, naming its file line
        run("predict", str(model), str(wrong_path), "--strict", cwd=tmp_path),
        "'age' must be numeric, but line 7 of 'wrong.csv' holds 'forty'",
    )
    lenient = run("predict", str(model), str(wrong_path), cwd=tmp_path)  # read as missing
    assert lenient.returncode == 0, lenient.stderr
    flags = pd.read_csv(io.StringIO(lenient.stdout), keep_default_na=False)["_unreadable"]
    assert flags.tolist() == ["age" if i == 5 else "" for i in range(len(wrong))]
    _assert_one_line_error(
        run("predict", str(tmp_path / "none.skops"), str(missing), cwd=tmp_path), "does not exist"
    )


def test_train_help_lists_every_task_and_picture_folders(tmp_path: Path) -> None:
    proc = run("train", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())  # rich wraps the help text
    for task in ("classification", "regression", "clustering", "recommendation", "image", "faces"):
        assert task in text, task
    assert "folder of pictures" in text


def test_version_is_the_packages(tmp_path: Path) -> None:
    """``learnloop --version`` prints the version pyproject.toml gives the package, exit 0."""
    import tomllib

    import learnloop

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    proc = run("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"learnloop {pyproject['project']['version']}"
    assert learnloop.__version__ == pyproject["project"]["version"]
