"""Run one system on one data set and seed in this process, and print one JSON line.

``python -m bench.run_one SPEC_JSON`` is what the harness starts once per (system, data set,
seed), so that each run has its own memory, its peak memory can be read, and a crash stays
contained. Peak memory is the process's own maximum resident set (which includes the data and the
interpreter), or that of its largest finished worker process if larger.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = ["run", "peak_memory_mb", "process_started"]


def peak_memory_mb() -> float:
    """Largest resident set of this process or any finished child, in MiB (Linux kB units)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def process_started() -> float:
    """When this process started, on the wall clock (``time.time()``)."""
    import psutil

    return float(psutil.Process().create_time())


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Load the data set, split it with the seed, run the system; return one result row."""
    from bench.suite import get_dataset, split, threshold_for
    from bench.systems import ablated_lever, run_system

    ds = get_dataset(spec["dataset"])
    difficulty = spec.get("difficulty")
    if "threshold" in spec:
        threshold = spec["threshold"]
    else:
        threshold = threshold_for(ds, difficulty or "easy")
    row: dict[str, Any] = {
        "system": spec["system"],
        "dataset": ds.name,
        "seed": spec["seed"],
        "difficulty": difficulty,
        "ablated": ablated_lever(spec["system"]),
        "metric": ds.metric,
        "threshold": threshold,
        "budget_s": spec["budget"],
    }
    t0 = time.monotonic()
    try:
        frame = ds.load()
        train, val, test = split(frame, ds.task, spec["seed"])
        row["rows"] = len(frame)
        row["load_s"] = time.monotonic() - t0
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            row.update(
                run_system(
                    spec["system"],
                    task=ds.task,
                    metric=ds.metric,
                    threshold=threshold,
                    train=train,
                    validation=val,
                    test=test,
                    budget=float(spec["budget"]),
                    seed=int(spec["seed"]),
                    n_jobs=int(spec.get("n_jobs", 2)),
                    workdir=Path(tmp),
                    dataset=ds.name,
                )
            )
        started = row.pop("fit_started_wall", None)
        if started is not None:  # Python, imports and encoding, as in learnloop's own clock
            row["startup_s"] = max(0.0, started - process_started() - row["load_s"])
        row["error"] = None
    except Exception as e:  # the harness records the failure and goes on
        row["error"] = f"{type(e).__name__}: {e}"
        row["traceback"] = traceback.format_exc(limit=5)
    row["peak_mem_mb"] = peak_memory_mb()
    return row


def main() -> None:
    spec = json.loads(sys.argv[1])
    row = run(spec)
    print("BENCH_RESULT " + json.dumps(row, default=_plain), flush=True)


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return str(v)


if __name__ == "__main__":
    main()
