"""The experiment store: runs in a small table of our own, trials in Optuna's storage.

One database holds both (SQLite file by default, PostgreSQL by URL), so a run's trials are
an ordinary Optuna study (named after the run id) that optuna-dashboard can open.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from learnloop.exceptions import StoreError

__all__ = ["Store", "open_store", "resolve_store_url", "DEFAULT_STORE", "SCHEMA_VERSION"]

DEFAULT_STORE = "sqlite:///learnloop.db"
SCHEMA_VERSION = 1

_meta = sa.MetaData()
runs_table = sa.Table(
    "learnloop_runs",
    _meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("created", sa.String(40), nullable=False),
    sa.Column("finished", sa.String(40)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("task", sa.String(32)),
    sa.Column("metric", sa.String(32)),
    sa.Column("threshold", sa.Float),
    sa.Column("budget_s", sa.Float),
    sa.Column("seed", sa.Integer),
    sa.Column("confidence", sa.Float),
    sa.Column("data", sa.Text),
    sa.Column("fingerprint", sa.String(64)),
    sa.Column("command", sa.Text),
    sa.Column("versions", sa.Text),
    sa.Column("result", sa.Text),
    sa.Column("model_path", sa.Text),
)
version_table = sa.Table(
    "learnloop_version",
    _meta,
    sa.Column("schema_version", sa.Integer, nullable=False),
)
_JSON_FIELDS = ("versions", "result")


def resolve_store_url(url: str | None) -> str:
    """The store URL from ``url``, ``$LEARNLOOP_STORE``, or the default; paths become SQLite."""
    url = url or os.environ.get("LEARNLOOP_STORE") or DEFAULT_STORE
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    return url


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Store:
    """Runs and their Optuna studies in one database. Safe for several processes at once."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = _make_engine(url)
            with self.engine.begin() as conn:
                _meta.create_all(conn)
                row = conn.execute(sa.select(version_table.c.schema_version)).first()
                if row is None:
                    conn.execute(version_table.insert().values(schema_version=SCHEMA_VERSION))
                elif row[0] > SCHEMA_VERSION:
                    raise StoreError(
                        f"The store at {_safe(url)} was written by a newer learnloop "
                        f"(schema {row[0]}, this one reads {SCHEMA_VERSION}); upgrade learnloop."
                    )
        except StoreError:
            raise
        except Exception as e:
            raise StoreError(f"Cannot open the store {_safe(url)}: {_first_line(e)}") from e
        self._optuna: optuna.storages.BaseStorage | None = None

    @property
    def optuna_storage(self) -> optuna.storages.BaseStorage:
        if self._optuna is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._optuna = optuna.storages.RDBStorage(
                    self.url,
                    engine_kwargs=_engine_kwargs(self.url),
                    heartbeat_interval=None,
                )
        return self._optuna

    @contextmanager
    def _session(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except StoreError:
            raise
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"The store {_safe(self.url)} failed: {_first_line(e)}") from e

    def create_run(self, **fields: Any) -> str:
        """Record a new run (status running) and return its id."""
        run_id = uuid.uuid4().hex[:12]
        values = {k: _encode(k, v) for k, v in fields.items()}
        with self._session() as conn:
            conn.execute(
                runs_table.insert().values(
                    run_id=run_id, created=_now(), status="running", **values
                )
            )
        return run_id

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Change fields of a run."""
        values = {k: _encode(k, v) for k, v in fields.items()}
        with self._session() as conn:
            conn.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(**values))

    def finish_run(self, run_id: str, status: str, **fields: Any) -> None:
        """Mark a run finished with ``status``."""
        self.update_run(run_id, status=status, finished=_now(), **fields)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run's fields; StoreError if the id is unknown."""
        with self._session() as conn:
            row = (
                conn.execute(sa.select(runs_table).where(runs_table.c.run_id == run_id))
                .mappings()
                .first()
            )
        if row is None:
            raise StoreError(f"There is no run '{run_id}' in the store {_safe(self.url)}.")
        return _decode(dict(row))

    def list_runs(self) -> list[dict[str, Any]]:
        """All runs, newest first."""
        with self._session() as conn:
            rows = conn.execute(
                sa.select(runs_table).order_by(runs_table.c.created.desc(), runs_table.c.run_id)
            ).mappings()
            return [_decode(dict(r)) for r in rows]

    def study(
        self, run_id: str, sampler: optuna.samplers.BaseSampler | None = None
    ) -> optuna.Study:
        """The run's Optuna study (created on first use)."""
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return optuna.create_study(
            study_name=run_id,
            storage=self.optuna_storage,
            sampler=sampler,
            direction="minimize",
            load_if_exists=True,
        )


def _encode(key: str, value: Any) -> Any:
    return json.dumps(value, default=str) if key in _JSON_FIELDS and value is not None else value


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_FIELDS:
        if row.get(key):
            row[key] = json.loads(row[key])
    return row


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if str(path) not in ("", ":memory:") and not path.parent.exists():
            raise StoreError(f"The folder of the store file '{path}' does not exist.")
    engine = sa.create_engine(url, **_engine_kwargs(url))
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

    return engine


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "'<unparseable URL>'"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def open_store(url: str | None = None) -> Store:
    """Open (creating if needed) the store at ``url`` or the default."""
    return Store(resolve_store_url(url))
