"""The contract every task follows (tasks/_base.py), checked by what the task needs.

As scikit-learn's ``_yield_all_checks`` chooses an estimator's checks by what it is,
:func:`_yield_checks` chooses a task's checks by the output it needs: every registered task
runs the shared checks (schema, options, metrics, encoding, split, baseline, answer,
outcomes, families) on its example in ``task_examples.EXAMPLES``, then the checks of its
output (classes with probabilities, values, clusters, rankings). A new kind of learning
registers itself, adds one example and gets the whole suite.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import learnloop
from learnloop.core import Output
from learnloop.data import Schema
from learnloop.exceptions import UsageError
from learnloop.families import CANDIDATES, families_for
from learnloop.metrics import METRICS
from learnloop.tasks import AUTO_ORDER, TASKS, Answer, Task, resolve_task, source_task
from task_examples import EXAMPLES, own, prepare, prepared

Check = Callable[[Task], None]
SRC = Path(learnloop.__file__).parent


def _example(task: Task) -> tuple[pd.DataFrame, dict]:
    assert task.name in EXAMPLES, f"task {task.name} has no example table in EXAMPLES"
    return EXAMPLES[task.name]()


def _read(task: Task, frame: pd.DataFrame, options: dict) -> Schema:
    return task.read(frame, options.get("target"), options.get("labels"), own(options))


# ------------------------------------------------------------------------ every task
def check_declares_what_it_needs(task: Task) -> None:
    assert isinstance(task.name, str) and TASKS[task.name] is task
    assert isinstance(task.supervised, bool) and task.held_out in ("rows", "users")
    assert isinstance(task.output, Output)
    assert task.feature_kinds and all(isinstance(k, str) for k in task.feature_kinds)
    assert METRICS[task.default_metric].scores is task.output
    names = task.metric_names()
    assert task.default_metric in names and all(METRICS[n].scores is task.output for n in names)


def check_families_serve_it(task: Task) -> None:
    """Some family serves it; the portfolio names only families that do."""
    serving = families_for(task)
    assert serving, f"no family produces {task.output} from {task.feature_kinds}"
    assert task.portfolio_order
    for family, index in task.portfolio_order:
        assert family in CANDIDATES, family
        cand = CANDIDATES[family]
        assert cand in serving, f"{family} does not serve {task.name}"
        assert index < len(cand.portfolio(task.output, 1000))
    # the first guess the final pick prefers, if any, is a portfolio entry it tries
    assert task.first_guess is None or task.first_guess in task.portfolio_order
    assert task.first_guess_margin > 0


def check_builds_the_features_it_declares(task: Task) -> None:
    data = prepared(task.name)
    for kind in task.feature_kinds:
        pre = task.preprocessor(kind, data.train.X)
        assert hasattr(pre, "fit") and hasattr(pre, "transform"), kind
    with pytest.raises(ValueError, match="builds"):
        task.preprocessor("no_such_kind", data.train.X)


def check_schema_roles_and_round_trip(task: Task) -> None:
    frame, options = _example(task)
    schema = _read(task, frame, options)
    assert schema.task == task.name
    assert schema.features
    role = options.get("target") or options.get("labels")
    assert role not in schema.feature_names  # the target or groups are never an input
    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema


def check_wrong_options_are_usage_errors(task: Task) -> None:
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


def check_metrics_of_other_outputs_are_refused(task: Task) -> None:
    schema = prepared(task.name).schema
    others = [m for m in METRICS.values() if m.scores is not task.output]
    assert others
    for metric in others:
        with pytest.raises(UsageError, match=f"does not apply to {task.name}"):
            task.choose_metric(metric.name, schema)


def check_encode_is_deterministic_with_one_entry_per_row(task: Task) -> None:
    frame, options = _example(task)
    schema = _read(task, frame, options)
    a = task.encode(frame, schema, "training")
    b = task.encode(frame.copy(), schema, "training")
    assert a is not None and b is not None
    assert len(a) == len(frame) and np.array_equal(a, b)


def check_splits_are_disjoint_seeded_and_cover_the_usable_rows(task: Task) -> None:
    frame, options = _example(task)
    a = prepare(frame, options, seed=3)
    b = prepare(frame, options, seed=3)
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


def check_baseline_predict_answer_and_outcomes(task: Task) -> None:
    data = prepared(task.name)
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


# --------------------------------------------------------------- by what it needs
def _baseline_answer(task: Task) -> tuple[Answer, pd.DataFrame]:
    data = prepared(task.name)
    pipeline = task.baseline(data.train.X, data.train.y, 0)
    answer = task.answer(pipeline, data.test.X, data.schema)
    return answer, task.answer_frame(answer, data.test.X.index)


def check_classes_with_probabilities(task: Task) -> None:
    """Targets coded 0..k-1 (k >= 2), every class in training, a probability per class."""
    data = prepared(task.name)
    k = data.n_outputs
    assert k == len(data.schema.classes) >= 2
    for part in (data.train, data.validation, data.test):
        assert part.y is not None and part.y.dtype.kind in "iu"
        assert part.y.min() >= 0 and part.y.max() < k
    assert set(np.unique(data.train.y)) == set(range(k))
    assert task.stratify_by(data.train.y) is not None
    pred = task.predict(task.baseline(data.train.X, data.train.y, 0), data.test.X, k)
    assert pred.proba is not None and pred.proba.shape == (len(data.test), k)
    assert np.allclose(pred.proba.sum(axis=1), 1.0)
    answer, frame = _baseline_answer(task)
    assert answer.classes == list(data.schema.classes) and answer.probabilities is not None
    assert {f"proba_{c}" for c in data.schema.classes} <= set(frame.columns)
    assert set(answer.predictions) <= set(data.schema.classes)  # the data's own class names


def check_values(task: Task) -> None:
    """Targets and answers are finite numbers; no probabilities."""
    data = prepared(task.name)
    assert data.n_outputs == 0
    for part in (data.train, data.validation, data.test):
        assert part.y is not None and part.y.dtype.kind == "f" and np.all(np.isfinite(part.y))
    answer, frame = _baseline_answer(task)
    assert answer.probabilities is None and list(frame.columns) == ["prediction"]
    assert all(isinstance(v, float) for v in answer.predictions)


def check_clusters(task: Task) -> None:
    """Whole-number groups; the internal metrics score them against the encoded inputs, the
    others against the known groups; the baseline waits for the chosen model's count."""
    data = prepared(task.name)
    pipeline = task.baseline(data.train.X, data.train.y, 0)
    pred = task.predict(pipeline, data.test.X, data.n_outputs)
    assert np.asarray(pred.values).dtype.kind in "iu"
    assert task.baseline_prediction(pred, None, 0) is None
    frame, options = _example(task)
    for metric in task.metric_names():
        if METRICS[metric].reference == "targets" and options.get("labels") is None:
            continue
        parts = prepare(frame, options, seed=0, metric=metric)
        y = parts.test.y
        assert y is not None and len(y) == len(parts.test)
        assert np.ndim(y) == (2 if METRICS[metric].reference == "inputs" else 1), metric


def check_rankings(task: Task) -> None:
    """Each evaluated user's top k items (k from the metric), held out by user."""
    data = prepared(task.name)
    k = data.n_outputs
    assert task.held_out == "users" and k == (data.metric.k or 10)
    pipeline = task.baseline(data.train.X, data.train.y, 0)
    ranked = np.asarray(task.predict(pipeline, data.test.X, k).values)
    assert ranked.shape == (len(data.test), k)
    answer, frame = _baseline_answer(task)
    assert all(len(row) <= k for row in answer.predictions)
    assert {f"item_{j + 1}" for j in range(k)} <= set(frame.columns)


NEEDS_CHECKS: dict[Output, tuple[Check, ...]] = {
    Output.CLASSES: (check_classes_with_probabilities,),
    Output.VALUES: (check_values,),
    Output.CLUSTERS: (check_clusters,),
    Output.RANKINGS: (check_rankings,),
}


def _yield_checks(task: Task) -> Iterator[Check]:
    """The checks of ``task``: the shared ones, then those of the output it needs."""
    yield check_declares_what_it_needs
    yield check_families_serve_it
    yield check_builds_the_features_it_declares
    yield check_schema_roles_and_round_trip
    yield check_wrong_options_are_usage_errors
    yield check_metrics_of_other_outputs_are_refused
    yield check_encode_is_deterministic_with_one_entry_per_row
    yield check_splits_are_disjoint_seeded_and_cover_the_usable_rows
    yield check_baseline_predict_answer_and_outcomes
    yield from NEEDS_CHECKS[task.output]


CASES = [(name, check) for name, task in TASKS.items() for check in _yield_checks(task)]


@pytest.mark.parametrize(("task", "check"), CASES, ids=[f"{t}-{c.__name__[6:]}" for t, c in CASES])
def test_task_contract(task: str, check: Check) -> None:
    check(TASKS[task])


def test_every_task_has_an_example_and_every_output_checks() -> None:
    assert set(EXAMPLES) == set(TASKS)
    assert set(NEEDS_CHECKS) == set(Output)


def test_auto_asks_the_tasks_in_a_fixed_order() -> None:
    """A folder is pictures and --user with --item are events, before any table is read;
    then no target is clustering, labels classification, any other target regression."""
    assert [t.name for t in AUTO_ORDER] == [
        "image",
        "recommendation",
        "clustering",
        "classification",
        "regression",
    ]
    for name in ("classification", "regression", "clustering"):
        frame, options = EXAMPLES[name]()
        assert source_task(frame, "auto", None) is None
        chosen = resolve_task(frame, "auto", options.get("target"), options.get("labels"))
        assert chosen.name == name
    frame, options = EXAMPLES["recommendation"]()
    assert source_task(frame, "auto", own(options)) is TASKS["recommendation"]
    assert source_task(frame, "faces", None) is TASKS["faces"]  # a named task is kept
    with pytest.raises(UsageError, match="Unknown task 'ranking'; choose auto, classification"):
        source_task(frame, "ranking", None)


# Strings equal to a task's name that are not one: (file under src/learnloop, value) -> why
NOT_TASK_NAMES = {
    ("estimators/boosting.py", "regression"): "LightGBM's objective",
    ("families/boosting.py", "regression"): "LightGBM's objective",
    ("estimators/pictures.py", "image"): "the default name of the picture column",
    ("pictures/vision.py", "image"): "the picture column's name",
    ("serving/uploads.py", "image"): "the MIME type of pictures, and the picture column",
    # the --help text's list of the task names, never compared: tests/test_names.py holds it
    # equal to tasks.TASKS so that --help need not import the tasks
    **{("core/names.py", name): "the help text's list of names" for name in TASKS},
}


def _task_name_literals(path: Path) -> set[str]:
    """The string literals in ``path`` equal to a task's name (docstrings left out)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value in TASKS
        and id(node) not in docstrings
    }


def test_no_task_name_is_spelled_outside_tasks() -> None:
    """Families, metrics and the loop match tasks by capability: a task's name appears as a
    literal only in tasks/ (and where the same word means something else)."""
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("tasks/"):
            continue
        names = {n for n in _task_name_literals(path) if (rel, n) not in NOT_TASK_NAMES}
        if names:
            found[rel] = sorted(names)
    assert found == {}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TASKS))
def test_train_save_reload_round_trip(name: str, tmp_path: Path) -> None:
    """A short run of each task: the saved file predicts what the certified model does."""
    task = TASKS[name]
    frame, options = _example(task)
    out = tmp_path / "model.skops"
    result = learnloop.train(
        frame, budget=3, out=out, store=str(tmp_path / "s.db"), seed=1, **options
    )
    assert result.task == task.name
    assert result.certificate is not None and result.certificate.n_test == result.splits["test"]
    assert result.baseline_score is not None
    role = options.get("target") or options.get("labels")
    inputs = frame.drop(columns=[role]) if role else frame
    loaded = learnloop.load(out)
    pd.testing.assert_frame_equal(loaded.predict(inputs), result.predict(inputs))
    assert loaded.metadata["certificate"]["test_score"] == pytest.approx(result.test_score)
