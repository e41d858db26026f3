"""Write the results table (``bench/RESULTS.md``) from the harness's rows."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.machine import describe_machine
from bench.suite import SUITE
from bench.systems import SYSTEMS, meets

__all__ = ["summarize", "write_results"]


def _fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _spread(values: Sequence[float], digits: int = 1) -> str:
    """Median and, with several values, the range: ``3.2 [1.1-4.0]``."""
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def _mean_sd(values: Sequence[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def _within_budget(row: dict[str, Any]) -> dict[str, Any]:
    """A threshold first passed after the budget had run out does not count as reached."""
    ttt, budget = row.get("time_to_threshold_s"), row.get("budget_s")
    if ttt is not None and budget is not None and ttt > float(budget):
        return dict(row, time_to_threshold_s=None, late_ttt_s=ttt)
    return row


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Overall figures: learnloop / FLAML time-to-threshold ratios and misses per system."""
    ok = [r for r in rows if not r.get("error")]
    by_key = {(r["system"], r["dataset"], r["seed"]): r for r in ok}
    pairs = sorted({(r["dataset"], r["seed"]) for r in rows})
    systems = [s for s in SYSTEMS if any(r["system"] == s for r in rows)]
    missed = {s: [] for s in systems}
    for s in systems:
        for ds, seed in pairs:
            r = by_key.get((s, ds, seed))
            if r is None or r.get("time_to_threshold_s") is None:
                missed[s].append((ds, seed))
    ratios, flaml_only = [], []
    for ds, seed in pairs:
        ll = by_key.get(("learnloop", ds, seed), {}).get("time_to_threshold_s")
        fl = by_key.get(("flaml", ds, seed), {}).get("time_to_threshold_s")
        if ll is not None and fl is not None:
            ratios.append(max(ll, 1e-3) / max(fl, 1e-3))
        elif fl is not None:
            flaml_only.append((ds, seed))
    med = statistics.median(ratios) if ratios else None
    geo = math.exp(statistics.mean(math.log(x) for x in ratios)) if ratios else None
    ll_times = [
        r["time_to_threshold_s"]
        for r in ok
        if r["system"] == "learnloop" and r.get("time_to_threshold_s") is not None
    ]
    fl_times = [
        r["time_to_threshold_s"]
        for r in ok
        if r["system"] == "flaml" and r.get("time_to_threshold_s") is not None
    ]
    return {
        "pairs": len(pairs),
        "systems": systems,
        "missed": missed,
        "ratios": ratios,
        "median_ratio": med,
        "geomean_ratio": geo,
        "flaml_only": flaml_only,
        "median_ttt": {
            "learnloop": statistics.median(ll_times) if ll_times else None,
            "flaml": statistics.median(fl_times) if fl_times else None,
        },
        "errors": [r for r in rows if r.get("error")],
    }


def _table(rows: list[dict[str, Any]], systems: list[str]) -> list[str]:
    out = [
        "| data set | metric | threshold | system | reached (val) | time to threshold s "
        "| test confirms | test >= thr | val score at end | test score at end | fit s "
        "| peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        for s in systems:
            mine = [r for r in rows if r["dataset"] == name and r["system"] == s]
            if not mine:
                continue
            good = [r for r in mine if not r.get("error")]
            ttts = [
                r["time_to_threshold_s"] for r in good if r.get("time_to_threshold_s") is not None
            ]
            confirms = [r for r in good if r.get("test_confirms")]
            point = [
                r
                for r in good
                if meets(r.get("metric", ""), r.get("test_score"), r.get("threshold"))
            ]
            vals = [r["validation_score"] for r in good if r.get("validation_score") is not None]
            tests = [r["test_score"] for r in good if r.get("test_score") is not None]
            fits = [r["fit_s"] for r in good if r.get("fit_s") is not None]
            mems = [r["peak_mem_mb"] for r in good if r.get("peak_mem_mb") is not None]
            errs = len(mine) - len(good)
            metric = mine[0].get("metric", "?")
            thr = mine[0].get("threshold")
            out.append(
                f"| {name} | {metric} | {_fmt(thr)} | {s} | {len(ttts)}/{len(mine)}"
                f"{f' ({errs} failed)' if errs else ''} | {_spread(ttts)} "
                f"| {len(confirms)}/{len(mine)} | {len(point)}/{len(mine)} "
                f"| {_mean_sd(vals)} | {_mean_sd(tests)} "
                f"| {_spread(fits)} | {_spread(mems, 0)} |"
            )
    return out


def write_results(
    rows: list[dict[str, Any]],
    path: Path,
    *,
    title: str,
    budget: float,
    seeds: Sequence[int],
    scaling: list[dict[str, Any]] | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Write the Markdown results to ``path`` and return the summary."""
    rows = [_within_budget(r) for r in rows]
    summ = summarize(rows)
    systems = summ["systems"]
    lines = [
        f"# {title}",
        "",
        f"Command: `{command}`. Budget {budget:.0f} s per run, n_jobs=2, seeds "
        f"{', '.join(map(str, seeds))}; every system ran on the same seeded 60/20/20 "
        "train/validation/test split, one run after the other, each in its own process.",
        "",
        "## Machine",
        "",
        *describe_machine(),
        "",
        "## Overall",
        "",
    ]
    if summ["median_ratio"] is not None:
        lines += [
            f"- learnloop / FLAML time to threshold, over the {len(summ['ratios'])} "
            f"(data set, seed) runs both reached: median **{summ['median_ratio']:.2f}**, "
            f"geometric mean **{summ['geomean_ratio']:.2f}** (target: median <= 0.5).",
        ]
    else:
        lines.append("- learnloop / FLAML ratio: no run where both reached the threshold.")
    med = summ["median_ttt"]
    lines.append(
        f"- Median time to threshold where reached: learnloop {_fmt(med['learnloop'], 1)} s, "
        f"FLAML {_fmt(med['flaml'], 1)} s."
    )
    for s in systems:
        miss = summ["missed"][s]
        where = ", ".join(f"{d}/s{k}" for d, k in miss) if miss else "none"
        lines.append(
            f"- {s}: missed {len(miss)} of {summ['pairs']} thresholds on validation ({where})."
        )
    ll_rows = [r for r in rows if r["system"] == "learnloop" and not r.get("error")]
    if ll_rows:
        met = [r for r in ll_rows if r.get("status") == "met"]
        reached = [r for r in ll_rows if r.get("time_to_threshold_s") is not None]
        lines.append(
            f"- learnloop certified (status met) {len(met)} of {len(ll_rows)} runs "
            f"(median fit time of those {_fmt(_median([r['fit_s'] for r in met]), 1)} s); "
            f"{len(reached) - len([r for r in reached if r.get('status') == 'met'])} runs passed "
            "the threshold on validation but were not certified on test (they searched on to the "
            "budget, or stopped after their three test looks)."
        )
    if "flaml" in systems and "learnloop" in systems:
        only = summ["flaml_only"]
        lines.append(
            "- Thresholds FLAML reached and learnloop did not: "
            + (", ".join(f"{d}/s{k}" for d, k in only) if only else "none")
            + "."
        )
    if summ["errors"]:
        lines.append(f"- Runs that failed: {len(summ['errors'])} (see the log rows below).")
    lines += [
        "",
        "## Per data set and system",
        "",
        "Time to threshold, fit time and peak memory: median [min-max] over seeds, where "
        "reached. Scores: mean ± sd over seeds. *reached* counts seeds whose validation score "
        "passed the threshold within the budget (a pass after the budget ran out, possible when "
        "a trial overruns, does not count); *test confirms* counts, for learnloop, runs "
        "whose certificate says met (one-sided 95% bound past the threshold), for the peers, "
        "runs whose final model's test score is past the threshold; *test >= thr* counts, for "
        "every system alike, final test scores past the threshold (no bound). learnloop stops "
        "once it has "
        "certified; the Optuna + LightGBM search stops at its first trial past the threshold; "
        "FLAML runs to its budget.",
        "",
        *_table(rows, systems),
        "",
    ]
    if scaling:
        lines += _scaling_table(scaling)
    if summ["errors"]:
        lines += ["## Failed runs", ""]
        for r in summ["errors"]:
            lines.append(f"- {r['dataset']} s{r['seed']} {r['system']}: {r['error']}")
        lines.append("")
    lines += [
        "## Data sets",
        "",
        *[f"- **{d.name}** ({d.task}, {d.metric}): {d.doc}" for d in SUITE.values()],
        "",
    ]
    path.write_text("\n".join(lines))
    return summ


def _scaling_table(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "## Scaling (learnloop on generated data)",
        "",
        "make_classification, 20 features (10 informative), 5% label noise; threshold on "
        "accuracy as shown; same budget rules as above.",
        "",
        "| rows | threshold | time to threshold s | status | val score | test score | fit s "
        "| peak MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r.get("error"):
            out.append(f"| {r['rows']} | - | error: {r['error']} | | | | | |")
            continue
        cells = [
            f"{r['rows']:,}",
            _fmt(r.get("threshold")),
            _fmt(r.get("time_to_threshold_s"), 1),
            str(r.get("status")),
            _fmt(r.get("validation_score")),
            _fmt(r.get("test_score")),
            _fmt(r.get("fit_s"), 1),
            _fmt(r.get("peak_mem_mb"), 0),
        ]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    return out


def write_rank_report(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Systems ranked across data sets (Friedman test, Demšar's critical-difference
    diagram) as one self-contained HTML page, written with learnloop's report module."""
    import pandas as pd

    from learnloop.metrics import get_metric
    from learnloop.report import Document, Figure, Section, Table, Text, plots, write_report
    from learnloop.report.stats import friedman_ranks

    frame = pd.DataFrame([r for r in rows if not r.get("error")])
    if frame.empty:
        raise ValueError("no benchmark rows without errors to rank")
    # a missed threshold counts as twice the budget: ranked behind every system that met it
    frame["ttt"] = frame["time_to_threshold_s"].fillna(2 * frame["budget_s"])
    sign = frame["metric"].map(lambda m: 1.0 if get_metric(m).greater_is_better else -1.0)
    frame["signed_test"] = frame["test_score"] * sign
    sections = []
    for label, column, greater in (
        ("time to threshold (s; a miss counts as twice the budget)", "ttt", False),
        ("test score (sign set so that higher is better)", "signed_test", True),
    ):
        table = frame.pivot_table(index="dataset", columns="system", values=column).dropna()
        section = Section(f"Ranked by {label}")
        if table.shape[0] < 2 or table.shape[1] < 2:
            section.add(Text("Too few complete data sets to rank the systems.", "note"))
            sections.append(section)
            continue
        res = friedman_ranks(table, greater_is_better=greater)
        p = res["p_value"]
        section.add(
            Text(
                f"{res['k']} systems on {res['n']} data sets (mean over seeds). Friedman's test: "
                + ("p = -" if p is None else f"p = {p:.3g}")
                + (
                    " — the systems' ranks differ beyond chance."
                    if p is not None and p < 0.05
                    else " — no evidence that the systems' ranks differ."
                )
            ),
            Figure(
                plots.cd_diagram(res["avg_ranks"], res["cd"]),
                f"Mean rank (1 is best); systems joined by a bar are not significantly different "
                f"(Nemenyi, alpha 0.05, critical difference {res['cd']:.2f}; Demšar 2006).",
            ),
            Table(
                ["data set", *table.columns],
                [[d, *[float(v) for v in table.loc[d]]] for d in table.index],
            ),
        )
        sections.append(section)
    verdict = f"{frame['system'].nunique()} systems on {frame['dataset'].nunique()} data sets."
    return write_report(Document(title, verdict, None, sections), path)
