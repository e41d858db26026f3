"""Bearer-token auth: the token file, and the ASGI middleware that checks every request.

Every path but the probes (``OPEN_PATHS``: ``/health``, ``/ready`` and the other
protocols' ``/ping``, ``/v2/health/live``, ``/v2/health/ready``) needs
``Authorization: Bearer <token>``; the token is compared in constant time.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from learnloop.exceptions import UsageError
from learnloop.serving.problems import dumps

__all__ = ["OPEN_PATHS", "BearerAuth", "read_token"]

OPEN_PATHS = frozenset({"/health", "/ready", "/ping", "/v2/health/live", "/v2/health/ready"})


def read_token(path: str | Path) -> str:
    """The bearer token stored in ``path`` (surrounding whitespace removed)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"The token file '{path}' does not exist.")
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"The token file '{path}' cannot be read ({type(e).__name__}).") from e
    if not token:
        raise UsageError(f"The token file '{path}' is empty; put the token on its first line.")
    if any(ch.isspace() for ch in token) or not token.isprintable():
        raise UsageError(f"The token in '{path}' must be one line of printable characters.")
    return token


class BearerAuth:
    """ASGI middleware: every path but the probes needs ``Authorization: Bearer <token>``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            if not self._authorized(scope["headers"]):
                body = dumps({"detail": "A valid bearer token is required."})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="learnloop"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _authorized(self, headers: list[tuple[bytes, bytes]]) -> bool:
        for key, value in headers:
            if key == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    given.strip(), self.token
                )
        return False
