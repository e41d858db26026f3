"""Clustering parts: the clustering metrics, the three families and HDBSCANClusterer."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.datasets import load_wine, make_blobs
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from learnloop.core import Output
from learnloop.estimators import HDBSCANClusterer
from learnloop.exceptions import NotFittedError, UsageError
from learnloop.families import CANDIDATES, Candidate, FitContext, families_for
from learnloop.families.clustering import (
    GaussianMixtureCandidate,
    HDBSCANCandidate,
    KMeansCandidate,
    max_clusters,
)
from learnloop.metrics import (
    METRICS,
    SILHOUETTE_MAX_ROWS,
    Prediction,
    get_metric,
    metrics_for,
)
from learnloop.tasks import TASKS

CLUSTERS = Output.CLUSTERS

CLUSTERING = ["silhouette", "davies_bouldin", "calinski_harabasz", "adjusted_rand", "nmi"]
INTERNAL = ["silhouette", "davies_bouldin", "calinski_harabasz"]


class StubMonitor:
    """Scores silhouette on X_val after the steps it wants; stops at ``stop_at``."""

    def __init__(
        self,
        X_val: np.ndarray,
        every: int = 1,
        stop_at: int | None = None,
        seconds: float = 1e9,
        force_best: int | None = None,
    ) -> None:
        self.X_val, self.every, self.stop_at = X_val, every, stop_at
        self.seconds, self.force_best = seconds, force_best
        self.steps: list[int] = []
        self.scores: list[float] = []
        self.labels: dict[int, np.ndarray] = {}
        self._best, self._best_score = 0, -math.inf

    def wants(self, step: int) -> bool:
        return step % self.every == 0

    def __call__(self, step: int, prediction: Prediction) -> bool:
        assert not self.steps or step > self.steps[-1], "steps must increase"
        score = METRICS["silhouette"].score(self.X_val, prediction)
        self.steps.append(step)
        self.scores.append(score)
        self.labels[step] = np.asarray(prediction.values).copy()
        if score > self._best_score:
            self._best, self._best_score = step, score
        return self.stop_at is None or step < self.stop_at

    @property
    def best_step(self) -> int:
        return self.force_best if self.force_best is not None else self._best

    def seconds_left(self) -> float:
        return self.seconds


def _ctx(monitor: StubMonitor, seed: int = 0) -> FitContext:
    return FitContext(
        output=CLUSTERS,
        n_classes=0,
        seed=seed,
        n_jobs=1,
        categorical=[],
        monitor=monitor,
        predict=lambda est, rows: TASKS["clustering"].predict(est, rows, 0),
    )


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Four well-separated blobs, scaled: train rows, validation rows and their true groups."""
    X, y = make_blobs(n_samples=600, centers=4, cluster_std=0.5, random_state=0)
    X = StandardScaler().fit_transform(X)
    return X[:450], X[450:], y[:450], y[450:]


@pytest.fixture(scope="module")
def wine() -> tuple[np.ndarray, np.ndarray]:
    data = load_wine()
    return StandardScaler().fit_transform(data.data), data.target


@pytest.fixture(scope="module")
def slow_data() -> np.ndarray:
    """Structureless rows: k-means and EM need many steps to settle on them."""
    return np.random.default_rng(0).normal(size=(1500, 5))


KMEANS4 = (KMeansCandidate(), {"n_clusters": 4})
GMM4 = (GaussianMixtureCandidate(), {"n_components": 4, "covariance_type": "full"})
HDB = (HDBSCANCandidate(), {"min_cluster_size": 10, "min_samples": 5})


class SmallBatchKMeans(KMeansCandidate):
    """k-means that takes the mini-batch path already on small tables."""

    lloyd_max_rows = 100
    batch_size = 128


MINIBATCH4 = (SmallBatchKMeans(), {"n_clusters": 4})


# --- metrics ---------------------------------------------------------------------------


def test_clustering_metrics_are_registered_with_their_facts() -> None:
    assert metrics_for(CLUSTERS) == CLUSTERING
    assert TASKS["clustering"].metric_names() == CLUSTERING
    expected = {
        "silhouette": (True, -1.0, 1.0, "inputs"),
        "davies_bouldin": (False, 0.0, math.inf, "inputs"),
        "calinski_harabasz": (True, 0.0, math.inf, "inputs"),
        "adjusted_rand": (True, -0.5, 1.0, "targets"),
        "nmi": (True, 0.0, 1.0, "targets"),
    }
    for name, (greater, low, high, reference) in expected.items():
        m = TASKS["clustering"].metric(name)
        assert (m.greater_is_better, m.low, m.high, m.reference) == (greater, low, high, reference)
        assert not m.needs_proba and not m.proportion
    assert METRICS["silhouette"].per_row is not None
    # existing metrics keep scoring targets, and clustering ones stay out of their tasks
    assert all(METRICS[n].reference == "targets" for n in metrics_for(Output.CLASSES))
    assert not set(CLUSTERING) & set(metrics_for(Output.VALUES))
    with pytest.raises(UsageError, match="does not apply to classification"):
        TASKS["classification"].metric("silhouette")
    with pytest.raises(UsageError):
        get_metric("silhouette").check_threshold(1.5)


def _blob_labellings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=400, centers=3, cluster_std=0.6, random_state=1)
    shuffled = np.random.default_rng(1).permutation(y)
    return X, y, shuffled


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("silhouette", skm.silhouette_score),
        ("davies_bouldin", skm.davies_bouldin_score),
        ("calinski_harabasz", skm.calinski_harabasz_score),
    ],
)
def test_internal_metrics_equal_sklearn_and_prefer_the_true_grouping(
    name: str, reference: Any
) -> None:
    X, good, bad = _blob_labellings()
    metric = METRICS[name]
    s_good = metric.score(X, Prediction(good))
    s_bad = metric.score(X, Prediction(bad))
    assert s_good == pytest.approx(reference(X, good), rel=1e-9)
    assert s_bad == pytest.approx(reference(X, bad), rel=1e-9)
    assert metric.better(s_good, s_bad) and not metric.better(s_bad, s_good)
    assert metric.low <= min(s_good, s_bad) and max(s_good, s_bad) <= metric.high


@pytest.mark.parametrize(
    ("name", "reference"),
    [("adjusted_rand", skm.adjusted_rand_score), ("nmi", skm.normalized_mutual_info_score)],
)
def test_external_metrics_equal_sklearn_and_ignore_unknown_groups(
    name: str, reference: Any
) -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 3, 300)
    labels = np.where(rng.random(300) < 0.8, codes, rng.integers(0, 3, 300))
    metric = METRICS[name]
    full = metric.score(codes, Prediction(labels))
    assert full == pytest.approx(reference(codes, labels))
    assert metric.better(full, metric.score(codes, Prediction(rng.permutation(labels))))
    # rows of unknown group (-1) are left out: whatever is predicted for them
    unknown = rng.random(300) < 0.3
    partial_codes = np.where(unknown, -1, codes)
    expected = reference(codes[~unknown], labels[~unknown])
    assert metric.score(partial_codes, Prediction(labels)) == pytest.approx(expected)
    scrambled = np.where(unknown, rng.integers(0, 7, 300), labels)
    assert metric.score(partial_codes, Prediction(scrambled)) == pytest.approx(expected)
    assert expected != pytest.approx(full)  # the -1 rows did matter when counted
    # perfect agreement up to renaming is the best value
    assert metric.score(codes, Prediction((codes + 1) % 3)) == pytest.approx(1.0)
    # no row with a known group: the worst value, no exception
    assert metric.score(np.full(10, -1), Prediction(np.arange(10) % 2)) == metric.low


@pytest.mark.parametrize("labels", [np.zeros(50, dtype=int), np.arange(50)])
def test_degenerate_labellings_score_worst_without_raising(labels: np.ndarray) -> None:
    X = np.random.default_rng(3).normal(size=(50, 3))
    pred = Prediction(labels)
    assert METRICS["silhouette"].score(X, pred) == -1.0
    per_row = METRICS["silhouette"].per_row
    assert per_row is not None
    np.testing.assert_array_equal(per_row(X, pred, 0), np.full(50, -1.0))
    assert METRICS["davies_bouldin"].score(X, pred) == math.inf
    assert METRICS["calinski_harabasz"].score(X, pred) == 0.0
    good = np.arange(50) % 2
    for name in INTERNAL:  # any real labelling beats a degenerate one
        m = METRICS[name]
        assert m.better(m.score(X, Prediction(good)), m.score(X, pred))


def test_noise_label_counts_as_one_more_cluster() -> None:
    X, y = make_blobs(n_samples=300, centers=2, cluster_std=0.5, random_state=4)
    with_noise = y.copy()
    with_noise[:40] = -1  # two clusters and noise: three groups
    for name, reference in [
        ("silhouette", skm.silhouette_score),
        ("davies_bouldin", skm.davies_bouldin_score),
        ("calinski_harabasz", skm.calinski_harabasz_score),
    ]:
        score = METRICS[name].score(X, Prediction(with_noise))
        assert score == pytest.approx(reference(X, with_noise))
        assert score != pytest.approx(reference(X, y))
    # one cluster plus noise is two groups: not degenerate
    one_and_noise = np.where(np.arange(300) < 150, 0, -1)
    assert METRICS["silhouette"].score(X, Prediction(one_and_noise)) > -1.0


def test_silhouette_per_row_mean_is_the_score() -> None:
    X, y, _ = _blob_labellings()
    per_row = METRICS["silhouette"].per_row
    assert per_row is not None
    values = per_row(X, Prediction(y), 0)
    assert values.shape == (len(X),)
    np.testing.assert_allclose(values, skm.silhouette_samples(X, y))
    assert float(np.mean(values)) == pytest.approx(METRICS["silhouette"].score(X, Prediction(y)))


def test_silhouette_samples_large_tables_deterministically() -> None:
    X, y = make_blobs(n_samples=3 * SILHOUETTE_MAX_ROWS, centers=5, random_state=5)
    metric = METRICS["silhouette"]
    assert metric.per_row is not None
    pred = Prediction(y)
    first, again = metric.score(X, pred), metric.score(X, pred)
    assert first == again
    values = metric.per_row(X, pred, 0)
    assert values.shape == (SILHOUETTE_MAX_ROWS,)
    np.testing.assert_array_equal(values, metric.per_row(X, pred, 0))
    assert float(np.mean(values)) == pytest.approx(first)
    # the sample is fixed (seed 0) and represents the whole table
    rows = np.sort(np.random.default_rng(0).choice(len(X), SILHOUETTE_MAX_ROWS, replace=False))
    assert first == pytest.approx(skm.silhouette_score(X[rows], y[rows]))
    assert first == pytest.approx(skm.silhouette_score(X, y), abs=0.02)


# --- families --------------------------------------------------------------------------


def test_families_are_registered_for_clustering_only() -> None:
    names = ("kmeans_sweep", "kmeans", "gaussian_mixture", "hdbscan")
    for name in names:
        family = CANDIDATES[name]
        assert family.produces == {CLUSTERS} and family.preprocessing == "cluster"
    assert [c.name for c in families_for(TASKS["clustering"])] == list(names)
    supervised = [c.name for c in families_for(TASKS["classification"])]
    assert not set(names) & set(supervised)


@pytest.mark.parametrize("n_rows", [40, 178, 5000, 200_000])
def test_portfolios_and_search_spaces_fit_the_table(n_rows: int) -> None:
    import optuna

    top = max_clusters(n_rows)
    assert 2 <= top <= 30
    kmeans = KMeansCandidate().portfolio(CLUSTERS, n_rows)
    assert kmeans[0] == {"n_clusters": 3 if top >= 3 else 2}
    assert all(2 <= c["n_clusters"] <= top for c in kmeans)
    gmm = GaussianMixtureCandidate().portfolio(CLUSTERS, n_rows)
    assert all(2 <= c["n_components"] <= top for c in gmm)
    hdb = HDBSCANCandidate().portfolio(CLUSTERS, n_rows)
    assert hdb and len({tuple(sorted(c.items())) for c in hdb}) == len(hdb)
    fixed = optuna.trial.FixedTrial(
        {
            "kmeans.n_clusters": top,
            "gaussian_mixture.n_components": 2,
            "gaussian_mixture.covariance_type": "diag",
            "hdbscan.min_cluster_size": 5,
            "hdbscan.min_samples": 3,
        }
    )
    assert KMeansCandidate().search_space(fixed, CLUSTERS, n_rows) == {"n_clusters": top}
    assert GaussianMixtureCandidate().search_space(fixed, CLUSTERS, n_rows) == {
        "n_components": 2,
        "covariance_type": "diag",
    }
    assert HDBSCANCandidate().search_space(fixed, CLUSTERS, n_rows) == {
        "min_cluster_size": 5,
        "min_samples": 3,
    }


@pytest.mark.parametrize(
    ("family", "params", "min_ari", "model_type"),
    [
        (*KMEANS4, 0.9, KMeans),
        (*MINIBATCH4, 0.9, MiniBatchKMeans),
        (*GMM4, 0.9, GaussianMixture),
        (*HDB, 0.8, HDBSCANClusterer),
    ],
)
def test_family_recovers_blobs_and_predicts_new_rows(
    blobs: Any, family: Any, params: Any, min_ari: float, model_type: type
) -> None:
    X, X_val, _, y_val = blobs
    monitor = StubMonitor(X_val)
    model = family.fit(params, X, None, X_val, _ctx(monitor))
    assert isinstance(model, model_type)
    labels = model.predict(X_val)
    assert labels.dtype.kind == "i" and labels.shape == (len(X_val),)
    assert skm.adjusted_rand_score(y_val, labels) > min_ari
    assert METRICS["adjusted_rand"].score(y_val, Prediction(labels)) > min_ari
    if isinstance(family, HDBSCANCandidate):
        assert monitor.steps == [1]
        assert labels.min() >= 0  # new rows join a cluster, never the noise
    else:
        assert len(monitor.steps) > 1  # trained step by step
    # the model kept is the one of the monitor's best step
    np.testing.assert_array_equal(labels, monitor.labels[monitor.best_step])


def test_gaussian_mixture_hands_memberships_to_the_monitor(blobs: Any) -> None:
    X, X_val, _, _ = blobs
    seen: list[Prediction] = []

    class Recording(StubMonitor):
        def __call__(self, step: int, prediction: Prediction) -> bool:
            seen.append(prediction)
            return super().__call__(step, prediction)

    GMM4[0].fit(GMM4[1], X, None, X_val, _ctx(Recording(X_val)))
    assert seen
    for p in seen:
        assert p.proba is not None and p.proba.shape == (len(X_val), 4)
        np.testing.assert_allclose(p.proba.sum(axis=1), 1.0)
        np.testing.assert_array_equal(p.values, p.proba.argmax(axis=1))


@pytest.mark.parametrize(
    ("family", "params"),
    [
        (KMeansCandidate(), {"n_clusters": 8}),
        (SmallBatchKMeans(), {"n_clusters": 8}),
        (GaussianMixtureCandidate(), {"n_components": 8, "covariance_type": "diag"}),
    ],
)
def test_family_stops_when_the_monitor_says_so(
    slow_data: np.ndarray, family: Candidate, params: dict[str, Any]
) -> None:
    X, X_val = slow_data[:1200], slow_data[1200:]
    free = StubMonitor(X_val)
    family.fit(params, X, None, X_val, _ctx(free))
    assert free.steps[-1] > 3  # left alone it runs past step 3 ...
    stopped = StubMonitor(X_val, stop_at=3)
    model = family.fit(params, X, None, X_val, _ctx(stopped))
    assert stopped.steps == [1, 2, 3]  # ... told to stop at 3, it stops right there
    np.testing.assert_array_equal(model.predict(X_val), stopped.labels[stopped.best_step])


@pytest.mark.parametrize(
    ("family", "params"),
    [
        (KMeansCandidate(), {"n_clusters": 8}),
        (SmallBatchKMeans(), {"n_clusters": 8}),
        (GaussianMixtureCandidate(), {"n_components": 8, "covariance_type": "diag"}),
    ],
)
def test_family_shows_wanted_steps_and_the_last_and_keeps_the_best(
    slow_data: np.ndarray, family: Candidate, params: dict[str, Any]
) -> None:
    X, X_val = slow_data[:1200], slow_data[1200:]
    every3 = StubMonitor(X_val, every=3)
    family.fit(params, X, None, X_val, _ctx(every3))
    free = StubMonitor(X_val)
    family.fit(params, X, None, X_val, _ctx(free))
    last = free.steps[-1]
    assert every3.steps[-1] == last  # the final step is always shown
    assert all(s % 3 == 0 for s in every3.steps[:-1]) and len(every3.steps) >= 2
    # a monitor whose best step is the first: the model of step 1 comes back
    first = StubMonitor(X_val, force_best=1)
    model = family.fit(params, X, None, X_val, _ctx(first))
    assert len(first.steps) > 1
    np.testing.assert_array_equal(model.predict(X_val), first.labels[1])
    assert not np.array_equal(first.labels[1], first.labels[first.steps[-1]])


@pytest.mark.parametrize("family", [KMEANS4, GMM4])
def test_family_respects_the_time_left(blobs: Any, family: Any) -> None:
    X, X_val, _, _ = blobs
    monitor = StubMonitor(X_val, seconds=0.0)
    model = family[0].fit(family[1], X, None, X_val, _ctx(monitor))
    assert monitor.steps == [1]  # out of time after the first step: shown, then stop
    np.testing.assert_array_equal(model.predict(X_val), monitor.labels[1])


@pytest.mark.parametrize("family", [KMEANS4, GMM4, HDB, MINIBATCH4])
def test_family_is_deterministic_for_a_seed(blobs: Any, family: Any) -> None:
    X, X_val, _, _ = blobs
    runs = []
    for _ in range(2):
        monitor = StubMonitor(X_val)
        model = family[0].fit(family[1], X, None, X_val, _ctx(monitor, seed=7))
        runs.append((monitor.steps, monitor.scores, model.predict(X_val)))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    np.testing.assert_array_equal(runs[0][2], runs[1][2])


def test_families_on_a_real_table(wine: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = wine
    for family, params, min_ari in [
        (KMeansCandidate(), {"n_clusters": 3}, 0.8),
        (GaussianMixtureCandidate(), {"n_components": 3, "covariance_type": "diag"}, 0.75),
    ]:
        monitor = StubMonitor(X)
        model = family.fit(params, X, None, X, _ctx(monitor))
        assert skm.adjusted_rand_score(y, model.predict(X)) > min_ari, family.name
        assert monitor.scores[-1] > 0.2  # silhouette of the found grouping
    monitor = StubMonitor(X)
    model = HDBSCANCandidate().fit(
        {"min_cluster_size": 10, "min_samples": 5}, X, None, X, _ctx(monitor)
    )
    labels = model.predict(X)
    assert len(np.unique(labels)) >= 2 and skm.adjusted_rand_score(y, labels) > 0.3


# --- HDBSCANClusterer ------------------------------------------------------------------


def test_hdbscan_clusterer_follows_the_sklearn_contract(blobs: Any) -> None:
    X, X_val, _, y_val = blobs
    est = HDBSCANClusterer(min_cluster_size=10, min_samples=5)
    assert est.get_params()["min_cluster_size"] == 10
    with pytest.raises(NotFittedError):
        est.predict(X_val)
    assert est.fit(X) is est
    assert est.labels_.shape == (len(X),) and est.n_clusters_ == 4
    clustered = est.labels_ >= 0
    # training rows that are clustered keep their own label
    np.testing.assert_array_equal(est.predict(X[clustered]), est.labels_[clustered])
    assert not hasattr(clone(est), "labels_")
    # noise rows join the cluster of their nearest clustered training point
    point = X[clustered][0] + 1e-6
    assert est.predict(point[None, :])[0] == est.labels_[clustered][0]


def test_hdbscan_clusterer_with_only_noise_is_one_cluster() -> None:
    X = np.random.default_rng(6).normal(size=(30, 2))
    est = HDBSCANClusterer().set_labels(X, np.full(30, -1))
    np.testing.assert_array_equal(est.labels_, np.zeros(30))
    np.testing.assert_array_equal(est.predict(X + 5.0), np.zeros(30))
    assert est.n_clusters_ == 1
    # HDBSCAN itself finding only noise (one blob, no split) ends the same way
    alone = HDBSCANClusterer(min_cluster_size=25, min_samples=25).fit(X)
    np.testing.assert_array_equal(alone.labels_, np.zeros(30))
    np.testing.assert_array_equal(alone.predict(X - 3.0), np.zeros(30))


@pytest.mark.parametrize("family", [KMEANS4, GMM4, HDB, MINIBATCH4])
def test_models_round_trip_through_the_trusted_loader(
    tmp_path: Path, blobs: Any, family: Any
) -> None:
    import skops.io as sio

    from learnloop.store.model_files import library_versions, load_model, save_model
    from learnloop.store.trusted_types import trusted_names

    X, X_val, _, _ = blobs
    model = family[0].fit(family[1], X, None, X_val, _ctx(StubMonitor(X_val)))
    scaler = StandardScaler().fit(X)
    pipeline = Pipeline([("features", scaler), ("model", model)])
    metadata = {
        "schema": {"target": None, "task": "clustering", "features": [], "dropped": {}},
        "versions": library_versions(),
    }
    path = save_model(tmp_path / "model.skops", pipeline, metadata)
    untrusted = sio.get_untrusted_types(file=path)
    assert set(untrusted) <= set(trusted_names()), untrusted
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.pipeline.predict(X_val), pipeline.predict(X_val))
    decide = TASKS["clustering"].predict
    before, after = decide(pipeline, X_val, 0), decide(loaded.pipeline, X_val, 0)
    np.testing.assert_array_equal(before.values, after.values)
    assert (before.proba is None) == (after.proba is None)
