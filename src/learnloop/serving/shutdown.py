"""Graceful shutdown: on SIGTERM the server stops accepting, finishes what is in flight,
and the process exits 0.

uvicorn does the draining: it closes the listening socket, lets each connection finish
the request it is answering (then closes it), waits for them for at most
``GRACE_S`` seconds, and runs the app's shutdown. Then it raises the signal again for the
handler that was there before it, which by default kills the process (exit status -15, a
failure to a supervisor). :func:`exit_cleanly_on_sigterm` is that handler: the server
has stopped as it should, so ``learnloop serve`` returns normally and exits 0.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["GRACE_S", "exit_cleanly_on_sigterm"]

# within Kubernetes' default 30 s between SIGTERM and SIGKILL
GRACE_S = 25


class _Stopped(Exception):
    """SIGTERM arrived after uvicorn had drained: the server stopped as asked."""


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


@contextmanager
def exit_cleanly_on_sigterm() -> Iterator[None]:
    """Run a uvicorn server inside: its SIGTERM ends the block normally, not the process."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; nothing to install
        return
    previous = signal.signal(signal.SIGTERM, _stopped)
    try:
        yield
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
