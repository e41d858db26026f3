"""Tables as real users bring them (issue 27): other encodings, decimal commas, duplicate
column names, and errors a script can read. Each test writes a realistic file and runs the
``learnloop`` command on it as a user would."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run
from learnloop.data import infer_features, load_table
from learnloop.exceptions import DataError

NAMES = ["José", "Müller", "Ángel", "Françoise", "Søren", "Niño", "Zoë", "Renée"]
CITIES = ["Málaga", "Zürich", "Orléans"]


def _latin_csv(path: Path, n: int = 200) -> Path:
    """A comma CSV written by an old spreadsheet: latin-1, accented names and cities."""
    rng = np.random.default_rng(0)
    rows = ["name,city,age,income,bought"]
    for i in range(n):
        age = int(rng.integers(18, 80))
        bought = "sí" if age + rng.normal(0, 5) > 45 else "no"
        income = rng.normal(3000, 800)
        rows.append(f"{NAMES[i % 8]},{CITIES[i % 3]},{age},{income:.2f},{bought}")
    path.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    return path


def _train(data: Path, tmp_path: Path, *extra: str) -> tuple[object, Path]:
    model = tmp_path / "m.skops"
    proc = run(
        "train",
        str(data),
        "--budget",
        "4",
        "--out",
        str(model),
        "--store",
        str(tmp_path / "s.db"),
        *extra,
        cwd=tmp_path,
    )
    return proc, model


def test_latin1_file_is_detected_read_and_named(tmp_path: Path) -> None:
    data = _latin_csv(tmp_path / "clientes.csv")
    frame = load_table(data)
    assert sorted(frame["name"].unique()) == sorted(NAMES)  # ñ, ø and ë decoded, not ń or ř
    assert sorted(frame["city"].unique()) == sorted(CITIES)
    proc, model = _train(data, tmp_path, "--target", "bought")
    assert proc.returncode in (0, 3), proc.stderr
    assert "Read 'clientes.csv' as cp1252, not UTF-8" in proc.stderr
    assert "codec" not in proc.stderr and model.exists()
    pred = run("predict", str(model), str(data), cwd=tmp_path)
    assert pred.returncode == 0, pred.stderr
    assert "as cp1252" in pred.stderr and len(pred.stdout.splitlines()) == 201


def test_encoding_option_is_obeyed_and_a_wrong_one_refused(tmp_path: Path) -> None:
    data = _latin_csv(tmp_path / "clientes.csv")
    proc, model = _train(data, tmp_path, "--target", "bought", "--encoding", "utf-8")
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "is not utf-8" in err[0] and "--encoding" in err[0]
    assert "Traceback" not in proc.stderr and not model.exists()
    proc, model = _train(data, tmp_path, "--target", "bought", "--encoding", "klingon")
    assert proc.returncode == 2 and "The encoding 'klingon' is unknown" in proc.stderr
    assert not model.exists()
    proc, model = _train(data, tmp_path, "--target", "bought", "--encoding", "latin-1")
    assert proc.returncode in (0, 3), proc.stderr
    assert "not UTF-8 (detected)" not in proc.stderr and model.exists()


def _german(x: float, digits: int = 2) -> str:
    """``x`` as a German spreadsheet writes it: 1.234,56."""
    return f"{x:,.{digits}f}".replace(",", "_").replace(".", ",").replace("_", ".")


def _euro_csv(path: Path, n: int = 300) -> Path:
    """A semicolon CSV with decimal commas and thousands dots, as Excel writes it in Germany;
    the credit decision depends on income and balance."""
    rng = np.random.default_rng(1)
    rows = ["kunde;alter;einkommen;kontostand;zins;stadt;kredit"]
    for i in range(n):
        income, balance = rng.lognormal(8, 0.5), rng.normal(2000, 3000)
        approved = balance / 1000 + income / 3000 + rng.normal(0, 0.3) > 3
        rows.append(
            f"K{i:05d};{rng.integers(20, 70)};{_german(income)};{_german(balance)};"
            f"{_german(rng.uniform(0, 1), 3)};{['Köln', 'Wien', 'Graz'][i % 3]};"
            f"{'ja' if approved else 'nein'}"
        )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_decimal_commas_and_thousands_dots_are_numbers(tmp_path: Path) -> None:
    data = _euro_csv(tmp_path / "kredit.csv")
    frame = load_table(data)
    for column in ("einkommen", "kontostand", "zins"):
        assert frame[column].dtype == "float64", column
    lines = data.read_text().splitlines()
    first = dict(zip(lines[0].split(";"), lines[1].split(";"), strict=True))
    assert frame.loc[0, "kontostand"] == float(
        first["kontostand"].replace(".", "").replace(",", ".")
    )
    assert frame["einkommen"].max() > 1000  # the thousands dot is no decimal point
    proc, model = _train(data, tmp_path, "--target", "kredit", "--json")
    assert proc.returncode in (0, 3), proc.stderr
    out = json.loads(proc.stdout)
    assert "Read the column 'einkommen' as numbers with decimal commas" in proc.stderr
    assert not {"einkommen", "kontostand"} & set(out["dropped_columns"])
    assert out["test_score"] > out["baseline_score"] + 0.1  # it learned from the numbers
    pred = run("predict", str(model), str(data), cwd=tmp_path)  # read the same way
    assert pred.returncode == 0, pred.stderr
    assert len(pred.stdout.splitlines()) == 301


def test_dates_codes_and_text_with_dots_or_spaces_stay_as_they_were(tmp_path: Path) -> None:
    rows = ["datum;plz;strasse;menge"] + [
        f"{1 + i % 28:02d}.03.2024;{i % 90 + 1:05d};Hauptstr. {i};{i % 7},5" for i in range(200)
    ]
    data = tmp_path / "lager.csv"
    data.write_text("\n".join(rows) + "\n")
    frame = load_table(data, text_columns=["plz"])
    assert frame["datum"].iloc[0] == "01.03.2024" and frame["plz"].iloc[0] == "00001"
    assert frame["strasse"].iloc[0] == "Hauptstr. 0"
    assert frame["menge"].dtype == "float64" and frame["menge"].iloc[3] == 3.5


def test_thousands_commas_in_a_comma_file_and_a_bad_cell(tmp_path: Path) -> None:
    rows = ["city,population,area"] + [f'C{i},"{1000 * i + 234:,}",{i}.5' for i in range(1, 150)]
    rows.append("C150,unknown,150.5")  # one unreadable cell: missing, the column stays numeric
    data = tmp_path / "cities.csv"
    data.write_text("\n".join(rows) + "\n")
    frame = load_table(data)
    assert frame.loc[0, "population"] == 1234 and frame.loc[38, "population"] == 39234
    assert frame.loc[149, "population"] == "unknown"
    features, dropped = infer_features(frame)
    kinds = {f.name: f.kind for f in features}
    assert kinds["population"] == "numeric" and "population" not in dropped


def test_two_columns_of_one_name_are_refused_naming_both(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rows = ["customer,balance,age,balance,churn"]
    for i in range(100):
        rows.append(
            f"c{i},{rng.normal(500, 90):.2f},{rng.integers(18, 90)},"
            f"{rng.normal(0, 1):.3f},{rng.integers(0, 2)}"
        )
    data = tmp_path / "bank.csv"
    data.write_text("\n".join(rows) + "\n")
    proc, model = _train(data, tmp_path, "--target", "churn")
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    assert "two columns named 'balance' (columns 2 and 4)" in err[0]
    assert not model.exists() and "balance.1" not in proc.stderr
    proc = run("predict", str(model), str(data), cwd=tmp_path)  # no model: refused before
    assert proc.returncode == 2


def test_a_parquet_file_with_a_repeated_name_is_refused(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table([[1, 2], [3, 4], [5, 6]], names=["a", "b", "a"])
    pq.write_table(table, tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"two columns named 'a' \(columns 1 and 3\)"):
        load_table(tmp_path / "t.parquet")


def test_a_failing_command_with_json_prints_one_error_object(tmp_path: Path) -> None:
    data = _latin_csv(tmp_path / "clientes.csv")
    proc, model = _train(data, tmp_path, "--target", "bougth", "--json")  # a typo
    assert proc.returncode == 2
    out = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert out == {"status": "error", "exit_code": 2, "error": out["error"]}
    assert "'bougth' is not in the data" in out["error"]
    assert f"error: {out['error']}" in proc.stderr  # the same sentence on stderr
    assert not model.exists()
    store = str(tmp_path / "s.db")
    proc = run("runs", "show", "nosuchrun", "--store", store, "--json", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "error" and out["exit_code"] == 2 and "nosuchrun" in out["error"]
    proc = run("runs", "show", "nosuchrun", "--store", store, cwd=tmp_path)  # without --json
    assert proc.returncode == 2 and proc.stdout == ""
