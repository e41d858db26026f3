"""The contract every candidate family follows (candidates/_base.py), for each task it serves.

Each registered family is fitted on a small real table of every task it declares, under a
recording monitor: it must train step by step, stop when the monitor says so, keep no
state between fits, be deterministic for a seed and return an estimator the task can
predict with.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import optuna
import pytest
from sklearn.datasets import load_diabetes, load_iris, load_wine

from learnloop.candidates import CANDIDATES, Candidate, FitContext
from learnloop.features import categorical_indices
from learnloop.metrics import Prediction
from learnloop.tasks import TASKS

PAIRS = [(name, task) for name, cand in CANDIDATES.items() for task in cand.tasks]


def _data(task: str, kind: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, int, list]:
    if task == "classification":
        frame, y = load_iris(as_frame=True, return_X_y=True)
        n_out = 3
    elif task == "regression":
        frame, y = load_diabetes(as_frame=True, return_X_y=True)
        n_out = 0
    elif task == "recommendation":
        return _interactions(kind)
    elif task in ("image", "faces"):  # pictures: a table of picture paths
        import picture_data

        table, options = picture_data.example_frame(task)
        frame = table[["picture"]]
        classes, y = np.unique(table[options["target"]], return_inverse=True)
        n_out = len(classes)
    else:
        frame, _ = load_wine(as_frame=True, return_X_y=True)
        y, n_out = None, 0
    rng = np.random.default_rng(0)
    order = rng.permutation(len(frame))
    train, val = order[: int(0.7 * len(order))], order[int(0.7 * len(order)) :]
    pre = TASKS[task].preprocessor(kind, frame.iloc[train])
    X = pre.fit_transform(frame.iloc[train])
    X_val = pre.transform(frame.iloc[val])
    y_train = None if y is None else np.asarray(y)[train]
    return X, y_train, X_val, n_out, categorical_indices(kind, frame)


def _interactions(kind: str) -> tuple[Any, np.ndarray, np.ndarray, int, list]:
    """Shop events split by the task: training interactions, validation users' indices."""
    from learnloop.dataset import prepare_dataset
    from shop_events import shop_events

    options = {"user": "user", "item": "item", "event": "event", "time": "time"}
    data = prepare_dataset(
        shop_events(n_users=150, n_items=60), task="recommendation", options=options
    )
    pre = TASKS["recommendation"].preprocessor(kind, data.train.X)
    X = pre.fit_transform(data.train.X)
    X_val = pre.transform(data.validation.X)
    return X, data.train.y, X_val, data.n_outputs, []


class RecordingMonitor:
    """Accepts every step until ``stop_after`` calls, and remembers what it was shown."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after = stop_after
        self.steps: list[int] = []
        self.predictions: list[Prediction] = []

    def wants(self, step: int) -> bool:
        return True

    def __call__(self, step: int, prediction: Prediction) -> bool:
        self.steps.append(step)
        self.predictions.append(prediction)
        return self.stop_after is None or len(self.steps) < self.stop_after

    @property
    def best_step(self) -> int:
        return self.steps[-1] if self.steps else 0

    def seconds_left(self) -> float:
        return 60.0


def _fit(
    cand: Candidate, task: str, params: dict[str, Any], monitor: RecordingMonitor, seed: int = 0
) -> tuple[Any, np.ndarray, int]:
    X, y, X_val, n_out, cat = _data(task, cand.preprocessing)
    kind = TASKS[task]
    ctx = FitContext(
        task,
        n_out,
        seed,
        1,
        cat,
        monitor,
        predict=lambda est, rows: kind.predict(est, rows, n_out),
    )
    return cand.fit(params, X, y, X_val, ctx), X_val, n_out


@pytest.fixture(params=PAIRS, ids=[f"{n}-{t}" for n, t in PAIRS])
def pair(request: pytest.FixtureRequest) -> tuple[Candidate, str]:
    name, task = request.param
    return CANDIDATES[name], task


def test_declares_what_the_loop_reads(pair: tuple[Candidate, str]) -> None:
    cand, task = pair
    assert task in TASKS
    assert cand.preprocessing in ("tree", "dense", "cluster", *TASKS[task].feature_kinds)
    minimum, fraction = cand.patience
    assert isinstance(minimum, int) and minimum >= 0 and 0.0 <= fraction
    assert cand.max_rows is None or cand.max_rows > 0


def test_portfolio_and_search_space(pair: tuple[Candidate, str]) -> None:
    cand, task = pair
    configs = cand.portfolio(task, 500)
    assert configs and all(isinstance(c, dict) and c for c in configs)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = cand.search_space(trial, task, 500)
    assert params and set(trial.params) == {cand.key(k) for k in params}
    assert cand.strip(trial.params) == params
    assert set(params) >= set(configs[0]) or set(configs[0]) >= set(params)


def test_trains_step_by_step_and_predicts(pair: tuple[Candidate, str]) -> None:
    cand, task = pair
    before = copy.deepcopy(vars(cand))
    monitor = RecordingMonitor()
    estimator, X_val, n_out = _fit(cand, task, cand.portfolio(task, 500)[0], monitor)
    assert monitor.steps and monitor.steps[0] >= 1
    assert monitor.steps == sorted(set(monitor.steps))  # steps only go forward
    for pred in monitor.predictions:
        assert len(pred.values) == len(X_val)
    final = TASKS[task].predict(estimator, X_val, n_out)
    assert len(final.values) == len(X_val)
    assert np.all(np.isfinite(np.asarray(final.values, dtype=float)))
    assert vars(cand) == before  # families are stateless


def test_stops_when_the_monitor_says_so(pair: tuple[Candidate, str]) -> None:
    cand, task = pair
    free = RecordingMonitor()
    _fit(cand, task, cand.portfolio(task, 500)[0], free)
    stopped = RecordingMonitor(stop_after=1)
    _fit(cand, task, cand.portfolio(task, 500)[0], stopped)
    assert len(stopped.steps) == 1
    assert stopped.steps[0] == free.steps[0]


def test_same_seed_same_model(pair: tuple[Candidate, str]) -> None:
    cand, task = pair
    params = cand.portfolio(task, 500)[0]
    fits = [_fit(cand, task, params, RecordingMonitor(), seed=5) for _ in range(2)]
    (a, X_val, n_out), (b, _, _) = fits
    pa = TASKS[task].predict(a, X_val, n_out)
    pb = TASKS[task].predict(b, X_val, n_out)
    assert np.allclose(np.asarray(pa.values, float), np.asarray(pb.values, float))
    if pa.proba is not None:
        assert pb.proba is not None and np.allclose(pa.proba, pb.proba)


def test_needs_targets_only_where_it_learns_from_them(pair: tuple[Candidate, str]) -> None:
    cand, task = pair
    if not TASKS[task].supervised:
        pytest.skip("an unsupervised family is fitted without targets in every other check")
    X, _, X_val, n_out, cat = _data(task, cand.preprocessing)
    ctx = FitContext(task, n_out, 0, 1, cat, RecordingMonitor())
    with pytest.raises(ValueError, match="learns from a target"):
        cand.fit(cand.portfolio(task, 500)[0], X, None, X_val, ctx)
