"""``serve --retrain``: retrain in the background when the live claim no longer holds.

Every ``check_s`` seconds a task asks the monitor (:func:`learnloop.runs.live.monitor`, in a
worker thread) about the live model: the claim fails when the anytime-valid bound of the live
score falls on the wrong side of the threshold (``status == "alarm"``), or, with a
``drift_limit``, when some input column's PSI passes it. Then ``learnloop retrain NAME``
runs in a child process, off the request path and out of the server's interpreter: the same
loop to the same threshold on the training table plus the labelled recorded predictions (cut
to ``window``). It registers the new version and, if certified, makes it champion; the
server then checks its source at once (and its poll would anyway) and swaps with no request
failed (:mod:`learnloop.serving.swap`).

At most one retrain runs at a time. After one, the same model is not retrained again until
``min_labels`` more labels have come (a retrain that did not certify is not repeated on the
same evidence every few seconds). The outcome of the last one is ``last_retrain`` in
``GET /monitor``, and a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

from learnloop.serving.state import Serving
from learnloop.serving.swap import Swapper

__all__ = ["RetrainOptions", "Retrainer"]

_log = logging.getLogger("learnloop.serve")
_EXIT_MET, _EXIT_NOT_MET = 0, 3


@dataclass(frozen=True)
class RetrainOptions:
    """What ``serve --retrain`` was given: the registered model, its store, the table to
    learn from, and when to check and retrain."""

    name: str
    store: str
    data: str
    window: str | None = None
    budget: str | None = None
    check_s: float = 30.0
    drift_limit: float | None = None
    min_labels: int = 100

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Retrainer:
    """Watches the live claim and runs one retrain at a time when it fails."""

    def __init__(self, serving: Serving, swapper: Swapper, options: RetrainOptions) -> None:
        self.serving, self.swapper, self.options = serving, swapper, options
        self.running = False
        self.retrains = 0
        self.last: dict[str, Any] | None = None
        self._tried: dict[str, int] = {}  # model digest -> labels seen at its last retrain
        self._task: asyncio.Task[None] | None = None
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()  # nothing is registered before its loop ends

    def state(self) -> dict[str, Any]:
        """What ``GET /monitor`` shows as ``retrain``: running, how many, the last one."""
        return {"running": self.running, "retrains": self.retrains, "last": self.last}

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.check_s)
            try:
                await self.check()
            except Exception as e:  # a store outage: say it, keep serving, check again
                _log.warning("the retrain check failed: %s: %s", type(e).__name__, e)

    async def check(self) -> dict[str, Any] | None:
        """Ask the monitor; retrain (and wait for it) if the claim fails. The outcome, or
        None when nothing was run."""
        import anyio

        from learnloop.runs.live import monitor

        live, recorder = self.serving.current, self.serving.recorder
        if self.running or live is None or recorder is None:
            return None
        await anyio.to_thread.run_sync(recorder.flush)
        body = await anyio.to_thread.run_sync(lambda: monitor(live.model, recorder.log))
        reason = self._reason(body)
        digest, seen = str(body["model_digest"]), int(body["labels_seen"])
        if reason is None or seen < self._tried.get(digest, -self.options.min_labels) + (
            self.options.min_labels
        ):
            return None
        self._tried[digest] = seen
        self.running = True
        try:
            return await self._retrain(reason, body, live.version)
        finally:
            self.running = False

    def _reason(self, body: dict[str, Any]) -> str | None:
        """Why the claim no longer holds (None: it holds)."""
        if body.get("status") == "alarm":
            return (
                f"alarm: live {body['metric']} bound {body['bound']:.4g} on the wrong side of "
                f"the threshold {body['threshold']} after {body['labels_seen']} labels"
            )
        limit = self.options.drift_limit
        drift = body.get("drift") or {}
        worst = max(drift.items(), key=lambda kv: kv[1].get("psi", 0.0), default=None)
        if limit is not None and worst is not None and worst[1].get("psi", 0.0) > limit:
            return f"drift: column '{worst[0]}' PSI {worst[1]['psi']:.3g} > {limit}"
        return None

    def _command(self) -> list[str]:
        o = self.options
        command = [sys.executable, "-m", "learnloop", "retrain", o.name, "--data", o.data]
        command += ["--store", o.store, "--json"]
        if o.window is not None:
            command += ["--window", o.window]
        if o.budget is not None:
            command += ["--budget", o.budget]
        return command

    async def _retrain(self, reason: str, body: dict[str, Any], version: str) -> dict[str, Any]:
        _log.warning("learnloop retrains %s (%s)", version, reason)
        started = time.time()
        self._process = await asyncio.create_subprocess_exec(
            *self._command(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        out, err = await self._process.communicate()
        code = self._process.returncode
        outcome: dict[str, Any] = {
            "reason": reason,
            "from_version": version,
            "labels_seen": body["labels_seen"],
            "live_bound": body.get("bound"),
            "started": started,
            "seconds": round(time.time() - started, 3),
            "exit_code": code,
        }
        summary = _last_json(out.decode(errors="replace"))
        if code in (_EXIT_MET, _EXIT_NOT_MET) and summary is not None:
            outcome |= {k: summary.get(k) for k in _KEPT}
        else:
            lines = err.decode(errors="replace").strip().splitlines()
            outcome["error"] = lines[-1] if lines else f"exit code {code}"
        self.retrains += 1
        self.last = outcome
        _log.warning("learnloop retrain done: %s", json.dumps(outcome, default=str))
        if code == _EXIT_MET:
            try:
                outcome["swap"] = await self.swapper.check()
            except Exception as e:  # the poll tries again; the old model keeps serving
                outcome["swap"] = {"swapped": False, "error": str(e)}
        return outcome


_KEPT = (
    "status",
    "version",
    "parent",
    "alias",
    "champion",
    "metric",
    "threshold",
    "test_score",
    "test_bound",
    "rows",
    "feedback_rows",
    "model_path",
)


def _last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None
