"""Greedy ensemble selection: the selection, the estimators, the loop and the model file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

import learnloop
from learnloop.core import levers
from learnloop.estimators import EnsembleClassifier, EnsembleRegressor
from learnloop.metrics import Prediction, get_metric
from learnloop.runs.dataset import prepare_dataset
from learnloop.runs.train import problem_of
from learnloop.search import Aim, Hooks, Search
from learnloop.search.ensemble import average, select
from learnloop.store.model_files import load_model
from store_backends import learnloop as cli

FAMILIES = ["lightgbm", "linear"]  # fast, and different enough to average well


def _proba(p_true: np.ndarray, y: np.ndarray) -> Prediction:
    """Binary probabilities giving ``p_true`` to each row's own class."""
    p1 = np.where(y == 1, p_true, 1 - p_true)
    proba = np.column_stack([1 - p1, p1])
    return Prediction(np.argmax(proba, axis=1), proba)


# ------------------------------------------------------------------ selection
def test_complementary_models_are_both_selected_and_improve_the_metric() -> None:
    y = np.tile([0, 1], 100)
    half = np.arange(200) < 100
    a = _proba(np.where(half, 0.9, 0.5), y)  # sure and right on the first half only
    b = _proba(np.where(half, 0.5, 0.9), y)  # ... and on the second half
    metric = get_metric("log_loss")
    counts, score = select(y, [a, b], metric, 2)
    assert counts[0] >= 1 and counts[1] >= 1
    single = min(metric.score(y, a, 2), metric.score(y, b, 2))
    assert metric.better(score, single)
    assert score == pytest.approx(metric.score(y, average([a, b], counts), 2))


def test_a_useless_model_is_left_out() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    good = _proba(np.full(300, 0.8), y)
    useless = _proba(np.full(300, 0.2), y)  # sure and always wrong
    counts, score = select(y, [useless, good], get_metric("roc_auc"), 2)
    assert counts.tolist() == [0, 1]
    assert score == pytest.approx(1.0)


def test_regression_averages_independent_errors() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    a, b = Prediction(y + rng.normal(size=500)), Prediction(y + rng.normal(size=500))
    off = Prediction(y + 10.0)
    metric = get_metric("rmse")
    counts, score = select(y, [a, b, off], metric)
    assert counts[0] >= 1 and counts[1] >= 1 and counts[2] == 0
    assert score < min(metric.score(y, a), metric.score(y, b))


# ------------------------------------------------------------------ estimators
def test_ensemble_classifier_is_the_weighted_average_of_its_members() -> None:
    X, y = make_classification(n_samples=300, n_classes=3, n_informative=4, random_state=0)
    one = Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]).fit(X, y)
    # a member that never saw class 2: its probabilities get a zero column for it
    two = Pipeline([("m", LogisticRegression(C=0.1))]).fit(X[y < 2], y[y < 2])
    ens = EnsembleClassifier([one, two], [3, 1], n_classes=3).fit()
    p2 = np.zeros((len(X), 3))
    p2[:, :2] = two.predict_proba(X)
    expected = (3 * one.predict_proba(X) + p2) / 4
    np.testing.assert_allclose(ens.predict_proba(X), expected)
    np.testing.assert_array_equal(ens.predict(X), np.argmax(expected, axis=1))
    assert ens.classes_.tolist() == [0, 1, 2]


def test_ensemble_regressor_is_the_weighted_average_of_its_members() -> None:
    X, y = make_regression(n_samples=200, n_features=5, noise=5.0, random_state=0)
    one = LinearRegression().fit(X, y)
    two = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, y)
    ens = EnsembleRegressor([one, two], [1, 2]).fit()
    np.testing.assert_allclose(ens.predict(X), (one.predict(X) + 2 * two.predict(X)) / 3)
    with pytest.raises(ValueError, match="one entry per member"):
        EnsembleRegressor([one, two], [1]).fit()


# ------------------------------------------------------------------ the loop
def _classification_table(seed: int = 3) -> pd.DataFrame:
    X, y = make_classification(
        n_samples=2000, n_features=12, n_informative=6, flip_y=0.08, random_state=seed
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["y"] = y
    return frame


def _regression_table(seed: int = 3) -> pd.DataFrame:
    X, y = make_regression(n_samples=2000, n_features=10, n_informative=6, noise=20.0,
                           random_state=seed)  # fmt: skip
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["y"] = y + 30 * np.sin(X[:, 0] * 2)  # a curve the linear family misses
    return frame


def _loop(frame: pd.DataFrame, metric: str, n_trials: int) -> Search:
    """A search with no threshold that stops after ``n_trials`` portfolio trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = problem_of(prepare_dataset(frame, "y", "auto", metric, None, 0), 0)
    hooks = Hooks(keep_going=lambda: len(loop.trials) < n_trials)
    loop = Search(problem, optuna.create_study(), Aim(problem.metric, None, 0.05),
                  candidates=FAMILIES, hooks=hooks)  # fmt: skip
    return loop


def test_the_loop_returns_an_ensemble_that_alone_passes_the_aim(monkeypatch) -> None:
    frame = _classification_table()
    first = _loop(frame, "log_loss", 3)
    assert first.run(time.monotonic() + 120) is None
    assert first.best is not None and first.best.candidate == "ensemble"
    ensemble = first.best
    singles = [t.score for t in first.trials if t.score is not None]
    assert ensemble.score < min(singles)  # log_loss: smaller is better
    assert ensemble.trial < -1 and len(ensemble.params["members"]) >= 2

    # the same trials again, aiming at the ensemble's score: only the ensemble passes
    again = _loop(frame, "log_loss", 3)
    metric = again.problem.metric
    monkeypatch.setattr(again.aim, "passed", lambda score, n: metric.meets(score, ensemble.score))
    passed = again.run(time.monotonic() + 120)
    assert passed is not None and passed.candidate == "ensemble"
    assert passed.score == pytest.approx(ensemble.score)
    assert len(again.book.study.trials) == len(again.trials)  # no trial for the ensemble


def test_ablated_ensemble_makes_none() -> None:
    with levers.ablated("ensemble"):
        loop = _loop(_classification_table(), "log_loss", 3)
        loop.run(time.monotonic() + 120)
    assert loop.best is not None and loop.best.candidate != "ensemble"
    assert loop.pool is None


@pytest.mark.parametrize(
    ("table", "metric"), [(_classification_table, "log_loss"), (_regression_table, "rmse")]
)
def test_a_chosen_ensemble_is_saved_reloaded_and_certified(
    table, metric: str, tmp_path: Path, store_url: str, monkeypatch
) -> None:
    # four trials, whatever the machine's load: a time budget alone made the ensemble's
    # members (and so whether it beat the best single model) depend on the machine's speed
    start = Search.__init__

    def four_trials(self: Search, *args, **kwargs) -> None:
        start(self, *args, **kwargs)
        self.hooks.keep_going = lambda: len(self.trials) < 4

    monkeypatch.setattr(Search, "__init__", four_trials)
    frame = table()
    out = tmp_path / "model.skops"
    result = learnloop.train(frame, "y", metric=metric, budget=120, out=out, store=store_url,
                             candidates=FAMILIES, n_jobs=1)  # fmt: skip
    assert len(result.trials) == 4
    assert result.best_candidate == "ensemble"
    assert set(result.best_params) == {"members", "weights"}
    numbers = {t.number for t in result.trials}
    assert set(result.best_params["members"]) <= numbers  # members are trials, not it
    assert all(t.candidate != "ensemble" for t in result.trials)

    loaded = load_model(out)
    assert loaded.metadata["candidate"] == "ensemble"
    inputs = frame.drop(columns="y").head(50)
    pd.testing.assert_frame_equal(loaded.predict(inputs), result.model.predict(inputs))

    # the certificate's score is the reloaded model's score on the test rows
    dataset = prepare_dataset(frame, "y", "auto", metric, None, 0)
    test = dataset.test
    pred = dataset.task.predict(loaded.pipeline, test.X, dataset.n_outputs)
    score = dataset.metric.score(test.y, pred, dataset.n_outputs)
    assert result.certificate is not None
    assert result.certificate.test_score == pytest.approx(score, rel=1e-9)

    shown = cli("runs", "show", result.run_id, "--store", store_url, "--json")
    assert shown.returncode == 0, shown.stderr
    run = json.loads(shown.stdout)
    assert all(t["candidate"] != "ensemble" for t in run["trials"])
