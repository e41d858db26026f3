"""Clustering families: k-means, a k-means sweep over k, Gaussian mixtures and HDBSCAN.

They learn from the encoded, scaled input rows alone (``y`` is None) and, like every
family, train step by step under the monitor: a step is one Lloyd iteration or one
mini-batch pass (k-means), one whole k-means fit at the next k (the k-means sweep), one EM
iteration (Gaussian mixture), or the whole fit (HDBSCAN, which has no steps). What the
monitor sees after a step is a :class:`~learnloop.metrics.Prediction` whose ``values`` are
the integer cluster labels of the scored rows (and ``proba`` the membership probabilities,
for Gaussian mixtures).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from learnloop.core import Output
from learnloop.estimators import HDBSCANClusterer
from learnloop.families._base import Candidate, FitContext

__all__ = [
    "GaussianMixtureCandidate",
    "HDBSCANCandidate",
    "KMeansCandidate",
    "KMeansSweepCandidate",
    "max_clusters",
]

_CLUSTERS = frozenset({Output.CLUSTERS})


def max_clusters(n_rows: int, cap: int = 30) -> int:
    """The largest number of clusters worth trying on ``n_rows`` rows (about 10 rows each)."""
    return int(max(2, min(cap, n_rows // 10)))


# below this many training rows a fit and its scoring run on one native thread: starting
# OpenMP/BLAS threads costs more than they save, and far more on a busy machine (digits,
# 1079 rows, KMeans k=8 at load 10 on 2 cores: 1.4 s with threads, 0.02 s with one)
ONE_THREAD_ROWS = 10_000


@contextmanager
def _threads(n_jobs: int, n_rows: int) -> Iterator[None]:
    """Cap native (OpenMP/BLAS) threads at ``n_jobs`` when it is positive, and at one thread
    for fewer than ``ONE_THREAD_ROWS`` rows."""
    from threadpoolctl import threadpool_limits

    limit = n_jobs if n_jobs and n_jobs > 0 else None
    with threadpool_limits(limits=1 if n_rows < ONE_THREAD_ROWS else limit):
        yield


def _train_in_steps(
    ctx: FitContext,
    X_val: np.ndarray,
    max_steps: int,
    advance: Callable[[int], tuple[Any, bool]],
    snapshot: Callable[[Any], Any],
) -> Any:
    """Run ``advance(step)`` (-> model, converged) until converged, stopped or out of time.

    The monitor sees the steps it wants and always the last one; the model kept is the one
    of the monitor's best step (``snapshot`` freezes a copy of it), else the last.
    """
    best: Any = None
    model: Any = None
    for step in range(1, max_steps + 1):
        started = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model, converged = advance(step)
        cost = time.monotonic() - started
        last = converged or step >= max_steps or 1.2 * cost > ctx.monitor.seconds_left()
        if not (last or ctx.monitor.wants(step)):
            continue
        go_on = ctx.monitor(step, ctx.decisions(model, X_val))
        if ctx.monitor.best_step == step:
            best = snapshot(model)
        if last or not go_on:
            break
    return best if best is not None else model


class KMeansCandidate(Candidate):
    """k-means: Lloyd iterations on up to ``lloyd_max_rows`` rows, mini-batch passes above."""

    name = "kmeans"
    produces = _CLUSTERS
    preprocessing = "cluster"
    max_steps = 300  # Lloyd iterations or mini-batch passes
    lloyd_max_rows = 20_000  # above this, MiniBatchKMeans.partial_fit passes
    batch_size = 1024
    tol = 1e-4  # converged when the squared centre shift < tol * mean feature variance

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        top = max_clusters(n_rows)
        return [{"n_clusters": k} for k in (3, 2, 5, 8, 4) if k <= top]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {"n_clusters": trial.suggest_int(self.key("n_clusters"), 2, max_clusters(n_rows))}

    def fit(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        X = np.asarray(X, dtype=float)
        k = int(max(1, min(params["n_clusters"], len(X))))
        tol = self.tol * float(np.mean(np.var(X, axis=0))) if len(X) else 0.0
        with _threads(ctx.n_jobs, len(X)):
            if len(X) <= self.lloyd_max_rows:
                return self._fit_lloyd(X, X_val, k, tol, ctx)
            return self._fit_minibatch(X, X_val, k, tol, ctx)

    def _fit_lloyd(
        self, X: np.ndarray, X_val: np.ndarray, k: int, tol: float, ctx: FitContext
    ) -> Any:
        centers: np.ndarray | None = None

        def advance(step: int) -> tuple[Any, bool]:
            nonlocal centers
            # one Lloyd iteration per fit; the first starts from k-means++ seeded by ctx.seed
            init: Any = "k-means++" if centers is None else centers
            model = KMeans(k, init=init, n_init=1, max_iter=1, random_state=ctx.seed).fit(X)
            new = np.asarray(model.cluster_centers_)
            shift = math.inf if centers is None else float(np.sum((new - centers) ** 2))
            centers = new
            return model, shift <= tol

        # every step builds a new KMeans, so the best step's model needs no copy
        return _train_in_steps(ctx, X_val, self.max_steps, advance, lambda m: m)

    def _fit_minibatch(
        self, X: np.ndarray, X_val: np.ndarray, k: int, tol: float, ctx: FitContext
    ) -> Any:
        batch = int(max(self.batch_size, 3 * k))
        model = MiniBatchKMeans(k, batch_size=batch, n_init=1, random_state=ctx.seed)
        rng = np.random.default_rng(ctx.seed)

        def advance(step: int) -> tuple[Any, bool]:
            before = np.array(model.cluster_centers_) if step > 1 else None
            order = rng.permutation(len(X))
            for start in range(0, len(X), batch):
                model.partial_fit(X[order[start : start + batch]])
            if before is None:
                return model, False
            return model, float(np.sum((model.cluster_centers_ - before) ** 2)) <= tol

        return _train_in_steps(ctx, X_val, self.max_steps, advance, copy.deepcopy)


class KMeansSweepCandidate(Candidate):
    """scikit-learn's ``KMeans`` fitted to convergence for k = 2, 3, ... up to ``max_k``, one
    k a step: the monitor scores each k and keeps the best, so one trial finds what a user
    gets by trying every k (the clustering portfolio's first guess).

    ``n_init`` restarts from k-means++ keep the lowest inertia (1 is scikit-learn's default);
    above ``sample_rows`` training rows each k is fitted on a seeded sample of them.
    """

    name = "kmeans_sweep"
    produces = _CLUSTERS
    preprocessing = "cluster"
    patience = (30, 1.0)  # a worse k is no plateau: the sweep goes on to its last k
    max_k = 10
    sample_rows = 20_000

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        return [{"n_init": 1}, {"n_init": 10}]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {"n_init": trial.suggest_int(self.key("n_init"), 1, 10)}

    def fit(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        X = np.asarray(X, dtype=float)
        if len(X) > self.sample_rows:
            rows = np.random.default_rng(ctx.seed).choice(len(X), self.sample_rows, replace=False)
            X = X[np.sort(rows)]
        top = int(min(self.max_k, max_clusters(len(X), cap=self.max_k), len(X)))
        n_init = int(params.get("n_init", 1))

        def advance(step: int) -> tuple[Any, bool]:
            k = min(step + 1, top)
            model = KMeans(k, n_init=n_init, random_state=ctx.seed).fit(X)
            return model, k >= top

        with _threads(ctx.n_jobs, len(X)):
            # every step builds a new KMeans, so the best step's model needs no copy
            return _train_in_steps(ctx, X_val, self.max_k, advance, lambda m: m)


class GaussianMixtureCandidate(Candidate):
    """Gaussian mixture fitted by EM, one iteration a step; memberships as probabilities."""

    name = "gaussian_mixture"
    produces = _CLUSTERS
    preprocessing = "cluster"
    max_steps = 200  # EM iterations
    tol = 1e-3  # converged when the per-row lower bound gains less than this
    reg_covar = 1e-6

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        top = max_clusters(n_rows)
        configs = [(3, "full"), (2, "full"), (5, "diag"), (8, "diag"), (4, "spherical")]
        return [{"n_components": k, "covariance_type": cov} for k, cov in configs if k <= top]

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        return {
            "n_components": trial.suggest_int(self.key("n_components"), 2, max_clusters(n_rows)),
            "covariance_type": trial.suggest_categorical(
                self.key("covariance_type"), ["full", "diag", "spherical"]
            ),
        }

    def fit(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        X = np.asarray(X, dtype=float)
        model = GaussianMixture(
            n_components=int(max(1, min(params["n_components"], len(X)))),
            covariance_type=params["covariance_type"],
            reg_covar=self.reg_covar,
            warm_start=True,  # each fit() continues from the last: one EM iteration a step
            max_iter=1,
            random_state=ctx.seed,
        )
        bound = -math.inf

        def advance(step: int) -> tuple[Any, bool]:
            nonlocal bound
            model.fit(X)
            gain, bound = float(model.lower_bound_) - bound, float(model.lower_bound_)
            return model, abs(gain) < self.tol

        with _threads(ctx.n_jobs, len(X)):
            return _train_in_steps(ctx, X_val, self.max_steps, advance, copy.deepcopy)


class HDBSCANCandidate(Candidate):
    """HDBSCAN (one step); new rows join the cluster of their nearest clustered point."""

    name = "hdbscan"
    produces = _CLUSTERS
    preprocessing = "cluster"
    max_rows = 20_000  # HDBSCAN is super-linear in rows

    def portfolio(self, output: Output, n_rows: int) -> list[dict[str, Any]]:
        small = int(max(5, min(50, n_rows // 100)))
        large = int(max(10, min(200, n_rows // 30)))
        configs = [
            {"min_cluster_size": small, "min_samples": 5},
            {"min_cluster_size": large, "min_samples": 10},
            {"min_cluster_size": 5, "min_samples": 2},
        ]
        unique: list[dict[str, Any]] = []
        for config in configs:
            if config not in unique:
                unique.append(config)
        return unique

    def search_space(self, trial: Any, output: Output, n_rows: int) -> dict[str, Any]:
        top = int(max(6, min(500, n_rows // 5)))
        return {
            "min_cluster_size": trial.suggest_int(self.key("min_cluster_size"), 5, top, log=True),
            "min_samples": trial.suggest_int(self.key("min_samples"), 1, 50, log=True),
        }

    def fit(
        self,
        params: dict[str, Any],
        X: np.ndarray,
        y: np.ndarray | None,
        X_val: np.ndarray,
        ctx: FitContext,
    ) -> Any:
        model = HDBSCANClusterer(
            min_cluster_size=int(params["min_cluster_size"]),
            min_samples=int(params["min_samples"]),
            n_jobs=ctx.n_jobs,
        )
        with _threads(ctx.n_jobs, len(X)):
            model.fit(np.asarray(X, dtype=float))
        ctx.monitor(1, ctx.decisions(model, X_val))  # the only step is the last
        return model
