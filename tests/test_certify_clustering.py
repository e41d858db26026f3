"""The clustering certificates, tested by simulation like every task's.

A fixed clustering model is certified on many simulated test splits drawn from one
population whose value of every metric is known exactly (``bench.bounds``: a finite set of
support points drawn with replacement). The one-sided 95% bound must be on the wrong side of
the population value at most 5% of the time (plus the simulation's own noise), sit on the
pessimistic side of the observed score, be finite, and be about as far from the score as a
bound that knew the score's spread (``ideal``) — and that distance must shrink as
1/sqrt(test rows): the silhouette's bound was 0.05 below the score on 10,788 rows, where a
proportion's would be 0.01 below, because each leave-a-group-out score drew its own 2,000-row
sample. The full table (200, 2,000 and 20,000 rows) is ``bench/BOUNDS_RESULTS.md``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import silhouette_samples

from learnloop.certify import certify, resample_scorer
from learnloop.certify.silhouette import estimate, pseudo_values
from learnloop.metrics import METRICS, Prediction

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bounds import Population, population, simulate  # noqa: E402

ALPHA = 0.05
CLUSTER_METRICS = ["silhouette", "davies_bouldin", "calinski_harabasz", "adjusted_rand", "nmi"]


@pytest.fixture(scope="module")
def pop() -> Population:
    return population(4000)


def _limit(n_sims: int) -> float:
    """The largest miss rate a 5% bound can show in ``n_sims`` simulations (2.5 SE above)."""
    return ALPHA + 2.5 * math.sqrt(ALPHA * (1 - ALPHA) / n_sims)


def _check(row: dict) -> None:
    assert row["finite"] and row["pessimistic"], row
    miss = 1.0 - row["coverage"]
    assert miss <= _limit(row["sims"]), f"{row['metric']}: the bound was wrong {miss:.1%}"
    assert 0.75 <= row["width"] / row["ideal"] <= 1.5, row  # informative, not just safe


@pytest.mark.parametrize(
    ("name", "sims"),
    [
        ("silhouette", 400),
        ("davies_bouldin", 250),
        ("calinski_harabasz", 250),
        ("adjusted_rand", 250),
        ("nmi", 250),
    ],
)
def test_bound_covers_the_population_value_on_200_rows(
    pop: Population, name: str, sims: int
) -> None:
    _check(simulate(pop, name, 200, sims, seed=11))


@pytest.mark.slow
@pytest.mark.parametrize("name", CLUSTER_METRICS)
def test_bound_covers_the_population_value_on_2000_rows(pop: Population, name: str) -> None:
    _check(simulate(pop, name, 2000, 150, seed=12))


def _relative_width(pop: Population, name: str, n: int, repeats: int) -> float:
    rng = np.random.default_rng(n)
    metric = METRICS[name]
    widths = []
    for sim in range(repeats):
        rows = pop.draw(n, rng)
        y = pop.X[rows] if metric.reference == "inputs" else pop.groups[rows]
        cert = certify(metric, y, Prediction(pop.clusters[rows]), 0, None, 1 - ALPHA, seed=sim)
        widths.append(abs(cert.test_score - cert.test_bound) / abs(cert.test_score))
    return float(np.mean(widths))


@pytest.mark.parametrize("name", CLUSTER_METRICS)
def test_bound_width_shrinks_as_one_over_root_rows(pop: Population, name: str) -> None:
    """Ten times the rows, a bound sqrt(10) = 3.2 times closer to the score."""
    ratio = _relative_width(pop, name, 200, 8) / _relative_width(pop, name, 2000, 3)
    assert 2.4 <= ratio <= 4.2, f"{name}: 10x the rows narrowed the bound {ratio:.2f}x"


def test_silhouette_bound_on_20000_rows_keeps_narrowing(pop: Population) -> None:
    """Past the 2,000 rows the search's silhouette samples, the certificate uses every test
    row (in blocks): 20,000 rows give a bound about sqrt(10) times closer than 2,000."""
    wide = _relative_width(pop, "silhouette", 2000, 2)
    narrow = _relative_width(pop, "silhouette", 20_000, 1)
    assert 0.2 <= narrow / wide <= 0.45
    rows = pop.draw(20_000, np.random.default_rng(5))
    cert = certify(METRICS["silhouette"], pop.X[rows], Prediction(pop.clusters[rows]), 0, None,
                   0.95)  # fmt: skip
    assert cert.method == "jackknife" and cert.n_test == 20_000
    assert abs(cert.test_score - pop.truth("silhouette", 0)) < 0.01


def test_pseudo_values_match_leaving_each_row_out() -> None:
    """The linearised jackknife against the real one: recompute the silhouette without each
    row in turn. Row silhouettes equal scikit-learn's; the pseudo-values average exactly to
    the score and spread like the recomputed ones."""
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(c, 1.0, (50, 3)) for c in (0.0, 2.5, 5.0)])
    labels = np.repeat([0, 1, 2], 50)
    labels[rng.choice(150, 15, replace=False)] = rng.integers(0, 3, 15)  # a clustering's errors
    values, pseudo = pseudo_values(X, labels)
    np.testing.assert_allclose(values, silhouette_samples(X, labels), atol=1e-9)
    score = values.mean()
    left_out = np.array([
        silhouette_samples(np.delete(X, j, 0), np.delete(labels, j)).mean() for j in range(150)
    ])  # fmt: skip
    exact = 150 * score - 149 * left_out
    assert pseudo.mean() == pytest.approx(score, abs=1e-12)
    assert np.corrcoef(pseudo, exact)[0, 1] > 0.98
    assert pseudo.std() == pytest.approx(exact.std(), rel=0.05)
    assert pseudo.std() > 1.2 * values.std()  # why the values alone are not enough


def test_silhouette_estimate_is_the_mean_over_blocks() -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(4500, 2))
    labels = (X[:, 0] > 0).astype(int)
    est = estimate(X, labels, seed=1)
    assert est.blocks == 2 and est.df == 4498
    order = np.random.default_rng(1).permutation(4500)
    halves = np.array_split(order, 2)
    by_block = [silhouette_samples(X[h], labels[h]).mean() for h in halves]
    assert est.score == pytest.approx(np.average(by_block, weights=[len(h) for h in halves]))
    one = estimate(X[:1000], labels[:1000])
    assert one.blocks == 1 and one.score == pytest.approx(
        silhouette_samples(X[:1000], labels[:1000]).mean()
    )


@pytest.mark.parametrize("name", ["davies_bouldin", "calinski_harabasz", "adjusted_rand", "nmi"])
def test_batch_scores_equal_the_scorer_on_each_resample(pop: Population, name: str) -> None:
    """The clustering metrics' batch forms, degenerate resamples and noise (-1) included."""
    metric = METRICS[name]
    rng = np.random.default_rng(8)
    rows = pop.draw(300, rng)
    labels = pop.clusters[rows].copy()
    labels[:4] = -1  # noise, as HDBSCAN says it
    y = pop.X[rows] if metric.reference == "inputs" else pop.groups[rows].copy()
    if metric.reference == "targets":
        y[:6] = -1  # rows whose group is unknown
    pred = Prediction(labels)
    statistic, batched = resample_scorer(metric, y, pred, 0)
    assert batched
    draws = rng.integers(0, 300, (50, 300))
    draws[0] = 7  # one row drawn 300 times: one cluster, the metric's worst value
    draws[1] = draws[1] % 2  # two rows
    draws[2] = draws[2] % 6  # (known groups) none known
    expected = np.array([metric.score(y[r], Prediction(labels[r])) for r in draws])
    got = statistic(draws)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert np.isfinite(expected[3:]).all()  # the comparison is not vacuous


def test_davies_bouldin_bound_is_on_the_upper_side(pop: Population) -> None:
    """Lower is better: the pessimistic bound is above the score."""
    rows = pop.draw(400, np.random.default_rng(5))
    X, pred = pop.X[rows], Prediction(pop.clusters[rows])
    metric = METRICS["davies_bouldin"]
    cert = certify(metric, X, pred, 0, 10.0, 1 - ALPHA)
    assert math.isfinite(cert.test_bound) and cert.test_bound > cert.test_score
    strict = certify(metric, X, pred, 0, cert.test_score, 1 - ALPHA)
    assert strict.met is False  # a threshold between score and bound is not certified


def _spread_before(y: np.ndarray, p: Prediction, rows: np.ndarray, root: bool) -> tuple:
    """``clusters_resampled._spread`` as it was before its passes went in place (the
    reference the faster form must equal: bit for bit on this machine)."""
    from learnloop.metrics.clusters_resampled import _clusters, _counts

    X = np.asarray(y, dtype=float).reshape(len(y), -1)
    codes, k = _clusters(p)
    weights = _counts(rows, len(X)).astype(float)
    sizes, centres = np.zeros((len(rows), k)), np.zeros((len(rows), k, X.shape[1]))
    spread = np.zeros((len(rows), k))
    for c in range(k):
        home = X[codes == c].mean(axis=0)
        part, w = X[codes == c] - home, weights[:, codes == c]
        sizes[:, c] = w.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.nan_to_num((w @ part) / sizes[:, c, None])
        square = np.maximum(
            (part**2).sum(axis=1)[None, :] - 2 * shift @ part.T + (shift**2).sum(axis=1)[:, None],
            0.0,
        )
        spread[:, c] = (w * (np.sqrt(square) if root else square)).sum(axis=1)
        centres[:, c] = shift + home
    return sizes, centres, spread


@pytest.mark.parametrize("root", [True, False])
def test_spread_equals_its_form_before_the_speed_up(pop: Population, root: bool) -> None:
    """The cluster sums behind Davies-Bouldin (root) and Calinski-Harabasz, bootstrap and
    jackknife resamples and degenerate ones (one row, noise), equal the earlier form's."""
    from learnloop.metrics.clusters_resampled import _spread

    rng = np.random.default_rng(9)
    rows = pop.draw(400, rng)
    labels = pop.clusters[rows].copy()
    labels[:5] = -1
    pred = Prediction(labels)
    draws = rng.integers(0, 400, (60, 400))
    draws[0] = 7
    draws[1] = draws[1] % 2
    jack = np.array([np.delete(np.arange(400), i) for i in range(0, 400, 7)])
    for batch in (draws, jack):
        for got, want in zip(
            _spread(pop.X[rows], pred, batch, root),
            _spread_before(pop.X[rows], pred, batch, root),
            strict=True,
        ):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)  # bitwise here
    assert np.isfinite(_spread(pop.X[rows], pred, draws, root)[2]).all()
