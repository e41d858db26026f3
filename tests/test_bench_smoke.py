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
    if system == "flaml":  # Python, imports and encoding before its search clock starts
        assert 0.0 < row["startup_s"] < row["fit_s"] + 60
    out = tmp_path / "RESULTS.md"
    summ = write_results([row], out, title="smoke", budget=3, seeds=[0])
    text = out.read_text()
    assert "| tiny | accuracy |" in text and system in text
    assert summ["pairs"] == 1


def test_hard_thresholds_come_from_the_reference_run() -> None:
    import json

    from bench.suite import REFERENCE_BEST, fraction_of, threshold_for
    from bench.systems import higher_is_better

    saved = ROOT / "bench" / "REFERENCE.jsonl"
    rows = [json.loads(line) for line in saved.read_text().splitlines() if line.strip()]
    for ds in SUITE.values():
        found = [r["test_score"] for r in rows if r["dataset"] == ds.name and r.get("test_score")]
        best = max(found) if higher_is_better(ds.metric) else min(found)
        assert REFERENCE_BEST[ds.name] == pytest.approx(best, abs=1e-6)
        assert threshold_for(ds, "easy") == ds.threshold == fraction_of(ds.metric, best, 0.98)
        hard = threshold_for(ds, "hard")
        assert hard is not None and ds.threshold is not None
        assert (hard > ds.threshold) == higher_is_better(ds.metric)


def _row(system: str, difficulty: str | None, **extra: object) -> dict:
    row = {
        "system": system,
        "dataset": "penguins",
        "seed": 0,
        "metric": "accuracy",
        "threshold": 0.9,
        "budget_s": 10.0,
        "time_to_threshold_s": 1.0,
        "validation_score": 0.95,
        "test_score": 0.93,
        "test_confirms": True,
        "fit_s": 3.0,
        "peak_mem_mb": 300.0,
        "error": None,
    }
    if difficulty is not None:
        row["difficulty"] = difficulty
    row.update(extra)
    return row


def test_report_time_to_certified_same_aim_and_ablation(tmp_path: Path) -> None:
    from bench.report import summarize, time_to_aim

    traj = [[0.5, 0.91], [2.0, 0.94], [12.0, 0.99]]
    rows = [
        _row("learnloop", "easy", certified=True, status="met", aim=0.93, time_to_certified_s=4.0),
        _row("flaml", "easy", trajectory=traj, startup_s=1.5),
        _row("learnloop-no-refit", "easy", ablated="refit", certified=False, status="not_met"),
        _row("learnloop", "hard", certified=True, aim=0.98, time_to_certified_s=6.0),
        _row("flaml", "hard", trajectory=traj),  # passes 0.98 only after the budget
        _row("learnloop-no-refit", "hard", certified=True, time_to_certified_s=9.0),
        _row("learnloop", None, status="met"),  # a row from before: no new fields
        _row("flaml", None),
        _row("optuna_lgbm", "easy", error="boom"),
    ]
    rows[6]["seed"] = rows[7]["seed"] = 1
    assert time_to_aim(rows[1], 0.93) == 2.0 and time_to_aim(rows[4], 0.98) is None
    assert time_to_aim(rows[7], 0.9) is None
    summ = summarize(rows)
    assert summ["levels"] == ["easy", "hard"]
    assert summ["certified"]["ratios"] == [2.0]
    # FLAML from its process start: 2.0 s to the aim after 1.5 s of start-up
    assert summ["certified_from_start"]["ratios"] == [pytest.approx(4.0 / 3.5)]
    assert summ["certification_rate"]["learnloop"] == {
        "easy": (2, 2),
        "hard": (1, 1),
        "all": (3, 3),
    }
    assert summ["certification_rate"]["learnloop-no-refit"]["all"] == (1, 2)
    out = tmp_path / "RESULTS.md"
    write_results(rows, out, title="t", budget=10, seeds=[0, 1])
    text = out.read_text()
    assert "**Time to certified**: learnloop" in text and "median **4.0 s**" in text
    assert "Certification rate, learnloop: **3/3**" in text
    assert "both clocks from process start" in text and "2.0 (1/1); 3.5 from start" in text
    assert "time to threshold (hard)" in text
    assert "Thresholds FLAML reached and learnloop did not (hard): none" in text
    assert "| penguins | accuracy | hard | 0.9000 | flaml |" in text
    assert "| refit | 2 | 2 -> 1 | 6.0 -> 9.0 (1.50, 1) |" in text
