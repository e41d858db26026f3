"""``core.names`` (what ``--help`` shows without importing the registries) equals the
registries: a task or metric added on one side only fails here."""

from __future__ import annotations

from learnloop.core import Output
from learnloop.core.names import (
    DEFAULT_METRICS,
    METRIC_NAMES,
    RANKING_NAMES,
    TASK_NAMES,
    metric_help,
)
from learnloop.metrics import METRICS, RANKING_METRICS, metrics_for
from learnloop.tasks import TASKS


def test_task_names_are_the_registry_in_its_order() -> None:
    assert TASK_NAMES == tuple(TASKS)


def test_metric_names_are_the_registry_by_output() -> None:
    outputs = {output.value for output in Output}
    assert set(METRIC_NAMES) | {Output.RANKINGS.value} == outputs
    for key, names in METRIC_NAMES.items():
        assert names == tuple(metrics_for(Output(key))), key
    assert RANKING_NAMES == tuple(RANKING_METRICS)
    assert [f"{name}@10" for name in RANKING_NAMES] == metrics_for(Output.RANKINGS)
    listed = {*(n for names in METRIC_NAMES.values() for n in names)}
    assert listed | {f"{name}@10" for name in RANKING_NAMES} == set(METRICS)


def test_default_metrics_are_the_tasks_defaults() -> None:
    defaults = list(dict.fromkeys(task.default_metric for task in TASKS.values()))
    assert DEFAULT_METRICS == tuple(defaults)


def test_metric_help_names_every_metric() -> None:
    text = metric_help()
    for name in [n for names in METRIC_NAMES.values() for n in names]:
        assert f"{name}," in text or f"{name};" in text, name
    for name in RANKING_NAMES:
        assert f"{name}@K" in text
