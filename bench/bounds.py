"""Clustering certificates by simulation: coverage and width at 200, 2,000 and 20,000 rows.

``python -m bench.bounds [--sizes 200,2000,20000] [--sims 200] [--metrics silhouette,...]
[--out bench/BOUNDS.jsonl]`` -> one JSON line per (metric, size); ``--table`` prints the
Markdown table of a JSON lines file (``bench/BOUNDS_RESULTS.md`` holds the measured one).

The population is a finite set of support points (Gaussian clusters in 4 dimensions, a
k-means model fitted on another sample, a known group per point) drawn from with
replacement, so every metric's population value is computed *exactly* over the support (the
limit of the sample metric as the rows grow): silhouette from every support point's mean
distance to each cluster, Davies-Bouldin from the clusters' centres and spreads,
Calinski-Harabasz at ``n`` rows from the between- and within-cluster variances, adjusted
Rand and NMI from the (group, cluster) probability table. Each simulation draws a test split
of ``n`` rows, certifies the fixed model on it (``learnloop.certify.certify``, one look at
95%) and counts a miss when the bound is on the wrong side of the population value.
``width`` is the mean distance from the score to its bound; ``ideal`` is 1.645 standard
deviations of the score over the simulations (the width a bound that knew the spread would
have).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Population", "population", "simulate", "table"]

CENTERS = np.array(
    [[0.0, 0.0, 0.0, 0.0], [2.6, 0.0, 1.0, 0.0], [0.0, 2.8, -1.0, 0.5], [2.0, 2.5, 1.5, -1.0]]
)
METRIC_NAMES = ("silhouette", "davies_bouldin", "calinski_harabasz", "adjusted_rand", "nmi")


@dataclass(frozen=True)
class Population:
    """Support points (drawn from with equal probability), their known groups and the
    fixed model's clusters."""

    X: np.ndarray
    groups: np.ndarray
    clusters: np.ndarray

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Row indices of a test split of ``n`` rows (with replacement)."""
        return rng.integers(0, len(self.X), n)

    def truth(self, metric: str, n: int) -> float:
        """The population value of ``metric`` (Calinski-Harabasz: at ``n`` rows)."""
        if metric == "silhouette":
            return _silhouette(self.X, self.clusters)
        if metric == "davies_bouldin":
            return _davies_bouldin(self.X, self.clusters)
        if metric == "calinski_harabasz":
            k = len(np.unique(self.clusters))
            return (n - k) / (k - 1) * _between_within(self.X, self.clusters)
        table = _table(self.groups, self.clusters)
        return _ari(table) if metric == "adjusted_rand" else _nmi(table)


def population(size: int = 20_000, seed: int = 0) -> Population:
    """``size`` support points from four overlapping Gaussian clusters; k-means with four
    clusters fitted on another sample."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)

    def points(n: int) -> tuple[np.ndarray, np.ndarray]:
        groups = rng.integers(0, len(CENTERS), n)
        return CENTERS[groups] + rng.normal(0.0, 1.0, (n, CENTERS.shape[1])), groups

    X_fit, _ = points(20_000)
    model = KMeans(n_clusters=len(CENTERS), n_init=3, random_state=seed).fit(X_fit)
    X, groups = points(size)
    return Population(X, groups, model.predict(X).astype(int))


def _silhouette(X: np.ndarray, clusters: np.ndarray, chunk: int = 500) -> float:
    """Mean over support points of (b - a) / max(a, b), each point's mean distances taken
    over the whole support (itself included: a row's neighbours may be its duplicates)."""
    from sklearn.metrics import pairwise_distances

    k = int(clusters.max()) + 1
    onehot = np.eye(k)[clusters]
    counts = onehot.sum(axis=0)
    values = []
    for start in range(0, len(X), chunk):
        means = pairwise_distances(X[start : start + chunk], X) @ onehot / counts
        own = clusters[start : start + chunk]
        a = means[np.arange(len(own)), own]
        means[np.arange(len(own)), own] = np.inf
        b = means.min(axis=1)
        values.append((b - a) / np.maximum(a, b))
    return float(np.mean(np.concatenate(values)))


def _davies_bouldin(X: np.ndarray, clusters: np.ndarray) -> float:
    ks = np.unique(clusters)
    centres = np.array([X[clusters == c].mean(axis=0) for c in ks])
    spread = np.array(
        [np.linalg.norm(X[clusters == c] - centres[i], axis=1).mean() for i, c in enumerate(ks)]
    )
    apart = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=2)
    np.fill_diagonal(apart, np.inf)
    return float(np.mean(np.max((spread[:, None] + spread[None, :]) / apart, axis=1)))


def _between_within(X: np.ndarray, clusters: np.ndarray) -> float:
    """Between-cluster over within-cluster mean squared distance."""
    mean = X.mean(axis=0)
    between = within = 0.0
    for c in np.unique(clusters):
        part = X[clusters == c]
        centre = part.mean(axis=0)
        between += len(part) * float(np.sum((centre - mean) ** 2))
        within += float(np.sum((part - centre) ** 2))
    return between / within


def _table(groups: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    table = np.zeros((int(groups.max()) + 1, int(clusters.max()) + 1))
    np.add.at(table, (groups, clusters), 1.0)
    return table / table.sum()


def _ari(p: np.ndarray) -> float:
    index = float(np.sum(p**2))
    rows, cols = float(np.sum(p.sum(axis=1) ** 2)), float(np.sum(p.sum(axis=0) ** 2))
    expected = rows * cols
    return (index - expected) / ((rows + cols) / 2 - expected)


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def _nmi(p: np.ndarray) -> float:
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    mask = p > 0
    mi = float(np.sum(p[mask] * np.log(p[mask] / np.outer(rows, cols)[mask])))
    return mi / ((_entropy(rows) + _entropy(cols)) / 2)


def simulate(
    pop: Population,
    metric_name: str,
    n: int,
    sims: int,
    seed: int = 0,
    truth: float | None = None,
) -> dict[str, Any]:
    """Certify the population's model on ``sims`` test splits of ``n`` rows; count misses
    (``truth``: the population value, if already known)."""
    from learnloop.certify import certify
    from learnloop.metrics import Prediction, get_metric

    metric = get_metric(metric_name)
    truth = pop.truth(metric_name, n) if truth is None else truth
    rng = np.random.default_rng(seed)
    scores, bounds, seconds = [], [], []
    method = ""
    for sim in range(sims):
        rows = pop.draw(n, rng)
        y = pop.X[rows] if metric.reference == "inputs" else pop.groups[rows]
        started = time.perf_counter()
        cert = certify(metric, y, Prediction(pop.clusters[rows]), 0, None, 0.95, seed=sim)
        seconds.append(time.perf_counter() - started)
        scores.append(cert.test_score)
        bounds.append(cert.test_bound)
        method = cert.method
    s, b = np.asarray(scores), np.asarray(bounds)
    wrong = b > truth if metric.greater_is_better else b < truth
    pessimistic = b <= s if metric.greater_is_better else b >= s
    miss = float(np.mean(wrong))
    return {
        "metric": metric_name,
        "n": n,
        "sims": sims,
        "method": method,
        "truth": truth,
        "mean_score": float(np.mean(s)),
        "coverage": 1.0 - miss,
        "coverage_se": math.sqrt(max(miss * (1 - miss), 0.05 * 0.95) / sims),
        "width": float(np.mean(np.abs(s - b))),
        "ideal": 1.645 * float(np.std(s, ddof=1)),
        "seconds": float(np.mean(seconds)),
        "finite": bool(np.isfinite(b).all()),
        "pessimistic": bool(pessimistic.all()),
        "relative_width": float(np.mean(np.abs(s - b) / np.abs(s))),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of ``simulate`` rows."""
    head = (
        "| metric | test rows | sims | method | coverage (95% asked) | width | ideal width "
        "| width / ideal | s per certificate |\n|---|--:|--:|---|--:|--:|--:|--:|--:|\n"
    )
    lines = [
        f"| {r['metric']} | {r['n']:,} | {r['sims']} | {r['method']} | "
        f"{r['coverage']:.1%} ± {r['coverage_se']:.1%} | {r['width']:.4g} | {r['ideal']:.4g} | "
        f"{r['width'] / r['ideal']:.2f} | {r['seconds']:.3g} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bounds")
    parser.add_argument("--sizes", default="200,2000,20000")
    parser.add_argument("--sims", default="200", help="one count, or one per size")
    parser.add_argument("--metrics", default=",".join(METRIC_NAMES))
    parser.add_argument("--support", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("bench/BOUNDS.jsonl"))
    parser.add_argument("--table", action="store_true", help="print the table of --out")
    args = parser.parse_args(argv)
    if args.table:
        print(table([json.loads(line) for line in args.out.read_text().splitlines() if line]))
        return
    pop = population(args.support)
    sizes = [int(v) for v in args.sizes.split(",")]
    counts = [int(v) for v in args.sims.split(",")]
    counts = counts * len(sizes) if len(counts) == 1 else counts
    for name in args.metrics.split(","):
        truth = pop.truth(name, 0) if name != "calinski_harabasz" else None
        for n, sims in zip(sizes, counts, strict=True):
            row = simulate(pop, name, n, sims, truth=truth)
            print(json.dumps(row), flush=True)
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
