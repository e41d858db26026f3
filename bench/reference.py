"""The long reference run that sets the suite's thresholds.

``python -m bench.reference [--budget 60] [--datasets a,b]`` runs every system with no threshold
(learnloop searches its whole budget too) on seed 0, and writes ``bench/REFERENCE.md``: each
system's test score and the threshold it implies, 98% of the best test score any system reached
(102% for lower-is-better metrics), rounded towards the easier side at 4 decimals. The thresholds
in ``bench/suite.py`` are copied from that table.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from bench.direction import higher_is_better
from bench.harness import run_matrix
from bench.machine import describe_machine
from bench.suite import SUITE, fraction_of
from bench.systems import SYSTEMS

__all__ = ["threshold_from", "main"]

HERE = Path(__file__).resolve().parent
FRACTION = 0.98


def threshold_from(metric: str, best: float) -> float:
    """98% of ``best`` (or 102% when lower is better), rounded to the easier side."""
    return fraction_of(metric, best, FRACTION)


def thresholds_from_rows(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per data set, the threshold implied by the best test score any system reached."""
    out = {}
    for name in dict.fromkeys(r["dataset"] for r in rows):
        metric = SUITE[name].metric
        found = [
            r["test_score"]
            for r in rows
            if r["dataset"] == name and not r.get("error") and r.get("test_score") is not None
        ]
        if found:
            best = max(found) if higher_is_better(metric) else min(found)
            out[name] = threshold_from(metric, best)
    return out


def write_suite_thresholds(thresholds: dict[str, float], path: Path = HERE / "suite.py") -> None:
    """Write the thresholds into the suite file (the line after each data set's metric)."""
    text = path.read_text()
    for name, value in thresholds.items():
        pattern = re.compile(
            rf'(Dataset\(\s*"{re.escape(name)}",\s*"\w+",\s*"\w+",\s*)([^,\n]+),[^\n]*'
        )
        text, n = pattern.subn(rf"\g<1>{value:.4f},", text, count=1)
        if n != 1:
            raise ValueError(f"Could not find the threshold of '{name}' in {path}.")
    path.write_text(text)


def write_reference(rows: list[dict[str, Any]], budget: float, path: Path) -> None:
    systems = [s for s in SYSTEMS if any(r["system"] == s for r in rows)]
    lines = [
        "# Reference run (sets the thresholds in bench/suite.py)",
        "",
        f"Every system, no threshold, {budget:.0f} s budget, seed 0, same splits, n_jobs=2. "
        f"Threshold = {FRACTION:.0%} of the best test score (102% for lower-is-better metrics).",
        "",
        "| data set | metric | "
        + " | ".join(f"{s} test" for s in systems)
        + " | best | threshold |",
        "|---|---|" + "---|" * len(systems) + "---|---|",
    ]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        mine = {r["system"]: r for r in rows if r["dataset"] == name}
        metric = SUITE[name].metric if name in SUITE else next(iter(mine.values()))["metric"]
        scores = {s: mine.get(s, {}).get("test_score") for s in systems}
        found = [v for v in scores.values() if v is not None]
        if not found:
            best_s = thr_s = "-"
        else:
            best = max(found) if higher_is_better(metric) else min(found)
            best_s, thr_s = f"{best:.4f}", f"{threshold_from(metric, best):.4f}"
        cells = ["-" if scores[s] is None else f"{scores[s]:.4f}" for s in systems]
        lines.append(f"| {name} | {metric} | " + " | ".join(cells) + f" | {best_s} | {thr_s} |")
    lines += ["", "## Machine", "", *describe_machine(), ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--datasets", default=",".join(SUITE))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--out", type=Path, default=HERE / "REFERENCE.md")
    parser.add_argument(
        "--write-suite",
        action="store_true",
        help="only rewrite the thresholds in suite.py from the saved REFERENCE.jsonl",
    )
    args = parser.parse_args(argv)
    sink = args.out.with_suffix(".jsonl")
    if args.write_suite:
        rows = [json.loads(line) for line in sink.read_text().splitlines() if line.strip()]
        write_suite_thresholds(thresholds_from_rows(rows))
        print(f"wrote thresholds into {HERE / 'suite.py'}")
        return
    names = [n for n in args.datasets.split(",") if n]
    sink.unlink(missing_ok=True)
    rows = run_matrix(
        names,
        args.systems.split(","),
        [0],
        args.budget,
        thresholds=dict.fromkeys(names),
        sink=sink,
    )
    write_reference(rows, args.budget, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
