"""Issue 23, inputs: ``predict --keep`` carries ID columns through, and files are predicted
a chunk of rows at a time (``LEARNLOOP_CHUNK_ROWS``) with the same output as one chunk:
the same rows, the same ``_unreadable`` flags, the same ``--strict`` refusal naming the
file line, and no output file left behind by an error in a later chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import learnloop
from conftest import run
from learnloop.exceptions import DataError, SchemaMismatchError, UsageError
from learnloop.store.model_files import LoadedModel, load_model
from learnloop.store.predict_file import predict_file

ZIPS = [98103, 98105, 98109, 98112, 98115, 98117, 98118, 98122, 98125, 98144]
SMALL = 7  # rows per chunk in these tests: every file spans several chunks


def _houses(n: int, seed: int) -> pd.DataFrame:
    """House sales with an ID spelled with leading zeros; ``expensive`` depends on the
    size, the ZIP code, the bathrooms and the district."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "house_id": [f"{i:06d}" for i in rng.permutation(10 * n)[:n]],  # zeros first
            "zipcode": rng.choice(ZIPS, n),
            "sqft_living": rng.normal(1900, 600, n).clip(500).round(),
            "bathrooms": rng.choice([1.0, 1.5, 2.0, 2.5, 3.0], n),
            "district": rng.choice(["north", "south", "east", "west"], n),
        }
    )
    score = (
        frame["sqft_living"] / 600
        + (frame["zipcode"] % 100) / 20
        + frame["bathrooms"]
        + frame["district"].map({"north": 1, "south": 0, "east": 0.5, "west": 1.5})
        + rng.normal(0, 0.5, n)
    )
    return frame.assign(expensive=np.where(score > score.median(), "yes", "no"))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chunks")
    out = root / "houses.skops"
    houses = _houses(600, 0)  # its IDs as numbers: training drops them as identifiers
    learnloop.train(
        houses.assign(house_id=houses["house_id"].astype(int)), target="expensive",
        threshold=0.6, budget=10, out=out, store=str(root / "s.db"), candidates=["lightgbm"],
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def loaded(model: Path) -> LoadedModel:
    found = load_model(model)
    assert "house_id" in found.schema.dropped  # so --keep reads it as text
    return found


def _rows(n: int = 40, seed: int = 1) -> pd.DataFrame:
    return _houses(n, seed).drop(columns="expensive")


def _bad(frame: pd.DataFrame, cells: dict[int, dict[str, str]]) -> pd.DataFrame:
    out = frame.astype(object)
    for row, values in cells.items():
        for column, text in values.items():
            out.loc[row, column] = text
    return out


# ------------------------------------------------------------------------------ --keep
def test_keep_carries_ids_first_and_unchanged(tmp_path: Path, model: Path) -> None:
    rows = _rows()
    data = tmp_path / "rows.csv"
    rows.to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    proc = run("predict", str(model), str(data), "--keep", "house_id", "--keep", "district",
               "--out", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(out, dtype={"house_id": str})
    assert list(got.columns[:3]) == ["house_id", "district", "prediction"]
    assert list(got["house_id"]) == list(rows["house_id"])  # "000123" keeps its zeros
    assert list(got["district"]) == list(rows["district"])
    expected = learnloop.load(model).predict(rows)
    assert list(got["prediction"]) == list(expected["prediction"])


def test_keep_in_the_python_api(loaded: LoadedModel) -> None:
    rows = _rows()
    got = loaded.predict(rows, keep=["house_id"])
    assert list(got.columns[:2]) == ["house_id", "prediction"]
    assert got["house_id"].tolist() == rows["house_id"].tolist()
    pd.testing.assert_frame_equal(got.drop(columns="house_id"), loaded.predict(rows))
    with pytest.raises(DataError, match="'parcel'"):
        loaded.predict(rows, keep=["parcel"])


def test_keep_of_a_missing_column_exits_2_naming_it(tmp_path: Path, model: Path) -> None:
    data = tmp_path / "rows.csv"
    _rows().to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    proc = run("predict", str(model), str(data), "--keep", "parcel", "--out", str(out),
               cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'parcel'" in lines[0] and "--keep" in lines[0], proc.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


# ---------------------------------------------------------------------------- chunks
@pytest.mark.parametrize("source", ["csv", "parquet", "jsonl"])
@pytest.mark.parametrize("target", ["csv", "parquet", "jsonl"])
def test_chunked_output_equals_one_chunk(
    tmp_path: Path, loaded: LoadedModel, source: str, target: str
) -> None:
    rows = _rows(45)
    data = tmp_path / f"rows.{source}"
    _write(rows, data)
    whole, chunked = tmp_path / f"whole.{target}", tmp_path / f"chunked.{target}"
    predict_file(loaded, data, whole, keep=["house_id"], rows=10**6)
    predict_file(loaded, data, chunked, keep=["house_id"], rows=SMALL)
    assert chunked.read_bytes() == whole.read_bytes() or target == "parquet"
    got, expected = _read(chunked), _read(whole)
    pd.testing.assert_frame_equal(got, expected)
    assert len(got) == 45 and got["house_id"].tolist() == rows["house_id"].tolist()
    api = loaded.predict(rows)  # the same predictions as the in-memory table gives
    np.testing.assert_allclose(got["proba_yes"], api["proba_yes"], rtol=1e-9)


def test_unreadable_flags_across_chunks(tmp_path: Path, loaded: LoadedModel) -> None:
    """Unreadable cells only in later chunks: the flag column appears (added to the rows
    written before), flags exactly those rows, and the note counts the whole file."""
    rows = _bad(_rows(40), {17: {"bathrooms": "two"}, 30: {"sqft_living": "unknown"},
                            31: {"bathrooms": "2½"}})  # fmt: skip
    data = tmp_path / "rows.csv"
    rows.to_csv(data, index=False)
    for suffix in ("csv", "parquet", "jsonl"):
        whole, chunked = tmp_path / f"whole.{suffix}", tmp_path / f"chunked.{suffix}"
        notes_whole = predict_file(loaded, data, whole, rows=10**6)
        notes = predict_file(loaded, data, chunked, rows=SMALL)
        assert notes == notes_whole
        assert "Read 3 cells as missing" in notes[-1] and "their 3 rows" in notes[-1]
        got = _read(chunked)
        pd.testing.assert_frame_equal(got, _read(whole))
        assert got.columns[-1] == "_unreadable"
        flagged = {i: v for i, v in enumerate(got["_unreadable"].fillna("")) if v}
        assert flagged == {17: "bathrooms", 30: "sqft_living", 31: "bathrooms"}, suffix


def test_no_flag_column_when_every_cell_reads(tmp_path: Path, loaded: LoadedModel) -> None:
    data = tmp_path / "rows.parquet"
    _rows(30).to_parquet(data, index=False)
    out = tmp_path / "pred.csv"
    assert predict_file(loaded, data, out, rows=SMALL) == []
    assert "_unreadable" not in pd.read_csv(out).columns


def test_strict_names_the_line_in_a_later_chunk_and_leaves_nothing(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _bad(_rows(60), {57: {"sqft_living": "about 2000"}})
    data = tmp_path / "rows.csv"
    rows.to_csv(data, index=False)
    out = tmp_path / "pred.csv"
    monkeypatch.setenv("LEARNLOOP_CHUNK_ROWS", "10")  # the bad cell is in the sixth chunk
    proc = run("predict", str(model), str(data), "--strict", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    # record 57 (from 0) is on line 59: the header is line 1
    assert "line 59 of 'rows.csv'" in lines[0] and "'sqft_living'" in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]  # no output, no temp


def test_an_output_that_cannot_be_written_is_refused_first(
    tmp_path: Path, loaded: LoadedModel
) -> None:
    data = tmp_path / "rows.csv"
    _rows(10).to_csv(data, index=False)
    (tmp_path / "out.csv").mkdir()
    for out, says in [("out.csv", "is a folder"), ("none/p.csv", "does not exist"),
                      ("p.xlsx", "use a .csv")]:  # fmt: skip
        with pytest.raises(UsageError, match=says):
            predict_file(loaded, data, tmp_path / out, rows=SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "rows.csv"]


def test_strict_names_the_row_of_a_parquet_file(tmp_path: Path, loaded: LoadedModel) -> None:
    data = tmp_path / "rows.parquet"
    rows = _bad(_rows(30), {22: {"bathrooms": "two"}})
    rows.astype({"bathrooms": str}).to_parquet(data, index=False)
    out = tmp_path / "pred.parquet"
    with pytest.raises(SchemaMismatchError, match="row 23 of 'rows.parquet'"):
        predict_file(loaded, data, out, strict=True, rows=SMALL)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["rows.parquet"]


def test_a_broken_line_in_a_later_chunk_is_named(tmp_path: Path, loaded: LoadedModel) -> None:
    data = tmp_path / "rows.csv"
    _rows(40).to_csv(data, index=False)
    lines = data.read_text().splitlines()
    lines[33] += ",surplus"  # line 34 of the file, in the fifth chunk of 7 rows
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "pred.csv"
    with pytest.raises(DataError, match="Could not read '.*rows.csv' as csv: .*line 34"):
        predict_file(loaded, data, out, rows=SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]


def test_decimal_commas_and_a_detected_encoding_hold_across_chunks(
    tmp_path: Path, loaded: LoadedModel
) -> None:
    """A semicolon file in cp1252 with decimal commas, its one non-ASCII district late:
    the encoding is settled before the first chunk, and the first chunk decides the
    column's number style, as the whole file does."""
    rows = _rows(40)
    rows["district"] = rows["district"].where(rows.index != 33, "søuth")
    swap = str.maketrans(",.", ".,")  # 2,471.5 -> 2.471,5
    text = rows.assign(sqft_living=[f"{v + 0.5:,.1f}".translate(swap) for v in rows["sqft_living"]])
    data = tmp_path / "rows.csv"
    text.to_csv(data, index=False, sep=";", encoding="cp1252")
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    notes_whole = predict_file(loaded, data, whole, rows=10**6)
    notes = predict_file(loaded, data, chunked, rows=SMALL)
    assert chunked.read_bytes() == whole.read_bytes()
    assert notes == notes_whole and any("decimal comma" in n for n in notes), notes
    assert any("not UTF-8" in n for n in notes), notes
    expected = loaded.predict(rows.assign(sqft_living=rows["sqft_living"] + 0.5))
    assert pd.read_csv(chunked)["prediction"].tolist() == expected["prediction"].tolist()


def test_cli_prints_the_same_csv_chunked(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "rows.jsonl"
    _write(_rows(25), data)
    whole = run("predict", str(model), str(data), cwd=tmp_path)
    monkeypatch.setenv("LEARNLOOP_CHUNK_ROWS", str(SMALL))
    chunked = run("predict", str(model), str(data), cwd=tmp_path)
    assert whole.returncode == chunked.returncode == 0, chunked.stderr
    assert chunked.stdout == whole.stdout and len(chunked.stdout.splitlines()) == 26


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"house_id": str})
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, lines=True, dtype={"house_id": str})
