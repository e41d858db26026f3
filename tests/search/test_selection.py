"""Small data: the test split sized to rest a bound on enough rows, and the model looked at
chosen by cross-validation where the validation split is tiny (issue 22, item 4).

The choice never reads the test split; the look policy spends the same alpha whatever chose
the model, so the false-"met" simulations of the look policy cover it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.metrics import adjusted_rand_score

from learnloop.certify import split_share_for
from learnloop.core.levers import ablated
from learnloop.metrics import get_metric
from learnloop.runs.dataset import prepare_dataset
from learnloop.runs.train import problem_of
from learnloop.search.selection import (
    FOLDS,
    TINY_VALIDATION_ROWS,
    finalists,
    fold_score,
    pick,
    validation_is_tiny,
)
from learnloop.search.trials import TrialRecord
from learnloop.search.values import FittedModel
from learnloop.store.model_files import load_model


@pytest.fixture(autouse=True)
def _cv_select_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lever is off by default (it did not pay on the benchmark); these tests turn it on."""
    monkeypatch.setenv("LEARNLOOP_ENABLE", "cv_select")


def _wine() -> pd.DataFrame:
    return load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})


def _kmeans(number: int, k: int, validation_score: float, steps: int = 50) -> TrialRecord:
    record = TrialRecord(number, "kmeans", {"n_clusters": k}, 0, 10_000)
    record.status, record.score, record.steps, record.best_step = (
        "complete",
        validation_score,
        steps,
        steps,
    )
    return record


@pytest.mark.parametrize(
    ("metric", "threshold", "rows", "share"),
    [
        ("silhouette", None, 178, 0.35),  # 62 test rows, not 36
        ("silhouette", 0.2, 400, 0.25),  # 100 test rows
        ("r2", None, 10_000, 0.2),  # enough rows: a fifth
        ("roc_auc", 0.8, 150, 0.35),
        ("accuracy", None, 178, 0.2),  # a proportion's share follows its threshold
    ],
)
def test_test_split_rests_the_bound_on_enough_rows(
    metric: str, threshold: float | None, rows: int, share: float
) -> None:
    assert split_share_for(get_metric(metric), threshold, rows) == share


def test_wine_is_split_with_62_test_rows_and_a_tiny_validation_split() -> None:
    dataset = prepare_dataset(_wine(), labels="cultivar", task="clustering")
    assert dataset.sizes["test"] == 62
    assert any("62 rows" in note for note in dataset.notes)
    problem = problem_of(dataset, 0)
    assert len(problem.y_val) < TINY_VALIDATION_ROWS
    assert validation_is_tiny(problem)
    with ablated("cv_select"):
        assert not validation_is_tiny(problem)


def test_finalists_are_distinct_complete_configurations_on_all_rows_best_first() -> None:
    problem = problem_of(prepare_dataset(_wine(), labels="cultivar", task="clustering"), 0)
    sample = _kmeans(5, 4, 0.99)
    sample.n_rows = 20  # trained on a sample: not a finalist
    pruned = _kmeans(6, 5, 0.98)
    pruned.status = "pruned"
    trials = [_kmeans(1, 3, 0.7), _kmeans(2, 8, 0.9), _kmeans(3, 3, 0.8), sample, pruned]
    chosen = finalists(problem, trials, count=5)
    assert [t.number for t in chosen] == [2, 3]  # trial 1 repeats trial 3's configuration


def test_cross_validation_overrules_a_lucky_validation_score() -> None:
    """Eight clusters look best on the 36 validation rows (as told), three by 5-fold
    cross-validation over the 116 training + validation rows: three is looked at."""
    problem = problem_of(prepare_dataset(_wine(), labels="cultivar", task="clustering"), 0)
    lucky, right = _kmeans(1, 8, 0.99), _kmeans(2, 3, 0.5)
    incumbent = FittedModel(1, "kmeans", {"n_clusters": 8}, problem.n_train, None, None, 0.99)
    chosen = pick(problem, [lucky, right], incumbent, 1, time.monotonic() + 60)
    assert chosen is not None
    assert [s.trial for s in chosen.scores] == [2, 1]
    three, eight = chosen.scores
    assert three.folds == FOLDS and three.score > eight.score + 3 * max(three.se, eight.se)
    model = chosen.model
    assert model.trial == 2 and model.n_rows == problem.n_train and model.score == 0.5
    # the chosen model is fitted as its trial was: three clusters found on the training rows
    labels = model.estimator.predict(model.preprocessor.transform(problem.X_val))
    assert len(np.unique(labels)) == 3
    assert adjusted_rand_score(problem.y_val, labels) > 0.5
    assert "cross-validation" in chosen.describe(problem)


def test_fold_scores_are_per_fold_means() -> None:
    """Clusters are numbered apart in each fold: the folds are scored one by one; pooled
    out-of-fold labels would score a good k-means near zero."""
    problem = problem_of(prepare_dataset(_wine(), labels="cultivar", task="clustering"), 0)
    result = fold_score(problem, _kmeans(1, 3, 0.9), 1, time.monotonic() + 60)
    assert result is not None and 0.6 < result.score <= 1.0 and result.se > 0


def test_a_large_validation_split_chooses_by_itself() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(1500, 3)), columns=["a", "b", "c"])
    problem = problem_of(prepare_dataset(frame, task="clustering"), 0)
    assert not validation_is_tiny(problem)
    model = FittedModel(1, "kmeans", {"n_clusters": 3}, problem.n_train, None, None, 0.3)
    assert pick(problem, [_kmeans(1, 3, 0.3)], model, 1, time.monotonic() + 60) is None


@pytest.mark.slow
def test_a_small_run_says_and_records_how_it_chose(tmp_path) -> None:
    # with known groups: clustering by silhouette scores trials on more rows than the validation
    # split (Task.scored_part), so its validation is never tiny
    path = tmp_path / "wine.csv"
    _wine().to_csv(path, index=False)
    out = tmp_path / "model.skops"
    done = subprocess.run(
        [sys.executable, "-m", "learnloop", "train", str(path), "--labels", "cultivar"]
        + ["--budget", "12", "--json", "--out", str(out)]
        + ["--store", f"sqlite:///{tmp_path}/runs.db"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode in (0, 3), done.stderr
    result = json.loads(done.stdout)
    assert result["splits"]["test"] == 62
    assert "fold cross-validation over" in done.stderr
    selection = load_model(out).metadata["selection"]
    assert selection["by"] == "cross_validation" and selection["finalists"]
    best = selection["finalists"][0]
    # ranked by the folds' mean and the model's own validation score, weighed by their rows
    # (116 training + validation rows, 36 validation rows)
    for f in selection["finalists"]:
        weighed = (116 * f["cross_validated_score"] + 36 * f["validation_score"]) / 152
        assert f["estimate"] == pytest.approx(weighed)
    assert all(best["estimate"] >= f["estimate"] for f in selection["finalists"])
    assert result["validation_score"] == pytest.approx(best["validation_score"])
