"""Task-specific dependencies live in extras (issue 23): recommendation (``implicit``),
free-text columns (``skrub``) and SQL sources (``duckdb``). Without the extra, the command
says which one to install in one line (exit 2) and the Python API raises a
MissingExtraError (a UsageError and an ImportError). A missing package is simulated with
``sys.modules[name] = None``, Python's own way to make an import fail. statsmodels left the
core: SciPy's binomial and chi-square tests and a Holm step-down do its two jobs, checked
here against statsmodels itself."""

from __future__ import annotations

import gc
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import learnloop
from conftest import run, run_without
from learnloop.core.extras import require
from learnloop.data import infer_features
from learnloop.exceptions import MissingExtraError, UsageError
from shop_events import shop_events

ROOT = Path(__file__).resolve().parents[1]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_the_core_install_leaves_the_task_specific_libraries_to_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {d.split(">")[0].split("[")[0].strip() for d in project["dependencies"]}
    assert not core & {"implicit", "skrub", "duckdb", "statsmodels"}
    extras = project["optional-dependencies"]
    for extra, package in (("recommend", "implicit"), ("text", "skrub"), ("sql", "duckdb")):
        assert any(d.startswith(package) for d in extras[extra])
    assert "learnloop[recommend,text,sql]" in extras["dev"]  # the suite runs with all of them


def test_require_names_the_extra_and_is_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "implicit", None)
    # an earlier test may have imported the submodule itself: absent too
    monkeypatch.setitem(sys.modules, "implicit.nearest_neighbours", None)
    with pytest.raises(MissingExtraError) as e:
        require("implicit.nearest_neighbours", "recommend", "Recommendation")
    assert str(e.value) == (
        "Recommendation needs the 'recommend' extra: pip install 'learnloop[recommend]'"
    )
    assert isinstance(e.value, ImportError) and isinstance(e.value, UsageError)
    assert e.value.name == "implicit.nearest_neighbours"
    assert require("json", "none", "JSON").dumps([1]) == "[1]"  # present: the module itself


def test_a_module_whose_own_import_fails_is_not_blamed_on_an_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "half_installed.py").write_text("import no_such_module_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as e:
        require("half_installed", "text", "Free-text columns")
    assert not isinstance(e.value, MissingExtraError)
    assert e.value.name == "no_such_module_anywhere"


def test_recommendation_without_the_recommend_extra_is_one_line_exit_2(tmp_path: Path) -> None:
    shop_events(n_users=60, n_items=30).to_csv(tmp_path / "events.csv", index=False)
    args = ["train", "events.csv", "--user", "user", "--item", "item", "--budget", "5"]
    proc = run_without(["implicit"], *args, "--store", "s.db", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert _one_error_line(proc.stderr) == (
        "error: Recommendation needs the 'recommend' extra: pip install 'learnloop[recommend]'"
    )


def test_a_saved_recommender_answers_without_the_recommend_extra(tmp_path: Path) -> None:
    """implicit trains; the model file holds numpy arrays only, so answering needs none."""
    shop_events(n_users=60, n_items=30).to_csv(tmp_path / "events.csv", index=False)
    trained = run(
        "train", "events.csv", "--user", "user", "--item", "item", "--budget", "4",
        "--candidates", "popularity,item_knn", "--out", "rec.skops", "--store", "s.db",
        cwd=tmp_path,
    )  # fmt: skip
    assert trained.returncode in (0, 3), trained.stderr
    with_it = run("recommend", "rec.skops", "--user", "u0001", "--json", cwd=tmp_path)
    without = run_without(
        ["implicit"], "recommend", "rec.skops", "--user", "u0001", "--json", cwd=tmp_path
    )
    assert without.returncode == 0, without.stderr
    assert without.stdout == with_it.stdout and '"items"' in without.stdout


def test_a_sql_source_without_the_sql_extra_is_one_line_exit_2(
    tmp_path: Path, mixed: pd.DataFrame
) -> None:
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    (tmp_path / "q.sql").write_text("SELECT * FROM 'mixed.csv'")
    args = ["train", "q.sql", "--target", "churned", "--budget", "5", "--store", "s.db"]
    proc = run_without(["duckdb"], *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert _one_error_line(proc.stderr) == (
        "error: A SQL source (.sql) needs the 'sql' extra: pip install 'learnloop[sql]'"
    )


def _reviews(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    words = "good bad fine awful great lovely terrible tasty bland sweet salty".split()
    text = [" ".join(rng.choice(words, 8)) + f" review number {i}" for i in range(n)]
    return pd.DataFrame({"review": text, "x": rng.normal(size=n), "y": rng.choice(["a", "b"], n)})


def test_free_text_without_the_text_extra_is_one_line_exit_2(tmp_path: Path) -> None:
    _reviews().to_csv(tmp_path / "reviews.csv", index=False)
    args = ["train", "reviews.csv", "--target", "y", "--budget", "5", "--store", "s.db"]
    proc = run_without(["skrub"], *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert _one_error_line(proc.stderr) == (
        "error: The free-text column 'review' needs the 'text' extra: pip install 'learnloop[text]'"
    )


def test_the_python_api_raises_missing_extra_before_any_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "skrub", None)
    frame = _reviews()
    with pytest.raises(MissingExtraError, match=r"pip install 'learnloop\[text\]'"):
        infer_features(frame, exclude=("y",))
    with pytest.raises(ImportError, match="'text' extra"):  # as an optional import is caught
        learnloop.train(frame, "y", budget=5, store=str(tmp_path / "s.db"), out=None)
    assert infer_features(frame.drop(columns=["review"]), exclude=("y",))[0]  # no text: fine


def test_the_scipy_mcnemar_and_holm_equal_statsmodels() -> None:
    """The two statsmodels calls learnloop made, replaced: same statistics and p-values."""
    from scipy.stats import binomtest, chi2
    from statsmodels.stats.contingency_tables import mcnemar
    from statsmodels.stats.multitest import multipletests

    from learnloop.report.stats import holm
    from learnloop.store.experiments import _mcnemar

    for b in range(30):
        for c in range(30):
            if b + c == 0:
                continue
            for exact in (True, False):
                ours = _mcnemar(b, c, exact, binomtest, chi2)
                theirs = mcnemar([[7, b], [c, 5]], exact=exact, correction=True)
                assert ours == pytest.approx((theirs.statistic, theirs.pvalue), rel=1e-9)
    rng = np.random.default_rng(0)
    # statsmodels' holm runs gc.collect() on every call: over the whole suite's heap that is
    # most of a minute for 300 calls; frozen objects are skipped, so only this loop's are scanned
    gc.freeze()
    try:
        for _ in range(300):
            p = rng.uniform(0, 0.3, int(rng.integers(2, 9)))
            p[rng.random(len(p)) < 0.2] = p[0]  # ties
            assert holm(list(p)) == pytest.approx(multipletests(p, method="holm")[1], rel=1e-12)
    finally:
        gc.unfreeze()
