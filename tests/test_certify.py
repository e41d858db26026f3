"""The certificate's honesty, checked by simulation."""

import math

import numpy as np
import pytest
from scipy import stats

from learnloop.certify import (
    BCA_MAX_ROWS,
    LOOK_SHARES,
    NORMAL_MIN_ROWS,
    LookPolicy,
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
    sims, false_claims = 2000, 0
    for _ in range(sims):
        y = rng.integers(0, 2, 400)
        correct = rng.random(400) < 0.88  # true accuracy 0.88
        pred = Prediction(np.where(correct, y, 1 - y))
        cert = certify(metric, y, pred, 2, threshold=0.88, confidence=0.95)
        false_claims += bool(cert.met)  # the truth sits at the threshold: "met" is a false claim
    # exact bounds are conservative and the 400 rows are discrete: at most alpha (+ noise),
    # yet claimed often enough to show the bound is not absurdly low
    assert 0.015 <= false_claims / sims <= _error_rate_limit(sims)


def test_an_early_first_look_plans_one_look_more_within_alpha() -> None:
    """A run whose first look comes short of the aim plans four looks: 30% of alpha for it,
    the three after it sharing the rest as before; the plan is taken before any look."""
    policy = LookPolicy(0.95, 0.9, get_metric("accuracy"))
    assert policy.early_alpha == pytest.approx(0.015)
    policy.plan_early_look()
    alphas = [policy.alpha_at(k) for k in range(1, policy.planned + 1)]
    assert alphas == pytest.approx([0.015, 0.021, 0.00875, 0.00525])
    assert sum(alphas) == pytest.approx(0.05)
    assert policy.early_alpha is None  # planned once
    policy.plan_early_look()
    assert policy.planned == 4


def test_look_alphas_sum_to_alpha() -> None:
    total = sum(look_alpha(0.05, k, len(LOOK_SHARES)) for k in range(1, len(LOOK_SHARES) + 1))
    assert total == pytest.approx(0.05)
    assert look_alpha(0.05, 1, 1) == 0.05


def test_certificate_direction_for_errors() -> None:
    rng = np.random.default_rng(5)
    y = np.linspace(0, 10, 200)
    pred = Prediction(y + rng.normal(0, 1.0, 200))  # noisy errors: mae about 0.8
    metric = get_metric("mae")
    cert = certify(metric, y, pred, 0, threshold=None, confidence=0.95)
    errors = np.abs(pred.values - y)
    se = errors.std(ddof=1) / np.sqrt(len(y))
    assert cert.test_score == pytest.approx(errors.mean())
    # an upper bound on an error, clearly past the score (about 1.645 standard errors)
    assert cert.test_score + 1.2 * se < cert.test_bound < cert.test_score + 2.5 * se
    between = (cert.test_score + cert.test_bound) / 2
    assert not certify(metric, y, pred, 0, threshold=between, confidence=0.95).met
    above = cert.test_bound + se
    assert certify(metric, y, pred, 0, threshold=above, confidence=0.95).met


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


# ---------------------------------------------------------------------------------------
# Greater-is-better metrics: the bound must sit below the score, and below the truth about
# 95% of the time. Each check reads both sides: a bound on the optimistic side (or +inf) is
# wrong far more than 5% of the time; a bound of -inf (or a uselessly loose one) is never
# wrong. With ``SIMS`` simulations a 10% error rate is told from 5%: the limit below is
# 5% + 2 standard errors, and a 10% rate exceeds it with probability > 0.99.


def _error_rate_limit(sims: int, alpha: float = 0.05) -> float:
    return alpha + 2 * float(np.sqrt(alpha * (1 - alpha) / sims))


def _r2_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Prediction]:
    """y ~ N(0, 1) predicted with N(0, 0.5) noise: the population r2 is 1 - 0.25 = 0.75."""
    y = rng.normal(0, 1, n)
    return y, Prediction(y + rng.normal(0, 0.5, n))


R2_TRUE = 0.75


def _auc_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Prediction]:
    """Scores N(1, 1) for positives and N(0, 1) for negatives: AUC = Phi(1 / sqrt 2)."""
    y = (rng.random(n) < 0.5).astype(int)
    s = rng.normal(0, 1, n) + y
    p1 = 1 / (1 + np.exp(-s))
    return y, Prediction((p1 > 0.5).astype(int), np.c_[1 - p1, p1])


AUC_TRUE = float(stats.norm.cdf(1 / np.sqrt(2)))


def _simulate_bound(metric_name, sample, truth, n, sims, seed):
    """Error rate of the production bootstrap bound (1000 resamples) and the bounds seen."""
    rng = np.random.default_rng(seed)
    metric = get_metric(metric_name)
    wrong, bounds, scores = 0, [], []
    for i in range(sims):
        y, pred = sample(rng, n)
        bound = bootstrap_bound(metric, y, pred, 2, alpha=0.05, seed=i)
        bounds.append(bound)
        scores.append(metric.score(y, pred, 2))
        wrong += bound > truth  # the bound claims the score is at least `bound`
    return wrong / sims, np.array(bounds), np.array(scores)


def test_bootstrap_bound_for_r2_is_wrong_about_five_percent() -> None:
    sims = 600
    rate, bounds, scores = _simulate_bound("r2", _r2_sample, R2_TRUE, 100, sims, seed=11)
    assert np.isfinite(bounds).all()
    assert (bounds < scores).all()  # the pessimistic side: below the observed score
    assert rate <= _error_rate_limit(sims), rate
    assert rate >= 0.02, rate  # and not absurdly loose (a bound of -inf is never wrong)


@pytest.mark.slow
def test_bootstrap_bound_for_roc_auc_is_wrong_about_five_percent() -> None:
    sims = 400
    rate, bounds, scores = _simulate_bound("roc_auc", _auc_sample, AUC_TRUE, 80, sims, seed=12)
    assert np.isfinite(bounds).all()
    assert (bounds < scores).all()
    assert rate <= _error_rate_limit(sims), rate
    assert rate >= 0.015, rate


def test_percentile_branch_for_r2_bounds_below() -> None:
    n = 2500  # between BCA_MAX_ROWS and NORMAL_MIN_ROWS: the percentile method
    assert BCA_MAX_ROWS < n <= NORMAL_MIN_ROWS
    rng = np.random.default_rng(13)
    metric = get_metric("r2")
    sims, wrong = 200, 0
    for i in range(sims):
        y, pred = _r2_sample(rng, n)
        cert = certify(metric, y, pred, 0, threshold=R2_TRUE, confidence=0.95, seed=i)
        assert cert.method == "bootstrap-percentile"
        assert math.isfinite(cert.test_bound) and cert.test_bound < cert.test_score
        wrong += bool(cert.met)  # the truth sits at the threshold
    assert 0.01 <= wrong / sims <= _error_rate_limit(sims)


def test_normal_branch_for_r2_bounds_below() -> None:
    rng = np.random.default_rng(14)
    y, pred = _r2_sample(rng, NORMAL_MIN_ROWS + 1000)
    cert = certify(get_metric("r2"), y, pred, 0, threshold=None, confidence=0.95)
    assert cert.method == "normal-bootstrap-se"
    se = 0.006  # about sqrt(Var r2 / n) for this model
    assert cert.test_score - 3 * se < cert.test_bound < cert.test_score - 0.5 * se


def test_later_looks_use_their_share_of_alpha() -> None:
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 300)
    pred = Prediction(np.where(rng.random(300) < 0.9, y, 1 - y))
    metric = get_metric("accuracy")
    correct = int(np.sum(pred.values == y))
    bounds = []
    for look in (1, 2, 3):
        cert = certify(metric, y, pred, 2, 0.85, 0.95, look=look, planned_looks=3)
        assert cert.look == look
        assert cert.alpha_used == pytest.approx(0.05 * LOOK_SHARES[look - 1])
        assert cert.test_bound == pytest.approx(
            clopper_pearson_bound(correct, 300, cert.alpha_used)
        )
        bounds.append(cert.test_bound)
    assert bounds[0] > bounds[1] > bounds[2]  # a smaller alpha: a lower (more careful) bound
    single = certify(metric, y, pred, 2, 0.85, 0.95)
    assert single.look == 1 and single.alpha_used == pytest.approx(0.05)
    assert single.test_bound > bounds[0]
    r2 = certify(get_metric("r2"), *_r2_sample(rng, 150), 0, None, 0.95, look=2, planned_looks=3)
    assert r2.alpha_used == pytest.approx(0.05 * LOOK_SHARES[1]) and r2.look == 2


def test_three_looks_at_the_threshold_claim_met_at_most_alpha() -> None:
    """The whole looks policy: up to three looks, each at a new model, stopping at "met".

    Every model's true accuracy equals the threshold, so any "met" is a false claim; the
    family-wise rate of false claims over the three looks must stay at most alpha.
    """
    rng = np.random.default_rng(7)
    metric = get_metric("accuracy")
    n, truth, sims, false_met = 400, 0.85, 3000, 0
    for _ in range(sims):
        y = rng.integers(0, 2, n)
        for look in (1, 2, 3):
            pred = Prediction(np.where(rng.random(n) < truth, y, 1 - y))
            cert = certify(metric, y, pred, 2, truth, 0.95, look=look, planned_looks=3)
            if cert.met:
                false_met += 1
                break
    assert false_met / sims <= _error_rate_limit(sims), false_met / sims
    assert false_met / sims >= 0.015  # the looks are not wasted on absurdly low bounds


@pytest.mark.slow
def test_the_saved_model_is_the_certified_one(cancer, tmp_path) -> None:
    import learnloop
    from learnloop.runs.dataset import prepare_dataset

    out = tmp_path / "model.skops"
    result = learnloop.train(
        cancer, target="target", threshold=0.85, budget=60, out=out, store=str(tmp_path / "s.db")
    )
    assert result.certificate is not None and out.exists()
    loaded = learnloop.load(out)
    data = prepare_dataset(cancer, "target", "auto", None, 0.85, 0)
    X_te, y_te = data.test.X, data.test.y
    assert y_te is not None and len(y_te) == result.certificate.n_test
    pred = data.task.predict(loaded.pipeline, X_te, data.n_outputs)  # the file's own pipeline
    score = data.metric.score(y_te, pred, data.n_outputs)
    assert score == result.certificate.test_score
    assert loaded.metadata["certificate"] == result.certificate.to_dict()
