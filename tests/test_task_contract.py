"""The contract every task follows (tasks/_base.py), run for each registered task.

As scikit-learn's estimator checks run for every estimator, these checks run for every
entry of ``learnloop.tasks.TASKS``: a new kind of learning registers itself, adds one
example table to ``EXAMPLES`` and gets the whole suite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris, load_wine

import learnloop
import picture_data
from learnloop.candidates import CANDIDATES
from learnloop.data import Schema
from learnloop.dataset import prepare_dataset
from learnloop.exceptions import UsageError
from learnloop.metrics import METRICS
from learnloop.tasks import TASKS, Answer, Task


def _iris() -> tuple[pd.DataFrame, dict]:
    frame = load_iris(as_frame=True).frame
    names = np.array(["setosa", "versicolor", "virginica"])
    return frame.assign(target=names[frame["target"].to_numpy()]), {"target": "target"}


def _diabetes() -> tuple[pd.DataFrame, dict]:
    return load_diabetes(as_frame=True).frame, {"target": "target"}


def _wine() -> tuple[pd.DataFrame, dict]:
    frame = load_wine(as_frame=True).frame
    return frame.assign(target=frame["target"].map({0: "a", 1: "b", 2: "c"})), {"labels": "target"}


def _shop() -> tuple[pd.DataFrame, dict]:
    from shop_events import shop_events

    options = {"task": "recommendation", "user": "user", "item": "item", "event": "event"}
    return shop_events(n_users=150, n_items=60), {**options, "time": "time"}


EXAMPLES: dict[str, Callable[[], tuple[pd.DataFrame, dict]]] = {
    "classification": _iris,
    "regression": _diabetes,
    "clustering": _wine,
    "recommendation": _shop,
    "image": lambda: picture_data.example_frame("image"),
    "faces": lambda: picture_data.example_frame("faces"),
}
_SHARED = ("target", "labels", "task")  # options every task's data set takes


def _own(options: dict) -> dict:
    """The task's own options (recommendation's user, item, ...)."""
    return {k: v for k, v in options.items() if k not in _SHARED}


def _read(task: Task, frame: pd.DataFrame, options: dict) -> Schema:
    return task.read(frame, options.get("target"), options.get("labels"), _own(options))


def _prepare(frame: pd.DataFrame, options: dict, seed: int):  # noqa: ANN202
    shared = {k: v for k, v in options.items() if k in _SHARED}
    return prepare_dataset(frame, seed=seed, options=_own(options) or None, **shared)


@pytest.fixture(params=sorted(TASKS))
def task(request: pytest.FixtureRequest) -> Task:
    return TASKS[request.param]


def _example(task: Task) -> tuple[pd.DataFrame, dict]:
    assert task.name in EXAMPLES, f"task {task.name} has no example table in EXAMPLES"
    return EXAMPLES[task.name]()


def test_every_task_has_an_example() -> None:
    assert set(EXAMPLES) == set(TASKS)


def test_class_attributes_are_declared(task: Task) -> None:
    assert isinstance(task.name, str) and task.name in TASKS
    assert isinstance(task.supervised, bool)
    assert task.default_metric in METRICS
    assert task.name in METRICS[task.default_metric].tasks
    names = task.metric_names()
    assert names and all(task.name in METRICS[n].tasks for n in names)
    assert task.resamples == "rows"


def test_portfolio_names_families_that_serve_the_task(task: Task) -> None:
    assert task.portfolio_order
    for family, index in task.portfolio_order:
        assert family in CANDIDATES, family
        cand = CANDIDATES[family]
        assert task.name in cand.tasks, f"{family} does not serve {task.name}"
        assert index < len(cand.portfolio(task.name, 1000))


def test_schema_roles_and_round_trip(task: Task) -> None:
    frame, options = _example(task)
    schema = _read(task, frame, options)
    assert schema.task == task.name
    assert schema.features
    role = options.get("target") or options.get("labels")
    assert role not in schema.feature_names  # the target or groups are never an input
    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema


def test_wrong_options_are_usage_errors(task: Task) -> None:
    frame, options = _example(task)
    column = options.get("target") or options.get("labels") or options.get("user")
    if task.supervised:
        with pytest.raises(UsageError, match="target column is needed"):
            task.read_schema(frame, None, None)
        with pytest.raises(UsageError, match="--labels"):
            task.read_schema(frame, column, column)
    else:
        with pytest.raises(UsageError, match="without a target"):
            task.read_schema(frame, column, None)
    with pytest.raises(UsageError):
        task.read_schema(frame, *(("nope", None) if task.supervised else (None, "nope")))


def test_metrics_of_other_tasks_are_refused(task: Task) -> None:
    frame, options = _example(task)
    schema = _read(task, frame, options)
    others = [m for m in METRICS.values() if task.name not in m.tasks]
    assert others
    for metric in others:
        with pytest.raises(UsageError, match="does not apply"):
            task.choose_metric(metric.name, schema)


def test_encode_is_deterministic_with_one_entry_per_row(task: Task) -> None:
    frame, options = _example(task)
    schema = _read(task, frame, options)
    a = task.encode(frame, schema, "training")
    b = task.encode(frame.copy(), schema, "training")
    assert a is not None and b is not None
    assert len(a) == len(frame) and np.array_equal(a, b)


def test_splits_are_disjoint_seeded_and_cover_the_usable_rows(task: Task) -> None:
    frame, options = _example(task)
    a = _prepare(frame, options, seed=3)
    b = _prepare(frame, options, seed=3)
    assert a.task is task
    if task.held_out == "rows":
        assert sum(a.sizes.values()) == len(frame) - a.dropped_rows
    else:  # validation and test rows are evaluated users: never the same user twice
        users = [set(map(str, getattr(a, p).X.iloc[:, 0])) for p in ("validation", "test")]
        assert not users[0] & users[1]
    for part in ("train", "validation", "test"):
        pa, pb = getattr(a, part), getattr(b, part)
        pd.testing.assert_frame_equal(pa.X, pb.X)
        assert pa.y is not None and len(pa.y) == len(pa.X)
        assert [np.asarray(v).tolist() for v in pa.y] == [np.asarray(v).tolist() for v in pb.y]
    keys = [
        set(map(tuple, getattr(a, p).X.round(9).to_numpy().tolist())) for p in ("train", "test")
    ]
    assert not keys[0] & keys[1]


def test_baseline_predict_answer_and_outcomes(task: Task) -> None:
    frame, options = _example(task)
    data = _prepare(frame, options, seed=0)
    pipeline = task.baseline(data.train.X, data.train.y, 0)
    pred = task.predict(pipeline, data.test.X, data.n_outputs)
    assert len(pred.values) == len(data.test)
    base = task.baseline_prediction(pred, pred, 0)
    assert base is not None and len(base.values) == len(data.test)
    assert data.test.y is not None
    assert np.isfinite(data.metric.score(data.test.y, base, data.n_outputs))
    answer = task.answer(pipeline, data.test.X, data.schema)
    assert isinstance(answer, Answer) and len(answer.predictions) == len(data.test)
    out = task.answer_frame(answer, data.test.X.index)
    assert list(out.columns)[0] == "prediction" and len(out) == len(data.test)
    outcomes = task.outcomes(data.test, pred)
    assert json.loads(json.dumps(outcomes)) == outcomes
    assert {"split", "kind"} <= set(outcomes)
    assert outcomes["split"] == task.split_fingerprint(data.test)


@pytest.mark.slow
def test_train_save_reload_round_trip(task: Task, tmp_path: Path) -> None:
    """A short run of each task: the saved file predicts what the certified model does."""
    frame, options = _example(task)
    out = tmp_path / "model.skops"
    result = learnloop.train(
        frame, budget=8, out=out, store=str(tmp_path / "s.db"), seed=1, **options
    )
    assert result.task == task.name
    assert result.certificate is not None and result.certificate.n_test == result.splits["test"]
    assert result.baseline_score is not None
    role = options.get("target") or options.get("labels")
    inputs = frame.drop(columns=[role]) if role else frame
    loaded = learnloop.load(out)
    pd.testing.assert_frame_equal(loaded.predict(inputs), result.predict(inputs))
    assert loaded.metadata["certificate"]["test_score"] == pytest.approx(result.test_score)
