"""Prometheus metrics at ``GET /metrics``: requests, errors, latency, what the model answers.

An ASGI middleware (:class:`MetricsMiddleware`) times every request and counts it by
endpoint (the route's path template, so ``/v2/models/{name}/infer`` is one series) and
status; the predictions of a 200 are counted per label (classes, cluster ids) or, for
numbers, into a histogram of values. The endpoints leave their predictions in the
request's scope (``answers.PREDICTIONS``); should ``/predict`` not, its answer is read back
from the response, after it was sent. A batch is counted in one step
(:class:`PredictionDistribution`): a few microseconds per request and some tens of
nanoseconds per predicted row (``bench/METRICS_RESULTS.md``).
Each app has its own registry; with ``--workers N`` each process counts its own requests.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import numpy as np

from learnloop.serving.answers import PREDICTIONS

__all__ = ["MetricsMiddleware", "PredictionDistribution", "Recorder", "metrics_router"]

_READ_BACK = "/predict"  # read back only if /predict left no predictions in the scope
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
_MAX_LABELS = 100  # distinct labels counted apart; more are counted as "(other)"
# 0 and +-{1, 2, 5} x 10^k for k in -3..6: the value histogram's bounds for any scale
_STEPS = [m * 10.0**k for k in range(-3, 7) for m in (1, 2, 5)]
VALUE_BOUNDS = [-s for s in reversed(_STEPS)] + [0.0] + _STEPS
LATENCY_BOUNDS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class PredictionDistribution:
    """Counts per predicted label, and a histogram of predicted numbers (a collector)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.labels: Counter[str] = Counter()
        self.bounds = np.asarray(VALUE_BOUNDS)
        self.buckets = np.zeros(len(VALUE_BOUNDS) + 1, dtype=np.int64)
        self.total = 0.0

    def observe(self, predictions: Iterable[Any]) -> None:
        """Count one answer's predictions (labels, or finite numbers into the histogram)."""
        values = list(predictions)
        first = next((v for v in values if v is not None), None)
        if isinstance(first, float | np.floating):
            numbers = np.asarray([math.nan if v is None else v for v in values], dtype=float)
            numbers = numbers[np.isfinite(numbers)]
            counts = np.bincount(
                np.searchsorted(self.bounds, numbers, side="left"), minlength=len(self.buckets)
            )
            with self._lock:
                self.buckets += counts
                self.total += float(numbers.sum())
        elif first is not None and not isinstance(first, list | dict):
            counted = Counter(values)  # labels are hashable; named as text below
            counted.pop(None, None)
            with self._lock:
                for value, n in counted.items():
                    label = str(value)
                    known = label in self.labels or len(self.labels) < _MAX_LABELS
                    self.labels[label if known else "(other)"] += n

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        with self._lock:
            labels = dict(self.labels)
            buckets, total = self.buckets.copy(), self.total
        counts = CounterMetricFamily(
            "learnloop_predictions", "Predictions answered, per predicted label.", labels=["label"]
        )
        for label, n in sorted(labels.items()):
            counts.add_metric([label], n)
        yield counts
        if buckets.sum():
            cumulative = np.cumsum(buckets)
            pairs = [(_le(b), float(c)) for b, c in zip(VALUE_BOUNDS, cumulative[:-1], strict=True)]
            pairs.append(("+Inf", float(cumulative[-1])))
            zero = VALUE_BOUNDS.index(0.0)
            if cumulative[zero - 1] == 0:
                # nothing negative seen: the buckets from 0 up, so the sum and count are
                # shown (OpenMetrics has no sum for a histogram with negative buckets)
                pairs = pairs[zero:]
            yield HistogramMetricFamily(
                "learnloop_prediction_value",
                "Predicted numbers (regression).",
                buckets=pairs,
                sum_value=total,
            )


def _le(bound: float) -> str:
    return repr(float(bound))


class Recorder:
    """The app's registry and what the middleware records into it."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "learnloop_requests",
            "HTTP requests answered, by endpoint and status.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "learnloop_errors",
            "Requests answered with an error status (4xx client, 5xx server).",
            ["endpoint", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "learnloop_request_duration_seconds",
            "Time from a request's arrival to the end of its answer.",
            ["endpoint"],
            buckets=LATENCY_BOUNDS,
            registry=self.registry,
        )
        self.distribution = PredictionDistribution()
        self.registry.register(self.distribution)
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def record(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "(other)"  # a client cannot add series
        key = (endpoint, method, status)
        children = self._children.get(key)
        if children is None:
            kind = "server" if status >= 500 else "client" if status >= 400 else None
            children = (
                self.requests.labels(endpoint, method, str(status)),
                self.errors.labels(endpoint, kind) if kind else None,
                self.latency.labels(endpoint),
            )
            self._children[key] = children
        requests, errors, latency = children
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """ASGI middleware: times and counts every HTTP request into ``recorder``."""

    def __init__(self, app: Any, recorder: Recorder, paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.recorder = recorder
        self.paths = paths  # paths counted by name when no route matched them (a 401)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        body: list[bytes] | None = None
        read_back = scope["method"] == "POST" and scope["path"] == _READ_BACK

        async def sending(message: Any) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = message["status"]
                if read_back and status == 200 and PREDICTIONS not in scope:
                    body = []
            elif body is not None and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.recorder.record(
                self._endpoint(scope), scope["method"], status, time.perf_counter() - start
            )
            if status == 200:
                self._count(scope, body)

    def _endpoint(self, scope: Any) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        return scope["path"] if scope["path"] in self.paths else "(other)"

    def _count(self, scope: Any, body: list[bytes] | None) -> None:
        predictions = scope.get(PREDICTIONS)
        if predictions is None and body:
            import orjson

            try:
                answer = orjson.loads(b"".join(body))
            except orjson.JSONDecodeError:
                return
            predictions = answer.get("predictions") if isinstance(answer, dict) else None
        if isinstance(predictions, list) and predictions:
            self.recorder.distribution.observe(predictions)


def metrics_router(recorder: Recorder, before: Callable[[], Awaitable[None]] | None = None) -> Any:
    """``GET /metrics``: the registry in Prometheus' text format (``before`` awaited first:
    the live figures refreshed where they are old)."""
    from fastapi import APIRouter
    from starlette.responses import Response

    router = APIRouter(include_in_schema=False)

    @router.get("/metrics")
    async def metrics() -> Any:
        if before is not None:
            await before()
        data, kind = recorder.exposition()
        return Response(data, media_type=kind)

    return router
