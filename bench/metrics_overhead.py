"""What /metrics costs a request: the metrics middleware side by side with none, on an
ASGI app that answers at once (so only the middleware differs), and the counting of a
batch's predictions. In process, median of 5 runs; a few seconds in all.

    python -m bench.metrics_overhead   # -> bench/METRICS_RESULTS.md
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from learnloop.serving.answers import PREDICTIONS
from learnloop.serving.metrics import MetricsMiddleware, Recorder

OUT = Path(__file__).with_name("METRICS_RESULTS.md")
CALLS = 20_000


class _Route:
    path = "/predict"


async def _app(scope: Any, receive: Any, send: Any) -> None:
    scope["route"] = _Route()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"predictions":["yes"]}'})


async def _handing_over(scope: Any, receive: Any, send: Any) -> None:
    scope[PREDICTIONS] = ["yes"]  # as the endpoints do
    await _app(scope, receive, send)


async def _send(message: Any) -> None:
    return None


async def _receive() -> Any:
    return {"type": "http.request", "body": b""}


def _per_call_us(app: Any, path: str) -> float:
    scope = {"type": "http", "method": "POST", "path": path}

    async def run() -> float:
        start = time.perf_counter()
        for _ in range(CALLS):
            await app(dict(scope), _receive, _send)
        return (time.perf_counter() - start) / CALLS * 1e6

    return statistics.median(asyncio.run(run()) for _ in range(5))


def _observe_us(values: list[Any]) -> float:
    recorder = Recorder()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        recorder.distribution.observe(values)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def _parse_us(body: bytes) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        orjson.loads(body)["predictions"]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    load = os.getloadavg()[0]
    bare = _per_call_us(_app, "/other")
    wrapped = _per_call_us(MetricsMiddleware(_app, Recorder()), "/other")
    handed = _per_call_us(MetricsMiddleware(_handing_over, Recorder()), "/predict")
    read_back = _per_call_us(MetricsMiddleware(_app, Recorder()), "/predict")
    rng = np.random.default_rng(0)
    rows = []
    for n in (1, 100, 10_000):
        labels = rng.choice(["no", "yes"], n).tolist()
        numbers = rng.normal(150, 50, n).tolist()
        body = orjson.dumps({"predictions": labels, "probabilities": rng.random((n, 2)).tolist()})
        rows.append((n, _observe_us(labels), _observe_us(numbers), _parse_us(body)))
    lines = [
        "# Metrics overhead",
        "",
        "`python -m bench.metrics_overhead` — the cost of `/metrics`' middleware per request",
        "(in process, an ASGI app that answers at once, median of 5 runs of "
        f"{CALLS:,} calls) and of counting one answer's predictions (median of 5).",
        "",
        "| per request | µs |",
        "|---|---:|",
        f"| no middleware | {bare:.2f} |",
        f"| metrics middleware (count, status, latency) | {wrapped:.2f} |",
        f"| added by the middleware | {wrapped - bare:+.2f} |",
        f"| a 1-row answer, its prediction handed over and counted | {handed:.2f} |",
        f"| a 1-row answer read back and counted (the fallback) | {read_back:.2f} |",
        "",
        "| predictions in the answer | count labels µs | histogram of numbers µs "
        "| read an answer back (the fallback) µs |",
        "|---:|---:|---:|---:|",
        *(f"| {n:,} | {a:.1f} | {b:.1f} | {c:.1f} |" for n, a, b, c in rows),
        "",
        "The prediction counting runs after the answer has been sent. Every endpoint hands",
        "its predictions over in the request's scope; the read-back (parsing the answer's",
        "JSON) is the fallback for a `/predict` that does not.",
        "",
        f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}; load average {load:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after (shared machine)",
    ]
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
