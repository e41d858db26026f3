"""A free loopback port, and waiting for a benchmark's server to answer its readiness probe:
one copy for the serving benchmarks (serve, swap, production)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx

__all__ = ["free_port", "wait_ready"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path | None = None, timeout_s: float = 180
) -> None:
    """Return once ``url`` answers 200; raise (with the server's log) if the process exits
    first or ``timeout_s`` passes, killing it in the second case."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited{_log_text(log)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server was not ready in {timeout_s:.0f} s{_log_text(log)}")


def _log_text(log: Path | None) -> str:
    return "" if log is None else f":\n{log.read_text()}"
