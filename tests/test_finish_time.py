"""The budget bounds the whole run: the search stops early enough to finish with its best model."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import optuna
import pandas as pd
from sklearn.datasets import make_regression

from learnloop.search import Aim, Hooks, Search
from learnloop.train import FINISH_FIXED_S, finish_seconds, prepare, problem_of


def _loop(n_rows: int = 1500, **hooks) -> Search:
    X, y = make_regression(n_samples=n_rows, n_features=8, noise=10.0, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(8)])
    frame["y"] = y
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = problem_of(prepare(frame, "y", "auto", "r2", None, 0), 0)
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
