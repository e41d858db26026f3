"""Stopping by hand: the first Ctrl-C (SIGINT) or SIGTERM ends the search as a spent budget
would — the best model so far gets its test look, is saved and reported — and a second one
aborts at once.

A scheduler or a container sends SIGTERM; a person presses Ctrl-C. Both mean "stop and keep
what you have". Handlers are installed only around the search, and only in the main
thread (Python delivers signals there); elsewhere the search simply cannot be stopped by a
signal, as before.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["StopRequest", "stop_on_signals"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Set by the first signal; the loop reads it between trials and between steps."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def __call__(self) -> bool:
        return self.requested


@contextmanager
def stop_on_signals(on_first: Callable[[str], None]) -> Iterator[StopRequest]:
    """Within the block, the first SIGINT/SIGTERM sets the request; a second aborts."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: Any) -> None:
        if request.requested:
            raise KeyboardInterrupt  # the second signal: abort now
        request.signal_name = signal.Signals(signum).name
        on_first(request.signal_name)

    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig in SIGNALS:
        signal.signal(sig, handler)
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
