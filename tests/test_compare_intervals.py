"""``runs compare`` gives a 95% interval for every kind of metric, and the interval is as wide
as the score really varies.

For each kind a model is fixed and test splits are drawn from one generator: classes with
probabilities (roc_auc, log_loss), labels (accuracy), values (rmse), clusters (silhouette on
the inputs; adjusted Rand and NMI against known groups) and rankings (ndcg@10 per user). One
split's outcomes, built by the task itself as a run would build them, are stored in a real
SQLite store and compared; the interval must hold the score, and its width must match
2 x 1.96 standard deviations of the score over 60 fresh splits (within 0.7-1.45: the
silhouette's per-row values alone gave 0.65, roc_auc's labels alone gave no interval).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from learnloop.metrics import Prediction, get_metric
from learnloop.store import Store
from learnloop.store.experiments import compare_runs
from learnloop.tasks._base import Part
from learnloop.tasks.clustering import Clustering
from learnloop.tasks.recommendation import Recommendation
from learnloop.tasks.tabular import Classification, Regression

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bounds import population  # noqa: E402

N = 1000
SPLITS = 60
WEIGHTS = np.array([1.5, -1.0, 0.5, 0.0])

# a split drawn with ``rng``: how to build its outcomes (as a run does), and its score
Draw = Callable[[np.random.Generator], tuple[Callable[[], dict[str, Any]], float]]


def _frame(X: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])


def _classes(metric_name: str) -> Draw:
    rng0 = np.random.default_rng(0)
    X0 = rng0.normal(size=(3000, 4))
    model = LogisticRegression().fit(X0, rng0.random(3000) < 1 / (1 + np.exp(-X0 @ WEIGHTS)))
    metric = get_metric(metric_name)

    def draw(rng: np.random.Generator) -> tuple[Callable[[], dict[str, Any]], float]:
        X = rng.normal(size=(N, 4))
        y = (rng.random(N) < 1 / (1 + np.exp(-X @ WEIGHTS))).astype(int)
        proba = model.predict_proba(X)
        pred = Prediction(proba.argmax(axis=1), proba)
        score = metric.score(y, Prediction(pred.values, np.round(proba, 6)), 2)
        return lambda: Classification().outcomes(Part(_frame(X), y), pred), score

    return draw


def _values(_: str) -> Draw:
    metric = get_metric("rmse")

    def draw(rng: np.random.Generator) -> tuple[Callable[[], dict[str, Any]], float]:
        X = rng.normal(size=(N, 4))
        y = X @ WEIGHTS + rng.laplace(0.0, 1.0, N)  # heavier tails than normal
        pred = Prediction(X @ (WEIGHTS + 0.1))  # a model a little off the true line
        return lambda: Regression().outcomes(Part(_frame(X), y), pred), metric.score(y, pred)

    return draw


@functools.cache
def _population() -> Any:
    return population(6000)


def _clusters(metric_name: str) -> Draw:
    pop = _population()
    metric = get_metric(metric_name)

    def draw(rng: np.random.Generator) -> tuple[Callable[[], dict[str, Any]], float]:
        rows = pop.draw(N, rng)
        pred = Prediction(pop.clusters[rows])
        y = pop.X[rows] if metric.reference == "inputs" else pop.groups[rows]
        part = Part(_frame(pop.X[rows]), y)
        return lambda: Clustering().outcomes(part, pred), metric.score(y, pred)

    return draw


def _rankings(_: str) -> Draw:
    items = np.arange(200)
    popularity = 1.0 / (items + 3.0)
    popularity /= popularity.sum()
    metric = get_metric("ndcg@10")

    def draw(rng: np.random.Generator) -> tuple[Callable[[], dict[str, Any]], float]:
        keys = np.log(popularity) + rng.gumbel(size=(N, len(items)))  # Gumbel top-k: draws
        order = np.argsort(-keys, axis=1)  # without replacement, by popularity
        held = np.empty(N, dtype=object)
        held[:] = [order[u, :k] for u, k in enumerate(rng.integers(1, 6, N))]
        top = np.tile(items[:10], (N, 1))  # the most popular items, for everyone
        part = Part(pd.DataFrame({"user": [f"u{i}" for i in range(N)]}), held, "ndcg@10")
        pred = Prediction(top)
        return lambda: Recommendation().outcomes(part, pred), metric.score(held, pred)

    return draw


KINDS = [
    ("roc_auc", _classes),
    ("log_loss", _classes),
    ("accuracy", _classes),
    ("rmse", _values),
    ("silhouette", _clusters),
    ("adjusted_rand", _clusters),
    ("nmi", _clusters),
    ("ndcg@10", _rankings),
]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, dict, dict]:
    """A store holding one run per metric (its outcomes of one split), and per metric: the
    run id, the run's test score and the score's spread over fresh splits."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('store') / 'runs.db'}")
    ids, truths = {}, {}
    for name, kind in KINDS:
        draw = kind(name)
        rng = np.random.default_rng(1)
        spread = np.std([draw(rng)[1] for _ in range(SPLITS)], ddof=1)
        outcomes, score = draw(rng)
        run_id = store.create_run(task="t", metric=name, threshold=None, budget_s=1, seed=0,
                                  confidence=0.95, data="generated", fingerprint="f")  # fmt: skip
        store.finish_run(run_id, "met", outcomes=outcomes(), result={"test_score": score})
        ids[name], truths[name] = run_id, (score, float(spread))
    return store, ids, truths


@pytest.fixture(scope="module")
def compared(stored: tuple[Store, dict, dict]) -> dict[str, tuple[dict, float, float]]:
    """Per metric: the compared run's row, its test score, and the score's spread."""
    store, ids, truths = stored
    by_id = {r["run_id"]: r for r in compare_runs(store, list(ids.values()))["runs"]}
    return {name: (by_id[ids[name]], *truths[name]) for name in ids}


@pytest.mark.parametrize("name", [name for name, _ in KINDS])
def test_every_metric_kind_gets_an_interval_as_wide_as_the_score_varies(
    compared: dict[str, tuple[dict, float, float]], name: str
) -> None:
    row, score, spread = compared[name]
    interval = row["test_interval"]
    assert interval is not None, f"no interval for {name}"
    low, high = interval["low"], interval["high"]
    assert math.isfinite(low) and math.isfinite(high) and interval["confidence"] == 0.95
    assert low <= score <= high
    ratio = (high - low) / (2 * 1.96 * spread)
    assert 0.7 <= ratio <= 1.45, f"{name}: interval width / expected width = {ratio:.2f}"


def test_outcomes_without_what_the_metric_needs_get_no_interval(tmp_path: Path) -> None:
    """A run stored before probabilities or pseudo-values were kept: no interval, not a
    wrong one (labels alone cannot give an AUC; per-row silhouettes alone are too narrow)."""
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    labels = {"split": "s", "kind": "labels", "y": [0, 1] * 50, "pred": [0, 1, 1, 0] * 25}
    scores = {"split": "s", "kind": "scores", "y": [], "pred": [0, 1] * 50,
              "scores": list(np.linspace(-0.2, 0.8, 100))}  # fmt: skip
    ids = []
    for metric, outcomes in [("roc_auc", labels), ("silhouette", scores), ("accuracy", labels)]:
        run_id = store.create_run(task="t", metric=metric, threshold=None, budget_s=1, seed=0,
                                  confidence=0.95, data="d", fingerprint="f")  # fmt: skip
        store.finish_run(run_id, "met", outcomes=outcomes, result={})
        ids.append(run_id)
    rows = compare_runs(store, ids)["runs"]
    assert [r["test_interval"] is None for r in rows] == [True, True, False]


def test_the_compare_report_shows_every_interval(stored: tuple[Store, dict, dict]) -> None:
    from learnloop.report._compare import compare_document
    from learnloop.report._markdown import render_markdown

    store, ids, _ = stored
    text = render_markdown(compare_document(store, list(ids.values())))
    row = next(line for line in text.splitlines() if "95% test interval" in line)
    cells = [c.strip().replace("\\", "") for c in row.strip("|").split("|")][1:]  # md escapes
    assert len(cells) == len(ids) and all(c.startswith("[") for c in cells), row
