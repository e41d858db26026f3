"""Swapping the served model while the server runs, without failing or dropping a request.

Where the model comes from is a *source*: a model file (``learnloop serve MODEL``: the file
at that path) or a registered model's champion (``learnloop serve --name NAME --store URL``).
A check asks the source which model it names now; if that is not the live one, the new model
is made ready off the request path, in a worker thread: its file's digest compared with the
one recorded, the file loaded with every check ``load_model`` makes (seal, trusted types),
its row validator built, its inputs compared with the live model's (same task; no column
the clients do not send), one prediction made (a warm-up, for table models). Only then is
the live value replaced, in one assignment (:meth:`Serving.install`). A request pins the
live value at its start (:class:`PinModel`), so requests in flight finish on the model they
started with, and the ``X-Model-Version`` header of every answer names the version that
answered. A new model that fails any check is not swapped in; the old one keeps serving,
and the failure is logged (and is the answer of ``POST /admin/reload``).

A check runs when: the champion alias moves (the source is polled every ``poll_s``
seconds; the default of ``learnloop serve --name``), ``POST /admin/reload`` is called
(behind the bearer token where the server has one), or the process gets SIGHUP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from learnloop.exceptions import LearnloopError, UntrustedModelError, UsageError
from learnloop.serving.compiled import compiled_path
from learnloop.serving.rows import RowValidator, answer_body
from learnloop.serving.state import Live, Serving
from learnloop.store.model_files import LoadedModel, load_model
from learnloop.store.versions import file_digest

__all__ = [
    "VERSION_HEADER",
    "ChampionSource",
    "FileSource",
    "PinModel",
    "Source",
    "Swapper",
    "Target",
    "prepare",
]

VERSION_HEADER = "x-model-version"
DEFAULT_POLL_S = 2.0
_log = logging.getLogger("learnloop.serve")


@dataclass(frozen=True)
class Target:
    """The model a source names: its file, that file's digest, its version's label."""

    path: Path
    digest: str
    version: str


class Source(Protocol):
    """Where the served model comes from; ``target`` may block (run it in a thread)."""

    def target(self) -> Target: ...


class FileSource:
    """The model file at ``path`` (re-read when its size, time or inode changes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._seen: tuple[Any, ...] | None = None
        self._digest = ""

    def target(self) -> Target:
        try:
            st = os.stat(self.path)
        except OSError as e:
            raise UsageError(f"The model file '{self.path}' cannot be read ({e.strerror}).") from e
        seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        if seen != self._seen:
            self._digest, self._seen = file_digest(self.path), seen
        return Target(self.path, self._digest, f"{self.path.name}@{self._digest[:12]}")


class ChampionSource:
    """The champion version of the registered model ``name`` in the store at ``url``."""

    def __init__(self, url: str | None, name: str) -> None:
        from learnloop.store import open_store
        from learnloop.store.versions import Registry

        self.name = name
        self.registry = Registry(open_store(url))
        self.registry.champion(name)  # an unknown name, or none champion, fails at start

    def target(self) -> Target:
        record = self.registry.champion(self.name)
        return Target(Path(record["path"]), record["digest"], f"{self.name}/{record['version']}")


def prepare(
    target: Target, max_rows: int, old: Live | None, loaded: LoadedModel | None = None
) -> Live:
    """The model ``target`` names, made ready to answer (blocking: run in a worker thread);
    UsageError (naming the file and why) if it is changed, fails to load, does not take
    the inputs the live model ``old`` takes, or fails a warm-up prediction."""
    if loaded is None:
        if file_digest(target.path) != target.digest:
            raise UntrustedModelError(
                f"The model file '{target.path}' is not the one recorded for {target.version} "
                "(its digest differs); it is not served."
            )
        loaded = load_model(target.path)
    validator = RowValidator(loaded, max_rows)
    if old is not None:
        _check_same_inputs(old.model, loaded, target)
    _warm_up(loaded, validator)
    compiled = compiled_path(loaded, max_rows)  # None where the model does not compile
    return Live(loaded, validator, target.version, target.digest, compiled)


def _check_same_inputs(old: LoadedModel, new: LoadedModel, target: Target) -> None:
    if new.task != old.task:
        raise UsageError(
            f"{target.version} is a {new.task} model and the served one a {old.task} model; "
            "a server swaps only between models of one task."
        )
    taken = set(old.schema.feature_names) | set(old.schema.dropped)
    needed = [c for c in new.schema.feature_names if c not in taken]
    if needed:
        raise UsageError(
            f"{target.version} reads the column '{needed[0]}', which the served model's "
            "clients do not send; it is not swapped in."
        )


def _warm_up(model: LoadedModel, validator: RowValidator) -> None:
    """One prediction on a row of the schema's plainest values (table models only), so the
    first request after a swap pays no first-call cost and a model that cannot predict is
    refused before it serves."""
    kind = model.task_kind
    if getattr(kind, "takes_pictures", False) or not model.schema.features:
        return
    from learnloop.tasks.recommendation import Recommendation

    if isinstance(kind, Recommendation):
        return
    row = {c.name: (c.categories[0] if c.categories else None) for c in model.schema.features}
    answer_body(validator, model, json.dumps({"records": [row]}).encode())


class Swapper:
    """Checks a source and swaps the live model when it names another (one check at a time)."""

    def __init__(self, serving: Serving, source: Source, poll_s: float = 0.0) -> None:
        self.serving, self.source, self.poll_s = serving, source, poll_s
        self.swaps = 0
        self.last_error: str | None = None
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Install the first model (the preloaded one if the source names its file), then
        poll and listen for SIGHUP."""
        import anyio

        target = await anyio.to_thread.run_sync(self.source.target)
        preloaded = self.serving.preloaded
        live = await anyio.to_thread.run_sync(
            prepare, target, self.serving.max_rows, None, preloaded
        )
        self.serving.install(live)
        self.serving.preloaded = None
        loop = asyncio.get_running_loop()
        if self.poll_s > 0:
            self._task = loop.create_task(self._poll())
        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self._logged()))
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            pass  # not the main thread, or no SIGHUP here: the other triggers remain

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        try:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            pass

    async def check(self) -> dict[str, Any]:
        """Swap to the model the source names if it is another; what was done.
        LearnloopError (the old model still serving) if the new one is refused."""
        import anyio

        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            live = self.serving.current
            try:
                target = await anyio.to_thread.run_sync(self.source.target)
                if live is not None and (target.digest, target.version) == (
                    live.digest,
                    live.version,
                ):
                    return {"swapped": False, "version": live.version}
                new = await anyio.to_thread.run_sync(prepare, target, self.serving.max_rows, live)
            except LearnloopError as e:
                self.last_error = str(e)
                raise
            except Exception as e:  # a store outage, a file gone: say it, keep serving
                self.last_error = f"{type(e).__name__}: {e}"
                raise LearnloopError(self.last_error) from e
            previous = self.serving.install(new)
            self.swaps += 1
            self.last_error = None
            before = previous.version if previous is not None else None
            _log.info("learnloop swapped the model: %s -> %s", before, new.version)
            return {"swapped": True, "version": new.version, "previous": before}

    async def _logged(self) -> None:
        try:
            await self.check()
        except LearnloopError as e:
            _log.warning("model not swapped (still serving %s): %s", self.version, e)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            error = self.last_error
            try:
                await self.check()
            except LearnloopError as e:
                if str(e) != error:  # each new failure once, not every poll
                    _log.warning("model not swapped (still serving %s): %s", self.version, e)

    @property
    def version(self) -> str | None:
        live = self.serving.current
        return None if live is None else live.version

    def state(self) -> dict[str, Any]:
        """What ``GET /admin/model`` shows."""
        live = self.serving.current
        return {
            "version": None if live is None else live.version,
            "digest": None if live is None else live.digest,
            "swaps": self.swaps,
            "poll_s": self.poll_s or None,
            "last_error": self.last_error,
        }


class PinModel:
    """ASGI middleware: pin the live model for each request and name it in the
    ``X-Model-Version`` header of the answer."""

    def __init__(self, app: Any, serving: Serving) -> None:
        self.app, self.serving = app, serving

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        live, token = self.serving.pin()

        async def send_named(message: Any) -> None:
            if message["type"] == "http.response.start" and live is not None:
                headers = [
                    *message.get("headers", []),
                    (b"x-model-version", live.version.encode("ascii", "backslashreplace")),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_named)
        finally:
            self.serving.unpin(token)
