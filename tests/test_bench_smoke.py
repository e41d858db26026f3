"""Smoke test of the benchmark harness: one tiny data set, a few seconds of budget per system."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import run_one_subprocess  # noqa: E402
from bench.report import write_results  # noqa: E402
from bench.suite import SUITE, get_dataset, split  # noqa: E402

FIELDS = {
    "system",
    "dataset",
    "seed",
    "metric",
    "threshold",
    "time_to_threshold_s",
    "validation_score",
    "test_score",
    "test_confirms",
    "fit_s",
    "peak_mem_mb",
    "error",
}


def _check(row: dict) -> None:
    assert row.get("error") is None, row.get("traceback") or row.get("error")
    assert FIELDS <= row.keys()
    assert 0.0 <= row["validation_score"] <= 1.0
    assert 0.0 <= row["test_score"] <= 1.0
    assert row["fit_s"] > 0
    assert 50 < row["peak_mem_mb"] < 4000
    ttt = row["time_to_threshold_s"]
    assert ttt is None or 0 <= ttt <= row["fit_s"] + 1
    assert isinstance(row["test_confirms"], bool)


def _systems() -> list[str]:
    systems = ["learnloop", "optuna_lgbm"]
    if importlib.util.find_spec("flaml") and importlib.util.find_spec("xgboost"):
        systems.append("flaml")
    return systems


def test_suite_entries_are_documented() -> None:
    assert len(SUITE) >= 10
    for ds in SUITE.values():
        assert ds.task in ("classification", "regression")
        assert ds.threshold is not None and math.isfinite(ds.threshold)
        assert ds.doc


def test_split_is_seeded_and_stratified() -> None:
    frame = get_dataset("tiny").load()
    a = split(frame, "classification", 3)
    b = split(frame, "classification", 3)
    assert [len(p) for p in a] == [240, 80, 80]
    for pa, pb in zip(a, b, strict=True):
        assert pa.equals(pb)


@pytest.mark.parametrize("system", _systems())
def test_one_run_per_system(system: str, tmp_path: Path) -> None:
    spec = {"system": system, "dataset": "tiny", "seed": 0, "budget": 3, "n_jobs": 1}
    row = run_one_subprocess(spec, timeout=120)
    _check(row)
    out = tmp_path / "RESULTS.md"
    summ = write_results([row], out, title="smoke", budget=3, seeds=[0])
    text = out.read_text()
    assert "| tiny | accuracy |" in text and system in text
    assert summ["pairs"] == 1
