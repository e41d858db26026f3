"""learnloop's time to threshold and peak memory on generated data of growing size.

``python -m bench.scaling [--rows 10000,100000,1000000] [--budget 60]`` prints the rows; the main
``python -m bench`` run includes them in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bench.harness import run_one_subprocess

__all__ = ["run_scaling", "ROWS"]

ROWS = [10_000, 100_000, 1_000_000]


def run_scaling(
    rows: list[int],
    budget: float,
    *,
    seed: int = 0,
    n_jobs: int = 2,
    system: str = "learnloop",
    threshold: float | None = None,
) -> list[dict[str, Any]]:
    """One learnloop run per size, each in its own process (threshold: the suite's default)."""
    out = []
    for n in rows:
        spec: dict[str, Any] = {"system": system, "dataset": f"scale_{n}", "seed": seed}
        spec.update(budget=budget, n_jobs=n_jobs)
        if threshold is not None:
            spec["threshold"] = threshold
        row = run_one_subprocess(spec)
        row["rows"] = n
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    parser.add_argument("--rows", default=",".join(map(str, ROWS)))
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--threshold", type=float, help="accuracy to reach (default 0.90)")
    parser.add_argument("--system", default="learnloop", help="learnloop, flaml or optuna_lgbm")
    args = parser.parse_args(argv)
    rows = [int(x) for x in args.rows.split(",")]
    run_scaling(rows, args.budget, threshold=args.threshold, system=args.system)


if __name__ == "__main__":
    main()
