"""Recording predictions off the request path: ids on the request, writes in a thread.

On the request path :meth:`Recorder.add` only numbers the rows (``<16 hex>-<row>``: one
random prefix per request) and puts the request body and the answer on a queue; the ids go
back to the client in the answer's ``prediction_ids``, one per row. A writer thread parses the body
again, pairs each row with its output and writes them to the store
(:class:`~learnloop.store.predictions.PredictionLog`) in one transaction per batch: every
``flush_s`` seconds, or sooner once ``batch_rows`` rows wait.

What a SIGKILL can lose is bounded: rows answered more than ``flush_s`` seconds (plus one
write) before the kill are in the store. On shutdown the queue is written out. If the
store falls behind by more than ``max_pending`` rows, further rows are answered but not
recorded, and counted (``dropped``) with a warning, so that a slow store never holds up or
exhausts the server.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from learnloop.serving.state import Serving
from learnloop.store.model_files import LoadedModel
from learnloop.store.predictions import PredictionLog, Recorded, model_digest

__all__ = ["Recorder", "recording", "start_recorder", "recorded_rows", "FLUSH_S", "BATCH_ROWS"]

FLUSH_S = 1.0
BATCH_ROWS = 1000
MAX_PENDING = 200_000
_log = logging.getLogger("learnloop.serve")
# an answered request (time, id prefix, model digest, body, answer), or rows already built
_Item = tuple[float, str, str, bytes, dict[str, Any]] | list[Recorded]


@asynccontextmanager
async def recording(serving: Serving, store_url: str | None) -> AsyncIterator[None]:
    """While the app runs: a recorder into ``store_url`` (none if None), closed (its queue
    written out) when the app stops."""
    if store_url is None:
        yield
        return
    import anyio

    serving.recorder = await anyio.to_thread.run_sync(start_recorder, store_url)
    try:
        yield
    finally:
        await anyio.to_thread.run_sync(serving.recorder.close)


def start_recorder(store_url: str) -> Recorder:
    """A recorder writing to the store at ``store_url`` (its tables made if missing)."""
    from learnloop.store import open_store

    return Recorder(PredictionLog(open_store(store_url)))


class Recorder:
    """Queues answered requests and writes their rows to a prediction log from a thread."""

    def __init__(
        self,
        log: PredictionLog,
        *,
        flush_s: float = FLUSH_S,
        batch_rows: int = BATCH_ROWS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.log = log
        self.flush_s = flush_s
        self.batch_rows = batch_rows
        self.max_pending = max_pending
        self.dropped = 0
        self.written = 0
        self._queue: deque[_Item] = deque()
        self._pending = 0
        self._digests: dict[int, str] = {}
        self._wake = threading.Condition()
        self._stopping = False
        self._flushing = False
        self._queued = 0  # requests queued so far, and written (or given up on) so far
        self._done = 0
        self._thread = threading.Thread(target=self._run, name="learnloop-recorder", daemon=True)
        self._thread.start()

    def digest(self, model: LoadedModel) -> str:
        """The model's digest (computed once per loaded model)."""
        key = id(model)
        if key not in self._digests:
            self._digests = {key: model_digest(model.metadata)}  # one model at a time
        return self._digests[key]

    def add(self, model: LoadedModel, body: bytes, answer: dict[str, Any]) -> list[str]:
        """Queue one answered request; the ids of its rows, in order (set in ``answer``)."""
        n = len(answer.get("predictions") or ())
        prefix = secrets.token_hex(8)
        ids = [f"{prefix}-{i}" for i in range(n)]
        answer["prediction_ids"] = ids
        with self._wake:
            if self._pending + n > self.max_pending:
                self.dropped += n
                _log.warning("the prediction store is behind; %d rows not recorded", n)
                return ids
            self._queue.append((time.time(), prefix, self.digest(model), body, answer))
            self._queued += 1
            self._pending += n
            if self._pending >= self.batch_rows:
                self._wake.notify_all()
        return ids

    def add_recorded(self, rows: list[Recorded]) -> None:
        """Queue rows already built (a shadow model's predictions), written with the rest."""
        with self._wake:
            if self._pending + len(rows) > self.max_pending:
                self.dropped += len(rows)
                _log.warning("the prediction store is behind; %d rows not recorded", len(rows))
                return
            self._queue.append(rows)
            self._queued += 1
            self._pending += len(rows)
            if self._pending >= self.batch_rows:
                self._wake.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every request queued before this call is written (feedback for a
        prediction answered a moment ago must find it)."""
        with self._wake:
            target = self._queued
            self._flushing = True
            self._wake.notify_all()
            self._wake.wait_for(lambda: self._done >= target, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write out what waits and stop the thread (the app's shutdown calls it)."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._thread.join(timeout)

    # -- the writer thread

    def _run(self) -> None:
        while True:
            with self._wake:
                if not (self._stopping or self._flushing) and self._pending < self.batch_rows:
                    self._wake.wait(self.flush_s)
                batch = list(self._queue)
                self._queue.clear()
                self._pending = 0
                self._flushing = False
                stopping = self._stopping
            if batch:
                self._write(batch)
            with self._wake:
                self._done += len(batch)
                self._wake.notify_all()
            if stopping:
                return

    def _write(self, batch: list[_Item]) -> None:
        rows: list[Recorded] = []
        try:
            for item in batch:
                rows.extend(item if isinstance(item, list) else recorded_rows(*item))
            self.log.record(rows)
            self.written += len(rows)
        except Exception as e:  # the store is down past its retries: say so, keep serving
            lost = sum(_count(item) for item in batch)
            self.dropped += lost
            _log.warning("%d recorded predictions could not be written: %s", lost, e)


def _count(item: _Item) -> int:
    return len(item) if isinstance(item, list) else len(item[4].get("predictions") or ())


def _not_finite(v: Any) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def recorded_rows(
    created: float, prefix: str, model: str, body: bytes, answer: dict[str, Any]
) -> list[Recorded]:
    """One :class:`Recorded` per row of an answered request body."""
    import pydantic_core

    payload = pydantic_core.from_json(body, allow_inf_nan=True)
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        inputs = [dict(zip(split["columns"], row, strict=True)) for row in split["data"]]
    else:
        inputs = payload.get("records", payload.get("dataframe_records")) or []
    predictions = answer.get("predictions") or []
    probabilities = answer.get("probabilities")
    out = []
    for i, (row, value) in enumerate(zip(inputs, predictions, strict=False)):
        output: dict[str, Any] = {"prediction": value}
        confidence = None
        if probabilities is not None:
            row_p = probabilities[i]  # a numpy row from the compiled path: a list in JSON
            output["probabilities"] = row_p.tolist() if hasattr(row_p, "tolist") else row_p
            confidence = float(max(row_p))
        row = {k: None if _not_finite(v) else v for k, v in row.items()}
        out.append(Recorded(f"{prefix}-{i}", created, model, row, output, confidence))
    return out
