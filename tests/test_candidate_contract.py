"""The contract every model family follows (candidates/_base.py), checked by capability.

As scikit-learn's ``_yield_all_checks`` chooses an estimator's checks by what it is (a
classifier, a clusterer, ...), :func:`_yield_checks` chooses a family's checks by what it
produces: every family is fitted on the example of every task it serves (``serves``: it
produces the task's output from features the task builds) under a recording monitor, and
runs the shared checks (trains step by step, stops when told, keeps no state, is
deterministic for a seed) and the checks of that output (classes with probabilities,
values, clusters, rankings). A new family is registered and gets the whole suite; a new
kind of output adds its checks to ``OUTPUT_CHECKS``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import numpy as np
import optuna
import pytest

from learnloop.core import Output, Prediction
from learnloop.data.features import categorical_indices
from learnloop.families import CANDIDATES, Candidate, FitContext, families_for
from learnloop.tasks import TASKS, Task
from task_examples import prepared

Check = Callable[[Candidate, Task], None]
STEPS = 20  # the steps a check lets a family train (a real monitor stops it long before 300)


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


@cache
def _data(task_name: str, kind: str) -> tuple[Any, Any, Any, int, list[int]]:
    """The task's example encoded for ``kind``: X, y (as the loop passes it), X_val, outputs,
    categorical columns."""
    data, task = prepared(task_name), TASKS[task_name]
    pre = task.preprocessor(kind, data.train.X)
    X = pre.fit_transform(data.train.X)
    X_val = pre.transform(data.validation.X)
    return X, data.train.y, X_val, data.n_outputs, categorical_indices(kind, data.train.X)


def _fit(
    cand: Candidate,
    task: Task,
    monitor: RecordingMonitor,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    targets: bool = True,
) -> Any:
    X, y, X_val, n_out, cat = _data(task.name, cand.preprocessing)
    ctx = FitContext(
        task.output,
        n_out,
        seed,
        1,
        cat,
        monitor,
        predict=lambda est, rows: task.predict(est, rows, n_out),
    )
    config = params if params is not None else cand.portfolio(task.output, 500)[0]
    return cand.fit(config, X, y if targets else None, X_val, ctx)


@cache
def _fitted(name: str, task_name: str) -> tuple[Any, RecordingMonitor, Prediction]:
    """One fit of the family's first configuration (shared by the checks; read-only)."""
    cand, task = CANDIDATES[name], TASKS[task_name]
    monitor = RecordingMonitor(stop_after=STEPS)
    estimator = _fit(cand, task, monitor)
    _, _, X_val, n_out, _ = _data(task_name, cand.preprocessing)
    return estimator, monitor, task.predict(estimator, X_val, n_out)


# ------------------------------------------------------------------ every family
def check_declares_what_the_loop_reads(cand: Candidate, task: Task) -> None:
    assert task.output in cand.produces and cand.preprocessing in task.feature_kinds
    minimum, fraction = cand.patience
    assert isinstance(minimum, int) and minimum >= 0 and 0.0 <= fraction
    assert cand.max_rows is None or cand.max_rows > 0


def check_portfolio_and_search_space(cand: Candidate, task: Task) -> None:
    configs = cand.portfolio(task.output, 500)
    assert configs and all(isinstance(c, dict) and c for c in configs)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = cand.search_space(trial, task.output, 500)
    assert params and set(trial.params) == {cand.key(k) for k in params}
    assert cand.strip(trial.params) == params
    assert set(params) >= set(configs[0]) or set(configs[0]) >= set(params)


def check_trains_step_by_step_and_predicts(cand: Candidate, task: Task) -> None:
    _, _, X_val, _, _ = _data(task.name, cand.preprocessing)
    _, monitor, final = _fitted(cand.name, task.name)
    assert monitor.steps and monitor.steps[0] >= 1
    assert monitor.steps == sorted(set(monitor.steps))  # steps only go forward
    for pred in monitor.predictions:
        assert len(pred.values) == len(X_val)
    assert len(final.values) == len(X_val)


def check_stops_when_the_monitor_says_so(cand: Candidate, task: Task) -> None:
    _, free, _ = _fitted(cand.name, task.name)
    X = _data(task.name, cand.preprocessing)[0]
    before, X_before = copy.deepcopy(vars(cand)), copy.deepcopy(X)
    stopped = RecordingMonitor(stop_after=1)
    _fit(cand, task, stopped)
    assert len(stopped.steps) == 1
    assert stopped.steps[0] == free.steps[0]
    assert vars(cand) == before  # families are stateless
    if isinstance(X, np.ndarray):
        assert np.array_equal(X, X_before, equal_nan=True)  # and never write into their inputs


def check_same_seed_same_model(cand: Candidate, task: Task) -> None:
    _, _, X_val, n_out, _ = _data(task.name, cand.preprocessing)
    a = _fitted(cand.name, task.name)[2]
    b = task.predict(_fit(cand, task, RecordingMonitor(stop_after=STEPS)), X_val, n_out)
    if a.values.dtype.kind in "iuf":
        assert np.allclose(np.asarray(a.values, float), np.asarray(b.values, float))
    else:  # item ids spelled as text
        assert np.array_equal(a.values, b.values)
    if a.proba is not None:
        assert b.proba is not None and np.allclose(a.proba, b.proba)


# --------------------------------------------------------------- by what it produces
def check_classes_with_probabilities(cand: Candidate, task: Task) -> None:
    """Class codes 0..k-1 and a probability per class summing to one, at every step."""
    _, monitor, final = _fitted(cand.name, task.name)
    _, _, X_val, n_out, _ = _data(task.name, cand.preprocessing)
    for pred in [*monitor.predictions, final]:
        values = np.asarray(pred.values)
        assert values.dtype.kind in "iu" and values.min() >= 0 and values.max() < n_out
        assert pred.proba is not None and pred.proba.shape == (len(X_val), n_out)
        assert np.all(pred.proba >= 0) and np.allclose(pred.proba.sum(axis=1), 1.0)
        assert np.array_equal(np.argmax(pred.proba, axis=1), values)


def check_values(cand: Candidate, task: Task) -> None:
    """A finite number per row, not all the same (it learned something from the target)."""
    _, monitor, final = _fitted(cand.name, task.name)
    for pred in [*monitor.predictions, final]:
        values = np.asarray(pred.values)
        assert values.ndim == 1 and values.dtype.kind == "f" and np.all(np.isfinite(values))
    assert np.ptp(np.asarray(final.values)) > 0


def check_needs_targets(cand: Candidate, task: Task) -> None:
    with pytest.raises(ValueError, match="learns from a target"):
        _fit(cand, task, RecordingMonitor(stop_after=1), targets=False)


def check_clusters(cand: Candidate, task: Task) -> None:
    """A whole-number group per row (no noise label left for new rows); memberships, if
    given, sum to one."""
    _, _, final = _fitted(cand.name, task.name)
    values = np.asarray(final.values)
    assert values.dtype.kind in "iu" and values.min() >= 0
    if final.proba is not None:
        assert final.proba.shape[0] == len(values) and np.allclose(final.proba.sum(axis=1), 1.0)


def check_learns_without_targets(cand: Candidate, task: Task) -> None:
    """Clusters come from the inputs alone: no target, the same clusters."""
    _, _, X_val, n_out, _ = _data(task.name, cand.preprocessing)
    monitor = RecordingMonitor(stop_after=STEPS)
    without = task.predict(_fit(cand, task, monitor, targets=False), X_val, n_out)
    assert np.array_equal(without.values, _fitted(cand.name, task.name)[2].values)


def check_rankings(cand: Candidate, task: Task) -> None:
    """Each user's k items, best first, from the training catalogue, none twice."""
    X, _, X_val, n_out, _ = _data(task.name, cand.preprocessing)
    _, monitor, final = _fitted(cand.name, task.name)
    catalogue = set(np.asarray(X.items).tolist())
    for pred in [*monitor.predictions, final]:
        ranked = np.asarray(pred.values)
        assert ranked.shape == (len(X_val), n_out)
        for row in ranked.tolist():
            assert len(set(row)) == len(row) and set(row) <= catalogue


OUTPUT_CHECKS: dict[Output, tuple[Check, ...]] = {
    Output.CLASSES: (check_classes_with_probabilities, check_needs_targets),
    Output.VALUES: (check_values, check_needs_targets),
    Output.CLUSTERS: (check_clusters, check_learns_without_targets),
    Output.RANKINGS: (check_rankings,),
}


def _yield_checks(cand: Candidate, task: Task) -> Iterator[Check]:
    """The checks of ``cand`` learning ``task``: the shared ones, then those of its output."""
    yield check_declares_what_the_loop_reads
    yield check_portfolio_and_search_space
    yield check_trains_step_by_step_and_predicts
    yield check_stops_when_the_monitor_says_so
    yield check_same_seed_same_model
    yield from OUTPUT_CHECKS[task.output]


CASES = [
    (cand.name, task.name, check)
    for task in TASKS.values()
    for cand in families_for(task)
    for check in _yield_checks(cand, task)
]


@pytest.mark.parametrize(
    ("family", "task", "check"), CASES, ids=[f"{f}-{t}-{c.__name__[6:]}" for f, t, c in CASES]
)
def test_family_contract(family: str, task: str, check: Check) -> None:
    check(CANDIDATES[family], TASKS[task])


def test_every_output_has_checks() -> None:
    assert set(OUTPUT_CHECKS) == set(Output)


@pytest.mark.parametrize("family", sorted(CANDIDATES))
def test_every_output_a_family_produces_is_checked(family: str) -> None:
    """A family declares what it produces, and some task needs each of those outputs of it,
    so the suite runs the checks of every output it claims."""
    cand = CANDIDATES[family]
    assert cand.produces and all(isinstance(o, Output) for o in cand.produces)
    served = {t.output for t in TASKS.values() if cand.serves(t)}
    assert served == set(cand.produces), f"{family} produces {cand.produces}, serves {served}"


def test_a_family_refuses_an_output_it_does_not_produce() -> None:
    with pytest.raises(ValueError, match="produces"):
        CANDIDATES["linear"].portfolio(Output.CLUSTERS, 500)
