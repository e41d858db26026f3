"""A run's settings: one typed value, checked once, recorded and read back the same."""

from __future__ import annotations

import json

import pytest

from learnloop.core.settings import RunSettings
from learnloop.exceptions import UsageError


def test_settings_round_trip_through_the_stored_record() -> None:
    settings = RunSettings(
        target="churn",
        task="classification",
        metric="roc_auc",
        threshold=0.8,
        budget=90,
        confidence=0.9,
        seed=3,
        candidates=["lightgbm", "linear"],
        task_options={"user": "u", "time": None},
        data="/data/churn.csv",
        test_share=0.25,
    )
    record = json.loads(json.dumps(settings.to_record()))  # as the store keeps it
    assert RunSettings.from_record(record) == settings
    assert record["task_options"] == {"user": "u"}  # unset task options are not recorded
    assert isinstance(settings.budget, float) and settings.threshold == 0.8


def test_a_record_written_before_the_settings_value_reads_back() -> None:
    """Runs recorded by earlier versions hold the same keys, some missing or null."""
    old = {"target": "y", "task": "regression", "metric": "rmse", "threshold": None,
           "budget": 30.0, "confidence": 0.95, "seed": 0, "candidates": None,
           "data": "t.csv", "validation": None, "test": None, "task_options": {}}  # fmt: skip
    settings = RunSettings.from_record(old)
    assert (settings.metric, settings.budget, settings.test_share) == ("rmse", 30.0, None)
    assert RunSettings.from_record({"seed": None, "budget": None}).budget == 60.0


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("budget", 0, "budget must be a positive number"),
        ("budget", float("inf"), "budget must be a positive number"),
        ("budget", "ten", "budget must be a positive number"),
        ("confidence", 1.0, "confidence must be in [0.5, 1)"),
        ("seed", -1, "seed must be a non-negative integer"),
        ("seed", True, "seed must be a non-negative integer"),
    ],
)
def test_bad_settings_are_refused_once_with_one_sentence(
    field: str, value: object, words: str
) -> None:
    with pytest.raises(UsageError, match=words.replace("[", r"\[").replace(")", r"\)")):
        RunSettings(**{field: value})  # type: ignore[arg-type]
