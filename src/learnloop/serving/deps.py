"""The ``serve`` extra: FastAPI, uvicorn, pydantic and python-multipart are imported lazily,
and their absence is said in one line naming the extra to install."""

from __future__ import annotations

from learnloop.exceptions import UsageError

__all__ = ["require_serve_extra"]


def require_serve_extra() -> None:
    """Raise a UsageError naming the ``serve`` extra if FastAPI or uvicorn is missing."""
    for module in ("fastapi", "uvicorn", "pydantic", "python_multipart", "prometheus_client"):
        try:
            __import__(module)
        except ImportError as e:
            raise UsageError(
                f"Serving needs the '{module.replace('_', '-')}' package, which is not installed; "
                "install the serving extra with: pip install 'learnloop[serve]'"
            ) from e
