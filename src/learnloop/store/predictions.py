"""Recorded predictions and their feedback, in the experiment store's database.

Two tables beside the runs (created on first use, ``CREATE TABLE`` if missing, so a store
of any schema version takes them without a migration):

* ``learnloop_predictions``: one row per predicted row: its id (returned to the client),
  time (unix seconds), the model's digest, the input row's digest and the row as JSON,
  and the output as JSON (``{"prediction", "probabilities"?}``) with the top-class
  probability (``confidence``) where the model gives probabilities.
* ``learnloop_feedback``: the true label or value of a prediction, sent later (the last
  one sent counts), with the time it arrived.

A challenger shadowing the champion (``serve --shadow``) predicts the same rows; its rows
are recorded under its own digest with the champion's id and a mark (:func:`shadow_id`:
``<id>~<digest12>``), so a label sent for the champion's id scores both models.

Every method is retried while the database reconnects, as the store's own are.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from learnloop.store import Store
from learnloop.store.reconnect import retried

__all__ = ["PredictionLog", "Recorded", "model_digest", "row_digest", "shadow_id"]

_meta = sa.MetaData()
predictions_table = sa.Table(
    "learnloop_predictions",
    _meta,
    sa.Column("prediction_id", sa.String(40), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("model", sa.String(64), nullable=False, index=True),
    sa.Column("row_digest", sa.String(64), nullable=False),
    sa.Column("row", sa.Text, nullable=False),
    sa.Column("output", sa.Text, nullable=False),
    sa.Column("confidence", sa.Float),
)
feedback_table = sa.Table(
    "learnloop_feedback",
    _meta,
    sa.Column("prediction_id", sa.String(40), primary_key=True),
    sa.Column("received", sa.Float, nullable=False),
    sa.Column("label", sa.Text, nullable=False),  # JSON: a class or a number
)
_CHUNK = 500  # ids per IN (...) query
_SHADOW = "~"  # between a champion's prediction id and a shadow's digest


@dataclass(frozen=True)
class Recorded:
    """One prediction to record (the writer builds these off the request path)."""

    prediction_id: str
    created: float
    model: str
    row: dict[str, Any]
    output: dict[str, Any]
    confidence: float | None = None


def model_digest(metadata: dict[str, Any]) -> str:
    """The SHA-256 of a model's metadata (its run, data fingerprint, certificate, creation
    time): the name its predictions are recorded under, the same for every copy of it."""
    text = json.dumps(metadata, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def shadow_id(prediction_id: str, model: str) -> str:
    """The id a shadow model's prediction of a row is recorded under: the champion's id of
    the row and the shadow's digest (clients never see it; their label finds it)."""
    return f"{prediction_id}{_SHADOW}{model[:12]}"


def row_digest(text: str) -> str:
    """The SHA-256 of an input row's JSON (keys sorted), to find repeated rows."""
    return hashlib.sha256(text.encode()).hexdigest()


class PredictionLog:
    """The predictions and feedback of a store. Safe for several threads and processes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine
        self.shown_url = store.shown_url
        self.dialect = store.dialect
        self._create()

    @staticmethod
    def existing(store: Store) -> PredictionLog | None:
        """The store's log if it has ever recorded predictions, else None (no table made:
        a reader such as the report leaves the store as it found it)."""
        with store.engine.connect() as conn:
            there = sa.inspect(conn).has_table(predictions_table.name)
        return PredictionLog(store) if there else None

    @retried
    def _create(self) -> None:
        try:
            with self.engine.begin() as conn:
                _meta.create_all(conn, checkfirst=True)
        except sa.exc.SQLAlchemyError:
            # another process (a second worker) created them between the check and ours
            with self.engine.connect() as conn:
                inspector = sa.inspect(conn)
                if not all(inspector.has_table(t.name) for t in _meta.sorted_tables):
                    raise

    @retried
    def record(self, rows: Sequence[Recorded]) -> None:
        """Write a batch of predictions in one transaction."""
        if not rows:
            return
        values = []
        for r in rows:
            text = json.dumps(r.row, sort_keys=True, default=str)
            values.append(
                {
                    "prediction_id": r.prediction_id,
                    "created": r.created,
                    "model": r.model,
                    "row_digest": row_digest(text),
                    "row": text,
                    "output": json.dumps(r.output, default=str),
                    "confidence": r.confidence,
                }
            )
        try:
            with self.engine.begin() as conn:
                conn.execute(predictions_table.insert(), values)
        except sa.exc.IntegrityError:  # a retried batch whose first commit went through
            there = self.known(v["prediction_id"] for v in values)
            rest = [v for v in values if v["prediction_id"] not in there]
            if rest:
                with self.engine.begin() as conn:
                    conn.execute(predictions_table.insert(), rest)

    @retried
    def known(self, ids: Iterable[str]) -> dict[str, str]:
        """The model digest of each of ``ids`` that was recorded (unknown ids are absent)."""
        ids = list(dict.fromkeys(ids))
        found: dict[str, str] = {}
        c = predictions_table.c
        with self.engine.begin() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                query = sa.select(c.prediction_id, c.model).where(c.prediction_id.in_(chunk))
                found.update({str(i): str(m) for i, m in conn.execute(query)})
        return found

    @retried
    def add_feedback(self, labels: Sequence[tuple[str, Any]]) -> None:
        """Keep the true label (or value) of each prediction; a later one replaces an
        earlier one for the same id. One transaction for the whole list."""
        if not labels:
            return
        now = time.time()
        last = dict(labels)  # the last label given for an id in this list counts
        ids = list(last)
        with self.engine.begin() as conn:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                conn.execute(
                    feedback_table.delete().where(feedback_table.c.prediction_id.in_(chunk))
                )
            conn.execute(
                feedback_table.insert(),
                [{"prediction_id": i, "received": now, "label": json.dumps(last[i])} for i in ids],
            )

    @retried
    def count(self, model: str) -> int:
        """How many predictions of ``model`` were recorded."""
        query = sa.select(sa.func.count()).where(predictions_table.c.model == model)
        with self.engine.begin() as conn:
            return int(conn.execute(query).scalar_one())

    def labelled(self, model: str, since: float | None = None) -> list[tuple[Any, Any]]:
        """``(output, label)`` of each prediction of ``model`` that has feedback (its own,
        or, as a shadow, the champion's for the same row), in the order the labels arrived
        (the order a confidence sequence watches them)."""
        return [(o, lab) for o, lab, _ in self.labelled_at(model, since)]

    @retried
    def labelled_at(self, model: str, since: float | None = None) -> list[tuple[Any, Any, float]]:
        """As :meth:`labelled`, with the time each label arrived (unix seconds)."""
        p, f = predictions_table.c, feedback_table.c
        parts = []
        for key in (f.prediction_id, f.prediction_id.concat(_SHADOW + model[:12])):
            part = (
                sa.select(p.output, f.label, f.received, p.created, p.prediction_id.label("pid"))
                .join_from(predictions_table, feedback_table, p.prediction_id == key)
                .where(p.model == model)
            )
            if since is not None:
                part = part.where(f.received >= since)
            parts.append(part)
        both = sa.union_all(*parts).subquery()
        query = sa.select(both.c.output, both.c.label, both.c.received).order_by(
            both.c.received, both.c.created, both.c.pid
        )
        with self.engine.begin() as conn:
            return [(json.loads(o), json.loads(lab), float(t)) for o, lab, t in conn.execute(query)]

    @retried
    def labelled_rows(self, models: Sequence[str]) -> list[tuple[dict[str, Any], Any]]:
        """``(input row, label)`` of each prediction of any of ``models`` (digests) that has
        feedback, oldest prediction first: the rows a retrain learns from."""
        if not models:
            return []
        p, f = predictions_table.c, feedback_table.c
        query = (
            sa.select(p.row, f.label)
            .join_from(predictions_table, feedback_table, p.prediction_id == f.prediction_id)
            .where(p.model.in_(list(models)))
            .order_by(p.created, p.prediction_id)
        )
        with self.engine.begin() as conn:
            return [(json.loads(r), json.loads(lab)) for r, lab in conn.execute(query)]

    @retried
    def recent(self, model: str, limit: int) -> list[tuple[dict[str, Any], float | None]]:
        """The newest ``limit`` recorded rows of ``model`` and their top-class probability."""
        p = predictions_table.c
        query = (
            sa.select(p.row, p.confidence)
            .where(p.model == model)
            .order_by(p.created.desc(), p.prediction_id.desc())
            .limit(limit)
        )
        with self.engine.begin() as conn:
            return [(json.loads(r), c) for r, c in conn.execute(query)]
