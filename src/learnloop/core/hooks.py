"""Calls a lower layer makes into a higher one, installed from above (the package root).

A run's :class:`~learnloop.runs.result.Result` opens its own HTML report in a notebook
(``result.report()``), but the report is a layer above the runs that produce results. The
root package, which sits above every layer, installs the function here on import; the
report itself is imported only when the call is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["inline_report"]

# (result, data) -> a value a notebook shows inline; None until the package root installs it
inline_report: Callable[[Any, Any], Any] | None = None
