"""The compiled prediction path answers as the normal path does, or hands the body back.

Real small models (stopped at a low threshold) on a table with numbers and categorical
columns (missing cells in both), a regressor, a forest and an ensemble of a booster and a
forest; each
answers held-out rows (unknown categories, categories sent as numbers and booleans,
nulls) through :class:`~learnloop.serving.compiled.CompiledModel` and through
:func:`~learnloop.serving.rows.answer_body`: the same classes, probabilities and values
within 1e-6. A body with anything wrong is not answered by the compiled path (``None``),
so the normal path says what is wrong; models it does not take do not compile.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import learnloop
from learnloop.serving.compiled import CompiledModel, NotCompiled, compile_model
from learnloop.serving.rows import RowValidator, answer_body
from learnloop.store.model_files import LoadedModel, load_model

pytestmark = pytest.mark.serve


def _table(n: int, regression: bool, seed: int = 0) -> pd.DataFrame:
    """Numbers and two categorical columns (one with missing cells) driving the target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.uniform(0, 100, size=n).round(2),
            "color": rng.choice(["red", "green", "blue", "teal"], size=n).astype(object),
            "size": rng.choice(["1", "2", "3", "L"], size=n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "color"] = None
    score = frame["a"] + (frame["color"] == "red") * 1.5 + frame["b"] / 50
    frame.loc[rng.random(n) < 0.1, "a"] = np.nan
    noise = rng.normal(size=n)
    frame["y"] = (
        score * 10 + 100 + noise if regression else np.where(score + noise > 1.5, "hi", "lo")
    )
    return frame


def _train(root: Path, candidate: str, regression: bool) -> tuple[LoadedModel, pd.DataFrame]:
    frame = _table(560, regression)
    out = root / f"{candidate}-{'reg' if regression else 'clf'}.skops"
    learnloop.train(
        frame.iloc[:480],
        "y",
        threshold=0.3 if regression else 0.6,  # stops there; the budget leaves room for
        budget=10,  # a model to beat the baseline on a loaded machine
        candidates=[candidate],
        out=out,
        store=str(root / "s.db"),
        seed=0,
    )
    return load_model(out), frame.iloc[480:].drop(columns="y").reset_index(drop=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sklearn.pipeline import Pipeline

    from learnloop.estimators import EnsembleClassifier, PassThrough

    root = tmp_path_factory.mktemp("compiled")
    models = {
        "lightgbm": _train(root, "lightgbm", False),  # categories 1, 2, 3 and L
        "lightgbm regressor": _train(root, "lightgbm", True),
        "random_forest": _train(root, "random_forest", False),
    }
    (boosted, rows), (forest, _) = models["lightgbm"], models["random_forest"]
    ensemble = EnsembleClassifier(
        members=[boosted.pipeline, forest.pipeline], weights=[0.4, 0.6], n_classes=2
    ).fit()
    pipeline = Pipeline([("features", PassThrough()), ("model", ensemble)])
    models["ensemble"] = (LoadedModel(pipeline, boosted.metadata), rows)
    models["linear"] = _train(root, "linear", False)
    numbers = _table(300, False)[["a", "b", "y"]]
    learnloop.train(numbers, "y", budget=2, candidates=["lightgbm"], out=root / "n.skops", seed=0)
    models["numbers"] = (load_model(root / "n.skops"), numbers.drop(columns="y"))
    return models


@pytest.mark.parametrize(
    ("data", "good"),
    [
        ([[0.5, 1], [None, 2.5]], True),  # numbers and nulls: answered
        ([[0.5, "1"], [None, 2.5]], False),  # text
        ([[0.5, True], [None, 2.5]], False),  # a truth value
        ([[[0.5], [1]], [[1.0], [2.5]]], False),  # every cell a list
        ([[0.5, {}], [None, 2.5]], False),  # an object
        ([[0.5, 1], [None]], False),  # a short row
    ],
)
def test_a_numbers_only_body_is_read_whole_and_still_checked(
    trained: dict[str, Any], data: list[Any], good: bool
) -> None:
    """A numbers-only model reads the values in one numpy call when the body cannot hold
    text or truth values; anything else is still left to the normal path."""
    model, _ = trained["numbers"]
    compiled, validator = compile_model(model, 100), RowValidator(model, 100)
    for columns, rows in ((["a", "b"], data), (["b", "a"], [r[::-1] for r in data])):
        body = json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()
        fast = compiled.answer(body)
        if good:
            assert fast is not None
            _same(fast, answer_body(validator, model, body))
        else:
            assert fast is None
            with pytest.raises(learnloop.serving.RequestProblem):
                answer_body(validator, model, body)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = json.loads(frame.to_json(orient="records"))
    rows[0]["color"] = "purple"  # unknown in training
    rows[1]["size"] = 2  # a category sent as a number: the text "2"
    rows[2]["size"] = 3.0  # and as a whole float: "3"
    rows[7]["size"] = 2.5  # a category never seen
    rows[3]["color"] = None
    rows[4]["a"] = None
    rows[5]["b"] = 7  # an integer in a number column
    rows[6]["color"] = True  # no category of training: coded as unknown
    return rows


def _bodies(frame: pd.DataFrame) -> list[bytes]:
    rows = _records(frame)
    columns = list(frame.columns)
    split = {"columns": columns[::-1], "data": [[r[c] for c in columns[::-1]] for r in rows]}
    return [
        json.dumps({"records": rows}).encode(),
        json.dumps({"dataframe_records": rows[:1]}).encode(),
        json.dumps({"dataframe_split": split}).encode(),
    ]


def _same(fast: dict[str, Any], slow: dict[str, Any]) -> None:
    assert fast.keys() == slow.keys()
    if "probabilities" in slow:
        assert fast["predictions"] == slow["predictions"]  # identical classes
        assert fast["classes"] == slow["classes"]
        np.testing.assert_allclose(fast["probabilities"], slow["probabilities"], rtol=0, atol=1e-6)
    else:
        np.testing.assert_allclose(fast["predictions"], slow["predictions"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["lightgbm", "lightgbm regressor", "random_forest", "ensemble"])
def test_the_compiled_path_answers_as_the_normal_path(trained: dict[str, Any], name: str) -> None:
    model, rows = trained[name]
    compiled = compile_model(model, 10_000)
    validator = RowValidator(model, 10_000)
    for body in _bodies(rows):
        fast = compiled.answer(body)
        assert fast is not None, body[:200]
        _same(fast, answer_body(validator, model, body))


def test_the_codes_are_the_column_transformers(trained: dict[str, Any]) -> None:
    """The matrix the estimator gets is the one the pipeline's transformer makes (NaN for
    unknown and missing categories, the learned code for the others)."""
    from learnloop.data import prepare_features

    model, rows = trained["lightgbm"]
    compiled = compile_model(model, 10_000)
    records = _records(rows)
    cols = compiled.columns(json.dumps({"records": records}).encode())
    assert cols is not None
    expected = model.pipeline.steps[0][1].transform(
        prepare_features(pd.DataFrame(records), model.schema)
    )
    np.testing.assert_array_equal(compiled.top.encode(cols), expected)
    assert np.isnan(expected[0]).any()  # the unknown 'purple' is there to be coded


@pytest.mark.parametrize(
    "change",
    [
        lambda rows: {"records": [{**rows[0], "a": "1.5"}]},  # text in a number column
        lambda rows: {"records": [{**rows[0], "a": True}]},  # a boolean in a number column
        lambda rows: {"records": [{**rows[0], "color": [1]}]},  # a list as a category
        lambda rows: {"records": [{k: v for k, v in rows[0].items() if k != "b"}]},  # missing
        lambda rows: {"records": [{**rows[0], "extra": 1}]},  # unknown column
        lambda rows: {"records": [{**rows[0], "y": "hi"}]},  # the target
        lambda rows: {"records": []},  # empty
        lambda rows: {"records": rows * 40},  # more rows than allowed
        lambda rows: {"records": rows[0]},  # not a list
        lambda rows: {"records": rows, "dataframe_split": {}},  # two keys
        lambda rows: {"rows": rows},  # an unknown key
        lambda rows: [rows[0]],  # not an object
        lambda rows: {"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}},
        lambda rows: {"dataframe_split": {"columns": list(rows[0]), "data": [[1]]}},
    ],
)
def test_a_body_with_anything_wrong_is_left_to_the_normal_path(
    trained: dict[str, Any], change: Any
) -> None:
    model, frame = trained["lightgbm"]
    compiled = CompiledModel(model, max_rows=100)
    rows = json.loads(frame.iloc[:3].to_json(orient="records"))
    body = json.dumps(change(rows)).encode()
    assert compiled.answer(body) is None
    with pytest.raises(learnloop.serving.RequestProblem):
        answer_body(RowValidator(model, 100), model, body)


@pytest.mark.parametrize("text", [b'{"records": [{"a": NaN}]}', b"{not json", b"\xff\xfe"])
def test_bodies_orjson_refuses_are_left_to_the_normal_path(
    trained: dict[str, Any], text: bytes
) -> None:
    model, _ = trained["lightgbm"]
    assert compile_model(model, 100).answer(text) is None


def test_numbers_too_large_for_a_double_are_left_to_the_normal_path(
    trained: dict[str, Any],
) -> None:
    model, _ = trained["lightgbm"]
    body = b'{"records": [{"a": 1.0, "b": 1e999, "color": "red", "size": "1"}]}'
    assert compile_model(model, 100).answer(body) is None
    with pytest.raises(learnloop.serving.RequestProblem, match="finite"):
        answer_body(RowValidator(model, 100), model, body)


def test_models_it_does_not_take_do_not_compile(trained: dict[str, Any], tmp_path: Path) -> None:
    linear, _ = trained["linear"]
    with pytest.raises(NotCompiled, match="preprocessing"):
        compile_model(linear, 100)
    dated = _table(200, False).assign(day=pd.date_range("2024-01-01", periods=200).astype(str))
    out = tmp_path / "dated.skops"
    learnloop.train(dated, "y", budget=2, candidates=["lightgbm"], out=out, seed=0)
    with pytest.raises(NotCompiled, match="'day' is a datetime column"):
        compile_model(load_model(out), 100)


def test_only_boosters_answer_on_the_event_loop(trained: dict[str, Any]) -> None:
    """A forest (alone or in an ensemble) can take milliseconds: it goes to a thread."""
    inline = {n: compile_model(trained[n][0], 10).inline for n in ("lightgbm", "ensemble")}
    assert inline == {"lightgbm": True, "ensemble": False}
