"""Predicting on a table file of any size: read a chunk, predict it, write it, repeat.

The one path ``learnloop predict`` takes, for a file of ten rows (one chunk) or of ten
million: memory holds one chunk of rows and its predictions, never the table. Each chunk is
checked as a whole table is (the schema, unreadable cells; ``strict`` refuses one naming its
file line, counted across chunks), and the output goes to a temporary file renamed onto
``out`` at the end (:class:`learnloop.data.sinks.TableSink`), so an error in any chunk
leaves nothing behind. The notes (encoding detected, decimal commas, unreadable cells
counted over the whole file) are returned for the caller to say once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from learnloop.data import cells
from learnloop.data.sinks import TableSink
from learnloop.store.model_files import LoadedModel

__all__ = ["predict_file"]


def predict_file(
    model: LoadedModel,
    data: Any,
    out: str | Path | None,
    *,
    keep: Sequence[str] = (),
    strict: bool = False,
    rows: int | None = None,
) -> list[str]:
    """Write ``model``'s predictions on ``data`` (a path or an in-memory table) to ``out``
    (.csv, .parquet or .jsonl; None: CSV on stdout), ``rows`` at a time (default
    ``$LEARNLOOP_CHUNK_ROWS`` or 100,000). Returns the notes to show. Raises UsageError
    (DataError, SchemaMismatchError) for bad input, with no output written."""
    tally = cells.Tally()
    notes: list[str] = []
    with TableSink(out, late=cells.UNREADABLE_COLUMN) as sink:
        for chunk in model.task_kind.read_input_chunks(data, model.schema, rows, keep):
            notes += chunk.attrs.get("notes", [])
            predictions, masks = model.predict_chunk(chunk, strict=strict, keep=keep)
            tally.add(masks)
            notes += predictions.attrs.get("notes", [])
            sink.write(predictions)
    unreadable = tally.note()
    return notes + ([unreadable] if unreadable else [])
