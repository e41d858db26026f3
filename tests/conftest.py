"""Shared fixtures: small real tables from scikit-learn, written to temporary files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

pytest_plugins = ["store_backends"]  # backend_url: every store test on SQLite and PostgreSQL


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    """Binary classification, 569 rows, numeric features."""
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    """Regression, 442 rows."""
    return load_diabetes(as_frame=True).frame


@pytest.fixture(scope="session")
def iris() -> pd.DataFrame:
    """Multiclass with text labels."""
    frame = load_iris(as_frame=True).frame
    names = np.array(["setosa", "versicolor", "virginica"])
    return frame.assign(target=names[frame["target"].to_numpy()])


@pytest.fixture(scope="session")
def mixed() -> pd.DataFrame:
    """Generated customers: numbers with gaps, text categories, dates, an id column."""
    rng = np.random.default_rng(0)
    n = 600
    age = rng.integers(18, 80, n).astype(float)
    age[rng.random(n) < 0.1] = np.nan
    plan = rng.choice(["basic", "plus", "pro"], n)
    signup = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D")
    score = (plan == "pro") * 1.5 + np.nan_to_num(age, nan=40) / 40 + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "age": age,
            "plan": plan,
            "signup": signup.strftime("%Y-%m-%d"),
            "region": rng.choice(["north", "south", None], n),
            "churned": np.where(score > 2.0, "yes", "no"),
        }
    )


@pytest.fixture()
def store_url(tmp_path: Path) -> str:
    return str(tmp_path / "store.db")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The ``learnloop`` command as a user runs it: a subprocess, its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "learnloop", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_without(modules: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The ``learnloop`` command in an interpreter where ``modules`` cannot be imported
    (``sys.modules[name] = None``: Python's own way to say a module is absent), as on an
    install without the extra that brings them."""
    absent = "".join(f"sys.modules[{m!r}] = None; " for m in modules)
    code = f"import sys; {absent}from learnloop.cli import main; sys.argv[0] = 'learnloop'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` in the format named by ``path``'s extension."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        raise ValueError(path)
    return path
