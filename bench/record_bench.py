"""What ``serve --record`` costs a request: the same model served twice, side by side.

    python -m bench.record_bench [--requests 400] [--results bench/RECORD_RESULTS.md]

Two ``learnloop serve`` processes of one breast-cancer classifier (trained here in a few
seconds) run at once, one plain and one with ``--record`` into a SQLite store. One client
sends the same requests to both in turn (one row, then 100-row batches), one request at a
time over keep-alive connections, so load from other work on the machine falls on both
alike. The table gives each one's median and 95th-percentile latency and their ratio, and
checks afterwards that every prediction the recording server answered is in the store.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def _time(client: object, body: dict) -> tuple[float, list[str]]:
    started = time.perf_counter()
    response = client.post("/predict", json=body)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, response.json().get("prediction_ids", [])


def main() -> None:
    from learnloop.store import open_store
    from learnloop.store.predictions import PredictionLog
    from serve_fixtures import start_server, stop_server, train_models

    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="record-bench-"))
    models = train_models(work, only=("classifier",))
    rows = json.loads(models.classifier_frame.to_json(orient="records"))
    store = f"sqlite:///{work / 'record.db'}"
    plain = start_server(models.classifier, work / "plain.log")
    recording = start_server(models.classifier, work / "rec.log", "--record", "--store", store)
    lines = []
    ids: list[str] = []
    try:
        with plain.client() as a, recording.client() as b:
            for size in (1, 100):
                times: dict[str, list[float]] = {"plain": [], "record": []}
                for i in range(args.requests + 20):
                    start = (i * size) % (len(rows) - size)
                    body = {"records": rows[start : start + size]}
                    t_plain, _ = _time(a, body)
                    t_rec, got = _time(b, body)
                    ids += got
                    if i >= 20:  # warm-up left out
                        times["plain"].append(t_plain)
                        times["record"].append(t_rec)
                p = {k: np.percentile(np.array(v) * 1000, [50, 95]) for k, v in times.items()}
                ratio = p["record"][0] / p["plain"][0]
                lines.append(
                    f"| {size} | {p['plain'][0]:.2f} | {p['record'][0]:.2f} | {ratio:.2f} "
                    f"| {p['plain'][1]:.2f} | {p['record'][1]:.2f} |"
                )
            time.sleep(3)  # one flush interval and a write
            stored = len(PredictionLog(open_store(store)).known(ids))
    finally:
        stop_server(plain)
        stop_server(recording)
    load = os.getloadavg()
    table = "\n".join(
        [
            "# serve --record: latency side by side",
            "",
            f"{args.requests} requests per row count, one at a time, to both servers in turn; "
            f"{platform.machine()}, {os.cpu_count()} cores, load average {load[0]:.1f} "
            f"(python -m bench.record_bench).",
            "",
            "| rows per request | plain p50 ms | --record p50 ms | ratio | plain p95 ms "
            "| --record p95 ms |",
            "|---|---|---|---|---|---|",
            *lines,
            "",
            f"Predictions answered by the recording server: {len(ids)}; in the store after "
            f"one flush interval: {stored}.",
            "",
        ]
    )
    print(table)
    if args.results is not None:
        args.results.write_text(table)


if __name__ == "__main__":
    main()
