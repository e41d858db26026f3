"""The clustering certificate, tested by simulation like every task's.

A fixed clustering model is scored on many simulated test splits drawn from one population
whose true score is known (computed on a very large sample). The one-sided 95% bound must
be on the wrong side of the truth at most 5% of the time (plus sampling noise of the
simulation), must sit on the pessimistic side of the observed score, and must be finite
and informative (a bound of -inf would never be wrong, and is refused here too).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_samples

from learnloop.certify import certify
from learnloop.metrics import METRICS, Prediction

ALPHA = 0.05
CENTERS = np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 1.0], [0.0, 2.8, -1.0]])


def _population(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    groups = rng.integers(0, len(CENTERS), n)
    return CENTERS[groups] + rng.normal(0, 1.0, (n, CENTERS.shape[1])), groups


@pytest.fixture(scope="module")
def model() -> KMeans:
    X, _ = _population(20_000, np.random.default_rng(1))
    return KMeans(n_clusters=3, n_init=3, random_state=0).fit(X)


def _limit(n_sims: int) -> float:
    """The largest miss rate a 5% bound can show in ``n_sims`` simulations (2.5 SE above)."""
    return ALPHA + 2.5 * math.sqrt(ALPHA * (1 - ALPHA) / n_sims)


def _check(bounds: list[float], scores: list[float], truth: float, greater: bool) -> None:
    bounds_a, scores_a = np.asarray(bounds), np.asarray(scores)
    assert np.all(np.isfinite(bounds_a))
    pessimistic = bounds_a <= scores_a if greater else bounds_a >= scores_a
    assert pessimistic.all()
    wrong = bounds_a > truth if greater else bounds_a < truth
    rate = float(wrong.mean())
    assert rate <= _limit(len(bounds)), f"the bound was wrong {rate:.1%} of the time"
    # informative: the bound sits near the score, not at the end of the metric's range
    spread = float(np.std(scores_a))
    assert float(np.mean(np.abs(scores_a - bounds_a))) < 4 * spread


def test_silhouette_bound_covers_the_population_value(model: KMeans) -> None:
    rng = np.random.default_rng(7)
    big, _ = _population(6000, np.random.default_rng(2))
    truth = float(np.mean(silhouette_samples(big, model.predict(big))))
    metric = METRICS["silhouette"]
    bounds, scores = [], []
    for sim in range(400):
        X, _ = _population(300, rng)
        cert = certify(metric, X, Prediction(model.predict(X)), 0, None, 1 - ALPHA, seed=sim)
        bounds.append(cert.test_bound)
        scores.append(cert.test_score)
    _check(bounds, scores, truth, greater=True)


@pytest.mark.slow
def test_adjusted_rand_bound_covers_the_population_value(model: KMeans) -> None:
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(11)
    big, groups = _population(200_000, np.random.default_rng(3))
    truth = float(adjusted_rand_score(groups, model.predict(big)))
    metric = METRICS["adjusted_rand"]
    bounds, scores = [], []
    for sim in range(300):
        X, y = _population(200, rng)
        cert = certify(metric, y, Prediction(model.predict(X)), 0, None, 1 - ALPHA, seed=sim)
        bounds.append(cert.test_bound)
        scores.append(cert.test_score)
    _check(bounds, scores, truth, greater=True)


def test_davies_bouldin_bound_is_on_the_upper_side(model: KMeans) -> None:
    """Lower is better: the pessimistic bound is above the score."""
    X, _ = _population(400, np.random.default_rng(5))
    metric = METRICS["davies_bouldin"]
    cert = certify(metric, X, Prediction(model.predict(X)), 0, 10.0, 1 - ALPHA)
    assert math.isfinite(cert.test_bound) and cert.test_bound > cert.test_score
    strict = certify(metric, X, Prediction(model.predict(X)), 0, cert.test_score, 1 - ALPHA)
    assert strict.met is False  # a threshold between score and bound is not certified
