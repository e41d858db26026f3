"""How the service says no: :class:`RequestProblem` (a status and error entries) and the
JSON body every answer is written with.

A refusal's body is ``{"detail": [{"row", "column", "message"}, ...]}``: each entry names
the row and the column where it can (``null`` where it cannot) and says in one sentence
what is wrong. Messages that echo client text (a file name, a value) pass it through
:func:`client_text` first, so no control character or megabyte of name comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from learnloop.core.printable import printable
from learnloop.exceptions import LearnloopError

__all__ = [
    "MAX_REPORTED_ERRORS",
    "MODEL_REFUSALS",
    "RequestProblem",
    "client_text",
    "dumps",
    "problem",
    "refuse",
    "respond",
]

MAX_REPORTED_ERRORS = 50
# What a model raises on rows that passed validation but that it cannot take: a 422 saying
# so, never a 500.
MODEL_REFUSALS = (LearnloopError, ValueError, TypeError, KeyError, IndexError)
_MAX_ECHO = 120


class RequestProblem(Exception):
    """A request that cannot be answered: an HTTP status and error entries for the body."""

    def __init__(
        self, status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(errors[0]["message"] if errors else str(status))
        self.status = status
        self.errors = errors
        self.headers = headers or {}

    @classmethod
    def one(cls, status: int, message: str, **headers: str) -> RequestProblem:
        """A problem with one message that names no row or column."""
        return cls(status, [problem(message)], headers)


def problem(message: str, row: int | None = None, column: str | None = None) -> dict[str, Any]:
    """One error entry of a refusal's body."""
    return {"row": row, "column": column, "message": message}


def client_text(text: str, limit: int = _MAX_ECHO) -> str:
    """Text the client sent, made safe to echo: control characters escaped, length capped."""
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_dumps() -> Callable[[Any], bytes]:
    try:
        import orjson

        def dumps(obj: Any) -> bytes:
            return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY, default=str)

    except ImportError:  # orjson is in the serve extra, but plain json still works
        import json

        def dumps(obj: Any) -> bytes:
            return json.dumps(obj, default=str, allow_nan=False).encode()

    return dumps


dumps = _json_dumps()


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A JSON response (a starlette ``Response``) with ``body`` written by :data:`dumps`."""
    from starlette.responses import Response

    return Response(dumps(body), status_code=status, media_type="application/json", headers=headers)


def refuse(p: RequestProblem) -> Any:
    """The response that says ``p``: its status, its errors under ``detail``, its headers."""
    return respond({"detail": p.errors}, p.status, p.headers)
