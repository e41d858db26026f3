"""The experiment store: runs in a small table of our own, trials in Optuna's storage.

One database holds both (SQLite file by default, PostgreSQL by URL), so a run's trials are
an ordinary Optuna study (named after the run id) that optuna-dashboard can open. Every
operation, ours and Optuna's, is retried while the database reconnects (``reconnect.py``):
a PostgreSQL restart of a few seconds goes unnoticed; a longer outage raises
StoreUnavailable, a full disk StoreFull.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from learnloop.exceptions import StoreError, UsageError
from learnloop.store.reconnect import ReconnectingRDBStorage, retried

__all__ = [
    "Store",
    "open_store",
    "resolve_store_url",
    "DEFAULT_STORE",
    "SCHEMA_VERSION",
]

DEFAULT_STORE = "sqlite:///learnloop.db"
SCHEMA_VERSION = 4
_SCHEMES = ("sqlite", "postgresql")
INIT_ATTEMPTS = 5
SETUP_LOCK_KEY = 0x1EA4_1009  # any constant: "learnloop" setting up its tables

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
    sa.Column("options", sa.Text),  # schema 2: the train options, to resume and to join
    sa.Column("outcomes", sa.Text),  # schema 2: per-row test outcomes, to compare runs
    sa.Column("target_trial", sa.Integer),  # schema 2: first trial past the target
)
claims_table = sa.Table(  # schema 3: which process took a named configuration of a run
    "learnloop_claims",
    _meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("config", sa.String(64), primary_key=True),  # sha256 of the configuration key
    sa.Column("worker", sa.String(128)),
)
looks_table = sa.Table(  # schema 4: every test look a run made, and the alpha it spent
    "learnloop_looks",
    _meta,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("look", sa.Integer, primary_key=True),  # 1-based, across resumed sessions
    sa.Column("planned", sa.Integer, nullable=False),  # the looks the run's schedule allows
    sa.Column("alpha", sa.Float, nullable=False),  # the error rate this look spends
    sa.Column("created", sa.String(40), nullable=False),
    sa.Column("model", sa.Text),  # JSON: the trial and candidate looked at
    sa.Column("certificate", sa.Text),  # JSON; null while (or if killed while) looking
)
version_table = sa.Table(
    "learnloop_version",
    _meta,
    sa.Column("schema_version", sa.Integer, nullable=False),
)
_JSON_FIELDS = ("versions", "result", "options", "outcomes")

# Schema migrations: MIGRATIONS[v] takes a store from version v to v + 1. Tables are
# created at the newest version, so a new store skips them all.
MIGRATIONS: dict[int, list[str]] = {
    1: [
        "ALTER TABLE learnloop_runs ADD COLUMN options TEXT",
        "ALTER TABLE learnloop_runs ADD COLUMN outcomes TEXT",
        "ALTER TABLE learnloop_runs ADD COLUMN target_trial INTEGER",
    ],
    2: [
        "CREATE TABLE learnloop_claims (run_id VARCHAR(32) NOT NULL, "
        "config VARCHAR(64) NOT NULL, worker VARCHAR(128), PRIMARY KEY (run_id, config))",
    ],
    3: [
        "CREATE TABLE learnloop_looks (run_id VARCHAR(32) NOT NULL, look INTEGER NOT NULL, "
        "planned INTEGER NOT NULL, alpha FLOAT NOT NULL, created VARCHAR(40) NOT NULL, "
        "model TEXT, certificate TEXT, PRIMARY KEY (run_id, look))",
    ],
}


def resolve_store_url(url: str | None) -> str:
    """The store URL from ``url``, ``$LEARNLOOP_STORE``, or the default; paths become SQLite."""
    url = url or os.environ.get("LEARNLOOP_STORE") or DEFAULT_STORE
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):  # the driver learnloop[postgres] installs
        return f"postgresql+psycopg://{rest}"
    if scheme.split("+")[0] not in _SCHEMES:
        raise StoreError(
            f"The store URL '{_safe(url)}' is not supported; give a SQLite file path, "
            "sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB."
        )
    return url


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# what a run row's status may be: running until it ends met, not_met, interrupted or failed
RUN_STATUSES = ("running", "met", "not_met", "interrupted", "failed")
_SHOWN_MATCHES = 5  # run ids an ambiguous prefix's message lists


class Store:
    """Runs and their Optuna studies in one database. Safe for several processes at once."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.shown_url = _safe(url)  # for messages: no password
        self._optuna: optuna.storages.BaseStorage | None = None
        try:
            self.engine = _make_engine(url)
            self.dialect = self.engine.dialect.name
            with _setup_lock(self.engine):
                for attempt in range(INIT_ATTEMPTS):
                    try:
                        with self.engine.begin() as conn:
                            _migrate(conn, url)
                        self._optuna = _rdb_storage(url)  # Optuna creates its tables
                        break
                    except StoreError:
                        raise
                    except Exception:
                        if attempt == INIT_ATTEMPTS - 1:
                            raise
                        time.sleep(0.2 * (attempt + 1))  # another process created them first
        except StoreError:
            raise
        except Exception as e:
            raise StoreError(f"Cannot open the store {_safe(url)}: {_first_line(e)}") from e

    @property
    def optuna_storage(self) -> optuna.storages.BaseStorage:
        """Optuna's RDB storage on the same database (its tables migrated by Optuna)."""
        if self._optuna is None:
            try:
                self._optuna = _rdb_storage(self.url)
            except Exception as e:
                raise StoreError(
                    f"Cannot open the trials of the store {_safe(self.url)}: {_first_line(e)}"
                ) from e
        return self._optuna

    def _session(self) -> AbstractContextManager[sa.Connection]:
        """One transaction: committed at the end, rolled back on error. Methods that use it
        are ``@retried``: the whole method runs again while the store reconnects, and what
        still fails becomes one StoreError naming the store."""
        return self.engine.begin()

    @retried
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

    @retried
    def update_run(self, run_id: str, **fields: Any) -> None:
        """Change fields of a run."""
        values = {k: _encode(k, v) for k, v in fields.items()}
        with self._session() as conn:
            conn.execute(runs_table.update().where(runs_table.c.run_id == run_id).values(**values))

    def finish_run(self, run_id: str, status: str, **fields: Any) -> None:
        """Mark a run finished with ``status``."""
        self.update_run(run_id, status=status, finished=_now(), **fields)

    @retried
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

    @retried
    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the one run whose id is ``prefix`` or starts with it, as git takes
        a commit's first characters: ``3fa9`` for ``3fa91c07be42``. StoreError (exit 2) when
        no run's id starts with it, or naming the first few matches when several do."""
        if not prefix:
            raise StoreError("The run id is empty; give a run id or its first characters.")
        ids = runs_table.c.run_id
        # ids are lower-case hex; SQLite's LIKE ignores case and PostgreSQL's does not, so
        # the prefix is lowered for both to answer alike (LIKE's % and _ are plain text)
        starts = ids.startswith(prefix.lower(), autoescape=True)
        with self._session() as conn:
            matches = list(
                conn.execute(
                    sa.select(ids).where(starts).order_by(ids).limit(_SHOWN_MATCHES)
                ).scalars()
            )
            if prefix.lower() in matches or len(matches) == 1:
                return str(matches[0])  # a whole id sorts before the ids it starts
            count = sa.select(sa.func.count()).select_from(runs_table).where(starts)
            total = conn.execute(count).scalar_one()
        if not matches:
            raise StoreError(f"No run starts with '{prefix}' in the store {_safe(self.url)}.")
        more = f" and {total - len(matches)} more" if total > len(matches) else ""
        raise StoreError(
            f"'{prefix}' is the start of {total} runs' ids: {', '.join(matches)}{more}; "
            "type more of it."
        )

    @retried
    def list_runs(
        self, *, data: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """All runs, newest first; ``data`` matches the data path or fingerprint."""
        if status is not None and status not in RUN_STATUSES:
            raise UsageError(
                f"There is no run status '{status}'; the statuses are {', '.join(RUN_STATUSES)}."
            )
        query = sa.select(runs_table).order_by(
            runs_table.c.created.desc(), runs_table.c.run_id.desc()
        )
        if status is not None:
            query = query.where(runs_table.c.status == status)
        if data is not None:
            query = query.where(
                sa.or_(
                    runs_table.c.data.contains(data, autoescape=True),
                    runs_table.c.fingerprint == data,
                )
            )
        with self._session() as conn:
            rows = conn.execute(query).mappings()
            return [_decode(dict(r)) for r in rows]

    @retried
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

    @retried
    def claim(self, run_id: str, key: str, worker: str = "") -> bool:
        """Take the configuration ``key`` of a run for this process: True once, for the
        first process that asks (an atomic insert), False for every other."""
        try:
            with self._session() as conn:
                conn.execute(
                    claims_table.insert().values(run_id=run_id, config=_digest(key), worker=worker)
                )
        except sa.exc.IntegrityError:
            return False
        return True

    @retried
    def release(self, run_id: str, keys: list[str]) -> None:
        """Give claimed configurations back (their trials were interrupted: run them again)."""
        if not keys:
            return
        with self._session() as conn:
            conn.execute(
                claims_table.delete().where(
                    claims_table.c.run_id == run_id,
                    claims_table.c.config.in_([_digest(k) for k in keys]),
                )
            )

    @retried
    def begin_look(
        self, run_id: str, look: int, planned: int, alpha: float, model: dict[str, Any]
    ) -> None:
        """Record that look number ``look`` of ``planned`` spends ``alpha``, before the test
        split is read: a look killed half-way still counts as spent. StoreError if another
        process already took that look (an atomic insert)."""
        try:
            with self._session() as conn:
                conn.execute(
                    looks_table.insert().values(
                        run_id=run_id,
                        look=look,
                        planned=planned,
                        alpha=alpha,
                        created=_now(),
                        model=json.dumps(model, default=str),
                    )
                )
        except sa.exc.IntegrityError as e:
            mine = {"planned": planned, "alpha": alpha, "model": model, "certificate": None}
            there = next((x for x in self.looks(run_id) if x["look"] == look), None)
            if there is not None and all(there[k] == v for k, v in mine.items()):
                return  # this call's own insert, committed before a reconnect retried it
            raise StoreError(
                f"Test look {look} of run '{run_id}' was already made by another process."
            ) from e

    @retried
    def end_look(self, run_id: str, look: int, certificate: dict[str, Any]) -> None:
        """Keep the certificate look number ``look`` issued (never overwritten later)."""
        with self._session() as conn:
            conn.execute(
                looks_table.update()
                .where(looks_table.c.run_id == run_id, looks_table.c.look == look)
                .values(certificate=json.dumps(certificate, default=str))
            )

    @retried
    def looks(self, run_id: str) -> list[dict[str, Any]]:
        """The run's test looks in order: look, planned, alpha, created, model, certificate."""
        query = sa.select(looks_table).where(looks_table.c.run_id == run_id)
        with self._session() as conn:
            rows = conn.execute(query.order_by(looks_table.c.look)).mappings().all()
        looks = []
        for row in rows:
            look = dict(row)
            look.pop("run_id")
            for key in ("model", "certificate"):
                look[key] = json.loads(look[key]) if look[key] else None
            looks.append(look)
        return looks

    @retried
    def delete_run(self, run_id: str) -> None:
        """Remove a run and its trials; StoreError if the id is unknown."""
        self.get_run(run_id)
        try:
            optuna.delete_study(study_name=run_id, storage=self.optuna_storage)
        except KeyError:
            pass  # the run died before its first trial
        with self._session() as conn:
            conn.execute(claims_table.delete().where(claims_table.c.run_id == run_id))
            conn.execute(looks_table.delete().where(looks_table.c.run_id == run_id))
            conn.execute(runs_table.delete().where(runs_table.c.run_id == run_id))

    @retried
    def trials(self, run_id: str) -> list[optuna.trial.FrozenTrial]:
        """The run's Optuna trials, in order; empty if it has none yet."""
        try:
            study_id = self.optuna_storage.get_study_id_from_name(run_id)
        except KeyError:
            return []
        return self.optuna_storage.get_all_trials(study_id, deepcopy=False)

    def fail_running_trials(self, run_id: str) -> list[int]:
        """Mark the run's trials left running (by a killed process) failed; their numbers.
        (Each storage call is retried on its own, so a reconnect loses no trial's number.)"""
        storage, failed = self.optuna_storage, []
        for t in self.trials(run_id):
            if t.state == optuna.trial.TrialState.RUNNING:
                try:
                    storage.set_trial_user_attr(t._trial_id, "stop_reason", "interrupted")
                    storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
                    failed.append(t.number)
                except RuntimeError:  # finished meanwhile by a live worker
                    pass
        return failed


def _rdb_storage(url: str) -> ReconnectingRDBStorage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = ReconnectingRDBStorage(
            url, engine_kwargs=_engine_kwargs(url), heartbeat_interval=None
        )
    storage.shown_url, storage.dialect = _safe(url), storage.engine.dialect.name
    if url.startswith("sqlite"):
        # Optuna's engine is its own: give its connections the same pragmas as ours
        event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()
    return storage


@contextmanager
def _setup_lock(engine: Engine) -> Iterator[None]:
    """Let one process at a time create or migrate the tables (PostgreSQL advisory lock).

    SQLite serialises writers itself; concurrent creation there is retried instead.
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": SETUP_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": SETUP_LOCK_KEY})
            conn.commit()


def _migrate(conn: sa.Connection, url: str) -> None:
    """Create the tables, or bring an older store up to SCHEMA_VERSION; refuse newer ones."""
    inspector = sa.inspect(conn)
    fresh = not inspector.has_table(runs_table.name)
    if fresh:
        _meta.create_all(conn)
    elif not inspector.has_table(version_table.name):
        version_table.create(conn)
    row = conn.execute(sa.select(version_table.c.schema_version)).first()
    if row is None:
        version = SCHEMA_VERSION if fresh else 1
        conn.execute(version_table.insert().values(schema_version=version))
    else:
        version = row[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"The store {_safe(url)} was written by a newer learnloop (schema {version}, "
            f"this one reads up to {SCHEMA_VERSION}); upgrade learnloop to use it."
        )
    while version < SCHEMA_VERSION:
        for statement in MIGRATIONS[version]:
            conn.execute(sa.text(statement))
        version += 1
        conn.execute(version_table.update().values(schema_version=version))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


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
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if str(path) not in ("", ":memory:") and not path.parent.exists():
            raise StoreError(f"The folder of the store file '{path}' does not exist.")
    engine = sa.create_engine(url, **_engine_kwargs(url))
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    """WAL for many readers and one writer at a time, waits instead of 'database is locked',
    and synchronous=NORMAL: in WAL mode still safe against corruption and process kills,
    without an fsync on every one of the many small commits a search makes."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "'<unparseable URL>'"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    return re.sub(r"^\([\w.]+\) ", "", line)  # SQLAlchemy's "(driver.Error) " prefix


def open_store(url: str | None = None) -> Store:
    """Open (creating if needed) the store at ``url`` or the default."""
    return Store(resolve_store_url(url))
