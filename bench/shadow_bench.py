"""What ``serve --shadow`` costs the champion's answer: two servers side by side.

    python -m bench.shadow_bench [--requests 200] [--results bench/SHADOW_RESULTS.md]

Two ``learnloop serve --name cancer --record`` processes of one breast-cancer champion run at
once, each recording into its own SQLite store; the second also has ``--shadow`` with a
challenger (the same task trained again), which predicts every request's rows off the request
path. One client sends the same requests to both in turn (one row, then 100-row batches), one
at a time over keep-alive connections, so other load on the machine falls on both alike. The
table gives each one's median and 95th-percentile latency and their ratio; afterwards the
shadow's counts (rows predicted, errors, skipped) are read from ``GET /monitor``.
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


def _time(client: object, body: dict) -> float:
    started = time.perf_counter()
    response = client.post("/predict", json=body)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def _server(store: str, log: Path, *extra: str) -> object:
    from serve_fixtures import _start, free_port

    port = free_port()
    command = [
        sys.executable, "-m", "learnloop", "serve", "--name", "cancer", "--store", store,
        "--record", *extra, "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    return _start(command, port, log, 90.0)


def main() -> None:
    from learnloop.runs.retrain import register_model
    from learnloop.store import open_store
    from learnloop.store.versions import Registry
    from serve_fixtures import stop_server, train_models

    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shadow-bench-"))
    (work / "a").mkdir()
    (work / "b").mkdir()
    champion = train_models(work / "a", only=("classifier",))
    challenger = train_models(work / "b", only=("classifier",))
    rows = json.loads(champion.classifier_frame.to_json(orient="records"))
    stores = {}
    for kind in ("plain", "shadow"):
        stores[kind] = f"sqlite:///{work / f'{kind}.db'}"
        registry = Registry(open_store(stores[kind]))
        register_model(registry, champion.classifier, name="cancer")
        register_model(registry, challenger.classifier, name="cancer")
        registry.set_alias("cancer", "champion", 1)
        registry.set_alias("cancer", "challenger", 2)
    plain = _server(stores["plain"], work / "plain.log")
    shadow = _server(stores["shadow"], work / "shadow.log", "--shadow")
    lines = []
    try:
        with plain.client() as a, shadow.client() as b:  # type: ignore[attr-defined]
            for size in (1, 100):
                times: dict[str, list[float]] = {"plain": [], "shadow": []}
                for i in range(args.requests + 20):
                    start = (i * size) % (len(rows) - size)
                    body = {"records": rows[start : start + size]}
                    t_plain, t_shadow = _time(a, body), _time(b, body)
                    if i >= 20:  # warm-up left out
                        times["plain"].append(t_plain)
                        times["shadow"].append(t_shadow)
                p = {k: np.percentile(np.array(v) * 1000, [50, 95]) for k, v in times.items()}
                ratio = p["shadow"][0] / p["plain"][0]
                lines.append(
                    f"| {size} | {p['plain'][0]:.2f} | {p['shadow'][0]:.2f} | {ratio:.2f} "
                    f"| {p['plain'][1]:.2f} | {p['shadow'][1]:.2f} |"
                )
            monitor = b.get("/monitor").json()
    finally:
        stop_server(plain)  # type: ignore[arg-type]
        stop_server(shadow)  # type: ignore[arg-type]
    counts = monitor["shadow"]
    load = os.getloadavg()
    table = "\n".join(
        [
            "# serve --shadow: the champion's latency side by side",
            "",
            f"{args.requests} requests per row count, one at a time, to both servers in turn "
            f"(both --record); {platform.machine()}, {os.cpu_count()} cores, load average "
            f"{load[0]:.1f} (python -m bench.shadow_bench).",
            "",
            "| rows per request | --record p50 ms | --record --shadow p50 ms | ratio "
            "| --record p95 ms | --shadow p95 ms |",
            "|---|---|---|---|---|---|",
            *lines,
            "",
            f"Champion predictions recorded: {monitor['predictions_recorded']}; challenger "
            f"({counts['version']}) rows predicted and recorded: "
            f"{monitor['challenger']['predictions_recorded']}; errors {counts['errors']}, "
            f"requests skipped {counts['skipped']}.",
            "",
        ]
    )
    print(table)
    if args.results is not None:
        args.results.write_text(table)


if __name__ == "__main__":
    main()
