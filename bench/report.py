"""Write the results table (``bench/RESULTS.md``) from the harness's rows."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.direction import meets
from bench.machine import describe_machine
from bench.suite import SUITE
from bench.systems import ABLATED, SYSTEMS

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


def _level(row: dict[str, Any]) -> str:
    """The row's difficulty; rows from before difficulties were easy."""
    return row.get("difficulty") or "easy"


def _where(key: tuple[str, int, str]) -> str:
    ds, seed, level = key
    return f"{ds}/s{seed}" + ("" if level == "easy" else f"/{level}")


def _is_learnloop(system: str) -> bool:
    return system == "learnloop" or system.startswith(ABLATED)


def _certified(row: dict[str, Any]) -> bool:
    """learnloop's exit 0: its certificate says met (rows before the CLI runs: status)."""
    if "certified" in row:
        return bool(row["certified"])
    return row.get("status") == "met"


def time_to_aim(row: dict[str, Any], aim: float | None) -> float | None:
    """When a peer's best-so-far validation score (its ``trajectory``) first passed ``aim``,
    within the budget; None if never, or if the row has no trajectory."""
    if aim is None:
        return None
    budget = row.get("budget_s")
    for t, value in row.get("trajectory") or []:
        if budget is not None and t > float(budget):
            return None
        if meets(row.get("metric", ""), value, aim):
            return float(t)
    return None


def with_same_aim(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FLAML's rows with ``learnloop_aim`` (the aim of learnloop's run on the same data set,
    seed and difficulty), ``time_to_aim_s`` (when FLAML's best first passed it, on its search
    clock) and ``time_to_aim_from_start_s`` (the same from its process start, as learnloop's
    time to certified is counted: Python, imports and encoding added)."""
    aims = {
        (r["dataset"], r["seed"], _level(r)): r.get("aim")
        for r in rows
        if r["system"] == "learnloop" and not r.get("error")
    }
    out = []
    for r in rows:
        if r["system"] == "flaml" and not r.get("error"):
            aim = aims.get((r["dataset"], r["seed"], _level(r)))
            in_search = time_to_aim(r, aim)
            from_start = (
                in_search + r["startup_s"]
                if in_search is not None and r.get("startup_s") is not None
                else None
            )
            r = dict(
                r,
                learnloop_aim=aim,
                time_to_aim_s=in_search,
                time_to_aim_from_start_s=from_start,
            )
        out.append(r)
    return out


def _ratios(pairs: list[tuple[float, float]]) -> dict[str, Any]:
    ratios = [max(a, 1e-3) / max(b, 1e-3) for a, b in pairs]
    return {
        "ratios": ratios,
        "median_ratio": statistics.median(ratios) if ratios else None,
        "geomean_ratio": (
            math.exp(statistics.mean(math.log(x) for x in ratios)) if ratios else None
        ),
        "median_a": _median([a for a, _ in pairs]),
        "median_b": _median([b for _, b in pairs]),
    }


def _ttt_part(by_key: dict, keys: list[tuple[str, int, str]]) -> dict[str, Any]:
    """learnloop / FLAML time to threshold over ``keys``, and where only FLAML reached."""
    pairs, flaml_only = [], []
    for ds, seed, level in keys:
        ll = by_key.get(("learnloop", ds, seed, level), {}).get("time_to_threshold_s")
        fl = by_key.get(("flaml", ds, seed, level), {}).get("time_to_threshold_s")
        if ll is not None and fl is not None:
            pairs.append((ll, fl))
        elif fl is not None:
            flaml_only.append((ds, seed, level))
    part = _ratios(pairs)
    return {
        "ratios": part["ratios"],
        "median_ratio": part["median_ratio"],
        "geomean_ratio": part["geomean_ratio"],
        "flaml_only": flaml_only,
        "pairs": len(keys),
    }


def _systems_in(rows: list[dict[str, Any]]) -> list[str]:
    """The peers in their usual order, then learnloop's ablations as they appear."""
    seen = list(dict.fromkeys(r["system"] for r in rows))
    return [s for s in SYSTEMS if s in seen] + [s for s in seen if s not in SYSTEMS]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Overall figures: learnloop's time to certified against FLAML's time to the same aim,
    certification rates, learnloop / FLAML time-to-threshold ratios per difficulty, misses."""
    rows = with_same_aim(rows)
    ok = [r for r in rows if not r.get("error")]
    by_key = {(r["system"], r["dataset"], r["seed"], _level(r)): r for r in ok}
    keys = sorted({(r["dataset"], r["seed"], _level(r)) for r in rows})
    levels = list(dict.fromkeys(k[2] for k in sorted(keys, key=lambda k: k[2] != "easy")))
    systems = _systems_in(rows)
    missed: dict[str, list] = {s: [] for s in systems}
    for s in systems:
        for ds, seed, level in keys:
            r = by_key.get((s, ds, seed, level))
            if r is None or r.get("time_to_threshold_s") is None:
                missed[s].append((ds, seed, level))
    overall = _ttt_part(by_key, keys)
    by_level = {lv: _ttt_part(by_key, [k for k in keys if k[2] == lv]) for lv in levels}

    def certified_part(
        keys_: list[tuple[str, int, str]], clock: str = "time_to_aim_s"
    ) -> dict[str, Any]:
        pairs, ll_only, fl_only = [], [], []
        for ds, seed, level in keys_:
            ll = by_key.get(("learnloop", ds, seed, level), {}).get("time_to_certified_s")
            fl = by_key.get(("flaml", ds, seed, level), {}).get(clock)
            if ll is not None and fl is not None:
                pairs.append((ll, fl))
            elif ll is not None:
                ll_only.append((ds, seed, level))
            elif fl is not None:
                fl_only.append((ds, seed, level))
        part = _ratios(pairs)
        return dict(
            part,
            median_learnloop=part["median_a"],
            median_flaml=part["median_b"],
            learnloop_only=ll_only,
            flaml_only=fl_only,
        )

    rates: dict[str, dict[str, tuple[int, int]]] = {}
    for s in systems:
        if not _is_learnloop(s):
            continue
        mine = [r for r in ok if r["system"] == s]
        rates[s] = {
            lv: (
                sum(_certified(r) for r in mine if _level(r) == lv),
                len([r for r in mine if _level(r) == lv]),
            )
            for lv in levels
        }
        rates[s]["all"] = (sum(_certified(r) for r in mine), len(mine))
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
        "pairs": len(keys),
        "levels": levels,
        "systems": systems,
        "missed": missed,
        "ratios": overall["ratios"],
        "median_ratio": overall["median_ratio"],
        "geomean_ratio": overall["geomean_ratio"],
        "flaml_only": overall["flaml_only"],
        "by_difficulty": by_level,
        "certified": certified_part(keys),
        "certified_from_start": certified_part(keys, "time_to_aim_from_start_s"),
        "certified_by_difficulty": {
            lv: certified_part([k for k in keys if k[2] == lv]) for lv in levels
        },
        "certification_rate": rates,
        "median_ttt": {
            "learnloop": statistics.median(ll_times) if ll_times else None,
            "flaml": statistics.median(fl_times) if fl_times else None,
        },
        "errors": [r for r in rows if r.get("error")],
    }


def _table(rows: list[dict[str, Any]], systems: list[str]) -> list[str]:
    out = [
        "| data set | metric | difficulty | threshold | system | reached (val) "
        "| time to threshold s | certified | time to certified s | time to learnloop's aim s "
        "| test confirms | test >= thr | val score at end | test score at end | fit s "
        "| peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    levels = sorted({_level(r) for r in rows}, key=lambda lv: (lv != "easy", lv))
    for name in dict.fromkeys(r["dataset"] for r in rows):
        for level in levels:
            for s in systems:
                mine = [
                    r
                    for r in rows
                    if r["dataset"] == name and r["system"] == s and _level(r) == level
                ]
                if mine:
                    out.append(_table_row(name, level, s, mine))
    return out


def _table_row(name: str, level: str, s: str, mine: list[dict[str, Any]]) -> str:
    good = [r for r in mine if not r.get("error")]
    ttts = [r["time_to_threshold_s"] for r in good if r.get("time_to_threshold_s") is not None]
    confirms = [r for r in good if r.get("test_confirms")]
    point = [r for r in good if meets(r.get("metric", ""), r.get("test_score"), r.get("threshold"))]
    vals = [r["validation_score"] for r in good if r.get("validation_score") is not None]
    tests = [r["test_score"] for r in good if r.get("test_score") is not None]
    fits = [r["fit_s"] for r in good if r.get("fit_s") is not None]
    mems = [r["peak_mem_mb"] for r in good if r.get("peak_mem_mb") is not None]
    ttcs = [r["time_to_certified_s"] for r in good if r.get("time_to_certified_s") is not None]
    aims = [r["time_to_aim_s"] for r in good if r.get("time_to_aim_s") is not None]
    starts = [
        r["time_to_aim_from_start_s"] for r in good if r.get("time_to_aim_from_start_s") is not None
    ]
    errs = len(mine) - len(good)
    metric = mine[0].get("metric", "?")
    thr = mine[0].get("threshold")
    if _is_learnloop(s):
        certified = f"{sum(_certified(r) for r in good)}/{len(mine)}"
        to_aim = "-"
    else:
        certified = "-"
        aimed = [r for r in good if r.get("learnloop_aim") is not None]
        to_aim = f"{_spread(aims)} ({len(aims)}/{len(aimed)})" if aimed else "-"
        if starts:
            to_aim += f"; {_spread(starts)} from start"
    return (
        f"| {name} | {metric} | {level} | {_fmt(thr)} | {s} | {len(ttts)}/{len(mine)}"
        f"{f' ({errs} failed)' if errs else ''} | {_spread(ttts)} "
        f"| {certified} | {_spread(ttcs)} | {to_aim} "
        f"| {len(confirms)}/{len(mine)} | {len(point)}/{len(mine)} "
        f"| {_mean_sd(vals)} | {_mean_sd(tests)} "
        f"| {_spread(fits)} | {_spread(mems, 0)} |"
    )


def _ablation_table(rows: list[dict[str, Any]]) -> list[str]:
    """Per lever: learnloop with it off against full learnloop on the same runs."""
    ok = [r for r in rows if not r.get("error")]
    full = {(r["dataset"], r["seed"], _level(r)): r for r in ok if r["system"] == "learnloop"}
    levers = list(dict.fromkeys(r["system"] for r in ok if r["system"].startswith(ABLATED)))
    if not levers:
        return []
    out = [
        "## Ablation: one lever off at a time",
        "",
        "Each row pairs `learnloop-no-<lever>` (`LEARNLOOP_ABLATE=<lever>`) with full learnloop "
        "on the same data set, seed and difficulty. *certified*: runs certified (exit 0), "
        "full -> lever off. *time to certified*: median over the runs both certified, and the "
        "median of the per-run ratio off / full (above 1: the lever saves time). *time to "
        "threshold*: the same over the runs both reached on validation.",
        "",
        "| lever off | runs | certified full -> off | time to certified s full -> off "
        "(ratio, n) | time to threshold s full -> off (ratio, n) |",
        "|---|---|---|---|---|",
    ]
    for system in levers:
        pairs = [
            (full[(r["dataset"], r["seed"], _level(r))], r)
            for r in ok
            if r["system"] == system and (r["dataset"], r["seed"], _level(r)) in full
        ]
        if not pairs:
            continue
        n_full = sum(_certified(a) for a, _ in pairs)
        n_off = sum(_certified(b) for _, b in pairs)
        out.append(
            f"| {system.removeprefix(ABLATED)} | {len(pairs)} | {n_full} -> {n_off} "
            f"| {_paired(pairs, 'time_to_certified_s')} "
            f"| {_paired(pairs, 'time_to_threshold_s')} |"
        )
    out.append("")
    return out


def _paired(pairs: list[tuple[dict[str, Any], dict[str, Any]]], field: str) -> str:
    """``full -> off (ratio off/full, n)`` over the (full, off) pairs that both have ``field``."""
    got = [
        (off[field], full[field])
        for full, off in pairs
        if full.get(field) is not None and off.get(field) is not None
    ]
    if not got:
        return "-"
    part = _ratios(got)
    return (
        f"{_fmt(part['median_b'], 1)} -> {_fmt(part['median_a'], 1)} "
        f"({_fmt(part['median_ratio'], 2)}, {len(got)})"
    )


def _overall(rows: list[dict[str, Any]], summ: dict[str, Any]) -> list[str]:
    """The Overall section's bullets: time to certified first."""
    systems, levels = summ["systems"], summ["levels"]
    lines = []
    if "learnloop" in systems and "flaml" in systems:
        parts = [("", summ["certified"])]
        if len(levels) > 1:
            parts += [(f" ({lv})", summ["certified_by_difficulty"][lv]) for lv in levels]
        for label, c in parts:
            alone = (
                f" learnloop certified where FLAML never passed its aim: "
                f"{len(c['learnloop_only'])}; FLAML passed the aim where learnloop did not "
                f"certify: {len(c['flaml_only'])}."
            )
            if c["median_ratio"] is None:
                lines.append(
                    f"- Time to certified{label}: no run that learnloop certified and in which "
                    "FLAML reached the same aim." + alone
                )
                continue
            lines.append(
                f"- **Time to certified{label}**: learnloop (`learnloop train --json`, process "
                f"start to exit 0) median **{c['median_learnloop']:.1f} s** vs FLAML's time to "
                f"the same aim (its best validation score past learnloop's `aim`) median "
                f"**{c['median_flaml']:.1f} s**, over the {len(c['ratios'])} runs where both "
                f"happened; per-run ratio learnloop / FLAML median **{c['median_ratio']:.2f}**, "
                f"geometric mean {c['geomean_ratio']:.2f}." + alone
            )
        c = summ["certified_from_start"]
        if c["median_ratio"] is not None:
            lines.append(
                f"- Time to certified, both clocks from process start (FLAML's time to the aim "
                f"plus its Python start, imports and encoding, {c['median_flaml']:.1f} s median; "
                f"learnloop {c['median_learnloop']:.1f} s): per-run ratio learnloop / FLAML "
                f"median **{c['median_ratio']:.2f}**, geometric mean {c['geomean_ratio']:.2f}, "
                f"over {len(c['ratios'])} runs. FLAML's time still leaves out what learnloop's "
                "includes after the aim: the refit, the test look and its certificate, saving."
            )
    for s, rate in summ["certification_rate"].items():
        met, n = rate["all"]
        per = (
            " (" + ", ".join(f"{lv} {rate[lv][0]}/{rate[lv][1]}" for lv in levels) + ")"
            if len(levels) > 1
            else ""
        )
        lines.append(
            f"- Certification rate, {s}: **{met}/{n}** ({_fmt(met / n if n else None, 2)}){per}."
        )
    for lv in levels:
        part = summ["by_difficulty"][lv]
        if part["median_ratio"] is not None:
            lines.append(
                f"- learnloop / FLAML time to threshold ({lv}), over the {len(part['ratios'])} "
                f"(data set, seed) runs both reached: median **{part['median_ratio']:.2f}**, "
                f"geometric mean **{part['geomean_ratio']:.2f}** (target: median <= 0.5)."
            )
        elif "learnloop" in systems and "flaml" in systems:
            lines.append(
                f"- learnloop / FLAML time to threshold ({lv}): no run where both reached it."
            )
    med = summ["median_ttt"]
    lines.append(
        f"- Median time to threshold where reached: learnloop {_fmt(med['learnloop'], 1)} s, "
        f"FLAML {_fmt(med['flaml'], 1)} s."
    )
    for s in systems:
        miss = summ["missed"][s]
        where = ", ".join(_where(k) for k in miss) if miss else "none"
        lines.append(
            f"- {s}: missed {len(miss)} of {summ['pairs']} thresholds on validation ({where})."
        )
    ll_rows = [r for r in rows if r["system"] == "learnloop" and not r.get("error")]
    if ll_rows:
        met_rows = [r for r in ll_rows if _certified(r)]
        reached = [r for r in ll_rows if r.get("time_to_threshold_s") is not None]
        lines.append(
            f"- learnloop certified {len(met_rows)} of {len(ll_rows)} runs "
            f"(median fit time of those {_fmt(_median([r['fit_s'] for r in met_rows]), 1)} s); "
            f"{len([r for r in reached if not _certified(r)])} runs passed "
            "the threshold on validation but were not certified on test (they searched on to the "
            "budget, or stopped after their three test looks)."
        )
    if "flaml" in systems and "learnloop" in systems:
        for lv in levels:
            only = summ["by_difficulty"][lv]["flaml_only"]
            lines.append(
                f"- Thresholds FLAML reached and learnloop did not ({lv}): "
                + (", ".join(_where(k) for k in only) if only else "none")
                + "."
            )
    return lines


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
    rows = with_same_aim([_within_budget(r) for r in rows])
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
    lines += _overall(rows, summ)
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
        "FLAML runs to its budget. *certified* (learnloop) counts runs whose `learnloop train` "
        "exited 0; *time to certified*: from starting that process to its exit, where certified; "
        "*time to learnloop's aim* (FLAML): when FLAML's best validation score first passed the "
        "aim learnloop's run on the same split had to pass (median over runs where it did, "
        "(passed/runs with an aim)), on FLAML's search clock; *from start*: the same with "
        "FLAML's process start, imports and encoding added, as learnloop's clock counts them.",
        "",
        *_table(rows, systems),
        "",
        *_ablation_table(rows),
    ]
    if scaling:
        lines += _scaling_table(scaling)
    if summ["errors"]:
        lines += ["## Failed runs", ""]
        for r in summ["errors"]:
            lines.append(f"- {r['dataset']} s{r['seed']} {_level(r)} {r['system']}: {r['error']}")
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

    # each (data set, difficulty) is one case to rank on; rows from before difficulties: easy
    frame = pd.DataFrame(
        [
            dict(r, dataset=r["dataset"] + ("" if _level(r) == "easy" else f" ({_level(r)})"))
            for r in rows
            if not r.get("error")
        ]
    )
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
