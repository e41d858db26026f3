"""Where a search's trials run: in this process (the default) or on a Dask cluster.

The seam is :class:`Executor` (``_base.py``): submit a trial, collect outcomes, stop.
:class:`InProcess` trains in the driver's process; ``dask.py``'s ``DaskExecutor`` on the
workers of a Dask scheduler (imported only when ``--cluster`` asks for it, so the core works
without Dask installed).
"""

from __future__ import annotations

import re

from learnloop.exceptions import UsageError
from learnloop.search.executors._base import Executor
from learnloop.search.executors.in_process import InProcess

__all__ = ["Executor", "InProcess", "open_executor", "parse_cluster"]

_LOCAL = re.compile(r"^local(?::(\d+))?$")


def parse_cluster(text: str) -> tuple[str, int | None]:
    """``("local", N or None)`` or ``("address", None)``; UsageError for anything else."""
    text = text.strip()
    local = _LOCAL.match(text)
    if local:
        n = int(local.group(1)) if local.group(1) else None
        if n is not None and n < 1:
            raise UsageError(f"--cluster local:{n} needs at least one worker; write local:2.")
        return "local", n
    if re.match(r"^(tcp|tls|ws|wss|inproc|ucx)://[^/\s]+$", text):
        return "address", None
    raise UsageError(
        f"The cluster '{text}' is neither a Dask scheduler address (tcp://HOST:8786) nor local[:N]."
    )


def open_executor(cluster: str | None) -> Executor | None:
    """The executor ``--cluster`` names (None: in process), connected and checked."""
    if not cluster:
        return None
    kind, n = parse_cluster(cluster)
    from learnloop.search.executors.dask import DaskExecutor  # Dask only when asked for

    return DaskExecutor(cluster.strip(), local_workers=n, local=kind == "local")
