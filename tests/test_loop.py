"""The scheduler: stops at the threshold, runs to the budget without one, is reproducible."""

import pandas as pd
import pytest

import learnloop
from learnloop.loop import MIN_RUNG_ROWS, rung_sizes


def test_easy_threshold_stops_early_and_is_certified(cancer: pd.DataFrame, store_url: str) -> None:
    result = learnloop.train(
        cancer, target="target", threshold=0.85, budget=60, out=None, store=store_url
    )
    assert result.status == "met"
    assert result.certificate is not None and result.certificate.met
    assert result.test_bound >= 0.85
    assert result.elapsed_s < 30  # stopped at the threshold, far before the budget
    assert result.trials[-1].stop_reason == "target"
    assert result.time_to_threshold_s is not None and result.time_to_threshold_s <= result.elapsed_s
    assert result.baseline_score < result.test_score


def test_unreachable_threshold_runs_to_the_budget(diabetes: pd.DataFrame, store_url: str) -> None:
    result = learnloop.train(
        diabetes, target="target", metric="r2", threshold=0.99, budget=6, out=None, store=store_url
    )
    assert result.status == "not_met"
    assert result.elapsed_s >= 5
    assert result.test_score is not None and result.test_score < 0.99
    assert len(result.trials) >= 2


def test_no_threshold_returns_the_best_of_the_budget(iris: pd.DataFrame, store_url: str) -> None:
    result = learnloop.train(iris, target="target", budget=4, out=None, store=store_url)
    assert result.status == "met" and result.threshold is None
    best = max(t.score for t in result.trials if t.score is not None)
    assert result.validation_score == best
    assert set(result.predict(iris.drop(columns="target"))["prediction"]) <= set(iris["target"])


def test_same_seed_same_result(cancer: pd.DataFrame, tmp_path) -> None:
    runs = [
        learnloop.train(
            cancer,
            target="target",
            threshold=0.9,
            budget=60,
            out=None,
            store=str(tmp_path / f"s{i}.db"),
            seed=7,
        )
        for i in range(2)
    ]
    a, b = (r.to_dict() for r in runs)
    for key in ("validation_score", "test_score", "test_bound", "best_candidate", "best_params"):
        assert a[key] == b[key]
    assert [t.params for t in runs[0].trials] == [t.params for t in runs[1].trials]


def test_regression_threshold_reads_as_at_most(diabetes: pd.DataFrame, store_url: str) -> None:
    result = learnloop.train(
        diabetes,
        target="target",
        metric="rmse",
        threshold=80.0,
        budget=30,
        out=None,
        store=store_url,
    )
    assert result.status == "met"
    assert result.test_bound <= 80.0 and result.test_score <= result.test_bound


def test_each_candidate_family_trains(mixed: pd.DataFrame, store_url: str) -> None:
    from learnloop.candidates import CANDIDATES

    for name in [n for n, c in CANDIDATES.items() if "classification" in c.tasks]:
        result = learnloop.train(
            mixed, target="churned", budget=3, out=None, store=store_url, candidates=[name]
        )
        complete = [t for t in result.trials if t.status == "complete"]
        assert complete, name
        assert all(t.candidate == name for t in result.trials)
        assert complete[0].curve, name  # the monitor saw its learning curve
        assert result.test_score > result.baseline_score - 0.05, name


def test_rungs_grow_to_the_full_table() -> None:
    assert rung_sizes(5000) == [5000]
    sizes = rung_sizes(300_000)
    assert sizes[0] == MIN_RUNG_ROWS and sizes[-1] == 300_000
    assert all(b > a for a, b in zip(sizes, sizes[1:], strict=False))


def test_large_table_starts_on_a_subsample(store_url: str) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    n = 60_000
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(0, 0.5, n) > 0).astype(int)
    frame = pd.DataFrame(X, columns=list("abcde")).assign(y=y)
    result = learnloop.train(frame, target="y", threshold=0.8, budget=60, out=None, store=store_url)
    assert result.trials[0].n_rows == MIN_RUNG_ROWS
    assert result.status == "met"


@pytest.mark.parametrize("budget", [0, -1, float("nan")])
def test_bad_budget(cancer: pd.DataFrame, budget: float, store_url: str) -> None:
    with pytest.raises(learnloop.exceptions.UsageError, match="budget"):
        learnloop.train(cancer, target="target", budget=budget, store=store_url)


def test_median_stopping_prunes_trials_behind_their_peers(
    diabetes: pd.DataFrame, store_url: str
) -> None:
    result = learnloop.train(
        diabetes, target="target", budget=8, out=None, store=store_url, candidates=["lightgbm"]
    )
    pruned = [t for t in result.trials if t.status == "pruned"]
    assert pruned, [t.stop_reason for t in result.trials]
    for t in pruned:
        assert t.stop_reason == "behind"
        assert len(result.trials[: t.number]) >= 4  # only once enough peers had finished
    import optuna

    study = optuna.load_study(study_name=result.run_id, storage=f"sqlite:///{store_url}")
    states = {t.number: t.state.name for t in study.trials}
    assert all(states[t.number] == "PRUNED" for t in pruned)
