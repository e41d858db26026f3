"""The budget is a promise: wall time of ``learnloop train --budget B`` against B.

``python -m bench.budget [--datasets a,b] [--budgets 10,30] [--rows 1000000] [--label after]``

Each run is the CLI as a user runs it, on the suite's seeded 60/20/20 split written to parquet
before the clock starts (as ``bench/systems.py`` does), with no threshold, so that every run
searches to its budget and then finishes (the test look, the refit, the model file): the case
where the promise is at stake. The generated table (``--rows``, ``bench.suite.generated``) is
the large-table case (a tester's ``--budget 5`` took 6.7 s on 1.4M rows).

Measured per run: ``wall_s`` (``Popen`` to exit, so it includes the interpreter's start and the
imports), ``elapsed_s`` (the run's own clock in its JSON: the ``train`` call, reading the data
included), and the overrun against the goal, ``budget * 1.05 + 1 s`` of start-up. Rows are
appended to ``bench/BUDGET.jsonl`` with ``--label``; the table ``bench/BUDGET_RESULTS.md`` is
rewritten from every label found there (a before/after pair side by side).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import describe_machine
from bench.suite import SUITE, TARGET, generated, get_dataset, split

HERE = Path(__file__).resolve().parent
JSONL = HERE / "BUDGET.jsonl"
TABLE = HERE / "BUDGET_RESULTS.md"
SLACK = 0.05  # the goal: wall time within the budget plus 5% ...
STARTUP_S = 1.0  # ... plus a second of start-up
DEFAULT_BUDGETS = (10.0, 30.0)


def _write(frames: tuple[Any, ...], folder: Path) -> list[Path]:
    paths = [folder / f"{name}.parquet" for name in ("train", "validation", "test")]
    for frame, path in zip(frames, paths, strict=True):
        frame.to_parquet(path, index=False)
    return paths


def run_one(name: str, budget: float, rows: int | None, n_jobs: int) -> dict[str, Any]:
    """One ``learnloop train`` to its budget: wall and elapsed seconds, trials, status."""
    if rows is not None:
        task, frame = "classification", generated(rows)
    else:
        ds = get_dataset(name)
        task, frame = ds.task, ds.load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train, val, test = _write(split(frame, task, 0), folder)
        cmd = [sys.executable, "-m", "learnloop", "train", str(train), "--target", TARGET]
        cmd += ["--task", task, "--validation", str(val), "--test", str(test)]
        cmd += ["--budget", f"{budget:g}", "--seed", "0", "--n-jobs", str(n_jobs)]
        cmd += ["--out", str(folder / "m.skops"), "--store", str(folder / "s.db"), "--json"]
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3 * budget + 300)
        wall = time.monotonic() - start
    row: dict[str, Any] = {"dataset": name, "rows": len(frame), "budget_s": budget}
    row["load"] = round(os.getloadavg()[0], 1)  # the machine's load when it ran
    row.update(wall_s=round(wall, 2), exit_code=proc.returncode)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode not in (0, 3) or not lines:
        row["error"] = " | ".join(proc.stderr.strip().splitlines()[-3:])
        return row
    out = json.loads(lines[-1])
    row.update(
        elapsed_s=out.get("elapsed_s"),
        n_trials=out.get("n_trials"),
        best=out.get("best_candidate"),
        refit=out.get("refit"),
    )
    return row


def _figures(r: dict[str, Any]) -> dict[str, float]:
    """A run against its budget: over on its own clock, over the goal, start-up and exit."""
    budget = r["budget_s"]
    return {
        "over_clock": max(0.0, r["elapsed_s"] - budget * (1 + SLACK)),
        "over_goal": max(0.0, r["wall_s"] - budget * (1 + SLACK) - STARTUP_S),
        "startup": r["wall_s"] - r["elapsed_s"],
    }


def _cell(x: float) -> str:
    return f"**{x:.1f}**" if x > 0.05 else "0"


def _summary(label: str, done: list[dict[str, Any]]) -> str:
    figs = [_figures(r) for r in done]
    clock = [f["over_clock"] for f in figs]
    goal = [f["over_goal"] for f in figs]
    startup = sorted(f["startup"] for f in figs)
    ratio = [r["elapsed_s"] / r["budget_s"] for r in done]
    worst = max(done, key=lambda r: r["elapsed_s"] - r["budget_s"])
    loads = sorted(r["load"] for r in done if "load" in r)
    load = f"load average {loads[0]:g}-{loads[-1]:g}" if loads else "load not recorded"
    return (
        f"- **{label}** ({len(done)} runs, {load}): on the run's "
        f"own clock {sum(c > 0.05 for c in clock)} over the budget + {SLACK:.0%} (most "
        f"{max(clock):.1f} s; elapsed / budget max {max(ratio):.2f}, worst {worst['dataset']} "
        f"at {worst['budget_s']:g} s: {worst['elapsed_s']:.1f} s); from `Popen` to exit "
        f"{sum(g > 0.05 for g in goal)} over the goal (most {max(goal):.1f} s), with a median "
        f"start-up and exit of {startup[len(startup) // 2]:.1f} s."
    )


def write_table(rows: list[dict[str, Any]], path: Path = TABLE) -> None:
    """The Markdown table of every labelled run in ``rows``, a group of columns per label."""
    labels = list(dict.fromkeys(r["label"] for r in rows))
    keys = list(dict.fromkeys((r["dataset"], r["budget_s"]) for r in rows))
    by = {(r["label"], r["dataset"], r["budget_s"]): r for r in rows}
    head = ["data set", "rows", "budget (s)"]
    for label in labels:
        head += [f"{label}: {c}" for c in ("elapsed", "over", "wall", "start-up", "over goal")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, budget in keys:
        any_row = next(by[(lb, name, budget)] for lb in labels if (lb, name, budget) in by)
        cells = [name, f"{any_row['rows']:,}", f"{budget:g}"]
        for label in labels:
            r = by.get((label, name, budget))
            if r is None or "error" in r:
                cells += ["-", "-", "-", "-", (r or {}).get("error", "-")[:40]]
                continue
            f = _figures(r)
            cells += [f"{r['elapsed_s']:.1f}", _cell(f["over_clock"]), f"{r['wall_s']:.1f}"]
            cells += [f"{f['startup']:.1f}", _cell(f["over_goal"])]
        lines.append("| " + " | ".join(cells) + " |")
    summary = []
    for label in labels:
        done = [r for r in rows if r["label"] == label and "error" not in r]
        if done:
            summary.append(_summary(label, done))
    text = [
        "# The budget is a promise: wall time against `--budget`",
        "",
        "`python -m bench.budget` (see `bench/budget.py`): `learnloop train DATA --budget B "
        "--json` with no threshold, so that every run searches to its budget and then looks,",
        "refits and saves, on each data set's seeded 60/20/20 split written to parquet before the",
        "clock starts. **elapsed** is the run's own clock (`elapsed_s`: the `train` call, reading",
        f"the data included) and **over** how far it went past the budget plus {SLACK:.0%};",
        "**wall** is `Popen` to exit, **start-up** the interpreter's start and imports before the",
        "call plus the exit after it (wall - elapsed), and **over goal** how far wall went past",
        f"issue 21's goal: the budget plus {SLACK:.0%} plus {STARTUP_S:g} s of start-up.",
        "",
        "Run at a modest size (the suite, seed 0, 10 and 30 s, and 1M generated rows at 5 and",
        "10 s) on a 2-core machine shared with other jobs: the load average was 5.7-8.1 during",
        "the runs before (read by `uptime`) and is in the rows after (`BUDGET.jsonl`), so the",
        "command's imports alone took 3-6 s. Read the figures as what the rules guarantee, not",
        "as speed.",
        "",
        *summary,
        "",
        *FINDINGS,
        "",
        *lines,
        "",
        "## Machine",
        "",
        *describe_machine(),
        "",
    ]
    path.write_text("\n".join(text))


FINDINGS: list[str] = [
    "What the figures say:",
    "",
    "- **Before**, the run's own clock went past the budget in 18 of 26 runs, by up to 7.5 s "
    "(cps1988 at 30 s took 39 s). The causes, read from the runs' timelines: the model "
    "writer's import (skops reads scikit-learn's modules: 2-4.5 s under this load) came after "
    "the search, unplanned; the model file was not priced (a 64 MB ensemble with 256 extra "
    "trees takes 2.8 s to write); a trial could run a step, or its whole first step, past "
    "the deadline; and a refit before the look could run to the end of the budget.",
    "- **After**: a trial is not started when trials like it took longer to reach their "
    "first step than the time left (a promotion to all the rows that no longer fits is passed "
    "over for cheaper trials); a monitor stops a trial before a step that would end past the "
    "deadline; the writer is imported before the search and the file priced by the model's "
    "pickled size; a refit leaves the time to finish. 24 of 26 runs ended within the budget "
    "plus 5% on their own clock. The two that did not: ames at 10 s (11.5 s: the ridge "
    "family's first trial, on 351 one-hot columns, took 2.5 s under this load where the "
    "slowest first step seen so far was 0.4 s) and 1M generated rows at 5 s (7.9 s: reading, "
    "checking and splitting the rows, opening the store and importing the writer took about "
    "7 s before any trial could start; the run saved the trivial model). The floor of a run "
    "is its data's preparation.",
    "- **From `Popen` to exit**, the command's start-up (the interpreter and the imports, "
    "before the budget's clock starts at the `train` call) took 4-6 s at this load, so most "
    "runs missed the goal's 1 s of start-up by that alone; the exit after the run is about "
    "0.2 s.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.budget", description=__doc__)
    parser.add_argument("--datasets", help="comma-separated suite names (default: all)")
    parser.add_argument("--budgets", default=",".join(f"{b:g}" for b in DEFAULT_BUDGETS))
    parser.add_argument("--rows", type=int, default=1_000_000, help="generated rows (0: none)")
    parser.add_argument("--rows-budgets", default="5,10", help="budgets for the generated table")
    parser.add_argument("--label", default="now", help="the rows' label (e.g. before, after)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.report_only:
        names = args.datasets.split(",") if args.datasets else list(SUITE)
        plan = [(n, float(b), None) for n in names for b in args.budgets.split(",") if b]
        if args.rows:
            gen = f"generated_{args.rows // 1000}k"
            plan += [(gen, float(b), args.rows) for b in args.rows_budgets.split(",") if b]
        for name, budget, rows in plan:
            row = {"label": args.label, **run_one(name, budget, rows, args.n_jobs)}
            print(json.dumps(row), flush=True)
            with JSONL.open("a") as f:
                f.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in JSONL.read_text().splitlines() if line.strip()]
    write_table(rows)
    print(f"wrote {TABLE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
