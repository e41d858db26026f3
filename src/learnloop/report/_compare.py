"""Runs side by side: settings and certificates, paired tests on the shared test split
(``experiments.compare_runs``), and the learning curves overlaid."""

from __future__ import annotations

from typing import Any

from learnloop.report import plots
from learnloop.report._doc import Document, Figure, Section, Table, Text
from learnloop.report.stats import reading

__all__ = ["compare_document"]

FIELDS = [
    ("status", "status"), ("data", "data"), ("task", "task"), ("metric", "metric"),
    ("threshold", "threshold"), ("budget (s)", "budget_s"), ("seed", "seed"),
    ("trials", "n_trials"), ("best family", "best_candidate"),
    ("validation score", "validation_score"), ("test score", "test_score"),
    ("test bound", "test_bound"), ("confidence", "confidence"), ("elapsed (s)", "elapsed_s"),
    ("test split", "test_split"),
]  # fmt: skip


def _best_so_far(trials: list[dict[str, Any]], greater: bool) -> tuple[list, list]:
    points = sorted((p["t"], p["score"]) for t in trials for p in t["scores"])
    xs, ys, best = [], [], None
    for t, s in points:
        if best is None or (s > best if greater else s < best):
            best = s
            xs.append(t)
            ys.append(best)
    return xs, ys


def compare_document(store: Any, run_ids: list[str]) -> Document:
    from learnloop.metrics import get_metric
    from learnloop.store.experiments import compare_runs, run_details

    out = compare_runs(store, run_ids)
    runs = out["runs"]
    side = Section("Settings and certificates")
    rows = [[label, *[r.get(key) for r in runs]] for label, key in FIELDS]
    rows.append(["95% test interval", *[
        f"[{r['test_interval']['low']:.4g}, {r['test_interval']['high']:.4g}]"
        if r["test_interval"] else "-" for r in runs]])  # fmt: skip
    side.add(Table(["", *[r["run_id"] for r in runs]], rows,
                   "Intervals: a bootstrap of each run's test rows as the store kept them "
                   "(a jackknife for silhouette, adjusted Rand and NMI, as their "
                   "certificates); '-' where a run was stored without what its metric "
                   "needs (probabilities, silhouette pseudo-values)."))  # fmt: skip
    tests = Section("Paired tests on the shared test split")
    trows = []
    for t in out["tests"]:
        a, b = t["runs"]
        if t["name"] is None:
            trows.append([f"{a} vs {b}", "-", None, f"No test: {t['reason']}."])
            continue
        score = {r["run_id"]: r["test_score"] for r in runs}
        metric = get_metric(next(r["metric"] for r in runs if r["run_id"] == a))
        better = None
        if score[a] is not None and score[b] is not None:
            better = a if metric.better(score[a], score[b]) else b
        trows.append([f"{a} vs {b}", f"{t['name']} ({t['variant']}, {t['n']} rows)",
                      t["p_value"], reading(t["p_value"], a, b, better)])  # fmt: skip
    tests.add(Table(["pair", "test", "p", "reading"], trows,
                    "Row by row on the test rows both runs were certified on."))  # fmt: skip
    curves = Section("Learning curves overlaid")
    series, refs = [], []
    metric_names = {r["metric"] for r in runs}
    for r in runs:
        metric = get_metric(r["metric"])
        trials = run_details(store, r["run_id"])["trials"]
        xs, ys = _best_so_far(trials, metric.greater_is_better)
        series.append((r["run_id"], xs, ys))
        if r["threshold"] is not None and (r["threshold"], "threshold", "--") not in refs:
            refs.append((r["threshold"], "threshold", "--"))
    curves.add(Figure(plots.lines(series, "seconds since the search started",
                                  " / ".join(sorted(metric_names)), hlines=refs),
                      "Each run's best validation score so far against time."))  # fmt: skip
    met = [r["run_id"] for r in runs if r["status"] == "met"]
    verdict = f"{len(runs)} runs compared; met: {', '.join(met) if met else 'none'}."
    if len(metric_names) > 1:
        curves.add(Text("The runs use different metrics: their scores do not compare.", "bad"))
    return Document("learnloop: runs compared", verdict, None, [side, tests, curves])
