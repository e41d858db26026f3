"""Issue 27, items 5, 6 and 8: one rule for cells a column cannot read (training and
prediction), first errors that name the real problem, and ``--resume`` that refuses other
options and other data. Each CLI test writes a realistic file and runs ``learnloop`` on it."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run
from learnloop.core.settings import RunSettings
from learnloop.data import load_table, prepare_features, read_features
from learnloop.exceptions import DataError, SchemaMismatchError, UsageError
from learnloop.store import open_store
from learnloop.tasks import infer_schema, resolve_task

ZIPS = [98103, 98105, 98109, 98112, 98115, 98117, 98118, 98122, 98125, 98144]


def _houses(n: int, seed: int) -> pd.DataFrame:
    """Seattle-like house sales: the price depends on the size, the ZIP code and the age."""
    rng = np.random.default_rng(seed)
    zipcode = rng.choice(ZIPS, n)
    sqft = rng.normal(1900, 600, n).clip(500).round()
    built = rng.integers(1900, 2015, n)
    bath = rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], n)
    price = 200 * sqft + 4000 * (zipcode % 100) + 30000 * bath - 500 * (2015 - built)
    price = (price * rng.lognormal(0, 0.08, n)).round(-2)
    return pd.DataFrame(
        {"zipcode": zipcode, "sqft_living": sqft, "bathrooms": bath, "yr_built": built}
    ).assign(price=price)


def _with_bad_cells(frame: pd.DataFrame, cells: dict[int, dict[str, str]]) -> pd.DataFrame:
    """``frame`` with text written into its number columns at the given rows (from 0)."""
    out = frame.astype(object)
    for row, values in cells.items():
        for column, text in values.items():
            out.loc[row, column] = text
    return out


def _train(data: Path, tmp_path: Path, *extra: str) -> tuple[object, Path]:
    model = tmp_path / "m.skops"
    proc = run("train", str(data), "--out", str(model), "--store", str(tmp_path / "s.db"),
               "--candidates", "lightgbm,linear", *extra, cwd=tmp_path)  # fmt: skip
    return proc, model


def _one_line_error(proc: object, needle: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------- 5. one rule for bad cells
def test_training_counts_unreadable_cells_and_predict_reads_them_alike(tmp_path: Path) -> None:
    bad = {
        7: {"zipcode": "98109-2907"},
        40: {"zipcode": "98115-1234", "sqft_living": "?"},
        90: {"bathrooms": "inf"},
        120: {"sqft_living": "unknown"},
        150: {"sqft_living": "n/a"},
    }  # fmt: skip  (n/a: a missing value, not unreadable)
    train_csv = tmp_path / "sales.csv"
    _with_bad_cells(_houses(400, 0), bad).to_csv(train_csv, index=False)
    proc, model = _train(train_csv, tmp_path, "--target", "price", "--budget", "4", "--json")
    assert proc.returncode in (0, 3), proc.stderr
    assert "Read 2 cells of the column 'zipcode' as missing" in proc.stderr
    assert "(the first: '98109-2907')" in proc.stderr
    assert "Read 2 cells of the column 'sqft_living' as missing" in proc.stderr
    assert "Read 1 cell of the column 'bathrooms' as missing" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["task"] == "regression"
    assert result["unreadable_cells"] == {"zipcode": 2, "sqft_living": 2, "bathrooms": 1}
    run_record = open_store(str(tmp_path / "s.db")).get_run(result["run_id"])
    assert run_record["result"]["unreadable_cells"]["zipcode"] == 2  # recorded with the run

    # a new file of 1,000 sales: row 963 (from 0) is line 965 of the file (header, from 1)
    new = _with_bad_cells(_houses(1000, 1).drop(columns="price"),
                          {963: {"zipcode": "98109-2907"}, 970: {"bathrooms": "two"}})  # fmt: skip
    new_csv = tmp_path / "listings.csv"
    new.to_csv(new_csv, index=False)
    assert new_csv.read_text().splitlines()[964].startswith("98109-2907,")

    out = tmp_path / "pred.csv"
    pred = run("predict", str(model), str(new_csv), "--out", str(out), cwd=tmp_path)
    assert pred.returncode == 0, pred.stderr
    assert "Read 2 cells as missing" in pred.stderr and "_unreadable" in pred.stderr
    got = pd.read_csv(out, keep_default_na=False)
    assert len(got) == 1000 and got["prediction"].astype(float).notna().all()
    flagged = got.index[got["_unreadable"] != ""].tolist()
    assert flagged == [963, 970]
    assert got.loc[963, "_unreadable"] == "zipcode" and got.loc[970, "_unreadable"] == "bathrooms"

    strict = run("predict", str(model), str(new_csv), "--strict", cwd=tmp_path)
    line = _one_line_error(strict, "The column 'zipcode' must be numeric")
    assert "line 965 of 'listings.csv' holds '98109-2907'" in line and strict.stdout == ""


def test_a_refused_cell_names_its_line_across_quoted_line_breaks(tmp_path: Path) -> None:
    frame = _houses(60, 2).assign(note="")
    frame.loc[3, "note"] = "corner lot,\nnear the park"  # one record over two lines
    frame = _with_bad_cells(frame, {10: {"sqft_living": "about 2000"}})
    frame.to_csv(tmp_path / "h.csv", index=False)
    schema = infer_schema(_houses(60, 2), "price")
    table = load_table(tmp_path / "h.csv")
    with pytest.raises(SchemaMismatchError, match=r"line 13 of 'h.csv' holds 'about 2000'"):
        prepare_features(table, schema, strict=True)
    X, masks = read_features(table, schema)  # without strict: missing, and masked
    assert np.isnan(X.loc[10, "sqft_living"]) and np.flatnonzero(masks["sqft_living"]) == [10]
    with pytest.raises(SchemaMismatchError, match=r"line 11 of 'h.jsonl'"):  # no header line
        table.to_json(tmp_path / "h.jsonl", orient="records", lines=True)
        prepare_features(load_table(tmp_path / "h.jsonl"), schema, strict=True)
    with pytest.raises(SchemaMismatchError, match=r"but row 10 holds"):  # a DataFrame: its index
        prepare_features(frame.drop(columns="note"), schema, strict=True)


# ------------------------------------------------------------- 6. first errors that mislead
def test_a_tiny_table_says_it_is_too_small(tmp_path: Path) -> None:
    data = tmp_path / "one.csv"
    _houses(1, 3).to_csv(data, index=False)
    proc, model = _train(data, tmp_path, "--target", "price")
    _one_line_error(proc, "Only 1 row has a value in the target column 'price'; at least 10")
    assert "class" not in proc.stderr and not model.exists()
    with pytest.raises(DataError, match="Only 6 rows have a value in the target column"):
        infer_schema(_houses(6, 3), "price")


def test_a_constant_target_says_so_and_distinct_whole_numbers_are_regression(
    tmp_path: Path,
) -> None:
    data = tmp_path / "same.csv"
    _houses(200, 4).assign(price=350000).to_csv(data, index=False)
    proc, _ = _train(data, tmp_path, "--target", "price", "--json")
    _one_line_error(proc, "The target column 'price' is constant (350000 in all 200 rows")
    assert json.loads(proc.stdout)["exit_code"] == 2  # --json: the error object
    # 15 sales with 15 different whole-dollar prices: values to regress on, not 15 classes
    small = _houses(15, 5)
    assert resolve_task(small, "auto", "price").name == "regression"
    assert resolve_task(small.assign(price=small["price"] % 3), "auto", "price").name == (
        "classification"
    )


def test_a_json_array_of_records_is_read_as_rows(tmp_path: Path) -> None:
    frame = _houses(381, 6)
    data = tmp_path / "sales.json"
    data.write_text(frame.to_json(orient="records"))  # [{"zipcode": ..., ...}, ...]
    read = load_table(data)
    assert list(read.columns) == list(frame.columns) and len(read) == 381
    assert read["price"].tolist() == frame["price"].tolist()
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(json.loads(data.read_text()), indent=2))
    assert load_table(pretty).shape == (381, 5)
    matrix = tmp_path / "matrix.json"
    matrix.write_text("[[1, 2.5], [3, 4.5]]")  # an array of rows stays a matrix
    assert load_table(matrix).shape == (2, 2)
    schema = infer_schema(read, "price")
    assert schema.task == "regression" and "zipcode" in schema.feature_names


def test_a_folder_holding_a_table_says_what_it_holds(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    _houses(50, 7).to_csv(folder / "sales.csv", index=False)
    proc, _ = _train(folder, tmp_path, "--target", "price")
    line = _one_line_error(proc, "holds a table (sales.csv), not pictures in class sub-folders")
    assert "sales.csv'" in line and "give the table file itself" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    proc, _ = _train(empty, tmp_path)
    _one_line_error(proc, "has no class sub-folders (it holds nothing)")


# ------------------------------------------------------------------ 8. --resume and options
def test_resumed_settings_refuse_each_difference_and_take_a_new_budget() -> None:
    recorded = RunSettings(target="churn", task="classification", metric="roc_auc",
                           threshold=0.72, budget=30, seed=0, encoding="latin-1")  # fmt: skip
    assert recorded.resumed_with({"metric": "roc_auc", "threshold": 0.72, "task": "auto"}) == (
        recorded
    )
    with pytest.raises(UsageError) as e:
        recorded.resumed_with({"metric": "accuracy", "threshold": 0.5, "budget": 20,
                               "encoding": "utf-8", "task_options": {"time": "day"}})  # fmt: skip
    text = str(e.value)
    assert "--metric roc_auc recorded, accuracy given" in text
    assert "--threshold 0.72 recorded, 0.5 given" in text
    assert "--encoding latin-1 recorded, utf-8 given" in text
    assert "--time none recorded, day given" in text and "--budget" not in text
    longer = recorded.resumed_with({"budget": 90.0, "seed": 0})
    assert longer.budget == 90.0 and longer.metric == "roc_auc"
    assert RunSettings.from_record(longer.to_record()) == longer


def test_resume_refuses_other_options_and_other_data_and_keeps_the_encoding(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(8)
    rows = ["cliente,ciudad,edad,saldo,baja"]
    for i in range(300):
        age, balance = int(rng.integers(18, 80)), rng.normal(3000, 900)
        churn = "sí" if balance / 1000 - age / 30 + rng.normal(0, 0.5) < 1 else "no"
        rows.append(f"{['José', 'Zoë', 'Ñuño'][i % 3]},{['Málaga', 'Cádiz'][i % 2]},{age},"
                    f"{balance:.2f},{churn}")  # fmt: skip
    data = tmp_path / "bajas.csv"
    data.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    store = str(tmp_path / "s.db")
    first = ["--target", "baja", "--metric", "roc_auc", "--threshold", "0.999", "--budget", "4",
             "--encoding", "latin-1", "--json"]  # fmt: skip
    proc, model = _train(data, tmp_path, *first)
    assert proc.returncode == 3, proc.stderr  # the threshold is out of reach: not met
    run_id = json.loads(proc.stdout)["run_id"]
    st = open_store(store)
    assert st.get_run(run_id)["options"]["encoding"] == "latin-1"
    st.update_run(run_id, status="running", finished=None)  # as a killed run is left

    conflicting = ["--metric", "accuracy", "--threshold", "0.5", "--budget", "20"]
    proc, _ = _train(data, tmp_path, "--target", "baja", *conflicting, "--resume", run_id, "--json")
    line = _one_line_error(proc, "recorded with other settings")
    assert "--metric roc_auc recorded, accuracy given" in line
    assert "--threshold 0.999 recorded, 0.5 given" in line and "--budget" not in line
    assert json.loads(proc.stdout)["error"] in line

    other = tmp_path / "otro.csv"
    _houses(300, 9).to_csv(other, index=False)  # no column 'baja' at all
    proc, _ = _train(other, tmp_path, "--resume", run_id)
    line = _one_line_error(proc, "The data differs from the run's: fingerprint ")
    assert "not in the data" not in line
    assert st.get_run(run_id)["status"] == "running"  # refused runs leave the run as it was

    # no --encoding given: the run's latin-1 reads the file as it did; a new budget is taken
    proc, _ = _train(data, tmp_path, "--resume", run_id, "--budget", "3", "--json")
    assert proc.returncode == 3, proc.stderr
    assert "This session's budget is 3 s (the run recorded 4 s)" in proc.stderr
    assert json.loads(proc.stdout)["run_id"] == run_id
    assert st.get_run(run_id)["options"]["budget"] == 3.0


def test_a_worker_reads_the_file_in_the_runs_encoding(tmp_path: Path) -> None:
    from learnloop.runs.dataset import dataset_for

    data = tmp_path / "t.csv"
    frame = _houses(80, 10).assign(barrio=["Güemes", "Añorga"] * 40)
    data.write_bytes(frame.to_csv(index=False).encode("latin-1"))
    read = dataset_for(str(data), RunSettings(target="price", encoding="latin-1"))
    assert set(read.frame["barrio"]) == {"Güemes", "Añorga"}
    with pytest.raises(DataError, match="is not utf-8"):
        dataset_for(str(data), RunSettings(target="price", encoding="utf-8"))
