"""Explanations: per-row contributions (exact for LightGBM, sampled Shapley values for any
other model) and permutation importance with intervals, in Python and on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import learnloop
from conftest import run
from learnloop.data import prepare_features
from learnloop.data.features import build_preprocessor
from learnloop.exceptions import UsageError
from learnloop.explanations import (
    EXACT,
    SAMPLED,
    check_explainable,
    permutation_importance,
    sampled_contributions,
)
from learnloop.tasks import TASKS


def _table(n: int, seed: int) -> pd.DataFrame:
    """y depends on 'signal' only; 'noise' is pure noise; a category and a date ride along."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    day = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    return pd.DataFrame(
        {
            "signal": signal,
            "noise": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], n),
            "day": day.strftime("%Y-%m-%d"),
            "y": np.where(signal + rng.normal(0, 0.4, n) > 0, "yes", "no"),
        }
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A LightGBM model and a linear model trained by the loop on the same table."""
    root = tmp_path_factory.mktemp("explain")
    out = {}
    for family in ("lightgbm", "linear"):
        out[family] = root / f"{family}.skops"
        learnloop.train(
            _table(600, 0), target="y", threshold=0.75, budget=20, candidates=[family],
            out=out[family], store=str(root / "s.db"),
        )  # fmt: skip
    return out


def _log_odds(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_lightgbm_contributions_add_up_to_the_raw_log_odds(models: dict[str, Path]) -> None:
    model = learnloop.load(models["lightgbm"])
    frame = _table(300, 1)
    explained = model.explain(frame, repeats=2)
    assert explained.method == EXACT
    assert list(explained.contributions.columns) == ["signal", "noise", "color", "day"]
    features, booster = model.pipeline.steps[0][1], model.pipeline.steps[1][1]
    encoded = features.transform(prepare_features(frame, model.schema))
    raw = booster.booster_.predict(encoded, num_iteration=booster.best_iteration_, raw_score=True)
    total = explained.expected + explained.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, raw, atol=1e-6, rtol=0)
    np.testing.assert_allclose(raw, _log_odds(model.pipeline.predict_proba(
        prepare_features(frame, model.schema))[:, 1]), atol=1e-6)  # fmt: skip
    assert set(explained.explains) == {"log-odds of 'yes'"}
    # the date's five parts are one input: their contributions are summed into 'day'
    assert (
        np.abs(explained.contributions["signal"]).mean()
        > 5 * np.abs(explained.contributions["noise"]).mean()
    )


def test_one_hot_parts_are_summed_into_their_column() -> None:
    """A booster over one-hot columns (dense encoding), multiclass: the raw score of each
    row's chosen class is the expected value plus the sum over the user's columns."""
    from sklearn.pipeline import Pipeline

    from learnloop.data import Schema, infer_features
    from learnloop.estimators import BoosterClassifier
    from learnloop.explanations import explain, input_of_encoded

    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({"size": rng.normal(size=n), "shape": rng.choice(list("abcd"), n)})
    y = (frame["size"] > 0).astype(int) + (frame["shape"] == "a").astype(int)
    frame.loc[rng.random(n) < 0.1, "size"] = np.nan  # a missing-value indicator column too
    features, _ = infer_features(frame)
    schema = Schema("k", "classification", features, {}, [0, 1, 2])
    X = prepare_features(frame, schema)
    pipeline = Pipeline(
        [("features", build_preprocessor("dense", X)), ("model", BoosterClassifier(3))]
    ).fit(X, y.to_numpy())
    sources = input_of_encoded(pipeline.steps[0][1], schema)
    assert sources.count("shape") == 4 and sources.count("size") == 2  # value + indicator
    out = explain(pipeline, TASKS["classification"], schema, "accuracy", frame, repeats=2)
    assert out.method == EXACT
    raw = pipeline.steps[1][1].contributions(pipeline.steps[0][1].transform(X))
    chosen = np.argmax(pipeline.predict_proba(X), axis=1)
    np.testing.assert_allclose(out.score, raw[np.arange(n), chosen].sum(axis=1), atol=1e-9)
    shape = [i for i, s in enumerate(sources) if s == "shape"]
    np.testing.assert_allclose(
        out.contributions["shape"], raw[np.arange(n), chosen][:, shape].sum(axis=1), atol=1e-9
    )


def test_lightgbm_regression_contributions_add_up_to_the_value(diabetes: pd.DataFrame) -> None:
    from sklearn.pipeline import Pipeline

    from learnloop.data import Schema, infer_features
    from learnloop.estimators import BoosterRegressor
    from learnloop.explanations import explain

    features, _ = infer_features(diabetes, exclude=("target",))
    schema = Schema("target", "regression", features, {}, [])
    X = prepare_features(diabetes, schema)
    pipeline = Pipeline(
        [("features", build_preprocessor("tree", X)), ("model", BoosterRegressor())]
    ).fit(X, diabetes["target"].to_numpy())
    out = explain(pipeline, TASKS["regression"], schema, "r2", diabetes, rows=100, repeats=5)
    assert out.method == EXACT and set(out.explains) == {"value of 'target'"}
    np.testing.assert_allclose(out.score, pipeline.predict(X.iloc[:100]), atol=1e-6)
    assert out.importance is not None and out.importance.metric == "r2"
    top = out.importance.table.iloc[0]
    assert top["column"] in ("bmi", "s5") and top["low"] > 0


def test_the_generating_column_leads_and_the_noise_interval_covers_zero(
    models: dict[str, Path],
) -> None:
    explained = learnloop.explain(models["lightgbm"], _table(500, 2), rows=5, repeats=30)
    imp = explained.importance
    assert imp is not None
    table = imp.table.set_index("column")
    assert table["mean"].idxmax() == "signal"
    assert table.loc["signal", "low"] > 0
    assert table.loc["noise", "low"] <= 0 <= table.loc["noise", "high"]


def test_the_interval_holds_the_true_importance_at_least_95_percent_of_the_time() -> None:
    """Simulation: a fixed model, 200 fresh samples of 150 rows; the 95% interval of each
    sample holds the importance computed on 200,000 rows at least 95% of the time (it is
    conservative: about 98-100%), yet excludes zero for the columns the model uses; the
    column the model ignores has importance exactly zero, inside every interval."""
    w = np.array([1.8, 0.6, 0.0])

    def sample(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
        X = rng.normal(size=(n, 3))
        y = X @ np.array([2.0, 0.5, 0.0]) + rng.normal(size=n)
        return pd.DataFrame(X, columns=["a", "b", "c"]), y

    def r2(X: pd.DataFrame, y: np.ndarray) -> float:
        resid = y - X.to_numpy() @ w
        return 1 - resid.var() / y.var()

    groups = {c: [c] for c in "abc"}
    big_X, big_y = sample(200_000, np.random.default_rng(0))
    truth = permutation_importance(r2, big_X, big_y, groups, metric="r2", repeats=2, seed=1)
    true = truth.table.set_index("column")["mean"]
    rng = np.random.default_rng(7)
    hits, above_zero = dict.fromkeys("abc", 0), dict.fromkeys("abc", 0)
    trials = 200
    for i in range(trials):
        X, y = sample(150, rng)
        table = permutation_importance(r2, X, y, groups, metric="r2", repeats=10, seed=i).table
        for row in table.itertuples():
            hits[row.column] += row.low <= true[row.column] <= row.high
            above_zero[row.column] += row.low > 0
    assert true["c"] == 0.0 and true["b"] > 0.1
    assert min(hits.values()) / trials >= 0.95, hits
    assert above_zero["a"] == trials and above_zero["b"] / trials >= 0.9, above_zero
    assert hits["c"] == trials


def test_sampled_contributions_of_an_additive_model_are_exact() -> None:
    """For f(x) = sum_j g_j(x_j) each column's Shapley value is g_j(x_j) minus its mean over
    the background, whatever the orders drawn; and the row's total is always exact."""
    rng = np.random.default_rng(5)
    X = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30), "c": rng.normal(size=30)})
    background = X.iloc[:10]

    def additive(rows: pd.DataFrame, _: np.ndarray) -> np.ndarray:
        return 2 * rows["a"].to_numpy() + np.sin(rows["b"].to_numpy()) + 0 * rows["c"].to_numpy()

    contrib, expected = sampled_contributions(additive, X, background, [0, 1, 2], orders=20)
    np.testing.assert_allclose(contrib[:, 0], 2 * (X["a"] - background["a"].mean()), atol=1e-12)
    np.testing.assert_allclose(
        contrib[:, 1], np.sin(X["b"]) - np.sin(background["b"]).mean(), atol=1e-12
    )
    np.testing.assert_allclose(contrib[:, 2], 0.0, atol=1e-12)

    def product(rows: pd.DataFrame, _: np.ndarray) -> np.ndarray:
        return rows["a"].to_numpy() * rows["b"].to_numpy() + rows["c"].to_numpy() ** 2

    contrib, expected = sampled_contributions(product, X, background, [0, 1, 2], orders=8)
    np.testing.assert_allclose(expected + contrib.sum(axis=1), product(X, None), atol=1e-12)
    assert np.ptp(expected) == 0  # one expected value for every row


def test_sampled_contributions_converge_to_the_exact_shapley_values() -> None:
    """Against the exact interventional Shapley values of a model with a three-way
    interaction (every order of 4 columns and every background row, enumerated): the error
    shrinks as orders grow, to a few hundredths at 2000. (Two-way interactions alone are
    split exactly by any order and its reverse, so they would prove nothing.)"""
    from itertools import permutations

    rng = np.random.default_rng(9)
    names = ["a", "b", "c", "d"]
    X = rng.normal(size=(5, 4))
    background = rng.normal(size=(8, 4))

    def g(z: np.ndarray) -> np.ndarray:
        return z[:, 0] * z[:, 1] * z[:, 2] + np.maximum(z[:, 3], 0) * z[:, 0] + z[:, 2] ** 2

    exact = np.zeros((len(X), 4))
    orders = list(permutations(range(4)))
    for i in range(len(X)):
        for bg in background:
            for order in orders:
                z = bg.copy()
                for j in order:
                    before = g(z[None])[0]
                    z[j] = X[i, j]
                    exact[i, j] += g(z[None])[0] - before
    exact /= len(background) * len(orders)

    def f(rows: pd.DataFrame, _: Any = None) -> np.ndarray:
        return g(rows[names].to_numpy())

    frame, bg_frame = pd.DataFrame(X, columns=names), pd.DataFrame(background, columns=names)
    errors = []
    for n_orders in (16, 2000):
        est, _ = sampled_contributions(f, frame, bg_frame, [0, 1, 2, 3], orders=n_orders, seed=2)
        errors.append(np.abs(est - exact).max())
    assert errors[1] < 0.05 * np.abs(exact).max(), (errors, np.abs(exact).max())
    assert errors[1] < errors[0] / 3, errors


def test_a_linear_model_takes_the_sampled_path(models: dict[str, Path]) -> None:
    model = learnloop.load(models["linear"])
    frame = _table(200, 4)
    explained = model.explain(frame, rows=40, repeats=2)
    assert explained.method.startswith(SAMPLED)
    proba = model.pipeline.predict_proba(prepare_features(frame, model.schema))[:40, 1]
    total = explained.expected + explained.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, _log_odds(proba), atol=1e-8)
    mean_abs = explained.contributions.abs().mean()
    assert mean_abs.idxmax() == "signal"


def test_an_ensemble_takes_the_sampled_path(models: dict[str, Path]) -> None:
    from sklearn.pipeline import Pipeline

    from learnloop.estimators import EnsembleClassifier, PassThrough
    from learnloop.explanations import explain

    trees, linear = (learnloop.load(models[f]) for f in ("lightgbm", "linear"))
    ensemble = EnsembleClassifier([trees.pipeline, linear.pipeline], [0.5, 0.5], 2).fit()
    pipeline = Pipeline([("features", PassThrough()), ("model", ensemble)])
    frame = _table(100, 5)
    out = explain(pipeline, trees.task_kind, trees.schema, "accuracy", frame, rows=20, repeats=2)
    assert out.method.startswith(SAMPLED)
    proba = ensemble.predict_proba(prepare_features(frame, trees.schema))[:20, 1]
    np.testing.assert_allclose(out.score, _log_odds(proba), atol=1e-8)


def test_without_the_target_only_the_rows_are_explained(models: dict[str, Path]) -> None:
    explained = learnloop.explain(models["lightgbm"], _table(50, 6).drop(columns="y"))
    assert explained.importance is None
    assert "The data has no target column 'y'" in explained.notes[0]
    assert len(explained.table()) == 50


@pytest.mark.parametrize("name", [n for n, t in TASKS.items() if n not in ("auto",)])
def test_tasks_without_a_score_per_column_are_refused(name: str) -> None:
    task = TASKS[name]
    explainable = task.inputs_are_columns and task.output.value in ("classes", "values")
    if explainable:
        check_explainable(task)
        return
    with pytest.raises(UsageError, match="cannot be explained|cannot explain it"):
        check_explainable(task)


def test_cli_writes_the_table_and_the_plot(models: dict[str, Path], tmp_path: Path) -> None:
    import json

    data = tmp_path / "rows.csv"
    _table(200, 8).to_csv(data, index=False)
    out, plot = tmp_path / "contrib.csv", tmp_path / "importance.png"
    done = run("explain", str(models["lightgbm"]), str(data), "--rows", "30", "--out", str(out),
               "--plot", str(plot), "--json", "--repeats", "5", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["method"] == EXACT and result["rows_explained"] == 30
    assert result["importance"][0]["column"] == "signal"
    table = pd.read_csv(out)
    assert len(table) == 30
    assert list(table.columns) == ["_row", "_explains", "_expected", "signal", "noise", "color",
                                   "day", "_score"]  # fmt: skip
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plain = run("explain", str(models["lightgbm"]), str(data), "--rows", "3", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert len(plain.stdout.strip().splitlines()) == 4  # header + 3 rows
    assert "signal" in plain.stderr and "95% interval" in plain.stderr


def _bad_inputs(models: dict[str, Path], tmp_path: Path) -> list[tuple[list[str], str]]:
    from serve_fixtures import train_recommender

    data = tmp_path / "rows.csv"
    _table(50, 9).to_csv(data, index=False)
    lacking = tmp_path / "lacking.csv"
    _table(50, 9).drop(columns="signal").to_csv(lacking, index=False)
    model = str(models["lightgbm"])
    return [
        ([str(tmp_path / "none.skops"), str(data)], "does not exist"),
        ([model, str(tmp_path / "none.csv")], "does not exist"),
        ([model, str(lacking)], "missing the column signal"),
        ([str(train_recommender(tmp_path)), str(data)], "cannot explain it"),
        ([model, str(data), "--plot", str(tmp_path / "x.svg")], "use a .png"),
    ]


def test_cli_bad_input_is_one_line_and_exit_2(models: dict[str, Path], tmp_path: Path) -> None:
    for args, words in _bad_inputs(models, tmp_path):
        done = run("explain", *args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.svg").exists()
