"""Reading a table file a chunk of rows at a time, so that predicting on a file of any
size holds one chunk in memory, never the whole table.

Every chunk is read the way :func:`learnloop.data.load_table` reads a whole file: the same
delimiter, encoding (given, UTF-8, else detected), repeated-name check and decimal commas
(the first chunk holding text in a column decides its style, as the whole file would).
Each chunk's index counts the file's records from 0 across chunks, so
:func:`learnloop.data.cells.where` names the file line of a refused cell in any chunk.

CSV and TSV stream through pandas' ``read_csv(chunksize=)``, Parquet by pyarrow record
batches, JSON lines through ``read_json(lines=True, chunksize=)``; other inputs (a JSON
array, Feather, a ``.sql`` query, an in-memory table) come as one chunk.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from learnloop.data import load_table, table_format
from learnloop.data.numbers import read_separated_numbers
from learnloop.data.tables import as_table
from learnloop.data.textfiles import (
    ENCODING,
    detect_encoding,
    refuse_duplicates,
    sniff_delimiter,
)
from learnloop.exceptions import DataError

__all__ = ["iter_table", "CHUNK_ROWS", "CHUNK_ENV", "chunk_rows"]

CHUNK_ROWS = 100_000  # rows per chunk: ~tens of MB for a table of a few dozen columns
CHUNK_ENV = "LEARNLOOP_CHUNK_ROWS"
_STREAMED = ("csv", "tsv", "parquet", "jsonl")


def chunk_rows() -> int:
    """Rows per chunk: ``$LEARNLOOP_CHUNK_ROWS``, else :data:`CHUNK_ROWS` (DataError for a
    value that is not a whole number above zero)."""
    text = os.environ.get(CHUNK_ENV)
    if text is None:
        return CHUNK_ROWS
    try:
        rows = int(text)
    except ValueError:
        rows = 0
    if rows <= 0:
        raise DataError(f"{CHUNK_ENV} must be a whole number of rows above zero; got {text!r}.")
    return rows


def iter_table(
    source: Any, rows: int | None = None, text_columns: Sequence[str] = ()
) -> Iterator[pd.DataFrame]:
    """The rows of ``source`` in chunks of ``rows`` (default :func:`chunk_rows`).

    ``text_columns`` are read as text where the reader guesses types (CSV, TSV, JSON
    lines), as :func:`load_table` reads them. Raises DataError as it does, for a chunk
    that cannot be read naming the file and the reader's reason (a line for CSV).
    """
    rows = chunk_rows() if rows is None else rows
    source = as_table(source)
    fmt = None if isinstance(source, pd.DataFrame) else table_format(Path(source))
    if fmt not in _STREAMED:
        yield load_table(source, text_columns)
        return
    path = Path(source)
    load_table_checks(path)
    text: dict[str, type] = {str(c): str for c in text_columns}
    chunks = _csv(path, fmt, rows, text) if fmt in ("csv", "tsv") else _other(path, fmt, rows, text)
    first = True
    try:
        for frame in chunks:
            if first and frame.shape[1] == 0:
                raise DataError(f"The data in '{path}' has no columns.")
            if len(frame) == 0:
                continue
            frame.columns = [str(c) for c in frame.columns]
            if first:
                refuse_duplicates(list(frame.columns), f"'{path}'")
            frame.attrs.update(source=str(path), format=fmt)
            first = False
            yield frame
    except (DataError, MemoryError):
        raise
    except Exception as e:  # every reader has its own exception types
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"Could not read '{path}' as {fmt}: {reason}") from e
    if first:
        raise DataError(f"The data in '{path}' has no rows.")


def load_table_checks(path: Path) -> None:
    """The checks :func:`load_table` makes of a path before reading it."""
    if not path.exists():
        raise DataError(f"The data file '{path}' does not exist.")
    if path.is_dir():
        raise DataError(f"The data path '{path}' is a directory, not a file.")
    if path.stat().st_size == 0:
        raise DataError(f"The data file '{path}' is empty.")


def _csv(path: Path, fmt: str, rows: int, text: dict[str, type]) -> Iterator[pd.DataFrame]:
    """A CSV or TSV file in chunks, with ``read_text_table``'s encoding, delimiter and
    decimal commas; the encoding is settled before the first chunk (a file that is not
    UTF-8 throughout is found by streaming its bytes once), so no chunk fails late on it."""
    sep = sniff_delimiter(path) if fmt == "csv" else "\t"
    encoding, notes = _encoding(path)
    header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, encoding=encoding)
    refuse_duplicates(list(header.iloc[0]), f"'{path}'")
    styles: dict[str, str | None] = {}
    reader = pd.read_csv(
        path, sep=sep, dtype=text or None, encoding=encoding, chunksize=rows, low_memory=False
    )
    with reader:
        for frame in reader:
            said = notes + read_separated_numbers(frame, sep, keep=text, styles=styles)
            notes = []
            if fmt == "csv":
                frame.attrs["delimiter"] = sep
            frame.attrs.update(encoding=encoding, notes=said)
            yield frame


def _encoding(path: Path) -> tuple[str, list[str]]:
    """The encoding to read ``path`` in (``--encoding``, UTF-8, else detected) and a note
    when it was detected."""
    given = ENCODING.get()
    if given is not None:
        return given, []
    if _decodes(path, "utf-8"):
        return "utf-8", []
    encoding = detect_encoding(path)
    note = (
        f"Read '{path.name}' as {encoding}, not UTF-8 (detected); give --encoding if that is wrong."
    )
    return encoding, [note]


def _decodes(path: Path, encoding: str) -> bool:
    """Whether the whole file decodes in ``encoding``, read a megabyte at a time."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _other(path: Path, fmt: str, rows: int, text: dict[str, type]) -> Iterator[pd.DataFrame]:
    """Parquet by record batches (the index counts rows across them), JSON lines by
    pandas' chunked reader (it counts them itself)."""
    if fmt == "jsonl":
        with pd.read_json(path, lines=True, dtype=text or True, chunksize=rows) as reader:
            yield from reader
        return
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        refuse_duplicates(parquet.schema_arrow.names, f"'{path}'")
        start = 0
        for batch in parquet.iter_batches(batch_size=rows):
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(start, start + len(frame))
            start += len(frame)
            yield frame
