"""Each metric's batch form over bootstrap resamples equals its scorer on every resample."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from learnloop.certify import bootstrap_bound, resample_scorer, validation_se
from learnloop.core import Output
from learnloop.metrics import METRICS, Metric, Prediction

BATCHED = [m for m in METRICS.values() if m.resampled is not None]


def _case(metric: Metric, n_classes: int, n: int, seed: int) -> tuple[np.ndarray, Prediction]:
    """Targets and a fair model's prediction, with tied probabilities (as trees give)."""
    rng = np.random.default_rng(seed)
    if metric.scores is Output.RANKINGS:  # each user's held-out items, a top 10 finding some
        held = rng.random((n, 50)) < rng.uniform(0.02, 0.1, (n, 1))
        held[:, 0] |= ~held.any(axis=1)  # never empty
        y = np.empty(n, dtype=object)
        y[:] = [np.flatnonzero(h) for h in held]
        return y, Prediction(np.argsort(rng.random((n, 50)) - 0.3 * held, axis=1)[:, :10])
    if metric.scores is Output.VALUES:
        y = rng.normal(10.0, 3.0, n)
        return y, Prediction(y + rng.normal(0.0, 1.5, n))
    y = rng.integers(0, n_classes, n)
    proba = rng.dirichlet(np.ones(n_classes), n) + 0.8 * np.eye(n_classes)[y]
    proba = np.round(proba / proba.sum(axis=1, keepdims=True), 1) + 1e-3  # ties
    proba /= proba.sum(axis=1, keepdims=True)
    return y, Prediction(proba.argmax(axis=1), proba)


def _one_by_one(metric: Metric, y: np.ndarray, pred: Prediction, k: int, rows: np.ndarray):
    return np.array(
        [
            metric.score(
                y[r], Prediction(pred.values[r], None if pred.proba is None else pred.proba[r]), k
            )
            for r in rows
        ]
    )


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("metric", BATCHED, ids=lambda m: m.name)
def test_batch_scores_equal_the_scorer_on_each_resample(metric: Metric, n_classes: int) -> None:
    if metric.scores in (Output.VALUES, Output.RANKINGS) and n_classes == 3:
        pytest.skip("one case for regression and ranking metrics")
    y, pred = _case(metric, n_classes, 400, seed=n_classes)
    statistic, batched = resample_scorer(metric, y, pred, n_classes)
    rows = np.random.default_rng(7).integers(0, len(y), (60, len(y)))
    rows[0] = 0  # a resample of one row drawn 400 times: a single class, no spread
    expected = _one_by_one(metric, y, pred, n_classes, rows)
    if not batched:  # multiclass AUC has no batch form: the same scores, one by one
        assert metric.name == "roc_auc" and n_classes == 3
        got = np.array([statistic(r.astype(float)) for r in rows])
    else:
        got = statistic(rows.astype(float))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert np.isfinite(expected[1:]).all()  # the comparison is not vacuous


@pytest.mark.parametrize("n", [600, 5_000, 30_000])  # BCa, percentile, normal
@pytest.mark.parametrize("name", ["r2", "rmse", "roc_auc", "log_loss", "f1"])
def test_certificate_bound_is_the_same_batched_or_one_by_one(name: str, n: int) -> None:
    """The batch form changes the speed of a certificate, not its bound (same resamples)."""
    metric = METRICS[name]
    y, pred = _case(metric, 2, n, seed=n)
    unbatched = replace(metric, resampled=None)
    fast = bootstrap_bound(metric, y, pred, 2, 0.05, seed=3, resamples=300)
    slow = bootstrap_bound(unbatched, y, pred, 2, 0.05, seed=3, resamples=300)
    if n > 20_000:  # the normal method draws its resamples in batches: another stream
        se = validation_se(metric, y, pred, 2)
        assert abs(fast - slow) < 0.5 * se
    else:
        assert fast == pytest.approx(slow, rel=1e-9, abs=1e-12)
    score = metric.score(y, pred, 2)
    assert (fast < score) if metric.greater_is_better else (fast > score)
