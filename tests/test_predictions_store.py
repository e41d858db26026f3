"""Recorded predictions and feedback in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import pytest

from learnloop.store import open_store
from learnloop.store.predictions import PredictionLog, Recorded, model_digest


def _row(i: int, model: str = "m1", created: float | None = None) -> Recorded:
    return Recorded(
        f"p-{i}",
        created if created is not None else 1000.0 + i,
        model,
        {"x": i, "c": "red"},
        {"prediction": i % 2, "probabilities": [0.3, 0.7]},
        0.7,
    )


def test_predictions_and_feedback_round_trip(backend_url: str) -> None:
    log = PredictionLog(open_store(backend_url))
    log.record([_row(i) for i in range(10)] + [_row(99, model="m2")])
    assert log.count("m1") == 10 and log.count("m2") == 1 and log.count("m3") == 0
    assert log.known(["p-1", "p-99", "nope"]) == {"p-1": "m1", "p-99": "m2"}
    log.add_feedback([("p-3", 1), ("p-1", 0)])
    time.sleep(0.01)
    log.add_feedback([("p-2", 0), ("p-3", 0)])  # p-3 again: the later label counts
    pairs = log.labelled("m1")
    assert [label for _, label in pairs] == [0, 0, 0]  # p-1, then p-2 and p-3 (same time)
    assert {o["prediction"] for o, _ in pairs} == {0, 1}
    recent = log.recent("m1", 3)
    assert [r["x"] for r, _ in recent] == [9, 8, 7] and recent[0][1] == 0.7


def test_a_second_log_on_the_same_store_sees_the_first(backend_url: str) -> None:
    PredictionLog(open_store(backend_url)).record([_row(1)])
    other = PredictionLog(open_store(backend_url))  # the tables exist: created once
    assert other.count("m1") == 1


def test_writers_in_threads_lose_nothing(backend_url: str) -> None:
    log = PredictionLog(open_store(backend_url))

    def write(k: int) -> None:
        for b in range(5):
            log.record([_row(k * 1000 + b * 10 + i) for i in range(10)])

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.count("m1") == 200


def test_the_model_digest_names_the_model_not_the_copy() -> None:
    meta = {"run_id": "abc", "certificate": {"test_score": 0.9}}
    assert model_digest(meta) == model_digest(dict(reversed(list(meta.items()))))
    assert model_digest(meta) != model_digest({**meta, "run_id": "abd"})


@pytest.mark.parametrize("n", [0])
def test_empty_batches_write_nothing(backend_url: str, n: int) -> None:
    log = PredictionLog(open_store(backend_url))
    log.record([])
    log.add_feedback([])
    assert log.count("m1") == n


def test_a_batch_written_twice_is_kept_once(backend_url: str) -> None:
    """A reconnect may retry a batch whose commit went through: no error, no duplicate."""
    log = PredictionLog(open_store(backend_url))
    log.record([_row(1), _row(2)])
    log.record([_row(1), _row(2), _row(3)])
    assert log.count("m1") == 3
