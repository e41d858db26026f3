"""The learned portfolio order: meta-features, the neighbours' vote, holdout, the lever."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from learnloop.core import Output, levers
from learnloop.families import CANDIDATES, families_for
from learnloop.search.portfolio import (
    HOLDOUT_ENV,
    META_FEATURES,
    learned_order,
    load_entries,
    meta_features,
)
from learnloop.search.schedule import Schedule
from learnloop.tasks import get_task

CLS = get_task("classification")
REG = get_task("regression")
FIXED = [tuple(p) for p in CLS.portfolio_order]


def _meta(rows: float, classes: float = 2.0, missing: float = 0.0) -> dict[str, float]:
    return {
        "log_rows": rows,
        "log_columns": 1.0,
        "categorical_share": 0.0,
        "classes": classes,
        "imbalance": 1.0,
        "missing_share": missing,
    }


# synthetic stored data sets (a JSON round trip, as the shipped file is read)
ENTRIES = json.loads(
    json.dumps(
        [
            {
                "name": "small_numeric",
                "task": "classification",
                "meta": _meta(2.5),
                "ranking": [["knn", 0], ["linear", 0], ["lightgbm", 1]],
            },
            {
                "name": "big_numeric",
                "task": "classification",
                "meta": _meta(5.0),
                "ranking": [["lightgbm", 2], ["extra_trees", 0], ["kmeans", 0]],
            },
            {
                "name": "middle_gappy",
                "task": "classification",
                "meta": _meta(3.5, classes=4.0, missing=0.2),
                "ranking": [["mlp", 0], ["no_such_family", 3], ["random_forest", 0]],
            },
            {
                "name": "some_regression",
                "task": "regression",
                "meta": _meta(2.5, classes=0.0),
                "ranking": [["random_forest", 0], ["linear", 0]],
            },
        ]
    )
)


def test_meta_features_of_a_known_frame() -> None:
    X = pd.DataFrame(
        {
            "a": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            "b": list("xyxyxyxyx") + [None],
            "c": [True, False] * 5,
            "d": range(10),
        }
    )
    y = np.array([0] * 7 + [1] * 3)
    meta = meta_features(X, y, 2)
    assert list(meta) == list(META_FEATURES)
    assert meta["log_rows"] == pytest.approx(1.0)
    assert meta["log_columns"] == pytest.approx(math.log10(4))
    assert meta["categorical_share"] == pytest.approx(0.25)
    assert meta["classes"] == 2.0
    assert meta["imbalance"] == pytest.approx(3 / 7)
    assert meta["missing_share"] == pytest.approx(2 / 40)
    regression = meta_features(X, np.linspace(0, 1, 10), 0)
    assert regression["classes"] == 0.0 and regression["imbalance"] == 0.0


def test_identical_meta_features_give_that_entrys_ranking_first() -> None:
    order = learned_order(CLS, _meta(2.5), entries=ENTRIES)
    assert order[:3] == [("knn", 0), ("linear", 0), ("lightgbm", 1)]
    assert sorted(order) == sorted(FIXED)  # every fixed entry, each once
    assert order[3:] == [p for p in FIXED if p not in order[:3]]


def test_the_nearest_entries_vote() -> None:
    order = learned_order(CLS, _meta(4.8), entries=ENTRIES)
    assert order[0] == ("lightgbm", 2)  # nearest to the big table


def test_holdout_leaves_the_data_set_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOLDOUT_ENV, "small_numeric, other")
    order = learned_order(CLS, _meta(2.5), entries=ENTRIES)
    assert order[0] != ("knn", 0)
    monkeypatch.setenv(HOLDOUT_ENV, "small_numeric,big_numeric,middle_gappy")
    assert learned_order(CLS, _meta(2.5), entries=ENTRIES) == FIXED  # nothing left: fixed


def test_unknown_families_dropped_and_fixed_entries_kept() -> None:
    order = learned_order(CLS, _meta(3.5, classes=4.0, missing=0.2), entries=ENTRIES)
    names = {f for f, _ in order}
    assert "no_such_family" not in names and "kmeans" not in names  # unknown; not this task
    assert set(FIXED) <= set(order)
    assert order[0] == ("mlp", 0)
    run = ["lightgbm", "linear"]  # the run's candidates only
    order = learned_order(CLS, _meta(5.0), run, entries=ENTRIES)
    assert order == [("lightgbm", 2), ("lightgbm", 0), ("linear", 0), ("lightgbm", 1)]


def test_other_task_kinds_do_not_vote() -> None:
    order = learned_order(REG, _meta(5.0, classes=0.0), entries=ENTRIES)
    assert order[:2] == [("random_forest", 0), ("linear", 0)]
    clustering = get_task("clustering")
    order = learned_order(clustering, _meta(2.5), entries=ENTRIES)
    assert order == [tuple(p) for p in clustering.portfolio_order]


def test_the_shipped_file_is_well_formed() -> None:
    for entry in load_entries():
        assert entry["task"] in ("classification", "regression")
        assert set(entry["meta"]) == set(META_FEATURES)
        task = get_task(entry["task"])
        assert {tuple(p) for p in entry["ranking"]} <= {tuple(p) for p in task.portfolio_order}


def _queue(schedule: Schedule) -> list[tuple[str, dict]]:
    return [(c.name, p) for c, p in schedule.queue]


def test_schedule_with_the_lever_off_keeps_the_fixed_order() -> None:
    families = families_for(CLS)
    fixed = [(f, CANDIDATES[f].portfolio(Output.CLASSES, 500)[i]) for f, i in FIXED]
    meta = _meta(2.7)
    with levers.ablated("portfolio"):
        assert _queue(Schedule(CLS, families, 500, meta)) == fixed
    assert _queue(Schedule(CLS, families, 500)) == fixed  # no meta-features: fixed
    learned = _queue(Schedule(CLS, families, 500, meta))
    assert sorted(map(repr, learned)) == sorted(map(repr, fixed))  # same entries


def test_the_learned_order_is_off_unless_enabled(monkeypatch) -> None:
    """It did not pay on the benchmark, so a user turns it on by name; an ablation wins."""
    monkeypatch.delenv(levers.ENABLE_ENV, raising=False)
    assert not levers.enabled("portfolio") and levers.enabled("ensemble")
    monkeypatch.setenv(levers.ENABLE_ENV, "portfolio")
    assert levers.enabled("portfolio")
    with levers.ablated("portfolio"):
        assert not levers.enabled("portfolio")
    monkeypatch.setenv(levers.ENABLE_ENV, "nonsense")
    with pytest.raises(ValueError, match="unknown levers"):
        levers.enabled("portfolio")


def test_the_first_tree_configuration_grows_its_trees_with_the_table() -> None:
    """About one leaf per thousand training rows, 31 to 255, inside the search space."""
    lightgbm = CANDIDATES["lightgbm"]
    leaves = [lightgbm.portfolio(Output.CLASSES, n)[0]["num_leaves"] for n in
              (5_000, 40_000, 64_000, 100_000, 200_000, 5_000_000)]  # fmt: skip
    assert leaves == [31, 31, 63, 127, 255, 255]
    assert lightgbm.portfolio(Output.VALUES, 500)[0]["num_leaves"] == 15  # small tables: smaller
