"""The final pick keeps the task's first guess (KMeans at each k, EASE at Steck's penalty)
unless the best model beats it beyond the scored rows' noise (issue 26).

The rule is the task's (``Task.first_guess``), it pairs the two models' per-row scores on the
rows trials are scored on (never a test row), and its bar is tested by simulation: equally
good models rarely displace the first guess, a truly better one does.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from learnloop.families import CANDIDATES
from learnloop.metrics import Prediction, get_metric
from learnloop.runs.dataset import prepare_dataset
from learnloop.runs.train import problem_of
from learnloop.search.search import first_guess_key
from learnloop.search.selection import (
    first_guess_bar,
    paired_lead,
    prefer_first_guess,
)
from learnloop.search.trials import config_key
from learnloop.search.values import FittedModel
from learnloop.tasks import TASKS
from shop_events import shop_events


def test_each_task_says_its_first_guess() -> None:
    clustering, recommendation = TASKS["clustering"], TASKS["recommendation"]
    assert clustering.first_guess == ("kmeans_sweep", 1)
    assert CANDIDATES["kmeans_sweep"].portfolio(clustering.output, 100)[1] == {"n_init": 10}
    assert clustering.first_guess in clustering.portfolio_order  # it is tried, early
    assert recommendation.first_guess == ("ease", 0)
    assert CANDIDATES["ease"].portfolio(recommendation.output, 100)[0] == {"l2": 500.0}
    assert recommendation.first_guess in recommendation.portfolio_order
    for name in ("classification", "regression"):
        assert TASKS[name].first_guess is None  # the best validation score decides


def test_the_bar_widens_with_the_trials_compared() -> None:
    assert first_guess_bar(2.0, 1) == first_guess_bar(2.0, 7) == 2.0  # sqrt(2 ln 7) < 2
    assert first_guess_bar(2.0, 100) == pytest.approx(math.sqrt(2 * math.log(100)))
    assert first_guess_bar(2.0, 1000) > first_guess_bar(2.0, 100) > 3.0


def test_the_paired_lead_follows_the_metric_direction() -> None:
    first = np.array([0.1, 0.2, 0.3, np.nan])
    best = np.array([0.2, 0.2, 0.5, 0.4])
    lead, se = paired_lead(best, first)  # type: ignore[misc]
    assert lead == pytest.approx(0.1) and se == pytest.approx(
        np.std([0.1, 0, 0.2], ddof=1) / 3**0.5
    )
    assert paired_lead(best, first, greater_is_better=False)[0] == pytest.approx(-0.1)  # type: ignore[index]
    assert paired_lead(best[:1], first[:1]) is None


@pytest.mark.parametrize("trials", [20, 200])
def test_equally_good_models_rarely_displace_the_first_guess_by_simulation(trials: int) -> None:
    """``trials`` models as good as the first guess (per-row scores: a shared row effect plus
    each model's own noise) on 300 rows: the best of them by mean passes the bar in under a
    seventh of the simulations (one standard error: over half; the best mean: always);
    a model truly better by four standard errors passes it almost always."""
    rng = np.random.default_rng(0)
    rows, sims = 300, 200
    bar = first_guess_bar(2.0, trials)
    switched = one_se = gained = 0
    for _ in range(sims):
        shared = rng.normal(0.5, 0.2, rows)
        first = shared + rng.normal(0, 0.05, rows)
        others = shared + rng.normal(0, 0.05, (trials, rows))
        best = others[np.argmax(others.mean(axis=1))]
        lead, se = paired_lead(best, first)  # type: ignore[misc]
        switched += lead > bar * se
        one_se += lead > se  # a one-standard-error rule
        better = shared + rng.normal(0, 0.05, rows)
        better += 4 * 0.05 * math.sqrt(2 / rows)  # four paired standard errors better
        lead, se = paired_lead(better, first)  # type: ignore[misc]
        gained += lead > first_guess_bar(2.0, 1) * se
    assert switched / sims < 0.15, switched
    assert one_se / sims > 0.5, one_se  # the best of many leads by one SE by chance
    assert gained / sims > 0.9, gained


def _blobs() -> pd.DataFrame:
    X, _ = make_blobs(n_samples=400, centers=5, cluster_std=0.5, random_state=3)
    return pd.DataFrame(X, columns=["a", "b"])


def _kmeans_model(problem, trial: int, k: int, seed: int) -> FittedModel:  # type: ignore[no-untyped-def]
    pre = problem.task.preprocessor("cluster", problem.X_train)
    Z = pre.fit_transform(problem.X_train)
    model = KMeans(n_clusters=k, random_state=seed).fit(Z)
    score = get_metric("silhouette").score(
        problem.y_val, problem.task.predict(model, pre.transform(problem.X_val), 0)
    )
    return FittedModel(trial, "kmeans", {"n_clusters": k}, problem.n_train, pre, model, score)


def test_clustering_keeps_the_first_guess_within_noise_and_not_beyond() -> None:
    data = prepare_dataset(_blobs(), task="clustering", seed=0)
    problem = problem_of(data, 0)
    test_rows = {tuple(r) for r in np.round(data.test.y, 9)}
    # the rows the rule pairs scores on are the scored rows: none of them a test row
    assert not any(tuple(r) in test_rows for r in np.round(problem.y_val, 9))
    five = _kmeans_model(problem, 0, 5, seed=0)
    twin = _kmeans_model(problem, 9, 5, seed=1)  # the same five blobs, another start
    two = _kmeans_model(problem, 3, 2, seed=0)
    # another start of the same k is no better beyond noise: the first guess stays
    same = prefer_first_guess(problem, twin, five, compared=50)
    assert same is not None and same.model is five and same.kept_first
    assert same.to_dict()["kept_first_guess"] is True
    # five blobs against a two-cluster first guess: far beyond noise, the best is taken
    beyond = prefer_first_guess(problem, five, two, compared=50)
    assert beyond is not None and beyond.model is five and not beyond.kept_first
    assert beyond.gain > beyond.margin * beyond.se
    assert "Beyond the scored rows' noise" in beyond.describe(problem)
    # no rule where the best is the first guess itself, or the task names none
    assert prefer_first_guess(problem, five, five) is None
    assert prefer_first_guess(problem, five, None) is None


def test_recommendation_pairs_validation_users_only_and_row_scores_average_to_the_score() -> None:
    events = shop_events(n_users=200, n_items=80, events=(5, 25), seed=2)
    options = {"user": "user", "item": "item", "event": "event", "time": "time"}
    data = prepare_dataset(events, task="recommendation", options=options, seed=0)
    problem = problem_of(data, 0)
    # the scored users are the validation users, none of them a test user
    assert problem.scored_train_rows == 0
    assert list(problem.X_val["user"]) == list(data.validation.X["user"])
    assert not set(problem.X_val["user"]) & set(data.test.X["user"])
    task, metric = problem.task, problem.metric
    popular = task.baseline(problem.X_train, problem.y_train, 0)
    pred = task.predict(popular, problem.X_val, 10)
    rows = task.row_scores(metric, problem.y_val, pred)
    assert rows is not None and len(rows) == len(problem.y_val)
    assert rows.mean() == pytest.approx(metric.score(problem.y_val, pred))
    assert first_guess_key(problem) == config_key("ease", {"l2": 500.0}, 0)


def test_clustering_row_scores_average_to_the_silhouette() -> None:
    data = prepare_dataset(_blobs(), task="clustering", seed=0)
    problem = problem_of(data, 0)
    labels = Prediction(np.arange(len(problem.y_val)) % 3)
    rows = problem.task.row_scores(problem.metric, problem.y_val, labels)
    assert rows is not None
    assert rows.mean() == pytest.approx(problem.metric.score(problem.y_val, labels))
