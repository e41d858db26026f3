"""Model versions and aliases in the experiment store, as MLflow's registry keeps them.

A *named model* (the name defaults to the model file's stem) has numbered versions, 1, 2, ...
Each version records its model file (path and SHA-256 digest), its certificate and status
(``met`` or ``not_met``), the data window it was trained and certified on (data, rows,
periods, fingerprint), its parent version (the one it was retrained from) and when it was
made. An *alias* (``champion``, ``challenger``) names one version and is moved, never copied:
``learnloop serve --name`` answers with the champion and follows it when it moves,
``learnloop rollback`` moves it back.

The two tables are learnloop's own and are created here when first needed (checked on every
open, under the store's set-up lock): a store an older learnloop wrote gains them without a
schema change, and an older learnloop reading a store that has them ignores them.
A version's number is taken by an atomic insert (a race for the same number retries with the
next), so two retrains that finish at once get two versions.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from learnloop.exceptions import StoreError, UsageError
from learnloop.store import Store, _now, _setup_lock
from learnloop.store.reconnect import retried

__all__ = ["ALIASES", "Registry", "file_digest", "default_name", "resolve_model"]

ALIASES = ("champion", "challenger")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
_MAX_NAME = 128
_NUMBER_ATTEMPTS = 20

_meta = sa.MetaData()
versions_table = sa.Table(
    "learnloop_model_versions",
    _meta,
    sa.Column("name", sa.String(_MAX_NAME), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created", sa.String(40), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("parent", sa.Integer),
    sa.Column("run_id", sa.String(32)),
    sa.Column("task", sa.String(32)),
    sa.Column("metric", sa.String(32)),
    sa.Column("threshold", sa.Float),
    sa.Column("certificate", sa.Text),  # JSON
    sa.Column("window", sa.Text),  # JSON: data, rows, periods, fingerprint
)
aliases_table = sa.Table(
    "learnloop_model_aliases",
    _meta,
    sa.Column("name", sa.String(_MAX_NAME), primary_key=True),
    sa.Column("alias", sa.String(32), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("previous", sa.Integer),  # the version it named before it last moved
    sa.Column("updated", sa.String(40), nullable=False),
)
_JSON = ("certificate", "window")


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (what the model file's sidecar records)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_name(path: str | Path) -> str:
    """A model file's name in the registry when none is given: its stem, without a
    ``.vN`` that retrain added (``cancer.v3.skops`` is a version of ``cancer``)."""
    stem = Path(path).stem
    head, dot, tail = stem.rpartition(".v")
    return head if dot and head and tail.isdigit() else stem


def check_name(name: str) -> str:
    """UsageError unless ``name`` is 1-128 letters, digits, dots, dashes or underscores."""
    if not name or len(name) > _MAX_NAME or not set(name) <= _NAME_CHARS:
        raise UsageError(
            f"The model name '{name}' is not usable; use 1-{_MAX_NAME} letters, digits, "
            "'.', '-' or '_'."
        )
    return name


def _check_alias(alias: str) -> str:
    if alias not in ALIASES:
        raise UsageError(f"There is no alias '{alias}'; the aliases are {', '.join(ALIASES)}.")
    return alias


class Registry:
    """The versions and aliases of named models in one store (safe for many processes)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.shown_url, self.dialect = store.shown_url, store.dialect
        self._create_tables()

    def _create_tables(self) -> None:
        engine = self.store.engine
        for attempt in range(5):
            try:
                with _setup_lock(engine), engine.begin() as conn:
                    _meta.create_all(conn, checkfirst=True)
                return
            except sa.exc.SQLAlchemyError as e:  # another process created them first
                if attempt == 4:
                    raise StoreError(
                        f"Cannot create the model registry in the store {self.shown_url}: {e}"
                    ) from e
                time.sleep(0.2 * (attempt + 1))

    # ------------------------------------------------------------------ versions
    @retried
    def register(  # noqa: PLR0913 -- one keyword per recorded field
        self,
        name: str,
        *,
        path: str | Path,
        digest: str,
        status: str,
        parent: int | None = None,
        run_id: str | None = None,
        task: str | None = None,
        metric: str | None = None,
        threshold: float | None = None,
        certificate: dict[str, Any] | None = None,
        window: dict[str, Any] | None = None,
    ) -> int:
        """Record a new version of ``name`` and return its number (the next free one)."""
        check_name(name)
        if parent is not None:
            self.get(name, parent)
        values = {
            "name": name,
            "path": str(Path(path).resolve()),
            "digest": digest,
            "status": status,
            "parent": parent,
            "run_id": run_id,
            "task": task,
            "metric": metric,
            "threshold": threshold,
            "certificate": json.dumps(certificate, default=str) if certificate else None,
            "window": json.dumps(window, default=str) if window else None,
        }
        for _ in range(_NUMBER_ATTEMPTS):
            number = self._last(name) + 1
            try:
                with self.store.engine.begin() as conn:
                    conn.execute(
                        versions_table.insert().values(version=number, created=_now(), **values)
                    )
                return number
            except sa.exc.IntegrityError:
                continue  # another process took this number: take the next
        raise StoreError(f"Could not number a new version of '{name}' (too many at once).")

    def _last(self, name: str) -> int:
        with self.store.engine.begin() as conn:
            top = conn.execute(
                sa.select(sa.func.max(versions_table.c.version)).where(
                    versions_table.c.name == name
                )
            ).scalar()
        return int(top or 0)

    @retried
    def get(self, name: str, version: int) -> dict[str, Any]:
        """One version's record; StoreError naming the model or version if unknown."""
        with self.store.engine.begin() as conn:
            row = (
                conn.execute(
                    sa.select(versions_table).where(
                        versions_table.c.name == name, versions_table.c.version == version
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            known = self.versions(name)  # StoreError if the name is unknown
            numbers = ", ".join(str(v["version"]) for v in known)
            raise StoreError(f"Model '{name}' has no version {version}; its versions: {numbers}.")
        return _decode(dict(row))

    @retried
    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of ``name``, newest first, each with the aliases naming it;
        StoreError if the store has no model of that name."""
        with self.store.engine.begin() as conn:
            rows = (
                conn.execute(
                    sa.select(versions_table)
                    .where(versions_table.c.name == name)
                    .order_by(versions_table.c.version.desc())
                )
                .mappings()
                .all()
            )
        if not rows:
            names = self.names()
            known = f"; its models: {', '.join(names)}" if names else "; it has no models yet"
            raise StoreError(f"There is no model '{name}' in the store {self.shown_url}{known}.")
        aliases = self.aliases(name)
        out = []
        for row in rows:
            record = _decode(dict(row))
            record["aliases"] = sorted(a for a, v in aliases.items() if v == record["version"])
            out.append(record)
        return out

    @retried
    def names(self) -> list[str]:
        """The names of every model with a version, sorted."""
        with self.store.engine.begin() as conn:
            return list(
                conn.execute(
                    sa.select(versions_table.c.name).distinct().order_by(versions_table.c.name)
                ).scalars()
            )

    @retried
    def find(self, path: str | Path, digest: str) -> dict[str, Any] | None:
        """The version whose file is ``path`` with this digest (the newest such), or None."""
        query = (
            sa.select(versions_table)
            .where(
                versions_table.c.path == str(Path(path).resolve()),
                versions_table.c.digest == digest,
            )
            .order_by(versions_table.c.version.desc())
        )
        with self.store.engine.begin() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _decode(dict(row))

    # ------------------------------------------------------------------ aliases
    @retried
    def set_alias(self, name: str, alias: str, version: int) -> int | None:
        """Point ``alias`` of ``name`` at ``version`` (moving it if it named another);
        the version it named before (None if it named none)."""
        _check_alias(alias)
        self.get(name, version)
        key = (aliases_table.c.name == name) & (aliases_table.c.alias == alias)
        engine = self.store.engine
        with engine.begin() as conn:
            before = conn.execute(sa.select(aliases_table.c.version).where(key)).scalar()
            if before is None:
                try:
                    with conn.begin_nested():  # a savepoint: a lost race leaves the rest usable
                        conn.execute(
                            aliases_table.insert().values(
                                name=name, alias=alias, version=version, updated=_now()
                            )
                        )
                    return None
                except sa.exc.IntegrityError:  # set at the same moment by another process
                    before = conn.execute(sa.select(aliases_table.c.version).where(key)).scalar()
            conn.execute(
                aliases_table.update()
                .where(key)
                .values(version=version, previous=before, updated=_now())
            )
        return None if before is None else int(before)

    @retried
    def remove_alias(self, name: str, alias: str) -> None:
        """Let ``alias`` of ``name`` name no version."""
        _check_alias(alias)
        with self.store.engine.begin() as conn:
            conn.execute(
                aliases_table.delete().where(
                    (aliases_table.c.name == name) & (aliases_table.c.alias == alias)
                )
            )

    @retried
    def alias(self, name: str, alias: str) -> int | None:
        """The version ``alias`` of ``name`` names, or None."""
        _check_alias(alias)
        with self.store.engine.begin() as conn:
            found = conn.execute(
                sa.select(aliases_table.c.version).where(
                    (aliases_table.c.name == name) & (aliases_table.c.alias == alias)
                )
            ).scalar()
        return None if found is None else int(found)

    @retried
    def aliases(self, name: str) -> dict[str, int]:
        """Every alias of ``name`` and the version it names."""
        with self.store.engine.begin() as conn:
            rows = conn.execute(
                sa.select(aliases_table.c.alias, aliases_table.c.version).where(
                    aliases_table.c.name == name
                )
            ).all()
        return {str(a): int(v) for a, v in rows}

    def champion(self, name: str) -> dict[str, Any]:
        """The champion version's record; StoreError if ``name`` has none."""
        number = self.alias(name, "champion")
        if number is None:
            self.versions(name)  # names an unknown model
            raise StoreError(
                f"Model '{name}' has no champion; set one with "
                f"`learnloop models alias {name} champion VERSION`."
            )
        return self.get(name, number)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON:
        row[key] = json.loads(row[key]) if row.get(key) else None
    return row


def resolve_model(model: str | Path, registry: Registry | None) -> tuple[Path, str | None]:
    """The model file ``model`` names: a path, or the name of a registered model (its
    champion's file); UsageError if it is neither."""
    path = Path(model)
    if path.exists():
        return path, None
    if registry is not None and str(model) in registry.names():
        return Path(registry.champion(str(model))["path"]), str(model)
    raise UsageError(f"There is no model file or registered model '{model}'.")
