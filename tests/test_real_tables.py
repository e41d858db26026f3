"""Tables as real users bring them (issue 27): other encodings, decimal commas, duplicate
column names, and errors a script can read. Each test writes a realistic file and runs the
``learnloop`` command on it as a user would."""

from pathlib import Path

import numpy as np

from conftest import run
from learnloop.data import load_table

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
        "10",
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
