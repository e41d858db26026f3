"""Reading a request body under bounds: its size, its time, its content type.

A body larger than the limit gets a 413 as soon as that is known (from Content-Length or
while reading). A body must keep arriving: a gap of more than ``idle_s`` between its
chunks, or more than ``total_s`` for the whole of it, gets a 408 and the connection is
closed, so half-sent bodies do not hold connections open. A client that goes away
mid-body is logged in one line, never with a traceback.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from learnloop.serving.problems import RequestProblem, client_text

__all__ = ["BodyLimits", "ClientGone", "read_body", "require_json"]

_log = logging.getLogger("learnloop.serve")


@dataclass(frozen=True)
class BodyLimits:
    """How much body a request may send and how slowly."""

    max_bytes: int = 32 * 1024 * 1024
    idle_s: float = 10.0
    total_s: float = 60.0


class ClientGone(Exception):
    """The client closed its connection before its body was complete (nobody to answer)."""


async def read_body(request: Any, limits: BodyLimits) -> bytes:
    """The whole body of ``request``, or RequestProblem (408, 413) or ClientGone."""
    import anyio
    from starlette.requests import ClientDisconnect

    limit = limits.max_bytes
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    deadline = time.monotonic() + limits.total_s
    stream = request.stream().__aiter__()
    try:
        while True:
            wait = min(limits.idle_s, deadline - time.monotonic())
            with anyio.move_on_after(max(wait, 0.0)) as scope:
                chunk = await stream.__anext__()
            if scope.cancelled_caught:
                # the limit that set this wait is the one passed (a clock read here can sit a
                # hair before the deadline the timer was set for: uvloop's timers are in ms)
                raise _too_slow(limits, size, overall=wait < limits.idle_s)
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if length is not None and length.isdigit() and size == int(length):
                return b"".join(chunks)  # all of it: no wait (and no timer) for the end
    except StopAsyncIteration:
        return b"".join(chunks)
    except ClientDisconnect:
        _log.info("%s %s: the client went away after %d bytes of its body", *_where(request), size)
        raise ClientGone from None


def _where(request: Any) -> tuple[str, str]:
    return request.method, request.url.path


def _too_large(limit: int) -> RequestProblem:
    return RequestProblem.one(413, f"The body is larger than {limit} bytes.", connection="close")


def _too_slow(limits: BodyLimits, size: int, overall: bool) -> RequestProblem:
    why = (
        f"took more than {limits.total_s:g} s to arrive"
        if overall
        else f"stopped arriving for {limits.idle_s:g} s"
    )
    return RequestProblem.one(
        408, f"The body {why} (after {size} bytes); send it again.", connection="close"
    )


_JSON_TYPES = ("application/json",)


def require_json(request: Any) -> None:
    """RequestProblem(415) unless the request says its body is JSON."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in _JSON_TYPES and not (kind.startswith("application/") and kind.endswith("+json")):
        shown = f"'{client_text(kind)}'" if kind else "none"
        raise RequestProblem.one(
            415, f"Send the body as JSON with the content type application/json (got {shown})."
        )
