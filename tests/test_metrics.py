import math

import numpy as np
import pytest

from learnloop.core import Output
from learnloop.exceptions import UsageError
from learnloop.metrics import METRICS, Prediction, get_metric, metrics_for
from learnloop.tasks import TASKS

rng = np.random.default_rng(0)


def _classification_case(k: int) -> tuple[np.ndarray, Prediction, Prediction]:
    y = rng.integers(0, k, 300)
    good = np.full((300, k), 0.05 / max(k - 1, 1))
    good[np.arange(300), y] = 0.95
    bad = np.roll(good, 1, axis=1)
    return y, Prediction(good.argmax(1), good), Prediction(bad.argmax(1), bad)


@pytest.mark.parametrize("name", metrics_for(Output.CLASSES))
@pytest.mark.parametrize("k", [2, 3])
def test_classification_metric_prefers_the_right_model(name: str, k: int) -> None:
    metric = METRICS[name]
    y, good, bad = _classification_case(k)
    s_good, s_bad = metric.score(y, good, k), metric.score(y, bad, k)
    assert metric.better(s_good, s_bad)
    assert not metric.better(s_bad, s_good)
    assert metric.meets(s_good, s_bad) and not metric.meets(s_bad, s_good)


@pytest.mark.parametrize("name", metrics_for(Output.VALUES))
def test_regression_metric_prefers_the_right_model(name: str) -> None:
    metric = METRICS[name]
    y = rng.normal(10, 3, 300)
    good = Prediction(y + rng.normal(0, 0.5, 300))
    bad = Prediction(y + rng.normal(0, 3.0, 300))
    assert metric.better(metric.score(y, good), metric.score(y, bad))


def test_directions_read_naturally() -> None:
    assert get_metric("rmse").meets(3.9, 4.0) and not get_metric("rmse").meets(4.1, 4.0)
    assert get_metric("accuracy").meets(0.91, 0.9) and not get_metric("accuracy").meets(0.89, 0.9)
    assert get_metric("log_loss").to_loss(0.3) == 0.3
    assert get_metric("r2").to_loss(0.3) == -0.3
    assert get_metric("accuracy").shift(0.9, 0.02) == pytest.approx(0.92)
    assert get_metric("mae").shift(4.0, 0.5) == pytest.approx(3.5)


def test_nan_never_meets() -> None:
    assert not get_metric("accuracy").meets(math.nan, 0.5)
    assert not get_metric("accuracy").better(math.nan, 0.1)


def test_exact_values_against_hand_computation() -> None:
    y = np.array([0, 1, 1, 0])
    pred = Prediction(
        np.array([0, 1, 0, 0]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    )
    assert get_metric("accuracy").score(y, pred, 2) == 0.75
    assert get_metric("roc_auc").score(y, pred, 2) == 1.0
    yr = np.array([1.0, 2.0, 3.0])
    assert get_metric("rmse").score(yr, Prediction(np.array([1.0, 2.0, 5.0]))) == pytest.approx(
        math.sqrt(4 / 3)
    )
    assert get_metric("mae").score(yr, Prediction(np.array([2.0, 2.0, 2.0]))) == pytest.approx(
        2 / 3
    )
    assert get_metric("r2").score(yr, Prediction(yr)) == 1.0


@pytest.mark.parametrize("decimals", [None, 2, 0])  # distinct scores, many ties, all tied
@pytest.mark.parametrize("n", [7, 500, 20_000])
def test_binary_auc_equals_scikit_learn_with_and_without_ties(n: int, decimals) -> None:
    from sklearn.metrics import roc_auc_score

    y = (rng.random(n) < 0.3).astype(int)
    y[:2] = [0, 1]  # both classes present
    score = rng.random(n) * 0.5 + 0.3 * y
    if decimals is not None:
        score = np.round(score, decimals)
    proba = np.column_stack([1 - score, score])
    ours = get_metric("roc_auc").score(y, Prediction((score > 0.5).astype(int), proba), 2)
    assert ours == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_unknown_metric_and_task_mismatch() -> None:
    with pytest.raises(UsageError, match="Unknown metric 'acc'"):
        get_metric("acc")
    with pytest.raises(UsageError, match="does not apply to regression"):
        TASKS["regression"].metric("accuracy")


@pytest.mark.parametrize(
    ("name", "value"), [("accuracy", 1.2), ("accuracy", -0.1), ("rmse", -1.0), ("r2", 1.5)]
)
def test_threshold_outside_range(name: str, value: float) -> None:
    with pytest.raises(UsageError, match="outside the range"):
        get_metric(name).check_threshold(value)
