"""Swap benchmark: request latency and failures across model swaps under 32 clients.

    python -m bench.swap_bench            # writes bench/SWAP_RESULTS.md (about a minute)
    python -m bench.swap_bench --quick    # shorter, prints the table only

Two versions of a breast-cancer model are registered (the first 350 rows, then all 569);
`learnloop serve --name cancer --poll 0.5` serves the champion. 32 threads, each with one
keep-alive httpx client, send 3-row /predict requests without pause. The champion is
promoted to version 2, then rolled back to 1. Reported per phase: requests, failures, p50 and
p99 latency; "swap" phases are the 3 seconds after each alias move (polling, loading, warm-up
and the swap itself), and the delay from the alias move to the first answer of the new version.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench.servers import wait_ready

CLIENTS = 32
SWAP_WINDOW_S = 3.0


def _ms(value: object) -> str:
    """A latency for the table; a phase with no request (--quick's short steady phases) has none."""
    return "-" if value is None else f"{value:.1f}"


def main() -> None:  # noqa: PLR0915 -- one scripted scenario
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    steady = 2.0 if args.quick else 6.0
    from sklearn.datasets import load_breast_cancer

    import learnloop
    from learnloop.runs.retrain import register_model, rollback
    from learnloop.store import open_store
    from learnloop.store.versions import Registry

    root = Path(tempfile.mkdtemp(prefix="swap-bench-"))
    store = str(root / "s.db")
    frame = load_breast_cancer(as_frame=True).frame
    reg = Registry(open_store(store))
    for rows, name in ((350, "cancer.skops"), (569, "cancer.v2.skops")):
        learnloop.train(
            frame.iloc[:rows], target="target", threshold=0.85, budget=10, out=root / name,
            store=store, candidates=["lightgbm"],
        )  # fmt: skip
    register_model(reg, root / "cancer.skops")
    register_model(reg, root / "cancer.v2.skops", name="cancer", parent=1)
    port = 8700 + os.getpid() % 200
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "learnloop", "serve", "--name", "cancer", "--store", store,
         "--poll", "0.5", "--port", str(port), "--log-level", "warning"],
    )  # fmt: skip
    rows = json.loads(frame.drop(columns="target").head(60).to_json(orient="records"))
    log: list[tuple[float, float, int, str]] = []  # start, seconds, status, version
    stop = threading.Event()
    lock = threading.Lock()

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            k = i
            while not stop.is_set():
                body = {"records": rows[k % 57 : k % 57 + 3]}
                k += 1
                t0 = time.monotonic()
                try:
                    r = c.post("/predict", json=body)
                    entry = (t0, time.monotonic() - t0, r.status_code, r.headers["x-model-version"])
                except Exception:
                    entry = (t0, time.monotonic() - t0, -1, "")
                with lock:
                    log.append(entry)

    try:
        wait_ready(f"{url}/ready", server, timeout_s=120)
        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        marks = {"start": time.monotonic()}
        time.sleep(steady)
        marks["promote"] = time.monotonic()
        reg.set_alias("cancer", "champion", 2)
        time.sleep(steady)
        marks["rollback"] = time.monotonic()
        rollback("cancer", store=store)
        time.sleep(steady)
        marks["end"] = time.monotonic()
        stop.set()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(timeout=30)

    def phase(name: str, lo: float, hi: float) -> dict[str, object]:
        chosen = [e for e in log if lo <= e[0] < hi]
        ms = np.array([e[1] for e in chosen]) * 1000
        return {
            "phase": name,
            "requests": len(chosen),
            "failed": sum(e[2] != 200 for e in chosen),
            "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
            "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None,
            "versions": sorted({e[3] for e in chosen}),
        }

    def delay(after: float, version: str) -> float:
        return min(e[0] + e[1] for e in log if e[0] >= after and e[3] == version) - after

    w = SWAP_WINDOW_S
    phases = [
        phase("steady, v1", marks["start"], marks["promote"]),
        phase("swap to v2 (3 s)", marks["promote"], marks["promote"] + w),
        phase("steady, v2", marks["promote"] + w, marks["rollback"]),
        phase("rollback to v1 (3 s)", marks["rollback"], marks["rollback"] + w),
        phase("steady, v1 again", marks["rollback"] + w, marks["end"]),
    ]
    delays = (delay(marks["promote"], "cancer/2"), delay(marks["rollback"], "cancer/1"))
    load = os.getloadavg()
    lines = [
        "| phase | requests | failed | p50 ms | p99 ms | versions answering |",
        "|---|---:|---:|---:|---:|---|",
        *(
            f"| {p['phase']} | {p['requests']} | {p['failed']} | {_ms(p['p50_ms'])} | "
            f"{_ms(p['p99_ms'])} | {', '.join(p['versions'])} |"  # type: ignore[arg-type]
            for p in phases
        ),
        "",
        f"Alias moved -> first answer of the new version: {delays[0]:.2f} s (promote), "
        f"{delays[1]:.2f} s (rollback), with --poll 0.5.",
        f"Load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
        f"({os.cpu_count()} cores, shared).",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.quick:
        out = Path(__file__).with_name("SWAP_RESULTS.md")
        out.write_text(
            "# Swapping models under load\n\n"
            "`python -m bench.swap_bench`: 32 keep-alive clients send 3-row /predict requests "
            "without pause to `learnloop serve --name cancer --poll 0.5` while the champion is "
            "promoted (v1 -> v2) and rolled back (v2 -> v1).\n\n" + table + "\n"
        )


if __name__ == "__main__":
    main()
