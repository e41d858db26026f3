"""``python -m bench``: learnloop, FLAML and Optuna + LightGBM side by side -> bench/RESULTS.md.

Defaults (what ``make bench`` runs): the scaling runs, then the whole suite with seeds 0 and 1,
30 s budget per run, at both difficulties (easy: 98% of the reference's best test score; hard:
99.5%). ``--quick``: three small data sets, one seed, 10 s, easy only, no scaling (a few
minutes). ``--ablate refit,ensemble`` (or ``all``) adds one learnloop run per lever with that
lever off (system ``learnloop-no-<lever>``, ``$LEARNLOOP_ABLATE=<lever>``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from bench.harness import run_matrix
from bench.report import write_rank_report, write_results
from bench.scaling import ROWS, run_scaling
from bench.suite import DIFFICULTIES, QUICK, SUITE
from bench.systems import ABLATED, SYSTEMS, base_system
from learnloop.core.levers import LEVERS

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small subset, 1 seed, 10 s")
    parser.add_argument("--datasets", help="comma-separated names (default: all)")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--seeds", help="comma-separated seeds (default 0,1; quick: 0)")
    parser.add_argument("--budget", type=float, help="seconds per run (default 30; quick: 10)")
    parser.add_argument(
        "--difficulty",
        help="comma-separated: easy (98%% of the reference's best), hard (99.5%%) "
        "(default easy,hard; quick: easy)",
    )
    parser.add_argument(
        "--ablate",
        help=f"levers to turn off one at a time, as extra systems learnloop-no-LEVER "
        f"({', '.join(LEVERS)}, or all)",
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--scaling", default=None, help="rows for the scaling runs, or 'none'")
    parser.add_argument("--scaling-budget", type=float, default=60.0)
    parser.add_argument("--out", type=Path, help="Markdown file (default bench/RESULTS.md)")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the Markdown from the saved .jsonl rows (e.g. of a run cut short)",
    )
    args = parser.parse_args(argv)

    names = args.datasets.split(",") if args.datasets else (QUICK if args.quick else list(SUITE))
    unknown = [n for n in names if n not in SUITE and n != "tiny"]
    if unknown:
        parser.error(f"unknown data set '{unknown[0]}'; choose from {', '.join(SUITE)}")
    systems = [s for s in args.systems.split(",") if s]
    levers = [] if not args.ablate else args.ablate.split(",")
    if levers == ["all"]:
        levers = list(LEVERS)
    bad_lever = [x for x in levers if x not in LEVERS]
    if bad_lever:
        parser.error(f"unknown lever '{bad_lever[0]}'; choose from {', '.join(LEVERS)} or all")
    systems += [f"{ABLATED}{x}" for x in levers if f"{ABLATED}{x}" not in systems]
    for s in systems:
        try:
            base_system(s)
        except ValueError as e:
            parser.error(str(e))
    difficulties = (args.difficulty or ("easy" if args.quick else "easy,hard")).split(",")
    bad_level = [d for d in difficulties if d not in DIFFICULTIES]
    if bad_level:
        parser.error(f"unknown difficulty '{bad_level[0]}'; choose from {', '.join(DIFFICULTIES)}")
    seeds = (
        [int(s) for s in args.seeds.split(",")] if args.seeds else ([0] if args.quick else [0, 1])
    )
    budget = args.budget or (10.0 if args.quick else 30.0)
    scaling_arg = args.scaling or ("none" if args.quick else ",".join(map(str, ROWS)))
    scaling_rows = [] if scaling_arg == "none" else [int(x) for x in scaling_arg.split(",")]
    out = args.out or HERE / ("RESULTS-quick.md" if args.quick else "RESULTS.md")
    sink = out.with_suffix(".jsonl")
    start = time.monotonic()
    title = "Benchmark results" + (" (--quick subset)" if args.quick else "")
    if args.report_only:
        saved = [json.loads(line) for line in sink.read_text().splitlines() if line.strip()]
        rows = [r for r in saved if r.get("kind") != "scaling"]
        scaling = [r for r in saved if r.get("kind") == "scaling"]
        seeds = sorted({r["seed"] for r in rows})
        budget = rows[0]["budget_s"] if rows else budget
        title += " (written from saved rows)"
    else:
        sink.unlink(missing_ok=True)
        scaling = []  # first: short, and the only look at growth
        if scaling_rows:
            scaling = run_scaling(scaling_rows, args.scaling_budget, n_jobs=args.n_jobs)
        with sink.open("a") as f:
            for row in scaling:
                f.write(json.dumps(dict(row, kind="scaling")) + "\n")
        rows = run_matrix(
            names,
            systems,
            seeds,
            budget,
            n_jobs=args.n_jobs,
            difficulties=difficulties,
            sink=sink,
        )
    summ = write_results(
        rows,
        out,
        title=title,
        budget=budget,
        seeds=seeds,
        scaling=scaling,
        command="python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
    )
    ranks = write_rank_report(rows, out.with_suffix(".html"), title)
    minutes = (time.monotonic() - start) / 60
    print(f"wrote {out} and {ranks} ({minutes:.1f} min)")
    cert = summ["certified"]
    if cert["median_ratio"] is not None:
        print(
            f"learnloop time to certified / FLAML time to the same aim: median "
            f"{cert['median_ratio']:.2f} over {len(cert['ratios'])} pairs"
        )
    for level, part in summ["by_difficulty"].items():
        if part["median_ratio"] is not None:
            print(
                f"learnloop/FLAML time to threshold ({level}): median "
                f"{part['median_ratio']:.2f}, geomean {part['geomean_ratio']:.2f}"
            )
    for s, miss in summ["missed"].items():
        print(f"{s}: missed {len(miss)} of {summ['pairs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
