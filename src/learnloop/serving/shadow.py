"""A challenger shadowing the champion on live traffic (``serve --name NAME --record --shadow``).

As MLflow's challenger alias and Seldon's shadow deployments mean it: the version NAME's
``challenger`` alias names predicts the same rows as the champion, off the request path;
its answers are recorded, never returned. A label sent for the champion's prediction id then
scores both (:func:`learnloop.store.predictions.shadow_id`), and ``GET /monitor`` and
``learnloop monitor NAME`` show the challenger's live score and bound beside the champion's,
for a user to decide on ``learnloop models alias NAME champion V``.

After ``/predict`` answers (and the recorder numbered its rows), the request body and its
ids go on a bounded queue; one worker thread predicts them with the challenger and hands its
rows to the recorder. The challenger is made ready as a swapped-in model is
(:func:`learnloop.serving.swap.prepare`: its file's digest, the same task and inputs, a
warm-up) and re-read every ``poll_s`` seconds, so moving the alias changes it. Whatever the
challenger does, the champion's answer neither waits for it nor fails with it: an error (a
row it refuses, a model that raises) is counted (``errors``) and logged once per kind; when
the queue is full (the challenger slower than the traffic) requests are skipped and counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from learnloop.serving.rows import answer_body
from learnloop.serving.state import Live, Serving
from learnloop.serving.swap import Target, prepare
from learnloop.store.predictions import model_digest, shadow_id

__all__ = ["ChallengerSource", "Shadow", "shadowing"]

MAX_QUEUE = 1000  # requests waiting for the challenger; more are skipped
_log = logging.getLogger("learnloop.serve")


class ChallengerSource:
    """The ``challenger`` version of the registered model ``name`` (None while unset)."""

    def __init__(self, url: str | None, name: str) -> None:
        from learnloop.store import open_store
        from learnloop.store.versions import Registry

        self.name = name
        self.registry = Registry(open_store(url))

    def target(self) -> Target | None:
        version = self.registry.alias(self.name, "challenger")
        if version is None:
            return None
        record = self.registry.get(self.name, version)
        return Target(Path(record["path"]), record["digest"], f"{self.name}/{version}")


@asynccontextmanager
async def shadowing(
    serving: Serving, source: ChallengerSource | None, poll_s: float
) -> AsyncIterator[None]:
    """While the app runs: the challenger shadowing (with a source and a recorder)."""
    if source is None or serving.recorder is None:
        yield
        return
    serving.shadow = Shadow(serving, source, poll_s)
    await serving.shadow.start()
    try:
        yield
    finally:
        await serving.shadow.stop()


class Shadow:
    """The challenger, its queue of answered requests, and the thread that predicts them."""

    def __init__(
        self, serving: Serving, source: ChallengerSource, poll_s: float, max_queue: int = MAX_QUEUE
    ) -> None:
        self.serving, self.source, self.poll_s, self.max_queue = serving, source, poll_s, max_queue
        self.live: Live | None = None
        self.digest = ""
        self.rows = self.errors = self.skipped = 0
        self.last_error: str | None = None
        self._kind = ""  # of the last failure
        self._queue: deque[tuple[float, Live, str, bytes, list[str]]] = deque()
        self._busy = False
        self._stopping = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="learnloop-shadow", daemon=True)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.check()
        self._thread.start()
        if self.poll_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        import anyio

        await anyio.to_thread.run_sync(self._thread.join, 30.0)

    async def check(self) -> None:
        """Follow the challenger alias: prepare the version it names if it is another."""
        import anyio

        try:
            target = await anyio.to_thread.run_sync(self.source.target)
            if target is None:
                self.live = None
                return
            if self.live is not None and (target.digest, target.version) == (
                self.live.digest,
                self.live.version,
            ):
                return
            live = await anyio.to_thread.run_sync(
                prepare, target, self.serving.max_rows, self.serving.current
            )
        except Exception as e:  # a bad challenger never stops the champion
            message = f"challenger not shadowing: {type(e).__name__}: {e}"
            self._error(message, message)
            return
        self.digest, self.live = model_digest(live.model.metadata), live
        _log.info("learnloop shadows %s with the challenger %s", self.serving_version, live.version)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            await self.check()

    @property
    def serving_version(self) -> str | None:
        live = self.serving.current
        return None if live is None else live.version

    @property
    def active(self) -> Live | None:
        """The challenger, unless it is the champion itself (promoted, alias not moved)."""
        live, champion = self.live, self.serving.current
        if live is None or (champion is not None and champion.digest == live.digest):
            return None
        return live

    def add(self, body: bytes, ids: list[str]) -> None:
        """Queue one answered request for the challenger (on the request path: no work)."""
        live = self.active
        if live is None or not ids:
            return
        with self._wake:
            if len(self._queue) >= self.max_queue:
                self.skipped += 1
                return
            self._queue.append((time.time(), live, self.digest, body, ids))
            self._wake.notify_all()

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every request queued before this call is predicted (and handed to the
        recorder; flush the recorder after)."""
        with self._wake:
            self._wake.wait_for(lambda: not self._queue and not self._busy, timeout)

    def state(self) -> dict[str, Any]:
        """What ``GET /monitor`` shows of the shadow besides the challenger's scores."""
        live = self.active
        return {
            "version": None if live is None else live.version,
            "rows": self.rows,
            "errors": self.errors,
            "skipped": self.skipped,
            "last_error": self.last_error,
        }

    # -- the worker thread

    def _run(self) -> None:
        while True:
            with self._wake:
                self._busy = False
                self._wake.notify_all()
                self._wake.wait_for(lambda: self._queue or self._stopping)
                if not self._queue:
                    return  # stopping, nothing left
                item = self._queue.popleft()
                self._busy = True
            self._predict(*item)

    def _predict(
        self, created: float, live: Live, digest: str, body: bytes, ids: list[str]
    ) -> None:
        from learnloop.serving.recording import recorded_rows

        try:
            compiled = live.compiled  # the fast path where the challenger compiles
            answer = None if compiled is None else compiled.answer(body)
            if answer is None:
                answer = answer_body(live.validator, live.model, body)
            prefix = ids[0].rsplit("-", 1)[0]
            rows = recorded_rows(created, prefix, digest, body, answer)
        except Exception as e:  # the challenger's failure is counted, never returned
            self.errors += 1
            kind = f"{live.version} {type(e).__name__}"
            self._error(f"the challenger {live.version} failed: {type(e).__name__}: {e}", kind)
            return
        rows = [
            dataclasses.replace(r, prediction_id=shadow_id(r.prediction_id, digest)) for r in rows
        ]
        self.serving.recorder.add_recorded(rows)
        self.rows += len(rows)

    def _error(self, message: str, kind: str) -> None:
        if kind != self._kind:  # each new kind of failure logged once, not every request
            _log.warning("%s (counted, not logged again)", message)
        self.last_error, self._kind = message, kind
