"""Run systems x data sets x seeds one after the other, each in its own subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.systems import ablated_lever
from learnloop.core.levers import ENV

__all__ = ["run_one_subprocess", "run_matrix"]

ROOT = Path(__file__).resolve().parent.parent


def run_one_subprocess(spec: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
    """Start ``python -m bench.run_one`` for ``spec`` and return its result row."""
    budget = float(spec["budget"])
    timeout = timeout or 3 * budget + 180
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS=str(spec.get("n_jobs", 2)))
    lever = ablated_lever(spec["system"])
    if lever is not None:  # learnloop-no-<lever>: the CLI it starts inherits the switch
        env[ENV] = lever
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.run_one", json.dumps(spec)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return dict(spec, error=f"timed out after {timeout:.0f} s", wall_s=time.monotonic() - start)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            row = json.loads(line[len("BENCH_RESULT ") :])
            row["wall_s"] = time.monotonic() - start
            return row
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return dict(
        spec,
        error=f"exit {proc.returncode}: {' | '.join(tail)}",
        wall_s=time.monotonic() - start,
    )


def run_matrix(
    datasets: Iterable[str],
    systems: Iterable[str],
    seeds: Iterable[int],
    budget: float,
    *,
    n_jobs: int = 2,
    thresholds: dict[str, float | None] | None = None,
    difficulties: Iterable[str] = ("easy",),
    log: Callable[[str], None] = print,
    sink: Path | None = None,
) -> list[dict[str, Any]]:
    """Every (data set, seed, system) in turn; rows are appended to ``sink`` (JSON lines) as they
    finish, so a long run that is cut short keeps what it did. Each data set runs at every
    difficulty (its threshold from :func:`bench.suite.threshold_for`) unless ``thresholds``
    gives the threshold itself."""
    rows = []
    systems = list(systems)
    seeds = list(seeds)
    names = list(datasets)
    levels = ["given"] if thresholds is not None else list(difficulties)
    for seed in seeds:  # seed-major, so that a run cut short still covers every data set
        for name in names:
            for difficulty in levels:
                for system in systems:
                    spec: dict[str, Any] = {
                        "system": system,
                        "dataset": name,
                        "seed": seed,
                        "budget": budget,
                        "n_jobs": n_jobs,
                    }
                    if thresholds is not None:
                        spec["threshold"] = thresholds.get(name)
                    else:
                        spec["difficulty"] = difficulty
                    row = run_one_subprocess(spec)
                    rows.append(row)
                    if sink is not None:
                        with sink.open("a") as f:
                            f.write(json.dumps(row) + "\n")
                    log(_line(row))
    return rows


def _line(row: dict[str, Any]) -> str:
    if row.get("error"):
        return f"{row['dataset']:>14} s{row['seed']} {row['system']:<12} ERROR {row['error']}"
    ttt = row.get("time_to_threshold_s")
    ttt_s = "   -  " if ttt is None else f"{ttt:6.1f}"
    ttc = row.get("time_to_certified_s")
    ttc_s = "" if ttc is None else f"certified {ttc:6.1f}s "
    val = row.get("validation_score")
    test = row.get("test_score")
    return (
        f"{row['dataset']:>14} s{row['seed']} {row.get('difficulty', 'easy'):<4} "
        f"{row['system']:<12} ttt {ttt_s}s {ttc_s}"
        f"val {_f(val)} test {_f(test)} confirms {row.get('test_confirms')} "
        f"fit {row.get('fit_s', 0):.1f}s mem {row.get('peak_mem_mb', 0):.0f}MB"
    )


def _f(x: float | None) -> str:
    return "  -   " if x is None else f"{x:.4f}"
