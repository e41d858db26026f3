"""Bounded retries of the experiment store's operations while its database comes back.

A PostgreSQL restart drops every connection and refuses new ones until it is back
(``pg_ctlcluster ... restart`` takes 2.5-3.6 s here, about 1 s of it refusing connections;
with a busy server's shutdown checkpoint, longer). Each store operation — one transaction of
our own tables, or one call into Optuna's RDB storage, which converts SQLAlchemy's errors to
``StorageInternalError`` and retries only trial creation — is run again from the start, with
exponential backoff and jitter, while the failure is one a reconnect can cure: a dropped or
refused connection, a server starting up or shutting down, a deadlock. The engines ping a
connection before each use (``pool_pre_ping``), so after a restart the stale pool is replaced.

The retry window is ``$LEARNLOOP_STORE_RETRY_S`` seconds (default 30: a restart with a slow
checkpoint, or a managed database's failover, fits; a store that is really gone is told within
half a minute). Past it the operation raises :class:`StoreUnavailable` (exit 1). A full disk is
never retried: it raises :class:`StoreFull` at once, naming the store. SQLite stores are files:
their only transient failure, a lock, is already waited out by SQLite's busy timeout. Opening a
store is not retried either: a wrong host or port is told at once (exit 2), not after 30 s.

A write whose commit reached the server just as its acknowledgement was lost is done again.
learnloop's writes are upserts or inserts of new keys, as Optuna assumes for its own retries of
trial creation: the worst case is a duplicate trial left running (a resume fails it) or a
configuration claim that looks taken (that configuration is skipped).
"""

from __future__ import annotations

import functools
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
import sqlalchemy as sa

from learnloop.exceptions import LearnloopError, StoreError, StoreFull, StoreUnavailable

__all__ = [
    "RETRY_WINDOW_S",
    "retry_window",
    "with_retries",
    "retried",
    "ReconnectingRDBStorage",
]

RETRY_WINDOW_S = 30.0
FIRST_DELAY_S = 0.1
MAX_DELAY_S = 2.0
_DISK_FULL_SQLSTATE = "53100"  # PostgreSQL's disk_full
T = TypeVar("T")
_log = logging.getLogger("learnloop.store")
_depth = threading.local()  # nested store operations: only the outermost one retries


def retry_window() -> float:
    """Seconds an operation is retried: ``$LEARNLOOP_STORE_RETRY_S`` or the default."""
    text = os.environ.get("LEARNLOOP_STORE_RETRY_S", "")
    try:
        return max(0.0, float(text)) if text else RETRY_WINDOW_S
    except ValueError:
        return RETRY_WINDOW_S


def with_retries(shown_url: str, dialect: str, operation: Callable[[], T]) -> T:
    """Run ``operation``; again while the store reconnects, up to the retry window.

    ``shown_url`` names the store in messages (no password); ``dialect`` is the engine's
    (``sqlite`` stores are not retried). A database error that is neither transient nor a
    full disk becomes one StoreError naming the store; other errors pass unchanged.
    """
    if getattr(_depth, "n", 0):  # inside another store operation: that one retries
        return operation()
    _depth.n = 1
    try:
        return _retry_loop(shown_url, dialect, operation)
    except (sa.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError) as e:
        raise StoreError(f"The store {shown_url} failed: {_reason(_database_error(e) or e)}") from e
    finally:
        _depth.n = 0


def _retry_loop(shown_url: str, dialect: str, operation: Callable[[], T]) -> T:
    window, started, delay = retry_window(), time.monotonic(), FIRST_DELAY_S
    while True:
        try:
            return operation()
        except LearnloopError:
            raise
        except Exception as e:
            cause = _database_error(e)
            if cause is None:
                raise
            if _disk_full(cause):
                raise StoreFull(
                    f"The store {shown_url} is full ({_reason(cause)}): free space on its disk."
                ) from e
            if dialect == "sqlite" or not _transient(cause):
                raise
            waited = time.monotonic() - started
            if waited >= window:
                raise StoreUnavailable(
                    f"The store {shown_url} did not answer for {waited:.0f} s ({_reason(cause)})."
                ) from e
            _log.debug("store %s: %s; retrying (%.1f s so far)", shown_url, _reason(cause), waited)
            time.sleep(min(delay * random.uniform(0.5, 1.0), window - waited))
            delay = min(2 * delay, MAX_DELAY_S)


def retried(method: Callable[..., T]) -> Callable[..., T]:
    """A ``Store`` method run by :func:`with_retries` (its object has ``shown_url`` and
    ``dialect``)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> T:
        return with_retries(self.shown_url, self.dialect, lambda: method(self, *args, **kwargs))

    return wrapper


# PendingRollbackError: a connection the server dropped mid-transaction, met again before its
# session was rolled back (Optuna then rolls back and raises its own error from it); a new
# session cures it, as it does a lost connection.
_DATABASE_ERRORS = (
    sa.exc.DBAPIError,
    sa.exc.DisconnectionError,
    sa.exc.PendingRollbackError,
    sqlite3.Error,
)


def _database_error(e: BaseException) -> BaseException | None:
    """The database's error behind ``e`` (Optuna raises its own from SQLAlchemy's, which
    holds the driver's), or None if ``e`` did not come from the database."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, _DATABASE_ERRORS):
            return seen
        seen = seen.__cause__
    return None


def _transient(e: BaseException) -> bool:
    """A failure that reconnecting can cure: a lost or refused connection, a server
    starting or stopping, a deadlock or serialisation failure (PostgreSQL)."""
    if isinstance(e, sa.exc.DisconnectionError | sa.exc.PendingRollbackError):
        return True
    if isinstance(e, sa.exc.DBAPIError):
        return e.connection_invalidated or isinstance(
            e, sa.exc.OperationalError | sa.exc.InterfaceError
        )
    return False


def _disk_full(e: BaseException) -> bool:
    orig = getattr(e, "orig", e)
    if getattr(orig, "sqlstate", None) == _DISK_FULL_SQLSTATE:
        return True
    if getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    return "database or disk is full" in str(orig) or "No space left on device" in str(orig)


def _reason(e: BaseException) -> str:
    """The driver's first line, without SQLAlchemy's decoration."""
    orig = getattr(e, "orig", None) or e
    lines = str(orig).strip().splitlines()
    return lines[0].strip() if lines else type(orig).__name__


# Optuna's storage API: every method that reaches the database. _CachedStorage (what
# optuna.create_study wraps an RDBStorage in) calls the private ones directly.
_OPTUNA_METHODS = (
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "_create_new_trial",
    "set_trial_param",
    "_set_trial_param",
    "get_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number",
    "get_trial",
    "get_all_trials",
    "_get_trials",
    "get_best_trial",
    "_get_best_trial_id",
    "record_heartbeat",
    "_get_stale_trial_ids",
)


class ReconnectingRDBStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage whose every database call is retried while the store
    reconnects (see the module docstring); still an RDBStorage, so Optuna caches it."""

    shown_url: str = ""
    dialect: str = ""


def _wrap_optuna_methods() -> None:
    base = optuna.storages.RDBStorage
    for name in _OPTUNA_METHODS:
        setattr(ReconnectingRDBStorage, name, retried(getattr(base, name)))


_wrap_optuna_methods()
