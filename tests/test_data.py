from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import write
from learnloop.data import (
    _category_text,
    _numeric_share,
    _to_category_text,
    fingerprint,
    load_table,
    map_distinct,
    prepare_features,
    split_indices,
)
from learnloop.exceptions import DataError, SchemaMismatchError, UsageError
from learnloop.tasks import infer_schema, resolve_task


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_formats_round_trip(tmp_path: Path, mixed: pd.DataFrame, suffix: str) -> None:
    path = write(mixed, tmp_path / f"data{suffix}")
    frame = load_table(path)
    assert frame.shape == mixed.shape
    assert list(frame.columns) == list(mixed.columns)


def test_dataframe_passes_through(mixed: pd.DataFrame) -> None:
    assert load_table(mixed).shape == mixed.shape


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_table(tmp_path / "nope.csv")


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.xyz"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="Cannot tell the format"):
        load_table(path)


def test_unreadable_parquet(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_text("this is not parquet")
    with pytest.raises(DataError, match="Could not read"):
        load_table(path)


def test_empty_tables(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_table(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,target\n")
    with pytest.raises(DataError, match="no rows"):
        load_table(header_only)


def test_schema_roles(mixed: pd.DataFrame) -> None:
    schema = infer_schema(mixed, "churned")
    kinds = {c.name: c.kind for c in schema.features}
    assert schema.task == "classification"
    assert schema.classes == ["no", "yes"]
    assert "customer_id" in schema.dropped and "customer_id" not in kinds
    assert kinds == {
        "age": "numeric",
        "plan": "categorical",
        "signup": "datetime",
        "region": "categorical",
    }


def test_constant_and_identifier_columns_are_dropped_and_explained() -> None:
    n = 50
    frame = pd.DataFrame(
        {
            "row": np.arange(n),
            "name": [f"person {i}" for i in range(n)],
            "same": 1,
            "x": np.linspace(0, 1, n),
            "y": np.r_[np.zeros(25), np.ones(25)],
        }
    )
    schema = infer_schema(frame, "y")
    assert set(schema.dropped) == {"row", "name", "same"}
    assert all(schema.dropped.values())
    assert schema.feature_names == ["x"]


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 1], "classification"),
        ([0.5, 1.25, 3.0], "regression"),
        (list(range(100)), "regression"),
    ],
)
def test_task_inference(values: list, task: str) -> None:
    frame = pd.DataFrame({"x": range(len(values)), "y": values})
    assert resolve_task(frame, "auto", "y").name == task
    assert resolve_task(frame, "auto", None).name == "clustering"  # no target: clustering
    assert resolve_task(frame, "regression", "y").name == "regression"  # a named task is kept


def test_target_problems(cancer: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="target column 'nope' is not in the data"):
        infer_schema(cancer, "nope")
    with pytest.raises(DataError, match=r"'target' is constant \(1 in all 569 rows"):
        infer_schema(cancer.assign(target=1), "target")
    with pytest.raises(DataError, match="is constant"):
        infer_schema(cancer.assign(target="x"), "target", task="classification")
    with pytest.raises(DataError, match="not numeric"):
        text = np.where(cancer["target"] == 1, "x", "y")
        infer_schema(cancer.assign(target=text), "target", task="regression")
    with pytest.raises(UsageError, match="Unknown task"):
        infer_schema(cancer, "target", task="ranking")
    with pytest.raises(DataError, match="has no values"):
        infer_schema(cancer.assign(target=np.nan), "target")
    names = cancer.head(32).assign(target=[f"car {i}" for i in range(32)])
    with pytest.raises(DataError, match="different value in every row"):
        infer_schema(names, "target")
    with pytest.raises(DataError, match="Only 6 rows have a value in the target column"):
        infer_schema(names.head(6), "target")  # a handful of rows: too few to learn from


def test_prepare_features_checks_columns_and_types(mixed: pd.DataFrame) -> None:
    schema = infer_schema(mixed, "churned")
    X = prepare_features(mixed, schema, strict=True)
    assert "signup__year" in X.columns and X["signup__year"].dtype == float
    with pytest.raises(SchemaMismatchError, match="missing the column plan"):
        prepare_features(mixed.drop(columns="plan"), schema, strict=True)
    bad = mixed.astype({"age": object})
    bad.loc[3, "age"] = "old"
    with pytest.raises(SchemaMismatchError, match="'age' must be numeric, but row 3"):
        prepare_features(bad, schema, strict=True)


def test_infinite_numbers_are_missing_in_training_and_refused_at_prediction(
    mixed: pd.DataFrame,
) -> None:
    schema = infer_schema(mixed, "churned")
    bad = mixed.astype({"age": float})
    bad.loc[2, "age"] = np.inf
    bad.loc[5, "age"] = -np.inf
    X = prepare_features(bad, schema)
    assert np.isnan(X.loc[2, "age"]) and np.isnan(X.loc[5, "age"])
    assert not np.isinf(X["age"]).any()
    with pytest.raises(
        SchemaMismatchError, match="'age' must hold finite numbers, but row 2 holds inf"
    ):
        prepare_features(bad, schema, strict=True)
    text = mixed.astype({"age": object})
    text.loc[4, "age"] = "1e400"  # a number too large for a float: infinite
    with pytest.raises(SchemaMismatchError, match="row 4 holds '1e400'"):
        prepare_features(text, schema, strict=True)


def test_splits_are_seeded_disjoint_and_stratified(cancer: pd.DataFrame) -> None:
    y = cancer["target"].to_numpy()
    a = split_indices(y, seed=1, stratify=True)
    b = split_indices(y, seed=1, stratify=True)
    c = split_indices(y, seed=2, stratify=True)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(a[2], c[2])
    train, val, test = a
    assert len(set(train) | set(val) | set(test)) == len(y)
    assert not set(train) & set(test) and not set(val) & set(test)
    assert not set(train) & set(val)
    assert len(train) + len(val) + len(test) == len(y)
    assert abs(y[test].mean() - y.mean()) < 0.02
    assert abs(y[val].mean() - y.mean()) < 0.02


def test_fingerprint_tracks_values(cancer: pd.DataFrame) -> None:
    changed = cancer.copy()
    changed.iloc[0, 0] += 1
    assert fingerprint(cancer) == fingerprint(cancer.copy())
    assert fingerprint(cancer) != fingerprint(changed)


def test_sql_source_runs_a_duckdb_query(tmp_path: Path, mixed: pd.DataFrame) -> None:
    write(mixed, tmp_path / "customers.parquet")
    query = tmp_path / "recent.sql"
    query.write_text(f"SELECT * FROM '{tmp_path / 'customers.parquet'}' WHERE plan <> 'basic'")
    frame = load_table(query)
    assert len(frame) == int((mixed["plan"] != "basic").sum())
    assert set(frame.columns) == set(mixed.columns)
    bad = tmp_path / "bad.sql"
    bad.write_text("SELEC nonsense")
    with pytest.raises(DataError, match="Could not read"):
        load_table(bad)


def test_dates_with_mixed_offsets_are_read_as_utc() -> None:
    n = 40
    stamps = [
        f"2024-03-{1 + i % 28:02d}T10:00:00{'+02:00' if i % 2 else '-05:00'}" for i in range(n)
    ]
    frame = pd.DataFrame({"when": stamps, "x": range(n), "y": [0, 1] * (n // 2)})
    schema = infer_schema(frame, "y")
    assert {c.name: c.kind for c in schema.features}["when"] == "datetime"
    X = prepare_features(frame, schema, strict=True)
    assert X.loc[0, "when__hour"] == 15.0 and X.loc[1, "when__hour"] == 8.0


@pytest.mark.parametrize(
    "values",
    [
        ["a", "b", None, "a"],
        [1.0, 3.0, np.nan, 2.5, 3.0],
        [True, 1, "x", None, 1.0],  # True and 1 are one distinct value but not one text
        [True, False, None],
        ["x", 1.0, np.nan, "1"],
        [None, None],
    ],
)
def test_categories_read_by_distinct_values_as_row_by_row(values: list) -> None:
    col = pd.Series(values, dtype=object, name="c")
    row_by_row = [None if pd.isna(v) else _category_text(v) for v in values]
    got = _to_category_text(col).tolist()
    assert [None if pd.isna(v) else v for v in got] == row_by_row
    assert list(map_distinct(col, _category_text, missing=None)) == row_by_row


def test_numbers_stored_as_text_are_counted_by_rows_not_distinct_values() -> None:
    # 99 rows of one number and one row of text: 99% numeric by rows, 50% by distinct values
    assert _numeric_share(pd.Series(["7"] * 99 + ["seven"])) == pytest.approx(0.99)
    assert _numeric_share(pd.Series(["1.5", "x", "x", "2e3"])) == pytest.approx(0.5)


def test_a_true_false_column_reads_the_usual_spellings_and_refuses_others() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"student": rng.random(60) < 0.5, "x": rng.normal(size=60)})
    train["y"] = (train["x"] > 0).astype(int)
    schema = infer_schema(train, "y")
    new = pd.DataFrame({"student": ["TRUE", "true", "1", "yes", "False", "no", "0", None],
                        "x": 0.0})  # fmt: skip
    got = prepare_features(new, schema, strict=True)["student"].tolist()
    assert got[:7] == ["True"] * 4 + ["False"] * 3 and pd.isna(got[7])
    with pytest.raises(SchemaMismatchError, match="'student' must be true or false, but row 1"):
        prepare_features(new.assign(student=["True", "maybe"] * 4), schema, strict=True)


def test_a_given_validation_or_test_table_is_named_in_its_errors(
    mixed: pd.DataFrame, tmp_path
) -> None:
    from learnloop.runs.dataset import prepare_dataset

    train, val, test = mixed.iloc[:400], mixed.iloc[400:500], mixed.iloc[500:]
    bad = tmp_path / "val.csv"
    val.drop(columns="plan").to_csv(bad, index=False)
    named = r"In the validation data \('.*val.csv'\): the data is missing the column plan"
    with pytest.raises(SchemaMismatchError, match=named):
        prepare_dataset(train, "churned", "auto", None, None, 0, str(bad), test)
    typed = test.astype({"age": object})
    typed.iloc[3, typed.columns.get_loc("age")] = "old"
    with pytest.raises(
        SchemaMismatchError, match="In the test data: the column 'age' must be numeric"
    ):
        prepare_dataset(train, "churned", "auto", None, None, 0, val, typed)
    with pytest.raises(DataError, match="The test data is the training data"):
        prepare_dataset(train, "churned", "auto", None, None, 0, val, train.copy())
