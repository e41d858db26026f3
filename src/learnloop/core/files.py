"""The model-file check every command makes first, importing nothing heavy.

``learnloop.store.model_files`` (pandas, the task code) reads the file; the command line
calls :func:`model_file` before importing it, so a wrong path fails in a fifth of a second.
"""

from __future__ import annotations

import stat
from pathlib import Path

from learnloop.exceptions import UsageError

__all__ = ["model_file"]


def model_file(path: str | Path) -> Path:
    """The file ``path`` names, links resolved: UsageError if none, or not a regular file."""
    path = Path(path)
    try:
        real = path.resolve(strict=True)
        mode = real.stat().st_mode
    except (OSError, RuntimeError):
        raise UsageError(f"The model file '{path}' does not exist.") from None
    if not stat.S_ISREG(mode):
        raise UsageError(f"The model path '{path}' is not a regular file.")
    return real
