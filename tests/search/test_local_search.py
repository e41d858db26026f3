"""The local search between the portfolio and the sampler: inside the space, follows a gain,
shrinks on a stall, hands over, never repeats, rebuilds from the trials, switchable off."""

import math

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.datasets import make_classification

import learnloop
from learnloop.core import Output, levers
from learnloop.families import CANDIDATES, families_for
from learnloop.metrics import get_metric
from learnloop.search.local_search import LocalSearch, numeric_space
from learnloop.search.schedule import Schedule
from learnloop.search.trials import StudyBook, TrialRecord, config_key
from learnloop.search.values import Job
from learnloop.tasks import get_task

N_ROWS = 1000
CLS = Output.CLASSES
TABULAR = [
    (task.output, cand.name)
    for task in (get_task("classification"), get_task("regression"))
    for cand in families_for(task)
]


def record(number: int, cand: str, params: dict, score: float | None, steps: int = 20):
    status = "complete" if score is not None else "failed"
    return TrialRecord(number, cand, dict(params), 0, N_ROWS, status, score, steps, steps)


def stall(task: Output, cand: str, params: dict, limit: int = 200) -> list:
    """Proposals around ``params`` when every move is worse, until the search hands over."""
    metric = get_metric("accuracy" if task is CLS else "r2")
    search = LocalSearch(task, N_ROWS)
    trials = [record(0, cand, params, 0.5)]
    proposals = []
    for i in range(1, limit):
        move = search.propose(trials, metric, set())
        if move is None:
            return proposals
        proposals.append(move[1])
        trials.append(record(i, cand, move[1], 0.4 if i % 3 else None))  # worse, or failed
    raise AssertionError(f"no hand-over after {limit} moves")


def unit(task: Output, cand: str, params: dict) -> np.ndarray:
    dims = numeric_space(CANDIDATES[cand], params, task, N_ROWS)
    return np.array([d.to_unit(params[d.name]) for d in dims])


@pytest.mark.parametrize(("task", "cand"), TABULAR)
def test_proposals_stay_inside_the_family_search_space(task: Output, cand: str) -> None:
    family = CANDIDATES[cand]
    start = family.portfolio(task, N_ROWS)[0]
    proposals = stall(task, cand, start)
    assert proposals
    keys = [config_key(cand, p, 0) for p in proposals] + [config_key(cand, start, 0)]
    assert len(set(keys)) == len(keys)  # never the same configuration twice
    for params in proposals:
        fixed = optuna.trial.FixedTrial({family.key(k): v for k, v in params.items()})
        family.search_space(fixed, task, N_ROWS)
        for name, dist in fixed.distributions.items():
            value = params[name[len(cand) + 1 :]]
            assert dist._contains(dist.to_internal_repr(value)), (name, value, dist)
    # enqueued through the study, the family's space re-suggests exactly the proposal
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    book = StudyBook(study, "test")
    for params in proposals[:3]:
        _, chosen, sampled = book.ask([family], (family, params), 0, None, task, N_ROWS)
        assert chosen is family and sampled == params


def test_a_gain_is_followed_the_same_way_with_the_same_step() -> None:
    metric = get_metric("accuracy")
    search = LocalSearch(CLS, N_ROWS)
    middle = {
        "learning_rate": 0.05,
        "num_leaves": 32,
        "min_child_samples": 15,
        "feature_fraction": 0.7,
        "bagging_fraction": 0.75,
        "lambda_l2": 0.1,
    }
    trials = [record(0, "lightgbm", middle, 0.80)]
    _, first = search.propose(trials, metric, set())
    trials.append(record(1, "lightgbm", first, 0.85))  # it paid
    _, second = search.propose(trials, metric, set())
    x0, x1, x2 = (unit(CLS, "lightgbm", p) for p in (middle, first, second))
    floats = [0, 3, 4, 5]  # learning_rate, feature_fraction, bagging_fraction, lambda_l2
    assert np.allclose((x2 - x1)[floats], (x1 - x0)[floats], atol=1e-4)
    trials.append(record(2, "lightgbm", second, 0.86))  # and again
    _, third = search.propose(trials, metric, set())
    x3 = unit(CLS, "lightgbm", third)
    assert np.allclose((x3 - x2)[floats], (x2 - x1)[floats], atol=1e-4)


def test_a_stall_shrinks_the_step_and_hands_over_to_the_sampler() -> None:
    start = CANDIDATES["mlp"].portfolio(CLS, N_ROWS)[0]
    proposals = stall(CLS, "mlp", start)
    x0 = unit(CLS, "mlp", start)
    sizes = [float(np.linalg.norm(unit(CLS, "mlp", p) - x0)) for p in proposals]
    assert 8 <= len(sizes) <= 40
    quarter = len(sizes) // 4
    assert np.mean(sizes[-quarter:]) < 0.6 * np.mean(sizes[:quarter])
    # handed over: the schedule now lets the sampler choose
    schedule = Schedule(get_task("classification"), [CANDIDATES["mlp"]], N_ROWS)
    schedule.queue.clear()
    trials = [record(0, "mlp", start, 0.5)] + [
        record(i + 1, "mlp", p, 0.4) for i, p in enumerate(proposals)
    ]
    assert schedule.next_job(trials, get_metric("accuracy")).sampled


def test_state_is_rebuilt_from_the_trials_and_taken_configurations_are_skipped() -> None:
    metric = get_metric("accuracy")
    start = CANDIDATES["extra_trees"].portfolio(CLS, N_ROWS)[0]
    trials = [record(0, "extra_trees", start, 0.9), record(1, "linear", {"C": 1.0}, 0.8)]
    a = LocalSearch(CLS, N_ROWS).propose(trials, metric, set())
    b = LocalSearch(CLS, N_ROWS).propose(list(trials), metric, set())
    assert a is not None and b is not None and a[1] == b[1]  # a resumed run proposes the same
    c = LocalSearch(CLS, N_ROWS).propose(trials, metric, {config_key("extra_trees", a[1], 0)})
    assert c is not None and c[1] != a[1]


def test_one_step_fits_are_left_to_the_sampler() -> None:
    metric = get_metric("accuracy")
    knn = record(0, "knn", {"n_neighbors": 15, "weights": "distance"}, 0.9, steps=1)
    assert LocalSearch(CLS, N_ROWS).propose([knn], metric, set()) is None


def test_without_the_lever_the_sampler_follows_the_portfolio() -> None:
    task, metric = get_task("classification"), get_metric("accuracy")
    families = [CANDIDATES[n] for n in ("lightgbm", "linear")]
    schedule = Schedule(task, families, N_ROWS)
    trials = []
    while True:
        job = schedule.next_job(trials, metric)
        if job.candidate is None or len(trials) >= len(task.portfolio_order):
            break
        trials.append(record(len(trials), job.candidate.name, job.params, 0.5 + 0.01 * len(trials)))
    assert schedule.queue == []
    with levers.ablated("local"):
        assert schedule.next_job(trials, metric) == Job(None, None, 0)
    job = schedule.next_job(trials, metric)
    assert job.candidate is not None and job.candidate.name == trials[-1].candidate
    assert job.rung == 0 and job.source is None


def test_train_runs_local_moves_past_the_portfolio(store_url: str) -> None:
    X, y = make_classification(
        n_samples=2000, n_features=12, n_informative=6, flip_y=0.03, random_state=5
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(12)]).assign(y=y)
    result = learnloop.train(
        frame,
        target="y",
        threshold=0.999,  # beyond the portfolio (and any model): runs to the budget
        budget=12,
        out=None,
        store=store_url,
        candidates=["lightgbm"],
        n_jobs=1,
    )
    trials = result.trials
    n_portfolio = len(CANDIDATES["lightgbm"].portfolio(CLS, 2000))
    assert len(trials) > n_portfolio + 2
    metric = get_metric("accuracy")
    search = LocalSearch(CLS, result.trials[0].n_rows)
    for k in range(n_portfolio, n_portfolio + 3):  # the trials after the portfolio are local moves
        move = search.propose(trials[:k], metric, set())
        assert move is not None and move[1] == pytest.approx(trials[k].params)
    portfolio_best = max(t.score for t in trials[:n_portfolio] if t.score is not None)
    assert result.status == "met" or result.validation_score > portfolio_best
    assert math.isfinite(result.validation_score)
