"""Optional extras: import a module an extra installs, or say which extra to install.

The core install trains, certifies, predicts and serves tabular models; recommendation
(``implicit``), free-text columns (``skrub``) and SQL sources (``duckdb``) come with the
``recommend``, ``text`` and ``sql`` extras. :func:`require` turns the missing module into one
line naming the extra, a :class:`~learnloop.exceptions.MissingExtraError` (CLI exit 2).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from learnloop.exceptions import MissingExtraError

__all__ = ["require", "missing_extra"]


def missing_extra(what: str, extra: str, module: str) -> MissingExtraError:
    """The error saying ``what`` needs ``extra`` (whose module ``module`` is absent)."""
    error = MissingExtraError(f"{what} needs the '{extra}' extra: pip install 'learnloop[{extra}]'")
    error.name = module
    return error


def require(module: str, extra: str, what: str) -> ModuleType:
    """``module`` imported; MissingExtraError (``what`` needs ``extra``) if it is absent."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if e.name is not None and e.name != module and not module.startswith(f"{e.name}."):
            raise  # the module is there but one of its own imports failed: say that
        raise missing_extra(what, extra, module) from e
