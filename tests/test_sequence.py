"""The confidence sequence of the live error, checked by simulation.

Its promise: watched after every label, the bound crosses to the wrong side of a
threshold the true mean meets in at most 1 - confidence of streams; and it does cross
once the mean has fallen below. The numbers measured here are in the README.
"""

from __future__ import annotations

import numpy as np
import pytest

from learnloop.certify.sequence import mean_sequence, running_bounds

STREAMS = 400
LABELS = 2000
THRESHOLD = 0.8


def _false_alarms(accuracy: float, seed: int) -> float:
    """Share of stationary streams at ``accuracy`` whose upper bound ever falls below the
    threshold, checked after every label."""
    rng = np.random.default_rng(seed)
    alarms = 0
    for _ in range(STREAMS):
        right = (rng.random(LABELS) < accuracy).astype(float)
        _, _, high = mean_sequence(right, 0.95)
        alarms += bool((high < THRESHOLD).any())
    return alarms / STREAMS


@pytest.mark.parametrize("accuracy", [THRESHOLD, 0.85])
def test_a_stationary_stream_raises_no_alarm_in_95_percent_of_streams(accuracy: float) -> None:
    # at the threshold itself the promise is tightest: still at most 5%
    assert _false_alarms(accuracy, seed=1) <= 0.05


def test_a_fixed_sample_bound_checked_after_every_label_would_not_keep_it() -> None:
    """The reason for a sequence: a 95% one-sided normal bound looked at after every
    label raises far more than 5% false alarms on the same streams."""
    rng = np.random.default_rng(1)
    alarms = 0
    for _ in range(200):
        right = (rng.random(LABELS) < THRESHOLD).astype(float)
        t = np.arange(1, LABELS + 1)
        mean = np.cumsum(right) / t
        high = mean + 1.645 * np.sqrt(np.maximum(mean * (1 - mean), 1e-9) / t)
        alarms += bool((high[20:] < THRESHOLD).any())
    assert alarms / 200 > 0.15


def detection_delays(before: int, drop_to: float, seed: int, streams: int = 200) -> np.ndarray:
    """Labels after the drop (from 0.9 to ``drop_to``) until the upper bound falls below
    the threshold, per stream (inf where it never does within 20,000 labels)."""
    rng = np.random.default_rng(seed)
    delays = np.full(streams, np.inf)
    for s in range(streams):
        right = np.concatenate([rng.random(before) < 0.9, rng.random(20_000) < drop_to]).astype(
            float
        )
        _, _, high = mean_sequence(right, 0.95)
        crossed = np.flatnonzero(high < THRESHOLD)
        if crossed.size:
            delays[s] = crossed[0] + 1 - before
    return delays


def test_a_drop_below_the_threshold_is_detected() -> None:
    delays = detection_delays(before=300, drop_to=0.65, seed=2)
    assert np.isfinite(delays).all()
    assert (delays > 0).mean() >= 0.95  # hardly ever before the drop
    median = float(np.median(delays))
    # reported in the README; the cumulative mean needs ~200 labels to reach 0.8 at all
    assert 200 < median < 1500


def test_the_bounds_hold_the_estimate_and_narrow() -> None:
    rng = np.random.default_rng(3)
    x = rng.random(5000)
    estimate, low, high = mean_sequence(x)
    assert np.all(low <= high)
    assert np.all((low <= estimate + 1e-12) & (estimate - 1e-12 <= high))
    assert high[-1] - low[-1] < high[99] - low[99] < 1
    run_low, run_high = running_bounds(low, high)
    assert np.all(np.diff(run_low) >= 0) and np.all(np.diff(run_high) <= 0)
    assert run_low[-1] < 0.5 < run_high[-1]


@pytest.mark.parametrize(
    ("values", "confidence"),
    [(np.array([0.5, 1.5]), 0.95), (np.array([0.5, np.nan]), 0.95), (np.array([0.5]), 1.0)],
)
def test_bad_input_is_refused(values: np.ndarray, confidence: float) -> None:
    with pytest.raises(ValueError):
        mean_sequence(values, confidence)


def test_no_values_give_empty_bounds() -> None:
    assert all(a.size == 0 for a in mean_sequence(np.array([])))
