"""Plain values every layer shares, importing nothing of learnloop's own but its exceptions.

:class:`Output` is the capability model families declare they produce and tasks declare they
need; :class:`Prediction` is a model's output on some rows, what metrics score.

The names are imported on first use (PEP 562): ``outputs`` needs NumPy, and the command
line's help reads ``core.names`` and ``core.printable`` without paying for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from learnloop.core.outputs import Needs, Output, Prediction

__all__ = ["Needs", "Output", "Prediction"]


def __getattr__(name: str) -> Any:
    """``Needs``, ``Output`` and ``Prediction`` from ``core.outputs``, imported on first use."""
    if name in __all__:
        value = getattr(importlib.import_module("learnloop.core.outputs"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'learnloop.core' has no attribute {name!r}")
