"""The budget bounds the whole run: the search stops early enough to finish with its best model,
starts no trial that could not reach its first step in time, and a trial's monitor stops it
at the deadline. The planning is checked here with margins no machine's speed can cross
(seconds against thousands of seconds) or with the clock held still; the wall time itself
is measured by ``python -m bench.budget`` (bench/BUDGET_RESULTS.md), never in a test."""

from __future__ import annotations

import dataclasses
import math
import pickle
import time

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.datasets import make_regression

from learnloop.families import CANDIDATES
from learnloop.metrics import Prediction
from learnloop.runs.dataset import prepare_dataset
from learnloop.runs.train import FINISH_FIXED_S, SAVE_S_PER_MB, finish_seconds, problem_of
from learnloop.search import Aim, Hooks, Job, Search, TrialSpec, monitor
from learnloop.search.driver import expected_cost
from learnloop.search.fit import fit_configuration
from learnloop.search.trials import TrialRecord


def _loop(n_rows: int = 1500, **hooks) -> Search:
    X, y = make_regression(n_samples=n_rows, n_features=8, noise=10.0, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    frame["y"] = y
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = problem_of(prepare_dataset(frame, "y", "auto", "r2", None, 0), 0)
    return Search(problem, optuna.create_study(), Aim(problem.metric, None, 0.05),
                  candidates=["linear", "knn"], hooks=Hooks(**hooks))  # fmt: skip


def test_the_search_stops_by_the_time_finishing_needs() -> None:
    """With the finish said to take 1,000 s, a run given 120 s stops searching after the
    first model, 1,000 s before its deadline; told it takes nothing, it keeps the deadline."""
    asked: list[object] = []

    def long_finish(model: object) -> float:
        asked.append(model)
        return 1000.0

    loop = _loop(finish_seconds=long_finish)
    deadline = time.monotonic() + 120
    assert loop.run(deadline) is None
    assert len(loop.trials) == 1  # the first model's finish leaves no time for a second
    assert asked == [loop.best_model()]
    assert math.isclose(loop.deadline, deadline - 1000.0 - loop.reserve.ensemble_s)

    free = _loop(finish_seconds=lambda model: 0.0, keep_going=lambda: len(free.trials) < 3)
    free.run(deadline)
    assert len(free.trials) == 3
    assert deadline - 1.0 < free.deadline <= deadline  # less only the ensemble selections


def test_finish_time_counts_the_test_rows_to_predict() -> None:
    """The estimate is the fixed end plus the best model's time per row times the test rows:
    more test rows, a longer finish; never less than the fixed part."""
    loop = _loop(keep_going=lambda: len(loop.trials) < 1)
    loop.run(time.monotonic() + 60)
    model = loop.best_model()
    assert model is not None
    few = finish_seconds(model, loop.problem)
    many = finish_seconds(model, dataclasses.replace(loop.problem, n_test=10_000_000))
    assert FINISH_FIXED_S <= few < many
    assert np.isfinite(many)


def _seen(number: int, family: str, n_rows: int, first_step_s: float) -> TrialRecord:
    record = TrialRecord(number, family, {}, 0, n_rows, status="complete", score=0.5)
    record.first_step_s = first_step_s
    return record


def test_the_expected_cost_of_a_trial_comes_from_trials_like_it() -> None:
    """Its family's quickest first step on its rows; scaled by rows from a smaller sample;
    for a family not seen yet, the slowest first step of any family; for the sampler's
    choice, the costliest family; nothing known, nothing assumed."""
    search = _loop()
    n = search.problem.n_train
    linear, knn = CANDIDATES["linear"], CANDIDATES["knn"]
    assert expected_cost(search, Job(linear, {}, 0)) == 0.0  # the first trial starts
    search.trials += [_seen(0, "linear", n, 4.0), _seen(1, "linear", n, 3.0)]
    assert expected_cost(search, Job(linear, {}, 0)) == 3.0
    assert expected_cost(search, Job(knn, {}, 0)) == 4.0  # not seen: the slowest start
    search.trials.append(_seen(2, "knn", n // 4, 0.5))
    assert expected_cost(search, Job(knn, {}, 0)) == pytest.approx(0.5 * n / (n // 4))
    assert expected_cost(search, Job(None, None, 0)) == 3.0  # linear's, the costlier


def test_a_trial_that_could_not_reach_its_first_step_is_not_started() -> None:
    """Trials like the next one took 1,000 s to their first step: with a minute left the
    search starts none and ends at once; with a day left it starts them."""
    search = _loop(keep_going=lambda: len(search.trials) < 3)
    n = search.problem.n_train
    search.trials += [_seen(0, "linear", n, 1000.0), _seen(1, "knn", n, 1000.0)]
    assert search.run(time.monotonic() + 60) is None
    assert len(search.trials) == 2 and len(search.book.study.trials) == 0
    search.run(time.monotonic() + 86_400)
    assert len(search.trials) == 3 and len(search.book.study.trials) == 1


def _spec(problem, seconds_left: float) -> TrialSpec:
    return TrialSpec(0, "linear", {}, 0, problem.n_train, Aim(problem.metric, None, 0.05), 0,
                     seconds_left=seconds_left)  # fmt: skip


def test_the_monitor_stops_a_trial_at_the_deadline_and_before_a_step_that_would_pass_it(
    monkeypatch,
) -> None:
    """On a clock held still: a step is scored and the trial goes on; once the next step
    would end past the deadline (as long as the last one took), it stops with "budget";
    past the deadline it asks to see every step, so that a family stops at the next one."""
    problem = _loop().problem
    clock = [1000.0]
    monkeypatch.setattr(monitor.time, "monotonic", lambda: clock[0])
    record = TrialRecord(0, "linear", {}, 0, problem.n_train)
    watch = monitor.TrialMonitor(problem, _spec(problem, 10.0), record, (100, 1.0), bool)
    guess = Prediction(np.full(len(problem.y_val), float(np.mean(problem.y_val))))
    clock[0] += 1.0
    assert watch(1, guess) is True  # the first step: 1 s, 9 s left
    clock[0] += 4.0
    assert watch(2, guess) is True  # steps of 4 s: 5 s left, the next one fits
    clock[0] += 4.0
    assert watch(3, guess) is False  # 1 s left: the next 4-s step would not end in time
    assert record.stop_reason == "budget"
    assert not watch.wants(75)  # not a step the monitor scores, with time left ...
    clock[0] += 1.0
    assert watch.wants(75)  # ... but past the deadline every step is seen, to stop there


def test_finishing_counts_the_model_file_by_its_size() -> None:
    """A larger model is slower to write: the finish estimate holds the writer's seconds
    per MB of the model's pickled size, on top of its predictions and the fixed end."""
    search = _loop()
    params = {"max_features": 0.5, "min_samples_leaf": 1}
    model = fit_configuration(search.problem, "extra_trees", params, seconds=60).model
    assert model is not None
    size_mb = len(pickle.dumps((model.preprocessor, model.estimator), protocol=5)) / 1e6
    assert size_mb > 1  # a forest: megabytes
    assert finish_seconds(model, search.problem) >= FINISH_FIXED_S + SAVE_S_PER_MB * size_mb
