"""The certificate's honesty, checked by simulation."""

import numpy as np
import pytest

from learnloop.certify import (
    LOOK_SHARES,
    bootstrap_bound,
    certify,
    clopper_pearson_bound,
    look_alpha,
)
from learnloop.metrics import Prediction, get_metric


@pytest.mark.parametrize(("p", "n"), [(0.85, 200), (0.95, 500), (0.7, 60)])
def test_clopper_pearson_bound_is_wrong_at_most_five_percent(p: float, n: int) -> None:
    rng = np.random.default_rng(1)
    sims = 4000
    wrong = sum(clopper_pearson_bound(int(rng.binomial(n, p)), n, 0.05) > p for _ in range(sims))
    # exact bounds are conservative: the error rate is at most alpha (plus simulation noise)
    assert wrong / sims <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / sims)
    assert wrong / sims > 0.005  # and not absurdly loose


def test_bootstrap_bound_for_rmse_is_wrong_about_five_percent() -> None:
    rng = np.random.default_rng(2)
    metric = get_metric("rmse")
    true_rmse = 2.0  # errors ~ N(0, 2): population rmse is 2
    sims, wrong = 300, 0
    for i in range(sims):
        y = rng.normal(0, 1, 300)
        pred = Prediction(y + rng.normal(0, true_rmse, 300))
        upper = bootstrap_bound(metric, y, pred, 0, alpha=0.05, seed=i, resamples=300)
        wrong += upper < true_rmse  # the bound claims rmse is at most `upper`
    assert wrong / sims <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / sims)


def test_certificate_of_a_model_with_known_accuracy() -> None:
    rng = np.random.default_rng(3)
    metric = get_metric("accuracy")
    sims, false_claims = 1000, 0
    for _ in range(sims):
        y = rng.integers(0, 2, 400)
        correct = rng.random(400) < 0.88  # true accuracy 0.88
        pred = Prediction(np.where(correct, y, 1 - y))
        cert = certify(metric, y, pred, 2, threshold=0.89, confidence=0.95)
        false_claims += bool(cert.met)  # the truth (0.88) is below the threshold
    assert false_claims / sims <= 0.05


def test_look_alphas_sum_to_alpha() -> None:
    total = sum(look_alpha(0.05, k, len(LOOK_SHARES)) for k in range(1, len(LOOK_SHARES) + 1))
    assert total == pytest.approx(0.05)
    assert look_alpha(0.05, 1, 1) == 0.05


def test_certificate_direction_for_errors() -> None:
    y = np.linspace(0, 10, 200)
    pred = Prediction(y + 0.5)
    cert = certify(get_metric("mae"), y, pred, 0, threshold=1.0, confidence=0.95)
    assert cert.test_score == pytest.approx(0.5)
    assert cert.test_bound >= cert.test_score and cert.met


def test_large_split_normal_bound_is_wrong_about_five_percent() -> None:
    rng = np.random.default_rng(4)
    metric = get_metric("mae")
    n, sims, wrong = 25_000, 120, 0
    true_mae = 2.0 * np.sqrt(2 / np.pi)  # mean absolute value of N(0, 2)
    for i in range(sims):
        y = rng.normal(0, 1, n)
        pred = Prediction(y + rng.normal(0, 2.0, n))
        wrong += bootstrap_bound(metric, y, pred, 0, alpha=0.05, seed=i) < true_mae
    assert wrong / sims <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / sims)
