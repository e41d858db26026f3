"""A bare ASGI route for the compiled path's one-row ``POST /predict``, past FastAPI.

FastAPI's routing, its request object and its exception layers cost tens of microseconds
per request: at one row on a model of boosters, most of what the server spends
(``bench/SERVE_RESULTS.md``). :class:`FastPredict` sits inside the app's other
middleware (the metrics, the bearer token, the pinned model all still apply) and answers a
small JSON body that arrives in one piece from the compiled path itself. Anything else (a
larger body, one in several chunks, another content type, a body the compiled path hands
back, a recorded prediction) goes on to the FastAPI route with its body replayed, so what
a client sees is the same either way. ``LEARNLOOP_SERVE_FAST_ROUTE=0`` turns it off.
"""

from __future__ import annotations

import os
from typing import Any

from learnloop.serving.answers import PREDICTIONS
from learnloop.serving.compiled import INLINE_BYTES
from learnloop.serving.problems import MODEL_REFUSALS, dumps
from learnloop.serving.state import Serving

__all__ = ["FastPredict", "fast_route_on"]

_JSON = b"application/json"


def fast_route_on() -> bool:
    """Whether the fast route is on (``LEARNLOOP_SERVE_FAST_ROUTE``, default on)."""
    value = os.environ.get("LEARNLOOP_SERVE_FAST_ROUTE", "1").strip().lower()
    return value not in ("0", "false", "no")


class FastPredict:
    """ASGI middleware: the compiled path's answer to a small JSON ``POST /predict``."""

    def __init__(self, app: Any, serving: Serving) -> None:
        self.app, self.serving = app, serving

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        compiled = self.serving.compiled
        if (
            compiled is None
            or not compiled.inline
            or scope["type"] != "http"
            or scope["path"] != "/predict"
            or scope["method"] != "POST"
            or self.serving.recorder is not None
            or not _small_json(scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        message = await receive()
        body = message.get("body", b"")
        result = None
        if message["type"] == "http.request" and not message.get("more_body", False):
            try:
                result = compiled.answer(body)
            except MODEL_REFUSALS:
                result = None  # the route says what the model cannot take
        if result is None:
            await self.app(scope, _replay(message, receive), send)
            return
        scope[PREDICTIONS] = result.get("predictions")  # for /metrics
        data = dumps(result)
        headers = [(b"content-length", str(len(data)).encode()), (b"content-type", _JSON)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def _small_json(headers: list[tuple[bytes, bytes]]) -> bool:
    """A JSON body whose Content-Length is given and at most INLINE_BYTES."""
    kind = length = None
    for key, value in headers:
        if key == b"content-type":
            kind = value.split(b";")[0].strip().lower()
        elif key == b"content-length":
            length = value
    return kind == _JSON and length is not None and length.isdigit() and int(length) <= INLINE_BYTES


def _replay(first: Any, receive: Any) -> Any:
    """``receive`` giving ``first`` back once, then the connection's own messages."""
    pending = [first]

    async def again() -> Any:
        return pending.pop() if pending else await receive()

    return again
